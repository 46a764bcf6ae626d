"""Where a result came from, and strict JSON: the record every benchmark writes.

:func:`provenance` says where and with what a benchmark ran (git commit and whether the tree was dirty,
UTC date, CPU model, torch threads, devices, versions); :func:`write_record` writes a record as strict
JSON (a non-finite number, such as the error of a diverged forecast, becomes ``null`` and is listed
under ``notes``), atomically, with that provenance block. :data:`RESULTS` is where
``python -m hitslite.bench`` writes by default.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import subprocess
from pathlib import Path

import numpy as np
import torch

from ..cache import repo_root
from ..device import describe_device
from ..io import atomic_write

__all__ = ["RESULTS", "provenance", "write_record"]

#: Where ``python -m hitslite.bench <what>`` writes ``<what>.json`` by default (relative to the working
#: directory: the checkout's root, where the committed results live).
RESULTS = Path("benchmarks") / "results"


def _git(*args: str) -> str | None:
    """Output of a read-only git command in the checkout holding this package; None outside one."""
    root = repo_root()
    if root is None or not (root / ".git").exists():
        return None
    try:  # --no-optional-locks: never refresh (write) the index, even from `status`
        done = subprocess.run(["git", "--no-optional-locks", *args], cwd=root, capture_output=True, text=True,
                              timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def _cpu_model() -> str | None:
    """The CPU's model name from ``/proc/cpuinfo``, else :func:`platform.processor` (None if empty)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def provenance(devices=None) -> dict:
    """Where and with what a benchmark ran, for its JSON record.

    ``commit``: ``git rev-parse HEAD`` of the checkout (None for an installed package); ``dirty``:
    whether tracked or untracked files differed from that commit (None outside a checkout); ``date_utc``;
    ``cpu`` (the model name from ``/proc/cpuinfo``, else :func:`platform.processor`); ``cpu_count``;
    ``torch_threads``; ``devices`` (each as :func:`~hitslite.device.describe_device` names it); ``platform``;
    ``versions`` of python, torch, numpy, scipy and hitslite.
    """
    import scipy

    import hitslite

    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain") if commit is not None else None
    if devices is None:
        devices = ["cpu"]
    elif isinstance(devices, (str, torch.device)):
        devices = [devices]
    return {
        "commit": commit.strip() if commit else None,
        "dirty": bool(status.strip()) if status is not None else None,
        "date_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "devices": [describe_device(d) for d in devices],
        "platform": platform.platform(),
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
                     "scipy": scipy.__version__, "hitslite": hitslite.__version__},
    }


def _finite(obj, path: str, converted: dict):
    """``obj`` as plain JSON values: tensors and numpy values become numbers and lists, and every
    non-finite float becomes None, its path and value recorded in ``converted``."""
    if isinstance(obj, torch.Tensor):
        obj = obj.detach().cpu().tolist()
    elif isinstance(obj, np.ndarray):
        obj = obj.tolist()
    elif isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        if math.isfinite(obj):
            return obj
        converted[path] = repr(obj)  # 'inf', '-inf' or 'nan'
        return None
    if isinstance(obj, dict):
        return {k: _finite(v, f"{path}.{k}" if path else str(k), converted) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v, f"{path}[{i}]", converted) for i, v in enumerate(obj)]
    return obj


def write_record(record: dict, path: str | os.PathLike, *, devices=None) -> dict:
    """Write a benchmark ``record`` to ``path`` as strict JSON (``allow_nan=False``), atomically.

    A ``provenance`` block (:func:`provenance` for ``devices``) is added unless the record has one.
    Non-finite numbers (a diverged forecast's error is ``inf``) become ``null``; a top-level ``notes``
    entry lists each one's path and value. Returns what was written.
    """
    record = {**record}
    record.setdefault("provenance", provenance(devices))
    converted: dict[str, str] = {}
    clean = _finite(record, "", converted)
    if converted:
        notes = clean.setdefault("notes", {})
        if not isinstance(notes, dict):
            clean["notes"] = notes = {"text": notes}
        notes["non_finite_as_null"] = {
            "about": "these values were not finite numbers (a diverged forecast's error is inf); strict JSON "
                     "has no inf or nan, so they are written as null",
            "values": converted}
    text = json.dumps(clean, indent=1, allow_nan=False) + "\n"
    atomic_write(path, lambda f: f.write(text.encode()))
    return clean
