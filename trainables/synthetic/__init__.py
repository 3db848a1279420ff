"""Multi-fidelity test functions with known optima, to measure how a searcher spends its budget without training
a model: each is a plain function and a babysweep trainable (`fn(config, reporter=None)`).

Layout: one module per function, each with its own ACCEPTED (sweep.kinds.base.accepted_names reads it from the
module that defines the trainable), and budget.py, the budget loop with pause/resume they share.

    hartmann.py   hartmann6(x, fidelity, bias): Hartmann 6-D with a fidelity-dependent bias (Kandasamy et al.
                  2017); trainables hartmann6_informative and hartmann6_misleading
                  --trainable trainables.synthetic.hartmann:hartmann6_informative
                  --trainable trainables.synthetic.hartmann:hartmann6_misleading
    counting.py   counting_ones(x_cat, x_cont, samples, seed): the BOHB paper's toy function (Falkner et al. 2018);
                  trainable counting_ones_trainable
                  --trainable trainables.synthetic.counting:counting_ones_trainable

Their search spaces: search_spaces/synthetic/*.yaml. A trainable's fidelity is its epoch over num_epochs: the
value reported at epoch e is the function at fidelity e / num_epochs (Hartmann) or estimated from
e * samples_per_epoch samples (counting ones).
"""
from .counting import counting_ones
from .hartmann import GLOBAL_MINIMISER, GLOBAL_MINIMUM, INFORMATIVE_BIAS, MISLEADING_BIAS, hartmann6

__all__ = ["counting_ones", "hartmann6", "GLOBAL_MINIMUM", "GLOBAL_MINIMISER", "INFORMATIVE_BIAS", "MISLEADING_BIAS"]
