"""`bench/build.py --engine ray`: the same build on the local pool and on a Ray cluster of this machine.

For 1 and then 2 worker processes, a one-node cluster is started with `ray start --head --num-cpus N` (as a
user starts one; its start-up is not timed, a cluster outlives builds), then each run builds the same
inputs into a fresh folder with the local pool and with Ray, in alternating order, through `run_build` in
this process. Ray's time includes connecting and starting its worker processes (a new job each build, as
each `ximagenet12 build` is). Each finished task is timestamped, which splits a build into start-up and
time per shard task.
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from ximagenet12_builder.engines import make_engine
from ximagenet12_builder.pipeline import BuildOptions, run_build

HOST = "127.0.0.2"  # a loopback address that Ray does not rewrite to the machine's outward one
GOAL = 1.15


class Timed:
    """An engine whose finished tasks are timestamped."""

    def __init__(self, engine):
        self.engine, self.start, self.ends = engine, 0.0, []

    def run(self, jobs, progress, finished):
        self.start, self.ends = time.perf_counter(), []

        def stamp(result) -> None:
            self.ends.append(time.perf_counter())
            finished(result)

        return self.engine.run(jobs, progress, stamp)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _descendants(pgid: int) -> list[int]:
    table = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            table[int(entry)] = (int(fields[1]), int(fields[2]))
    found = {pid for pid, (_, group) in table.items() if group == pgid}
    while more := {pid for pid, (ppid, _) in table.items() if ppid in found} - found:
        found |= more
    return sorted(found)


@contextlib.contextmanager
def ray_cluster(num_cpus: int) -> Iterator[str]:
    """A one-node Ray cluster with `num_cpus` CPUs on the loopback; its address. Killed on exit."""
    temp_dir = tempfile.mkdtemp(prefix="xrb", dir="/tmp")  # short: Ray's socket paths have a length limit
    port = _free_port()
    # this process and the cluster share a token of their own (never ~/.ray's)
    os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))
    os.environ.update(RAY_AUTH_MODE="token", RAY_USAGE_STATS_ENABLED="0")
    argv = [
        sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--port", str(port),
        "--node-ip-address", HOST, "--num-cpus", str(num_cpus), "--temp-dir", temp_dir,
        "--include-dashboard", "false", "--disable-usage-stats",
        "--ray-client-server-port", str(_free_port()), "--dashboard-agent-listen-port", str(_free_port()),
    ]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        output = proc.communicate(timeout=180)[0]
        if proc.returncode:
            raise SystemExit(output.decode(errors="replace"))
        yield f"{HOST}:{port}"
    finally:
        for pid in _descendants(proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(temp_dir, ignore_errors=True)


def _build(
    sources: Path, out: Path, configs: tuple[str, ...], per_shard: int, engine: str, workers: int, address: str
) -> tuple[float, int, Timed]:
    start = time.perf_counter()  # the engine is made inside the timed span, as `ximagenet12 build` makes it
    timed = Timed(make_engine(engine, workers=workers, address=address if engine == "ray" else None))
    report = run_build(
        BuildOptions(sources, out, configs=configs, sources_per_shard=per_shard, progress=False, engine=timed)
    )
    seconds = time.perf_counter() - start
    assert report.complete, f"{out}: build incomplete"
    timed.ends = [t - start for t in timed.ends]
    timed.start -= start
    return seconds, report.num_rows, timed


def _round_trips(address: str, count: int) -> list[float]:
    """Seconds of `count` empty tasks, one after the other, on a warm worker: Ray's own cost of a task."""
    import ray
    from ximagenet12_builder.engines.ray import ready

    ray.init(address=address, logging_level="WARNING", log_to_driver=False)
    try:
        task = ray.remote(num_cpus=1, scheduling_strategy="SPREAD")(ready)
        ray.get(task.remote())
        times = []
        for _ in range(count):
            start = time.perf_counter()
            ray.get(task.remote())
            times.append(time.perf_counter() - start)
        return times
    finally:
        ray.shutdown()


def _spread(values: Sequence[float], fmt: str = "{:.2f}") -> str:
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def compare_engines(
    sources: Path, tmp: Path, configs: tuple[str, ...], per_shard: int, runs: int, full_release: int
) -> None:
    """Print rows/s of the local pool and Ray with 1 and 2 workers, Ray's overhead, and a projection."""
    n_sources = sum(1 for _ in (sources / "image").rglob("*.JPEG"))
    tasks = math.ceil(n_sources / per_shard)
    print(f"{n_sources} sources, {len(configs)} configs, {tasks} shard tasks of {per_shard} sources; {runs} runs\n")
    # per (engine, workers): whole build, start-up (to the first task's end, less one shard), shard, tail
    stats: dict[tuple[str, int], dict[str, list[float]]] = {}
    round_trips: list[float] = []
    rows = 0
    for workers in (1, 2):
        rounds = math.ceil(tasks / workers)
        with ray_cluster(workers) as address:
            for run in range(runs):
                for name in ("local", "ray") if run % 2 == 0 else ("ray", "local"):
                    out = tmp / f"{name}-{workers}-{run}"
                    seconds, rows, timed = _build(sources, out, configs, per_shard, name, workers, address)
                    shard = (timed.ends[-1] - timed.ends[0]) / max(1, rounds - 1)
                    got = stats.setdefault((name, workers), {"build": [], "start": [], "shard": [], "tail": []})
                    got["build"].append(seconds)
                    got["start"].append(timed.ends[0] - shard)
                    got["shard"].append(shard)
                    got["tail"].append(seconds - timed.ends[-1])
                    shutil.rmtree(out)
            if workers == 1:
                round_trips = _round_trips(address, 50)

    print(
        f"{'engine':<10} {'workers':>7} {'build s':>18} {'rows/s':>18} {'start-up s':>17} "
        f"{'per shard s':>17} {'finalise s':>17}"
    )
    for workers in (1, 2):
        for name, label in (("local", "local pool"), ("ray", "Ray")):
            got = stats[(name, workers)]
            print(
                f"{label:<10} {workers:>7} {_spread(got['build']):>18} "
                f"{_spread([rows / t for t in got['build']], '{:.1f}'):>18} {_spread(got['start']):>17} "
                f"{_spread(got['shard']):>17} {_spread(got['tail']):>17}"
            )
    print("(median (min-max); start-up: from the start to the first shard's end, less one shard: discover, plan,")
    print(" and for Ray connect and start worker processes; finalise: after the last shard: manifest, card, grid)\n")
    for workers in (1, 2):
        ray, local = stats[("ray", workers)], stats[("local", workers)]
        ratios = [r / lo for r, lo in zip(ray["build"], local["build"], strict=True)]
        overhead = [1000 * (r - lo) for r, lo in zip(ray["shard"], local["shard"], strict=True)]
        start = [r - lo for r, lo in zip(ray["start"], local["start"], strict=True)]
        print(
            f"{workers} worker(s): Ray / local pool time {_spread(ratios)}x (goal <= {GOAL}); Ray's overhead "
            f"{_spread(overhead, '{:.0f}')} ms a shard task, {_spread(start)} s of start-up"
        )
    print(f"an empty task's round trip on a warm worker: {_spread([1000 * t for t in round_trips], '{:.1f}')} ms")
    ray2 = stats[("ray", 2)]
    per_source = statistics.median(ray2["shard"]) / per_shard
    fixed = statistics.median(ray2["start"]) + statistics.median(ray2["tail"])
    full_rows = full_release * rows / n_sources
    print(
        f"\nprojection, full release ({full_release} sources, {full_rows:,.0f} rows) on N machines like this one "
        f"(2 CPUs each), from Ray's {1000 * per_source:.1f} ms per source a worker at 2 workers "
        f"and {fixed:.1f} s of start-up and finalising:"
    )
    for shard_sources in (2000, 250):
        shards = math.ceil(full_release / shard_sources)
        cells = []
        for machines in (1, 2, 4, 8, 16):
            rounds = math.ceil(shards / (2 * machines))
            cells.append(f"N={machines}: {(fixed + rounds * shard_sources * per_source) / 60:.1f} min")
        print(f"  --sources-per-shard {shard_sources} ({shards} tasks): " + ", ".join(cells))
