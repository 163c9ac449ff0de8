"""Exercise checkers: run the learner's function on seeded cases and name the mistake, if any.

Write a function in a notebook cell, then call its checker in the next cell::

    def my_scores(q, k):
        return q @ k.T / math.sqrt(q.shape[-1])

    check_scores(my_scores)      # prints one or two sentences, returns None

Every ``check_x(fn)`` prints ``diagnose_x(fn).message``; ``diagnose_x(fn)`` returns a :class:`Diagnosis`
whose ``.mistake`` is None (correct), ``"not_attempted"`` (fn raised NotImplementedError), ``"error"``
(fn raised something else) or a mistake id such as ``"forgot_scale"``. The learner's function runs on cloned
float64 inputs; its result is compared with mha_lib, then with known-wrong versions of mha_lib's answer, in
this order: shape, dtype, inputs modified in place, NaN, values. Checkers never raise.

>>> check_scores(lambda q, k: q @ k.T)
Not quite: your scores are not scaled; divide q @ kᵀ by √d_k (d_k = q.shape[-1]) so the softmax does not saturate.
>>> check_scores(lambda q, k: q @ k.T / q.shape[-1] ** 0.5)
Correct! Your scores equal q @ kᵀ / √d_k (3 cases).
"""

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import torch
from torch import Tensor

from mha_lib.attention import masked_softmax, scaled_dot_product_attention
from mha_lib.heads import merge_heads, split_heads, wrong_split_heads
from mha_lib.masks import causal_mask, padding_mask

__all__ = [
    "Diagnosis",
    "check_causal_mask",
    "check_cross_attention",
    "check_masked_attention",
    "check_merge_heads",
    "check_multi_head_attention",
    "check_padding_mask",
    "check_qkv_projection",
    "check_scaled_attention",
    "check_scores",
    "check_source_padding_mask",
    "check_split_heads",
    "check_temperature_attention",
    "diagnose_causal_mask",
    "diagnose_cross_attention",
    "diagnose_masked_attention",
    "diagnose_merge_heads",
    "diagnose_multi_head_attention",
    "diagnose_padding_mask",
    "diagnose_qkv_projection",
    "diagnose_scaled_attention",
    "diagnose_scores",
    "diagnose_source_padding_mask",
    "diagnose_split_heads",
    "diagnose_temperature_attention",
]

RTOL, ATOL = 1e-5, 1e-7  # float64 answers computed in a different order differ by ~1e-15

Case = tuple[Any, ...]  # the positional arguments of one call


@dataclass(frozen=True)
class Diagnosis:
    """What a checker found: ``mistake`` is None when correct, else an id; ``message`` is for the learner."""

    mistake: str | None
    message: str


# Default wording per mistake id; an exercise may override one with its own sentence.
MESSAGES = {
    "forgot_scale": "your scores are not scaled; divide q @ kᵀ by √d_k (d_k = q.shape[-1]) so the softmax does not saturate.",
    "scaled_by_d_model": "you divided the scores by √d_model; each head works in d_head = d_model / num_heads dimensions, so divide by √d_head.",
    "wrong_softmax_axis": "your weights look like softmax over the query axis (dim=-2); normalise over the keys with dim=-1 so each row sums to 1.",
    "mask_inverted": "your mask looks inverted: True means 'may attend', so fill the scores where the mask is False, e.g. scores.masked_fill(~mask, float('-inf')).",
    "mask_after_softmax": "you zeroed the blocked weights after the softmax, so the rows no longer sum to 1; fill the blocked scores with float('-inf') before the softmax instead.",
    "uniform_masked_rows": "rows whose keys are all masked got equal weights instead of zeros (a finite fill such as -1e9 leaves a uniform softmax); set the blocked weights to 0 after the softmax, e.g. weights.masked_fill(~mask, 0.0).",
    "nan_rows": "rows whose keys are all masked came out as NaN (a softmax over only -inf); set the blocked weights to 0 after the softmax, e.g. weights.masked_fill(~mask, 0.0).",
    "wrong_head_split": "your heads mix features of different tokens: x.view(B, H, T, Dh) is the wrong split; reshape to (B, T, H, Dh) first, then .transpose(1, 2).",
    "transposed_output": "your result looks transposed: rows must be queries and columns keys, e.g. scores = q @ k.transpose(-2, -1).",
    "wrong_temperature": "your temperature is not used as a divisor (it is multiplied or ignored); divide the scaled scores by it: softmax(q kᵀ / √d / temperature).",
    "swapped_query_source": "your queries come from the source; in cross attention q = target @ w_q, while k and v come from the source.",
    "padded_queries_not_keys": "you masked query positions instead of key positions; the padding belongs to the source keys, so block the columns j ≥ src_valid_len for every query.",
    "off_by_one": "your mask is off by one position; compare with < rather than <=, and check whether the diagonal is included.",
    "wrong_merge": "you reshaped (B, H, T, Dh) straight to (B, T, D) without moving the head axis; call .transpose(1, 2) first, then .reshape(B, T, H * Dh).",
}


@dataclass(frozen=True)
class _Exercise:
    """One exercise: ``solve(*case)`` is mha_lib's answer, ``solve(*case, mistake=m)`` a known-wrong one."""

    solve: Callable[..., Any]
    variants: tuple[str, ...]  # "mistake_id" or "mistake_id:detail", tried in this order
    cases: Callable[[], list[Case]]
    args: tuple[str, ...]  # argument names, for the "modified in place" message
    outputs: tuple[str, ...]  # output names; one name = a single tensor is returned
    done: str  # what a correct answer does, for the "Correct!" line
    hint: str  # the next step, for "not attempted", errors and unrecognised results
    messages: dict[str, str] = field(default_factory=dict)  # overrides of MESSAGES, "wrong_shape" = shape hint


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(g: torch.Generator, *shape: int) -> Tensor:
    return torch.randn(*shape, generator=g, dtype=torch.float64)


def _clone(case: Case) -> Case:
    return tuple(a.clone() if isinstance(a, Tensor) else a for a in case)


def _as_tuple(result: Any) -> tuple[Any, ...]:
    return tuple(result) if isinstance(result, tuple | list) else (result,)


def _describe(x: Any) -> str:
    if x is None:
        return "None (is a return statement missing?)"
    if isinstance(x, Tensor):
        return f"a tensor of shape {tuple(x.shape)}"
    if isinstance(x, tuple | list):
        return f"a {type(x).__name__} of {len(x)} item{'' if len(x) == 1 else 's'}"
    return f"a {type(x).__name__}"


def _structure_problem(result: Any, outputs: tuple[str, ...]) -> str | None:
    """Why ``result`` is not the expected tensor or tuple of tensors, or None when it is."""
    items = _as_tuple(result) if len(outputs) > 1 else (result,)
    if len(items) == len(outputs) and all(isinstance(x, Tensor) for x in items):
        return None
    want = f"a tuple ({', '.join(outputs)}) of {len(outputs)} tensors" if len(outputs) > 1 else "one tensor"
    return f"the result has the wrong shape: return {want}; your function returned {_describe(result)}."


def _close(a: Tensor, b: Tensor) -> bool:
    if a.shape != b.shape:
        return False
    if a.is_floating_point() and b.is_floating_point():
        return torch.allclose(a.double(), b.double(), rtol=RTOL, atol=ATOL, equal_nan=True)
    return torch.equal(a.double(), b.double())


def _same(got: list[tuple[Tensor, ...]], want: list[tuple[Tensor, ...]]) -> bool:
    return all(len(g) == len(w) and all(_close(a, b) for a, b in zip(g, w)) for g, w in zip(got, want))


def _short(error: Exception) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else "(no message)"
    text = re.sub(r" at 0x[0-9a-fA-F]+", "", text).rstrip(".")  # no memory addresses
    return text if len(text) <= 200 else text[:197] + "..."


def _message(ex: _Exercise, mistake: str) -> str:
    return ex.messages.get(mistake, MESSAGES[mistake])


@dataclass(frozen=True)
class _Run:
    """The learner's outputs on every case, next to mha_lib's answer and each known-wrong answer."""

    ex: _Exercise
    cases: list[Case]  # pristine inputs
    inputs: list[Case]  # the clones the learner's function received
    got: list[tuple[Tensor, ...]]
    want: list[tuple[Tensor, ...]]
    variants: dict[str, list[tuple[Tensor, ...]]]

    def matching(self, outputs: list[tuple[Tensor, ...]]) -> str | None:
        """The id of the first known-wrong answer equal to ``outputs`` on every case."""
        return next((v.partition(":")[0] for v, out in self.variants.items() if _same(outputs, out)), None)

    def pairs(self) -> list[tuple[int, str, Tensor, Tensor]]:
        """(case number, output name, learner's tensor, expected tensor) for every output of every case."""
        return [
            (i + 1, n, a, b)
            for i, (g, w) in enumerate(zip(self.got, self.want))
            for n, a, b in zip(self.ex.outputs, g, w)
        ]


def _check_shapes(run: _Run) -> Diagnosis | None:
    for i, name, a, b in run.pairs():
        if a.shape != b.shape:
            shapes = f"the shape of {name} is {tuple(a.shape)}, expected {tuple(b.shape)} (case {i})."
            mistake = run.matching(run.got)
            if mistake:
                return Diagnosis(mistake, f"Not quite: {_message(run.ex, mistake)} Here {shapes}")
            return Diagnosis("wrong_shape", f"Not quite: {shapes} {run.ex.messages.get('wrong_shape', '')}".strip())
    return None


def _check_dtypes(run: _Run) -> Diagnosis | None:
    for _, name, a, b in run.pairs():
        if a.dtype != b.dtype:
            fix = (
                "return a bool mask (True = may attend), e.g. from a comparison such as <, or with .bool()"
                if b.dtype == torch.bool
                else "keep the dtype of the inputs; avoid creating tensors with a fixed dtype"
            )
            return Diagnosis("wrong_dtype", f"Not quite: the dtype of {name} is {a.dtype}, expected {b.dtype}; {fix}.")
    return None


def _check_inputs(run: _Run) -> Diagnosis | None:
    for i, (after_call, case) in enumerate(zip(run.inputs, run.cases)):
        for name, after, before in zip(run.ex.args, after_call, case):
            if isinstance(before, Tensor) and not torch.equal(after, before):
                return Diagnosis(
                    "modified_input",
                    f"Not quite: your function changed its input {name} in place (case {i + 1}); use out-of-place "
                    f"operations (masked_fill, not masked_fill_; x = x / s, not x /= s) or .clone() it first.",
                )
    return None


def _check_nan(run: _Run) -> Diagnosis | None:
    nan = [(i, a, b) for i, _, a, b in run.pairs() if a.is_floating_point() and a.isnan().any() and not b.isnan().any()]
    if not nan:
        return None
    if any((a.isnan() & (b != 0)).any() for _, a, b in nan):  # NaN beyond the all-zero rows: another mistake?
        cleaned = [tuple(a.nan_to_num(nan=0.0) if a.is_floating_point() else a for a in g) for g in run.got]
        mistake = run.matching(cleaned)
        if mistake:
            return Diagnosis(mistake, f"Not quite: {_message(run.ex, mistake)}")
    if "nan_rows" in run.ex.variants:
        return Diagnosis("nan_rows", f"Not quite: {_message(run.ex, 'nan_rows')}")
    return Diagnosis("wrong", f"Not quite: your result contains NaN in case {nan[0][0]}. Hint: {run.ex.hint}")


def _check_values(run: _Run) -> Diagnosis | None:
    if _same(run.got, run.want):
        return None
    mistake = run.matching(run.got)
    if mistake:
        return Diagnosis(mistake, f"Not quite: {_message(run.ex, mistake)}")
    i, name, a, b = next(p for p in run.pairs() if not _close(p[2], p[3]))
    diff = (a.double() - b.double()).abs().max().item()
    return Diagnosis(
        "wrong",
        f"Not quite: in case {i} the values of {name} differ from the expected ones by up to {diff:.3g}. Hint: {run.ex.hint}",
    )


def _diagnose(ex: _Exercise, fn: Callable[..., Any]) -> Diagnosis:
    """Run ``fn`` on every case, then check shape, dtype, inputs, NaN and values against mha_lib."""
    cases = ex.cases()
    inputs = [_clone(c) for c in cases]
    results = []
    for args in inputs:
        try:
            results.append(fn(*args))
        except NotImplementedError:
            return Diagnosis("not_attempted", f"Not attempted yet — hint: {ex.hint}")
        except Exception as error:
            return Diagnosis("error", f"Your function raised {type(error).__name__}: {_short(error)}. Hint: {ex.hint}")
    problem = next(filter(None, (_structure_problem(r, ex.outputs) for r in results)), None)
    if problem:
        return Diagnosis("wrong_shape", f"Not quite: {problem}")
    got = [_as_tuple(r) if len(ex.outputs) > 1 else (r,) for r in results]
    want = [_as_tuple(ex.solve(*_clone(c))) for c in cases]
    variants = {v: [_as_tuple(ex.solve(*_clone(c), mistake=v)) for c in cases] for v in ex.variants}
    run = _Run(ex, cases, inputs, got, want, variants)
    for step in (_check_shapes, _check_dtypes, _check_inputs, _check_nan, _check_values):
        found = step(run)
        if found:
            return found
    return Diagnosis(None, f"Correct! {ex.done} ({len(cases)} cases).")


# Solvers: mha_lib's answer to each exercise, or with ``mistake`` set one known-wrong version of it.


def _project(
    x: Annotated[Tensor, "seq d_model"],
    w_q: Annotated[Tensor, "d_model d_k"],
    w_k: Annotated[Tensor, "d_model d_k"],
    w_v: Annotated[Tensor, "d_model d_v"],
    mistake: str | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    q, k, v = x @ w_q, x @ w_k, x @ w_v  # (T, Dk), (T, Dk), (T, Dv)
    return (q.mT, k.mT, v.mT) if mistake == "transposed_output" else (q, k, v)  # (Dk, T) ... when transposed


def _scores(
    q: Annotated[Tensor, "q_len d_k"], k: Annotated[Tensor, "k_len d_k"], mistake: str | None = None
) -> Annotated[Tensor, "q_len k_len"]:
    scale = 1.0 if mistake == "forgot_scale" else 1 / math.sqrt(q.shape[-1])
    scores = (q * scale) @ k.mT  # (Tq, Tk)
    return scores.mT if mistake == "transposed_output" else scores  # (Tk, Tq) when transposed


def _attend(
    q: Annotated[Tensor, "batch q_len d"],
    k: Annotated[Tensor, "batch k_len d"],
    v: Annotated[Tensor, "batch k_len d_v"],
    mask: Annotated[Tensor, "batch q_len k_len"] | None = None,
    *,
    temperature: float = 1.0,
    d_model: int | None = None,
    mistake: str | None = None,
) -> tuple[Annotated[Tensor, "batch q_len d_v"], Annotated[Tensor, "batch q_len k_len"]]:
    """mha_lib's attention; ``mistake`` names a flaw in scale, temperature, softmax axis or masking."""
    d = d_model if mistake == "scaled_by_d_model" else q.shape[-1]
    scale = 1.0 if mistake == "forgot_scale" else 1 / math.sqrt(d)
    temperature = {"wrong_temperature": 1 / temperature, "wrong_temperature:ignored": 1.0}.get(mistake, temperature)
    if mistake == "mask_inverted":
        mask = ~mask
    if mistake == "wrong_softmax_axis":
        scores = (q * scale / temperature) @ k.mT  # (B, Tq, Tk)
        weights = masked_softmax(scores.mT, None if mask is None else mask.mT).mT  # (B, Tq, Tk), columns sum to 1
        return weights @ v, weights  # (B, Tq, Dv), (B, Tq, Tk)
    applied = None if mistake == "mask_after_softmax" else mask
    _, weights = scaled_dot_product_attention(q, k, v, applied, scale=scale, temperature=temperature)  # (B, Tq, Tk)
    if mistake == "mask_after_softmax":
        weights = weights.masked_fill(~mask, 0.0)  # (B, Tq, Tk), rows no longer sum to 1
    if mistake == "uniform_masked_rows":
        weights = weights.masked_fill(~mask.any(-1, keepdim=True), 1 / k.shape[-2])  # (B, Tq, Tk), 1/Tk in empty rows
    if mistake == "nan_rows":
        weights = weights.masked_fill(~mask.any(-1, keepdim=True), math.nan)  # (B, Tq, Tk), NaN in empty rows
    return weights @ v, (weights.mT if mistake == "transposed_output" else weights)  # (B, Tq, Dv), (B, Tq, Tk)


def _attend_with_temperature(
    q: Annotated[Tensor, "batch q_len d"],
    k: Annotated[Tensor, "batch k_len d"],
    v: Annotated[Tensor, "batch k_len d_v"],
    temperature: float,
    mistake: str | None = None,
) -> tuple[Annotated[Tensor, "batch q_len d_v"], Annotated[Tensor, "batch q_len k_len"]]:
    return _attend(q, k, v, temperature=temperature, mistake=mistake)


def _padding(
    valid_lens: Annotated[Tensor, "batch"], t_k: int, mistake: str | None = None
) -> Annotated[Tensor, "batch 1 k_len"]:
    shift = {"off_by_one": 1, "off_by_one:short": -1}.get(mistake, 0)  # `<=` and `< valid - 1`
    mask = padding_mask((valid_lens + shift).clamp(0, t_k), t_k)  # (B, 1, Tk)
    mask = ~mask if mistake == "mask_inverted" else mask
    return mask.mT if mistake == "transposed_output" else mask  # (B, Tk, 1) when transposed


def _causal(t: int, mistake: str | None = None) -> Annotated[Tensor, "seq seq"]:
    mask = causal_mask(t)  # (T, T)
    diagonal = {"off_by_one": -1, "off_by_one:above": 1}.get(mistake, 0)  # diagonal left out or one too many
    mask = torch.ones_like(mask).tril(diagonal) if diagonal else mask  # (T, T)
    mask = ~mask if mistake == "mask_inverted" else mask
    return mask.mT if mistake == "transposed_output" else mask  # (T, T)


def _split(
    x: Annotated[Tensor, "batch seq d_model"], num_heads: int, mistake: str | None = None
) -> Annotated[Tensor, "batch heads seq d_head"]:
    if mistake == "wrong_head_split":
        return wrong_split_heads(x, num_heads)  # (B, H, T, Dh), tokens mixed
    return split_heads(x, num_heads)  # (B, H, T, Dh)


def _merge(
    x: Annotated[Tensor, "batch heads seq d_head"], mistake: str | None = None
) -> Annotated[Tensor, "batch seq d_model"]:
    batch, heads, seq, d_head = x.shape
    if mistake == "wrong_merge":
        return x.reshape(batch, seq, heads * d_head)  # (B, T, D), heads and tokens mixed
    return merge_heads(x)  # (B, T, D)


def _mha(
    x: Annotated[Tensor, "batch seq d_model"],
    w_q: Annotated[Tensor, "d_model d_model"],
    w_k: Annotated[Tensor, "d_model d_model"],
    w_v: Annotated[Tensor, "d_model d_model"],
    w_o: Annotated[Tensor, "d_model d_model"],
    num_heads: int,
    mistake: str | None = None,
) -> Annotated[Tensor, "batch seq d_model"]:
    split = "wrong_head_split" if mistake in ("wrong_head_split", "wrong_head_split:both") else None
    merge = "wrong_merge" if mistake in ("wrong_merge", "wrong_head_split:both") else None
    q, k, v = (_split(x @ w, num_heads, split) for w in (w_q, w_k, w_v))  # (B, H, T, Dh) each
    heads, _ = _attend(q, k, v, d_model=x.shape[-1], mistake=mistake)  # (B, H, T, Dh)
    return _merge(heads, merge) @ w_o  # (B, T, D)


def _source_mask(
    src_valid_lens: Annotated[Tensor, "batch"], q_len: int, src_len: int, mistake: str | None = None
) -> Annotated[Tensor, "batch q_len k_len"]:
    if mistake == "padded_queries_not_keys":
        rows = padding_mask(src_valid_lens.clamp(max=q_len), q_len).mT  # (B, Tq, 1), queries ≥ length blocked
        return rows.expand(-1, -1, src_len)  # (B, Tq, Tk)
    keys = _padding(src_valid_lens, src_len, None if mistake == "transposed_output" else mistake)  # (B, 1, Tk)
    mask = keys.expand(-1, q_len, -1)  # (B, Tq, Tk)
    return mask.mT if mistake == "transposed_output" else mask  # (B, Tk, Tq) when transposed


def _cross(
    target: Annotated[Tensor, "batch q_len d_model"],
    source: Annotated[Tensor, "batch k_len d_model"],
    w_q: Annotated[Tensor, "d_model d_model"],
    w_k: Annotated[Tensor, "d_model d_model"],
    w_v: Annotated[Tensor, "d_model d_model"],
    src_valid_lens: Annotated[Tensor, "batch"],
    mistake: str | None = None,
) -> tuple[Annotated[Tensor, "batch q_len d_model"], Annotated[Tensor, "batch q_len k_len"]]:
    queries = source if mistake == "swapped_query_source" else target  # (B, Tq, D)
    q, k, v = queries @ w_q, source @ w_k, source @ w_v  # (B, Tq, D), (B, Tk, D), (B, Tk, D)
    mask_mistake = mistake if mistake in ("padded_queries_not_keys", "off_by_one") else None
    mask = _source_mask(src_valid_lens, q.shape[-2], k.shape[-2], mask_mistake)  # (B, Tq, Tk)
    return _attend(q, k, v, mask, mistake=mistake)  # (B, Tq, D), (B, Tq, Tk)


# Seeded float64 cases; Tq ≠ Tk and B > 1 where they can differ, and a fully masked row for masks.


def _projection_cases() -> list[Case]:
    g = _generator(1)
    return [
        (_randn(g, t, d), _randn(g, d, dk), _randn(g, d, dk), _randn(g, d, dv))
        for t, d, dk, dv in ((4, 6, 3, 5), (5, 4, 4, 2), (3, 8, 2, 4))
    ]


def _scores_cases() -> list[Case]:
    g = _generator(2)
    return [(_randn(g, tq, dk), _randn(g, tk, dk)) for tq, tk, dk in ((3, 5, 4), (4, 4, 8), (6, 2, 3))]


def _qkv_cases(seed: int) -> list[Case]:
    g = _generator(seed)
    shapes = ((2, 3, 5, 4, 6), (1, 4, 4, 8, 3), (3, 6, 2, 5, 5))  # (B, Tq, Tk, D, Dv)
    return [(_randn(g, b, tq, d), _randn(g, b, tk, d), _randn(g, b, tk, dv)) for b, tq, tk, d, dv in shapes]


def _temperature_cases() -> list[Case]:
    return [(*case, t) for case, t in zip(_qkv_cases(3), (0.5, 2.0, 4.0))]


def _masked_cases() -> list[Case]:
    (q1, k1, v1), (q2, k2, v2), (q3, k3, v3) = _qkv_cases(4)
    custom = torch.rand(3, 6, 2, generator=_generator(5)) > 0.4  # (B, Tq, Tk)
    custom[0, 1] = False  # a fully masked row
    return [
        (q1, k1, v1, padding_mask(torch.tensor([5, 2]), 5)),  # (B, 1, Tk)
        (q2, k2, v2, causal_mask(4)),  # (Tq, Tk)
        (q3, k3, v3, custom),  # (B, Tq, Tk)
        (q1, k1, v1, padding_mask(torch.tensor([0, 3]), 5) & causal_mask(3, 5)),  # (B, Tq, Tk), batch 0 all masked
    ]


def _padding_cases() -> list[Case]:
    return [(torch.tensor([2, 5]), 5), (torch.tensor([0, 3, 1]), 4), (torch.tensor([6]), 7)]


def _causal_cases() -> list[Case]:
    return [(4,), (6,), (1,)]


def _split_cases() -> list[Case]:
    g = _generator(6)
    return [(_randn(g, b, t, d), h) for b, t, d, h in ((2, 5, 12, 3), (1, 4, 8, 2), (3, 3, 12, 4))]


def _merge_cases() -> list[Case]:
    g = _generator(7)
    return [(_randn(g, b, h, t, dh),) for b, h, t, dh in ((2, 3, 5, 4), (1, 2, 4, 3), (3, 4, 2, 2))]


def _mha_cases() -> list[Case]:
    g = _generator(8)
    shapes = ((2, 5, 12, 3), (1, 4, 8, 2), (2, 3, 12, 4))  # (B, T, D, H)
    return [(_randn(g, b, t, d), *(_randn(g, d, d) / math.sqrt(d) for _ in range(4)), h) for b, t, d, h in shapes]


def _source_mask_cases() -> list[Case]:
    return [(torch.tensor([4, 2]), 3, 5), (torch.tensor([1, 6, 3]), 4, 6), (torch.tensor([2]), 5, 2)]


def _cross_cases() -> list[Case]:
    g = _generator(9)
    shapes = ((2, 3, 5, 4, [5, 2]), (1, 4, 6, 8, [3]), (3, 5, 2, 6, [2, 1, 2]))  # (B, Tq, Tk, D, lens)
    return [
        (_randn(g, b, tq, d), _randn(g, b, tk, d), *(_randn(g, d, d) for _ in range(3)), torch.tensor(lens))
        for b, tq, tk, d, lens in shapes
    ]


_MASK_INVERTED = "your mask is inverted: True must mean 'may attend' and False 'blocked'; flip it with ~mask."
_SOURCE_OFF_BY_ONE = (
    "your mask is off by one: source key j is valid when j < src_valid_len, so exactly src_valid_len keys are True."
)
_ATTENTION_SHAPES = "Return (out, weights) with out (B, Tq, Dv) and weights (B, Tq, Tk)."

_PROJECTION = _Exercise(
    solve=_project,
    variants=("transposed_output",),
    cases=_projection_cases,
    args=("x", "w_q", "w_k", "w_v"),
    outputs=("q", "k", "v"),
    done="q = x @ w_q, k = x @ w_k and v = x @ w_v have the right shapes and values",
    hint="multiply the tokens by each weight matrix: q = x @ w_q is (T, D) @ (D, d_k) = (T, d_k); do the same for k and v and return (q, k, v).",
    messages={
        "transposed_output": "your projections look transposed: x @ w_q gives one row per token, shape (T, d_k); do not transpose it."
    },
)
_SCORES = _Exercise(
    solve=_scores,
    variants=("forgot_scale", "transposed_output"),
    cases=_scores_cases,
    args=("q", "k"),
    outputs=("scores",),
    done="Your scores equal q @ kᵀ / √d_k",
    hint="compare every query with every key in one matrix product (shape (Tq, Tk)), then scale it by 1/√d_k, where d_k = q.shape[-1].",
    messages={"wrong_shape": "Return one (Tq, Tk) matrix: q @ k.T / math.sqrt(d_k)."},
)
_SCALED = _Exercise(
    solve=_attend,
    variants=("forgot_scale", "wrong_softmax_axis", "transposed_output"),
    cases=lambda: _qkv_cases(10),
    args=("q", "k", "v"),
    outputs=("out", "weights"),
    done="Your attention equals softmax(q kᵀ / √d) v, with the weights",
    hint="three steps: scores from q and the keys (transpose the last two axes of k; k.T does not work on batches) scaled by 1/√d; a softmax over the keys; the weights times v. Return (out, weights).",
    messages={"wrong_shape": _ATTENTION_SHAPES},
)
_TEMPERATURE = _Exercise(
    solve=_attend_with_temperature,
    variants=(
        "wrong_temperature",
        "wrong_temperature:ignored",
        "forgot_scale",
        "wrong_softmax_axis",
        "transposed_output",
    ),
    cases=_temperature_cases,
    args=("q", "k", "v", "temperature"),
    outputs=("out", "weights"),
    done="Dividing the scaled scores by the temperature gives the expected weights and output",
    hint="start from scaled attention and divide the scaled scores by the temperature before the softmax.",
    messages={"wrong_shape": _ATTENTION_SHAPES},
)
_PADDING = _Exercise(
    solve=_padding,
    variants=("mask_inverted", "off_by_one", "off_by_one:short", "transposed_output"),
    cases=_padding_cases,
    args=("valid_lens", "t_k"),
    outputs=("mask",),
    done="Your padding mask keeps exactly the first valid_len keys of each sequence",
    hint="key position j may be attended when j < valid_lens[b]: compare torch.arange(t_k) with the lengths by broadcasting, then add a query axis of size 1.",
    messages={
        "mask_inverted": _MASK_INVERTED,
        "off_by_one": "your mask is off by one: key j is valid when j < valid_len, so exactly valid_len keys are True.",
        "transposed_output": "your mask looks transposed: the keys belong on the last axis, (B, 1, Tk), so it broadcasts over the queries.",
        "wrong_shape": "Add the query axis with .unsqueeze(1) so the mask broadcasts over the queries.",
    },
)
_CAUSAL = _Exercise(
    solve=_causal,
    variants=("mask_inverted", "transposed_output", "off_by_one", "off_by_one:above"),
    cases=_causal_cases,
    args=("t",),
    outputs=("mask",),
    done="Your causal mask lets query i see keys 0..i",
    hint="query i may look at keys 0 … i: the mask is True on and below the diagonal (look up torch.tril).",
    messages={
        "mask_inverted": _MASK_INVERTED,
        "transposed_output": "your mask is transposed: row i is query i and may see the columns (keys) 0..i, so use torch.tril, not torch.triu.",
        "off_by_one": "your mask is off by one: query i may see keys 0..i, the diagonal included and nothing above it (torch.tril with diagonal=0).",
    },
)
_MASKED = _Exercise(
    solve=_attend,
    variants=(
        "mask_inverted",
        "mask_after_softmax",
        "nan_rows",
        "uniform_masked_rows",
        "forgot_scale",
        "wrong_softmax_axis",
        "transposed_output",
    ),
    cases=_masked_cases,
    args=("q", "k", "v", "mask"),
    outputs=("out", "weights"),
    done="Your masked attention matches, and fully masked rows give zeros",
    hint="block the masked scores before the softmax (-inf where the mask is False), softmax over the keys, then make sure a row with no allowed key comes out as zeros, not NaN.",
    messages={"wrong_shape": _ATTENTION_SHAPES},
)
_SPLIT = _Exercise(
    solve=_split,
    variants=("wrong_head_split",),
    cases=_split_cases,
    args=("x", "num_heads"),
    outputs=("heads",),
    done="Each head gets its own slice of every token's features",
    hint="reshape to (B, T, H, D // H) so each token keeps its own features, then .transpose(1, 2) to get (B, H, T, Dh).",
    messages={"wrong_shape": "Reshape to (B, T, H, Dh), then .transpose(1, 2) to get (B, H, T, Dh)."},
)
_MERGE = _Exercise(
    solve=_merge,
    variants=("wrong_merge",),
    cases=_merge_cases,
    args=("x",),
    outputs=("merged",),
    done="Your merge puts the heads back side by side, the inverse of split_heads",
    hint="undo split_heads: x.transpose(1, 2) gives (B, T, H, Dh), then .reshape(B, T, H * Dh) (.view fails on a transposed tensor).",
    messages={
        "wrong_shape": "Move the head axis with .transpose(1, 2), then join the last two axes with .reshape(B, T, H * Dh)."
    },
)
_MHA = _Exercise(
    solve=_mha,
    variants=(
        "scaled_by_d_model",
        "forgot_scale",
        "wrong_head_split",
        "wrong_head_split:both",
        "wrong_merge",
        "wrong_softmax_axis",
    ),
    cases=_mha_cases,
    args=("x", "w_q", "w_k", "w_v", "w_o", "num_heads"),
    outputs=("out",),
    done="Your multi-head attention matches split → attention per head (÷√d_head) → merge → w_o",
    hint="project q = x @ w_q (and k, v), split each into heads, attend per head dividing by √d_head, merge the heads and multiply by w_o.",
    messages={
        "forgot_scale": "your scores are not scaled; divide each head's q @ kᵀ by √d_head (d_head = d_model // num_heads).",
        "wrong_shape": "Merge the heads back to (B, T, D) before multiplying by w_o.",
    },
)
_SOURCE_MASK = _Exercise(
    solve=_source_mask,
    variants=("mask_inverted", "padded_queries_not_keys", "off_by_one", "off_by_one:short", "transposed_output"),
    cases=_source_mask_cases,
    args=("src_valid_lens", "q_len", "src_len"),
    outputs=("mask",),
    done="Your mask blocks the padded source keys for every query",
    hint="source key j is real when j < src_valid_lens[b]; every query row gets the same key mask, so build it as (B, 1, Tk) and expand it over the Tq rows.",
    messages={
        "mask_inverted": _MASK_INVERTED,
        "off_by_one": _SOURCE_OFF_BY_ONE,
        "transposed_output": "your mask looks transposed: the keys belong on the last axis, (B, Tq, Tk), not (B, Tk, Tq).",
        "wrong_shape": "Expand it over the queries with .expand(-1, q_len, -1).",
    },
)
_CROSS = _Exercise(
    solve=_cross,
    variants=(
        "swapped_query_source",
        "padded_queries_not_keys",
        "mask_inverted",
        "off_by_one",
        "mask_after_softmax",
        "forgot_scale",
        "wrong_softmax_axis",
        "transposed_output",
    ),
    cases=_cross_cases,
    args=("target", "source", "w_q", "w_k", "w_v", "src_valid_lens"),
    outputs=("out", "weights"),
    done="Queries from the target attend over the unpadded source keys",
    hint="queries come from the target, keys and values from the source; block the padded source keys before the softmax over the keys.",
    messages={
        "off_by_one": _SOURCE_OFF_BY_ONE,
        "wrong_shape": "Return (out, weights) with out (B, Tq, D) and weights (B, Tq, Tk): one row per target token.",
    },
)


def diagnose_qkv_projection(fn: Callable[..., Any]) -> Diagnosis:
    """Check ``fn(x (T, D), w_q (D, Dk), w_k (D, Dk), w_v (D, Dv)) -> (q, k, v)``.

    >>> diagnose_qkv_projection(lambda x, w_q, w_k, w_v: (x @ w_q, x @ w_k, x @ w_v)).mistake is None
    True
    """
    return _diagnose(_PROJECTION, fn)


def check_qkv_projection(fn: Callable[..., Any]) -> None:
    """Print :func:`diagnose_qkv_projection`'s message about ``fn``."""
    print(diagnose_qkv_projection(fn).message)


def diagnose_scores(fn: Callable[..., Any]) -> Diagnosis:
    """Check ``fn(q (Tq, Dk), k (Tk, Dk)) -> scores (Tq, Tk)``, scores = q @ kᵀ / √Dk.

    >>> diagnose_scores(lambda q, k: k @ q.T / q.shape[-1] ** 0.5).mistake
    'transposed_output'
    """
    return _diagnose(_SCORES, fn)


def check_scores(fn: Callable[..., Any]) -> None:
    """Print :func:`diagnose_scores`'s message about ``fn``."""
    print(diagnose_scores(fn).message)


def diagnose_scaled_attention(fn: Callable[..., Any]) -> Diagnosis:
    """Check ``fn(q (B, Tq, D), k (B, Tk, D), v (B, Tk, Dv)) -> (out (B, Tq, Dv), weights (B, Tq, Tk))``.

    >>> diagnose_scaled_attention(lambda q, k, v: scaled_dot_product_attention(q, k, v, scale=1.0)).mistake
    'forgot_scale'
    """
    return _diagnose(_SCALED, fn)


def check_scaled_attention(fn: Callable[..., Any]) -> None:
    """Print :func:`diagnose_scaled_attention`'s message about ``fn``."""
    print(diagnose_scaled_attention(fn).message)


def diagnose_temperature_attention(fn: Callable[..., Any]) -> Diagnosis:
    """Check ``fn(q, k, v, temperature: float) -> (out, weights)`` with softmax(q kᵀ / √D / temperature).

    >>> diagnose_temperature_attention(lambda q, k, v, t: scaled_dot_product_attention(q, k, v, temperature=t)).mistake is None
    True
    """
    return _diagnose(_TEMPERATURE, fn)


def check_temperature_attention(fn: Callable[..., Any]) -> None:
    """Print :func:`diagnose_temperature_attention`'s message about ``fn``."""
    print(diagnose_temperature_attention(fn).message)


def diagnose_padding_mask(fn: Callable[..., Any]) -> Diagnosis:
    """Check ``fn(valid_lens (B,), t_k: int) -> bool mask (B, 1, Tk)``, True = may attend.

    >>> diagnose_padding_mask(lambda valid_lens, t_k: torch.arange(t_k) >= valid_lens[:, None, None]).mistake
    'mask_inverted'
    """
    return _diagnose(_PADDING, fn)


def check_padding_mask(fn: Callable[..., Any]) -> None:
    """Print :func:`diagnose_padding_mask`'s message about ``fn``."""
    print(diagnose_padding_mask(fn).message)


def diagnose_causal_mask(fn: Callable[..., Any]) -> Diagnosis:
    """Check ``fn(t: int) -> bool mask (T, T)``, True on and below the diagonal.

    >>> diagnose_causal_mask(lambda t: torch.ones(t, t, dtype=torch.bool).triu()).mistake
    'transposed_output'
    """
    return _diagnose(_CAUSAL, fn)


def check_causal_mask(fn: Callable[..., Any]) -> None:
    """Print :func:`diagnose_causal_mask`'s message about ``fn``."""
    print(diagnose_causal_mask(fn).message)


def diagnose_masked_attention(fn: Callable[..., Any]) -> Diagnosis:
    """Check ``fn(q, k, v, mask) -> (out, weights)``: bool mask, fully masked rows give zeros, inputs unchanged.

    >>> diagnose_masked_attention(lambda q, k, v, mask: scaled_dot_product_attention(q, k, v, mask)).mistake is None
    True
    """
    return _diagnose(_MASKED, fn)


def check_masked_attention(fn: Callable[..., Any]) -> None:
    """Print :func:`diagnose_masked_attention`'s message about ``fn``."""
    print(diagnose_masked_attention(fn).message)


def diagnose_split_heads(fn: Callable[..., Any]) -> Diagnosis:
    """Check ``fn(x (B, T, D), num_heads: int) -> (B, H, T, D / H)``.

    >>> diagnose_split_heads(lambda x, h: x.reshape(x.shape[0], h, x.shape[1], -1)).mistake
    'wrong_head_split'
    """
    return _diagnose(_SPLIT, fn)


def check_split_heads(fn: Callable[..., Any]) -> None:
    """Print :func:`diagnose_split_heads`'s message about ``fn``."""
    print(diagnose_split_heads(fn).message)


def diagnose_merge_heads(fn: Callable[..., Any]) -> Diagnosis:
    """Check ``fn(x (B, H, T, Dh)) -> (B, T, H * Dh)``.

    >>> diagnose_merge_heads(lambda x: x.reshape(x.shape[0], x.shape[2], -1)).mistake
    'wrong_merge'
    """
    return _diagnose(_MERGE, fn)


def check_merge_heads(fn: Callable[..., Any]) -> None:
    """Print :func:`diagnose_merge_heads`'s message about ``fn``."""
    print(diagnose_merge_heads(fn).message)


def diagnose_multi_head_attention(fn: Callable[..., Any]) -> Diagnosis:
    """Check ``fn(x (B, T, D), w_q, w_k, w_v, w_o (D, D), num_heads: int) -> out (B, T, D)``.

    >>> def unfinished(x, w_q, w_k, w_v, w_o, num_heads):
    ...     raise NotImplementedError
    >>> diagnose_multi_head_attention(unfinished).mistake
    'not_attempted'
    """
    return _diagnose(_MHA, fn)


def check_multi_head_attention(fn: Callable[..., Any]) -> None:
    """Print :func:`diagnose_multi_head_attention`'s message about ``fn``."""
    print(diagnose_multi_head_attention(fn).message)


def diagnose_source_padding_mask(fn: Callable[..., Any]) -> Diagnosis:
    """Check ``fn(src_valid_lens (B,), q_len: int, src_len: int) -> bool mask (B, Tq, Tk)``.

    >>> diagnose_source_padding_mask(lambda lens, q_len, src_len: padding_mask(lens, src_len)).message
    'Not quite: the shape of mask is (2, 1, 5), expected (2, 3, 5) (case 1). Expand it over the queries with .expand(-1, q_len, -1).'
    """
    return _diagnose(_SOURCE_MASK, fn)


def check_source_padding_mask(fn: Callable[..., Any]) -> None:
    """Print :func:`diagnose_source_padding_mask`'s message about ``fn``."""
    print(diagnose_source_padding_mask(fn).message)


def diagnose_cross_attention(fn: Callable[..., Any]) -> Diagnosis:
    """Check ``fn(target (B, Tq, D), source (B, Tk, D), w_q, w_k, w_v (D, D), src_valid_lens (B,)) -> (out, weights)``.

    >>> diagnose_cross_attention(lambda *args: None).mistake
    'wrong_shape'
    """
    return _diagnose(_CROSS, fn)


def check_cross_attention(fn: Callable[..., Any]) -> None:
    """Print :func:`diagnose_cross_attention`'s message about ``fn``."""
    print(diagnose_cross_attention(fn).message)
