"""The head-splitting explorer's figure (also the cross-attention explorer's): one heatmap per head."""

from collections.abc import Sequence
from typing import Annotated

import numpy as np

from mha_lib.viz.layout import _as_array, _head_grid, _masked
from mha_lib.viz.live import LiveFigure


class HeadsFigure(LiveFigure):
    """One heatmap per head on a shared 0..1 colour scale, entropy in each title; also rectangular (cross).

    >>> fig = HeadsFigure(2, list("我想吃"), list("我想吃"))
    >>> fig.render(weights=np.full((2, 3, 3), 1 / 3), entropies=[1.1, 1.1])[:4]
    b'\\x89PNG'
    """

    def __init__(self, num_heads: int, row_labels: Sequence[str], col_labels: Sequence[str], *, ncols: int = 4) -> None:
        self.num_heads, self.ncols = num_heads, ncols
        self.row_labels, self.col_labels = list(row_labels), list(col_labels)
        super().__init__()

    def _build(self) -> None:
        self.axes, self.images = _head_grid(
            self.fig, self.num_heads, self.ncols, self.row_labels, self.col_labels, bitmaps=True
        )
        self.entropy_texts = []
        for h, (ax, im) in enumerate(zip(self.axes, self.images)):
            self._animate(im)
            self._weights_panel(im)
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
