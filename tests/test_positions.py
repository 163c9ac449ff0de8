"""mha_lib.positions in float64: the sinusoidal formula, RoPE against complex numbers, ALiBi's slopes."""

import math

import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

from mha_lib import data
from mha_lib.positions import alibi_bias, alibi_slopes, apply_rope, sinusoidal

TOL = {"atol": 1e-12, "rtol": 1e-10}
F64 = torch.float64

even_d = st.integers(1, 8).map(lambda n: 2 * n)
bases = st.sampled_from([10000.0, 500.0, 1e6])
pairings = st.sampled_from(["interleaved", "half"])


def _randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


# ---------------------------------------------------------------- sinusoidal


@given(seq_len=st.integers(0, 40), d_model=even_d, base=bases)
def test_sinusoidal_is_the_paper_formula(seq_len, d_model, base):
    pe = sinusoidal(seq_len, d_model, base=base, dtype=F64)
    expected = torch.tensor(
        [
            [
                (math.sin if j % 2 == 0 else math.cos)(p / base ** ((j - j % 2) / d_model))  # j = 2i or 2i + 1
                for j in range(d_model)
            ]
            for p in range(seq_len)
        ],
        dtype=F64,
    ).reshape(seq_len, d_model)
    torch.testing.assert_close(pe, expected, **TOL)


def test_sinusoidal_default_dtype_and_first_wave_alias():
    assert data.sinusoidal_positions is sinusoidal
    pe = sinusoidal(50, 16)
    assert pe.dtype == torch.get_default_dtype()
    position = torch.arange(50).unsqueeze(1)  # (T, 1): the first wave's float32 formula, via exp and log
    freq = torch.exp(torch.arange(0, 16, 2) * (-math.log(10000.0) / 16))  # (D/2,)
    torch.testing.assert_close(pe[:, 0::2], torch.sin(position * freq), atol=1e-5, rtol=0)
    torch.testing.assert_close(pe[:, 1::2], torch.cos(position * freq), atol=1e-5, rtol=0)


@given(p=st.integers(0, 200), k=st.integers(-50, 50), d_model=even_d, base=bases)
def test_sinusoidal_shift_is_a_rotation_per_frequency_pair(p, k, d_model, base):
    """PE(p + k) = R(k) PE(p): R(k) rotates each (sin, cos) pair by k·ω_i and does not depend on p."""
    assume(p + k >= 0)
    pe = sinusoidal(p + abs(k) + 1, d_model, base=base, dtype=F64)  # (T, D)
    omega = base ** (-torch.arange(0, d_model, 2, dtype=F64) / d_model)  # (D/2,)
    c, s = torch.cos(k * omega), torch.sin(k * omega)  # (D/2,)
    sin_p, cos_p = pe[p, 0::2], pe[p, 1::2]  # (D/2,) each
    shifted = torch.stack((sin_p * c + cos_p * s, cos_p * c - sin_p * s), dim=-1).flatten()  # (D,)
    torch.testing.assert_close(shifted, pe[p + k], atol=1e-10, rtol=0)


@given(p=st.integers(0, 100), q=st.integers(0, 100), s=st.integers(0, 100), d_model=even_d)
def test_sinusoidal_dot_product_depends_on_offset_only(p, q, s, d_model):
    pe = sinusoidal(201, d_model, dtype=F64)  # (T, D)
    torch.testing.assert_close(pe[p] @ pe[q], pe[p + s] @ pe[q + s], atol=1e-10, rtol=0)
    torch.testing.assert_close(pe[p] @ pe[q], pe[q] @ pe[p], atol=0, rtol=0)


def test_sinusoidal_errors():
    with pytest.raises(ValueError, match="d_model must be even"):
        sinusoidal(4, 5)
    with pytest.raises(ValueError, match="seq_len must be a whole number"):
        sinusoidal(-1, 4)
    with pytest.raises(ValueError, match="base must be a finite number > 1"):
        sinusoidal(4, 4, base=0.5)


# ---------------------------------------------------------------- RoPE


def _rope_complex(x, positions, base, pairing):
    """The same rotation written with complex numbers: each feature pair is one complex number times e^{i·p·ω}."""
    d = x.shape[-1]
    if pairing == "interleaved":
        pairs = torch.view_as_complex(x.unflatten(-1, (d // 2, 2)).contiguous())  # (..., T, D/2): x_2i + i·x_2i+1
    else:
        pairs = torch.complex(x[..., : d // 2], x[..., d // 2 :])  # (..., T, D/2): x_i + i·x_{i+D/2}
    omega = base ** (-torch.arange(0, d, 2, dtype=F64) / d)  # (D/2,)
    turned = pairs * torch.polar(torch.ones_like(omega), positions.to(F64)[:, None] * omega)  # (..., T, D/2)
    real = torch.view_as_real(turned)  # (..., T, D/2, 2)
    return real.flatten(-2) if pairing == "interleaved" else torch.cat((real[..., 0], real[..., 1]), dim=-1)


@given(
    batch_dims=st.lists(st.integers(1, 3), max_size=2).map(tuple),
    t=st.integers(1, 9),
    d=even_d,
    base=bases,
    pairing=pairings,
    offset=st.integers(-1000, 1000),
    seed=st.integers(0, 2**16),
)
def test_rope_equals_complex_rotation(batch_dims, t, d, base, pairing, offset, seed):
    x = _randn(*batch_dims, t, d, seed=seed)
    positions = torch.randperm(t, generator=torch.Generator().manual_seed(seed)) + offset  # (T,), any integers
    before = x.clone()
    out = apply_rope(x, positions, base=base, pairing=pairing)
    torch.testing.assert_close(out, _rope_complex(x, positions, base, pairing), **TOL)
    assert torch.equal(x, before), "apply_rope must not modify its input"


def _rotate_half(x):
    a, b = x.chunk(2, dim=-1)
    return torch.cat((-b, a), dim=-1)


def test_half_pairing_is_the_rotate_half_formula():
    """GPT-NeoX / Llama code: x·cos + rotate_half(x)·sin with the angles repeated over both halves."""
    x = _randn(2, 3, 7, 8, seed=4)  # (B, H, T, Dh)
    omega = 10000.0 ** (-torch.arange(0, 8, 2, dtype=F64) / 8)  # (Dh/2,)
    angles = torch.arange(7, dtype=F64)[:, None] * omega  # (T, Dh/2)
    emb = torch.cat((angles, angles), dim=-1)  # (T, Dh)
    torch.testing.assert_close(apply_rope(x, pairing="half"), x * emb.cos() + _rotate_half(x) * emb.sin(), **TOL)


@given(d=even_d, t=st.integers(1, 8), seed=st.integers(0, 2**16))
def test_pairings_are_one_fixed_permutation_apart(d, t, seed):
    """half(x) = P⁻¹ interleaved(P x), with P moving feature i + D/2 next to feature i."""
    x = _randn(t, d, seed=seed)
    perm = torch.arange(d).view(2, d // 2).T.flatten()  # [0, D/2, 1, D/2 + 1, …]
    inverse = torch.argsort(perm)
    torch.testing.assert_close(apply_rope(x[..., perm])[..., inverse], apply_rope(x, pairing="half"), **TOL)
    if d >= 4 and t >= 2:
        assert not torch.allclose(apply_rope(x), apply_rope(x, pairing="half")), "the pairings differ as maps"


@given(t=st.integers(1, 9), d=even_d, pairing=pairings, seed=st.integers(0, 2**16))
def test_rope_preserves_norms(t, d, pairing, seed):
    x = _randn(2, t, d, seed=seed)
    torch.testing.assert_close(apply_rope(x, pairing=pairing).norm(dim=-1), x.norm(dim=-1), **TOL)


@given(
    m=st.integers(0, 500),
    n=st.integers(0, 500),
    s=st.integers(-500, 500),
    d=even_d,
    pairing=pairings,
    base=bases,
    seed=st.integers(0, 2**16),
)
def test_rope_scores_depend_on_offset_only(m, n, s, d, pairing, base, seed):
    """q_m · k_n = q_{m+s} · k_{n+s}: shifting both positions by any s leaves the score unchanged."""
    q, k = _randn(1, d, seed=seed), _randn(1, d, seed=seed + 1)  # (T=1, D)

    def score(pq, pk):
        rq = apply_rope(q, torch.tensor([pq]), base=base, pairing=pairing)  # (1, D)
        rk = apply_rope(k, torch.tensor([pk]), base=base, pairing=pairing)  # (1, D)
        return (rq @ rk.T).item()

    assert score(m, n) == pytest.approx(score(m + s, n + s), abs=1e-9)
    assert score(m, n) == pytest.approx(
        (q @ apply_rope(k, torch.tensor([n - m]), base=base, pairing=pairing).T).item(), abs=1e-9
    )


def test_rope_defaults_and_position_zero():
    x = _randn(3, 5, 6)
    torch.testing.assert_close(apply_rope(x), apply_rope(x, torch.arange(5)), atol=0, rtol=0)
    torch.testing.assert_close(apply_rope(x, torch.zeros(5, dtype=torch.long)), x, atol=0, rtol=0)
    assert apply_rope(x.float()).dtype == torch.float32


def test_rope_errors():
    x = torch.randn(4, 6)
    with pytest.raises(ValueError, match=r"D must be even.*\(4, 5\)"):
        apply_rope(torch.randn(4, 5))
    with pytest.raises(ValueError, match=r"pairing must be 'interleaved'.*or 'half'.*got 'rotate'"):
        apply_rope(x, pairing="rotate")
    with pytest.raises(TypeError, match=r"integer tensor.*torch.float32.*positions.long\(\)"):
        apply_rope(x, torch.arange(4.0))
    with pytest.raises(ValueError, match=r"shape \(T,\) = \(4,\).*got \(3,\)"):
        apply_rope(x, torch.arange(3))
    with pytest.raises(ValueError, match="float tensor"):
        apply_rope(torch.ones(4, 6, dtype=torch.long))


# ---------------------------------------------------------------- ALiBi


@pytest.mark.parametrize(
    ("num_heads", "exponents"),
    [
        (1, [8]),
        (4, [2, 4, 6, 8]),
        (8, [1, 2, 3, 4, 5, 6, 7, 8]),
        (6, [2, 4, 6, 8, 1, 3]),  # not a power of two: H=4's slopes, then every other slope of H=8
        (12, [1, 2, 3, 4, 5, 6, 7, 8, 0.5, 1.5, 2.5, 3.5]),  # H=8's slopes, then every other one of H=16
    ],
)
def test_alibi_slopes_are_the_papers(num_heads, exponents):
    assert alibi_slopes(num_heads) == pytest.approx([2.0**-e for e in exponents], rel=1e-15)


@given(num_heads=st.integers(1, 16), t_q=st.integers(1, 8), t_k=st.integers(1, 8))
def test_alibi_bias_is_minus_slope_times_distance(num_heads, t_q, t_k):
    bias = alibi_bias(num_heads, t_q, t_k, dtype=F64)
    assert bias.shape == (num_heads, t_q, t_k)
    for h, m in enumerate(alibi_slopes(num_heads)):
        for i in range(t_q):
            for j in range(t_k):
                assert bias[h, i, j].item() == -m * abs(i - j)
    assert (bias <= 0).all()
    assert torch.equal(alibi_bias(num_heads, t_q, dtype=F64), alibi_bias(num_heads, t_q, t_q, dtype=F64))


def test_alibi_errors():
    with pytest.raises(ValueError, match="num_heads must be a whole number >= 1"):
        alibi_bias(0, 4)
    with pytest.raises(ValueError, match="t_q, t_k >= 1"):
        alibi_bias(2, 0)
