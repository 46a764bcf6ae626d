"""HiTS, L-HiTS, LED and the classical solver head to head on the same data (Chapter 14).

Parts II and III of the book train on different data and score with different metrics, so their
numbers cannot be set side by side. Here every method forecasts the **same test states** of the
L-HiTS data (FHN: 101 lattice nodes of ``[u; v]``, Δt = 1; KS: L = 22, 120 nodes, Δt = 0.05), and is
scored with the **same metrics** on the **same grid** (LED's step: 1 for FHN, 0.25 for KS):

* ``hits_full``: the zoo's ``hits_full_<system>``, full-state ResNet levels coupled over the range
  chosen on validation (:func:`hitslite.zoo.selected`);
* ``lhits``: ``lhits_<system>``, its autoencoder and latent levels, coupled likewise;
* ``led``: ``led_lhits_<system>``, the *same* autoencoder as L-HiTS with LED's recurrent cell
  (:mod:`hitslite.zoo.h2h`), after a warm-up on the ``warm_up`` true states before each start;
* ``solver``: the equation's own solver from the same state. KS: ETDRK4 at the data's step (it made
  the data) and at coarser steps, each scored like the networks; FHN: the lattice-Boltzmann solver
  that made the data, timed over ``solver_units`` time units only (a reference, not scored).

Every forecast starts at the last warm-up state, so all methods see the same initial state (LED
also sees the ``warm_up - 1`` states before it: that is part of the method).

Metrics over the horizon (steps 1..H of the common grid): MSE; MNAD (LED eq. 23; FHN: mean of u
and v, each with its own range); for KS the time until the mean NAD over starts first exceeds 0.1,
in Lyapunov times (λ = :data:`KS_LYAPUNOV`); the Wasserstein distance between the distributions of
the predicted and the true values over the horizon (FHN: mean of u and v). Cost: wall seconds of one
batched forecast of all starts (best of ``repeats``, all methods timed alternately in this call),
seconds per simulated time unit, sequential depth (network or solver calls one after another:
:meth:`~hitslite.multiscale.Hierarchy.cost` for the hierarchies, warm-up plus horizon for LED, the
number of solver steps), and the training seconds the zoo recorded.
"""

from __future__ import annotations

import math

import torch

from .. import validate, zoo
from ..device import describe_device
from ..metrics import mnad, nad, wasserstein
from ..multiscale import Hierarchy, select_levels
from ..pde import ETDRK4, LatticeBoltzmann
from ..steppers import Repeated, rollout
from ..systems import get_system
from ..timing import best_time
from ..trajectory import Trajectory
from ..zoo.h2h import fields, varying
from .lhits import lhits_train_seconds

__all__ = ["KS_LYAPUNOV", "H2H_PROTOCOL", "head_to_head", "bench_h2h", "common_starts", "score_forecasts"]

#: Largest Lyapunov exponent of KS with L = 22 (LED SI 8.4: 0.048 per time unit; one Lyapunov time
#: is about 20.8 time units).
KS_LYAPUNOV = 0.048

#: The default protocol per system: LED's warm-up (coarse steps), the forecast horizon (coarse steps)
#: and the spacing of starts in each test trajectory (coarse steps; ``None``: one start per
#: trajectory). KS: 400 steps of 0.25 = 100 time units (4.8 Lyapunov times) from starts every 200
#: steps; FHN: from step 59 to the end of each trajectory (5061 time units, about 27 periods).
H2H_PROTOCOL = {
    "ks": {"warm_up": 60, "horizon": 400, "every": 200, "solver_dts": (0.05, 0.25, 0.5, 1.0)},
    "fhn": {"warm_up": 60, "horizon": None, "every": None, "solver_units": 50},
}


def score_forecasts(pred: torch.Tensor, truth: torch.Tensor, system: str, dt: float) -> dict:
    """Score forecasts ``pred`` against ``truth``, both ``[M, H + 1, D]`` on a grid of step ``dt`` whose
    index 0 is the common initial state (left out). ``system`` is ``"fhn"`` (states ``[u; v]``, 202
    values) or ``"ks"``.

    Returns ``mse`` and ``wasserstein`` (FHN: the mean over u and v) over every forecast. Over the
    forecasts whose true field is not at rest (``nad_starts`` of them), it also returns ``mnad`` (FHN:
    the mean of u and v, each with its own range, plus ``mnad_u`` and ``mnad_v``) and ``nad_curve``, the
    NAD averaged over those forecasts at each step. For KS it adds ``lyapunov_times_to_nad_0_1``, the
    first time that mean exceeds 0.1, times :data:`KS_LYAPUNOV` (``None`` if it never does). A forecast
    set whose MSE is not finite scores ``inf`` and ``diverged=True``.
    """
    p, q = fields(pred[:, 1:].double().cpu(), system), fields(truth[:, 1:].double().cpu(), system)
    out = {"mse": float(((p - q) ** 2).mean())}
    if not math.isfinite(out["mse"]):
        return {"mse": math.inf, "mnad": math.inf, "wasserstein": math.inf, "diverged": True}
    keep = varying(truth, system)  # NAD: only where the true field is not at rest
    out["wasserstein"] = wasserstein(p, q, axis=2 if system == "fhn" else None)  # FHN: mean of u's and v's
    p, q, out["nad_starts"] = p[keep], q[keep], int(keep.sum())
    if system == "fhn":
        per = mnad(p, q, channel_axis=2)
        out.update(mnad=float(per.mean()), mnad_u=float(per[0]), mnad_v=float(per[1]),
                   nad_curve=nad(p, q, channel_axis=2).mean(dim=(0, 2)).tolist())
    else:
        curve = nad(p, q).mean(0)
        above = (curve > 0.1).nonzero()
        steps = int(above[0]) + 1 if len(above) else None  # curve[i] is step i + 1
        out.update(mnad=float(curve.mean()), nad_curve=curve.tolist(),
                   lyapunov_times_to_nad_0_1=(steps * dt * KS_LYAPUNOV if steps is not None else None),
                   nad_below_0_1_whole_horizon=steps is None)
    return out


def common_starts(test, stride: int, warm_up: int, horizon: int | None, every: int | None):
    """Cut the trajectories ``test`` ``[B, T, D]`` (step ``dt``) into forecast problems on the coarse grid
    of step ``dt * stride``.

    Starts lie every ``every`` coarse steps of each trajectory (``None``: one start per trajectory). Each
    has ``warm_up`` states, and a horizon of ``horizon`` coarse steps (``None``: to the end). Returns
    ``(warm, fine, horizon, starts_per_trajectory)``:

    * ``warm`` ``[M, warm_up, D]``: the warm-up states on the coarse grid;
    * ``fine`` ``[M, horizon * stride + 1, D]``: the true continuations on the fine grid, whose index 0 is
      the last warm-up state.

    The ``M = B * starts_per_trajectory`` problems are ordered start by start. Raises ``ValueError`` when
    the warm-up plus the horizon do not fit in the trajectories.
    """
    n_coarse = test.n_steps // stride + 1
    horizon = n_coarse - warm_up if horizon is None else horizon
    span = warm_up + horizon
    if horizon < 1 or span > n_coarse:
        raise ValueError(f"horizon: warm_up {warm_up} + horizon {horizon} coarse steps exceed the test "
                         f"trajectories' {n_coarse} states (step {test.dt * stride:g})")
    starts = range(0, n_coarse - span + 1, every or n_coarse)
    warm = torch.cat([test.x[:, s * stride:(s + warm_up) * stride:stride] for s in starts])
    fine = torch.cat([test.x[:, (s + warm_up - 1) * stride:(s + span - 1) * stride + 1] for s in starts])
    return warm, fine, horizon, len(starts)


def _train_seconds(name: str, directory) -> float:
    m = zoo.read_manifest(name, directory)["metrics"]
    if name.startswith("led_lhits_"):  # the L-HiTS autoencoder it reuses, plus its own chosen cell
        # the committed source entry it was copied from
        ae = zoo.read_manifest(m["autoencoder_source"]["entry"])["metrics"]["autoencoder"]["seconds"]
        return ae + m["variants"][m["selected"]]["rnn"]["seconds"]
    return lhits_train_seconds(m)


def _solver_rows(system: str, x0: torch.Tensor, fine_truth, stride: int, horizon: int, dt_data: float,
                 protocol: dict, repeats: int, device) -> list[dict]:
    """The classical solver from the same initial states, scored on the common grid, timed."""
    rows = []
    if system == "ks":
        ks = get_system("ks", preset="lhits")
        truth = fine_truth[:, ::stride]
        units = horizon * stride * dt_data
        for h in protocol["solver_dts"]:
            if h <= dt_data + 1e-12:  # the data's own solver: output every data step, keep every stride-th
                every, keep = 1, stride
                step = Repeated(ETDRK4(ks, ks.solver_dt).to(device),
                                validate.integer_ratio("a solver step", dt_data, ks.solver_dt))
                n = horizon * stride
            else:  # one step spans ``every`` grid steps: scored at its own points
                every, keep = validate.integer_ratio("a solver step", h, dt_data * stride), 1
                step = ETDRK4(ks, h).to(device)
                n = horizon // every
            x = x0.double().to(device)
            with torch.no_grad():
                pred = rollout(step, x, n).x
                seconds = best_time(lambda s=step, n=n, x=x: rollout(s, x, n), repeats, device=device)
            pred = pred[:, ::keep]
            scores = score_forecasts(pred.float(), truth[:, ::every], system, dt_data * stride * every)
            calls = n * (step.m if isinstance(step, Repeated) else 1)
            rows.append({"method": f"ETDRK4 dt {h:g}", "solver_dt": h,
                         "scored_every": dt_data * stride * every,
                         "seconds": seconds, "seconds_per_unit": seconds / units, "depth": calls, **scores})
    else:
        fhn = get_system("fhn")
        lb = Repeated(LatticeBoltzmann(fhn, 0.005).to(device), round(dt_data / 0.005))
        units = protocol["solver_units"]
        x = fields(x0, "fhn").double().to(device)
        with torch.no_grad():
            seconds = best_time(lambda: rollout(lb, x, units), repeats, device=device)
        rows.append({"method": "lattice Boltzmann dt 0.005", "solver_dt": 0.005, "seconds": None,
                     "seconds_per_unit": seconds / units, "timed_units": units,
                     "depth": horizon * stride * lb.m, "reference": True})
    return rows


@torch.no_grad()
def head_to_head(system: str, *, repeats: int = 3, reselect: bool = True, directory=None, led_directory=None,
                 device=None, protocol: dict | None = None) -> dict:
    """Forecast the test split of the L-HiTS data of ``system`` (``"fhn"`` or ``"ks"``) with every method
    from the same states and score them alike; see the module. With ``reselect`` (default) each hierarchy's
    coupled level range is chosen again (:func:`~hitslite.multiscale.select_levels`) on the validation
    split cut exactly like the test split (same warm-up offsets, spacing and horizon; L-HiTS on the
    encoded windows); otherwise the zoo's choice over the whole validation horizon is used. LED's read-out
    is the one its entry chose on validation. ``protocol`` overrides entries of
    :data:`H2H_PROTOCOL`; ``directory``: the zoo folder of the hierarchies and ``led_directory`` that of the
    LED entry (default the committed zoo; pass :func:`hitslite.zoo.retrained_dir` for retrained ones);
    ``device``: where the models run and are timed.
    Returns ``{"rows": [...], "protocol": ..., ...}`` with one row per method, the solver's last.
    """
    validate.one_of("system", system, sorted(H2H_PROTOCOL))
    repeats = validate.positive_int("repeats", repeats)
    protocol = {**H2H_PROTOCOL[system], **(protocol or {})}
    device = torch.device(device or "cpu")
    names = {"hits_full": f"hits_full_{system}", "lhits": f"lhits_{system}", "led": f"led_lhits_{system}"}
    config = zoo.get_entry(names["led"]).config
    stride = config["stride"]
    test = zoo.lhits_data(names["lhits"])["test"]
    dt_data = test.dt
    warm, fine, horizon, n_starts = common_starts(test, stride, protocol["warm_up"], protocol["horizon"],
                                            protocol["every"])
    warm, fine = warm.to(device), fine.to(device)
    x0, truth, n_fine = fine[:, 0], fine[:, ::stride], horizon * stride

    full_levels = list(zoo.load_pretrained(names["hits_full"], directory=directory, device=device))
    lhits_model = zoo.load_pretrained(names["lhits"], directory=directory, device=device)
    if reselect:  # the level ranges for this protocol: the same windows of the validation split
        val = zoo.lhits_data(names["lhits"])["val"]
        _, vfine, _, _ = common_starts(val, stride, protocol["warm_up"], horizon, protocol["every"])
        vfine = vfine.to(device)
        t = torch.arange(n_fine + 1, dtype=torch.float64) * dt_data
        s_f = select_levels(full_levels, Trajectory(t=t, x=vfine, dt=dt_data))
        s_l = select_levels(list(lhits_model.levels),
                            Trajectory(t=t, x=lhits_model.autoencoder.encode(vfine), dt=dt_data))
        (lo, up), (llo, lup) = (s_f.lower, s_f.upper), (s_l.lower, s_l.upper)
        chosen_on = f"validation split, the same {protocol['warm_up']}-step offsets and horizon"
    else:
        (lo, up), (llo, lup) = (zoo.selected(names[k], directory=directory).choice
                                for k in ("hits_full", "lhits"))
        chosen_on = "validation split, the zoo's own choice"
    hits_full = Hierarchy(full_levels[lo:up + 1])
    lhits = lhits_model.hierarchy(llo, lup)
    variant = zoo.selected(names["led"], directory=led_directory).choice
    led = zoo.load_pretrained(names["led"], directory=led_directory, device=device).led(variant)

    runs = {
        "hits_full": (lambda: hits_full.forecast(x0, n_fine, dt=dt_data, check_finite=False).x[:, ::stride],
                      hits_full.cost(n_fine, dt_data)["calls"], f"levels {lo}-{up}"),
        "lhits": (lambda: lhits.forecast(x0, n_fine, dt=dt_data, check_finite=False).x[:, ::stride],
                  lhits.inner.cost(n_fine, dt_data)["calls"] + 2, f"levels {llo}-{lup}"),
        "led": (lambda: led.forecast(warm, horizon, check_finite=False).x, protocol["warm_up"] + horizon + 1,
                f"{led.propagator.cell_type.upper()}({led.propagator.hidden}) {variant}"),
    }
    preds = {k: run() for k, (run, _, _) in runs.items()}
    times = {k: [] for k in runs}
    for _ in range(repeats):  # alternately, so every method sees the same machine load
        for k, (run, _, _) in runs.items():
            times[k].append(best_time(run, 1, device=device))
    units = horizon * stride * dt_data
    rows = []
    levels = {"hits_full": [lo, up], "lhits": [llo, lup], "led": None}
    for k, (_, depth, detail) in runs.items():
        seconds = min(times[k])
        rows.append({"method": k, "entry": names[k], "detail": detail, "levels": levels[k],
                     "seconds": seconds,
                     "seconds_per_unit": seconds / units, "depth": depth,
                     "train_seconds": _train_seconds(names[k], led_directory if k == "led" else directory),
                     **score_forecasts(preds[k], truth, system, dt_data * stride)})
    solver = _solver_rows(system, x0, fine, stride, horizon, dt_data, protocol, repeats, device)
    for r in solver:
        r.setdefault("train_seconds", 0.0)
    half = truth.shape[0] // 2 if truth.shape[0] > 1 else None
    return {
        "system": system, "n_starts": int(x0.shape[0]), "starts_per_trajectory": n_starts,
        "n_test_trajectories": test.batch_size, "grid_dt": dt_data * stride, "data_dt": dt_data,
        "horizon_steps": horizon, "horizon_units": units, "protocol": protocol, "levels_chosen_on": chosen_on,
        "lyapunov_exponent": KS_LYAPUNOV if system == "ks" else None,
        "rows": rows, "solver": solver, "prediction": {k: v.float().cpu() for k, v in preds.items()},
        "truth": truth.float().cpu(), "device": describe_device(device),
        # KS: two halves of the true forecasts against each other, the distance sampling alone makes
        "truth_self_wasserstein": (wasserstein(truth[:half, 1:].cpu(), truth[half:, 1:].cpu())
                                   if half and system == "ks" else None),
    }


def bench_h2h(systems=("fhn", "ks"), *, repeats: int = 3, device=None) -> dict:
    """:func:`head_to_head` on each system, without the forecasts themselves (the JSON record)."""
    out = {}
    for s in systems:
        rec = head_to_head(s, repeats=repeats, device=device)
        rec.pop("prediction"), rec.pop("truth")
        for r in rec["rows"] + rec["solver"]:
            r.pop("nad_curve", None)
        out[s] = rec
        best = min(rec["rows"], key=lambda r: r["mse"])
        print(f"{s}: least MSE {best['method']} ({best['mse']:.3g})", flush=True)
    return out
