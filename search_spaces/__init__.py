"""Search spaces: YAML files of priors (this folder) and the loader that turns them into a ConfigSpace."""
from search_spaces.loader import Prior, SearchSpace, SpaceError, bundled_spaces, load_space

__all__ = ["Prior", "SearchSpace", "SpaceError", "bundled_spaces", "load_space"]
