"""Line charts over time as server-side SVG: readable without JavaScript, one request, no
chart library. Each chart names its unit and its time zone (UTC) on its axes; each series has
a colour and a dash pattern of its own (told apart without colour too), and a legend. The
numbers behind it are the page's table under the chart."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 760, 280
LEFT, RIGHT, TOP, BOTTOM = 76, 16, 14, 40
COLOURS = ("#1f6fb2", "#d1495b", "#2e8b57", "#e08e0b", "#7b4fa8", "#0f8a8a", "#8c564b", "#c2378a")
DASHES = ("", "6 3", "2 3", "8 3 2 3")


@dataclass(frozen=True)
class Series:
    label: str
    points: list[tuple[datetime, float]] = field(default_factory=list)


def nice_step(span: float, ticks: int = 5) -> float:
    """A round step (1, 2 or 5 times a power of ten) giving about `ticks` ticks over `span`."""
    if span <= 0:
        return 1.0
    raw = span / ticks
    power = 10 ** math.floor(math.log10(raw))
    return float(next(m * power for m in (1, 2, 5, 10) if m * power >= raw))


def number(value: float) -> str:
    """A tick's label: compact (1.2k, 3.4M), never in scientific notation."""
    size = abs(value)
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if size >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.3g}" if size >= 0.01 or value == 0 else f"{value:.2e}"


def time_label(at: datetime, span_s: float) -> str:
    at = at.astimezone(UTC)
    return at.strftime("%H:%M") if span_s <= 2 * 86_400 else at.strftime("%d %b")


def line_chart(chart_id: str, title: str, unit: str, series: list[Series]) -> Markup:
    """`series` as lines on one chart: x is time (UTC), y in `unit`. An empty chart says so."""
    drawn = [s for s in series if s.points]
    head = (
        f'<svg id="{escape(chart_id)}" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc" data-series="{len(drawn)}">'
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>'
    )
    if not drawn:
        return Markup(  # noqa: S704 - every text in it is escaped above
            head + f'<desc id="{escape(chart_id)}-desc">no data in the store for this period</desc>'
            f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" class="empty">'
            "no data in the store for this period</text></svg>"
        )
    times = [t.timestamp() for s in drawn for t, _ in s.points]
    values = [v for s in drawn for _, v in s.points]
    t0, t1 = min(times), max(times)
    t1 = t1 if t1 > t0 else t0 + 1
    step = nice_step(max(values) - min(values) or abs(values[0]) or 1.0)
    low = math.floor(min(values) / step) * step
    high = math.ceil(max(values) / step) * step
    high = high if high > low else low + step
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: float) -> float:
        return LEFT + (t - t0) / (t1 - t0) * plot_w

    def y(v: float) -> float:
        return TOP + (high - v) / (high - low) * plot_h

    parts = [
        head,
        f'<desc id="{escape(chart_id)}-desc">{escape(title)}: {len(drawn)} series, y in {escape(unit)}, '
        f"x the time in UTC, from {datetime.fromtimestamp(t0, UTC):%Y-%m-%d %H:%M} "
        f"to {datetime.fromtimestamp(t1, UTC):%Y-%m-%d %H:%M}</desc>",
    ]
    ticks = round((high - low) / step)
    for i in range(ticks + 1):
        v = low + i * step
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(v):.1f}" y2="{y(v):.1f}"/>'
            f'<text class="tick" x="{LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{escape(number(v))}</text>'
        )
    for i in range(5):
        t = t0 + i * (t1 - t0) / 4
        label = time_label(datetime.fromtimestamp(t, UTC), t1 - t0)
        anchor = ("start", "middle", "middle", "middle", "end")[i]  # the ends stay inside the chart
        parts.append(
            f'<text class="tick" x="{x(t):.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="{anchor}">{label}</text>'
        )
    parts.append(
        f'<text class="axis" x="{LEFT + plot_w / 2}" y="{HEIGHT - 4}" text-anchor="middle">time (UTC)</text>'
        f'<text class="axis" transform="translate(14 {TOP + plot_h / 2}) rotate(-90)" '
        f'text-anchor="middle">{escape(unit)}</text>'
    )
    for n, s in enumerate(drawn):
        path = " ".join(
            f"{'M' if i == 0 else 'L'}{x(t.timestamp()):.1f},{y(v):.1f}" for i, (t, v) in enumerate(s.points)
        )
        colour, dash = style(n)
        parts.append(
            f'<path class="line" d="{path}" stroke="{colour}" '
            f'stroke-dasharray="{dash}" data-label="{escape(s.label)}" data-points="{len(s.points)}">'
            f"<title>{escape(s.label)}</title></path>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text in it is escaped


def legend(series: list[Series]) -> list[dict[str, str]]:
    """Each drawn series' label, colour and dash (the template draws the key)."""
    drawn = [s for s in series if s.points]
    return [{"label": s.label, "colour": style(n)[0], "dash": style(n)[1]} for n, s in enumerate(drawn)]


def style(n: int) -> tuple[str, str]:
    """The n-th series' colour and dash: no two of the first 32 look alike."""
    return COLOURS[n % len(COLOURS)], DASHES[(n + n // len(COLOURS)) % len(DASHES)]
