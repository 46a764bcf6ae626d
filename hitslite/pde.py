"""Classical PDE steppers: ETDRK4 for Kuramoto–Sivashinsky, lattice Boltzmann for FitzHugh–Nagumo.

Both are :class:`~hitslite.steppers.Stepper` s, batched over initial conditions, in torch (device
and dtype follow the input), so they can be timed against learned steppers and used as the micro
solver of hybrid / LED models:

* :class:`ETDRK4` — exponential time differencing RK4 of Cox & Matthews (2002) with the
  contour-integral coefficients of Kassam & Trefethen (2005); state ``[B, n]`` (grid values).
* :class:`LatticeBoltzmann` — D1Q3 BGK lattice Boltzmann with reaction source, LED SI 8.3.1,
  eqs. (30)–(41); state ``[B, 2, n]`` densities (u, v), populations ``[B, 2, 3, n]`` in the carry.
* :func:`lyapunov_exponent` — largest Lyapunov exponent by two-trajectory renormalisation
  (Benettin et al. 1980) for any stepper.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from . import validate
from .steppers import Stepper, check_state

__all__ = ["ETDRK4", "LatticeBoltzmann", "lyapunov_exponent", "etdrk4_coefficients"]

def _complex_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.complex64 if dtype in (torch.float32, torch.float16, torch.bfloat16) else torch.complex128


def etdrk4_coefficients(lin: np.ndarray, dt: float, contour_points: int = 64) -> dict[str, np.ndarray]:
    r"""The ETDRK4 coefficients for a diagonal linear operator with (real) symbol ``lin``.

    With z = dt * lin, E = e^z, E2 = e^{z/2} and, evaluated as the mean of the integrand over
    ``contour_points`` points on the unit circle centred at each z (Kassam & Trefethen 2005,
    eqs. 2.5 and Sec. 3; this avoids the cancellation of the closed forms as z -> 0):

    .. math::
        Q = dt\,\frac{e^{z/2} - 1}{z},\quad
        f_1 = dt\,\frac{-4 - z + e^z(4 - 3z + z^2)}{z^3},\quad
        f_2 = dt\,\frac{2 + z + e^z(-2 + z)}{z^3},\quad
        f_3 = dt\,\frac{-4 - 3z - z^2 + e^z(4 - z)}{z^3}.

    Returns float64 arrays ``E, E2, Q, f1, f2, f3`` shaped like ``lin``.
    """
    contour_points = validate.int_at_least("contour_points", contour_points, 4)
    dt = validate.positive_float("dt", dt)
    z = dt * np.asarray(lin, dtype=np.float64)
    r = np.exp(1j * np.pi * (np.arange(1, contour_points + 1) - 0.5) / contour_points)
    zr = z[:, None] + r[None, :]
    ez = np.exp(zr)
    mean = lambda a: np.real(a.mean(axis=1))  # noqa: E731
    return {
        "E": np.exp(z),
        "E2": np.exp(z / 2),
        "Q": dt * mean((np.exp(zr / 2) - 1) / zr),
        "f1": dt * mean((-4 - zr + ez * (4 - 3 * zr + zr**2)) / zr**3),
        "f2": dt * mean((2 + zr + ez * (zr - 2)) / zr**3),
        "f3": dt * mean((-4 - 3 * zr - zr**2 + ez * (4 - zr)) / zr**3),
    }


class ETDRK4(Stepper):
    r"""Exponential time-differencing RK4 for the Kuramoto–Sivashinsky equation (periodic, spectral).

    In Fourier space v = FFT(u) the equation is v' = Lin v + N(v) with Lin = k^2 - nu k^4 and
    N(v) = g FFT(IFFT(v)^2), g = -i k / 2 (:class:`~hitslite.systems.KuramotoSivashinsky`). One
    step (Cox & Matthews 2002; Kassam & Trefethen 2005, eq. 2.5):

    .. math::
        a = E_2 v + Q N(v),\quad b = E_2 v + Q N(a),\quad c = E_2 a + Q (2N(b) - N(v)),\\
        v_{n+1} = E v + f_1 N(v) + 2 f_2 (N(a) + N(b)) + f_3 N(c).

    Fourth order in ``dt`` (global error). Real FFT; the Nyquist mode of the derivative is set to
    zero; the quadratic term is *not* dealiased by default (as in Kassam–Trefethen and the LED
    code: at n = 64, L = 22 the modes that alias are damped by e^{-k^4 t}), ``dealias=True``
    applies the 2/3 rule to N. Coefficients by contour integral with ``contour_points`` points,
    stored as float64 buffers and cast to the input's dtype.

    State ``x [B, n]`` (grid values on x_j = j L / n), float32 or float64 (an integer state raises
    ``TypeError``); carry-free: ``stepper(x) -> x_next``.
    References: LED SI 8.4 (ETDRK4, L = 22); L-HiTS Sec. 4.2; HiTS App. A.3.
    """

    order = 4

    def __init__(self, system, dt: float, *, contour_points: int = 64, dealias: bool = False):
        super().__init__()
        for attr in ("linear_symbol", "nonlinear_coefficient", "n"):
            if not hasattr(system, attr):
                raise TypeError(
                    f"system must be a KuramotoSivashinsky-like system with .{attr}, "
                    f"got {type(system).__name__}"
                )
        self.dt = validate.positive_float("dt", dt)
        self.n = int(system.n)
        self.system = system
        self.contour_points = contour_points
        self.dealias = bool(dealias)
        coef = etdrk4_coefficients(system.linear_symbol(), self.dt, contour_points)
        for name, value in coef.items():
            self.register_buffer(name, torch.from_numpy(value))
        g = system.nonlinear_coefficient().imag.copy()  # g = i * g_imag
        if self.dealias:
            g[np.arange(g.size) > self.n // 3] = 0.0
        self.register_buffer("g_imag", torch.from_numpy(g))

    def _nonlinear(self, v: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        u = torch.fft.irfft(v, n=self.n, dim=-1)
        return g * torch.fft.rfft(u * u, dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_state(x)
        if x.ndim < 1 or x.shape[-1] != self.n:
            raise ValueError(f"x must have shape [batch, {self.n}], got {tuple(x.shape)}")
        real = x.dtype
        c = {k: getattr(self, k).to(device=x.device, dtype=real) for k in ("E", "E2", "Q", "f1", "f2", "f3")}
        g = 1j * self.g_imag.to(device=x.device, dtype=real)
        g = g.to(_complex_dtype(real))
        v = torch.fft.rfft(x, dim=-1)
        Nv = self._nonlinear(v, g)
        a = c["E2"] * v + c["Q"] * Nv
        Na = self._nonlinear(a, g)
        b = c["E2"] * v + c["Q"] * Na
        Nb = self._nonlinear(b, g)
        cc = c["E2"] * a + c["Q"] * (2 * Nb - Nv)
        Nc = self._nonlinear(cc, g)
        v = c["E"] * v + c["f1"] * Nv + 2 * c["f2"] * (Na + Nb) + c["f3"] * Nc
        return torch.fft.irfft(v, n=self.n, dim=-1)

    def extra_repr(self) -> str:
        return (f"dt={self.dt:g}, n={self.n}, L={self.system.L:g}, contour_points={self.contour_points}, "
                f"dealias={self.dealias}")


class LatticeBoltzmann(Stepper):
    r"""D1Q3 BGK lattice Boltzmann with reaction, for FitzHugh–Nagumo (LED SI 8.3.1, eqs. 30–41).

    Populations f_i^c (channel c in {u, v}, velocity i in {-1, 0, +1}) stream one node per step:

    .. math::
        f_i(x_j + i\,\delta x, t_{k+1}) = f_i - \omega^c (f_i - \rho^c/3)
            + \tfrac{1}{3}\,\delta t\, R^c(u, v),
        \qquad \rho^c = \textstyle\sum_i f_i^c,\qquad \omega^c = \frac{2}{1 + 3 D^c \delta t / \delta x^2},

    with R^u = u - u^3 - v, R^v = eps (u - alpha1 v - alpha0) evaluated at t_k (eqs. 33–39).
    No-flux walls by bounce-back: the population that would leave the domain returns to its
    node with reversed velocity (wall half a cell outside the end nodes); mass is conserved
    exactly when R = 0. The scheme is consistent with eq. (29) to O(dx^2) under diffusive
    scaling dt ∝ dx^2 (first order in dt; measured in ``tests/test_pde.py``).

    State ``x [B, 2, n]`` (densities u, v). The carry holds the populations ``[B, 2, 3, n]``,
    initialised at the equal-weight equilibrium f_i = rho / 3 from the densities (eqs. 40–41);
    ``stepper(x)`` is one step from that equilibrium. ``reaction=False`` drops R (pure
    diffusion). ``omega`` overrides eq. (39); a value outside (0, 2) is unstable and raises.
    """

    order = 1

    def __init__(self, system, dt: float = 0.005, *, reaction: bool = True, omega=None):
        super().__init__()
        for attr in ("diffusivities", "dx", "reaction", "n"):
            if not hasattr(system, attr):
                raise TypeError(
                    f"system must be a FitzHughNagumo-like system with .{attr}, got {type(system).__name__}"
                )
        self.dt = validate.positive_float("dt", dt)
        self.system = system
        self.n = int(system.n)
        self.use_reaction = bool(reaction)
        dx = float(system.dx)
        if not (math.isfinite(dx) and dx > 0):
            raise ValueError(f"system.dx must be positive, got {dx!r}")
        D = system.diffusivities
        if omega is None:
            omega = tuple(2.0 / (1.0 + 3.0 * d * self.dt / dx**2) for d in D)
        omega = tuple(float(w) for w in np.atleast_1d(omega))
        if len(omega) != len(D):
            raise ValueError(f"omega must have one value per channel ({len(D)}), got {omega!r}")
        for c, (w, d) in enumerate(zip(omega, D)):
            if not (0.0 < w < 2.0):
                raise ValueError(
                    f"omega (BGK relaxation) of channel {c} must lie in (0, 2) for a stable scheme, got "
                    f"{w:g} (D = {d:g}, dt = {self.dt:g}, dx = {dx:g}; eq. 39 gives 2 / (1 + 3 D dt / dx^2))"
                )
        self.omega = omega
        self.register_buffer("omega_t", torch.tensor(omega, dtype=torch.float64)[:, None, None])

    def init_carry(self, x: torch.Tensor) -> torch.Tensor:
        """Equal-weight equilibrium f_i = rho / 3 (eqs. 40–41): ``[B, 2, n] -> [B, 2, 3, n]``."""
        self._check(x)
        return (x / 3.0)[:, :, None, :].expand(-1, -1, 3, -1).clone()

    def _check(self, x):
        check_state(x)
        if x.ndim != 3 or x.shape[1] != len(self.omega) or x.shape[2] != self.n:
            raise ValueError(f"x must have shape [batch, {len(self.omega)}, {self.n}], got {tuple(x.shape)}")

    def step(self, x: torch.Tensor, carry: Any = None) -> tuple[torch.Tensor, torch.Tensor]:
        """One LB step; ``x`` is only used when ``carry`` is None (the populations are the state)."""
        f = self.init_carry(x) if carry is None else carry
        if carry is not None:
            check_state(f, (len(self.omega), 3, self.n), "carry")
        rho = f.sum(dim=2)  # [B, C, n]
        omega = self.omega_t.to(device=f.device, dtype=f.dtype)
        post = f - omega * (f - rho[:, :, None, :] / 3.0)
        if self.use_reaction:
            post = post + (self.dt / 3.0) * self.system.reaction(rho)[:, :, None, :]
        left, rest, right = post[:, :, 0], post[:, :, 1], post[:, :, 2]  # velocities -1, 0, +1
        # stream; bounce-back at the walls (a population leaving the domain comes back reversed)
        new_left = torch.cat([left[..., 1:], right[..., -1:]], dim=-1)
        new_right = torch.cat([left[..., :1], right[..., :-1]], dim=-1)
        f = torch.stack([new_left, rest, new_right], dim=2)
        return f.sum(dim=2), f

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.step(x, None)[0]

    def advance(self, x: torch.Tensor, carry: Any, n_steps: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``n_steps`` steps at once: the same numbers as calling :meth:`step` ``n_steps`` times.

        On the CPU, for the FitzHugh–Nagumo reaction, with `numba <https://numba.pydata.org>`_ installed,
        the loop runs in one compiled kernel that performs the same floating-point operations in the
        same order as :meth:`step` (bit-for-bit equal here; ``tests/test_pde.py`` compares them), about
        15 times faster: the lattice-Boltzmann data sets of Parts II–III take seconds instead of minutes.
        Otherwise it loops over :meth:`step`. Returns ``(x [B, 2, n], populations [B, 2, 3, n])``.
        """
        n_steps = validate.nonnegative_int("n_steps", n_steps)
        f = self.init_carry(x) if carry is None else carry
        check_state(f, (len(self.omega), 3, self.n), "carry")
        kernel = lb_kernel() if self._fast_path_applies(f) else None
        if kernel is None:
            rho = f.sum(dim=2)
            for _ in range(n_steps):
                rho, f = self.step(rho, f)
            return rho, f
        s = self.system
        out = f.detach().numpy().copy()
        kernel(out, n_steps, np.asarray(self.omega, dtype=np.float64), float(s.eps), float(s.alpha1),
               float(s.alpha0), float(self.dt), self.use_reaction)
        f = torch.from_numpy(out)
        return f.sum(dim=2), f

    def _fast_path_applies(self, f: torch.Tensor) -> bool:
        from .systems import FitzHughNagumo

        return (f.device.type == "cpu" and f.dtype == torch.float64 and not f.requires_grad
                and len(self.omega) == 2 and type(self.system) is FitzHughNagumo)

    def extra_repr(self) -> str:
        omega = tuple(round(w, 6) for w in self.omega)
        return f"dt={self.dt:g}, dx={self.system.dx:g}, omega={omega}, reaction={self.use_reaction}"


@torch.no_grad()
def lyapunov_exponent(
    stepper: Stepper,
    x0: torch.Tensor,
    *,
    n_renorm: int,
    steps_per_renorm: int,
    eps: float = 1e-8,
    generator: torch.Generator | None = None,
    return_history: bool = False,
):
    r"""Largest Lyapunov exponent by two-trajectory renormalisation (Benettin et al. 1980).

    A perturbed copy y = x + eps * e (e a random unit direction) is advanced next to each
    reference state of ``x0 [B, *S]``; every ``steps_per_renorm`` steps the separation
    ``d = |y - x|`` is logged and y is pulled back to ``x + eps (y - x) / d``. The estimate is
    lambda_1 = sum log(d / eps) / (n_renorm * steps_per_renorm * dt), per reference trajectory.
    Start from states on the attractor (discard a transient first).

    Returns ``lambda [B]`` (float64), and with ``return_history=True`` also the running
    estimate ``[n_renorm, B]``. ``eps`` must be a positive finite number (``eps <= 0`` would divide
    by zero and return NaN), ``x0`` a floating-point tensor ``[B, *S]``.
    """
    n_renorm = validate.positive_int("n_renorm", n_renorm)
    steps_per_renorm = validate.positive_int("steps_per_renorm", steps_per_renorm)
    eps = validate.positive_float("eps", eps)
    validate.tensor("x0", x0)
    if x0.ndim < 2:
        raise ValueError(f"x0 must have shape [batch, *state] (at least 2-D), got {tuple(x0.shape)}")
    check_state(x0, name="x0")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    B = x0.shape[0]
    e = torch.randn(x0.shape, generator=generator, dtype=torch.float64).to(device=x0.device, dtype=x0.dtype)
    e = e / e.reshape(B, -1).norm(dim=1).reshape(B, *([1] * (x0.ndim - 1)))
    both = torch.cat([x0, x0 + eps * e], dim=0)
    carry = stepper.init_carry(both)
    log_sum = torch.zeros(B, dtype=torch.float64, device=x0.device)
    history = []
    for r in range(n_renorm):
        for _ in range(steps_per_renorm):
            both, carry = stepper.step(both, carry)
        x, y = both[:B], both[B:]
        diff = y - x
        d = diff.reshape(B, -1).norm(dim=1).to(torch.float64)
        log_sum += torch.log(d / eps)
        scale = (eps / d).to(x.dtype).reshape(B, *([1] * (x.ndim - 1)))
        both = torch.cat([x, x + diff * scale], dim=0)
        if carry is not None:  # steppers with state in the carry restart from the new states
            carry = stepper.init_carry(both)
        history.append(log_sum / ((r + 1) * steps_per_renorm * stepper.dt))
    lam = log_sum / (n_renorm * steps_per_renorm * stepper.dt)
    return (lam, torch.stack(history)) if return_history else lam


_LB_KERNEL: list = []


def lb_kernel():
    """The compiled FitzHugh–Nagumo lattice-Boltzmann loop (numba), or ``None`` without numba.

    Per node the operations and their order are those of :meth:`LatticeBoltzmann.step`: rho = f0 + f1 + f2,
    R^u = u - u*u*u - v, R^v = eps * (u - alpha1 * v - alpha0),
    post = f - omega * (f - rho / 3) + (dt / 3) * R,
    then streaming with bounce-back.
    """
    if _LB_KERNEL:
        return _LB_KERNEL[0]
    try:
        import numba
    except ImportError:
        _LB_KERNEL.append(None)
        return None

    @numba.njit(cache=False, fastmath=False)
    def kernel(f, n_steps, omega, eps, alpha1, alpha0, dt, reaction):  # pragma: no cover - compiled
        B, C, _, n = f.shape
        post = np.empty((C, 3, n))
        for b in range(B):
            for _s in range(n_steps):
                for j in range(n):
                    u = f[b, 0, 0, j] + f[b, 0, 1, j] + f[b, 0, 2, j]
                    v = f[b, 1, 0, j] + f[b, 1, 1, j] + f[b, 1, 2, j]
                    ru = (u - u * u * u) - v
                    rv = eps * ((u - alpha1 * v) - alpha0)
                    for c in range(2):
                        rho = u if c == 0 else v
                        r = ru if c == 0 else rv
                        for i in range(3):
                            fi = f[b, c, i, j]
                            value = fi - omega[c] * (fi - rho / 3.0)
                            post[c, i, j] = value + (dt / 3.0) * r if reaction else value
                for c in range(2):
                    for j in range(n - 1):
                        f[b, c, 0, j] = post[c, 0, j + 1]
                    f[b, c, 0, n - 1] = post[c, 2, n - 1]
                    for j in range(n):
                        f[b, c, 1, j] = post[c, 1, j]
                    for j in range(1, n):
                        f[b, c, 2, j] = post[c, 2, j - 1]
                    f[b, c, 2, 0] = post[c, 0, 0]

    _LB_KERNEL.append(kernel)
    return kernel
