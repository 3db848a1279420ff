"""A Ray cluster of several nodes on one machine, for trying what a real cluster does: trials spread over nodes,
a node lost mid-trial and joined again. The tests (tests/test_cluster.py) and the fault-injection benchmark
(benchmarks/bench_faults.py) use it; docs/cluster.md shows the same commands by hand.

Every node is a `ray start --block` of our own, with its own temp dir, in its own process group; a node is
stopped or killed through the PIDs of that process and everything it started, so no other Ray on the machine is
touched (`ray stop` would stop them all). Nodes join the head with RAY_AUTH_MODE=token: Ray 2.60 starts a head with
token authentication, and a node or driver that joins by address without it is refused."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RAY = str(Path(sys.executable).parent / "ray")
# Find a lost node within a few seconds (Ray's default takes ~30 s): the GCS checks each node every second and
# gives up after 3 missed checks
HEALTH_CHECK = {"RAY_health_check_period_ms": "1000", "RAY_health_check_failure_threshold": "3",
                "RAY_health_check_timeout_ms": "1000"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def descendants(root: int) -> set[int]:
    """`root` and every process under it, from /proc (Linux)."""
    children = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])  # after "pid (name) state": ppid
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, []))
    return found


class Node:
    def __init__(self, args, env, temp_dir):
        self.temp_dir = temp_dir
        self.process = subprocess.Popen([RAY, "start", "--block", f"--temp-dir={temp_dir}", *args],
                                        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        start_new_session=True)

    def pids(self) -> set[int]:
        """This node's processes: its `ray start`, and everything that started (raylet, workers, ...)."""
        return descendants(self.process.pid) if self.process.poll() is None else set()

    def kill(self, sig=signal.SIGKILL):
        """Every process of this node at once, as a machine that loses power (SIGKILL), or a clean stop (SIGTERM)."""
        for pid in self.pids():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill(signal.SIGKILL)


class LocalCluster:
    """A head and `workers` more nodes, each with `cpus` CPUs. Use as a context manager; `address` is HOST:PORT."""

    def __init__(self, workers=1, cpus=1):
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.cpus = cpus
        self.env = {**os.environ, "RAY_AUTH_MODE": "token", **HEALTH_CHECK}
        self.workers = []
        self.head = Node(["--head", f"--port={self.port}", f"--num-cpus={cpus}", "--include-dashboard=false"], self.env,
                         tempfile.mkdtemp(prefix="bshead-", dir="/tmp"))
        try:
            self.wait_for_head()
            for _ in range(workers):
                self.workers.append(self.add_node())
        except BaseException:
            self.stop()
            raise

    def wait_for_head(self, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                time.sleep(3)  # the raylet registers after the GCS port opens
                return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"the Ray head on port {self.port} did not start")

    def add_node(self) -> Node:
        node = Node([f"--address={self.address}", f"--num-cpus={self.cpus}"], self.env,
                    tempfile.mkdtemp(prefix="bsnode-", dir="/tmp"))
        self.workers.append(node)
        try:
            self.wait_for_nodes(alive=1 + sum(1 for n in self.workers if n.process.poll() is None))
        finally:
            self.workers.remove(node)
        return node

    def alive_nodes(self) -> int:
        out = subprocess.run([sys.executable, "-c", NODES_PROBE, self.address], env=self.env, capture_output=True,
                             text=True, timeout=60)
        return int(out.stdout.strip() or 0)

    def wait_for_nodes(self, alive: int, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.alive_nodes() >= alive:
                return
            time.sleep(1)
        raise RuntimeError(f"the local cluster at {self.address} did not reach {alive} nodes")

    def driver_env(self) -> dict:
        """The environment of a driver that joins with --address: token auth on, as the nodes."""
        return dict(self.env)

    def stop(self):
        for node in [*self.workers, self.head]:
            node.kill(signal.SIGTERM)
        for node in [*self.workers, self.head]:
            shutil.rmtree(node.temp_dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


NODES_PROBE = """
import sys, ray
ray.init(address=sys.argv[1], log_to_driver=False, logging_level="ERROR")
print(sum(1 for n in ray.nodes() if n["Alive"]))
"""
