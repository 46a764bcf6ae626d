r"""Coarse projective integration: the equation-free baseline LED is compared with (LED Sec. 1, Fig. 6A).

The equation-free framework (Kevrekidis, Gear et al. 2003) never writes down the coarse equations. It runs the
fine-scale simulator in short bursts and extrapolates what the bursts show. One cycle of *coarse projective
integration* (Gear & Kevrekidis 2003), from a coarse state :math:`U` at time :math:`t`:

1. **lift**: build a fine-scale state consistent with :math:`U` (for lattice Boltzmann: populations at
   equilibrium, :meth:`~hitslite.steppers.Stepper.restart_carry`);
2. **heal**: run ``heal_steps`` steps of the micro solver, so that the fast variables the lifting set
   arbitrarily relax onto the slow manifold;
3. **estimate**: run ``estimate_steps`` more steps and take the chord slope
   :math:`\dot U \approx (U_e - U_h) / (k_e h)` between the end of healing and the end of the burst;
4. **project**: jump ahead by :math:`\Delta` with forward Euler, :math:`U \leftarrow U_e + \Delta\,\dot U`.

Only the bursts cost micro steps, so against the micro solver alone the saving is
:math:`(T_\text{burst} + \Delta) / T_\text{burst}` at best. For a linear system :math:`\dot x = \lambda x`
integrated exactly by the micro solver, one cycle multiplies each eigencomponent by

.. math::
    G(\lambda) = e^{\lambda (k_h + k_e) h} \Big(1 + \Delta\,\frac{1 - e^{-\lambda k_e h}}{k_e h}\Big),

which ``tests/test_equation_free.py`` checks to round-off: slow components (:math:`|\lambda| \Delta \ll 1`)
follow the true flow to first order in :math:`\Delta`, and fast ones are stable as long as the burst damps
them (:math:`|G| < 1`).
"""

from __future__ import annotations

import torch

from . import validate
from .steppers import Stepper, assert_finite, check_state
from .trajectory import Trajectory

__all__ = ["projective_integration", "micro_fraction"]


def micro_fraction(heal_steps: int, estimate_steps: int, jump_steps: int) -> float:
    """Share of the output steps that the micro solver computes: ``(k_h + k_e) / (k_h + k_e + k_j)``.
    Its inverse is the largest speed-up a projective integrator can have over the micro solver alone."""
    heal_steps = validate.nonnegative_int("heal_steps", heal_steps)
    estimate_steps = validate.positive_int("estimate_steps", estimate_steps)
    jump_steps = validate.nonnegative_int("jump_steps", jump_steps)
    burst = heal_steps + estimate_steps
    return burst / (burst + jump_steps)


@torch.no_grad()
def projective_integration(micro: Stepper, x0: torch.Tensor, n_steps: int, *, heal_steps: int,
                           estimate_steps: int, jump_steps: int, t0: float = 0.0,
                           check_finite: bool = True) -> Trajectory:
    """Coarse projective integration of ``micro`` from the coarse states ``x0 [B, *S]``; see the module.

    All times are counted in steps ``h = micro.dt`` of the micro solver: each cycle lifts, runs
    ``heal_steps`` (``k_h >= 0``) and ``estimate_steps`` (``k_e >= 1``) micro steps, and jumps
    ``jump_steps`` (``k_j >= 0``, so ``Delta = k_j h``) along the estimated slope. The result is a
    :class:`~hitslite.trajectory.Trajectory` ``[B, n_steps + 1, *S]`` on the micro grid: micro states
    during bursts, points on the projective line ``U_e + (t - t_e) dU/dt`` during jumps. ``meta``
    records the settings, ``micro_steps`` (micro steps actually taken) and ``micro_fraction``.
    ``jump_steps=0, heal_steps=0`` is the micro solver restarted every ``estimate_steps`` steps.
    ``t0`` is the time of ``x0`` (handed to :meth:`~hitslite.steppers.Stepper.restart_carry`).
    """
    if not isinstance(micro, Stepper):
        raise TypeError(f"micro must be a hitslite Stepper, got {type(micro).__name__}")
    check_state(x0, name="x0")
    n_steps = validate.positive_int("n_steps", n_steps)
    heal_steps = validate.nonnegative_int("heal_steps", heal_steps)
    estimate_steps = validate.positive_int("estimate_steps", estimate_steps)
    jump_steps = validate.nonnegative_int("jump_steps", jump_steps)
    h = float(micro.dt)
    states = [x0]
    x, taken = x0, 0
    while len(states) <= n_steps:
        carry = micro.restart_carry(x, t0 + (len(states) - 1) * h)  # lift
        healed = x
        for k in range(heal_steps + estimate_steps):  # the burst, recorded as it goes
            x, carry = micro.step(x, carry)
            taken += 1
            states.append(x)
            if k + 1 == heal_steps:
                healed = x
        slope = (x - healed) / (estimate_steps * h)
        end = x
        for k in range(1, jump_steps + 1):  # project: forward Euler along the chord slope
            states.append(end + (k * h) * slope)
        x = states[-1]
    out = torch.stack(states[: n_steps + 1], dim=1)
    t = t0 + h * torch.arange(n_steps + 1, dtype=torch.float64)
    if check_finite:
        assert_finite(out, "projective_integration", t)
    meta = {"source": "projective_integration", "heal_steps": heal_steps, "estimate_steps": estimate_steps,
            "jump_steps": jump_steps, "micro_steps": taken,
            "micro_fraction": micro_fraction(heal_steps, estimate_steps, jump_steps)}
    return Trajectory(t=t, x=out, dt=h, meta=meta)
