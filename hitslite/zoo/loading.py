"""Using zoo entries: load verified weights, (re)train an entry, and read what validation chose.

:func:`load_pretrained` refuses a missing or altered file, or a manifest whose config differs from the
code's, with a message saying how to rebuild it. :func:`load_or_train` is what chapters call: the
committed weights, or with ``retrain=True`` weights trained now into :func:`retrained_dir`.
:func:`selected` is the one answer to "what did validation choose?" for every kind of entry, from the
committed zoo or from ``retrained_dir()``.
"""

from __future__ import annotations

import datetime as _dt
import os
import shutil
import sys
import time
from pathlib import Path

import torch
from torch import nn

from ..data import cache_dir, cache_key
from ..device import describe_device
from . import store
from .registry import Selection, ZooError, get_entry, retrained_dir, zoo_dir

__all__ = ["load_pretrained", "train_entry", "load_or_train", "rewrite_weights", "selected"]


def _fetch_if_missing(name: str, directory: str | os.PathLike | None) -> None:
    """A pip-installed package has no weights: download a pinned entry missing from the committed zoo
    (``HITSLITE_OFFLINE=1``: never; see :mod:`hitslite.fetch`)."""
    if store.pins_apply(directory) and not (zoo_dir() / name).exists() and name in store.read_pins():
        from ..fetch import fetch_entry

        fetch_entry(name)


def load_pretrained(name: str, *, device: torch.device | str | None = None,
                    directory: str | os.PathLike | None = None) -> nn.Module:
    """The pretrained module of entry ``name`` in eval mode, after :func:`~hitslite.zoo.verify` passed.

    ``device`` defaults to the CPU. Raises :class:`ZooError` for a missing, corrupted or
    mismatched checkpoint.
    """
    entry = get_entry(name)
    _fetch_if_missing(name, directory)
    manifest = store.verify(name, directory)
    module = entry.build(entry.config)
    folder = Path(directory or zoo_dir()) / name
    state = {}
    for fname in store.weight_files(manifest["files"]):
        try:
            state.update(torch.load(folder / fname, map_location="cpu", weights_only=True))
        except Exception as err:  # noqa: BLE001 - its hash matched: written broken, or not a weights file
            raise ZooError(f"zoo entry {name!r}: {folder / fname} is not a readable weights file "
                           f"({type(err).__name__}); retrain with `python -m hitslite.zoo train {name}`"
                           ) from err
    try:
        module.load_state_dict(state)
    except RuntimeError as err:
        raise ZooError(f"weights of {name!r} do not fit the architecture the code builds: {err}") from err
    return module.to(device or "cpu").eval()


def train_entry(name: str, *, device: torch.device | str | None = None, progress: bool = True,
                directory: str | os.PathLike | None = None) -> nn.Module:
    """Train entry ``name`` from scratch and write ``weights.pt`` + ``manifest.json`` into
    ``directory/name`` (default :func:`zoo_dir`); then make the entry's validation choice, if it has
    one to store (:attr:`ZooEntry.choose`). Resumable: checkpoints go to
    ``<cache>/zoo-work/<name>-<config hash>`` and a rerun continues from them."""
    import hitslite

    entry = get_entry(name)
    device = torch.device(device) if device is not None else torch.device("cpu")
    workdir = cache_dir() / "zoo-work" / f"{name}-{entry.config_hash}"
    workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    module, metrics = entry.train(entry.config, workdir=workdir, device=device, progress=progress)
    seconds = time.perf_counter() - t0
    folder = Path(directory or zoo_dir()) / name
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in module.state_dict().items()}
    weight_files = store.write_weights(folder, state, entry.storage_dtype)
    recipe = {"system": entry.config.get("system"), "data": entry.config.get("data")}
    signatures = {"data_signature": store.data_signatures(entry.data(entry.config))} if entry.data else {}
    manifest = {
        "entry": name,
        "description": entry.description,
        "config": entry.config,
        "config_hash": entry.config_hash,
        "data_recipe_hash": cache_key(recipe),
        "files": weight_files,
        **signatures,
        "storage_dtype": entry.storage_dtype or "as trained",
        "metrics": metrics,
        "training_seconds": round(metrics.get("seconds", seconds), 1),
        "device": describe_device(device),
        "torch_version": torch.__version__,
        "hitslite_version": hitslite.__version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    store.write_manifest(folder, manifest)
    shutil.rmtree(workdir, ignore_errors=True)
    if entry.choose is not None:
        entry.choose(name, directory=folder.parent, device=device)
    return module.eval()


def rewrite_weights(name: str, *, directory: str | os.PathLike | None = None) -> dict:
    """Store the verified weights of ``name`` again in the entry's :attr:`ZooEntry.storage_dtype`
    (after that changed), updating the manifest's files and SHA-256; nothing is retrained and the
    metrics stay as recorded. Returns the new manifest."""
    entry = get_entry(name)
    module = load_pretrained(name, directory=directory)
    folder = Path(directory or zoo_dir()) / name
    manifest = store.read_manifest(name, directory)
    state = {k: v.detach().cpu() for k, v in module.state_dict().items()}
    weights = store.weight_files(manifest["files"])
    others = {k: v for k, v in manifest["files"].items() if k not in weights}  # e.g. selection.json
    manifest["files"] = {**store.write_weights(folder, state, entry.storage_dtype), **others}
    manifest["storage_dtype"] = entry.storage_dtype or "as trained"
    store.write_manifest(folder, manifest)
    store.verify(name, directory)
    return manifest


def load_or_train(name: str, *, retrain: bool = False, device: torch.device | str | None = None,
                  progress: bool = True) -> nn.Module:
    """Pretrained weights of ``name``, or train them (``retrain=True``, or none are available).

    Retrained weights go to :func:`retrained_dir` (with their manifest, so ``selected(name,
    directory=retrained_dir())`` reads their validation choice) and the committed zoo is never
    overwritten by a chapter; ``python -m hitslite.zoo train`` is the way to update the zoo itself.
    """
    if not retrain:
        try:
            return load_pretrained(name, device=device)
        except ZooError as err:
            if (zoo_dir() / name).exists():  # present but broken or stale: never paper over that
                raise
            print(f"{err}\nTraining {name!r} now instead.", file=sys.stderr)
    module = train_entry(name, device=device, progress=progress, directory=retrained_dir())
    return module.to(device or "cpu")


def selected(name: str, *, directory: str | os.PathLike | None = None, part: str | None = None) -> Selection:
    """What validation chose for entry ``name``: a :class:`~hitslite.zoo.Selection` (the chosen level
    range or variant, the validation scores it was chosen from, and on which data).

    Read from the entry's verified manifest (and, for a HiTS level set, its ``selection.json``) in
    ``directory``: the committed zoo by default, :func:`retrained_dir` for weights that
    :func:`load_or_train` retrained. ``part`` picks one model of an entry that holds several, each
    with its own choice (``lhits_dim_sweep_*``: ``"z1"``, ``"z4"`` ...). :class:`ZooError` for an
    entry that chooses nothing on validation data (the sequence-generation entries).
    """
    entry = get_entry(name)
    if entry.read_selection is None:
        raise ZooError(f"zoo entry {name!r} records no choice made on validation data")
    _fetch_if_missing(name, directory)
    manifest = store.verify(name, directory)
    found = entry.read_selection(name, manifest, Path(directory or zoo_dir()) / name)
    if isinstance(found, Selection):
        if part is not None:
            raise ZooError(f"zoo entry {name!r} holds one choice; part={part!r} names none")
        return found
    if part not in found:
        raise ZooError(f"zoo entry {name!r} holds one choice per part: pass part= one of {sorted(found)}, "
                       f"got {part!r}")
    return found[part]
