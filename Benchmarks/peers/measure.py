"""Timing one case in a worker: the check of the first run, the warm-ups and the timed runs."""
from __future__ import annotations

import time

from cases import Case
from common import log
from reference import CHECK_TOLERANCE, check_outputs


def time_runs(run, sync, warmup: int, repetitions: int) -> dict:
    for _ in range(warmup):
        run()
        sync()
    seconds = []
    for _ in range(repetitions):
        start = time.perf_counter()
        run()
        sync()
        seconds.append(time.perf_counter() - start)
    ordered = sorted(seconds)
    median = ordered[len(ordered) // 2] if len(ordered) % 2 else 0.5 * (ordered[len(ordered) // 2 - 1] + ordered[len(ordered) // 2])
    return {"median_s": median, "min_s": ordered[0], "max_s": ordered[-1], "seconds": seconds}


def check_and_time(framework: str, case: Case, inputs: dict, first: dict, result: dict,
                   run, sync, warmup: int, repetitions: int) -> dict:
    """`result` with the check of the first run's outputs `first` (the training step: a finite loss)
    and, when that passes, the timings of `run`; with "error" instead when it fails."""
    import numpy as np
    if case.family == "train-step":
        if not np.all(np.isfinite(first["loss"])):
            return {**result, "error": f"non-finite loss {first['loss']}"}
        result["first_loss"] = float(first["loss"][0])
    else:
        error = check_outputs(case, inputs, first)
        result["check_error"] = error
        if not error <= CHECK_TOLERANCE:
            return {**result, "error": f"check failed: max-abs error / max-abs value {error:.3g} > {CHECK_TOLERANCE:g}"}
    log(f"{framework} {case.key}: checked; timing {warmup} warm-up + {repetitions} runs")
    result.update(time_runs(run, sync, warmup, repetitions))
    return result
