"""Exercise checkers: right answers pass, each known mistake is named, nothing ever raises.

The learner functions below are written the way a student would write them (plain torch, no mha_lib).
"""

import math

import pytest
import torch

from mha_lib import checks
from mha_lib.checks import runner

INF = float("-inf")

# A word or phrase every message naming that mistake must contain.
NAMED = {
    "forgot_scale": "not scaled",
    "scaled_by_d_model": "√d_head",
    "wrong_softmax_axis": "dim=-1",
    "mask_inverted": "inverted",
    "mask_after_softmax": "after the softmax",
    "nan_rows": "NaN",
    "wrong_head_split": "view(B, H, T, Dh)",
    "transposed_output": "transposed",
    "modified_input": "in place",
    "wrong_shape": "shape",
    "wrong_dtype": "dtype",
    "wrong_temperature": "temperature",
    "swapped_query_source": "q = target @ w_q",
    "padded_queries_not_keys": "query positions instead of key positions",
    "off_by_one": "off by one",
    "uniform_masked_rows": "equal weights instead of zeros",
    "wrong_merge": "transpose(1, 2)",
}


def attention(q, k, v, mask=None, *, d=None, dim=-1, zero_after=False, keep_nan=False, temperature=1.0):
    """Textbook attention with the knobs a student gets wrong: d, softmax dim, where the mask goes."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1] if d is None else d) / temperature  # (B, Tq, Tk)
    if mask is not None and not zero_after:
        scores = scores.masked_fill(~mask, INF)  # (B, Tq, Tk)
    weights = torch.softmax(scores, dim=dim)  # (B, Tq, Tk)
    if mask is not None and not keep_nan:
        weights = weights.masked_fill(~mask, 0.0)  # (B, Tq, Tk)
    return weights @ v, weights  # (B, Tq, Dv), (B, Tq, Tk)


def attention_with_temperature(q, k, v, t):
    return attention(q, k, v, temperature=t)  # (B, Tq, Dv), (B, Tq, Tk)


def finite_fill(q, k, v, mask):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (B, Tq, Tk)
    weights = torch.softmax(scores.masked_fill(~mask, -1e9), dim=-1)  # (B, Tq, Tk), uniform in empty rows
    return weights @ v, weights  # (B, Tq, Dv), (B, Tq, Tk)


def in_place_scaled(q, k, v, mask=None):
    q /= math.sqrt(q.shape[-1])  # modifies the caller's q
    return attention(q, k, v, mask, d=1)  # (B, Tq, Dv), (B, Tq, Tk)


def scores_in_place(q, k):
    q /= math.sqrt(q.shape[-1])  # modifies the caller's q
    return q @ k.T  # (Tq, Tk)


def weights_transposed(fn):
    def wrong(*args):
        out, weights = fn(*args)  # (B, Tq, Dv), (B, Tq, Tk)
        return out, weights.transpose(-2, -1)  # (B, Tq, Dv), (B, Tk, Tq)

    return wrong


def split(x, h, *, view=False):
    b, t, d = x.shape
    return x.view(b, h, t, d // h) if view else x.view(b, t, h, d // h).transpose(1, 2)  # (B, H, T, Dh)


def merge(x, *, transpose=True):
    b, h, t, dh = x.shape
    return x.transpose(1, 2).reshape(b, t, h * dh) if transpose else x.reshape(b, t, h * dh)  # (B, T, D)


def mha(x, w_q, w_k, w_v, w_o, num_heads, *, d=None, dim=-1, view_split=False, transpose_merge=True):
    q, k, v = (split(x @ w, num_heads, view=view_split) for w in (w_q, w_k, w_v))  # (B, H, T, Dh)
    heads, _ = attention(q, k, v, d=d, dim=dim)  # (B, H, T, Dh)
    return merge(heads, transpose=transpose_merge) @ w_o  # (B, T, D)


def key_mask(lens, q_len, src_len):
    return (torch.arange(src_len) < lens[:, None, None]).expand(-1, q_len, -1)  # (B, Tq, Tk)


def query_mask(lens, q_len, src_len):
    return (torch.arange(q_len)[:, None] < lens[:, None, None]).expand(-1, -1, src_len)  # (B, Tq, Tk)


def cross(target, source, w_q, w_k, w_v, lens, *, make_mask=key_mask, q_from_source=False, **kw):
    q = (source if q_from_source else target) @ w_q  # (B, Tq, D)
    k, v = source @ w_k, source @ w_v  # (B, Tk, D)
    return attention(q, k, v, make_mask(lens, q.shape[1], k.shape[1]), **kw)  # (B, Tq, D), (B, Tq, Tk)


def projection_in_place(x, w_q, w_k, w_v):
    x.mul_(2.0)  # modifies the caller's x
    return x @ w_q / 2, x @ w_k / 2, x @ w_v / 2  # (T, Dk), (T, Dk), (T, Dv)


C = checks
CORRECT = [
    (C.diagnose_qkv_projection, lambda x, w_q, w_k, w_v: (x @ w_q, x @ w_k, x @ w_v)),
    (C.diagnose_scores, lambda q, k: q @ k.T / math.sqrt(k.shape[-1])),
    (C.diagnose_scaled_attention, lambda q, k, v: attention(q, k, v)),
    (C.diagnose_temperature_attention, attention_with_temperature),
    (C.diagnose_padding_mask, lambda lens, t_k: (torch.arange(t_k) < lens[:, None]).unsqueeze(1)),
    (C.diagnose_causal_mask, lambda t: torch.tril(torch.ones(t, t, dtype=torch.bool))),
    (C.diagnose_masked_attention, attention),
    (C.diagnose_split_heads, split),
    (C.diagnose_merge_heads, merge),
    (C.diagnose_multi_head_attention, mha),
    (C.diagnose_source_padding_mask, key_mask),
    (C.diagnose_cross_attention, cross),
]

WRONG = [
    (C.diagnose_qkv_projection, lambda x, w_q, w_k, w_v: (w_q.T @ x.T, w_k.T @ x.T, w_v.T @ x.T), "transposed_output"),
    (C.diagnose_qkv_projection, projection_in_place, "modified_input"),
    (C.diagnose_qkv_projection, lambda x, w_q, w_k, w_v: (x @ w_q, x @ w_k), "wrong_shape"),
    (C.diagnose_scores, lambda q, k: q @ k.T, "forgot_scale"),
    (C.diagnose_scores, lambda q, k: k @ q.T / math.sqrt(q.shape[-1]), "transposed_output"),
    (C.diagnose_scores, lambda q, k: (q @ k.T / math.sqrt(q.shape[-1])).float(), "wrong_dtype"),
    (C.diagnose_scores, lambda q, k: (q @ k.T / math.sqrt(q.shape[-1])).unsqueeze(0), "wrong_shape"),
    (C.diagnose_scores, scores_in_place, "modified_input"),
    (C.diagnose_scaled_attention, lambda q, k, v: attention(q, k, v, d=1), "forgot_scale"),
    (C.diagnose_scaled_attention, lambda q, k, v: attention(q, k, v, dim=-2), "wrong_softmax_axis"),
    (C.diagnose_scaled_attention, weights_transposed(attention), "transposed_output"),
    (C.diagnose_scaled_attention, lambda q, k, v: attention(q, k, v)[0], "wrong_shape"),
    (C.diagnose_scaled_attention, in_place_scaled, "modified_input"),
    (C.diagnose_temperature_attention, lambda q, k, v, t: attention(q, k, v, temperature=1 / t), "wrong_temperature"),
    (C.diagnose_temperature_attention, lambda q, k, v, t: attention(q, k, v), "wrong_temperature"),
    (C.diagnose_temperature_attention, lambda q, k, v, t: attention(q, k, v, d=1, temperature=t), "forgot_scale"),
    (
        C.diagnose_temperature_attention,
        lambda q, k, v, t: attention(q, k, v, dim=-2, temperature=t),
        "wrong_softmax_axis",
    ),
    (C.diagnose_temperature_attention, weights_transposed(attention_with_temperature), "transposed_output"),
    (C.diagnose_padding_mask, lambda lens, t_k: (torch.arange(t_k) >= lens[:, None]).unsqueeze(1), "mask_inverted"),
    (C.diagnose_padding_mask, lambda lens, t_k: (torch.arange(t_k) < lens[:, None] - 1).unsqueeze(1), "off_by_one"),
    (C.diagnose_padding_mask, lambda lens, t_k: (torch.arange(t_k) <= lens[:, None]).unsqueeze(1), "off_by_one"),
    (C.diagnose_padding_mask, lambda lens, t_k: (torch.arange(t_k) < lens[:, None]).unsqueeze(2), "transposed_output"),
    (C.diagnose_padding_mask, lambda lens, t_k: torch.arange(t_k) < lens[:, None], "wrong_shape"),
    (
        C.diagnose_padding_mask,
        lambda lens, t_k: (torch.arange(t_k) < lens[:, None]).unsqueeze(1).float(),
        "wrong_dtype",
    ),
    (C.diagnose_causal_mask, lambda t: torch.ones(t, t, dtype=torch.bool).triu(1), "mask_inverted"),
    (C.diagnose_causal_mask, lambda t: torch.ones(t, t, dtype=torch.bool).triu(), "transposed_output"),
    (C.diagnose_causal_mask, lambda t: torch.ones(t, t, dtype=torch.bool).tril(-1), "off_by_one"),
    (C.diagnose_causal_mask, lambda t: torch.ones(t, t, dtype=torch.bool).tril(1), "off_by_one"),
    (C.diagnose_causal_mask, lambda t: torch.tril(torch.ones(t, t)), "wrong_dtype"),
    (C.diagnose_masked_attention, lambda q, k, v, m: attention(q, k, v, ~m), "mask_inverted"),
    (C.diagnose_masked_attention, lambda q, k, v, m: attention(q, k, v, ~m, keep_nan=True), "mask_inverted"),
    (C.diagnose_masked_attention, lambda q, k, v, m: attention(q, k, v, m, zero_after=True), "mask_after_softmax"),
    (C.diagnose_masked_attention, lambda q, k, v, m: attention(q, k, v, m, keep_nan=True), "nan_rows"),
    (C.diagnose_masked_attention, lambda q, k, v, m: attention(q, k, v, m, d=1, keep_nan=True), "nan_rows"),
    (C.diagnose_masked_attention, finite_fill, "uniform_masked_rows"),
    (C.diagnose_masked_attention, lambda q, k, v, m: attention(q, k, v, m, d=1), "forgot_scale"),
    (C.diagnose_masked_attention, lambda q, k, v, m: attention(q, k, v, m, dim=-2), "wrong_softmax_axis"),
    (C.diagnose_masked_attention, weights_transposed(attention), "transposed_output"),
    (C.diagnose_masked_attention, in_place_scaled, "modified_input"),
    (C.diagnose_masked_attention, lambda q, k, v, m: attention(q, k, v, m)[1], "wrong_shape"),
    (C.diagnose_split_heads, lambda x, h: split(x, h, view=True), "wrong_head_split"),
    (C.diagnose_split_heads, lambda x, h: x.view(*x.shape[:2], h, -1), "wrong_shape"),
    (C.diagnose_merge_heads, lambda x: merge(x, transpose=False), "wrong_merge"),
    (C.diagnose_merge_heads, lambda x: x.transpose(1, 2), "wrong_shape"),
    (C.diagnose_multi_head_attention, lambda *a: mha(*a, d=a[0].shape[-1]), "scaled_by_d_model"),
    (C.diagnose_multi_head_attention, lambda *a: mha(*a, d=1), "forgot_scale"),
    (C.diagnose_multi_head_attention, lambda *a: mha(*a, view_split=True), "wrong_head_split"),
    (C.diagnose_multi_head_attention, lambda *a: mha(*a, view_split=True, transpose_merge=False), "wrong_head_split"),
    (C.diagnose_multi_head_attention, lambda *a: mha(*a, transpose_merge=False), "wrong_merge"),
    (C.diagnose_multi_head_attention, lambda *a: mha(*a, dim=-2), "wrong_softmax_axis"),
    (C.diagnose_source_padding_mask, lambda *a: ~key_mask(*a), "mask_inverted"),
    (C.diagnose_source_padding_mask, query_mask, "padded_queries_not_keys"),
    (C.diagnose_source_padding_mask, lambda lens, q, s: key_mask(lens + 1, q, s), "off_by_one"),
    (C.diagnose_source_padding_mask, lambda lens, q, s: key_mask(lens - 1, q, s), "off_by_one"),
    (C.diagnose_source_padding_mask, lambda *a: key_mask(*a).transpose(1, 2), "transposed_output"),
    (C.diagnose_source_padding_mask, lambda lens, q, s: key_mask(lens, 1, s), "wrong_shape"),
    (C.diagnose_source_padding_mask, lambda *a: key_mask(*a).long(), "wrong_dtype"),
    (C.diagnose_cross_attention, lambda *a: cross(*a, q_from_source=True), "swapped_query_source"),
    (C.diagnose_cross_attention, lambda *a: cross(*a, make_mask=query_mask), "padded_queries_not_keys"),
    (C.diagnose_cross_attention, lambda *a: cross(*a, make_mask=query_mask, keep_nan=True), "padded_queries_not_keys"),
    (C.diagnose_cross_attention, lambda *a: cross(*a, make_mask=lambda *m: ~key_mask(*m)), "mask_inverted"),
    (C.diagnose_cross_attention, lambda *a: cross(*a, make_mask=lambda n, q, s: key_mask(n + 1, q, s)), "off_by_one"),
    (C.diagnose_cross_attention, lambda *a: cross(*a, zero_after=True), "mask_after_softmax"),
    (C.diagnose_cross_attention, lambda *a: cross(*a, d=1), "forgot_scale"),
    (C.diagnose_cross_attention, lambda *a: cross(*a, dim=-2), "wrong_softmax_axis"),
    (C.diagnose_cross_attention, weights_transposed(cross), "transposed_output"),
]


def _id(diagnose):
    return diagnose.__name__.removeprefix("diagnose_")


@pytest.mark.parametrize(("diagnose", "fn"), CORRECT, ids=[_id(d) for d, _ in CORRECT])
def test_correct_solution_passes(diagnose, fn):
    result = diagnose(fn)
    assert result.mistake is None, result.message
    assert result.message.startswith("Correct!")
    assert result.message.endswith("cases).")


@pytest.mark.parametrize(
    ("diagnose", "fn", "mistake"), WRONG, ids=[f"{_id(d)}-{m}-{i}" for i, (d, _, m) in enumerate(WRONG)]
)
def test_known_mistake_is_named(diagnose, fn, mistake):
    result = diagnose(fn)
    assert result.mistake == mistake, result.message
    assert result.message.startswith("Not quite")
    assert NAMED[mistake] in result.message


def test_public_names_follow_the_contract():
    for name in checks.__all__:
        assert callable(getattr(checks, name))
    assert {n.removeprefix("check_") for n in checks.__all__ if n.startswith("check_")} == {
        n.removeprefix("diagnose_") for n in checks.__all__ if n.startswith("diagnose_")
    }
    assert len([d for d, _ in CORRECT]) == len([n for n in checks.__all__ if n.startswith("diagnose_")])


def test_every_listed_mistake_is_tested():
    tested = {m for _, _, m in WRONG}
    assert tested == set(NAMED), set(NAMED) ^ tested


def test_wrong_shape_message_names_both_shapes():
    message = checks.diagnose_scores(lambda q, k: (q @ k.T).sum(-1)).message
    assert "the shape of scores is (3,), expected (3, 5)" in message


def test_unrecognised_answer_reports_max_difference_and_hint():
    result = checks.diagnose_scores(lambda q, k: q @ k.T / q.shape[-1])  # ÷ d_k instead of ÷ √d_k
    assert result.mistake == "wrong"
    assert "in case 1 the values of scores differ from the expected ones by up to" in result.message
    assert "Hint: " in result.message and "1/√d_k" in result.message


def test_nan_without_a_masked_row_is_reported():
    result = checks.diagnose_scores(lambda q, k: q @ k.T / 0.0 * 0.0)
    assert result.mistake == "wrong"
    assert "NaN" in result.message


DIAGNOSERS = [d for d, _ in CORRECT]


def _unfinished(*args):
    raise NotImplementedError


@pytest.mark.parametrize("diagnose", DIAGNOSERS, ids=_id)
def test_not_attempted_gives_a_hint(diagnose):
    result = diagnose(_unfinished)
    assert result.mistake == "not_attempted"
    assert result.message.startswith("Not attempted yet — hint: ")
    assert len(result.message) > len("Not attempted yet — hint: ") + 20


@pytest.mark.parametrize("diagnose", DIAGNOSERS, ids=_id)
def test_exception_is_reported_not_raised(diagnose):
    def broken(*args):
        raise ValueError("boom")

    result = diagnose(broken)
    assert result.mistake == "error"
    assert "ValueError: boom" in result.message and "Hint: " in result.message


@pytest.mark.parametrize("diagnose", DIAGNOSERS, ids=_id)
def test_none_returned_is_wrong_shape(diagnose):
    result = diagnose(lambda *args: None)
    assert result.mistake == "wrong_shape"
    assert "return statement" in result.message


def test_error_message_is_cleaned_and_deterministic():
    def leaky(q, k):
        raise RuntimeError(f"bad object {object()!r}\nsecond line")

    message = checks.diagnose_scores(leaky).message
    assert "0x" not in message and "second line" not in message
    assert message == checks.diagnose_scores(leaky).message


def test_merge_with_view_after_transpose_is_an_error_with_a_hint():
    result = checks.diagnose_merge_heads(lambda x: x.transpose(1, 2).view(x.shape[0], x.shape[2], -1))
    assert result.mistake == "error"
    assert ".reshape" in result.message


@pytest.mark.parametrize(("diagnose", "fn"), CORRECT, ids=[_id(d) for d, _ in CORRECT])
def test_check_prints_the_message_and_returns_none(diagnose, fn, capsys):
    check = getattr(checks, diagnose.__name__.replace("diagnose_", "check_"))
    assert check(fn) is None
    assert capsys.readouterr().out == diagnose(fn).message + "\n"
    assert check(_unfinished) is None
    assert capsys.readouterr().out.startswith("Not attempted yet")


def test_cases_are_seeded_float64_and_fresh_on_every_run():
    seen = []
    checks.diagnose_scores(lambda q, k: seen.append(q) or q @ k.T / math.sqrt(q.shape[-1]))
    again = []
    checks.diagnose_scores(lambda q, k: again.append(q) or q @ k.T / math.sqrt(q.shape[-1]))
    assert all(torch.equal(a, b) and a is not b for a, b in zip(seen, again))
    assert all(q.dtype == torch.float64 for q in seen)


EXERCISES = [getattr(checks, n).exercise for n in checks.__all__ if n.startswith("diagnose_")]


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.solve.__name__)
def test_every_known_wrong_version_differs_from_the_answer(exercise):
    cases = exercise.cases()
    assert len(cases) >= 3
    right = [runner._as_tuple(exercise.solve(*c)) for c in cases]
    for variant in exercise.variants:
        wrong = [runner._as_tuple(exercise.solve(*c, mistake=variant)) for c in cases]
        assert not runner._same(wrong, right), variant


def test_every_known_wrong_version_is_tested():
    tested = {(d.__name__, m) for d, _, m in WRONG}
    for diagnose in DIAGNOSERS:
        hint = diagnose(_unfinished).message.removeprefix("Not attempted yet — hint: ")
        exercise = next(e for e in EXERCISES if e.hint == hint)
        for variant in exercise.variants:
            assert (diagnose.__name__, variant.partition(":")[0]) in tested, variant
