"""The scaling explorer's figure: scores, weights, each row's largest weight and entropy."""

import math
from collections.abc import Sequence
from typing import Annotated

import numpy as np

from mha_lib.viz import style
from mha_lib.viz.layout import _as_array, _Row, _token_inches, _token_labels
from mha_lib.viz.live import Bars, LiveFigure


class ScalingFigure(LiveFigure):
    """Scores (colour bar follows their range), weights, the largest weight per row and each row's entropy.

    >>> fig = ScalingFigure(list("我想"))
    >>> w = np.array([[0.9, 0.1], [0.5, 0.5]])
    >>> fig.render(scores=np.array([[2.0, 0.0], [1.0, 1.0]]), weights=w, max_weight=w.max(1),
    ...            entropy=np.array([0.33, 0.69]), scores_std=0.8)[:4]
    b'\\x89PNG'
    """

    def __init__(self, labels: Sequence[str]) -> None:
        self.labels = list(labels)
        super().__init__()

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
        self.max_bars = Bars(ax_max, n, horizontal=True, color=style.ALLOWED_COLOR)
        self.entropy_bars = Bars(ax_entropy, n, horizontal=True, color=style.HIGHLIGHT_COLOR)
        uniform = math.log(n)  # entropy of uniform attention over n keys
        uniform_line = ax_entropy.axvline(uniform, color="black", linestyle="--", linewidth=1)
        ax_entropy.set_xlim(0, max(uniform, 1e-3) * 1.08)
        self._title(ax_entropy, "row entropy (- - uniform)")
        ax_max.set_xlim(0, 1)
        self._title(ax_max, "largest weight per row")
        for ax in (ax_max, ax_entropy):
            _token_labels(ax, self.labels, None, bitmaps=True)
            ax.set_ylim(n - 0.5, -0.5)  # first token on top, as in the heatmaps
            ax.tick_params(axis="x", labelsize=style.SMALL_FONT_SIZE, length=3)
        ax_max.set_xticks([0, 0.5, 1])
        ax_entropy.set_xticks([0, uniform], ["0", f"ln {n}"])
        self._animate(self.scores_image, self.weights_image)
        self._animate(self.max_bars, self.entropy_bars, uniform_line)  # the line stays on top of the bars
        self._animate(ax_max.spines.left, ax_entropy.spines.left)  # and so do the axes the bars start from
        self._weights_panel(self.weights_image)
        self._hide_when_predicting(self.max_bars)

    def _update(
        self,
        scores: Annotated[np.ndarray, "q_len k_len"],
        weights: Annotated[np.ndarray, "q_len k_len"],
        max_weight: Annotated[np.ndarray, "q_len"],
        entropy: Annotated[np.ndarray, "q_len"],
        scores_std: float,
    ) -> None:
        self._show_scores_and_weights(scores, weights)
        self.scores_title.set_texts([f"scores (std {scores_std:.2f})"])
        self.max_bars.set_lengths(_as_array(max_weight, "max_weight", 1))
        self.entropy_bars.set_lengths(_as_array(entropy, "entropy", 1))
