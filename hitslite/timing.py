"""Wall-clock timing of forecasts: synchronise the device, take the best of ``repeats`` runs.

GPU kernels run asynchronously: a clock read right after a call measures how long it took to *queue*
the work, not to do it. :func:`synchronize` waits for a CUDA device to finish (and does nothing on a
CPU). :func:`best_time` synchronises before starting the clock and before stopping it, runs ``fn``
``repeats`` times and returns the fastest run: the least disturbed by other processes, caches
warming up and the like, which is what a comparison of two methods on one machine wants.
:func:`timed` also returns ``fn``'s output (of the last run), for a forecast that is both scored and
timed.

``fn`` runs as given: wrap it in ``torch.no_grad()`` yourself to time inference without autograd::

    with torch.no_grad():
        seconds = best_time(lambda: hierarchy.forecast(x0, 1000), 3, device=x0.device)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import torch

from . import validate

__all__ = ["synchronize", "best_time", "timed"]


def synchronize(device: torch.device | str | torch.Tensor | None = None) -> None:
    """Wait until all work queued on ``device`` is done: ``torch.cuda.synchronize(device)`` for a CUDA
    device (or a tensor on one), nothing for a CPU device or ``None``."""
    if isinstance(device, torch.Tensor):
        device = device.device
    if device is None:
        return
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], repeats: int = 1, *,
          device: torch.device | str | torch.Tensor | None = None) -> tuple[Any, float]:
    """Run ``fn()`` ``repeats`` times; return the output of the last run and the best wall time in
    seconds. The clock starts after and stops after :func:`synchronize` ``(device)``, so on a GPU the
    time covers the work, not only its launch. ``repeats`` must be a positive int."""
    repeats = validate.positive_int("repeats", repeats)
    if not callable(fn):
        raise TypeError(f"fn must be callable (a function of no arguments), got {type(fn).__name__}")
    best, out = math.inf, None
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        out = fn()
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return out, best


def best_time(fn: Callable[[], Any], repeats: int = 3, *,
              device: torch.device | str | torch.Tensor | None = None) -> float:
    """The best wall time in seconds of ``repeats`` runs of ``fn()`` (see :func:`timed`; device
    synchronised around every run). ``repeats`` must be a positive int."""
    return timed(fn, repeats, device=device)[1]
