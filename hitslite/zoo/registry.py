"""The zoo's registry: what an entry is, where entries live, and the names they go by.

An entry (:class:`ZooEntry`) is a config plus the functions that build, train and judge its module;
the recipe modules (:mod:`~hitslite.zoo.hits`, :mod:`~hitslite.zoo.lhits`, :mod:`~hitslite.zoo.seqgen`,
:mod:`~hitslite.zoo.led`, :mod:`~hitslite.zoo.particles`) register theirs into :data:`ENTRIES` when
they are imported. :class:`Selection` is the one record of what validation chose for an entry
(see :func:`hitslite.zoo.selected`). Nothing here reads or writes weights.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..data import cache_dir, cache_key, repo_root

__all__ = ["ZooError", "ZooEntry", "Selection", "ENTRIES", "register_entry", "get_entry", "seeded",
           "check_name", "zoo_dir", "retrained_dir"]

#: what a file or entry name may look like: no separators, no ``..``, nothing hidden
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


class ZooError(ValueError):
    """A zoo entry is missing, corrupted, or does not match the code that wants to load it."""


@dataclass(frozen=True)
class Selection:
    """What validation chose for a zoo entry, as :func:`hitslite.zoo.selected` reads it.

    ``kind`` names the recipe family: ``"hits-levels"`` (a HiTS level set), ``"lhits"`` (L-HiTS or
    full-state HiTS on the L-HiTS data; one latent size of a sweep), ``"led"`` (an LED family of
    variants) or ``"particles"`` (a particle LED's propagators). ``choice`` is what was chosen: a
    coupled level range ``(lower, upper)`` (indices into the entry's levels, inclusive) or a variant
    name. ``metric`` says what ``scores`` hold, ``scores`` maps every candidate that was scored to
    its score (lower is better; the choice has the least), and ``source`` says on which data: always
    the validation split (with its size where the entry records it).
    """

    entry: str
    kind: str
    choice: tuple[int, int] | str
    metric: str
    scores: Mapping[Any, float]
    source: str

    @property
    def score(self) -> float:
        """The score of :attr:`choice`."""
        return self.scores[self.choice]

    @classmethod
    def of_level_search(cls, entry: str, kind: str, record: dict, *, metric: str, source: str) -> Selection:
        """The selection of the two-pass level search (:func:`~hitslite.multiscale.select_levels`) stored
        as ``record`` (``lower``, ``upper``, ``upper_scores`` and ``lower_scores`` by index, JSON keys):
        ``scores`` maps each range scored, ``(0, u)`` in pass 1 and ``(l, upper)`` in pass 2, to its MSE."""
        upper = int(record["upper"])
        scores = {(0, int(u)): float(v) for u, v in record["upper_scores"].items()}
        scores.update({(int(l), upper): float(v) for l, v in record["lower_scores"].items()})
        return cls(entry, kind, (int(record["lower"]), upper), metric, scores, source)


@dataclass(frozen=True)
class ZooEntry:
    """A named set of pretrained weights.

    ``config`` is everything that determines the weights; ``build(config)`` makes the untrained
    module; ``train(config, workdir, device, progress)`` trains it (resumably, checkpointing in
    ``workdir``) and returns ``(module, metrics)``.
    """

    name: str
    description: str
    config: dict[str, Any]
    build: Callable[[dict], nn.Module]
    train: Callable[..., tuple[nn.Module, dict]]
    #: dtype the floating-point weights are stored in (``None``: as trained). ``"float16"`` halves the
    #: files of a large entry; loading casts back to the built module's dtype. Not part of ``config``:
    #: it changes how the weights are kept, not how they are trained.
    storage_dtype: str | None = None
    #: ``data(config) -> {"train": Trajectory, "val": Trajectory, ...}``: the data the entry trains and
    #: validates on. Its :func:`~hitslite.canonical.data_signature` per split goes into the manifest
    #: (``data_signature``), and :func:`~hitslite.zoo.entry_data` warns when the data made here differ.
    data: Callable[[dict], dict] | None = None
    #: ``choose(name, directory=..., device=...)``: a choice made on validation data after training and
    #: stored beside the weights (HiTS level sets: :func:`~hitslite.zoo.select_entry_levels`)
    choose: Callable[..., Any] | None = None
    #: ``read_selection(name, manifest, folder)``: what validation chose, a :class:`Selection` read from the
    #: entry's verified manifest (and folder), or ``{part: Selection}`` for an entry that holds several
    #: models with a choice each; ``None`` for entries that choose nothing
    read_selection: Callable[[str, dict, Path], Selection | dict[str, Selection]] | None = None

    @property
    def config_hash(self) -> str:
        return cache_key(self.config)

    @property
    def selectable(self) -> bool:
        """Whether something is chosen on validation data after training (:attr:`choose`)."""
        return self.choose is not None


#: every registered entry by name (filled by the recipe modules when :mod:`hitslite.zoo` is imported)
ENTRIES: dict[str, ZooEntry] = {}


def register_entry(entry: ZooEntry) -> ZooEntry:
    """Add ``entry`` to :data:`ENTRIES` (a name can be registered once) and return it."""
    if entry.name in ENTRIES:
        raise ValueError(f"zoo entry {entry.name!r} already registered")
    ENTRIES[entry.name] = entry
    return entry


def get_entry(name: str) -> ZooEntry:
    """The registered entry ``name``; :class:`ZooError` listing the known ones otherwise."""
    if name not in ENTRIES:
        raise ZooError(f"unknown zoo entry {name!r}; known entries: {sorted(ENTRIES)}")
    return ENTRIES[name]


def check_name(name: str, what: str) -> None:
    """:class:`ZooError` unless ``name`` is a plain file name (no separators, no ``..``, not hidden);
    ``what`` says what the name is for, in the message."""
    if not isinstance(name, str) or not _SAFE_NAME.fullmatch(name) or ".." in name:
        raise ZooError(f"{what} must be a plain file name (letters, digits, '_', '.', '-'; no path "
                       f"separators or '..'), got {name!r}")


def seeded(seed: int, make: Callable[[], nn.Module]) -> nn.Module:
    """``make()`` under ``torch.manual_seed(seed)``, leaving the global generator as it was: the
    deterministic initial weights of an entry's module."""
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        return make()
    finally:
        torch.random.set_rng_state(state)


def zoo_dir() -> Path:
    """``$HITSLITE_ZOO_DIR``, else ``<repo>/data/zoo`` in a checkout, else ``~/.cache/hitslite/zoo``."""
    env = os.environ.get("HITSLITE_ZOO_DIR")
    if env:
        return Path(env)
    root = repo_root()
    return root / "data" / "zoo" if root is not None else Path.home() / ".cache" / "hitslite" / "zoo"


def retrained_dir() -> Path:
    """Where :func:`~hitslite.zoo.load_or_train` writes retrained entries (``<cache>/zoo-retrained``):
    pass it as ``directory`` to :func:`~hitslite.zoo.load_pretrained`, :func:`~hitslite.zoo.read_manifest`
    and :func:`~hitslite.zoo.selected` (and to the benchmarks that load from the zoo) to use retrained
    weights instead of the committed ones."""
    return cache_dir() / "zoo-retrained"
