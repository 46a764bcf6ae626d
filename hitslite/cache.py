"""The data cache: where generated data sets live, what keys them, and the conventions every recipe shares.

* :func:`cached` — ``build()``'s trajectory, reused from ``<cache>/<name>-<hash>.npz`` when present,
  written atomically (temporary file + rename) so an interrupted run never leaves a torn file.
* :func:`cache_key` — the hash of a recipe (every generation parameter); :func:`callable_fingerprint` /
  :func:`system_fingerprint` — hashes of the *code* that makes the data, so editing a vector field
  makes new data, never returns the old.
* :func:`cache_dir` / :func:`repo_root` — ``$HITSLITE_CACHE_DIR``, else ``<checkout>/data/cache``, else
  ``~/.cache/hitslite``.
* :data:`SPLITS`, :func:`split_seed`, :data:`DATA_VERSION` — the split names, the seed of each split's
  initial-state generator (splits never share an initial state) and the recipe version, shared by the
  ODE data of :mod:`hitslite.data` and the PDE / particle data of :mod:`hitslite.pde_data`.

Everything here is re-exported by :mod:`hitslite.data`.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import validate
from .trajectory import Trajectory

__all__ = ["SPLITS", "DATA_VERSION", "split_seed", "repo_root", "cache_dir", "cache_key",
           "callable_fingerprint", "system_fingerprint", "cached"]

#: Bump when a recipe's *meaning* changes, so old cache files are not reused.
DATA_VERSION = 1
#: The split names of every data set, in the order of their seeds.
SPLITS = ("train", "val", "test")


def split_seed(split: str, seed: int = 0) -> int:
    """The seed of ``split``'s initial-state generator in family ``seed``: ``1000 * seed + i`` with ``i``
    the index of ``split`` in :data:`SPLITS` (train 0, val 1, test 2), so splits never share an initial
    state. ``ValueError`` for an unknown split."""
    validate.one_of("split", split, SPLITS)
    return 1000 * seed + SPLITS.index(split)


def repo_root() -> Path | None:
    """The git checkout holding this package (the folder with ``pyproject.toml`` and ``data/``), or
    ``None`` when the package is installed elsewhere (then there is no ``data/`` folder to use)."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").exists() and (root / "data").is_dir() else None


def cache_dir() -> Path:
    """Where generated data sets live: ``$HITSLITE_CACHE_DIR``, else ``<repo>/data/cache``,
    else ``~/.cache/hitslite`` (a pip-installed package outside a checkout)."""
    env = os.environ.get("HITSLITE_CACHE_DIR")
    if env:
        path = Path(env)
    elif (root := repo_root()) is not None:
        path = root / "data" / "cache"
    else:
        path = Path.home() / ".cache" / "hitslite"
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_key(recipe: dict[str, Any]) -> str:
    """SHA-256 (first 16 hex digits) of the canonical JSON of ``recipe``: any change, new key."""
    blob = json.dumps(recipe, sort_keys=True, default=repr).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def callable_fingerprint(fn, *, _depth: int = 0) -> str:
    """SHA-256 (16 hex digits) of what a Python callable computes: its byte code, constants, default
    arguments, closure and the plain values (numbers, strings, tuples, arrays) and functions it reads from
    its module, recursively. Editing a vector field, or a constant it uses, changes the fingerprint.

    Raises ``TypeError`` for a callable whose code cannot be read (an extension object, say): data made
    by it cannot be cached safely; pass ``cache=False`` to the data-set function instead.
    """
    import functools
    import types

    h = hashlib.sha256()

    def code_digest(code):
        h.update(code.co_code)
        h.update(repr((code.co_names, code.co_varnames, code.co_freevars)).encode())
        for const in code.co_consts:
            code_digest(const) if isinstance(const, types.CodeType) else h.update(repr(const).encode())

    def value_digest(value):
        if value is None or isinstance(value, (bool, int, float, complex, str, bytes, tuple, frozenset)):
            h.update(repr(value).encode())
        elif isinstance(value, np.ndarray):
            h.update(value.tobytes())
        elif isinstance(value, torch.Tensor):
            h.update(value.detach().cpu().contiguous().numpy().tobytes())
        elif isinstance(value, types.ModuleType):
            h.update(value.__name__.encode())
        elif callable(value) and _depth < 4:
            h.update(callable_fingerprint(value, _depth=_depth + 1).encode())
        else:
            h.update(type(value).__qualname__.encode())

    if isinstance(fn, functools.partial):
        value_digest(fn.func)
        h.update(repr((fn.args, sorted(fn.keywords.items()))).encode())
    elif isinstance(fn, types.MethodType):
        value_digest(fn.__func__)
        h.update(repr(sorted(vars(fn.__self__).items()) if hasattr(fn.__self__, "__dict__") else "").encode())
    elif isinstance(fn, types.FunctionType):
        code_digest(fn.__code__)
        h.update(repr((fn.__defaults__, fn.__kwdefaults__)).encode())
        for cell in fn.__closure__ or ():
            value_digest(cell.cell_contents)
        names, stack = set(), [fn.__code__]
        while stack:  # every global name read by the function or its nested functions
            code = stack.pop()
            names.update(code.co_names)
            stack.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
        for name in sorted(names):
            if name in fn.__globals__ and fn.__globals__[name] is not fn:
                value_digest(fn.__globals__[name])
    elif isinstance(fn, (types.BuiltinFunctionType, np.ufunc)):
        qualname = getattr(fn, "__qualname__", fn.__name__)
        h.update(f"builtin:{getattr(fn, '__module__', '')}.{qualname}".encode())
    elif isinstance(fn, type):
        h.update(fn.__qualname__.encode())
    elif callable(fn) and isinstance(vars(type(fn)).get("__call__"), types.FunctionType):
        value_digest(vars(type(fn))["__call__"])
        h.update(repr(sorted(vars(fn).items()) if hasattr(fn, "__dict__") else "").encode())
    else:
        raise TypeError(f"cannot fingerprint {fn!r} ({type(fn).__name__}): its code cannot be read, so data "
                        "made with it cannot be cached safely; pass cache=False")
    return h.hexdigest()[:16]


def system_fingerprint(system) -> str:
    """Fingerprint of everything in an ODE system that decides its data beyond its name and
    parameters: the vector field and any overridden ``sample_initial`` / ``exact_solution``."""
    parts = [callable_fingerprint(system.vector_field)]
    for method in ("sample_initial", "exact_solution"):
        impl = getattr(type(system), method, None)
        if impl is not None:
            parts.append(callable_fingerprint(getattr(impl, "__func__", impl)))
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:16]


def cached(
    recipe: dict[str, Any],
    build: Callable[[], Trajectory],
    *,
    refresh: bool = False,
    directory: str | os.PathLike | None = None,
) -> Trajectory:
    """Return ``build()``'s trajectory, reusing ``<cache>/<name>-<hash>.npz`` when present.

    The file name carries ``recipe['name']`` and :func:`cache_key` of the whole recipe; the
    recipe is also stored in ``meta['recipe']``. Writes are atomic.
    """
    directory = Path(directory) if directory is not None else cache_dir()
    path = directory / f"{recipe.get('name', 'data')}-{cache_key(recipe)}.npz"
    if path.exists() and not refresh:
        traj = Trajectory.load(path)
        traj.meta["cache_file"] = str(path)
        return traj
    traj = build()
    traj.meta["recipe"] = recipe
    traj.save(path)
    traj.meta["cache_file"] = str(path)
    return traj
