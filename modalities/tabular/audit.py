"""Audit view and charts over per-label attributions of tabular features.

Everything here reads an attribution array ``values`` of shape ``(n, F, L)`` (rows x
features x labels, for example SHAP values) beside the feature values ``data`` ``(n, F)``;
how the attributions were computed does not matter. :func:`audit_table` says, per label,
which features drive it and in which direction, which features drive nearly every label
(often a sign of a proxy such as activity volume), and how much attribution falls on
features named sensitive. The charts of the same arrays are in :mod:`.charts`.

Example:
    >>> import numpy as np
    >>> values = np.zeros((4, 2, 1))
    >>> values[:, 0, 0] = [-2.0, -1.0, 1.0, 2.0]
    >>> data = np.array([[0.0, 5.0], [1.0, 5.0], [2.0, 5.0], [3.0, 5.0]])
    >>> result = audit_table(values, data, ["count", "age"], ["Drama"], top=1)
    >>> driver = result.labels[0].drivers[0]
    >>> driver.feature, driver.mean_abs, driver.direction, result.flagged
    ('count', 1.5, 'raises', ('count',))
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "AuditResult",
    "Driver",
    "LabelAudit",
    "audit_table",
]

CSV_COLUMNS = (
    "section",
    "label",
    "label_total",
    "rank",
    "feature",
    "mean_abs_value",
    "share",
    "direction",
    "correlation",
    "flagged",
)


@dataclass(frozen=True)
class Driver:
    """One feature's attribution to one label.

    Attributes:
        feature: The feature name.
        mean_abs: Mean over rows of the absolute attribution.
        share: ``mean_abs`` over the label's total (sum over features of ``mean_abs``).
        direction: ``"raises"``, ``"lowers"`` or ``"mixed"``, see :func:`audit_table`.
        correlation: Pearson correlation between the feature's values and its attributions
            over rows; None when either is constant.
    """

    feature: str
    mean_abs: float
    share: float
    direction: str
    correlation: float | None


@dataclass(frozen=True)
class LabelAudit:
    """The top drivers of one label.

    Attributes:
        label: The label name.
        total: Sum over all features of the mean absolute attribution.
        drivers: The ``top`` features by mean absolute attribution, largest first.
    """

    label: str
    total: float
    drivers: tuple[Driver, ...]


@dataclass(frozen=True)
class AuditResult:
    """What :func:`audit_table` found; write it with :meth:`to_csv` or :meth:`to_markdown`.

    Attributes:
        labels: One entry per label, in the order of ``label_names``.
        flagged: Features among the ``top`` drivers of at least ``flag_share`` of labels.
        top: Drivers kept per label.
        flag_share: The share of labels that flags a feature.
        sensitive: ``{feature: {label: Driver}}`` for each feature named sensitive; its
            ``share`` is the feature's share of the label's attribution.
    """

    labels: tuple[LabelAudit, ...]
    flagged: tuple[str, ...]
    top: int
    flag_share: float
    sensitive: dict[str, dict[str, Driver]]

    def rows(self) -> list[dict]:
        """Return the table as flat rows with the keys of ``CSV_COLUMNS``.

        Section ``"driver"`` holds the top drivers of each label (rank 1 first); section
        ``"sensitive"`` holds every sensitive feature for every label (rank empty).
        """
        rows = []
        for entry in self.labels:
            for rank, driver in enumerate(entry.drivers, start=1):
                rows.append(self._row("driver", entry, rank, driver))
        totals = {entry.label: entry for entry in self.labels}
        for by_label in self.sensitive.values():
            for label, driver in by_label.items():
                rows.append(self._row("sensitive", totals[label], None, driver))
        return rows

    def to_csv(self, path: str | Path) -> Path:
        """Write :meth:`rows` as CSV with a header line; return the path written."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8", newline="") as handle:
            handle.write(self._csv_text())
        return path

    def to_markdown(self) -> str:
        """Return the audit as Markdown: a drivers table, the flagged features, sensitive shares."""
        header = "| label | total | " + " | ".join(f"driver {k}" for k in range(1, self.top + 1))
        lines = [header + " |", "|---" * (self.top + 2) + "|"]
        for entry in self.labels:
            cells = [
                f"{_md(driver.feature)} ({driver.mean_abs:.3g}, {driver.share:.0%}, "
                f"{driver.direction})"
                for driver in entry.drivers
            ]
            cells += [""] * (self.top - len(cells))
            lines.append(f"| {_md(entry.label)} | {entry.total:.3g} | " + " | ".join(cells) + " |")

        flagged = ", ".join(_md(name) for name in self.flagged) or "none"
        lines += [
            "",
            f"**Flagged** (among the top {self.top} drivers of at least "
            f"{self.flag_share:.0%} of labels): {flagged}",
        ]

        if self.sensitive:
            names = list(self.sensitive)
            lines += [
                "",
                "| label | " + " | ".join(f"share: {_md(name)}" for name in names) + " |",
                "|---" * (len(names) + 1) + "|",
            ]
            for entry in self.labels:
                shares = [f"{self.sensitive[name][entry.label].share:.1%}" for name in names]
                lines.append(f"| {_md(entry.label)} | " + " | ".join(shares) + " |")
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict:
        """Return a dict of plain Python values, ready for ``json.dumps``."""
        return {
            "top": self.top,
            "flag_share": self.flag_share,
            "flagged": list(self.flagged),
            "labels": [asdict(entry) for entry in self.labels],
            "sensitive": {
                name: {label: asdict(driver) for label, driver in by_label.items()}
                for name, by_label in self.sensitive.items()
            },
        }

    def _row(self, section: str, entry: LabelAudit, rank: int | None, driver: Driver) -> dict:
        return {
            "section": section,
            "label": entry.label,
            "label_total": entry.total,
            "rank": "" if rank is None else rank,
            "feature": driver.feature,
            "mean_abs_value": driver.mean_abs,
            "share": driver.share,
            "direction": driver.direction,
            "correlation": "" if driver.correlation is None else driver.correlation,
            "flagged": driver.feature in self.flagged,
        }

    def _csv_text(self) -> str:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows())
        return buffer.getvalue()


def audit_table(
    values: np.ndarray,
    data: np.ndarray,
    feature_names: Sequence[str],
    label_names: Sequence[str],
    *,
    top: int = 3,
    sensitive: Sequence[str] = (),
    flag_share: float = 0.9,
    min_correlation: float = 0.3,
) -> AuditResult:
    """Summarise per-label attributions: top drivers, their direction, flags, sensitive shares.

    Direction of a feature for a label: the Pearson correlation ``r`` over rows between the
    feature's value and its attribution. ``"raises"`` when ``r >= min_correlation`` (higher
    values push the label's score up), ``"lowers"`` when ``r <= -min_correlation``,
    ``"mixed"`` otherwise, including when the feature or its attribution is constant.

    Args:
        values: Attributions, shape ``(n, F, L)``.
        data: Feature values, shape ``(n, F)``.
        feature_names: ``F`` distinct names.
        label_names: ``L`` distinct names.
        top: Drivers kept per label (at most ``F``).
        sensitive: Feature names whose share of each label's attribution is reported; a
            single string is read as one name.
        flag_share: A feature is flagged when it is among the ``top`` drivers of at least
            this share of labels, in (0, 1].
        min_correlation: Smallest ``|r|`` that gives a direction, in [0, 1].

    Returns:
        The audit.

    Raises:
        ValueError: If shapes or names disagree, a value is not finite, a sensitive name is
            not a feature, or a parameter is out of range.
    """
    values, data = _check_arrays(values, data, feature_names, label_names)
    feature_names, label_names = list(feature_names), list(label_names)
    if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or top < 1:
        raise ValueError(f"top must be a positive int; got {top!r}")
    if not 0.0 < flag_share <= 1.0:
        raise ValueError(f"flag_share must lie in (0, 1]; got {flag_share!r}")
    if not 0.0 <= min_correlation <= 1.0:
        raise ValueError(f"min_correlation must lie in [0, 1]; got {min_correlation!r}")
    sensitive = [sensitive] if isinstance(sensitive, str) else list(sensitive)
    unknown = [name for name in sensitive if name not in feature_names]
    if unknown:
        raise ValueError(
            f"sensitive names {unknown!r} are not features; valid names: {feature_names!r}"
        )
    top = min(int(top), len(feature_names))

    # Mean |value| per feature and label, and the direction of each pair.
    mean_abs = np.abs(values).mean(axis=0)
    totals = mean_abs.sum(axis=0)
    correlations = _correlations(values, data)

    def driver(feature: int, label: int) -> Driver:
        share = mean_abs[feature, label] / totals[label] if totals[label] > 0 else 0.0
        correlation = correlations[feature, label]
        correlation = None if math.isnan(correlation) else float(correlation)
        return Driver(
            feature=feature_names[feature],
            mean_abs=float(mean_abs[feature, label]),
            share=float(share),
            direction=_direction(correlation, min_correlation),
            correlation=correlation,
        )

    labels = []
    top_counts = np.zeros(len(feature_names), dtype=int)
    for label, name in enumerate(label_names):
        # Stable sort: ties keep feature order, so the table is reproducible.
        ranked = np.argsort(-mean_abs[:, label], kind="stable")[:top]
        top_counts[ranked] += 1
        drivers = tuple(driver(int(feature), label) for feature in ranked)
        labels.append(LabelAudit(label=name, total=float(totals[label]), drivers=drivers))

    needed = flag_share * len(label_names) - 1e-9
    flagged = tuple(
        name for name, count in zip(feature_names, top_counts, strict=True) if count >= needed
    )
    by_name = {name: position for position, name in enumerate(feature_names)}
    return AuditResult(
        labels=tuple(labels),
        flagged=flagged,
        top=top,
        flag_share=float(flag_share),
        sensitive={
            name: {
                label: driver(by_name[name], position) for position, label in enumerate(label_names)
            }
            for name in dict.fromkeys(sensitive)
        },
    )


def _check_arrays(
    values: np.ndarray,
    data: np.ndarray,
    feature_names: Sequence[str],
    label_names: Sequence[str],
) -> tuple[np.ndarray, np.ndarray]:
    """Validate the audit inputs together and return them as float64 arrays."""
    problems = []
    values = np.asarray(values, dtype=np.float64)
    data = np.asarray(data, dtype=np.float64)
    expected = (len(feature_names), len(label_names))
    if values.ndim != 3 or values.shape[1:] != expected:
        problems.append(
            f"values must have shape (n, {expected[0]}, {expected[1]}), got {values.shape!r}"
        )
    elif values.shape[0] < 1:
        problems.append("values has no rows")
    if data.shape != values.shape[:2]:
        problems.append(f"data must have shape {values.shape[:2]!r}, got {data.shape!r}")
    if not np.isfinite(values).all():
        problems.append("values holds NaN or infinite entries")
    for argument, names in (("feature_names", feature_names), ("label_names", label_names)):
        if isinstance(names, str):
            problems.append(f"{argument} must be a sequence of names, got the string {names!r}")
        elif len(set(names)) != len(names):
            problems.append(f"{argument} has duplicates: {list(names)!r}")
    if problems:
        raise ValueError("; ".join(problems))
    return values, data


def _check_matrix(
    array: np.ndarray, argument: str, n_features: int, allow_nan: bool = False
) -> np.ndarray:
    array = np.asarray(array, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != n_features or array.shape[0] < 1:
        raise ValueError(
            f"{argument} must hold {n_features} features (one per name) and at least one row; "
            f"got shape {array.shape!r}"
        )
    if not allow_nan and not np.isfinite(array).all():
        raise ValueError(f"{argument} holds NaN or infinite entries")
    return array


def _correlations(values: np.ndarray, data: np.ndarray) -> np.ndarray:
    """Pearson correlation per (feature, label) over rows; NaN where either side is constant."""
    centred_values = values - values.mean(axis=0)
    centred_data = np.nan_to_num(data - np.nanmean(data, axis=0))[:, :, None]
    covariance = (centred_values * centred_data).sum(axis=0)
    scale = np.sqrt((centred_values**2).sum(axis=0) * (centred_data**2).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        correlation = np.where(scale > 1e-12, covariance / scale, np.nan)
    return np.clip(correlation, -1.0, 1.0)


def _direction(correlation: float | None, min_correlation: float) -> str:
    if correlation is None:
        return "mixed"
    if correlation >= min_correlation:
        return "raises"
    if correlation <= -min_correlation:
        return "lowers"
    return "mixed"


def _md(text: str) -> str:
    return str(text).replace("|", "\\|")
