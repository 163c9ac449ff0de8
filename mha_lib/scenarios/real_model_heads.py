"""What notebook 08's explorer computes: every head of a real BERT on one text, scored and value-weighted.

Head scores (one number per head, averaged over the query rows they apply to):
previous-token ``A[i, i-1]``, next-token ``A[i, i+1]``, sink = weight on ``[CLS]`` + ``[SEP]``, broad = row
entropy ÷ log T (1 = uniform). Value weighting (Kobayashi et al. 2020) scales ``A[i, j]`` by ‖v_j W_O^h‖, the
length of what key j actually adds, and renormalises each row into shares. Rollout (Abnar & Zuidema 2020)
multiplies the head-averaged weights of successive layers with the residual identity added.
"""

import functools
import math
from dataclasses import dataclass
from typing import Annotated

import torch
from torch import Tensor

from mha_lib._validate import require_choice, require_int
from mha_lib.attention import row_entropy
from mha_lib.pretrained import BertEncoder, Encoding, load_bert

WEIGHTINGS = ("raw", "value_norm")
HEAD_KINDS = ("previous", "next", "sink", "broad")
MAX_WORD_TOKENS = 40  # WordPiece tokens of an explorer text, [CLS] and [SEP] not counted: labels stay readable
DEFAULT_TEXT = "The cat sat on the mat because it was tired."
ENCODING_CACHE_SIZE = 16  # texts kept encoded: going back to a recent sentence costs no forward pass


@functools.cache
def default_model() -> BertEncoder:
    """all-MiniLM-L6-v2 (``load_bert()``), loaded once per kernel."""
    return load_bert()


def previous_token_score(attn: Annotated[Tensor, "... q_len k_len"]) -> Annotated[Tensor, "..."]:
    """Mean weight a query puts on the token just before it, over the queries that have one.

    >>> previous_token_score(torch.tensor([[1.0, 0.0], [1.0, 0.0]]))
    tensor(1.)
    """
    return attn.diagonal(offset=-1, dim1=-2, dim2=-1).mean(-1)  # (...,)


def next_token_score(attn: Annotated[Tensor, "... q_len k_len"]) -> Annotated[Tensor, "..."]:
    """Mean weight a query puts on the token just after it.

    >>> next_token_score(torch.tensor([[0.0, 1.0], [1.0, 0.0]]))
    tensor(1.)
    """
    return attn.diagonal(offset=1, dim1=-2, dim2=-1).mean(-1)  # (...,)


def sink_score(attn: Annotated[Tensor, "... q_len k_len"]) -> Annotated[Tensor, "..."]:
    """Mean weight on the special tokens at both ends, ``[CLS]`` (first key) and ``[SEP]`` (last key).

    >>> sink_score(torch.tensor([[0.5, 0.0, 0.5], [0.2, 0.6, 0.2], [0.0, 0.0, 1.0]]))
    tensor(0.8000)
    """
    return (attn[..., 0] + attn[..., -1]).mean(-1)  # (...,)


def entropy(attn: Annotated[Tensor, "... q_len k_len"]) -> Annotated[Tensor, "..."]:
    """Mean row entropy in nats (0 for one-hot rows, log T for uniform ones; 0·log 0 = 0).

    >>> entropy(torch.full((2, 4), 0.25))  # ln 4
    tensor(1.3863)
    """
    return row_entropy(attn).mean(-1)  # (...,)


def broad_score(attn: Annotated[Tensor, "... q_len k_len"]) -> Annotated[Tensor, "..."]:
    """Mean row entropy ÷ log T: 1 for uniform rows, 0 for one-hot rows.

    >>> broad_score(torch.eye(3))
    tensor(0.)
    """
    return entropy(attn) / math.log(attn.shape[-1])  # (...,)


def value_weighted(
    attn: Annotated[Tensor, "... q_len k_len"], value_norms: Annotated[Tensor, "... k_len"]
) -> Annotated[Tensor, "... q_len k_len"]:
    """``A[i, j]·‖f(x_j)‖`` renormalised per row: each key's share of what the head adds to query i.

    >>> value_weighted(torch.tensor([[0.5, 0.5]]), torch.tensor([3.0, 1.0]))
    tensor([[0.7500, 0.2500]])
    """
    weighted = attn * value_norms.unsqueeze(-2)  # (..., Tq, Tk): column j scaled by ‖f(x_j)‖
    return weighted / weighted.sum(-1, keepdim=True)  # (..., Tq, Tk), rows sum to 1


def rollout(
    attentions: Annotated[Tensor, "layers heads q_len k_len"], residual: float = 0.5
) -> Annotated[Tensor, "layers q_len k_len"]:
    """Attention rollout: ``R_l = Ã_l ··· Ã_1`` with ``Ã = (1 - residual)·mean_h A + residual·I`` (rows sum to 1).

    Entry ``[l, i, j]`` says how much of input token j reaches position i after layer l if every layer mixed
    tokens only through attention and the residual stream.

    >>> rollout(torch.eye(2).expand(3, 1, 2, 2))[-1]
    tensor([[1., 0.],
            [0., 1.]])
    """
    t = attentions.shape[-1]
    eye = torch.eye(t, dtype=attentions.dtype)  # (T, T)
    mixed = (1 - residual) * attentions.mean(1) + residual * eye  # (L, T, T), rows sum to 1
    out, acc = [], eye
    for layer in mixed:
        acc = layer @ acc  # (T, T): this layer's mixing after all earlier ones
        out.append(acc)
    return torch.stack(out)  # (L, T, T)


@dataclass(frozen=True, eq=False)
class HeadScores:
    """Every head's previous-token, next-token, sink and broad score, each ``(L, H)``, from raw weights."""

    previous: Annotated[Tensor, "layers heads"]
    next: Annotated[Tensor, "layers heads"]
    sink: Annotated[Tensor, "layers heads"]
    broad: Annotated[Tensor, "layers heads"]

    def top(self, kind: str) -> tuple[int, int]:
        """(layer, head) with the highest score of ``kind`` over all heads."""
        if kind not in HEAD_KINDS:
            raise ValueError(f"kind must be one of {HEAD_KINDS}, got {kind!r}")
        scores = getattr(self, kind)  # (L, H)
        layer, head = divmod(int(scores.argmax()), scores.shape[1])
        return layer, head


def score_heads(attentions: Annotated[Tensor, "layers heads q_len k_len"]) -> HeadScores:
    """The four scores of every head.

    >>> score_heads(torch.eye(3).expand(1, 2, 3, 3)).previous
    tensor([[0., 0.]])
    """
    if attentions.dim() != 4 or attentions.shape[-1] != attentions.shape[-2] or attentions.shape[-1] < 2:
        raise ValueError(f"attentions must be (L, H, T, T) with T >= 2, got {tuple(attentions.shape)}")
    return HeadScores(
        previous=previous_token_score(attentions),
        next=next_token_score(attentions),
        sink=sink_score(attentions),
        broad=broad_score(attentions),
    )


@dataclass(frozen=True, eq=False)
class PretrainedScenario:
    """One view of the real-model explorer: every head of one text, one of them selected.

    ``shown`` (L, H, T, T) is what the overview draws: the raw weights, or (``weighting="value_norm"``) each
    key's share of ‖A[i, j]·v_j W_O^h‖; rows sum to 1 either way, so one colour scale fits all 72 heads.
    ``entropy`` (L, H) is the mean row entropy of ``shown`` in nats; ``scores`` are those of the raw weights.
    """

    text: str
    encoding: Encoding
    layer: int
    head: int
    weighting: str
    shown: Annotated[Tensor, "layers heads q_len k_len"]
    entropy: Annotated[Tensor, "layers heads"]
    scores: HeadScores

    @property
    def tokens(self) -> list[str]:
        return self.encoding.tokens

    @property
    def selected(self) -> Annotated[Tensor, "q_len k_len"]:
        """The selected head's (T, T) weights as shown."""
        return self.shown[self.layer, self.head]


@functools.lru_cache(maxsize=ENCODING_CACHE_SIZE)
def encode(text: str) -> Encoding:
    """all-MiniLM-L6-v2's :class:`~mha_lib.pretrained.Encoding` of ``text`` (1 to ``MAX_WORD_TOKENS`` tokens).

    >>> encode("Hello world").tokens
    ['[CLS]', 'hello', 'world', '[SEP]']
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    model = default_model()
    tokens, _ = model.tokenize(text)
    if not 1 <= len(tokens) - 2 <= MAX_WORD_TOKENS:
        raise ValueError(
            f"text must give 1 to {MAX_WORD_TOKENS} WordPiece tokens (without [CLS] and [SEP]) so that every label "
            f"stays readable; {text[:40]!r} gives {len(tokens) - 2}: type a shorter sentence"
        )
    return model.encode(text)


def pretrained_compute(
    text: str = DEFAULT_TEXT, layer: int = 0, head: int = 0, weighting: str = "raw"
) -> PretrainedScenario:
    """Every head of all-MiniLM-L6-v2 on ``text``; ``weighting="value_norm"`` scales key j by ‖v_j W_O^h‖.

    >>> s = pretrained_compute("Hello world", layer=0, head=2)
    >>> s.tokens, tuple(s.shown.shape), s.scores.top("previous")
    (['[CLS]', 'hello', 'world', '[SEP]'], (6, 12, 4, 4), (0, 2))
    """
    enc = encode(text)
    num_layers, num_heads = enc.attentions.shape[:2]
    layer = require_int("layer", layer, 0, num_layers - 1)
    head = require_int("head", head, 0, num_heads - 1)
    require_choice("weighting", weighting, WEIGHTINGS)
    raw = enc.attentions  # (L, H, T, T)
    shown = raw if weighting == "raw" else value_weighted(raw, enc.value_norms)  # (L, H, T, T)
    return PretrainedScenario(
        text=text,
        encoding=enc,
        layer=layer,
        head=head,
        weighting=weighting,
        shown=shown,
        entropy=entropy(shown),
        scores=score_heads(raw),
    )
