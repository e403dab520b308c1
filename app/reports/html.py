"""A report document as one self-contained, printable HTML page.

No scripts, fonts, images or style sheets from elsewhere: the charts are inline SVG, the style
sheet is inline, and a Content-Security-Policy (``default-src 'none'``) makes the browser refuse
anything else, so the page works offline and can be mailed or archived as it is.
"""

from __future__ import annotations

from html import escape

from app.reports.blocks import BarChart, Cell, Document, Paragraph, Subheading, Table
from app.reports.i18n import Lang, decimal
from app.reports.svg import bar_chart

CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

STYLE = """
:root { color-scheme: light; --ink: #1f2933; --muted: #52606d; --line: #d9e2ec; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif;
       color: var(--ink); background: #fff; max-width: 1100px; margin: 0 auto; padding: 24px; }
h1 { font-size: 1.8em; margin: 0 0 4px; }
h2 { font-size: 1.35em; margin: 2em 0 .6em; padding-bottom: 4px;
     border-bottom: 2px solid var(--line); }
h3 { font-size: 1.1em; margin: 1.4em 0 .4em; }
p.subtitle { margin: 0 0 4px; color: var(--muted); }
p.generated, p.note { color: var(--muted); font-size: .9em; }
nav.toc ul { columns: 2; list-style: none; padding-left: 0; }
table { border-collapse: collapse; width: 100%; margin: .4em 0 1em; font-size: .92em; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left;
         vertical-align: top; overflow-wrap: break-word; }
.table-wrap { overflow-x: auto; }
th { background: #f0f4f8; }
tbody tr:nth-child(even) { background: #fafbfc; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
figure { margin: 1em 0; }
figcaption { color: var(--muted); font-size: .9em; }
table.suggestions td:last-child { font-size: .85em; color: var(--muted); }
svg.chart { max-width: 100%; height: auto; display: block; }
svg.chart text { font: 12px system-ui, Arial, sans-serif; fill: var(--ink); }
svg.chart .axis { stroke: #9aa5b1; stroke-width: 1; }
@page { size: A4; margin: 14mm 12mm; }
@media print {
  body { font-size: 10pt; max-width: none; padding: 0; }
  nav.toc { display: none; }
  h2, h3 { break-after: avoid; }
  figure, tr { break-inside: avoid; }
  thead { display: table-header-group; }
  .table-wrap { overflow: visible; }
  table { font-size: 8.5pt; }
  a { color: inherit; text-decoration: none; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""


def _cell(value: Cell, lang: Lang) -> tuple[str, bool]:
    if value is None:
        return "—", False
    if isinstance(value, float):
        return decimal(value, lang), True
    if isinstance(value, int):
        return str(value), True
    return escape(value), False


def _table(table: Table, lang: Lang) -> str:
    head = "".join(f'<th scope="col">{escape(h)}</th>' for h in table.headers)
    body = []
    for row in table.rows:
        cells = []
        for value in row:
            content, numeric = _cell(value, lang)
            cells.append(f'<td class="num">{content}</td>' if numeric else f"<td>{content}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return (
        f'<div class="table-wrap"><table class="{escape(table.key)}">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def _figure(chart: BarChart) -> str:
    return f"<figure>{bar_chart(chart)}<figcaption>{escape(chart.title)}</figcaption></figure>"


def render_html(document: Document) -> str:
    """The whole document as an HTML5 page in the document's language."""
    toc = "".join(
        f'<li><a href="#{section.key}">{escape(section.heading)}</a></li>'
        for section in document.sections
    )
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{document.lang}">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">',
        '<meta name="generator" content="copmatch">',
        f"<title>{escape(document.title)}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        f"<header><h1>{escape(document.title)}</h1>",
    ]
    if document.subtitle:
        parts.append(f'<p class="subtitle">{escape(document.subtitle)}</p>')
    parts += [
        f'<p class="generated">{escape(document.generated)}</p></header>',
        f'<nav class="toc"><ul>{toc}</ul></nav>',
        "<main>",
    ]
    for section in document.sections:
        parts.append(f'<section id="{section.key}"><h2>{escape(section.heading)}</h2>')
        for block in section.blocks:
            if isinstance(block, Subheading):
                parts.append(f"<h3>{escape(block.text)}</h3>")
            elif isinstance(block, Paragraph):
                css = ' class="note"' if block.note else ""
                parts.append(f"<p{css}>{escape(block.text)}</p>")
            elif isinstance(block, Table):
                parts.append(_table(block, document.lang))
            elif isinstance(block, BarChart):
                parts.append(_figure(block))
        parts.append("</section>")
    parts += ["</main>", "</body>", "</html>"]
    return "\n".join(parts) + "\n"
