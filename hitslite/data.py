"""Honest ground truth and the ODE data recipes; the one place to import data things from.

* :func:`solve_reference` — ground truth by ``scipy.integrate.solve_ivp`` (DOP853) at
  rtol = 1e-11, atol = 1e-12. The HiTS code used solve_ivp's default rtol = 1e-3, which puts a
  floor of roughly 1e-9 under every error it reports (the authors' code solved with RK45 at the
  default tolerances). :func:`fhn_fd_reference` is the same for the FitzHugh–Nagumo PDE (method of
  lines).
* :func:`ode_dataset` / :func:`ode_splits` — the HiTS App. A.1 / Table 2 recipes, generated on
  first use and cached under ``data/cache/`` keyed by a hash of every generation parameter
  (:mod:`hitslite.cache`); :func:`add_noise` — noisy observations (App. B.2).
* :func:`lhits_splits` — the L-HiTS recipes (FHN and KS).

Re-exported from the modules below it, so ``from hitslite.data import ...`` works for all of them:
:class:`~hitslite.trajectory.Trajectory` (:mod:`hitslite.trajectory`); the cache, its keys and the
split conventions (:mod:`hitslite.cache`: ``cached``, ``cache_dir``, ``cache_key``, ``repo_root``,
``callable_fingerprint``, ``system_fingerprint``, ``SPLITS``, ``split_seed``, ``DATA_VERSION``); the PDE
and particle data sets (:mod:`hitslite.pde_data`: ``fhn_dataset``, ``fhn_splits``,
``fhn_initial_conditions``, ``ks_dataset``, ``ks_recipe``, ``CANONICAL_KS``, ``make_canonical_ks``,
``particle_dataset``, ``FHN_SPLIT_ICS``).
"""

from __future__ import annotations

import numpy as np
import torch

from . import validate
from .cache import (  # noqa: F401 - re-exported
    DATA_VERSION,
    SPLITS,
    cache_dir,
    cache_key,
    cached,
    callable_fingerprint,
    repo_root,
    split_seed,
    system_fingerprint,
)
from .pde_data import (  # noqa: F401 - re-exported
    CANONICAL_KS,
    FHN_SPLIT_ICS,
    fhn_dataset,
    fhn_initial_conditions,
    fhn_splits,
    ks_dataset,
    ks_recipe,
    make_canonical_ks,
    particle_dataset,
)
from .trajectory import Trajectory

__all__ = ["solve_reference", "fhn_fd_reference", "ode_dataset", "add_noise", "ode_splits",
           "GROUND_TRUTH_RTOL", "GROUND_TRUTH_ATOL", "LHITS_RECIPES", "lhits_splits"]

#: Ground-truth tolerances (rtol <= 1e-10, atol <= 1e-12: far below any learned model's error).
GROUND_TRUTH_RTOL = 1e-11
GROUND_TRUTH_ATOL = 1e-12


# --------------------------------------------------------------------------------------------
# Ground truth
# --------------------------------------------------------------------------------------------
def solve_reference(
    system,
    x0,
    t_eval,
    *,
    rtol: float = GROUND_TRUTH_RTOL,
    atol: float = GROUND_TRUTH_ATOL,
    method: str = "DOP853",
    chunk: int = 32,
) -> torch.Tensor:
    """Integrate ``system.rhs`` from ``x0 [B, D]`` and sample at ``t_eval [T]`` (``t_eval[0]`` is the
    start time): float64 ``[B, T, D]``.

    ``chunk`` trajectories are integrated together as one vectorised ODE (solve_ivp's error norm
    is an RMS over components, so chunks stay small to keep the per-trajectory error near the
    tolerance). Raises ``RuntimeError`` if the solver fails.
    """
    from scipy.integrate import solve_ivp

    x0 = np.asarray(x0.detach().cpu() if isinstance(x0, torch.Tensor) else x0, dtype=np.float64)
    t_eval = np.asarray(t_eval.cpu() if isinstance(t_eval, torch.Tensor) else t_eval, dtype=np.float64)
    if x0.ndim != 2:
        raise ValueError(f"x0 must have shape [batch, dim], got {x0.shape}")
    if not (0 < rtol <= 1e-3 and 0 < atol):
        raise ValueError(f"rtol must be in (0, 1e-3] and atol positive, got rtol={rtol}, atol={atol}")
    B, D = x0.shape
    out = np.empty((B, t_eval.size, D))
    for start in range(0, B, chunk):
        block = x0[start : start + chunk]
        n = block.shape[0]

        def f(_t, y, n=n):
            return system.rhs(y.reshape(n, D)).reshape(-1)

        sol = solve_ivp(f, (t_eval[0], t_eval[-1]), block.reshape(-1), method=method,
                        t_eval=t_eval, rtol=rtol, atol=atol)
        if not sol.success:
            raise RuntimeError(f"solve_ivp failed for {system.name}: {sol.message}")
        out[start : start + n] = sol.y.reshape(n, D, -1).transpose(0, 2, 1)
    return torch.from_numpy(out)


def fhn_fd_reference(system, x0: torch.Tensor, t_eval, *, rtol: float = GROUND_TRUTH_RTOL,
                     atol: float = GROUND_TRUTH_ATOL) -> torch.Tensor:
    """Method-of-lines finite-difference solution of LED SI eq. (29) by ``solve_ivp`` (DOP853).

    ``x0 [B, 2, N]`` -> float64 ``[B, T, 2, N]`` at ``t_eval [T]`` (``t_eval[0]`` the start).
    Uses :meth:`~hitslite.systems.FitzHughNagumo.rhs` (second differences, zero-flux ends).
    """
    from scipy.integrate import solve_ivp

    x0 = torch.as_tensor(x0, dtype=torch.float64)
    t_eval = np.asarray(t_eval, dtype=np.float64)
    out = []
    for b in range(x0.shape[0]):
        def f(_t, y):
            return system.rhs(torch.from_numpy(y).reshape(1, *x0.shape[1:])).reshape(-1).numpy()

        sol = solve_ivp(f, (t_eval[0], t_eval[-1]), x0[b].reshape(-1).numpy(), method="DOP853",
                        t_eval=t_eval, rtol=rtol, atol=atol)
        if not sol.success:
            raise RuntimeError(f"solve_ivp failed for the FHN finite-difference reference: {sol.message}")
        out.append(torch.from_numpy(sol.y.T.reshape(t_eval.size, *x0.shape[1:])))
    return torch.stack(out)



def ode_dataset(
    system,
    split: str,
    *,
    n_trajectories: int | None = None,
    n_steps: int | None = None,
    dt: float | None = None,
    seed: int = 0,
    refresh: bool = False,
    cache: bool = True,
) -> Trajectory:
    """One split of an ODE data set, following HiTS App. A.1 / Table 2 (cached).

    Initial states are uniform in ``system.region`` (the harmonic oscillator: uniform in the unit
    disk, Sec. 2.1), drawn from a generator seeded by ``(seed, split)`` so splits never share an
    initial state. Each trajectory is integrated independently (Lorenz: after a ``warmup`` of 5
    time units that is discarded, so every trajectory starts on the attractor; the HiTS code
    chained one long trajectory instead). The harmonic oscillator uses its exact solution, all
    others :func:`solve_reference`.

    Parameters
    ----------
    system : an :class:`~hitslite.systems.ODESystem` or its registered name.
    split : ``"train"``, ``"val"`` or ``"test"``.
    n_trajectories, n_steps, dt : override the recipe's defaults (Table 2 sizes; A.1 step and length).
    seed : base seed of the initial-condition generator.
    cache : reuse / write ``data/cache``. The cache key covers the system's name, parameters, region
        and the fingerprint of its code (:func:`system_fingerprint`: vector field, initial sampler), so
        editing a system's equations makes new data, never returns the old. A system whose code cannot
        be fingerprinted raises ``TypeError``; pass ``cache=False`` for it.

    Returns
    -------
    Trajectory
        float64, ``x [n_trajectories, n_steps + 1, D]``.
    """
    from .systems import get_system

    if isinstance(system, str):
        system = get_system(system)
    validate.one_of("split", split, SPLITS)
    n = system.n_samples[SPLITS.index(split)] if n_trajectories is None else n_trajectories
    n = validate.positive_int("n_trajectories", n)
    n_steps = validate.positive_int("n_steps", system.n_steps if n_steps is None else n_steps)
    dt = system.dt if dt is None else dt
    validate.positive_float("dt", dt)
    exact = hasattr(system, "exact_solution")
    recipe = {
        "name": f"{system.name}-{split}",
        "system": system.name,
        "params": system.params,
        "region": system.region,
        "split": split,
        "n_trajectories": n,
        "n_steps": n_steps,
        "dt": dt,
        "warmup": system.warmup,
        "seed": seed,
        "solver": "exact" if exact else "solve_ivp/DOP853",
        "rtol": None if exact else GROUND_TRUTH_RTOL,
        "atol": None if exact else GROUND_TRUTH_ATOL,
        "version": DATA_VERSION,
        "code": system_fingerprint(system) if cache else None,
    }

    def build() -> Trajectory:
        gen = torch.Generator().manual_seed(split_seed(split, seed))
        x0 = system.sample_initial(n, generator=gen)
        t = dt * torch.arange(n_steps + 1, dtype=torch.float64)
        if exact:
            x = system.exact_solution(x0, t)
        else:
            if system.warmup > 0:
                x0 = solve_reference(system, x0, np.array([0.0, system.warmup]))[:, -1]
            x = solve_reference(system, x0, t)
        return Trajectory(t=t, x=x, dt=dt, meta={"system": system.name, "split": split})

    if not cache:
        traj = build()
        traj.meta["recipe"] = recipe
        return traj
    return cached(recipe, build, refresh=refresh)


def add_noise(traj: Trajectory, level: float, scale: torch.Tensor, *, seed: int = 0) -> Trajectory:
    """Noisy observations: ``x + level * scale * N(0, 1)``, independently per sample and component.

    ``scale [*S]`` is the per-component standard deviation of the clean data (HiTS App. B.2; the
    authors' code scales the standard deviation like this, their text speaks of the variance).
    """
    validate.nonnegative_float("level", level)
    if tuple(scale.shape) != traj.state_shape:
        raise ValueError(f"scale must have the state shape {traj.state_shape}, got {tuple(scale.shape)}")
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn(traj.x.shape, generator=gen, dtype=torch.float64).to(traj.x)
    meta = {**traj.meta, "noise_level": level}
    return Trajectory(traj.t, traj.x + level * scale.to(traj.x) * noise, traj.dt, meta)


def ode_splits(system, *, seed: int = 0, **overrides) -> dict[str, Trajectory]:
    """``{"train": ..., "val": ..., "test": ...}`` from :func:`ode_dataset` with shared overrides.

    ``overrides`` may hold ``n_steps``, ``dt`` and ``n_trajectories`` (a dict per split, or an int
    for all three).
    """
    sizes = overrides.pop("n_trajectories", None)
    out = {}
    for split in SPLITS:
        n = sizes.get(split) if isinstance(sizes, dict) else sizes
        out[split] = ode_dataset(system, split, n_trajectories=n, seed=seed, **overrides)
    return out



#: L-HiTS data recipes (Sec. 4, Tables 5–6). FHN: the LED lattice-Boltzmann data the authors reused
#: (the authors' code loads LED's six initial conditions, 10019 samples each), at LED's own sampling
#: Δt = 1 (200 LB steps), T = 5120 steps, split 3 / 2 / 1 as in the authors' code (Table 5 says
#: 4 / 1 / 1 and Δt = 0.01; 51.2 time units would be a quarter of one oscillation), pooled over five
#: seeded families of the six initial conditions: 15 / 10 / 5 trajectories. The first 1000 time units
#: are dropped (LED drops 2): our initial conditions (the paper's are only a figure) take about that
#: long to settle on one of two mirror-image limit cycles or at rest, and where and at which phase a
#: transient settles is not determined well enough by 15 examples to forecast it (Chapter 9 measures
#: both). KS: L = 22, 120 nodes, Δt = 0.05, 10 / 5 / 5 trajectories on the attractor (after 1000
#: time units).
#: Keys are keyword arguments of :func:`fhn_splits` / :func:`ks_dataset`.
LHITS_RECIPES = {
    "fhn": {"n_steps": 5120, "save_every": 200, "t_drop": 1000.0, "seeds": (0, 1, 2, 3, 4)},
    "ks": {"preset": "lhits"},
}


def lhits_splits(system: str, **overrides) -> dict[str, Trajectory]:
    """The L-HiTS train / val / test trajectories of ``system`` (``"fhn"`` or ``"ks"``), cached.

    FHN states are ``[B, T, 2, 101]`` (``[u; v]``, 202 values), KS states ``[B, T, 120]``; float64.
    ``overrides`` change the recipe of :data:`LHITS_RECIPES` (e.g. ``n_steps`` to shrink it).
    """
    validate.one_of("system", system, sorted(LHITS_RECIPES))
    recipe = {**LHITS_RECIPES[system], **overrides}
    if system == "ks":
        return {split: ks_dataset(split, **recipe) for split in SPLITS}
    return fhn_splits(seeds=recipe.pop("seeds", (recipe.pop("seed", 0),)), **recipe)
