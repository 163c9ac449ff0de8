"""``LiveFigure``: the base of the explorer figures, built once and redrawn by blitting on every update.

A subclass draws everything in ``_build`` (sizing the figure itself) and registers the artists that change
with ``_animate``; ``_update(**data)`` only calls ``set_data``/``set_texts``/``set_lengths`` on them. The first
``render`` draws the static parts once and caches them with ``copy_from_bbox``; later renders restore that
background and draw the registered artists only. Also here: the titles, the scores/weights pair with its
symmetric colour bar and the ``Bars`` that several explorer figures share.
"""

from collections.abc import Sequence

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.collections import PolyCollection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.patches import Rectangle
from matplotlib.transforms import ScaledTranslation

from mha_lib.viz import style
from mha_lib.viz.fonts import _text_width
from mha_lib.viz.layout import _as_array, _colorbar_beside, _heatmap
from mha_lib.viz.raster import BitmapLabels, encode_png


class LiveFigure:
    """A figure that persists across updates and renders to PNG bytes.

    ``_dynamic`` lists the changing artists (animated, so the cached background leaves them out) in drawing
    order. A layout change (sequence length, head count) needs a new object. The figure is a plain ``Figure``
    on a ``FigureCanvasAgg``: pyplot never sees it, so nothing accumulates in ``plt.get_fignums()``.

    >>> class Dot(LiveFigure):
    ...     def _build(self):
    ...         self.fig.set_size_inches(1, 1)
    ...         (self.dot,) = self.fig.add_axes((0, 0, 1, 1)).plot([0.5], [0.5], "o")
    ...         self._animate(self.dot)
    ...     def _update(self, x):
    ...         self.dot.set_xdata([x])
    >>> Dot().render(x=0.2)[:4]
    b'\\x89PNG'
    """

    def __init__(self) -> None:
        self.fig = Figure(dpi=style.DPI)
        FigureCanvasAgg(self.fig)
        self._dynamic: list[Artist] = []
        self._answers: list[Artist] = []  # what reveals the weights: hidden while a learner predicts
        self._marks: list[tuple[Rectangle, Rectangle]] = []  # (query row, guessed cell) per weights panel
        self._background = None
        self._build()

    def _build(self) -> None:
        raise NotImplementedError

    def _update(self, **data: object) -> None:
        raise NotImplementedError

    def render(self, **data: object) -> bytes:
        """Apply ``data`` to the changing artists and return the figure as PNG bytes."""
        self._update(**data)
        return self._draw()

    def show_prediction(self, query: int | None = None, guess: int | None = None, *, hidden: bool = False) -> None:
        """Predict mode, for the next renders: query row ``query`` outlined (None: predict mode off), the weights
        hidden while the learner guesses (``hidden``) or shown with the guessed key ``guess`` marked."""
        for artist in self._answers:
            artist.set_visible(not hidden)
        for row, cell in self._marks:
            row.set_visible(query is not None)
            cell.set_visible(query is not None and guess is not None)
            if query is not None:
                row.set_y(query - 0.5)
                cell.set_xy(((guess or 0) - 0.5, query - 0.5))

    def _draw(self) -> bytes:
        canvas = self.fig.canvas
        if self._background is None:
            canvas.draw()  # static parts only: animated artists are skipped
            self._background = canvas.copy_from_bbox(self.fig.bbox)
        else:
            canvas.restore_region(self._background)
        for artist in self._dynamic:
            self.fig.draw_artist(artist)
        return encode_png(self.fig)

    def _hide_when_predicting(self, *artists: Artist) -> None:
        """Artists that give the answer away (weights, weight bars): hidden while a learner predicts. They must
        be animated too, since the cached background holds none of them."""
        self._answers.extend(artists)

    def _weights_panel(self, image: AxesImage) -> None:
        """A (Tq, Tk) weights heatmap: hidden while predicting, with a query-row outline and a guess marker."""
        self._hide_when_predicting(image)
        cols = image.get_array().shape[1]
        row = Rectangle((-0.5, -0.5), cols, 1, fill=False, edgecolor=style.HIGHLIGHT_COLOR, linewidth=2)
        cell = Rectangle((-0.5, -0.5), 1, 1, fill=False, edgecolor=style.GUESS_COLOR, linewidth=3)
        for mark in (row, cell):
            image.axes.add_patch(mark)
            mark.set_visible(False)
        self._marks.append((row, cell))
        self._animate(row, cell)

    def _animate(self, *artists: Artist) -> None:
        """Mark artists as changing: left out of the cached background, redrawn on every render in this order."""
        for artist in artists:
            artist.set_animated(True)
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
        bar = _colorbar_beside(self.fig, scale, ax, ticks=style.SYMMETRIC_TICKS, bitmaps=True)
        self._animate(bar.numbers)
        return bar.numbers

    def _scores_and_weights(self, ax_scores: Axes, ax_weights: Axes, tokens: Sequence[str]) -> None:
        """The (T, T) scores heatmap (colour bar centred on 0, following the data) and the weights heatmap
        (colour bar 0..1) beside it, rows and columns named by ``tokens``."""
        blank = np.zeros((len(tokens), len(tokens)))
        labels = {"row_labels": tokens, "col_labels": tokens, "xlabel": "key", "bitmaps": True}
        self.scores_image = _heatmap(ax_scores, blank, **labels, cmap=style.SCORES_CMAP, vmin=-1.0, ylabel="query")
        self.weights_image = _heatmap(ax_weights, blank, **labels)
        self.scores_ticks = self._symmetric_colorbar(self.scores_image, ax_scores)
        _colorbar_beside(self.fig, self.weights_image, ax_weights, bitmaps=True)

    def _show_scores_and_weights(self, scores: object, weights: object) -> np.ndarray:
        """Put (T, T) ``scores`` and ``weights`` into the panels of ``_scores_and_weights``; returns the weights
        as an array."""
        scores = _as_array(scores, "scores", 2)
        self.scores_image.set_data(scores)
        self._set_limit(self.scores_image, self.scores_ticks, scores)
        weights = _as_array(weights, "weights", 2)
        self.weights_image.set_data(weights)
        return weights

    @staticmethod
    def _set_limit(image: AxesImage, numbers: BitmapLabels, data: np.ndarray) -> None:
        """Centre ``image``'s colour scale on 0 with a limit covering ``data``; rewrite its colour-bar numbers."""
        limit = _symmetric_limit(data)
        image.set_clim(-limit, limit)
        values = [fraction * limit for fraction in style.SYMMETRIC_TICKS]
        numbers.set_texts([f"{v:.0f}" if abs(v) >= 100 else f"{v:.2g}" for v in values])


class Bars(PolyCollection):
    """Bars at 0..count-1 of ``ax``, upright (or lying, ``horizontal``), as one artist; ``set_lengths`` changes
    them. They leave the axes limits alone: the figure sets those.

    ``ax.bar`` adds a ``Rectangle`` per bar, each one updating the axes limits, and an explorer draws each
    separately on every update: 16 bars and their first draw took ~20 ms here, this collection ~1 ms.

    >>> bars = Bars(Figure().add_subplot(), 3, horizontal=True)
    >>> bars.set_lengths([0.5, 1.0, 0.0])
    >>> bars.get_paths()[1].vertices[:4].tolist()  # bar 1: from 0 to 1.0 along x, 0.6..1.4 across
    [[0.0, 0.6], [1.0, 0.6], [1.0, 1.4], [0.0, 1.4]]
    """

    WIDTH = 0.8  # across the bar, in data units: as ``ax.bar``

    def __init__(self, ax: Axes, count: int, *, horizontal: bool = False, **kwargs: object) -> None:
        self.horizontal = horizontal
        super().__init__(self._corners(np.zeros(count)), linewidths=0, **kwargs)
        ax.add_collection(self, autolim=False)

    def set_lengths(self, lengths: Sequence[float]) -> None:
        self.set_verts(self._corners(np.asarray(lengths, dtype=float)))

    def _corners(self, lengths: np.ndarray) -> np.ndarray:
        across = np.arange(len(lengths))[:, None] + self.WIDTH / 2 * np.array([-1, -1, 1, 1])  # (n, 4)
        along = lengths[:, None] * np.array([0, 1, 1, 0])  # (n, 4)
        return np.stack((along, across) if self.horizontal else (across, along), axis=-1)  # (n, 4, 2) as (x, y)


def _symmetric_limit(*arrays: np.ndarray) -> float:
    """A colour limit centred on 0 that covers every finite value (1.0 for all-zero data).

    >>> _symmetric_limit(np.array([-3.0, 2.0, np.inf]))
    3.0
    """
    values = np.concatenate([np.ravel(a) for a in arrays])
    finite = np.abs(values[np.isfinite(values)])
    return float(finite.max()) if finite.size and finite.max() > 0 else 1.0
