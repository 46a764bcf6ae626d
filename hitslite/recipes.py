"""HiTS on your own system, in one call: :func:`train_hits`.

The recipe of HiTS (Liu, Kutz & Brunton) App. A.1 and Sec. 2.3 with defaults derived from the
system itself, so a reader who brings an ODE that is not in the papers gets a sensible hierarchy
without reading them first:

1. **time scales** from the Jacobian :math:`J = \\partial f / \\partial x` at states drawn from the
   system's region: :math:`\\tau_\\text{fast} = 2\\pi / \\operatorname{median}\\max|\\lambda(J)|` and
   :math:`\\tau_\\text{slow} = 2\\pi / \\operatorname{median}\\min|\\lambda(J)|` (capped at
   :data:`MAX_SCALE_RATIO` :math:`\\tau_\\text{fast}`);
2. **sampling step** :math:`\\Delta t \\approx \\tau_\\text{fast} / 100` (rounded down to 1, 2 or 5
   times a power of ten), the step of the finest level NNTS 0;
3. **levels** :math:`\\Delta t_k = 2^k \\Delta t`, :math:`k = 0 \\dots L-1`, with the coarsest step
   :math:`2^{L-1}\\Delta t \\approx \\tau_\\text{slow} / 4` and :math:`3 \\le L \\le 11`;
4. **data**: trajectories of :data:`COARSE_STEPS_PER_HORIZON` coarsest steps from initial states
   uniform in the region (:func:`~hitslite.data.ode_splits`, exact to 1e-11), trained on
   :data:`WINDOWS_PER_TRAJECTORY` random windows per trajectory with the ``p = 5`` rollout loss
   (HiTS eq. 9, App. A.1);
5. **training** of all levels together (:func:`~hitslite.train.fit_levels`, ``batched=True``, watching
   the first :data:`FIT_VAL_TRAJECTORIES` validation trajectories) for as
   many epochs as fit in ``budget_s`` CPU seconds, sized from a short measured run;
6. **selection** of the coupled range on the *validation* split only
   (:func:`~hitslite.multiscale.select_levels`);
7. **test**: the coupled hierarchy against every single level, on the test split, touched once at the end.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from . import validate
from .data import SPLITS, Trajectory, ode_splits
from .multiscale import Hierarchy, LevelComparison, LevelSelection, compare_levels, select_levels
from .neural import ResNetStepper
from .systems import ODESystem, get_system
from .train import FitResult, fit_levels

__all__ = ["HiTSResult", "TimeScales", "estimate_time_scales", "default_dt", "default_levels", "train_hits"]

#: fine samples per fast time scale (HiTS: 0.01 for tau_fast = 2 pi on the hyperbolic system, i.e. ~600)
SAMPLES_PER_FAST_SCALE = 100
#: the coarsest step is this fraction of the slow time scale
COARSEST_FRACTION = 0.25
#: the slow scale is capped at this multiple of the fast one (at most 11 levels, as HiTS)
MAX_SCALE_RATIO = 64.0
#: validation and test horizons span this many coarsest steps (HiTS: 51.2 / 10.24 = 5)
COARSE_STEPS_PER_HORIZON = 8
#: random training windows per trajectory and level (HiTS code: one, at t = 0)
WINDOWS_PER_TRAJECTORY = 16
N_FORWARD = 5  # HiTS App. A.1: p = 5 forward steps in the loss (eq. 9)
DEFAULT_HIDDEN = (64, 64, 64)
#: validation and test are only forecast, so they cost little; they are large because one trajectory's
#: error can dominate a mean over a few dozen, and then the validation choice and the test verdict are
#: decided by one trajectory each (Chapter 13, "One run, many trajectories, several seeds")
DEFAULT_TRAJECTORIES = {"train": 128, "val": 512, "test": 512}
#: training watches the p-step loss (eq. 9) on this many validation trajectories, only to keep each
#: level's best weights and halve its rate on plateaus; the windows of all 512 would cost as much per
#: epoch as the training windows themselves
FIT_VAL_TRAJECTORIES = 32
#: ``patience=None``: all levels train in one batched call, so a level stopped early saves no time; it
#: keeps training (at a halved rate on plateaus) and its best validation weights are kept
TRAIN_SETTINGS = {"lr": 1e-3, "batch_size": 256, "patience": None, "lr_halving_patience": 10,
                  "target_loss": 1e-8}
#: epochs of the short run that measures an epoch's cost (its first epoch pays one-off costs)
CALIBRATION_EPOCHS = 3


@dataclass(frozen=True)
class TimeScales:
    """Fast and slow time scales of an ODE (2 pi over its Jacobian's eigenvalue moduli), in time units."""

    fast: float
    slow: float


def estimate_time_scales(system: ODESystem, n: int = 256, seed: int = 0) -> TimeScales:
    r"""Time scales from the linearisation :math:`J(x) = \partial f/\partial x` at ``n`` states of the region.

    :math:`\tau_\text{fast} = 2\pi / \operatorname{median}_x \max|\lambda(J(x))|`, :math:`\tau_\text{slow} =
    2\pi / \operatorname{median}_x \min|\lambda(J(x))|`, capped at ``MAX_SCALE_RATIO`` times the fast
    one (a conserved quantity has :math:`\lambda = 0`). ``J`` by central differences on NumPy arrays
    ``[n, D]``, so any vector field that works with ``solve_ivp`` works here.
    """
    x = system.sample_initial(n, torch.Generator().manual_seed(seed)).numpy()
    h = 1e-6 * max(1.0, float(np.abs(x).max()))
    eye = np.eye(x.shape[1])
    jac = np.stack([(np.asarray(system.rhs(x + h * e)) - np.asarray(system.rhs(x - h * e))) / (2 * h)
                    for e in eye], axis=-1)  # [n, D, D]
    if not np.isfinite(jac).all():
        raise ValueError(f"system {system.name!r}: its vector field is not finite on its region")
    rates = np.abs(np.linalg.eigvals(jac))
    fast_rate = float(np.median(rates.max(axis=1)))
    if fast_rate <= 0:
        raise ValueError(f"system {system.name!r}: its Jacobian vanishes on its region; pass dt and levels")
    slow_rate = max(float(np.median(rates.min(axis=1))), fast_rate / MAX_SCALE_RATIO)
    return TimeScales(2 * math.pi / fast_rate, 2 * math.pi / slow_rate)


def _nice_floor(value: float) -> float:
    """The largest of 1, 2, 5 times a power of ten that is <= ``value``."""
    exponent = math.floor(math.log10(value))
    return max(m * 10.0**exponent for m in (1, 2, 5) if m * 10.0**exponent <= value * (1 + 1e-12))


def default_dt(scales: TimeScales) -> float:
    """Sampling step (= finest level's step): about ``tau_fast / 100``, rounded down to 1, 2 or 5 x 10^k."""
    return _nice_floor(scales.fast / SAMPLES_PER_FAST_SCALE)


def default_levels(scales: TimeScales, dt: float) -> list[int]:
    """Levels ``k = 0 .. L-1`` (steps ``dt * 2**k``), coarsest step about ``tau_slow / 4``, 3 <= L <= 11."""
    top = round(math.log2(max(COARSEST_FRACTION * scales.slow / dt, 1.0)))
    return list(range(min(max(top, 2), 10) + 1))


@dataclass
class HiTSResult:
    """What :func:`train_hits` returns.

    ``levels[i]`` is the trained stepper of step ``dt * 2**level_indices[i]`` (finest first);
    ``selection`` the validation choice (``lower..upper`` index into ``levels``) and ``hierarchy`` the
    coupled steppers; ``single_test_mse[i]`` / ``multiscale_test_mse``: integrated test MSE (mean over
    trajectories, steps and state) of level ``i`` alone / of the hierarchy; ``comparison`` holds the
    per-step curves ``[T]`` and the hierarchy's test forecast ``[B, T, D]``; ``seconds`` the wall time
    of each phase.
    """

    system: str
    dt: float
    level_indices: list[int]
    levels: list[ResNetStepper]
    fits: list[FitResult]
    selection: LevelSelection
    hierarchy: Hierarchy
    single_test_mse: list[float]
    multiscale_test_mse: float
    comparison: LevelComparison
    data: dict[str, Trajectory]
    scales: TimeScales | None
    settings: dict = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def best_single(self) -> int:
        """Index (into ``levels``) of the single level with the least test MSE."""
        return min(range(len(self.levels)), key=self.single_test_mse.__getitem__)

    @property
    def gain(self) -> float:
        """Best single level's test MSE over the hierarchy's (> 1: coupling helps)."""
        return self.single_test_mse[self.best_single] / self.multiscale_test_mse

    def summary(self) -> str:
        lines = [f"HiTS on {self.system}: dt = {self.dt:g}, {len(self.levels)} levels "
                 f"(steps {self.levels[0].dt:g} ... {self.levels[-1].dt:g}), "
                 f"hidden {list(self.levels[0].hidden)}, "
                 f"{self.settings.get('epochs', '?')} epochs"]
        for i, (s, e) in enumerate(zip(self.levels, self.single_test_mse)):
            mark = " <- best single" if i == self.best_single else ""
            used = " (coupled)" if self.selection.lower <= i <= self.selection.upper else ""
            lines.append(f"  level {i} dt={s.dt:<8g} test MSE {e:.3e}{used}{mark}")
        lines.append(f"  coupled levels {self.selection.lower}-{self.selection.upper} (chosen on validation):"
                     " "
                     f"test MSE {self.multiscale_test_mse:.3e}, {self.gain:.1f}x the best single level")
        lines.append("  seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in self.seconds.items()))
        return "\n".join(lines)


def _check_splits(data) -> dict[str, Trajectory]:
    if not isinstance(data, dict) or set(data) != set(SPLITS):
        raise ValueError(f"data must be a dict with keys {list(SPLITS)} of Trajectory, got "
                         f"{sorted(data) if isinstance(data, dict) else type(data).__name__}")
    for name, traj in data.items():
        if not isinstance(traj, Trajectory):
            raise ValueError(f"data[{name!r}] must be a Trajectory, got {type(traj).__name__}")
        validate.finite_tensor(f"data[{name!r}].x", traj.x)
        if abs(traj.dt - data["train"].dt) > 1e-12 * traj.dt:
            raise ValueError(f"data[{name!r}].dt = {traj.dt:g} differs from "
                             f"data['train'].dt = {data['train'].dt:g}")
    return data


def train_hits(system, *, budget_s: float = 180.0, levels: list[int] | None = None, hidden=None,
               dt: float | None = None, n_trajectories: dict | int | None = None, n_steps: int | None = None,
               data: dict[str, Trajectory] | None = None, max_epochs: int | None = None, seed: int = 0,
               device=None, progress: bool = True) -> HiTSResult:
    """Train a HiTS hierarchy on ``system`` within about ``budget_s`` seconds of training; see the module.

    Arguments:

    * ``system``: an :class:`~hitslite.systems.ODESystem` or a registered name
      (:func:`~hitslite.systems.get_system`);
    * ``budget_s``: wall-clock seconds for training all levels (data generation, selection and test come
      on top);
    * ``levels``: level indices ``k`` (steps ``dt * 2**k``); default :func:`default_levels`;
    * ``hidden``: hidden widths of every ResNet stepper; default ``(64, 64, 64)``;
    * ``dt``: sampling step = finest step; default :func:`default_dt`;
    * ``n_trajectories``: an int or ``{"train", "val", "test"}`` counts; default 128 / 512 / 512;
    * ``n_steps``: trajectory length in samples ``dt``; default ``8 * 2**max(levels)``;
    * ``data``: your own ``{"train", "val", "test"}`` :class:`~hitslite.data.Trajectory` splits
      ``[B, T, D]`` on one grid (then ``dt``, ``n_trajectories`` and ``n_steps`` come from them);
    * ``max_epochs``: a fixed number of epochs instead of sizing it from ``budget_s`` (reproducible);
    * ``seed``: seeds the data, the initial weights and the minibatches (nothing global is seeded);
    * ``device``: where to train (default: the CPU; pass ``hitslite.default_device()`` for a GPU).

    The result is a :class:`HiTSResult`; ``result.summary()`` prints the comparison.
    """
    seconds = {}
    start = time.perf_counter()
    if isinstance(system, str):
        system = get_system(system)
    if not isinstance(system, ODESystem):
        raise ValueError(f"system must be an ODESystem or the name of one, got {type(system).__name__}")
    budget_s = validate.positive_float("budget_s", budget_s)
    seed = validate.nonnegative_int("seed", seed)
    if max_epochs is not None:
        max_epochs = validate.positive_int("max_epochs", max_epochs)
    hidden = tuple(DEFAULT_HIDDEN if hidden is None else hidden)
    if not hidden or any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in hidden):
        raise ValueError(f"hidden must be a non-empty sequence of positive ints, got {hidden!r}")
    scales = None
    if data is not None:
        data = _check_splits(data)
        if dt is not None or n_trajectories is not None or n_steps is not None:
            raise ValueError("pass either data or dt / n_trajectories / n_steps, not both")
        dt = data["train"].dt
    elif dt is None or levels is None:
        scales = estimate_time_scales(system, seed=seed)
    dt = default_dt(scales) if dt is None else validate.positive_float("dt", dt)
    levels = default_levels(scales, dt) if levels is None else list(levels)
    if not levels or any(isinstance(k, bool) or not isinstance(k, int) or k < 0 for k in levels) \
            or levels != sorted(set(levels)):
        raise ValueError(f"levels must be increasing non-negative ints (steps dt * 2**k), got {levels!r}")
    if data is None:
        n_steps = COARSE_STEPS_PER_HORIZON * 2 ** levels[-1] if n_steps is None \
            else validate.positive_int("n_steps", n_steps)
        sizes = DEFAULT_TRAJECTORIES if n_trajectories is None else n_trajectories
        if isinstance(sizes, int):
            sizes = dict.fromkeys(SPLITS, sizes)
        if not isinstance(sizes, dict) or set(sizes) != set(SPLITS):
            raise ValueError(f"n_trajectories must be an int or a dict with keys {list(SPLITS)}, "
                             f"got {sizes!r}")
        for split, n in sizes.items():
            validate.positive_int(f"n_trajectories[{split!r}]", n)
        data = ode_splits(system, seed=seed, dt=dt, n_steps=n_steps, n_trajectories=dict(sizes))
    if data["train"].n_steps < N_FORWARD * 2 ** levels[-1]:
        raise ValueError(f"levels: the coarsest step dt * 2**{levels[-1]} needs trajectories of at least "
                         f"{N_FORWARD * 2 ** levels[-1]} steps for the p = {N_FORWARD} loss; they have "
                         f"{data['train'].n_steps}")
    seconds["data"] = time.perf_counter() - start
    device = torch.device("cpu") if device is None else torch.device(device)
    train, val = (data[s].to(torch.float32) for s in ("train", "val"))
    fit_val = val[:FIT_VAL_TRAJECTORIES]  # the selection below uses all of val
    dim = data["train"].x.shape[-1]
    settings = {**TRAIN_SETTINGS, "batch_size": min(TRAIN_SETTINGS["batch_size"],
                                                     train.batch_size * WINDOWS_PER_TRAJECTORY)}

    def build():  # initial weights from ``seed`` without touching the global generator
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return {2**k: ResNetStepper(dim, dt * 2**k, hidden=hidden).to(device) for k in levels}

    def run(epochs):
        by_stride = build()
        steppers, fits = fit_levels(lambda h: by_stride[round(h / dt)], train, fit_val, levels=levels,
                                    n_forward=N_FORWARD, starts=WINDOWS_PER_TRAJECTORY, seed=seed,
                                    progress=progress, batched=True, device=device, max_epochs=epochs,
                                    **settings)
        return steppers, fits

    start = time.perf_counter()
    if max_epochs is None:  # a short measured run sizes the real one to what is left of the budget
        _, calibration = run(CALIBRATION_EPOCHS)
        spent = time.perf_counter() - start
        per_epoch = calibration[0].seconds / CALIBRATION_EPOCHS  # the epoch loop alone
        setup = max(spent - calibration[0].seconds, 0.0)  # windows, fingerprints: paid again by the run
        max_epochs = max(1, int((budget_s - spent - setup) / per_epoch))
    steppers, fits = run(max_epochs)
    seconds["train"] = time.perf_counter() - start

    start = time.perf_counter()
    selection = select_levels(steppers, val)  # validation only (HiTS Sec. 2.3)
    seconds["select"] = time.perf_counter() - start
    start = time.perf_counter()
    test = data["test"]
    comparison = compare_levels(steppers, test, selection.lower, selection.upper)  # test: once, at the end
    seconds["test"] = time.perf_counter() - start
    return HiTSResult(
        system=system.name, dt=dt, level_indices=levels, levels=steppers, fits=fits, selection=selection,
        hierarchy=selection.hierarchy, single_test_mse=comparison.single_mse,
        multiscale_test_mse=comparison.multiscale_mse, comparison=comparison, data=data, scales=scales,
        settings={"hidden": list(hidden), "epochs": max_epochs, "n_forward": N_FORWARD,
                  "windows_per_trajectory": WINDOWS_PER_TRAJECTORY, **settings},
        seconds=seconds)
