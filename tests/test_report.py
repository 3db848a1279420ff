"""`babysweep report NAME` (analysis/report/, babysweep/cli/report.py): one self-contained HTML page per sweep.

Fast tests use hand-made folders (copies of tests/fixtures/legacy_v0_1: the sweep "legacy", 4 trials, two stopped
at the 1-epoch rung, two BLiMP-scored, and its re-run "legacy-rerun"), with analyses made by the analysis modules
themselves; the slow ones a real 5-trial BOHB sweep (conftest's small_sweep). Every page is parsed with the standard
library's html.parser and every embedded image decoded; a real headless Chromium renders it when one is installed.
"""
import base64
import io
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest

from conftest import copy_legacy
from analysis.report import REPORT_HTML, ReportError, bracket_rungs, write_report
from sweep import folder
from babysweep.cli import main
from sweep.experiment import load_experiment

SECTIONS = ["settings", "compute", "anytime", "trials", "hyperparameters", "correlation", "stability", "comparison",
            "results"]
OWN_FIGURES = ["anytime", "trials", "hyperparameters"]


# ------------------------------------------------------------------------------------------------ helpers

class Page(HTMLParser):
    """What a check needs of a report: its sections' ids and text, every image source, every tag and URL."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.sections, self.images, self.tags, self.urls = {}, [], set(), []
        self.missing = {}          # section id -> the text of its "how to produce it" notes
        self._section, self._missing_depth = None, 0
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.add(tag)
        if tag == "section":
            self._section = attrs.get("id")
            self.sections[self._section] = ""
        if tag == "img":
            self.images.append((self._section, attrs.get("src", "")))
        for key in ("src", "href"):
            if key in attrs:
                self.urls.append(attrs[key])
        if "missing" in (attrs.get("class") or "").split():
            self._missing_depth = 1
            self.missing.setdefault(self._section, "")
        elif self._missing_depth:
            self._missing_depth += 1

    def handle_endtag(self, tag):
        if tag == "section":
            self._section = None
        if self._missing_depth:
            self._missing_depth -= 1

    def handle_data(self, data):
        if self._section is not None:
            self.sections[self._section] += data
            if self._missing_depth:
                self.missing[self._section] += data

    def images_in(self, section):
        return [src for s, src in self.images if s == section]


def decode_png(src: str) -> np.ndarray:
    """An <img> source as pixels: it must be a base64 PNG data URI that decodes to a non-empty image."""
    prefix = "data:image/png;base64,"
    assert src.startswith(prefix), src[:60]
    data = base64.b64decode(src[len(prefix):], validate=True)
    pixels = mpimg.imread(io.BytesIO(data), format="png")
    assert pixels.ndim == 3 and pixels.shape[0] > 10 and pixels.shape[1] > 10
    assert pixels.std() > 0, "a blank image"
    return pixels


def check_page(path: Path) -> Page:
    """The checks every report passes: parses, every section present, every image decodes, nothing external."""
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    page = Page(text)
    assert list(page.sections) == SECTIONS
    assert page.images, "no image embedded"
    for _, src in page.images:
        decode_png(src)
    # self-contained: no script, no stylesheet or frame fetched, every URL an embedded image or an anchor
    assert not page.tags & {"script", "link", "iframe", "object", "embed"}
    assert all(u.startswith(("data:image/png;base64,", "#")) for u in page.urls), \
        [u[:40] for u in page.urls if not u.startswith(("data:", "#"))]
    assert "log__" not in text  # configurations in the trainable's units, never ConfigSpace's internal names
    return page


def babysweep(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def storage(tmp_path):
    """A copy of the legacy storage: the sweep "legacy" and its re-run "legacy-rerun"."""
    runs = tmp_path / "runs"
    copy_legacy(runs)
    return runs


def add_correlation(exp):
    """correlate.md/csv and the regression plots, as `babysweep analyze correlate` writes them, for the sweep's
    table with BLiMP and test loss filled in for every trial (the fixture scored only 2: too few to fit)."""
    from analysis.correlate import correlate, plot_all, write_report as write_correlate

    df = exp.table.copy()
    rng = np.random.default_rng(0)
    df["blimp_filtered"] = 0.9 - 0.1 * df["val_loss"] + rng.normal(0, 0.01, len(df))
    df["test_loss"] = df["val_loss"] + 0.03
    results = correlate(df, n_boot=50)
    paths = write_correlate(results, ["every trial"], exp.analysis_dir, plot_all(df, results), source=exp.table_path)
    return [p for p in paths if p.endswith(".png")]


def add_stability(storage):
    from analysis.stability import stability_report

    source, rerun = load_experiment("legacy", storage), load_experiment("legacy-rerun", storage)
    _, paths = stability_report(source.table, rerun.table, rerun.analysis_dir)
    return [p for p in paths if p.endswith(".png")]


def add_compare(exp, storage):
    """compare.png in the sweep's analysis folder: `babysweep analyze compare legacy-rerun --sweep legacy` (the
    re-run's seeds as a family beside the sweep's trials); a plain matplotlib PNG where that command is absent."""
    try:
        import analysis.compare  # noqa: F401
    except ImportError:
        pass
    else:
        assert main(["analyze", "compare", "legacy-rerun", "--sweep", "legacy", "--storage", str(storage)]) == 0
        assert (exp.analysis_dir / "compare.png").is_file()
        return
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3, 2))
    fig.add_subplot().violinplot([[1, 2, 3, 2.5], [2, 3, 4, 3.2]])
    exp.analysis_dir.mkdir(exist_ok=True)
    fig.savefig(exp.analysis_dir / "compare.png")


# ------------------------------------------------------------------------------------------------ fast tests

def test_bracket_rungs_follow_the_scheduler():
    # tiny_demo: budget 1 to 3 epochs, eta 3: bracket 0 runs everything to 3, bracket 1 compares at 1 then 3
    assert bracket_rungs(1, 3, 3) == {0: [3.0], 1: [1.0, 3.0]}
    # the paper's kind of budget: 1 to 27 epochs
    assert bracket_rungs(1, 27, 3)[3] == [1.0, 3.0, 9.0, 27.0]
    # fractional budgets count in units of the reporting step: rungs fall on reports, never below the minimum
    rungs = bracket_rungs(0.25, 2.25, 3, budget_step=0.25)
    assert rungs[2] == [0.25, 0.75, 2.25] and min(min(r) for r in rungs.values()) >= 0.25


def test_report_without_analyses_says_how_to_produce_each(storage, capsys):
    code, out, err = babysweep(capsys, "report", "legacy", "--storage", storage)
    assert code == 0, err
    path = storage / "legacy" / REPORT_HTML
    assert out.strip().splitlines()[-1] == str(path)
    page = check_page(path)
    # its own figures, embedded, and beside it as PNG and PDF (the same PNG bytes)
    for stem in OWN_FIGURES:
        assert len(page.images_in(stem)) == 1
        png = (storage / "legacy" / "report" / f"{stem}.png").read_bytes()
        assert page.images_in(stem)[0] == "data:image/png;base64," + base64.b64encode(png).decode()
        assert (storage / "legacy" / "report" / f"{stem}.pdf").read_bytes().startswith(b"%PDF")
    # every analysis missing: each section gives the exact command (the storage is not the default: it says so)
    flag = f"--storage {storage.resolve()}"
    assert f"babysweep analyze correlate legacy {flag}" in page.missing["correlation"]
    assert f"babysweep analyze stability legacy {flag}" in page.missing["stability"]  # the re-run exists
    assert f"babysweep analyze compare legacy-rerun --sweep legacy {flag}" in page.missing["comparison"]
    for section in ("correlation", "stability", "comparison"):
        assert not page.images_in(section)
    # settings and compute
    settings = page.sections["settings"]
    for text in ("tiny_demo.yaml", "bohb", "reduction factor (eta)", "1 to 3 epochs", "bracket 1: rungs at 1, 3 epochs",
                 "1 CPU(s) and 0 GPU(s) per trial"):
        assert text in settings, text
    compute = page.sections["compute"]
    assert "4 (4 TERMINATED)" in compute and "trial-hours" in compute and "GPU-hours" in compute
    assert "epochs trained (all trials)8" in compute.replace("\n", "")  # 1 + 1 + 3 + 3
    assert "0ad21f93" in compute  # the best trial


def test_results_table_is_in_natural_units(storage):
    exp = load_experiment("legacy", storage)
    path = write_report(exp)
    page = check_page(path)
    results = page.sections["results"]
    for name in exp.space.params:
        assert name in results
    # the best trial's values as the trainable received them (lr = exp(log__lr), batch_size rounded to q = 4)
    assert "0.002353" in results and "16" in results and "linear" in results
    text = path.read_text()
    assert 'class="best"' in text  # the best trial's row is highlighted


def test_report_embeds_every_analysis_that_exists(storage, capsys):
    exp = load_experiment("legacy", storage)
    plots = add_correlation(exp)
    stability_plots = add_stability(storage)
    add_compare(exp, storage)
    code, out, err = babysweep(capsys, "report", "legacy", "--storage", storage)
    assert code == 0, err
    page = check_page(storage / "legacy" / REPORT_HTML)
    assert len(plots) == 2 and len(page.images_in("correlation")) == 2  # BLiMP and test loss on validation loss
    assert "R²" in page.sections["correlation"] and "BLiMP filtered" in page.sections["correlation"]
    assert len(stability_plots) == 2 and len(page.images_in("stability")) == 2  # validation loss and BLiMP
    assert "stable" in page.sections["stability"] and "0ad21f93" in page.sections["stability"]
    assert len(page.images_in("comparison")) == 1
    assert not ({"correlation", "stability", "comparison"} & set(page.missing))


def test_report_of_a_sweep_without_reruns_or_scores(storage):
    shutil.rmtree(storage / "legacy-rerun")
    exp_dir = storage / "legacy"
    (exp_dir / "evaluation.csv").unlink()
    table = pd.read_csv(exp_dir / "results.csv", dtype={"trial_id": str})
    table.drop(columns=[c for c in table.columns if c.startswith("blimp")]).to_csv(exp_dir / "results.csv", index=False)
    page = check_page(write_report(load_experiment("legacy", storage)))
    flag = f"--storage {storage.resolve()}"
    assert f"babysweep rerun legacy {flag}" in page.missing["stability"]
    assert f"babysweep analyze stability legacy {flag}" in page.missing["stability"]
    assert f"babysweep evaluate legacy --blimp" in page.missing["correlation"]
    assert f"babysweep analyze correlate legacy {flag}" in page.missing["correlation"]


def test_report_of_a_rerun_compared_with_its_sweep(storage, capsys):
    add_stability(storage)
    code, out, err = babysweep(capsys, "report", "legacy-rerun", "--storage", storage, "--compare-with", "legacy")
    assert code == 0, err
    page = check_page(storage / "legacy-rerun" / REPORT_HTML)
    assert "legacy" in page.sections["anytime"] and "common budget" in page.sections["anytime"]
    assert page.images_in("stability")  # a re-run's own analysis folder holds its stability plots
    assert "no rungs" in page.sections["trials"]


def test_unknown_name_is_one_line_exit_2(storage, capsys):
    code, out, err = babysweep(capsys, "report", "nope", "--storage", storage)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "nope" in err
    code, out, err = babysweep(capsys, "report", "legacy", "--storage", storage, "--compare-with", "other")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "other" in err
    assert not (storage / "legacy" / REPORT_HTML).exists()


@pytest.mark.parametrize("how", ["no table", "nothing finished"])
def test_sweep_with_no_finished_trial_is_one_line_exit_2_and_writes_nothing(storage, capsys, how):
    exp_dir = storage / "legacy"
    if how == "no table":
        for name in ("results.csv", "history.csv", "evaluation.csv"):
            (exp_dir / name).unlink()
    else:
        table = pd.read_csv(exp_dir / "results.csv", dtype={"trial_id": str})
        table.assign(state=["RUNNING", "PAUSED", "PAUSED", "PENDING"]).to_csv(exp_dir / "results.csv", index=False)
    code, out, err = babysweep(capsys, "report", "legacy", "--storage", storage)
    assert code == 2, out
    assert len(err.strip().splitlines()) == 1 and "no finished trial" in err
    assert not (exp_dir / REPORT_HTML).exists() and not (exp_dir / "report").exists()
    assert not list(exp_dir.glob(".*.tmp"))


def test_running_sweep_is_reported_as_far_as_it_got(storage, capsys):
    exp_dir = storage / "legacy"
    table = pd.read_csv(exp_dir / "results.csv", dtype={"trial_id": str})
    table.loc[table["trial_id"] == "5fb92ac8", "state"] = "RUNNING"
    table.to_csv(exp_dir / "results.csv", index=False)
    # this test's process stands for the sweep's driver: alive, on this host, heartbeat fresh
    (exp_dir / folder.DRIVER).write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                                      "started": time.time(), "heartbeat_s": folder.HEARTBEAT_S}))
    code, out, err = babysweep(capsys, "report", "legacy", "--storage", storage)
    assert code == 0, err
    assert "still running" in out and out.strip().splitlines()[-1] == str(exp_dir / REPORT_HTML)
    text = (exp_dir / REPORT_HTML).read_text()
    check_page(exp_dir / REPORT_HTML)
    assert 'id="running"' in text and "This sweep is still running" in text
    assert "1 RUNNING" in text


def test_report_is_replaced_whole_or_not_at_all(storage, monkeypatch):
    import analysis.report.sections as report  # where the page's figures are drawn

    exp = load_experiment("legacy", storage)
    path = write_report(exp)
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise RuntimeError("killed mid-way")

    monkeypatch.setattr(report, "figure_bytes", broken)
    with pytest.raises(RuntimeError):
        write_report(load_experiment("legacy", storage))
    assert path.read_bytes() == before  # the previous report, untouched
    leftovers = [p.name for p in (storage / "legacy").rglob(".*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_no_finished_trial_from_the_library_raises_report_error(storage):
    for name in ("results.csv", "history.csv", "evaluation.csv"):
        (storage / "legacy" / name).unlink()
    with pytest.raises(ReportError, match="no finished trial"):
        write_report(load_experiment("legacy", storage))


# ------------------------------------------------------------------------------------------------ a real browser

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Injected into a copy of the page for the check only (the report itself has no script): records script errors
# and, once everything has loaded, how many images decoded
PROBE = """<script>
window.__errors = [];
window.addEventListener('error', function (e) { window.__errors.push(String(e.message || e.type)); }, true);
window.addEventListener('load', function () {
  var imgs = document.images, ok = 0;
  for (var i = 0; i < imgs.length; i++) { if (imgs[i].complete && imgs[i].naturalWidth > 0) ok++; }
  document.body.setAttribute('data-images', ok + '/' + imgs.length);
  document.body.setAttribute('data-errors', String(window.__errors.length));
  document.body.setAttribute('data-probe', 'done');
});
</script>"""


def find_browser():
    return next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)


def headless(browser, *args, timeout=120):
    flags = ["--headless", "--disable-gpu", "--no-first-run", "--disable-extensions", "--hide-scrollbars"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        flags.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox
    with tempfile.TemporaryDirectory(prefix="bs-chrome-") as profile:
        return subprocess.run([browser, *flags, f"--user-data-dir={profile}", *args], capture_output=True,
                              text=True, timeout=timeout)


@pytest.mark.slow  # a real browser: seconds of Chromium, beside the real runs
def test_report_renders_in_a_headless_browser(storage, tmp_path):
    browser = find_browser()
    if browser is None:
        pytest.skip("no headless browser: none of " + ", ".join(BROWSERS) + " is installed (Debian: "
                    "apt-get install -y chromium); the parse-and-decode checks above ran instead")
    exp = load_experiment("legacy", storage)
    add_correlation(exp)
    add_stability(storage)
    path = write_report(load_experiment("legacy", storage))
    n_images = len(Page(path.read_text()).images)
    probe = tmp_path / "probe.html"
    probe.write_text(path.read_text().replace("</body>", PROBE + "</body>"), encoding="utf-8")
    done = headless(browser, "--virtual-time-budget=10000", "--dump-dom", probe.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    body = Page(done.stdout)  # the DOM after load
    dom = done.stdout
    assert 'data-probe="done"' in dom, dom[:500]
    assert f'data-images="{n_images}/{n_images}"' in dom  # every image decoded in the browser
    assert 'data-errors="0"' in dom
    assert list(body.sections) == SECTIONS
    # and a screenshot of the page as it is (no probe): a real picture, not a blank page
    shot = tmp_path / "shot.png"
    done = headless(browser, "--window-size=1200,2400", f"--screenshot={shot}", path.as_uri())
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    pixels = mpimg.imread(shot)
    assert pixels.shape[1] == 1200 and pixels.std() > 0.01


# ------------------------------------------------------------------------------------------------ a real sweep

@pytest.fixture
def small_copy(small_sweep, tmp_path):
    """The real sweep's tables, copied so that the shared session sweep is left as it is."""
    runs = tmp_path / "runs"
    (runs / "small").mkdir(parents=True)
    for name in ("sweep.json", "space.yaml", "results.csv", "history.csv", "evaluation.csv"):
        if (small_sweep / "small" / name).is_file():
            shutil.copy(small_sweep / "small" / name, runs / "small" / name)
    return runs


@pytest.mark.slow
def test_report_of_a_real_sweep(small_copy, capsys):
    code, out, err = babysweep(capsys, "report", "small", "--storage", small_copy)
    assert code == 0, err
    exp = load_experiment("small", small_copy)
    page = check_page(small_copy / "small" / REPORT_HTML)
    assert {"correlation", "stability", "comparison"} <= set(page.missing)
    for stem in OWN_FIGURES:
        assert len(page.images_in(stem)) == 1
    # every trial of the table in the results table, every searched parameter in its own panel and in the table
    for tid in exp.table["trial_id"]:
        assert tid in page.sections["results"]
    for name in exp.space.params:
        assert name in page.sections["settings"] and name in page.sections["results"]
    assert "bracket 1: rungs at 1, 3 epochs" in page.sections["settings"]

    # the correlation analysis of the real table (test loss on validation loss: no BLiMP scores here)
    code, out, err = babysweep(capsys, "analyze", "correlate", "small", "--storage", small_copy, "--bootstrap", "50")
    assert code == 0, err
    code, out, err = babysweep(capsys, "report", "small", "--storage", small_copy)
    assert code == 0, err
    page = check_page(small_copy / "small" / REPORT_HTML)
    assert "correlation" not in page.missing or "babysweep evaluate small --blimp" in page.missing["correlation"]
    assert "test loss" in page.sections["correlation"]
