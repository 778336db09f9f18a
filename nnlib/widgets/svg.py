"""Tiny SVG charts for the live widgets.

Why not matplotlib for the live views: a matplotlib redraw plus PNG encoding costs tens to
hundreds of milliseconds, which at 5 redraws per second would eat most of the training time.
Building an SVG string costs about a millisecond, the browser draws it (with its own fonts, so
Chinese labels always render), and it stays sharp at any zoom. Everything here returns plain
SVG/HTML strings that an ``ipywidgets.HTML`` shows; the numbers each chart was drawn from are
kept by the widgets for tests. The one picture matplotlib draws is a surface's filled contours,
once per surface (cached), as the background image of :func:`path_overlay`.
"""

import base64
import functools
import html
import io
import itertools
import math
import warnings

import numpy as np

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf")
FONT = "font-family='sans-serif'"
_ids = itertools.count()


def unique_id(prefix):
    """Element ids must be unique across all the SVGs on a page."""
    return f"nnlib-{prefix}-{next(_ids)}"


def color(i):
    return PALETTE[i % len(PALETTE)]


def nice_ticks(lo, hi, count=5):
    """Round tick values covering [lo, hi] (steps of 1, 2 or 5 × 10^k)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    return [round(first + i * step, 12) for i in range(int((hi - first) / step + 1e-9) + 1)]


def log_ticks(lo, hi):
    """(value, label) ticks for a log axis spanning 10^lo … 10^hi: powers of ten, or 1-2-5
    steps when the range holds fewer than two powers of ten."""
    step = max(1, math.ceil((hi - lo) / 6))
    # The tolerance keeps a decade the data reaches up to rounding (1/(1 − 0.999) = 999.99…).
    ticks = [(10.0**k, f"1e{k}") for k in range(math.ceil(lo - 1e-9), math.floor(hi + 1e-9) + 1, step)]
    if len(ticks) >= 2:
        return ticks
    candidates = [m * 10.0**k for k in range(math.floor(lo) - 1, math.ceil(hi) + 1) for m in (1, 2, 5)]
    ticks = [(v, f"{v:.0e}") for v in candidates if lo - 1e-9 <= math.log10(v) <= hi + 1e-9]
    if len(ticks) >= 2:
        return ticks
    return [(v, fmt(v)) for v in nice_ticks(10.0**lo, 10.0**hi) if v > 0]


def fmt(value):
    """Short tick label: 0.25 → 0.25, 1500 → 1500, 25000 → 25k, 0.0015 → 0.0015, 2e-05 → 2e-05.

    Step counts stay plain numbers (a reader looks for "step 1500", not 1.5e+03).
    """
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1e6 or magnitude < 1e-3:
        return f"{value:.2g}"
    if magnitude >= 1e4:
        return f"{value / 1e3:.4g}k"
    if magnitude >= 1e3:
        return f"{value:.0f}"
    return f"{value:.3g}"


class Frame:
    """A plotting area: maps data coordinates to pixels and draws axes, ticks and labels."""

    def __init__(self, width, height, xlim, ylim, *, log_y=False, title="", xlabel="", ylabel="",
                 margin=(28, 12, 34, 52)):
        self.width, self.height = width, height
        self.top, self.right, self.bottom, self.left = margin
        self.log_y = log_y
        self.title, self.xlabel, self.ylabel = title, xlabel, ylabel
        self.xlim = _widen(*xlim)
        ylim = (math.log10(ylim[0]), math.log10(ylim[1])) if log_y else ylim
        self.ylim = _widen(*ylim)

    def x(self, values):
        lo, hi = self.xlim
        span = self.width - self.left - self.right
        return self.left + (np.asarray(values, dtype=float) - lo) / (hi - lo) * span

    def y(self, values):
        values = np.asarray(values, dtype=float)
        if self.log_y:
            with np.errstate(divide="ignore", invalid="ignore"):
                values = np.log10(values)
        lo, hi = self.ylim
        return self.height - self.bottom - (values - lo) / (hi - lo) * (self.height - self.top - self.bottom)

    def axes(self):
        parts = []
        x0, x1 = self.left, self.width - self.right
        y0, y1 = self.top, self.height - self.bottom
        parts.append(f"<rect x='{x0}' y='{y0}' width='{x1 - x0}' height='{y1 - y0}' "
                     f"fill='white' stroke='#999'/>")
        for t in nice_ticks(*self.xlim):
            px = float(self.x(t))
            parts.append(f"<line x1='{px:.1f}' y1='{y1}' x2='{px:.1f}' y2='{y1 + 4}' stroke='#666'/>")
            parts.append(f"<text x='{px:.1f}' y='{y1 + 15}' font-size='10' text-anchor='middle' {FONT}>"
                         f"{fmt(t)}</text>")
        if self.log_y:
            ticks = log_ticks(*self.ylim)
        else:
            ticks = [(t, fmt(t)) for t in nice_ticks(*self.ylim)]
        for value, label in ticks:
            py = float(self.y(value))
            parts.append(f"<line x1='{x0}' y1='{py:.1f}' x2='{x1}' y2='{py:.1f}' stroke='#eee'/>")
            parts.append(f"<text x='{x0 - 4}' y='{py + 3:.1f}' font-size='10' text-anchor='end' {FONT}>"
                         f"{label}</text>")
        if self.title:
            parts.append(f"<text x='{self.width / 2}' y='16' font-size='13' text-anchor='middle' {FONT}>"
                         f"{html.escape(self.title)}</text>")
        if self.xlabel:
            parts.append(f"<text x='{(x0 + x1) / 2}' y='{self.height - 4}' font-size='11' "
                         f"text-anchor='middle' {FONT}>{html.escape(self.xlabel)}</text>")
        if self.ylabel:
            parts.append(f"<text x='12' y='{(y0 + y1) / 2}' font-size='11' text-anchor='middle' {FONT} "
                         f"transform='rotate(-90 12 {(y0 + y1) / 2})'>{html.escape(self.ylabel)}</text>")
        return parts

    def clip_id(self):
        if not hasattr(self, "_clip_id"):
            self._clip_id = unique_id("clip")
        return self._clip_id

    def clip_def(self):
        return (f"<defs><clipPath id='{self.clip_id()}'><rect x='{self.left}' y='{self.top}' "
                f"width='{self.width - self.left - self.right}' "
                f"height='{self.height - self.top - self.bottom}'/>"
                f"</clipPath></defs>")

    def svg(self, body, outside=()):
        """The finished SVG: ``body`` clipped to the plotting area, ``outside`` (legends) not."""
        return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{self.width}' height='{self.height}' "
                f"viewBox='0 0 {self.width} {self.height}'>{self.clip_def()}{''.join(self.axes())}"
                f"<g clip-path='url(#{self.clip_id()})'>{''.join(body)}</g>{''.join(outside)}</svg>")


def _widen(lo, hi):
    """Give an empty or degenerate range some width so the mapping is defined."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return (0.0, 1.0)
    if hi - lo < 1e-12 * max(abs(lo), abs(hi), 1e-300):
        pad = abs(lo) * 0.1 or 1.0
        return (lo - pad, hi + pad)
    return (lo, hi)


def polyline(frame, xs, ys, stroke, width=1.6, dash=None, path=False):
    """One line; NaN/Inf points (or ≤ 0 on a log axis) break the line instead of corrupting it.

    A chart cannot show more than a point or two per pixel, and formatting every point of a
    long run would dominate the redraw: long series are thinned to about two points per pixel
    column — the minimum and maximum of each bucket of consecutive points, so spikes stay
    visible — and a 2-D ``path`` (not ordered in x) is thinned by keeping every k-th point.
    """
    px, py = frame.x(xs), frame.y(ys)
    px, py = (_thin_path if path else _envelope)(px, py, 2 * (frame.width - frame.left - frame.right))
    ok = np.isfinite(px) & np.isfinite(py)
    pieces, current = [], []
    for good, a, b in zip(ok, px, py):
        if good:
            current.append(f"{a:.1f},{b:.1f}")
        elif current:
            pieces.append(current)
            current = []
    if current:
        pieces.append(current)
    style = f" stroke-dasharray='{dash}'" if dash else ""
    return "".join(f"<polyline points='{' '.join(p)}' fill='none' stroke='{stroke}' "
                   f"stroke-width='{width}'{style}/>"
                   for p in pieces)


def _envelope(px, py, limit):
    """At most ~``limit`` points: per bucket of consecutive points, (first x, min y), (last x, max y)."""
    n = len(px)
    if n <= limit:
        return px, py
    size = math.ceil(2 * n / limit)
    pad = (-n) % size
    xs = np.concatenate([px, np.full(pad, np.nan)]).reshape(-1, size)
    ys = np.concatenate([np.where(np.isfinite(py), py, np.nan), np.full(pad, np.nan)]).reshape(-1, size)
    with warnings.catch_warnings():  # an all-NaN bucket stays NaN: a gap in the line
        warnings.simplefilter("ignore", RuntimeWarning)
        out_x = np.stack([np.nanmin(xs, axis=1), np.nanmax(xs, axis=1)], axis=1).ravel()
        out_y = np.stack([np.nanmin(ys, axis=1), np.nanmax(ys, axis=1)], axis=1).ravel()
    return out_x, out_y


def _thin_path(px, py, limit):
    """Every k-th point of a 2-D path (and always its last point)."""
    n = len(px)
    if n <= limit:
        return px, py
    keep = np.unique(np.append(np.arange(0, n, math.ceil(n / limit)), n - 1))
    return px[keep], py[keep]


LEGEND_WIDTH = 92


def legend(frame, names, colors, dashes=None):
    """Legend in the right margin (charts that have one reserve ``LEGEND_WIDTH`` there)."""
    parts = []
    x = frame.width - LEGEND_WIDTH + 8
    y = frame.top + 8
    for i, (name, c) in enumerate(zip(names, colors)):
        dash = f" stroke-dasharray='{dashes[i]}'" if dashes and dashes[i] else ""
        parts.append(f"<line x1='{x}' y1='{y - 4}' x2='{x + 16}' y2='{y - 4}' "
                     f"stroke='{c}' stroke-width='2'{dash}/>")
        parts.append(f"<text x='{x + 20}' y='{y}' font-size='10' {FONT}>{html.escape(str(name))}</text>")
        y += 13
    return "".join(parts)


def _finite_range(arrays, positive=False):
    values = [np.asarray(a, dtype=float).ravel() for a in arrays if len(a)]
    if not values:
        return (1.0, 10.0) if positive else (0.0, 1.0)
    v = np.concatenate(values)
    v = v[np.isfinite(v) & ((v > 0) if positive else True)]
    if v.size == 0:
        return (1.0, 10.0) if positive else (0.0, 1.0)
    return float(v.min()), float(v.max())


def line_chart(series, *, width=400, height=220, title="", xlabel="", ylabel="", log_y=False,
               ylim=None, dashes=None, show_legend=True):
    """Lines from ``series = {name: (xs, ys)}``; ``log_y`` plots y on a log10 axis."""
    names = list(series)
    xs_all = [series[n][0] for n in names]
    ys_all = [series[n][1] for n in names]
    xlim = _finite_range(xs_all)
    if ylim is None:
        ylim = _finite_range(ys_all, positive=log_y)
        lo, hi = ylim
        if log_y:
            # 5 % of the decades at each end: the lines stay off the frame, whole decades get their tick
            pad = 10 ** (0.05 * max(math.log10(hi / lo), 1.0))
            ylim = (lo / pad, hi * pad)
        else:
            pad = 0.05 * (hi - lo)
            ylim = (lo - pad, hi + pad)
    right = LEGEND_WIDTH if show_legend and names else 12
    frame = Frame(width, height, xlim, ylim, log_y=log_y, title=title, xlabel=xlabel, ylabel=ylabel,
                  margin=(28, right, 34, 52))
    colors = [color(i) for i in range(len(names))]
    dash_of = dashes or {}
    body = [polyline(frame, series[n][0], series[n][1], c, dash=dash_of.get(n))
            for n, c in zip(names, colors)]
    outside = [legend(frame, names, colors, [dash_of.get(n) for n in names])] if show_legend and names else []
    return frame.svg(body, outside)


def histogram(samples, *, bins=30, width=400, height=220, title="", xlabel="", ylabel="", labels=None):
    """Overlaid step histograms of one or more sample arrays (shared bin edges)."""
    samples = [np.asarray(s, dtype=float).ravel() for s in samples]
    samples = [s[np.isfinite(s)] for s in samples]
    lo, hi = _finite_range(samples)
    edges = np.linspace(lo, hi, bins + 1) if hi > lo else np.linspace(lo - 0.5, hi + 0.5, bins + 1)
    counts = [np.histogram(s, bins=edges)[0] for s in samples]
    top = max([c.max() for c in counts if c.size] + [1])
    # Room around the bins: the outermost ones would otherwise lie on the frame and look cut off.
    side = 0.04 * (edges[-1] - edges[0])
    frame = Frame(width, height, (edges[0] - side, edges[-1] + side), (-0.03 * top, top * 1.05), title=title,
                  xlabel=xlabel, ylabel=ylabel, margin=(28, LEGEND_WIDTH if labels else 12, 34, 52))
    body = []
    for i, c in enumerate(counts):
        body.append(_step_outline(frame, edges, c, color(i)))
    outside = [legend(frame, labels, [color(i) for i in range(len(labels))])] if labels else []
    return frame.svg(body, outside), (counts, edges)


def _step_outline(frame, edges, counts, stroke):
    """One histogram as a closed skyline: from 0 up and over the bins it occupies, back to 0."""
    occupied = np.flatnonzero(counts)
    if occupied.size == 0:
        return ""
    a, b = occupied[0], occupied[-1] + 1
    xs = np.repeat(edges[a:b + 1], 2)
    ys = np.concatenate([[0], np.repeat(counts[a:b], 2), [0]])
    return polyline(frame, xs, ys, stroke, width=1.4)


def row(*parts):
    """Place SVG strings side by side (wrapping on narrow screens)."""
    return "<div style='display:flex;flex-wrap:wrap;gap:6px'>" + "".join(parts) + "</div>"


# --- paths over a 2-D surface (the optimizer race, the Adam explorer) ---------------------------
@functools.lru_cache(maxsize=8)
def contour_background(surface, pixels=300):
    """The surface's filled contours as a base64 PNG covering exactly xlim × ylim (cached)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure

    X, Y, Z = surface.grid(200)
    fig = Figure(figsize=(pixels / 100, pixels / 100), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_axis_off()
    if surface.log_contours:
        Z = Z - Z.min() + 1e-3
        levels = np.logspace(np.log10(Z.min()), np.log10(Z.max()), 25)
        ax.contourf(X, Y, Z, levels=levels, norm=LogNorm(), cmap="viridis", alpha=0.85)
        ax.contour(X, Y, Z, levels=levels, norm=LogNorm(), colors="white", linewidths=0.3, alpha=0.6)
    else:
        ax.contourf(X, Y, Z, levels=25, cmap="viridis", alpha=0.85)
        ax.contour(X, Y, Z, levels=25, colors="white", linewidths=0.3, alpha=0.6)
    ax.set_xlim(*surface.xlim)
    ax.set_ylim(*surface.ylim)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def arrow(frame, point, direction, colour, marker, dash=None, length=28):
    """An arrow of fixed on-screen length from ``point`` along ``direction`` (data units)."""
    if point is None or direction is None:
        return ""
    x0, y0 = float(frame.x(point[0])), float(frame.y(point[1]))
    dx = float(frame.x(point[0] + direction[0])) - x0
    dy = float(frame.y(point[1] + direction[1])) - y0
    norm = np.hypot(dx, dy)
    if not np.isfinite(norm) or norm == 0:
        return ""
    x1, y1 = x0 + length * dx / norm, y0 + length * dy / norm
    style = f" stroke-dasharray='{dash}'" if dash else ""
    return (f"<line x1='{x0:.1f}' y1='{y0:.1f}' x2='{x1:.1f}' y2='{y1:.1f}' "
            f"stroke='{colour}' stroke-width='2'{style} marker-end='url(#{marker})'/>")


def path_overlay(surface, paths, *, arrows=None, title="", width=420, height=320, animate_seconds=None):
    """SVG: contours of ``surface`` with ``paths = {name: points (T, 2)}`` drawn over them.

    ``arrows = {name: (point, descent_direction, velocity_direction)}``. With
    ``animate_seconds``, each path also gets a dot that walks it, one step per frame.
    """
    frame = Frame(width, height, surface.xlim, surface.ylim, title=title, xlabel="x", ylabel="y",
                      margin=(28, LEGEND_WIDTH, 34, 52))
    arrowhead = unique_id("arrow")
    left, top = frame.left, frame.top
    w, h = width - frame.left - frame.right, height - frame.top - frame.bottom
    body = [f"<defs><marker id='{arrowhead}' markerWidth='6' markerHeight='6' refX='5' refY='3' "
            f"orient='auto'>"
            f"<path d='M0,0 L6,3 L0,6 z' fill='black'/></marker></defs>",
            f"<image href='data:image/png;base64,{contour_background(surface)}' x='{left}' y='{top}' "
            f"width='{w}' height='{h}' preserveAspectRatio='none'/>"]
    mx, my = float(frame.x(surface.minimum[0])), float(frame.y(surface.minimum[1]))
    body.append(f"<text x='{mx:.1f}' y='{my + 4:.1f}' font-size='14' text-anchor='middle' "
                f"fill='white'>★</text>")
    for i, (name, points) in enumerate(paths.items()):
        c = color(i)
        body.append(polyline(frame, points[:, 0], points[:, 1], c, width=1.8, path=True))
        if animate_seconds and len(points) > 1:
            px, py = frame.x(points[:, 0]), frame.y(points[:, 1])
            ok = np.isfinite(px) & np.isfinite(py)
            px, py = np.clip(px[ok], -1e4, 1e4), np.clip(py[ok], -1e4, 1e4)
            cx_values = ";".join(f"{v:.1f}" for v in px)
            cy_values = ";".join(f"{v:.1f}" for v in py)
            body.append(f"<circle r='4' fill='{c}' stroke='white'>"
                        f"<animate attributeName='cx' values='{cx_values}' dur='{animate_seconds}s' "
                        f"repeatCount='indefinite'/>"
                        f"<animate attributeName='cy' values='{cy_values}' dur='{animate_seconds}s' "
                        f"repeatCount='indefinite'/></circle>")
        else:
            cx, cy = float(frame.x(points[-1, 0])), float(frame.y(points[-1, 1]))
            body.append(f"<circle cx='{cx:.1f}' cy='{cy:.1f}' r='4' fill='{c}' stroke='white'/>")
        if arrows and name in arrows:
            point, descent, velocity = arrows[name]
            body.append(arrow(frame, point, descent, c, arrowhead))
            body.append(arrow(frame, point, velocity, c, arrowhead, dash="4,2"))
    return frame.svg(body, [legend(frame, list(paths), [color(i) for i in range(len(paths))])])
