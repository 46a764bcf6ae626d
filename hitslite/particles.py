"""Euler–Maruyama for many Brownian particles with drift, in a box with reflecting walls.

The micro scale of LED's advection–diffusion example (LED Sec. 3.1, eq. 5; SI 8.1–8.2, eq. 25):
N particles in Omega = [-L/2, L/2]^d follow dx = A cos(omega t) dt + sqrt(D) dW, reflected at the
walls. The drift depends on time, so the stepper's carry holds the time (and the random generator).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from . import validate
from .steppers import Stepper, check_state

__all__ = ["EulerMaruyama"]


class EulerMaruyama(Stepper):
    r"""Euler–Maruyama step for N particles with time-dependent drift and reflecting walls.

    .. math::
        x_{k+1} = \mathcal{R}\big(x_k + A\cos(\omega t_k)\,\delta t + \sqrt{D\,\delta t}\;\xi_k\big),
        \qquad \xi_k \sim \mathcal{N}(0, I),\quad t_{k+1} = t_k + \delta t,

    where :math:`\mathcal{R}` folds a position back into [-L/2, L/2] by mirror reflection
    (exact for excursions of any length). Weak order 1 (strong order 1 for this additive noise
    away from the walls; reflection lowers it near them). LED SI 8.1–8.2, eq. (25).

    State ``x [B, N, d]`` (B independent ensembles of N particles). The carry is
    ``(t, generator)``: the time of ``x`` and the ``torch.Generator`` the noise is drawn from.

    Randomness is explicit: pass ``seed`` (a fresh generator on the input's device, seeded at
    every :meth:`init_carry`, so each rollout is reproducible) or ``generator`` (used as is and
    advanced; it must live on the input's device); with neither, torch's default generator is
    used (not seeded here). ``stepper(x)`` is one step from time ``t0``.
    """

    order = 1

    def __init__(self, system, dt: float | None = None, *, generator: torch.Generator | None = None,
                 seed: int | None = None, t0: float = 0.0):
        super().__init__()
        for attr in ("drift", "reflect", "D", "L"):
            if not hasattr(system, attr):
                raise TypeError(
                    f"system must be an AdvectionDiffusion-like system with .{attr}, "
                    f"got {type(system).__name__}"
                )
        self.system = system
        self.dt = validate.positive_float("dt", system.dt if dt is None else dt)
        if generator is not None and seed is not None:
            raise ValueError("pass either generator or seed, not both")
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"seed must be an int, got {seed!r}")
        self.generator = generator
        self.seed = seed
        self.t0 = validate.finite_float("t0", t0)
        self.register_buffer("A", torch.tensor(system.A, dtype=torch.float64))
        self.register_buffer("omega", torch.tensor(system.omega, dtype=torch.float64))

    def init_carry(self, x: torch.Tensor) -> tuple[float, torch.Generator | None]:
        """``(t0, generator)``; with ``seed`` a fresh generator on ``x.device``."""
        self._check(x)
        if self.seed is not None:
            return self.t0, torch.Generator(device=x.device).manual_seed(self.seed)
        return self.t0, self.generator

    def restart_carry(self, x: torch.Tensor, t: float, carry: Any = None) -> tuple[float, Any]:
        """``(t, generator)``: restart at time ``t`` (the drift depends on it), keeping the generator
        of ``carry`` so that the noise stream continues (a fresh one when ``carry`` is None)."""
        self._check(x)
        t = validate.finite_float("t", t)
        gen = self.init_carry(x)[1] if carry is None else carry[1]
        return t, gen

    def _check(self, x):
        check_state(x)
        d = self.A.shape[0]
        if x.ndim != 3 or x.shape[-1] != d:
            raise ValueError(f"x must have shape [batch, particles, {d}], got {tuple(x.shape)}")

    def step(self, x: torch.Tensor, carry: Any = None) -> tuple[torch.Tensor, tuple[float, Any]]:
        if carry is None:
            t, gen = self.init_carry(x)
        else:
            self._check(x)
            t, gen = carry
        if gen is not None and gen.device.type != x.device.type:
            raise ValueError(
                f"generator lives on {gen.device} but x is on {x.device}; create it on x's device"
            )
        drift = (self.A * torch.cos(self.omega * t)).to(device=x.device, dtype=x.dtype)
        noise = torch.randn(x.shape, generator=gen, dtype=x.dtype, device=x.device)
        x_new = x + drift * self.dt + math.sqrt(self.system.D * self.dt) * noise
        return self.system.reflect(x_new), (t + self.dt, gen)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.step(x, None)[0]

    def extra_repr(self) -> str:
        return f"dt={self.dt:g}, D={self.system.D:g}, L={self.system.L:g}, seed={self.seed}"
