"""Device, dtype and seeding policy.

Library code never chooses a device: tensors carry theirs and every module follows its input.
Only :func:`default_device` (for chapters and scripts) and ``fit(device=...)`` pick one.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

__all__ = ["default_device", "seed_everything", "DEFAULT_DTYPE", "describe_device"]

#: Neural steppers train in float32 (speed); ground truth and classical steppers are tested in
#: float64, where round-off sits far below the errors we study.
DEFAULT_DTYPE = torch.float32


def default_device() -> torch.device:
    """The device chapters and scripts should use: CUDA when available, else CPU.

    Set ``HITSLITE_DEVICE=cpu`` (or ``cuda:1`` ...) to override.
    """
    requested = os.environ.get("HITSLITE_DEVICE")
    if requested:
        return torch.device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def describe_device(device: torch.device | str | None = None) -> str:
    """A human-readable name of ``device`` (GPU model or CPU core count), for logs and manifests."""
    device = torch.device(device) if device is not None else default_device()
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads)"


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA) for a reproducible script or chapter.

    Meant for the top of a chapter or a training script; the library itself never seeds globally
    and takes explicit ``generator``/``seed`` arguments instead. Returns a CPU ``torch.Generator``
    seeded with the same value, for passing on explicitly.
    """
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - seeding the global generator is this function's job
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    return torch.Generator().manual_seed(seed)
