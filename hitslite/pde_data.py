"""PDE and particle data sets: FitzHugh–Nagumo (lattice Boltzmann), Kuramoto–Sivashinsky (ETDRK4),
advection–diffusion particles (Euler–Maruyama). The same cache and split names as the ODE data
(:mod:`hitslite.cache`); every public name here is re-exported by :mod:`hitslite.data`.

* :func:`fhn_dataset` / :func:`fhn_splits` — LED SI 8.3: six FHN initial conditions
  (:func:`fhn_initial_conditions`), lattice Boltzmann, split 3 / 2 / 1;
* :func:`ks_dataset` — the KS presets of LED, L-HiTS and HiTS, regenerated from committed anchors
  where :data:`CANONICAL_KS` has them (:mod:`hitslite.canonical`);
* :func:`particle_dataset` — LED SI 8.1 / 8.2: 1000 particles in a box, positions every Δt.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import torch

from . import validate
from .cache import DATA_VERSION, SPLITS, cached, split_seed
from .trajectory import Trajectory

__all__ = ["fhn_initial_conditions", "fhn_dataset", "fhn_splits", "ks_dataset", "ks_recipe", "CANONICAL_KS",
           "make_canonical_ks", "particle_dataset", "FHN_SPLIT_ICS"]

_SOLVER_STEPS = "the sampling step must be a whole number of solver steps"

#: LED SI 8.3.1: six initial conditions, 3 for training, 2 for validation, 1 for testing.
FHN_SPLIT_ICS = {"train": (0, 1, 2), "val": (3, 4), "test": (5,)}
def fhn_initial_conditions(system=None, n: int = 6, seed: int = 0) -> torch.Tensor:
    r"""The six FitzHugh–Nagumo initial conditions (our documented recipe), float64 ``[n, 2, N]``.

    The LED paper shows its initial conditions only as a figure (SI Fig. 36, from ref. [49]), so we
    use a seeded family of the same kind, an activator front with an inhibitor offset:

    .. math::
        u_0(x) = a \tanh\big((x - c)/w\big), \qquad v_0(x) = b \tanh\big((x - c)/w\big) + 0.1\,a,

    with, for initial condition i, a generator seeded by ``1000 * seed + i`` drawing
    a = ±U(0.6, 1), c = U(0.25, 0.75) L, w = U(0.5, 2.5), b = U(0.05, 0.25). Initial condition i does
    not depend on ``n``, so the splits stay fixed when fewer are generated.
    """
    from .systems import get_system

    system = get_system("fhn") if system is None else system
    n = validate.positive_int("n", n)
    x = system.grid()
    out = []
    for i in range(n):
        g = torch.Generator().manual_seed(1000 * seed + i)
        r = torch.rand(5, generator=g, dtype=torch.float64).tolist()
        a = (0.6 + 0.4 * r[0]) * (1.0 if r[1] < 0.5 else -1.0)
        c = (0.25 + 0.5 * r[2]) * system.L
        w = 0.5 + 2.0 * r[3]
        b = 0.05 + 0.2 * r[4]
        front = torch.tanh((x - c) / w)
        out.append(torch.stack([a * front, b * front + 0.1 * a]))
    return torch.stack(out)


def _fhn_lattice_boltzmann(system, x0: torch.Tensor, *, dt: float, n_drop: int, save_every: int,
                           n_steps: int) -> Trajectory:
    """Lattice Boltzmann from ``x0`` (populations at equilibrium): ``n_drop`` steps dropped, then every
    ``save_every``-th of ``n_steps * save_every`` steps saved (the first saved state follows the drop).
    Runs through :meth:`~hitslite.pde.LatticeBoltzmann.advance` (compiled when numba is installed)."""
    from .pde import LatticeBoltzmann

    lb = LatticeBoltzmann(system, dt)
    with torch.no_grad():
        x, carry = lb.advance(x0, None, n_drop) if n_drop else (x0, lb.init_carry(x0))
        states = [x]
        for _ in range(n_steps):
            x, carry = lb.advance(x, carry, save_every)
            states.append(x)
    step = lb.dt * save_every  # the times and step of rollout(Repeated(lb, save_every), ..., t0=n_drop * dt)
    t = n_drop * dt + step * torch.arange(n_steps + 1, dtype=torch.float64)
    return Trajectory(t=t, x=torch.stack(states, dim=1), dt=step)


def fhn_dataset(
    split: str,
    *,
    n_steps: int | None = None,
    horizon: str = "led",
    save_every: int = 200,
    dt: float = 0.005,
    t_drop: float = 2.0,
    seed: int = 0,
    system=None,
    refresh: bool = False,
) -> Trajectory:
    """FitzHugh–Nagumo lattice-Boltzmann data, LED SI 8.3 / 8.3.1 (cached).

    Initial conditions :func:`fhn_initial_conditions` 0–2 (train), 3–4 (val), 5 (test); LB with
    ``dt`` = 0.005 from equal-weight populations, the first ``t_drop`` = 2 time units dropped
    (SI 8.3.1), then every ``save_every`` = 200th step saved (Δt = 1). ``n_steps`` saved steps
    after the first sample: 450 (451 points, ``horizon="led"``) or 8000 (``horizon="long"``, the
    Fig. 7/34 test horizon). Returns float64 ``x [n_ic, n_steps + 1, 2, N]``, ``t`` the actual
    times (starting at ``t_drop``).
    """
    from .systems import get_system

    validate.one_of("split", split, SPLITS)
    if horizon not in ("led", "long"):
        raise ValueError(f"horizon must be 'led' (451 points) or 'long' (8001 points), got {horizon!r}")
    system = get_system("fhn") if system is None else system
    n_steps = {"led": 450, "long": 8000}[horizon] if n_steps is None else n_steps
    n_steps = validate.positive_int("n_steps", n_steps)
    save_every = validate.positive_int("save_every", save_every)
    n_drop = validate.integer_ratio("t_drop", t_drop, dt, hint=_SOLVER_STEPS) if t_drop > 0 else 0
    ics = FHN_SPLIT_ICS[split]
    recipe = {
        "name": f"fhn-{split}", "system": "fhn", "params": system.params, "split": split, "ics": ics,
        "ic_recipe": "tanh fronts v1", "n_steps": n_steps, "save_every": save_every, "dt": dt,
        "t_drop": t_drop, "seed": seed, "solver": "lattice Boltzmann D1Q3 BGK", "version": DATA_VERSION,
    }

    def build() -> Trajectory:
        x0 = fhn_initial_conditions(system, 6, seed)[list(ics)]
        traj = _fhn_lattice_boltzmann(system, x0, dt=dt, n_drop=n_drop, save_every=save_every,
                                      n_steps=n_steps)
        traj.meta = {"system": "fhn", "split": split, "ics": list(ics)}
        return traj

    return cached(recipe, build, refresh=refresh)


def fhn_splits(*, n_steps: int, save_every: int = 200, dt: float = 0.005, t_drop: float = 2.0,
               seeds: Sequence[int] = (0,), system=None, refresh: bool = False) -> dict[str, Trajectory]:
    """All three FitzHugh–Nagumo splits, for one or more families of six initial conditions, from a
    single lattice-Boltzmann run.

    The recipe of :func:`fhn_dataset`: family ``seed`` is :func:`fhn_initial_conditions` ``(seed)``,
    its initial conditions 0–2 / 3–4 / 5 go to ``train`` / ``val`` / ``test``; the splits pool the
    families in the order of ``seeds`` (so ``seeds=(0,)`` gives exactly :func:`fhn_dataset`'s splits).
    All initial conditions are stepped together and cached as one file: over long horizons the LB
    loop's Python overhead, not the batch, sets the cost, so this is far faster than one run per
    split and family.
    """
    from .systems import get_system

    system = get_system("fhn") if system is None else system
    n_steps = validate.positive_int("n_steps", n_steps)
    save_every = validate.positive_int("save_every", save_every)
    seeds = [int(sd) for sd in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be a non-empty sequence of distinct ints, got {seeds!r}")
    n_drop = validate.integer_ratio("t_drop", t_drop, dt, hint=_SOLVER_STEPS) if t_drop > 0 else 0
    n_ic = 1 + max(max(ics) for ics in FHN_SPLIT_ICS.values())
    recipe = {
        "name": "fhn-families", "system": "fhn", "params": system.params, "ics_per_family": n_ic,
        "ic_recipe": "tanh fronts v1", "n_steps": n_steps, "save_every": save_every, "dt": dt,
        "t_drop": t_drop, "seeds": seeds, "solver": "lattice Boltzmann D1Q3 BGK", "version": DATA_VERSION,
    }

    def build() -> Trajectory:
        x0 = torch.cat([fhn_initial_conditions(system, n_ic, sd) for sd in seeds])
        traj = _fhn_lattice_boltzmann(system, x0, dt=dt, n_drop=n_drop, save_every=save_every,
                                      n_steps=n_steps)
        traj.meta = {"system": "fhn", "seeds": seeds, "ics_per_family": n_ic}
        return traj

    every = cached(recipe, build, refresh=refresh)
    out = {}
    for split, ics in FHN_SPLIT_ICS.items():
        rows = [f * n_ic + i for f in range(len(seeds)) for i in ics]
        out[split] = Trajectory(t=every.t, x=every.x[rows], dt=every.dt,
                                meta={"system": "fhn", "split": split, "ics": list(ics), "seeds": seeds})
    return out


def ks_dataset(
    split: str,
    *,
    preset: str = "led",
    n_trajectories: int | None = None,
    n_steps: int | None = None,
    solver_dt: float | None = None,
    seed: int = 0,
    refresh: bool = False,
    canonical: bool = True,
    **system_params,
) -> Trajectory:
    """Kuramoto–Sivashinsky data by :class:`~hitslite.pde.ETDRK4` (cached).

    ``preset`` picks the paper's configuration (:data:`hitslite.systems.KS_PRESETS`): ``"led"``
    (L = 22, 64 nodes, Δt = 0.25 after 1000 time units of transient; one trajectory of 5e3 /
    5e3 / 1e5 samples per split), ``"lhits"`` (L = 22, 120 nodes, Δt = 0.05; 10 / 5 / 5
    trajectories of 5121 snapshots), ``"hits"`` (512 nodes on (0, 16 pi), 4001 snapshots).
    ``n_trajectories`` / ``n_steps`` shrink it (the size knob). Initial states from
    :meth:`~hitslite.systems.KuramotoSivashinsky.sample_initial` with a generator seeded by
    ``(seed, split)``. Returns float64 ``x [n_trajectories, n_steps + 1, n]``.

    The data are chaotic: where :data:`CANONICAL_KS` has committed anchors for these arguments (the
    data sets the zoo and the chapters use), the trajectories are regenerated from them, in segments
    of 50 time units, so every machine gets the same data (:mod:`hitslite.canonical`); the transient
    is then not recomputed. ``canonical=False`` generates directly (a
    :class:`~hitslite.canonical.CanonicalDataWarning` says so when no anchors exist and the horizon is
    long enough to differ between machines).
    """
    from .canonical import SEGMENT_TIME, CanonicalDataWarning, anchored_rollout, anchors_for
    from .pde import ETDRK4
    from .steppers import Repeated, rollout
    from .systems import get_system

    validate.one_of("split", split, SPLITS)
    if solver_dt is not None:
        system_params["solver_dt"] = solver_dt
    system = get_system("ks", preset=preset, **system_params)
    i = SPLITS.index(split)
    n = system.n_trajectories[i] if n_trajectories is None else n_trajectories
    n_steps = system.n_steps[i] if n_steps is None else n_steps
    n = validate.positive_int("n_trajectories", n)
    n_steps = validate.positive_int("n_steps", n_steps)
    sub = validate.integer_ratio("save_dt", system.save_dt, system.solver_dt, hint=_SOLVER_STEPS)
    n_transient = round(system.transient / system.solver_dt)
    recipe = ks_recipe(split, preset=preset, n_trajectories=n, n_steps=n_steps, seed=seed, **system_params)
    t0 = n_transient * system.solver_dt
    found = None if not canonical else anchors_for(recipe, n_steps)
    if found is not None:  # regenerate from the committed anchors: the same data on every machine
        anchors, stride, digest = found
        recipe = {**recipe, "anchors": digest[:16]}

        def build() -> Trajectory:
            x, mismatch = anchored_rollout(Repeated(ETDRK4(system, system.solver_dt), sub), anchors, stride,
                                           n_steps)
            t = t0 + system.save_dt * torch.arange(n_steps + 1, dtype=torch.float64)
            return Trajectory(t=t, x=x, dt=system.save_dt,
                              meta={"system": "ks", "preset": preset, "split": split, "canonical": True,
                                    "anchor_mismatch": mismatch})

        return cached(recipe, build, refresh=refresh)

    horizon = t0 + n_steps * system.save_dt
    if canonical and horizon > 4 * SEGMENT_TIME:
        warnings.warn(f"ks_dataset({split!r}, preset={preset!r}, n_trajectories={n}, n_steps={n_steps}): no "
                      f"committed anchors cover this chaotic data set ({horizon:g} time units), so it is "
                      "generated directly and differs between machines beyond about 200 time units "
                      "(see hitslite.canonical)", CanonicalDataWarning, stacklevel=2)

    def build() -> Trajectory:
        gen = torch.Generator().manual_seed(split_seed(split, seed))
        x0 = system.sample_initial(n, generator=gen)
        stepper = ETDRK4(system, system.solver_dt)
        with torch.no_grad():
            if n_transient:
                x0 = Repeated(stepper, n_transient)(x0)
            traj = rollout(Repeated(stepper, sub), x0, n_steps, t0=t0)
        traj.meta = {"system": "ks", "preset": preset, "split": split, "canonical": False}
        return traj

    return cached(recipe, build, refresh=refresh)


def ks_recipe(split: str, *, preset: str = "led", n_trajectories: int | None = None,
              n_steps: int | None = None, seed: int = 0, **system_params) -> dict[str, Any]:
    """The cache recipe of :func:`ks_dataset` for these arguments (what its anchors are keyed by)."""
    from .systems import get_system

    system = get_system("ks", preset=preset, **system_params)
    i = SPLITS.index(split)
    return {
        "name": f"ks-{preset}-{split}", "system": "ks", "params": system.params, "split": split,
        "n_trajectories": system.n_trajectories[i] if n_trajectories is None else n_trajectories,
        "n_steps": system.n_steps[i] if n_steps is None else n_steps, "seed": seed,
        "solver": "ETDRK4 (contour M=64)", "version": DATA_VERSION,
    }


#: The chaotic data sets of the book with committed anchors (:mod:`hitslite.canonical`): keyword
#: arguments of :func:`ks_dataset`. LED (zoo ``led_ks`` train / val; Chapter 11 and ``bench led`` test
#: starts), L-HiTS (10 / 5 / 5 trajectories), HiTS sequence generation (train).
CANONICAL_KS = (
    {"split": "train", "preset": "led", "n_trajectories": 16, "n_steps": 5000},
    {"split": "val", "preset": "led", "n_trajectories": 1, "n_steps": 5000},
    {"split": "test", "preset": "led", "n_trajectories": 40, "n_steps": 600},
    {"split": "train", "preset": "lhits", "n_trajectories": 10, "n_steps": 5120},
    {"split": "val", "preset": "lhits", "n_trajectories": 5, "n_steps": 5120},
    {"split": "test", "preset": "lhits", "n_trajectories": 5, "n_steps": 5120},
    {"split": "train", "preset": "hits", "n_trajectories": 1, "n_steps": 4000},
)


def make_canonical_ks() -> list:
    """Maintainer tool: generate every data set of :data:`CANONICAL_KS` directly (transient included)
    and commit its anchors every :data:`~hitslite.canonical.SEGMENT_TIME` time units. Run once, on
    one machine; the anchors then define the data everywhere (``python -m hitslite.canonical make``)."""
    from .canonical import SEGMENT_TIME, write_anchors
    from .systems import get_system

    written = []
    for spec in CANONICAL_KS:
        spec = dict(spec)
        split = spec.pop("split")
        traj = ks_dataset(split, canonical=False, **spec)
        system = get_system("ks", preset=spec["preset"])
        stride = round(SEGMENT_TIME / system.save_dt)
        written.append(write_anchors(ks_recipe(split, **spec), traj.x, stride,
                                     note="generated directly (transient included) by make_canonical_ks"))
    return written


def particle_dataset(
    split: str,
    *,
    dim: int = 1,
    preset: str = "led",
    n_steps: int | None = None,
    n_trajectories: int = 1,
    seed: int = 0,
    refresh: bool = False,
    **system_params,
) -> Trajectory:
    """Advection–diffusion particle data by :class:`~hitslite.particles.EulerMaruyama` (cached).

    LED SI 8.1 (``dim=1``) / 8.2 (``dim=3``): N = 1000 particles, δt = 1e-3, positions saved every
    Δt = 0.5; 1e3 / 1e3 / 1e4 samples (train / val / test). ``preset="peclet"`` (``dim=3``) is the
    SI 8.2.4 study (pass ``D`` in {0.02, 0.2, 2}; δt follows D; Δt = 1; 500 / 500 / 3000).
    ``n_trajectories`` independent runs per split; each starts with all particles at one point
    drawn uniformly in the box (seeded by ``(seed, split)``) at t = 0. Simulated in float64,
    stored as float32 ``x [n_trajectories, n_steps + 1, N, dim]``.
    """
    from .particles import EulerMaruyama
    from .steppers import Repeated, rollout
    from .systems import get_system

    validate.one_of("split", split, SPLITS)
    system = get_system("advection_diffusion", dim=dim, preset=preset, **system_params)
    n_steps = system.n_steps[SPLITS.index(split)] if n_steps is None else n_steps
    n_steps = validate.positive_int("n_steps", n_steps)
    n_trajectories = validate.positive_int("n_trajectories", n_trajectories)
    sub = validate.integer_ratio("save_dt", system.save_dt, system.dt, hint=_SOLVER_STEPS)
    recipe = {
        "name": f"particles-{preset}-{dim}d-{split}", "system": "advection_diffusion",
        "params": system.params, "split": split, "n_steps": n_steps, "n_trajectories": n_trajectories,
        "seed": seed, "solver": "Euler-Maruyama, reflecting walls", "version": DATA_VERSION,
    }

    def build() -> Trajectory:
        gen = torch.Generator().manual_seed(split_seed(split, seed))
        start = (torch.rand(n_trajectories, 1, dim, generator=gen, dtype=torch.float64) - 0.5) * system.L
        x0 = start.expand(-1, system.N, -1).clone()
        stepper = EulerMaruyama(system, generator=gen)
        with torch.no_grad():
            traj = rollout(Repeated(stepper, sub), x0, n_steps)
        return Trajectory(t=traj.t, x=traj.x.float(), dt=traj.dt,
                          meta={"system": "advection_diffusion", "preset": preset, "dim": dim,
                                "split": split})

    return cached(recipe, build, refresh=refresh)
