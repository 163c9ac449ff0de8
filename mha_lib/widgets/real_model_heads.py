"""Explorer of notebook 08: every head of all-MiniLM-L6-v2 on a sentence you type, raw or value-weighted.

>>> explorer = explore_pretrained("Hello world", layer=0, head=2)
>>> explorer.state.tokens, explorer.state.scores.top("previous")
(['[CLS]', 'hello', 'world', '[SEP]'], (0, 2))
"""

from typing import Any

import ipywidgets as widgets
from torch import Tensor

from mha_lib.scenarios.real_model_heads import DEFAULT_TEXT, PretrainedScenario, pretrained_compute
from mha_lib.viz.live import LiveFigure
from mha_lib.viz.real_model_heads import PretrainedFigure
from mha_lib.widgets.base import STYLE, Explorer

WEIGHTING_LABELS = {"raw": "raw weights", "value_norm": "weight × value norm"}


def _buttons(description: str, options: list, value: object, width: str) -> widgets.ToggleButtons:
    return widgets.ToggleButtons(
        options=options, value=value, description=description, style={**STYLE, "button_width": width}
    )


class PretrainedExplorer(Explorer):
    """A text box (updates on Enter), layer and head buttons, raw or value-norm-weighted weights."""

    name = "pretrained"
    state: PretrainedScenario

    def _labels(self) -> tuple[list[str], list[str]]:
        return list(self.state.tokens), list(self.state.tokens)

    def _exported(self) -> dict[str, Tensor]:
        return {"weights": self.state.selected}  # the selected head, as shown (raw or value-norm weighted)

    def _predicts(self) -> bool:
        return True

    def _predict_weights(self) -> Tensor:
        return self.state.selected  # (T, T)

    def _predict_head_name(self) -> str:
        return f" in layer {self.state.layer}, head {self.state.head}"

    def __init__(self, text: str, layer: int, head: int, weighting: str) -> None:
        first = pretrained_compute(text, layer, head, weighting)  # checks every argument, naming it
        num_layers, num_heads = first.shown.shape[:2]
        self.error = widgets.HTML()
        controls = {
            "text": widgets.Text(
                value=text,
                description="sentence (press Enter)",
                continuous_update=False,  # a forward pass per keystroke would make typing lag
                style=STYLE,
                layout=widgets.Layout(width="40rem"),
            ),
            "layer": _buttons("layer", list(range(num_layers)), layer, "3.4rem"),
            "head": _buttons("head", list(range(num_heads)), head, "3.4rem"),
            "weighting": _buttons("show", [(v, k) for k, v in WEIGHTING_LABELS.items()], weighting, "16rem"),
        }
        self._last_good = first
        super().__init__(controls, extra=(self.error,))

    def _compute(self) -> PretrainedScenario:
        """The scenario of the controls; a text the model cannot show keeps the last view and says why."""
        try:
            state = pretrained_compute(**self.values())
        except ValueError as err:
            self.error.value = f"<b>Not shown:</b> {err}"
            state = pretrained_compute(self._last_good.text, **{k: v for k, v in self.values().items() if k != "text"})
        else:
            self.error.value = ""
        self._last_good = state
        return state

    def _layout_key(self) -> tuple:
        return tuple(self.state.tokens)

    def _make_figure(self) -> LiveFigure:
        num_layers, num_heads = self.state.shown.shape[:2]
        return PretrainedFigure(self.state.tokens, num_layers=num_layers, num_heads=num_heads)

    def _figure_data(self) -> dict[str, Any]:
        s = self.state
        title = f"layer {s.layer}, head {s.head}: {WEIGHTING_LABELS[s.weighting]}"
        return {"shown": s.shown, "entropy": s.entropy, "layer": s.layer, "head": s.head, "title": title}


def explore_pretrained(
    text: str = DEFAULT_TEXT, layer: int = 0, head: int = 0, weighting: str = "raw"
) -> PretrainedExplorer:
    """Explorer 8: all 6 × 12 heads of all-MiniLM-L6-v2 on ``text`` as thumbnails, one head enlarged.

    Controls: ``text`` (recomputed on Enter), ``layer``, ``head``, ``weighting`` (``"raw"`` or ``"value_norm"``:
    each key's share of ‖A[i, j]·v_j W_O^h‖). The model is loaded once per kernel, offline.
    """
    return PretrainedExplorer(text, layer, head, weighting)
