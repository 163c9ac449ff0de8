"""What PyTorch itself does with a query that may attend to no key, pinned so that a torch upgrade changing it fails.

mha_lib's own paths give zeros there (tests/test_fused.py); its ``need_weights=False`` path relies on SDPA's zeros.
Measured on torch 2.13: SDPA returns zeros on every CPU backend and dtype (since 2.5, its undocumented
``_safe_softmax``); ``nn.MultiheadAttention`` gives NaN with ``need_weights=True``; with ``need_weights=False``,
zeros (so the output is ``out_proj.bias``) in training mode or with grad enabled, NaN on the ``eval()`` + ``no_grad``
fast path.
"""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from mha_lib import MultiHeadAttention, causal_mask

CPU_BACKENDS = [SDPBackend.MATH, SDPBackend.FLASH_ATTENTION]


def _mask_with_empty_row(t_q=3, t_k=5, row=1):
    mask = torch.ones(t_q, t_k, dtype=torch.bool)  # (Tq, Tk), True = may attend
    mask[row] = False  # query `row` may attend to nothing
    return mask


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("backend", [None, *CPU_BACKENDS], ids=lambda b: "default" if b is None else b.name)
@pytest.mark.parametrize("additive", [False, True], ids=["bool", "minus_inf"])
def test_sdpa_gives_zeros_for_a_query_with_no_key(dtype, backend, additive):
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 2, t, 4, generator=g).to(dtype) for t in (3, 5, 5))  # (B, H, T, D)
    mask = _mask_with_empty_row()
    attn_mask = torch.zeros(3, 5, dtype=dtype).masked_fill(~mask, float("-inf")) if additive else mask
    if backend is None:
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
    else:
        with sdpa_kernel(backend):
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
    assert (out[..., 1, :] == 0).all()
    assert torch.isfinite(out).all()


def _torch_mha(seed=0):
    torch.manual_seed(seed)
    mha = nn.MultiheadAttention(8, 2, batch_first=True, dtype=torch.float64)
    nn.init.normal_(mha.in_proj_bias)
    nn.init.normal_(mha.out_proj.bias)  # nonzero, so "zero attention output" is visible as out == bias
    return mha


MODES = {  # (training, grad enabled)
    "train+grad": (True, True),
    "train+no_grad": (True, False),
    "eval+grad": (False, True),
    "eval+no_grad": (False, False),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("how", ["key_padding_mask", "attn_mask"])
@pytest.mark.parametrize("need_weights", [True, False])
def test_nn_multihead_attention_on_a_query_with_no_key(mode, how, need_weights):
    mha = _torch_mha()
    training, grad = MODES[mode]
    mha.train(training)
    x = torch.randn(2, 3, 8, dtype=torch.float64)  # (B, T, D)
    if how == "key_padding_mask":
        kpm = torch.zeros(2, 3, dtype=torch.bool)  # (B, Tk), True = ignore
        kpm[0] = True  # every key of sequence 0 is padding
        kwargs, empty = {"key_padding_mask": kpm}, (0, slice(None))
    else:
        kwargs, empty = {"attn_mask": ~_mask_with_empty_row(3, 3)}, (slice(None), 1)  # True = ignore
    with torch.set_grad_enabled(grad):
        out, _ = mha(x, x, x, need_weights=need_weights, **kwargs)
    row = out[empty]  # the outputs of the queries with no key
    others = out[(1, slice(None))] if how == "key_padding_mask" else out[:, 0]
    assert torch.isfinite(others).all()
    # NaN: the weights path, or the eval + no_grad fast path (torch._native_multi_head_attention)
    if need_weights or mode == "eval+no_grad":
        assert row.isnan().all()
    else:  # F.scaled_dot_product_attention inside: zero attention, so out_proj(0) = its bias
        torch.testing.assert_close(row, mha.out_proj.bias.expand_as(row).detach())


@pytest.mark.parametrize("mode", MODES)
def test_mha_lib_gives_zeros_where_torch_differs(mode):
    ref = _torch_mha()
    training, grad = MODES[mode]
    ours = MultiHeadAttention.from_torch(ref).train(training)
    x = torch.randn(2, 3, 8, dtype=torch.float64)
    mask = causal_mask(3)
    mask[1] = False
    for need_weights in (True, False):
        with torch.set_grad_enabled(grad):
            out, _ = ours(x, mask=mask, need_weights=need_weights)
        torch.testing.assert_close(out[:, 1], ref.out_proj.bias.expand(2, 8).detach())  # zero attention output
