"""How to step: the Stepper protocol, classical RK4, repetition, and the one sequential loop.

A *stepper* advances a batch of states ``x [B, *S]`` by one fixed step ``dt``. Classical
(:class:`RK4`, ETDRK4, lattice Boltzmann, Euler–Maruyama) and learned (ResNet, recurrent,
latent) steppers share this interface, so every driver works with all of them:

* ``stepper(x) -> x_next`` — one step, for steppers without internal state;
* ``stepper.init_carry(x) -> carry`` and ``stepper.step(x, carry) -> (x_next, carry)`` — the
  general form; the carry holds what is not in the state (a hidden state, lattice populations,
  time, a random generator). Carry-free steppers return ``None`` and ignore it.

Every stepper rejects states that are not floating point (``TypeError`` naming the argument) and
states of the wrong shape (``ValueError`` naming the expected shape), rather than truncating or
promoting them silently: see :func:`check_state`.

:func:`rollout` is the only loop over time in the library (the vectorised multiscale loop lives
in :class:`~hitslite.multiscale.Hierarchy`). :func:`forecast` is the one way to forecast with any
model of the package: a stepper, a :class:`~hitslite.multiscale.Hierarchy`, a
:class:`~hitslite.neural.Latent` or an :class:`~hitslite.led.LED` — each brings its own ``forecast``
method with the same signature, :meth:`Stepper.forecast` the default for every stepper.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from . import validate
from .trajectory import Trajectory, interpolate_gaps

__all__ = ["Stepper", "RK4", "Repeated", "rollout", "forecast", "ForecastDivergedError", "assert_finite",
           "check_state"]


class ForecastDivergedError(ValueError):
    """A forecast produced NaN or Inf. ``step`` is the first output index that is not finite."""

    def __init__(self, message: str, step: int | None = None):
        super().__init__(message)
        self.step = step


class Stepper(nn.Module):
    """Base class of all steppers: advance ``x [B, *S]`` by one step of size :attr:`dt`.

    Subclasses implement ``forward(x)`` (carry-free) or override :meth:`init_carry` and
    :meth:`step`. They are ``nn.Module`` s so that ``.to(device)``, ``state_dict`` and
    composition (a hierarchy holds its levels) work the same for classical and neural steppers;
    precomputed coefficients are buffers, so device and dtype follow the module and the input.
    Subclasses check their input with :func:`check_state` (floating dtype, state shape); every
    subclass in the package is held to the contract in ``tests/test_stepper_contract.py``.
    """

    #: step size (time units)
    dt: float
    #: order of accuracy of the global error (``None`` for learned steppers)
    order: int | None = None

    def init_carry(self, x: torch.Tensor) -> Any:
        """The carry to start from at state ``x [B, *S]`` (``None`` for carry-free steppers)."""
        return None

    def step(self, x: torch.Tensor, carry: Any = None) -> tuple[torch.Tensor, Any]:
        """One step with carry: ``(x [B, *S], carry) -> (x_next [B, *S], carry)``."""
        return self(x), carry

    def restart_carry(self, x: torch.Tensor, t: float, carry: Any = None) -> Any:
        """The carry to restart from a state ``x`` handed over at time ``t`` by another model.

        LED's multiscale alternation (SI 6.6) restarts the micro solver from a decoded state:
        the default is :meth:`init_carry` (for lattice Boltzmann: populations reset to
        equilibrium). Steppers whose carry holds the time or a random generator keep them
        (``carry`` is the carry they had when they last stopped, or ``None``).
        """
        return self.init_carry(x)

    def forecast(self, x0: torch.Tensor, n_steps: int, *, dt: float | None = None,
                 check_finite: bool = True) -> Trajectory:
        """``n_steps`` output steps of size ``dt`` (default: :attr:`dt`) from ``x0 [B, *S]``.

        The stepper takes ``ceil(n_steps / m)`` steps of its own size, ``m = self.dt / dt`` (an
        integer, else ``ValueError``), threading its carry as :func:`rollout` does, and the output
        steps between its states are linearly interpolated (:func:`~hitslite.trajectory.interpolate_gaps`):
        a one-level HiTS hierarchy, the protocol of the single NNTS in HiTS Tables 3–4 (for a
        carry-free stepper the same numbers as ``Hierarchy([self]).forecast``). With ``dt = self.dt``
        it is :func:`rollout` itself.

        Returns a :class:`~hitslite.trajectory.Trajectory` ``x [B, n_steps + 1, *S]`` with
        ``meta['known']`` (bool ``[n_steps + 1]``: the output indices the stepper computed) and
        ``meta['dts']`` (``[self.dt]``), as :meth:`~hitslite.multiscale.Hierarchy.forecast`. Raises
        :class:`ForecastDivergedError` on NaN/Inf unless ``check_finite=False``.
        """
        h = self.dt if dt is None else validate.positive_float("dt", dt)
        m = validate.integer_ratio(f"the step of {type(self).__name__}", self.dt, h,
                                   hint="a stepper forecasts on a grid that divides its step")
        n_steps = validate.nonnegative_int("n_steps", n_steps)
        if m == 1:
            traj = rollout(self, x0, n_steps, check_finite=check_finite)
            traj.meta.update(known=torch.ones(n_steps + 1, dtype=torch.bool), dts=[self.dt])
            return traj
        n_own = math.ceil(n_steps / m)  # the last interval needs the state after it
        own = rollout(self, x0, n_own, check_finite=False)
        x = interpolate_gaps(m * torch.arange(n_own + 1), own.x, n_steps)
        t = h * torch.arange(n_steps + 1, dtype=torch.float64)
        if check_finite:
            assert_finite(x, "forecast", t)
        known = torch.arange(n_steps + 1) % m == 0
        meta = {"source": f"forecast of {type(self).__name__}", "known": known, "dts": [self.dt]}
        return Trajectory(t=t, x=x, dt=h, meta=meta)

    def extra_repr(self) -> str:
        return f"dt={self.dt:g}"


def check_state(x: torch.Tensor, shape: tuple[int, ...] | None = None, name: str = "x", *,
                batched: bool = True, allow_complex: bool = False) -> torch.Tensor:
    """The input check every stepper makes: ``x`` is a floating-point tensor (``TypeError``
    otherwise) and, when ``shape`` is given, a batch of states ``[B, *shape]`` (``ValueError``
    naming the expected shape otherwise; ``batched=False`` allows any leading axes). Returns ``x``.
    """
    validate.floating_tensor(name, x, allow_complex=allow_complex)
    if shape is not None:
        validate.state_shape(name, x, shape, batched=batched)
    return x


class RK4(Stepper):
    r"""Classical fourth-order Runge–Kutta for an autonomous ODE x' = f(x).

    .. math::
        k_1 = f(x_n),\; k_2 = f(x_n + \tfrac{h}{2}k_1),\; k_3 = f(x_n + \tfrac{h}{2}k_2),\;
        k_4 = f(x_n + h k_3),\quad x_{n+1} = x_n + \tfrac{h}{6}(k_1 + 2k_2 + 2k_3 + k_4).

    Global error O(h^4) (HiTS eqs. 3–4 with k = 4). ``f`` acts on the last axis(es) of a tensor
    ``[B, *S]``: a :class:`~hitslite.systems.ODESystem` (its ``rhs`` is used) or any callable.
    Device and dtype follow the input; the state must be floating point (or complex, for a complex
    vector field). When ``f`` is a system with a ``state_shape``, the trailing axes of the input
    must be that shape (``ValueError`` naming it otherwise).
    """

    order = 4

    def __init__(self, f: Callable[[torch.Tensor], torch.Tensor], dt: float):
        super().__init__()
        self.f = f.rhs if hasattr(f, "rhs") else f
        if not callable(self.f):
            raise TypeError(f"f must be a system with .rhs or a callable, got {type(f).__name__}")
        self.dt = validate.positive_float("dt", dt)
        shape = getattr(f, "state_shape", None)
        #: the state shape ``S`` of the system, checked on input (``None`` for a bare callable)
        self.state_shape = tuple(shape) if shape is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_state(x, self.state_shape, batched=False, allow_complex=True)
        h, f = self.dt, self.f
        k1 = f(x)
        k2 = f(x + 0.5 * h * k1)
        k3 = f(x + 0.5 * h * k2)
        k4 = f(x + h * k3)
        return x + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


class Repeated(Stepper):
    """``m`` steps of ``stepper`` taken as one step of size ``m * stepper.dt``.

    ``Repeated(RK4(f, h), 2**k)`` is the classical analogue of a coarse HiTS level; the carry, if
    any, is threaded through the sub-steps.
    """

    def __init__(self, stepper: Stepper, m: int):
        super().__init__()
        if not (hasattr(stepper, "dt") and hasattr(stepper, "step") and hasattr(stepper, "init_carry")):
            raise TypeError(f"stepper must be a Stepper (with dt, step and init_carry), "
                            f"got {type(stepper).__name__}")
        m = validate.positive_int("m", m)  # the number of sub-steps
        self.inner = stepper
        self.m = m
        self.dt = m * stepper.dt
        self.order = getattr(stepper, "order", None)

    def init_carry(self, x):
        return self.inner.init_carry(x)

    def restart_carry(self, x, t, carry=None):
        return self.inner.restart_carry(x, t, carry)

    def step(self, x, carry=None):
        for _ in range(self.m):
            x, carry = self.inner.step(x, carry)
        return x, carry

    def forward(self, x):
        return self.step(x, self.init_carry(x))[0]

    def extra_repr(self) -> str:
        return f"m={self.m}, dt={self.dt:g}"


def assert_finite(x: torch.Tensor, what: str = "forecast", t: torch.Tensor | None = None) -> None:
    """Raise :class:`ForecastDivergedError` if ``x [B, T, *S]`` holds NaN/Inf, naming the first bad step."""
    bad = ~torch.isfinite(x)
    if bool(bad.any()):
        per_step = bad.reshape(x.shape[0], x.shape[1], -1).any(dim=(0, 2))
        first = int(per_step.nonzero()[0, 0])
        n_traj = int(bad[:, first].reshape(x.shape[0], -1).any(dim=1).sum())
        when = f" (t = {float(t[first]):g})" if t is not None else ""
        raise ForecastDivergedError(
            f"{what} diverged: non-finite values first appear at step {first}{when} in "
            f"{n_traj} of {x.shape[0]} trajectories. Use a smaller step, a shorter horizon, or "
            "pass check_finite=False to inspect the raw output.",
            step=first,
        )


def rollout(
    stepper: Stepper,
    x0: torch.Tensor,
    n_steps: int,
    *,
    t0: float = 0.0,
    carry: Any = None,
    check_finite: bool = True,
    return_carry: bool = False,
) -> Trajectory | tuple[Trajectory, Any]:
    """Apply ``stepper`` ``n_steps`` times from ``x0 [B, *S]``: the one sequential loop.

    Returns a :class:`~hitslite.trajectory.Trajectory` with ``x [B, n_steps + 1, *S]`` (the initial
    state included) and ``t = t0 + dt * arange(n_steps + 1)``. Gradients flow through the loop
    unless called under ``torch.no_grad()``. A non-finite forecast raises
    :class:`ForecastDivergedError` naming the first bad step (``check_finite=False`` returns it
    as is). With ``return_carry=True`` also returns the final carry.
    """
    validate.tensor("x0", x0)
    if x0.ndim < 2:
        raise ValueError(
            f"x0 must have shape [batch, *state] (at least 2-D), got shape {tuple(x0.shape)}; "
            "use x0[None] for a single state"
        )
    validate.floating_tensor("x0", x0, allow_complex=True)
    n_steps = validate.nonnegative_int("n_steps", n_steps)
    t0 = validate.finite_float("t0", t0)
    if carry is None:
        carry = stepper.init_carry(x0)
    states = [x0]
    x = x0
    for _ in range(n_steps):
        x, carry = stepper.step(x, carry)
        states.append(x)
    xs = torch.stack(states, dim=1)
    t = t0 + stepper.dt * torch.arange(n_steps + 1, dtype=torch.float64)
    if check_finite:
        assert_finite(xs, "rollout", t)
    traj = Trajectory(t=t, x=xs, dt=stepper.dt, meta={"source": f"rollout of {type(stepper).__name__}"})
    return (traj, carry) if return_carry else traj


def forecast(model, x0: torch.Tensor, n_steps: int, dt: float | None = None, *, check_finite: bool = True,
             **options) -> Trajectory:
    """Forecast ``n_steps`` output steps of size ``dt`` from ``x0`` with any model: ``model.forecast``.

    One call for every kind of model, each of which knows how to forecast itself:

    * a :class:`Stepper` — :meth:`Stepper.forecast`: its own steps (a :func:`rollout`), linearly
      interpolated onto ``dt`` when ``dt`` divides its step;
    * a :class:`~hitslite.multiscale.Hierarchy` — HiTS Algorithm 1, on the grid of ``dt`` (default
      its finest step);
    * a :class:`~hitslite.neural.Latent` — L-HiTS Algorithm 1 (encode once, forecast in latent space,
      decode);
    * an :class:`~hitslite.led.LED` — ``x0`` is the warm-up window ``[B, W, *S]``, then latent
      propagation.

    ``options`` pass on to the model's method (e.g. ``decode=False``, ``interpolate="state"`` for a
    ``Latent``). Returns a :class:`~hitslite.trajectory.Trajectory` ``x [B, n_steps + 1, *S]``; raises
    :class:`ForecastDivergedError` on NaN/Inf unless ``check_finite=False``. Gradients flow unless
    called under ``torch.no_grad()``; ``x0`` must be on the model's device and in a dtype it accepts.
    """
    method = getattr(model, "forecast", None)
    if not callable(method):
        raise TypeError(f"model must have a forecast(x0, n_steps, dt=...) method (a Stepper, Hierarchy, "
                        f"Latent or LED), got {type(model).__name__}")
    return method(x0, n_steps, dt=dt, check_finite=check_finite, **options)
