"""Notebook 07's scenario, figures, explorer and checkers, without a browser (training cached per process)."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from mha_lib.checks import diagnose_ablate_head, diagnose_induction_score, diagnose_toy_previous_token_score
from mha_lib.checks.trained_heads import (
    reference_ablate_head,
    reference_induction_score,
    reference_previous_token_score,
)
from mha_lib.scenarios import trained_heads as scenario
from mha_lib.toy_tasks import config, example, token_labels
from mha_lib.viz import PNG_SIGNATURE, plot_checkpoints, plot_training
from mha_lib.widgets import explore_training

REVERSE_STEPS = 40  # a short run is enough for the scenario's bookkeeping


@pytest.fixture(scope="module")
def history():
    return scenario.training_history("reverse", steps=REVERSE_STEPS)


def test_training_runs_once_per_process():
    first = scenario.trained("reverse", steps=REVERSE_STEPS)
    calls = []
    again = scenario.trained("reverse", steps=REVERSE_STEPS, on_step=lambda step, loss: calls.append(step))
    assert again is first and not calls, "the cached run is reused, no training step repeated"
    assert scenario.training_history("reverse", steps=REVERSE_STEPS) is scenario.training_history(
        "reverse", steps=REVERSE_STEPS
    )


def test_history_holds_every_checkpoint(history):
    cfg = config("reverse")
    run = scenario.trained("reverse", steps=REVERSE_STEPS)
    count = len(run.checkpoints)
    assert history.steps == tuple(run.steps) and history.losses == scenario.smoothed(run.losses)
    assert history.losses[0] == run.losses[0] and len(history.losses) == len(run.losses)
    assert history.weights.shape == (count, cfg.num_layers, cfg.num_heads, cfg.seq_len, cfg.seq_len)
    assert history.scores.shape == (count, 1, cfg.num_layers, cfg.num_heads)
    torch.testing.assert_close(history.weights.sum(-1), torch.ones(history.weights.shape[:-1]))
    last = run.attention(example("reverse"))[0][0]  # (H, T, T)
    torch.testing.assert_close(history.weights[-1, 0], last)
    assert history.tokens == tuple(token_labels(example("reverse")[0]))


def test_view_picks_the_checkpoint_layer_and_head():
    view = scenario.training_view("induction", 3, 1, 1)
    history = scenario.training_history("induction")
    assert view.step == history.steps[3] and view.loss == history.losses[view.step - 1]
    raw = scenario.trained("induction").losses
    assert view.loss == pytest.approx(sum(raw[view.step - 10 : view.step]) / 10)
    assert torch.equal(view.weights, history.weights[3, 1, 1])
    assert view.scores.shape == (2, 2, config("induction").num_heads)
    assert view.score_names == ("previous token", "induction")
    future = torch.ones_like(view.weights, dtype=torch.bool).triu(1)
    assert bool((view.weights[future] == 0).all()), "the induction model is causal"


def test_induction_scores_rise_over_training():
    scores = scenario.training_history("induction").scores  # (C, S, L, H)
    assert float(scores[0, 1, 1].max()) < 0.2 < 0.7 < float(scores[-1, 1, 1].max())
    assert float(scores[0, 0, 0].max()) < 0.2 < 0.4 < float(scores[-1, 0, 0].max())


def test_ablation_history_shows_the_redundant_copy_pruned():
    """Notebook 07, Step 9: right after the phase change either layer-1 head alone keeps the accuracy high; at the
    end one of them is indispensable and the other is not. The last row is Step 8's single-head ablation."""
    ablations = scenario.ablation_history("induction", every=2)
    cfg = config("induction")
    assert ablations is scenario.ablation_history("induction", every=2), "computed once per process"
    assert ablations.steps == tuple(scenario.trained("induction").steps[::2])
    assert ablations.full.shape == (len(ablations.steps),)
    assert ablations.without.shape == (len(ablations.steps), cfg.num_layers, cfg.num_heads)
    layer1 = ablations.without[:, 1]  # (C, H)
    assert float(layer1[ablations.steps.index(300)].min()) > 0.8, "two induction heads after the phase change"
    assert float(layer1[-1].min()) < 0.5 and float(layer1[-1].max()) > float(ablations.full[-1]) - 0.05
    with pytest.raises(ValueError, match="every"):
        scenario.ablation_history("induction", every=0)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("sort", 0, 0, 0), "task"),
        (("reverse", 0, 1, 0), "layer"),
        (("induction", 0, 0, config("induction").num_heads), "head"),
        (("reverse", 10_000, 0, 0), "checkpoint"),
    ],
)
def test_view_rejects_bad_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        scenario.training_view(*args)


def test_explorer_controls_update_state_and_image():
    explorer = explore_training()
    history = scenario.training_history("induction")
    assert explorer.state.step == history.steps[-1] and explorer.state.layer == 1
    before = bytes(explorer.image.value)
    assert before.startswith(PNG_SIGNATURE)
    figure = explorer.figure
    explorer.controls["checkpoint"].value = 5
    assert explorer.state.step == history.steps[5] and bytes(explorer.image.value) != before
    assert explorer.figure is figure, "a slider move redraws the same figure"
    explorer.controls["head"].value = 1
    assert explorer.state.head == 1 and "step 50" in explorer.summary.value
    explorer.controls["task"].value = "reverse"
    assert explorer.state.task == "reverse" and explorer.controls["layer"].max == 0
    assert explorer.state.head <= config("reverse").num_heads - 1
    assert explorer.controls["checkpoint"].max == len(scenario.training_history("reverse").steps) - 1


def test_static_plots():
    fig = plot_checkpoints(np.full((3, 4, 4), 0.25), list("我想吃酸"), [0, 5, 10])
    assert [ax.get_title() for ax in fig.axes[:3]] == ["step 0", "step 5", "step 10"]
    plt.close(fig)
    with pytest.raises(ValueError, match="one step per checkpoint"):
        plot_checkpoints(np.full((3, 4, 4), 0.25), list("我想吃酸"), [0, 5])
    fig = plot_training([3.0, 2.0, 1.0], [0, 3], np.zeros((2, 2, 2, 4)), ["previous token", "induction"])
    assert len(fig.axes) == 3
    plt.close(fig)


@pytest.mark.parametrize("mistake", ["current_position", "query_zero_counted"])
def test_previous_token_checker_names_the_mistake(mistake):
    wrong = diagnose_toy_previous_token_score(lambda w: reference_previous_token_score(w, mistake=mistake))
    assert wrong.mistake == mistake
    assert diagnose_toy_previous_token_score(reference_previous_token_score).mistake is None


@pytest.mark.parametrize("mistake", ["earlier_occurrence", "current_position", "previous_position", "all_positions"])
def test_induction_checker_names_the_mistake(mistake):
    wrong = diagnose_induction_score(lambda w, i, s: reference_induction_score(w, i, s, mistake=mistake))
    assert wrong.mistake == mistake
    assert diagnose_induction_score(reference_induction_score).mistake is None


@pytest.mark.parametrize("mistake", ["zeroed_rows", "zeroed_from_head_on"])
def test_ablation_checker_names_the_mistake(mistake):
    wrong = diagnose_ablate_head(lambda w, h, n: reference_ablate_head(w, h, n, mistake=mistake))
    assert wrong.mistake == mistake

    def in_place(w, h, n):
        w[:, :1] = 0.0
        return w

    assert diagnose_ablate_head(in_place).mistake == "modified_input"
    assert diagnose_ablate_head(lambda w, h, n: (_ for _ in ()).throw(NotImplementedError)).mistake == "not_attempted"


def test_lecture_tools_reset_and_export(tmp_path):
    explorer = explore_training("reverse", checkpoint=0)
    explorer.controls["checkpoint"].value = 10
    explorer.reset()
    assert explorer.state.step == 0
    assert explorer._labels()[0] == list(explorer.state.tokens)
    paths = explorer.export(tmp_path)
    assert any(p.suffix == ".png" for p in paths) and any(p.suffix == ".csv" for p in paths)
