r"""Adaptive hierarchical stepping: the level that steps next is chosen by a computed error indicator.

HiTS couples a *fixed* range of levels, chosen once on validation data (Sec. 2.3): every coarse interval
of the horizon is filled by every level of the range, whether the trajectory crawls there or jumps. HiTS
Sec. 4 names adaptive step sizes as an open question. This module adds them for a hierarchy of flow maps
whose steps are integer multiples of one another (``dt * 2**k``: ratio 2, *step doubling*), in two
schemes that share one class, :class:`AdaptiveHierarchy`.

**Marching** (``scheme="marching"``, classical step doubling). From the state :math:`x` at time
:math:`t`, a candidate level :math:`i` with step :math:`h_i` is checked against the next finer level,
:math:`r = h_i / h_{i+1}` steps of it (:math:`r = 2` for doubling):

.. math::
    e_i(x) = \operatorname{RMS}\big(\Phi_{h_i}(x) - \Phi_{h_{i+1}}^{\,r}(x)\big)

(:func:`step_doubling_indicator`; the RMS runs over the state components). The step is accepted
(:math:`x \leftarrow \Phi_{h_i}(x)`, :math:`t \leftarrow t + h_i`) when :math:`e_i < \mathrm{tol}`;
otherwise the controller refines to level :math:`i + 1` at the same :math:`x`
(the first finer step is already computed and is reused). The finest level has nothing to be checked
against and is always accepted. After an accepted step the controller tries one level coarser, as
step-doubling controllers grow the step after a success, when :math:`e_i < \mathrm{grow}\cdot\mathrm{tol}`
(after a finest step: always). The trajectories of a batch share one time grid: the indicator of the
batch is the largest of the trajectories' (the worst trajectory decides), so each step is one batched
call per level.

**Hierarchical** (``scheme="hierarchical"``, the default: adaptive Algorithm 1). The coarsest level steps
across the horizon as in Algorithm 1. Each coarse interval :math:`[a, b]` is then filled by the next
finer level from :math:`x_a` (:math:`r - 1` steps, exactly as in Algorithm 1), and the states it lands
on are compared with the straight line between the two ends that are already known — the *hierarchical
surplus* (:func:`interpolation_surplus`):

.. math::
    s = \max_{m = 1 \dots r-1} \operatorname{RMS}\Big(\Phi_{h_{i+1}}^{\,m}(x_a)
        - \big[(1 - \tfrac{m}{r})\,x_a + \tfrac{m}{r}\,x_b\big]\Big).

Where :math:`s < \mathrm{tol}` the interval is resolved and no finer level enters it; elsewhere each of
its :math:`r` sub-intervals is refined by the next finer level, recursively, down to the finest.

Why the hierarchical scheme is the default (our improvement on plain step doubling):

1. *It keeps what made HiTS work.* The coarse states still reset the error of every finer level (Sec.
   2.3, Fig. 3). A marching controller is one sequential chain: its error accumulates like a single
   level's, whatever it chooses.
2. *Its indicator costs nothing.* The surplus is read off states that Algorithm 1 computes anyway and
   that are kept; step doubling pays :math:`r` extra evaluations for every check and throws them away.
3. *It measures what the reader sees.* Output steps between known states are linearly interpolated, so
   the error on the output grid is the flow maps' error *plus* the interpolation error. The surplus
   contains both; the endpoint comparison of step doubling is blind to the second (two exact flow maps
   agree perfectly across a fast jump that a straight line cuts).
4. *It stays vectorised.* Every level is one batched call over all intervals that need it, each
   trajectory refined where *its* surplus is large: no shared grid, and the sequential depth stays
   that of Algorithm 1 (the coarse chain plus ``r - 1`` calls per finer level).

Limits of each scheme, checked by ``tests/test_adaptive.py``: the hierarchical scheme with ``tol = 0``
is Algorithm 1 over all the levels (:class:`~hitslite.multiscale.Hierarchy`), and with ``tol = inf`` the
Algorithm 1 of the two coarsest levels (the first finer level is always computed: it is the probe).
Marching with ``tol = 0`` is the finest level alone, with ``tol = inf`` the coarsest alone (plus the
checks' cost).

Cost is reported as :meth:`Hierarchy.cost <hitslite.multiscale.Hierarchy.cost>` reports it:
``calls`` — stepper calls one after another (each a batched call), and ``evaluations`` — states pushed
through a stepper, per trajectory (here the mean over the batch, since trajectories refine differently).
States are ``[B, *S]`` in, trajectories ``[B, T, *S]`` out. Chapter 15 of the book compares both schemes
with the fixed, validation-chosen range on the Van der Pol level set. References: HiTS (Liu, Kutz & Brunton)
Sec. 2.3 and Algorithm 1; step doubling as in Hairer, Nørsett & Wanner, *Solving ODEs I*, Sec. II.4.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import torch
from torch import nn

from . import validate
from .multiscale import Hierarchy
from .steppers import Stepper, assert_finite, check_state
from .trajectory import Trajectory

__all__ = ["AdaptiveHierarchy", "step_doubling_indicator", "interpolation_surplus", "SCHEMES"]

#: the two controllers of :class:`AdaptiveHierarchy`
SCHEMES = ("hierarchical", "marching")


def _rms(diff: torch.Tensor) -> torch.Tensor:
    """RMS over the state axes of ``diff [B, *S]``: ``[B]``, detached (it decides, it does not train)."""
    d = diff.detach()
    return d.reshape(d.shape[0], -1).pow(2).mean(dim=1).sqrt()


def _check_pair(coarse, fine) -> int:
    for name, s in (("coarse", coarse), ("fine", fine)):
        if not hasattr(s, "dt") or not callable(s):
            raise TypeError(f"{name} must be a stepper (with .dt and __call__), got {type(s).__name__}")
    ratio = validate.integer_ratio("coarse.dt", coarse.dt, fine.dt,
                                   hint="step doubling compares one coarse step with whole fine steps")
    if ratio < 2:
        raise ValueError(f"coarse.dt must be at least twice fine.dt, got {coarse.dt:g} and {fine.dt:g}")
    return ratio


def step_doubling_indicator(coarse: Stepper, fine: Stepper, x: torch.Tensor
                            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""The step-doubling error indicator of one coarse step against ``r`` fine steps, per trajectory.

    .. math::
        e(x) = \Big(\frac{1}{|S|}\sum_{s \in S}
               \big[\Phi_{H}(x) - \Phi_{h}^{\,r}(x)\big]_s^2\Big)^{1/2}, \qquad r = H / h,

    the root mean square over the state components (not over the batch) of the difference between one
    step of ``coarse`` (step :math:`H`) and ``r`` steps of ``fine`` (step :math:`h`) from the same state.
    For exact flow maps it vanishes; for flow maps of orders :math:`p` it is :math:`O(H^{p+1})`, the
    local error of the coarse step (Hairer, Nørsett & Wanner, Sec. II.4).

    Parameters
    ----------
    coarse, fine : Stepper
        Carry-free steppers; ``coarse.dt`` must be an integer multiple ``r >= 2`` of ``fine.dt``.
    x : torch.Tensor
        States ``[B, *S]`` (floating point).

    Returns
    -------
    indicator : torch.Tensor
        ``[B]``, detached.
    coarse_step : torch.Tensor
        ``[B, *S]``, one step of ``coarse``.
    fine_states : torch.Tensor
        ``[B, r, *S]``, the ``r`` states of the fine chain (the last lands where ``coarse_step`` does).
    """
    ratio = _check_pair(coarse, fine)
    validate.tensor("x", x)
    check_state(x, name="x")
    if x.ndim < 2:
        raise ValueError(f"x must be a batch of states [batch, *state], got shape {tuple(x.shape)}")
    y = coarse(x)
    chain, z = [], x
    for _ in range(ratio):
        z = fine(z)
        chain.append(z)
    return _rms(y - z), y, torch.stack(chain, dim=1)


def interpolation_surplus(x_start: torch.Tensor, x_end: torch.Tensor, interior: torch.Tensor) -> torch.Tensor:
    r"""The hierarchical surplus of an interval: how far finer states lie from the straight line.

    An interval of ``r`` fine steps has known ends ``x_start``, ``x_end`` and interior states
    ``interior[:, m - 1]`` at the fractions :math:`m / r`, :math:`m = 1 \dots r - 1`. The surplus is

    .. math::
        s = \max_{m} \operatorname{RMS}\Big(x_m - \big[(1 - \tfrac{m}{r})\,x_\text{start}
            + \tfrac{m}{r}\,x_\text{end}\big]\Big),

    the RMS over the state components, the maximum over the interior points: the error that the linear
    interpolation of the output grid makes at the points where the finer level knows better (HiTS
    Algorithm 1, lines 11-12). It is zero exactly when the interior states lie on the line.

    Parameters
    ----------
    x_start, x_end : torch.Tensor
        ``[B, *S]``.
    interior : torch.Tensor
        ``[B, r - 1, *S]`` with ``r >= 2``.

    Returns
    -------
    torch.Tensor
        ``[B]``, detached.
    """
    for name, v in (("x_start", x_start), ("x_end", x_end), ("interior", interior)):
        validate.floating_tensor(name, v)
    if x_start.ndim < 2 or x_end.shape != x_start.shape:
        raise ValueError(f"x_start and x_end must be batches of states of one shape [batch, *state], got "
                         f"{tuple(x_start.shape)} and {tuple(x_end.shape)}")
    if interior.ndim != x_start.ndim + 1 or interior.shape[0] != x_start.shape[0] \
            or interior.shape[2:] != x_start.shape[1:] or interior.shape[1] < 1:
        state = ", ".join(map(str, x_start.shape[1:]))
        raise ValueError(f"interior must have shape [batch, r - 1, *state] = [{x_start.shape[0]}, r - 1, "
                         f"{state}] with r >= 2, got {tuple(interior.shape)}")
    r = interior.shape[1] + 1
    w = (torch.arange(1, r, dtype=torch.float64) / r).to(interior)
    w = w.reshape(1, -1, *([1] * (x_start.ndim - 1)))
    line = x_start[:, None] + w * (x_end - x_start)[:, None]
    diff = (interior - line).detach()
    return diff.reshape(diff.shape[0], r - 1, -1).pow(2).mean(dim=2).sqrt().amax(dim=1)


def _tolerance(tol) -> float:
    if isinstance(tol, torch.Tensor) and tol.ndim == 0 and tol.is_floating_point():
        tol = tol.item()
    if isinstance(tol, bool) or not isinstance(tol, numbers.Real) or math.isnan(tol) or tol < 0:
        raise ValueError(f"tol must be a number >= 0 (math.inf allowed: never refine), got {tol!r}")
    return float(tol)


def _interpolate_rows(X: torch.Tensor, known: torch.Tensor, n_steps: int) -> torch.Tensor:
    """:func:`~hitslite.trajectory.interpolate_gaps` for a batch whose rows know different indices.

    ``X [B, N + 1, *S]`` holds states at the indices where ``known [B, N + 1]`` is true (index 0 and some
    index >= ``n_steps`` among them, per row); returns ``[B, n_steps + 1, *S]``, the same numbers as
    ``interpolate_gaps`` row by row (same weights, same arithmetic), in one vectorised pass.
    """
    B, N1 = known.shape
    idx = torch.arange(N1).expand(B, N1)
    lo = torch.where(known, idx, -1).cummax(dim=1).values[:, : n_steps + 1]
    hi = torch.where(known, idx, N1).flip(1).cummin(dim=1).values.flip(1)[:, : n_steps + 1]
    grid = torch.arange(n_steps + 1).expand(B, -1)
    span = (hi - lo).clamp(min=1)
    w = ((grid - lo) / span).to(X.dtype).to(X.device)
    w = w.reshape(B, n_steps + 1, *([1] * (X.ndim - 2)))
    rows = torch.arange(B, device=X.device)[:, None]
    x_lo, x_hi = X[rows, lo.to(X.device)], X[rows, hi.to(X.device)]
    return torch.where(w == 0, x_lo, (1 - w) * x_lo + w * x_hi)


class AdaptiveHierarchy(nn.Module):
    """Steppers of several step sizes, coupled where a computed error indicator asks for them.

    :meth:`forecast` from ``x0 [B, *S]`` returns a :class:`~hitslite.trajectory.Trajectory`
    ``x [B, n_steps + 1, *S]`` on the grid of ``dt`` (default the finest step): the states some level
    computed, linearly interpolated in between. The two schemes and their indicators are described in
    the module docstring (:mod:`hitslite.adaptive`).

    Parameters
    ----------
    levels : sequence of Stepper, or Hierarchy
        Carry-free steppers in any order, kept sorted coarsest first; each step must be an integer
        multiple (at least 2) of the next finer one, e.g. ``dt * 2**k`` for consecutive ``k``.
    tol : float
        The indicator's threshold, in the units of the state (an RMS over state components): a coarse
        step is trusted where the indicator is below it. ``0`` never trusts one; ``math.inf`` always does.
        Choose it on validation data.
    scheme : str
        ``"hierarchical"`` (adaptive Algorithm 1, each trajectory its own grid) or ``"marching"``
        (step doubling along one time grid shared by the batch).
    grow : float
        Marching only: after an accepted step with indicator below ``grow * tol`` the next attempt is one
        level coarser. In ``(0, 1]``.
    """

    def __init__(self, levels: Sequence[Stepper] | Hierarchy, *, tol: float, scheme: str = "hierarchical",
                 grow: float = 0.5):
        super().__init__()
        if isinstance(levels, Hierarchy):
            levels = list(levels.levels)
        if isinstance(levels, (nn.Module, torch.Tensor)) and not isinstance(levels, nn.ModuleList):
            raise TypeError(f"levels must be a sequence of steppers or a Hierarchy, "
                            f"got {type(levels).__name__}")
        levels = list(levels)
        if len(levels) < 2:
            raise ValueError(f"levels must hold at least two steppers (a coarse one and a finer one to check "
                             f"it with), got {len(levels)}")
        for i, s in enumerate(levels):
            if not hasattr(s, "dt") or not callable(s):
                raise TypeError(f"levels[{i}] is not a stepper (needs .dt and __call__), "
                                f"got {type(s).__name__}")
            validate.positive_float(f"levels[{i}].dt", s.dt)
        levels.sort(key=lambda s: -s.dt)
        dts = [s.dt for s in levels]
        for k in range(len(levels) - 1):
            ratio = dts[k] / dts[k + 1]
            if round(ratio) < 2 or abs(ratio - round(ratio)) > 1e-9 * ratio:
                raise ValueError(f"levels must have steps that are integer multiples (at least 2) of the "
                                 f"next finer one, e.g. dt * 2**k; got step sizes {dts} "
                                 f"({dts[k]:g} / {dts[k + 1]:g} = {ratio:.6g})")
        self.levels = nn.ModuleList(levels)
        self.tol = _tolerance(tol)
        self.scheme = validate.one_of("scheme", scheme, SCHEMES)
        grow = validate.positive_float("grow", grow)
        if grow > 1:
            raise ValueError(f"grow must lie in (0, 1], got {grow!r}")
        self.grow = grow

    @property
    def dts(self) -> list[float]:
        """Step sizes, coarsest first."""
        return [s.dt for s in self.levels]

    @property
    def dt(self) -> float:
        """The finest step size."""
        return self.levels[-1].dt

    def extra_repr(self) -> str:
        steps = ", ".join(f"{d:g}" for d in self.dts)
        return f"scheme={self.scheme!r}, tol={self.tol:g}, dts=[{steps}]"

    # ----------------------------------------------------------------------------------
    def forecast(self, x0: torch.Tensor, n_steps: int, *, dt: float | None = None,
                 check_finite: bool = True) -> Trajectory:
        """Forecast ``n_steps`` output steps of size ``dt`` (default: the finest step) from ``x0 [B, *S]``.

        Returns a Trajectory ``x [B, n_steps + 1, *S]`` whose ``meta`` holds

        * ``cost`` — ``{"calls": int, "evaluations": float}``: stepper calls one after another in this run
          (each batched) and states pushed through a stepper per trajectory (mean over the batch), as
          :meth:`Hierarchy.cost <hitslite.multiscale.Hierarchy.cost>` counts them;
          ``evaluations_per_trajectory`` lists the latter per trajectory;
        * ``known`` — bool ``[B, n_steps + 1]``: the output indices a level computed (and ``t = 0``);
        * ``level`` — long ``[B, n_steps + 1]``: the level (index into :attr:`dts`, coarsest 0) whose step
          landed on each output index, ``-1`` at ``t = 0`` and where the state is interpolated;
        * ``step_levels``, ``step_times`` — per trajectory, in time order, the level and the start time of
          every step whose state was kept (marching: the accepted steps, the same for the whole batch);
        * ``rejected`` — marching: the number of rejected attempts (``0`` for the hierarchical scheme);
        * ``dts``, ``tol``, ``scheme``, ``source``.

        Steps may land beyond the horizon (the last interval needs its end), as in Algorithm 1. Raises
        :class:`~hitslite.steppers.ForecastDivergedError` on NaN/Inf unless ``check_finite=False``.
        Differentiable in the states (the choices are not).
        """
        validate.tensor("x0", x0)
        if x0.ndim < 2:
            raise ValueError(f"x0 must be a tensor of shape [batch, *state], got shape {tuple(x0.shape)}; "
                             "use x0[None] for a single state")
        check_state(x0, name="x0")
        validate.nonempty_batch("x0", x0)
        n_steps = validate.positive_int("n_steps", n_steps)
        h = self.dt if dt is None else validate.positive_float("dt", dt)
        strides = []
        for d in self.dts:
            ratio = d / h
            if round(ratio) < 1 or abs(ratio - round(ratio)) > 1e-9 * max(1.0, ratio):
                raise ValueError(f"dt must divide every level's step (steps {self.dts}), got dt={h:g}")
            strides.append(round(ratio))
        run = self._hierarchical if self.scheme == "hierarchical" else self._marching
        X, level, calls, evals, rejected = run(x0, n_steps, strides)
        known_ext = level >= 0
        known_ext[:, 0] = True
        x = _interpolate_rows(X, known_ext, n_steps)
        step = torch.tensor(strides)
        step_levels, step_times = [], []
        for b in range(x0.shape[0]):
            landed = known_ext[b, 1:].nonzero().squeeze(1) + 1
            lv = level[b, landed]
            step_levels.append(lv.tolist())
            step_times.append((h * (landed - step[lv]).double()).tolist())
        t = h * torch.arange(n_steps + 1, dtype=torch.float64)
        if check_finite:
            assert_finite(x, f"adaptive forecast ({self.scheme})", t)
        level_out = level[:, : n_steps + 1].clone()
        level_out[:, 0] = -1
        meta = {
            "source": f"AdaptiveHierarchy.forecast ({self.scheme})",
            "scheme": self.scheme,
            "tol": self.tol,
            "dts": self.dts,
            "cost": {"calls": calls, "evaluations": float(evals.double().mean())},
            "evaluations_per_trajectory": evals.tolist(),
            "known": known_ext[:, : n_steps + 1].clone(),
            "level": level_out,
            "step_levels": step_levels,
            "step_times": step_times,
            "rejected": rejected,
        }
        return Trajectory(t=t, x=x, dt=h, meta=meta)

    # ----------------------------------------------------------------------------------
    def _hierarchical(self, x0, n_steps, strides):
        """Adaptive Algorithm 1: dense buffer of states ``X [B, n_ext + 1, *S]`` and the level of each."""
        B, dev = x0.shape[0], x0.device
        s0 = strides[0]
        n_coarse = math.ceil(n_steps / s0)
        n_ext = n_coarse * s0
        X = x0.new_zeros((B, n_ext + 1, *x0.shape[1:]))
        level = torch.full((B, n_ext + 1), -1, dtype=torch.long)
        X[:, 0] = x0
        evals = torch.zeros(B, dtype=torch.long)
        calls = 0
        x = x0
        for m in range(1, n_coarse + 1):
            x = self.levels[0](x)
            X[:, m * s0] = x
            level[:, m * s0] = 0
        calls += n_coarse
        evals += n_coarse
        # the intervals the next level fills: (trajectory, start index) pairs, coarsest intervals first
        pb = torch.arange(B).repeat_interleave(n_coarse)
        pa = (torch.arange(n_coarse) * s0).repeat(B)
        for i in range(1, len(self.levels)):
            if pb.numel() == 0:
                break
            parent, s = strides[i - 1], strides[i]
            r = parent // s
            db, da = pb.to(dev), pa.to(dev)
            cur = X[db, da]
            interior = []
            for m in range(1, r):
                cur = self.levels[i](cur)
                X[db, da + m * s] = cur
                level[pb, pa + m * s] = i
                interior.append(cur)
            calls += r - 1
            evals += (r - 1) * torch.bincount(pb, minlength=B)
            surplus = interpolation_surplus(X[db, da], X[db, da + parent], torch.stack(interior, dim=1))
            refine = ~(surplus < self.tol).cpu()  # NaN refines too
            children = (pa[refine, None] + s * torch.arange(r)).reshape(-1)
            owners = pb[refine].repeat_interleave(r)
            inside = children < n_steps  # a sub-interval past the horizon is never seen
            pb, pa = owners[inside], children[inside]
        return X, level, calls, evals, 0

    def _marching(self, x0, n_steps, strides):
        """Step doubling on one time grid shared by the batch (the worst trajectory decides)."""
        B = x0.shape[0]
        finest = len(self.levels) - 1
        states, indices, levels_at = [x0], [0], [-1]
        j, i, x = 0, 0, x0
        candidate = None  # a step of level i from x computed already (by the last rejected check)
        calls = rejected = 0
        while j < n_steps:
            if candidate is None:
                y = self.levels[i](x)
                calls += 1
            else:
                y, candidate = candidate, None
            e = None
            if i < finest:
                r = strides[i] // strides[i + 1]
                chain, z = [], x
                for _ in range(r):
                    z = self.levels[i + 1](z)
                    chain.append(z)
                calls += r
                e = float(_rms(y - z).max())  # NaN propagates: a diverged candidate is rejected
                if not e < self.tol:
                    rejected += 1
                    i, candidate = i + 1, chain[0]
                    continue
            x, j = y, j + strides[i]
            states.append(x)
            indices.append(j)
            levels_at.append(i)
            if i > 0 and (e is None or e < self.grow * self.tol):
                i -= 1
        n_ext = j
        X = x0.new_zeros((B, n_ext + 1, *x0.shape[1:]))
        level = torch.full((B, n_ext + 1), -1, dtype=torch.long)
        idx = torch.tensor(indices)
        X[:, idx.to(x0.device)] = torch.stack(states, dim=1)
        level[:, idx] = torch.tensor(levels_at)
        evals = torch.full((B,), calls, dtype=torch.long)
        return X, level, calls, evals, rejected
