"""Device, dtype and seeding policy.

Library code never chooses a device: tensors carry theirs and every module follows its input.
Only :func:`default_device` (for chapters and scripts) and ``fit(device=...)`` pick one.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from .validate import nonnegative_int

__all__ = ["default_device", "seed_everything", "DEFAULT_DTYPE", "describe_device"]

#: Neural steppers train in float32 (speed); ground truth and classical steppers are tested in
#: float64, where round-off sits far below the errors we study.
DEFAULT_DTYPE = torch.float32


def default_device() -> torch.device:
    """The device chapters and scripts should use: CUDA when available, else CPU.

    Set ``HITSLITE_DEVICE=cpu`` (or ``cuda``, ``cuda:1`` ...) to override. An override is a request,
    not a hint: a device that this machine does not have is an error, not a silent fallback to the
    CPU (which would make a "GPU" run quietly take hours, or time the wrong device). Raises

    * ``ValueError`` if ``HITSLITE_DEVICE`` is not a device name torch understands (``"gpu"``);
    * ``RuntimeError`` if it names a device that is not available here (``cuda`` without a CUDA
      build or GPU, ``cuda:1`` on a one-GPU machine, ``mps`` off Apple silicon). Unset the variable
      (or set ``HITSLITE_DEVICE=cpu``) to run on the CPU.
    """
    requested = os.environ.get("HITSLITE_DEVICE", "").strip()
    if requested:
        return _requested_device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _requested_device(requested: str) -> torch.device:
    try:
        device = torch.device(requested)
    except (RuntimeError, ValueError, TypeError) as err:
        raise ValueError(f"HITSLITE_DEVICE must name a torch device such as 'cpu', 'cuda' or 'cuda:1', "
                         f"got {requested!r} ({err})") from None
    unset = "unset HITSLITE_DEVICE (or set HITSLITE_DEVICE=cpu) to run on the CPU"
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(f"HITSLITE_DEVICE={requested!r} asks for CUDA, but CUDA is not available on "
                               f"this machine (torch {torch.__version__}, CUDA build: {torch.version.cuda}); "
                               f"{unset}")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise RuntimeError(f"HITSLITE_DEVICE={requested!r} asks for GPU {device.index}, but this machine "
                               f"has {count} (indices 0..{count - 1}); {unset}")
    elif device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise RuntimeError(f"HITSLITE_DEVICE={requested!r} asks for MPS, which is not available here; "
                               f"{unset}")
    elif device.type != "cpu":
        raise ValueError(f"HITSLITE_DEVICE must be 'cpu', 'cuda', 'cuda:<index>' or 'mps', got {requested!r}")
    return device


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
    seed = nonnegative_int("seed", seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - seeding the global generator is this function's job
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    return torch.Generator().manual_seed(seed)
