"""Hand layout in inches: heatmap panels with token labels, rows and grids of panels, colour bars.

Matplotlib's constrained layout measures every text several times and made building a figure three times
slower, so every figure of the course (static and explorer) is placed here: ``_Row`` lays panels out left to
right, ``_head_grid`` one panel per head, and each reserves room for labels, titles and colour bars from
measured text widths. Also the input checks that every figure shares (``_as_array``, ``_check_labels``).

>>> fig = Figure()
>>> row = _Row(1.8)
>>> row.panel(1.8, labels=list("我想吃"), title="weights", ylabel=True, colorbar=True)
>>> (ax,) = row.place(fig)
>>> bool(fig.get_size_inches()[0] > 1.8)  # the panel plus room for its labels and colour bar
True
"""

import math
from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colorbar import Colorbar
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.transforms import ScaledTranslation

from mha_lib.viz import style
from mha_lib.viz.fonts import _text_width
from mha_lib.viz.raster import BitmapLabels, CellImage, ColourBar

COLORBAR_LABEL_PAD = 4  # points between a colour bar's numbers and its label: matplotlib's axes.labelpad


def _as_array(x: object, name: str, ndim: int) -> np.ndarray:
    """Any tensor/array-like → float or bool numpy array with ``ndim`` axes (detached, on the CPU)."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} axes, got shape {arr.shape}")
    return arr


def _check_labels(shape: tuple[int, ...], row_labels: Sequence[str], col_labels: Sequence[str], name: str) -> None:
    if len(row_labels) != shape[-2] or len(col_labels) != shape[-1]:
        raise ValueError(
            f"{name} has shape {shape} (.., q_len={shape[-2]}, k_len={shape[-1]}) but got {len(row_labels)} row "
            f"labels and {len(col_labels)} column labels; pass one label per query row and per key column"
        )


def _masked(weights: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """Weights with blocked cells (mask False) hidden, so the colour map shows them in grey."""
    if mask is None or mask.all():
        return weights  # a plain array: matplotlib resamples a masked one twice (values and mask)
    return np.ma.masked_array(weights, mask=~np.broadcast_to(mask, weights.shape))


def _tick_positions(count: int) -> tuple[range, float]:
    """Which labels of a ``count``-long axis to show (every k-th beyond 16) and at which font size."""
    positions = range(0, count, max(1, math.ceil(count / 16)))
    return positions, style.FONT_SIZE if len(positions) <= 10 else style.SMALL_FONT_SIZE


def _token_labels(
    ax: Axes,
    row_labels: Sequence[str] | None,
    col_labels: Sequence[str] | None,
    *,
    xlabel: str | None = None,
    ylabel: str | None = None,
    bitmaps: bool = False,
) -> None:
    """Token names left of the rows and under the columns (None: that axis keeps its ticks), then the axis
    labels ("query", "key") just outside them. ``bitmaps=True`` (explorer figures) draws the token names as
    ``BitmapLabels``; otherwise they are ``Text`` artists, which tight and constrained layouts can measure.

    Plain texts instead of axis ticks: a matplotlib tick costs about ten times more to create and draw than
    a text, and an explorer figure holds up to a hundred token labels.
    """
    inches, pad = ax.figure.dpi_scale_trans, style.LABEL_PAD  # points
    sides = []  # (labels, transform, anchor of label i, ha, va)
    if col_labels is not None:
        ax.set_xticks([])
        below = ax.get_xaxis_transform() + ScaledTranslation(0, -pad / 72, inches)  # x: data, y: axes
        sides.append((col_labels, below, lambda i: (i, 0), "center", "top"))
    if row_labels is not None:
        ax.set_yticks([])
        left = ax.get_yaxis_transform() + ScaledTranslation(-pad / 72, 0, inches)  # x: axes, y: data
        sides.append((row_labels, left, lambda i: (0, i), "right", "center"))
    for labels, transform, anchor, ha, va in sides:
        positions, size = _tick_positions(len(labels))
        if bitmaps:
            texts, anchors = [labels[i] for i in positions], [anchor(i) for i in positions]
            ax.add_artist(BitmapLabels(texts, anchors, transform, size=size, ha=ha, va=va))
        else:
            for i in positions:
                ax.text(*anchor(i), labels[i], transform=transform, ha=ha, va=va, fontsize=size)
    if xlabel is not None:
        xpad = pad + (1.4 * _tick_positions(len(col_labels))[1] if col_labels is not None else 0.0)
        _axis_label(ax, xlabel, "x", xpad, bitmaps=bitmaps)
    if ylabel is not None:
        ypad = 2 * pad + (72 * _label_width(row_labels) if row_labels is not None else 0.0)
        _axis_label(ax, ylabel, "y", ypad, bitmaps=bitmaps)


def _axis_label(ax: Axes, text: str, axis: str, pad: float, *, bitmaps: bool = False) -> None:
    """An axis label ``pad`` points outside ``ax``: under it for ``axis="x"``, left of it reading upwards for
    "y", where ``set_xlabel``/``set_ylabel`` put it on an axes without ticks. ``bitmaps=True`` draws it as a
    ``BitmapLabels`` of ``ax``, so that a heatmap needs no axis drawn at all (``_heatmap``)."""
    if not bitmaps:
        set_label = ax.set_xlabel if axis == "x" else ax.set_ylabel
        set_label(text, fontsize=style.FONT_SIZE, labelpad=pad)
        return
    if axis == "x":  # the middle of the bottom edge (axes fractions), moved down by the pad
        anchor, shift, rotation, ha, va = (0.5, 0.0), (0.0, -pad), 0, "center", "top"
    else:  # the middle of the left edge, moved left
        anchor, shift, rotation, ha, va = (0.0, 0.5), (-pad, 0.0), 90, "right", "center"
    where = ax.transAxes + ScaledTranslation(shift[0] / 72, shift[1] / 72, ax.figure.dpi_scale_trans)
    ax.add_artist(BitmapLabels([text], [anchor], where, rotation=rotation, ha=ha, va=va))


def _heatmap(
    ax: Axes,
    data: np.ndarray,
    row_labels: Sequence[str] | None,
    col_labels: Sequence[str] | None,
    *,
    cmap: object = None,
    vmin: float = 0.0,
    vmax: float = 1.0,
    aspect: str = "equal",
    xlabel: str | None = None,
    ylabel: str | None = None,
    bitmaps: bool = False,
) -> AxesImage:
    """An image of ``data`` (weights colour map unless ``cmap``) with token labels on the axes given labels,
    no ticks and no frame; ``bitmaps`` as for ``_token_labels``."""
    norm, border = Normalize(vmin, vmax), style.CELL_BORDER_PX
    im = CellImage(ax, cmap=cmap or style._weights_cmap(), norm=norm, interpolation="nearest", border=border)
    im.set_data(data)
    im.set_clip_path(ax.patch)
    ax.add_image(im)
    im.set_extent(im.get_extent())  # cells centred on integer coordinates; sets the axes limits, as imshow does
    ax.set_aspect(aspect)
    ax.set_xticks([])
    ax.set_yticks([])
    _token_labels(ax, row_labels, col_labels, xlabel=xlabel, ylabel=ylabel, bitmaps=bitmaps)
    ax.spines[:].set_visible(False)  # the image is its own frame (and a blitted image would cover the spines)
    if bitmaps:
        ax.axison = False  # every label is a bitmap of its own: drawing the empty axes cost ~5 ms per panel
    return im


def _token_inches(rows: int, cols: int, largest: float) -> float:
    """Side of one heatmap cell: 0.3 in, shrunk so that the longer side of the panel fits in ``largest``."""
    return min(0.3, largest / max(rows, cols))


def _label_width(labels: Sequence[str]) -> float:
    """Inches taken by the widest token label that ``_token_labels`` shows for ``labels``."""
    positions, size = _tick_positions(len(labels))
    return _text_width([labels[i] for i in positions], size)


def _label_margin(labels: Sequence[str] | None, axis_label: bool) -> float:
    """Inches left of a panel for its token labels and, if ``axis_label``, the axis label ("query")."""
    if labels is None:
        return 0.1
    return (style.LINE if axis_label else 0.0) + _label_width(labels) + 2 * style.LABEL_PAD / 72


def _colorbar_width(label: str | None) -> float:
    """Inches right of a panel taken by a colour bar: gap, bar, tick labels and the optional bar label."""
    numbers = _text_width(["-0.00"], style.SMALL_FONT_SIZE)
    return 0.12 + style.CBAR_WIDTH + numbers + 0.1 + (style.LINE if label else 0.0)


def _add_axes(fig: Figure, left: float, bottom: float, width: float, height: float) -> Axes:
    """An axes at a rectangle given in inches from the figure's lower-left corner."""
    fig_width, fig_height = fig.get_size_inches()
    return fig.add_axes((left / fig_width, bottom / fig_height, width / fig_width, height / fig_height))


def _colorbar(
    fig: Figure,
    image: ScalarMappable,
    x: float,
    y: float,
    height: float,
    *,
    label: str | None = None,
    ticks: Sequence[float] | None = None,
    tick_labels: Sequence[str] | None = None,
    bitmaps: bool = False,
) -> Colorbar | ColourBar:
    """A colour bar for ``image`` with its lower-left corner at (x, y) inches (room from ``_colorbar_width``).

    ``ticks`` default to the ends and the middle of the scale: fewer numbers to draw than matplotlib's six.
    ``bitmaps=True`` (explorer figures) draws a ``ColourBar`` with its numbers as ``BitmapLabels`` (in its
    ``numbers``) instead of building an Axes; otherwise it is matplotlib's ``Colorbar``.
    """
    low, high = image.get_clim()
    ticks = [low, (low + high) / 2, high] if ticks is None else list(ticks)
    if not bitmaps:
        bar = fig.colorbar(image, cax=_add_axes(fig, x, y, style.CBAR_WIDTH, height))
        bar.set_ticks(ticks, labels=tick_labels)
        bar.ax.tick_params(labelsize=style.SMALL_FONT_SIZE)
        if label:
            bar.set_label(label, fontsize=style.SMALL_FONT_SIZE)
        return bar
    bar = fig.add_artist(ColourBar(fig, image, (x, y, style.CBAR_WIDTH, height), ticks=ticks))
    texts = _tick_texts(ticks) if tick_labels is None else list(tick_labels)
    beside = bar.value_transform + ScaledTranslation(2 * ColourBar.TICK_POINTS / 72, 0, fig.dpi_scale_trans)
    numbers = BitmapLabels(texts, [(1.0, t) for t in ticks], beside, size=style.SMALL_FONT_SIZE, ha="left")
    bar.numbers = fig.add_artist(numbers)
    if label:
        numbers_end = 2 * ColourBar.TICK_POINTS / 72 + _text_width(texts, style.SMALL_FONT_SIZE)  # inches
        label_x = x + style.CBAR_WIDTH + numbers_end + COLORBAR_LABEL_PAD / 72
        where = [(label_x, y + height / 2)]
        fig.add_artist(
            BitmapLabels([label], where, fig.dpi_scale_trans, size=style.SMALL_FONT_SIZE, rotation=90, ha="left")
        )
    return bar


def _tick_texts(ticks: Sequence[float]) -> list[str]:
    """Tick numbers with as many decimals as the most precise one needs, as matplotlib writes them.

    >>> _tick_texts([0.0, 0.5, 1.0])
    ['0.0', '0.5', '1.0']
    """
    decimals = max(next(d for d in range(7) if abs(round(t, d) - t) < 1e-9 or d == 6) for t in ticks)
    return [f"{t:.{decimals}f}" for t in ticks]


def _colorbar_beside(fig: Figure, image: ScalarMappable, ax: Axes, **options: object) -> Colorbar | ColourBar:
    """An unlabelled colour bar just right of ``ax`` and as tall as it; ``options`` as for ``_colorbar``."""
    left, bottom, width, height = ax.get_position().bounds
    fig_width, fig_height = fig.get_size_inches()
    return _colorbar(fig, image, (left + width) * fig_width + 0.12, bottom * fig_height, height * fig_height, **options)


class _Row:
    """A row of panels laid out left to right in inches, all of one height, each with room for its y tick
    labels, a title and optionally a colour bar. ``place(fig)`` sizes the figure and adds the axes.
    """

    def __init__(self, height: float) -> None:
        self.height = height
        self.right = 0.0  # inches used so far
        self.panels: list[tuple[float, float]] = []  # (x, width) in inches

    def panel(
        self, width: float, *, labels: Sequence[str] | None, title: str, ylabel: bool = False, colorbar: bool = False
    ) -> None:
        """Reserve a panel ``width`` inches wide with room for its y tick ``labels``, ``title`` and colour bar."""
        room = max(width, _text_width([title]) + 0.1)  # a title wider than its panel takes room on both sides
        x = self.right + _label_margin(labels, ylabel) + (room - width) / 2
        self.panels.append((x, width))
        self.right = x + width + (room - width) / 2 + (_colorbar_width(None) if colorbar else 0.0) + style.GAP

    def place(self, fig: Figure) -> list[Axes]:
        bottom = 2 * style.LINE + 0.05  # x tick labels and the axis label ("key")
        fig.set_size_inches(self.right, bottom + self.height + 1.5 * style.LINE)
        return [_add_axes(fig, x, bottom, width, self.height) for x, width in self.panels]


def _head_titles(num_heads: int, entropies: Sequence[float] | None) -> list[str]:
    if entropies is None:
        return [f"head {h}" for h in range(num_heads)]
    return [f"head {h}  entropy {e:.2f}" for h, e in enumerate(entropies)]


def _head_grid(
    fig: Figure,
    num_heads: int,
    ncols: int,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    *,
    widest_title: str = "head 00  entropy 0.00",
    bitmaps: bool = False,
) -> tuple[list[Axes], list[AxesImage]]:
    """Size ``fig`` and fill it with a grid of empty 0..1 heatmaps sharing one colour bar.

    Token labels go on the outer panels only: rows on the first column, columns under the last panel of
    each column. Every panel gets room above it for a title as wide as ``widest_title``.
    """
    ncols = min(ncols, num_heads)
    nrows = math.ceil(num_heads / ncols)
    side = _token_inches(len(row_labels), len(col_labels), largest=3.2 if nrows == 1 else 2.6)
    width, height = side * len(col_labels), side * len(row_labels)
    room = max(width, _text_width([widest_title]) + 0.1)  # horizontal space per panel
    left, bottom = _label_margin(row_labels, True), 2 * style.LINE + 0.05
    pitch_y = height + 1.2 * style.LINE + 0.1  # a panel and its title
    grid_right = left + ncols * room + (ncols - 1) * style.GAP
    fig.set_size_inches(grid_right + _colorbar_width("attention weight") + 0.1, bottom + nrows * pitch_y - 0.05)
    blank = np.zeros((len(row_labels), len(col_labels)))
    axes, images = [], []
    for h in range(num_heads):
        row, col = divmod(h, ncols)
        x = left + col * (room + style.GAP) + (room - width) / 2
        y = bottom + (nrows - 1 - row) * pitch_y
        ax = _add_axes(fig, x, y, width, height)
        last_in_column = h + ncols >= num_heads
        rows = (row_labels, "query") if col == 0 else (None, None)
        cols = (col_labels, "key") if last_in_column else (None, None)
        images.append(_heatmap(ax, blank, rows[0], cols[0], xlabel=cols[1], ylabel=rows[1], bitmaps=bitmaps))
        axes.append(ax)
    bar_height = (nrows - 1) * pitch_y + height
    _colorbar(fig, images[0], grid_right + 0.12, bottom, bar_height, label="attention weight", bitmaps=bitmaps)
    return axes, images
