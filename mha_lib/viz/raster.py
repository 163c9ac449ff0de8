"""The four places that reach into matplotlib's drawing internals; after a matplotlib upgrade, read this file.

Each is kept because it was measured (plain matplotlib made the explorers 2–4× slower at 16 heads), and each
draws exactly the pixels of the public way, which ``tests/test_raster.py`` checks:

- ``CellImage``: a heatmap image that colours each cell once (``AxesImage.make_image``).
- ``BitmapLabels``: short texts blended from cached bitmaps (``RendererAgg.draw_image``).
- ``ColourBar``: a colour bar without an Axes (``RendererBase.draw_image`` and ``draw_path``).
- ``encode_png``: the Agg canvas as PNG bytes, without re-rendering (``FigureCanvasAgg.buffer_rgba``).
"""

import functools
import math
import struct
import zlib
from collections.abc import Sequence

import numpy as np
from isal import isal_zlib
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.path import Path
from matplotlib.transforms import Bbox, BboxTransformFrom, BboxTransformTo, IdentityTransform, Transform

from mha_lib.viz import style
from mha_lib.viz.fonts import _text_width

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


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

    def __init__(self, ax, *, border: int = 0, **kwargs) -> None:
        super().__init__(ax, **kwargs)
        self.border = border  # pixels of white drawn between cells (projector mode); 0: none

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
        data = self.get_array()  # (rows, cols), masked where blocked
        rows, cols = data.shape[:2]
        (left, bottom), (right, top) = extent.get_points()
        first, last = (top, bottom) if self.origin == "upper" else (bottom, top)  # where row 0 starts and the last ends
        col = _cell_of(np.arange(x0, x1) + 0.5, left, right, cols)  # the cell under each pixel centre
        row = _cell_of(np.arange(y0, y1) + 0.5, first, last, rows)  # bottom pixel row first, as Agg takes it
        cells = self.to_rgba(data, bytes=True)  # (rows, cols, 4) uint8; masked cells get the "bad" colour
        pixels = cells.take(row, axis=0).take(col, axis=1)  # (height, width, 4)
        if self.border:
            for axis, index in ((1, col), (0, row)):
                starts = np.flatnonzero(np.diff(index)) + 1  # first pixel of every cell but the first
                lines = (starts[:, None] + np.arange(-(self.border // 2), self.border - self.border // 2)).ravel()
                pixels[(slice(None),) * axis + (lines.clip(0, pixels.shape[axis] - 1),)] = 255  # white lines
        return pixels, x0, y0, None


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
    extent for tight layouts: meant for the hand-laid explorer figures. ``size`` defaults to ``style.FONT_SIZE``.

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
        size: float | None = None,
        ha: str = "center",
        va: str = "center",
        rotation: float = 0.0,
    ) -> None:
        super().__init__()
        if len(texts) != len(anchors):
            raise ValueError(f"got {len(texts)} texts for {len(anchors)} anchors; pass one anchor per text")
        self.texts, self.anchors = list(texts), np.asarray(anchors, dtype=float).reshape(-1, 2)
        self.size, self.ha, self.va = style.FONT_SIZE if size is None else size, ha, va
        self.rotation = rotation  # degrees, as for Text (90: reading upwards); ha/va align the rotated box
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
            pixels, dx, dy = _text_bitmap(text, self.size, self.ha, self.va, renderer.dpi, self.rotation)
            if pixels is not None:
                renderer.draw_image(gc, round(x) + dx, round(y) + dy, pixels)
        gc.restore()
        self.stale = False


@functools.lru_cache(maxsize=4096)
def _text_bitmap(
    text: str, size: float, ha: str, va: str, dpi: float, rotation: float = 0.0
) -> tuple[np.ndarray | None, int, int]:
    """``text`` as matplotlib draws it, cropped: (RGBA pixels with the bottom row first, as ``draw_image``
    takes them, or None if nothing is visible; x and y of their lower-left corner relative to the anchor)."""
    em = size / 72 * dpi  # pixels per em; the anchor sits in the middle, so any alignment fits
    side = 2 * math.ceil(_text_width([text], size) * dpi + em)
    width = height = max(side, 2 * math.ceil(2 * em))  # room for the text at any rotation
    if rotation == 0:
        height = 2 * math.ceil(2 * em)
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi, facecolor="none")
    anchor_x, anchor_y = width // 2, height // 2  # whole pixels from the left and from the bottom
    fig.text(anchor_x / width, anchor_y / height, text, fontsize=size, ha=ha, va=va, rotation=rotation)
    FigureCanvasAgg(fig).draw()
    pixels = np.asarray(fig.canvas.buffer_rgba())  # (height, width, 4), top row first
    rows, cols = np.flatnonzero(pixels[..., 3].any(1)), np.flatnonzero(pixels[..., 3].any(0))
    if rows.size == 0:
        return None, 0, 0
    crop = pixels[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1][::-1].copy()
    return crop, int(cols[0]) - anchor_x, int(height - 1 - rows[-1]) - anchor_y


class ColourBar(Artist):
    """A vertical colour bar: the colour map as one image, its black frame and tick marks; no Axes.

    ``Figure.colorbar`` builds an Axes with matplotlib's tick machinery, ~25 ms per bar before it is drawn,
    and an explorer builds a new figure with up to three bars on every layout change. Inside the frame these
    are the pixels of matplotlib's bar (``tests/test_raster.py``). ``bounds`` are (x, y, width, height) in
    inches from the figure's lower-left corner; ``value_transform`` maps (0..1 across the bar, a value on its
    scale) to display coordinates, for the tick numbers beside it.

    >>> fig = Figure(figsize=(1, 2), dpi=50)
    >>> from matplotlib.colors import Normalize
    >>> scale = ScalarMappable(Normalize(0.0, 1.0), "viridis")
    >>> bar = fig.add_artist(ColourBar(fig, scale, (0.4, 0.2, 0.2, 1.6), ticks=[0.0, 1.0]))
    >>> FigureCanvasAgg(fig).draw()
    >>> bar.value_transform.transform([(1.0, 1.0)]).round().tolist()  # top right corner, in pixels
    [[30.0, 90.0]]
    """

    TICK_POINTS = 3.5  # matplotlib's default tick length and, between tick and number, its pad
    LINE_POINTS = 0.8  # matplotlib's default frame and tick width

    def __init__(
        self, fig: Figure, scale: ScalarMappable, bounds: tuple[float, float, float, float], *, ticks: Sequence[float]
    ) -> None:
        super().__init__()
        self.cmap, self.norm = scale.get_cmap(), scale.norm
        self.low, self.high = scale.get_clim()
        self.ticks = list(ticks)
        self.numbers: BitmapLabels | None = None  # the tick numbers: a figure artist of their own, to animate
        box = BboxTransformTo(Bbox.from_bounds(*bounds)) + fig.dpi_scale_trans  # (0..1, 0..1) → display
        self.value_transform = BboxTransformFrom(Bbox([[0.0, self.low], [1.0, self.high]])) + box
        self.set_transform(IdentityTransform())

    def draw(self, renderer) -> None:
        if not self.get_visible():
            return
        (left, bottom), (right, top) = self.value_transform.transform([(0.0, self.low), (1.0, self.high)])
        x0, x1, y0, y1 = round(left), round(right), round(bottom), round(top)  # whole pixels
        values = self.low + (np.arange(y0, y1) + 0.5 - bottom) / (top - bottom) * (self.high - self.low)
        colours = self.cmap(self.norm(values), bytes=True)  # (height, 4), bottom row first as draw_image takes it
        gc = renderer.new_gc()
        renderer.draw_image(gc, x0, y0, np.repeat(colours[:, None], x1 - x0, axis=1))  # (height, width, 4)
        gc.set_foreground("black")
        gc.set_linewidth(self.LINE_POINTS)
        gc.set_joinstyle("miter")
        gc.set_capstyle("projecting")
        frame = Path([(left, bottom), (right, bottom), (right, top), (left, top), (left, bottom)], closed=True)
        renderer.draw_path(gc, frame, IdentityTransform())
        length = renderer.points_to_pixels(self.TICK_POINTS)
        gc.set_capstyle("butt")
        for y in self.value_transform.transform([(1.0, t) for t in self.ticks])[:, 1]:
            renderer.draw_path(gc, Path([(right, y), (right + length, y)]), IdentityTransform())
        gc.restore()
        self.stale = False


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def encode_png(fig: Figure) -> bytes:
    """The Agg canvas of ``fig`` as an RGBA PNG, pixel for pixel, without re-rendering.

    Written directly: every row uses PNG filter "Up" (byte minus the byte above), which turns the flat
    colour blocks of heatmaps into runs of zeros, then ISA-L's deflate (``isal``) compresses them. On the
    KV-cache explorer's 992 × 503 canvas the deflate took 0.6 ms with ISA-L and 4.3 ms with zlib at level 1,
    for the same size (49 kB); Pillow is slower still, its adaptive per-row filtering dominating even at
    ``compress_level=1``. RGBA, not RGB: dropping the alpha channel first costs a strided copy slower than
    compressing the constant alpha bytes.

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
    idat = isal_zlib.compress(rows, style.PNG_COMPRESS_LEVEL)  # a zlib stream, as PNG wants
    return PNG_SIGNATURE + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")
