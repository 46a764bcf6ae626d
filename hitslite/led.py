"""LED: learned effective dynamics — an autoencoder, a recurrent latent propagator, and the solver.

Vlachas, Arampatzis, Uhler, Koumoutsakos (2020), Sec. 2 and SI 6.6 (Figs. 1, 2, 13, 14):

1. **Warm-up** (teacher forcing). ``W`` true states ``s_{-W+1}, ..., s_0`` from the solver are
   encoded, ``z_k = E(s_k)``, and fed to the recurrent cell so that its hidden state carries the
   recent history; no forecast is made in this phase.
2. **Latent propagation** (macro scale). From ``z_0`` the cell runs freely,
   ``h_n = H(z_n, h_{n-1})``, ``z_{n+1} = R(h_n)`` (eq. 4); states are decoded only where wanted
   (here: all of them, in one batched call at the end).
3. **Multiscale alternation** (Fig. 14). Alternate ``T_m`` latent steps with ``T_mu`` steps of the
   micro solver restarted from the decoded state (lattice-Boltzmann populations reset to
   equilibrium, :meth:`~hitslite.steppers.Stepper.restart_carry`); the solver's states are
   re-encoded and fed to the cell, so its hidden state is current when the next macro phase
   starts. ``T_m = 0`` is the pure solver, ``T_mu = 0`` pure latent propagation.

The latent part — autoencoder and recurrent propagator — is a :class:`~hitslite.neural.Latent`
(:attr:`LED.latent`); what LED adds is the warm-up and the alternation with the micro solver.

Speed-up (LED Sec. 3.2, SI 8.3): ``S = (solver seconds per coarse time unit) / (LED seconds per
coarse time unit)``; :func:`measure_speedup` times both on the same batch in the same run.

Shapes: states ``[B, *S]``, warm-up sequences ``[B, W, *S]``, latent states ``[B, d_z]``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from . import timing, validate
from .neural import Latent
from .steppers import Stepper, assert_finite, check_state
from .trajectory import Trajectory

__all__ = ["LED", "measure_speedup"]


class LED(nn.Module):
    r"""Learned effective dynamics: encoder, recurrent latent propagator, decoder (LED Sec. 2).

    .. math::
        z_k = \mathcal E(s_k)\ (k \le 0,\ \text{warm-up}), \qquad
        h_n = \mathcal H(z_n, h_{n-1}),\ \ z_{n+1} = \mathcal R(h_n)\ (n \ge 0), \qquad
        \tilde s_n = \mathcal D(z_n).

    The attribute :attr:`dt` is the propagator's (coarse) step. :attr:`latent` is the latent part as a
    :class:`~hitslite.neural.Latent` (encoder, propagator, decoder): the same modules, registered once
    under LED's own names (``encoder``, ``decoder`` when it is another module, ``propagator``), so the
    ``state_dict`` keys are those of LED alone.

    Parameters
    ----------
    encoder, decoder
        Objects with ``encode`` / ``decode`` (an autoencoder: pass it twice) or callables,
        ``[..., *S] -> [..., d_z]`` and back. For particles the decoder samples a configuration
        (e.g. ``lambda z: model.decode(z, n_particles=1000, generator=g)``).
    propagator
        A :class:`~hitslite.neural.RecurrentStepper`, or any stepper with a carry and a
        ``teacher_forced(z, carry, return_carry=True)`` method, on latent states ``[B, d_z]``.
    """

    def __init__(self, encoder, propagator: Stepper, decoder):
        super().__init__()
        if not hasattr(propagator, "teacher_forced") or not hasattr(propagator, "step"):
            raise TypeError("propagator must be a recurrent stepper with step() and teacher_forced(), e.g. "
                            f"hitslite.neural.RecurrentStepper; got {type(propagator).__name__}")
        latent = Latent(encoder, propagator, decoder)
        for name, module in latent.named_children():  # the encoder, and the decoder if another module
            if module is not propagator:
                self.add_module(name, module)
        self.propagator = propagator
        # a view of the modules just registered, not a second registration (one set of state_dict keys)
        self.__dict__["latent"] = latent
        #: the state shape ``S`` when the encoder declares one (checked on input)
        self.state_shape = getattr(encoder, "state_shape", None)

    @property
    def dt(self) -> float:
        return float(self.propagator.dt)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``x [..., *S] -> z [..., d_z]``."""
        return self.latent.encode(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``z [..., d_z] -> x [..., *S]`` (a sample, for a probabilistic decoder)."""
        return self.latent.decode(z)

    # ------------------------------------------------------------------ warm-up / propagation
    def _check_warm(self, x_warm):
        if not isinstance(x_warm, torch.Tensor):
            raise TypeError(f"x_warm must be a torch.Tensor [batch, W, *state], got {type(x_warm).__name__}")
        if x_warm.ndim < 3 or x_warm.shape[1] < 1:
            raise ValueError(f"x_warm must have shape [batch, W >= 1, *state] (the warm-up states, the last "
                             f"one the forecast's initial state), got {tuple(x_warm.shape)}")
        if self.state_shape is not None and tuple(x_warm.shape[2:]) != tuple(self.state_shape):
            raise ValueError(f"x_warm must have shape [batch, W, {', '.join(map(str, self.state_shape))}] "
                             f"(the encoder's state shape), got {tuple(x_warm.shape)}")
        if x_warm.shape[0] < 1:
            raise ValueError(f"x_warm must hold at least one trajectory (a non-empty batch), got "
                             f"{tuple(x_warm.shape)}")
        check_state(x_warm, name="x_warm")

    def warm_up(self, x_warm: torch.Tensor, *, latent: torch.Tensor | None = None):
        """Teacher-force the cell on the encoded warm-up states (Fig. 1).

        ``x_warm [B, W, *S]`` are true states ``s_{-W+1} .. s_0``. The cell consumes
        ``z_{-W+1} .. z_{-1}``; returns ``(z_0 [B, d_z], carry)``, ready for the first free step
        from ``z_0``. ``latent`` passes precomputed encodings ``[B, W, d_z]``.
        """
        self._check_warm(x_warm)
        z = self.latent.encode(x_warm) if latent is None else latent
        carry = self.propagator.init_carry(z[:, 0])
        if z.shape[1] > 1:
            _, carry = self.propagator.teacher_forced(z[:, :-1], carry, return_carry=True)
        return z[:, -1], carry

    def forecast(self, x_warm: torch.Tensor, n_steps: int, *, dt: float | None = None, decode: bool = True,
                 check_finite: bool = True, t0: float = 0.0) -> Trajectory:
        """Warm-up, then ``n_steps`` of pure latent propagation (Fig. 13; ``T_mu = 0``).

        Returns a :class:`~hitslite.trajectory.Trajectory` ``x [B, n_steps + 1, *S]`` starting at the
        last warm-up state (index 0 is ``decode(encode(s_0))``); ``meta['latent']`` holds
        ``[B, n_steps + 1, d_z]``. A non-finite latent state raises
        :class:`~hitslite.steppers.ForecastDivergedError` naming the step. ``dt``, if given, must be
        the propagator's step (the signature of :func:`hitslite.steppers.forecast`, whose ``x0`` is
        here the warm-up window).
        """
        if dt is not None and not math.isclose(validate.positive_float("dt", dt), self.dt, rel_tol=1e-9):
            raise ValueError(f"dt must be the propagator's step {self.dt:g} (LED forecasts on its own grid), "
                             f"got {dt:g}")
        return self.multiscale_forecast(x_warm, n_steps, None, macro_steps=max(n_steps, 1), micro_steps=0,
                                        decode=decode, check_finite=check_finite, t0=t0)

    # ------------------------------------------------------------------ multiscale (SI 6.6)
    def multiscale_forecast(self, x_warm: torch.Tensor, n_steps: int, micro: Stepper | None, *,
                            macro_steps: int, micro_steps: int, decode: bool = True,
                            check_finite: bool = True, t0: float = 0.0,
                            decode_fn: Callable[[torch.Tensor], torch.Tensor] | None = None) -> Trajectory:
        """Alternate ``macro_steps`` (T_m) latent steps with ``micro_steps`` (T_mu) solver steps.

        After the warm-up on ``x_warm [B, W, *S]`` the schedule is macro, micro, macro, ... until
        ``n_steps`` coarse steps are made. ``micro`` advances ``[B, *S]`` by the same coarse step
        as the propagator (e.g. ``Repeated(LatticeBoltzmann(fhn, 0.005), 200)`` for Δt = 1). A
        micro phase after a macro phase restarts the solver from the decoded state via
        ``micro.restart_carry(x, t, carry)``; after a macro phase of zero steps the solver simply
        continues, so ``macro_steps=0`` reproduces the solver exactly. Every solver state is
        encoded and fed to the cell (teacher forcing), keeping the hidden state current.

        Returns ``x [B, n_steps + 1, *S]`` (index 0 is the true ``s_0`` when the schedule starts
        with the solver, else ``decode(z_0)``) with ``meta``: ``latent [B, n_steps + 1, d_z]``,
        ``micro_mask [n_steps + 1]`` (True where the state came from the solver), ``seconds``
        (macro / micro / encode / decode wall times, device-synchronised) and ``rho = T_m/T_mu``.
        ``decode=False`` returns the latent trajectory only (solver states still encoded).
        ``decode_fn`` overrides the decoder for the output (e.g. the MDN's mean instead of a sample).
        """
        self._check_warm(x_warm)
        n_steps = validate.nonnegative_int("n_steps", n_steps)
        t0 = validate.finite_float("t0", t0)
        macro_steps = validate.nonnegative_int("macro_steps", macro_steps)
        micro_steps = validate.nonnegative_int("micro_steps", micro_steps)
        if macro_steps == 0 and micro_steps == 0:
            raise ValueError("macro_steps and micro_steps cannot both be 0")
        if micro_steps > 0:
            if micro is None:
                raise ValueError("micro_steps > 0 needs a micro solver (micro=...)")
            if not math.isclose(float(micro.dt), self.dt, rel_tol=1e-9):
                raise ValueError(f"micro.dt ({micro.dt:g}) must equal the propagator's coarse step dt "
                                 f"({self.dt:g}); wrap a fine solver in Repeated(solver, m)")
        decoder = self.latent.decode if decode_fn is None else decode_fn
        seconds = {"macro": 0.0, "micro": 0.0, "encode": 0.0, "decode": 0.0, "warm_up": 0.0}

        def clock():
            timing.synchronize(x_warm.device)
            return time.perf_counter()

        with torch.no_grad():
            c0 = clock()
            z0, carry = self.warm_up(x_warm)
            seconds["warm_up"] = clock() - c0
            x_true0 = x_warm[:, -1]
            latents = [z0]
            micro_states: dict[int, torch.Tensor] = {}  # step index -> solver state
            mask = torch.zeros(n_steps + 1, dtype=torch.bool)
            pos, phase = 0, "macro" if macro_steps > 0 else "micro"
            x_micro, micro_carry, last_macro_len = None, None, 0
            while pos < n_steps:
                if phase == "macro":
                    m = min(macro_steps, n_steps - pos)
                    c0 = clock()
                    z = latents[-1]
                    for _ in range(m):
                        z, carry = self.propagator.step(z, carry)
                        latents.append(z)
                    seconds["macro"] += clock() - c0
                    pos += m
                    last_macro_len = m
                    phase = "micro" if micro_steps > 0 else "macro"
                    continue
                # ---- micro phase
                u = min(micro_steps, n_steps - pos)
                t_now = t0 + pos * self.dt
                if x_micro is None and pos == 0:  # the schedule starts with the solver: the true s_0
                    x_micro = x_true0
                    micro_states[0] = x_true0
                    mask[0] = True
                    micro_carry = micro.restart_carry(x_micro, t_now, None)
                elif last_macro_len > 0 or x_micro is None:  # hand over from the latent space
                    c1 = clock()
                    x_micro = decoder(latents[-1]).to(x_true0.dtype)
                    seconds["decode"] += clock() - c1
                    micro_carry = micro.restart_carry(x_micro, t_now, micro_carry)
                c1 = clock()
                new_states = []
                for _ in range(u):
                    x_micro, micro_carry = micro.step(x_micro, micro_carry)
                    new_states.append(x_micro)
                seconds["micro"] += clock() - c1
                c1 = clock()
                z_new = self.latent.encode(torch.stack(new_states, dim=1))  # [B, u, d]
                seconds["encode"] += clock() - c1
                c1 = clock()
                # teacher-force the cell on the phase's inputs: the state it starts from, then all but
                # the last new state (the last one is the next macro phase's starting point)
                inputs = torch.cat([latents[-1][:, None], z_new[:, :-1]], dim=1)
                _, carry = self.propagator.teacher_forced(inputs, carry, return_carry=True)
                seconds["macro"] += clock() - c1
                for k in range(u):
                    latents.append(z_new[:, k])
                    micro_states[pos + 1 + k] = new_states[k]
                    mask[pos + 1 + k] = True
                pos += u
                last_macro_len = 0
                phase = "macro" if macro_steps > 0 else "micro"
            z_all = torch.stack(latents, dim=1)
            t = t0 + self.dt * torch.arange(n_steps + 1, dtype=torch.float64)
            if check_finite:
                assert_finite(z_all, "LED latent forecast", t)
            rho = (macro_steps / micro_steps) if micro_steps else math.inf
            meta = {"source": "LED.multiscale_forecast", "macro_steps": macro_steps,
                    "micro_steps": micro_steps, "rho": rho, "micro_mask": mask, "seconds": seconds}
            if not decode:
                return Trajectory(t=t, x=z_all, dt=self.dt, meta=meta)
            c0 = clock()
            macro_idx = (~mask).nonzero().squeeze(1)
            x_out = None
            if len(macro_idx):
                dec = decoder(z_all[:, macro_idx]).to(x_true0.dtype)
                x_out = x_true0.new_zeros((x_true0.shape[0], n_steps + 1, *dec.shape[2:]))
                x_out[:, macro_idx] = dec
            seconds["decode"] += clock() - c0
            if x_out is None:
                x_out = x_true0.new_zeros((x_true0.shape[0], n_steps + 1, *x_true0.shape[1:]))
            for k, state in micro_states.items():
                x_out[:, k] = state
            if check_finite:
                assert_finite(x_out, "LED forecast", t)
        meta["latent"] = Trajectory(t=t, x=z_all, dt=self.dt, meta={"source": "LED latent"})
        return Trajectory(t=t, x=x_out, dt=self.dt, meta=meta)

    def extra_repr(self) -> str:
        return f"dt={self.dt:g}"


def measure_speedup(led: LED, micro: Stepper, x_warm: torch.Tensor, n_steps: int, *,
                    macro_steps: int, micro_steps: int, repeats: int = 1, led_steps: int | None = None,
                    **forecast_kwargs: Any) -> dict[str, float]:
    """Speed-up S of LED over the micro solver on the same batch, timed in the same run (LED Sec. 3.2).

    Runs the solver alone for ``n_steps`` coarse steps from ``x_warm[:, -1]`` and
    :meth:`LED.multiscale_forecast` over ``led_steps`` coarse steps (default the same ``n_steps``;
    the solver's cost per step is constant, so an expensive solver can be timed over fewer steps
    than a cheap forecast needs to be timed well), warm-up excluded from both (it is the same
    solver run either way); takes the fastest of ``repeats`` runs of each. Returns seconds per
    coarse time unit for both, ``S = solver / LED`` per unit and ``rho``.
    """
    n_steps = validate.positive_int("n_steps", n_steps)  # (0 steps: nothing to time)
    led_steps = n_steps if led_steps is None else validate.positive_int("led_steps", led_steps)
    repeats = validate.positive_int("repeats", repeats)
    led._check_warm(x_warm)
    x0 = x_warm[:, -1]

    def solver():
        x, carry = x0, micro.init_carry(x0)
        for _ in range(n_steps):
            x, carry = micro.step(x, carry)

    t_led = math.inf
    with torch.no_grad():
        t_micro = timing.best_time(solver, repeats, device=x0.device)
        for _ in range(repeats):  # LED's own clock: its phases, device-synchronised, without the warm-up
            traj = led.multiscale_forecast(x_warm, led_steps, micro, macro_steps=macro_steps,
                                           micro_steps=micro_steps, **forecast_kwargs)
            sec = traj.meta["seconds"]
            t_led = min(t_led, sum(v for k, v in sec.items() if k != "warm_up"))
    solver, led_rate = t_micro / (n_steps * led.dt), t_led / (led_steps * led.dt)
    return {"solver_seconds_per_unit": solver, "led_seconds_per_unit": led_rate,
            "S": solver / led_rate, "rho": traj.meta["rho"], "batch": int(x0.shape[0])}
