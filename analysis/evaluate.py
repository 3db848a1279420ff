"""`babysweep evaluate`: zero-shot scores (minimal pairs: BLiMP, its supplement, the built-in pairs, any folder in
that format; EWoK) and the test loss of every trial's model, where the trial stopped (or at its best validation
loss, for a sweep launched with --keep best), computed as Ray tasks on the sweep's own cluster and GPUs, written
into the sweep's results table; or the scores of one model folder, computed here (`evaluate_model`). The paper's
Fig. 2 has "every model from the hyperparameter sweep", trials stopped early included; --finished-only keeps
those that completed their schedule.

Columns: one per suite, named as analysis/pairs.py's `suite_name_of` says (blimp_filtered, blimp_supplement,
builtin_pairs, a folder's own name, ewok), with its per-paradigm accuracies (blimp/<UID>, supplement/<task>,
<suite>/<paradigm>, ewok/<domain>); and how the row was scored: ties_rule (right or wrong), newline (the
utterance boundary a line break became, from the model's training stream), precision (float32).

Each score says where it comes from: scored_epoch and scored_val_loss (the report the checkpoint was taken at),
and test_loss is that model's (it replaces the trainable's own, which exists only for trials that completed).
A checkpoint that no longer exists (pruned, or the storage moved) gets a note in eval_note, not a score.

Scores are kept in <experiment>/evaluation.csv (one row per scored checkpoint, keyed by (trial_id, checkpoint))
and merged into results.csv by trial_id. Each score is saved as soon as its task ends (`record_scores`): under the
experiment's tables lock (sweep.folder.tables_lock), evaluation.csv is read again as it is now, this score merged
into it (the columns scored update the row, every other column and row is kept), and it and then results.csv are
written atomically. The sweep's own table writer takes the same lock to merge the same file, and so does every
other evaluate: evaluating a sweep that is still running, or two suites at once in two evaluate runs, loses
nothing. An interrupted evaluation, run again, scores only what is missing. A checkpoint is scored for the suites
its row lacks, so `evaluate NAME --ewok DIR` on a sweep already scored on BLiMP adds the EWoK columns to the same
rows.

One model folder's scores go to --out FILE.json, written atomically; an existing FILE is replaced only when it is
an earlier output of the same kind (a JSON object with model, suites and columns): anything else there (a
results.csv, a sweep.json, ...) is refused with a one-line error before any model is loaded.

Each score says how it was made (analysis/provenance.py): a column provenance/<suite> beside it holds the suite
folder's content hash, the pairs per paradigm (all, or --limit N), the pairs scored, the tie rule, newline,
precision and the scorer's version. A later evaluate whose request differs (another folder's content, another
--limit, another scorer) scores that suite again; `--rescore` scores every checkpoint again. A score replaced goes
to evaluation_history.csv first (its whole row as it was), so nothing scored is lost; evaluation.csv holds the
latest.

One tie rule per sweep: every row records its ties_rule (rows written before the rule was recorded counted ties
as wrong). Without --ties, a sweep that already has scored rows goes on under their rule (and says so), so an
evaluation started by an earlier babysweep continues as it began; a new one takes lm-eval's rule (ties right). A
--ties that differs from the rule of rows already in evaluation.csv is refused with a one-line error before
anything is scored: re-scoring silently would cost a whole evaluation, and mixing would make two models' scores
incomparable. To switch rules, evaluate with --rescore (every checkpoint scored again under the new rule).
"""
import json
import math
from pathlib import Path

import pandas as pd

from sweep.display import fmt
from trainables.model_folder import find_model
from sweep.experiment import DEFAULT_STORAGE, load_experiment
from sweep.folder import tables_lock
from sweep.runtime import ray_session
from sweep.table import (EVALUATION, EVALUATION_SCHEMA, TABLE, merge_evaluation, merge_scored, read_table,
                         suite_columns, write_table)
from trainables.files import write_json

from . import provenance
from .blimp import (DEFAULT_TIES, BlimpError, SuiteInput, check_batch_size, check_ties, load_model,
                    read_pair_suites, score_suites)
from .ewok import read_ewok_suite

EVALUATION_HISTORY = "evaluation_history.csv"  # every row evaluate replaced, as it was (the latest: evaluation.csv)
LEGACY_TIES = "wrong"  # rows written before ties_rule was recorded: a pair was right only when good > bad
ROW_CONVENTIONS = ("ties_rule", "newline", "precision")  # recorded in each row of evaluation.csv
OUTPUT_KEYS = ("model", "suites", "columns")  # what every evaluate_model output (--out FILE.json) holds
MAX_OUTPUT_BYTES = 64 << 20  # an earlier output is a few kB to a few MB: anything larger is not one


# ----------------------------------------------------------------------------------------------- scoring


def read_inputs(blimp_dir=None, supplement_dir=None, ewok_dir=None, suite_name=None, strict=False,
                limit=None) -> list[SuiteInput]:
    """Every suite asked for, read and named (before any model is loaded: bad input fails fast)."""
    suites = read_pair_suites(blimp_dir, supplement_dir, suite_name, strict=strict, limit=limit)
    if ewok_dir is not None:
        suites.append(read_ewok_suite(ewok_dir, strict=strict, limit=limit))
    if not suites:
        raise BlimpError("nothing to score: give --blimp, --supplement or --ewok (a folder of *.jsonl files)")
    return suites


# ----------------------------------------------------------------------------------------------- one model


def evaluate_model(path, blimp_dir=None, supplement_dir=None, ewok_dir=None, suite_name=None, ties=DEFAULT_TIES,
                   batch_size=64, device=None, limit=None, strict=False, out=None, progress=False) -> dict:
    """Score one model folder here (no Ray): blimp.score_suites's result with "model" (the folder given) added;
    written as JSON to `out` (atomically: a temporary file, then a rename) when given."""
    check_ties(ties)
    check_batch_size(batch_size, "--batch-size")
    if find_model(path) is None:
        raise BlimpError(f"{path}: holds no model (a Hugging Face folder, a trial checkpoint with hf/, or a "
                         f"pretraining checkpoint with config.json and trainer_state.pt)")
    if device is not None:
        import torch

        try:
            device = torch.device(device)
        except RuntimeError as e:
            raise BlimpError(f"--device {device}: {e}") from None
    out = check_output_file(out)
    suites = read_inputs(blimp_dir, supplement_dir, ewok_dir, suite_name, strict=strict, limit=limit)
    result = {"model": str(path), **score_suites(path, suites, ties=ties, batch_size=batch_size, device=device,
                                                 progress=progress)}
    for suite in suites:  # how each score was made (analysis/provenance.py)
        result["suites"][suite.name]["provenance"] = provenance.made(provenance.requested(suite, ties, limit), result)
    if out is not None:
        try:
            write_json(out, result)
        except OSError as e:
            raise BlimpError(f"--out {out}: cannot write ({e.strerror or e})") from None
    return result


def check_output_file(out) -> Path | None:
    """`out` (--out FILE.json) as a Path, None when not given; BlimpError (one line) when its folder does not exist,
    or when something is there that is not an earlier evaluate output (a JSON object with OUTPUT_KEYS): a results
    table or a sweep's record given by mistake is never overwritten."""
    if out is None:
        return None
    out = Path(out).expanduser()
    if not out.parent.is_dir():
        raise BlimpError(f"--out {out}: no such folder {out.parent}")
    if out.is_dir():
        raise BlimpError(f"--out {out}: is a folder; give a file name (FILE.json)")
    if out.exists() or out.is_symlink():
        earlier = None
        try:
            if out.stat().st_size <= MAX_OUTPUT_BYTES:
                earlier = json.loads(out.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            pass
        if not (isinstance(earlier, dict) and all(k in earlier for k in OUTPUT_KEYS)):
            raise BlimpError(f"--out {out}: exists and is not an earlier `babysweep evaluate` output (a JSON object "
                             f"with {', '.join(OUTPUT_KEYS)}): left as it is; give another file name")
    return out


def format_model_report(result: dict) -> list[str]:
    """The per-paradigm table and the suite scores of evaluate_model's result, as lines."""
    width = max([len(name) for name in result["columns"]] + [24])
    lines = [f"{'paradigm':<{width}}  {'items':>7}  accuracy"]
    for r in result["suites"].values():
        for paradigm, accuracy in r["paradigms"].items():
            lines.append(f"{r['prefix'] + '/' + paradigm:<{width}}  {r['counts'][paradigm]:>7,}  {accuracy:.4f}")
    lines += ["", f"{'suite':<{width}}  {'items':>7}  score   pooled  ties"]
    for suite, r in result["suites"].items():
        n = r.get("pairs", r.get("items"))
        lines.append(f"{suite:<{width}}  {n:>7,}  {r['score']:.4f}  {r['pooled']:.4f}  {r['ties']:>4}")
    lines += ["", f"suite score = {result['convention']} (EWoK: of per-domain accuracies); ties: "
                  f"{result['ties_rule']}; newline: {result['newline']} (training stream {result['stream']}: "
                  f"{result['stream_source']}); precision: {result['precision']}"]
    return lines


# ----------------------------------------------------------------------------------------------- a sweep


def _has_value(row: dict, column: str) -> bool:
    value = row.get(column)
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def mark_legacy_ties(rows: list[dict]) -> list[dict]:
    """The rows with a suite score; those without a ties_rule (scored before it was recorded) get the rule they
    were scored under written in (LEGACY_TIES)."""
    scored = [r for r in rows if any(_has_value(r, c) for c in suite_columns(r))]
    for r in scored:
        if not _has_value(r, "ties_rule"):
            r["ties_rule"] = LEGACY_TIES
    return scored


def check_tie_rule(rows: list[dict], ties: str | None, evaluation_path, log=print, rescore=False) -> str:
    """The tie rule this run scores under: `ties`, or when None the rule of the rows already scored (the default
    rule when there are none). Refuse (BlimpError, one line) when rows of evaluation.csv were scored under another
    rule than an explicit `ties`, unless every row is scored again (`rescore`); rows from before the rule was
    recorded (no ties_rule) counted ties as wrong, and get that rule written in."""
    scored = mark_legacy_ties(rows)
    if rescore:
        return check_ties(ties or DEFAULT_TIES)
    if ties is None:
        rules = sorted({r["ties_rule"] for r in scored})
        ties = rules[0] if len(rules) == 1 else DEFAULT_TIES
        if rules == [ties] and ties != DEFAULT_TIES:
            log(f"note: the {len(scored)} row(s) already in {Path(evaluation_path).name} count ties as {ties}: "
                f"going on under that rule (--ties {ties}); --rescore --ties {DEFAULT_TIES} scores everything "
                f"again under lm-eval's rule")
    check_ties(ties)
    other = sorted({r["ties_rule"] for r in scored} - {ties})
    if other:
        n = sum(r["ties_rule"] != ties for r in scored)
        raise BlimpError(f"{evaluation_path}: {n} of its {len(scored)} scored row(s) count ties as "
                         f"{' and '.join(other)} (ties_rule), and this run would count them {ties}: evaluate with "
                         f"--ties {other[0]} to add to them under one rule, or with --rescore --ties {ties} to score "
                         f"every model again (the rows replaced are kept in {EVALUATION_HISTORY})")
    return ties


def pending_checkpoints(table: pd.DataFrame, done: pd.DataFrame, only=None, suites=(), requests=None,
                        rescore=False) -> list[tuple]:
    """(trial_id, checkpoint, the suites to score) of the trials (those in `only`, when given) whose checkpoint has
    no score yet in one of `suites`, or one made otherwise than `requests` ({suite: provenance.requested(...)})
    asks, or any (`rescore`); diverged trials have no model worth scoring, and a checkpoint noted as gone
    (eval_note) is not tried again."""
    requests = requests or {}
    rows = table[table["checkpoint"].notna()] if "checkpoint" in table else table.iloc[:0]
    if "diverged" in rows:
        rows = rows[~rows["diverged"].astype(bool)]
    if only is not None:
        rows = rows[rows["trial_id"].isin(set(only))]
    have = {}
    for r in done.to_dict("records") if len(done) else []:
        have[(str(r["trial_id"]), str(r["checkpoint"]))] = r
    out = []
    for t, c in zip(rows["trial_id"], rows["checkpoint"]):
        row = have.get((str(t), str(c)))
        if row is not None and _has_value(row, "eval_note"):
            continue
        missing = [s for s in suites if row is None or not _has_value(row, s) or rescore
                   or not provenance.same_request(row.get(provenance.column(s)), requests.get(s, {}))]
        if missing:
            out.append((str(t), str(c), missing))
    return out


def evaluate_sweep(name, blimp_dir=None, supplement_dir=None, storage=DEFAULT_STORAGE, address=None,
                   cpus_per_task=1.0, gpus_per_task=0.0, batch_size=64, limit=None, strict=False,
                   finished_only=False, log=print, ewok_dir=None, suite_name=None, ties=None,
                   rescore=False) -> pd.DataFrame:
    """Score every trial's model of sweep `name` on the suites given (Ray tasks); returns evaluation.csv's rows.
    `ties`: right or wrong; None: the rule of the rows already scored, else right (see the module docstring).
    A checkpoint's suite already scored as asked is not scored again, unless `rescore`."""
    import ray

    if ties is not None:
        check_ties(ties)
    check_batch_size(batch_size, "--batch-size")
    if not (math.isfinite(cpus_per_task) and cpus_per_task > 0):  # NaN included: Ray would wait for it forever
        raise BlimpError(f"--cpus-per-task {cpus_per_task}: must be a number > 0")
    if not (math.isfinite(gpus_per_task) and gpus_per_task >= 0):
        raise BlimpError(f"--gpus-per-task {gpus_per_task}: must be a number >= 0")
    exp = load_experiment(name, storage)
    # Read the suites here, once, so a bad file fails before any task starts
    suites = read_inputs(blimp_dir, supplement_dir, ewok_dir, suite_name, strict=strict, limit=limit)
    for suite in suites:
        for w in suite.warnings:
            log(f"warning: {w}")
    table = exp.require_column("checkpoint", "the model of each trial, which evaluate scores: no trial has saved one "
                                             "yet, or the column was removed")
    eval_path = exp.evaluation_path
    done = read_evaluation(exp.path)
    if rescore and not any(_has_value(r, c) for r in done.to_dict("records") for c in suite_columns(r)):
        raise BlimpError(f"--rescore: {eval_path} holds no scores to score again (evaluate without --rescore)")
    ties = check_tie_rule(done.to_dict("records"), ties, eval_path, log, rescore=rescore)
    requests = {s.name: provenance.requested(s, ties, limit) for s in suites}
    only = exp.complete_trials().trials["trial_id"] if finished_only else None
    todo = pending_checkpoints(table, done, only, [s.name for s in suites], requests, rescore)
    rows = {(str(r["trial_id"]), str(r["checkpoint"])): r for r in done.to_dict("records")}  # already scored, by key
    again = sum(any(_has_value(rows.get((t, c), {}), s) for s in missing) for t, c, missing in todo)
    why = "--rescore" if rescore else "made otherwise before: another folder content, --limit or scorer"
    log(f"{len(todo)} checkpoint(s) to score ({'trials that completed their schedule' if finished_only else 'every trial'}"
        f"; suites {', '.join(s.name for s in suites)}), {len(done)} already scored"
        + (f"; {again} of them scored again ({why}; the rows replaced are kept in {EVALUATION_HISTORY})"
           if again else ""))
    if not todo:
        return done

    folders = {s.name: (s.option, str(s.folder.resolve())) for s in suites}
    with ray_session(address or exp.spec.address):
        task = ray.remote(num_cpus=cpus_per_task, num_gpus=gpus_per_task)(score_task)
        futures = {}
        for tid, ckpt, missing in todo:
            dirs = {"blimp_dir": None, "supplement_dir": None, "ewok_dir": None}
            for suite in missing:
                kind, folder = folders[suite]
                dirs[f"{kind}_dir"] = folder
            new = (tid, ckpt) not in rows
            futures[task.remote(ckpt, **dirs, suite_name=suite_name, ties=ties, batch_size=batch_size, limit=limit,
                                strict=strict, cpus=cpus_per_task, where=new)] = (tid, ckpt, missing)
        while futures:
            ready, _ = ray.wait(list(futures), num_returns=1)
            tid, ckpt, missing = futures.pop(ready[0])
            scores = ray.get(ready[0])
            if "error" in scores:
                log(f"warning: trial {tid}: {scores['error']}")
                continue
            if "eval_note" in scores:  # recorded: the table says why this trial has no score
                log(f"warning: trial {tid}: {scores['eval_note']}")
            made = {provenance.column(s): provenance.dumps(provenance.made(requests[s], scores)) for s in missing
                    if "eval_note" not in scores}
            done = record_scores(exp.path, [{"trial_id": tid, "checkpoint": ckpt, **scores, **made}], ties,
                                 rescore=rescore)
            log(f"trial {tid}: " + ", ".join(f"{s} {fmt(scores.get(s), '.3f', missing='-')}" for s in missing)
                + f"  ({len(todo) - len(futures)}/{len(todo)})")
    return done


def read_evaluation(experiment_dir) -> pd.DataFrame:
    """evaluation.csv of the experiment, checked (sweep/table.py); no rows when there is none yet."""
    path = Path(experiment_dir) / EVALUATION
    if not path.exists():
        return pd.DataFrame(columns=["trial_id", "checkpoint"])
    return read_table(path, EVALUATION_SCHEMA)


def record_scores(experiment_dir, scored: list[dict], ties: str, rescore=False) -> pd.DataFrame:
    """Save `scored` ({trial_id, checkpoint, column: value, ...} each) into the experiment's tables; returns
    evaluation.csv's rows as written.

    Under the experiment's tables lock (held by every evaluate and by the sweep's own table writer): evaluation.csv
    is read again as it is now (another evaluate may have written it since this one started), the new scores merged
    into it by (trial_id, checkpoint) (sweep.table.merge_scored: the columns scored update their row, others are
    kept), and it is written atomically; then results.csv, read again too, with it merged. A row whose suite
    scores are replaced is appended, as it was, to evaluation_history.csv first. Rows scored under another tie rule
    than `ties` meanwhile are a BlimpError (check_tie_rule; not while `rescore`), before anything is written."""
    exp = Path(experiment_dir)
    eval_path, table_path = exp / EVALUATION, exp / TABLE
    with tables_lock(exp):
        now = read_evaluation(exp)
        rows = now.to_dict("records")
        check_tie_rule(rows, ties, eval_path, rescore=rescore)  # also writes the legacy rule into rows scored before
        keep_replaced(exp, rows, scored)
        columns = list(now.columns) + (["ties_rule"] if rows and "ties_rule" not in now.columns else [])
        evaluation = merge_scored(pd.DataFrame(rows, columns=columns), scored)
        write_table(evaluation, eval_path)
        if table_path.exists():
            write_table(merge_evaluation(read_table(table_path), eval_path), table_path)
    return evaluation


def keep_replaced(exp: Path, rows: list[dict], scored: list[dict]):
    """Append to evaluation_history.csv (atomically) each row of `rows` whose suite scores `scored` replaces."""
    index = {(str(r["trial_id"]), str(r["checkpoint"])): r for r in rows}
    replaced = []
    for entry in scored:
        old = index.get((str(entry["trial_id"]), str(entry["checkpoint"])))
        if old is not None and any(_has_value(old, c) for c in suite_columns(entry)):
            replaced.append(old)
    if not replaced:
        return
    path = exp / EVALUATION_HISTORY
    history = read_table(path, EVALUATION_SCHEMA) if path.exists() else pd.DataFrame(columns=["trial_id", "checkpoint"])
    write_table(pd.concat([history, pd.DataFrame(replaced)], ignore_index=True), path)


def score_task(checkpoint, blimp_dir=None, supplement_dir=None, ewok_dir=None, suite_name=None, ties=DEFAULT_TIES,
               batch_size=64, limit=None, strict=False, cpus=1.0, where=True):
    """One Ray task: score one checkpoint on the suites of the folders given. Errors come back as data, so one bad
    checkpoint does not stop the rest; a checkpoint that is gone comes back as a note for the table. `where`: also
    where_scored (the report it was taken at, its test loss): for a checkpoint not scored before."""
    import torch

    torch.set_num_threads(max(1, int(cpus)))  # more threads than the task's CPUs slows every task down
    if not Path(checkpoint).exists():
        return {"eval_note": f"{checkpoint}: the checkpoint no longer exists (pruned, or its storage moved): "
                             f"not scored"}
    try:
        suites = read_inputs(blimp_dir, supplement_dir, ewok_dir, suite_name, strict=strict, limit=limit)
        loaded = load_model(checkpoint)
        result = score_suites(checkpoint, suites, ties=ties, batch_size=batch_size, loaded=loaded)
    except BlimpError as e:
        return {"error": str(e)}
    return {**(where_scored(checkpoint, loaded[0]) if where else {}), **result["columns"],
            **{c: result[c] for c in ROW_CONVENTIONS}}


def where_scored(checkpoint, model) -> dict:
    """scored_epoch and scored_val_loss (the report the checkpoint was taken at, from its babysweep.json) and the
    model's test_loss on its prepared folder's test split (when the folder is there and has one)."""
    import json

    about_path = Path(checkpoint) / "babysweep.json"
    if not about_path.is_file():
        return {}
    about = json.loads(about_path.read_text())
    metrics = about.get("metrics", {})
    out = {"scored_epoch": metrics.get("epoch"), "scored_val_loss": metrics.get("val_loss")}
    test_loss = test_loss_of(model, about)
    if test_loss is not None:
        out["test_loss"] = test_loss
    return out


def test_loss_of(model, about) -> float | None:
    """Mean next-token cross-entropy on the test split of the prepared folder the model was trained on, in float32
    on the model's device; None without that folder or without a test split."""
    from contextlib import nullcontext

    from trainables.data.prepared import open_prepared
    from trainables.errors import DataError
    from trainables.pretrain import mean_loss

    data, config = about.get("data"), about.get("config") or {}
    if not data:
        return None
    try:
        prepared = open_prepared(data, about.get("tokenizer_sha256"))
    except DataError:
        return None
    if "test" not in prepared.splits:
        return None
    seq_length = int(config.get("seq_length") or prepared.meta["seq_length"])
    return mean_loss(model, prepared.tokens("test"), seq_length, int(config.get("eval_batch_size") or 32),
                     next(model.parameters()).device, nullcontext)


