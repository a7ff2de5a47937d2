"""Build throughput: our pipeline against the naive same-bytes `datasets` way and the decode+encode floor.

    python bench/build.py [--sources 250] [--runs 3] [--configs all]
    python bench/build.py --engine ray [--runs 5]   # the local pool beside Ray, 1 and 2 workers (bench/_engines.py)

Every measurement runs in a fresh child process, in interleaved order (one round of every kind, then the
next round), on the same inputs: the shipped sample scaled up to 500x375 sources plus background photos,
so that all 18 configs are built. Each kind builds the same rows (the builder's own plan: same seeds, same
partners and photos) and stores the same bytes (JPEG q95, the same PNG settings for RGBA and masks, the
source file's bytes for `original`):

- ours: `ximagenet12 build SOURCES --out DIR --workers N` at its default settings; wall time of the process.
- naive: what a competent `datasets` user writes: one generator that decodes each source once and yields
  every row of it (partners and photos through an LRU cache of decoded pixels), `Dataset.from_generator`
  (with `num_proc`), then one `to_parquet` per config and split; wall time of the process.
- floor: decode each input once and encode each stored output once (the real output pixels, computed
  outside the timed part), nothing else: no scenario pixels, no Parquet, no hashing, no imports.
  A stored output is encoded once however many rows store it: ours encodes a source's mask once, so does it.
- rebuild: `ours` with 1 worker run again on its finished folder. Every shard is current, so only the fixed
  part runs: imports, discovery, plan, checking the shard records, the card, exit. It runs on one core whatever
  --workers says, so it bounds what more workers can gain (Amdahl); the report prints that bound.
- floor + scenario pixels: the floor plus computing those output pixels as ours does (`apply` under
  `sharing()`), timed in the same child: the work no builder of these rows can skip. Ours over it is the
  builder's own cost: Parquet, hashing, start-up, card, the Python around each row. Both go row by row, as
  a streaming builder does: each output is computed, encoded and dropped before the next.

Peak RSS is the OS's: `getrusage` of the child itself (the driver) and of its own children (the largest
worker process); CPU seconds are the child's and its children's (user + system; the floor's: its timed parts), which a
shared machine disturbs less than wall time. Medians of `--runs` runs with min-max.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

FULL_RELEASE_SOURCES = 15_410
SIZE_TEXT = "500x375"
ALL_CONFIGS = "all"


def _configs(spec: str) -> tuple[str, ...]:
    from ximagenet12.scenarios import SCENARIOS

    return tuple(n for n in SCENARIOS if n != "ai_bg") if spec == ALL_CONFIGS else tuple(spec.split(","))


def _plan(sources: Path, configs: tuple[str, ...]):
    """The builder's plan of these sources: the rows every kind builds."""
    from ximagenet12_builder.plan import make_plan
    from ximagenet12_builder.sources import discover, load_classes

    inv = discover(sources, classes=load_classes(sources / "classes.json"))
    return inv, make_plan(inv, configs)


# --- the children -----------------------------------------------------------------------------------


def _child_ours(sources: Path, out: Path, workers: int, configs: tuple[str, ...]) -> dict:
    from ximagenet12_builder.cli import main

    argv = ["build", str(sources), "--out", str(out), "--workers", str(workers), "--no-progress"]
    if configs != _configs(ALL_CONFIGS):
        argv += ["--configs", ",".join(configs)]
    code = main(argv)
    if code:
        raise SystemExit(f"build exited {code}")
    from ximagenet12.manifest import read_manifest

    return {"rows": sum(f.num_rows for f in read_manifest(out).files)}


def _naive_rows(items):
    """The generator: each source decoded once, every row of it yielded with the bytes ours stores."""
    import functools

    from ximagenet12 import imageio
    from ximagenet12.masks import load_mask
    from ximagenet12.scenarios import SCENARIOS, ScenarioError, apply, scenario_of

    @functools.lru_cache(maxsize=256)
    def decoded(image: str, mask: str | None):
        rgb = imageio.read_rgb(image).rgb
        return rgb, (load_mask(mask, expected_shape=rgb.shape) if mask else None)

    for item in items:
        s = item.source
        rgb, mask = decoded(s.image, s.mask)
        mask_png = imageio.encode_png(mask)
        for row in item.rows:
            config = scenario_of(row.config)
            if row.config == "original":
                image = {"bytes": Path(s.image).read_bytes(), "path": f"{s.id}{Path(s.image).suffix.lower()}"}
                out_mask, params = mask, {"seed": row.seed}
            else:
                kwargs = _extra_inputs(row, decoded)
                try:
                    pixels, out_mask, params = apply(config, rgb, mask, seed=row.seed, **kwargs)
                except ScenarioError:
                    continue  # ours rejects the row too
                if SCENARIOS[config].encoding == "png":
                    image = {"bytes": imageio.encode_png(pixels), "path": f"{s.id}.png"}
                else:
                    image = {"bytes": imageio.encode_jpeg(pixels), "path": f"{s.id}.jpg"}
            out_png = mask_png if out_mask is mask else imageio.encode_png(out_mask)
            yield {
                "image": image,
                "mask": {"bytes": out_png, "path": f"{s.id}.mask.png"},
                "label": item.label,
                "wnid": s.wnid,
                "source_id": s.id,
                "scenario": row.config,
                "background_id": row.background_id,
                "params": json.dumps({**params, **dict(row.params)}, sort_keys=True, separators=(",", ":")),
                "fold": item.fold,
                "split": item.split,
            }


def _child_naive(sources: Path, out: Path, num_proc: int, configs: tuple[str, ...]) -> dict:
    import datasets

    from ximagenet12.features import features

    inv, plan = _plan(sources, configs)
    class_names = [c.name for c in inv.classes]
    feats = datasets.Features({**features(class_names), "split": datasets.Value("string")})
    items = list(plan.items)
    ds = datasets.Dataset.from_generator(
        _naive_rows,
        features=feats,
        gen_kwargs={"items": items},
        num_proc=num_proc if num_proc > 1 else None,
        cache_dir=str(out / "cache"),
    )
    keys = list(zip(ds["scenario"], ds["split"], strict=True))
    for config, split in sorted(set(keys)):
        part = ds.select([i for i, k in enumerate(keys) if k == (config, split)]).remove_columns("split")
        (out / "data" / config).mkdir(parents=True, exist_ok=True)
        part.to_parquet(str(out / "data" / config / f"{split}.parquet"))
    return {"rows": len(ds)}


def _child_floor(sources: Path, out: Path, _: int, configs: tuple[str, ...]) -> dict:
    """Time only: one decode per input, one encode per distinct stored output, of the real pixels."""
    import cv2
    import numpy as np

    from ximagenet12 import imageio
    from ximagenet12.masks import mask_from_png
    from ximagenet12.scenarios import SCENARIOS, ScenarioError, apply, scenario_of
    from ximagenet12.scenarios.functional import sharing

    cv2.setNumThreads(1)
    _, plan = _plan(sources, configs)
    inputs = {}
    for item in plan.items:
        inputs[item.source.image] = (item.source.image, item.source.mask)
        for row in item.rows:
            for p in row.partners[:1]:
                inputs[p.image] = (p.image, p.mask)
            for b in row.backgrounds[:1]:
                inputs[b.path] = (b.path, None)
    blobs = {k: (Path(i).read_bytes(), Path(m).read_bytes() if m else None) for k, (i, m) in inputs.items()}
    seconds, cpu, rows, decoded, pixels, pixels_cpu = 0.0, 0.0, 0, {}, 0.0, 0.0
    start, start_cpu = time.perf_counter(), time.process_time()
    for key, (image, mask) in blobs.items():  # every input decoded once (sources, partners, photos)
        rgb = imageio.decode_rgb(image).rgb
        decoded[key] = (rgb, mask_from_png(mask) if mask is not None else None)
    seconds, cpu = seconds + time.perf_counter() - start, cpu + time.process_time() - start_cpu
    for item in plan.items:
        rgb, mask = decoded[item.source.image]
        own = np.ascontiguousarray(mask).tobytes()
        masks = {}
        # Row by row, as a streaming builder goes: each output is encoded and dropped before the next is
        # computed. Holding a source's 17 outputs and then freeing them all made glibc return the heap to
        # the OS after every source, and the page faults that followed doubled the "pixels" time.
        with sharing():  # the real outputs, computed as ours does; timed apart from the floor
            for row in item.rows:
                out_mask = mask
                if row.config != "original":
                    config = scenario_of(row.config)
                    start, start_cpu = time.perf_counter(), time.process_time()
                    try:
                        kwargs = _extra_inputs(row, lambda path, _mask: decoded[path])
                        image, out_mask, _ = apply(config, rgb, mask, seed=row.seed, copy=False, **kwargs)
                    except ScenarioError:
                        continue  # ours rejects the row too
                    finally:
                        pixels += time.perf_counter() - start
                        pixels_cpu += time.process_time() - start_cpu
                    start, start_cpu = time.perf_counter(), time.process_time()
                    imageio.encode_png(image) if SCENARIOS[config].encoding == "png" else imageio.encode_jpeg(image)
                    seconds, cpu = seconds + time.perf_counter() - start, cpu + time.process_time() - start_cpu
                    del image
                rows += 1
                key = own if out_mask is mask else np.ascontiguousarray(out_mask).tobytes()
                masks.setdefault(key, out_mask)  # each distinct mask once (by content), as ours
        start, start_cpu = time.perf_counter(), time.process_time()
        for m in masks.values():
            imageio.encode_png(np.ascontiguousarray(m))
        seconds, cpu = seconds + time.perf_counter() - start, cpu + time.process_time() - start_cpu
    return {"rows": rows, "seconds": seconds, "timed_cpu": cpu, "pixels_seconds": pixels, "pixels_cpu": pixels_cpu}


def _extra_inputs(row, decoded) -> dict:
    """`apply`'s background inputs of a planned row; `decoded(image, mask)` gives an input's (rgb, mask)."""
    if row.partners:
        other, other_mask = decoded(row.partners[0].image, row.partners[0].mask)
        if row.mask_variant:
            from ximagenet12.masks.variants import parse_variant

            other_mask = parse_variant(row.mask_variant)(other_mask)
        return {"background": other, "background_mask": other_mask}
    if row.backgrounds:
        return {"background": decoded(row.backgrounds[0].path, None)[0]}
    return {}


def _child_rebuild(sources: Path, out: Path, workers: int, configs: tuple[str, ...]) -> dict:
    """`ours` again into its own finished folder: every shard is current, so only the fixed part runs."""
    from ximagenet12.manifest import read_manifest

    def files() -> dict[str, tuple[int, int]]:
        stats = {f.path: (out / f.path).stat() for f in read_manifest(out).files}
        return {path: (st.st_ino, st.st_mtime_ns) for path, st in stats.items()}

    before = files()
    result = _child_ours(sources, out, workers, configs)
    if files() != before:
        raise SystemExit(f"{out}: the rebuild wrote shards again; it was meant to find every one current")
    return result


CHILDREN = {"ours": _child_ours, "naive": _child_naive, "floor": _child_floor, "rebuild": _child_rebuild}


def _child(kind: str, sources: str, out: str, n: int, configs: str) -> None:
    result = CHILDREN[kind](Path(sources), Path(out), n, _configs(configs))
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    result["rss_self"] = me.ru_maxrss / 1024
    result["rss_children"] = children.ru_maxrss / 1024
    result["cpu"] = result.pop("timed_cpu", me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime)
    print("RESULT " + json.dumps(result))


# --- the driver -------------------------------------------------------------------------------------


def _measure(kind: str, sources: Path, out: Path, n: int, configs: str) -> dict:
    argv = [sys.executable, __file__, "--child", kind, str(sources), str(out), str(n), configs]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"{kind} {n}: exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    result = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))[7:])
    result.setdefault("seconds", wall)
    return result


def _compile_bytecode() -> None:
    """Compile the project's modules to `__pycache__`, as pip does for an installed package.

    An editable install compiles them on first import, unless PYTHONDONTWRITEBYTECODE is set (it is on
    this machine): then every process compiles them again, about 50 ms, which no user's build pays.
    """
    import compileall

    root = Path(__file__).resolve().parents[1]
    for package in ("ximagenet12", "builder"):
        compileall.compile_dir(str(root / package), quiet=1)


def _stats(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=250)
    parser.add_argument("--configs", default=ALL_CONFIGS, help="comma-separated, or 'all' (every one but ai_bg)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", default="1,2", help="worker / num_proc counts to measure")
    parser.add_argument("--engine", choices=("local", "ray"), default="local", help="ray: local pool beside Ray")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return _child(args.child[0], args.child[1], args.child[2], int(args.child[3]), args.child[4])

    from _sources import scaled_sample, with_backgrounds

    _compile_bytecode()
    configs = _configs(args.configs)
    workers = [int(w) for w in args.workers.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sources = scaled_sample(tmp / "src", args.sources)
        with_backgrounds(sources)
        if args.engine == "ray":
            from _engines import compare_engines

            per_shard = max(1, -(-args.sources // 8))
            return compare_engines(sources, tmp, configs, per_shard, args.runs, FULL_RELEASE_SOURCES)
        kinds = [("floor", 1)] + [("ours", w) for w in workers] + [("naive", w) for w in workers]
        if 1 in workers:
            kinds.insert(kinds.index(("ours", 1)) + 1, ("rebuild", 1))
        results: dict[tuple[str, int], list[dict]] = {k: [] for k in kinds}
        for run in range(args.runs):
            for kind, n in kinds:
                out = tmp / f"{'ours' if kind == 'rebuild' else kind}{n}_{run}"
                results[(kind, n)].append(_measure(kind, sources, out, n, args.configs))
                if kind != "ours" or ("rebuild", n) not in kinds:
                    subprocess.run(["rm", "-rf", str(out)], check=True)
        load = os.getloadavg()
    _report(args, configs, kinds, results, load)


def _report(args, configs, kinds, results, load) -> None:
    rows = {k: results[k][0]["rows"] for k in kinds}
    print(
        f"{args.sources} sources of {SIZE_TEXT}, {len(configs)} configs, {rows[kinds[1]]} rows; "
        f"{args.runs} runs, median (min-max); load average after: {load[0]:.2f} {load[1]:.2f}\n"
    )
    print(f"{'run':<34} {'rows':>6} {'s':>18} {'rows/s':>22} {'CPU s':>18} {'peak RSS MB driver/worker':>26}")
    rate = {k: [r["rows"] / r["seconds"] for r in results[k]] for k in kinds}
    for kind, n in kinds:
        if kind == "rebuild":
            continue
        names = {"floor": "floor (decode+encode only)", "ours": "ours, --workers", "naive": "naive datasets, num_proc"}
        label = names[kind] if kind == "floor" else f"{names[kind]} {n}"
        rs = results[(kind, n)]
        rss = f"{max(r['rss_self'] for r in rs):.0f} / {max(r['rss_children'] for r in rs):.0f}"
        cpu = _stats([r["cpu"] for r in rs])
        print(f"{label:<34} {rs[0]['rows']:>6} {_stats([r['seconds'] for r in rs]):>18} "
              f"{_stats(rate[(kind, n)]):>22} {cpu:>18} {rss:>26}")
        if kind == "floor":
            both = [r["seconds"] + r["pixels_seconds"] for r in rs]
            both_cpu = _stats([r["cpu"] + r["pixels_cpu"] for r in rs])
            print(f"{'floor + scenario pixels':<34} {rs[0]['rows']:>6} {_stats(both):>18} "
                  f"{_stats([r['rows'] / b for r, b in zip(rs, both, strict=True)]):>22} {both_cpu:>18}")
    print()
    runs = range(args.runs)

    def ratio(a, b) -> str:
        values = [rate[a][i] / rate[b][i] for i in runs]
        return f"{statistics.median(values):.2f}x ({min(values):.2f}-{max(values):.2f})"

    workers = sorted(n for k, n in kinds if k == "ours")
    scaled = [k for k in kinds if k[0] == "ours" and k[1] > 1]
    print(f"ours (1 worker) time / floor time     : {ratio(('floor', 1), ('ours', 1))}   (goal <= 1.3)")
    floor = results[("floor", 1)]
    ours_1 = results[("ours", 1)]
    with_pixels = [ours_1[i]["seconds"] / (floor[i]["seconds"] + floor[i]["pixels_seconds"]) for i in runs]
    print(f"ours (1 worker) / (floor + pixels)    : {statistics.median(with_pixels):.2f}x "
          f"({min(with_pixels):.2f}-{max(with_pixels):.2f})   (the builder's own overhead)")
    floor_cpu = [results[("ours", 1)][i]["cpu"] / results[("floor", 1)][i]["cpu"] for i in runs]
    print(f"ours (1 worker) / floor CPU seconds   : {statistics.median(floor_cpu):.2f}x "
          f"({min(floor_cpu):.2f}-{max(floor_cpu):.2f})   (goal <= 1.3)")
    if ("naive", 1) in results and ("ours", 1) in results:
        cpu = [results[("naive", 1)][i]["cpu"] / results[("ours", 1)][i]["cpu"] for i in runs]
        print(f"naive / ours CPU seconds, 1 process   : {statistics.median(cpu):.2f}x ({min(cpu):.2f}-{max(cpu):.2f})")
    for n in workers:
        print(f"ours / naive, {n} process(es)          : {ratio(('ours', n), ('naive', n))}   (goal > 1)")
    best = max((("naive", n) for n in workers), key=lambda k: statistics.median(rate[k]))
    print(
        f"ours ({workers[-1]} workers) / naive at best ({best[1]}) : {ratio(('ours', workers[-1]), best)}   (goal > 1)"
    )
    if len(workers) > 1:
        scaling = ratio(("ours", workers[-1]), ("ours", 1))
        print(f"{workers[-1]} workers / 1 worker                : {scaling}   (goal >= 1.8)")
    if ("rebuild", 1) in results and scaled:
        # Amdahl: the fixed part (imports, discovery, plan, card, exit) runs on one core whatever --workers says.
        fixed = [r["seconds"] for r in results[("rebuild", 1)]]
        n = scaled[-1][1]
        bound = [ours_1[i]["seconds"] / (fixed[i] + (ours_1[i]["seconds"] - fixed[i]) / n) for i in runs]
        whole = _stats([r["seconds"] for r in ours_1])
        print(f"fixed part (a rebuild, all current)   : {_stats(fixed)} s of {whole} s, 1 worker")
        print(f"{n} workers / 1 worker at most          : {statistics.median(bound):.2f}x "
              f"({min(bound):.2f}-{max(bound):.2f})   (Amdahl's bound from the fixed part)")
    per_row = statistics.median(rate[("ours", workers[-1])])
    full_rows = FULL_RELEASE_SOURCES * rows[("ours", 1)] / args.sources
    print(
        f"projected full release                : {FULL_RELEASE_SOURCES} sources x "
        f"{rows[('ours', 1)] / args.sources:.1f} rows = {full_rows:,.0f} rows in {full_rows / per_row / 60:.1f} min "
        f"with {workers[-1]} workers (goal <= 5)"
    )


if __name__ == "__main__":
    main()
