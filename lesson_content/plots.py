"""Small matplotlib figures for pages 5-8, readable in Streamlit's light and dark themes.

Each function returns a Figure with a transparent background and text in the theme's colour; pages
call `st.pyplot(fig)` and close it. Importing this module draws nothing. Imports no Streamlit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

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
    low, high = image.get_clim()
    for (r, c), value in np.ndenumerate(m):
        level = (value - low) / (high - low) if high > low else 0.0
        ax.text(c, r, fmt.format(value), ha="center", va="center", fontsize=7,
                color="black" if level > 0.6 else "white")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig
