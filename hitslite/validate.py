"""Argument checks shared by the whole package: one message per kind of bad input.

The house rule (``DESIGN.md``): bad input gets a clear ``ValueError`` / ``TypeError`` that names the
argument and says what was expected — never silent garbage. Every helper takes the argument's
*name* first and its *value* second, returns the (normalised) value when it is fine and raises
otherwise, so a check is one line at the top of a function::

    n_steps = positive_int("n_steps", n_steps)
    dt = positive_float("dt", dt)
    floating_tensor("x0", x0)

Conventions of the messages: ``"{name} must be <what is expected>, got <what was given>"``.
Wrong *types* (a list where a tensor belongs, an integer tensor where states must be floating
point) raise ``TypeError``; wrong *values* (a negative count, a NaN, a wrong shape) raise
``ValueError``. Booleans are never accepted as numbers (``True`` is an ``int`` in Python, but a
``True`` passed as a step count is a bug).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import torch

__all__ = [
    "positive_int",
    "nonnegative_int",
    "int_at_least",
    "positive_float",
    "nonnegative_float",
    "finite_float",
    "integer_ratio",
    "one_of",
    "tensor",
    "floating_tensor",
    "finite_tensor",
    "nonempty_batch",
    "state_shape",
    "shape_str",
]


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _scalar(value):
    """A 0-d real tensor (e.g. ``traj.t[k]``) as a Python number; anything else unchanged."""
    if isinstance(value, torch.Tensor) and value.ndim == 0 and value.dtype != torch.bool \
            and not value.is_complex():
        return value.item()
    return value


# ----------------------------------------------------------------------------------------
# numbers
# ----------------------------------------------------------------------------------------
def positive_int(name: str, value) -> int:
    """``value`` as an ``int`` if it is an integer >= 1, else ``ValueError`` naming ``name``."""
    if not _is_int(value) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def nonnegative_int(name: str, value) -> int:
    """``value`` as an ``int`` if it is an integer >= 0, else ``ValueError`` naming ``name``."""
    if not _is_int(value) or value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    return int(value)


def int_at_least(name: str, value, minimum: int) -> int:
    """``value`` as an ``int`` if it is an integer >= ``minimum``, else ``ValueError`` naming ``name``."""
    if minimum == 1:
        return positive_int(name, value)
    if minimum == 0:
        return nonnegative_int(name, value)
    if not _is_int(value) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def positive_float(name: str, value) -> float:
    """``value`` as a ``float`` if it is a finite real number > 0 (a step size, a tolerance, an
    ``eps``), else ``ValueError`` naming ``name``. A 0-d tensor counts as its value."""
    value = _scalar(value)
    if not _is_real(value) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def nonnegative_float(name: str, value) -> float:
    """``value`` as a ``float`` if it is a finite real number >= 0, else ``ValueError`` naming ``name``."""
    value = _scalar(value)
    if not _is_real(value) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def finite_float(name: str, value) -> float:
    """``value`` as a ``float`` if it is a finite real number, else ``ValueError`` naming ``name``."""
    value = _scalar(value)
    if not _is_real(value) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def integer_ratio(name: str, coarse, fine, *, hint: str = "") -> int:
    """``coarse / fine`` as an ``int`` >= 1 if the step ``coarse`` is an integer multiple of the step
    ``fine`` (relative tolerance 1e-9), else ``ValueError`` naming ``name`` (``hint``, if given, is
    appended: why the two must divide). Both must be positive finite numbers."""
    coarse, fine = positive_float(name, coarse), positive_float(f"the step {name} is compared with", fine)
    r = coarse / fine
    n = round(r)
    if n < 1 or abs(r - n) > 1e-9 * max(1.0, r):
        raise ValueError(f"{name} must be an integer multiple of {fine:g}, got {coarse:g} (ratio {r:.6g})"
                         + (f"; {hint}" if hint else ""))
    return n


# ----------------------------------------------------------------------------------------
# choices
# ----------------------------------------------------------------------------------------
def one_of(name: str, value, choices: Sequence):
    """``value`` if it is one of ``choices``, else ``ValueError`` naming ``name`` and listing them."""
    if value not in tuple(choices):
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")
    return value


# ----------------------------------------------------------------------------------------
# tensors
# ----------------------------------------------------------------------------------------
def shape_str(shape: Sequence[int | str]) -> str:
    """``("batch", 2, 64)`` -> ``"[batch, 2, 64]"``: how messages write an expected shape."""
    return "[" + ", ".join(str(s) for s in shape) + "]"


def tensor(name: str, x, expected: str = "[batch, *state]") -> torch.Tensor:
    """``x`` if it is a ``torch.Tensor``, else ``TypeError`` naming ``name`` and the ``expected`` shape."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape {expected}, got {type(x).__name__}")
    return x


def floating_tensor(name: str, x, *, allow_complex: bool = False) -> torch.Tensor:
    """``x`` if it is a floating-point tensor (``float16`` ... ``float64``; complex too with
    ``allow_complex``), else ``TypeError`` naming ``name``.

    States must be floating point: an integer state would be truncated by a neural stepper's cast
    or silently promoted by a classical one — wrong numbers either way.
    """
    tensor(name, x)
    if x.is_floating_point() or (allow_complex and x.is_complex()):
        return x
    kinds = "a floating-point or complex dtype" if allow_complex else "a floating-point dtype"
    raise TypeError(f"{name} must have {kinds} (e.g. float32 or float64), got {x.dtype}; "
                    f"convert it first, e.g. {name}.double()")


def finite_tensor(name: str, x) -> torch.Tensor:
    """``x`` if all its entries are finite, else ``ValueError`` naming ``name`` and counting the NaN/Inf."""
    tensor(name, x)
    if x.is_floating_point() or x.is_complex():
        bad = ~torch.isfinite(x)
        if bool(bad.any()):
            n_nan = int(torch.isnan(x).sum())
            n_inf = int(bad.sum()) - n_nan
            raise ValueError(f"{name} must be finite, but the data contain NaN/Inf ({n_nan} NaN, {n_inf} Inf "
                             f"of {x.numel()} values)")
    return x


def nonempty_batch(name: str, x) -> torch.Tensor:
    """``x`` if its leading (batch) axis is non-empty and it holds at least one value, else ``ValueError``."""
    tensor(name, x)
    if x.ndim == 0 or x.shape[0] == 0 or x.numel() == 0:
        raise ValueError(f"{name} must hold at least one sample (a non-empty batch), "
                         f"got shape {tuple(x.shape)}")
    return x


def state_shape(name: str, x, expected: Sequence[int], *, batched: bool = True) -> torch.Tensor:
    """``x`` if it is a batch of states ``[B, *expected]``, else ``ValueError`` naming ``name`` and the
    expected shape. With ``batched=False`` any leading axes are allowed (``[..., *expected]``)."""
    tensor(name, x, shape_str(("batch", *expected)))
    expected = tuple(int(s) for s in expected)
    k = len(expected)
    tail_ok = x.ndim >= k and tuple(x.shape[x.ndim - k:]) == expected
    ok = tail_ok and (x.ndim == k + 1 if batched else True)
    if not ok:
        lead = "batch" if batched else "..."
        raise ValueError(f"{name} must have shape {shape_str((lead, *expected))} (states of shape "
                         f"{shape_str(expected)}), got {tuple(x.shape)}")
    return x
