"""Two toy tasks whose attention heads learn something you can see, trained on a laptop CPU in seconds.

``"reverse"``: one non-causal layer reads a sequence and outputs it backwards; its heads learn the
anti-diagonal. ``"induction"``: two causal layers read random tokens whose second part repeats an earlier
segment (random length, random offset) and predict the next token; once it is learned, a previous-token head
in layer 0 and an induction head in layer 1 ("find where the current token occurred before, copy the token
that followed it") do the work. Training is deterministic: the same seed gives the same losses, bit for bit.
"""

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mha_lib._threads import torch_threads
from mha_lib.masks import causal_mask
from mha_lib.modules import MultiHeadAttention

TASKS = ("reverse", "induction")
# Threads used while training: fixed, so the float sums (and the losses) are the same on every machine size.
TRAIN_THREADS = 1
HELD_OUT_SEED = 0  # the held-out batch; training batches come from odd seeds (2 * seed + 1), never this one
# How token ids are shown: characters, the course sentence's first (reversal uses ids 0..15, induction 0..31).
TOKEN_LABELS = "我想吃酸菜鱼因为它又辣很好你们的人他是不了在有这中大上个国说到天"
# The fixed examples the notebook and the explorer show: the course sentence reversed, and a sentence whose
# second half repeats 我想吃酸菜鱼 — every other character occurs once, so each repeated one is scored.
EXAMPLES = {"reverse": "我想吃酸菜鱼因为它又酸又", "induction": "你们好我想吃酸菜鱼因为它很辣我想吃酸菜鱼的人"}


@dataclass(frozen=True)
class TaskConfig:
    """Data, model and optimiser sizes of one task."""

    vocab: int
    seq_len: int
    d_model: int
    num_heads: int
    num_layers: int
    causal: bool
    steps: int
    batch_size: int
    lr: float
    checkpoint_every: int
    weight_decay: float = 0.01  # AdamW's decoupled weight decay (0.01 is PyTorch's default)
    min_repeat: int = 0  # induction: the repeated segment's length lies in [min_repeat, max_repeat]
    max_repeat: int = 0


# Sizes measured on a 2-core CPU: reversal is solved in ~100 steps. Induction sits near chance, then its loss
# drops within ~100 steps (the phase change, around step 150-250) and passes 0.9 accuracy soon after; right after
# it, both heads of layer 1 do induction (redundant copies). Weight decay 1.0 (AdamW's decoupled decay: every
# weight shrinks by lr · 1.0 = 0.5 % per step unless the loss keeps it) then prunes the copy: by step ~700 the
# model keeps one previous-token head and one induction head. After 1000 steps, on seeds 0-4, zeroing either
# leaves ≤ 0.26 accuracy (≤ 0.09 on 4 of them) and zeroing the other head of its layer costs ≤ 0.01. Measured on
# seed 0: with the default decay 0.01 (600 steps) no single head is indispensable (zeroing any one leaves
# ≥ 0.85), and with 4 heads per layer (1000 steps) layer 1 still keeps two induction heads. Training: ~20-25 s
# on one thread. Checkpoints every 10 steps keep the phase change and the pruning visible on the slider.
CONFIGS = {
    "reverse": TaskConfig(
        vocab=16, seq_len=12, d_model=32, num_heads=2, num_layers=1, causal=False,
        steps=150, batch_size=64, lr=3e-3, checkpoint_every=5,
    ),
    "induction": TaskConfig(
        vocab=32, seq_len=32, d_model=32, num_heads=2, num_layers=2, causal=True,
        steps=1000, batch_size=64, lr=5e-3, checkpoint_every=10, weight_decay=1.0, min_repeat=4, max_repeat=12,
    ),
}  # fmt: skip


def config(task: str) -> TaskConfig:
    """The sizes of ``task``; raises for an unknown task name.

    >>> config("reverse").num_layers, config("induction").causal
    (1, True)
    """
    if task not in CONFIGS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    return CONFIGS[task]


class Targets(NamedTuple):
    """What the model should output at each position, and which positions count."""

    ids: Annotated[Tensor, "batch seq"]  # token ids (long)
    scored: Annotated[Tensor, "batch seq"]  # bool: True where the loss and the accuracy look


def _reverse_batch(cfg: TaskConfig, batch_size: int, generator: torch.Generator) -> tuple[Tensor, Targets]:
    inputs = torch.randint(cfg.vocab, (batch_size, cfg.seq_len), generator=generator)  # (B, T)
    scored = torch.ones(batch_size, cfg.seq_len, dtype=torch.bool)  # (B, T): every position
    return inputs, Targets(inputs.flip(-1), scored)  # (B, T), target at i is the input at T-1-i


def _induction_batch(cfg: TaskConfig, batch_size: int, generator: torch.Generator) -> tuple[Tensor, Targets]:
    t = cfg.seq_len
    tokens = torch.randint(cfg.vocab, (batch_size, t), generator=generator)  # (B, T)
    length = torch.randint(cfg.min_repeat, cfg.max_repeat + 1, (batch_size, 1), generator=generator)  # (B, 1)
    u = torch.rand(batch_size, 2, generator=generator)  # (B, 2)
    copy_start = length + (u[:, :1] * (t - 2 * length + 1)).long()  # (B, 1), in [L, T-L]
    source_start = (u[:, 1:] * (copy_start - length + 1)).long()  # (B, 1), in [0, copy_start-L]: no overlap
    pos = torch.arange(t)  # (T,)
    in_copy = (pos >= copy_start) & (pos < copy_start + length)  # (B, T)
    source = torch.where(in_copy, pos - copy_start + source_start, pos)  # (B, T)
    inputs = tokens.gather(1, source)  # (B, T): the copy repeats tokens[source_start : source_start+L]
    ids = inputs.roll(-1, dims=1)  # (B, T): the next token (the last position is never scored)
    seen_once = earlier_occurrences(inputs).sum(-1) == 1  # (B, T): the token occurs exactly once before
    next_in_copy = in_copy & (pos < copy_start + length - 1)  # (B, T): the next token is copied too
    return inputs, Targets(ids, seen_once & next_in_copy)


def earlier_occurrences(inputs: Tensor) -> Tensor:
    """(B, T, T) bool: True at (i, j) where j < i holds the same token as i."""
    t = inputs.shape[1]
    before = torch.ones(t, t, dtype=torch.bool).tril(-1)  # (T, T): j < i
    return (inputs.unsqueeze(2) == inputs.unsqueeze(1)) & before  # (B, T, T)


def token_labels(ids: Tensor | list[int]) -> list[str]:
    """The character that stands for each token id.

    >>> token_labels(torch.tensor([0, 1, 2]))
    ['我', '想', '吃']
    """
    return [TOKEN_LABELS[i] for i in torch.as_tensor(ids).tolist()]


def example(task: str) -> Annotated[Tensor, "1 seq"]:
    """The fixed example of ``task`` as token ids (1, T).

    >>> "".join(token_labels(example("reverse")[0]))
    '我想吃酸菜鱼因为它又酸又'
    """
    config(task)
    return torch.tensor([[TOKEN_LABELS.index(c) for c in EXAMPLES[task]]])  # (1, T)


def make_batch(task: str, batch_size: int, *, seed: int) -> tuple[Annotated[Tensor, "batch seq"], Targets]:
    """A seeded batch of ``task``: token ids (B, T) and :class:`Targets` (ids (B, T), scored (B, T) bool).

    Induction sequences are random tokens whose later part repeats an earlier segment of random length at a
    random offset; a position is scored where its token occurs exactly once before and the next token belongs
    to the repeat, so looking up the earlier occurrence predicts it.

    >>> inputs, targets = make_batch("reverse", 2, seed=0)
    >>> inputs.shape, bool((targets.ids == inputs.flip(-1)).all())
    (torch.Size([2, 12]), True)
    """
    cfg = config(task)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    generator = torch.Generator().manual_seed(seed)
    build = _reverse_batch if task == "reverse" else _induction_batch
    return build(cfg, batch_size, generator)


class ToyTransformer(nn.Module):
    """Attention-only transformer: token + learned position embeddings, ``num_layers`` pre-norm
    :class:`~mha_lib.MultiHeadAttention` blocks with residuals, a final norm and an unembedding.

    >>> model = ToyTransformer(vocab=8, seq_len=5, d_model=16, num_heads=2, num_layers=2, causal=True)
    >>> logits, weights = model(torch.zeros(3, 5, dtype=torch.long))
    >>> logits.shape, [w.shape for w in weights]
    (torch.Size([3, 5, 8]), [torch.Size([3, 2, 5, 5]), torch.Size([3, 2, 5, 5])])
    """

    def __init__(self, vocab: int, seq_len: int, d_model: int, num_heads: int, num_layers: int, causal: bool):
        super().__init__()
        self.causal = causal
        self.tok_embed = nn.Embedding(vocab, d_model)
        self.pos_embed = nn.Embedding(seq_len, d_model)
        self.norms = nn.ModuleList(nn.LayerNorm(d_model) for _ in range(num_layers))
        self.layers = nn.ModuleList(MultiHeadAttention(d_model, num_heads) for _ in range(num_layers))
        self.final_norm = nn.LayerNorm(d_model)
        self.unembed = nn.Linear(d_model, vocab)
        self.register_buffer("mask", causal_mask(seq_len) if causal else None, persistent=False)  # (T, T)

    def forward(
        self, tokens: Annotated[Tensor, "batch seq"], *, need_weights: bool = True
    ) -> tuple[Annotated[Tensor, "batch seq vocab"], list[Annotated[Tensor, "batch heads q_len k_len"]]]:
        t = tokens.shape[1]
        x = self.tok_embed(tokens) + self.pos_embed.weight[:t]  # (B, T, D)
        mask = None if self.mask is None else self.mask[:t, :t]  # (T, T)
        weights = []
        for norm, attn in zip(self.norms, self.layers):
            out, w = attn(norm(x), mask=mask, need_weights=need_weights)  # (B, T, D), (B, H, T, T) or None
            x = x + out  # (B, T, D)
            weights.append(w)
        return self.unembed(self.final_norm(x)), weights  # (B, T, V), L × (B, H, T, T)


def build_model(task: str) -> ToyTransformer:
    """A fresh (randomly initialised from the global RNG) model of ``task``'s size."""
    cfg = config(task)
    return ToyTransformer(cfg.vocab, cfg.seq_len, cfg.d_model, cfg.num_heads, cfg.num_layers, cfg.causal)


def scored_loss(logits: Tensor, targets: Targets) -> Tensor:
    """Mean cross-entropy over the scored positions."""
    return F.cross_entropy(logits[targets.scored], targets.ids[targets.scored])


@torch.no_grad()
def token_accuracy(model: nn.Module, inputs: Tensor, targets: Targets) -> float:
    """Fraction of scored positions whose most likely token is the target.

    >>> model = build_model("reverse")
    >>> 0.0 <= token_accuracy(model, *make_batch("reverse", 4, seed=1)) <= 1.0
    True
    """
    logits, _ = model(inputs, need_weights=False)  # (B, T, V)
    hits = logits.argmax(-1) == targets.ids  # (B, T)
    return hits[targets.scored].float().mean().item()


def ablate_heads(model: ToyTransformer, heads: Iterable[tuple[int, int]]) -> ToyTransformer:
    """A copy of ``model`` in which every ``(layer, head)`` of ``heads`` contributes nothing: the columns of W_O
    that read that head's output are zeroed (the head still attends, but its output is multiplied by 0).

    >>> model = build_model("induction")
    >>> ablated = ablate_heads(model, [(1, 1)])
    >>> bool(ablated.layers[1].out_proj.weight[:, 16:32].eq(0).all()), bool(model.layers[1].out_proj.weight.ne(0).all())
    (True, True)
    """
    ablated = copy.deepcopy(model)
    for layer, head in heads:
        if not 0 <= layer < len(model.layers):
            raise ValueError(f"layer must lie in [0, {len(model.layers)}), got {layer}")
        attn = ablated.layers[layer]
        if not 0 <= head < attn.num_heads:
            raise ValueError(f"head must lie in [0, {attn.num_heads}), got {head}")
        with torch.no_grad():
            attn.out_proj.weight[:, head * attn.d_head : (head + 1) * attn.d_head] = 0.0  # (D, Dh) block of W_O
    return ablated


def ablate_head(model: ToyTransformer, layer: int, head: int) -> ToyTransformer:
    """A copy of ``model`` without head ``head`` of layer ``layer`` (see :func:`ablate_heads`)."""
    return ablate_heads(model, [(layer, head)])


@dataclass(frozen=True)
class Trained:
    """A trained toy model and its history: ``losses`` (one per step), held-out ``accuracy`` on the scored
    positions, and ``checkpoints`` ``[(step, state_dict), ...]`` from step 0 to the last step."""

    task: str
    seed: int
    model: ToyTransformer
    losses: list[float]
    accuracy: float
    checkpoints: list[tuple[int, dict[str, Tensor]]]

    @property
    def steps(self) -> list[int]:
        """The training steps at which a checkpoint was kept."""
        return [step for step, _ in self.checkpoints]

    def model_at(self, step: int) -> ToyTransformer:
        """A copy of the model with the weights it had after ``step`` training steps (a kept checkpoint)."""
        states = dict(self.checkpoints)
        if step not in states:
            raise ValueError(f"no checkpoint at step {step}; kept steps are {self.steps}")
        model = copy.deepcopy(self.model)
        model.load_state_dict(states[step])
        return model

    @torch.no_grad()
    def attention(
        self, inputs: Annotated[Tensor, "batch seq"], *, step: int | None = None
    ) -> list[Annotated[Tensor, "batch heads q_len k_len"]]:
        """Attention weights of every layer on ``inputs``: a list of (B, H, T, T); ``step`` picks a checkpoint
        (None = the final model)."""
        model = self.model if step is None else self.model_at(step)
        return model(inputs)[1]


def train(
    task: str, *, seed: int = 0, steps: int | None = None, on_step: Callable[[int, float], None] | None = None
) -> Trained:
    """Train ``task``'s model with AdamW from ``seed``; ``steps=None`` uses the task's default.

    Deterministic: the model is initialised and the batches drawn from ``seed`` alone, with
    ``TRAIN_THREADS`` threads (restored afterwards), so the same seed gives the same losses exactly; the
    global RNG is left as it was. ``on_step(step, loss)`` is called after each step (e.g. a progress bar).

    >>> result = train("reverse", steps=20)
    >>> len(result.losses), result.steps[0], result.steps[-1]
    (20, 0, 20)
    """
    cfg = config(task)
    steps = cfg.steps if steps is None else steps
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    with torch_threads(TRAIN_THREADS):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = build_model(task)
        losses, checkpoints = _fit(task, model, steps, seed, on_step)
        model.eval().requires_grad_(False)  # trained: from here on it is only looked at
        accuracy = token_accuracy(model, *make_batch(task, 512, seed=HELD_OUT_SEED))
    return Trained(task, seed, model, losses, accuracy, checkpoints)


@torch.enable_grad()  # even when the caller turned autograd off
def _fit(
    task: str, model: ToyTransformer, steps: int, seed: int, on_step: Callable[[int, float], None] | None
) -> tuple[list[float], list[tuple[int, dict[str, Tensor]]]]:
    """AdamW on fresh batches from ``seed``'s generator: (loss per step, checkpoints)."""
    cfg = config(task)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    generator = torch.Generator().manual_seed(2 * seed + 1)
    build = _reverse_batch if task == "reverse" else _induction_batch
    losses: list[float] = []
    checkpoints = [(0, _snapshot(model))]
    for step in range(1, steps + 1):
        inputs, targets = build(cfg, cfg.batch_size, generator)
        logits, _ = model(inputs, need_weights=False)  # (B, T, V)
        loss = scored_loss(logits, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if step % cfg.checkpoint_every == 0 or step == steps:
            checkpoints.append((step, _snapshot(model)))
        if on_step is not None:
            on_step(step, losses[-1])
    return losses, checkpoints


def _snapshot(model: nn.Module) -> dict[str, Tensor]:
    return {name: value.detach().clone() for name, value in model.state_dict().items()}


def previous_token_score(weights: Annotated[Tensor, "batch heads q_len k_len"]) -> Annotated[Tensor, "heads"]:
    """Per head, the mean weight that queries 1..T-1 put on the position just before them.

    >>> w = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.5, 0.5]]).expand(1, 1, 3, 3)
    >>> previous_token_score(w)  # query 1 puts 1.0 on key 0, query 2 puts 0.5 on key 1
    tensor([0.7500])
    """
    previous = weights.diagonal(offset=-1, dim1=-2, dim2=-1)  # (B, H, T-1): weight of query i on key i-1
    return previous.mean(dim=(0, 2))  # (H,)


def mirror_score(weights: Annotated[Tensor, "batch heads q_len k_len"]) -> Annotated[Tensor, "heads"]:
    """Per head, the mean weight that query i puts on key T-1-i (where reversal finds its answer).

    >>> mirror_score(torch.eye(3).flip(-1).expand(1, 1, 3, 3))
    tensor([1.])
    """
    return weights.flip(-1).diagonal(dim1=-2, dim2=-1).mean(dim=(0, 2))  # (B, H, T) -> (H,)


def induction_score(
    weights: Annotated[Tensor, "batch heads q_len k_len"],
    inputs: Annotated[Tensor, "batch seq"],
    scored: Annotated[Tensor, "batch seq"],
) -> Annotated[Tensor, "heads"]:
    """Per head, the mean weight that scored queries put on the token *after* the earlier occurrence of their
    own token (where an induction head looks: that token is the prediction).

    >>> inputs = torch.tensor([[5, 7, 5]])                    # at query 2, token 5 occurred at 0; 7 followed
    >>> w = torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.2, 0.8, 0.0]]).expand(1, 1, 3, 3)
    >>> induction_score(w, inputs, torch.tensor([[False, False, True]]))
    tensor([0.8000])
    """
    earlier = earlier_occurrences(inputs)  # (B, T, T)
    if not bool(earlier.any(-1)[scored].all()):
        raise ValueError("every scored position needs an earlier occurrence of its token (see make_batch)")
    first = earlier.int().argmax(-1)  # (B, T): the (first) earlier occurrence j of each query's token
    after = (first + 1).clamp(max=inputs.shape[1] - 1)  # (B, T): j + 1, the token that followed it
    index = after[:, None, :, None].expand(-1, weights.shape[1], -1, 1)  # (B, H, T, 1)
    on_after = weights.gather(-1, index).squeeze(-1)  # (B, H, T): weight of query i on key j+1
    keep = scored[:, None, :].float()  # (B, 1, T)
    return (on_after * keep).sum(dim=(0, 2)) / keep.sum()  # (H,)
