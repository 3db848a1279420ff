"""A sweep on a two-node Ray cluster started on this machine (sweep/local_cluster.py: own temp dirs and ports,
stopped by PID): its trials run on both nodes, the second node is killed mid-trial, and the sweep completes with
the killed trial resumed from its checkpoint on the head. Nothing else on the machine is touched."""
import subprocess
import sys

import pytest

from conftest import REPO, watch_table
from sweep.local_cluster import LocalCluster
from sweep.table import read_history, read_table

TINY_SPACE = REPO / "search_spaces" / "tiny_demo.yaml"


@pytest.mark.slow
def test_a_trial_on_a_lost_node_resumes_from_its_checkpoint_on_the_head(tiny_data, tmp_path):
    with LocalCluster(workers=1, cpus=1) as cluster:
        second = cluster.workers[0]
        driver = subprocess.Popen(
            [sys.executable, "-m", "babysweep.cli", "launch", str(TINY_SPACE), "--data", str(tiny_data), "--algo", "random",
             "--samples", "2", "--address", cluster.address, "--storage", str(tmp_path / "runs"), "--name", "two",
             "--quiet", "--set", "num_epochs=4", "--set", "budget_step=0.5"],
            cwd=REPO, env=cluster.driver_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True)
        table_path = tmp_path / "runs" / "two" / "results.csv"

        def trial_on_second_node(table):
            """(its row, the table) once exactly one trial runs on the second node, past its first epoch."""
            if "worker_pid" not in table or table["worker_pid"].isna().any() or len(table) < 2:
                return None
            on_second = table[table["worker_pid"].astype(int).isin(second.pids())]
            if len(on_second) == 1 and on_second["epoch"].iloc[0] >= 1:
                return on_second.iloc[0], table
            return None

        found = watch_table(table_path, trial_on_second_node, driver, every=0.3)
        assert found is not None, "no trial reached its second epoch on the second node"
        victim, table = found
        assert table["node_id"].nunique() == 2  # the trials ran on both nodes
        second.kill()  # the node's every process (raylet, workers), by the PIDs its `ray start` started
        out, err = driver.communicate(timeout=600)
        assert driver.returncode == 0, err[-3000:]

    table = read_table(table_path).set_index("trial_id")
    assert set(table["state"]) == {"TERMINATED"} and (table["epoch"] == 4).all()
    moved = table.loc[victim["trial_id"]]
    assert moved["failures"] == 1 and moved["node_id"] != victim["node_id"]  # finished elsewhere: on the head
    assert moved["node_id"] == table.drop(index=victim["trial_id"])["node_id"].iloc[0]
    history = read_history(tmp_path / "runs" / "two" / "history.csv")
    epochs = list(history.loc[history["trial_id"] == victim["trial_id"], "epoch"])
    assert epochs == [0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4]  # continuous: resumed from its checkpoint
    assert f"retried: {victim['trial_id']}, failed 1 time(s)" in out
