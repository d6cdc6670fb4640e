"""Batch jobs on Ray: Ray Data streams a job's chunks to actors that each hold the explainer.

A :class:`RayExecutor` plugs into :func:`~labelshap.jobs.run_job` as its ``executor``.
The driver keeps everything a local job does (it reads the inputs, skips what the store
holds, writes shards and the manifest), so the output store, resuming and the failure
records are those of a local job. Only :func:`~labelshap.jobs.explain_chunk` moves: each
actor builds the explainer once, from a factory, and explains the chunks it is handed.
Every input is sampled with the seed ``seed + position`` wherever it runs, so a Ray job
gives the values of a local job bit for bit.

Ray is imported only when a job runs on it (``pip install -e ".[ray]"``).
"""

from __future__ import annotations

import argparse
import itertools
import logging
import math
import pickle
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from .jobs import ChunkResult, Item, explain_chunk, run_job

if TYPE_CHECKING:
    import os

    from .jobs import JobSummary

__all__ = [
    "ENGINES",
    "RayExecutor",
    "run_ray_job",
    "import_ray",
    "add_engine_arguments",
    "check_engine_arguments",
    "executor_from_args",
]

logger = logging.getLogger(__name__)

ENGINES = ("local", "ray")
INSTALL = 'pip install -e ".[ray]" in a clone of labelshap (or: pip install "ray[data]>=2.9,<2.64")'
# Engine options and their defaults; given without --engine ray they are refused.
_ENGINE_DEFAULTS = {
    "workers": 1,
    "cpus_per_worker": 1.0,
    "gpus_per_worker": 0.0,
    "ray_address": None,
}
# How long a waiting driver thread sleeps before it checks whether the job stopped.
_POLL_SECONDS = 0.2


class RayExecutor:
    """Explain a job's chunks on Ray actors, each holding the explainer once.

    The chunks are streamed: a driver thread feeds them into a Ray queue, Ray Data moves
    each one to a pool of ``workers`` actors (``map_batches`` with one chunk per batch),
    and the results come back in input order, so the store's shards are those of a local
    job. At most ``max_in_flight`` chunks are on their way at any time.

    Args:
        factory: Builds the :class:`~labelshap.Explainer`; called once in each actor. It
            travels to the actors with Ray's pickling (cloudpickle): a module-level
            function, a ``functools.partial`` of one, or a function defined in the script
            that runs the job. Files it reads must exist on every node.
        labels: The label selection; give the same one to ``run_job``
            (:func:`run_ray_job` does).
        workers: Actors in the pool.
        cpus_per_worker: CPUs Ray reserves for each actor (fractions below 1 allowed).
        gpus_per_worker: GPUs Ray reserves for each actor (0: none; 0.5: two actors share
            one GPU).
        address: The Ray cluster, as for ``ray.init``: ``None`` (``RAY_ADDRESS``, else a
            cluster ``ray start`` began on this machine, else a new local instance),
            ``"auto"`` or ``"HOST:PORT"``. Ignored when Ray is already initialised in
            this process; otherwise Ray is shut down at the end.
        max_in_flight: Chunks fed but not yet returned (default: 4 per worker).

    Raises:
        ValueError: If a resource count is not one Ray accepts.

    Example::

        def build():  # runs once in each actor
            model = LabelModel("model.keras", "labels.txt")
            return Explainer(model, ImageMasker("grid"), max_evals=500, seed=0)

        run_ray_job(build, items, "out", workers=4, gpus_per_worker=0.5)
    """

    def __init__(
        self,
        factory: Callable[[], Any],
        *,
        labels: Any = None,
        workers: int = 1,
        cpus_per_worker: float = 1.0,
        gpus_per_worker: float = 0.0,
        address: str | None = None,
        max_in_flight: int | None = None,
    ):
        if not callable(factory):
            raise TypeError(f"factory={factory!r} must be a callable that returns an Explainer")
        problems = resource_problems(
            workers, cpus_per_worker, gpus_per_worker, lambda name, value: f"{name}={value!r}"
        )
        if max_in_flight is not None and not _is_count(max_in_flight):
            problems.append(f"max_in_flight={max_in_flight!r} must be a whole number of 1 or more")
        if problems:
            raise ValueError("; ".join(problems))
        self.factory = factory
        self.labels = labels
        self.workers = workers
        self.cpus_per_worker = float(cpus_per_worker)
        self.gpus_per_worker = float(gpus_per_worker)
        self.address = address
        self.max_in_flight = max_in_flight or 4 * workers

    def __repr__(self) -> str:
        return (
            f"RayExecutor(workers={self.workers}, cpus_per_worker={self.cpus_per_worker}, "
            f"gpus_per_worker={self.gpus_per_worker}, address={self.address!r})"
        )

    def __call__(self, chunks: Iterable[list[Item]]) -> Iterator[ChunkResult]:
        """Explain the chunks on Ray; yield their results in the chunks' order."""
        # A job with nothing left to do never starts Ray.
        chunks = iter(chunks)
        first = next(chunks, None)
        if first is None:
            return
        ray = import_ray()

        started_here = not ray.is_initialized()
        if started_here:
            # Workers' output (TensorFlow's start-up chatter) stays in Ray's log files;
            # the driver logs each failure itself.
            ray.init(address=self.address, log_to_driver=False)
        else:
            logger.info("using the Ray instance this process is already connected to")
        try:
            self._check_resources(ray)
            yield from self._stream(ray, itertools.chain([first], chunks))
        finally:
            if started_here:
                ray.shutdown()

    def _stream(self, ray: Any, chunks: Iterator[list[Item]]) -> Iterator[ChunkResult]:
        from ray.util.queue import Queue

        queue = Queue(maxsize=self.max_in_flight, actor_options={"num_cpus": 0})
        feeder = _Feeder(chunks, queue, self.max_in_flight)
        context = ray.data.DataContext.get_current()
        saved = (
            context.target_max_block_size,
            context.execution_options.preserve_order,
            context.enable_progress_bars,
        )
        # One block per chunk, handed on as soon as it is made (Ray would otherwise pack
        # small blocks together until 128 MiB); results in input order; the job's own bar.
        context.target_max_block_size = 1
        context.execution_options.preserve_order = True
        context.enable_progress_bars = False
        rows = None
        try:
            # Never retried: a second attempt of _drain would go on from where the queue
            # is, skipping the chunks the first one had taken; a lost source fails the job.
            # (Ray 2.51-2.63 warn that remote arguments such as max_retries are deprecated.)
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*ray_remote_args.*deprecated")
                dataset = ray.data.from_items([{"feed": 0}]).map_batches(
                    _drain, fn_kwargs={"queue": queue}, batch_size=1, num_cpus=0, max_retries=0
                )
            gpus = {"num_gpus": self.gpus_per_worker} if self.gpus_per_worker else {}
            dataset = dataset.map_batches(
                _ChunkExplainer,
                fn_constructor_kwargs={"factory": self.factory, "labels": self.labels},
                batch_size=1,
                compute=ray.data.ActorPoolStrategy(size=self.workers),
                num_cpus=self.cpus_per_worker,
                **gpus,
            )
            feeder.start()
            rows = iter(dataset.iter_rows())
            for row in rows:
                feeder.returned()
                result = pickle.loads(row["result"])
                for record in result.failures:
                    logger.warning("%s failed: %s", record["id"], record["error"])
                yield result
            feeder.raise_error()
        finally:
            feeder.stop()
            if rows is not None and hasattr(rows, "close"):
                rows.close()
            queue.shutdown(force=True)
            (
                context.target_max_block_size,
                context.execution_options.preserve_order,
                context.enable_progress_bars,
            ) = saved

    def _check_resources(self, ray: Any) -> None:
        """Refuse a pool the cluster cannot hold now, unless it may grow (autoscaling)."""
        total = ray.cluster_resources()
        asked = {
            "CPU": self.workers * self.cpus_per_worker,
            "GPU": self.workers * self.gpus_per_worker,
        }
        short = [
            f"{self.workers} worker(s) x {asked[name] / self.workers:g} {name} each need "
            f"{asked[name]:g} {name}, the Ray cluster has {total.get(name, 0):g}"
            for name in asked
            if asked[name] > total.get(name, 0)
        ]
        if not short:
            return
        message = "; ".join(short)
        if _is_local_instance(ray):
            raise ValueError(
                f"{message}: ask for fewer workers or less per worker, or give the address "
                "of a larger cluster"
            )
        logger.warning("%s: the job waits until the cluster grows", message)


def run_ray_job(
    factory: Callable[[], Any],
    items: Iterable[Item],
    folder: str | os.PathLike,
    *,
    labels: Any = None,
    workers: int = 1,
    cpus_per_worker: float = 1.0,
    gpus_per_worker: float = 0.0,
    address: str | None = None,
    **options: Any,
) -> JobSummary:
    """:func:`~labelshap.jobs.run_job` on Ray: the same store, resuming and failures.

    The driver builds the explainer once too, to name the job's settings; each actor
    builds its own. ``options`` are those of ``run_job`` (``chunk_size``,
    ``retry_failed``, ``settings``, ``total``, ``progress``, ``on_chunk``); the other
    arguments are :class:`RayExecutor`'s.
    """
    executor = RayExecutor(
        factory,
        labels=labels,
        workers=workers,
        cpus_per_worker=cpus_per_worker,
        gpus_per_worker=gpus_per_worker,
        address=address,
    )
    return run_job(factory(), items, folder, labels=labels, executor=executor, **options)


def import_ray() -> Any:
    """Import Ray with Ray Data, or say how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401 - the part a job needs
        import ray.util.queue  # noqa: F401
    except ImportError as err:
        raise ImportError(
            f"running a job on Ray needs Ray Data, not installed here: {INSTALL}"
        ) from err
    return ray


# The command line: --engine and the options of a Ray pool.


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """``--engine`` and the Ray options of every ``explain`` command."""
    engine = parser.add_argument_group(
        "engine", "where the inputs are explained: in this process, or on Ray actors"
    )
    engine.add_argument(
        "--engine",
        choices=ENGINES,
        default="local",
        help="ray: stream the inputs with Ray Data to actors that each hold the model once "
        '(needs pip install -e ".[ray]")',
    )
    # Defaults are filled in by check_engine_arguments, so that a Ray option given
    # without --engine ray can be refused.
    engine.add_argument(
        "--workers",
        type=int,
        default=argparse.SUPPRESS,
        metavar="N",
        help="Ray actors (default: 1)",
    )
    engine.add_argument(
        "--cpus-per-worker",
        type=float,
        default=argparse.SUPPRESS,
        metavar="C",
        help="CPUs reserved per actor (default: 1)",
    )
    engine.add_argument(
        "--gpus-per-worker",
        type=float,
        default=argparse.SUPPRESS,
        metavar="G",
        help="GPUs reserved per actor, e.g. 1, or 0.5 for two actors per GPU (default: 0)",
    )
    engine.add_argument(
        "--ray-address",
        default=argparse.SUPPRESS,
        metavar="ADDRESS",
        help="Ray cluster to run on: auto or HOST:PORT (default: "
        "$RAY_ADDRESS, else a cluster started with `ray start` here, else a new local "
        "instance)",
    )


def check_engine_arguments(args: argparse.Namespace) -> None:
    """Check the engine options in one pass and fill in their defaults.

    Raises:
        ValueError: Naming every bad option, its value and what is accepted.
        ImportError: If ``--engine ray`` is asked for and Ray Data is not installed.
    """
    given = [name for name in _ENGINE_DEFAULTS if hasattr(args, name)]
    if args.engine != "ray" and given:
        flags = ", ".join(_flag(name) for name in given)
        raise ValueError(f"{flags} apply only with --engine ray (got --engine {args.engine})")
    for name, default in _ENGINE_DEFAULTS.items():
        if not hasattr(args, name):
            setattr(args, name, default)
    problems = resource_problems(
        args.workers,
        args.cpus_per_worker,
        args.gpus_per_worker,
        lambda name, value: f"{_flag(name)} {value!r}",
    )
    if problems:
        raise ValueError("; ".join(problems))
    if args.engine == "ray":
        import_ray()


def executor_from_args(
    args: argparse.Namespace, factory: Callable[[], Any], labels: Any
) -> RayExecutor | None:
    """The executor ``--engine`` asks for: ``None`` for a local job."""
    if getattr(args, "engine", "local") != "ray":
        return None
    return RayExecutor(
        factory,
        labels=labels,
        workers=args.workers,
        cpus_per_worker=args.cpus_per_worker,
        gpus_per_worker=args.gpus_per_worker,
        address=args.ray_address,
    )


def resource_problems(
    workers: Any, cpus: Any, gpus: Any, describe: Callable[[str, Any], str]
) -> list[str]:
    """What is wrong with a pool's sizes, each problem naming its option and value."""
    problems = []
    if not _is_count(workers):
        problems.append(f"{describe('workers', workers)} must be a whole number of 1 or more")
    for name, value, least in (
        ("cpus_per_worker", cpus, "more than 0"),
        ("gpus_per_worker", gpus, "0 or more"),
    ):
        if not _is_quantity(value, zero_ok=name == "gpus_per_worker"):
            problems.append(
                f"{describe(name, value)} must be a number {least}: a fraction below 1 "
                "or a whole number (Ray's rule for resources)"
            )
    return problems


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _is_quantity(value: Any, *, zero_ok: bool) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return False
    if value < 0 or (value == 0 and not zero_ok):
        return False
    return value < 1 or float(value).is_integer()


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _is_local_instance(ray: Any) -> bool:
    """Whether this process started the Ray instance it is connected to (no autoscaler)."""
    try:
        from ray._private.worker import global_worker

        return bool(global_worker.node is not None and global_worker.node.is_head())
    except (ImportError, AttributeError):
        return False


# The pieces that run inside Ray.


def _drain(batch: dict[str, Any], queue: Any) -> Iterator[dict[str, Any]]:
    """Ray Data source: one batch per chunk the driver feeds, until its end mark."""
    while True:
        fed = queue.get()
        if fed is None:
            return
        index, payload = fed
        chunk = np.empty(1, dtype=object)
        chunk[0] = payload
        yield {"index": np.array([index]), "chunk": chunk}


class _ChunkExplainer:
    """Ray Data actor: builds the explainer once, then explains each chunk it is given."""

    def __init__(self, factory: Callable[[], Any], labels: Any):
        self.explainer = factory()
        self.explainer.progress = False
        self.labels = labels

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        results = np.empty(len(batch["index"]), dtype=object)
        for row, payload in enumerate(batch["chunk"]):
            items = pickle.loads(payload)
            results[row] = pickle.dumps(explain_chunk(self.explainer, items, self.labels))
        return {"index": np.asarray(batch["index"]), "result": results}


class _Feeder:
    """A driver thread that feeds chunks into the queue, at most ``limit`` unreturned."""

    def __init__(self, chunks: Iterator[list[Item]], queue: Any, limit: int):
        self.chunks = chunks
        self.queue = queue
        self.slots = threading.Semaphore(limit)
        self.stopping = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="labelshap-ray-feeder", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def returned(self) -> None:
        """A chunk's result came back: room for one more."""
        self.slots.release()

    def stop(self) -> None:
        self.stopping.set()
        if self.thread.is_alive():
            self.thread.join(timeout=5 * _POLL_SECONDS)

    def raise_error(self) -> None:
        """Raise what reading the inputs raised, once every chunk read before it is done."""
        self.thread.join()
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        try:
            for index, chunk in enumerate(self.chunks):
                while not self.slots.acquire(timeout=_POLL_SECONDS):
                    if self.stopping.is_set():
                        return
                self._put((index, _pickle_chunk(index, chunk)))
        except BaseException as err:  # noqa: BLE001 - raised again in the driver
            self.error = err
        finally:
            try:
                self._put(None)
            except Exception:  # noqa: BLE001 - the queue is gone: the job is stopping
                logger.debug("could not mark the end of the inputs", exc_info=True)

    def _put(self, entry: Any) -> None:
        from ray.util.queue import Full

        while not self.stopping.is_set():
            try:
                self.queue.put(entry, timeout=_POLL_SECONDS)
                return
            except Full:
                continue


def _pickle_chunk(index: int, chunk: list[Item]) -> bytes:
    try:
        return pickle.dumps(chunk)
    except (pickle.PicklingError, TypeError, AttributeError) as err:
        ids = [item.id for item in chunk]
        raise TypeError(
            f"chunk {index} (items {ids!r}) cannot be sent to the Ray workers: {err}"
        ) from err
