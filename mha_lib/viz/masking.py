"""The masking explorer's figure: the mask beside the weights it produces."""

from collections.abc import Sequence
from typing import Annotated

import numpy as np

from mha_lib.viz import style
from mha_lib.viz.layout import _as_array, _colorbar_beside, _heatmap, _masked, _Row, _token_inches
from mha_lib.viz.live import LiveFigure


class MaskingFigure(LiveFigure):
    """The mask (blue = may attend, grey = blocked) beside the weights it produces.

    >>> fig = MaskingFigure(list("我想"))
    >>> fig.render(mask=np.tril(np.ones((2, 2), bool)), weights=np.array([[1.0, 0.0], [0.5, 0.5]]))[:4]
    b'\\x89PNG'
    """

    def __init__(self, labels: Sequence[str]) -> None:
        self.labels = list(labels)
        super().__init__()

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
        self.mask_image = _heatmap(ax_mask, blank, **labels, cmap=style._mask_cmap())
        self.weights_image = _heatmap(ax_weights, blank, **labels)
        for ax, title in zip((ax_mask, ax_weights), titles):
            self._title(ax, title)
        _colorbar_beside(self.fig, self.weights_image, ax_weights, bitmaps=True)
        self._animate(self.mask_image, self.weights_image)
        self._weights_panel(self.weights_image)

    def _update(
        self, mask: Annotated[np.ndarray, "q_len k_len"], weights: Annotated[np.ndarray, "q_len k_len"]
    ) -> None:
        mask = _as_array(mask, "mask", 2).astype(bool)
        self.mask_image.set_data(mask.astype(float))
        self.weights_image.set_data(_masked(_as_array(weights, "weights", 2), mask))
