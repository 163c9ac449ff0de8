"""The QKV explorer's figure: scores and weights, one query's weights, and how they mix the rows of V."""

from collections.abc import Sequence
from typing import Annotated

import numpy as np
from matplotlib.patches import Rectangle

from mha_lib.viz import style
from mha_lib.viz.layout import _as_array, _heatmap, _Row, _token_inches, _token_labels
from mha_lib.viz.live import Bars, LiveFigure


class QKVFigure(LiveFigure):
    """Scores and weights with the selected query row outlined, that row's weights as bars, and how the
    weighted rows of V add up to that query's output.

    >>> fig = QKVFigure(list("我想"), d_v=3)
    >>> w = np.array([[0.9, 0.1], [0.5, 0.5]])
    >>> fig.render(scores=np.zeros((2, 2)), weights=w, contributions=w[1, :, None] * np.ones((2, 3)),
    ...            out_row=np.ones(3), query=1)[:4]
    b'\\x89PNG'
    """

    def __init__(self, labels: Sequence[str], d_v: int) -> None:
        self.labels, self.d_v = list(labels), d_v
        super().__init__()

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
            box = Rectangle((-0.5, -0.5), n, 1, fill=False, edgecolor=style.HIGHLIGHT_COLOR, linewidth=3)
            ax.add_patch(box)
            self.highlights.append(box)
        self.row_bars = Bars(ax_row, n, color=style.ALLOWED_COLOR)
        ax_row.set_ylim(0, 1)
        ax_row.set_xlim(-0.5, n - 0.5)
        _token_labels(ax_row, None, self.labels, xlabel="key", bitmaps=True)
        ax_row.set_yticks([0, 0.5, 1])
        ax_row.tick_params(axis="y", labelsize=style.SMALL_FONT_SIZE, length=3)
        self.sum_image = _heatmap(
            ax_sum,
            np.zeros((n + 1, self.d_v)),
            sum_labels,
            feature_labels,
            cmap=style.SCORES_CMAP,
            vmin=-1.0,
            aspect="auto",
            xlabel="feature of V",
            bitmaps=True,
        )
        separator = ax_sum.axhline(n - 0.5, color="black", linewidth=2)  # between the terms and their sum
        self.sum_ticks = self._symmetric_colorbar(self.sum_image, ax_sum)
        self._animate(self.scores_image, self.weights_image, self.sum_image, separator, *self.highlights)
        self._animate(self.row_bars, ax_row.spines.bottom)  # the spine stays on top of the bars
        self._weights_panel(self.weights_image)
        self._hide_when_predicting(self.row_bars, self.sum_image)
        self.row_title, self.sum_title = self._title(ax_row, animated=True), self._title(ax_sum, animated=True)

    def _update(
        self,
        scores: Annotated[np.ndarray, "q_len k_len"],
        weights: Annotated[np.ndarray, "q_len k_len"],
        contributions: Annotated[np.ndarray, "k_len d_v"],
        out_row: Annotated[np.ndarray, "d_v"],
        query: int,
    ) -> None:
        weights = self._show_scores_and_weights(scores, weights)
        for box in self.highlights:
            box.set_y(query - 0.5)
        self.row_bars.set_lengths(weights[query])
        self.row_title.set_texts([f"weights of query {query} ({self.labels[query]})"])
        terms = np.vstack([_as_array(contributions, "contributions", 2), _as_array(out_row, "out_row", 1)])
        self.sum_image.set_data(terms)  # (Tk + 1, Dv): one row per key, then their sum
        self._set_limit(self.sum_image, self.sum_ticks, terms)
        self.sum_title.set_texts([f"out[{query}] = Σ_j w[{query}, j] · V[j]"])
