"""`babysweep train`: one configuration outside any sweep, with a progress bar."""
import sys

from trainables.errors import ConfigError
from trainables.files import check_folder_path

from .common import parse_sets


def cmd_train(args):
    import time
    from pathlib import Path

    from tqdm import tqdm

    from search_spaces.loader import SPACES_DIR, load_space
    from trainables.pretrain import ACCEPTED, pretrain
    from trainables.reporting import run_local

    space = load_space(args.space or SPACES_DIR / "teacher_table2.yaml", searchable=False)
    space.check_names(ACCEPTED, "pretrain")
    config = space.centre()
    if args.preset:
        config["preset"] = args.preset
    overrides = parse_sets(args.set)
    unknown = sorted(set(overrides) - ACCEPTED)
    if unknown:
        raise ConfigError(f"--set {unknown[0]}: not a parameter of the pretrain trainable")
    config.update(overrides)
    config["data"] = str(args.data)
    out = Path(args.out or f"runs/train-{time.strftime('%Y%m%d-%H%M%S')}")
    check_folder_path(out, "--out")
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"--out {out}: folder exists and is not empty; give a new folder")
    config["output_dir"] = str(out / "model")
    print("configuration: " + ", ".join(f"{k}={v}" for k, v in sorted(config.items())))

    with tqdm(total=1, unit="step", desc="training", disable=args.quiet) as bar:
        def on_step(step, total):
            bar.total = total
            bar.update(step - bar.n)

        def on_report(metrics):
            bar.set_postfix(epoch=f"{metrics['epoch']:g}", val_loss=f"{metrics['val_loss']:.4f}")
            tqdm.write(f"epoch {metrics['epoch']:g}: val_loss {metrics['val_loss']:.4f}  "
                       f"train_loss {metrics['train_loss']:.4f}  {metrics['tokens_per_s']:,.0f} tokens/s",
                       file=sys.stderr)

        run = run_local(pretrain, config, out / "checkpoints", on_report=on_report, on_step=on_step, keep_last=1)
    final = run.results[-1]
    if final.get("diverged"):
        print(f"diverged at epoch {final['epoch']:g} (non-finite loss); stopped")
        return 1
    print(f"val_loss {final['val_loss']:.4f}  test_loss {final.get('test_loss', float('nan')):.4f}  "
          f"{final['n_params']:,} parameters  {final['wall_s']:.1f} s")
    print(f"model (Hugging Face format): {out / 'model'}")


def register(sub):
    t = sub.add_parser("train", help="train one configuration outside any sweep (the paper's teacher by default)")
    t.add_argument("--space", help="search-space YAML whose centre gives the configuration, or a fixed "
                                   "configuration (default: search_spaces/teacher_table2.yaml, paper Table 2)")
    t.add_argument("--data", required=True, help="prepared data folder (babysweep data prepare)")
    t.add_argument("--preset", help="model preset (smollm-345m, babyllama-16m, llama-2m, tiny: trainables/model.py)")
    t.add_argument("--set", action="append", metavar="KEY=VALUE", help="override one value (repeatable)")
    t.add_argument("--out", help="output folder (default runs/train-<time>)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)
