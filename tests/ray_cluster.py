"""A real two-node Ray cluster on this machine, started the way a user starts one, shared by the Ray tests.

The head and a worker node run `ray start` in their own process groups, one CPU each, with a private temp
dir and every address on the loopback (Ray rewrites 127.0.0.1 to the machine's outward address when a
second node joins, so the cluster uses 127.0.0.2, another loopback address). The nodes get this checkout
on PYTHONPATH, as a user installs the same code on every node, so `python:tests...` model specs load there.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.2"
REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _processes() -> dict[int, tuple[int, int, str]]:
    """pid -> (parent pid, process group, command line) of every live process."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        state, ppid, pgid = stat.rsplit(")", 1)[1].split()[:3]
        if state != "Z":
            found[int(entry)] = (int(ppid), int(pgid), cmdline)
    return found


def node_processes(pgid: int) -> dict[int, str]:
    """pid -> command line of a node's daemons (one process group) and their children (Ray's workers, which
    each run in a process group of their own)."""
    table = _processes()
    node = {pid for pid, (_, group, _) in table.items() if group == pgid}
    while True:
        children = {pid for pid, (ppid, _, _) in table.items() if ppid in node} - node
        if not children:
            return {pid: table[pid][2] for pid in node}
        node |= children


@dataclass
class Cluster:
    """A Ray cluster of a head and one worker node on this machine; each node is a process group of ours."""

    address: str  # the head's GCS, HOST:PORT
    client_address: str  # the head's Ray Client server, ray://HOST:PORT
    temp_dir: Path
    env: dict[str, str]
    groups: dict[str, int] = field(default_factory=dict)
    common: tuple[str, ...] = ("--num-cpus", "1", "--node-ip-address", HOST, "--disable-usage-stats")

    def ray(self, *args: str, name: str) -> None:
        """Run `ray ARGS` as a user does, in a new process group whose daemons make up node `name`."""
        log = self.temp_dir / f"{name}.log"
        with open(log, "w") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "ray.scripts.scripts", *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
            )
            self.groups[name] = proc.pid
            code = proc.wait(timeout=120)
        assert code == 0, log.read_text()[-3000:]

    def start_worker(self) -> None:
        """Join a worker node (again, after `kill("worker")`)."""
        self.ray(
            "start", "--address", self.address, *self.common, "--dashboard-agent-listen-port", str(_free_port()),
            name="worker",
        )  # fmt: skip

    def ensure_worker(self) -> None:
        """Both nodes up: a worker node killed by an earlier test is started again."""
        if "worker" not in self.groups:
            self.start_worker()

    def kill(self, name: str) -> None:
        """SIGKILL every process of a node, its workers too, as when the machine is lost."""
        for pid in node_processes(self.groups.pop(name)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def two_node_cluster() -> Iterator[Cluster]:
    """The two-node cluster, killed (by process group) and its temp dir removed on exit."""
    temp_dir = Path(tempfile.mkdtemp(prefix="xr", dir="/tmp"))  # Ray's socket paths must stay short
    port = _free_port()
    env = {
        **os.environ,
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_AUTH_MODE": "token",  # a token of this cluster's own, never ~/.ray's
        "RAY_AUTH_TOKEN": secrets.token_hex(32),
        "AUTOSCALER_METRIC_PORT": str(_free_port()),
        "DASHBOARD_METRIC_PORT": str(_free_port()),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    env.pop("RAY_ADDRESS", None)
    client_port = _free_port()
    c = Cluster(f"{HOST}:{port}", f"ray://{HOST}:{client_port}", temp_dir, env)
    try:
        c.ray(
            "start", "--head", "--port", str(port), *c.common,
            "--temp-dir", str(temp_dir), "--include-dashboard", "false",
            "--ray-client-server-port", str(client_port), "--dashboard-agent-listen-port", str(_free_port()),
            name="head",
        )  # fmt: skip
        c.start_worker()
        yield c
    finally:
        for name in list(c.groups):
            c.kill(name)
        shutil.rmtree(temp_dir, ignore_errors=True)
