"""LED's multiscale forecasting on FHN and KS with the zoo's models, and the ablation of the zoo recipes'
departures from the paper.

:func:`bench_led` (``python -m hitslite.bench led``; LED Figs. 7, 8, SI Figs. 34, 42): for each schedule
(latent only, and T_m / T_mu = rho for several T_m) the error (FHN: MNAD of u and v; KS: NAD over the
first Lyapunov time, time to NAD = 0.1, Wasserstein distance of the state distribution) and the
speed-up S over the solver, timed on the same batch in the same run. :func:`bench_led_ablation`
(``python -m hitslite.bench led_ablation``): each departure of the LED zoo recipes from the paper (more
training trajectories, input noise) undone in turn, on validation data (about 20 CPU minutes, most of
it the three KS propagators). Ch. 10 and 11 read the committed 8000-unit FHN record of :func:`bench_led`
(``benchmarks/results/led_fhn_long.json``); the notes to Part III report the ablation's.
:func:`led_fhn_period_by_data` (``python -m hitslite.bench led_period``): is the FHN forecast's short
period a property of the training data? The same autoencoder and cell recipe, trained on LED's data and on
long attractor trajectories, scored on the same starts.
"""

from __future__ import annotations

import copy
import math
import platform
import time

import numpy as np
import torch

from .. import zoo
from ..device import describe_device
from ..led import measure_speedup
from ..metrics import dominant_period, mnad, nad, wasserstein
from ..pde import ETDRK4, LatticeBoltzmann
from ..pde_data import ks_dataset
from ..steppers import Repeated, rollout
from ..systems import get_system
from ..timing import timed
from ..trajectory import Trajectory
from ..zoo.led import LED_FHN_CONFIG, forecast_windows, led_config_data, led_data, train_propagator

__all__ = ["bench_led", "bench_led_ablation", "led_fhn_period_by_data", "led_fhn_cycles", "cycle_branch",
           "check_cycles_arguments"]


def _led_schedules(led, solver, warm, truth, schedules, score) -> dict:
    """Run every (T_m, T_mu) schedule from ``warm`` and score it; S from one solver timing of the batch
    (:func:`hitslite.led.measure_speedup`) against the forecast's own clock (its phases but the warm-up)."""
    horizon = truth.shape[1] - 1
    span = min(horizon, 200)  # the solver's cost per time unit is constant: time it over at most 200 units
    base = measure_speedup(led, solver, warm, span, macro_steps=span, micro_steps=0)
    solver_seconds = base["solver_seconds_per_unit"] * horizon * led.dt
    rows = {}
    for t_m, t_mu in schedules:
        out = led.multiscale_forecast(warm, horizon, solver, macro_steps=t_m, micro_steps=t_mu)
        sec = sum(v for k, v in out.meta["seconds"].items() if k != "warm_up")
        key = "latent" if t_mu == 0 else f"T_m={t_m},T_mu={t_mu}"
        rows[key] = {"T_m": t_m, "T_mu": t_mu, "rho": None if t_mu == 0 else t_m / t_mu,
                     "S": solver_seconds / sec, **score(out.x.cpu())}
        print(f"  {key:18s} S = {rows[key]['S']:7.1f}  " + "  ".join(
            f"{k} {v:.4f}" for k, v in rows[key].items()
            if k not in ("T_m", "T_mu", "rho", "S") and isinstance(v, float)))
    return {"batch": int(warm.shape[0]), "horizon": horizon,
            "solver_seconds_per_unit": base["solver_seconds_per_unit"], "schedules": rows}


def bench_led(*, fhn_starts: int = 24, fhn_horizon: int = 600, ks_starts: int = 40, ks_horizon: int = 480,
              systems=("fhn", "ks"), device=None) -> dict:
    """LED error and speed-up against rho on FHN and KS (see the module docstring); one run each.

    The defaults are Chapter 11's protocol; ``fhn_horizon=8000`` is the paper's Fig. 7 horizon (about
    five CPU minutes for the LB truth and the schedules), for which the FHN record also holds the
    NAD per 1000 time units and the mean change per time unit of the true state (used in Ch. 10 and 11,
    which read the committed run, ``benchmarks/results/led_fhn_long.json``). The models and the
    solvers run (and are timed) on ``device`` (default the CPU); the scores are computed on the CPU.
    """
    device = torch.device(device or "cpu")
    record = {"device": describe_device(device), "torch": torch.__version__,
              "platform": platform.platform()}
    if "fhn" in systems:
        record["fhn"] = _bench_led_fhn(fhn_starts, fhn_horizon, device)
    if "ks" in systems:
        record["ks"] = _bench_led_ks(ks_starts, ks_horizon, device)
    return record


def _bench_led_fhn(fhn_starts: int, fhn_horizon: int, device=None) -> dict:
    """FHN: starts on the test trajectory, truth by LB from the same states (LED Fig. 7 protocol)."""
    fhn = get_system("fhn")
    family = zoo.load_pretrained("led_fhn", device=device)
    led = family.led(zoo.selected("led_fhn").choice)
    test = led_data("led_fhn", splits=("test",))["test"]
    warm, _ = forecast_windows(test, warm_up=75, horizon=1, every=(test.x.shape[1] - 75) // fhn_starts)
    warm = warm[:fhn_starts].double().to(device)
    lb = Repeated(LatticeBoltzmann(fhn, 0.005).to(device), 200)
    with torch.no_grad():
        truth = rollout(lb, warm[:, -1], fhn_horizon).x.cpu()

    def score_fhn(x):
        per = mnad(x, truth, channel_axis=2)
        out = {"mnad_u": float(per[0]), "mnad_v": float(per[1])}
        if fhn_horizon >= 2000:
            curve = nad(x, truth, channel_axis=2)[..., 0].mean(0)
            out["nad_u_per_1000"] = [float(curve[i:i + 1000].mean()) for i in range(0, fhn_horizon, 1000)]
            # the period of the front's swing: of the domain mean of u, median over starts
            out["period"] = float(np.median(dominant_period(x[:, :, 0].mean(-1), led.dt)))
        return out

    print(f"FHN: {fhn_starts} starts x {fhn_horizon} time units (paper: 100 x 8000)")
    rec = _led_schedules(led, lb, warm, truth, [(fhn_horizon, 0)] + [(t, 10) for t in (10, 50, 100, 200)],
                         score_fhn)
    if fhn_horizon >= 2000:
        change = (truth[:, 1:] - truth[:, :-1]).abs().mean(dim=(0, 2, 3))
        rec["true_change_per_unit_per_1000"] = [float(change[i:i + 1000].mean())
                                                for i in range(0, fhn_horizon, 1000)]
        rec["true_period"] = float(np.median(dominant_period(truth[:, :, 0].mean(-1), led.dt)))
    rec["paper"] = {"mnad_latent": 0.04, "mnad_rho1": 0.01, "S_latent": 120, "S_rho1": 2}
    return rec


def _bench_led_ks(ks_starts: int, ks_horizon: int, device=None) -> dict:
    """KS: independent test trajectories on the attractor (LED Fig. 8 / SI Fig. 42 protocol, shorter)."""
    ks = get_system("ks", preset="led")
    family_ks = zoo.load_pretrained("led_ks", device=device)
    data = ks_dataset("test", preset="led", n_trajectories=ks_starts, n_steps=59 + ks_horizon)
    warm_ks, truth_ks = data.x[:, :60].to(device), data.x[:, 59:]
    etd = Repeated(ETDRK4(ks, ks.solver_dt).to(device), round(ks.save_dt / ks.solver_dt))
    lyap_steps = round(1 / 0.048 / ks.save_dt)

    def score_ks(x):
        curve = nad(x, truth_ks).mean(0)
        above = (curve > 0.1).nonzero()
        return {"nad_first_lyapunov_time": float(curve[: lyap_steps + 1].mean()),
                "lyapunov_times_below_0.1":
                    (int(above[0]) if len(above) else len(curve) - 1) * ks.save_dt * 0.048,
                "wasserstein_u": wasserstein(x[:, 1:], truth_ks[:, 1:])}

    rec = {"selected": zoo.selected("led_ks").choice}
    for variant in family_ks:
        print(f"KS ({variant}): {ks_starts} trajectories x {ks_horizon} steps "
              "(paper: 100 starts, 2.5e4 time units)")
        rec[variant] = _led_schedules(family_ks.led(variant), etd, warm_ks, truth_ks,
                                      [(ks_horizon, 0)] + [(t, 8) for t in (4, 8, 16, 40, 80)], score_ks)
    half = ks_starts // 2
    rec["wasserstein_self_similar"] = wasserstein(truth_ks[:half, 1:], truth_ks[half:, 1:])
    rec["paper"] = {"lyapunov_times_below_0.1": ">= 1", "S_latent": 80}
    return rec


def _encode_led_splits(ae, data: dict) -> dict:
    """``{split: latent Trajectory}`` encoded by ``ae`` wherever it is, the latents on the CPU."""
    where = next(ae.parameters()).device
    with torch.no_grad():
        return {k: Trajectory(t=v.t, x=ae.encode(v.x.to(where)).cpu(), dt=v.dt) for k, v in data.items()}


def bench_led_ablation(systems=("fhn", "ks"), device=None) -> dict:
    """The LED zoo recipes' departures from the paper, each undone in turn (validation data only).

    For each system the selected variant's frozen autoencoder is kept and a fresh propagator is
    trained exactly as the zoo trains one, with one change: FHN — the paper's 3 training
    trajectories instead of 15, or no input noise; KS — the paper's single training trajectory
    instead of 16 (with the zoo's 2 % input noise, and with the paper's larger noise level, 10 %,
    SI Table 8), or no input noise (fewer trajectories keep the number of windows and gradient
    steps by drawing more windows from each). The committed
    zoo propagator is scored alongside. The notes to Part III (``book/notes_part3_led.md``) report the
    committed result, ``benchmarks/results/led_ablation.json``. Training and forecasts
    run on ``device`` (default the CPU); the scores are computed on the CPU. ``train_seconds``: FHN,
    encoding the data and training (one clock around both); KS, training only.
    """
    device = torch.device(device or "cpu")
    record = {"device": describe_device(device), "torch": torch.__version__}
    if "fhn" in systems:
        cfg = zoo.ENTRIES["led_fhn"].config
        family = zoo.load_pretrained("led_fhn", device=device)
        name = zoo.selected("led_fhn").choice
        part = family[name]
        val = led_config_data(cfg, ("val",))["val"]
        warm, _ = forecast_windows(val, warm_up=75, horizon=1, every=(val.x.shape[1] - 75) // 12)
        warm = warm.double().to(device)
        lb = Repeated(LatticeBoltzmann(get_system("fhn"), 0.005).to(device), 200)
        with torch.no_grad():
            truth = rollout(lb, warm[:, -1], 600).x.cpu()

        def score_fhn(rnn) -> dict:
            part["propagator"] = rnn
            with torch.no_grad():
                x = family.led(name).forecast(warm, 600).x.cpu()
            per = mnad(x, truth, channel_axis=2)
            return {"mnad_u": float(per[0]), "mnad_v": float(per[1])}

        zoo_rnn = part["propagator"]
        rows = {}
        few = {"train_seeds": [0],  # as many windows (and gradient steps) from 3 trajectories as from 15
               "rnn": {**cfg["rnn"], "window_starts": cfg["rnn"]["window_starts"] * len(cfg["train_seeds"])}}
        for label, change in (("paper's 3 training trajectories", few),
                              ("no input noise", {"rnn": {**cfg["rnn"], "input_noise": 0.0}})):
            c = {**copy.deepcopy(cfg), **change}
            (rnn, _), seconds = timed(lambda c=c: train_propagator(
                _encode_led_splits(part["autoencoder"], led_config_data(c)), c, device=device), device=device)
            rows[label] = {**score_fhn(rnn), "train_seconds": seconds}
            print(f"FHN {label}: {rows[label]}")
        rows["zoo recipe (committed model)"] = score_fhn(zoo_rnn)
        part["propagator"] = zoo_rnn
        record["fhn"] = {"variant": name, "protocol": f"{warm.shape[0]} validation starts x 600 time units",
                         "rows": rows}
    if "ks" in systems:
        cfg = zoo.ENTRIES["led_ks"].config
        family = zoo.load_pretrained("led_ks", device=device)
        name = zoo.selected("led_ks").choice
        part = family[name]
        ae = part["autoencoder"]
        val = led_config_data(cfg, ("val",))["val"]
        lyap = round(1 / 0.048 / cfg["dt"])
        warm_s, truth_s = forecast_windows(val, warm_up=60, horizon=2 * lyap, every=120)
        warm_l = forecast_windows(val, warm_up=60, horizon=1, every=250)[0]
        warm_s, warm_l = warm_s.to(device), warm_l.to(device)
        z_val = _encode_led_splits(ae, {"val": val})["val"].x

        def score_ks(rnn, z_train) -> dict:
            part["propagator"] = rnn
            led = family.led(name)
            with torch.no_grad():
                one = {k: float(((rnn.teacher_forced(z[:, :-1].to(device))[:, 50:].cpu() - z[:, 51:]) ** 2)
                                .mean()) for k, z in (("train", z_train), ("val", z_val))}
                curve = nad(led.forecast(warm_s, 2 * lyap).x.cpu(), truth_s).mean(0)
                free = led.forecast(warm_l, 2000).x[:, 200:].cpu()
            above = (curve > 0.1).nonzero()
            steps = int(above[0]) if len(above) else len(curve) - 1
            return {"one_step_mse_train": one["train"], "one_step_mse_val": one["val"],
                    "lyapunov_times_below_0.1": steps * cfg["dt"] * 0.048,
                    "free_run_std_u": float(free.std()), "free_run_wasserstein_u": wasserstein(free, val.x)}

        zoo_rnn = part["propagator"]
        z_train_zoo = _encode_led_splits(ae, led_config_data(cfg, ("train",)))["train"].x
        rows = {}
        n_traj = cfg["data"]["train"]["n_trajectories"]
        one_traj = {"data": {**cfg["data"], "train": {**cfg["data"]["train"], "n_trajectories": 1}},
                    "rnn": {**cfg["rnn"], "window_starts": cfg["rnn"]["window_starts"] * n_traj}}
        # the LED paper's own regularisation for KS (SI Table 8: noise level in the data 1 or 10 %), on its
        # single trajectory: the larger level, before any data is added
        one_traj_noisy = {**one_traj, "rnn": {**one_traj["rnn"], "input_noise": 0.10}}
        for label, change in (("paper's single training trajectory", one_traj),
                              ("paper's single trajectory, 10 % input noise", one_traj_noisy),
                              ("no input noise", {"rnn": {**cfg["rnn"], "input_noise": 0.0}})):
            c = {**copy.deepcopy(cfg), **change}
            lat = _encode_led_splits(ae, led_config_data(c))
            (rnn, _), seconds = timed(lambda c=c, lat=lat: train_propagator(lat, c, device=device),
                                      device=device)
            rows[label] = {**score_ks(rnn, lat["train"].x), "train_seconds": seconds}
            print(f"KS {label}: {rows[label]}")
        rows["zoo recipe (committed model)"] = score_ks(zoo_rnn, z_train_zoo)
        part["propagator"] = zoo_rnn
        half = val.x.shape[1] // 2
        record["ks"] = {"variant": name, "rows": rows, "true_std_u": float(val.x.std()),
                        "wasserstein_self_similar": wasserstein(val.x[:, :half], val.x[:, half:]),
                        "protocol": f"{warm_s.shape[0]} validation windows x {2 * lyap} steps; free runs "
                                    f"{warm_l.shape[0]} x 2000 steps (first 200 dropped)"}
    return record


def led_fhn_period_by_data(*, max_epochs: int | None = None, device=None) -> dict:
    """LED on FHN: the period of the forecast front, with the cell trained on two data sets.

    Fixed: the autoencoder of the zoo's ``led_fhn`` (its validation-chosen variant, frozen) and the cell's
    recipe (:data:`~hitslite.zoo.led.LED_FHN_CONFIG`: LSTM(32), windows of 100 steps, 2 % input noise,
    800 epochs; ``max_epochs`` shortens it, for tests). Varied: the training data of the cell,

    * ``led_data``: the zoo's own cell, trained on LED's data (ICs of five seeded families from t = 2,
      451 samples each, mostly the transient onto the cycle);
    * ``attractor_data``: a cell trained here on the L-HiTS FHN data (the same families, recorded from
      t = 1000 on the cycle, 5121 samples each; :func:`hitslite.zoo.lhits_data`).

    Both forecast the *validation* trajectories of the L-HiTS data whose fields are not at rest (the test
    split is left to Chapter 14): warm-up 60 steps, then to the end. Returns the MNAD (mean of u and v)
    and the period of the domain mean of u (:func:`~hitslite.metrics.dominant_period`, median over
    starts) of each, and the truth's period.
    """
    from ..led import LED
    from ..zoo.h2h import fields, varying

    device = torch.device(device or "cpu")
    family = zoo.load_pretrained("led_fhn", device=device)
    variant = zoo.selected("led_fhn").choice
    ae = family[variant]["autoencoder"]
    data = zoo.lhits_data("lhits_fhn")

    with torch.no_grad():
        latent = {k: Trajectory(t=data[k].t, x=ae.encode(fields(data[k].x, "fhn").to(device)).cpu(),
                                dt=data[k].dt) for k in ("train", "val")}
    config = copy.deepcopy(LED_FHN_CONFIG)
    if max_epochs is not None:
        config["rnn"]["train"]["max_epochs"] = max_epochs
    cell, fit = train_propagator(latent, config, seed=config["seed"], device=device)
    val = data["val"].x
    states = fields(val[varying(val, "fhn")], "fhn").to(device)
    warm, truth = states[:, :60], states[:, 59:].cpu()
    out = {"variant": variant, "n_starts": int(states.shape[0]), "horizon": int(truth.shape[1] - 1),
           "cell_train_seconds": fit.seconds, "device": describe_device(device),
           "truth_period": float(np.median(dominant_period(truth[:, 1:, 0].mean(-1), data["val"].dt)))}
    with torch.no_grad():
        for name, c in (("led_data", family[variant]["propagator"]), ("attractor_data", cell)):
            pred = LED(ae, c, ae).forecast(warm, truth.shape[1] - 1, check_finite=False).x.cpu()
            per = mnad(pred[:, 1:], truth[:, 1:], channel_axis=2)
            period = float(np.median(dominant_period(pred[:, 1:, 0].mean(-1), data["val"].dt)))
            out[name] = {"mnad": float(per.mean()), "period": period,
                         "period_error": period / out["truth_period"] - 1}
            print(f"FHN LED, cell trained on {name}: MNAD {out[name]['mnad']:.3f}, period {period:.2f} "
                  f"(truth {out['truth_period']:.2f}, {100 * out[name]['period_error']:+.2f} %)", flush=True)
    return out


def cycle_branch(states, *, tail: int = 186, tol: float = 0.05) -> torch.Tensor:
    """Which of FHN's two mirror-image limit cycles each trajectory ends on: ``+1``, ``-1`` or ``0``.

    The LB model of FHN has no-flux walls at both ends, so the mirror image ``x -> L - x`` of a
    solution is a solution. Its travelling front settles on one of two mirror-image cycles, one
    with more of ``u`` on the right of the domain over a period, one with more on the left. The branch of
    ``states [B, T, 2, N]`` is the sign of the first spatial moment of ``u`` about the centre (on
    coordinates -1 .. 1, domain mean removed), averaged over the last ``tail`` steps (about one
    period at Δt = 1); ``0`` where its size is below ``tol`` (a field at rest). Returns ``[B]``.
    """
    x = torch.as_tensor(states)
    if x.ndim != 4 or x.shape[2] != 2 or x.shape[1] < 1:
        raise ValueError(f"states must have shape [B, T, 2, N] (FHN u and v), got {tuple(x.shape)}")
    if isinstance(tail, bool) or not isinstance(tail, int) or tail < 1:
        raise ValueError(f"tail must be a positive int (steps averaged), got {tail!r}")
    if not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be a finite float >= 0, got {tol!r}")
    u = x[:, -tail:, 0].double()
    s = torch.linspace(-1.0, 1.0, u.shape[-1], dtype=u.dtype)
    moment = ((u - u.mean(-1, keepdim=True)) * s).mean(-1).mean(-1)
    return torch.where(moment.abs() < tol, 0, torch.sign(moment)).to(torch.int64)


def check_cycles_arguments(*, horizon: int = 8000, starts: int = 24, validation_horizon: int = 2000) -> None:
    """:func:`led_fhn_cycles`' arguments checked before any work, with a clear error naming the bad one
    (the command line calls it before the solver's truth is computed)."""
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 400:
        raise ValueError(f"horizon must be an int >= 400 (two periods of the front), got {horizon!r}")
    if isinstance(starts, bool) or not isinstance(starts, int) or not 1 <= starts <= 24:
        raise ValueError(f"starts must be an int in [1, 24] (windows of the test trajectory), got {starts!r}")
    v_h = validation_horizon
    if isinstance(v_h, bool) or not isinstance(v_h, int) or v_h < 400:
        raise ValueError(f"validation_horizon must be an int >= 400 (two periods), got {v_h!r}")


def led_fhn_cycles(*, horizon: int = 8000, starts: int = 24, seeds=(0, 1, 2), rho1: bool = True,
                   validation_horizon: int = 2000, max_epochs: int | None = None, device=None) -> dict:
    """LED on FHN: the forecast's error on each of the two mirror-image cycles, for several cells.

    The starts are :func:`bench_led`'s (``starts`` windows of the test trajectory, warm-up 75) and
    their mirror images; the truth is the LB solver's run from the test starts and its mirror image
    (the record holds the measured symmetry defect of the solver: LB from mirrored starts against the
    mirrored run, 50 steps). Cells, all on the zoo's frozen autoencoder (its validation-chosen variant):
    the zoo's own; for each of ``seeds`` a cell trained with the zoo's recipe (:func:`train_propagator`,
    :data:`~hitslite.zoo.led.LED_FHN_CONFIG`; ``max_epochs`` shortens it, for tests) on LED's data
    (``plain``) and on LED's data plus its mirror image (``mirrored``, the symmetry built into the data).
    Each cell forecasts ``horizon`` units from both sets of starts; per cycle the record holds the MNAD of
    u and v and the period of the domain mean of u (median over starts) with its error against the
    truth's. ``rho1``: the zoo's cell also alternates with the solver at T_m = T_mu = 10 on both cycles.
    ``branches`` counts the trajectories of each LED split on each cycle (:func:`cycle_branch`).

    Model selection that can see a period: every cell also forecasts ``validation_horizon`` units from
    the end of each *validation* trajectory (warm-up 75) and from its mirror image (two starts on each
    cycle), against the solver's run from them; ``validation`` holds each cell's MNAD there (mean of u
    and v) and ``selected`` the cell with the least, chosen without the test starts. With ``rho1``, the
    selected cell also runs at T_m = T_mu = 10 (``selected_rho1``).
    """
    from ..led import LED

    check_cycles_arguments(horizon=horizon, starts=starts, validation_horizon=validation_horizon)
    seeds = tuple(seeds)
    device = torch.device(device or "cpu")
    family = zoo.load_pretrained("led_fhn", device=device)
    variant = zoo.selected("led_fhn").choice
    ae = family[variant]["autoencoder"].eval()
    for p in ae.parameters():
        p.requires_grad_(False)
    data = led_data("led_fhn", splits=("train", "val", "test"))
    test = data["test"]
    warm, _ = forecast_windows(test, warm_up=75, horizon=1, every=(test.x.shape[1] - 75) // 24)
    warm = warm[:starts].double().to(device)
    lb = Repeated(LatticeBoltzmann(get_system("fhn"), 0.005).to(device), 200)
    with torch.no_grad():
        truth = rollout(lb, warm[:, -1], horizon).x.cpu()
        mirrored = rollout(lb, warm[:, -1].flip(-1), 50).x.cpu()
    defect = float((mirrored - truth[:, :51].flip(-1)).abs().max())
    true_period = float(np.median(dominant_period(truth[:, 1:, 0].mean(-1), 1.0)))
    cycles = {"+": (warm, truth), "-": (warm.flip(-1), truth.flip(-1))}
    # validation: from the end of each validation trajectory and its mirror image
    val_x = data["val"].x.double()
    val_warm = torch.cat([val_x[:, -75:], val_x[:, -75:].flip(-1)]).to(device)
    with torch.no_grad():
        val_truth = rollout(lb, val_warm[:, -1], validation_horizon).x.cpu()
    rec = {"variant": variant, "starts": starts, "horizon": horizon, "device": describe_device(device),
           "validation_horizon": validation_horizon,
           "validation_branches": cycle_branch(val_truth).tolist(),
           "mirror_defect": defect, "true_period": true_period,
           "test_branch": int(cycle_branch(test.x)[0]),
           "branches": {k: {str(b): int((cycle_branch(t.x) == b).sum()) for b in (1, -1, 0)}
                        for k, t in data.items()},
           "cells": {}, "validation": {}}
    kept = {}

    def score(x, tr):
        per = mnad(x, tr, channel_axis=2)
        period = float(np.median(dominant_period(x[:, 1:, 0].mean(-1), 1.0)))
        return {"mnad_u": float(per[0]), "mnad_v": float(per[1]), "period": period,
                "period_error": period / true_period - 1}

    def run(name, cell, seconds=None):
        led = LED(ae, cell, ae)
        row = {} if seconds is None else {"train_seconds": seconds}
        with torch.no_grad():
            for side, (w, tr) in cycles.items():
                x = led.forecast(w, horizon, check_finite=False).x.cpu()
                row[side] = score(x, tr)
            v = led.forecast(val_warm, validation_horizon, check_finite=False).x.cpu()
        rec["cells"][name] = row
        rec["validation"][name] = float(mnad(v, val_truth, channel_axis=2).mean())
        kept[name] = cell
        print(f"  {name:12s} validation MNAD {rec['validation'][name]:.3f}   " + "   ".join(
            f"cycle {s}: MNAD u {row[s]['mnad_u']:.3f}, period {100 * row[s]['period_error']:+.2f} %"
            for s in cycles), flush=True)

    print(f"FHN cycles: {starts} test starts and their mirror images x {horizon} units; LB mirror defect "
          f"{defect:.1e}; true period {true_period:.2f}", flush=True)
    run("zoo", family[variant]["propagator"])
    config = copy.deepcopy(LED_FHN_CONFIG)
    if max_epochs is not None:
        config["rnn"]["train"]["max_epochs"] = max_epochs

    def encode(t, mirror):
        x = torch.cat([t.x, t.x.flip(-1)]) if mirror else t.x
        with torch.no_grad():
            return Trajectory(t=t.t, x=ae.encode(x.to(device)).cpu(), dt=t.dt)

    # the training data of each kind, encoded once for every seed
    latents = {mirror: {k: encode(data[k], mirror) for k in ("train", "val")} for mirror in (False, True)}
    for seed in seeds:
        for kind, mirror in (("plain", False), ("mirrored", True)):
            t0 = time.perf_counter()
            cell, _ = train_propagator(latents[mirror], config, seed=seed, device=device)
            run(f"{kind}-{seed}", cell, time.perf_counter() - t0)
    rec["selected"] = min(rec["validation"], key=rec["validation"].get)
    print(f"  selected on validation: {rec['selected']}", flush=True)
    if rho1:
        both = torch.cat([cycles["+"][0], cycles["-"][0]])
        for key, name in (("zoo_rho1", "zoo"), ("selected_rho1", rec["selected"])):
            with torch.no_grad():
                out = LED(ae, kept[name], ae).multiscale_forecast(both, horizon, lb, macro_steps=10,
                                                                  micro_steps=10).x.cpu()
            rec[key] = {side: score(out[i * starts:(i + 1) * starts], cycles[side][1])
                        for i, side in enumerate(cycles)}
            print(f"  {name}, rho = 1 " + "   ".join(f"cycle {s}: MNAD u {r['mnad_u']:.3f}"
                                                   for s, r in rec[key].items()), flush=True)
    return rec
