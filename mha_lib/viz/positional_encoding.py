"""The positional-encoding explorer's figure: the encoding (or bias), the weights it gives, a score vs distance."""

from collections.abc import Sequence
from typing import Annotated

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.transforms import ScaledTranslation

from mha_lib.viz import style
from mha_lib.viz.fonts import _text_width
from mha_lib.viz.layout import (
    _as_array,
    _axis_label,
    _colorbar_beside,
    _heatmap,
    _masked,
    _Row,
    _tick_positions,
    _token_inches,
)
from mha_lib.viz.live import LiveFigure, _symmetric_limit
from mha_lib.viz.raster import BitmapLabels

ENCODING_TITLES = {
    "none": "nothing added: a bag of tokens",
    "sinusoidal": "sinusoidal PE(p), added to x",
    "learned": "learned rows p (nn.Embedding)",
    "rotary": "RoPE: cos(p ω_i), pair i turns",
    "alibi": "ALiBi bias -m |i - j|, head",
}
WEIGHTS_TITLE = "weights; change vs offset 0:"
CURVE_TITLE = "score of 我 → 想 vs distance"


class PositionsFigure(LiveFigure):
    """The encoding heatmap (rows = positions, relabelled as the offset moves; for ALiBi the (T, T) bias), the
    attention weights it gives (all grey when a learned row is missing) and one pair's score against distance.

    >>> fig = PositionsFigure("sinusoidal", list("我想"), columns=4, max_distance=3)
    >>> fig.render(encoding=np.zeros((2, 4)), positions=[5, 6], weights=np.full((2, 2), 0.5), shift_change=0.0,
    ...            distances=np.arange(4), curve=np.ones(4), slope=None, head=0)[:4]
    b'\\x89PNG'
    """

    def __init__(self, kind: str, tokens: Sequence[str], *, columns: int, max_distance: int) -> None:
        self.kind, self.tokens, self.columns, self.max_distance = kind, list(tokens), columns, max_distance
        super().__init__()

    def _build(self) -> None:
        n, bias = len(self.tokens), self.kind == "alibi"
        side = _token_inches(n, n, largest=3.6) * n
        row = _Row(side)
        number_labels = [str(10 * n)] * n  # room for position numbers up to two digits
        encoding_width = side if bias else 3.0
        encoding_title = ENCODING_TITLES[self.kind] + (" 0: m = 1/256" if bias else "")
        row.panel(
            encoding_width,
            labels=self.tokens if bias else number_labels,
            title=encoding_title,
            ylabel=True,
            colorbar=True,
        )
        row.panel(side, labels=self.tokens, title=WEIGHTS_TITLE + " 0.000", ylabel=True, colorbar=True)
        row.panel(3.0, labels=["-0.00"], title=CURVE_TITLE, ylabel=True)
        ax_encoding, ax_weights, ax_curve = row.place(self.fig)

        blank = np.zeros((n, n if bias else self.columns))
        if bias:
            labels = {"row_labels": self.tokens, "col_labels": self.tokens, "xlabel": "key", "ylabel": "query"}
        else:
            columns = [str(c) for c in range(self.columns)]
            labels = {
                "row_labels": None,
                "col_labels": columns,
                "xlabel": "pair i" if self.kind == "rotary" else "dimension",
            }
        self.encoding_image = _heatmap(
            ax_encoding, blank, **labels, cmap=_encoding_cmap(), vmin=-1.0, aspect="auto", bitmaps=True
        )
        self.encoding_ticks = self._symmetric_colorbar(self.encoding_image, ax_encoding)
        self.position_labels = None if bias else self._position_labels(ax_encoding, n)
        if bias:
            self.encoding_title = self._dynamic_suffix(ax_encoding, ENCODING_TITLES["alibi"], " 0: m = 1/256")
        else:
            self._title(ax_encoding, ENCODING_TITLES[self.kind])

        token_axes = {"row_labels": self.tokens, "col_labels": self.tokens, "xlabel": "key", "ylabel": "query"}
        self.weights_image = _heatmap(ax_weights, np.zeros((n, n)), **token_axes, bitmaps=True)
        _colorbar_beside(self.fig, self.weights_image, ax_weights, bitmaps=True)
        self.weights_title = self._dynamic_suffix(ax_weights, WEIGHTS_TITLE, " 0.000")

        ax_curve.set_xlim(-0.5, self.max_distance + 0.5)
        ax_curve.set_xticks(np.linspace(0, self.max_distance, 5).round())  # few ticks: each costs a Text to build
        ax_curve.set_ylim(-1.08, 1.08)  # the curve is drawn divided by its limit; the numbers say the limit
        ax_curve.axhline(0.0, color=style.BLOCKED_COLOR, linewidth=1)
        ax_curve.set_yticks(style.SYMMETRIC_TICKS, [""] * len(style.SYMMETRIC_TICKS))
        ax_curve.tick_params(labelsize=style.SMALL_FONT_SIZE, length=3)
        ax_curve.set_xlabel("Δ = position of 我 − position of 想", fontsize=style.FONT_SIZE)
        ax_curve.set_ylabel(
            "score", fontsize=style.FONT_SIZE, labelpad=2 + 72 * _text_width(["-0.00"], style.SMALL_FONT_SIZE)
        )
        shift = ScaledTranslation(-style.LABEL_PAD / 72, 0, self.fig.dpi_scale_trans)
        anchors = [(0, t) for t in style.SYMMETRIC_TICKS]
        self.curve_ticks = BitmapLabels(
            [""] * len(anchors), anchors, ax_curve.get_yaxis_transform() + shift, size=style.SMALL_FONT_SIZE, ha="right"
        )
        ax_curve.add_artist(self.curve_ticks)
        (self.curve_line,) = ax_curve.plot([], [], color=style.HIGHLIGHT_COLOR, linewidth=2, marker="o", markersize=3)
        self._title(ax_curve, CURVE_TITLE)
        self._animate(self.encoding_image, self.weights_image, self.curve_line, self.curve_ticks)
        if self.position_labels is not None:
            self._animate(self.position_labels)

    def _position_labels(self, ax: Axes, n: int) -> BitmapLabels:
        """Position numbers left of the rows (every k-th beyond 16), rewritten as the offset moves."""
        shown, size = _tick_positions(n)
        left = ax.get_yaxis_transform() + ScaledTranslation(-style.LABEL_PAD / 72, 0, self.fig.dpi_scale_trans)
        labels = BitmapLabels([""] * len(shown), [(0, i) for i in shown], left, size=size, ha="right", va="center")
        ax.add_artist(labels)
        width = _text_width(["00"], size)
        _axis_label(ax, "position p", "y", 2 * style.LABEL_PAD + 72 * width, bitmaps=True)
        self._shown = list(shown)
        return labels

    def _update(
        self,
        encoding: Annotated[np.ndarray, "seq columns"],
        positions: Sequence[int],
        weights: Annotated[np.ndarray, "q_len k_len"] | None,
        shift_change: float | None,
        distances: Annotated[np.ndarray, "n"],
        curve: Annotated[np.ndarray, "n"],
        slope: float | None,
        head: int,
    ) -> None:
        encoding = _as_array(encoding, "encoding", 2)
        self.encoding_image.set_data(_masked(encoding, np.isfinite(encoding)))  # missing learned rows in grey
        self._set_limit(self.encoding_image, self.encoding_ticks, encoding)
        positions = [int(p) for p in positions]
        if self.position_labels is not None:
            self.position_labels.set_texts([str(positions[i]) for i in self._shown])
        if slope is not None:
            self.encoding_title.set_texts([f" {head}: m = 1/{round(1 / slope)}"])
        n = len(self.tokens)
        if weights is None:  # a learned table without a row for some position: nothing to attend with
            self.weights_image.set_data(np.ma.masked_all((n, n)))
            self.weights_title.set_texts([" — (no row)"])
        else:
            self.weights_image.set_data(_as_array(weights, "weights", 2))
            self.weights_title.set_texts([f" {shift_change:.3f}"])
        curve = _as_array(curve, "curve", 1)
        limit = _symmetric_limit(curve)
        self.curve_line.set_data(_as_array(distances, "distances", 1), curve / limit)
        self.curve_ticks.set_texts([f"{t * limit:.2g}" for t in style.SYMMETRIC_TICKS])


def _encoding_cmap() -> mpl.colors.Colormap:
    """The scores colour map, centred on 0, with missing values (a learned row that does not exist) in grey."""
    return mpl.colormaps[style.SCORES_CMAP].with_extremes(bad=style.BLOCKED_COLOR)
