"""Static figures for notebook cells: one heatmap, one mask, all heads side by side (end with ``plt.show()``).

Given no ``ax``, each function makes a pyplot figure laid out by hand like the explorer figures (``layout``);
given a caller's ``ax``, it draws into it and leaves the layout of that figure to the caller.
"""

from collections.abc import Sequence
from typing import Annotated

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from mha_lib.viz import style
from mha_lib.viz.layout import (
    _as_array,
    _check_labels,
    _colorbar_beside,
    _head_grid,
    _head_titles,
    _heatmap,
    _masked,
    _Row,
    _token_inches,
)


def _panel_figure(shape: tuple[int, int], row_labels: Sequence[str], title: str | None, colorbar: bool) -> Axes:
    """The axes of a new pyplot figure sized for one (rows, cols) heatmap with its labels, title and colour bar."""
    side = _token_inches(*shape, largest=4.0)  # inches per cell, as in the explorers
    row = _Row(side * shape[0])
    row.panel(side * shape[1], labels=row_labels, title=title or "", ylabel=True, colorbar=colorbar)
    (ax,) = row.place(plt.figure())
    return ax


def plot_heatmap(
    weights: Annotated[object, "q_len k_len"],
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    *,
    ax: Axes | None = None,
    title: str | None = None,
    vmin: float = 0.0,
    vmax: float = 1.0,
    mask: Annotated[object, "q_len k_len"] | None = None,
    cmap: str | None = None,
    colorbar: bool = True,
) -> Figure:
    """One (Tq, Tk) heatmap: rows are queries, columns are keys; blocked cells (``mask`` False) in grey.

    >>> fig = plot_heatmap([[0.25, 0.75], [1.0, 0.0]], ["我", "想"], ["我", "想"], title="weights")
    >>> fig.axes[0].get_title()
    'weights'
    >>> plt.close(fig)
    """
    data = _as_array(weights, "weights", 2)
    _check_labels(data.shape, row_labels, col_labels, "weights")
    mask_arr = None if mask is None else _as_array(mask, "mask", 2).astype(bool)
    own = ax is None
    if own:
        ax = _panel_figure(data.shape, row_labels, title, colorbar)
    im = _heatmap(
        ax,
        _masked(data, mask_arr),
        row_labels,
        col_labels,
        cmap=cmap,
        vmin=vmin,
        vmax=vmax,
        xlabel="key",
        ylabel="query",
    )
    if title is not None:
        ax.set_title(title, fontsize=style.FONT_SIZE)
    if colorbar and own:
        _colorbar_beside(ax.figure, im, ax)  # in the room the hand layout left for it
    elif colorbar:
        ax.figure.colorbar(im, ax=ax, shrink=0.8)  # taken from the caller's axes, whatever their layout
    return ax.figure


def plot_heads(
    weights: Annotated[object, "heads q_len k_len"],
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    *,
    entropies: Sequence[float] | None = None,
    mask: Annotated[object, "q_len k_len"] | None = None,
    ncols: int = 4,
    vmin: float = 0.0,
    vmax: float = 1.0,
) -> Figure:
    """All heads side by side on ONE shared colour scale (one colour bar), per-head entropy in the titles.

    >>> import numpy as np
    >>> fig = plot_heads(np.full((2, 3, 3), 1 / 3), list("我想吃"), list("我想吃"), entropies=[1.1, 1.1])
    >>> [ax.get_title() for ax in fig.axes[:2]]
    ['head 0  entropy 1.10', 'head 1  entropy 1.10']
    >>> plt.close(fig)
    """
    data = _as_array(weights, "weights", 3)
    _check_labels(data.shape, row_labels, col_labels, "weights")
    num_heads = data.shape[0]
    if entropies is not None and len(entropies) != num_heads:
        raise ValueError(f"got {len(entropies)} entropies for {num_heads} heads; pass one per head")
    fig = plt.figure()
    mask_arr = None if mask is None else _as_array(mask, "mask", 2).astype(bool)
    titles = _head_titles(num_heads, entropies)
    axes, images = _head_grid(fig, num_heads, ncols, row_labels, col_labels, widest_title=max(titles, key=len))
    for ax, im, w, title in zip(axes, images, data, titles):
        im.set_data(_masked(w, mask_arr))
        im.set_clim(vmin, vmax)
        ax.set_title(title, fontsize=style.FONT_SIZE, y=1.0)
    return fig


def plot_mask(
    mask: Annotated[object, "q_len k_len"],
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    *,
    ax: Axes | None = None,
    title: str | None = "mask (blue = may attend, grey = blocked)",
) -> Figure:
    """A bool mask, True = may attend (blue), False = blocked (grey).

    >>> fig = plot_mask([[True, False], [True, True]], ["我", "想"], ["我", "想"])
    >>> fig.axes[0].get_ylabel()
    'query'
    >>> plt.close(fig)
    """
    data = _as_array(mask, "mask", 2).astype(bool)
    _check_labels(data.shape, row_labels, col_labels, "mask")
    if ax is None:
        ax = _panel_figure(data.shape, row_labels, title, colorbar=False)
    _heatmap(ax, data.astype(float), row_labels, col_labels, cmap=style._mask_cmap(), xlabel="key", ylabel="query")
    if title is not None:
        ax.set_title(title, fontsize=style.FONT_SIZE)
    return ax.figure
