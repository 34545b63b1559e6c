"""Charts as server-rendered SVG: no chart library, no script, readable without CSS.

The bar chart of clicks per day stacks people (dark) on bots (light). Every bar
has a <title> (a tooltip, and what screen readers announce); the page also
offers the same numbers as a table.
"""

from __future__ import annotations

from datetime import date, timedelta

from markupsafe import Markup, escape

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 12, 30
HUMANS, BOTS, GRID, TEXT = "#3b3fc4", "#b9bcf0", "#e3e6ee", "#5a6272"


def nice_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten at or above value (at least 1)."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if factor * step >= value:
                return max(factor * step, 1)
        step *= 10


def daily_chart(days: list[dict], first: date, last: date) -> Markup:
    by_day = {d["date"]: d for d in days}
    count = (last - first).days + 1
    series = []
    for offset in range(count):
        day = first + timedelta(days=offset)
        entry = by_day.get(day, {})
        series.append((day, int(entry.get("humans", 0)), int(entry.get("bots", 0))))
    top = nice_ceiling(max((h + b for _, h, b in series), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / count
    bar = max(slot * 0.72, 1.0)
    total = sum(h + b for _, h, b in series)

    def y(value: float) -> float:
        return TOP + plot_h - value / top * plot_h

    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="chart-title" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="chart-title">Clicks per day from {first.isoformat()} to {last.isoformat()}: '
        f"{total} in all</title>",
    ]
    for tick in (0, top / 2, top):
        ty = y(tick)
        label = f"{tick:g}"
        parts.append(
            f'<line x1="{LEFT}" y1="{ty:.1f}" x2="{WIDTH - RIGHT}" y2="{ty:.1f}" '
            f'stroke="{GRID}" stroke-width="1"/>'
            f'<text x="{LEFT - 6}" y="{ty + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="{TEXT}">{label}</text>'
        )
    label_every = max(1, round(count / 6))
    for index, (day, humans, bots) in enumerate(series):
        x = LEFT + index * slot + (slot - bar) / 2
        tip = escape(f"{day:%a %d %b %Y}: {humans} by people, {bots} by bots")
        parts.append(f"<g><title>{tip}</title>")
        if bots:
            parts.append(
                f'<rect x="{x:.1f}" y="{y(humans + bots):.1f}" width="{bar:.1f}" '
                f'height="{y(humans) - y(humans + bots):.1f}" fill="{BOTS}"/>'
            )
        if humans:
            parts.append(
                f'<rect x="{x:.1f}" y="{y(humans):.1f}" width="{bar:.1f}" '
                f'height="{y(0) - y(humans):.1f}" fill="{HUMANS}"/>'
            )
        # An invisible full-height target, so a tooltip shows on days without clicks too.
        parts.append(
            f'<rect x="{LEFT + index * slot:.1f}" y="{TOP}" width="{slot:.1f}" '
            f'height="{plot_h}" fill="transparent"/></g>'
        )
        if index % label_every == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{HEIGHT - 10}" text-anchor="middle" '
                f'font-size="11" fill="{TEXT}">{day:%d %b}</text>'
            )
    parts.append(
        f'<line x1="{LEFT}" y1="{y(0):.1f}" x2="{WIDTH - RIGHT}" y2="{y(0):.1f}" '
        f'stroke="{TEXT}" stroke-width="1"/></svg>'
    )
    return Markup("".join(parts))
