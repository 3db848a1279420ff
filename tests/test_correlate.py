"""`babysweep analyze correlate`: regressions and the bootstrap on tables with a known answer, trial selection,
the command end to end on a synthetic results table, and bad input."""
import argparse
import json

import numpy as np
import pandas as pd
import pytest

from trainables.errors import UserError

from babysweep.cli.analyze import register
from analysis.correlate import (PAIRS, AnalysisError, bootstrap_r2, correlate, format_r2, markdown_table,
                                plot_regression, regress, select_trials)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def linear_noise(n, seed, slope=-2.0, sigma=np.sqrt(1 / 12)):
    """y = 1 + slope * x + N(0, sigma²) with x evenly spread on [0, 1] (variance 1/12): the population R² is
    slope² / 12 / (slope² / 12 + sigma²), 0.8 with the defaults."""
    x = np.linspace(0.0, 1.0, n)
    y = 1.0 + slope * x + np.random.default_rng(seed).normal(0.0, sigma, n)
    theory = slope ** 2 / 12 / (slope ** 2 / 12 + sigma ** 2)
    return x, y, theory


def run_cli(argv):
    p = argparse.ArgumentParser(prog="babysweep")
    register(p.add_subparsers(dest="command", required=True))
    args = p.parse_args(argv)
    return args.func(args)


# ---------------------------------------------------------------------------------------------- regression

def test_exact_line_has_r2_one_and_degenerate_interval():
    x = np.linspace(2.0, 4.0, 20)
    fit = regress(x, 2 - 0.5 * x, n_boot=500, seed=3)
    assert abs(fit["r2"] - 1) < 1e-12
    assert fit["slope"] == pytest.approx(-0.5, abs=1e-12) and fit["intercept"] == pytest.approx(2.0, abs=1e-12)
    assert fit["n"] == 20
    assert abs(fit["r2_lo"] - 1) < 1e-12 and abs(fit["r2_hi"] - 1) < 1e-12


def test_noisy_line_recovers_theoretical_r2_inside_bootstrap_interval():
    x, y, theory = linear_noise(400, seed=7)
    fit = regress(x, y, n_boot=1000, seed=0)
    assert theory == pytest.approx(0.8)
    assert abs(fit["r2"] - theory) < 0.04
    assert fit["r2_lo"] <= theory <= fit["r2_hi"]
    assert fit["slope"] == pytest.approx(-2.0, abs=0.15)


def test_r2_slope_p_match_hand_computation():
    rng = np.random.default_rng(11)
    x = rng.uniform(2.5, 4.0, 37)
    y = 0.9 - 0.1 * x + rng.normal(0, 0.03, 37)
    fit = regress(x, y, n_boot=0)
    slope, intercept = np.polyfit(x, y, 1)
    residual = y - (intercept + slope * x)
    r2_by_hand = 1 - (residual ** 2).sum() / ((y - y.mean()) ** 2).sum()
    assert fit["r2"] == pytest.approx(np.corrcoef(x, y)[0, 1] ** 2, rel=1e-10)
    assert fit["r2"] == pytest.approx(r2_by_hand, rel=1e-10)
    assert fit["slope"] == pytest.approx(slope, rel=1e-10) and fit["intercept"] == pytest.approx(intercept, rel=1e-10)
    assert 0 < fit["p"] < 1e-3
    assert np.isnan(fit["r2_lo"]) and np.isnan(fit["r2_hi"]) and fit["n_boot"] == 0
    # the slope's 95% interval: slope +- t(0.975, n - 2) * its standard error (2.0301 at 35 degrees of freedom)
    se = np.sqrt((residual ** 2).sum() / 35 / ((x - x.mean()) ** 2).sum())
    assert fit["slope_lo"] == pytest.approx(slope - 2.0301079 * se, rel=1e-5)
    assert fit["slope_hi"] == pytest.approx(slope + 2.0301079 * se, rel=1e-5) and fit["slope_hi"] < 0


def test_rows_with_a_missing_value_are_left_out():
    x = np.array([1.0, 2.0, np.nan, 3.0, 4.0, np.inf])
    y = np.array([1.0, 2.1, 5.0, np.nan, 3.9, 1.0])
    fit = regress(x, y, n_boot=0)
    assert fit["n"] == 3
    assert fit["r2"] == pytest.approx(np.corrcoef([1, 2, 4], [1, 2.1, 3.9])[0, 1] ** 2)


@pytest.mark.parametrize("x, y, message", [
    ([1.0, 2.0], [1.0, 2.0], "only 2 points (need 3)"),
    ([1.0, np.nan, 2.0], [1.0, 2.0, 3.0], "only 2 points (need 3)"),
    ([2.0, 2.0, 2.0, 2.0], [1.0, 2.0, 3.0, 4.0], "x is constant"),
    ([1.0, 2.0, 3.0], [0.5, 0.5, 0.5], "y is constant"),
])
def test_impossible_fits_raise_analysis_error(x, y, message):
    with pytest.raises(AnalysisError, match=message.replace("(", r"\(").replace(")", r"\)")):
        regress(x, y, n_boot=10)


# ---------------------------------------------------------------------------------------------- bootstrap

def test_bootstrap_is_deterministic_per_seed():
    x, y, _ = linear_noise(60, seed=1)
    a, b, c = (regress(x, y, n_boot=400, seed=s) for s in (5, 5, 6))
    assert (a["r2_lo"], a["r2_hi"]) == (b["r2_lo"], b["r2_hi"])
    assert (a["r2_lo"], a["r2_hi"]) != (c["r2_lo"], c["r2_hi"])
    assert a["r2"] == c["r2"]  # the seed only moves the interval


def test_bootstrap_matches_a_plain_loop_and_chunking_changes_nothing():
    x, y, _ = linear_noise(25, seed=2)
    fast = bootstrap_r2(x, y, n_boot=300, seed=9)
    assert np.array_equal(fast, bootstrap_r2(x, y, n_boot=300, seed=9, chunk_cells=7 * 25))
    idx = np.random.default_rng(9).integers(0, 25, size=(300, 25))
    loop = np.array([np.corrcoef(x[i], y[i])[0, 1] ** 2 for i in idx])
    np.testing.assert_allclose(fast, loop, rtol=1e-10)


def test_interval_contains_estimate_and_narrows_with_n():
    widths = []
    for n in (30, 300):
        x, y, _ = linear_noise(n, seed=4)
        fit = regress(x, y, n_boot=1000, seed=0)
        assert fit["r2_lo"] <= fit["r2"] <= fit["r2_hi"]
        widths.append(fit["r2_hi"] - fit["r2_lo"])
    assert widths[1] < widths[0] / 2


def test_degenerate_resamples_of_three_points_are_left_out():
    fit = regress([1.0, 2.0, 3.0], [1.0, 3.0, 2.0], n_boot=500, seed=0)
    # resamples drawing one row three times (or only the rows sharing no spread) have no R²
    assert 0 < fit["boot_used"] < 500
    assert 0 <= fit["r2_lo"] <= fit["r2_hi"] <= 1


# ---------------------------------------------------------------------------------------------- selection

def sweep_table():
    return pd.DataFrame({
        "trial_id": list("abcdefgh"),
        "epoch": [1, 1, 3, 9, 9, 9, 9, np.nan],
        "val_loss": [3.5, 3.4, 3.1, 2.9, np.inf, 2.8, 2.7, 3.0],
        "diverged": [False, False, "True", np.nan, True, False, "false", False],
    })


def test_select_drops_diverged_and_counts_rows():
    df, notes = select_trials(sweep_table())
    assert list(df["trial_id"]) == list("abdfgh")
    assert notes[0] == "8 rows in the table"
    assert "dropped 2 diverged trial(s)" in notes[1] and "6 rows left" in notes[1]
    assert "all budgets kept" in notes[2]


def test_select_max_budget_after_dropping_diverged():
    df, notes = select_trials(sweep_table(), max_budget_only=True)
    assert list(df["trial_id"]) == list("dfg")
    assert "kept the 3 of 6 trial(s) trained to the maximum budget (epoch 9)" in notes[-1]


def test_select_keep_diverged_says_so():
    df, notes = select_trials(sweep_table(), max_budget_only=True, drop_diverged=False)
    assert list(df["trial_id"]) == list("defg")
    assert "diverged trials kept (2 in the table)" in notes[1]
    assert "4 of 8" in notes[2]


def test_select_without_diverged_or_epoch_columns():
    df, notes = select_trials(sweep_table().drop(columns=["diverged"]))
    assert len(df) == 8 and "no diverged column" in notes[1]
    with pytest.raises(AnalysisError, match="no epoch column"):
        select_trials(sweep_table().drop(columns=["epoch"]), max_budget_only=True)


def test_correlate_reports_present_pairs_and_skips_small_ones():
    x, y, _ = linear_noise(12, seed=0)
    df = pd.DataFrame({"val_loss": x, "blimp_filtered": y, "test_loss": [1.0, 2.0] + [np.nan] * 10})
    results = correlate(df, n_boot=50)
    assert [r["y"] for r in results] == ["blimp_filtered", "test_loss"]  # no blimp_supplement column
    assert results[0]["n"] == 12 and "skipped" not in results[0]
    assert results[1] == {"label": "test loss", "y": "test_loss", "x": "val_loss", "n": 2, "left_out": 10,
                          "skipped": "only 2 points (need 3)"}


def test_plot_has_points_fit_line_and_r2_legend():
    x, y, _ = linear_noise(40, seed=0)
    fit = regress(x, y, n_boot=200)
    fig = plot_regression(x, y, fit, "validation loss", "BLiMP filtered", "title")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "validation loss" and ax.get_ylabel() == "BLiMP filtered"
    assert len(ax.collections[0].get_offsets()) == 40 and len(ax.lines) == 1
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[1] == f"fit: {format_r2(fit)}"
    assert legend[1].startswith("fit: R² = 0.") and legend[1].endswith(", n = 40")


def test_r2_label_keeps_enough_decimals():
    assert format_r2({"r2": 0.8612, "r2_lo": 0.8, "r2_hi": 0.9, "n": 265}) == "R² = 0.86 [0.80, 0.90], n = 265"
    assert format_r2({"r2": 0.8612, "r2_lo": np.nan, "r2_hi": np.nan, "n": 9}) == "R² = 0.86, n = 9"
    # 0.999 is not shown as 1.00, and neither is the top of its interval
    assert format_r2({"r2": 0.9991, "r2_lo": 0.9982, "r2_hi": 0.9996, "n": 265}) == \
        "R² = 0.9991 [0.9982, 0.9996], n = 265"

# ---------------------------------------------------------------------------------------------- command

def write_results(path, n=30):
    rng = np.random.default_rng(0)
    val = rng.uniform(2.6, 3.6, n)
    df = pd.DataFrame({
        "trial_id": [f"t{i:02d}" for i in range(n)], "state": "TERMINATED",
        "epoch": np.where(np.arange(n) % 3 == 0, 9.0, 3.0), "val_loss": val,
        "test_loss": 1.02 * val + rng.normal(0, 0.01, n), "diverged": [i == 5 for i in range(n)],
        "blimp_filtered": 1.6 - 0.3 * val + rng.normal(0, 0.02, n),
        "blimp_supplement": [0.6, 0.62] + [np.nan] * (n - 2),
        "config/lr": 1e-3})
    df.to_csv(path, index=False)
    return df


def test_cli_end_to_end(tmp_path, capsys):
    table = tmp_path / "results.csv"
    write_results(table)
    out = tmp_path / "report"
    out.mkdir()
    (out / "blimp_supplement_vs_val_loss.png").write_bytes(PNG_MAGIC)  # stale plot of an earlier run
    run_cli(["analyze", "correlate", "--table", str(table), "--out", str(out), "--bootstrap", "300"])
    stdout = capsys.readouterr().out
    assert "dropped 1 diverged trial(s)" in stdout and "all budgets kept" in stdout
    assert "| BLiMP filtered (`blimp_filtered`) | `val_loss` | 29 |" in stdout
    assert "BLiMP supplement: skipped: only 2 points (need 3); no plot" in stdout
    for stem in ("blimp_filtered_vs_val_loss", "test_loss_vs_val_loss"):
        assert (out / f"{stem}.png").read_bytes()[:8] == PNG_MAGIC
        assert (out / f"{stem}.pdf").read_bytes()[:5] == b"%PDF-"
        assert str(out / f"{stem}.png") in stdout
    assert not list(out.glob("blimp_supplement_vs_val_loss.*"))
    assert not list(out.glob(".*"))  # no temporary file left behind

    md = (out / "correlate.md").read_text()
    assert "| test loss (`test_loss`) | `val_loss` | 29 |" in md
    assert "skipped: only 2 points (need 3)" in md
    assert "dropped 1 diverged trial(s)" in md and "mean, over the paradigms" in md and "**R²**" in md
    assert "resampled with replacement 300 times (seed 0)" in md
    csv = pd.read_csv(out / "correlate.csv")
    assert list(csv["y"]) == [y for y, _, _ in PAIRS]
    assert csv.loc[0, "n"] == 29 and csv.loc[0, "r2_lo"] <= csv.loc[0, "r2"] <= csv.loc[0, "r2_hi"]
    assert csv.loc[1, "skipped"] == "only 2 points (need 3)" and np.isnan(csv.loc[1, "r2"])
    assert csv.loc[2, "r2"] > 0.99


def test_cli_max_budget_and_keep_diverged_are_stated(tmp_path, capsys):
    table = tmp_path / "results.csv"
    write_results(table)
    run_cli(["analyze", "correlate", "--table", str(table), "--max-budget-only", "--keep-diverged",
             "--bootstrap", "0"])
    stdout = capsys.readouterr().out
    assert "diverged trials kept (1 in the table)" in stdout
    assert "kept the 10 of 30 trial(s) trained to the maximum budget (epoch 9)" in stdout
    md = (tmp_path / "analysis" / "correlate.md").read_text()  # default: analysis/ beside the table
    assert "maximum budget (epoch 9)" in md and "none (no bootstrap was run)" in md


def test_cli_reads_a_sweep_by_name(tmp_path, capsys):
    exp = tmp_path / "runs" / "mysweep"
    exp.mkdir(parents=True)
    (exp / "sweep.json").write_text(json.dumps({"algo": "bohb", "samples": 30}))
    write_results(exp / "results.csv")
    run_cli(["analyze", "correlate", "mysweep", "--storage", str(tmp_path / "runs"), "--bootstrap", "50"])
    assert (exp / "analysis" / "correlate.md").is_file()
    assert str(exp / "results.csv") in capsys.readouterr().out

    from sweep.errors import SweepError
    with pytest.raises(SweepError, match="no sweep named 'other'"):
        run_cli(["analyze", "correlate", "other", "--storage", str(tmp_path / "runs")])


# ---------------------------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("content, message", [
    (None, "no such results table"),
    ("", "is empty, not a results table"),
    ("trial_id,epoch,blimp_filtered\nt1,1,0.7\n", "no val_loss column"),
    ("trial_id,val_loss\nt1,3.0\nt2,2.9\n", "none of the columns blimp_filtered, blimp_supplement, test_loss"),
    ("trial_id,val_loss,blimp_filtered\nt1,3.0,\nt2,2.9,\n", "no values yet in blimp_filtered"),
])
def test_bad_tables_give_one_line_naming_the_file(tmp_path, content, message):
    table = tmp_path / "mine.csv"
    if content is not None:
        table.write_text(content)
    with pytest.raises(UserError) as err:  # AnalysisError, or the table reader's SweepError
        run_cli(["analyze", "correlate", "--table", str(table)])
    text = str(err.value)
    assert text.startswith(f"{table}: ") and message in text and "\n" not in text
    assert not (tmp_path / "analysis").exists()


def test_standalone_main_prints_error_without_traceback(tmp_path, capsys):
    from babysweep.cli.analyze import main

    assert main(["correlate", "--table", str(tmp_path / "nope.csv")]) == 2
    err = capsys.readouterr().err
    assert err == f"babysweep: error: {tmp_path / 'nope.csv'}: no such results table\n"
    assert main(["correlate", "a", "--table", "b.csv"]) == 2
    assert "not both" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------- suite columns

def test_suite_columns_are_found_by_name_and_by_their_paradigm_columns():
    from sweep.table import paradigm_columns, suite_columns

    columns = ["trial_id", "val_loss", "config/lr", "my_pairs/p1", "blimp/anaphor", "builtin_pairs", "ewok/spatial",
               "my_pairs", "ewok", "blimp_filtered", "my_pairs/p2", "builtin_pairs/copula", "ties_rule", "lonely"]
    assert suite_columns(columns) == ["blimp_filtered", "ewok", "builtin_pairs", "my_pairs"]
    assert paradigm_columns(columns, "blimp_filtered") == ["blimp/anaphor"]
    assert paradigm_columns(columns, "my_pairs") == ["my_pairs/p1", "my_pairs/p2"]
    # the legacy fixture's table: BabyLM's names, found without paradigm columns of their own name
    assert suite_columns(["blimp_filtered", "blimp_supplement", "blimp/x"]) == ["blimp_filtered", "blimp_supplement"]


def test_correlate_regresses_every_suite_column_present(tmp_path, capsys):
    df = write_results(tmp_path / "results.csv").drop(columns=["blimp_filtered", "blimp_supplement"])
    rng = np.random.default_rng(1)
    for suite in ("builtin_pairs", "my_pairs", "ewok"):
        df[suite] = 1.5 - 0.3 * df["val_loss"] + rng.normal(0, 0.02, len(df))
        df[f"{suite}/first"] = df[suite]
    df.to_csv(tmp_path / "results.csv", index=False)
    run_cli(["analyze", "correlate", "--table", str(tmp_path / "results.csv"), "--bootstrap", "50"])
    stdout = capsys.readouterr().out
    csv = pd.read_csv(tmp_path / "analysis" / "correlate.csv")
    assert list(csv["y"]) == ["ewok", "builtin_pairs", "my_pairs", "test_loss"]
    assert csv["r2"].notna().all()
    assert "| EWoK (`ewok`) | `val_loss` | 29 |" in stdout and "| built-in pairs (`builtin_pairs`)" in stdout
    assert "| my_pairs (`my_pairs`)" in stdout
    assert (tmp_path / "analysis" / "my_pairs_vs_val_loss.png").read_bytes()[:8] == PNG_MAGIC


def test_stability_compares_every_suite_column_present(tmp_path):
    from analysis.stability import stability_report

    source = pd.DataFrame({"trial_id": ["a", "b", "c"], "val_loss": [3.0, 3.1, 3.2], "my_pairs": [0.7, 0.6, 0.5],
                           "my_pairs/p": [0.7, 0.6, 0.5]})
    rerun = pd.DataFrame({"trial_id": [f"r{i}" for i in range(6)], "source_trial_id": list("aabbcc"),
                          "val_loss": [3.0, 3.05, 3.1, 3.12, 3.2, 3.3], "my_pairs": [0.7, 0.72, 0.6, 0.58, 0.5, 0.52],
                          "my_pairs/p": 0.5, "ewok": [0.6, 0.61, 0.55, 0.56, 0.5, 0.49]})
    markdown, paths = stability_report(source, rerun, tmp_path)
    assert "### my_pairs" in markdown and "### EWoK" in markdown and "### validation loss" in markdown
    assert set(pd.read_csv(paths["stability.csv"])["metric"]) == {"val_loss", "my_pairs", "ewok"}


def test_spearman_p_is_exact_at_small_n():
    from scipy.stats import spearmanr

    from analysis.stability import spearman

    rho, p, how = spearman([1.0, 2.0, 3.0], [10.0, 20.0, 30.0])
    assert (rho, how) == (1.0, "exact permutation") and p == pytest.approx(2 / 6)  # +1 or -1: 2 of 3! pairings
    assert spearmanr([1, 2, 3], [10, 20, 30])[1] < 1e-6  # what scipy's t approximation says instead
    rho, p, _ = spearman([1, 2, 3, 4, 5], [1, 3, 2, 4, 5])  # rho 0.9: |rho| >= 0.9 in 10 of 120 pairings
    assert rho == pytest.approx(0.9) and p == pytest.approx(10 / 120)
    rho, p, how = spearman(np.arange(12.0), np.arange(12.0) ** 2)  # above 10: the approximation, said so
    assert rho == pytest.approx(1.0) and how == "t approximation"
    rho, p, _ = spearman([1, 2, 3], [5, 5, 5])
    assert rho != rho and p != p  # a constant ranking: nothing to test


def test_a_fit_against_the_papers_sign_is_flagged_in_the_table():
    # the paper: scores fall as the loss rises, the test loss rises with it; here BLiMP rises with the loss
    loss = np.array([3.0, 3.2, 3.4, 3.6, 3.8])
    df = pd.DataFrame({"trial_id": list("abcde"), "val_loss": loss, "test_loss": loss + 0.1,
                       "blimp_filtered": 0.5 + 0.05 * (loss - 3.0) + np.array([0, 0.003, -0.002, 0.001, 0])})
    results = {r["y"]: r for r in correlate(df, n_boot=0)}
    assert results["blimp_filtered"]["against_expectation"] and not results["test_loss"]["against_expectation"]
    table = markdown_table(list(results.values()))
    assert "⚠ against expectation (expected < 0)" in table and table.count("⚠") == 2  # the row and the note
    assert table.splitlines()[-1].startswith("⚠ BLiMP filtered: the slope has the sign against the paper's")


@pytest.mark.parametrize("baseline_loss, axes", [(6.19, 2), (3.15, 1)])
def test_a_far_baseline_gets_its_own_axis_so_the_configurations_gaps_stay_visible(baseline_loss, axes):
    from analysis.stability import plot_stability, stability_table

    source = pd.DataFrame({"trial_id": ["a", "b"], "val_loss": [3.10, 3.12]})
    rerun = pd.DataFrame({"trial_id": [f"r{i}" for i in range(6)],
                          "source_trial_id": ["a", "a", "b", "b", "baseline", "baseline"],
                          "val_loss": [3.13, 3.14, 3.15, 3.17, baseline_loss, baseline_loss + 0.01]})
    fig = plot_stability(stability_table(source, rerun), "validation loss")
    assert len(fig.axes) == axes
    lo, hi = fig.axes[0].get_ylim()
    assert hi - lo < 0.2 if axes == 2 else hi > baseline_loss  # the configurations' 0.07 nats fill their axis
