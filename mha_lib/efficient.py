"""Efficient attention as readable algorithms: the same numbers without holding the L × L matrix.

- ``online_softmax``: softmax in one left-to-right pass with a running max and sum (Milakov & Gimelshein 2018).
- ``tiled_attention``: the FlashAttention forward (Dao et al. 2022) — tiles of queries × keys, running max,
  sum and an unnormalised output; never more than ``block_q × block_k`` scores per batch·head at a time.
- ``KVCache``: decoding one token (or a prefill) at a time; the new queries see every cached key, causally
  among themselves (the causal mask aligned to the lower right).
- ``grouped_query_attention``: several query heads share one key/value head (MQA: one shared head; GQA: groups).

Pure torch, written to be read: these are the algorithms, not fast kernels (PyTorch's fused SDPA is).
"""

from collections.abc import Callable
from typing import Annotated, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from mha_lib._validate import require_bool_mask, require_broadcast_mask, require_tensor
from mha_lib.attention import _attend, _check_qkv, _effective_scale, scaled_dot_product_attention


def _require_block(name: str, block: object) -> int:
    if isinstance(block, bool) or not isinstance(block, int) or block < 1:
        raise ValueError(f"{name} must be a positive int (entries per block), got {block!r}")
    return block


def online_softmax_step(
    run_max: Annotated[Tensor, "..."], run_sum: Annotated[Tensor, "..."], chunk: Annotated[Tensor, "... b"]
) -> tuple[Annotated[Tensor, "..."], Annotated[Tensor, "..."]]:
    """Fold one block of entries into the running max and the running sum of ``exp(x - max)``.

    When the block raises the max, the sum so far was taken relative to the old max: it is rescaled by
    ``exp(old_max - new_max)`` before the block's own terms (relative to the *running* max) are added.

    >>> m, s = online_softmax_step(torch.tensor(float("-inf")), torch.tensor(0.0), torch.tensor([0.0, 0.0]))
    >>> m.item(), s.item()
    (0.0, 2.0)
    """
    new_max = torch.maximum(run_max, chunk.amax(-1))  # (...,)
    shift = _finite_or_zero(new_max)  # (...,) no -inf - -inf = NaN while a row has seen only -inf
    new_sum = run_sum * torch.exp(run_max - shift) + torch.exp(chunk - shift.unsqueeze(-1)).sum(-1)  # (...,)
    return new_max, new_sum  # (...,), (...,)


def online_softmax(x: Annotated[Tensor, "... n"], *, block: int) -> Annotated[Tensor, "... n"]:
    """Softmax over the last axis, reading it once left to right in blocks of ``block`` entries.

    A running max and a running sum of ``exp(x - max)`` are kept per row (:func:`online_softmax_step`); the
    weights are then ``exp(x - max) / sum``. Equals ``torch.softmax(x, -1)``; ``-inf`` entries get weight 0
    and a row that is all ``-inf`` gets all zeros (mha_lib's rule), not NaN.

    >>> x = torch.tensor([[1.0, 3.0, 2.0, 5.0, 4.0]])
    >>> torch.allclose(online_softmax(x, block=2), torch.softmax(x, -1))
    True
    """
    require_tensor("x", x)
    _require_block("block", block)
    if not x.is_floating_point() or x.dim() < 1:
        raise TypeError(f"x must be a floating tensor with a last axis to normalise, got {x.dtype} {tuple(x.shape)}")
    run_max = torch.full(x.shape[:-1], float("-inf"), dtype=x.dtype, device=x.device)  # (...,)
    run_sum = x.new_zeros(x.shape[:-1])  # (...,)
    for start in range(0, x.shape[-1], block):
        run_max, run_sum = online_softmax_step(run_max, run_sum, x[..., start : start + block])  # (...,), (...,)
    weights = torch.exp(x - _finite_or_zero(run_max).unsqueeze(-1))  # (..., n) relative to the final max
    return weights / torch.where(run_sum > 0, run_sum, 1.0).unsqueeze(-1)  # (..., n) an all -inf row stays 0


def _finite_or_zero(m: Tensor) -> Tensor:
    """The running max with -inf (nothing seen yet) replaced by 0, so it can be subtracted safely."""
    return m.masked_fill(m == float("-inf"), 0.0)  # (...,)


class TileState(NamedTuple):
    """What FlashAttention keeps per query row between key blocks.

    ``max`` (..., bq) the largest score seen, ``sum`` (..., bq) the sum of ``exp(score - max)``, ``acc``
    (..., bq, Dv) the sum of ``exp(score - max) · v``: the output before dividing by ``sum``.
    """

    max: Tensor
    sum: Tensor
    acc: Tensor

    @classmethod
    def empty(cls, q_block: Tensor, d_v: int) -> "TileState":
        """Nothing seen yet: max −inf, sum 0, acc 0."""
        rows = q_block.shape[:-1]  # (..., bq)
        return cls(
            torch.full(rows, float("-inf"), dtype=q_block.dtype, device=q_block.device),  # (..., bq)
            q_block.new_zeros(rows),  # (..., bq)
            q_block.new_zeros(*rows, d_v),  # (..., bq, Dv)
        )

    def output(self) -> Tensor:
        """``acc / sum``: exact once every key block is folded in; rows with no allowed key are zeros."""
        return self.acc / torch.where(self.sum > 0, self.sum, 1.0).unsqueeze(-1)  # (..., bq, Dv)


def fold_tile(
    state: TileState,
    scores: Annotated[Tensor, "... bq bk"],
    v_block: Annotated[Tensor, "... bk d_v"],
) -> TileState:
    """One FlashAttention step: fold a tile of (already scaled and masked, −inf = blocked) scores and its values
    into the running max, sum and unnormalised output.

    >>> s = torch.tensor([[0.0, 1.0, 2.0, 3.0]])                 # (Tq=1, Tk=4)
    >>> v = torch.arange(4.0).unsqueeze(-1)                        # (Tk=4, Dv=1)
    >>> st = TileState.empty(torch.zeros(1, 1), 1)
    >>> st = fold_tile(fold_tile(st, s[:, :2], v[:2]), s[:, 2:], v[2:])
    >>> torch.allclose(st.output(), torch.softmax(s, -1) @ v)
    True
    """
    m_new = torch.maximum(state.max, scores.amax(-1))  # (..., bq)
    shift = _finite_or_zero(m_new)  # (..., bq)
    p = (scores - shift.unsqueeze(-1)).exp_()  # (..., bq, bk) blocked scores → 0, one new tile
    rescale = torch.exp(state.max - shift)  # (..., bq) old terms were relative to the old max
    return TileState(
        m_new,  # (..., bq)
        state.sum * rescale + p.sum(-1),  # (..., bq)
        state.acc * rescale.unsqueeze(-1) + p @ v_block,  # (..., bq, Dv)
    )


def tile_scores(
    q_block: Annotated[Tensor, "... bq d"],
    k_block: Annotated[Tensor, "... bk d"],
    scale: float,
    allowed: Annotated[Tensor, "... bq bk"] | None,
) -> Annotated[Tensor, "... bq bk"]:
    """The scores of one tile, ``q kᵀ · scale``, with −inf where ``allowed`` is False."""
    scores = (q_block @ k_block.mT).mul_(scale)  # (..., bq, bk) one tile, scaled in place
    return scores if allowed is None else scores.masked_fill_(~allowed, float("-inf"))  # (..., bq, bk)


def tile_mask(mask: Tensor | None, is_causal: bool, rows: slice, cols: slice, device: torch.device) -> Tensor | None:
    """The part of the mask (and of the top-left causal mask) that covers one tile, built for the tile only."""
    allowed = None
    if mask is not None:  # a size-1 axis broadcasts: keep it whole
        cols_part = cols if mask.shape[-1] > 1 else slice(None)
        rows_part = rows if mask.dim() > 1 and mask.shape[-2] > 1 else slice(None)
        allowed = mask[..., cols_part] if mask.dim() == 1 else mask[..., rows_part, cols_part]  # (..., bq, bk)
    if is_causal:
        i = torch.arange(rows.start, rows.stop, device=device).unsqueeze(-1)  # (bq, 1) query positions
        j = torch.arange(cols.start, cols.stop, device=device)  # (bk,) key positions
        causal = j <= i  # (bq, bk)
        allowed = causal if allowed is None else allowed & causal  # (..., bq, bk)
    return allowed


def tiled_attention(
    q: Annotated[Tensor, "... q_len d"],
    k: Annotated[Tensor, "... k_len d"],
    v: Annotated[Tensor, "... k_len d_v"],
    mask: Annotated[Tensor, "... q_len k_len"] | None = None,
    *,
    block_q: int = 64,
    block_k: int = 64,
    scale: float | None = None,
    is_causal: bool = False,
) -> Annotated[Tensor, "... q_len d_v"]:
    """Attention computed tile by tile (the FlashAttention forward): equals SDPA, never holds Tq × Tk scores.

    For each block of ``block_q`` queries, one pass over the keys in blocks of ``block_k`` keeps a running max,
    sum and unnormalised output per row (:func:`fold_tile`); dividing at the end gives the exact softmax-weighted
    sum. ``mask`` is bool (True = may attend) broadcastable to ``(..., Tq, Tk)``; ``is_causal`` is top-left
    aligned like SDPA's (tiles wholly above the diagonal are skipped); a row with no allowed key gives zeros.
    float16/bfloat16 inputs are computed tile by tile in float32 and rounded once at the end, as FlashAttention
    kernels accumulate.

    >>> q, k, v = torch.randn(2, 5, 4), torch.randn(2, 7, 4), torch.randn(2, 7, 3)
    >>> out = tiled_attention(q, k, v, block_q=2, block_k=3)
    >>> torch.allclose(out, torch.nn.functional.scaled_dot_product_attention(q, k, v), atol=1e-6)
    True
    """
    _check_qkv(q, k, v)
    _require_block("block_q", block_q)
    _require_block("block_k", block_k)
    s = _effective_scale(q.shape[-1], scale, 1.0)
    t_q, t_k = q.shape[-2], k.shape[-2]
    if mask is not None:
        require_bool_mask(mask)
        require_broadcast_mask(mask, (*q.shape[:-1], t_k), "scores")
    work = torch.promote_types(q.dtype, torch.float32)  # float64 stays, half precision accumulates in float32
    out = q.new_empty(*q.shape[:-1], v.shape[-1])  # (..., Tq, Dv)
    for i in range(0, t_q, block_q):
        rows = slice(i, min(i + block_q, t_q))
        q_block = q[..., rows, :].to(work)  # (..., bq, D)
        state = TileState.empty(q_block, v.shape[-1])  # (..., bq), (..., bq), (..., bq, Dv)
        for j in range(0, t_k, block_k):
            if is_causal and j > rows.stop - 1:
                break  # this tile and all after it lie above the diagonal: nothing allowed, skip them
            cols = slice(j, min(j + block_k, t_k))
            allowed = tile_mask(mask, is_causal, rows, cols, q.device)  # (..., bq, bk) or None
            scores = tile_scores(q_block, k[..., cols, :].to(work), s, allowed)  # (..., bq, bk)
            state = fold_tile(state, scores, v[..., cols, :].to(work))  # running max, sum, acc of the rows
        out[..., rows, :] = state.output()  # (..., bq, Dv)
    return out  # (..., Tq, Dv)


def causal_lower_right(t_q: int, t_k: int, *, device: torch.device | str | None = None) -> Tensor:
    """Causal mask aligned to the lower right: query i is position ``t_k - t_q + i`` and sees keys up to it.

    What ``torch.nn.attention.bias.causal_lower_right`` means; the last query sees every key. For ``t_q == t_k``
    it is the ordinary (top-left) causal mask.

    >>> causal_lower_right(2, 4).int()
    tensor([[1, 1, 1, 0],
            [1, 1, 1, 1]], dtype=torch.int32)
    """
    if t_q < 1 or t_k < t_q:
        raise ValueError(f"causal_lower_right needs 1 <= t_q <= t_k (the queries are the last keys), got {t_q}, {t_k}")
    return torch.ones(t_q, t_k, dtype=torch.bool, device=device).tril(diagonal=t_k - t_q)  # (Tq, Tk)


class KVCache:
    """Keys and values of the tokens seen so far, for decoding one token (or a prefill of several) at a time.

    ``step(q, k, v)`` appends ``k, v`` ``(..., n, D)`` and lets the ``n`` new queries attend to every cached key,
    causally among themselves: the mask is aligned to the lower right (:func:`causal_lower_right`), because the
    new queries are the *last* ``n`` positions. Queries may have more heads than the cache (axis −3): then
    groups of query heads share a cached head, as in :func:`grouped_query_attention`.

    >>> cache = KVCache()
    >>> x = torch.randn(1, 3, 4)                                   # (B, T, D)
    >>> outs = [cache.step(x[:, t : t + 1], x[:, t : t + 1], x[:, t : t + 1])[0] for t in range(3)]
    >>> len(cache), cache.k.shape
    (3, torch.Size([1, 3, 4]))
    """

    def __init__(self) -> None:
        self.k: Tensor | None = None
        self.v: Tensor | None = None

    def __len__(self) -> int:
        return 0 if self.k is None else self.k.shape[-2]

    @property
    def nbytes(self) -> int:
        """Bytes held by the cached keys and values."""
        if self.k is None or self.v is None:
            return 0
        return self.k.nelement() * self.k.element_size() + self.v.nelement() * self.v.element_size()

    def step(
        self,
        q: Annotated[Tensor, "... n d"],
        k: Annotated[Tensor, "... n d"],
        v: Annotated[Tensor, "... n d_v"],
        *,
        scale: float | None = None,
    ) -> tuple[Annotated[Tensor, "... n d_v"], Annotated[Tensor, "... n t"]]:
        """Append ``k, v``, then attend with the ``n`` new queries over all ``t`` cached keys: ``(out, weights)``."""
        for name, x in (("q", q), ("k", k), ("v", v)):
            require_tensor(name, x)
        if q.shape[-2] != k.shape[-2]:
            raise ValueError(
                f"one new key and value per new query: q {tuple(q.shape)} and k {tuple(k.shape)} differ in n (axis -2)"
            )
        if self.k is not None and (k.shape[:-2] != self.k.shape[:-2] or k.shape[-1] != self.k.shape[-1]):
            raise ValueError(
                f"new keys {tuple(k.shape)} do not continue the cache {tuple(self.k.shape)}: only axis -2 (time) may "
                f"differ; start a new KVCache() for another batch"
            )
        if self.v is not None and v.shape[-1] != self.v.shape[-1]:
            raise ValueError(f"new values {tuple(v.shape)} do not continue the cache {tuple(self.v.shape)}")
        self.k = k if self.k is None else torch.cat([self.k, k], dim=-2)  # (..., t, D)
        self.v = v if self.v is None else torch.cat([self.v, v], dim=-2)  # (..., t, Dv)
        mask = causal_lower_right(q.shape[-2], len(self), device=q.device)  # (n, t)
        if q.shape[:-2] != self.k.shape[:-2]:
            return grouped_query_attention(q, self.k, self.v, mask, scale=scale)  # (..., n, Dv), (..., n, t)
        return scaled_dot_product_attention(q, self.k, self.v, mask, scale=scale)  # (..., n, Dv), (..., n, t)


def _check_groups(q: Tensor, k: Tensor, v: Tensor) -> int:
    """Validate (B, Hq, Tq, D) against (B, Hkv, Tk, D); return the group size Hq / Hkv."""
    for name, x in (("q", q), ("k", k), ("v", v)):
        require_tensor(name, x)
        if x.dim() != 4:
            raise ValueError(f"{name} must be (B, H, T, D), got {tuple(x.shape)}")
    h_q, h_kv = q.shape[1], k.shape[1]
    if v.shape[1] != h_kv:
        raise ValueError(f"k and v need the same number of heads: k {tuple(k.shape)}, v {tuple(v.shape)}")
    if h_q % h_kv:
        raise ValueError(
            f"{h_q} query heads cannot be shared evenly by {h_kv} key/value heads (q {tuple(q.shape)}, "
            f"k {tuple(k.shape)}): the number of KV heads must divide the number of query heads; "
            f"pick one of {[h for h in range(1, h_q + 1) if h_q % h == 0]}"
        )
    k_as_q = k[:, :1].expand(-1, h_q, -1, -1)  # (B, Hq, Tk, D), a view: for the shape checks only
    v_as_q = v[:, :1].expand(-1, h_q, -1, -1)  # (B, Hq, Tk, Dv), a view: for the shape checks only
    _check_qkv(q, k_as_q, v_as_q)
    return h_q // h_kv


def _attend_grouped(
    q: Annotated[Tensor, "batch q_heads q_len d"],
    k: Annotated[Tensor, "batch kv_heads k_len d"],
    v: Annotated[Tensor, "batch kv_heads k_len d_v"],
    mask: Tensor | None,
    scale: float,
    need_weights: bool,
) -> tuple[Tensor, Tensor | None]:
    """:func:`grouped_query_attention` for checked inputs and a final ``scale``.

    The ``G = Hq / Hkv`` query heads of a group are stacked along the query axis, so one matmul per key/value
    head serves the whole group and K, V are never copied.
    """
    if not need_weights:
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale, enable_gqa=True)  # (B, Hq, Tq, Dv)
        return out, None
    b, h_q, t_q, d = q.shape
    h_kv, t_k = k.shape[1], k.shape[2]
    g = h_q // h_kv
    q_stacked = q.reshape(b, h_kv, g * t_q, d)  # (B, Hkv, G·Tq, D) query head h = kv head h // G
    if mask is not None:
        mask = mask.expand(b, h_q, t_q, t_k).reshape(b, h_kv, g * t_q, t_k)  # (B, Hkv, G·Tq, Tk)
    out, weights = _attend(q_stacked, k, v, mask, scale, True)  # (B, Hkv, G·Tq, Dv), (B, Hkv, G·Tq, Tk)
    return out.view(b, h_q, t_q, v.shape[-1]), weights.view(b, h_q, t_q, t_k)  # (B, Hq, Tq, Dv), (B, Hq, Tq, Tk)


def grouped_query_attention(
    q: Annotated[Tensor, "batch q_heads q_len d"],
    k: Annotated[Tensor, "batch kv_heads k_len d"],
    v: Annotated[Tensor, "batch kv_heads k_len d_v"],
    mask: Annotated[Tensor, "batch q_heads q_len k_len"] | None = None,
    *,
    scale: float | None = None,
    need_weights: bool = True,
) -> tuple[Annotated[Tensor, "batch q_heads q_len d_v"], Annotated[Tensor, "batch q_heads q_len k_len"] | None]:
    """Attention where each key/value head serves ``Hq / Hkv`` query heads (MQA: ``Hkv = 1``).

    Query head ``h`` uses key/value head ``h // (Hq / Hkv)``: the same as repeating every key/value head
    ``Hq / Hkv`` times with ``repeat_interleave(dim=1)``, and as SDPA with ``enable_gqa=True``. ``mask`` is bool,
    broadcastable to ``(B, Hq, Tq, Tk)``. ``need_weights=False`` runs PyTorch's fused kernel.

    >>> q, k = torch.randn(1, 4, 3, 8), torch.randn(1, 2, 5, 8)  # 4 query heads, 2 key/value heads
    >>> out, w = grouped_query_attention(q, k, k)
    >>> out.shape, w.shape
    (torch.Size([1, 4, 3, 8]), torch.Size([1, 4, 3, 5]))
    """
    _check_groups(q, k, v)
    s = _effective_scale(q.shape[-1], scale, 1.0)
    if mask is not None:
        require_bool_mask(mask)
        require_broadcast_mask(mask, (*q.shape[:-1], k.shape[-2]), "(B, Hq, Tq, Tk) weights")
    return _attend_grouped(q, k, v, mask, s, need_weights)


class _LargestTensor(TorchDispatchMode):
    """Records the bytes of the largest tensor any PyTorch operation returns while active."""

    def __init__(self) -> None:
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        sizes = [t.nelement() * t.element_size() for t in tree_leaves(out) if isinstance(t, Tensor)]
        self.largest = max([self.largest, *sizes])
        return out


def largest_tensor_bytes(fn: Callable[[], object]) -> int:
    """Bytes of the largest tensor created while ``fn()`` runs: the (…, Tq, Tk) scores for naive attention, one
    tile or the output for :func:`tiled_attention`. Exact and repeatable (unlike process memory).

    >>> q = k = v = torch.zeros(1, 64, 8)                            # float32, L = 64
    >>> largest_tensor_bytes(lambda: scaled_dot_product_attention(q, k, v))  # the 64 × 64 weights
    16384
    """
    with _LargestTensor() as mode:
        fn()
    return mode.largest
