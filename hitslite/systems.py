"""The equations, and nothing about how to step them.

(Why one module of ~570 lines: it is the registry of every system in the three papers — the ODEs, KS,
FitzHugh–Nagumo and the particles — each a short class; one page lists them all.)

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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from . import validate

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
        n = validate.positive_int("n", n)
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
        n = validate.positive_int("n", n)
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
    r"""Kuramoto–Sivashinsky: u_t = -u u_x - u_xx - nu u_xxxx, periodic on [0, L); state ``[n]``.

    Values on the uniform grid x_j = j L / n (j = 0 .. n-1). In Fourier space (real FFT,
    wavenumbers k = 2 pi m / L, m = 0 .. n/2) the equation splits into a stiff linear part with
    symbol :meth:`linear_symbol` = k^2 - nu k^4 and the nonlinear term
    -u u_x = -(1/2) (u^2)_x, i.e. ``g * fft(u^2)`` with g = -i k / 2 (:meth:`nonlinear_coefficient`,
    Nyquist mode set to zero so the derivative of a real field stays real).
    LED SI 8.4, eq. (42); L-HiTS Sec. 4.2; HiTS App. A.3.

    The remaining fields are the data recipe of the preset (see :func:`~hitslite.data.ks_dataset`):
    ``solver_dt`` (ETDRK4 step), ``save_dt`` (sampling step), ``transient`` (time discarded before
    saving), and per-split ``(train, val, test)`` counts ``n_trajectories`` and ``n_steps``.
    """

    L: float = 22.0
    n: int = 64
    nu: float = 1.0
    solver_dt: float = 0.025
    save_dt: float = 0.25
    transient: float = 1000.0
    n_trajectories: tuple[int, int, int] = (1, 1, 1)
    n_steps: tuple[int, int, int] = (5000, 5000, 100000)
    initial: str = "random"

    @property
    def dx(self) -> float:
        return self.L / self.n

    def grid(self) -> torch.Tensor:
        """Grid points x_j = j L / n, float64 ``[n]``."""
        return self.L * torch.arange(self.n, dtype=torch.float64) / self.n

    def wavenumbers(self) -> np.ndarray:
        """k_m = 2 pi m / L for the real-FFT modes m = 0 .. n/2, float64 ``[n//2 + 1]``."""
        return 2 * np.pi / self.L * np.arange(self.n // 2 + 1)

    def linear_symbol(self) -> np.ndarray:
        """Fourier symbol of -u_xx - nu u_xxxx: k^2 - nu k^4, float64 ``[n//2 + 1]``."""
        k = self.wavenumbers()
        return k**2 - self.nu * k**4

    def nonlinear_coefficient(self) -> np.ndarray:
        """g with -u u_x = irfft(g * rfft(u^2)): g = -i k / 2, Nyquist zeroed; complex ``[n//2 + 1]``."""
        k = self.wavenumbers().astype(np.complex128)
        if self.n % 2 == 0:
            k[-1] = 0.0
        return -0.5j * k

    def rhs(self, u: torch.Tensor) -> torch.Tensor:
        """The semi-discrete right-hand side (pseudo-spectral) for ``u [..., n]`` (any float dtype)."""
        lin = torch.as_tensor(self.linear_symbol(), dtype=u.dtype, device=u.device)
        g = torch.as_tensor(self.nonlinear_coefficient(), device=u.device).to(
            torch.complex64 if u.dtype == torch.float32 else torch.complex128)
        uh = torch.fft.rfft(u, dim=-1)
        return torch.fft.irfft(lin * uh + g * torch.fft.rfft(u * u, dim=-1), n=self.n, dim=-1)

    def sample_initial(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` smooth periodic initial states, float64 ``[n, self.n]``.

        ``initial="random"``: a zero-mean sum of the 4 longest Fourier modes with independent
        standard normal coefficients, scaled to ``max |u| = 1`` (the transient then carries it onto
        the attractor). ``initial="kassam_trefethen"``: cos(2 pi x / L) (1 + sin(2 pi x / L)), the
        classic example of Kassam & Trefethen (2005), identical for all ``n``.
        """
        n = validate.positive_int("n", n)
        x = self.grid()
        if self.initial == "kassam_trefethen":
            phase = 2 * math.pi * x / self.L
            return (torch.cos(phase) * (1 + torch.sin(phase))).expand(n, -1).clone()
        modes = torch.arange(1, 5, dtype=torch.float64)
        coef = torch.randn(n, 4, 2, generator=generator, dtype=torch.float64)
        phase = 2 * math.pi * modes[None, :, None] * x[None, None, :] / self.L  # [1, 4, n]
        u = (coef[..., 0:1] * torch.cos(phase) + coef[..., 1:2] * torch.sin(phase)).sum(1)
        return u / u.abs().amax(dim=-1, keepdim=True)


@dataclass(frozen=True)
class FitzHughNagumo(System):
    r"""FitzHugh–Nagumo reaction–diffusion (LED SI 8.3.1, eq. 29); state ``[2, n]`` = (u, v).

    .. math::
        u_t = D_u u_{xx} + u - u^3 - v, \qquad v_t = D_v v_{xx} + \epsilon (u - \alpha_1 v - \alpha_0)

    on x in [0, L] with no-flux walls, n nodes x_j = j dx, dx = L / (n - 1) (= 0.2 for the
    paper's L = 20, n = 101; the SI writes "dx = L/N = 0.2"). :meth:`reaction` gives
    (R_u, R_v); :meth:`rhs` is the method-of-lines finite-difference semi-discretisation (second
    differences, mirror ghost nodes half a cell outside the end nodes, which is the wall the
    lattice-Boltzmann bounce-back sees).
    """

    L: float = 20.0
    n: int = 101
    Du: float = 1.0
    Dv: float = 4.0
    alpha0: float = -0.03
    alpha1: float = 2.0
    eps: float = 0.006

    @property
    def dx(self) -> float:
        return self.L / (self.n - 1)

    @property
    def diffusivities(self) -> tuple[float, float]:
        """(D_u, D_v)."""
        return (self.Du, self.Dv)

    def grid(self) -> torch.Tensor:
        """Node positions x_j = j dx, float64 ``[n]``."""
        return self.dx * torch.arange(self.n, dtype=torch.float64)

    def reaction(self, x: torch.Tensor) -> torch.Tensor:
        """(R_u, R_v) = (u - u^3 - v, eps (u - alpha1 v - alpha0)) for ``x [..., 2, n]``."""
        u, v = x[..., 0, :], x[..., 1, :]
        return torch.stack([u - u**3 - v, self.eps * (u - self.alpha1 * v - self.alpha0)], dim=-2)

    def laplacian(self, x: torch.Tensor) -> torch.Tensor:
        """Second difference with zero-flux (mirror) ends, ``[..., n] -> [..., n]``."""
        padded = torch.cat([x[..., :1], x, x[..., -1:]], dim=-1)
        return (padded[..., 2:] - 2 * x + padded[..., :-2]) / self.dx**2

    def rhs(self, x: torch.Tensor) -> torch.Tensor:
        """Method-of-lines right-hand side of eq. (29) for ``x [..., 2, n]``."""
        D = torch.tensor(self.diffusivities, dtype=x.dtype, device=x.device)[:, None]
        return D * self.laplacian(x) + self.reaction(x)


@dataclass(frozen=True)
class AdvectionDiffusion(System):
    r"""N particles, dx = A cos(omega t) dt + sqrt(D) dW in [-L/2, L/2]^d, reflecting walls; state ``[N, d]``.

    LED Sec. 3.1 eq. (5), SI 8.1 eq. (25) (1-D: D = 0.2, A = 1, omega = 0.1), SI 8.2 (3-D:
    A = [1, 1.5, 0], omega = [0.2, 1, 0.5]) and SI 8.2.4 (Péclet study, A = [1, 1.74, 0],
    D in {0.02, 0.2, 2} with micro steps {1e-2, 1e-3, 1e-4}, saved every 1). L = 1.
    ``dt`` is the Euler–Maruyama step, ``save_dt`` the sampling step, ``n_steps`` the
    ``(train, val, test)`` numbers of saved samples.
    """

    N: int = 1000
    d: int = 1
    L: float = 1.0
    D: float = 0.2
    A: tuple[float, ...] = (1.0,)
    omega: tuple[float, ...] = (0.1,)
    dt: float = 1e-3
    save_dt: float = 0.5
    n_steps: tuple[int, int, int] = (1000, 1000, 10000)

    def drift(self, t: float, *, dtype=torch.float64, device=None) -> torch.Tensor:
        """u(t) = A cos(omega t), ``[d]``."""
        A = torch.tensor(self.A, dtype=dtype, device=device)
        w = torch.tensor(self.omega, dtype=dtype, device=device)
        return A * torch.cos(w * t)

    @property
    def peclet(self) -> float:
        """Pe = L ``||A||_2`` / D (LED eq. 6)."""
        return self.L * math.sqrt(sum(a * a for a in self.A)) / self.D

    def reflect(self, x: torch.Tensor) -> torch.Tensor:
        """Fold positions back into [-L/2, L/2] by mirror reflection at the walls (any excursion)."""
        y = torch.remainder(x + self.L / 2, 2 * self.L)
        y = torch.where(y > self.L, 2 * self.L - y, y)
        return y - self.L / 2


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


def _ode_factory(name, fn, defaults, cls=ODESystem, **fixed):
    """Register an ODE (class ``cls``) whose vector field ``fn`` takes keyword parameters ``defaults``."""

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


# ============================================================================================
# PDE and particle systems: Kuramoto–Sivashinsky, FitzHugh–Nagumo, advection–diffusion
# ============================================================================================
#: Kuramoto–Sivashinsky presets. ``led``: LED SI 8.4 (L = 22, 64 nodes, saved every 0.25 after
#: 1000 time units of transient; 5e3 / 5e3 / 1e5 samples). ``lhits``: L-HiTS Sec. 4.2 (L = 22,
#: 120 nodes, saved every 0.05; 10 / 5 / 5 random initial conditions, 5121 snapshots each; the paper
#: states no transient but studies the attractor, so we drop LED's 1000 time units and every
#: forecast starts on it). ``hits``: HiTS App. A.3 (512 points on (0, 16 pi), 4001 snapshots; the
#: sampling step is not stated, we use Kassam & Trefethen's 1/4 and their initial condition).
#: ``solver_dt`` = 0.025 (the LED paper's text) is converged for all three: Chapter 7 measures it,
#: ``tests/test_pde.py`` checks it and ``python -m hitslite.bench ks_dt`` records it.
KS_PRESETS: dict[str, dict[str, Any]] = {
    "led": dict(L=22.0, n=64, save_dt=0.25, transient=1000.0,
                n_trajectories=(1, 1, 1), n_steps=(5000, 5000, 100000),
                reference="LED SI 8.4, eq. (42)"),
    "lhits": dict(L=22.0, n=120, save_dt=0.05, transient=1000.0,
                  n_trajectories=(10, 5, 5), n_steps=(5120, 5120, 5120),
                  reference="L-HiTS Sec. 4.2, eq. (14)"),
    "hits": dict(L=16 * math.pi, n=512, save_dt=0.25, transient=0.0,
                 n_trajectories=(1, 1, 1), n_steps=(4000, 4000, 4000), initial="kassam_trefethen",
                 reference="HiTS Sec. 3.2, App. A.3"),
}

#: Péclet study (LED SI 8.2.4): micro step for each diffusion coefficient.
PECLET_DT = {0.02: 1e-2, 0.2: 1e-3, 2.0: 1e-4}


def _positive(name: str, value, *, integer: bool = False, allow_zero: bool = False, system: str = ""):
    kind = "int" if integer else "number"
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    ok = ok and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value >= 0 if allow_zero else value > 0)
    if not ok:
        sign = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{name} of system {system!r} must be a {sign} finite {kind}, got {value!r}")
    return value


def _check_keys(name: str, params: dict, allowed) -> None:
    unknown = set(params) - set(allowed)
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {sorted(unknown)} for system {name!r}; it takes {sorted(allowed)}"
        )


@register_system("ks")
def _ks_factory(preset: str = "led", **params) -> KuramotoSivashinsky:
    """``get_system("ks", preset="led" | "lhits" | "hits", L=..., n=..., nu=..., ...)``."""
    if preset not in KS_PRESETS:
        raise ValueError(f"preset of system 'ks' must be one of {sorted(KS_PRESETS)}, got {preset!r}")
    fields = ("L", "n", "nu", "solver_dt", "save_dt", "transient", "n_trajectories", "n_steps", "initial")
    _check_keys("ks", params, fields)
    cfg = {**KS_PRESETS[preset], **params}
    reference = cfg.pop("reference")
    _positive("L", cfg["L"], system="ks")
    _positive("n", cfg["n"], integer=True, system="ks")
    if cfg["n"] < 4 or cfg["n"] % 2:
        raise ValueError(f"n of system 'ks' must be an even int >= 4 (real FFT grid), got {cfg['n']!r}")
    _positive("nu", cfg.get("nu", 1.0), system="ks")
    _positive("solver_dt", cfg.get("solver_dt", 0.025), system="ks")
    _positive("save_dt", cfg["save_dt"], system="ks")
    _positive("transient", cfg["transient"], allow_zero=True, system="ks")
    for key in ("n_trajectories", "n_steps"):
        cfg[key] = tuple(cfg[key])
        if len(cfg[key]) != 3:
            raise ValueError(f"{key} of system 'ks' must be (train, val, test), got {cfg[key]!r}")
        for v in cfg[key]:
            _positive(key, v, integer=True, system="ks")
    if cfg.get("initial", "random") not in ("random", "kassam_trefethen"):
        raise ValueError(
            f"initial of system 'ks' must be 'random' or 'kassam_trefethen', got {cfg['initial']!r}"
        )
    n = cfg["n"]
    record = {"preset": preset, **cfg}
    return KuramotoSivashinsky(name="ks", state_shape=(n,), params=record, reference=reference, **cfg)


@register_system("fhn")
def _fhn_factory(**params) -> FitzHughNagumo:
    """``get_system("fhn", L=20, n=101, Du=1, Dv=4, alpha0=-0.03, alpha1=2, eps=0.006)`` (LED SI 8.3.1)."""
    defaults = dict(L=20.0, n=101, Du=1.0, Dv=4.0, alpha0=-0.03, alpha1=2.0, eps=0.006)
    _check_keys("fhn", params, defaults)
    cfg = {**defaults, **params}
    _positive("L", cfg["L"], system="fhn")
    _positive("n", cfg["n"], integer=True, system="fhn")
    if cfg["n"] < 3:
        raise ValueError(f"n of system 'fhn' must be an int >= 3, got {cfg['n']!r}")
    _positive("Du", cfg["Du"], allow_zero=True, system="fhn")
    _positive("Dv", cfg["Dv"], allow_zero=True, system="fhn")
    _positive("eps", cfg["eps"], allow_zero=True, system="fhn")
    for key in ("alpha0", "alpha1"):
        value = cfg[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{key} of system 'fhn' must be a finite number, got {cfg[key]!r}")
    return FitzHughNagumo(name="fhn", state_shape=(2, cfg["n"]), params=dict(cfg),
                          reference="LED SI 8.3.1, eq. (29)", **cfg)


@register_system("advection_diffusion")
def _advection_diffusion_factory(dim: int = 1, preset: str = "led", **params) -> AdvectionDiffusion:
    """``get_system("advection_diffusion", dim=1 | 3, preset="led" | "peclet", D=..., ...)``.

    ``preset="led"``: SI 8.1 (dim 1) / 8.2 (dim 3). ``preset="peclet"`` (dim 3): SI 8.2.4, with the
    micro step chosen from ``D`` as in the paper (:data:`PECLET_DT`) unless ``dt`` is given.
    """
    if dim not in (1, 3) and not ("A" in params and "omega" in params):
        raise ValueError(
            f"dim of system 'advection_diffusion' must be 1 or 3 (or pass A and omega), got {dim!r}"
        )
    _positive("dim", dim, integer=True, system="advection_diffusion")
    if preset == "led":
        base = dict(A=(1.0,), omega=(0.1,)) if dim == 1 else dict(A=(1.0, 1.5, 0.0), omega=(0.2, 1.0, 0.5))
        base.update(N=1000, L=1.0, D=0.2, dt=1e-3, save_dt=0.5, n_steps=(1000, 1000, 10000))
        reference = "LED SI 8.1, eq. (25)" if dim == 1 else "LED Sec. 3.1, SI 8.2"
    elif preset == "peclet":
        if dim != 3:
            raise ValueError(f"dim of the 'peclet' preset must be 3, got {dim!r}")
        base = dict(A=(1.0, 1.74, 0.0), omega=(0.2, 1.0, 0.5), N=1000, L=1.0, D=0.2,
                    save_dt=1.0, n_steps=(500, 500, 3000))
        reference = "LED SI 8.2.4 (Péclet study)"
    else:
        raise ValueError(f"preset of system 'advection_diffusion' must be 'led' or 'peclet', got {preset!r}")
    _check_keys("advection_diffusion", params, ("N", "L", "D", "A", "omega", "dt", "save_dt", "n_steps"))
    cfg = {**base, **params}
    if "dt" not in cfg:  # Péclet preset: dt follows D (SI 8.2.4)
        cfg["dt"] = PECLET_DT.get(float(cfg["D"]), 1e-3 * 0.2 / cfg["D"] if cfg["D"] > 0 else 1e-3)
    _positive("N", cfg["N"], integer=True, system="advection_diffusion")
    _positive("L", cfg["L"], system="advection_diffusion")
    _positive("D", cfg["D"], allow_zero=True, system="advection_diffusion")
    _positive("dt", cfg["dt"], system="advection_diffusion")
    _positive("save_dt", cfg["save_dt"], system="advection_diffusion")
    cfg["A"] = tuple(float(a) for a in np.atleast_1d(cfg["A"]))
    cfg["omega"] = tuple(float(w) for w in np.atleast_1d(cfg["omega"]))
    if len(cfg["A"]) != dim or len(cfg["omega"]) != dim:
        raise ValueError(
            f"A and omega of system 'advection_diffusion' must have dim = {dim} entries, "
            f"got A={cfg['A']}, omega={cfg['omega']}"
        )
    if not all(math.isfinite(v) for v in cfg["A"] + cfg["omega"]):
        raise ValueError("A and omega of system 'advection_diffusion' must be finite")
    cfg["n_steps"] = tuple(cfg["n_steps"])
    if len(cfg["n_steps"]) != 3:
        raise ValueError(
            f"n_steps of system 'advection_diffusion' must be (train, val, test), got {cfg['n_steps']!r}"
        )
    for v in cfg["n_steps"]:
        _positive("n_steps", v, integer=True, system="advection_diffusion")
    record = {"dim": dim, "preset": preset, **cfg}
    return AdvectionDiffusion(name="advection_diffusion", state_shape=(cfg["N"], dim), params=record,
                              reference=reference, d=dim, **cfg)
