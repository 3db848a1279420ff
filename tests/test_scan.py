"""The coarse-grained scan (--algo scan): its points and its one-at-a-time curves; no Ray run."""
import math

import pandas as pd
import pytest

from conftest import copy_legacy
from analysis.scan import markdown_table, plot_curves, scan_curves
from search_spaces.loader import SPACES_DIR, load_space
from sweep.scan import CENTRE, prior_points, scan_runs

SPACE = load_space(SPACES_DIR / "tiny_demo.yaml")


def test_points_sit_at_the_priors_quantiles():
    lr = SPACE.params["lr"]  # log_normal(-5.8, 0.7)
    points = prior_points(lr, 5)
    assert len(points) == 5 and points == sorted(points)
    assert points[2] == pytest.approx(math.exp(-5.8))  # the median of a log-normal is exp(mu): the centre
    assert math.log(points[0]) == pytest.approx(-5.8 + 0.7 * -1.2815515655446004)  # the 10% quantile
    assert prior_points(SPACE.params["lr_scheduler_type"], 5) == ["linear", "cosine", "constant"]
    dropout = prior_points(SPACE.params["attention_dropout"], 3)  # uniform(0, 0.3)
    assert dropout == pytest.approx([0.05, 0.15, 0.25])


def test_each_run_varies_one_parameter_and_the_centre_runs_once():
    runs = scan_runs(SPACE, 3)
    centre = SPACE.centre()
    assert runs[0] == {**centre, "source_trial_id": CENTRE}
    for run in runs[1:]:
        name = run["source_trial_id"][len("scan:"):].split("=")[0]
        assert {k for k in centre if run[k] != centre[k]} == {name}
    assert len({r["source_trial_id"] for r in runs}) == len(runs)  # each run has its own id (the grid resumes by it)


def test_curves_gather_each_parameters_runs_with_the_centre():
    table = pd.DataFrame([
        {"source_trial_id": CENTRE, "config/lr": 0.003, "config/batch_size": 32, "val_loss": 3.0},
        {"source_trial_id": "scan:lr=0.01", "config/lr": 0.01, "config/batch_size": 32, "val_loss": 3.5},
        {"source_trial_id": "scan:lr=0.001", "config/lr": 0.001, "config/batch_size": 32, "val_loss": 3.2},
        {"source_trial_id": "scan:batch_size=8", "config/lr": 0.003, "config/batch_size": 8, "val_loss": 2.9},
    ])
    assert scan_curves(table) == {"lr": [(0.001, 3.2), (0.003, 3.0), (0.01, 3.5)],
                                  "batch_size": [(8, 2.9), (32, 3.0)]}
    assert scan_curves(table.drop(columns="source_trial_id")) == {}


def test_scan_params_limits_the_scan_to_those_parameters():
    runs = scan_runs(SPACE, 3, ["weight_decay", "lr"])
    varied = {r["source_trial_id"][len("scan:"):].split("=")[0] for r in runs[1:]}
    assert varied == {"lr", "weight_decay"} and len(runs) == 1 + 2 + 2  # the centre, 2 other points each
    assert len(scan_runs(SPACE, 3)) > len(runs)


def test_the_scan_figure_has_log_axes_for_log_priors_the_centre_marked_and_a_table():
    curves = {"lr": [(0.001, 3.2), (0.003, 3.0), (0.01, 3.5)], "weight_decay": [(0.01, 3.1), (0.1, 3.0), (1.0, 3.3)],
              "lr_scheduler_type": [("linear", 3.1), ("cosine", 3.0)]}
    centre = {"lr": 0.003, "weight_decay": 0.1, "lr_scheduler_type": "cosine"}
    fig = plot_curves(curves, "val_loss", log_params={"lr", "weight_decay"}, centre=centre)
    lr, wd, kind = fig.axes
    assert lr.get_xscale() == wd.get_xscale() == "log" and kind.get_xscale() == "linear"
    assert wd.get_xlabel() == "weight_decay (log scale)"
    stars = [line for line in lr.lines if line.get_marker() == "*"]
    assert len(stars) == 1 and list(stars[0].get_xdata()) == [0.003]  # the centre, marked
    assert all(t.get_rotation() == 30 for t in wd.get_xticklabels())  # ticks that do not run into each other
    table = markdown_table(curves, "val_loss", centre).splitlines()
    assert table[0] == "| parameter | value | val_loss | |" and len(table) == 2 + 8
    assert "| lr | 0.003 | 3 | centre |" in table and "| lr | 0.01 | 3.5 |  |" in table


@pytest.mark.slow
def test_a_real_scan_on_hartmann_shows_its_curves(tmp_path, capsys):
    from babysweep.cli import main

    space = SPACES_DIR / "synthetic" / "hartmann6.yaml"
    assert main(["launch", str(space), "--algo", "scan", "--scan-points", "2", "--storage", str(tmp_path),
                 "--name", "scan", "--quiet"]) == 0
    out = capsys.readouterr().out
    table = pd.read_csv(tmp_path / "scan" / "results.csv")
    assert len(table) == 1 + 6 * 2 and (table["epoch"] == 27).all()  # the centre, 2 points per parameter, full budget
    assert "one-at-a-time scan" in out and "  x1: 0.25 →" in out
    assert main(["analyze", "scan", "scan", "--storage", str(tmp_path)]) == 0
    assert (tmp_path / "scan" / "analysis" / "scan.png").read_bytes()[:4] == b"\x89PNG"


def test_bad_scan_inputs_are_one_line_errors(tmp_path, capsys):
    from babysweep.cli import main

    space = SPACES_DIR / "synthetic" / "hartmann6.yaml"
    assert main(["launch", str(space), "--algo", "scan", "--scan-points", "1", "--storage", str(tmp_path),
                 "--name", "s"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["babysweep: error: --scan-points 1: at least 2 points per parameter are needed for a curve"]
    assert not (tmp_path / "s").exists()
    copy_legacy(tmp_path, ["legacy"])
    assert main(["analyze", "scan", "legacy", "--storage", str(tmp_path)]) == 2
    assert "no scan runs (launch the space with --algo scan)" in capsys.readouterr().err
    assert not (tmp_path / "legacy" / "analysis").exists()
    assert main(["launch", str(space), "--algo", "scan", "--scan-params", "x1,nosuch", "--storage", str(tmp_path),
                 "--name", "s"]) == 2
    assert "--scan-params nosuch: not a parameter" in capsys.readouterr().err and not (tmp_path / "s").exists()
    assert main(["launch", str(space), "--scan-params", "x1", "--storage", str(tmp_path), "--name", "s"]) == 2
    assert "--scan-params x1: only for --algo scan" in capsys.readouterr().err
