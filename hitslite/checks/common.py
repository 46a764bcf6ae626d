"""What every exercise check shares: reading a student's number or array, calling a student's function
without letting it crash the check, reporting PASS or a hint, and judging a convergence order or a timing."""


from __future__ import annotations

import math
import numbers
import re
from collections.abc import Sequence

import numpy as np
import torch


def report(ok: bool, name: str, hint: str) -> bool:
    print(f"PASS  {name}" if ok else f"NOT YET  {name}: {hint}")
    return bool(ok)


def as_number(x) -> float | None:
    """``x`` as a float if it is one real number (Python, numpy scalar, 0-d array or tensor), else None."""
    if isinstance(x, (bool, np.bool_)):
        return None
    if isinstance(x, torch.Tensor):
        ok = x.ndim == 0 and x.dtype != torch.bool and not x.is_complex()
        return float(x) if ok else None
    if isinstance(x, np.ndarray):
        ok = x.ndim == 0 and (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating))
        return float(x) if ok else None
    if isinstance(x, numbers.Real):
        return float(x)
    return None


def as_integer(x) -> int | None:
    """``x`` as an int if it is a whole number (any of the types of :func:`as_number`), else None."""
    v = as_number(x)
    return int(v) if v is not None and math.isfinite(v) and v == int(v) else None


def as_tensor(x) -> torch.Tensor | None:
    """``x`` (tensor, numpy array, nested list) as a float64 CPU tensor, or None."""
    try:
        if isinstance(x, torch.Tensor):
            return x.detach().to(device="cpu", dtype=torch.float64)
        return torch.as_tensor(np.asarray(x, dtype=np.float64))
    except (TypeError, ValueError, RuntimeError):
        return None


def shown(x) -> str:
    """The student's own answer, briefly (arrays by their shape)."""
    if isinstance(x, (torch.Tensor, np.ndarray)) and x.ndim > 0:
        return f"{type(x).__name__} of shape {tuple(x.shape)}"
    return repr(x)


def close(answer, want: float, rel: float, abs_tol: float = 0.0) -> bool:
    got = as_number(answer)
    return got is not None and math.isclose(got, want, rel_tol=rel, abs_tol=abs_tol)


def not_a_number(name: str, answer, what: str = "one number") -> bool:
    return report(False, name, f"expected {what} (a float, numpy scalar or 0-d tensor), "
                   f"got {shown(answer)}")


#: the message of an exercise stub in the student edition (``.ci/editions.py``): "Exercise 7.1 (label): hint"
_STUB_MESSAGE = re.compile(r"Exercise \d+\.\d+ \(")


def call_student(fn, *args):
    """``(value, None)`` or ``(None, 'Name: message')`` when calling the student's ``fn`` raised.

    A stub of the student edition that has not been written yet (its ``NotImplementedError("Exercise N.k
    (label): hint")``) is not judged: it propagates, so the reader sees the exercise's own hint."""
    try:
        return fn(*args), None
    except NotImplementedError as err:
        if _STUB_MESSAGE.match(str(err)):
            raise
        return None, f"{type(err).__name__}: {err}"
    except Exception as err:  # noqa: BLE001 - any failure of the student's code is reported, not raised
        return None, f"{type(err).__name__}: {err}"


def judge_order(name: str, error, steps, lo: float, hi: float, floor: float) -> bool:
    """Run ``error(dt)`` at every step size, fit the slope of log(error) against log(dt), judge it."""
    if not callable(error):
        return report(False, name, f"pass your function error(dt) — the error of one run with step dt — "
                       f"not {shown(error)}: the check runs it and fits the order itself")
    hs = [as_number(h) for h in (steps if isinstance(steps, (Sequence, np.ndarray, torch.Tensor)) else [])]
    if len(hs) < 3 or any(h is None or not h > 0 for h in hs) or len(set(hs)) != len(hs):
        return report(False, name, "steps must be at least three different positive step sizes")
    errors = []
    for h in hs:
        out, err = call_student(error, h)
        if err:
            return report(False, name, f"error({h:g}) raised {err}")
        e = as_number(out)
        if e is None or not math.isfinite(e) or e <= 0:
            return report(False, name, f"error({h:g}) should return one positive finite number, got "
                           f"{shown(out)}")
        errors.append(e)
    by_step = [e for _, e in sorted(zip(hs, errors))]
    if min(errors) < floor:
        return report(False, name, f"error at the smallest step is {min(errors):.1e}, down at round-off "
                       f"(~{floor:.0e}), where it stops shrinking: use larger steps")
    if any(a >= b for a, b in zip(by_step, by_step[1:])):
        return report(False, name, "your error does not shrink as the step shrinks: compare the state at "
                       "the same final time for every step size, against a reference far more accurate "
                       "than all")
    order = float(np.polyfit(np.log(hs), np.log(errors), 1)[0])
    return report(lo <= order <= hi, name, f"your errors fall like dt^{order:.2f}, which is not the "
                   "method's order: use step sizes in the asymptotic range, the same final time for all, "
                   "and a reference whose own error is far below your smallest one")


def forecast_shape(out):
    x = getattr(out, "x", out)
    return tuple(x.shape) if isinstance(x, torch.Tensor) else None


def judge_timing(name: str, answer, slow, fast) -> bool:
    got = as_number(answer)
    if got is None or not (got > 0 and math.isfinite(got)):
        return not_a_number(name, answer, "one positive number")
    if hasattr(slow, "multiscale_seconds") and hasattr(slow, "single_seconds") and fast is None:
        want = slow.single_seconds[slow.lower] / slow.multiscale_seconds
        return report(math.isclose(got, want, rel_tol=1e-6), name, f"got {got!r}; divide the time of the "
                       "finest *coupled* level alone (levels[lower], not levels[0]) by the time of the "
                       "multiscale forecast, both from the same comparison")
    if not (callable(slow) and callable(fast)):
        return report(False, name, "pass the two computations as functions without arguments, the slow one "
                       "first (e.g. lambda: model.forecast(x0, n)), so the check can run them")
    # Wall times depend on the machine and its load, so the check does not time anything (a timed
    # assertion would fail at random on a busy machine): it checks that the two computations run and
    # forecast the same thing (same shape), and that the answer is a speed-up, a positive ratio.
    with torch.no_grad():
        out, err = call_student(lambda: (forecast_shape(slow()), forecast_shape(fast())))
    if err:
        return report(False, name, f"running your computations raised {err}")
    ok = out[0] is not None and out[0] == out[1]
    return report(ok, name, "the two functions must each return a forecast (a tensor or a Trajectory) of "
                   "the same states over the same horizon, so that their times compare like with like")


# ------------------------------------------------------------------------------------------------
# build checks: run the student's function and the library's on the same drawn inputs
# ------------------------------------------------------------------------------------------------
def seeded(seed: int, build):
    """``build()`` with torch's global generator seeded to ``seed`` and restored afterwards (so a check's
    random networks are the same every time and the reader's own random state is left alone)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def output_array(out) -> torch.Tensor | None:
    """What a student's function returned (a tensor, an array or a Trajectory's ``.x``) as a float64 CPU
    tensor; None when it is none of those (or complex with a non-negligible imaginary part)."""
    x = getattr(out, "x", out)
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        if x.is_complex():
            if x.numel() and float(x.imag.abs().max()) > 1e-12 * max(1.0, float(x.abs().max())):
                return None
            x = x.real
        return x.to(torch.float64)
    if isinstance(x, (np.ndarray, list, tuple)) or isinstance(x, numbers.Real):
        a = np.asarray(x)
        if np.iscomplexobj(a):
            if a.size and np.abs(a.imag).max() > 1e-12 * max(1.0, np.abs(a).max()):
                return None
            a = a.real
        try:
            return torch.as_tensor(np.asarray(a, dtype=np.float64))
        except (TypeError, ValueError):
            return None
    return None


def mismatch(got: torch.Tensor | None, want: torch.Tensor, rtol: float, atol: float) -> str | None:
    """None when ``got`` has ``want``'s shape and values (within ``rtol``/``atol``), else what is wrong,
    in words that never contain the expected values."""
    if got is None:
        return "not a real tensor or array"
    if tuple(got.shape) != tuple(want.shape):
        return f"shape {tuple(got.shape)} where {tuple(want.shape)} was expected"
    if not bool(torch.isfinite(got).all()):
        return "NaN or Inf values"
    if not torch.allclose(got, want.to(got), rtol=rtol, atol=atol):
        return "the right shape but other values"
    return None


# steppers the build checks draw, and a wrapper that counts calls (used by Ch. 2 and Ch. 4 checks)

def linear_stepper(matrix: torch.Tensor, dt: float):
    """A stepper ``x -> x @ matrix.T`` of step ``dt``: every level of a drawn hierarchy is a different map,
    so a forecast that uses the wrong level, or starts from the wrong states, lands elsewhere."""
    from ..steppers import Stepper

    class Linear(Stepper):
        def __init__(self):
            super().__init__()
            self.register_buffer("matrix", matrix.detach().clone())
            self.dt = float(dt)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x @ self.matrix.T.to(x)

    return Linear()


def biased(stepper, bias: torch.Tensor):
    """``stepper`` with a planted error ``bias`` added to every step."""
    from ..steppers import Stepper

    class Biased(Stepper):
        def __init__(self):
            super().__init__()
            self.inner = stepper
            self.register_buffer("bias", torch.as_tensor(bias).detach().clone())
            self.dt = stepper.dt

        def init_carry(self, x: torch.Tensor):
            return self.inner.init_carry(x)

        def step(self, x: torch.Tensor, carry=None):
            y, carry = self.inner.step(x, carry)
            return y + self.bias.to(y), carry

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.step(x)[0]

    return Biased()


def counted(stepper):
    """``stepper`` behind a wrapper whose ``calls`` counts the (batched) calls made to it; the wrapped
    stepper is ``.inner``."""
    from ..steppers import Stepper

    class Counted(Stepper):
        def __init__(self):
            super().__init__()
            self.inner = stepper
            self.dt = stepper.dt
            self.calls = 0

        def init_carry(self, x: torch.Tensor):
            return self.inner.init_carry(x)

        def step(self, x: torch.Tensor, carry=None):
            self.calls += 1
            return self.inner.step(x, carry)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.step(x)[0]

    return Counted()
