"""Small charts drawn as inline SVG on the server: the status page and ``report --html`` embed
them as they are (no script, no stylesheet or font from elsewhere).

Each function returns one ``<svg class="chart">`` with a ``<title>`` saying what it shows; each
bar or point carries its value in ``data-value``, so a test can read the chart back.
"""
from __future__ import annotations

from html import escape
from typing import Callable, Mapping, Sequence

# Colour-blind-safe hues (Okabe and Ito's set), one per series in the order given.
PALETTE = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#000000")
TARGET = "#d55e00"
AXIS = "#8a8f98"
Format = Callable[[float], str]


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _number(value: float) -> str:
    return f"{value:g}" if value < 10_000 else f"{value / 1000:.0f}k"


def duration(seconds: float | None) -> str:
    """A duration as people say it (45s, 3m 20s, 2h 5m, 3d 4h); a dash when there is none."""
    if seconds is None:
        return "-"
    if seconds < 9.95:
        return f"{max(seconds, 0.0):.1f}".rstrip("0").rstrip(".") + "s"
    whole = int(round(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m {whole % 60}s" if whole % 60 else f"{whole // 60}m"
    if whole < 86400:
        return f"{whole // 3600}h {whole % 3600 // 60}m" if whole % 3600 // 60 else f"{whole // 3600}h"
    return f"{whole // 86400}d {whole % 86400 // 3600}h" if whole % 86400 // 3600 else f"{whole // 86400}d"


def _svg(kind: str, title: str, width: int, height: int, body: list[str]) -> str:
    return (f'<svg class="chart" data-chart="{kind}" role="img" xmlns="http://www.w3.org/2000/svg" '
            f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" '
            f'font-size="11"><title>{escape(title)}</title>{"".join(body)}</svg>')


def _text(x: float, y: float, text: str, anchor: str = "start", fill: str = "#333", extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{fill}"{extra}>{escape(text)}</text>'


def _legend(names: Sequence[str], x: float, y: float) -> list[str]:
    out, at = [], x
    for i, name in enumerate(names):
        out.append(f'<rect x="{at:.1f}" y="{y - 9:.1f}" width="10" height="10" fill="{colour(i)}"/>')
        out.append(_text(at + 14, y, name))
        at += 24 + 7 * len(name)
    return out


def columns(series: Mapping[str, Sequence[float]], labels: Sequence[str], *, title: str,
            width: int = 560, height: int = 180, fmt: Format = _number, grouped: bool = False) -> str:
    """Columns, one slot per label and one colour per series (with a legend): stacked, or
    side by side when ``grouped`` (series that are not parts of one whole)."""
    names = list(series)
    count = max(len(labels), max((len(v) for v in series.values()), default=0), 1)
    values = [[float(series[n][i]) if i < len(series[n]) else 0.0 for n in names] for i in range(count)]
    top = max([max(v, default=0.0) if grouped else sum(v) for v in values] + [0.0]) or 1.0
    left, right, plot_top, plot_bottom = 40, 8, 8, height - (36 if names else 22)
    slot = (width - left - right) / count
    scale = (plot_bottom - plot_top) / top
    body = [f'<line x1="{left}" y1="{plot_bottom}" x2="{width - right}" y2="{plot_bottom}" stroke="{AXIS}"/>',
            _text(left - 4, plot_top + 8, fmt(top), "end", AXIS), _text(left - 4, plot_bottom, "0", "end", AXIS)]
    inner = slot * 0.7 / (len(names) if grouped and names else 1)
    for i in range(count):
        base = plot_bottom
        for j, name in enumerate(names):
            value = values[i][j]
            if value <= 0:
                continue
            h = value * scale
            x = left + i * slot + slot * 0.15 + (j * inner if grouped else 0)
            y = plot_bottom - h if grouped else base - h
            base = base if grouped else y
            body.append(f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{max(inner, 1):.1f}" height="{h:.1f}" '
                        f'fill="{colour(j)}" data-series="{escape(name)}" data-value="{value:g}">'
                        f'<title>{escape(f"{name}, {labels[i] if i < len(labels) else i}: {fmt(value)}")}</title>'
                        f'</rect>')
    for i in sorted({0, count // 2, count - 1}):
        if i < len(labels):
            anchor = "start" if i == 0 else "end" if i == count - 1 else "middle"
            x = left + i * slot + (0 if anchor == "start" else slot if anchor == "end" else slot / 2)
            body.append(_text(x, plot_bottom + 13, labels[i], anchor, AXIS))
    if names:
        body += _legend(names, left, height - 4)
    return _svg("columns", title, width, height, body)


def bars(rows: Sequence[tuple[str, float]], *, title: str, width: int = 560, fmt: Format = _number,
         target: float | None = None, target_label: str = "target") -> str:
    """Horizontal bars, one row per (label, value); a dashed line marks ``target`` when given."""
    label_w, row_h, pad = 150, 22, 6
    height = max(len(rows), 1) * row_h + pad * 2 + (14 if target is not None else 0)
    top = max([v for _, v in rows] + [target or 0.0, 0.0]) or 1.0
    plot_w = width - label_w - 70
    body: list[str] = []
    for i, (label, value) in enumerate(rows):
        y = pad + i * row_h
        w = max(float(value), 0.0) / top * plot_w
        body.append(_text(label_w - 6, y + 15, label, "end"))
        body.append(f'<rect class="bar" x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" '
                    f'fill="{colour(0) if target is None or value <= target else TARGET}" '
                    f'data-series="{escape(label)}" data-value="{float(value):g}"/>')
        body.append(_text(label_w + w + 4, y + 15, fmt(float(value))))
    if target is not None:
        x = label_w + target / top * plot_w
        body.append(f'<line class="target" x1="{x:.1f}" y1="{pad}" x2="{x:.1f}" y2="{height - 16}" stroke="{TARGET}" '
                    f'stroke-dasharray="4 3" data-value="{target:g}"/>')
        body.append(_text(x, height - 4, f"{target_label} {fmt(target)}", "middle", TARGET))
    return _svg("bars", title, width, height, body)


def lines(series: Mapping[str, Sequence[float | None]], labels: Sequence[str], *, title: str,
          width: int = 560, height: int = 160, fmt: Format = _number) -> str:
    """One line per series across the labels; a missing value (None) leaves a gap."""
    names = list(series)
    count = max(len(labels), max((len(v) for v in series.values()), default=0), 1)
    values = [float(v) for s in series.values() for v in s if v is not None]
    top = max(values + [0.0]) or 1.0
    left, right, plot_top, plot_bottom = 48, 8, 8, height - (36 if names else 22)
    step = (width - left - right) / max(count - 1, 1)
    y_of = lambda v: plot_bottom - float(v) / top * (plot_bottom - plot_top)  # noqa: E731 - a scale
    body = [f'<line x1="{left}" y1="{plot_bottom}" x2="{width - right}" y2="{plot_bottom}" stroke="{AXIS}"/>',
            _text(left - 4, plot_top + 8, fmt(top), "end", AXIS), _text(left - 4, plot_bottom, "0", "end", AXIS)]
    for j, name in enumerate(names):
        runs: list[list[str]] = [[]]
        for i, v in enumerate(series[name]):
            if v is None:
                runs.append([])
                continue
            x, y = left + i * step, y_of(v)
            runs[-1].append(f"{x:.1f},{y:.1f}")
            body.append(f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour(j)}" '
                        f'data-series="{escape(name)}" data-value="{float(v):g}">'
                        f'<title>{escape(f"{name}, {labels[i] if i < len(labels) else i}: {fmt(float(v))}")}</title>'
                        f'</circle>')
        body += [f'<polyline points="{" ".join(run)}" fill="none" stroke="{colour(j)}" stroke-width="1.5"/>'
                 for run in runs if len(run) > 1]
    for i in sorted({0, count - 1}):
        if i < len(labels):
            body.append(_text(left + i * step, plot_bottom + 13, labels[i], "start" if i == 0 else "end", AXIS))
    if names:
        body += _legend(names, left, height - 4)
    return _svg("lines", title, width, height, body)


__all__ = ["PALETTE", "bars", "colour", "columns", "duration", "lines"]
