"""Kernel-side latency of notebook 08's explorer: a new sentence (forward pass + a new figure), a head change.

Each row applies one kind of change to the explorer as shipped and to its naive twin
(``explorers.rebuilding``: a new figure and ``savefig`` per update), alternately, as ``benchmarks.explorers``
does. A new sentence always pays the forward pass: the encoding cache is emptied before each one, and the
sentences (about 12 tokens each) never repeat, so every one also draws a figure not on hand.
"""

import itertools
import statistics

from benchmarks.explorers import CHANGES, WARMUP, Change, _series, _set, rebuilding
from benchmarks.timing import percentile
from mha_lib.scenarios import real_model_heads as scenario
from mha_lib.widgets import explore_pretrained

SUBJECTS = (
    "The old dog",
    "My little sister",
    "A tired farmer",
    "Her best friend",
    "The young teacher",
    "One quiet cat",
)
VERBS = ("found", "painted", "carried", "dropped", "sold", "washed")
OBJECTS = ("the red bicycle", "a heavy box", "the broken chair")
SENTENCES = tuple(f"{s} {v} {o} near the river." for s, v, o in itertools.product(SUBJECTS, VERBS, OBJECTS))


def _new_sentence() -> Change:
    texts = SENTENCES[1:]  # the explorers start on SENTENCES[0]

    def apply(explorer, n: int) -> None:
        scenario.encode.cache_clear()  # a real forward pass every time
        explorer.controls["text"].value = texts[n % len(texts)]

    apply.__name__ = "text"
    return apply


def rows() -> list[dict]:
    """Rows ``{"name", "change", "median_ms", "p90_ms", "naive_median_ms", "tokens", "n"}``."""
    assert len(SENTENCES) > WARMUP + CHANGES, "every timed sentence must be new"
    kinds = {
        "new sentence": ([_new_sentence()], 10),
        "head change": ([_set("head", (3, 7, 11, 0, 5))], CHANGES),
        "layer change": ([_set("layer", (2, 4, 1, 5, 0))], CHANGES),
        "weighting switch": ([_set("weighting", ("value_norm", "raw"))], CHANGES),
    }
    out = []
    for name, (changes, naive_changes) in kinds.items():
        fast, naive = explore_pretrained(SENTENCES[0]), rebuilding(explore_pretrained(SENTENCES[0]))
        fast_ms, naive_ms = _series(fast, naive, changes, naive_changes)
        out.append(
            {
                "name": name,
                "change": "layout" if name == "new sentence" else "redraw",
                "median_ms": statistics.median(fast_ms),
                "p90_ms": percentile(fast_ms, 0.9),
                "naive_median_ms": statistics.median(naive_ms),
                "naive_n": len(naive_ms),
                "tokens": statistics.median(len(scenario.default_model().tokenize(s)[0]) for s in SENTENCES),
                "n": len(fast_ms),
            }
        )
        for explorer in (fast, naive):
            explorer.close()
    return out
