"""Drawing attention with matplotlib: static figures for the notebooks, fast persistent figures for explorers.

Nothing here computes attention: every function takes weights, masks and entropies computed elsewhere.
Importing this module registers the OFL font Noto Sans CJK SC (PyPI package ``noto-cjk-sans-otc``), so
tick labels such as 我想吃酸菜鱼 draw as real glyphs instead of empty boxes.

Two kinds of figure:

- ``plot_heatmap``, ``plot_heads``, ``plot_mask``: pyplot figures for a notebook cell (end it with ``plt.show()``).
- ``LiveFigure`` subclasses (``HeadsFigure``, ``MaskingFigure``, ``ScalingFigure``, ``QKVFigure``): an Agg figure
  that persists across updates. ``render(...)`` returns PNG bytes; with ``blit=True`` only the changing artists
  are redrawn over a cached background, with ``blit=False`` the whole figure is rebuilt (the naive way).

Multi-panel figures are laid out by hand in inches (``_Row``, ``_head_grid``): matplotlib's constrained layout
measures every text several times and made building a figure three times slower.
"""

import functools
import io
import math
import struct
import zlib
from collections.abc import Sequence
from importlib.resources import files
from typing import Annotated

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from matplotlib import font_manager
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colorbar import Colorbar
from matplotlib.colors import ListedColormap, Normalize
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.patches import Rectangle
from matplotlib.textpath import text_to_path
from matplotlib.transforms import Bbox, ScaledTranslation, Transform

CJK_FAMILY = "Noto Sans CJK SC"
WEIGHTS_CMAP = "viridis"  # attention weights in [0, 1]
SCORES_CMAP = "RdBu_r"  # scores and values, centred on 0
BLOCKED_COLOR = "#bdbdbd"  # grey = blocked, in mask panels and in weight panels alike
ALLOWED_COLOR = "#3182bd"
DPI = 100
PNG_COMPRESS_LEVEL = 1  # fastest zlib level; heatmaps compress well anyway
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FONT_SIZE = 12  # titles and token labels, readable when projected
SMALL_FONT_SIZE = 10  # colour-bar ticks, crowded token axes
# Hand layout, in inches: one line of 12-pt text with its padding, the gap between panels, a colour bar.
LINE = 0.28
GAP = 0.2
CBAR_WIDTH = 0.15
LABEL_PAD = 4  # points between a heatmap and its token labels
SYMMETRIC_TICKS = (-1.0, -0.5, 0.0, 0.5, 1.0)  # colour-bar ticks of scores and values, as fractions of the limit


def register_cjk_font() -> str:
    """Register Noto Sans CJK SC from the ``noto-cjk-sans-otc`` package and put it first in ``font.sans-serif``.

    Idempotent; returns the path of the registered ``.ttc`` collection.

    >>> register_cjk_font().endswith(".ttc")
    True
    """
    path = next(str(p) for p in files("noto_cjk_sans_otc").iterdir() if p.name.lower().endswith(".ttc"))
    if not any(f.fname == path for f in font_manager.fontManager.ttflist):
        font_manager.fontManager.addfont(path)
    fallback = [name for name in mpl.rcParams["font.sans-serif"] if name not in (CJK_FAMILY, "DejaVu Sans")]
    mpl.rcParams["font.sans-serif"] = [CJK_FAMILY, "DejaVu Sans", *fallback]
    mpl.rcParams["font.family"] = "sans-serif"
    mpl.rcParams["axes.unicode_minus"] = False  # the CJK font has no U+2212 minus sign; use "-"
    return path


register_cjk_font()


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


def _weights_cmap() -> ListedColormap:
    return mpl.colormaps[WEIGHTS_CMAP].with_extremes(bad=BLOCKED_COLOR)


def _mask_cmap() -> ListedColormap:
    return ListedColormap([BLOCKED_COLOR, ALLOWED_COLOR])


def _tick_positions(count: int) -> tuple[range, float]:
    """Which labels of a ``count``-long axis to show (every k-th beyond 16) and at which font size."""
    positions = range(0, count, max(1, math.ceil(count / 16)))
    return positions, FONT_SIZE if len(positions) <= 10 else SMALL_FONT_SIZE


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
    inches = ax.figure.dpi_scale_trans
    sides = []  # (labels, transform, anchor of label i, ha, va)
    if col_labels is not None:
        ax.set_xticks([])
        below = ax.get_xaxis_transform() + ScaledTranslation(0, -LABEL_PAD / 72, inches)  # x: data, y: axes
        sides.append((col_labels, below, lambda i: (i, 0), "center", "top"))
    if row_labels is not None:
        ax.set_yticks([])
        left = ax.get_yaxis_transform() + ScaledTranslation(-LABEL_PAD / 72, 0, inches)  # x: axes, y: data
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
        pad = LABEL_PAD + (1.4 * _tick_positions(len(col_labels))[1] if col_labels is not None else 0.0)
        ax.set_xlabel(xlabel, fontsize=FONT_SIZE, labelpad=pad)
    if ylabel is not None:
        pad = 2 * LABEL_PAD + (72 * _label_width(row_labels) if row_labels is not None else 0.0)
        ax.set_ylabel(ylabel, fontsize=FONT_SIZE, labelpad=pad)


class CellImage(AxesImage):
    """An ``AxesImage`` for heatmaps that colours each cell once and repeats it over its pixels.

    Same pixels as ``imshow(..., interpolation="nearest")``, without its two resampling passes (values, then
    the mask): a masked 16 × 16 heatmap of 270 × 270 pixels took 2–3.5 ms to draw that way, 0.4 ms this way. Vector
    output (``magnification`` ≠ 1 or ``unsampled``) goes the ordinary way.

    >>> fig = Figure(figsize=(1, 1), dpi=10)
    >>> ax = fig.add_axes((0, 0, 1, 1))
    >>> im = ax.add_image(CellImage(ax))
    >>> im.set_data(np.eye(2))
    >>> im.set_extent(im.get_extent())  # the axes now show cells (0, 0) to (1, 1)
    >>> FigureCanvasAgg(fig).draw()
    >>> im.make_image(fig.canvas.get_renderer())[0].shape  # 10 × 10 pixels of RGBA
    (10, 10, 4)
    """

    def make_image(self, renderer, magnification=1.0, unsampled=False):
        if unsampled or magnification != 1.0:
            return super().make_image(renderer, magnification, unsampled)
        extent = self.get_window_extent(renderer)  # display (x, y) of the (left, bottom) and (right, top) corners
        clip = (self.get_clip_box() or self.axes.bbox) if self.get_clip_on() else self.get_figure(root=True).bbox
        box = Bbox.intersection(extent.frozen(), clip)
        if box is None:
            return None, 0, 0, None
        x0, x1 = math.floor(box.xmin + 0.5), math.floor(box.xmax + 0.5 + 1e-8)  # whole pixels, as matplotlib rounds
        y0, y1 = math.ceil(box.ymin - 0.5 - 1e-8), math.ceil(box.ymax - 0.5)
        if x1 <= x0 or y1 <= y0:
            return None, 0, 0, None
        rows, cols = self._A.shape[:2]
        (left, bottom), (right, top) = extent.get_points()
        first, last = (top, bottom) if self.origin == "upper" else (bottom, top)  # where row 0 starts and the last ends
        col = _cell_of(np.arange(x0, x1) + 0.5, left, right, cols)  # the cell under each pixel centre
        row = _cell_of(np.arange(y0, y1) + 0.5, first, last, rows)  # bottom pixel row first, as Agg takes it
        cells = self.to_rgba(self._A, bytes=True)  # (rows, cols, 4) uint8; masked cells get the "bad" colour
        return cells.take(row, axis=0).take(col, axis=1), x0, y0, None


def _cell_of(centres: np.ndarray, start: float, end: float, count: int) -> np.ndarray:
    """Index of the cell (0..count-1, from ``start`` to ``end`` in display units) under each pixel centre.

    A centre exactly on a cell border goes to the lower cell, as in matplotlib's nearest resampling.
    """
    return np.clip(((centres - start) / (end - start) * count - 1e-7).astype(int), 0, count - 1)


class BitmapLabels(Artist):
    """Short texts at fixed anchor points, drawn from bitmaps rendered once per (text, size, alignment, dpi).

    A matplotlib ``Text`` shapes and rasterises its glyphs again on every draw: ~0.5 ms for a two-glyph token
    label with matplotlib 3.11, so a hundred labels cost 50 ms each time an explorer draws a new layout. A
    cached bitmap is blended in ~10 µs, pixel for pixel what ``Text`` draws at a whole-pixel anchor. No
    extent for tight layouts: meant for the hand-laid explorer figures.

    >>> fig = Figure(figsize=(1, 1), dpi=50)
    >>> labels = fig.add_artist(BitmapLabels(["我", "想"], [(0.3, 0.5), (0.7, 0.5)], fig.transFigure))
    >>> FigureCanvasAgg(fig).draw()
    >>> bool((np.asarray(fig.canvas.buffer_rgba())[..., :3] < 128).any())  # dark glyph pixels on white
    True
    """

    def __init__(
        self,
        texts: Sequence[str],
        anchors: Sequence[tuple[float, float]],
        transform: Transform,
        *,
        size: float = FONT_SIZE,
        ha: str = "center",
        va: str = "center",
    ) -> None:
        super().__init__()
        if len(texts) != len(anchors):
            raise ValueError(f"got {len(texts)} texts for {len(anchors)} anchors; pass one anchor per text")
        self.texts, self.anchors = list(texts), np.asarray(anchors, dtype=float).reshape(-1, 2)
        self.size, self.ha, self.va = size, ha, va
        self.set_transform(transform)

    def set_texts(self, texts: Sequence[str]) -> None:
        """Replace the texts, one per anchor (what changes in an animated label)."""
        if len(texts) != len(self.anchors):
            raise ValueError(f"got {len(texts)} texts for {len(self.anchors)} anchors; pass one per anchor")
        self.texts = list(texts)
        self.stale = True

    def draw(self, renderer) -> None:
        if not self.get_visible():
            return
        gc = renderer.new_gc()
        for text, (x, y) in zip(self.texts, self.get_transform().transform(self.anchors)):
            pixels, dx, dy = _text_bitmap(text, self.size, self.ha, self.va, renderer.dpi)
            if pixels is not None:
                renderer.draw_image(gc, round(x) + dx, round(y) + dy, pixels)
        gc.restore()
        self.stale = False


@functools.lru_cache(maxsize=4096)
def _text_bitmap(text: str, size: float, ha: str, va: str, dpi: float) -> tuple[np.ndarray | None, int, int]:
    """``text`` as matplotlib draws it, cropped: (RGBA pixels with the bottom row first, as ``draw_image``
    takes them, or None if nothing is visible; x and y of their lower-left corner relative to the anchor)."""
    em = size / 72 * dpi  # pixels per em; the anchor sits in the middle, so any alignment fits
    width = 2 * math.ceil(_text_width([text], size) * dpi + em)
    height = 2 * math.ceil(2 * em)
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi, facecolor="none")
    anchor_x, anchor_y = width // 2, height // 2  # whole pixels from the left and from the bottom
    fig.text(anchor_x / width, anchor_y / height, text, fontsize=size, ha=ha, va=va)
    FigureCanvasAgg(fig).draw()
    pixels = np.asarray(fig.canvas.buffer_rgba())  # (height, width, 4), top row first
    rows, cols = np.flatnonzero(pixels[..., 3].any(1)), np.flatnonzero(pixels[..., 3].any(0))
    if rows.size == 0:
        return None, 0, 0
    crop = pixels[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1][::-1].copy()
    return crop, int(cols[0]) - anchor_x, int(height - 1 - rows[-1]) - anchor_y


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
    """An image of ``data`` with token labels on the axes given labels, no ticks and no frame; ``bitmaps`` as
    for ``_token_labels``."""
    im = CellImage(ax, cmap=cmap or _weights_cmap(), norm=Normalize(vmin, vmax), interpolation="nearest")
    im.set_data(data)
    im.set_clip_path(ax.patch)
    ax.add_image(im)
    im.set_extent(im.get_extent())  # cells centred on integer coordinates; sets the axes limits, as imshow does
    ax.set_aspect(aspect)
    ax.set_xticks([])
    ax.set_yticks([])
    _token_labels(ax, row_labels, col_labels, xlabel=xlabel, ylabel=ylabel, bitmaps=bitmaps)
    ax.spines[:].set_visible(False)  # the image is its own frame (and a blitted image would cover the spines)
    return im


def _cell_size(rows: int, cols: int, largest: float = 5.5) -> tuple[float, float]:
    """Figure inches for one heatmap panel: 0.3 in per token plus margins, shrunk to fit ``largest``."""
    per_token = min(0.3, (largest - 0.9) / max(rows, cols))
    return max(2.2, 0.9 + per_token * cols), max(2.2, 0.9 + per_token * rows)


def _token_inches(rows: int, cols: int, largest: float) -> float:
    """Side of one heatmap cell: 0.3 in, shrunk so that the longer side of the panel fits in ``largest``."""
    return min(0.3, largest / max(rows, cols))


def _text_width(texts: Sequence[str], size: float = FONT_SIZE) -> float:
    """Inches taken by the widest of ``texts`` at ``size`` points in the course font, measured without drawing."""
    return max((_one_text_width(t, size) for t in texts), default=0.0)


@functools.cache
def _one_text_width(text: str, size: float) -> float:
    prop = font_manager.FontProperties(size=size)
    return text_to_path.get_text_width_height_descent(text, prop, ismath=False)[0] / 72  # points → inches


def _label_width(labels: Sequence[str]) -> float:
    """Inches taken by the widest token label that ``_token_labels`` shows for ``labels``."""
    positions, size = _tick_positions(len(labels))
    return _text_width([labels[i] for i in positions], size)


def _label_margin(labels: Sequence[str] | None, axis_label: bool) -> float:
    """Inches left of a panel for its token labels and, if ``axis_label``, the axis label ("query")."""
    if labels is None:
        return 0.1
    return (LINE if axis_label else 0.0) + _label_width(labels) + 2 * LABEL_PAD / 72


def _colorbar_width(label: str | None) -> float:
    """Inches right of a panel taken by a colour bar: gap, bar, tick labels and the optional bar label."""
    return 0.12 + CBAR_WIDTH + _text_width(["-0.00"], SMALL_FONT_SIZE) + 0.1 + (LINE if label else 0.0)


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
) -> Colorbar:
    """A colour bar for ``image`` with its lower-left corner at (x, y) inches (room from ``_colorbar_width``).

    ``ticks`` default to the ends and the middle of the scale: fewer numbers to draw than matplotlib's six.
    """
    bar = fig.colorbar(image, cax=_add_axes(fig, x, y, CBAR_WIDTH, height))
    low, high = image.get_clim()
    bar.set_ticks([low, (low + high) / 2, high] if ticks is None else ticks, labels=tick_labels)
    bar.ax.tick_params(labelsize=SMALL_FONT_SIZE)
    if label:
        bar.set_label(label, fontsize=SMALL_FONT_SIZE)
    return bar


def _colorbar_beside(fig: Figure, image: ScalarMappable, ax: Axes, **ticks: Sequence) -> Colorbar:
    """An unlabelled colour bar just right of ``ax`` and as tall as it; ``ticks`` as for ``_colorbar``."""
    left, bottom, width, height = ax.get_position().bounds
    fig_width, fig_height = fig.get_size_inches()
    return _colorbar(fig, image, (left + width) * fig_width + 0.12, bottom * fig_height, height * fig_height, **ticks)


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
        self.right = x + width + (room - width) / 2 + (_colorbar_width(None) if colorbar else 0.0) + GAP

    def place(self, fig: Figure) -> list[Axes]:
        bottom = 2 * LINE + 0.05  # x tick labels and the axis label ("key")
        fig.set_size_inches(self.right, bottom + self.height + 1.5 * LINE)
        return [_add_axes(fig, x, bottom, width, self.height) for x, width in self.panels]


def _head_titles(num_heads: int, entropies: Sequence[float] | None) -> list[str]:
    if entropies is None:
        return [f"head {h}" for h in range(num_heads)]
    return [f"head {h}  entropy {e:.2f}" for h, e in enumerate(entropies)]


# ---------------------------------------------------------------------------------------------------------------
# Static figures (pyplot, for notebook cells)


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
    if ax is None:
        _, ax = plt.subplots(figsize=_cell_size(*data.shape), layout="constrained")
    mask_arr = None if mask is None else _as_array(mask, "mask", 2).astype(bool)
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
        ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, shrink=0.8)
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
        ax.set_title(title, fontsize=FONT_SIZE, y=1.0)
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
        _, ax = plt.subplots(figsize=_cell_size(*data.shape), layout="constrained")
    _heatmap(ax, data.astype(float), row_labels, col_labels, cmap=_mask_cmap(), xlabel="key", ylabel="query")
    if title is not None:
        ax.set_title(title)
    return ax.figure


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
    left, bottom = _label_margin(row_labels, True), 2 * LINE + 0.05
    pitch_y = height + 1.2 * LINE + 0.1  # a panel and its title
    grid_right = left + ncols * room + (ncols - 1) * GAP
    fig.set_size_inches(grid_right + _colorbar_width("attention weight") + 0.1, bottom + nrows * pitch_y - 0.05)
    blank = np.zeros((len(row_labels), len(col_labels)))
    axes, images = [], []
    for h in range(num_heads):
        row, col = divmod(h, ncols)
        x = left + col * (room + GAP) + (room - width) / 2
        y = bottom + (nrows - 1 - row) * pitch_y
        ax = _add_axes(fig, x, y, width, height)
        last_in_column = h + ncols >= num_heads
        rows = (row_labels, "query") if col == 0 else (None, None)
        cols = (col_labels, "key") if last_in_column else (None, None)
        images.append(_heatmap(ax, blank, rows[0], cols[0], xlabel=cols[1], ylabel=rows[1], bitmaps=bitmaps))
        axes.append(ax)
    _colorbar(fig, images[0], grid_right + 0.12, bottom, (nrows - 1) * pitch_y + height, label="attention weight")
    return axes, images


# ---------------------------------------------------------------------------------------------------------------
# Persistent figures for the explorers


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def encode_png(fig: Figure) -> bytes:
    """The Agg canvas of ``fig`` as an RGBA PNG, pixel for pixel, without re-rendering.

    Written directly with zlib: every row uses PNG filter "Up" (byte minus the byte above), which turns
    the flat colour blocks of heatmaps into runs of zeros. That is about twice as fast as Pillow, whose
    adaptive per-row filtering dominates the time even at ``compress_level=1``. RGBA, not RGB: dropping
    the alpha channel first costs a strided copy slower than compressing the constant alpha bytes.

    >>> fig = Figure(figsize=(1, 1), dpi=10)
    >>> FigureCanvasAgg(fig).draw()
    >>> encode_png(fig)[:8] == PNG_SIGNATURE
    True
    """
    canvas = fig.canvas
    if not isinstance(canvas, FigureCanvasAgg) or not hasattr(canvas, "renderer"):
        raise TypeError(
            f"encode_png needs a figure already drawn on an Agg canvas, got a {type(canvas).__name__} "
            "that has not been drawn; call FigureCanvasAgg(fig).draw() first"
        )
    pixels = np.asarray(canvas.buffer_rgba())  # (height, width, 4)
    height, width, _ = pixels.shape
    flat = pixels.reshape(height, 4 * width)  # one row of bytes per pixel row
    rows = np.empty((height, 1 + 4 * width), dtype=np.uint8)  # one filter-type byte, then the row
    rows[:, 0] = 2  # filter "Up"; above the first row PNG assumes zeros, so row 0 is stored as is
    rows[0, 1:] = flat[0]
    np.subtract(flat[1:], flat[:-1], out=rows[1:, 1:])  # uint8 arithmetic wraps mod 256, as PNG wants
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8 bits per channel, RGBA, no interlace
    idat = zlib.compress(rows, PNG_COMPRESS_LEVEL)
    return PNG_SIGNATURE + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


class LiveFigure:
    """A figure that persists across updates and renders to PNG bytes.

    Subclasses draw everything in ``_build`` (sizing the figure themselves) and register the artists that
    change with ``_animate``; ``_update(**data)`` only calls ``set_data``/``set_text``/``set_width`` on them.
    With ``blit=True`` the first ``render`` draws the static parts once and caches them with
    ``copy_from_bbox``; later renders restore that background and draw the registered artists only.
    ``blit=False`` rebuilds the figure and calls ``savefig`` on every render (the slow reference path).
    A layout change (sequence length, head count) needs a new object. The figure is a plain ``Figure`` on a
    ``FigureCanvasAgg``: pyplot never sees it, so nothing accumulates in ``plt.get_fignums()``.
    """

    def __init__(self, *, blit: bool = True) -> None:
        self.blit = blit
        self._start()

    def _start(self) -> None:
        self.fig = Figure(dpi=DPI)
        FigureCanvasAgg(self.fig)
        self._dynamic: list[Artist] = []
        self._background = None
        self._build()

    def _animate(self, *artists: Artist) -> None:
        """Mark artists as changing: left out of the cached background, redrawn on every render in this order."""
        for artist in artists:
            artist.set_animated(self.blit)
        self._dynamic.extend(artists)

    def _title(
        self, ax: Axes, text: str = "", *, animated: bool = False, shift: float = 0.0, ha: str = "center"
    ) -> BitmapLabels:
        """A title over ``ax`` where matplotlib puts one (moved right by ``shift`` inches), drawn as a bitmap;
        ``animated`` if it changes."""
        where = ax.title.get_transform() + ScaledTranslation(shift, 0, self.fig.dpi_scale_trans)
        title = BitmapLabels([text], [(0.5, 1.0)], where, ha=ha, va="baseline")
        ax.add_artist(title)
        if animated:
            self._animate(title)
        return title

    def _dynamic_suffix(self, ax: Axes, prefix: str, typical_suffix: str) -> BitmapLabels:
        """A static title ``prefix`` and, right after it, an animated title for the part that changes; the two
        are centred together when the suffix is as wide as ``typical_suffix``."""
        prefix_width, suffix_width = _text_width([prefix]), _text_width([typical_suffix])
        self._title(ax, prefix, shift=-suffix_width / 2)
        return self._title(ax, animated=True, shift=(prefix_width - suffix_width) / 2, ha="left")

    def _symmetric_colorbar(self, image: AxesImage, ax: Axes) -> BitmapLabels:
        """A colour bar beside ``ax`` for ``image``, whose scale ±limit changes on every update (``_set_limit``).

        The bar itself never changes: it is drawn once for ±1 into the cached background, and only its tick
        numbers are animated. Redrawing a real colour bar cost ~15 ms per update.
        """
        scale = ScalarMappable(Normalize(-1.0, 1.0), image.get_cmap())
        blank = [""] * len(SYMMETRIC_TICKS)  # tick marks stay, the numbers are drawn separately
        bar = _colorbar_beside(self.fig, scale, ax, ticks=SYMMETRIC_TICKS, tick_labels=blank)
        right = bar.ax.get_yaxis_transform() + ScaledTranslation(2 * LABEL_PAD / 72, 0, self.fig.dpi_scale_trans)
        anchors = [(1, t) for t in SYMMETRIC_TICKS]
        numbers = BitmapLabels(blank, anchors, right, size=SMALL_FONT_SIZE, ha="left", va="center")
        bar.ax.add_artist(numbers)
        self._animate(numbers)
        return numbers

    def _scores_and_weights(self, ax_scores: Axes, ax_weights: Axes, tokens: Sequence[str]) -> None:
        """The (T, T) scores heatmap (colour bar centred on 0, following the data) and the weights heatmap
        (colour bar 0..1) beside it, rows and columns named by ``tokens``."""
        blank = np.zeros((len(tokens), len(tokens)))
        labels = {"row_labels": tokens, "col_labels": tokens, "xlabel": "key", "bitmaps": True}
        self.scores_image = _heatmap(ax_scores, blank, **labels, cmap=SCORES_CMAP, vmin=-1.0, ylabel="query")
        self.weights_image = _heatmap(ax_weights, blank, **labels)
        self.scores_ticks = self._symmetric_colorbar(self.scores_image, ax_scores)
        _colorbar_beside(self.fig, self.weights_image, ax_weights)

    @staticmethod
    def _set_limit(image: AxesImage, numbers: BitmapLabels, data: np.ndarray) -> None:
        """Centre ``image``'s colour scale on 0 with a limit covering ``data``; rewrite its colour-bar numbers."""
        limit = _symmetric_limit(data)
        image.set_clim(-limit, limit)
        values = [fraction * limit for fraction in SYMMETRIC_TICKS]
        numbers.set_texts([f"{v:.0f}" if abs(v) >= 100 else f"{v:.2g}" for v in values])

    def _build(self) -> None:
        raise NotImplementedError

    def _update(self, **data: object) -> None:
        raise NotImplementedError

    def render(self, **data: object) -> bytes:
        """Apply ``data`` to the changing artists and return the figure as PNG bytes."""
        if not self.blit:
            self._start()
            self._update(**data)
            buffer = io.BytesIO()
            self.fig.savefig(buffer, format="png")
            return buffer.getvalue()
        self._update(**data)
        canvas = self.fig.canvas
        if self._background is None:
            canvas.draw()  # static parts only: animated artists are skipped
            self._background = canvas.copy_from_bbox(self.fig.bbox)
        else:
            canvas.restore_region(self._background)
        for artist in self._dynamic:
            self.fig.draw_artist(artist)
        return encode_png(self.fig)


class HeadsFigure(LiveFigure):
    """One heatmap per head on a shared 0..1 colour scale, entropy in each title; also rectangular (cross).

    >>> fig = HeadsFigure(2, list("我想吃"), list("我想吃"))
    >>> fig.render(weights=np.full((2, 3, 3), 1 / 3), entropies=[1.1, 1.1])[:4]
    b'\\x89PNG'
    """

    def __init__(
        self, num_heads: int, row_labels: Sequence[str], col_labels: Sequence[str], *, ncols: int = 4, blit: bool = True
    ) -> None:
        self.num_heads, self.ncols = num_heads, ncols
        self.row_labels, self.col_labels = list(row_labels), list(col_labels)
        super().__init__(blit=blit)

    def _build(self) -> None:
        self.axes, self.images = _head_grid(
            self.fig, self.num_heads, self.ncols, self.row_labels, self.col_labels, bitmaps=True
        )
        self.entropy_texts = []
        for h, (ax, im) in enumerate(zip(self.axes, self.images)):
            self._animate(im)
            self.entropy_texts.append(self._dynamic_suffix(ax, f"head {h}  entropy", " 0.00"))

    def _update(
        self,
        weights: Annotated[np.ndarray, "heads q_len k_len"],
        entropies: Sequence[float],
        mask: Annotated[np.ndarray, "q_len k_len"] | None = None,
    ) -> None:
        weights = _as_array(weights, "weights", 3)
        expected = (self.num_heads, len(self.row_labels), len(self.col_labels))
        if weights.shape != expected:
            raise ValueError(f"weights shape {weights.shape} does not match this figure's {expected}; build a new one")
        if len(entropies) != self.num_heads:
            raise ValueError(f"got {len(entropies)} entropies for {self.num_heads} heads; pass one per head")
        mask = None if mask is None else _as_array(mask, "mask", 2).astype(bool)
        for im, suffix, w, entropy in zip(self.images, self.entropy_texts, weights, entropies):
            im.set_data(_masked(w, mask))
            suffix.set_texts([f" {entropy:.2f}"])


class MaskingFigure(LiveFigure):
    """The mask (blue = may attend, grey = blocked) beside the weights it produces.

    >>> fig = MaskingFigure(list("我想"))
    >>> fig.render(mask=np.tril(np.ones((2, 2), bool)), weights=np.array([[1.0, 0.0], [0.5, 0.5]]))[:4]
    b'\\x89PNG'
    """

    def __init__(self, labels: Sequence[str], *, blit: bool = True) -> None:
        self.labels = list(labels)
        super().__init__(blit=blit)

    def _build(self) -> None:
        n = len(self.labels)
        side = _token_inches(n, n, largest=4.0) * n
        titles = ("mask: blue = may attend, grey = blocked", "attention weights")
        row = _Row(side)
        row.panel(side, labels=self.labels, title=titles[0], ylabel=True)
        row.panel(side, labels=self.labels, title=titles[1], ylabel=True, colorbar=True)
        ax_mask, ax_weights = row.place(self.fig)
        blank = np.zeros((n, n))
        labels = {
            "row_labels": self.labels,
            "col_labels": self.labels,
            "xlabel": "key",
            "ylabel": "query",
            "bitmaps": True,
        }
        self.mask_image = _heatmap(ax_mask, blank, **labels, cmap=_mask_cmap())
        self.weights_image = _heatmap(ax_weights, blank, **labels)
        for ax, title in zip((ax_mask, ax_weights), titles):
            self._title(ax, title)
        _colorbar_beside(self.fig, self.weights_image, ax_weights)
        self._animate(self.mask_image, self.weights_image)

    def _update(
        self, mask: Annotated[np.ndarray, "q_len k_len"], weights: Annotated[np.ndarray, "q_len k_len"]
    ) -> None:
        mask = _as_array(mask, "mask", 2).astype(bool)
        self.mask_image.set_data(mask.astype(float))
        self.weights_image.set_data(_masked(_as_array(weights, "weights", 2), mask))


def _symmetric_limit(*arrays: np.ndarray) -> float:
    """A colour limit centred on 0 that covers every finite value (1.0 for all-zero data)."""
    values = np.concatenate([np.ravel(a) for a in arrays])
    finite = np.abs(values[np.isfinite(values)])
    return float(finite.max()) if finite.size and finite.max() > 0 else 1.0


class ScalingFigure(LiveFigure):
    """Scores (colour bar follows their range), weights, the largest weight per row and each row's entropy.

    >>> fig = ScalingFigure(list("我想"))
    >>> w = np.array([[0.9, 0.1], [0.5, 0.5]])
    >>> fig.render(scores=np.array([[2.0, 0.0], [1.0, 1.0]]), weights=w, max_weight=w.max(1),
    ...            entropy=np.array([0.33, 0.69]), scores_std=0.8)[:4]
    b'\\x89PNG'
    """

    def __init__(self, labels: Sequence[str], *, blit: bool = True) -> None:
        self.labels = list(labels)
        super().__init__(blit=blit)

    def _build(self) -> None:
        n = len(self.labels)
        side = _token_inches(n, n, largest=4.0) * n
        row = _Row(side)
        row.panel(side, labels=self.labels, title="scores (std 00.00)", ylabel=True, colorbar=True)
        row.panel(side, labels=self.labels, title="weights = softmax(scores)", colorbar=True)
        row.panel(2.0, labels=self.labels, title="largest weight per row")
        row.panel(2.0, labels=self.labels, title="row entropy (- - uniform)")
        ax_scores, ax_weights, ax_max, ax_entropy = row.place(self.fig)
        self._scores_and_weights(ax_scores, ax_weights, self.labels)
        self.scores_title = self._title(ax_scores, animated=True)
        self._title(ax_weights, "weights = softmax(scores)")
        positions = np.arange(n)
        self.max_bars = ax_max.barh(positions, np.zeros(n), color=ALLOWED_COLOR)
        self.entropy_bars = ax_entropy.barh(positions, np.zeros(n), color="#e6550d")
        uniform = math.log(n)  # entropy of uniform attention over n keys
        uniform_line = ax_entropy.axvline(uniform, color="black", linestyle="--", linewidth=1)
        ax_entropy.set_xlim(0, max(uniform, 1e-3) * 1.08)
        self._title(ax_entropy, "row entropy (- - uniform)")
        ax_max.set_xlim(0, 1)
        self._title(ax_max, "largest weight per row")
        for ax in (ax_max, ax_entropy):
            _token_labels(ax, self.labels, None, bitmaps=True)
            ax.set_ylim(n - 0.5, -0.5)  # first token on top, as in the heatmaps
            ax.tick_params(axis="x", labelsize=SMALL_FONT_SIZE, length=3)
        ax_max.set_xticks([0, 0.5, 1])
        ax_entropy.set_xticks([0, uniform], ["0", f"ln {n}"])
        self._animate(self.scores_image, self.weights_image)
        self._animate(*self.max_bars, *self.entropy_bars, uniform_line)  # the line stays on top of the bars
        self._animate(ax_max.spines.left, ax_entropy.spines.left)  # and so do the axes the bars start from

    def _update(
        self,
        scores: Annotated[np.ndarray, "q_len k_len"],
        weights: Annotated[np.ndarray, "q_len k_len"],
        max_weight: Annotated[np.ndarray, "q_len"],
        entropy: Annotated[np.ndarray, "q_len"],
        scores_std: float,
    ) -> None:
        scores = _as_array(scores, "scores", 2)
        self.scores_image.set_data(scores)
        self._set_limit(self.scores_image, self.scores_ticks, scores)
        self.scores_title.set_texts([f"scores (std {scores_std:.2f})"])
        self.weights_image.set_data(_as_array(weights, "weights", 2))
        for bar, value in zip(self.max_bars, _as_array(max_weight, "max_weight", 1)):
            bar.set_width(value)
        for bar, value in zip(self.entropy_bars, _as_array(entropy, "entropy", 1)):
            bar.set_width(value)


class QKVFigure(LiveFigure):
    """Scores and weights with the selected query row outlined, that row's weights as bars, and how the
    weighted rows of V add up to that query's output.

    >>> fig = QKVFigure(list("我想"), d_v=3)
    >>> w = np.array([[0.9, 0.1], [0.5, 0.5]])
    >>> fig.render(scores=np.zeros((2, 2)), weights=w, contributions=w[1, :, None] * np.ones((2, 3)),
    ...            out_row=np.ones(3), query=1)[:4]
    b'\\x89PNG'
    """

    def __init__(self, labels: Sequence[str], d_v: int, *, blit: bool = True) -> None:
        self.labels, self.d_v = list(labels), d_v
        super().__init__(blit=blit)

    def _build(self) -> None:
        n = len(self.labels)
        side = _token_inches(n, n, largest=3.5) * n
        sum_labels = [f"w·v {t}" for t in self.labels] + ["= out"]  # row j: weight_j · v_j; last row: their sum
        feature_labels = [str(i) for i in range(self.d_v)]
        titles = ("scores = QK^T / √d_k", "weights = softmax(scores)")
        row = _Row(side)
        row.panel(side, labels=self.labels, title=titles[0], ylabel=True, colorbar=True)
        row.panel(side, labels=self.labels, title=titles[1], colorbar=True)
        row.panel(max(2.0, 0.3 * n), labels=["0.5"], title="weights of query 00 (我)")
        sum_title = "out[00] = Σ_j w[00, j] · V[j]"
        row.panel(min(5.0, 1.0 + 0.12 * self.d_v), labels=sum_labels, title=sum_title, colorbar=True)
        ax_scores, ax_weights, ax_row, ax_sum = row.place(self.fig)
        self._scores_and_weights(ax_scores, ax_weights, self.labels)
        self._title(ax_scores, titles[0])
        self._title(ax_weights, titles[1])
        self.highlights = []
        for ax in (ax_scores, ax_weights):
            box = Rectangle((-0.5, -0.5), n, 1, fill=False, edgecolor="#e6550d", linewidth=3)
            ax.add_patch(box)
            self.highlights.append(box)
        self.row_bars = ax_row.bar(np.arange(n), np.zeros(n), color=ALLOWED_COLOR)
        ax_row.set_ylim(0, 1)
        ax_row.set_xlim(-0.5, n - 0.5)
        _token_labels(ax_row, None, self.labels, xlabel="key", bitmaps=True)
        ax_row.set_yticks([0, 0.5, 1])
        ax_row.tick_params(axis="y", labelsize=SMALL_FONT_SIZE, length=3)
        self.sum_image = _heatmap(
            ax_sum,
            np.zeros((n + 1, self.d_v)),
            sum_labels,
            feature_labels,
            cmap=SCORES_CMAP,
            vmin=-1.0,
            aspect="auto",
            xlabel="feature of V",
            bitmaps=True,
        )
        separator = ax_sum.axhline(n - 0.5, color="black", linewidth=2)  # between the terms and their sum
        self.sum_ticks = self._symmetric_colorbar(self.sum_image, ax_sum)
        self._animate(self.scores_image, self.weights_image, self.sum_image, separator, *self.highlights)
        self._animate(*self.row_bars, ax_row.spines.bottom)  # the spine stays on top of the bars
        self.row_title, self.sum_title = self._title(ax_row, animated=True), self._title(ax_sum, animated=True)

    def _update(
        self,
        scores: Annotated[np.ndarray, "q_len k_len"],
        weights: Annotated[np.ndarray, "q_len k_len"],
        contributions: Annotated[np.ndarray, "k_len d_v"],
        out_row: Annotated[np.ndarray, "d_v"],
        query: int,
    ) -> None:
        scores = _as_array(scores, "scores", 2)
        weights = _as_array(weights, "weights", 2)
        self.scores_image.set_data(scores)
        self._set_limit(self.scores_image, self.scores_ticks, scores)
        self.weights_image.set_data(weights)
        for box in self.highlights:
            box.set_y(query - 0.5)
        for bar, value in zip(self.row_bars, weights[query]):
            bar.set_height(value)
        self.row_title.set_texts([f"weights of query {query} ({self.labels[query]})"])
        terms = np.vstack([_as_array(contributions, "contributions", 2), _as_array(out_row, "out_row", 1)])
        self.sum_image.set_data(terms)  # (Tk + 1, Dv): one row per key, then their sum
        self._set_limit(self.sum_image, self.sum_ticks, terms)
        self.sum_title.set_texts([f"out[{query}] = Σ_j w[{query}, j] · V[j]"])
