"""Explorer of notebook 06: none / sinusoidal / learned / rotary / ALiBi positions, and a shift of every position.

>>> e = explore_positions("rotary")
>>> e.controls["offset"].value = 9
>>> e.state.shift_change < 1e-12                  # rotary weights depend on distances only
True
"""

from typing import Any

import ipywidgets as widgets

from mha_lib.positions import alibi_slopes
from mha_lib.scenarios.positional_encoding import (
    ALIBI_HEADS,
    D_MODEL_CHOICES,
    KINDS,
    LEARNED_MAX_LEN,
    MAX_DISTANCE,
    OFFSET_RANGE,
    SEQ_LEN_RANGE,
    PositionsScenario,
    positions_compute,
)
from mha_lib.viz import LiveFigure
from mha_lib.viz.positional_encoding import PositionsFigure
from mha_lib.widgets.base import STYLE, Explorer, choice_slider, readout, seed_slider, slider


class PositionsExplorer(Explorer):
    """Encoding kind, d_model, sequence length, a shift of every position, ALiBi's head; one head's attention."""

    name = "positions"
    state: PositionsScenario

    def _labels(self) -> tuple[list[str], list[str]]:
        return list(self.state.tokens), list(self.state.tokens)

    def __init__(self, kind: str, d_model: int, seq_len: int, offset: int, head: int, seed: int) -> None:
        positions_compute(kind, d_model, seq_len, offset, head, seed)  # checks every argument, naming it
        slopes = alibi_slopes(ALIBI_HEADS)
        controls = {
            "kind": widgets.ToggleButtons(options=KINDS, value=kind, description="encoding", style=STYLE),
            "d_model": choice_slider("d_model", D_MODEL_CHOICES, d_model),
            "seq_len": slider("sequence length T", seq_len, *SEQ_LEN_RANGE),
            "offset": slider("offset k", offset, *OFFSET_RANGE),  # every position + k
            "head": choice_slider(
                "ALiBi head", [(f"{h}: m = 1/{round(1 / m)}", h) for h, m in enumerate(slopes)], head
            ),
            "seed": seed_slider(seed),
        }
        self.summary = readout()
        super().__init__(controls, extra=(self.summary,))

    def _compute(self) -> PositionsScenario:
        return positions_compute(**self.values())

    def _layout_key(self) -> tuple:
        return self.state.kind, *self.state.encoding.shape

    def _make_figure(self) -> LiveFigure:
        s = self.state
        return PositionsFigure(s.kind, s.tokens, columns=s.encoding.shape[1], max_distance=MAX_DISTANCE)

    def _figure_data(self) -> dict[str, Any]:
        s = self.state
        return {
            "encoding": s.encoding,
            "positions": s.positions.tolist(),
            "weights": s.weights,
            "shift_change": s.shift_change,
            "distances": s.distances,
            "curve": s.curve,
            "slope": s.slope,
            "head": s.head,
        }

    def _after_update(self) -> None:
        s = self.state
        self.controls["head"].disabled = s.kind != "alibi"
        first, last = int(s.positions[0]), int(s.positions[-1])
        if s.weights is None:
            change = (
                f"no weights: nn.Embedding({LEARNED_MAX_LEN}, d_model) has no row for positions ≥ {LEARNED_MAX_LEN}"
            )
        else:
            change = f"largest change of a weight against offset 0: {s.shift_change:.3g}"
        self.summary.value = f"every position + k = {first}: positions {first} … {last}; {change}"


def explore_positions(
    kind: str = "sinusoidal", d_model: int = 16, seq_len: int = 6, offset: int = 0, head: int = 0, seed: int = 0
) -> PositionsExplorer:
    """Explorer 6: how each encoding tells attention where tokens sit; shift every position by ``offset``.

    Controls: ``kind`` (none / sinusoidal / learned / rotary / alibi), ``d_model``, ``seq_len``, ``offset``,
    ``head`` (ALiBi's slope), ``seed``.
    """
    return PositionsExplorer(kind, d_model, seq_len, offset, head, seed)
