"""The console view of a running experiment: one progress line every few seconds instead of Ray's trial tables.

    [01:20] trials 9/16 done, 2 running, 1 paused, 4 to come | best val_loss 2.1843 (58b790b2: lr=0.0041,
            batch_size=28, ...) | 14.0 epochs used

A Ray Tune callback, as the results table is: Ray calls it at the end of every controller step, and it prints when
`every` seconds have passed since its last line, and once at the end. Configurations are shown as the trainable
sees them (the results table's mapper: natural units, never the searcher's log__ names). `babysweep ... --verbose`
shows Ray's own output instead (sweep/runtime.py)."""
import math
import time

from ray.tune import Callback

from .results import better


class ProgressLine(Callback):
    """Ray pickles it into tuner.pkl with the other callbacks: keep its module, name and attributes."""

    def __init__(self, total: int, to_config, metric="val_loss", mode="min", shown=None, every=10.0, width=4):
        self.total, self.to_config, self.metric, self.mode = total, to_config, metric, mode
        self.shown = shown        # the configuration names to show (the searched ones); None: all
        self.every, self.width = every, width  # seconds between lines; configuration values shown
        self.best = None          # (value, trial_id, {name: value})
        self.epochs = {}          # trial_id -> epochs reached (the budget used)
        self.t0 = self.last = None
        self.ended = {}           # trial_id -> TERMINATED or ERROR: Ray's completion and error callbacks, and the
                                  # trials that had ended before this run (a resume)

    def on_step_begin(self, iteration, trials, **info):
        if not getattr(self, "started", False):
            self.started = True
            self.ended = {**{t.trial_id: t.status for t in trials if t.status in ("TERMINATED", "ERROR")},
                          **getattr(self, "ended", {})}

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.ended[trial.trial_id] = "TERMINATED"

    def on_trial_error(self, iteration, trials, trial, **info):
        self.ended[trial.trial_id] = "ERROR"

    def on_trial_result(self, iteration, trials, trial, result, **info):
        value = result.get(self.metric)
        if isinstance(value, (int, float)) and math.isfinite(value) and not result.get("diverged"):
            if self.best is None or better(value, self.best[0], self.mode):
                self.best = (value, trial.trial_id, self.to_config(trial.config))
        if result.get("epoch") is not None:
            self.epochs[trial.trial_id] = max(self.epochs.get(trial.trial_id, 0.0), float(result["epoch"]))

    def on_step_end(self, iteration, trials, **info):
        now = time.time()
        if self.t0 is None:
            self.t0 = self.last = now
        if now - self.last >= self.every:
            self.last = now
            print(self.line(trials), flush=True)

    def on_experiment_end(self, trials, **info):
        print(self.line(trials), flush=True)

    def line(self, trials) -> str:
        # a trial Ray marked TERMINATED without completing it was stopped because the driver is ending (Ctrl-C):
        # it goes on at the next resume (sweep/stopping.py), so it is not counted done
        ended = getattr(self, "ended", {})
        counts = {}
        for trial in trials:
            status = ended.get(trial.trial_id, "STOPPED" if trial.status == "TERMINATED" else trial.status)
            counts[status] = counts.get(status, 0) + 1
        done = counts.get("TERMINATED", 0) + counts.get("ERROR", 0)
        minutes, seconds = divmod(int(time.time() - (self.t0 or time.time())), 60)
        parts = [f"trials {done}/{self.total} done"]
        for state, word in (("RUNNING", "running"), ("PAUSED", "paused"), ("STOPPED", "stopped to resume"),
                            ("ERROR", "in error")):
            if counts.get(state):
                parts.append(f"{counts[state]} {word}")
        waiting = self.total - len(trials) + counts.get("PENDING", 0)
        if waiting > 0:
            parts.append(f"{waiting} to come")
        text = f"[{minutes:02d}:{seconds:02d}] " + ", ".join(parts)
        if self.best is not None:
            value, trial_id, config = self.best
            names = self.shown if self.shown is not None else [k for k in config if k not in ("data", "data_seed")]
            shown = [f"{k}={format_value(config[k])}" for k in names if k in config]
            shown = shown[:self.width] + (["..."] if len(shown) > self.width else [])
            text += f" | best {self.metric} {value:.4f} ({trial_id}: {', '.join(shown)})"
        return text + f" | {sum(self.epochs.values()):.1f} epochs used"


def format_value(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)
