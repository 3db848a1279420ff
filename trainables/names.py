"""The names every layer shares, each written once: the storage default and the files of an experiment folder and
of a model folder. Nothing here imports anything, so the command line can read its defaults without loading the
library (`babysweep --help` stays fast)."""

DEFAULT_STORAGE = "runs"                 # where experiments live unless --storage says otherwise

# an experiment folder (<storage>/<name>/, sweep/folder.py)
EXPERIMENT_RECORD = "sweep.json"         # its kind and typed spec (sweep/records.py: the formats)
SPACE_COPY = "space.yaml"                # the search space it was launched with
DRIVER_RECORD = "driver.json"            # the driver running it (sweep/folder.py: the driver lock)
RESULTS_TABLE, HISTORY_TABLE, EVALUATION_TABLE = "results.csv", "history.csv", "evaluation.csv"

# a model folder (trainables/model_folder.py: its layout)
CONFIG = "config.json"                   # the transformers config
TRAINER_STATE = "trainer_state.pt"       # a pretraining checkpoint's training state (trainables/checkpoints.py)
HF_FOLDER = "hf"                         # a trial's final model as a Hugging Face folder, inside its checkpoint
MODEL_RECORD = "babysweep.json"          # what babysweep knows of the model: its metrics, config, epoch
ENSEMBLE_RECORD = "ensemble.json"        # a direct ensemble: its members (trainables/ensemble.py)
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json")

# the results table's first columns, and the per-paradigm column prefix of BabyLM's suites (sweep/table_schema.py
# reads them; the scorer, analysis/blimp.py and pairs.py, names its columns by them without loading pandas)
FIRST_COLUMNS = ["trial_id", "state", "epoch", "val_loss", "best_val_loss", "score", "best_score", "test_loss", "seed",
                 "wall_s", "gpu_s", "checkpoint", "checkpoint_epoch", "checkpoint_val_loss", "checkpoint_score",
                 "diverged", "tokens_per_s", "mfu", "started_at"]
SUITE_PREFIXES = {"blimp_filtered": "blimp", "blimp_supplement": "supplement"}


def paradigm_prefix(suite: str) -> str:
    """The prefix of a suite's per-paradigm columns: blimp for blimp_filtered, supplement for blimp_supplement,
    the suite's own name for any other."""
    return SUITE_PREFIXES.get(suite, suite)
