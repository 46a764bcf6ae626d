"""Files that survive a kill: atomic writes, pickle-free checkpoints, run fingerprints.

* :func:`atomic_write` — a file appears whole or not at all (temporary file in the same folder,
  ``fsync``, ``os.replace``), so an interrupted run never leaves a torn file behind.
* :func:`save_checkpoint` / :func:`load_checkpoint` — tensors plus JSON metadata, written with
  ``torch.save`` but made only of tensors, str, int, float, bool, None, lists, tuples and dicts,
  and always read back with ``torch.load(..., weights_only=True)``: loading a checkpoint never
  runs code from the file. Each checkpoint can carry a *fingerprint* of the run that wrote it (its
  data and hyperparameters); resuming with a different fingerprint is refused.
* :func:`fingerprint` — a SHA-256 of hyperparameters and tensor contents.
* :func:`resume_or_fit` — the "finished in an earlier, interrupted run?" step every training recipe
  shares: load a module's weights from its ``.done.pt`` file, or train it and write that file.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch

__all__ = ["CheckpointError", "atomic_write", "file_sha256", "save_checkpoint", "load_checkpoint",
           "fingerprint", "resume_or_fit"]

#: marks a file written by :func:`save_checkpoint` (anything else is refused, e.g. an older pickled format)
CHECKPOINT_FORMAT = "hitslite-checkpoint"
CHECKPOINT_VERSION = 1
#: tensors with more elements than this are fingerprinted by a summary rather than by all their bytes
FINGERPRINT_FULL_ELEMENTS = 2**24
_SUMMARY_SAMPLE = 2**16


class CheckpointError(ValueError):
    """A checkpoint file is unreadable, not a hitslite checkpoint, or belongs to a different run."""


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 (hex) of a file's bytes, read in 1 MiB blocks (zoo weights, canonical anchors)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> None:
    """Create or replace ``path`` so that it holds either its old content or all of the new one.

    ``write(f)`` receives a binary file object open on a temporary file in the same folder (its name
    is unique per process and call: pid plus random digits, so two processes never share one). The
    file is flushed and ``fsync``-ed, moved onto ``path`` with ``os.replace`` (atomic on POSIX and
    Windows), and the folder is ``fsync``-ed where the platform allows, so the rename itself
    survives a power cut. On any exception, ``KeyboardInterrupt`` included, the temporary file is
    removed and the exception re-raised; ``path`` is then untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp")
    try:
        with open(tmp, "xb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    """Best effort: folders cannot be opened for fsync on every platform (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ----------------------------------------------------------------------------------------
# Fingerprints
# ----------------------------------------------------------------------------------------
def _tensor_digest(t: torch.Tensor) -> dict:
    """Content hash of a tensor: exact bytes (floating values as float32) up to
    :data:`FINGERPRINT_FULL_ELEMENTS` elements, else a summary."""
    t = t.detach()
    if t.is_floating_point() or t.is_complex():
        t = t.to("cpu", torch.complex64 if t.is_complex() else torch.float32)
    else:
        t = t.cpu()
    head = {"shape": list(t.shape), "dtype": str(t.dtype).removeprefix("torch.")}
    flat = t.reshape(-1)
    if flat.numel() <= FINGERPRINT_FULL_ELEMENTS:
        return {**head, "sha256": hashlib.sha256(flat.contiguous().numpy().tobytes()).hexdigest()}
    # Very large data (hundreds of MB): its moments, rounded to 6 significant digits so that a summation
    # order that differs in the last bits does not matter, plus the exact bytes of an evenly spaced sample
    values = flat.double() if not flat.is_complex() else flat.abs().double()
    moments = [float(values.mean()), float(values.std()), float(values.min()), float(values.max()),
               float(values.abs().mean())]
    sample = flat[:: max(1, flat.numel() // _SUMMARY_SAMPLE)].contiguous().numpy().tobytes()
    return {**head, "moments": [float(f"{m:.6g}") if math.isfinite(m) else str(m) for m in moments],
            "sample_sha256": hashlib.sha256(sample).hexdigest()}


def _canonical(obj: Any, where: str) -> Any:
    """``obj`` as plain JSON values (tensors replaced by their digest); TypeError for anything else."""
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else str(obj)
    if isinstance(obj, torch.Tensor):
        return {"tensor": _tensor_digest(obj)}
    if isinstance(obj, np.ndarray):
        return {"tensor": _tensor_digest(torch.from_numpy(np.ascontiguousarray(obj)))}
    if isinstance(obj, torch.Generator):
        return {"generator_state": _tensor_digest(obj.get_state())["sha256"]}
    if isinstance(obj, (torch.dtype, torch.device, Path)):
        return str(obj)
    if isinstance(obj, Mapping):
        items = sorted(obj.items(), key=lambda kv: str(kv[0]))
        return {str(k): _canonical(v, f"{where}[{k!r}]") for k, v in items}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    raise TypeError(f"fingerprint: {where} is a {type(obj).__name__}; expected hyperparameters (str, int, "
                    "float, bool, None, lists, dicts) or tensors")


def fingerprint(obj: Any) -> str:
    """SHA-256 (hex) identifying ``obj``: hyperparameters and the data a run trains on.

    ``obj`` is made of str, int, float, bool, None, lists, tuples and dicts (compared as canonical
    JSON: dict order does not matter), torch tensors or numpy arrays (compared by content), and
    ``torch.Generator`` s (by their state). Tensors are hashed **exactly**: the bytes of the tensor
    on the CPU, floating values cast to float32 (so float64 data and its float32 copy, which
    :func:`~hitslite.train.fit` trains on alike, agree). Above :data:`FINGERPRINT_FULL_ELEMENTS`
    elements (64 MB of float32) hashing every byte is replaced by a summary: shape, dtype, mean,
    standard deviation, min, max and mean absolute value rounded to 6 significant digits, and the
    exact bytes of an evenly spaced sample of about 65 000 elements. Anything else (functions,
    arbitrary objects) is a ``TypeError``: their ``repr`` is not stable from one process to the next.
    """
    blob = json.dumps(_canonical(obj, "obj"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


_fingerprint = fingerprint  # for the functions below, whose ``fingerprint`` argument shadows it


# ----------------------------------------------------------------------------------------
# Checkpoints
# ----------------------------------------------------------------------------------------
_ALLOWED_LEAVES = (str, int, float, bool, type(None), torch.Tensor)


def _check_structure(obj: Any, where: str) -> None:
    """Raise TypeError unless ``obj`` is tensors, str, int, float, bool, None, lists, tuples, dicts."""
    if isinstance(obj, _ALLOWED_LEAVES):
        return
    if isinstance(obj, dict):
        for k, v in obj.items():
            if not isinstance(k, (str, int)):
                raise TypeError(f"save_checkpoint: tensors{where} has a key of type {type(k).__name__}; "
                                "expected str or int keys")
            _check_structure(v, f"{where}[{k!r}]")
        return
    if isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            _check_structure(v, f"{where}[{i}]")
        return
    raise TypeError(f"save_checkpoint: tensors{where} is a {type(obj).__name__}; expected tensors, str, int, "
                    "float, bool, None, lists, tuples or dicts (what torch.load(weights_only=True) reads)")


def _normalise_fingerprint(fp: str | Mapping[str, str] | None, name: str) -> str | dict | None:
    if fp is None or isinstance(fp, str):
        return fp
    if isinstance(fp, Mapping) and all(isinstance(k, str) and isinstance(v, str) for k, v in fp.items()):
        return dict(fp)
    raise TypeError(f"{name} must be a str, a dict of str -> str (named parts) or None, got {fp!r}")


def save_checkpoint(path: str | os.PathLike, tensors: dict[str, Any], meta: dict[str, Any] | None = None, *,
                    fingerprint: str | Mapping[str, str] | None = None) -> None:
    """Write a checkpoint to ``path`` atomically (:func:`atomic_write`).

    ``tensors`` holds the state: tensors, or nested dicts / lists of them, and the plain values an
    optimizer's ``state_dict()`` contains (str, int, float, bool, None, tuples) — nothing that
    ``torch.load(..., weights_only=True)`` would refuse; a ``TypeError`` names the offending entry.
    ``meta`` is JSON-able metadata (metrics, loss histories, epoch counters), stored as JSON text.
    ``fingerprint`` identifies the run (a :func:`fingerprint` string, or a dict of named ones so a
    mismatch can say what differs); :func:`load_checkpoint` compares it.
    """
    _check_structure(tensors, "")
    fp = _normalise_fingerprint(fingerprint, "fingerprint")
    try:
        meta_text = json.dumps(meta or {}, sort_keys=True)
    except (TypeError, ValueError) as err:
        raise TypeError(f"save_checkpoint: meta must be JSON-able (metrics, counters, lists of floats): "
                        f"{err}") from err
    payload = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "tensors": tensors,
               "meta": meta_text, "fingerprint": fp}
    atomic_write(path, lambda f: torch.save(payload, f))


def _fingerprint_difference(stored, wanted) -> str:
    if isinstance(stored, dict) and isinstance(wanted, dict):
        keys = sorted(k for k in set(stored) | set(wanted) if stored.get(k) != wanted.get(k))
        return f"differs in {keys}"
    return f"fingerprint {str(stored)[:12]}... vs {str(wanted)[:12]}..."


def load_checkpoint(path: str | os.PathLike, *, fingerprint: str | Mapping[str, str] | None = None,
                    map_location: str | torch.device | None = "cpu") -> tuple[dict[str, Any], dict[str, Any]]:
    """Read a checkpoint written by :func:`save_checkpoint`: returns ``(tensors, meta)``.

    Always ``torch.load(..., weights_only=True)``: no code from the file runs. Raises
    :class:`CheckpointError` (a ``ValueError``) naming ``path`` when the file is torn, corrupt or not
    a hitslite checkpoint, and — when ``fingerprint`` is given and differs from the stored one —
    saying that the checkpoint belongs to a different run; in both cases deleting the file starts
    the run afresh. Tensors land on ``map_location``.
    """
    path = Path(path)
    wanted = _normalise_fingerprint(fingerprint, "fingerprint")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:  # noqa: BLE001 - zip, pickle and EOF errors of a torn or foreign file
        raise CheckpointError(f"checkpoint {path} is unreadable (torn by an interrupted write, corrupt, or "
                              f"written by an older version: {type(err).__name__}: {str(err)[:200]}); "
                              "delete it to start this step afresh") from err
    if not (isinstance(payload, dict) and payload.get("format") == CHECKPOINT_FORMAT
            and isinstance(payload.get("tensors"), dict) and isinstance(payload.get("meta"), str)):
        raise CheckpointError(f"{path} is not a hitslite checkpoint (perhaps written by an older version); "
                              "delete it to start this step afresh")
    if payload.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"checkpoint {path} has format version {payload.get('version')!r}, this "
                              f"hitslite reads version {CHECKPOINT_VERSION}; delete it to start this step "
                              "afresh")
    try:
        meta = json.loads(payload["meta"])
    except json.JSONDecodeError as err:
        raise CheckpointError(f"checkpoint {path} has corrupt metadata ({err}); delete it to start "
                              "afresh") from err
    stored = payload.get("fingerprint")
    if wanted is not None and stored != wanted:
        raise CheckpointError(
            f"checkpoint {path} belongs to a different run ({_fingerprint_difference(stored, wanted)}: the "
            "data or hyperparameters changed since it was written); delete it to start afresh")
    return payload["tensors"], meta


def resume_or_fit(done: str | os.PathLike, module: torch.nn.Module, fit_fn: Callable[[], dict], *,
                  fingerprint: Mapping[str, str] | str | None = None) -> dict:
    """Train ``module`` once: the weights of a run that already finished, or ``fit_fn()``'s.

    If ``done`` (a ``.done.pt`` file) exists, ``module`` gets the weights stored there and the
    metrics stored with them are returned; otherwise ``fit_fn()`` trains ``module`` in place and
    returns JSON-able metrics, and weights and metrics are saved to ``done`` atomically. The file
    records ``fingerprint`` (what the run depends on: data, config) together with a fingerprint of
    ``module``'s initial weights, taken now; a ``done`` file of a different run is refused with a
    :class:`CheckpointError` saying to delete it.
    """
    done = Path(done)
    fp = {"run": fingerprint} if isinstance(fingerprint, str) else dict(fingerprint or {})
    fp["initial_module"] = _fingerprint(module.state_dict())
    if done.exists():  # finished in an earlier, interrupted run
        tensors, meta = load_checkpoint(done, fingerprint=fp)
        if not isinstance(tensors.get("model"), dict) or "metrics" not in meta:
            raise CheckpointError(f"{done} holds no finished module (model weights and metrics); "
                                  "delete it to start this step afresh")
        module.load_state_dict(tensors["model"])
        return meta["metrics"]
    metrics = fit_fn()
    state = {k: v.detach().cpu() for k, v in module.state_dict().items()}
    save_checkpoint(done, {"model": state}, {"metrics": metrics}, fingerprint=fp)
    return metrics
