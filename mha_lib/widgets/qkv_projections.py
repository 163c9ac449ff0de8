"""Explorer of notebook 01: tokens → Q, K, V → scores → weights → the weighted sum of V, with every shape.

>>> explore_qkv(seq_len=3).state.weights.shape
torch.Size([3, 3])
"""

from typing import Any

from mha_lib.data import tokens
from mha_lib.scenarios.qkv_projections import D_K_RANGE, SEQ_LEN_RANGE, QKVScenario, qkv_compute
from mha_lib.viz import LiveFigure, QKVFigure
from mha_lib.widgets.base import Explorer, readout, seed_slider, shape, slider


class QKVExplorer(Explorer):
    """Sequence length, d_k, seed and the selected query row of single-head self-attention."""

    name = "qkv"
    state: QKVScenario

    def __init__(self, seq_len: int, d_k: int, seed: int, query: int) -> None:
        qkv_compute(seq_len, d_k, seed, query)  # checks every argument, naming it
        controls = {
            "seq_len": slider("sequence length T", seq_len, *SEQ_LEN_RANGE),
            "d_k": slider("d_k (size of q, k, v)", d_k, *D_K_RANGE),
            "seed": seed_slider(seed),
            "query": slider("query row", query, 0, seq_len - 1),
        }
        self.shapes = readout()
        super().__init__(controls, extra=(self.shapes,))

    def _sync_controls(self, change: dict) -> None:
        if change["owner"] is self.controls["seq_len"]:
            self.controls["query"].max = change["new"] - 1  # clamps the value too

    def _labels(self) -> tuple[list[str], list[str]]:
        words = tokens(self.state.weights.shape[0], "zh")
        return words, words

    def _predict_query(self, round: int) -> int:
        return self.state.query  # the row the query slider selects

    def _compute(self) -> QKVScenario:
        return qkv_compute(**self.values())

    def _layout_key(self) -> tuple:
        return self.state.weights.shape[0], self.state.v.shape[1]

    def _make_figure(self) -> LiveFigure:
        return QKVFigure(tokens(self.state.weights.shape[0], "zh"), self.state.v.shape[1])

    def _figure_data(self) -> dict[str, Any]:
        s = self.state
        return {
            "scores": s.scores,
            "weights": s.weights,
            "contributions": s.contributions,
            "out_row": s.out[s.query],
            "query": s.query,
        }

    def _after_update(self) -> None:
        s = self.state
        lines = [
            f"X {shape(s.x)}  ·  W_Q {shape(s.w_q)}  =  Q {shape(s.q)}",
            f"X {shape(s.x)}  ·  W_K {shape(s.w_k)}  =  K {shape(s.k)}",
            f"X {shape(s.x)}  ·  W_V {shape(s.w_v)}  =  V {shape(s.v)}",
            f"scores = Q Kᵀ / √d_k {shape(s.scores)}   weights = softmax(scores) {shape(s.weights)}",
            f"out = weights V {shape(s.out)}",
        ]
        self.shapes.value = "<br>".join(lines)


def explore_qkv(seq_len: int = 6, d_k: int = 8, seed: int = 0, query: int = 0) -> QKVExplorer:
    """Explorer 1: tokens → Q, K, V → scores → weights → weighted sum of V, with every shape.

    Controls: ``seq_len``, ``d_k``, ``seed``, ``query``.
    """
    return QKVExplorer(seq_len, d_k, seed, query)
