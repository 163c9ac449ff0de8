"""Notebook 08's figures: the real-model explorer's and ``plot_word_heads`` for its cells.

The explorer's figure: all layers × heads as thumbnails on one colour scale, one head enlarged.

The overview is a single image: every head's (T, T) weights resampled to a fixed square of pixels and laid
into a mosaic with blank gaps, so its size does not depend on the sentence and a redraw colours one image,
not 72. The mean row entropy of each head is printed under its thumbnail; a frame marks the selected head.
"""

from collections.abc import Sequence
from typing import Annotated

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.transforms import ScaledTranslation

from mha_lib.viz import style
from mha_lib.viz.fonts import _text_width
from mha_lib.viz.layout import (
    _add_axes,
    _as_array,
    _axis_label,
    _check_labels,
    _colorbar_beside,
    _colorbar_width,
    _heatmap,
    _label_margin,
    _tick_positions,
    _token_inches,
)
from mha_lib.viz.live import LiveFigure
from mha_lib.viz.raster import BitmapLabels

THUMB_PX = 44  # side of one thumbnail, pixels
GAP_X_PX = 6  # between thumbnails of one layer
GAP_Y_PX = 20  # between layers: room for the entropy numbers
ENLARGED_INCHES = 4.2  # the longer side of the enlarged head at most


def _key_label_room(tokens: Sequence[str]) -> float:
    """Inches under a heatmap for its upright key labels and the axis label "key"."""
    positions, size = _tick_positions(len(tokens))
    return style.LABEL_PAD / 72 + _text_width([tokens[i] for i in positions], size) + style.LINE + 0.05


def _upright_key_labels(ax: Axes, tokens: Sequence[str], *, bitmaps: bool = False) -> None:
    """Key labels standing upright under the columns (English words overlap side by side), then "key".

    ``bitmaps=True`` (explorer figures) draws them as ``BitmapLabels``: a rotated ``Text`` took ~5 ms to draw.
    """
    positions, size = _tick_positions(len(tokens))
    below = ax.get_xaxis_transform() + ScaledTranslation(0, -style.LABEL_PAD / 72, ax.figure.dpi_scale_trans)
    texts, anchors = [tokens[i] for i in positions], [(i, 0) for i in positions]
    if bitmaps:
        ax.add_artist(BitmapLabels(texts, anchors, below, size=size, ha="center", va="top", rotation=90))
    else:
        for text, anchor in zip(texts, anchors):
            ax.text(*anchor, text, transform=below, rotation=90, ha="center", va="top", fontsize=size)
    _axis_label(ax, "key", "x", 72 * (_key_label_room(tokens) - style.LINE - 0.05), bitmaps=bitmaps)


def plot_word_heads(
    weights: Annotated[object, "panels q_len k_len"], tokens: Sequence[str], titles: Sequence[str]
) -> Figure:
    """Heads (or any (T, T) weights) of one English sentence side by side on ONE 0..1 colour scale, keys upright.

    >>> fig = plot_word_heads(np.full((2, 3, 3), 1 / 3), ["[CLS]", "because", "[SEP]"], ["raw", "weighted"])
    >>> [ax.get_title() for ax in fig.axes[:2]]
    ['raw', 'weighted']
    >>> plt.close(fig)
    """
    data = _as_array(weights, "weights", 3)
    _check_labels(data.shape, tokens, tokens, "weights")
    if len(titles) != data.shape[0]:
        raise ValueError(f"got {len(titles)} titles for {data.shape[0]} panels; pass one per panel")
    n = len(tokens)
    side = _token_inches(n, n, largest=2.6) * n
    room = max(side, _text_width(titles) + 0.1)  # a panel and its title
    left, under = _label_margin(tokens, True), _key_label_room(tokens)
    width = left + len(titles) * (room + style.GAP) - style.GAP + _colorbar_width(None) + 0.1
    fig = plt.figure(figsize=(width, under + side + 1.5 * style.LINE))
    for k, (panel, title) in enumerate(zip(data, titles)):
        ax = _add_axes(fig, left + k * (room + style.GAP) + (room - side) / 2, under, side, side)
        image = _heatmap(ax, panel, tokens if k == 0 else None, None, ylabel="query" if k == 0 else None)
        _upright_key_labels(ax, tokens)
        ax.set_title(title, fontsize=style.FONT_SIZE)
    _colorbar_beside(fig, image, ax)
    return fig


def _overview_cmap() -> ListedColormap:
    """The weights colour map with the gaps between thumbnails (NaN) in white."""
    return mpl.colormaps[style.WEIGHTS_CMAP].with_extremes(bad="white")


def mosaic(shown: Annotated[np.ndarray, "layers heads q_len k_len"]) -> Annotated[np.ndarray, "rows cols"]:
    """The (L, H, T, T) weights as one image: head (l, h) in a ``THUMB_PX`` square at row l, column h; NaN gaps.

    >>> mosaic(np.ones((2, 3, 4, 4))).shape == (2 * THUMB_PX + GAP_Y_PX, 3 * THUMB_PX + 2 * GAP_X_PX)
    True
    """
    layers, heads, t_q, t_k = shown.shape
    rows = np.arange(THUMB_PX) * t_q // THUMB_PX  # the query row under each pixel row (nearest)
    cols = np.arange(THUMB_PX) * t_k // THUMB_PX  # the key column under each pixel column
    thumbs = shown[:, :, rows][:, :, :, cols]  # (L, H, THUMB_PX, THUMB_PX)
    padded = np.full((layers, THUMB_PX + GAP_Y_PX, heads, THUMB_PX + GAP_X_PX), np.nan)
    padded[:, :THUMB_PX, :, :THUMB_PX] = thumbs.transpose(0, 2, 1, 3)  # (L, px, H, px)
    image = padded.reshape(layers * (THUMB_PX + GAP_Y_PX), heads * (THUMB_PX + GAP_X_PX))
    return image[:-GAP_Y_PX, :-GAP_X_PX]  # no gap after the last layer and head


class PretrainedFigure(LiveFigure):
    """Every head of a ``num_layers`` × ``num_heads`` model as a thumbnail, the selected one enlarged.

    >>> fig = PretrainedFigure(["[CLS]", "hi", "[SEP]"], num_layers=2, num_heads=3)
    >>> w = np.full((2, 3, 3, 3), 1 / 3)
    >>> fig.render(shown=w, entropy=np.full((2, 3), 1.1), layer=1, head=2, title="layer 1, head 2")[:4]
    b'\\x89PNG'
    """

    def __init__(self, tokens: Sequence[str], *, num_layers: int = 6, num_heads: int = 12) -> None:
        self.tokens, self.num_layers, self.num_heads = list(tokens), num_layers, num_heads
        if len(self.tokens) > THUMB_PX:
            raise ValueError(
                f"{len(self.tokens)} tokens do not fit a {THUMB_PX}-pixel thumbnail; pass at most {THUMB_PX}"
            )
        super().__init__()

    def _thumb_origin(self, layer: int, head: int) -> tuple[float, float]:
        """Data coordinates (x, y) of the upper-left corner of thumbnail (layer, head) in the mosaic."""
        return head * (THUMB_PX + GAP_X_PX) - 0.5, layer * (THUMB_PX + GAP_Y_PX) - 0.5

    def _build(self) -> None:
        dpi, n = style.DPI, len(self.tokens)
        grid_w = (self.num_heads * (THUMB_PX + GAP_X_PX) - GAP_X_PX) / dpi
        grid_h = (self.num_layers * (THUMB_PX + GAP_Y_PX) - GAP_Y_PX) / dpi
        layer_w = _text_width([f"layer {self.num_layers - 1}"]) + 0.15
        side = _token_inches(n, n, largest=ENLARGED_INCHES) * n
        under_big = _key_label_room(self.tokens)
        bottom = max(under_big, GAP_Y_PX / dpi + 0.1)  # rotated key labels and "key", or the last entropies
        height = max(grid_h + style.LINE, side)  # the grid has its head numbers above it
        big_left = layer_w + grid_w + 2 * style.GAP + _label_margin(self.tokens, True)
        self.fig.set_size_inches(big_left + side + _colorbar_width(None) + 0.1, bottom + height + 1.4 * style.LINE)
        ax_grid = _add_axes(self.fig, layer_w, bottom + height - grid_h - style.LINE, grid_w, grid_h)
        ax_big = _add_axes(self.fig, big_left, bottom + height - side, side, side)
        self._build_overview(ax_grid)
        self.enlarged = _heatmap(ax_big, np.zeros((n, n)), self.tokens, None, ylabel="query", bitmaps=True)
        _upright_key_labels(ax_big, self.tokens, bitmaps=True)
        _colorbar_beside(self.fig, self.enlarged, ax_big, bitmaps=True)
        self.big_title = self._title(ax_big, animated=True)
        self._animate(self.overview, self.entropy_texts, self.frame, self.enlarged)

    def _build_overview(self, ax) -> None:
        """The mosaic image, head numbers above it, layer names left of it, entropy numbers and the frame."""
        blank = mosaic(np.zeros((self.num_layers, self.num_heads, 1, 1)))
        self.overview = _heatmap(ax, blank, None, None, cmap=_overview_cmap())
        above = ax.transAxes + ScaledTranslation(0, style.LINE + 0.08, self.fig.dpi_scale_trans)  # over the numbers
        title = "every head on one colour scale; under each: mean row entropy (nats)"
        ax.add_artist(BitmapLabels([title], [(0.5, 1.0)], above, va="bottom"))
        x_mid = [self._thumb_origin(0, h)[0] + THUMB_PX / 2 for h in range(self.num_heads)]
        y_mid = [self._thumb_origin(layer, 0)[1] + THUMB_PX / 2 for layer in range(self.num_layers)]
        head_numbers = [f"head {h}" if h == 0 else str(h) for h in range(self.num_heads)]
        ax.add_artist(BitmapLabels(head_numbers, [(x, -4) for x in x_mid], ax.transData, va="bottom"))
        layer_names = [f"layer {layer}" for layer in range(self.num_layers)]
        ax.add_artist(BitmapLabels(layer_names, [(-6, y) for y in y_mid], ax.transData, ha="right", va="center"))
        anchors = [(x, y + THUMB_PX / 2 + GAP_Y_PX / 2) for y in y_mid for x in x_mid]
        self.entropy_texts = BitmapLabels(
            [""] * len(anchors), anchors, ax.transData, size=style.SMALL_FONT_SIZE, va="center"
        )
        ax.add_artist(self.entropy_texts)
        self.frame = Rectangle(
            (0, 0), THUMB_PX + 3, THUMB_PX + 3, fill=False, edgecolor=style.HIGHLIGHT_COLOR, linewidth=2.5
        )
        self.frame.set_clip_on(False)
        ax.add_patch(self.frame)

    def _update(
        self,
        shown: Annotated[np.ndarray, "layers heads q_len k_len"],
        entropy: Annotated[np.ndarray, "layers heads"],
        layer: int,
        head: int,
        title: str,
    ) -> None:
        shown = _as_array(shown, "shown", 4)
        expected = (self.num_layers, self.num_heads)
        if shown.shape[:2] != expected:
            raise ValueError(f"shown has {shown.shape[:2]} (layers, heads), this figure {expected}; build a new one")
        _check_labels(shown.shape, self.tokens, self.tokens, "shown")
        self.overview.set_data(mosaic(shown))
        self.entropy_texts.set_texts([f"{e:.2f}" for e in _as_array(entropy, "entropy", 2).ravel()])
        x, y = self._thumb_origin(layer, head)
        self.frame.set_xy((x - 1.5, y - 1.5))
        self.enlarged.set_data(shown[layer, head])
        self.big_title.set_texts([title])
