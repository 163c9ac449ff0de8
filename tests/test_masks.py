"""Masks and converters: one convention inside (bool, True = may attend), every other one at the border."""

import pytest
import torch
import torch.nn.functional as F

from mha_lib import (
    causal_mask,
    from_additive,
    from_block_mask,
    from_key_padding_mask,
    padding_mask,
    scaled_dot_product_attention,
    to_additive,
)


@pytest.mark.parametrize(("t_q", "t_k"), [(1, 1), (4, 4), (3, 5), (5, 3)])
def test_causal_mask_matches_sdpa_is_causal(t_q, t_k):
    q, k, v = (torch.randn(2, t, 4, dtype=torch.float64) for t in (t_q, t_k, t_k))
    out, _ = scaled_dot_product_attention(q, k, v, causal_mask(t_q, t_k))
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, is_causal=True), atol=1e-12, rtol=0)
    assert causal_mask(t_q, t_k).dtype == torch.bool


def test_padding_mask_one_length_per_sequence():
    mask = padding_mask(torch.tensor([2, 0, 4]), 4)
    assert mask.shape == (3, 1, 4)
    assert mask.squeeze(1).int().tolist() == [[1, 1, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1]]


def test_padding_mask_one_length_per_query():
    mask = padding_mask(torch.tensor([[1, 3], [2, 2]]), 3)
    assert mask.shape == (2, 2, 3)
    assert mask.int().tolist() == [[[1, 0, 0], [1, 1, 1]], [[1, 1, 0], [1, 1, 0]]]


def test_padding_mask_accepts_lists_and_whole_floats():
    assert torch.equal(padding_mask([1, 2], 3), padding_mask(torch.tensor([1.0, 2.0]), 3))


def test_from_key_padding_mask_flips_and_adds_query_axis():
    kpm = torch.tensor([[False, False, True], [False, True, True]])  # True = padding
    assert from_key_padding_mask(kpm).tolist() == [[[True, True, False]], [[True, False, False]]]


@pytest.mark.parametrize(
    "block",
    [
        torch.tensor([[0, 1], [1, 0]]),
        torch.tensor([[0.0, 1.0], [1.0, 0.0]]),
        torch.tensor([[False, True], [True, False]]),
    ],
)
def test_from_block_mask(block):
    assert from_block_mask(block).tolist() == [[True, False], [False, True]]


def test_from_additive_reads_zero_and_large_negatives():
    additive = torch.tensor([0.0, float("-inf"), -1e9, -1e4, torch.finfo(torch.float32).min])
    assert from_additive(additive).tolist() == [True, False, False, False, False]


@pytest.mark.parametrize("value", [-0.5, 1.0, -9999.0, float("nan")])
def test_from_additive_rejects_a_bias(value):
    with pytest.raises(ValueError, match="bias, not a mask"):
        from_additive(torch.tensor([0.0, value]))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_to_additive_uses_finfo_min(dtype):
    additive = to_additive(torch.tensor([[True, False]]), dtype)
    assert additive.dtype == dtype
    assert additive.tolist() == [[0.0, torch.finfo(dtype).min]]
    assert from_additive(additive).tolist() == [[True, False]]


def test_additive_and_bool_masks_give_the_same_attention():
    q, k, v = (torch.randn(2, 3, 5, 4, dtype=torch.float64) for _ in range(3))
    mask = torch.rand(2, 1, 5, 5) > 0.3
    mask[..., 0] = True
    ours, _ = scaled_dot_product_attention(q, k, v, mask)
    theirs = F.scaled_dot_product_attention(q, k, v, attn_mask=to_additive(mask, torch.float64))
    torch.testing.assert_close(ours, theirs, atol=1e-12, rtol=0)
