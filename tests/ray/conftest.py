"""A real local Ray cluster for the Ray executor's tests: a head node and a worker node,
each its own `ray start` process group, on 127.0.0.1.

Ray's servers listen on every interface (its GCS and raylets bind `*:port` whatever
address they are given), so these tests run in a network namespace whose only interface
is loopback: scripts/test.sh starts them with
`unshare --net sh -c 'ip link set lo up && exec python -m pytest tests/ray'`, and the
first test checks that no interface but loopback exists. Run elsewhere, they refuse to
start the cluster rather than expose it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

RAY = str(Path(sys.executable).with_name("ray"))


def interfaces() -> list[str]:
    """Names of the network interfaces in this network namespace (/sys may show the
    host's)."""
    return sorted(name for _, name in socket.if_nameindex())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    """One `ray start --block` process group: killing it takes the node down."""

    def __init__(self, args: list[str], temp_dir: str, log: Path) -> None:
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
        self.log = log
        self.node_id = ""  # set once the cluster counts it alive
        self.proc = subprocess.Popen(
            [
                RAY,
                "start",
                "--block",
                "--node-ip-address=127.0.0.1",
                "--disable-usage-stats",
                f"--temp-dir={temp_dir}",
                *args,
            ],
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(10)


class Cluster:
    def __init__(self, root: Path) -> None:
        self.root = root
        # Unix sockets live under the temp dir: keep its path short.
        self.temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.nodes: list[Node] = []

    def start_head(self) -> None:
        head = Node(
            ["--head", f"--port={self.port}", "--include-dashboard=false", "--num-cpus=2"],
            self.temp_dir,
            self.root / "head.log",
        )
        self.nodes.append(head)
        head.node_id = self.wait_for_new_node(set())

    def add_worker(self, cpus: int = 2, resource: str = "worker") -> Node:
        """A worker node with `cpus` CPUs and 100 of a custom `resource` (tasks that ask
        for it run there)."""
        node = Node(
            [
                f"--address={self.address}",
                f"--num-cpus={cpus}",
                f'--resources={{"{resource}": 100}}',
            ],
            self.temp_dir,
            self.root / f"worker{len(self.nodes)}.log",
        )
        known = {n["NodeID"] for n in self.alive_nodes()}
        self.nodes.append(node)
        node.node_id = self.wait_for_new_node(known)
        return node

    def kill(self, node: Node) -> None:
        """Takes a node down at once (SIGKILL to its process group), as a lost machine."""
        self.nodes.remove(node)
        node.kill()

    def alive_nodes(self) -> list[dict[str, Any]]:
        import ray

        return [n for n in ray.nodes() if n["Alive"]]

    def wait_for_new_node(self, known: set[str], timeout: float = 60) -> str:
        """The id of the node just started, once the cluster counts it alive (a node just
        killed may still count as alive for a while, so new ids are looked for)."""
        import ray

        node = self.nodes[-1]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if node.proc.poll() is not None:
                raise RuntimeError(f"a Ray node exited:\n{node.log.read_text()[-3000:]}")
            try:
                if not ray.is_initialized():
                    ray.init(address=self.address, log_to_driver=False)
                new = {n["NodeID"] for n in self.alive_nodes()} - known
                if new:
                    return new.pop()
            except ConnectionError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"the Ray node did not join the cluster in {timeout} s")

    def stop(self) -> None:
        import ray

        ray.shutdown()
        for node in reversed(self.nodes):
            node.kill()


@pytest.fixture(scope="session")
def cluster(tmp_path_factory) -> Iterator[Cluster]:
    if interfaces() != ["lo"]:
        pytest.fail(
            "the Ray tests start a cluster whose servers listen on every interface: run them "
            "in a loopback-only network namespace (scripts/test.sh does: unshare --net ...), "
            f"not here (interfaces: {interfaces()})"
        )
    c = Cluster(tmp_path_factory.mktemp("ray"))
    try:
        c.start_head()
        c.add_worker()
        yield c
    finally:
        c.stop()
        subprocess.run([RAY, "stop", "--force"], capture_output=True, timeout=60)
