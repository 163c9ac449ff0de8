"""Explorer of notebook 07: scrub through training and watch a head form — task, checkpoint, layer and head.

Training runs once per kernel (``train_with_progress`` or the first explorer of a task); every slider move then
only looks up checkpoints evaluated once (``scenarios.trained_heads.training_history``).

>>> explorer = explore_training("reverse", checkpoint=0)
>>> explorer.state.step, tuple(explorer.state.weights.shape)
(0, (12, 12))
"""

from typing import Any

import ipywidgets as widgets
from IPython.display import display

from mha_lib.scenarios.trained_heads import TrainingView, trained, training_history, training_view
from mha_lib.toy_tasks import TASKS, Trained, config
from mha_lib.viz import LiveFigure
from mha_lib.viz.trained_heads import TrainingFigure
from mha_lib.widgets.base import STYLE, Explorer, readout, slider, wide


class TrainingProgress(widgets.IntProgress):
    """A progress bar for one training run; before its cell runs (and on GitHub) it reads as a sentence."""

    def __repr__(self) -> str:
        return f"A progress bar: {self.description}, {self.max} steps (it moves while the cell runs)."


def train_with_progress(task: str, *, seed: int = 0) -> Trained:
    """Train ``task`` once per kernel with a progress bar under the cell (reused by ``explore_training``).

    The bar is displayed before training starts, so the stored output is the same on every run.
    """
    steps = config(task).steps
    bar = TrainingProgress(value=0, max=steps, description=f"training {task}", style=STYLE, layout=wide())
    display(bar)

    def advance(step: int, loss: float) -> None:
        if step % 10 == 0 or step == steps:
            bar.value = step

    result = trained(task, seed=seed, on_step=advance)
    bar.value, bar.bar_style = steps, "success"
    return result


class TrainingExplorer(Explorer):
    """Task, checkpoint, layer and head: the head's weights, the loss curve with the step, the heads' scores."""

    state: TrainingView
    name = "training"

    def __init__(self, task: str, checkpoint: int | None, layer: int, head: int, seed: int) -> None:
        self.seed = seed
        history = training_history(task, seed=seed)  # trains (once per kernel) and evaluates the checkpoints
        checkpoint = len(history.steps) - 1 if checkpoint is None else checkpoint
        training_view(task, checkpoint, layer, head, seed=seed)  # checks every argument, naming it
        cfg = config(task)
        controls = {
            "task": widgets.ToggleButtons(options=TASKS, value=task, description="task", style=STYLE),
            "checkpoint": slider("training checkpoint", checkpoint, 0, len(history.steps) - 1),
            "layer": slider("layer", layer, 0, cfg.num_layers - 1),
            "head": slider("head", head, 0, cfg.num_heads - 1),
        }
        self.summary = readout()
        super().__init__(controls, extra=(self.summary,))

    def _sync_controls(self, change: dict) -> None:
        if change["owner"] is not self.controls["task"]:
            return
        cfg, history = config(change["new"]), training_history(change["new"], seed=self.seed)
        for name, high in (
            ("checkpoint", len(history.steps) - 1),
            ("layer", cfg.num_layers - 1),
            ("head", cfg.num_heads - 1),
        ):
            control = self.controls[name]
            control.max = high
            control.value = min(control.value, high)

    def _labels(self) -> tuple[list[str], list[str]]:
        return list(self.state.tokens), list(self.state.tokens)

    def _compute(self) -> TrainingView:
        return training_view(seed=self.seed, **self.values())

    def _layout_key(self) -> tuple:
        return (self.state.task,)

    def _make_figure(self) -> LiveFigure:
        s, cfg = self.state, config(self.state.task)
        return TrainingFigure(
            s.tokens,
            steps=s.steps,
            losses=s.losses,
            score_names=s.score_names,
            num_layers=cfg.num_layers,
            num_heads=cfg.num_heads,
        )

    def _figure_data(self) -> dict[str, Any]:
        s = self.state
        title = f"layer {s.layer} · head {s.head} · step {s.step}"
        return {
            "weights": s.weights,
            "step": s.step,
            "loss": s.loss,
            "scores": s.scores,
            "layer": s.layer,
            "head": s.head,
            "title": title,
        }

    def _after_update(self) -> None:
        s = self.state
        scores = ", ".join(f"{name} {float(s.scores[i, s.layer, s.head]):.2f}" for i, name in enumerate(s.score_names))
        self.summary.value = f"step {s.step} of {s.steps[-1]} · loss {s.loss:.3f} · this head: {scores}"


def explore_training(
    task: str = "induction", checkpoint: int | None = None, layer: int = 1, head: int = 0, seed: int = 0
) -> TrainingExplorer:
    """Explorer 7: a trained toy model's heads over training.

    Controls: ``task`` ("reverse" | "induction"), ``checkpoint`` (0 = before training; None = the last),
    ``layer`` and ``head``. Trains each task once per kernel (seconds), then every move is a lookup.
    """
    return TrainingExplorer(task, checkpoint, min(layer, config(task).num_layers - 1), head, seed)
