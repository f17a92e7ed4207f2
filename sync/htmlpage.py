"""One self-contained HTML page (inline style, no script, nothing fetched from elsewhere) for
the status page and ``report --html``: the frame, tables, labels. Every text is escaped here."""
from __future__ import annotations

from html import escape
from typing import Any, Iterable, Sequence

STYLE = """
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328;
       margin: 0 auto; padding: 20px 28px 40px; max-width: 1180px; background: #fff; }
h1 { font-size: 22px; margin: 0 0 2px; } h2 { font-size: 17px; margin: 28px 0 8px; }
h3 { font-size: 14px; margin: 14px 0 6px; }
.sub { color: #59636e; margin: 0 0 16px; }
table { border-collapse: collapse; margin: 4px 0 8px; }
th, td { text-align: left; padding: 4px 12px 4px 0; border-bottom: 1px solid #e4e7eb; vertical-align: top; }
th { font-weight: 600; color: #59636e; font-size: 12px; }
td:first-child, td:nth-child(2) { white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.state { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; }
.state.active, .state.posted, .state.met { background: #dafbe1; color: #116329; }
.state.waiting, .state.held { background: #fff8c5; color: #7d4e00; }
.state.parked, .state.failed, .state.breached, .state.quarantined { background: #ffebe9; color: #a40e26; }
.state.unknown { background: #eaeef2; color: #424a53; }
.why { color: #59636e; }
.cards { display: flex; flex-wrap: wrap; gap: 16px; }
.card { border: 1px solid #e4e7eb; border-radius: 8px; padding: 10px 14px; }
.note { color: #59636e; font-size: 12px; }
.empty { color: #59636e; font-style: italic; }
svg.chart { display: block; max-width: 100%; height: auto; }
"""


def esc(value: Any) -> str:
    return escape("" if value is None else str(value))


def document(title: str, body: Iterable[str], *, refresh: int | None = None) -> str:
    """The whole page; ``refresh``: reload every so many seconds (the status page)."""
    head = [f"<meta charset=\"utf-8\"><title>{esc(title)}</title>",
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            "<meta name=\"referrer\" content=\"no-referrer\">"]
    if refresh:
        head.append(f'<meta http-equiv="refresh" content="{int(refresh)}">')
    return (f"<!doctype html><html lang=\"en\"><head>{''.join(head)}<style>{STYLE}</style></head>"
            f"<body>{''.join(body)}</body></html>")


def badge(state: str, text: str | None = None) -> str:
    """A coloured label for a state (active, waiting, parked, posted, held, failed, met, breached...)."""
    known = {"active", "waiting", "parked", "posted", "held", "failed", "met", "breached", "quarantined"}
    return f'<span class="state {state if state in known else "unknown"}">{esc(text or state)}</span>'


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], numeric: Sequence[int] = (),
          raw: Sequence[int] = (), empty: str = "none") -> str:
    """A table; columns in ``numeric`` align right, cells in ``raw`` columns are HTML already."""
    rows = list(rows)
    if not rows:
        return f'<p class="empty">{esc(empty)}</p>'
    head = "".join(f'<th class="num">{esc(h)}</th>' if i in numeric else f"<th>{esc(h)}</th>"
                   for i, h in enumerate(headers))
    lines = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            text = str(cell) if i in raw else esc(cell)
            cells.append(f'<td class="num">{text}</td>' if i in numeric else f"<td>{text}</td>")
        lines.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(lines)}</tbody></table>"


__all__ = ["badge", "document", "esc", "table"]
