"""The checker runner: each exercise is declared once; :func:`make_checkers` makes its ``diagnose_x``/``check_x``.

A declaration names mha_lib's answer (a solver that, given ``mistake=m``, returns a known-wrong version of
it), the seeded cases, the argument and output names, and the learner-facing texts. The runner calls the
learner's function on cloned float64 inputs and compares, in this order: shape, dtype, inputs modified in
place, NaN, values; a result equal to a known-wrong answer on every case is named by its mistake id.

>>> generator(0).initial_seed()
0
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

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
class Exercise:
    """One exercise: ``solve(*case)`` is mha_lib's answer, ``solve(*case, mistake=m)`` a known-wrong one."""

    name: str  # the checkers are called diagnose_<name> and check_<name>
    signature: str  # what the learner's function takes and returns, for the docstring
    example: str  # a doctest for diagnose_<name>'s docstring
    solve: Callable[..., Any]
    variants: tuple[str, ...]  # "mistake_id" or "mistake_id:detail", tried in this order
    cases: Callable[[], list[Case]]
    args: tuple[str, ...]  # argument names, for the "modified in place" message
    outputs: tuple[str, ...]  # output names; one name = a single tensor is returned
    done: str  # what a correct answer does, for the "Correct!" line
    hint: str  # the next step, for "not attempted", errors and unrecognised results
    messages: dict[str, str] = field(default_factory=dict)  # overrides of MESSAGES, "wrong_shape" = shape hint


def make_checkers(exercise: Exercise) -> tuple[Callable[..., Diagnosis], Callable[..., None]]:
    """The pair ``(diagnose_<name>, check_<name>)``: real functions, named and documented in ``mha_lib.checks``."""

    def diagnose(fn: Callable[..., Any]) -> Diagnosis:
        return _diagnose(exercise, fn)

    def check(fn: Callable[..., Any]) -> None:
        print(diagnose(fn).message)

    diagnose.__doc__ = f"Check {exercise.signature}\n\n{exercise.example}\n"
    check.__doc__ = f"Print :func:`diagnose_{exercise.name}`'s message about ``fn``."
    for function, prefix in ((diagnose, "diagnose_"), (check, "check_")):
        function.__name__ = function.__qualname__ = prefix + exercise.name
        function.__module__ = __package__  # where learners import it from; doctests run there
    diagnose.exercise = exercise  # type: ignore[attr-defined]  # for tests and curious lecturers
    return diagnose, check


def generator(seed: int) -> torch.Generator:
    """A fresh CPU generator, so every run of a checker sees the same cases."""
    return torch.Generator().manual_seed(seed)


def randn(g: torch.Generator, *shape: int) -> Tensor:
    """Standard normal float64 numbers drawn from ``g``."""
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


def _message(ex: Exercise, mistake: str) -> str:
    return ex.messages.get(mistake, MESSAGES[mistake])


@dataclass(frozen=True)
class _Run:
    """The learner's outputs on every case, next to mha_lib's answer and each known-wrong answer."""

    ex: Exercise
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


def _diagnose(ex: Exercise, fn: Callable[..., Any]) -> Diagnosis:
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
