"""What every explorer carries for a lecture hall: projector mode, predict-first polling, export and reset.

``classroom(True)`` (or any explorer's "projector" button) switches explorers to projector size; each
explorer's tool row also holds a "predict first"
switch (the weights are hidden until the learner clicks the key they expect the highlighted query to weigh
most, then revealed with the guess marked and a running score), a reset button and an export button
(the current view as PNG and the tensors shown as CSV, named after the explorer and its settings).

>>> settings_stem("masking", {"kind": "causal", "seq_len": 8, "seed": 0})
'masking_causal_T8_seed0'
"""

import csv
import re
import weakref
from pathlib import Path
from typing import TYPE_CHECKING

import ipywidgets as widgets
import torch

from mha_lib.viz import style

if TYPE_CHECKING:
    from mha_lib.widgets.base import Explorer

_LIVE: "weakref.WeakSet[Explorer]" = weakref.WeakSet()  # explorers created so far and still alive
# Short names of controls in export file names; a control not listed keeps its own name.
SHORT_NAMES = {
    "seq_len": "T",
    "d_model": "D",
    "num_heads": "H",
    "d_k": "dk",
    "valid_len": "valid",
    "q_len": "Tq",
    "src_len": "Tk",
    "src_valid_len": "validk",
    "query": "q",
    "temperature": "temp",
}
EXPORTED = ("weights", "mask", "scores")  # the state's tensors written as CSV, where it has them
EXPORT_FOLDER = Path("exports")  # where the export button writes, relative to the notebook
_FIT = {"width": "auto"}  # tool buttons as wide as their text, at any font size


def classroom(on: bool = True) -> None:
    """Projector mode (``on``) or back to the screen for every explorer created afterwards and every open one:
    larger fonts in controls and figures, white lines between heatmap cells, the inferno colour map (its
    lightness runs from black to near white, so the order of the weights survives a washed-out projector),
    larger toggle buttons. A closed explorer (``.close()``) is not redrawn."""
    if bool(on) == style.PROJECTOR:
        return
    style.use_projector(on)
    for explorer in list(_LIVE):
        if explorer.comm is None:  # closed: nobody sees it
            continue
        explorer.tools.projector.value = style.PROJECTOR  # its observer calls classroom(on) again: a no-op
        explorer.restyle()


def settings_stem(name: str, values: dict[str, object]) -> str:
    """A file-name stem from an explorer's name and control values: strings as they are, numbers after a short
    name of their control, booleans as the control's name or ``no_`` + it; text cut to a safe 40 characters."""
    parts = [name]
    for key, value in values.items():
        if isinstance(value, bool):
            parts.append(key if value else f"no_{key}")
        elif isinstance(value, str):
            parts.append(re.sub(r"\W+", "-", value).strip("-")[:40])  # a sentence becomes a short safe name
        elif isinstance(value, float):
            parts.append(f"{SHORT_NAMES.get(key, key)}{value:g}")
        elif value is not None:
            parts.append(f"{SHORT_NAMES.get(key, key)}{value}")
    return "_".join(parts)


def write_csv(path: Path, tensor: torch.Tensor, rows: list[str], cols: list[str]) -> None:
    """A (Tq, Tk) or (H, Tq, Tk) tensor as CSV: a header of key names, one line per query (per head); floats
    written with ``repr``, so reading them back gives the same float64; bools as 1/0."""
    values = tensor.detach().cpu()
    values = values.int() if values.dtype == torch.bool else values.double()
    heads = values.unsqueeze(0) if values.dim() == 2 else values  # (H, Tq, Tk)
    with path.open("w", newline="", encoding="utf-8") as file:
        out = csv.writer(file)
        out.writerow((["head"] if values.dim() == 3 else []) + ["query \\ key", *cols])
        for h, head in enumerate(heads.tolist()):
            for label, row in zip(rows, head):
                out.writerow(([h] if values.dim() == 3 else []) + [label, *map(repr, row)])


def export(explorer: "Explorer", folder: str | Path) -> list[Path]:
    """Write ``explorer``'s current view as ``<stem>.png`` and its weights/mask/scores as ``<stem>_<name>.csv``
    into ``folder`` (created if missing); returns the paths written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stem = settings_stem(explorer.name, explorer._export_values())
    png = folder / f"{stem}.png"
    png.write_bytes(bytes(explorer.image.value))
    paths = [png]
    rows, cols = explorer._labels()
    for field, tensor in explorer._exported().items():
        if tensor.dim() in (2, 3) and tensor.shape[-2:] == (len(rows), len(cols)):
            paths.append(folder / f"{stem}_{field}.csv")
            write_csv(paths[-1], tensor, rows, cols)
    return paths


class Predictor:
    """Predict first: the weights stay hidden until the learner picks the key the highlighted query weighs most.

    ``asked`` and ``correct`` count the rounds; ``key_buttons[j]`` is key j's button; ``next_query()`` moves on.
    """

    def __init__(self, explorer: "Explorer") -> None:
        self.explorer = explorer
        self.switch = widgets.ToggleButton(value=False, description="predict first", icon="question", layout=_FIT)
        self.switch.observe(lambda change: self._toggle(change["new"]), names="value")
        self.prompt = widgets.HTML()
        self.keys = widgets.HBox(layout=widgets.Layout(flex_flow="row wrap"))
        self.next_button = widgets.Button(description="next query", layout=_FIT)
        self.next_button.on_click(lambda _: self.next_query())
        self.score = widgets.HTML()
        self.box = widgets.VBox([self.prompt, self.keys, widgets.HBox([self.next_button, self.score])])
        self.box.layout.display = "none"
        self.key_buttons: list[widgets.Button] = []
        self.round = self.asked = self.correct = 0
        self.query: int | None = None  # the highlighted row while predicting; None: predict mode off
        self.guess: int | None = None

    @property
    def active(self) -> bool:
        return self.switch.value

    def show(self, figure) -> None:
        """Put the prediction state into ``figure`` before it renders."""
        available = self.explorer._predicts()
        self.switch.layout.display = None if available else "none"
        if not (self.active and available):
            self.query = None
            figure.show_prediction()
            return
        self.query = self.explorer._predict_query(self.round)
        figure.show_prediction(self.query, self.guess, hidden=self.guess is None)

    def after_update(self) -> None:
        """Key buttons and texts for the state on screen."""
        if not self.active or self.query is None:
            return
        rows, cols = self.explorer._labels()
        if len(self.key_buttons) != len(cols) or [b.description for b in self.key_buttons] != cols:
            self.key_buttons = [widgets.Button(description=c, layout=widgets.Layout(width="auto")) for c in cols]
            for j, button in enumerate(self.key_buttons):
                button.on_click(lambda _, j=j: self.pick(j))
            self.keys.children = self.key_buttons
        head = self.explorer._predict_head_name()
        asking = f"Which key does query {rows[self.query]} (row {self.query}){head} weigh most? Click it."
        if self.guess is not None:
            row = self.explorer._predict_weights()[self.query]  # (Tk,)
            best = int(row.argmax())
            verdict = "Right" if row[self.guess] >= row[best] else "Not this time"
            asking = (
                f"{verdict}: you picked {cols[self.guess]} ({row[self.guess]:.2f}); the most weight went to "
                f"{cols[best]} ({row[best]:.2f})."
            )
        self.prompt.value = asking
        for j, button in enumerate(self.key_buttons):
            button.disabled = self.guess is not None
            button.button_style = "warning" if j == self.guess else ""
        self.score.value = f"score: {self.correct} of {self.asked}"

    def pick(self, key: int) -> None:
        """The learner's guess for the highlighted query: reveal the weights with it marked and score it."""
        if not self.active or self.guess is not None:
            return
        row = self.explorer._predict_weights()[self.query]  # (Tk,)
        self.guess = key
        self.asked += 1
        self.correct += bool(row[key] >= row.max())  # a tie for the largest weight counts as right
        self.explorer.update()

    def next_query(self) -> None:
        """Hide the weights again and ask about the next query row."""
        self.round += 1
        self.guess = None
        self.explorer.update()

    def _toggle(self, on: bool) -> None:
        self.box.layout.display = "flex" if on else "none"
        self.guess = None
        if not on:
            self.query = None
        self.explorer.update()


class Tools:
    """The tool row of an explorer: predict first, reset, export (to ``EXPORT_FOLDER``)."""

    def __init__(self, explorer: "Explorer") -> None:
        self.predictor = Predictor(explorer)
        self.reset_button = widgets.Button(
            description="reset", icon="undo", tooltip="back to the default view", layout=_FIT
        )
        self.reset_button.on_click(lambda _: explorer.reset())
        self.export_button = widgets.Button(
            description="export", icon="download", tooltip="PNG + CSV to exports/", layout=_FIT
        )
        self.export_button.on_click(lambda _: self._export(explorer))
        self.projector = widgets.ToggleButton(value=style.PROJECTOR, description="projector", icon="tv", layout=_FIT)
        self.projector.observe(lambda change: classroom(change["new"]), names="value")
        self.message = widgets.HTML()
        buttons = (self.predictor.switch, self.projector, self.reset_button, self.export_button, self.message)
        row = widgets.HBox(buttons)
        self.box = widgets.VBox([row, self.predictor.box])

    def _export(self, explorer: "Explorer") -> None:
        paths = export(explorer, EXPORT_FOLDER)
        self.message.value = "wrote " + ", ".join(str(p) for p in paths)
