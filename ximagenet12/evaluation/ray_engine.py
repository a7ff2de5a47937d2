"""`evaluate(..., engine="ray")`: row ranges of a build's configs scored by a pool of Ray actors, one model each.

Each actor loads its own classifier from the spec (`load_classifier(spec, options)`) and scores units,
`(config, rows start..stop)` with `start` a multiple of the batch size, through the same `_Run.predict`
as a local run, so its batches, and so its bytes, are the local run's. Actors pull units as they free
up; the driver puts each config's units back in row order, verifies the shards, writes the per-config
files (resume) and feeds the progress bar. The build must be on storage every node sees at the same
path, and every node must run the driver's code and library versions: an actor checks both before
its first unit and fails with a line naming its node. An actor that dies (killed, out of memory, node
lost) is restarted and its unit retried by Ray; an exception raised by the model is reported once.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import pyarrow as pa

from ..errors import EXIT_FAULTS, XImageNet12Error, one_line
from ..provenance import library_versions
from ..raycluster import NodeMismatch, check_identity, code_digest, connect, import_ray
from .models import LoadOptions, load_classifier
from .predictions import empty_table
from .preprocessing import Preprocessing

MAX_RETRIES = 3
UNIT_BATCHES = 8  # batches per unit: small enough to spread a config, large enough that Ray's overhead is noise


class UnitFailed(XImageNet12Error):
    """A unit, or an actor's model, that failed; the message names the node (picklable: message and exit code)."""


@dataclass(frozen=True)
class Unit:
    """Rows `start`..`stop` of one config's split, scored by one actor call."""

    index: int
    config: str
    start: int
    stop: int


def plan_units(rows: dict[str, int], batch_size: int, unit_batches: int = UNIT_BATCHES) -> list[Unit]:
    """Each config's rows cut into units of `unit_batches` whole batches (the last may be shorter), in order."""
    step = batch_size * unit_batches
    units: list[Unit] = []
    for config, total in rows.items():
        for start in range(0, total, step):
            units.append(Unit(len(units), config, start, min(total, start + step)))
    return units


@cache
def eval_identity() -> dict[str, str]:
    """Library versions the predictions depend on, and a digest of the ximagenet12 code."""
    import ximagenet12

    from .runner import EVAL_LIBRARIES

    return {**library_versions(EVAL_LIBRARIES, python=True), "code": code_digest(ximagenet12)}


def check_node(data: str, revision: str | None, manifest_sha256: str, driver: dict[str, str], node: str) -> Any:
    """The build as this node sees it, if that is the driver's build and the node runs the driver's code."""
    from .source import open_build

    check_identity(driver, eval_identity(), node)
    try:
        source = open_build(data, revision=revision, verify=False)
        seen = source.manifest_sha256
    except (OSError, ValueError) as exc:
        raise NodeMismatch(
            f"node {node} does not see the build {data} ({one_line(exc)}): "
            "--data must be on storage every node mounts at the same path"
        ) from None
    if seen != manifest_sha256:
        raise NodeMismatch(
            f"node {node} sees {data} with a build_manifest.json of sha256 {seen[:12]}..., "
            f"the driver {manifest_sha256[:12]}...: --data must be the same storage on every node"
        )
    return source


@dataclass(frozen=True)
class RunSettings:
    """What every unit is scored with, fixed by the driver once the model has described itself."""

    pre: Preprocessing
    mapping: str
    split: str
    batch_size: int
    workers: int | None


class UnitWorker:
    """The body of one Ray actor: one classifier, loaded on first use, scoring units of one build."""

    def __init__(self, spec: str, options: LoadOptions, data: str, revision: str | None, manifest_sha256: str,
                 driver: dict[str, str], threads: int) -> None:
        self.spec, self.options, self.data, self.revision = spec, options, data, revision
        self.manifest_sha256, self.driver, self.threads = manifest_sha256, driver, threads
        self.classifier: Any = None
        self.source: Any = None
        self._run: tuple[RunSettings, Any] | None = None
        import ray

        self.node_id = ray.get_runtime_context().get_node_id()
        self.node = f"{socket.gethostname()} ({self.node_id[:8]})"

    def _ready(self) -> None:
        """Check this node sees the build and runs the driver's code, then load the model (once)."""
        if self.classifier is not None:
            return
        try:
            source = check_node(self.data, self.revision, self.manifest_sha256, self.driver, self.node)
            classifier = load_classifier(self.spec, self.options)
        except XImageNet12Error as exc:
            message = str(exc) if isinstance(exc, NodeMismatch) else f"{exc} (on node {self.node})"
            raise UnitFailed(message, exc.exit_code) from None
        classifier.set_threads(self.threads)
        self.source, self.classifier = source, classifier

    def describe(self) -> dict:
        """What the driver needs of the model: identity, preprocessing defaults, device, runtime."""
        self._ready()
        c = self.classifier
        return {"node": self.node, "identity": c.identity(), "preprocessing": c.preprocessing(),
                "preprocessing_origin": c.preprocessing_origin, "device": c.device, "runtime": c.runtime()}

    def score(self, unit: Unit, settings: RunSettings) -> dict:
        """The unit's predictions table (one chunk a batch, as a local run makes it), mapping and model time."""
        from .runner import _Run

        self._ready()
        if self._run is None or self._run[0] != settings:  # one per run: the model's identity is computed once
            self._run = (settings, _Run(self.source, self.classifier, settings.pre, settings.mapping, settings.split,
                                        settings.batch_size, settings.workers, progress=False))
        run = self._run[1]
        try:
            table, timing = run.predict(unit.config, rows=(unit.start, unit.stop))
        except Exception as exc:
            reason = str(exc) if isinstance(exc, XImageNet12Error) else one_line(exc)
            code = exc.exit_code if isinstance(exc, XImageNet12Error) else EXIT_FAULTS
            raise UnitFailed(
                f"{self.spec}: config {unit.config} (rows {unit.start}-{unit.stop}): {reason} (on node {self.node})",
                code,
            ) from None
        return {"table": table, "mapping": run.mapping.to_dict() if run.mapping else None,
                "num_outputs": run.num_outputs, "model_seconds": timing["model_seconds"], "node_id": self.node_id,
                "forward_batch_size": self.classifier.forward_batch_size}


class RemoteClassifier:
    """The driver's view of the actors' model: what `evaluate` records and keys its cache on."""

    def __init__(self, described: dict, threads: int) -> None:
        self.described = described
        self.preprocessing_origin = described["preprocessing_origin"]
        self.device = described["device"]
        self.forward_batch_size: int | None = None
        self.threads = threads

    def identity(self) -> dict:
        return self.described["identity"]

    def preprocessing(self) -> dict:
        return self.described["preprocessing"]

    def runtime(self) -> dict:
        return {**self.described["runtime"], "forward_batch_size": self.forward_batch_size}

    def set_threads(self, threads: int) -> None:
        """Threads are the actors' own (`threads` each)."""


def _cause(exc: BaseException, ray: Any) -> XImageNet12Error:
    """The one-line error behind a failed actor call."""
    if isinstance(exc, ray.exceptions.RayTaskError) and isinstance(exc.cause, BaseException):
        cause = exc.cause
        return cause if isinstance(cause, XImageNet12Error) else UnitFailed(one_line(cause), EXIT_FAULTS)
    return UnitFailed(f"{one_line(exc)} (after Ray's retries)", EXIT_FAULTS)


class RayPool:
    """Ray actors each holding one model instance (`num_gpus_per_worker` GPUs, 1 CPU), fed units by the driver."""

    def __init__(self, address: str | None = None, *, num_gpus_per_worker: float = 0.0,
                 max_retries: int = MAX_RETRIES) -> None:
        self.ray = import_ray()
        self.address, self.gpus, self.max_retries = address, float(num_gpus_per_worker), max_retries
        self.actors: list = []
        self._arguments: tuple = ()
        self.started = 0  # actors started for the run, not counting replacements
        self.units_per_node: dict[str, int] = {}
        self._owns_connection = False

    def size(self) -> int:
        """Actors the cluster has room for: one per CPU, or per `num_gpus_per_worker` GPUs."""
        resources = self.ray.cluster_resources()
        if self.gpus > 0:
            count = int(resources.get("GPU", 0) // self.gpus)
            if count < 1:
                raise XImageNet12Error(
                    f"--num-gpus-per-worker {self.gpus:g}: the Ray cluster has {resources.get('GPU', 0):g} GPUs"
                )
            return count
        return max(1, int(resources.get("CPU", 1)))

    def start(self, spec: str, options: LoadOptions, data: str, revision: str | None, manifest_sha256: str,
              threads: int, limit: int) -> RemoteClassifier:
        """Connect, start up to `limit` actors, have each load the model; the model as they describe it."""
        ray = self.ray
        if not ray.is_initialized():
            connect(ray, self.address)
            self._owns_connection = True
        self._arguments = (spec, options, data, revision, manifest_sha256, eval_identity(), threads)
        self.actors = [self._actor() for _ in range(max(1, min(self.size(), limit)))]
        self.started = len(self.actors)
        described, failed = [], []
        for ref in [a.describe.remote() for a in self.actors]:
            try:  # every answer is collected: an error left unread is logged by Ray when the run ends
                described.append(ray.get(ref))
            except ray.exceptions.RayError as exc:
                failed.append(exc)
        if failed:
            raise _cause(failed[0], ray) from None
        first = described[0]
        for other in described[1:]:
            if other["identity"] != first["identity"] or other["device"] != first["device"]:
                raise NodeMismatch(f"node {other['node']} loads {spec} as {other['identity']} on {other['device']}, "
                                   f"node {first['node']} as {first['identity']} on {first['device']}")
        return RemoteClassifier(first, threads)

    def _actor(self) -> Any:
        """A new actor (1 CPU, `num_gpus_per_worker` GPUs) that Ray restarts, retrying its call, if its process dies."""
        options = {"num_cpus": 1, "num_gpus": self.gpus, "max_restarts": self.max_retries,
                   "max_task_retries": self.max_retries}
        return self.ray.remote(UnitWorker).options(**options).remote(*self._arguments)

    def run(self, units: Sequence[Unit], settings: RunSettings, finished: Callable[[Unit, dict], None]) -> None:
        """Score every unit; `finished(unit, result)` on the driver as each ends; raise the first failure.

        A unit whose actor is lost in a way Ray's own restart does not cover (its node gone) goes back
        to the queue, up to `max_retries` times, and the actor is replaced: Ray places the new one
        wherever a CPU frees up (actors with nothing left to do are stopped for that).
        """
        ray = self.ray
        lost = (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError)
        queue, idle = deque(units), list(self.actors)
        pending: dict = {}
        attempts: dict[int, int] = {}
        failures: list[tuple[int, XImageNet12Error]] = []
        while queue or pending:
            while queue and idle and not failures:
                actor, unit = idle.pop(0), queue.popleft()
                pending[actor.score.remote(unit, settings)] = (actor, unit)
            if not pending:
                break
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                actor, unit = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except lost as exc:
                    ray.kill(actor)
                    attempts[unit.index] = attempts.get(unit.index, 0) + 1
                    if attempts[unit.index] > self.max_retries:
                        failures.append((unit.index, _cause(exc, ray)))
                        continue
                    queue.appendleft(unit)
                    self.actors.append(self._actor())
                    idle.append(self.actors[-1])
                    continue
                except ray.exceptions.RayError as exc:
                    failures.append((unit.index, _cause(exc, ray)))
                    continue
                self.units_per_node[result["node_id"]] = self.units_per_node.get(result["node_id"], 0) + 1
                finished(unit, result)
                if queue and not failures:
                    idle.append(actor)
                else:  # no more work for it: free its resources for an actor that waits for them
                    ray.kill(actor)
        if failures:
            raise min(failures, key=lambda failure: failure[0])[1]

    def close(self) -> None:
        """Stop the actors and disconnect, if this pool connected."""
        for actor in self.actors:
            with contextlib.suppress(Exception):
                self.ray.kill(actor)
        self.actors = []
        if self._owns_connection:
            self.ray.shutdown()
            self._owns_connection = False


def score_on_ray(pool: RayPool, rows: dict[str, int], settings: RunSettings,
                 config_done: Callable[[str, pa.Table, dict, dict], None], progress: Callable[[int], None]) -> dict:
    """Score `rows` (config -> row count) on the pool; each config's table, in row order, to `config_done`
    with its timing and the mapping known so far.

    Returns what the summary records of the engine: mapping, outputs, units per node, forward batch size.
    """
    units = plan_units(rows, settings.batch_size)
    by_config: dict[str, list[Unit]] = {}
    for unit in units:
        by_config.setdefault(unit.config, []).append(unit)
    parts: dict[int, pa.Table] = {}
    model_seconds: dict[str, float] = dict.fromkeys(rows, 0.0)
    state: dict[str, Any] = {"mapping": None, "num_outputs": None, "forward_batch_size": None}
    started = time.perf_counter()

    def finish(config: str) -> None:
        ordered = [parts.pop(u.index) for u in by_config.get(config, [])]
        table = pa.concat_tables(ordered) if ordered else empty_table()
        seconds = time.perf_counter() - started
        config_done(config, table, {"seconds": seconds, "model_seconds": model_seconds[config],
                                    "images": rows[config],
                                    "images_per_second": rows[config] / seconds if seconds else None}, dict(state))

    def finished(unit: Unit, result: dict) -> None:
        parts[unit.index] = result["table"]
        model_seconds[unit.config] += result["model_seconds"]
        for key in ("mapping", "num_outputs"):
            if result[key] is not None and state[key] is None:
                state[key] = result[key]
        if result["forward_batch_size"] is not None:
            state["forward_batch_size"] = min(filter(None, (state["forward_batch_size"], result["forward_batch_size"])))
        progress(unit.stop - unit.start)
        if all(u.index in parts for u in by_config[unit.config]):
            finish(unit.config)

    for config in rows:
        if config not in by_config:  # no rows: nothing to score
            finish(config)
    pool.run(units, settings, finished)
    return {**state, "units": len(units), "units_per_node": dict(sorted(pool.units_per_node.items())),
            "actors": pool.started, "actors_replaced": len(pool.actors) - pool.started}
