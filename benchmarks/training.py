"""Training time of each toy task (notebook 07), as the notebook runs it: ``toy_tasks.train(task, seed=0)``.
Targets from issue 15: reversal ≥ 0.95 accuracy in < 30 s, induction ≥ 0.9 in < 60 s on a 2-core machine.
"""

import time

from mha_lib import toy_tasks


def training_times() -> list[dict]:
    """One row per task: seconds, steps, held-out accuracy on the scored positions, the threshold it must pass."""
    rows = []
    for task, threshold in (("reverse", 0.95), ("induction", 0.9)):
        start = time.perf_counter()
        result = toy_tasks.train(task, seed=0)
        seconds = time.perf_counter() - start
        rows.append(
            {
                "task": task,
                "seconds": seconds,
                "steps": len(result.losses),
                "accuracy": result.accuracy,
                "threshold": threshold,
                "threads": toy_tasks.TRAIN_THREADS,
            }
        )
    return rows
