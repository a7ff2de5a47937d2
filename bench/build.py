"""Build throughput: our pipeline against the naive `datasets` way, the authors' way and the decode+encode floor.

    python bench/build.py [--sources 96] [--configs all]
    python bench/build.py --engine ray [--runs 5]   # the local pool beside Ray, 1 and 2 workers (bench/_engines.py)

Everything runs in this process or its children in one go, on the same inputs (the shipped sample
scaled up to 500x375 sources), so the ratios hold though the absolute numbers drift.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _sources import scaled_sample

from ximagenet12 import imageio
from ximagenet12.scenarios import SCENARIOS, apply

FULL_RELEASE_SOURCES = 15_410
NAIVE_CONFIGS = ("blur_bg", "color_r", "seg_img", "transparent")


def _load(root: Path) -> list[tuple[Path, Path]]:
    return [
        (img, root / "standard_masks" / img.parent.name / f"{img.stem}.png")
        for img in sorted((root / "image").rglob("*.JPEG"))
    ]


def _run_ours(sources: Path, out: Path, workers: int, configs: str, per_shard: int) -> tuple[float, int, float]:
    """Seconds, rows and the largest process's peak RSS (MB) of a `ximagenet12 build` in a child process."""
    argv = [
        "build",
        str(sources),
        "--out",
        str(out),
        "--workers",
        str(workers),
        "--no-progress",
        "--configs",
        configs,
        "--sources-per-shard",
        str(per_shard),
    ]
    code = f"import sys; from ximagenet12_builder.cli import main; sys.exit(main({argv!r}))"
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(proc.stdout + proc.stderr)
    rss = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    rows = int(next(line for line in proc.stdout.splitlines() if " rows in " in line).split()[0])
    return seconds, rows, rss


def _kwargs(name: str, pairs: list[tuple[np.ndarray, np.ndarray]], i: int) -> dict:
    extra = SCENARIOS[name].extra
    other, other_mask = pairs[(i + 1) % len(pairs)]
    if extra is None:
        return {}
    return {"background": other, "background_mask": other_mask} if "background_mask" in extra.arguments else {
        "background": other
    }


def _naive_datasets(files: list[tuple[Path, Path]], out: Path, configs: tuple[str, ...]) -> tuple[float, int]:
    """`Dataset.from_generator` yielding PIL images into Image() columns, then `to_parquet`, per config."""
    import datasets
    from PIL import Image

    from ximagenet12.features import features

    feats = features(sorted({img.parent.name for img, _ in files}))
    names = feats["label"].names
    rows = 0
    start = time.perf_counter()
    for name in configs:

        def gen(name=name):
            pairs = [(imageio.read_rgb(str(i)).rgb, cv2.imread(str(m), cv2.IMREAD_GRAYSCALE)) for i, m in files]
            for k, ((img_path, _), (rgb, mask)) in enumerate(zip(files, pairs, strict=True)):
                image, out_mask, params = apply(name, rgb, mask, seed=k, **_kwargs(name, pairs, k))
                yield {
                    "image": Image.fromarray(image),
                    "mask": Image.fromarray(out_mask),
                    "label": names.index(img_path.parent.name),
                    "wnid": img_path.parent.name,
                    "source_id": img_path.stem,
                    "scenario": name,
                    "background_id": None,
                    "params": str(params),
                    "fold": 0,
                }

        ds = datasets.Dataset.from_generator(gen, features=feats, cache_dir=str(out / "cache"), keep_in_memory=False)
        ds.to_parquet(str(out / f"{name}.parquet"))
        rows += len(ds)
    return time.perf_counter() - start, rows


def _authors_np_where(image: np.ndarray, mask3: np.ndarray, name: str, other: np.ndarray) -> np.ndarray:
    """The authors' style: 3-channel masks and np.where on whole images."""
    if name == "blur_bg":
        return np.where(mask3 == 0, cv2.GaussianBlur(image, (15, 15), 3), image)
    if name == "color_r":
        hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
        hsv[..., 0] = np.where(mask3[..., 0] == 0, 170, hsv[..., 0])
        return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
    if name == "seg_img":
        return np.where(mask3 == 0, 0, image).astype(np.uint8)
    if name == "rand_bg":
        fg = cv2.resize(np.where(mask3 == 0, 0, image).astype(np.uint8), other.shape[1::-1])
        return cv2.addWeighted(other, 1, fg, 1, 0)
    raise KeyError(name)


def _authors_way(files: list[tuple[Path, Path]], out: Path, configs: tuple[str, ...]) -> tuple[float, int]:
    """One pass per scenario re-reading image and mask, `cv2.imwrite` of each result (transparent as Pillow PNG)."""
    from PIL import Image

    rows = 0
    start = time.perf_counter()
    for name in configs:
        folder = out / name
        folder.mkdir(parents=True)
        for k, (img_path, mask_path) in enumerate(files):
            image = cv2.imread(str(img_path))
            mask3 = cv2.imread(str(mask_path))
            if name == "transparent":
                rgba = np.dstack([image[..., ::-1], np.where(mask3[..., 0] == 0, 0, 255).astype(np.uint8)])
                Image.fromarray(rgba).save(folder / f"{img_path.stem}.png")
            else:
                other = cv2.imread(str(files[(k + 1) % len(files)][0]))
                cv2.imwrite(str(folder / f"{img_path.stem}.jpg"), _authors_np_where(image, mask3, name, other))
            rows += 1
    return time.perf_counter() - start, rows


def _floor(files: list[tuple[Path, Path]], configs: tuple[str, ...]) -> float:
    """Rows/s of the least any build must do: decode each source and mask once, encode each row's image.

    Each row is encoded as it is stored (JPEG, or PNG for RGBA), plus one mask PNG per source;
    no scenario pixels, no Parquet, no hashing.
    """
    data = [(p.read_bytes(), m.read_bytes()) for p, m in files]
    start = time.perf_counter()
    for blob, mask_blob in data:
        rgb = imageio.decode_rgb(blob).rgb
        mask = cv2.imdecode(np.frombuffer(mask_blob, np.uint8), cv2.IMREAD_GRAYSCALE)
        imageio.encode_png(mask)
        for name in configs:
            if SCENARIOS[name].mode == "RGBA":
                imageio.encode_png(np.dstack([rgb, mask]))
            elif name != "original":
                imageio.encode_jpeg(rgb)
    return len(data) * len(configs) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=240)
    parser.add_argument("--configs", default=",".join(n for n in SCENARIOS if n != "ai_bg"))
    parser.add_argument("--engine", choices=("local", "ray"), default="local", help="ray: local pool beside Ray")
    parser.add_argument("--runs", type=int, default=5, help="runs of each build with --engine ray")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    configs = tuple(args.configs.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sources = scaled_sample(tmp / "src", args.sources)
        if args.engine == "ray":
            from _engines import compare_engines

            per_shard = max(1, -(-args.sources // 8))
            return compare_engines(sources, tmp, configs, per_shard, args.runs, FULL_RELEASE_SOURCES)
        files = _load(sources)
        print(f"{len(files)} sources of {SIZE_TEXT}, {len(configs)} configs\n")

        per_shard = max(1, -(-len(files) // 8))
        t1, rows1, rss1 = _run_ours(sources, tmp / "ours1", 1, args.configs, per_shard)
        t2, rows2, rss2 = _run_ours(sources, tmp / "ours2", 2, args.configs, per_shard)
        naive_configs = tuple(c for c in NAIVE_CONFIGS if c in configs)
        tn, rowsn = _naive_datasets(files, tmp / "naive", naive_configs)
        authors_configs = tuple(c for c in ("blur_bg", "color_r", "seg_img", "rand_bg", "transparent") if c in configs)
        ta, rowsa = _authors_way(files, tmp / "authors", authors_configs)
        floor = _floor(files, configs)

    ours1, ours2, naive, authors = rows1 / t1, rows2 / t2, rowsn / tn, rowsa / ta
    full_rows = FULL_RELEASE_SOURCES * rows1 / len(files)
    print(f"{'run':<44} {'rows':>6} {'s':>7} {'rows/s':>8}")
    for label, rows, seconds in (
        ("ours, 1 worker (process start included)", rows1, t1),
        ("ours, 2 workers", rows2, t2),
        (f"naive datasets from_generator+to_parquet ({len(naive_configs)} configs)", rowsn, tn),
        (f"authors' way, per-scenario scripts ({len(authors_configs)} configs)", rowsa, ta),
    ):
        print(f"{label:<44} {rows:>6} {seconds:>7.2f} {rows / seconds:>8.1f}")
    print(f"{'floor: decode once, encode each row as stored':<44} {'':>6} {'':>7} {floor:>8.1f}")
    print()
    print(f"ours (1 worker) / naive datasets : {ours1 / naive:5.2f}x   (goal >= 3)")
    print(f"ours (1 worker) / authors' way   : {ours1 / authors:5.2f}x   (goal >= 1.5)")
    print(f"floor / ours (1 worker)          : {floor / ours1:5.2f}x   (goal <= 2)")
    print(f"2 workers / 1 worker             : {ours2 / ours1:5.2f}x")
    print(f"peak RSS of one process          : {rss1:.0f} MB (1 worker), {rss2:.0f} MB (2 workers)")
    print(
        f"projected full release           : {FULL_RELEASE_SOURCES} sources x {rows1 / len(files):.1f} rows = "
        f"{full_rows:,.0f} rows in {full_rows / ours2 / 60:.1f} min with 2 workers (goal <= 30)"
    )


SIZE_TEXT = "500x375"

if __name__ == "__main__":
    main()
