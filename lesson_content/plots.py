"""Small matplotlib figures for pages 5-8, readable in Streamlit's light and dark themes.

Each function returns a Figure with a transparent background and text in the theme's colour. Pages show
`png(builder, *args, **kwargs)` with `st.image`: the PNG of `builder(*args, **kwargs)`, drawn once per
distinct arguments and process (a rerun with the same numbers reuses it; matplotlib's savefig was a third
of the Loss page's run time) and the figure closed. Importing this module draws nothing. Imports no Streamlit.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence

import numpy as np

LIGHT_TEXT, DARK_TEXT = "#31333F", "#FAFAFA"  # Streamlit's own text colours
LIGHT_GRID, DARK_GRID = "#D5D7DE", "#3A3D4A"
# Line colours distinguishable on white and on near-black, and for common colour-vision deficiencies.
SERIES = ("#4C9BE8", "#F28E2B", "#59A14F", "#E15759", "#B07AA1", "#EDC948")


def _figure(width: float, height: float, dark: bool):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    text = DARK_TEXT if dark else LIGHT_TEXT
    fig, ax = plt.subplots(figsize=(width, height), dpi=110)
    fig.patch.set_alpha(0.0)
    ax.set_facecolor("none")
    for spine in ax.spines.values():
        spine.set_color(DARK_GRID if dark else LIGHT_GRID)
    ax.tick_params(colors=text, labelsize=9)
    ax.xaxis.label.set_color(text)
    ax.yaxis.label.set_color(text)
    ax.title.set_color(text)
    return fig, ax, text


def line_plot(x: np.ndarray, series: Mapping[str, np.ndarray], *, xlabel: str, ylabel: str, title: str = "",
              dark: bool = False, ylim: tuple[float, float] | None = None, logy: bool = False,
              markers: Sequence[tuple[float, float, str]] = (), width: float = 5.2, height: float = 3.0,
              legend_loc: str = "best",
              styles: Mapping[str, str] | None = None, spans: Sequence[tuple[float, float, str]] = ()):
    """Several curves over one x axis; markers: (x, y, label) points drawn on top; spans: (x0, x1, label)
    shaded bands (e.g. the frames where an object is hidden)."""
    fig, ax, text = _figure(width, height, dark)
    for n, (x0, x1, label) in enumerate(spans):
        ax.axvspan(x0, x1, color=DARK_GRID if dark else LIGHT_GRID, alpha=0.6, label=label if n == 0 else None)
    for i, (name, values) in enumerate(series.items()):
        ax.plot(x, values, label=name, color=SERIES[i % len(SERIES)], linewidth=1.8,
                linestyle=(styles or {}).get(name, "-"))
    for mx, my, label in markers:
        ax.plot([mx], [my], "o", color=text, markersize=5)
        ax.annotate(label, (mx, my), textcoords="offset points", xytext=(6, 6), color=text, fontsize=9)
    if logy:
        ax.set_yscale("log")
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_xlabel(xlabel, fontsize=10)
    ax.set_ylabel(ylabel, fontsize=10)
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(True, color=DARK_GRID if dark else LIGHT_GRID, linewidth=0.6)
    legend = ax.legend(fontsize=8.5, frameon=False, loc=legend_loc)
    for label in legend.get_texts():
        label.set_color(text)
    fig.tight_layout()
    return fig


def matrix_plot(matrix: np.ndarray, row_labels: Sequence[str], col_labels: Sequence[str], *, title: str = "",
                dark: bool = False, fmt: str = "{:.2f}", cmap: str = "viridis", width: float = 4.2,
                height: float = 3.4, vmin: float | None = None, vmax: float | None = None):
    """A small labelled heat matrix with its values written in the cells (attention weights, IoU tables)."""
    fig, ax, text = _figure(width, height, dark)
    m = np.asarray(matrix, dtype=float)
    image = ax.imshow(m, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    ax.set_xticks(range(len(col_labels)), col_labels, rotation=35, ha="right", fontsize=7)
    ax.set_yticks(range(len(row_labels)), row_labels, fontsize=7)
    for (r, c), value in np.ndenumerate(m):
        red, green, blue, _ = image.to_rgba(value)  # the cell's own colour, whatever the colour map
        light_cell = 0.2126 * red + 0.7152 * green + 0.0722 * blue > 0.5  # relative luminance
        ax.text(c, r, fmt.format(value), ha="center", va="center", fontsize=7,
                color="black" if light_cell else "white")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


_PNG_CACHE: OrderedDict[str, bytes] = OrderedDict()
_PNG_CACHE_SIZE = 128  # figures of ~30-80 KB each
_PNG_LOCK = threading.Lock()  # Streamlit runs each session's script in its own thread


def png(builder: Callable[..., object], *args, **kwargs) -> bytes:
    """PNG bytes of the Figure `builder(*args, **kwargs)` returns (200 dpi, tight box, as st.pyplot draws).

    Cached by the arguments' content (arrays included, through pickle), least recently used out first;
    the figure is closed after drawing, so none piles up in matplotlib's figure manager."""
    key = hashlib.sha1(pickle.dumps((builder.__module__, builder.__qualname__, args, sorted(kwargs.items())))).hexdigest()
    with _PNG_LOCK:
        if key in _PNG_CACHE:
            _PNG_CACHE.move_to_end(key)
            return _PNG_CACHE[key]
    import matplotlib.pyplot as plt

    fig = builder(*args, **kwargs)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=200, bbox_inches="tight")
    plt.close(fig)
    data = buffer.getvalue()
    with _PNG_LOCK:
        _PNG_CACHE[key] = data
        while len(_PNG_CACHE) > _PNG_CACHE_SIZE:
            _PNG_CACHE.popitem(last=False)
    return data
