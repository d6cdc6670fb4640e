"""The ``labelshap`` command line: ``demo`` and ``explain``, one subcommand per modality."""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ._words import counted
from .arguments import (
    PATH_OPTIONS,
    HelpFormatter,
    absolute_path,
    check_label_options,
    integer_at_least,
)
from .distributed import add_engine_arguments, check_engine_arguments, executor_from_args
from .engines import AUTO_KERNEL_CUBIC_MAX_FEATURES, masker_algorithms
from .report import add_report_arguments, run_report, write_report

__all__ = ["main", "MODALITIES"]

logger = logging.getLogger(__name__)

# Modality name -> module that provides add_explain_arguments, run_explain and run_demo.
# Modules are imported only when their subcommand runs.
MODALITIES: dict[str, str] = {
    "image": "labelshap.modalities.image.cli",
    "tabular": "labelshap.modalities.tabular.cli",
    "text": "labelshap.modalities.text.cli",
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    # Keep TensorFlow's and transformers' start-up chatter off the user's terminal.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    parser = _build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    try:
        with _warnings_logged():
            if args.command == "demo":
                _import_tensorflow()
                return _run_demo(args)
            if args.command == "report":
                return run_report(args)
            check_explain_arguments(args)
            _import_tensorflow()
            return _modality(args.modality).run_explain(args)
    except (
        ValueError,
        TypeError,
        FileNotFoundError,
        KeyError,
        ImportError,
        NotImplementedError,
    ) as err:
        logger.debug("failed", exc_info=True)
        print(f"labelshap: error: {err}", file=sys.stderr)
        return 2


def check_explain_arguments(args: argparse.Namespace) -> None:
    """Check an ``explain`` command's options against each other and the labels file,
    before a model is loaded or the output folder is created.

    Raises:
        ValueError: If an option is refused (the message names it, as typed).
        FileNotFoundError: If the labels file does not exist.
    """
    from .labels import load_label_names

    check_engine_arguments(args)
    check_label_options(args, load_label_names(args.labels))


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labelshap",
        description="Per-label SHAP explanations for multi-label Keras models.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser(
        "demo",
        help="train the demo models on real data, explain them and write the results",
        description="Train (or load from the cache) each demo model on real data, explain "
        "held-out inputs and write pictures and DIR/<modality>/summary.json.",
    )
    demo.add_argument(
        "modality",
        nargs="?",
        choices=sorted(MODALITIES),
        help="one modality (default: every one)",
    )
    demo.add_argument("--out", type=Path, default=Path("labelshap-demo"), help="output folder")
    demo.add_argument("--seed", type=int, default=0, help="seed of data, training, sampling")

    report = commands.add_parser(
        "report",
        help="write one self-contained report.html over a job's store, a demo or a result",
        description="Write one self-contained HTML page (figures embedded, no network "
        "reference) over a batch job's output store, a demo folder or one result's folder.",
    )
    add_report_arguments(report)

    explain = commands.add_parser("explain", help="explain inputs with a saved model")
    per_modality = explain.add_subparsers(dest="modality", required=True)
    for name in MODALITIES:
        sub = per_modality.add_parser(
            name,
            help=f"explain {name} inputs",
            formatter_class=HelpFormatter,
        )
        module = _modality(name)
        _add_common_explain_arguments(sub, module.DEFAULT_LABELS, module.MASKER)
        module.add_explain_arguments(sub)
    return parser


def _add_common_explain_arguments(
    parser: argparse.ArgumentParser, default_labels: str, masker: type
) -> None:
    """The options every ``explain`` command takes, with the algorithms ``masker`` (the
    modality's masker class) can run."""
    parser.add_argument("--model", required=True, help=".keras file or SavedModel directory")
    parser.add_argument("--labels", required=True, help="text file, one label name per line")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument(
        "--output",
        choices=("probability", "logit"),
        default="probability",
        help="what the model returns (default: probability)",
    )
    parser.add_argument(
        "--space",
        choices=("probability", "logit"),
        help="space in which to explain (default: the model's output)",
    )
    parser.add_argument(
        "--algorithm",
        choices=masker_algorithms(masker),
        default="auto",
        help="estimation algorithm (auto: exact when the budget covers every mask, else "
        "owen-sampling over the masker's hierarchy, else kernel-cubic up to "
        f"{AUTO_KERNEL_CUBIC_MAX_FEATURES} features, else permutation)",
    )
    parser.add_argument(
        "--max-evals", type=integer_at_least(2), default=500, help="evaluations per input"
    )
    parser.add_argument("--seed", type=integer_at_least(0), default=0, help="seed of the sampling")
    parser.add_argument(
        "--batch-size",
        type=integer_at_least(1),
        default=256,
        help="model rows per call",
    )
    selection = parser.add_argument_group(
        "label selection",
        f"which labels to explain for each input (default: {default_labels})",
    ).add_mutually_exclusive_group()
    selection.add_argument("--label", action="append", help="explain this label (repeatable)")
    selection.add_argument(
        "--top-k", type=integer_at_least(1), help="explain each input's k best labels"
    )
    selection.add_argument("--threshold", type=float, help="explain labels scored >= this")
    parser.add_argument(
        "--unsafe-load",
        action="store_true",
        help="allow a .keras file that needs unsafe deserialisation (only files you trust)",
    )
    job = parser.add_argument_group(
        "batch job",
        "OUT is a resumable store: the same command started again after a crash or a kill "
        "explains only what is not done yet",
    )
    job.add_argument(
        "--chunk-size",
        type=integer_at_least(1),
        default=32,
        help="inputs per saved shard of the output store",
    )
    job.add_argument(
        "--retry-failed",
        action="store_true",
        help="try again the inputs an earlier run of this job recorded as failed",
    )
    job.add_argument(
        "--no-report", action="store_true", help="do not write OUT/report.html at the end"
    )
    add_engine_arguments(parser)


# Options that change how a job runs but not its values: a job may resume with others.
_NOT_IN_JOB_IDENTITY = frozenset(
    {
        "verbose",
        "command",
        "modality",
        "out",
        "batch_size",
        "chunk_size",
        "retry_failed",
        "no_report",
        "color",
        "waterfall_row",
        "top",
        "flag_share",
        "sensitive",
        "engine",
        "workers",
        "cpus_per_worker",
        "gpus_per_worker",
        "ray_address",
    }
)


def job_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The command's options that identify a batch job (its inputs' options included);
    paths are recorded absolute, so the same job typed another way resumes."""
    settings = {}
    for key, value in sorted(vars(args).items()):
        if key in _NOT_IN_JOB_IDENTITY:
            continue
        if key in PATH_OPTIONS:
            value = absolute_path(value)
        settings[key] = [str(v) for v in value] if isinstance(value, list) else _plain(value)
    return settings


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Path) else value


def run_job_command(
    args: argparse.Namespace,
    explainer: Any,
    items: Any,
    *,
    labels: Any,
    total: int | None = None,
    on_chunk: Any = None,
    finish: Any = None,
) -> int:
    """Run a batch job the way every ``explain`` subcommand does: stream ``items`` into
    the store ``args.out``, call ``finish(store)``, write the report, print a last line.

    Returns:
        0 when every input is explained, 1 when some failed (the manifest lists them).
    """
    from .jobs import run_job

    explainer.progress = False  # the job's own bar counts the inputs
    summary = run_job(
        explainer,
        items,
        args.out,
        labels=labels,
        settings=job_settings(args),
        chunk_size=args.chunk_size,
        retry_failed=args.retry_failed,
        total=total,
        on_chunk=on_chunk,
        executor=executor_from_args(args, functools.partial(explainer_from_args, args), labels),
    )
    if finish is not None and summary.store.manifest["shards"]:
        finish(summary.store)
    if not args.no_report:
        _write_report(args.out)
    failures = summary.failures
    for record in failures[:10]:
        print(f"failed: {record['id']}: {record['error']}", file=sys.stderr)
    if len(failures) > 10:
        print(f"... and {counted(len(failures) - 10, 'more failure')}", file=sys.stderr)
    earlier = (
        f"; {summary.failed_before} of them in an earlier run (--retry-failed tries them again)"
        if summary.failed_before
        else ""
    )
    listed = f" (listed in {args.out / 'manifest.json'}{earlier})" if failures else ""
    print(
        f"labelshap: {summary.explained} explained, {summary.skipped} already done, "
        f"{len(failures)} failed{listed}"
    )
    return 1 if failures else 0


def _write_report(folder: Path) -> None:
    logger.info("wrote %s", write_report(folder))


def label_selection(args: argparse.Namespace) -> Any:
    """The label selection the common ``--label/--top-k/--threshold`` options ask for."""
    from .labels import Threshold, TopK

    if args.label:
        return list(args.label)
    if args.top_k is not None:
        return TopK(args.top_k)
    if args.threshold is not None:
        return Threshold(args.threshold)
    return None


def load_model(args: argparse.Namespace) -> Any:
    """The :class:`LabelModel` the common ``--model/--labels/...`` options describe."""
    from .model import LabelModel

    # Absolute, as every path a job records: each shard's info names the model.
    return LabelModel(
        os.path.abspath(args.model),
        args.labels,
        output=args.output,
        space=args.space,
        batch_size=args.batch_size,
        unsafe_load=args.unsafe_load,
    )


def make_explainer(args: argparse.Namespace, model: Any, masker: Any) -> Any:
    """The :class:`Explainer` the common ``--algorithm/--max-evals/--seed`` options ask
    for, with a progress bar."""
    from .explainer import Explainer

    return Explainer(
        model,
        masker,
        algorithm=args.algorithm,
        max_evals=args.max_evals,
        seed=args.seed,
        progress=True,
    )


def explainer_from_args(args: argparse.Namespace) -> Any:
    """The explainer an ``explain`` command's options describe, without a progress bar:
    what each Ray worker of a ``--engine ray`` job builds once."""
    explainer = _modality(args.modality).build_explainer(args)
    explainer.progress = False
    return explainer


def _run_demo(args: argparse.Namespace) -> int:
    """Run the demos; print each one's headline figures and where the rest is."""
    names = [args.modality] if args.modality else list(MODALITIES)
    lines = []
    for name in names:
        summary = _modality(name).run_demo(args.out / name, seed=args.seed)
        figures = demo_headline(summary, _modality(name).DEMO_HEADLINE)
        lines.append(f"{name}: {figures} (in full: {args.out / name / 'summary.json'})")
    report = write_report(args.out)
    for line in lines:
        print(line)
    print(f"report: {report}")
    return 0


def demo_headline(summary: dict[str, Any], keys: Sequence[str]) -> str:
    """The figures ``keys`` (``section.name``) name in a demo's summary, as one line.

    Examples:
        >>> demo_headline({"model": {"auc": 0.91234}, "explanations": {"seconds": 123.4}},
        ...               ["model.auc", "explanations.seconds", "model.missing"])
        'auc 0.912, seconds 123'
    """
    shown = []
    for key in keys:
        section, _, name = key.partition(".")
        value = (summary.get(section) or {}).get(name)
        if value is not None:
            shown.append(f"{name} {_figure(value)}")
    return ", ".join(shown)


def _figure(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)


def _modality(name: str) -> Any:
    return importlib.import_module(MODALITIES[name])


@contextlib.contextmanager
def _warnings_logged() -> Iterator[None]:
    """Show Python warnings (a model that looks single-label, ...) as the command's log
    lines, each message once, instead of Python's ``file:line: UserWarning:`` lines."""
    shown: set[str] = set()

    def show(message: Any, category: Any, filename: str, lineno: int, *_: Any) -> None:
        text = str(message)
        if text not in shown:
            shown.add(text)
            logger.warning("%s", text)
        logger.debug("warning %s from %s:%d", category.__name__, filename, lineno)

    previous = warnings.showwarning
    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = previous


def _import_tensorflow() -> None:
    """Import TensorFlow and find its devices with their C++ start-up lines kept off the
    terminal: TensorFlow writes them to the process's stderr before its logging is set
    up, whatever ``TF_CPP_MIN_LOG_LEVEL`` says. They are logged at debug level (shown
    with ``--verbose``), and written as they are if the import fails or the user asked
    for them (``TF_CPP_MIN_LOG_LEVEL=0``)."""
    if "tensorflow" in sys.modules or os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "0":
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode("utf-8", "replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        captured.seek(0)
        lines = captured.read().decode("utf-8", "replace").splitlines()
    for line in lines:
        logger.debug("tensorflow: %s", line)


if __name__ == "__main__":
    sys.exit(main())
