"""Toy tasks: seeded batches, deterministic training, trained heads that do what the notebook says."""

import subprocess
import sys

import pytest
import torch

from mha_lib import toy_tasks
from mha_lib.scenarios.trained_heads import trained
from mha_lib.toy_tasks import (
    ablate_head,
    ablate_heads,
    induction_score,
    make_batch,
    previous_token_score,
    token_accuracy,
    train,
)


# train(task, seed=0) run once per test session: the explorer tests reuse the same runs through this cache.
@pytest.fixture(scope="module")
def reverse():
    return trained("reverse", seed=0)


@pytest.fixture(scope="module")
def induction():
    return trained("induction", seed=0)


@pytest.mark.parametrize("task", toy_tasks.TASKS)
def test_make_batch_is_seeded(task):
    a, b, c = (make_batch(task, 8, seed=s) for s in (1, 1, 2))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1].ids, b[1].ids) and torch.equal(a[1].scored, b[1].scored)
    assert not torch.equal(a[0], c[0])
    cfg = toy_tasks.config(task)
    assert a[0].shape == a[1].ids.shape == a[1].scored.shape == (8, cfg.seq_len)
    assert a[0].dtype == torch.long and a[1].scored.dtype == torch.bool
    assert int(a[0].min()) >= 0 and int(a[0].max()) < cfg.vocab


def test_reverse_targets_are_the_reversed_inputs():
    inputs, targets = make_batch("reverse", 4, seed=0)
    assert torch.equal(targets.ids, inputs.flip(-1)) and bool(targets.scored.all())


def test_induction_scored_positions_are_predictable_by_lookup():
    """At every scored position the current token occurred exactly once before, and the token that
    followed that occurrence is the target."""
    inputs, targets = make_batch("induction", 256, seed=5)
    b, t = torch.nonzero(targets.scored, as_tuple=True)
    assert len(b) > 256, "a few scored positions per sequence"
    for row, pos in zip(b.tolist(), t.tolist()):
        earlier = (inputs[row, :pos] == inputs[row, pos]).nonzero().flatten().tolist()
        assert len(earlier) == 1
        assert inputs[row, earlier[0] + 1] == targets.ids[row, pos] == inputs[row, pos + 1]


def test_induction_repeats_vary_in_offset_and_length():
    """A fixed distance between a token and its repeat would be solved by one positional head."""
    inputs, targets = make_batch("induction", 256, seed=6)
    b, t = torch.nonzero(targets.scored, as_tuple=True)
    earlier = [int((inputs[r, :p] == inputs[r, p]).nonzero()[0]) for r, p in zip(b.tolist(), t.tolist())]
    distances = {p - e for p, e in zip(t.tolist(), earlier)}
    assert len(distances) >= 15, sorted(distances)
    lengths = targets.scored.sum(-1)  # scored positions per sequence follow the segment's length
    assert int(lengths.max() - lengths.min()) >= 8


def test_make_batch_rejects_unknown_task_and_bad_size():
    with pytest.raises(ValueError, match="task must be one of"):
        make_batch("copy", 4, seed=0)
    with pytest.raises(ValueError, match="batch_size"):
        make_batch("reverse", 0, seed=0)


def test_training_is_deterministic_and_leaves_global_state_alone():
    torch.manual_seed(123)
    rng = torch.get_rng_state()
    threads = torch.get_num_threads()
    first = train("reverse", seed=3, steps=25)
    assert torch.equal(torch.get_rng_state(), rng), "train must not consume the global RNG"
    assert torch.get_num_threads() == threads, "train restores the thread count"
    torch.set_num_threads(max(1, 3 - threads))  # a different caller setting must not change the result
    try:
        second = train("reverse", seed=3, steps=25)
    finally:
        torch.set_num_threads(threads)
    assert first.losses == second.losses
    with torch.no_grad():  # a caller's grad mode does not matter either
        assert train("reverse", seed=3, steps=25).losses == first.losses
    assert not any(p.requires_grad for p in first.model.parameters()), "the trained model is for looking at"
    for (step_a, state_a), (step_b, state_b) in zip(first.checkpoints, second.checkpoints):
        assert step_a == step_b and all(torch.equal(state_a[k], state_b[k]) for k in state_a)
    assert train("reverse", seed=4, steps=25).losses != first.losses


def test_training_is_bit_identical_in_a_fresh_process():
    """What strict nbval needs: a notebook's printed losses come out the same in another kernel."""
    code = "from mha_lib.toy_tasks import train; print(repr(train('induction', seed=1, steps=15).losses))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert eval(out) == train("induction", seed=1, steps=15).losses


def test_train_rejects_bad_arguments():
    with pytest.raises(ValueError, match="task must be one of"):
        train("sort")
    with pytest.raises(ValueError, match="steps"):
        train("reverse", steps=0)


def test_reverse_learns(reverse):
    assert reverse.accuracy >= 0.95
    assert len(reverse.losses) == toy_tasks.config("reverse").steps
    assert reverse.losses[-1] < reverse.losses[0] / 10


def test_induction_learns(induction):
    assert induction.accuracy >= 0.9
    assert len(induction.losses) == toy_tasks.config("induction").steps


@pytest.mark.parametrize("task", toy_tasks.TASKS)
def test_checkpoints(task, request):
    trained = request.getfixturevalue(task)
    steps = trained.steps
    assert len(steps) >= 5 and steps[0] == 0 and steps[-1] == len(trained.losses)
    assert steps == sorted(set(steps))
    final = trained.model_at(steps[-1]).state_dict()
    assert all(torch.equal(final[k], v) for k, v in trained.model.state_dict().items())
    first = trained.model_at(0).state_dict()
    assert not torch.equal(first["unembed.weight"], final["unembed.weight"])
    with pytest.raises(ValueError, match="no checkpoint at step"):
        trained.model_at(steps[1] + 1)


@pytest.mark.parametrize("task", toy_tasks.TASKS)
def test_attention_maps_sum_to_one_and_respect_the_mask(task, request):
    trained = request.getfixturevalue(task)
    cfg = toy_tasks.config(task)
    inputs, _ = make_batch(task, 3, seed=9)
    for step in (0, None):
        maps = trained.attention(inputs, step=step)
        assert len(maps) == cfg.num_layers
        for weights in maps:
            assert weights.shape == (3, cfg.num_heads, cfg.seq_len, cfg.seq_len)
            torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:-1]))
            future = torch.ones(cfg.seq_len, cfg.seq_len, dtype=torch.bool).triu(1)  # (T, T)
            if cfg.causal:
                assert bool((weights[..., future] == 0).all()), "future keys get exactly zero weight"
            else:
                assert bool((weights[..., future] > 0).any()), "the reversal layer sees the whole sequence"


def test_reverse_heads_read_the_mirrored_position(reverse):
    inputs, _ = make_batch("reverse", 64, seed=9)
    (weights,) = reverse.attention(inputs)  # (B, H, T, T)
    mirrored = weights.flip(-1).diagonal(dim1=-2, dim2=-1)  # (B, H, T): weight of query i on key T-1-i
    assert float(mirrored.amax(1).mean()) > 0.8, "at every position some head reads the mirrored token"


def test_induction_circuit(induction):
    """Layer 0 holds a previous-token head, layer 1 an induction head; they formed during training, and K-composition
    links them. Removing a whole layer breaks the task."""
    inputs, targets = make_batch("induction", 256, seed=11)
    layer0, layer1 = induction.attention(inputs)
    previous = previous_token_score(layer0)  # (H,)
    lookup = induction_score(layer1, inputs, targets.scored)  # (H,)
    assert float(previous.max()) > 0.4 and float(lookup.max()) > 0.6
    assert float(induction_score(layer0, inputs, targets.scored).max()) < 0.2, "layer 0 cannot do induction"
    start0, start1 = induction.attention(inputs, step=0)
    assert (
        float(previous_token_score(start0).max()) < 0.2
        and float(induction_score(start1, inputs, targets.scored).max()) < 0.2
    )
    heads = toy_tasks.config("induction").num_heads
    for layer in (0, 1):
        assert token_accuracy(ablate_heads(induction.model, [(layer, h) for h in range(heads)]), inputs, targets) < 0.3
    without_prev = ablate_head(induction.model, 0, int(previous.argmax()))
    with torch.no_grad():
        after = induction_score(without_prev(inputs)[1][1], inputs, targets.scored)  # (H,)
    assert float(after.max()) < float(lookup.max()), "layer 1 finds its key through layer 0's output"


def test_single_head_ablation_breaks_only_the_circuit(induction):
    """What notebook 07 shows: zeroing the one previous-token head of layer 0 (top previous-token score) or the one
    induction head of layer 1 (top induction score) breaks the prediction; zeroing any other head barely matters."""
    inputs, targets = make_batch("induction", 256, seed=11)
    layer0, layer1 = induction.attention(inputs)
    circuit = {
        (0, int(previous_token_score(layer0).argmax())),
        (1, int(induction_score(layer1, inputs, targets.scored).argmax())),
    }
    heads = toy_tasks.config("induction").num_heads
    assert heads >= 2, "at least one head per layer outside the circuit"
    full = token_accuracy(induction.model, inputs, targets)
    assert full >= 0.9
    for layer in (0, 1):
        for head in range(heads):
            accuracy = token_accuracy(ablate_head(induction.model, layer, head), inputs, targets)
            if (layer, head) in circuit:
                assert accuracy < 0.5, f"without circuit head L{layer}H{head}: {accuracy:.2f}"
            else:
                assert accuracy > full - 0.05, f"without other head L{layer}H{head}: {accuracy:.2f} (full {full:.2f})"


def test_scores_on_hand_built_maps():
    inputs = torch.tensor([[3, 4, 5, 3, 4]])  # token 3 recurs at 3 (first at 0), 4 at 4 (first at 1)
    scored = torch.tensor([[False, False, False, True, False]])
    previous = torch.zeros(1, 1, 5, 5)
    previous[0, 0, 0, 0] = 1.0
    previous[0, 0, torch.arange(1, 5), torch.arange(4)] = 1.0  # every query on the key before it
    lookup = torch.zeros(1, 1, 5, 5)
    lookup[0, 0, :, 0] = 1.0
    lookup[0, 0, 3] = torch.tensor([0.0, 1.0, 0.0, 0.0, 0.0])  # query 3 on key 1, after the earlier 3
    assert previous_token_score(previous).tolist() == [1.0]
    assert induction_score(lookup, inputs, scored).tolist() == [1.0]
    assert induction_score(previous, inputs, scored).tolist() == [0.0]
    with pytest.raises(ValueError, match="earlier occurrence"):
        induction_score(lookup, inputs, torch.tensor([[False, False, True, False, False]]))


def test_ablate_head_zeroes_only_that_heads_columns():
    model = toy_tasks.build_model("induction")
    before = model.layers[1].out_proj.weight.clone()
    ablated = ablate_head(model, 1, 1)
    d_head = model.layers[1].d_head
    weight = ablated.layers[1].out_proj.weight
    assert bool((weight[:, d_head : 2 * d_head] == 0).all())
    assert torch.equal(weight[:, :d_head], before[:, :d_head])
    assert torch.equal(model.layers[1].out_proj.weight, before), "the original model is not modified"
    with pytest.raises(ValueError, match="head must lie in"):
        ablate_head(model, 0, toy_tasks.config("induction").num_heads)
    with pytest.raises(ValueError, match="layer must lie in"):
        ablate_heads(model, [(2, 0)])


def test_labels_cover_every_token_and_the_examples_fit():
    assert (
        len(set(toy_tasks.TOKEN_LABELS))
        == len(toy_tasks.TOKEN_LABELS)
        >= max(c.vocab for c in toy_tasks.CONFIGS.values())
    )
    for task in toy_tasks.TASKS:
        ids = toy_tasks.example(task)
        assert ids.shape[1] <= toy_tasks.config(task).seq_len and int(ids.max()) < toy_tasks.config(task).vocab
