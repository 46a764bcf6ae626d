"""L-HiTS against full-state multiscale HiTS on FHN and KS (L-HiTS Tables 1-4, Fig. 6), from the zoo.

:func:`compare_lhits` (Tables 2-4: test error, prediction time measured side by side in one run,
training time from the zoo manifests, and their ratios) and :func:`lhits_by_latent_dim` (Table 1,
Fig. 6: the L-HiTS test error for each latent size) are what Ch. 9 runs; :func:`bench_lhits` runs both
for each system and horizon (``python -m hitslite.bench lhits``). :data:`LHITS_PAPER`,
:data:`LHITS_PAPER_TABLE1` and :data:`LHITS_SHORT_HORIZON` are the paper's numbers and our short
horizon.
"""

from __future__ import annotations

import math
import platform
import time

import torch

from .. import validate, zoo
from ..device import describe_device
from ..multiscale import Hierarchy, select_levels
from ..timing import best_time
from ..trajectory import Trajectory

__all__ = ["compare_lhits", "lhits_by_latent_dim", "bench_lhits", "lhits_train_seconds", "LHITS_PAPER",
           "LHITS_PAPER_TABLE1", "LHITS_SHORT_HORIZON"]

#: The paper's Table 2 (seconds and l2 errors) and Tables 3-4 (best single latent NNTS MSE); Ch. 9 prints
#: them beside ours.
LHITS_PAPER = {
    "fhn": {"hits_train_s": 1767, "hits_predict_s": 8.08, "hits_error": 2e-4, "lhits_train_s": 1248,
            "lhits_predict_s": 3.52, "lhits_error": 2e-4, "lhits_mse": 1.37e-4, "best_single": "RN16",
            "best_single_mse": 2.26e-3},
    "ks": {"hits_train_s": 1982, "hits_predict_s": 20.88, "hits_error": 4e-3, "lhits_train_s": 1624,
           "lhits_predict_s": 2.86, "lhits_error": 4e-3, "lhits_mse": 1.50e-3, "best_single": "RN64",
           "best_single_mse": 1.09e-2},
}


#: Besides the paper's 5120-step horizon we also score a short one where a forecast of a chaotic
#: system can follow its trajectory: KS (Lyapunov time about 21 time units), 400 steps (20 time
#: units). FHN settles on a limit cycle and is scored over the whole horizon only. Used in Ch. 9.
LHITS_SHORT_HORIZON = {"ks": 400}


def lhits_train_seconds(metrics: dict) -> float:
    """Training seconds of an L-HiTS or full-state HiTS entry from its manifest's ``metrics``: the autoencoder
    fit's own time plus the levels' (full-state: the levels')."""
    if "autoencoder" in metrics:
        return metrics["autoencoder"]["seconds"] + metrics["levels_seconds"]
    return metrics["seconds"]


def _windows(tr, n_steps: int):
    """Every non-overlapping window of ``n_steps`` steps of every trajectory of ``tr``, as a batch of
    trajectories (on an attractor every state is a fair start)."""
    starts = range(0, tr.n_steps - n_steps + 1, n_steps)
    x = torch.cat([tr.x[:, s : s + n_steps + 1] for s in starts])
    return Trajectory(t=tr.t[: n_steps + 1], x=x, dt=tr.dt, meta=tr.meta)


def _level_range(selection: zoo.Selection) -> dict:
    """The level range a :class:`~hitslite.zoo.Selection` chose, as ``{"lower": l, "upper": u}``."""
    lower, upper = selection.choice
    return {"lower": lower, "upper": upper}


def _check_lhits_system(system) -> None:
    if system not in LHITS_PAPER:
        raise ValueError(f"system must be one of {sorted(LHITS_PAPER)}, got {system!r}")


def _check_horizon(n_steps, test) -> None:
    if n_steps is not None and (not isinstance(n_steps, int) or not 1 <= n_steps <= test.n_steps):
        raise ValueError(f"n_steps must be an int in [1, {test.n_steps}] or None, got {n_steps!r}")


def _mse(a, b) -> float:
    e = float(((a - b) ** 2).mean())
    return e if math.isfinite(e) else math.inf


@torch.no_grad()
def compare_lhits(system: str, *, repeats: int = 3, singles: bool = True, n_steps: int | None = None,
                  directory=None, device=None, split: str = "test") -> dict:
    """L-HiTS vs full-state HiTS on the test split of ``system`` (``"fhn"`` or ``"ks"``), from the zoo.

    Both hierarchies use the levels chosen on validation data when they were trained (stored in
    their manifests). With ``n_steps`` the forecasts start from every non-overlapping window of
    ``n_steps`` steps of the test trajectories (the data lie on the attractor, so every state is a
    fair start) and both level ranges are chosen again on the same windows of the validation
    trajectories (for chaotic KS, a horizon within a few Lyapunov times). Otherwise forecasts start
    from the test initial states and cover the whole test horizon on the data grid. The error is the
    MSE over trajectories, steps and components in physical units (``test_mse``) and in the units of
    the training data's per-component min-max scaling (``test_mse_scaled``, how the reference code
    scores FHN); the latent MSE is against the encoded test trajectories. Prediction times are the
    best of ``repeats`` runs, the models timed alternately in this call (L-HiTS also with
    ``interpolate="state"`` and with ``decode=False``, to split its time); training times are the
    zoo's (autoencoder + latent levels vs full-state levels). With ``singles`` every latent level
    alone is scored too (Tables 3–4). ``directory``: the zoo folder to load from (default the
    committed zoo; :func:`hitslite.zoo.retrained_dir` for a chapter's ``RETRAIN = True``). ``device``:
    where the models run and are timed (default the CPU; the device is synchronised around every
    timed run). ``split="train"`` scores the training trajectories instead of the test ones: an
    in-sample protocol, for Ch. 9's study of which protocol gives numbers like the paper's (the level
    ranges stay those chosen on validation data).

    Used in Ch. 9 (Tables 2-4, on both horizons) and by :func:`bench_lhits`.
    """
    _check_lhits_system(system)
    validate.one_of("split", split, ("train", "val", "test"))
    device = torch.device(device or "cpu")
    lhits_name, full_name = f"lhits_{system}", f"hits_full_{system}"
    model = zoo.load_pretrained(lhits_name, directory=directory, device=device)
    full_levels = list(zoo.load_pretrained(full_name, directory=directory, device=device))
    man_l, man_f = zoo.read_manifest(lhits_name, directory), zoo.read_manifest(full_name, directory)
    sel_l = _level_range(zoo.selected(lhits_name, directory=directory))
    sel_f = _level_range(zoo.selected(full_name, directory=directory))
    splits = {k: v.to(device) for k, v in zoo.lhits_data(lhits_name).items()}
    test = splits[split]
    _check_horizon(n_steps, test)
    if n_steps is not None:
        val, test = _windows(splits["val"], n_steps), _windows(test, n_steps)
        val_latent = Trajectory(t=val.t, x=model.autoencoder.encode(val.x), dt=val.dt)
        s_l, s_f = select_levels(list(model.levels), val_latent), select_levels(full_levels, val)
        sel_l, sel_f = {"lower": s_l.lower, "upper": s_l.upper}, {"lower": s_f.lower, "upper": s_f.upper}
    x0, n, dt = test.x[:, 0], test.n_steps, test.dt
    z_true = model.autoencoder.encode(test.x)
    lhits = model.hierarchy(sel_l["lower"], sel_l["upper"])
    full = Hierarchy(full_levels[sel_f["lower"] : sel_f["upper"] + 1])

    mse = _mse
    span = model.autoencoder.scale  # per-component range of the training data (the min-max scaling)

    def mse_scaled(a, b):  # in the units of min-max scaled data, as the reference code scores FHN
        return mse(a / span, b / span)

    pred_l = lhits.forecast(x0, n, dt=dt, check_finite=False)
    pred_s = lhits.forecast(x0, n, dt=dt, check_finite=False, interpolate="state")
    pred_f = full.forecast(x0, n, dt=dt, check_finite=False)
    t_l, t_s, t_z, t_f = [], [], [], []
    for _ in range(repeats):  # alternate, so all see the same machine load
        t_l.append(best_time(lambda: lhits.forecast(x0, n, dt=dt, check_finite=False), 1, device=device))
        t_s.append(best_time(lambda: lhits.forecast(x0, n, dt=dt, check_finite=False, interpolate="state"), 1,
                             device=device))
        t_z.append(best_time(lambda: lhits.forecast(x0, n, dt=dt, check_finite=False, decode=False), 1,
                             device=device))
        t_f.append(best_time(lambda: full.forecast(x0, n, dt=dt, check_finite=False), 1, device=device))
    record = {
        "system": system, "split": split, "n_test_trajectories": splits[split].batch_size,
        "n_test_starts": test.batch_size, "n_steps": n, "dt": dt,
        "levels_chosen_on": ("validation, full horizon (zoo)" if n_steps is None
                             else f"validation, windows of {n} steps"),
        "lhits": {"levels": [sel_l["lower"], sel_l["upper"]], "test_mse": mse(pred_l.x, test.x),
                  "test_mse_scaled": mse_scaled(pred_l.x, test.x),
                  "latent_mse": mse(pred_l.meta["latent"].x, z_true), "predict_s": min(t_l),
                  "train_s": lhits_train_seconds(man_l["metrics"]),
                  "autoencoder_train_s": man_l["metrics"]["autoencoder"]["seconds"],
                  "reconstruction_mse": mse(model.autoencoder(test.x), test.x),
                  "latent_dim": model.autoencoder.latent_dim},
        "lhits_state_interpolation": {"test_mse": mse(pred_s.x, test.x), "predict_s": min(t_s)},
        "lhits_latent_only": {"predict_s": min(t_z)},  # encode + latent steps + interpolation, no decode
        "hits_full": {"levels": [sel_f["lower"], sel_f["upper"]], "test_mse": mse(pred_f.x, test.x),
                      "test_mse_scaled": mse_scaled(pred_f.x, test.x),
                      "predict_s": min(t_f), "train_s": lhits_train_seconds(man_f["metrics"])},
        "trained_on": {"lhits": man_l["device"], "hits_full": man_f["device"]},
        "device": describe_device(device),
        "paper": LHITS_PAPER[system],
    }
    lh, hf, paper = record["lhits"], record["hits_full"], LHITS_PAPER[system]
    record["ratios"] = {"predict_hits_over_lhits": hf["predict_s"] / lh["predict_s"],
                        "predict_hits_over_lhits_state_interpolation":
                            hf["predict_s"] / record["lhits_state_interpolation"]["predict_s"],
                        "predict_hits_over_lhits_latent_only":
                            hf["predict_s"] / record["lhits_latent_only"]["predict_s"],
                        "train_hits_over_lhits": hf["train_s"] / lh["train_s"],
                        "paper_predict": paper["hits_predict_s"] / paper["lhits_predict_s"],
                        "paper_train": paper["hits_train_s"] / paper["lhits_train_s"]}
    if singles:
        rows = []
        for k in range(len(model)):
            single = model.hierarchy(k, k)
            pred = single.forecast(x0, n, dt=dt, check_finite=False)
            seconds = best_time(lambda s=single: s.forecast(x0, n, dt=dt, check_finite=False), repeats,
                                device=device)
            rows.append({"level": k, "dt": model.levels[k].dt, "test_mse": mse(pred.x, test.x),
                         "test_mse_scaled": mse_scaled(pred.x, test.x),
                         "latent_mse": mse(pred.meta["latent"].x, z_true), "predict_s": seconds})
        record["singles"] = rows
        best = min(rows, key=lambda r: r["test_mse"])
        record["best_single"] = {"level": best["level"], "test_mse": best["test_mse"],
                                 "test_mse_scaled": best["test_mse_scaled"],
                                 "lhits_beats_every_single": record["lhits"]["test_mse"] < best["test_mse"]}
    return record


#: L-HiTS Table 1: MSE of the L-HiTS test forecast in the latent space and in the state space
#: ("reconstruction"), for each latent size z.
LHITS_PAPER_TABLE1 = {
    "fhn": {1: (2.34e0, 2.44e-1), 2: (1.47e-3, 1.37e-4), 4: (2.42e-2, 2.20e-3), 6: (2.79e-2, 3.60e-3),
            8: (2.13e-3, 2.88e-4), 10: (5.96e-3, 9.97e-4)},
    "ks": {1: (6.79e1, 2.26e0), 2: (5.01e1, 2.41e0), 4: (4.73e1, 1.30e0), 6: (1.90e-2, 4.05e-3),
           8: (1.35e-3, 1.50e-3), 10: (3.16e-3, 1.42e-3)},
}


def lhits_models_by_dim(system: str, directory=None, device=None) -> dict:
    """``{z: (LatentHiTS, selection)}`` for every latent size the zoo has for ``system``: the main
    entry ``lhits_<system>`` and the sizes of ``lhits_dim_sweep_<system>``, each with the level range
    chosen on validation data when it was trained (:func:`hitslite.zoo.selected`), as
    ``{"lower": ..., "upper": ...}``."""
    name, sweep_name = f"lhits_{system}", f"lhits_dim_sweep_{system}"
    main = zoo.load_pretrained(name, directory=directory, device=device)
    out = {main.autoencoder.latent_dim: (main, _level_range(zoo.selected(name, directory=directory)))}
    sweep = zoo.load_pretrained(sweep_name, directory=directory, device=device)
    for key, model in sweep.items():
        out[model.autoencoder.latent_dim] = (model, _level_range(zoo.selected(sweep_name, directory=directory,
                                                                              part=key)))
    return dict(sorted(out.items()))


@torch.no_grad()
def lhits_by_latent_dim(system: str, *, n_steps: int | None = None, directory=None, device=None) -> dict:
    """L-HiTS Table 1 and Fig. 6: the L-HiTS test forecast of ``system`` for each latent size z.

    For every z the zoo has (the main entry and ``lhits_dim_sweep_<system>``), the hierarchy couples
    the level range chosen on validation data (stored when it was trained; with ``n_steps``, chosen
    again on the validation windows, as in :func:`compare_lhits`). Returned per z: ``latent_mse``
    (forecast vs encoded test trajectories: in each z's own coordinates, so not comparable across
    z), ``test_mse`` (decoded forecast vs the true states, Table 1's "reconstruction" column; also
    ``test_mse_scaled`` in min-max units), ``autoencoder_mse`` (encode-decode of the true test
    states: the floor no latent forecast goes below), and ``mse_per_step`` (Fig. 6: the state MSE at
    each output time, over test trajectories and components, a tensor). ``times`` is the time grid.
    ``directory`` and ``device`` as in :func:`compare_lhits`.

    Used in Ch. 9 (Table 1, Fig. 6) and by :func:`bench_lhits`.
    """
    _check_lhits_system(system)
    device = torch.device(device or "cpu")
    splits = zoo.lhits_data(f"lhits_{system}")
    val, test = splits["val"].to(device), splits["test"].to(device)
    _check_horizon(n_steps, test)
    if n_steps is not None:
        val, test = _windows(val, n_steps), _windows(test, n_steps)
    rows = {}
    for z, (model, sel) in lhits_models_by_dim(system, directory, device).items():
        ae = model.autoencoder
        if n_steps is not None:
            chosen = select_levels(list(model.levels), Trajectory(t=val.t, x=ae.encode(val.x), dt=val.dt))
            sel = {"lower": chosen.lower, "upper": chosen.upper}
        pred = model.hierarchy(sel["lower"], sel["upper"]).forecast(test.x[:, 0], test.n_steps, dt=test.dt,
                                                                     check_finite=False)
        span = ae.scale
        rows[z] = {"levels": [sel["lower"], sel["upper"]],
                   "latent_mse": _mse(pred.meta["latent"].x, ae.encode(test.x)),
                   "test_mse": _mse(pred.x, test.x), "test_mse_scaled": _mse(pred.x / span, test.x / span),
                   "autoencoder_mse": _mse(ae(test.x), test.x),
                   "mse_per_step": ((pred.x - test.x) ** 2).mean(dim=(0, 2)).cpu()}
    return {"system": system, "n_test_starts": test.batch_size, "n_steps": test.n_steps, "dt": test.dt,
            "levels_chosen_on": ("validation, full horizon (zoo)" if n_steps is None
                                 else f"validation, windows of {test.n_steps} steps"),
            "times": test.t, "by_dim": rows, "device": describe_device(device),
            "paper": LHITS_PAPER_TABLE1[system]}


def bench_lhits(systems=("fhn", "ks"), repeats: int = 3, verbose: bool = True, device=None) -> dict:
    """:func:`compare_lhits` and :func:`lhits_by_latent_dim` (without the per-step curves) for each
    system and horizon on ``device`` (default the CPU), as one JSON-able record: ``python -m
    hitslite.bench lhits``."""
    rows = {}
    runs = [(s, s, None) for s in systems]
    runs += [(f"{s}_short", s, LHITS_SHORT_HORIZON[s]) for s in systems if s in LHITS_SHORT_HORIZON]
    for key, s, n_steps in runs:
        r = compare_lhits(s, repeats=repeats, n_steps=n_steps, device=device)
        rows[key] = r
        if verbose:
            lh, hf, ra = r["lhits"], r["hits_full"], r["ratios"]
            print(f"{key.upper()}: L-HiTS levels {lh['levels']} MSE {lh['test_mse']:.2e} "
                  f"predict {lh['predict_s']:.3f} s "
                  f"train {lh['train_s']:.0f} s | full HiTS levels {hf['levels']} MSE {hf['test_mse']:.2e} "
                  f"predict {hf['predict_s']:.3f} s train {hf['train_s']:.0f} s | predict ratio "
                  f"{ra['predict_hits_over_lhits']:.1f}x (paper {ra['paper_predict']:.1f}x), train ratio "
                  f"{ra['train_hits_over_lhits']:.2f}x (paper {ra['paper_train']:.2f}x); best single latent "
                  f"NNTS {r['best_single']['level']} MSE {r['best_single']['test_mse']:.2e}", flush=True)
    table1 = {}
    for key, s, n_steps in runs:
        t = lhits_by_latent_dim(s, n_steps=n_steps, device=device)
        del t["times"]
        t["by_dim"] = {z: {k: v for k, v in row.items() if k != "mse_per_step"}
                       for z, row in t["by_dim"].items()}
        table1[key] = t
        if verbose:
            print(f"{key.upper()} by latent size (Table 1): " + "; ".join(
                f"z={z} levels {row['levels']} latent {row['latent_mse']:.2e} state {row['test_mse']:.2e} "
                f"(paper {t['paper'][z][0]:.2e}, {t['paper'][z][1]:.2e})" for z, row in t["by_dim"].items()),
                flush=True)
    return {"benchmark": "lhits", "torch": torch.__version__, "python": platform.python_version(),
            "machine": platform.machine(), "cpu_threads": torch.get_num_threads(),
            "device": describe_device(device or "cpu"), "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "systems": rows, "by_latent_dim": table1}


