"""`python -m babysweep`: the `babysweep` command."""
import sys

from .cli import main

sys.exit(main())
