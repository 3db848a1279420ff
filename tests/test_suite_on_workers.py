"""The suite's own contract with pytest-xdist (setup.cfg runs it on one worker per core): the tests of one module run
on one worker, in order, so a module fixture (a tiny family, a pretrained model) is made once. xdist groups by a
suffix its hook writes into each node id; a pytest that keeps node ids elsewhere (9.2 does) silently undoes the
grouping, and a module's tests then meet fixtures made by another worker's copy (constraints.txt pins pytest)."""
import os
import re
import subprocess
import sys

from conftest import REPO


def test_the_tests_of_one_module_run_on_one_worker_in_their_order():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "XDIST"))}
    run = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "-v", "-p", "no:cacheprovider",
                          "tests/test_layers.py"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    ran = re.findall(r"^\[(gw\d+)\] \[[ \d]+%\] PASSED (\S+)", run.stdout, re.M)
    assert len(ran) >= 2, run.stdout[-2000:]
    assert len({worker for worker, _ in ran}) == 1, ran  # one worker took the whole module
    assert all(test.endswith("@test_layers.py") for _, test in ran), ran
    names = [test.split("::")[1].split("@")[0] for _, test in ran]
    source = (REPO / "tests" / "test_layers.py").read_text()
    assert names == sorted(names, key=lambda name: source.index(f"def {name}")), names  # in the file's order
