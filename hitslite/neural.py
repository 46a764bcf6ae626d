"""Learned steppers.

* :class:`MLP` — a plain feed-forward network (ReLU hidden layers, linear output).
* :class:`ResNetStepper` — HiTS eqs. (7)–(8): x_{n+1} = x_n + F̂(x_n), one network per step size.
* :class:`Latent` — a stepper (or a whole :class:`~hitslite.multiscale.Hierarchy`) run in the
  coordinates of an encoder/decoder pair: L-HiTS Algorithm 1.
* :class:`RecurrentStepper` — LED's latent propagator (LED eqs. 4, 13–20): an LSTM or GRU cell
  whose hidden state rides in the carry, and a linear read-out of the next latent state.

Neural steppers compute in their parameters' dtype (float32 by default) and return the input's
dtype, so they mix with float64 classical steppers inside a hybrid hierarchy. The input must be
floating point: an integer state raises ``TypeError`` (casting the output back to an integer
dtype would truncate the step to nothing).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from . import validate
from .steppers import Stepper, check_state, forecast
from .trajectory import Trajectory, interpolate_gaps

__all__ = ["MLP", "ResNetStepper", "ResNetStack", "Latent", "RecurrentStepper", "ACTIVATIONS"]

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "elu": nn.ELU, "gelu": nn.GELU, "silu": nn.SiLU}


class MLP(nn.Module):
    """Feed-forward network ``sizes[0] -> ... -> sizes[-1]``: Linear + activation, last layer linear.

    ``MLP([2, 128, 128, 2])`` has two hidden layers of width 128. Input ``[..., sizes[0]]``.
    """

    def __init__(self, sizes: Sequence[int], activation: str = "relu"):
        super().__init__()
        sizes = list(sizes)
        if len(sizes) < 2 or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in sizes):
            raise ValueError(f"sizes must be >= 2 positive ints (input, ..., output), got {sizes!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(ACTIVATIONS[activation]())
        self.net = nn.Sequential(*layers)
        self.sizes = sizes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ResNetStepper(Stepper):
    r"""A neural time-stepper with a skip connection (HiTS eqs. 7–8).

    .. math:: \hat x_{t+\Delta t} = x_t + \hat F(x_t;\,\theta),

    where :math:`\hat F` is an :class:`MLP` with ReLU hidden layers: the network learns the
    *increment* of the flow map over one step ``dt``, not the map itself.

    Parameters
    ----------
    state_shape : the shape ``S`` of one state (an int for a vector state); input is ``[B, *S]``.
    dt : the step size this network was (or will be) trained for.
    hidden : widths of the hidden layers; HiTS Table 2 uses three layers (e.g. 128, 128, 128).
    """

    def __init__(self, state_shape: int | Sequence[int], dt: float, hidden: Sequence[int] = (128, 128, 128),
                 activation: str = "relu"):
        super().__init__()
        shape = (state_shape,) if isinstance(state_shape, int) else tuple(state_shape)
        if not shape or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in shape):
            raise ValueError(f"state_shape must be a positive int or tuple of them, got {state_shape!r}")
        self.state_shape = shape
        self.dt = validate.positive_float("dt", dt)
        dim = math.prod(shape)
        self.increment = MLP([dim, *hidden, dim], activation)
        self.hidden = tuple(hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One step ``x [B, *S] -> x + F̂(x) [B, *S]``, in the input's dtype (floating point)."""
        check_state(x)
        if tuple(x.shape[1:]) != self.state_shape:
            raise ValueError(
                f"ResNetStepper expects states of shape [batch, {', '.join(map(str, self.state_shape))}], "
                f"got {tuple(x.shape)}"
            )
        w = self.increment.net[0].weight
        dx = self.increment(x.reshape(x.shape[0], -1).to(w.dtype)).reshape(x.shape)
        return x + dx.to(x.dtype)

    def extra_repr(self) -> str:
        return f"dt={self.dt:g}, state_shape={self.state_shape}, hidden={list(self.hidden)}"


class ResNetStack(nn.Module):
    r"""``L`` ResNet steppers of one architecture evaluated together, for batched training.

    Layer ``j`` holds weights ``[L, out, in]`` and biases ``[L, 1, out]``; input ``x [L, N, D]``
    (level ``l``'s batch in ``x[l]``) gives ``x + F̂_l(x)`` for every level in one ``baddbmm``
    per layer — one call instead of ``L``, which is what makes training the eleven HiTS levels
    together faster than one by one. Build it from existing steppers with :meth:`from_steppers`
    and copy the trained weights back with :meth:`unstack_into`.
    """

    def __init__(self, steppers: Sequence[ResNetStepper]):
        super().__init__()
        steppers = list(steppers)
        if not steppers or not all(isinstance(s, ResNetStepper) for s in steppers):
            raise TypeError("steppers must be a non-empty sequence of ResNetStepper")
        first = steppers[0]
        if any(s.state_shape != first.state_shape or s.hidden != first.hidden for s in steppers):
            raise ValueError("all steppers of a ResNetStack must share state_shape and hidden widths")
        self.dts = [s.dt for s in steppers]
        self.state_shape = first.state_shape
        self.activation = type(first.increment.net[1]) if len(first.increment.net) > 1 else None
        linears = [[m for m in s.increment.net if isinstance(m, nn.Linear)] for s in steppers]
        self.weights = nn.ParameterList(
            nn.Parameter(torch.stack([lin[j].weight.detach() for lin in linears]).clone())
            for j in range(len(linears[0])))
        self.biases = nn.ParameterList(
            nn.Parameter(torch.stack([lin[j].bias.detach() for lin in linears])[:, None, :].clone())
            for j in range(len(linears[0])))

    @classmethod
    def from_steppers(cls, steppers: Sequence[ResNetStepper]) -> ResNetStack:
        return cls(steppers)

    def __len__(self) -> int:
        return len(self.dts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x [L, N, *S] -> [L, N, *S]``: one step of every level on its own batch."""
        check_state(x)
        L, N = x.shape[:2]
        if L != len(self) or tuple(x.shape[2:]) != self.state_shape:
            shape = ", ".join(map(str, self.state_shape))
            raise ValueError(f"ResNetStack expects [{len(self)}, N, {shape}], got {tuple(x.shape)}")
        h = x.reshape(L, N, -1).to(self.weights[0].dtype)
        act = self.activation() if self.activation is not None else None
        for j, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = torch.baddbmm(b, h, w.transpose(1, 2))
            if j < len(self.weights) - 1:
                h = act(h)
        return x + h.reshape(x.shape).to(x.dtype)

    @torch.no_grad()
    def unstack_into(self, steppers: Sequence[ResNetStepper], levels: Sequence[int] | None = None) -> None:
        """Copy the weights of stack levels ``levels`` (default all) into ``steppers``."""
        levels = range(len(self)) if levels is None else levels
        for s, l in zip(steppers, levels):
            linears = [m for m in s.increment.net if isinstance(m, nn.Linear)]
            for j, lin in enumerate(linears):
                lin.weight.copy_(self.weights[j][l])
                lin.bias.copy_(self.biases[j][l, 0])


# ----------------------------------------------------------------------------------------
# L-HiTS: stepping in learned coordinates
# ----------------------------------------------------------------------------------------
def _coordinate_map(obj, method: str, name: str):
    """``obj.method`` if ``obj`` has it (an autoencoder or PCA), else ``obj`` itself if callable."""
    fn = getattr(obj, method, None)
    if callable(fn):
        return fn
    if callable(obj):
        return obj
    raise TypeError(f"{name} must be callable or have a .{method}() method, got {type(obj).__name__}")


def _register_coordinates(module: nn.Module, encoder, decoder) -> None:
    """Register an encoder/decoder that are modules as submodules of ``module`` (once, when they are
    the same autoencoder), so ``.to()`` and ``state_dict`` cover them."""
    if isinstance(encoder, nn.Module):
        module.encoder = encoder
    if isinstance(decoder, nn.Module) and decoder is not encoder:
        module.decoder = decoder


class Latent(Stepper):
    r"""A stepper, or a whole hierarchy, run in latent coordinates (L-HiTS Sec. 3.3, Algorithm 1).

    .. math::
        z_0 = f_E(x_0), \qquad z_{n+1} = \mathcal N(z_n)\ \text{(eq. 12)}, \qquad \hat x_n = f_D(z_n).

    ``encoder`` maps ``x [..., *S] -> z [..., d]`` and ``decoder`` back; either may be a callable
    or an object with ``encode`` / ``decode`` (an :class:`~hitslite.nets.Autoencoder` or
    :class:`~hitslite.nets.PCA`; pass it twice). Modules are registered, so ``.to()`` and
    ``state_dict`` cover them. ``stepper`` advances latent states ``[B, d]``: a
    :class:`~hitslite.steppers.Stepper` or a :class:`~hitslite.multiscale.Hierarchy`.

    Three ways to run it, all exact compositions (the accuracy is that of the inner stepper
    plus the reconstruction error of the coordinates):

    * as a stepper inside :func:`~hitslite.steppers.rollout`: the latent state lives in the
      carry, so the state is encoded **once** (``init_carry``), stepped in latent space and only
      decoded at each step — never re-encoded;
    * as a level of a :class:`~hitslite.multiscale.Hierarchy`: ``forward(x)`` encodes, steps
      and decodes, so ``Hierarchy([Latent(...), ...])`` works unchanged, but pays an encode and
      a decode at every call;
    * :meth:`forecast` — the efficient L-HiTS path: encode ``x0`` once, forecast with the inner
      model entirely on ``[*, d]`` latent states (:func:`~hitslite.steppers.forecast`: a hierarchy's
      vectorised Algorithm 1, or a single stepper's steps), interpolate in latent space (Algorithm 1,
      lines 11–12), then decode all ``B (T+1)`` states in a single batched call (line 13).

    :attr:`dt` is the inner stepper's step (a hierarchy's finest step). Outputs have the input's
    dtype.
    """

    def __init__(self, encoder, stepper, decoder):
        super().__init__()
        self._encode = _coordinate_map(encoder, "encode", "encoder")
        self._decode = _coordinate_map(decoder, "decode", "decoder")
        if not hasattr(stepper, "dt"):
            raise TypeError(f"stepper must be a Stepper or Hierarchy (with .dt), got "
                            f"{type(stepper).__name__}")
        _register_coordinates(self, encoder, decoder)
        self.inner = stepper

    @property
    def dt(self) -> float:  # noqa: D102 - documented in the class
        return self.inner.dt

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``x [..., *S] -> z [..., d]``."""
        return self._encode(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``z [..., d] -> x [..., *S]``."""
        return self._decode(z)

    def _single(self, what: str):
        inner = self.inner
        if not (callable(getattr(inner, "step", None)) and callable(getattr(inner, "init_carry", None))):
            raise TypeError(f"Latent.{what} needs a single inner stepper; this one wraps a "
                            f"{type(self.inner).__name__} — use Latent.forecast(x0, n_steps) instead")

    def init_carry(self, x: torch.Tensor):
        """``(z, inner carry)`` with ``z = encode(x)``: the latent state rides in the carry."""
        self._single("init_carry")
        check_state(x)
        z = self._encode(x)
        return (z, self.inner.init_carry(z))

    def step(self, x: torch.Tensor, carry=None):
        """One latent step: ``(x [B, *S], (z, c)) -> (decode(z') [B, *S], (z', c'))``."""
        self._single("step")
        check_state(x)
        if carry is None:
            carry = self.init_carry(x)
        z, inner_carry = carry
        z, inner_carry = self.inner.step(z, inner_carry)
        return self._decode(z).to(x.dtype), (z, inner_carry)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Encode, one inner step, decode: ``x [B, *S] -> [B, *S]``."""
        return self.step(x)[0]

    def forecast(self, x0: torch.Tensor, n_steps: int, *, dt: float | None = None,
                 check_finite: bool = True, decode: bool = True, interpolate: str = "latent") -> Trajectory:
        """L-HiTS Algorithm 1 from ``x0 [B, *S]`` over ``n_steps`` output steps of ``dt``.

        Returns a :class:`~hitslite.trajectory.Trajectory` with ``x [B, n_steps + 1, *S]`` (or the latent
        ``[B, n_steps + 1, d]`` with ``decode=False``); ``meta['latent']`` holds the latent
        trajectory. The inner model forecasts itself (:func:`~hitslite.steppers.forecast`): a hierarchy
        runs :meth:`~hitslite.multiscale.Hierarchy.forecast`, a single stepper
        :meth:`~hitslite.steppers.Stepper.forecast` (its coarse steps linearly interpolated onto ``dt``,
        the paper's protocol for single NNTS in Tables 3–4).

        ``interpolate="latent"`` (Algorithm 1, lines 12–13) decodes every output state;
        ``"state"`` decodes only the states the inner model computed (``meta['known']``) and
        interpolates the decoded states linearly — cheaper when the finest coupled step is much
        coarser than ``dt``, and not the same numbers, since the decoder is nonlinear.
        """
        validate.one_of("interpolate", interpolate, ("latent", "state"))
        if not isinstance(x0, torch.Tensor) or x0.ndim < 2:
            raise ValueError(f"x0 must be a tensor of shape [batch, *state], got "
                             f"{tuple(x0.shape) if isinstance(x0, torch.Tensor) else type(x0).__name__}")
        check_state(x0, name="x0")
        z0 = self._encode(x0)
        latent = forecast(self.inner, z0, n_steps, dt, check_finite=check_finite)
        if not decode:
            return latent
        if interpolate == "state":
            ext = latent
            if not bool(latent.meta["known"][-1]):
                # the last output step lies between two computed states: forecast on to the coarsest
                # level's next state (the same states: the schedule does not change)
                stride = validate.integer_ratio("the coarsest step", latent.meta["dts"][0], latent.dt)
                ext = forecast(self.inner, z0, math.ceil(n_steps / stride) * stride, dt,
                               check_finite=check_finite)
            known_idx = ext.meta["known"].nonzero().squeeze(1)
            x = interpolate_gaps(known_idx, self._decode(ext.x[:, known_idx.to(ext.x.device)]), n_steps)
            x = x.to(x0.dtype)
        else:
            x = self._decode(latent.x).to(x0.dtype)
        meta = {**latent.meta, "source": "Latent.forecast", "latent": latent}
        return Trajectory(t=latent.t, x=x, dt=latent.dt, meta=meta)

    def extra_repr(self) -> str:
        return f"dt={self.dt:g}"


# ----------------------------------------------------------------------------------------
# LED: a recurrent stepper for latent dynamics
# ----------------------------------------------------------------------------------------
class RecurrentStepper(Stepper):
    r"""LED's latent propagator: a recurrent cell with a linear read-out (LED eqs. 4, 13–20).

    .. math::
        h_n = \mathcal H(z_n, h_{n-1}) \ \text{(LSTM eqs. 18–19, or GRU eq. 17)}, \qquad
        \tilde z_{n+1} = W h_n + b \ \text{(eq. 16)}.

    The network predicts the next latent state itself, not an increment. The hidden state
    (``h`` for a GRU, ``(h, c)`` for an LSTM, each ``[layers, B, hidden]``) is the carry, zero at
    :meth:`init_carry`; a forecast must thread it (:func:`~hitslite.steppers.rollout` does), and
    :meth:`teacher_forced` runs the cell over a whole true sequence in one fused call — how the
    LED warm-up (Sec. 2, Fig. 1) and training by backpropagation through time see it.

    Read-out (call :meth:`fit_scaling` on the training latents first; the buffers
    ``shift``/``scale`` map ``z -> (z - shift) / scale`` and back):

    * ``output="bounded"`` — the reference code: latents min-max scaled to [0, 1] and the read-out
      ended by :math:`\tfrac12 + \tfrac12\tanh(\cdot)`, so a free-running forecast never leaves
      the range seen in training;
    * ``output="linear"`` — eq. 16 as printed, on standardised latents;
    * ``output="residual"`` — :math:`\tilde z_{n+1} = z_n + \sigma_{\Delta} \odot W h_n`, the
      read-out predicts the *increment* scaled by the standard deviation of the training
      increments (buffer ``increment_scale``). Not in the LED paper: at sampling steps where the
      latent state changes little per step (KS: Δt = 0.25), a directly predicting cell must first
      learn the identity, and on a CPU budget it stays worse than persistence; the increment form
      starts from persistence (the ResNet idea of HiTS eq. 7 applied to the read-out).

    Inputs and outputs are always in the autoencoder's latent units.

    Parameters
    ----------
    latent_dim : int
        ``d_z``; states are ``[B, d_z]``.
    hidden : int
        ``d_h``, units of the cell (LED selected 32 for FHN, SI Table 6; GRU 200 for KS, SI 8.4).
    cell : "lstm" or "gru"
    layers : int
        Stacked recurrent layers (LED used 1).
    dt : float
        The coarse step the network was trained for (LED: Δt = 1 for FHN, 0.25 for KS, 0.5 for
        the particles).
    output : "bounded" or "linear"
    """

    def __init__(self, latent_dim: int, hidden: int = 32, *, cell: str = "lstm", layers: int = 1,
                 dt: float = 1.0, output: str = "bounded"):
        super().__init__()
        latent_dim = validate.positive_int("latent_dim", latent_dim)
        hidden = validate.positive_int("hidden", hidden)
        layers = validate.positive_int("layers", layers)
        if cell not in ("lstm", "gru"):
            raise ValueError(f"cell must be 'lstm' or 'gru', got {cell!r}")
        if output not in ("bounded", "linear", "residual"):
            raise ValueError(f"output must be 'bounded' (0.5 + 0.5 tanh on min-max scaled latents), "
                             f"'linear' (eq. 16 on standardised latents) or 'residual' (z + scaled "
                             f"increment), got {output!r}")
        self.latent_dim, self.hidden, self.layers = latent_dim, hidden, layers
        self.cell_type, self.output, self.dt = cell, output, validate.positive_float("dt", dt)
        rnn = nn.LSTM if cell == "lstm" else nn.GRU
        self.rnn = rnn(latent_dim, hidden, num_layers=layers, batch_first=True)
        self.readout = nn.Linear(hidden, latent_dim)
        self.register_buffer("shift", torch.zeros(latent_dim))
        self.register_buffer("scale", torch.ones(latent_dim))
        if output == "residual":
            self.register_buffer("increment_scale", torch.ones(latent_dim))

    @torch.no_grad()
    def fit_scaling(self, z: torch.Tensor) -> RecurrentStepper:
        """Fit the latent scaling on training latents ``z [..., d_z]``: min-max to [0, 1] for
        ``output="bounded"`` (a 5 % margin on each side, so the tanh is not asked to saturate at
        the extremes of the data), mean/std for ``"linear"`` and ``"residual"``; the latter also
        needs trajectories ``z [B, T, d_z]`` for the standard deviation of the increments.
        ``z`` must be non-empty and finite (one NaN would poison every later step). Returns self."""
        self._check(z, "z")
        validate.nonempty_batch("z", z)
        validate.finite_tensor("z", z)
        if self.output == "residual":
            if z.ndim != 3 or z.shape[1] < 2:
                raise ValueError(f"output='residual' needs latent trajectories z [batch, time >= 2, "
                                 f"{self.latent_dim}] to scale the increments, got {tuple(z.shape)}")
            inc = (z[:, 1:] - z[:, :-1]).reshape(-1, self.latent_dim).to(self.shift)
            std = inc.std(0) if inc.shape[0] > 1 else torch.ones_like(inc[0])
            self.increment_scale.copy_(torch.where(std > 0, std, torch.ones_like(std)))
        flat = z.reshape(-1, self.latent_dim).to(self.shift)
        if self.output == "bounded":
            lo, hi = flat.min(0).values, flat.max(0).values
            span = torch.where(hi > lo, hi - lo, torch.ones_like(hi))
            self.shift.copy_(lo - 0.05 * span)
            self.scale.copy_(1.1 * span)
        else:
            std = flat.std(0) if flat.shape[0] > 1 else torch.ones_like(flat[0])
            self.shift.copy_(flat.mean(0))
            self.scale.copy_(torch.where(std > 0, std, torch.ones_like(std)))
        return self

    def _check(self, z, name):
        check_state(z, name=name)
        if z.ndim < 2 or z.shape[-1] != self.latent_dim:
            raise ValueError(f"{name} must have shape [batch, ..., {self.latent_dim}] (latent_dim "
                             f"{self.latent_dim}), got {tuple(z.shape)}")

    def _scale_in(self, z):
        w = self.readout.weight
        return (z.to(w.dtype) - self.shift.to(w.dtype)) / self.scale.to(w.dtype)

    def _scale_out(self, y, dtype, z):
        if self.output == "residual":
            return (z.to(y.dtype) + y * self.increment_scale.to(y.dtype)).to(dtype)
        if self.output == "bounded":
            y = 0.5 + 0.5 * torch.tanh(y)
        return (y * self.scale.to(y.dtype) + self.shift.to(y.dtype)).to(dtype)

    def init_carry(self, z: torch.Tensor):
        """Zero hidden state for a batch ``z [B, d_z]``: ``h`` (GRU) or ``(h, c)`` (LSTM)."""
        self._check(z, "z")
        w = self.readout.weight
        zeros = torch.zeros(self.layers, z.shape[0], self.hidden, dtype=w.dtype, device=w.device)
        return (zeros, zeros.clone()) if self.cell_type == "lstm" else zeros

    def step(self, z: torch.Tensor, carry=None):
        """``(z_n [B, d_z], h_{n-1}) -> (z̃_{n+1} [B, d_z], h_n)`` (eqs. 13 and 16)."""
        self._check(z, "z")
        if z.ndim != 2:
            raise ValueError(f"z must have shape [batch, {self.latent_dim}], got {tuple(z.shape)}")
        if carry is None:
            carry = self.init_carry(z)
        out, carry = self.rnn(self._scale_in(z)[:, None], carry)
        return self._scale_out(self.readout(out[:, 0]), z.dtype, z), carry

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """One step from a zero hidden state (forecasts should thread the carry via :meth:`step`)."""
        return self.step(z)[0]

    def teacher_forced(self, z: torch.Tensor, carry=None, *, return_carry: bool = False):
        """Feed the true sequence ``z [B, T, d_z]``; predictions ``[B, T, d_z]`` of ``z[:, n + 1]``.

        One fused cuDNN/oneDNN call. With ``return_carry`` also the hidden state after the last
        input — the state the LED warm-up hands to the free-running forecast.
        """
        self._check(z, "z")
        if z.ndim != 3:
            raise ValueError(f"z must have shape [batch, time, {self.latent_dim}], got {tuple(z.shape)}")
        if carry is None:
            carry = self.init_carry(z[:, 0])
        out, carry = self.rnn(self._scale_in(z), carry)
        pred = self._scale_out(self.readout(out), z.dtype, z)
        return (pred, carry) if return_carry else pred

    def extra_repr(self) -> str:
        return (f"latent_dim={self.latent_dim}, hidden={self.hidden}, cell={self.cell_type!r}, "
                f"layers={self.layers}, dt={self.dt:g}, output={self.output!r}")
