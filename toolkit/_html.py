"""Small HTML building blocks shared by the report and the notebook display.

Everything here is self-contained: figures become base64 ``data:`` PNG URIs, styles are
inline or in one ``<style>`` block, and every text passes through :func:`html.escape`.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "STYLE",
    "Markup",
    "escape",
    "figure_tag",
    "key_value_table",
    "number",
    "png_data_uri",
    "readable",
    "table",
    "wrapped",
]

# Shown for a missing value (a setting left at its default, a label without a figure).
MISSING = "\u2014"
# Longest text of one cell before it is cut, and deepest nesting drawn as tables.
_MAX_CELL_CHARACTERS = 240
_MAX_NESTING = 2

# Every rule is scoped under .labelshap, so a notebook's own styles are left alone.
STYLE = """
.labelshap { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328;
  line-height: 1.45; }
.labelshap h2 { border-bottom: 2px solid #d0d7de; padding-bottom: 0.25em; margin-top: 1.6em; }
.labelshap h3 { margin: 1.2em 0 0.5em 0; color: #3a4450; }
.labelshap table { border-collapse: collapse; margin: 0.4em 0 1em 0; font-size: 0.92em;
  max-width: 100%; }
.labelshap th, .labelshap td { border: 1px solid #d0d7de; padding: 0.3em 0.7em;
  text-align: left; vertical-align: top; overflow-wrap: anywhere; }
.labelshap th { background: #f0f3f6; font-weight: 600; }
.labelshap tr:nth-child(even) td { background: #f8fafc; }
.labelshap td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap;
  overflow-wrap: normal; }
.labelshap td table { margin: 0; font-size: 1em; }
.labelshap .grid { display: grid; gap: 1em;
  grid-template-columns: repeat(auto-fill, minmax(min(100%, 380px), 1fr)); }
.labelshap .grid.wide { grid-template-columns: repeat(auto-fill, minmax(min(100%, 560px), 1fr)); }
.labelshap .figures { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
.labelshap .figures figure { max-width: 100%; }
.labelshap .figures figcaption { width: 0; min-width: 100%; }
.labelshap figure { margin: 0; padding: 0.5em; border: 1px solid #d0d7de; border-radius: 6px;
  background: #fff; }
.labelshap figure img { display: block; max-width: 100%; height: auto; margin: 0 auto; }
.labelshap figcaption { font-size: 0.85em; color: #57606a; margin-top: 0.3em;
  overflow-wrap: anywhere; }
.labelshap .note { color: #57606a; font-size: 0.92em; }
.labelshap .tiles { display: flex; flex-wrap: wrap; gap: 0.8em; margin: 0.6em 0 1em 0; }
.labelshap .tile { border: 1px solid #d0d7de; border-radius: 6px; padding: 0.5em 0.9em;
  background: #f6f8fa; min-width: 9em; }
.labelshap .tile .value { font-size: 1.35em; font-weight: 600; }
.labelshap .tile .name { font-size: 0.8em; color: #57606a; }
.labelshap .tile.bad { background: #fff1f0; border-color: #f1aeb5; }
.labelshap .tile.bad .value { color: #b42318; }
.labelshap .panels { display: grid; gap: 0 2em; align-items: start;
  grid-template-columns: repeat(auto-fit, minmax(min(100%, 480px), 1fr)); }
.labelshap .panel { min-width: 0; }
.labelshap .panel.full { grid-column: 1 / -1; }
.labelshap .failed { color: #b42318; font-weight: 600; }
.labelshap .ok { color: #1a7f37; font-weight: 600; }
.labelshap .scroll { overflow-x: auto; max-width: 100%; }
"""


class Markup(str):
    """Text that is already HTML: :func:`table` puts it in a cell without escaping it."""


def escape(value: Any) -> str:
    """``value`` as text, escaped for HTML content and attribute values."""
    return html.escape(str(value), quote=True)


def number(value: Any) -> str:
    """A short, readable rendering of a number (or of anything else, as text)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return str(value)
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.3g}"
    return f"{value:.4g}" if abs(value) < 100 else f"{value:,.1f}"


def png_data_uri(figure: Figure, *, dpi: int = 80) -> str:
    """Render a matplotlib figure to PNG in memory and return it as a ``data:`` URI."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"data:image/png;base64,{encoded}"


def figure_tag(figure: Figure, caption: str, *, dpi: int = 80) -> str:
    """A ``<figure>`` holding the figure as an embedded PNG and an escaped caption."""
    uri = png_data_uri(figure, dpi=dpi)
    return (
        f'<figure><img src="{uri}" alt="{escape(caption)}">'
        f"<figcaption>{escape(caption)}</figcaption></figure>"
    )


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    numeric: Sequence[bool] | None = None,
) -> str:
    """An HTML table; cells are escaped (but :class:`Markup`), numbers rendered with
    :func:`number`, None as a dash.

    Args:
        headers: Column headings.
        rows: Cell values, one sequence per row.
        numeric: Per column, whether to right-align it; by default a column is
            right-aligned where its cell holds a number.
    """
    # A heading may break after an underscore: per_label_<wbr>auc.
    head = "".join(f"<th>{escape(name).replace('_', '_<wbr>')}</th>" for name in headers)
    lines = []
    for row in rows:
        cells = []
        for column, value in enumerate(row):
            is_number = isinstance(value, numbers.Real) and not isinstance(value, bool)
            right = numeric[column] if numeric is not None else is_number
            attribute = ' class="num"' if right else ""
            if isinstance(value, Markup):
                content = str(value)
            else:
                content = escape(MISSING if value is None else number(value))
            cells.append(f"<td{attribute}>{content}</td>")
        lines.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(lines)}</tbody></table></div>"
    )


def key_value_table(entries: Mapping[str, Any]) -> str:
    """A two-column table of names and values."""
    return table(["name", "value"], [(name, value) for name, value in entries.items()])


def readable(value: Any, *, depth: int = 0) -> Any:
    """A setting or figure of any JSON shape, as a person reads it in a table cell.

    Numbers stay numbers (the table renders them), None becomes a dash, booleans yes or
    no, a list of scalars its items comma-joined, a mapping a small nested table; long
    texts are cut and say how many items there were.

    Examples:
        >>> readable(["a", "b"]), readable(None), readable(True)
        ('a, b', '\u2014', 'yes')
    """
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, numbers.Real):
        return value
    if isinstance(value, str):
        return _cut(value)
    if isinstance(value, Mapping) and value and depth < _MAX_NESTING:
        return Markup(
            table(
                ["name", "value"],
                [(str(key), readable(item, depth=depth + 1)) for key, item in value.items()],
            )
        )
    if isinstance(value, (list, tuple)) and all(_is_scalar(item) for item in value):
        if not value:
            return "none"
        text = ", ".join(MISSING if item is None else number(readable(item)) for item in value)
        return _cut(text, f" ({len(value)} in all)")
    return _cut(json.dumps(value, default=str))


def wrapped(body: str) -> str:
    """``body`` inside a ``.labelshap`` block with the shared style, for a notebook cell."""
    return f'<div class="labelshap"><style>{STYLE}</style>{body}</div>'


def _cut(text: str, suffix: str = "") -> str:
    if len(text) <= _MAX_CELL_CHARACTERS:
        return text
    return text[: _MAX_CELL_CHARACTERS - 1 - len(suffix)] + "\u2026" + suffix


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, numbers.Real))
