"""Notebook 07's figures: a trained head's weights at one checkpoint beside the loss curve and the heads'
scores (the explorer), and static plots of checkpoints and of the scores over training (notebook cells).

>>> import numpy as np
>>> fig = TrainingFigure(list("我想吃"), steps=[0, 5, 10], losses=[2.0] * 10, score_names=["mirror"], num_layers=1, num_heads=2)
>>> fig.render(weights=np.full((3, 3), 1 / 3), step=5, loss=2.0, scores=np.zeros((1, 1, 2)), layer=0, head=1,
...            title="layer 0 · head 1 · step 5")[:4]
b'\\x89PNG'
"""

from collections.abc import Sequence
from typing import Annotated

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

from mha_lib.viz import style
from mha_lib.viz.layout import _as_array, _check_labels, _colorbar_beside, _head_grid, _heatmap, _Row, _token_inches
from mha_lib.viz.live import LiveFigure

SCORE_COLORS = ("#3182bd", "#e6550d")  # one colour per score (previous token, induction)


def _head_names(num_layers: int, num_heads: int) -> list[str]:
    """``L0H0`` … one short name per head, layer by layer."""
    return [f"L{layer}H{head}" for layer in range(num_layers) for head in range(num_heads)]


class TrainingFigure(LiveFigure):
    """The selected head's weights on the fixed example, the loss curve with a marker at the step, and every
    head's scores as bars (the selected head marked). Built once per task; a slider move moves artists only.
    """

    def __init__(
        self,
        tokens: Sequence[str],
        *,
        steps: Sequence[int],
        losses: Sequence[float],
        score_names: Sequence[str],
        num_layers: int,
        num_heads: int,
    ) -> None:
        self.tokens, self.steps, self.losses = list(tokens), list(steps), list(losses)
        self.score_names, self.num_layers, self.num_heads = list(score_names), num_layers, num_heads
        super().__init__()

    def _build(self) -> None:
        n = len(self.tokens)
        side = _token_inches(n, n, largest=4.2) * n
        row = _Row(side)
        row.panel(side, labels=self.tokens, title="layer 0 · head 0 · step 0000", ylabel=True, colorbar=True)
        row.panel(3.4, labels=["0.00"], title="training loss, mean of 10 steps (step 0000: 0.000)")
        row.panel(3.0, labels=["0.0"], title="head scores at this step")
        ax_weights, ax_loss, ax_scores = row.place(self.fig)
        self.weights_image = _heatmap(
            ax_weights, np.zeros((n, n)), self.tokens, self.tokens, xlabel="key", ylabel="query", bitmaps=True
        )
        _colorbar_beside(self.fig, self.weights_image, ax_weights, bitmaps=True)
        self.weights_title = self._title(ax_weights, animated=True)

        x = np.arange(1, len(self.losses) + 1)
        ax_loss.plot(x, self.losses, color="black", linewidth=1)
        ax_loss.set_yscale("log")
        ax_loss.set_xlim(0, len(self.losses))
        ax_loss.set_xlabel("training step", fontsize=style.SMALL_FONT_SIZE)
        ax_loss.tick_params(labelsize=style.SMALL_FONT_SIZE, length=3)
        self.step_line = ax_loss.axvline(0, color=style.HIGHLIGHT_COLOR, linewidth=2)
        (self.step_dot,) = ax_loss.plot([0], [self.losses[0]], "o", color=style.HIGHLIGHT_COLOR)
        self.loss_title = self._title(ax_loss, animated=True)

        names = _head_names(self.num_layers, self.num_heads)
        count, self.bar_width = len(self.score_names), 0.8 / len(self.score_names)
        self.bar_lefts = [np.arange(len(names)) + (s - count / 2) * self.bar_width for s in range(count)]
        self.bars = []  # one PolyCollection of rectangles per score: one artist to draw instead of one per head
        for s, score in enumerate(self.score_names):
            bars = PolyCollection(self._bar_verts(s, np.zeros(len(names))), facecolors=SCORE_COLORS[s], label=score)
            self.bars.append(ax_scores.add_collection(bars))
        ax_scores.set_ylim(0, 1.4)  # scores lie in [0, 1]; the band above holds the head marker, then the legend
        ax_scores.set_yticks([0, 0.5, 1])
        ax_scores.set_xlim(-0.6, len(names) - 0.4)
        ax_scores.set_xticks(range(len(names)), names, fontsize=style.SMALL_FONT_SIZE, rotation=90)
        ax_scores.tick_params(axis="y", labelsize=style.SMALL_FONT_SIZE, length=3)
        ax_scores.legend(fontsize=style.SMALL_FONT_SIZE, loc="upper left", frameon=False, ncols=len(self.score_names))
        (self.head_marker,) = ax_scores.plot([0], [1.06], "v", color="black", markersize=8)
        self._title(ax_scores, "head scores at this step")
        self._animate(self.weights_image, self.step_line, self.step_dot)  # the titles animate themselves
        self._animate(*self.bars, self.head_marker)
        self._animate(*ax_loss.spines.values(), ax_scores.spines.bottom)  # the spines stay above line and bars

    def _bar_verts(self, score: int, heights: np.ndarray) -> np.ndarray:
        """(heads, 4, 2) rectangle corners of score ``score``'s bars with these ``heights``."""
        left = self.bar_lefts[score]
        right = left + self.bar_width
        zero = np.zeros_like(left)
        xs = np.stack([left, left, right, right], axis=1)  # (N, 4)
        ys = np.stack([zero, heights, heights, zero], axis=1)  # (N, 4)
        return np.stack([xs, ys], axis=-1)  # (N, 4, 2)

    def _update(
        self,
        weights: Annotated[np.ndarray, "q_len k_len"],
        step: int,
        loss: float,
        scores: Annotated[np.ndarray, "scores layers heads"],
        layer: int,
        head: int,
        title: str,
    ) -> None:
        weights = _as_array(weights, "weights", 2)
        _check_labels(weights.shape, self.tokens, self.tokens, "weights")
        scores = _as_array(scores, "scores", 3)
        expected = (len(self.score_names), self.num_layers, self.num_heads)
        if scores.shape != expected:
            raise ValueError(f"scores shape {scores.shape} does not match this figure's {expected}")
        self.weights_image.set_data(weights)
        self.weights_title.set_texts([title])
        self.step_line.set_xdata([step, step])
        self.step_dot.set_data([max(step, 1)], [loss])
        self.loss_title.set_texts([f"training loss, mean of 10 steps (step {step}: {loss:.3f})"])
        for s, (bars, values) in enumerate(zip(self.bars, scores.reshape(len(self.score_names), -1))):
            bars.set_verts(self._bar_verts(s, values))
        self.head_marker.set_xdata([layer * self.num_heads + head])


def plot_checkpoints(
    weights: Annotated[object, "checkpoints q_len k_len"],
    tokens: Sequence[str],
    steps: Sequence[int],
    *,
    ncols: int = 5,
) -> Figure:
    """One head's weights at several checkpoints side by side, on one colour scale, "step N" in each title.

    >>> fig = plot_checkpoints(np.full((2, 3, 3), 1 / 3), list("我想吃"), [0, 10])
    >>> [ax.get_title() for ax in fig.axes[:2]]
    ['step 0', 'step 10']
    >>> plt.close(fig)
    """
    data = _as_array(weights, "weights", 3)
    _check_labels(data.shape, tokens, tokens, "weights")
    if len(steps) != data.shape[0]:
        raise ValueError(f"got {len(steps)} steps for {data.shape[0]} checkpoints; pass one step per checkpoint")
    fig = plt.figure()
    axes, images = _head_grid(fig, data.shape[0], ncols, tokens, tokens, widest_title="step 0000")
    for ax, im, w, step in zip(axes, images, data, steps):
        im.set_data(w)
        ax.set_title(f"step {step}", fontsize=style.FONT_SIZE, y=1.0)
    return fig


def plot_training(
    losses: Sequence[float],
    steps: Sequence[int],
    scores: Annotated[object, "checkpoints scores layers heads"],
    score_names: Sequence[str],
) -> Figure:
    """The loss curve beside each score of every head over training (one panel per score, one line per head).

    >>> fig = plot_training([3.0, 1.0], [0, 2], np.zeros((2, 1, 1, 2)), ["mirror"])
    >>> [ax.get_title() for ax in fig.axes]
    ['training loss (mean of 10 steps)', 'mirror score per head']
    >>> plt.close(fig)
    """
    data = _as_array(scores, "scores", 4)  # (C, S, L, H)
    if data.shape[:2] != (len(steps), len(score_names)):
        raise ValueError(f"scores shape {data.shape} needs (checkpoints={len(steps)}, scores={len(score_names)}, L, H)")
    num_layers, num_heads = data.shape[2:]
    names = _head_names(num_layers, num_heads)
    fig, axes = plt.subplots(1, 1 + len(score_names), figsize=(4.2 * (1 + len(score_names)), 3.2))
    axes[0].plot(np.arange(1, len(losses) + 1), losses, color="black", linewidth=1)
    axes[0].set_yscale("log")
    axes[0].set_title("training loss (mean of 10 steps)", fontsize=style.FONT_SIZE)
    for ax in axes:
        ax.set_xlabel("training step", fontsize=style.SMALL_FONT_SIZE)
        ax.tick_params(labelsize=style.SMALL_FONT_SIZE)
    colours = plt.get_cmap("tab10")
    for s, (ax, score) in enumerate(zip(axes[1:], score_names)):
        curves = data[:, s].reshape(len(steps), -1)  # (C, L·H)
        for i, name in enumerate(names):
            ax.plot(steps, curves[:, i], color=colours(i % 10), linewidth=1.5, label=name)
        ax.set_ylim(0, 1)
        ax.set_title(f"{score} score per head", fontsize=style.FONT_SIZE)
        ax.legend(fontsize=style.SMALL_FONT_SIZE - 2, ncols=2, loc="upper left", frameon=False)
    fig.tight_layout()
    return fig


__all__ = ["TrainingFigure", "plot_checkpoints", "plot_training"]
