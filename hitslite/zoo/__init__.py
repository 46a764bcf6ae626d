"""Pretrained weights: train once with our own script, commit, verify on every load.

Every entry lives in ``data/zoo/<entry>/`` as ``weights.pt`` plus ``manifest.json`` holding the
entry's full config (architecture, data recipe, training settings, seed), the data-recipe hash,
the SHA-256 of every file, train/validation losses per model, training seconds, device, and the
torch and hitslite versions. :func:`load_pretrained` refuses a missing or altered file, or a
manifest whose config differs from the code's, with a message saying how to rebuild it; the package
pins the SHA-256 of every committed manifest (what that protects against, and what not:
:mod:`hitslite.zoo.store`). :func:`selected` says what validation chose for an entry (a level
range, a variant), whatever its kind.

The package: :mod:`~hitslite.zoo.registry` (entries and names), :mod:`~hitslite.zoo.store`
(manifests, pins, verification, weight files, data signatures), :mod:`~hitslite.zoo.loading`
(loading, training, :func:`selected`), the recipes :mod:`~hitslite.zoo.hits` (HiTS level sets),
:mod:`~hitslite.zoo.lhits` (L-HiTS), :mod:`~hitslite.zoo.seqgen` (sequence generation),
:mod:`~hitslite.zoo.led` (LED on FHN and KS), :mod:`~hitslite.zoo.particles` (LED on particles) and
:mod:`~hitslite.zoo.h2h` (LED's propagator on the L-HiTS autoencoders, Chapter 14),
which register their entries when this package is imported, and :mod:`~hitslite.zoo.cli`.

Command line::

    python -m hitslite.zoo list
    python -m hitslite.zoo train harmonic_oscillator [--device cuda] [--quiet]   # resumable
    python -m hitslite.zoo verify [entry ...]      # exits non-zero unless it verified something, all ok
    python -m hitslite.zoo pin [entry ...]         # after a deliberate retraining: pin the new manifests
    python -m hitslite.zoo fetch entry ... | all   # pip-installed package: download pinned entries (fetch.py)
"""

from . import h2h, led, particles, seqgen  # noqa: F401  (importing a recipe module registers its entries)
from .cli import main
from .hits import hits_levels_entry, level_set_splits, select_entry_levels
from .lhits import LHITS_SWEEP_DIMS, LatentDimensionSweep, LatentHiTS, lhits_autoencoders, lhits_data
from .loading import load_or_train, load_pretrained, rewrite_weights, selected, train_entry
from .registry import (
    ENTRIES,
    Selection,
    ZooEntry,
    ZooError,
    check_name,
    get_entry,
    register_entry,
    retrained_dir,
    seeded,
    zoo_dir,
)
from .store import (
    ZooDataWarning,
    check_data_signature,
    entry_data,
    pin_manifests,
    pinned_entries,
    read_manifest,
    record_data_signature,
    verify,
    write_weights,
)

__all__ = ["ZooEntry", "ZooError", "ZooDataWarning", "Selection", "entry_data", "check_data_signature",
           "record_data_signature", "ENTRIES", "zoo_dir", "retrained_dir", "get_entry", "register_entry",
           "seeded", "check_name", "load_pretrained", "load_or_train", "train_entry", "rewrite_weights",
           "selected", "verify", "read_manifest", "write_weights", "pinned_entries", "pin_manifests",
           "hits_levels_entry", "level_set_splits", "select_entry_levels",
           "lhits_data", "lhits_autoencoders", "LatentHiTS", "LatentDimensionSweep", "LHITS_SWEEP_DIMS",
           "main"]
