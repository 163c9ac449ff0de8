"""Notebook 08's scenario: head scores, value weighting and rollout on hand-made and real attention."""

import functools
import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from mha_lib.scenarios import real_model_heads as S


def rows(t: int, seed: int) -> torch.Tensor:
    return torch.softmax(torch.randn(6, 12, t, t, generator=torch.Generator().manual_seed(seed)), dim=-1)


def shifted(t: int, offset: int) -> torch.Tensor:
    """One-hot rows on key i + offset (clamped at the ends)."""
    keys = (torch.arange(t) + offset).clamp(0, t - 1)
    return torch.nn.functional.one_hot(keys, t).double()  # (T, T)


def test_each_score_finds_the_head_built_for_it():
    t = 7
    attn = torch.full((2, 3, t, t), 1.0 / t, dtype=torch.float64)  # every head uniform ...
    attn[0, 1] = shifted(t, -1)  # ... but one previous-token head,
    attn[1, 0] = shifted(t, +1)  # one next-token head,
    attn[1, 2] = 0.0
    attn[1, 2, :, 0] = 1.0  # and one [CLS] sink
    scores = S.score_heads(attn)
    assert scores.top("previous") == (0, 1) and scores.previous[0, 1] == 1.0
    assert scores.top("next") == (1, 0) and scores.next[1, 0] == 1.0
    assert scores.top("sink") == (1, 2) and scores.sink[1, 2] == 1.0
    assert scores.broad[0, 0] == pytest.approx(1.0) and scores.broad[1, 2] == 0.0
    with pytest.raises(ValueError, match="kind must be one of"):
        scores.top("diagonal")


def test_scores_reject_what_is_not_a_stack_of_square_heads():
    with pytest.raises(ValueError, match=r"\(L, H, T, T\)"):
        S.score_heads(torch.ones(2, 3, 4, 5))


@given(st.integers(2, 12), st.integers(0, 10_000))
def test_value_weighted_rows_are_shares_and_equal_weights_give_raw(t, seed):
    attn = rows(t, seed)
    norms = torch.rand(6, 12, t, generator=torch.Generator().manual_seed(seed)) + 0.1
    shares = S.value_weighted(attn, norms)
    assert torch.allclose(shares.sum(-1), torch.ones(6, 12, t))
    assert torch.allclose(S.value_weighted(attn, torch.full_like(norms, 3.0)), attn)
    big = norms.argmax(-1, keepdim=True).unsqueeze(-2).expand(6, 12, t, 1)  # the longest value of each head
    assert (shares.gather(-1, big) >= attn.gather(-1, big) - 1e-6).all()  # never loses share


def test_rollout_is_a_product_of_mixed_layers():
    attn = rows(5, 0).double()
    rolled = S.rollout(attn)
    eye = torch.eye(5, dtype=torch.float64)
    mixed = [0.5 * a.mean(0) + 0.5 * eye for a in attn]  # (T, T) each
    assert torch.allclose(rolled[0], mixed[0]) and torch.allclose(rolled[1], mixed[1] @ mixed[0])
    assert torch.allclose(rolled[-1].sum(-1), torch.ones(5, dtype=torch.float64))
    assert torch.allclose(
        S.rollout(attn, residual=0.0)[-1], functools.reduce(torch.matmul, reversed([a.mean(0) for a in attn]))
    )


def test_entropy_is_zero_one_hot_and_log_t_uniform():
    assert S.entropy(torch.eye(4)).item() == 0.0
    assert S.entropy(torch.full((4, 4), 0.25)).item() == pytest.approx(math.log(4))


def test_compute_on_the_real_model():
    s = S.pretrained_compute("The cat sat on the mat.", layer=0, head=2)
    t = len(s.tokens)
    assert s.shown.shape == (6, 12, t, t) and s.entropy.shape == (6, 12)
    assert torch.equal(s.selected, s.encoding.attentions[0, 2])
    assert s.scores.top("previous") == (0, 2) and s.scores.previous[0, 2] > 0.95  # a real previous-token head
    weighted = S.pretrained_compute("The cat sat on the mat.", weighting="value_norm")
    assert weighted.encoding is s.encoding  # cached: switching the weighting runs no forward pass
    assert torch.allclose(weighted.shown.sum(-1), torch.ones(6, 12, t))
    sink = s.scores.top("sink")  # value weighting takes most of the sink's weight away: [CLS]'s value is short
    assert weighted.shown[sink][:, 0].mean() < 0.5 * s.shown[sink][:, 0].mean()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"text": ""}, "1 to 40 WordPiece tokens"),
        ({"text": "word " * 41}, "gives 41"),
        ({"text": 3}, "text must be a str"),
        ({"layer": 6}, r"layer must be an integer in \[0, 5\]"),
        ({"head": -1}, r"head must be an integer in \[0, 11\]"),
        ({"weighting": "norm"}, "weighting must be one of"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        S.pretrained_compute(**kwargs)
