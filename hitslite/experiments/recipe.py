"""Does the recipe's coupling help on systems outside the papers? (``python -m hitslite.bench recipe``)

:func:`recipe_study` runs :func:`~hitslite.recipes.train_hits` at its defaults on each system of
:data:`RECIPE_SYSTEMS` for several seeds (each seed draws new data, initial weights and minibatches) and
records, per run, the validation-chosen coupled range and the test MSE of the hierarchy and of every
single level. The verdict of a run is its ``gain``: the best single level's test MSE over the coupled
hierarchy's (> 1: coupling helps).

Two diagnostics sit beside it, neither used to choose anything: ``best_range_on_test`` (the range a
selection *on test data* would pick, which separates "the levels trained badly" from "validation chose
badly") and ``wins_per_trajectory`` (the share of test trajectories on which the coupled forecast's MSE is
below the best single level's; the mean MSE over trajectories is heavy-tailed, so the two can disagree).
"""

from __future__ import annotations

import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch

from .. import validate
from ..multiscale import Hierarchy
from ..recipes import train_hits
from ..systems import ODESystem

__all__ = ["RECIPE_SYSTEMS", "damped_pendulum", "lotka_volterra", "selkov", "recipe_study"]


def _stack(parts, like):
    if isinstance(like, torch.Tensor):
        return torch.stack(parts, dim=-1)
    return np.stack(parts, axis=-1)


def _pendulum_field(x, gamma):
    sin = torch.sin if isinstance(x, torch.Tensor) else np.sin
    return _stack([x[..., 1], -sin(x[..., 0]) - gamma * x[..., 1]], x)


def _lotka_volterra_field(x, alpha, beta, gamma, delta):
    u, v = x[..., 0], x[..., 1]
    return _stack([alpha * u - beta * u * v, delta * u * v - gamma * v], x)


def _selkov_field(x, a, b):
    u, v = x[..., 0], x[..., 1]
    return _stack([-u + a * v + u * u * v, b - a * v - u * u * v], x)


def damped_pendulum(gamma: float = 0.02) -> ODESystem:
    """Chapter 13's pendulum: theta'' = -sin(theta) - gamma theta', lightly damped, started inside the well
    (energy <= 1.43).

    Initial (theta, omega) in [-1.5, 1.5] x [-1, 1]: a wider box reaches energy 1.92, close to the
    separatrix at 2, where one slow trajectory of a few dozen dominates the mean test error (Ch. 13).
    """
    return ODESystem(name="damped_pendulum", state_shape=(2,), vector_field=_pendulum_field,
                     params={"gamma": gamma}, region=((-1.5, 1.5), (-1.0, 1.0)),
                     reference="Chapter 13 (not in the papers)")


def lotka_volterra(alpha: float = 2 / 3, beta: float = 4 / 3, gamma: float = 1.0,
                   delta: float = 1.0) -> ODESystem:
    """Predator and prey: u' = alpha u - beta u v, v' = delta u v - gamma v; closed orbits around
    (gamma / delta, alpha / beta), so phase errors accumulate over the whole horizon."""
    return ODESystem(name="lotka_volterra", state_shape=(2,), vector_field=_lotka_volterra_field,
                     params={"alpha": alpha, "beta": beta, "gamma": gamma, "delta": delta},
                     region=((0.5, 1.5), (0.3, 0.9)), reference="Lotka (1925), Volterra (1926)")


def selkov(a: float = 0.08, b: float = 0.6) -> ODESystem:
    """Sel'kov's glycolysis model: x' = -x + a y + x^2 y, y' = b - a y - x^2 y; a limit cycle for these
    parameters."""
    return ODESystem(name="selkov", state_shape=(2,), vector_field=_selkov_field, params={"a": a, "b": b},
                     region=((0.1, 2.0), (0.1, 2.0)), reference="Sel'kov (1968)")


#: The systems of the study, none of them in the three papers: Chapter 13's pendulum and two further ones.
RECIPE_SYSTEMS = {"damped_pendulum": damped_pendulum, "lotka_volterra": lotka_volterra, "selkov": selkov}


def _run(system: ODESystem, seed: int, budget_s: float, device) -> dict:
    result = train_hits(system, budget_s=budget_s, seed=seed, device=device, progress=False)
    test = result.data["test"]
    truth = test.x.double()
    x0 = test.x[:, 0].to(next(result.levels[0].parameters()).device, torch.float32)
    n = len(result.levels)
    per_range = {}
    with torch.no_grad():
        for lower in range(n):
            for upper in range(lower, n):
                pred = Hierarchy(result.levels[lower:upper + 1]).forecast(
                    x0, test.n_steps, dt=test.dt, check_finite=False).x.double().cpu()
                per_range[(lower, upper)] = ((pred - truth) ** 2).mean(dim=(1, 2))  # [B]
    chosen = (result.selection.lower, result.selection.upper)
    best = result.best_single
    means = {key: float(err.mean()) for key, err in per_range.items()}
    oracle = min(means, key=means.get)
    return {
        "seed": seed,
        "dt": result.dt,
        "level_steps": [s.dt for s in result.levels],
        "epochs": result.settings["epochs"],
        "train_seconds": result.seconds["train"],
        "n_test": test.batch_size,
        "chosen": list(chosen),
        "single_test_mse": list(result.single_test_mse),
        "multiscale_test_mse": result.multiscale_test_mse,
        "best_single": best,
        "gain": result.gain,
        "best_range_on_test": list(oracle),
        "gain_of_best_range_on_test": result.single_test_mse[best] / means[oracle],
        "wins_per_trajectory": float((per_range[chosen] < per_range[(best, best)]).double().mean()),
    }


def _worker(args) -> dict:
    system, seed, budget_s, device = args
    if isinstance(system, str):  # in a worker process: build the system here
        system = RECIPE_SYSTEMS[system]()
    return _run(system, seed, budget_s, device)


def recipe_study(systems=None, *, seeds=(0, 1, 2), budget_s: float = 120.0, jobs: int = 1, device=None,
                 progress: bool = True) -> dict:
    """Run :func:`~hitslite.recipes.train_hits` (its defaults, ``budget_s`` of training) on each system for
    each seed; see the module. ``systems``: names of :data:`RECIPE_SYSTEMS` (default all) or
    :class:`~hitslite.systems.ODESystem` instances (names only when ``jobs > 1``).

    ``jobs``: runs at once, each in its own process with one torch thread (the runs are independent; the
    budget is wall-clock, so give each job a core of its own: ``jobs`` at most the free cores).

    Returns ``{"budget_s", "seeds", "systems": {name: {"runs": [...], "beats_on_every_seed", "gains"}}}``.
    """
    budget_s = validate.positive_float("budget_s", budget_s)
    seeds = [validate.nonnegative_int("seeds[]", s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must name at least one seed")
    chosen = []
    for item in (list(RECIPE_SYSTEMS) if systems is None else systems):
        if isinstance(item, ODESystem):
            chosen.append(item)
        elif item in RECIPE_SYSTEMS:
            chosen.append(RECIPE_SYSTEMS[item]())
        else:
            raise ValueError(f"systems: {item!r} is neither an ODESystem nor one of {list(RECIPE_SYSTEMS)}")
    jobs = validate.positive_int("jobs", jobs)
    tasks = [(system, seed, budget_s, device) for system in chosen for seed in seeds]
    if jobs == 1:
        results = map(_worker, tasks)
    else:
        given = [item for item in (systems or []) if isinstance(item, ODESystem)]
        if given:
            raise ValueError(f"systems: with jobs = {jobs}, pass names of RECIPE_SYSTEMS (a worker process "
                             f"builds its own system); got the ODESystem {given[0].name!r}; or pass jobs=1")
        tasks = [(system.name, seed, budget_s, device) for system, seed, budget_s, device in tasks]
        pool = ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn"),
                                   initializer=torch.set_num_threads, initargs=(1,))  # one thread per worker
        results = pool.map(_worker, tasks)
    runs_of = {system.name: [] for system in chosen}
    try:
        for (system, seed, _, _), run in zip(tasks, results):
            name = system if isinstance(system, str) else system.name
            runs_of[name].append(run)
            if progress:
                print(f"{name} seed {seed}: levels {run['chosen'][0]}-{run['chosen'][1]} "
                      f"gain {run['gain']:.2f} "
                      f"(best range on test: {run['gain_of_best_range_on_test']:.2f}), "
                      f"{run['epochs']} epochs in {run['train_seconds']:.0f} s", flush=True)
    finally:
        if jobs > 1:
            pool.shutdown(cancel_futures=True)
    out = {}
    for system in chosen:
        runs = runs_of[system.name]
        gains = [r["gain"] for r in runs]
        out[system.name] = {"params": dict(system.params), "region": [list(r) for r in system.region],
                            "runs": runs, "gains": gains, "beats_on_every_seed": all(g > 1 for g in gains)}
    return {"budget_s": budget_s, "seeds": seeds, "jobs": jobs, "systems": out}
