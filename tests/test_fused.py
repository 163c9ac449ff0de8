"""The fast paths stay exact: fused need_weights=False, in-place softmax, the packed (shared-buffer) in-projection."""

import pytest
import torch
from torch import nn

from mha_lib import MultiHeadAttention, causal_mask, masked_softmax, scaled_dot_product_attention

TOL = {"atol": 1e-12, "rtol": 1e-10}


def _pair(d_model=16, heads=4, seed=0):
    torch.manual_seed(seed)
    ref = nn.MultiheadAttention(d_model, heads, batch_first=True, dtype=torch.float64)
    nn.init.normal_(ref.in_proj_bias)
    nn.init.normal_(ref.out_proj.bias)
    return ref.eval(), MultiHeadAttention.from_torch(ref)


@pytest.mark.parametrize(
    "mask_shape", [None, (6, 6), (2, 6, 6), (2, 1, 6), (2, 4, 6, 6), (2, 1, 6, 6)], ids=lambda s: str(s)
)
@pytest.mark.parametrize("mode", ["grad", "no_grad", "inference"])
def test_module_fused_path_equals_weights_path(mask_shape, mode):
    _, ours = _pair()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 6, 16, generator=g, dtype=torch.float64)  # (B, T, D)
    mask = None if mask_shape is None else torch.rand(mask_shape, generator=g) > 0.4
    if mask is not None:
        mask[..., 0, :] = False  # query 0 may attend to nothing: zeros on both paths
    context = {"grad": torch.enable_grad, "no_grad": torch.no_grad, "inference": torch.inference_mode}[mode]
    with context():
        out, weights = ours(x, mask=mask)
        fused, none = ours(x, mask=mask, need_weights=False)
    assert none is None
    torch.testing.assert_close(fused, out, **TOL)
    assert torch.isfinite(out).all()
    if mask is not None:
        assert (weights[:, :, 0] == 0).all()


def test_fast_modes_equal_autograd_mode():
    _, ours = _pair(24, 3)
    x = torch.randn(3, 7, 24, dtype=torch.float64)
    expected, expected_w = ours(x, mask=causal_mask(7))
    assert expected.requires_grad
    for context in (torch.no_grad, torch.inference_mode):
        with context():
            out, weights = ours(x, mask=causal_mask(7))
        torch.testing.assert_close(out, expected.detach(), **TOL)
        torch.testing.assert_close(weights, expected_w.detach(), **TOL)


def test_gradients_reach_each_projection_like_torch():
    ref, ours = _pair()
    ref.train()
    x = torch.randn(2, 5, 16, dtype=torch.float64)
    mask = torch.rand(2, 1, 5) > 0.3  # (B, 1, Tk)
    mask[..., 0] = True
    ref_out, _ = ref(x, x, x, key_padding_mask=~mask[:, 0], need_weights=False)
    ref_out.square().sum().backward()
    out, _ = ours(x, mask=mask)
    out.square().sum().backward()
    packed_grad = torch.cat([p.weight.grad for p in (ours.q_proj, ours.k_proj, ours.v_proj)])  # (3D, D)
    torch.testing.assert_close(packed_grad, ref.in_proj_weight.grad, **TOL)
    torch.testing.assert_close(ours.out_proj.weight.grad, ref.out_proj.weight.grad, **TOL)


def test_packed_view_follows_weight_changes():
    _, ours = _pair()
    x = torch.randn(2, 5, 16, dtype=torch.float64)
    with torch.inference_mode():
        assert ours._in_proj("weight").data_ptr() == ours.q_proj.weight.data_ptr()  # the no-copy view is in use
        before, _ = ours(x)
    with torch.no_grad():
        ours.k_proj.weight.mul_(2.0)  # in place, in the shared buffer
        ours.v_proj.bias.add_(1.0)
    with torch.inference_mode():
        after, _ = ours(x)
    q, k, v = ours.q_proj(x), ours.k_proj(x), ours.v_proj(x)  # the unpacked computation
    expected, _ = scaled_dot_product_attention(*(t.unflatten(-1, (4, 4)).transpose(1, 2) for t in (q, k, v)))
    expected = ours.out_proj(expected.transpose(1, 2).flatten(2))  # (B, T, D)
    torch.testing.assert_close(after, expected.detach(), **TOL)
    assert not torch.allclose(after, before)


def test_separated_parameters_still_work():
    ref, ours = _pair()
    x = torch.randn(2, 5, 16)
    ours.float()  # .float() gives every parameter its own storage: the packed view no longer applies
    ours.q_proj.weight = nn.Parameter(ours.q_proj.weight.detach().clone())
    with torch.inference_mode():
        out, weights = ours(x)
        ref_out, ref_w = ref.float()(x, x, x, need_weights=True, average_attn_weights=False)
    torch.testing.assert_close(out, ref_out, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(weights, ref_w, atol=1e-5, rtol=1e-4)


def test_state_dict_keeps_three_separate_linears():
    ours = MultiHeadAttention(8, 2)
    state = ours.state_dict()
    assert {k for k in state if k.endswith("weight")} == {f"{n}_proj.weight" for n in ("q", "k", "v", "out")}
    assert all(state[f"{n}_proj.weight"].shape == (8, 8) for n in ("q", "k", "v"))
    other = MultiHeadAttention(8, 2)
    other.load_state_dict(state)
    x = torch.randn(1, 3, 8)
    with torch.inference_mode():
        torch.testing.assert_close(other(x)[0], ours(x)[0])


def test_masked_softmax_leaves_scores_untouched():
    scores = torch.randn(2, 3, 4, dtype=torch.float64)
    mask = torch.rand(2, 3, 4) > 0.5
    before = scores.clone()
    for m in (None, mask):
        with torch.inference_mode():
            masked_softmax(scores, m)
        masked_softmax(scores, m)
    assert torch.equal(scores, before)


def test_weights_path_gradients_match_autograd_reference():
    g = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(2, 3, t, 4, generator=g, dtype=torch.float64, requires_grad=True) for t in (5, 6, 6))
    mask = torch.rand(2, 1, 5, 6, generator=g) > 0.3  # (B, 1, Tq, Tk)
    mask[..., 0] = True
    assert torch.autograd.gradcheck(lambda a, b, c: scaled_dot_product_attention(a, b, c, mask), (q, k, v))


def test_float32_fused_matches_weights_path_at_benchmark_shape():
    torch.manual_seed(0)
    ref = nn.MultiheadAttention(256, 8, batch_first=True).eval()
    ours = MultiHeadAttention.from_torch(ref).eval()
    x = torch.randn(2, 64, 256)
    with torch.inference_mode():
        out, weights = ours(x)
        fused, _ = ours(x, need_weights=False)
        ref_out, ref_w = ref(x, x, x, need_weights=True, average_attn_weights=False)
    torch.testing.assert_close(fused, out, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(out, ref_out, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(weights, ref_w, atol=1e-6, rtol=1e-4)
