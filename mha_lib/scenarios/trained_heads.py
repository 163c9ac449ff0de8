"""Notebook 07: trained toy models watched over training — each head's weights on a fixed example, the heads'
scores and the accuracy with each head zeroed at every kept checkpoint, computed once per kernel (training
included) and then only looked up. Checkpoints are evaluated with ``toy_tasks.TRAIN_THREADS`` threads: small
forward passes, a hundred of them, run faster on one thread than on several threads fighting a busy machine.

>>> history = training_history("reverse", steps=10)
>>> history.weights.shape, history.score_names
(torch.Size([3, 1, 2, 12, 12]), ('mirror',))
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

import torch
from torch import Tensor

from mha_lib._threads import torch_threads
from mha_lib._validate import require_choice, require_count, require_int
from mha_lib.toy_tasks import (
    TASKS,
    TRAIN_THREADS,
    Trained,
    ablate_head,
    config,
    example,
    induction_score,
    make_batch,
    mirror_score,
    previous_token_score,
    token_accuracy,
    token_labels,
    train,
)

SCORE_BATCH = 64  # held-out sequences the head scores are averaged over
SCORE_SEED = 7  # their seed (training draws from odd seeds 2·seed + 1, the accuracy batch from 0)
SCORE_NAMES = {"reverse": ("mirror",), "induction": ("previous token", "induction")}
SMOOTHING = 10  # the drawn loss is the mean of the last 10 steps: each step scores only a few hundred tokens
ABLATION_BATCH = 256  # held-out sequences the ablation accuracies are measured on: notebook 07's batch
ABLATION_SEED = 11  # ... and its seed

_TRAINED: dict[tuple[str, int, int | None], Trained] = {}
_HISTORIES: dict[tuple[str, int, int | None], "TrainingHistory"] = {}
_ABLATIONS: dict[tuple[str, int, int | None, int], "AblationHistory"] = {}


def trained(
    task: str, *, seed: int = 0, steps: int | None = None, on_step: Callable[[int, float], None] | None = None
) -> Trained:
    """``toy_tasks.train(task, seed=seed, steps=steps)``, run once per kernel and then remembered
    (``on_step`` is only called when it really trains)."""
    key = (require_choice("task", task, TASKS), seed, steps)
    if key not in _TRAINED:
        _TRAINED[key] = train(task, seed=seed, steps=steps, on_step=on_step)
    return _TRAINED[key]


@dataclass(frozen=True, eq=False)
class TrainingHistory:
    """Everything the explorer shows, at every kept checkpoint of one training run."""

    task: str
    steps: tuple[int, ...]  # the checkpoints' training steps, C of them
    losses: tuple[float, ...]  # one per training step, smoothed over SMOOTHING steps
    tokens: tuple[str, ...]  # labels of the fixed example's T positions
    weights: Annotated[Tensor, "checkpoints layers heads seq seq"]  # every head on the fixed example
    score_names: tuple[str, ...]  # S scores per head
    scores: Annotated[Tensor, "checkpoints scores layers heads"]  # averaged over SCORE_BATCH held-out sequences


def smoothed(losses: tuple[float, ...] | list[float], window: int = SMOOTHING) -> tuple[float, ...]:
    """The running mean of the last ``window`` losses (fewer at the start).

    >>> smoothed([4.0, 2.0, 0.0, 2.0], window=2)
    (4.0, 3.0, 1.0, 1.0)
    """
    total = torch.tensor(losses, dtype=torch.float64).cumsum(0)  # (N,)
    before = torch.cat([total.new_zeros(window), total])[: len(losses)]  # (N,): the sum up to step i - window
    count = torch.arange(1, len(losses) + 1).clamp(max=window)  # (N,)
    return tuple(((total - before) / count).tolist())


def _head_scores(task: str, maps: list[Tensor], inputs: Tensor, scored: Tensor) -> Tensor:
    """(S, L, H): every score of ``SCORE_NAMES[task]`` for every head."""
    if task == "reverse":
        return torch.stack([torch.stack([mirror_score(w) for w in maps])])  # (1, L, H)
    previous = torch.stack([previous_token_score(w) for w in maps])  # (L, H)
    lookup = torch.stack([induction_score(w, inputs, scored) for w in maps])  # (L, H)
    return torch.stack([previous, lookup])  # (2, L, H)


def training_history(task: str, *, seed: int = 0, steps: int | None = None) -> TrainingHistory:
    """Train (or reuse) ``task``'s model and evaluate every checkpoint once: the weights of every head on the
    fixed example and every head's scores. Cached per (task, seed, steps)."""
    key = (require_choice("task", task, TASKS), seed, steps)
    if key in _HISTORIES:
        return _HISTORIES[key]
    run = trained(task, seed=seed, steps=steps)
    shown = example(task)  # (1, T)
    inputs, targets = make_batch(task, SCORE_BATCH, seed=SCORE_SEED)  # (B, T)
    weights, scores = [], []
    with torch.no_grad(), torch_threads(TRAIN_THREADS):
        for step in run.steps:
            model = run.model_at(step)
            weights.append(torch.stack([w[0] for w in model(shown)[1]]))  # (L, H, T, T)
            scores.append(_head_scores(task, model(inputs)[1], inputs, targets.scored))  # (S, L, H)
    history = TrainingHistory(
        task=task,
        steps=tuple(run.steps),
        losses=smoothed(run.losses),
        tokens=tuple(token_labels(shown[0])),
        weights=torch.stack(weights),  # (C, L, H, T, T)
        score_names=SCORE_NAMES[task],
        scores=torch.stack(scores),  # (C, S, L, H)
    )
    _HISTORIES[key] = history
    return history


@dataclass(frozen=True, eq=False)
class AblationHistory:
    """Single-head ablation over training: at each picked checkpoint, the accuracy on the scored positions of
    ABLATION_BATCH held-out sequences (seed ABLATION_SEED), whole and with each head zeroed."""

    task: str
    steps: tuple[int, ...]  # the picked checkpoints' training steps, C of them
    full: Annotated[Tensor, "checkpoints"]  # accuracy of the whole model
    without: Annotated[Tensor, "checkpoints layers heads"]  # accuracy with head (layer, head) zeroed


def ablation_history(task: str, *, seed: int = 0, steps: int | None = None, every: int = 1) -> AblationHistory:
    """Train (or reuse) ``task``'s model and, at every ``every``-th kept checkpoint (and the last one), zero each
    head in turn (``toy_tasks.ablate_head``) and measure the accuracy. Cached per (task, seed, steps, every).

    >>> history = ablation_history("reverse", steps=10, every=2)
    >>> history.steps, tuple(history.full.shape), tuple(history.without.shape)
    ((0, 10), (2,), (2, 1, 2))
    """
    key = (require_choice("task", task, TASKS), seed, steps, require_count("every", every, "every=2"))
    if key in _ABLATIONS:
        return _ABLATIONS[key]
    run, cfg = trained(task, seed=seed, steps=steps), config(task)
    picked = run.steps[::every] if (len(run.steps) - 1) % every == 0 else [*run.steps[::every], run.steps[-1]]
    inputs, targets = make_batch(task, ABLATION_BATCH, seed=ABLATION_SEED)  # (B, T)
    full, without = [], []
    with torch_threads(TRAIN_THREADS):
        for step in picked:
            model = run.model_at(step)
            full.append(token_accuracy(model, inputs, targets))
            without.append(
                [
                    [token_accuracy(ablate_head(model, layer, head), inputs, targets) for head in range(cfg.num_heads)]
                    for layer in range(cfg.num_layers)
                ]
            )
    history = AblationHistory(task, tuple(picked), torch.tensor(full), torch.tensor(without))  # (C,), (C, L, H)
    _ABLATIONS[key] = history
    return history


@dataclass(frozen=True, eq=False)
class TrainingView:
    """One head at one checkpoint: its weights on the fixed example, the loss curve and the heads' scores."""

    task: str
    step: int  # training steps done at this checkpoint
    layer: int
    head: int
    tokens: tuple[str, ...]
    weights: Annotated[Tensor, "seq seq"]  # this head's weights on the fixed example
    steps: tuple[int, ...]  # every checkpoint's step
    losses: tuple[float, ...]  # the whole (smoothed) loss curve, one value per step
    loss: float  # the smoothed training loss at ``step`` (the first step's loss at step 0)
    score_names: tuple[str, ...]
    scores: Annotated[Tensor, "scores layers heads"]  # every head's scores at this checkpoint


def training_view(task: str, checkpoint: int, layer: int, head: int, *, seed: int = 0) -> TrainingView:
    """What the explorer shows for checkpoint number ``checkpoint`` (0 = before training), ``layer``, ``head``.

    >>> view = training_view("reverse", 0, 0, 1)
    >>> view.step, tuple(view.weights.shape), view.scores.shape
    (0, (12, 12), torch.Size([1, 1, 2]))
    """
    task = require_choice("task", task, TASKS)
    cfg = config(task)
    layer = require_int("layer", layer, 0, cfg.num_layers - 1)
    head = require_int("head", head, 0, cfg.num_heads - 1)
    history = training_history(task, seed=seed)
    checkpoint = require_int("checkpoint", checkpoint, 0, len(history.steps) - 1)
    step = history.steps[checkpoint]
    return TrainingView(
        task=task,
        step=step,
        layer=layer,
        head=head,
        tokens=history.tokens,
        weights=history.weights[checkpoint, layer, head],  # (T, T)
        steps=history.steps,
        losses=history.losses,
        loss=history.losses[max(step - 1, 0)],
        score_names=history.score_names,
        scores=history.scores[checkpoint],  # (S, L, H)
    )
