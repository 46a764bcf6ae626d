"""How zoo entries are kept on disk: manifests, pins, verification, weight files, data signatures.

Every entry lives in ``<zoo>/<entry>/`` as ``weights.pt`` (or shards ``weights-00.pt`` ...) plus
``manifest.json`` holding the entry's full config, the data-recipe hash, the SHA-256 of every file,
the training metrics, training seconds, device, and the torch and hitslite versions.

What the hashes protect against, and what not. Every file of an entry is listed in its manifest
with its SHA-256, and the package pins the SHA-256 of every committed manifest in
``hitslite/zoo_pins.json`` (package data, :data:`PINS_FILE`). Together they catch accidental
corruption (a bad disk, a botched merge, a Git LFS pointer in place of the weights), torn or partial
downloads, a weights file edited or replaced without its manifest, and a manifest edited (or
regenerated for other weights) without the package. They do not protect against someone who edits
the package too: the pins live in the same repository as the weights, so whoever can rewrite both
can make them agree. The weights are read with ``torch.load(..., weights_only=True)``, which builds
only tensors and plain containers: a tampered file brings wrong numbers, not code.

Pins apply to the committed zoo, :func:`~hitslite.zoo.zoo_dir`; entries in any other directory
(``retrained_dir()``, a temporary folder) have no pin and are verified by their manifest only.
Writing a manifest into the committed zoo (:func:`write_manifest`) updates its pin;
:func:`pin_manifests` rewrites the pins from the current manifests after verifying them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from pathlib import Path
from typing import Any

import torch

from ..io import atomic_write, file_sha256
from .registry import ENTRIES, ZooError, check_name, get_entry, zoo_dir

__all__ = ["WEIGHTS_FILE", "SHARD_BYTES", "MANIFEST_FILE", "SELECTION_FILE", "PINS_FILE", "ZooDataWarning",
           "validate_manifest", "read_manifest", "read_manifest_and_digest", "read_pins", "pins_apply",
           "pinned_entries", "verify", "weight_files", "write_manifest", "pin_manifests", "write_weights",
           "data_signatures", "check_data_signature", "entry_data", "record_data_signature"]

WEIGHTS_FILE = "weights.pt"
#: weights larger than this are split into ``weights-00.pt``, ``weights-01.pt`` ... (repository files stay
#: small)
SHARD_BYTES = 4 * 2**20
MANIFEST_FILE = "manifest.json"
#: a HiTS level set's validation choice, beside its weights (:func:`hitslite.zoo.select_entry_levels`)
SELECTION_FILE = "selection.json"
#: the SHA-256 of every committed manifest, shipped with the package (see the module docstring)
PINS_FILE = Path(__file__).parent.parent / "zoo_pins.json"
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
#: keys every manifest has, and their JSON types
_MANIFEST_KEYS: dict[str, type | tuple[type, ...]] = {
    "entry": str, "description": str, "config": dict, "config_hash": str, "data_recipe_hash": str,
    "files": dict, "metrics": dict, "training_seconds": (int, float), "device": str, "torch_version": str,
    "hitslite_version": str, "created": str,
}
_OPTIONAL_MANIFEST_KEYS: dict[str, type | tuple[type, ...]] = {"storage_dtype": str}


# ---- manifests ----------------------------------------------------------------------------------------
def validate_manifest(name: str, manifest: Any, path: Path | str) -> dict:
    """``manifest`` if it has the structure :func:`~hitslite.zoo.train_entry` writes (required keys and
    types, file names confined to the entry's folder, 64-hex SHA-256 digests); :class:`ZooError` naming
    the entry and the key otherwise. ``path`` (a file or URL) is named in the message."""
    restore = f"restore it from git or retrain with `python -m hitslite.zoo train {name}`"
    if not isinstance(manifest, dict):
        raise ZooError(f"manifest of zoo entry {name!r} ({path}) must be a JSON object, got "
                       f"{type(manifest).__name__}; {restore}")
    for key, kind in {**_MANIFEST_KEYS, **_OPTIONAL_MANIFEST_KEYS}.items():
        if key not in manifest:
            if key in _MANIFEST_KEYS:
                raise ZooError(f"manifest of zoo entry {name!r} ({path}) lacks the key {key!r}; {restore}")
            continue
        value = manifest[key]
        if isinstance(value, bool) or not isinstance(value, kind):
            want = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
            raise ZooError(f"manifest of zoo entry {name!r} ({path}): key {key!r} must be a {want}, got "
                           f"{type(value).__name__}; {restore}")
    if manifest["entry"] != name:
        raise ZooError(f"manifest of zoo entry {name!r} ({path}): key 'entry' says {manifest['entry']!r}; "
                       f"a manifest belongs in the folder of its own entry; {restore}")
    if not manifest["files"]:
        raise ZooError(f"manifest of zoo entry {name!r} ({path}): key 'files' is empty; {restore}")
    for fname, digest in manifest["files"].items():
        try:
            check_name(fname, f"every key of 'files' in the manifest of zoo entry {name!r} ({path})")
        except ZooError as err:  # a name that would reach outside the entry's folder
            raise ZooError(f"{err}; {restore}") from None
        if fname == MANIFEST_FILE:
            raise ZooError(f"manifest of zoo entry {name!r} ({path}): 'files' lists the manifest itself; "
                           f"{restore}")
        if not isinstance(digest, str) or not _SHA256_HEX.fullmatch(digest):
            raise ZooError(f"manifest of zoo entry {name!r} ({path}): files[{fname!r}] must be a SHA-256 "
                           f"(64 lowercase hex digits), got {digest!r}; {restore}")
    return manifest


def read_manifest_and_digest(name: str, directory: str | os.PathLike | None = None) -> tuple[dict, str]:
    """The validated manifest of ``name`` and the SHA-256 of its bytes (one read, so both agree)."""
    check_name(name, "a zoo entry name")
    path = Path(directory or zoo_dir()) / name / MANIFEST_FILE
    if not path.exists():
        raise ZooError(f"no pretrained weights for {name!r}: {path} does not exist. "
                       f"Train them with `python -m hitslite.zoo train {name}`.")
    blob = path.read_bytes()
    try:
        manifest = json.loads(blob)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ZooError(f"{path} is not valid JSON ({err}); restore it from git or retrain {name!r}") from err
    return validate_manifest(name, manifest, path), hashlib.sha256(blob).hexdigest()


def read_manifest(name: str, directory: str | os.PathLike | None = None) -> dict:
    """The parsed ``manifest.json`` of entry ``name``: ``ZooError`` if absent, unreadable, or not
    structured as :func:`~hitslite.zoo.train_entry` writes it (see :func:`validate_manifest`). Does
    not check the files or the pin: see :func:`verify`."""
    return read_manifest_and_digest(name, directory)[0]


def write_manifest(folder: Path, manifest: dict) -> None:
    """Write ``folder/manifest.json``; in the committed zoo, pin it too (see the module docstring)."""
    text = json.dumps(manifest, indent=2) + "\n"
    atomic_write(folder / MANIFEST_FILE, lambda f: f.write(text.encode()))
    if pins_apply(folder.parent):
        _write_pins({**read_pins(), folder.name: hashlib.sha256(text.encode()).hexdigest()})


# ---- pins: the SHA-256 of each committed manifest, kept in the package --------------------------------
def read_pins() -> dict[str, str]:
    """``{entry: SHA-256 of its committed manifest}`` from :data:`PINS_FILE` (empty if there is none)."""
    if not PINS_FILE.exists():
        return {}
    try:
        pins = json.loads(PINS_FILE.read_text())["manifest_sha256"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ZooError(f"{PINS_FILE} is corrupt ({err!r}); restore it from git") from err
    if not isinstance(pins, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and _SHA256_HEX.fullmatch(v) for k, v in pins.items()):
        raise ZooError(f"{PINS_FILE}: 'manifest_sha256' must map entry names to SHA-256 digests; "
                       "restore it from git")
    return pins


def _write_pins(pins: dict[str, str]) -> None:
    doc = {"about": "SHA-256 of every committed data/zoo/<entry>/manifest.json (see hitslite/zoo/store.py); "
                    "rewrite with `python -m hitslite.zoo pin`",
           "manifest_sha256": dict(sorted(pins.items()))}
    text = json.dumps(doc, indent=2) + "\n"
    atomic_write(PINS_FILE, lambda f: f.write(text.encode()))


def pins_apply(directory: str | os.PathLike | None) -> bool:
    """Whether ``directory`` is the committed zoo (:func:`~hitslite.zoo.zoo_dir`), where the pins apply."""
    return directory is None or Path(directory).resolve() == zoo_dir().resolve()


def pinned_entries() -> list[str]:
    """The entries whose manifests the package pins: the committed zoo."""
    return sorted(read_pins())


def pin_manifests(names: list[str] | None = None) -> dict[str, str]:
    """Pin the manifests of the committed zoo (:func:`~hitslite.zoo.zoo_dir`) in :data:`PINS_FILE`.

    ``names`` (default: every registered entry with a folder there) are verified first without
    their old pins — config and every file's SHA-256 — and nothing is written unless all pass.
    Without ``names`` the pins are rewritten from scratch (entries no longer present lose theirs);
    with ``names`` only those pins change. Returns the new ``{entry: manifest SHA-256}``.
    """
    everything = names is None
    if names is None:
        names = sorted(n for n in ENTRIES if (zoo_dir() / n / MANIFEST_FILE).exists())
    if not names:
        raise ZooError(f"nothing to pin: no registered entry has a manifest in {zoo_dir()}")
    new = {}
    for name in names:
        _verify(name, None, check_pin=False)
        new[name] = read_manifest_and_digest(name)[1]
    _write_pins(new if everything else {**read_pins(), **new})
    return new


# ---- verification ---------------------------------------------------------------------------------------
def verify(name: str, directory: str | os.PathLike | None = None) -> dict:
    """Check entry ``name``: a well-formed manifest, equal to its pin (committed zoo only), config
    equal to the code's, every listed file present with its SHA-256.

    Returns the manifest; raises :class:`ZooError` naming the problem otherwise.
    """
    return _verify(name, directory, check_pin=True)


def _verify(name: str, directory: str | os.PathLike | None, *, check_pin: bool) -> dict:
    entry = get_entry(name)
    folder = Path(directory or zoo_dir()) / name
    manifest, manifest_sha = read_manifest_and_digest(name, directory)
    if check_pin and pins_apply(directory):
        pin = read_pins().get(name)
        if pin is not None and pin != manifest_sha:
            raise ZooError(f"zoo entry {name!r}: {folder / MANIFEST_FILE} does not match the SHA-256 pinned "
                           f"in {PINS_FILE.name} (the manifest was changed without the package); restore it "
                           "from git, or after a deliberate retraining run "
                           f"`python -m hitslite.zoo pin {name}`")
    if manifest["config"] != entry.config:
        theirs, ours = manifest["config"], entry.config
        keys = sorted(k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
        raise ZooError(f"zoo entry {name!r} was trained with a different config than the code defines "
                       f"(differs in {keys}); retrain with `python -m hitslite.zoo train {name}`")
    files = manifest["files"]
    if not weight_files(files):
        raise ZooError(f"manifest of {name!r} lists no weights file")
    for fname, digest in files.items():
        path = folder / fname
        if not path.exists():
            raise ZooError(f"zoo entry {name!r} is missing {path}; restore it from git or retrain")
        if file_sha256(path) != digest:
            raise ZooError(f"zoo entry {name!r}: {path} does not match its manifest's SHA-256 "
                           "(corrupted or modified); restore it from git or retrain")
    return manifest


# ---- weight files ---------------------------------------------------------------------------------------
def weight_files(files: dict) -> list[str]:
    """The weights files among a manifest's ``files``, in shard order."""
    return sorted(f for f in files if f == WEIGHTS_FILE or (f.startswith("weights-") and f.endswith(".pt")))


def write_weights(folder: Path, state: dict[str, torch.Tensor], dtype: str | None = None) -> dict[str, str]:
    """Write ``state`` into ``folder`` as ``weights.pt``, or as shards of at most :data:`SHARD_BYTES`
    (whole tensors, in state-dict order) when larger; atomic per file. With ``dtype`` (e.g.
    ``"float16"``) floating-point tensors are stored in that dtype. Returns ``{file: sha256}``."""
    if dtype is not None:
        target = getattr(torch, dtype, None)
        if not isinstance(target, torch.dtype) or not target.is_floating_point:
            raise ValueError(f"dtype must name a floating torch dtype such as 'float16', got {dtype!r}")
        state = {k: v.to(target) if v.is_floating_point() else v for k, v in state.items()}
    shards, current, size = [], {}, 0
    for key, tensor in state.items():
        nbytes = tensor.numel() * tensor.element_size()
        if current and size + nbytes > SHARD_BYTES:
            shards.append(current)
            current, size = {}, 0
        current[key] = tensor
        size += nbytes
    shards.append(current)
    names = [WEIGHTS_FILE] if len(shards) == 1 else [f"weights-{i:02d}.pt" for i in range(len(shards))]
    for old in folder.glob("weights*.pt"):  # a previous layout must not linger beside the new one
        if old.name not in names:
            old.unlink()
    for fname, shard in zip(names, shards):
        atomic_write(folder / fname, lambda f, shard=shard: torch.save(shard, f))
    return {fname: file_sha256(folder / fname) for fname in names}


# ---- data signatures: are the data made here the ones an entry was trained on? ------------------------
class ZooDataWarning(UserWarning):
    """The data made on this machine for a zoo entry differ from the data its manifest records."""


def data_signatures(splits: dict) -> dict:
    """``{split: data_signature}`` of the train, val and test splits among ``splits`` (what manifests
    record)."""
    from ..canonical import data_signature

    return {split: data_signature(traj.x) for split, traj in splits.items()
            if split in ("train", "val", "test")}


def check_data_signature(name: str, splits: dict, *, directory: str | os.PathLike | None = None) -> list[str]:
    """Compare ``splits`` (``{split: Trajectory}``) with the data signatures in entry ``name``'s manifest;
    warn (:class:`ZooDataWarning`) for every split that differs and return those messages. Splits the
    manifest records no signature for are not judged."""
    from ..canonical import data_signature, signature_mismatch

    try:
        recorded = read_manifest(name, directory).get("data_signature", {})
    except ZooError:
        return []
    problems = []
    for split, traj in splits.items():
        if split in recorded:
            why = signature_mismatch(recorded[split], data_signature(traj.x))
            if why is not None:
                problems.append(f"zoo entry {name!r}: the {split} data made here differ from those it was "
                                f"trained and validated on ({why}); its recorded metrics do not apply to "
                                "them")
    for message in problems:
        warnings.warn(message, ZooDataWarning, stacklevel=3)
    return problems


def entry_data(name: str, *, directory: str | os.PathLike | None = None, check: bool = True) -> dict:
    """The data zoo entry ``name`` trains and validates on (``{split: Trajectory}``), checked against
    the signatures its manifest records (see :func:`check_data_signature`)."""
    entry = get_entry(name)
    if entry.data is None:
        raise ZooError(f"zoo entry {name!r} does not declare its data")
    splits = entry.data(entry.config)
    if check:
        check_data_signature(name, splits, directory=directory)
    return splits


def record_data_signature(name: str, *, note: str | None = None) -> dict:
    """Maintainer tool: write the signature of the data entry ``name`` is built on *on this machine* into
    its committed manifest (and re-pin it). Only for data that are the ones the entry was trained on
    (deterministic recipes, or the canonical anchors of chaotic ones); ``note`` says how they relate."""
    manifest = verify(name)
    manifest["data_signature"] = data_signatures(entry_data(name, check=False))
    if note:
        manifest["data_signature_note"] = note
    write_manifest(zoo_dir() / name, manifest)
    return manifest
