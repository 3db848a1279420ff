"""benchmarks/bench_gpu.py's CPU path: the trainables, the distillation loss and the scorer run end to end without
Ray, pandas or sweep/ (what the lent GPU machine has: torch and transformers), and write one JSON."""
import json
import subprocess
import sys

import pytest

from conftest import REPO

RUN = """
import runpy, sys, json
sys.argv = ["bench_gpu.py", "--device", "cpu", "--out", sys.argv[1]]
try:
    runpy.run_path("benchmarks/bench_gpu.py", run_name="__main__")
except SystemExit as e:
    assert not e.code, e.code
print("MODULES", json.dumps(sorted(m for m in ("ray", "pandas", "sweep", "matplotlib") if m in sys.modules)))
"""


@pytest.mark.slow  # it trains (a tiny model, a few steps: seconds)
def test_the_gpu_benchmark_runs_on_the_cpu_without_ray_pandas_or_sweep(tmp_path):
    out = tmp_path / "bench_gpu.json"
    run = subprocess.run([sys.executable, "-c", RUN, str(out)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    modules = json.loads(run.stdout.rsplit("MODULES", 1)[1])
    assert modules == [], modules  # what the device lacks was never imported
    report = json.loads(out.read_text())
    assert report["preset"] == "tiny" and report["train"]["tokens_per_s"] > 0 and report["train"]["mfu"] is None
    assert report["distill_2_teachers"]["ratio_to_plain_step"] > 0  # a figure (machine load moves it: not a test of it)
    assert report["score"]["pairs"] >= 1000 and 0 <= report["score"]["score"] <= 1
    assert report["score"]["precision"] == "float32" and report["total_s"] < 60
