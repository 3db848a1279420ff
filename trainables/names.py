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
