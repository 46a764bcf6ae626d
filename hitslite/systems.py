"""The equations, and nothing about how to step them.

Every system is a small object with a name, a state shape, its parameters and (for ODEs) a
right-hand side ``rhs(x)`` that works on the last axis of a NumPy array *or* a torch tensor, so
the same vector field drives ``scipy.integrate.solve_ivp`` (ground truth) and the batched torch
:class:`~hitslite.steppers.RK4`. Each ODE also knows where its initial conditions are sampled
from (HiTS Table 2) and its default data recipe (HiTS App. A.1).

``get_system(name, **params)`` is the registry entry point::

    >>> sys = get_system("van_der_pol", mu=2.0)
    >>> sys.state_shape, sys.region
    ((2,), ((-2.0, 2.0), (-4.0, 4.0)))
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

__all__ = [
    "System",
    "ODESystem",
    "HarmonicOscillator",
    "KuramotoSivashinsky",
    "FitzHughNagumo",
    "AdvectionDiffusion",
    "get_system",
    "list_systems",
    "register_system",
    "harmonic_oscillator",
    "hyperbolic_fixed_point",
    "cubic_oscillator",
    "van_der_pol",
    "hopf_normal_form",
    "lorenz",
]


# --------------------------------------------------------------------------------------------
# Plain vector fields. x has the state on its last axis; NumPy or torch.
# --------------------------------------------------------------------------------------------
def _stack(parts, like):
    if isinstance(like, torch.Tensor):
        return torch.stack(parts, dim=-1)
    return np.stack(parts, axis=-1)


def harmonic_oscillator(x):
    """HiTS eq. (5): x' = y, y' = -x."""
    return _stack([x[..., 1], -x[..., 0]], x)


def hyperbolic_fixed_point(x, mu=-0.05, lam=-1.0):
    """HiTS Sec. 3.1: x' = mu x, y' = lam (y - x^2); slow manifold y = x^2."""
    return _stack([mu * x[..., 0], lam * (x[..., 1] - x[..., 0] ** 2)], x)


def cubic_oscillator(x, a=-0.1, b=2.0):
    """HiTS Sec. 3.1: x' = a x^3 + b y^3, y' = -b x^3 + a y^3 (a=-0.1, b=2)."""
    x3, y3 = x[..., 0] ** 3, x[..., 1] ** 3
    return _stack([a * x3 + b * y3, -b * x3 + a * y3], x)


def van_der_pol(x, mu=2.0):
    """HiTS Sec. 3.1: x' = y, y' = mu (1 - x^2) y - x."""
    return _stack([x[..., 1], mu * (1 - x[..., 0] ** 2) * x[..., 1] - x[..., 0]], x)


def hopf_normal_form(x):
    """HiTS Sec. 3.1, state (mu, x, y): mu' = 0, x' = mu x + y - x r^2, y' = mu y - x - y r^2."""
    mu, u, v = x[..., 0], x[..., 1], x[..., 2]
    r2 = u**2 + v**2
    return _stack([mu * 0, mu * u + v - u * r2, mu * v - u - v * r2], x)


def lorenz(x, sigma=10.0, rho=28.0, beta=8.0 / 3.0):
    """Lorenz (1963): x' = sigma (y - x), y' = x (rho - z) - y, z' = x y - beta z."""
    u, v, w = x[..., 0], x[..., 1], x[..., 2]
    return _stack([sigma * (v - u), u * (rho - w) - v, u * v - beta * w], x)


# --------------------------------------------------------------------------------------------
# System objects
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class System:
    """An equation: name, state shape ``S`` (a batch of states is ``[B, *S]``) and parameters."""

    name: str
    state_shape: tuple[int, ...]
    params: dict[str, Any] = field(default_factory=dict)
    reference: str = ""

    @property
    def dim(self) -> int:
        """Number of scalar state variables, ``prod(state_shape)``."""
        return int(math.prod(self.state_shape))


@dataclass(frozen=True)
class ODESystem(System):
    """An autonomous ODE x' = f(x) with its HiTS data recipe.

    Attributes
    ----------
    vector_field : callable ``f(x, **params)`` acting on the last axis (NumPy or torch).
    region : per-coordinate ``(low, high)`` box of initial conditions (HiTS Table 2).
    dt, n_steps : sampling step and trajectory length of the data recipe (HiTS App. A.1).
    n_samples : default ``(train, val, test)`` trajectory counts (HiTS Table 2).
    warmup : time discarded before recording (Lorenz: reach the attractor first).
    """

    vector_field: Callable[..., Any] | None = None
    region: tuple[tuple[float, float], ...] = ()
    dt: float = 0.01
    n_steps: int = 5120
    n_samples: tuple[int, int, int] = (1600, 320, 320)
    warmup: float = 0.0

    def rhs(self, x):
        """f(x) for ``x`` of shape ``[..., D]``; returns the same type and shape."""
        return self.vector_field(x, **self.params)

    def sample_initial(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` initial states drawn uniformly from :attr:`region`; float64 ``[n, D]``."""
        if not isinstance(n, int) or n <= 0:
            raise ValueError(f"n must be a positive int, got {n!r}")
        low = torch.tensor([r[0] for r in self.region], dtype=torch.float64)
        high = torch.tensor([r[1] for r in self.region], dtype=torch.float64)
        u = torch.rand(n, len(self.region), generator=generator, dtype=torch.float64)
        return low + (high - low) * u


@dataclass(frozen=True)
class HarmonicOscillator(ODESystem):
    """HiTS Sec. 2.1, eq. (5). Initial states uniform in the unit disk; exact solution known."""

    radius: float = 1.0

    def sample_initial(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` states uniform (in area) on the disk x^2 + y^2 <= radius^2; float64 ``[n, 2]``."""
        if not isinstance(n, int) or n <= 0:
            raise ValueError(f"n must be a positive int, got {n!r}")
        u = torch.rand(n, 2, generator=generator, dtype=torch.float64)
        r = self.radius * torch.sqrt(u[:, 0])
        phase = 2 * math.pi * u[:, 1]
        return torch.stack([r * torch.cos(phase), r * torch.sin(phase)], dim=-1)

    @staticmethod
    def exact_solution(x0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The flow map: rotation by angle t. ``x0 [B, 2]``, ``t [T]`` -> ``[B, T, 2]``."""
        c, s = torch.cos(t)[None, :], torch.sin(t)[None, :]
        x, y = x0[:, None, 0], x0[:, None, 1]
        return torch.stack([x * c + y * s, -x * s + y * c], dim=-1)


@dataclass(frozen=True)
class KuramotoSivashinsky(System):
    """u_t = -u u_x - u_xx - nu u_xxxx on a periodic domain of length L, n grid points; state ``[n]``."""


@dataclass(frozen=True)
class FitzHughNagumo(System):
    """FitzHugh–Nagumo reaction–diffusion (LED SI eq. 29), channels (u, v) on n nodes; state ``[2, n]``."""


@dataclass(frozen=True)
class AdvectionDiffusion(System):
    """N particles, dx = A cos(omega t) dt + sqrt(D) dW in [-L/2, L/2]^d (LED SI 8.1); state ``[N, d]``."""


# --------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------
_REGISTRY: dict[str, Callable[..., System]] = {}


def register_system(name: str):
    """Decorator: register a factory ``(**params) -> System`` under ``name``."""

    def wrap(factory):
        if name in _REGISTRY:
            raise ValueError(f"system {name!r} is already registered")
        _REGISTRY[name] = factory
        return factory

    return wrap


def list_systems() -> list[str]:
    """Names accepted by :func:`get_system`."""
    return sorted(_REGISTRY)


def get_system(name: str, **params) -> System:
    """The system registered as ``name``, with parameters overridden by ``params``.

    Raises ``ValueError`` for an unknown name or parameter.
    """
    if name not in _REGISTRY:
        raise ValueError(f"unknown system {name!r}; choose one of {list_systems()}")
    return _REGISTRY[name](**params)


def _ode_factory(name, fn, defaults, **fixed):
    """Register an ODE whose vector field ``fn`` takes keyword parameters ``defaults``."""

    def factory(**params):
        unknown = set(params) - set(defaults)
        if unknown:
            raise ValueError(
                f"unknown parameter(s) {sorted(unknown)} for system {name!r}; "
                f"it takes {sorted(defaults) or 'no parameters'}"
            )
        for key, value in params.items():
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"parameter {key!r} of {name!r} must be a finite number, got {value!r}")
        cls = fixed.pop("cls", ODESystem)
        return cls(name=name, params={**defaults, **params}, vector_field=fn, **fixed)

    register_system(name)(factory)


_ode_factory(
    "harmonic_oscillator", harmonic_oscillator, {},
    cls=HarmonicOscillator, state_shape=(2,), region=((-1.0, 1.0), (-1.0, 1.0)),
    dt=0.008, n_steps=2048, n_samples=(500, 100, 100),
    reference="HiTS Sec. 2.1, eq. (5), Fig. 2",
)
_ode_factory(
    "hyperbolic", hyperbolic_fixed_point, {"mu": -0.05, "lam": -1.0},
    state_shape=(2,), region=((-1.0, 1.0), (-1.0, 1.0)), n_samples=(1600, 320, 320),
    reference="HiTS Sec. 3.1, Table 2",
)
_ode_factory(
    "cubic", cubic_oscillator, {"a": -0.1, "b": 2.0},
    state_shape=(2,), region=((-1.0, 1.0), (-1.0, 1.0)), n_samples=(3200, 320, 320),
    reference="HiTS Sec. 3.1, Table 2",
)
_ode_factory(
    "van_der_pol", van_der_pol, {"mu": 2.0},
    state_shape=(2,), region=((-2.0, 2.0), (-4.0, 4.0)), n_samples=(3200, 320, 320),
    reference="HiTS Sec. 3.1, Table 2",
)
_ode_factory(
    "hopf", hopf_normal_form, {},
    state_shape=(3,), region=((-0.2, 0.6), (-1.0, 2.0), (-1.0, 1.0)), n_samples=(3200, 320, 320),
    reference="HiTS Sec. 3.1, Table 2 (state (mu, x, y))",
)
_ode_factory(
    "lorenz", lorenz, {"sigma": 10.0, "rho": 28.0, "beta": 8.0 / 3.0},
    state_shape=(3,), region=((-0.1, 0.1),) * 3, dt=5e-4, n_steps=5120, warmup=5.0,
    n_samples=(6400, 640, 640),
    reference="HiTS Sec. 3.1, App. A.1, Table 2",
)
