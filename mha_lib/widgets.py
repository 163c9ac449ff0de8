"""Five explorers for the notebooks: controls → a pure compute function → a persistent figure → PNG.

Each ``explore_*`` function returns an ``ipywidgets.VBox`` with ``.controls`` (name → widget), ``.state``
(the tensors it last computed), ``.image`` (an ``ipywidgets.Image`` holding PNG bytes) and ``.snapshot()``
(the current view as an ``IPython.display.Image``, for a notebook cell readable without a kernel).
Setting ``explorer.controls["seq_len"].value = 8`` recomputes and redraws at once. The compute functions
(``qkv_compute``, ``scaling_compute``, ``masking_compute``, ``heads_compute``, ``cross_compute``) are pure
and take plain numbers, so tests call them without a browser.
"""

import math
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import ipywidgets as widgets
import numpy as np
import torch
from IPython.display import Image as DisplayImage
from torch import Tensor

from mha_lib.attention import masked_softmax, scaled_dot_product_attention
from mha_lib.data import embed, random_qkv, tokens
from mha_lib.heads import split_heads, wrong_split_heads
from mha_lib.masks import causal_mask, padding_mask
from mha_lib.viz import HeadsFigure, LiveFigure, MaskingFigure, QKVFigure, ScalingFigure

MAX_TOKENS_ZH = len(tokens(None, "zh"))  # 16
MAX_TOKENS_EN = len(tokens(None, "en"))  # 15
QKV_D_MODEL = 16  # embedding size in explore_qkv (d_k is the slider)
MASK_D = 8  # feature size of the random q, k, v in explore_masking
CROSS_D_MODEL = 16
PROJECTION_SEED_OFFSET = 10_000  # projections use seed + offset, so they never repeat the embedding numbers
# Untrained unit-variance projections give nearly uniform heads (entropy ≈ 0.9 · ln T); trained heads are sharper.
# Scaling W_Q by this factor gives the multi-head explorers score spreads like a trained layer's, so heads differ visibly.
HEAD_SHARPNESS = 2.5
MASK_KINDS = ("none", "padding", "causal", "custom")
HEAD_MASKS = ("none", "causal", "padding")
D_K_CHOICES = (4, 8, 16, 32, 64, 128, 256, 512)
DTYPE = torch.float64

# Readable from the back of a lecture room: larger labels, readouts and buttons inside an explorer.
_CSS = (
    "<style>.mha-explorer .widget-label, .mha-explorer .widget-readout, .mha-explorer .widget-dropdown select,"
    " .mha-explorer .widget-toggle-button, .mha-explorer .widget-checkbox label"
    " {font-size: 1.2rem;} .mha-explorer .mha-shapes {font-family: monospace; font-size: 1.1rem;}</style>"
)
_STYLE = {"description_width": "initial"}
# Figures kept per explorer, one per layout (sequence length, head count): dragging a size slider back to a
# recent value is then a redraw (~20 ms) instead of building and drawing a figure (~100-150 ms). Set it to 1
# to measure every layout change cold.
FIGURE_CACHE_SIZE = 4
MAX_HEADS = 16  # head-count choices stop here: a 4 × 4 grid of heatmaps still fits a projected screen


# ---------------------------------------------------------------------------------------------------------------
# Pure compute


def row_entropy(weights: Annotated[Tensor, "... q_len k_len"]) -> Annotated[Tensor, "... q_len"]:
    """Entropy in nats of each row of attention weights; 0 · log 0 counts as 0, so an all-zero row gives 0.

    ln(Tk) means uniform attention, 0 means all weight on one key.

    >>> row_entropy(torch.tensor([[0.5, 0.5], [1.0, 0.0]]))
    tensor([0.6931, 0.0000])
    """
    return torch.special.entr(weights).sum(-1)  # (..., Tq)


def _check_int(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
    return int(value)


def _divisors(n: int) -> list[int]:
    return [h for h in range(1, n + 1) if n % h == 0]


def _check_heads(num_heads: object, d_model: int, choices: list[int] | None = None) -> int:
    """``num_heads`` if it is one of ``choices`` (default: every divisor of ``d_model``), else a ValueError."""
    choices = _divisors(d_model) if choices is None else choices
    if isinstance(num_heads, bool) or num_heads not in choices:
        raise ValueError(
            f"num_heads={num_heads!r} is not offered for d_model={d_model}: every head needs d_model/num_heads "
            f"features, so num_heads must divide d_model; pick one of {choices}"
        )
    return int(num_heads)


def _head_choices(d_model: int) -> list[int]:
    """Head counts an explorer offers: the divisors of ``d_model`` up to ``MAX_HEADS``."""
    return [h for h in _divisors(d_model) if h <= MAX_HEADS]


def _projection(d_in: int, d_out: int, seed: int, count: int) -> list[Annotated[Tensor, "d_in d_out"]]:
    """``count`` seeded weight matrices (D_in, D_out) with entries of variance 1/D_in (unit-variance outputs)."""
    generator = torch.Generator().manual_seed(seed + PROJECTION_SEED_OFFSET)
    return [torch.randn(d_in, d_out, generator=generator, dtype=DTYPE) / math.sqrt(d_in) for _ in range(count)]


def _embed(n: int, lang: str, d_model: int, seed: int) -> Annotated[Tensor, "1 seq d_model"]:
    """The first ``n`` tokens of the course sentence, embedded as part of the whole sentence.

    ``embed`` draws one vector per distinct token of the words it is given, so embedding the full sentence and
    keeping a prefix means a token keeps its vector when a length slider adds or removes tokens after it.
    """
    return embed(tokens(None, lang), d_model, seed).to(DTYPE)[:, :n]  # (1, T, D)


def qkv_compute(seq_len: int = 6, d_k: int = 8, seed: int = 0, query: int = 0) -> dict[str, Any]:
    """Tokens → X → Q, K, V = X W → scores → weights → out, for one sentence without a batch axis.

    ``contributions[j]`` is ``weights[query, j] · V[j]``; they add up to ``out[query]``.

    >>> s = qkv_compute(seq_len=3, d_k=4)
    >>> s["x"].shape, s["q"].shape, s["weights"].shape, s["out"].shape
    (torch.Size([3, 16]), torch.Size([3, 4]), torch.Size([3, 3]), torch.Size([3, 4]))
    """
    seq_len = _check_int("seq_len", seq_len, 1, MAX_TOKENS_ZH)
    d_k = _check_int("d_k", d_k, 1, 1024)
    query = _check_int("query", query, 0, seq_len - 1)
    x = _embed(seq_len, "zh", QKV_D_MODEL, seed)[0]  # (T, D)
    w_q, w_k, w_v = _projection(QKV_D_MODEL, d_k, seed, 3)  # 3 × (D, Dk)
    q, k, v = x @ w_q, x @ w_k, x @ w_v  # (T, Dk) each
    scores = q @ k.T / math.sqrt(d_k)  # (Tq, Tk)
    weights = masked_softmax(scores)  # (Tq, Tk)
    out = weights @ v  # (Tq, Dk)
    contributions = weights[query].unsqueeze(-1) * v  # (Tk, Dk); sums over keys to out[query]
    return {
        "x": x,
        "w_q": w_q,
        "w_k": w_k,
        "w_v": w_v,
        "q": q,
        "k": k,
        "v": v,
        "scores": scores,
        "weights": weights,
        "out": out,
        "contributions": contributions,
        "query": query,
    }


def scaling_compute(
    d_k: int = 64, scaled: bool = True, temperature: float = 1.0, seed: int = 0, seq_len: int = 8
) -> dict[str, Any]:
    """Random unit-variance q, k: scores = q·k (× 1/√d_k if ``scaled``) / temperature, and what softmax makes of them.

    >>> s = scaling_compute(d_k=512, scaled=False)
    >>> bool(s["max_weight"].mean() > scaling_compute(d_k=512, scaled=True)["max_weight"].mean())
    True
    """
    d_k = _check_int("d_k", d_k, 1, 4096)
    seq_len = _check_int("seq_len", seq_len, 1, MAX_TOKENS_ZH)
    if not (isinstance(temperature, int | float) and math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a positive finite number (1.0 = plain softmax), got {temperature!r}")
    q, k, _ = random_qkv(1, seq_len, seq_len, d_k, seed, dtype=DTYPE)  # (1, T, Dk) each
    scale = 1 / math.sqrt(d_k) if scaled else 1.0
    scores = (q[0] @ k[0].T) * scale / temperature  # (Tq, Tk)
    weights = masked_softmax(scores)  # (Tq, Tk)
    return {
        "q": q[0],
        "k": k[0],
        "scale": scale,
        "scores": scores,
        "scores_std": scores.std().item(),
        "weights": weights,
        "max_weight": weights.max(-1).values,  # (Tq,)
        "entropy": row_entropy(weights),  # (Tq,)
    }


def make_mask(
    kind: str, seq_len: int, valid_len: int, custom: Tensor | None = None
) -> Annotated[Tensor, "q_len k_len"]:
    """The (T, T) bool mask (True = may attend) of one kind: none, padding (keys ≥ valid_len), causal, custom.

    >>> make_mask("padding", 3, 2).int()
    tensor([[1, 1, 0],
            [1, 1, 0],
            [1, 1, 0]], dtype=torch.int32)
    """
    if kind == "none":
        return torch.ones(seq_len, seq_len, dtype=torch.bool)  # (Tq, Tk)
    if kind == "padding":
        valid_len = _check_int("valid_len", valid_len, 0, seq_len)
        return padding_mask(torch.tensor([valid_len]), seq_len)[0].expand(seq_len, seq_len).clone()  # (Tq, Tk)
    if kind == "causal":
        return causal_mask(seq_len)  # (Tq, Tk)
    if kind == "custom":
        if custom is None:
            return torch.ones(seq_len, seq_len, dtype=torch.bool)
        if custom.dtype != torch.bool or tuple(custom.shape) != (seq_len, seq_len):
            raise ValueError(
                f"custom mask must be a bool (T, T) = ({seq_len}, {seq_len}) tensor, got {custom.dtype} "
                f"{tuple(custom.shape)}"
            )
        return custom.clone()
    raise ValueError(f"mask kind must be one of {MASK_KINDS}, got {kind!r}")


def masking_compute(
    kind: str = "padding", seq_len: int = 6, valid_len: int = 4, seed: int = 0, custom: Tensor | None = None
) -> dict[str, Any]:
    """Masked attention of random q, k, v: blocked cells get weight exactly 0, a fully blocked row is all 0.

    ``valid_len`` counts only for ``kind="padding"``; ``custom`` only for ``kind="custom"``.

    >>> s = masking_compute("causal", seq_len=3)
    >>> s["weights"][0].tolist()
    [1.0, 0.0, 0.0]
    """
    seq_len = _check_int("seq_len", seq_len, 1, MAX_TOKENS_ZH)
    mask = make_mask(kind, seq_len, valid_len, custom)  # (Tq, Tk)
    q, k, v = random_qkv(1, seq_len, seq_len, MASK_D, seed, dtype=DTYPE)  # (1, T, D) each
    out, weights = scaled_dot_product_attention(q[0], k[0], v[0], mask)  # (Tq, D), (Tq, Tk)
    return {"q": q[0], "k": k[0], "v": v[0], "mask": mask, "weights": weights, "out": out}


def _multi_head_weights(
    x_q: Annotated[Tensor, "1 q_len d_model"],
    x_kv: Annotated[Tensor, "1 k_len d_model"],
    num_heads: int,
    seed: int,
    mask: Annotated[Tensor, "q_len k_len"],
    wrong_split: bool = False,
) -> tuple[list[Tensor], Annotated[Tensor, "heads q_len k_len"]]:
    """Project with seeded W_Q, W_K, W_V (D, D), split into heads, attend; returns ([W_Q, W_K, W_V], weights)."""
    d_model = x_q.shape[-1]
    w_q, w_k, w_v = _projection(d_model, d_model, seed, 3)  # 3 × (D, D)
    w_q = w_q * HEAD_SHARPNESS  # (D, D)
    projections = [w_q, w_k, w_v]
    split = wrong_split_heads if wrong_split else split_heads
    q = split(x_q @ w_q, num_heads)  # (1, H, Tq, Dh)
    k = split(x_kv @ w_k, num_heads)  # (1, H, Tk, Dh)
    v = split(x_kv @ w_v, num_heads)  # (1, H, Tk, Dh)
    _, weights = scaled_dot_product_attention(q, k, v, mask)  # (1, H, Tq, Tk)
    return projections, weights[0]  # (H, Tq, Tk)


def heads_compute(
    num_heads: int = 4,
    d_model: int = 32,
    seq_len: int = 6,
    mask: str = "none",
    seed: int = 0,
    wrong_split: bool = False,
) -> dict[str, Any]:
    """Multi-head self-attention weights (H, T, T) of the course sentence, with per-head mean row entropy.

    ``mask="padding"`` blocks the last third of the keys. ``wrong_split=True`` splits with ``view(B, H, T, Dh)``.

    >>> s = heads_compute(num_heads=2, d_model=8, seq_len=3)
    >>> s["weights"].shape, s["entropy"].shape
    (torch.Size([2, 3, 3]), torch.Size([2]))
    """
    num_heads = _check_heads(num_heads, d_model)
    seq_len = _check_int("seq_len", seq_len, 1, MAX_TOKENS_ZH)
    if mask not in HEAD_MASKS:
        raise ValueError(f"mask must be one of {HEAD_MASKS}, got {mask!r}")
    valid_len = seq_len - seq_len // 3
    mask_tensor = make_mask(mask, seq_len, valid_len)  # (Tq, Tk)
    x = _embed(seq_len, "zh", d_model, seed)  # (1, T, D)
    projections, weights = _multi_head_weights(x, x, num_heads, seed, mask_tensor, wrong_split)  # (H, T, T)
    return {
        "x": x,
        "w_q": projections[0],
        "w_k": projections[1],
        "w_v": projections[2],
        "mask": mask_tensor,
        "weights": weights,
        "entropy": row_entropy(weights).mean(-1),  # (H,)
        "num_heads": num_heads,
    }


def cross_compute(
    q_len: int = 4, src_len: int = 6, num_heads: int = 2, src_valid_len: int | None = None, seed: int = 0
) -> dict[str, Any]:
    """Cross-attention weights (H, Tq, Tk): English target queries over Chinese source keys/values.

    Source positions ≥ ``src_valid_len`` are padding (None: no padding).

    >>> s = cross_compute(q_len=2, src_len=5, src_valid_len=3)
    >>> s["weights"].shape, s["weights"][..., 3:].abs().max().item()
    (torch.Size([2, 2, 5]), 0.0)
    """
    q_len = _check_int("q_len", q_len, 1, MAX_TOKENS_EN)
    src_len = _check_int("src_len", src_len, 1, MAX_TOKENS_ZH)
    num_heads = _check_heads(num_heads, CROSS_D_MODEL)
    src_valid_len = _check_int("src_valid_len", src_len if src_valid_len is None else src_valid_len, 0, src_len)
    mask = padding_mask(torch.tensor([src_valid_len]), src_len)[0].expand(q_len, src_len).clone()  # (Tq, Tk)
    target = _embed(q_len, "en", CROSS_D_MODEL, seed)  # (1, Tq, D)
    source = _embed(src_len, "zh", CROSS_D_MODEL, seed + 1)  # (1, Tk, D), not the target's numbers
    projections, weights = _multi_head_weights(target, source, num_heads, seed, mask)  # (H, Tq, Tk)
    return {
        "target": target,
        "source": source,
        "w_q": projections[0],
        "w_k": projections[1],
        "w_v": projections[2],
        "mask": mask,
        "weights": weights,
        "entropy": row_entropy(weights).mean(-1),  # (H,)
        "num_heads": num_heads,
    }


# ---------------------------------------------------------------------------------------------------------------
# Widgets: controls → compute → figure


def _wide() -> widgets.Layout:
    return widgets.Layout(width="24rem")


def _slider(description: str, value: int, low: int, high: int) -> widgets.IntSlider:
    return widgets.IntSlider(
        value=value, min=low, max=high, description=description, style=_STYLE, layout=_wide(), continuous_update=True
    )


def _seed_slider(seed: int) -> widgets.IntSlider:
    return _slider("seed", _check_int("seed", seed, 0, 99), 0, 99)


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run torch on one thread meanwhile: on an explorer's tiny tensors, waking OpenMP workers on a busy
    machine cost ~8 ms per softmax or max (measured on 2 shared cores), one thread a few µs.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class Explorer(widgets.VBox):
    """Base of the explorers: controls on top, the PNG below; every value change recomputes and redraws.

    Subclasses define ``_compute``, ``_layout_key``, ``_make_figure`` and ``_figure_data``, and may
    adjust dependent controls in ``_sync_controls`` (e.g. a slider's max that follows the sequence length).
    """

    def __init__(self, controls: dict[str, widgets.Widget], *, rebuild_each_update: bool, extra: tuple = ()) -> None:
        self.controls = controls
        self.state: dict[str, Any] = {}
        self.image = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
        self.rebuild_each_update = rebuild_each_update
        self._figures: OrderedDict[tuple, LiveFigure] = OrderedDict()  # by layout key, most recent last
        self._syncing = False
        for control in controls.values():
            if isinstance(control, widgets.ValueWidget):
                control.observe(self._on_change, names="value")
        boxes = widgets.HBox(
            [c for c in controls.values() if isinstance(c, widgets.ValueWidget)],
            layout=widgets.Layout(flex_flow="row wrap"),
        )
        super().__init__([widgets.HTML(_CSS), boxes, *extra, self.image])
        self.add_class("mha-explorer")
        self.update()

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
        with _one_thread():
            self.state = self._compute()
        layout = self._layout_key()
        figure = self._figures.pop(layout, None) or self._make_figure(blit=not self.rebuild_each_update)
        self._figures[layout] = figure
        while len(self._figures) > (1 if self.rebuild_each_update else max(1, FIGURE_CACHE_SIZE)):
            self._figures.popitem(last=False)  # forget the least recently shown layout
        self.image.value = figure.render(**self._figure_data())
        with self._sync():
            self._after_update()

    def _after_update(self) -> None:
        """Reflect the new state in extra widgets (shape text, toggle grid)."""

    def snapshot(self) -> DisplayImage:
        """The current view as a static PNG for a notebook cell (GitHub shows it; nbval does not compare it)."""
        return DisplayImage(data=bytes(self.image.value), format="png")

    def _compute(self) -> dict[str, Any]:
        raise NotImplementedError

    def _layout_key(self) -> tuple:
        raise NotImplementedError

    def _make_figure(self, blit: bool) -> LiveFigure:
        raise NotImplementedError

    def _figure_data(self) -> dict[str, Any]:
        raise NotImplementedError


def _shape(x: Tensor) -> str:
    return "(" + ", ".join(str(n) for n in x.shape) + ")"


class QKVExplorer(Explorer):
    """Sequence length, d_k, seed and the selected query row of single-head self-attention."""

    def __init__(self, seq_len: int, d_k: int, seed: int, query: int, rebuild_each_update: bool) -> None:
        seq_len = _check_int("seq_len", seq_len, 2, MAX_TOKENS_ZH)
        controls = {
            "seq_len": _slider("sequence length T", seq_len, 2, MAX_TOKENS_ZH),
            "d_k": _slider("d_k (size of q, k, v)", _check_int("d_k", d_k, 2, 64), 2, 64),
            "seed": _seed_slider(seed),
            "query": _slider("query row", _check_int("query", query, 0, seq_len - 1), 0, seq_len - 1),
        }
        self.shapes = widgets.HTML()
        self.shapes.add_class("mha-shapes")
        super().__init__(controls, rebuild_each_update=rebuild_each_update, extra=(self.shapes,))

    def _sync_controls(self, change: dict) -> None:
        if change["owner"] is self.controls["seq_len"]:
            self.controls["query"].max = change["new"] - 1  # clamps the value too

    def _compute(self) -> dict[str, Any]:
        return qkv_compute(**self.values())

    def _layout_key(self) -> tuple:
        return self.state["weights"].shape[0], self.state["v"].shape[1]

    def _make_figure(self, blit: bool) -> LiveFigure:
        return QKVFigure(tokens(self.state["weights"].shape[0], "zh"), self.state["v"].shape[1], blit=blit)

    def _figure_data(self) -> dict[str, Any]:
        s = self.state
        return {
            "scores": s["scores"],
            "weights": s["weights"],
            "contributions": s["contributions"],
            "out_row": s["out"][s["query"]],
            "query": s["query"],
        }

    def _after_update(self) -> None:
        s = self.state
        lines = [
            f"X {_shape(s['x'])}  ·  W_Q {_shape(s['w_q'])}  =  Q {_shape(s['q'])}",
            f"X {_shape(s['x'])}  ·  W_K {_shape(s['w_k'])}  =  K {_shape(s['k'])}",
            f"X {_shape(s['x'])}  ·  W_V {_shape(s['w_v'])}  =  V {_shape(s['v'])}",
            f"scores = Q Kᵀ / √d_k {_shape(s['scores'])}   weights = softmax(scores) {_shape(s['weights'])}",
            f"out = weights V {_shape(s['out'])}",
        ]
        self.shapes.value = "<br>".join(lines)


def explore_qkv(
    seq_len: int = 6, d_k: int = 8, seed: int = 0, query: int = 0, *, rebuild_each_update: bool = False
) -> QKVExplorer:
    """Explorer 1: tokens → Q, K, V → scores → weights → weighted sum of V, with every shape.

    Controls: ``seq_len``, ``d_k``, ``seed``, ``query``.
    """
    return QKVExplorer(seq_len, d_k, seed, query, rebuild_each_update)


class ScalingExplorer(Explorer):
    """d_k, scaling on/off, temperature: how the spread of the scores decides how peaked softmax gets."""

    def __init__(
        self, d_k: int, scaled: bool, temperature: float, seed: int, seq_len: int, rebuild_each_update: bool
    ) -> None:
        choices = sorted({*D_K_CHOICES, _check_int("d_k", d_k, 1, 4096)})
        if isinstance(temperature, bool) or not isinstance(temperature, int | float) or not 0.1 <= temperature <= 10:
            raise ValueError(f"temperature must be a number in [0.1, 10] (the slider's range), got {temperature!r}")
        controls = {
            "d_k": widgets.SelectionSlider(
                options=choices, value=d_k, description="d_k", style=_STYLE, layout=_wide(), continuous_update=True
            ),
            "scaled": widgets.Checkbox(value=bool(scaled), description="scale scores by 1/√d_k", style=_STYLE),
            "temperature": widgets.FloatLogSlider(
                value=temperature,
                base=10,
                min=-1,
                max=1,
                step=0.05,
                description="temperature",
                style=_STYLE,
                layout=_wide(),
                continuous_update=True,
            ),
            "seed": _seed_slider(seed),
            "seq_len": _slider("sequence length T", _check_int("seq_len", seq_len, 2, MAX_TOKENS_ZH), 2, MAX_TOKENS_ZH),
        }
        self.summary = widgets.HTML()
        self.summary.add_class("mha-shapes")
        super().__init__(controls, rebuild_each_update=rebuild_each_update, extra=(self.summary,))

    def _compute(self) -> dict[str, Any]:
        return scaling_compute(**self.values())

    def _layout_key(self) -> tuple:
        return (self.state["weights"].shape[0],)

    def _make_figure(self, blit: bool) -> LiveFigure:
        return ScalingFigure(tokens(self.state["weights"].shape[0], "zh"), blit=blit)

    def _figure_data(self) -> dict[str, Any]:
        s = self.state
        return {
            "scores": s["scores"],
            "weights": s["weights"],
            "max_weight": s["max_weight"],
            "entropy": s["entropy"],
            "scores_std": s["scores_std"],
        }

    def _after_update(self) -> None:
        s = self.state
        self.summary.value = (
            f"scale = {s['scale']:.4g}, temperature = {self.controls['temperature'].value:.3g}: "
            f"scores std {s['scores_std']:.2f}, mean largest weight {s['max_weight'].mean():.2f}, "
            f"mean row entropy {s['entropy'].mean():.2f} (uniform: {math.log(s['weights'].shape[-1]):.2f})"
        )


def explore_scaling(
    d_k: int = 64,
    scaled: bool = True,
    temperature: float = 1.0,
    seed: int = 0,
    seq_len: int = 8,
    *,
    rebuild_each_update: bool = False,
) -> ScalingExplorer:
    """Explorer 2: unscaled scores grow like √d_k and saturate softmax; 1/√d_k (or a temperature) fixes it.

    Controls: ``d_k``, ``scaled``, ``temperature``, ``seed``, ``seq_len``.
    """
    return ScalingExplorer(d_k, scaled, temperature, seed, seq_len, rebuild_each_update)


class MaskingExplorer(Explorer):
    """Mask kind, valid length, sequence length, and a grid of toggle buttons, one per (query, key) cell.

    ``cell_buttons[i][j].value`` is True when query i may attend to key j; clicking one blocks or unblocks
    that cell and switches the kind to "custom", starting from the mask shown. Buttons are created once for
    the longest sequence and reused: a sequence-length change only re-arranges the grid.
    """

    def __init__(self, kind: str, seq_len: int, valid_len: int, seed: int, rebuild_each_update: bool) -> None:
        seq_len = _check_int("seq_len", seq_len, 2, MAX_TOKENS_ZH)
        if kind not in MASK_KINDS:
            raise ValueError(f"kind must be one of {MASK_KINDS}, got {kind!r}")
        self._custom: Tensor | None = None
        words = tokens(MAX_TOKENS_ZH, "zh")
        size = widgets.Layout(width="2.4rem", height="2.4rem")
        self._buttons = [
            [
                widgets.ToggleButton(value=True, tooltip=f"query {i} ({words[i]}) → key {j} ({words[j]})", layout=size)
                for j in range(MAX_TOKENS_ZH)
            ]
            for i in range(MAX_TOKENS_ZH)
        ]
        for i, row in enumerate(self._buttons):
            for j, button in enumerate(row):
                button.observe(lambda change, i=i, j=j: self._on_cell(i, j, change["new"]), names="value")
        self._key_names = [widgets.Label(w, layout=size) for w in words]  # header row
        self._query_names = [widgets.Label(w) for w in words]  # left column
        controls = {
            "kind": widgets.ToggleButtons(options=MASK_KINDS, value=kind, description="mask", style=_STYLE),
            "seq_len": _slider("sequence length T", seq_len, 2, MAX_TOKENS_ZH),
            "valid_len": _slider("valid length", _check_int("valid_len", valid_len, 0, seq_len), 0, seq_len),
            "seed": _seed_slider(seed),
            "cells": widgets.GridBox(),
        }
        self._arrange_cells(controls["cells"], seq_len)
        hint = widgets.HTML("Click a cell to block or unblock it (rows = queries, columns = keys; blue = may attend).")
        super().__init__(controls, rebuild_each_update=rebuild_each_update, extra=(hint, controls["cells"]))

    @property
    def cell_buttons(self) -> list[list[widgets.ToggleButton]]:
        """The (T, T) toggle buttons on screen: ``cell_buttons[i][j]`` is query i → key j."""
        seq_len = self.controls["seq_len"].value
        return [row[:seq_len] for row in self._buttons[:seq_len]]

    def _arrange_cells(self, grid: widgets.GridBox, seq_len: int) -> None:
        """Show a (T+1) × (T+1) grid: key names on top, query names on the left, one ToggleButton per cell."""
        cells = [item for i in range(seq_len) for item in (self._query_names[i], *self._buttons[i][:seq_len])]
        grid.children = [widgets.Label(""), *self._key_names[:seq_len], *cells]
        grid.layout = widgets.Layout(grid_template_columns=f"repeat({seq_len + 1}, 2.4rem)", grid_gap="2px")

    def _on_cell(self, i: int, j: int, allowed: bool) -> None:
        if self._syncing:
            return
        custom = self.state["mask"].clone()  # (T, T), start from the mask on screen
        custom[i, j] = allowed
        self._custom = custom
        with self._sync():
            self.controls["kind"].value = "custom"
        self.update()

    def _sync_controls(self, change: dict) -> None:
        kind, seq_len = self.controls["kind"], self.controls["seq_len"]
        if change["owner"] is kind and change["new"] == "custom":
            self._custom = self.state["mask"].clone()  # (T, T): start from the mask on screen
        if change["owner"] is seq_len:
            self.controls["valid_len"].max = seq_len.value  # clamps the value too
            if self._custom is not None:
                resized = torch.ones(seq_len.value, seq_len.value, dtype=torch.bool)  # (T, T), new cells open
                keep = min(seq_len.value, self._custom.shape[0])
                resized[:keep, :keep] = self._custom[:keep, :keep]
                self._custom = resized
            self._arrange_cells(self.controls["cells"], seq_len.value)

    def _compute(self) -> dict[str, Any]:
        params = self.values()
        return masking_compute(**params, custom=self._custom if params["kind"] == "custom" else None)

    def _layout_key(self) -> tuple:
        return (self.state["mask"].shape[0],)

    def _make_figure(self, blit: bool) -> LiveFigure:
        return MaskingFigure(tokens(self.state["mask"].shape[0], "zh"), blit=blit)

    def _figure_data(self) -> dict[str, Any]:
        return {"mask": self.state["mask"], "weights": self.state["weights"]}

    def _after_update(self) -> None:
        self.controls["valid_len"].disabled = self.controls["kind"].value != "padding"
        for row, allowed_row in zip(self.cell_buttons, self.state["mask"].tolist()):
            for button, allowed in zip(row, allowed_row):
                style = "info" if allowed else ""  # blue = may attend, grey = blocked
                if button.value != allowed or button.button_style != style:  # assigning costs ~6 µs even unchanged
                    button.value, button.button_style = allowed, style


def explore_masking(
    kind: str = "padding", seq_len: int = 6, valid_len: int = 4, seed: int = 0, *, rebuild_each_update: bool = False
) -> MaskingExplorer:
    """Explorer 3: a mask (none / padding / causal / custom, click cells to toggle) beside the weights it gives.

    Controls: ``kind``, ``seq_len``, ``valid_len``, ``seed``, ``cells`` (the toggle grid; buttons in
    ``explorer.cell_buttons[i][j]``).
    """
    return MaskingExplorer(kind, seq_len, valid_len, seed, rebuild_each_update)


class HeadGridExplorer(Explorer):
    """Base of the multi-head explorers: one heatmap per head (``state["weights"]`` is (H, Tq, Tk)) on one scale."""

    def _labels(self) -> tuple[list[str], list[str]]:
        """Token names of the query rows and of the key columns."""
        raise NotImplementedError

    def _layout_key(self) -> tuple:
        return tuple(self.state["weights"].shape)

    def _make_figure(self, blit: bool) -> LiveFigure:
        rows, cols = self._labels()
        return HeadsFigure(self.state["weights"].shape[0], rows, cols, blit=blit)

    def _figure_data(self) -> dict[str, Any]:
        s = self.state
        return {"weights": s["weights"], "entropies": s["entropy"].tolist(), "mask": s["mask"]}


class HeadsExplorer(HeadGridExplorer):
    """Head count, sequence length, mask and the wrong split, all heads on one colour scale."""

    def __init__(
        self, num_heads: int, d_model: int, seq_len: int, mask: str, seed: int, wrong_split: bool, rebuild: bool
    ) -> None:
        self.d_model = _check_int("d_model", d_model, 1, 1024)
        if mask not in HEAD_MASKS:
            raise ValueError(f"mask must be one of {HEAD_MASKS}, got {mask!r}")
        choices = _head_choices(d_model)
        controls = {
            "num_heads": widgets.Dropdown(
                options=choices,
                value=_check_heads(num_heads, d_model, choices),
                description=f"heads (divisors of d_model={d_model})",
                style=_STYLE,
                layout=_wide(),
            ),
            "seq_len": _slider("sequence length T", _check_int("seq_len", seq_len, 2, MAX_TOKENS_ZH), 2, MAX_TOKENS_ZH),
            "mask": widgets.ToggleButtons(options=HEAD_MASKS, value=mask, description="mask", style=_STYLE),
            "wrong_split": widgets.Checkbox(
                value=bool(wrong_split), description="wrong split: view(B, H, T, Dh)", style=_STYLE, layout=_wide()
            ),
            "seed": _seed_slider(seed),
        }
        super().__init__(controls, rebuild_each_update=rebuild)

    def _compute(self) -> dict[str, Any]:
        return heads_compute(d_model=self.d_model, **self.values())

    def _labels(self) -> tuple[list[str], list[str]]:
        seq_len = self.state["weights"].shape[-1]
        return tokens(seq_len, "zh"), tokens(seq_len, "zh")


def explore_heads(
    num_heads: int = 4,
    d_model: int = 32,
    seq_len: int = 6,
    mask: str = "none",
    seed: int = 0,
    wrong_split: bool = False,
    *,
    rebuild_each_update: bool = False,
) -> HeadsExplorer:
    """Explorer 4: every head's weights on one shared colour scale, with per-head entropy.

    Controls: ``num_heads`` (divisors of d_model up to 16 only), ``seq_len``, ``mask``, ``wrong_split``, ``seed``.
    """
    return HeadsExplorer(num_heads, d_model, seq_len, mask, seed, wrong_split, rebuild_each_update)


class CrossExplorer(HeadGridExplorer):
    """Target length, source length, heads and source padding of cross-attention."""

    def __init__(
        self, q_len: int, src_len: int, num_heads: int, src_valid_len: int | None, seed: int, rebuild: bool
    ) -> None:
        src_len = _check_int("src_len", src_len, 1, MAX_TOKENS_ZH)
        src_valid_len = src_len if src_valid_len is None else _check_int("src_valid_len", src_valid_len, 1, src_len)
        choices = _head_choices(CROSS_D_MODEL)
        controls = {
            "q_len": _slider(
                "target length Tq (English)", _check_int("q_len", q_len, 1, MAX_TOKENS_EN), 1, MAX_TOKENS_EN
            ),
            "src_len": _slider("source length Tk (中文)", src_len, 1, MAX_TOKENS_ZH),
            "num_heads": widgets.Dropdown(
                options=choices,
                value=_check_heads(num_heads, CROSS_D_MODEL, choices),
                description="heads",
                style=_STYLE,
            ),
            "src_valid_len": _slider("source valid length", src_valid_len, 1, src_len),
            "seed": _seed_slider(seed),
        }
        super().__init__(controls, rebuild_each_update=rebuild)

    def _sync_controls(self, change: dict) -> None:
        if change["owner"] is self.controls["src_len"]:
            valid = self.controls["src_valid_len"]
            unpadded = valid.value == change["old"]
            valid.max = change["new"]
            if unpadded:  # no padding before: keep none
                valid.value = change["new"]

    def _compute(self) -> dict[str, Any]:
        return cross_compute(**self.values())

    def _labels(self) -> tuple[list[str], list[str]]:
        _, q_len, src_len = self.state["weights"].shape
        return tokens(q_len, "en"), tokens(src_len, "zh")


def explore_cross(
    q_len: int = 4,
    src_len: int = 6,
    num_heads: int = 2,
    src_valid_len: int | None = None,
    seed: int = 0,
    *,
    rebuild_each_update: bool = False,
) -> CrossExplorer:
    """Explorer 5: English queries over a Chinese source; rectangular (Tq, Tk) heatmaps, padded keys in grey.

    Controls: ``q_len``, ``src_len``, ``num_heads``, ``src_valid_len`` (None = no padding), ``seed``.
    """
    return CrossExplorer(q_len, src_len, num_heads, src_valid_len, seed, rebuild_each_update)
