"""Horizontal bar charts as inline SVG, drawn here so the HTML report needs nothing external.

Every bar carries ``data-series``, ``data-category`` and ``data-value`` so the numbers can be
read back (and are, by the tests); every chart has a ``<title>`` and ``<desc>`` for screen
readers.
"""

from __future__ import annotations

from html import escape

from app.reports.blocks import BarChart

WIDTH = 760
LABEL_WIDTH = 250
BAR_AREA = WIDTH - LABEL_WIDTH - 60
BAR_HEIGHT = 14
BAR_GAP = 2
ROW_GAP = 12
LEGEND_HEIGHT = 28
LABEL_CHARACTERS = 38


def _shorten(label: str) -> str:
    if len(label) <= LABEL_CHARACTERS:
        return label
    return label[: LABEL_CHARACTERS - 1].rstrip() + "…"


def bar_chart(chart: BarChart) -> str:
    """``chart`` as an ``<svg>`` element: one group of bars per category, one bar per series."""
    per_row = len(chart.series) * (BAR_HEIGHT + BAR_GAP) - BAR_GAP
    height = LEGEND_HEIGHT + len(chart.categories) * (per_row + ROW_GAP) + 4
    largest = max((v for s in chart.series for v in s.values), default=0) or 1
    title_id = f"chart-{chart.key}-title"
    desc = "; ".join(
        f"{category}: "
        + ", ".join(f"{series.name} {series.values[index]}" for series in chart.series)
        for index, category in enumerate(chart.categories)
    )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="chart-{chart.key}" '
        f'role="img" aria-labelledby="{title_id}" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" preserveAspectRatio="xMinYMin meet">',
        f'<title id="{title_id}">{escape(chart.title)}</title>',
        f"<desc>{escape(desc)}</desc>",
    ]
    x = LABEL_WIDTH
    for series in chart.series:
        parts.append(
            f'<rect x="{x}" y="6" width="12" height="12" fill="{series.colour}"/>'
            f'<text x="{x + 18}" y="16" class="legend">{escape(series.name)}</text>'
        )
        x += 30 + 8 * len(series.name)
    for row, category in enumerate(chart.categories):
        top = LEGEND_HEIGHT + row * (per_row + ROW_GAP)
        parts.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{top + per_row / 2 + 4:g}" text-anchor="end" '
            f'class="category"><title>{escape(category)}</title>{escape(_shorten(category))}</text>'
        )
        for index, series in enumerate(chart.series):
            value = series.values[row]
            y = top + index * (BAR_HEIGHT + BAR_GAP)
            width = round(BAR_AREA * value / largest, 1)
            parts.append(
                f'<rect class="bar" x="{LABEL_WIDTH}" y="{y}" width="{width:g}" '
                f'height="{BAR_HEIGHT}" fill="{series.colour}" data-series="{series.key}" '
                f'data-category="{escape(category)}" data-value="{value}">'
                f"<title>{escape(category)} — {escape(series.name)}: {value}</title></rect>"
                f'<text x="{LABEL_WIDTH + width + 4:g}" y="{y + BAR_HEIGHT - 3}" '
                f'class="value">{value}</text>'
            )
    parts.append(
        f'<line x1="{LABEL_WIDTH}" y1="{LEGEND_HEIGHT - 4}" x2="{LABEL_WIDTH}" '
        f'y2="{height - 2}" class="axis"/>'
    )
    parts.append("</svg>")
    return "".join(parts)
