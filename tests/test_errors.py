"""Bad input raises a clear error that names the shapes or values and the fix."""

import numpy as np
import pytest
import torch

from mha_lib import (
    MultiHeadAttention,
    causal_mask,
    from_block_mask,
    from_key_padding_mask,
    masked_softmax,
    padding_mask,
    scaled_dot_product_attention,
    split_heads,
    to_additive,
)

q4 = torch.randn(2, 3, 4)
k4 = torch.randn(2, 5, 4)


def test_d_model_not_divisible_by_heads():
    with pytest.raises(ValueError, match=r"d_model=10 is not divisible by num_heads=4.*\[1, 2, 5, 10\]"):
        MultiHeadAttention(10, 4)
    with pytest.raises(ValueError, match=r"d_model=10 is not divisible by num_heads=3"):
        split_heads(torch.zeros(1, 2, 10), 3)


def test_mask_that_does_not_broadcast():
    with pytest.raises(ValueError, match=r"mask of shape \(2, 5\) does not broadcast to .* \(2, 3, 5\)"):
        scaled_dot_product_attention(q4, k4, k4, torch.ones(2, 5, dtype=torch.bool))


def test_head_mask_needs_unsqueeze_hint():
    q, k = torch.randn(3, 2, 3, 4), torch.randn(3, 2, 5, 4)  # (B, H, T, D)
    with pytest.raises(ValueError, match=r"\(3, 1, 5\) does not broadcast .*\(3, 2, 3, 5\).*unsqueeze\(1\)"):
        scaled_dot_product_attention(q, k, k, torch.ones(3, 1, 5, dtype=torch.bool))


def test_module_mask_of_wrong_shape():
    with pytest.raises(ValueError, match=r"mask of shape \(3, 1, 5\) does not broadcast"):
        MultiHeadAttention(4, 2)(q4, k4, mask=torch.ones(3, 1, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"mask must be \(Tq, Tk\).*got \(5,\)"):
        MultiHeadAttention(4, 2)(q4, k4, mask=torch.ones(5, dtype=torch.bool))


@pytest.mark.parametrize(
    ("mask", "hint"), [(torch.zeros(3, 5), "from_additive"), (torch.zeros(3, 5, dtype=torch.long), "from_block_mask")]
)
def test_non_bool_mask_points_to_converters(mask, hint):
    with pytest.raises(TypeError, match=rf"bool tensor.*shape \(3, 5\).*{hint}"):
        scaled_dot_product_attention(q4, k4, k4, mask)
    with pytest.raises(TypeError, match=hint):
        masked_softmax(torch.zeros(3, 5), mask)


@pytest.mark.parametrize("valid_lens", [[-1, 2], [2, 6], [[1, 7]]])
def test_valid_lens_out_of_range(valid_lens):
    with pytest.raises(ValueError, match=r"valid_lens must lie in \[0, Tk\] = \[0, 5\]"):
        padding_mask(torch.tensor(valid_lens), 5)


def test_valid_lens_fractional():
    with pytest.raises(ValueError, match="whole numbers"):
        padding_mask(torch.tensor([1.5]), 5)


def test_mismatched_d_between_q_and_k():
    with pytest.raises(ValueError, match=r"q \(2, 3, 4\) vs k \(2, 5, 6\)"):
        scaled_dot_product_attention(q4, torch.randn(2, 5, 6), torch.randn(2, 5, 6))


def test_k_and_v_lengths_differ():
    with pytest.raises(ValueError, match=r"k \(2, 5, 4\) vs v \(2, 6, 4\)"):
        scaled_dot_product_attention(q4, k4, torch.randn(2, 6, 4))


def test_batch_dims_differ_is_not_broadcast_silently():
    with pytest.raises(ValueError, match=r"same batch dims.*q \(2, 3, 4\), k \(1, 5, 4\)"):
        scaled_dot_product_attention(q4, torch.randn(1, 5, 4), torch.randn(1, 5, 4))


@pytest.mark.parametrize(("t_q", "t_k"), [(0, 5), (3, 0)])
def test_empty_sequences(t_q, t_k):
    with pytest.raises(ValueError, match="empty sequence"):
        scaled_dot_product_attention(torch.randn(2, t_q, 4), torch.randn(2, t_k, 4), torch.randn(2, t_k, 4))
    with pytest.raises(ValueError, match="empty sequence"):
        MultiHeadAttention(4, 2)(torch.randn(2, t_q, 4), torch.randn(2, t_k, 4))


def test_module_input_of_wrong_width():
    with pytest.raises(ValueError, match=r"query must be \(B, T, d_model=8\), got \(2, 3, 4\)"):
        MultiHeadAttention(8, 2)(q4)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_scale_and_temperature(bad):
    with pytest.raises(ValueError, match="scale must be a positive finite number"):
        scaled_dot_product_attention(q4, k4, k4, scale=bad)
    with pytest.raises(ValueError, match="temperature must be a positive finite number"):
        scaled_dot_product_attention(q4, k4, k4, temperature=bad)


def test_not_a_tensor_and_integer_inputs():
    with pytest.raises(TypeError, match=r"q must be a torch.Tensor, got list"):
        scaled_dot_product_attention([[1.0]], k4, k4)
    with pytest.raises(TypeError, match="floating dtype"):
        scaled_dot_product_attention(
            torch.ones(1, 2, 2, dtype=torch.long),
            torch.ones(1, 2, 2, dtype=torch.long),
            torch.ones(1, 2, 2, dtype=torch.long),
        )


def test_converter_errors():
    with pytest.raises(ValueError, match=r"only 0 \(attend\) and 1 \(blocked\); got \[2.0\]"):
        from_block_mask(torch.tensor([0.0, 2.0]))
    with pytest.raises(TypeError, match="key_padding_mask must be bool"):
        from_key_padding_mask(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"\(B, Tk\), got \(3,\)"):
        from_key_padding_mask(torch.zeros(3, dtype=torch.bool))
    with pytest.raises(TypeError, match="bool keep-mask"):
        to_additive(torch.zeros(3))


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        ((2.5,), TypeError, r"t_q must be a whole number >= 1, got 2.5 \(float\); e.g. causal_mask\(3\)"),
        (("3",), TypeError, r"t_q must be a whole number >= 1, got '3' \(str\); e.g. causal_mask\(3\)"),
        ((3, 1.0), TypeError, r"t_k must be a whole number >= 1, got 1.0 \(float\); e.g. causal_mask\(3, 5\)"),
        ((0,), ValueError, r"t_q must be >= 1, got 0"),
        ((True,), TypeError, r"t_q must be a whole number >= 1, got True \(bool\)"),
    ],
)
def test_causal_mask_needs_whole_lengths(args, error, message):
    with pytest.raises(error, match=message):
        causal_mask(*args)


def test_causal_mask_takes_integer_like_lengths():
    assert torch.equal(causal_mask(torch.tensor(3), np.int64(4)), causal_mask(3, 4))


def test_to_additive_needs_a_floating_dtype():
    with pytest.raises(TypeError, match=r"floating dtype .* got torch.int64; pass the scores' dtype"):
        to_additive(torch.tensor([True, False]), torch.int64)
    with pytest.raises(TypeError, match=r"floating dtype .* got 'float32'"):
        to_additive(torch.tensor([True, False]), "float32")


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        ((8, 2.0), TypeError, r"num_heads must be a whole number >= 1, got 2.0 \(float\); e.g. MultiHeadAttention"),
        ((8.0, 2), TypeError, r"d_model must be a whole number >= 1, got 8.0 \(float\)"),
        ((0, 1), ValueError, r"d_model must be >= 1, got 0"),
        ((8, 0), ValueError, r"num_heads must be >= 1, got 0"),
    ],
)
def test_module_sizes_are_whole_positive_numbers(args, error, message):
    with pytest.raises(error, match=message):
        MultiHeadAttention(*args)


def test_module_input_of_another_dtype():
    mha = MultiHeadAttention(4, 2)  # float32 weights
    with pytest.raises(
        TypeError, match=r"torch.float64.* but the module's weights are torch.float32; .*x.to\(torch.float32\).*mha.to"
    ):
        mha(q4.double())
    with pytest.raises(TypeError, match=r"query, key, value are torch.float32, torch.float64, torch.float64"):
        mha(q4, k4.double())


def test_bool_valid_lens_is_a_mask_not_lengths():
    with pytest.raises(
        TypeError, match=r"valid_lens holds lengths.*\[True, False\].*padding_mask\(torch.tensor\(\[3, 3\]\), 3\)"
    ):
        padding_mask(torch.tensor([True, False]), 3)
