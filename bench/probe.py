"""`check`'s streaming probe: the light subprocess against the one it replaced, on the same build.

    python bench/probe.py [--runs 5]

Both read the first rows of every config of a build of the shipped sample with `load_dataset(...,
streaming=True)` in a fresh Python process. The baseline is the probe as it was: the caller's environment
(so `datasets` imports torch when it is installed) and the pure-Python YAML loader. Ours sets
`USE_TORCH=0`/`USE_TF=0`/`USE_JAX=0` and parses the card with libyaml. Runs alternate; the table gives the
median wall time and peak RSS of the process, with their spread (min-max), and the ratio baseline/ours.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ximagenet12_builder.stream_probe import LIGHT_ENV

from ximagenet12 import manifest as mf

BASELINE = """
import json, os, sys
from ximagenet12_builder.stream_probe import probe
folder, jobs = sys.argv[1], json.loads(sys.argv[2])
results = {config: probe(folder, config, split) for config, split in jobs}
sys.stdout.write("\\n" + json.dumps(results) + "\\n"); sys.stdout.flush(); os._exit(0)
"""


def _run(command: list[str], env: dict[str, str]) -> tuple[float, float, dict]:
    """Wall seconds, peak RSS in MB and the JSON answer of one probe process."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - start
    return elapsed, usage.ru_maxrss / 1024, json.loads(out.strip().splitlines()[-1])


def _stats(values: list[float]) -> str:
    return f"{statistics.median(values):7.2f} ({min(values):.2f}-{max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "build"
        subprocess.run(
            [sys.executable, "-m", "ximagenet12_builder.cli", "build", "--out", str(out), "--no-progress"],
            check=True,
            capture_output=True,
        )
        manifest = mf.read_manifest(out)
        jobs = json.dumps([[c, manifest.configs[c].split_names()[0]] for c in manifest.built_configs()])
        user_env = {k: v for k, v in os.environ.items() if k not in LIGHT_ENV}
        variants = {
            "baseline: caller's env, pure-Python YAML": (
                [sys.executable, "-c", BASELINE, str(out), jobs],
                {**user_env, "HF_HUB_OFFLINE": "1", "HF_DATASETS_DISABLE_PROGRESS_BARS": "1"},
            ),
            "ours: LIGHT_ENV, libyaml": (
                [sys.executable, "-m", "ximagenet12_builder.stream_probe", str(out), jobs],
                {**user_env, **LIGHT_ENV},
            ),
        }
        times: dict[str, list[float]] = {k: [] for k in variants}
        rss: dict[str, list[float]] = {k: [] for k in variants}
        for _ in range(args.runs):
            for name, (command, env) in variants.items():
                elapsed, peak, answer = _run(command, env)
                assert not any(answer.values()), answer
                times[name].append(elapsed)
                rss[name].append(peak)
    print(f"streaming probe of {len(json.loads(jobs))} configs, {args.runs} runs each, alternating\n")
    print(f"{'probe':<42} {'s median (min-max)':>22} {'peak RSS MB median (min-max)':>32}")
    for name in variants:
        print(f"{name:<42} {_stats(times[name]):>22} {_stats(rss[name]):>32}")
    base, ours = list(variants)
    speed = statistics.median(times[base]) / statistics.median(times[ours])
    memory = statistics.median(rss[base]) / statistics.median(rss[ours])
    print(f"\nours is {speed:.2f}x faster and uses {memory:.2f}x less memory than the baseline")


if __name__ == "__main__":
    main()
