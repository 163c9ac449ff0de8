"""The Explorer base: controls → a pure scenario function → a persistent figure → PNG in an ``ipywidgets.Image``.

Each explorer module subclasses ``Explorer`` with four small methods (``_compute``, ``_layout_key``,
``_make_figure``, ``_figure_data``); this module holds what they share: the control factories, the CSS that
makes controls readable from the back of a room, and the figure cache.

>>> import torch
>>> shape(torch.zeros(2, 3))
'(2, 3)'
"""

from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import ipywidgets as widgets
from IPython.display import Image as DisplayImage
from torch import Tensor

from mha_lib._threads import torch_threads
from mha_lib._validate import require_int
from mha_lib.scenarios._common import SEED_RANGE
from mha_lib.viz import LiveFigure, style
from mha_lib.widgets.classroom import _LIVE, EXPORTED, Tools, export
from mha_lib.widgets.fonts import explorer_font_css

# Readable from the back of a lecture room: larger labels, readouts and buttons inside an explorer; larger
# still in projector mode (``classroom(True)``).
_TEXT = (
    ".widget-label, .widget-readout, .widget-dropdown select, .widget-toggle-button, .widget-checkbox label,"
    " .widget-button, .widget-html-content"
)
CSS = (
    "<style>"
    + ", ".join(f".mha-explorer {t.strip()}" for t in _TEXT.split(","))
    + " {font-size: 1.2rem;} .mha-explorer .mha-shapes {font-size: 1.1rem;} "
    + ", ".join(f".mha-explorer.mha-projector {t.strip()}" for t in _TEXT.split(","))
    + " {font-size: 1.8rem; line-height: 1.3;} .mha-explorer.mha-projector .widget-toggle-button,"
    " .mha-explorer.mha-projector .widget-button {height: auto; min-height: 2.6rem; padding: 0.2rem 0.8rem;}"
    " .mha-explorer.mha-projector .widget-slider .noUi-handle {transform: scale(1.5);}"
    " .mha-explorer.mha-projector {--jp-widgets-inline-height: 2.8rem; --jp-widgets-inline-label-width: auto;}"
    "</style>"
)
STYLE = {"description_width": "initial"}
# Figures kept per explorer, one per layout (sequence length, head count): dragging a size slider back to a
# recent value is then a redraw (~20 ms) instead of building and drawing a figure (~100-150 ms).
FIGURE_CACHE_SIZE = 4


def wide() -> widgets.Layout:
    """The width of a slider row: long enough for its label and readout."""
    return widgets.Layout(width="24rem")


def slider(description: str, value: int, low: int, high: int) -> widgets.IntSlider:
    """An integer slider that updates while dragged (``value`` already checked to lie in [low, high])."""
    return widgets.IntSlider(
        value=value, min=low, max=high, description=description, style=STYLE, layout=wide(), continuous_update=True
    )


def choice_slider(description: str, options: Sequence, value: object) -> widgets.SelectionSlider:
    """A slider over ``options`` (values, or (label, value) pairs) that updates while dragged."""
    return widgets.SelectionSlider(
        options=options, value=value, description=description, style=STYLE, layout=wide(), continuous_update=True
    )


def seed_slider(seed: int) -> widgets.IntSlider:
    """The seed slider every explorer has."""
    return slider("seed", require_int("seed", seed, *SEED_RANGE), *SEED_RANGE)


def readout() -> widgets.HTML:
    """A line of monospaced text under the controls (shapes, summaries), as large as the labels."""
    line = widgets.HTML()
    line.add_class("mha-shapes")
    return line


def shape(x: Tensor) -> str:
    """``(2, 3)`` for a tensor of that shape, as the explorers print it."""
    return "(" + ", ".join(str(n) for n in x.shape) + ")"


def one_thread() -> AbstractContextManager[None]:
    """Run torch on one thread meanwhile: on an explorer's tiny tensors, waking OpenMP workers on a busy
    machine cost ~8 ms per softmax or max (measured on 2 shared cores), one thread a few µs.
    """
    return torch_threads(1)


class Explorer(widgets.VBox):
    """Base of the explorers: controls on top, the PNG below; every value change recomputes and redraws.

    Subclasses define ``_compute`` (a scenario function's frozen result, kept as ``state``), ``_layout_key``,
    ``_make_figure`` and ``_figure_data``, and may adjust dependent controls in ``_sync_controls`` (e.g. a
    slider's max that follows the sequence length) and extra widgets in ``_after_update``.
    """

    name = "explorer"  # the stem of exported file names
    UNRUN_TEXT = "Live explorer — run the notebook to use it; the picture above is its default view"

    def __init__(self, controls: dict[str, widgets.Widget], *, extra: tuple = ()) -> None:
        self.controls = controls
        self.state: Any = None
        self.image = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
        self.tools = Tools(self)
        self._figures: OrderedDict[tuple, LiveFigure] = OrderedDict()  # by layout key, most recent last
        self._syncing = False
        for control in controls.values():
            if isinstance(control, widgets.ValueWidget):
                control.observe(self._on_change, names="value")
        self._defaults = self.values()
        boxes = widgets.HBox(
            [c for c in controls.values() if isinstance(c, widgets.ValueWidget)],
            layout=widgets.Layout(flex_flow="row wrap"),
        )
        super().__init__([widgets.HTML(explorer_font_css() + CSS), boxes, *extra, self.tools.box, self.image])
        self.add_class("mha-explorer")
        if style.PROJECTOR:
            self.add_class("mha-projector")
        _LIVE.add(self)
        self.update()

    def __repr__(self) -> str:
        """The sentence a notebook shows where this cell's output has not run yet (JupyterLab before running,
        GitHub): ipywidgets stores it as the output's ``text/plain``."""
        return self.UNRUN_TEXT

    @property
    def figure(self) -> LiveFigure:
        """The persistent figure behind ``image``: the same after a redraw, another after a layout change."""
        return next(reversed(self._figures.values()))

    def values(self) -> dict[str, Any]:
        """The current value of every value control, by name."""
        return {name: c.value for name, c in self.controls.items() if isinstance(c, widgets.ValueWidget)}

    def _on_change(self, change: dict) -> None:
        if self._syncing:
            return
        with self._sync():
            self._sync_controls(change)
        self.update()

    @contextmanager
    def _sync(self) -> Iterator[None]:
        """While active, control changes (made by the explorer itself) do not trigger a recompute."""
        previous, self._syncing = self._syncing, True
        try:
            yield
        finally:
            self._syncing = previous

    def _sync_controls(self, change: dict) -> None:
        """Adjust dependent controls after ``change``; their own change events are ignored meanwhile."""

    def update(self) -> None:
        """Recompute ``state`` from the controls and redraw ``image`` (a new figure only if the layout changed)."""
        with one_thread():
            self.state = self._compute()
        layout = self._layout_key()
        figure = self._figures.pop(layout, None) or self._make_figure()
        self._figures[layout] = figure
        while len(self._figures) > max(1, FIGURE_CACHE_SIZE):
            self._figures.popitem(last=False)  # forget the least recently shown layout
        self.tools.predictor.show(figure)
        self.image.value = figure.render(**self._figure_data())
        with self._sync():
            self._after_update()
            self.tools.predictor.after_update()

    def reset(self) -> None:
        """Every control back to the value it had when the explorer was made (the default view)."""
        for name, value in self._defaults.items():
            self.controls[name].value = value  # in order: sizes come before the controls that follow them
        self.update()

    def export(self, folder: str | Path) -> list[Path]:
        """The current view as PNG and the weights, mask and scores shown as CSV, in ``folder``; the paths."""
        return export(self, folder)

    def restyle(self) -> None:
        """Redraw in the current style (after ``classroom(on)``): figures are built anew, controls restyled."""
        (self.add_class if style.PROJECTOR else self.remove_class)("mha-projector")
        self._figures.clear()
        self.update()

    def _labels(self) -> tuple[list[str], list[str]]:
        """Names of the query rows and of the key columns of the weights shown (token names where the
        explorer knows them; positions otherwise)."""
        t_q, t_k = self._predict_weights().shape
        return [str(i) for i in range(t_q)], [str(j) for j in range(t_k)]

    def _export_values(self) -> dict[str, Any]:
        """The control values that name an export (all value controls unless a subclass drops some)."""
        return self.values()

    def _exported(self) -> dict[str, Tensor]:
        """The tensors an export writes as CSV: the state's weights, mask and scores, where it has them."""
        fields = {name: getattr(self.state, name, None) for name in EXPORTED}
        return {name: t for name, t in fields.items() if isinstance(t, Tensor)}

    def _predicts(self) -> bool:
        """Whether predict mode applies to the state on screen (it has (Tq, Tk) or (H, Tq, Tk) weights)."""
        weights = getattr(self.state, "weights", None)
        return isinstance(weights, Tensor) and weights.dim() in (2, 3)

    def _predict_weights(self) -> Tensor:
        """The (Tq, Tk) weights a learner predicts in predict mode: the only head, or head 0."""
        weights = self.state.weights
        return weights if weights.dim() == 2 else weights[0]  # (Tq, Tk)

    def _predict_head_name(self) -> str:
        """How the question names the head predicted ("" for single-head explorers)."""
        return "" if self.state.weights.dim() == 2 else " in head 0"

    def _predict_query(self, round: int) -> int:
        """The query row asked about in round ``round`` of predict mode: each row in turn."""
        return round % self._predict_weights().shape[0]

    def _after_update(self) -> None:
        """Reflect the new state in extra widgets (shape text, toggle grid)."""

    def snapshot(self) -> DisplayImage:
        """The current view as a static PNG for a notebook cell (GitHub shows it; nbval does not compare it)."""
        return DisplayImage(data=bytes(self.image.value), format="png")

    def _compute(self) -> Any:
        raise NotImplementedError

    def _layout_key(self) -> tuple:
        raise NotImplementedError

    def _make_figure(self) -> LiveFigure:
        raise NotImplementedError

    def _figure_data(self) -> dict[str, Any]:
        raise NotImplementedError
