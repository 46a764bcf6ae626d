"""Multiscale coupling: HiTS Algorithm 1 (vectorised), level selection, and hybrids (Algorithm 2).

A :class:`Hierarchy` holds steppers of different step sizes (integer multiples of one another).
``forecast`` runs HiTS Algorithm 1: the coarsest level steps from x0 across the horizon; every
finer level then starts from *all* states known so far, batched into one call, and fills the gap
up to the next coarse state; the states are put in time order and linear interpolation fills
the output grid where no level landed. Errors of the fine levels are reset at every coarse
state — that is the whole trick (Sec. 2.3, Fig. 3).

A hybrid (Algorithm 2) is nothing new: a hierarchy whose finest level is a classical stepper,
e.g. ``Hierarchy([nn_10_24, RK4(system, 0.01)])``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from . import timing, validate
from .steppers import RK4, ForecastDivergedError, Stepper, assert_finite, check_state, forecast
from .trajectory import Trajectory, interpolate_gaps

__all__ = ["Hierarchy", "ScheduleStage", "chunk_size_for", "select_levels", "LevelSelection",
           "compare_levels", "LevelComparison", "compare_hybrids"]


@dataclass(frozen=True)
class ScheduleStage:
    """One stage of Algorithm 1: ``level`` (index, coarsest = 0) takes ``n_substeps`` steps of
    ``stride`` output samples from each of ``sources`` (output-grid indices known so far)."""

    level: int
    stride: int
    n_substeps: int
    sources: tuple[int, ...]

    @property
    def calls(self) -> int:
        """Sequential stepper calls in this stage (each call is one batched evaluation)."""
        return self.n_substeps

    @property
    def evaluations(self) -> int:
        """States pushed through the stepper in this stage (batch size x calls)."""
        return self.n_substeps * len(self.sources)


class Hierarchy(nn.Module):
    """Steppers of several step sizes coupled by HiTS Algorithm 1.

    :meth:`forecast` from states ``x0 [B, *S]`` returns a :class:`~hitslite.trajectory.Trajectory` on the
    grid of the finest level (or of ``dt``, a divisor of every level's step), ``x [B, n_steps + 1, *S]``.

    Parameters
    ----------
    levels : sequence of Stepper
        Steppers in any order; they are kept sorted from coarsest to finest step. Every step size
        must be an integer multiple of the finest one.
    """

    def __init__(self, levels: Sequence[Stepper]):
        super().__init__()
        levels = list(levels)
        if not levels:
            raise ValueError("levels must contain at least one stepper")
        for i, s in enumerate(levels):
            if not hasattr(s, "dt") or not callable(s):
                raise TypeError(f"levels[{i}] is not a stepper (needs .dt and __call__), "
                                f"got {type(s).__name__}")
            validate.positive_float(f"levels[{i}].dt", s.dt)
        levels.sort(key=lambda s: -s.dt)
        dts = [s.dt for s in levels]
        fine = dts[-1]
        for d in dts:  # first: every ratio an integer (else 0.012 and 0.01 would look "repeated")
            r = d / fine
            if abs(r - round(r)) > 1e-9 * max(1.0, r):
                raise ValueError(
                    f"step sizes must be integer multiples of the finest one ({fine:g}): {d:g} is not an "
                    f"integer multiple of {fine:g} (ratio {r:.6g}); levels have step sizes {dts}"
                )
        if len(set(round(d / fine) for d in dts)) != len(dts):
            raise ValueError(f"levels have repeated step sizes {dts}; give one stepper per step size")
        self.levels = nn.ModuleList(levels)

    @property
    def dts(self) -> list[float]:
        """Step sizes, coarsest first."""
        return [s.dt for s in self.levels]

    @property
    def dt(self) -> float:
        """The finest step size."""
        return self.levels[-1].dt

    def extra_repr(self) -> str:
        return "dts=[" + ", ".join(f"{d:g}" for d in self.dts) + "]"

    # ----------------------------------------------------------------------------------
    def schedule(self, n_steps: int, dt: float | None = None) -> list[ScheduleStage]:
        """The plan of Algorithm 1 for ``n_steps`` output steps of size ``dt`` (default: finest).

        The coarsest level steps far enough to cover the horizon (ceil, so the last output
        step lies between two known states); level i then takes
        ``K_i = floor((stride_{i-1} - 1) / stride_i)`` steps from every known state. Stages
        depend only on sizes, so they can be inspected (Fig. 3) without running a model.
        """
        n_steps = validate.positive_int("n_steps", n_steps)
        h = self.dt if dt is None else validate.positive_float("dt", dt)
        strides = [validate.integer_ratio("a level's step", d, h, hint="hierarchy levels and the output step "
                                          "must be integer multiples of one another") for d in self.dts]
        n_ext = math.ceil(n_steps / strides[0]) * strides[0]
        known = {0}
        stages = []
        for i, s in enumerate(strides):
            k = n_ext // s if i == 0 else (strides[i - 1] - 1) // s
            sources = tuple(sorted(j for j in known if j + s <= n_ext))
            if k == 0 or not sources:
                continue
            stages.append(ScheduleStage(level=i, stride=s, n_substeps=k, sources=sources))
            known.update(j + m * s for j in sources for m in range(1, k + 1) if j + m * s <= n_ext)
        return stages

    def cost(self, n_steps: int, dt: float | None = None) -> dict[str, int]:
        """Sequential depth (stepper calls one after another) and total state evaluations."""
        stages = self.schedule(n_steps, dt)
        return {"calls": sum(s.calls for s in stages), "evaluations": sum(s.evaluations for s in stages)}

    def forecast(self, x0: torch.Tensor, n_steps: int, *, dt: float | None = None,
                 check_finite: bool = True, chunk_size: int | None = None) -> Trajectory:
        """Algorithm 1 from ``x0 [B, *S]`` over ``n_steps`` output steps of size ``dt``.

        Returns a Trajectory with ``x [B, n_steps + 1, *S]``, ``meta['known']``, a bool
        ``[n_steps + 1]`` mask of the output indices some level computed (the rest are linearly
        interpolated, :func:`~hitslite.trajectory.interpolate_gaps`), and ``meta['dts']``, the levels'
        steps, coarsest first. Differentiable. Raises :class:`~hitslite.steppers.ForecastDivergedError`
        on NaN/Inf unless ``check_finite=False``. The signature of
        :meth:`Stepper.forecast <hitslite.steppers.Stepper.forecast>`: :func:`~hitslite.steppers.forecast`
        runs either.

        Memory. A fine level steps every state known so far in one batched call, so one call holds
        the activations of ``B x (states so far)`` inputs: for a ResNet of width ``w`` that is about
        ``B x n_steps x w`` numbers, far more than the output's ``B x n_steps x D``. ``chunk_size``
        (a positive int) caps the inputs of any one stepper call; the states are then stepped in
        consecutive chunks, which changes nothing but the peak memory (each state is stepped on its
        own: the results equal the unchunked ones up to the floating-point summation order of the
        matrix products, which may depend on the batch size). Under autograd the activations of
        every chunk are kept for the backward pass, so chunking saves memory only without gradients.
        :func:`chunk_size_for` picks the chunk for a memory budget.
        """
        if not isinstance(x0, torch.Tensor) or x0.ndim < 2:
            raise ValueError(f"x0 must be a tensor of shape [batch, *state], got "
                             f"{tuple(x0.shape) if isinstance(x0, torch.Tensor) else type(x0).__name__}")
        check_state(x0, name="x0")
        h = self.dt if dt is None else validate.positive_float("dt", dt)
        chunk = None if chunk_size is None else validate.positive_int("chunk_size", chunk_size)
        stages = self.schedule(n_steps, h)
        B, S = x0.shape[0], x0.shape[1:]
        n_ext = stages[0].n_substeps * stages[0].stride  # the coarsest level covers [0, n_ext] ⊇ [0, n_steps]
        # position of each output index in ``states`` (-1: not computed); the first writer wins,
        # so where a finer level lands on a known index the coarser state is kept
        position = torch.full((n_ext + 1,), -1, dtype=torch.long)
        position[0] = 0
        states = x0[:, None]
        for st in stages:
            sources = torch.tensor(st.sources)
            cur = states[:, position[sources].to(states.device)].reshape(B * len(st.sources), *S)
            new = []
            count = states.shape[1]
            for m in range(1, st.n_substeps + 1):
                cur = _step_in_chunks(self.levels[st.level], cur, chunk)
                targets = sources + m * st.stride
                keep = (targets <= n_ext) & (position[targets.clamp(max=n_ext)] < 0)
                n_new = int(keep.sum())
                if n_new:
                    position[targets[keep]] = count + torch.arange(n_new)
                    new.append(cur.reshape(B, len(st.sources), *S)[:, keep.to(cur.device)])
                    count += n_new
            states = torch.cat([states, *new], dim=1)
        known_idx = (position >= 0).nonzero().squeeze(1)
        x = interpolate_gaps(known_idx, states[:, position[known_idx].to(states.device)], n_steps)
        t = h * torch.arange(n_steps + 1, dtype=torch.float64)
        if check_finite:
            assert_finite(x, "hierarchy forecast", t)
        known = position[: n_steps + 1] >= 0
        return Trajectory(t=t, x=x, dt=h, meta={"source": "Hierarchy.forecast", "dts": self.dts,
                                                  "known": known})


def _step_in_chunks(stepper: Stepper, x: torch.Tensor, chunk: int | None) -> torch.Tensor:
    """One step of every row of ``x``, at most ``chunk`` rows per call (``None``: one call)."""
    if chunk is None or x.shape[0] <= chunk:
        return stepper(x)
    return torch.cat([stepper(part) for part in torch.split(x, chunk)])


def chunk_size_for(hierarchy: Hierarchy, memory_bytes: float, *, dtype: torch.dtype = torch.float32) -> int:
    """The largest ``chunk_size`` for :meth:`Hierarchy.forecast` whose stepper calls stay within
    ``memory_bytes`` of activations (without gradients).

    The estimate counts, per input state, the widest layer's output twice (a layer's input and
    output are alive together) plus the state itself, in ``dtype``'s bytes; a level without
    ``hidden`` widths (a classical stepper) counts ``8 x`` the state size (RK4's stages). It is an
    estimate, not a guarantee: ``hitslite.bench perf`` measures the peak memory it leads to.
    """
    if not isinstance(hierarchy, Hierarchy):
        raise TypeError(f"hierarchy must be a hitslite.multiscale.Hierarchy, got {type(hierarchy).__name__}")
    budget = validate.positive_float("memory_bytes", memory_bytes)
    item = torch.empty((), dtype=dtype).element_size()
    dims = [math.prod(level.state_shape) for level in hierarchy.levels if hasattr(level, "state_shape")]
    dim = max(dims, default=1)
    per_state = 1
    for level in hierarchy.levels:
        widths = [int(w) for w in getattr(level, "hidden", ()) or ()]
        per_state = max(per_state, 2 * max(widths) + dim if widths else 8 * dim)
    rows = int(budget // (per_state * item))
    if rows < 1:
        raise ValueError(f"memory_bytes={memory_bytes:g} is less than one state's activations "
                         f"({per_state * item} bytes)")
    return rows


# ----------------------------------------------------------------------------------------
# Level selection (HiTS Sec. 2.3)
# ----------------------------------------------------------------------------------------
@dataclass
class LevelSelection:
    """Result of :func:`select_levels`: the chosen range ``lower..upper`` (NNTS indices, finest = 0),
    the validation MSE of every candidate of each pass, and the coupled :class:`Hierarchy`."""

    lower: int
    upper: int
    upper_scores: dict[int, float] = field(default_factory=dict)
    lower_scores: dict[int, float] = field(default_factory=dict)
    hierarchy: Hierarchy | None = None

    @property
    def error(self) -> float:
        """Validation MSE of the chosen range."""
        return self.lower_scores[self.lower]

    def __repr__(self) -> str:
        return f"LevelSelection(levels {self.lower}-{self.upper}, val MSE {self.error:.3e})"


def _check_reference(name: str, traj) -> Trajectory:
    """A validation/test set: a non-empty, finite, floating-point Trajectory with at least one step."""
    if not isinstance(traj, Trajectory):
        raise TypeError(f"{name} must be a hitslite.data.Trajectory [batch, time, *state], "
                        f"got {type(traj).__name__}")
    validate.nonempty_batch(f"{name}.x", traj.x)
    if traj.n_steps < 1:
        raise ValueError(f"{name} must have at least 2 time samples (a forecast horizon), "
                         f"got shape {tuple(traj.x.shape)}")
    validate.floating_tensor(f"{name}.x", traj.x)
    validate.finite_tensor(f"{name}.x", traj.x)
    return traj


def _forecast_mse(levels: Sequence[Stepper], val: Trajectory) -> float:
    h = Hierarchy(levels)
    param = next(h.parameters(), None)  # neural levels: start in their device and dtype
    x0 = val.x[:, 0] if param is None else val.x[:, 0].to(device=param.device, dtype=param.dtype)
    try:
        with torch.no_grad():
            pred = forecast(h, x0, val.n_steps, val.dt).x
    except ForecastDivergedError:
        return math.inf
    return float(torch.mean((pred.to(val.x) - val.x) ** 2))


def select_levels(steppers: Sequence[Stepper], val: Trajectory) -> LevelSelection:
    """Choose which steppers to couple, on *validation* data only (HiTS Sec. 2.3).

    ``steppers`` are ordered finest first (NNTS 0, 1, …). Pass 1 picks the upper index ``u``
    minimising the validation MSE of the hierarchy ``steppers[0..u]``; pass 2 picks the lower
    index ``l`` minimising that of ``steppers[l..u]``. Ties go to the larger index (as the HiTS
    code). The MSE is the mean over trajectories, output steps and state components of the
    squared forecast error from ``val.x[:, 0]`` over ``val.n_steps`` steps of ``val.dt``; a
    diverging candidate scores ``inf``. ``val`` must be a non-empty, finite Trajectory
    (``ValueError`` otherwise: NaN in the data would make every candidate look diverged).
    """
    steppers = list(steppers)
    if not steppers:
        raise ValueError("steppers must not be empty")
    _check_reference("val", val)
    dts = [s.dt for s in steppers]
    if dts != sorted(dts):
        raise ValueError(f"steppers must be ordered finest first (increasing dt), got dts {dts}")
    upper_scores = {u: _forecast_mse(steppers[: u + 1], val) for u in range(len(steppers))}
    u = min(upper_scores, key=lambda k: (upper_scores[k], -k))
    lower_scores = {l: _forecast_mse(steppers[l : u + 1], val) for l in range(u + 1)}
    l = min(lower_scores, key=lambda k: (lower_scores[k], -k))
    if not math.isfinite(lower_scores[l]):
        raise ForecastDivergedError("every candidate hierarchy diverged on the validation data")
    return LevelSelection(l, u, upper_scores, lower_scores, Hierarchy(steppers[l : u + 1]))


# ----------------------------------------------------------------------------------------
# Single levels against the coupled range, on test data (HiTS Figs. 5-6A, Tables 5-6)
# ----------------------------------------------------------------------------------------
@dataclass
class LevelComparison:
    """Every single level and the coupled range forecasting the same test set.

    ``single_mse[k]`` / ``multiscale_mse``: integrated MSE (mean over trajectories, steps and state);
    ``single_curves[k]`` / ``multiscale_curve``: per-step MSE ``[T]``; ``*_seconds``: best-of-``repeats``
    wall time of the forecast, all measured in the same run on the same batch.
    """

    lower: int
    upper: int
    single_mse: list[float]
    single_curves: list[torch.Tensor]
    single_seconds: list[float]
    multiscale_mse: float
    multiscale_curve: torch.Tensor
    multiscale_seconds: float
    multiscale_prediction: torch.Tensor

    @property
    def best_single(self) -> int:
        return min(range(len(self.single_mse)), key=self.single_mse.__getitem__)


def compare_levels(levels: Sequence[Stepper], test: Trajectory, lower: int, upper: int, *,
                   repeats: int = 1) -> LevelComparison:
    """Forecast ``test`` from its initial states with each of ``levels`` alone (finest first, NNTS
    order) and with the hierarchy ``levels[lower..upper]``, on the test grid; see :class:`LevelComparison`.

    ``test`` must be a non-empty, finite Trajectory; ``0 <= lower <= upper < len(levels)``.
    """
    from .metrics import integrated_mse, mse_per_step

    levels = list(levels)
    if not levels:
        raise ValueError("levels must not be empty")
    _check_reference("test", test)
    lower, upper = validate.nonnegative_int("lower", lower), validate.nonnegative_int("upper", upper)
    if not lower <= upper < len(levels):
        raise ValueError(f"lower and upper must satisfy 0 <= lower <= upper < len(levels) = {len(levels)}, "
                         f"got lower={lower}, upper={upper}")
    repeats = validate.positive_int("repeats", repeats)
    param = next((p for s in levels for p in s.parameters()), None)
    x0 = test.x[:, 0] if param is None else test.x[:, 0].to(device=param.device, dtype=param.dtype)

    def run(group):
        with torch.no_grad():
            pred, best = timing.timed(lambda: forecast(Hierarchy(group), x0, test.n_steps, test.dt,
                                                       check_finite=False).x, repeats, device=x0.device)
        return pred.double().cpu(), best

    singles = [run([s]) for s in levels]
    multi, multi_seconds = run(levels[lower : upper + 1])
    return LevelComparison(
        lower, upper,
        single_mse=[integrated_mse(p, test) for p, _ in singles],
        single_curves=[mse_per_step(p, test) for p, _ in singles],
        single_seconds=[t for _, t in singles],
        multiscale_mse=integrated_mse(multi, test),
        multiscale_curve=mse_per_step(multi, test),
        multiscale_seconds=multi_seconds,
        multiscale_prediction=multi,
    )


def compare_hybrids(system, coarse: Stepper, test: Trajectory, ks=range(5), *,
                    repeats: int = 3) -> list[dict]:
    """HiTS App. A.2: RK4 with step ``test.dt * 2**k`` (RK k) against the hybrid ``[coarse, RK4]``
    (Hybrid k), forecasting ``test`` on the RK grid; both timed (best of ``repeats``) in this run.

    Returns one dict per ``k`` with ``h``, ``rk_seconds``, ``hybrid_seconds``, ``rk_mse``, ``hybrid_mse``
    (integrated MSE against ``test`` subsampled to the RK grid), per-step curves and times ``t``.
    """
    from .metrics import integrated_mse, mse_per_step

    _check_reference("test", test)
    repeats = validate.positive_int("repeats", repeats)
    param = next(coarse.parameters(), None)
    x0 = test.x[:, 0] if param is None else test.x[:, 0].to(param.device)  # RK4 in float64
    device = x0.device
    out = []
    for k in ks:
        stride = 2**k
        rk = RK4(system, test.dt * stride)
        n = test.n_steps // stride
        truth = test.x[:, : n * stride + 1 : stride]
        hybrid = Hierarchy([coarse, rk])
        with torch.no_grad():
            rk_pred, rk_s = timing.timed(lambda rk=rk, n=n: forecast(rk, x0, n).x, repeats, device=device)
            hy_pred, hy_s = timing.timed(lambda h=hybrid, n=n: forecast(h, x0, n).x, repeats, device=device)
        out.append({"k": k, "h": rk.dt, "rk_seconds": rk_s, "hybrid_seconds": hy_s,
                    "rk_mse": integrated_mse(rk_pred, truth), "hybrid_mse": integrated_mse(hy_pred, truth),
                    "rk_curve": mse_per_step(rk_pred, truth), "hybrid_curve": mse_per_step(hy_pred, truth),
                    "t": test.t[: n * stride + 1 : stride]})
    return out
