r"""Recurrent sequence generators that HiTS Sec. 3.2 benchmarks against (Table 1).

Three baselines, each a :class:`~hitslite.steppers.Stepper` whose hidden state lives in the
carry, so :func:`~hitslite.steppers.rollout` drives free-running generation from one state
``x0 [B, D]``, and each with a ``teacher_forced(x [B, T, D]) -> [B, T, D]`` method (the
prediction of ``x[:, n + 1]`` from the true ``x[:, :n + 1]``) for one-step training:

* :class:`LSTMGenerator` — an LSTM cell and a linear read-out (Hochreiter & Schmidhuber; HiTS
  ref. [59]); trained with :func:`hitslite.train.teacher_forcing_loss` through
  :func:`hitslite.train.fit`.
* :class:`EchoStateNetwork` — a fixed random reservoir rescaled to a requested spectral radius
  and a linear read-out solved in closed form (Jaeger; HiTS ref. [43]).
* :class:`ClockworkRNN` — hidden units in modules that update only every ``T_i`` steps,
  slower modules feeding faster ones (Koutník et al., 2014).

Sizes follow HiTS App. A.3: every baseline gets as many parameters as the HiTS model of the
same task. :func:`parameter_count` counts them the way Table 3 does (read off its numbers, see
:func:`table3_count`): every ``nn.Linear``/LSTM weight and bias, the clockwork RNN's full
``H x H`` recurrent matrix included although its lower block triangle is masked, and for the ESN
only the trained read-out (``D x N``). :func:`match_hidden` inverts those formulas.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from . import validate
from .steppers import Stepper, check_state, forecast

__all__ = [
    "LSTMGenerator",
    "EchoStateNetwork",
    "ClockworkRNN",
    "parameter_count",
    "effective_parameter_count",
    "hits_parameter_count",
    "table3_count",
    "match_hidden",
    "generate",
    "SequenceModels",
    "SEQUENCE_TASKS",
]

#: HiTS App. A.3 and Tables 1, 3, 4: per task, the HiTS step sizes (in samples) and hidden widths,
#: and the paper's integrated L2 errors (Table 1) and parameter counts (Table 3); ``dim``/``dt`` are
#: those of :func:`hitslite.sequences.sequence_dataset`.
SEQUENCE_TASKS = {
    "fluid": {
        "dim": 22,
        "dt": 0.2,
        "steps": [1, 4, 16, 64],
        "hidden": [256, 64, 16, 4],
        "table1": {"HiTS": 1.23e-7, "LSTM": 9.20e-8, "ESN": 2.22e-8, "CW-RNN": 6.79e-7},
        "table3": {"HiTS": 15388, "LSTM": 15408, "ESN": 15400, "CW-RNN": 15622},
    },
    "video": {
        "dim": 64,
        "dt": 1.0,
        "steps": [1, 4, 16, 64],
        "hidden": [128, 64, 32, 16],
        "table1": {"HiTS": 7.09e-5, "LSTM": 1.44e-2, "ESN": 1.62e-3, "CW-RNN": 8.05e-2},
        "table3": {"HiTS": 31216, "LSTM": 30976, "ESN": 31360, "CW-RNN": 31560},
    },
    "music": {
        "dim": 128,
        "dt": 1 / 1102,
        "steps": [1, 5, 25, 125, 625],
        "hidden": [2048, 1024, 512, 256, 128],
        "table1": {"HiTS": 8.59e-7, "LSTM": 4.65e-5, "ESN": 2.69e-4, "CW-RNN": 4.70e-5},
        "table3": {"HiTS": 1020416, "LSTM": 1018368, "ESN": 1024000, "CW-RNN": 1042328},
    },
    "ks": {
        "dim": 512,
        "dt": 0.25,
        "steps": [1, 6, 36, 216, 1296],
        "hidden": [2048, 1024, 512, 256, 128],
        "table1": {"HiTS": 1.04e-3, "LSTM": 3.50e0, "ESN": 3.51e0, "CW-RNN": 3.59e0},
        "table3": {"HiTS": 4069760, "LSTM": 4091232, "ESN": 4070400, "CW-RNN": 4076232},
    },
}


def _check_sequence(x: torch.Tensor, dim: int, who: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{who}: x must be a torch.Tensor [batch, time, {dim}], got {type(x).__name__}")
    if x.ndim != 3 or x.shape[-1] != dim:
        raise ValueError(f"{who}: x must have shape [batch, time, {dim}], got {tuple(x.shape)}")
    check_state(x)


def _check_state(x: torch.Tensor, dim: int, who: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{who}: x must be a torch.Tensor [batch, {dim}], got {type(x).__name__}")
    if x.ndim != 2 or x.shape[-1] != dim:
        raise ValueError(f"{who}: x must have shape [batch, {dim}], got {tuple(x.shape)}")
    check_state(x)


# ----------------------------------------------------------------------------------------
class LSTMGenerator(Stepper):
    r"""LSTM sequence generator: one LSTM layer and a linear read-out.

    .. math::
        (h_{n+1}, c_{n+1}) = \mathrm{LSTM}(x_n, (h_n, c_n)), \qquad \hat x_{n+1} = W h_{n+1} + b.

    The carry is ``(h, c)``, each ``[1, B, hidden]``, zero at the start. Parameters
    ``4 H (D + H) + 8 H + (H D + D)`` (PyTorch's two bias vectors; the count of HiTS Table 3).

    Parameters
    ----------
    dim : int
        State dimension ``D``; states are ``[B, D]``.
    hidden : int
        Hidden units ``H`` (HiTS App. A.3 sizes it to the HiTS parameter count, e.g. 740 for KS).
    dt : float
        Sampling step of the sequence (only used to label trajectories).
    """

    def __init__(self, dim: int, hidden: int, dt: float = 1.0):
        super().__init__()
        self.dim, self.hidden = validate.positive_int("dim", dim), validate.positive_int("hidden", hidden)
        self.dt = validate.positive_float("dt", dt)
        self.lstm = nn.LSTM(dim, hidden, batch_first=True)
        self.readout = nn.Linear(hidden, dim)

    def init_carry(self, x: torch.Tensor):
        _check_state(x, self.dim, "LSTMGenerator")
        w = self.readout.weight
        zeros = torch.zeros(1, x.shape[0], self.hidden, dtype=w.dtype, device=w.device)
        return (zeros, zeros.clone())

    def step(self, x: torch.Tensor, carry=None):
        _check_state(x, self.dim, "LSTMGenerator")
        if carry is None:
            carry = self.init_carry(x)
        out, carry = self.lstm(x[:, None].to(self.readout.weight.dtype), carry)
        return self.readout(out[:, 0]).to(x.dtype), carry

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One step from a zero hidden state (generation should use :meth:`step` with the carry)."""
        return self.step(x)[0]

    def teacher_forced(self, x: torch.Tensor) -> torch.Tensor:
        """Predictions ``[B, T, D]`` of ``x[:, n + 1]`` fed the true ``x [B, T, D]`` (zero initial state)."""
        _check_sequence(x, self.dim, "LSTMGenerator.teacher_forced")
        out, _ = self.lstm(x.to(self.readout.weight.dtype))
        return self.readout(out).to(x.dtype)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, hidden={self.hidden}, dt={self.dt:g}"


# ----------------------------------------------------------------------------------------
class EchoStateNetwork(Stepper):
    r"""Echo-state network: a fixed random reservoir and a linear read-out fitted in closed form.

    .. math::
        r_{n+1} = (1 - a)\, r_n + a \tanh(W r_n + W_{in} x_n + b), \qquad \hat x_{n+1} = W_{out} r_{n+1}.

    ``W [N, N]`` is sparse (about ``degree`` non-zeros per row) and rescaled so that its
    spectral radius (largest eigenvalue modulus) is exactly ``spectral_radius`` (0.9 in the HiTS
    code); ``W_in`` is uniform in ``[-input_scale, input_scale]``, ``b`` uniform in
    ``[-bias_scale, bias_scale]``. They are fixed buffers generated from ``seed`` (not saved in
    ``state_dict``; rebuilt identically); only ``W_out [D, N]`` is learned, by
    :meth:`fit_readout` — so Table 3 counts ``D N`` parameters (e.g. N = 7950 for KS). The carry
    is the reservoir state ``r [B, N]``, zero at the start.

    Parameters
    ----------
    dim : int
        State dimension ``D``.
    units : int
        Reservoir size ``N``.
    spectral_radius : float
        Requested largest eigenvalue modulus of ``W`` (positive).
    degree : int
        Expected non-zeros per reservoir row (``N`` or more gives a dense reservoir).
    input_scale, bias_scale, leak : float
        Scales of ``W_in`` and ``b``; leak rate ``a`` in ``(0, 1]``.
    seed : int
        Seed of the reservoir's ``torch.Generator`` (nothing global is touched).
    dt : float
        Sampling step of the sequence.
    """

    def __init__(
        self,
        dim: int,
        units: int,
        *,
        spectral_radius: float = 0.9,
        degree: int = 10,
        input_scale: float = 0.5,
        bias_scale: float = 0.2,
        leak: float = 1.0,
        seed: int = 0,
        dt: float = 1.0,
    ):
        super().__init__()
        self.dim, self.units = validate.positive_int("dim", dim), validate.positive_int("units", units)
        validate.positive_int("degree", degree)
        spectral_radius = validate.positive_float("spectral_radius", spectral_radius)
        if validate.positive_float("leak", leak) > 1:
            raise ValueError(f"leak must be a number in (0, 1], got {leak!r}")
        input_scale = validate.nonnegative_float("input_scale", input_scale)
        bias_scale = validate.nonnegative_float("bias_scale", bias_scale)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be an int, got {seed!r}")
        self.spectral_radius, self.leak, self.dt, self.seed = (
            spectral_radius,
            float(leak),
            validate.positive_float("dt", dt),
            seed,
        )
        gen = torch.Generator().manual_seed(seed)
        w = torch.randn(units, units, generator=gen, dtype=torch.float64)
        if degree < units:
            w = w * (torch.rand(units, units, generator=gen, dtype=torch.float64) < degree / units)
        radius = float(torch.linalg.eigvals(w).abs().max())
        if radius == 0.0:
            raise ValueError(
                f"the random reservoir is nilpotent (units={units}, degree={degree}); raise degree"
            )
        w = w * (spectral_radius / radius)
        w_in = (2 * torch.rand(units, dim, generator=gen, dtype=torch.float64) - 1) * input_scale
        b = (2 * torch.rand(units, generator=gen, dtype=torch.float64) - 1) * bias_scale
        self.register_buffer("reservoir", w.float(), persistent=False)
        self.register_buffer("w_in", w_in.float(), persistent=False)
        self.register_buffer("bias", b.float(), persistent=False)
        self.readout = nn.Parameter(torch.zeros(dim, units), requires_grad=False)

    def _update(self, r: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        pre = r @ self.reservoir.T + x @ self.w_in.T + self.bias
        return (1 - self.leak) * r + self.leak * torch.tanh(pre)

    def init_carry(self, x: torch.Tensor) -> torch.Tensor:
        _check_state(x, self.dim, "EchoStateNetwork")
        return torch.zeros(x.shape[0], self.units, dtype=self.reservoir.dtype, device=self.reservoir.device)

    def step(self, x: torch.Tensor, carry=None):
        _check_state(x, self.dim, "EchoStateNetwork")
        r = self.init_carry(x) if carry is None else carry
        r = self._update(r, x.to(r.dtype))
        return (r @ self.readout.T).to(x.dtype), r

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.step(x)[0]

    @torch.no_grad()
    def states(self, x: torch.Tensor) -> torch.Tensor:
        """Reservoir states ``[B, T, N]`` driven by the true sequence ``x [B, T, D]`` from ``r = 0``;
        state ``n`` has seen ``x[:, :n + 1]``."""
        _check_sequence(x, self.dim, "EchoStateNetwork.states")
        r = self.init_carry(x[:, 0])
        xs = x.to(r.dtype)
        out = []
        for n in range(x.shape[1]):
            r = self._update(r, xs[:, n])
            out.append(r)
        return torch.stack(out, dim=1)

    def teacher_forced(self, x: torch.Tensor) -> torch.Tensor:
        """Predictions ``[B, T, D]`` of ``x[:, n + 1]`` fed the true ``x [B, T, D]``."""
        return (self.states(x) @ self.readout.T).to(x.dtype)

    @torch.no_grad()
    def fit_readout(self, x: torch.Tensor, *, ridge: float = 1e-6, washout: int = 0) -> float:
        r"""Closed-form read-out from one teacher-forced pass over ``x [B, T, D]``; returns the training MSE.

        Ridge regression (Tikhonov) on reservoir states ``R`` and next states ``Y``:
        :math:`W_{out} = Y^\top R\, (R^\top R + \beta I)^{-1}`, solved in float64. The HiTS code
        used a plain pseudo-inverse (:math:`\beta = 0`); reservoir states are strongly
        collinear, so the pseudo-inverse fits directions of tiny variance with huge weights
        that blow up in free-running generation. A small :math:`\beta` (``ridge``, relative
        to the mean diagonal of :math:`R^\top R`) is the standard cure (Lukoševičius 2012).
        ``ridge=0`` reproduces the pseudo-inverse. The first ``washout`` states are left out.
        """
        _check_sequence(x, self.dim, "EchoStateNetwork.fit_readout")
        if x.shape[1] < 2:
            raise ValueError(f"fit_readout needs at least 2 time steps, got x of shape {tuple(x.shape)}")
        validate.nonnegative_float("ridge", ridge)
        validate.finite_tensor("x", x)
        if validate.nonnegative_int("washout", washout) > x.shape[1] - 2:
            raise ValueError(f"washout must be an int in [0, {x.shape[1] - 2}], got {washout!r}")
        r = self.states(x[:, :-1])[:, washout:].reshape(-1, self.units).double()
        y = x[:, 1 + washout :].reshape(-1, self.dim).double().to(r.device)
        if ridge == 0:
            w = (torch.linalg.pinv(r) @ y).T
        else:
            gram = r.T @ r
            beta = ridge * float(gram.diagonal().mean())
            w = torch.linalg.solve(
                gram + beta * torch.eye(self.units, dtype=gram.dtype, device=gram.device), r.T @ y
            ).T
        self.readout.copy_(w.to(self.readout.dtype))
        return float(((r @ w.T - y) ** 2).mean())

    def extra_repr(self) -> str:
        rho = self.spectral_radius
        return f"dim={self.dim}, units={self.units}, spectral_radius={rho:g}, leak={self.leak:g}"


# ----------------------------------------------------------------------------------------
class ClockworkRNN(Stepper):
    r"""Clockwork RNN (Koutník, Greff, Gomez & Schmidhuber, 2014): modules ticking at different rates.

    The ``H`` hidden units form ``len(periods)`` equal modules; module ``i`` updates only at steps
    ``n`` with ``n mod T_i = 0`` and keeps its value otherwise:

    .. math::
        h_{n+1} = m_n \odot \tanh(W_H h_n + W_I x_n + b) + (1 - m_n) \odot h_n, \qquad
        \hat x_{n+1} = W_O h_{n+1} + b_O,

    with ``m_n`` the mask of active units. ``W_H`` is block upper-triangular: a module receives
    only from modules at least as slow as itself. The HiTS code uses periods ``4^i`` (5 modules
    for KS and music, 4 for fluid and video); the paper text says they match the HiTS step sizes
    — both are one argument away. The carry is ``(h [B, H], n)``. Parameters, counted as in
    Table 3: ``H^2 + 2H + 2HD + D`` (the masked half of ``W_H`` included; see
    :func:`effective_parameter_count`).

    Parameters
    ----------
    dim : int
        State dimension ``D``.
    hidden : int
        Hidden units ``H``, a multiple of the number of modules.
    periods : sequence of int
        Clock period of each module (strictly increasing; the first module is the fastest).
    dt : float
        Sampling step of the sequence.
    """

    def __init__(self, dim: int, hidden: int, periods: Sequence[int] = (1, 4, 16, 64, 256), dt: float = 1.0):
        super().__init__()
        self.dim, self.hidden = validate.positive_int("dim", dim), validate.positive_int("hidden", hidden)
        periods = [validate.positive_int("every entry of periods", p) for p in periods]
        if not periods or periods != sorted(set(periods)):
            raise ValueError(f"periods must be strictly increasing positive ints, got {periods!r}")
        if hidden % len(periods):
            raise ValueError(
                f"hidden ({hidden}) must be a multiple of the number of modules ({len(periods)})"
            )
        self.periods, self.dt = tuple(periods), validate.positive_float("dt", dt)
        size = hidden // len(periods)
        unit_period = torch.tensor(periods).repeat_interleave(size)
        self.register_buffer("unit_period", unit_period, persistent=False)
        # unit i receives from unit j iff j's module is at least as slow as i's
        self.register_buffer("mask", (unit_period[None, :] >= unit_period[:, None]).float(), persistent=False)
        self.input = nn.Linear(dim, hidden)
        self.recurrent = nn.Linear(hidden, hidden)
        self.readout = nn.Linear(hidden, dim)
        with torch.no_grad():
            self.recurrent.weight.mul_(self.mask)

    def init_carry(self, x: torch.Tensor):
        _check_state(x, self.dim, "ClockworkRNN")
        w = self.readout.weight
        return (torch.zeros(x.shape[0], self.hidden, dtype=w.dtype, device=w.device), 0)

    def _cell(self, h, drive, n, w_h):
        active = (n % self.unit_period == 0).to(h.dtype)
        new = torch.tanh(drive + h @ w_h.T + self.recurrent.bias)
        return active * new + (1 - active) * h

    def step(self, x: torch.Tensor, carry=None):
        _check_state(x, self.dim, "ClockworkRNN")
        h, n = self.init_carry(x) if carry is None else carry
        w = self.readout.weight
        h = self._cell(h, self.input(x.to(w.dtype)), n, self.recurrent.weight * self.mask)
        return self.readout(h).to(x.dtype), (h, n + 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.step(x)[0]

    def teacher_forced(self, x: torch.Tensor) -> torch.Tensor:
        """Predictions ``[B, T, D]`` of ``x[:, n + 1]`` fed the true ``x [B, T, D]`` (clock from 0)."""
        _check_sequence(x, self.dim, "ClockworkRNN.teacher_forced")
        w = self.readout.weight
        drive = self.input(x.to(w.dtype))  # all input projections in one call
        w_h = self.recurrent.weight * self.mask
        h = torch.zeros(x.shape[0], self.hidden, dtype=w.dtype, device=w.device)
        hs = []
        for n in range(x.shape[1]):
            h = self._cell(h, drive[:, n], n, w_h)
            hs.append(h)
        return self.readout(torch.stack(hs, dim=1)).to(x.dtype)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, hidden={self.hidden}, periods={list(self.periods)}, dt={self.dt:g}"


# ----------------------------------------------------------------------------------------
# Parameter counts (HiTS Table 3) and sizing (App. A.3)
# ----------------------------------------------------------------------------------------
def parameter_count(module: nn.Module) -> int:
    """Parameters as HiTS Table 3 counts them: every parameter tensor's size (for the ESN, the
    read-out only; for the clockwork RNN, the full recurrent matrix)."""
    return sum(p.numel() for p in module.parameters())


def effective_parameter_count(module: nn.Module) -> int:
    """Free parameters: :func:`parameter_count` minus the clockwork RNN's masked recurrent weights."""
    n = parameter_count(module)
    for m in module.modules():
        if isinstance(m, ClockworkRNN):
            n -= int((m.mask == 0).sum())
    return n


def hits_parameter_count(dim: int, hidden: Sequence[int]) -> int:
    """Parameters of one-hidden-layer HiTS steppers ``[dim, h, dim]``, ``h`` in ``hidden`` (Table 4)."""
    return sum(2 * dim * h + h + dim for h in hidden)


def table3_count(kind: str, dim: int, size: int) -> int:
    """Table 3's count for a baseline of ``kind`` ("LSTM", "ESN", "CW-RNN") with ``size`` hidden units.

    LSTM ``4 H (D + H) + 8 H + H D + D``; ESN ``D N``; CW-RNN ``H^2 + 2 H + 2 H D + D``. These
    reproduce every entry of the paper's Table 3 (e.g. KS: LSTM 740, ESN 7950, CW-RNN 1570 units).
    """
    d, h = dim, size
    if kind == "LSTM":
        return 4 * h * (d + h) + 8 * h + h * d + d
    if kind == "ESN":
        return d * h
    if kind == "CW-RNN":
        return h * h + 2 * h + 2 * h * d + d
    raise ValueError(f"kind must be 'LSTM', 'ESN' or 'CW-RNN', got {kind!r}")


def match_hidden(kind: str, target: int, dim: int, *, multiple_of: int = 1) -> int:
    """The hidden size (a multiple of ``multiple_of``) whose :func:`table3_count` is closest to ``target``."""
    validate.positive_int("target", target)
    validate.positive_int("dim", dim)
    validate.positive_int("multiple_of", multiple_of)
    table3_count(kind, dim, 1)  # validates kind
    lo, hi = 1, 1
    while table3_count(kind, dim, hi * multiple_of) < target:
        hi *= 2
    while hi - lo > 1:  # the counts increase with the size: bisect on the multiple
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if table3_count(kind, dim, mid * multiple_of) < target else (lo, mid)
    return min((lo * multiple_of, hi * multiple_of), key=lambda h: abs(table3_count(kind, dim, h) - target))


# ----------------------------------------------------------------------------------------
class SequenceModels(nn.Module):
    """The four generators of one Table 1 row: HiTS levels and the LSTM, ESN and clockwork RNN.

    Iterating yields the HiTS levels (finest first), as for every zoo entry, so
    ``Hierarchy(list(models))`` couples them; the baselines are the attributes ``lstm``, ``esn``
    and ``cwrnn``, also reachable as ``models["lstm"]`` (and ``models["hits"]`` for the levels).
    """

    KINDS = ("hits", "lstm", "esn", "cwrnn")

    def __init__(
        self, hits: Sequence[Stepper], *, lstm: LSTMGenerator, esn: EchoStateNetwork, cwrnn: ClockworkRNN
    ):
        super().__init__()
        self.hits = nn.ModuleList(hits)
        self.lstm, self.esn, self.cwrnn = lstm, esn, cwrnn

    def __iter__(self):
        return iter(self.hits)

    def __len__(self) -> int:
        return len(self.hits)

    def __getitem__(self, key):
        if isinstance(key, str):
            if key not in self.KINDS:
                raise KeyError(f"key must be one of {self.KINDS}, got {key!r}")
            return getattr(self, key)
        return self.hits[key]


@torch.no_grad()
def generate(model: nn.Module, x0: torch.Tensor, n_steps: int):
    """Free-running generation of ``n_steps`` steps from ``x0 [B, D]`` by
    :func:`~hitslite.steppers.forecast`: a :class:`~hitslite.multiscale.Hierarchy` runs Algorithm 1,
    a recurrent stepper steps with its carry; a list of steppers is coupled into a hierarchy first.
    ``x0`` starts in the model's parameter dtype. Returns a :class:`~hitslite.trajectory.Trajectory`
    ``x [B, n_steps + 1, D]`` in ``x0``'s dtype.
    """
    if isinstance(model, (list, tuple, nn.ModuleList)):
        from .multiscale import Hierarchy

        model = Hierarchy(list(model))
    param = next(model.parameters(), None)
    x = x0.to(param.dtype) if param is not None else x0
    return forecast(model, x, n_steps).to(x0.dtype)
