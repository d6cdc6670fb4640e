"""Tabular explanations: per-label feature charts and the audit across labels."""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from labelshap.explanation import Explanation, register_explanation

from .audit import AuditResult, audit_table
from .charts import bar_chart, beeswarm_chart, heatmap_chart, save_figure, waterfall_chart

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["AUDIT_JSON", "TabularExplanation"]

logger = logging.getLogger(__name__)

# The audit's record beside audit.csv and audit.md: its options and the rows it covers.
AUDIT_JSON = "audit.json"

# Labels that get a bar chart in the report: the most often selected ones.
_REPORT_BAR_LABELS = 4


@register_explanation("tabular")
class TabularExplanation(Explanation):
    """An :class:`~labelshap.Explanation` of table rows, whose features are columns.

    Every row has the same features (a one-hot group counts as one). ``data`` keeps each
    row's columns as the model took them; ``feature_data`` one number per feature (a
    column's value, or the category position of a group), which the charts and the audit
    read. ``result["Drama"].to_shap()`` goes straight into ``shap.plots.bar``,
    ``beeswarm`` and, one row at a time, ``waterfall``.
    """

    # Tabular charts are aggregates, cheap at any row count: the notebook shows every row,
    # and the report every row of a store, as its audit.md covers.
    _REPR_MAX_ITEMS = 100_000
    _REPORT_MAX_ITEMS = None

    @property
    def names(self) -> list[str]:
        """The feature names, shared by every row."""
        return list(self.feature_names[0]) if self.feature_names else []

    def bar(self, label: str | int, *, max_features: int = 20) -> Figure:
        """Mean |value| per feature for one label, largest on top."""
        return bar_chart(
            self._values_of(label), self.names, self._name(label), max_features=max_features
        )

    def beeswarm(self, label: str | int, *, max_features: int = 20) -> Figure:
        """Each row's value per feature for one label, coloured by the feature's value."""
        return beeswarm_chart(
            self._values_of(label),
            self.feature_data,
            self.names,
            self._name(label),
            max_features=max_features,
        )

    def waterfall(self, index: int, label: str | int, *, max_features: int = 10) -> Figure:
        """How one row's values add up from the base value to its score, for one label."""
        column = self._label_column(label)
        return waterfall_chart(
            self.values[index, :, column],
            float(self.base_values[index, column]),
            self.feature_data[index],
            self.names,
            self.label_names[column],
            max_features=max_features,
        )

    def heatmap(self, *, max_features: int | None = None) -> Figure:
        """Label x feature grid of mean |value|: the audit view across labels."""
        return heatmap_chart(self.values, self.names, self.label_names, max_features=max_features)

    def audit(
        self,
        top: int = 3,
        sensitive: Sequence[str] = (),
        *,
        flag_share: float = 0.9,
    ) -> AuditResult:
        """Per label, the ``top`` drivers and their direction; flags and sensitive shares.

        Computed from the values over every row (see :func:`~.audit.audit_table`): a
        feature among the top drivers of at least ``flag_share`` of the labels is
        flagged, and each feature named in ``sensitive`` gets its share of every
        label's attribution.
        """
        return audit_table(
            self.values,
            self.feature_data,
            self.names,
            self.label_names,
            top=top,
            sensitive=sensitive,
            flag_share=flag_share,
        )

    def save_charts(
        self,
        out_dir: str | os.PathLike,
        *,
        labels: Sequence[str] | None = None,
        rows: Sequence[int] = (0,),
        max_features: int = 20,
    ) -> list[Path]:
        """Write ``heatmap.png`` and, per label, ``<label>/bar.png``, ``beeswarm.png`` and
        ``waterfall_row<i>.png`` for each row in ``rows``.

        Args:
            out_dir: Folder for the charts (created).
            labels: Labels to chart; defaults to every explained label.
            rows: Rows that get a waterfall chart.
            max_features: Features drawn at most per bar or beeswarm chart.

        Returns:
            The written paths.
        """
        out_dir = Path(out_dir)
        paths = [save_figure(self.heatmap(), out_dir / "heatmap.png")]
        for label in self.label_names if labels is None else labels:
            folder = out_dir / _file_name(label)
            paths.append(
                save_figure(self.bar(label, max_features=max_features), folder / "bar.png")
            )
            beeswarm = self.beeswarm(label, max_features=max_features)
            paths.append(save_figure(beeswarm, folder / "beeswarm.png"))
            for row in rows:
                figure = self.waterfall(int(row), label)
                paths.append(save_figure(figure, folder / f"waterfall_row{int(row)}.png"))
        return paths

    def save_audit(
        self,
        out_dir: str | os.PathLike,
        top: int = 3,
        sensitive: Sequence[str] = (),
        *,
        flag_share: float = 0.9,
    ) -> AuditResult:
        """Write the audit as ``audit.csv``, ``audit.md`` and ``audit.json`` (the same
        table, with the options and the number of rows it covers) into ``out_dir``."""
        out_dir = Path(out_dir)
        result = self.audit(top, sensitive, flag_share=flag_share)
        result.to_csv(out_dir / "audit.csv")
        (out_dir / "audit.md").write_text(result.to_markdown(), encoding="utf-8")
        record = {"rows": len(self), **result.to_json()}
        (out_dir / AUDIT_JSON).write_text(json.dumps(record, indent=1), encoding="utf-8")
        return result

    def _report_html(
        self,
        max_items: int,
        *,
        titles: Sequence[str] | None = None,
        folder: Path | None = None,
    ) -> str:
        """HTML fragment for the report and the notebook, over the first ``max_items`` rows
        (the report gives every row): the label x feature heatmap, a bar chart for each of
        the most selected labels and the audit table, with the options of the
        ``audit.json`` in ``folder`` when there is one, so that it is the table of
        ``audit.md``. ``titles`` (row names) are unused: every chart covers all rows."""
        from labelshap._html import escape, figure_tag, table

        rows = self if len(self) <= max_items else self[:max_items]
        if len(rows) == 0:
            return '<p class="note">No rows.</p>'
        order = np.lexsort((-rows.scores.mean(axis=0), -rows.selected.sum(axis=0)))
        charted = [rows.label_names[c] for c in order[:_REPORT_BAR_LABELS]]
        heatmap = figure_tag(rows.heatmap(), "mean |value| per label and feature")
        figures = [figure_tag(rows.bar(label), f"{label}: mean |value|") for label in charted]

        options, source = _audit_options(folder)
        audit = rows.audit(**options)
        audit_rows = [
            [entry.label, entry.total]
            + [f"{d.feature} ({d.share:.0%}, {d.direction})" for d in entry.drivers]
            + [""] * (audit.top - len(entry.drivers))
            for entry in audit.labels
        ]
        headers = ["label", "total"] + [f"driver {k}" for k in range(1, audit.top + 1)]
        flagged = ", ".join(audit.flagged) or "none"
        covered = f"all {len(rows)} rows" if len(rows) == len(self) else f"{len(rows)} rows"
        if source is not None and source.get("rows") == len(rows):
            covered += ", the rows and options of audit.md"
        elif source is not None:
            covered += (
                f"; audit.md covers {source.get('rows')} rows: it was written before the "
                "store held these"
            )
        return (
            f'<p class="note">Charts and audit over {escape(covered)}.</p>'
            f'<div class="figures">{heatmap}</div>'
            f'<div class="grid wide">{"".join(figures)}</div>'
            "<h3>Audit</h3>"
            + table(headers, audit_rows)
            + f'<p class="note">Flagged (among the top {audit.top} drivers of at least '
            f"{audit.flag_share:.0%} of labels): {escape(flagged)}</p>"
        )

    def _values_of(self, label: str | int) -> np.ndarray:
        return self.values[:, :, self._label_column(label)]

    def _name(self, label: str | int) -> str:
        return self.label_names[self._label_column(label)]


def _audit_options(folder: Path | None) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The options of the audit saved in ``folder`` (top, flag share, sensitive names) and
    its record; the defaults and None when there is none or it cannot be read."""
    path = None if folder is None else Path(folder) / AUDIT_JSON
    if path is None or not path.is_file():
        return {}, None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        options = {
            "top": int(record["top"]),
            "flag_share": float(record["flag_share"]),
            "sensitive": list(record.get("sensitive") or ()),
        }
    except (OSError, ValueError, TypeError, KeyError) as err:
        logger.warning("report: ignored %s: %s", path, err)
        return {}, None
    return options, record


def _file_name(label: str) -> str:
    """A label as a safe file or folder name."""
    return re.sub(r"[^\w.-]+", "_", str(label)).strip("._") or "label"
