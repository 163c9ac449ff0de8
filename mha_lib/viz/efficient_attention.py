"""The figures of notebook 09's explorers: the tiled forward tile by tile, and a KV cache token by token."""

from collections.abc import Sequence
from typing import Annotated

import matplotlib as mpl
import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.patches import Rectangle

from mha_lib.viz import style
from mha_lib.viz.layout import _as_array, _colorbar_beside, _heatmap, _Row, _token_inches, _token_labels
from mha_lib.viz.live import LiveFigure
from mha_lib.viz.raster import BitmapLabels


def _values_cmap() -> mpl.colors.Colormap:
    """Scores and outputs, centred on 0; cells not computed yet in the blocked grey."""
    return mpl.colormaps[style.SCORES_CMAP].with_extremes(bad=style.BLOCKED_COLOR)


class TilingFigure(LiveFigure):
    """Scores read so far (grey = not read yet or skipped) with the tile grid and the current tile outlined;
    each row's running max m and sum ℓ; the partial output acc / ℓ beside the exact output of SDPA.

    >>> fig = TilingFigure(list("我想吃"), block_q=2, block_k=2, d_v=2)
    >>> nan = float("nan")
    >>> fig.render(scores=np.array([[1.0, nan, nan], [0.5, nan, nan], [nan, nan, nan]]), current=(0, 0, 2, 1),
    ...            running_max=np.array([1.0, 0.5, -np.inf]), running_sum=np.array([1.0, 1.0, 0.0]),
    ...            partial=np.zeros((3, 2)), final=np.ones((3, 2)), title="partial output")[:4]
    b'\\x89PNG'
    """

    def __init__(self, labels: Sequence[str], block_q: int, block_k: int, d_v: int) -> None:
        self.labels, self.block_q, self.block_k, self.d_v = list(labels), block_q, block_k, d_v
        super().__init__()

    def _build(self) -> None:
        n, cell = len(self.labels), _token_inches(len(self.labels), len(self.labels), largest=4.0)
        titles = ("scores read so far (grey: not yet)", "running max m, sum ℓ", "partial output", "SDPA output")
        row = _Row(cell * n)
        row.panel(cell * n, labels=self.labels, title=titles[0], ylabel=True)
        row.panel(2.2, labels=self.labels, title=titles[1])
        row.panel(cell * self.d_v, labels=self.labels, title="partial output: max error 0.00")
        row.panel(cell * self.d_v, labels=self.labels, title=titles[3], colorbar=True)
        ax_scores, ax_stats, ax_partial, ax_final = row.place(self.fig)
        blank = np.zeros((n, n))
        features = [str(i) for i in range(self.d_v)]
        self.scores_image = _heatmap(
            ax_scores, blank, self.labels, self.labels, cmap=_values_cmap(), vmin=-1.0, xlabel="key", ylabel="query",
            bitmaps=True,
        )  # fmt: skip
        self.partial_image = _heatmap(ax_partial, np.zeros((n, self.d_v)), self.labels, features, cmap=_values_cmap(),
                                      vmin=-1.0, xlabel="feature", bitmaps=True)  # fmt: skip
        self.final_image = _heatmap(ax_final, np.zeros((n, self.d_v)), self.labels, features, cmap=_values_cmap(),
                                    vmin=-1.0, xlabel="feature", bitmaps=True)  # fmt: skip
        self.final_ticks = self._symmetric_colorbar(self.final_image, ax_final)
        edges_q = [i - 0.5 for i in range(self.block_q, n, self.block_q)]
        edges_k = [j - 0.5 for j in range(self.block_k, n, self.block_k)]
        lines = [[(-0.5, y), (n - 0.5, y)] for y in edges_q] + [[(x, -0.5), (x, n - 0.5)] for x in edges_k]
        self.grid = LineCollection(lines, colors="black", linewidths=1.5)
        ax_scores.add_collection(self.grid)
        self.current = Rectangle((-0.5, -0.5), 1, 1, fill=False, edgecolor=style.HIGHLIGHT_COLOR, linewidth=3)
        ax_scores.add_patch(self.current)
        ax_stats.set_xlim(0, 1)
        ax_stats.set_ylim(n - 0.5, -0.5)
        ax_stats.set_xticks([])
        ax_stats.spines[["top", "right", "bottom"]].set_visible(False)
        _token_labels(ax_stats, self.labels, None, bitmaps=True)
        self.stats = BitmapLabels(
            [""] * n, [(0.05, i) for i in range(n)], ax_stats.transData, size=style.SMALL_FONT_SIZE, ha="left"
        )
        ax_stats.add_artist(self.stats)
        for ax, title in ((ax_scores, titles[0]), (ax_stats, titles[1]), (ax_final, titles[3])):
            self._title(ax, title)
        self.partial_title = self._title(ax_partial, animated=True)
        self._animate(self.scores_image, self.grid, self.current, self.stats, self.partial_image, self.final_image)

    def _update(
        self,
        scores: Annotated[np.ndarray, "q_len k_len"],
        current: tuple[int, int, int, int] | None,
        running_max: Annotated[np.ndarray, "q_len"],
        running_sum: Annotated[np.ndarray, "q_len"],
        partial: Annotated[np.ndarray, "q_len d_v"],
        final: Annotated[np.ndarray, "q_len d_v"],
        title: str,
    ) -> None:
        scores = _as_array(scores, "scores", 2)
        shown = np.where(np.isfinite(scores), scores, np.nan)  # −inf (causal) and not-yet-read cells in grey
        limit = max(float(np.nanmax(np.abs(shown))) if np.isfinite(shown).any() else 1.0, 1e-6)
        self.scores_image.set_data(shown)
        self.scores_image.set_clim(-limit, limit)
        self.current.set_visible(current is not None)
        if current is not None:
            row, col, height, width = current
            self.current.set_bounds(col - 0.5, row - 0.5, width, height)
        running_max, running_sum = _as_array(running_max, "running_max", 1), _as_array(running_sum, "running_sum", 1)
        self.stats.set_texts(
            ["m  —" if not np.isfinite(m) else f"m {m:5.2f}   ℓ {s:5.2f}" for m, s in zip(running_max, running_sum)]
        )
        final = _as_array(final, "final", 2)
        self.final_image.set_data(final)
        self._set_limit(self.final_image, self.final_ticks, final)
        self.partial_image.set_data(_as_array(partial, "partial", 2))
        self.partial_image.set_clim(*self.final_image.get_clim())
        self.partial_title.set_texts([title])


class KVCacheFigure(LiveFigure):
    """The cached keys (rows = tokens; grey columns: heads a smaller cache does not store) and the newest
    token's attention over the cache, one row per query head.

    >>> fig = KVCacheFigure(list("我想吃"), query_heads=2, d_head=2)
    >>> fig.render(keys=np.zeros((3, 4)), weights=np.full((2, 3), 1 / 3), title="cache")[:4]
    b'\\x89PNG'
    """

    def __init__(self, labels: Sequence[str], query_heads: int, d_head: int) -> None:
        self.labels, self.query_heads, self.d_head = list(labels), query_heads, d_head
        super().__init__()

    def _build(self) -> None:
        n, width = len(self.labels), self.query_heads * self.d_head
        cell = _token_inches(n, n, largest=4.0)
        heads = [f"q{h}" for h in range(self.query_heads)]
        row = _Row(cell * n)
        row.panel(cell * width / 2, labels=self.labels, title="KV cache: 000 bytes (float64)", ylabel=True)
        row.panel(cell * n, labels=heads, title="newest token's weights per query head", colorbar=True)
        ax_keys, ax_weights = row.place(self.fig)
        features = [f"h{f // self.d_head}" if f % self.d_head == 0 else "" for f in range(width)]
        self.keys_image = _heatmap(ax_keys, np.zeros((n, width)), self.labels, features, cmap=_values_cmap(),
                                   vmin=-1.0, aspect="auto", xlabel="cached K (heads × d_head)", ylabel="token",
                                   bitmaps=True)  # fmt: skip
        self.weights_image = _heatmap(ax_weights, np.zeros((self.query_heads, n)), heads, self.labels,
                                      aspect="auto", xlabel="cached key", bitmaps=True)  # fmt: skip
        self.keys_image.set_clim(-2.5, 2.5)
        self.weights_image.set_cmap(mpl.colormaps[style.WEIGHTS_CMAP].with_extremes(bad=style.BLOCKED_COLOR))
        _colorbar_beside(self.fig, self.weights_image, ax_weights, bitmaps=True)
        self.keys_title = self._title(ax_keys, animated=True)
        self._title(ax_weights, "newest token's weights per query head")
        self._animate(self.keys_image, self.weights_image)
        self._weights_panel(self.weights_image)  # predict mode: hidden until the learner guesses

    def _update(
        self,
        keys: Annotated[np.ndarray, "tokens features"],
        weights: Annotated[np.ndarray, "q_heads tokens"],
        title: str,
    ) -> None:
        keys, weights = _as_array(keys, "keys", 2), _as_array(weights, "weights", 2)
        n, width = len(self.labels), self.query_heads * self.d_head
        shown = np.full((n, width), np.nan)  # grey: not cached (a later token, or a head this cache does not keep)
        shown[: keys.shape[0], : keys.shape[1]] = keys
        self.keys_image.set_data(shown)
        row = np.full((self.query_heads, n), np.nan)
        row[:, : weights.shape[1]] = weights
        self.weights_image.set_data(row)
        self.keys_title.set_texts([title])
