"""Weights & Biases logging of an experiment's trials (`--wandb`, offline by default): Ray Tune's
WandbLoggerCallback, with each trial's run written straight into the experiment folder.

Ray's callback runs wandb in a logging actor on the driver's node, whose working folder is the trial's staging
folder under Ray's temporary session folder; Ray copies that folder to storage now and then. The last copy can
come before the last trial's run is finished: its offline run in storage then held only a header, or an epoch,
and no exit record, while history.csv had every epoch; and the staging folder goes with the session. So the
runs go to <experiment>/wandb/offline-run-<time>-<trial id>/ (wandb.init's `dir`), on the storage every node
shares, and the driver ends only after each run is finished (Ray waits for every logging actor's wandb.finish()
at the experiment's end).

Upload them afterwards from any machine with internet and the storage mounted:

    wandb sync <storage>/<name>/wandb/offline-run-*
"""
from pathlib import Path

from ray.air.integrations.wandb import WandbLoggerCallback

RUNS_DIR = "wandb"


class WandbRuns(WandbLoggerCallback):
    """WandbLoggerCallback whose runs live in the experiment folder. Ray pickles it into tuner.pkl: keep its
    module, name and attributes."""

    def __init__(self, experiment_dir, project: str, mode: str):
        super().__init__(project=project, mode=mode, dir=str(experiment_dir))

    def relocate(self, experiment_dir):
        """Point a callback restored from tuner.pkl at the folder the experiment is in now."""
        self.kwargs["dir"] = str(Path(experiment_dir))
