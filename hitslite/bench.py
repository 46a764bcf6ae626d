"""Benchmarks of the classical solvers: ``python -m hitslite.bench solvers`` (and ``ks_dt``).

``solvers``: steps per second of each micro solver (ETDRK4 for KS, lattice Boltzmann for FHN,
Euler–Maruyama for particles) against batch size, on the CPU and on CUDA when present, written to
``benchmarks/results/solvers.json`` and printed as a table. These are the denominators of the
speed-ups LED and L-HiTS report.

``ks_dt``: the convergence of the KS solver step (the evidence for the data sets' dt = 0.025),
written to ``benchmarks/results/ks_dt.json``.

``lhits``: L-HiTS against full-state multiscale HiTS on FHN and KS (L-HiTS Table 2, Tables 3–4):
test error, prediction time measured side by side in one run, training time from the zoo
manifests, and their ratios; and the L-HiTS test error for each latent size (Table 1); written to
``benchmarks/results/lhits.json``.

``led``: LED's multiscale forecasting (LED Figs. 7, 8, SI Figs. 34, 42) on FHN and KS with the zoo's
models: for each schedule (latent only, and T_m / T_mu = rho for several T_m) the error (FHN: MNAD of
u and v; KS: NAD over the first Lyapunov time, time to NAD = 0.1, Wasserstein distance of the state
distribution) and the speed-up S over the solver, timed on the same batch in the same run, written to
``benchmarks/results/led.json``.

``budget``: what HiTS App. A.1's training budget (1e5 minibatches at Table 2's widths) costs on this
machine, written to ``benchmarks/results/budget.json``.

``led_ablation``: each departure of the LED zoo recipes from the paper (more training trajectories,
input noise) undone in turn, on validation data, written to ``benchmarks/results/led_ablation.json``
(about 15 CPU minutes, most of it the two KS propagators).

Every subcommand runs on ``--device`` (``solvers``: every device listed, default the CPU and CUDA when
present; the others: one device, default the CPU) and writes strict JSON (:func:`write_record`: a
non-finite number, such as the error of a diverged forecast, becomes ``null`` and is listed under
``notes``) with a ``provenance`` block (:func:`provenance`: git commit and whether the tree was dirty,
UTC date, CPU model, torch threads, devices, versions of python, torch, numpy, scipy and hitslite).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import subprocess
import time
from pathlib import Path

import numpy as np
import torch

from .device import describe_device
from .io import atomic_write
from .particles import EulerMaruyama
from .pde import ETDRK4, LatticeBoltzmann
from .steppers import Repeated
from .systems import get_system

__all__ = ["bench_solvers", "ks_dt_convergence", "compare_lhits", "lhits_by_latent_dim", "bench_lhits",
           "LHITS_PAPER", "LHITS_PAPER_TABLE1", "LHITS_SHORT_HORIZON", "bench_led", "bench_led_ablation",
           "main", "provenance", "write_record"]

RESULTS = Path("benchmarks") / "results"


# ----------------------------------------------------------------------------------------
# Where a result came from, and strict JSON
# ----------------------------------------------------------------------------------------
def _git(*args: str) -> str | None:
    """Output of a read-only git command in the checkout holding this package; None outside one."""
    from .data import _repo_root

    root = _repo_root()
    if root is None or not (root / ".git").exists():
        return None
    try:  # --no-optional-locks: never refresh (write) the index, even from `status`
        done = subprocess.run(["git", "--no-optional-locks", *args], cwd=root, capture_output=True, text=True,
                              timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def provenance(devices=None) -> dict:
    """Where and with what a benchmark ran, for its JSON record.

    ``commit``: ``git rev-parse HEAD`` of the checkout (None for an installed package); ``dirty``:
    whether tracked or untracked files differed from that commit (None outside a checkout); ``date_utc``;
    ``cpu`` (the model name from ``/proc/cpuinfo``, else :func:`platform.processor`); ``cpu_count``;
    ``torch_threads``; ``devices`` (each as :func:`~hitslite.device.describe_device` names it); ``platform``;
    ``versions`` of python, torch, numpy, scipy and hitslite.
    """
    import scipy

    import hitslite

    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain") if commit is not None else None
    if devices is None:
        devices = ["cpu"]
    elif isinstance(devices, (str, torch.device)):
        devices = [devices]
    return {
        "commit": commit.strip() if commit else None,
        "dirty": bool(status.strip()) if status is not None else None,
        "date_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "devices": [describe_device(d) for d in devices],
        "platform": platform.platform(),
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
                     "scipy": scipy.__version__, "hitslite": hitslite.__version__},
    }


def _finite(obj, path: str, converted: dict):
    """``obj`` as plain JSON values: tensors and numpy values become numbers and lists, and every
    non-finite float becomes None, its path and value recorded in ``converted``."""
    if isinstance(obj, torch.Tensor):
        obj = obj.detach().cpu().tolist()
    elif isinstance(obj, np.ndarray):
        obj = obj.tolist()
    elif isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        if math.isfinite(obj):
            return obj
        converted[path] = repr(obj)  # 'inf', '-inf' or 'nan'
        return None
    if isinstance(obj, dict):
        return {k: _finite(v, f"{path}.{k}" if path else str(k), converted) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v, f"{path}[{i}]", converted) for i, v in enumerate(obj)]
    return obj


def write_record(record: dict, path: str | os.PathLike, *, devices=None) -> dict:
    """Write a benchmark ``record`` to ``path`` as strict JSON (``allow_nan=False``), atomically.

    A ``provenance`` block (:func:`provenance` for ``devices``) is added unless the record has one.
    Non-finite numbers (a diverged forecast's error is ``inf``) become ``null``; a top-level ``notes``
    entry lists each one's path and value. Returns what was written.
    """
    record = {**record}
    record.setdefault("provenance", provenance(devices))
    converted: dict[str, str] = {}
    clean = _finite(record, "", converted)
    if converted:
        notes = clean.setdefault("notes", {})
        if not isinstance(notes, dict):
            clean["notes"] = notes = {"text": notes}
        notes["non_finite_as_null"] = {
            "about": "these values were not finite numbers (a diverged forecast's error is inf); strict JSON "
                     "has no inf or nan, so they are written as null",
            "values": converted}
    text = json.dumps(clean, indent=1, allow_nan=False) + "\n"
    atomic_write(path, lambda f: f.write(text.encode()))
    return clean


def _sync() -> None:
    if torch.cuda.is_available():  # CUDA kernels run asynchronously: wait for them before reading a clock
        torch.cuda.synchronize()


def _solvers():
    """(name, stepper factory, initial-state factory) for each benchmarked configuration."""
    ks_led = get_system("ks", preset="led")
    ks_lhits = get_system("ks", preset="lhits")
    fhn = get_system("fhn")
    ad3 = get_system("advection_diffusion", dim=3)

    def ks_state(system):
        return lambda b: system.sample_initial(b, torch.Generator().manual_seed(0))

    def fhn_state(b):
        from .data import fhn_initial_conditions

        x = fhn_initial_conditions(fhn, 6)
        return x[torch.arange(b) % 6]

    return [
        ("ETDRK4 KS L=22 n=64 dt=0.025 (LED)", lambda: ETDRK4(ks_led, 0.025), ks_state(ks_led)),
        ("ETDRK4 KS L=22 n=120 dt=0.025 (L-HiTS)", lambda: ETDRK4(ks_lhits, 0.025), ks_state(ks_lhits)),
        ("LatticeBoltzmann FHN n=101 dt=0.005 (LED)", lambda: LatticeBoltzmann(fhn, 0.005), fhn_state),
        ("EulerMaruyama 3-D N=1000 dt=1e-3 (LED)", lambda: EulerMaruyama(ad3, seed=0),
         lambda b: torch.zeros(b, ad3.N, 3, dtype=torch.float64)),
    ]


@torch.no_grad()
def _steps_per_second(stepper, x, min_time: float = 0.3, device=None) -> float:
    carry = stepper.init_carry(x)
    for _ in range(5):  # warm-up (kernel launch, FFT plans)
        x, carry = stepper.step(x, carry)
    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)
    sync()
    n, start = 0, time.perf_counter()
    chunk = 10
    while True:
        for _ in range(chunk):
            x, carry = stepper.step(x, carry)
        n += chunk
        sync()
        elapsed = time.perf_counter() - start
        if elapsed >= min_time:
            return n / elapsed
        chunk = min(chunk * 2, 2000)


def bench_solvers(batch_sizes=(1, 8, 64, 512), devices=None, dtype=torch.float64, min_time: float = 0.3,
                  verbose: bool = True) -> dict:
    """Steps per second for every solver, batch size and device; returns the JSON-able record."""
    if devices is None:
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = []
    for name, make, state in _solvers():
        for device in devices:
            stepper = make().to(device)
            for b in batch_sizes:
                x = state(b).to(device=device, dtype=dtype)
                sps = _steps_per_second(stepper, x, min_time)
                rows.append({"solver": name, "device": device, "device_name": describe_device(device),
                             "batch": b, "steps_per_s": sps, "state_steps_per_s": sps * b,
                             "dtype": str(dtype).replace("torch.", "")})
                if verbose:
                    print(f"{name:44s} {device:5s} B={b:<5d} {sps:12.1f} steps/s "
                          f"{sps * b:14.1f} state-steps/s", flush=True)
    return {
        "benchmark": "solvers",
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_threads": torch.get_num_threads(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "rows": rows,
    }


@torch.no_grad()
def ks_dt_convergence(dts=(0.5, 0.25, 0.1, 0.05, 0.025, 0.01, 0.005, 0.0025), ref_dt: float = 1e-3,
                      horizon: float = 10.0, n_states: int = 4, seed: int = 0, device=None) -> dict:
    """Relative max error of ETDRK4 (LED KS preset) after ``horizon`` vs a ``ref_dt`` reference, on
    ``device`` (default the CPU; the initial states are drawn on the CPU either way)."""
    device = torch.device(device or "cpu")
    system = get_system("ks", preset="led")

    def etd(dt, n):
        return Repeated(ETDRK4(system, dt).to(device), n)

    x = system.sample_initial(n_states, torch.Generator().manual_seed(seed)).to(device)
    x = etd(0.025, 4000)(x)  # 100 time units onto the attractor
    ref = etd(ref_dt, round(horizon / ref_dt))(x)
    errors = {}
    for dt in dts:
        y = etd(dt, round(horizon / dt))(x)
        errors[dt] = float((y - ref).abs().max() / ref.abs().max())
    return {"benchmark": "ks_dt", "preset": "led", "horizon": horizon, "ref_dt": ref_dt,
            "n_states": n_states, "device": describe_device(device),
            "relative_error": {str(k): v for k, v in errors.items()}}


# ----------------------------------------------------------------------------------------
# L-HiTS vs full-state HiTS
# ----------------------------------------------------------------------------------------
#: The paper's Table 2 (seconds and l2 errors) and Tables 3-4 (best single latent NNTS MSE).
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
#: units). FHN settles on a limit cycle and is scored over the whole horizon only.
LHITS_SHORT_HORIZON = {"ks": 400}


def _best_time(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        _sync()
        start = time.perf_counter()
        fn()
        _sync()
        best = min(best, time.perf_counter() - start)
    return best


def _train_seconds(metrics: dict) -> float:
    """Training seconds of an L-HiTS entry: the autoencoder fit's own time plus the levels'."""
    if "autoencoder" in metrics:
        return metrics["autoencoder"]["seconds"] + metrics["levels_seconds"]
    return metrics["seconds"]


def _windows(tr, n_steps: int):
    """Every non-overlapping window of ``n_steps`` steps of every trajectory of ``tr``, as a batch of
    trajectories (on an attractor every state is a fair start)."""
    from .data import Trajectory

    starts = range(0, tr.n_steps - n_steps + 1, n_steps)
    x = torch.cat([tr.x[:, s : s + n_steps + 1] for s in starts])
    return Trajectory(t=tr.t[: n_steps + 1], x=x, dt=tr.dt, meta=tr.meta)


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
                  directory=None, device=None) -> dict:
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
    where the models run and are timed (default the CPU).
    """
    from . import zoo
    from .data import Trajectory
    from .multiscale import Hierarchy, select_levels

    _check_lhits_system(system)
    device = torch.device(device or "cpu")
    lhits_name, full_name = f"lhits_{system}", f"hits_full_{system}"
    model = zoo.load_pretrained(lhits_name, directory=directory, device=device)
    full_levels = list(zoo.load_pretrained(full_name, directory=directory, device=device))
    man_l, man_f = zoo.read_manifest(lhits_name, directory), zoo.read_manifest(full_name, directory)
    sel_l, sel_f = man_l["metrics"]["selection"], man_f["metrics"]["selection"]
    splits = {k: v.to(device) for k, v in zoo.lhits_data(lhits_name).items()}
    test = splits["test"]
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
        t_l.append(_best_time(lambda: lhits.forecast(x0, n, dt=dt, check_finite=False), 1))
        t_s.append(_best_time(
            lambda: lhits.forecast(x0, n, dt=dt, check_finite=False, interpolate="state"), 1))
        t_z.append(_best_time(lambda: lhits.forecast(x0, n, dt=dt, check_finite=False, decode=False), 1))
        t_f.append(_best_time(lambda: full.forecast(x0, n, dt=dt, check_finite=False), 1))
    record = {
        "system": system, "n_test_trajectories": splits["test"].batch_size,
        "n_test_starts": test.batch_size, "n_steps": n, "dt": dt,
        "levels_chosen_on": ("validation, full horizon (zoo)" if n_steps is None
                             else f"validation, windows of {n} steps"),
        "lhits": {"levels": [sel_l["lower"], sel_l["upper"]], "test_mse": mse(pred_l.x, test.x),
                  "test_mse_scaled": mse_scaled(pred_l.x, test.x),
                  "latent_mse": mse(pred_l.meta["latent"].x, z_true), "predict_s": min(t_l),
                  "train_s": _train_seconds(man_l["metrics"]),
                  "autoencoder_train_s": man_l["metrics"]["autoencoder"]["seconds"],
                  "reconstruction_mse": mse(model.autoencoder(test.x), test.x),
                  "latent_dim": model.autoencoder.latent_dim},
        "lhits_state_interpolation": {"test_mse": mse(pred_s.x, test.x), "predict_s": min(t_s)},
        "lhits_latent_only": {"predict_s": min(t_z)},  # encode + latent steps + interpolation, no decode
        "hits_full": {"levels": [sel_f["lower"], sel_f["upper"]], "test_mse": mse(pred_f.x, test.x),
                      "test_mse_scaled": mse_scaled(pred_f.x, test.x),
                      "predict_s": min(t_f), "train_s": _train_seconds(man_f["metrics"])},
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
            seconds = _best_time(lambda s=single: s.forecast(x0, n, dt=dt, check_finite=False), repeats)
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


def _lhits_by_dim_models(system: str, directory=None, device=None) -> dict:
    """``{z: (LatentHiTS, selection)}`` for every latent size the zoo has for ``system``: the main
    entry ``lhits_<system>`` and the sizes of ``lhits_dim_sweep_<system>``, each with the level range
    chosen on validation data when it was trained."""
    from . import zoo

    name, sweep_name = f"lhits_{system}", f"lhits_dim_sweep_{system}"
    main = zoo.load_pretrained(name, directory=directory, device=device)
    out = {main.autoencoder.latent_dim: (main, zoo.read_manifest(name, directory)["metrics"]["selection"])}
    sweep = zoo.load_pretrained(sweep_name, directory=directory, device=device)
    by_dim = zoo.read_manifest(sweep_name, directory)["metrics"]["by_dim"]
    for key, model in sweep.items():
        out[model.autoencoder.latent_dim] = (model, by_dim[key]["selection"])
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
    """
    from . import zoo
    from .data import Trajectory
    from .multiscale import select_levels

    _check_lhits_system(system)
    device = torch.device(device or "cpu")
    splits = zoo.lhits_data(f"lhits_{system}")
    val, test = splits["val"].to(device), splits["test"].to(device)
    _check_horizon(n_steps, test)
    if n_steps is not None:
        val, test = _windows(val, n_steps), _windows(test, n_steps)
    rows = {}
    for z, (model, sel) in _lhits_by_dim_models(system, directory, device).items():
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
    system and horizon on ``device`` (default the CPU), as one JSON-able record."""
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


def _print_table(record: dict) -> None:
    rows = record["rows"]
    batches = sorted({r["batch"] for r in rows})
    print("\nsteps per second (one step of the whole batch)")
    print(f"{'solver':44s} {'device':6s} " + " ".join(f"{'B=' + str(b):>11s}" for b in batches))
    keys = sorted({(r["solver"], r["device"]) for r in rows}, key=lambda k: (k[1], k[0]))
    for solver, device in keys:
        vals = {r["batch"]: r["steps_per_s"] for r in rows if r["solver"] == solver and r["device"] == device}
        print(f"{solver:44s} {device:6s} " + " ".join(f"{vals.get(b, float('nan')):11.1f}" for b in batches))


# ----------------------------------------------------------------------------------------
# HiTS (Part I): single levels, multiscale, hybrids, and batched zoo training — one run
# ----------------------------------------------------------------------------------------
def bench_hits(systems=("hyperbolic", "cubic", "van_der_pol", "hopf", "lorenz"), n_test: int = 100,
               repeats: int = 3, train_epochs: int = 5, device=None) -> dict:
    """``python -m hitslite.bench hits``: for every system in the zoo, the forecast time and test error of
    each single NNTS, of the multiscale scheme (the stored validation range) and of RK 0-4 / Hybrid 0-4,
    all timed in this run on the first ``n_test`` test trajectories; plus seconds per epoch of training the
    eleven levels together (stacked) against one by one, on the hyperbolic data. Everything runs on
    ``device`` (default the CPU); errors are computed on the CPU."""
    from . import zoo
    from .data import ode_dataset, ode_splits
    from .multiscale import compare_hybrids, compare_levels
    from .neural import ResNetStepper
    from .systems import get_system
    from .train import fit_levels

    device = torch.device(device or "cpu")
    record = {"benchmark": "hits", "n_test": n_test, "repeats": repeats, "device": describe_device(device),
              "torch": torch.__version__, "threads": torch.get_num_threads(), "systems": {}}
    for name in systems:
        if not (zoo.zoo_dir() / name / "manifest.json").exists():
            continue
        levels = list(zoo.load_pretrained(name, device=device))
        selection = zoo.load_selection(name)
        test = ode_dataset(name, "test", **zoo.ENTRIES[name].config["data"])[:n_test]
        cmp = compare_levels(levels, test, selection["lower"], selection["upper"], repeats=repeats)
        # (compare_levels brings its forecasts to the CPU; compare_hybrids scores where the states are)
        hybrids = compare_hybrids(get_system(name), levels[-1], test.to(device), range(5), repeats=repeats)
        record["systems"][name] = {
            "singles": [{"dt": s.dt, "seconds": t, "mse": e}
                        for s, t, e in zip(levels, cmp.single_seconds, cmp.single_mse)],
            "multiscale": {"levels": [cmp.lower, cmp.upper], "seconds": cmp.multiscale_seconds,
                           "mse": cmp.multiscale_mse},
            "multiscale_speedup_vs_finest_selected": cmp.single_seconds[cmp.lower] / cmp.multiscale_seconds,
            "multiscale_beats_every_single": cmp.multiscale_mse < min(cmp.single_mse),
            "hybrids": [{k: r[k] for k in ("k", "h", "rk_seconds", "hybrid_seconds", "rk_mse", "hybrid_mse")}
                        | {"speedup": r["rk_seconds"] / r["hybrid_seconds"]} for r in hybrids],
        }
        m = record["systems"][name]
        print(f"{name:12s} multiscale {m['multiscale']['mse']:.1e} (best single {min(cmp.single_mse):.1e}), "
              f"speed-up vs finest selected {m['multiscale_speedup_vs_finest_selected']:.2f}x, hybrid vs RK4 "
              + " ".join(f"{h['speedup']:.1f}x" for h in m["hybrids"]))

    # batched vs one-by-one training: same data, same settings, seconds per epoch
    config = zoo.ENTRIES["hyperbolic"].config
    splits = ode_splits("hyperbolic", **config["data"])
    train, val = splits["train"].to(torch.float32), splits["val"].to(torch.float32)
    seconds = {}
    for batched in (False, True):
        start = time.perf_counter()
        fit_levels(lambda dt: ResNetStepper(2, dt, hidden=config["hidden"]), train, val,
                   levels=config["levels"], n_forward=5, starts="first", max_epochs=train_epochs,
                   patience=None, progress=False, batched=batched, device=device)
        _sync()
        seconds["batched" if batched else "one_by_one"] = (time.perf_counter() - start) / train_epochs
    record["training_seconds_per_epoch"] = seconds
    record["training_speedup_batched"] = seconds["one_by_one"] / seconds["batched"]
    print(f"training the 11 hyperbolic levels: {seconds['one_by_one']:.2f} s/epoch one by one, "
          f"{seconds['batched']:.2f} s/epoch batched ({record['training_speedup_batched']:.2f}x)")
    return record


def _led_schedules(led, solver, warm, truth, schedules, score) -> dict:
    """Run every (T_m, T_mu) schedule from ``warm`` and score it; S from one solver timing of the batch."""
    from .led import measure_speedup

    horizon = truth.shape[1] - 1
    timed = min(horizon, 200)  # the solver's cost per time unit is constant: time it over at most 200 units
    base = measure_speedup(led, solver, warm, timed, macro_steps=timed, micro_steps=0)
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
    NAD per 1000 time units and the mean change per time unit of the true state. The models and the
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
    from . import zoo
    from .metrics import dominant_period, mnad, nad
    from .steppers import rollout
    from .zoo_led import forecast_windows, led_data

    fhn = get_system("fhn")
    family = zoo.load_pretrained("led_fhn", device=device)
    led = family.led(zoo.read_manifest("led_fhn")["metrics"]["selected"])
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
    from . import zoo
    from .data import ks_dataset
    from .metrics import nad, wasserstein

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

    rec = {"selected": zoo.read_manifest("led_ks")["metrics"]["selected"]}
    for variant in family_ks:
        print(f"KS ({variant}): {ks_starts} trajectories x {ks_horizon} steps "
              "(paper: 100 starts, 2.5e4 time units)")
        rec[variant] = _led_schedules(family_ks.led(variant), etd, warm_ks, truth_ks,
                                      [(ks_horizon, 0)] + [(t, 8) for t in (4, 8, 16, 40, 80)], score_ks)
    half = ks_starts // 2
    rec["wasserstein_self_similar"] = wasserstein(truth_ks[:half, 1:], truth_ks[half:, 1:])
    rec["paper"] = {"lyapunov_times_below_0.1": ">= 1", "S_latent": 80}
    return rec


def _train_led_propagator(latent: dict, config: dict, *, seed: int = 0, device=None):
    """A fresh recurrent cell trained exactly as the LED zoo trains one (windows, loss, ``fit``), on
    ``device`` (default the CPU), where it is returned."""
    from .neural import RecurrentStepper
    from .train import fit
    from .zoo_led import propagator_windows

    torch.manual_seed(seed)
    rnn = RecurrentStepper(latent["train"].x.shape[-1], dt=config["dt"], **config["rnn"]["architecture"])
    rnn.fit_scaling(latent["train"].x)
    wins, loss = propagator_windows(latent, config["rnn"], seed=seed)
    fit(rnn, wins["train"], wins["val"], loss_fn=loss, seed=seed, progress=False, device=device or "cpu",
        **config["rnn"]["train"])
    return rnn.to(device or "cpu").eval()


def _encode_led_splits(ae, data: dict) -> dict:
    """``{split: latent Trajectory}`` encoded by ``ae`` wherever it is, the latents on the CPU."""
    from .data import Trajectory

    where = next(ae.parameters()).device
    with torch.no_grad():
        return {k: Trajectory(t=v.t, x=ae.encode(v.x.to(where)).cpu(), dt=v.dt) for k, v in data.items()}


def bench_led_ablation(systems=("fhn", "ks"), device=None) -> dict:
    """The LED zoo recipes' departures from the paper, each undone in turn (validation data only).

    For each system the selected variant's frozen autoencoder is kept and a fresh propagator is
    trained exactly as the zoo trains one, with one change: FHN — the paper's 3 training
    trajectories instead of 15, or no input noise; KS — the paper's single training trajectory
    instead of 16, or no input noise (fewer trajectories keep the number of windows and gradient
    steps by drawing more windows from each). The committed
    zoo propagator is scored alongside. Chapters 10 and 11 print the result. Training and forecasts
    run on ``device`` (default the CPU); the scores are computed on the CPU.
    """
    import copy

    from . import zoo
    from .metrics import mnad, nad, wasserstein
    from .steppers import rollout
    from .zoo_led import _led_data, forecast_windows

    device = torch.device(device or "cpu")
    record = {"device": describe_device(device), "torch": torch.__version__}
    if "fhn" in systems:
        cfg = zoo.ENTRIES["led_fhn"].config
        family = zoo.load_pretrained("led_fhn", device=device)
        name = zoo.read_manifest("led_fhn")["metrics"]["selected"]
        part = family[name]
        val = _led_data(cfg, ("val",))["val"]
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
            t0 = time.perf_counter()
            latent = _encode_led_splits(part["autoencoder"], _led_data(c))
            rnn = _train_led_propagator(latent, c, device=device)
            rows[label] = {**score_fhn(rnn), "train_seconds": time.perf_counter() - t0}
            print(f"FHN {label}: {rows[label]}")
        rows["zoo recipe (committed model)"] = score_fhn(zoo_rnn)
        part["propagator"] = zoo_rnn
        record["fhn"] = {"variant": name, "protocol": f"{warm.shape[0]} validation starts x 600 time units",
                         "rows": rows}
    if "ks" in systems:
        cfg = zoo.ENTRIES["led_ks"].config
        family = zoo.load_pretrained("led_ks", device=device)
        name = zoo.read_manifest("led_ks")["metrics"]["selected"]
        part = family[name]
        ae = part["autoencoder"]
        val = _led_data(cfg, ("val",))["val"]
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
        z_train_zoo = _encode_led_splits(ae, _led_data(cfg, ("train",)))["train"].x
        rows = {}
        n_traj = cfg["data"]["train"]["n_trajectories"]
        one_traj = {"data": {**cfg["data"], "train": {**cfg["data"]["train"], "n_trajectories": 1}},
                    "rnn": {**cfg["rnn"], "window_starts": cfg["rnn"]["window_starts"] * n_traj}}
        for label, change in (("paper's single training trajectory", one_traj),
                              ("no input noise", {"rnn": {**cfg["rnn"], "input_noise": 0.0}})):
            c = {**copy.deepcopy(cfg), **change}
            lat = _encode_led_splits(ae, _led_data(c))
            t0 = time.perf_counter()
            rnn = _train_led_propagator(lat, c, device=device)
            rows[label] = {**score_ks(rnn, lat["train"].x), "train_seconds": time.perf_counter() - t0}
            print(f"KS {label}: {rows[label]}")
        rows["zoo recipe (committed model)"] = score_ks(zoo_rnn, z_train_zoo)
        part["propagator"] = zoo_rnn
        half = val.x.shape[1] // 2
        record["ks"] = {"variant": name, "rows": rows, "true_std_u": float(val.x.std()),
                        "wasserstein_self_similar": wasserstein(val.x[:, :half], val.x[:, half:]),
                        "protocol": f"{warm_s.shape[0]} validation windows x {2 * lyap} steps; free runs "
                                    f"{warm_l.shape[0]} x 2000 steps (first 200 dropped)"}
    return record


#: HiTS Table 2: hidden width of each system's networks (three hidden layers), and the paper's stopping rule
TABLE2_WIDTHS = {"hyperbolic": (2, 128), "cubic": (2, 256), "van_der_pol": (2, 512), "hopf": (3, 128),
                 "lorenz": (3, 1024)}
PAPER_MINIBATCHES = 100_000


def bench_hits_budget(*, batch_size: int = 320, n_forward: int = 5, repeats: int = 5, device=None) -> dict:
    """What HiTS App. A.1's budget costs here: seconds per minibatch (forward, backward, Adam) of the eleven
    levels trained together at Table 2's widths, times ``PAPER_MINIBATCHES``, and the float32 size of the
    weights. Each system: 3 warm-up minibatches, then the mean of ``repeats``."""
    from .neural import ResNetStack, ResNetStepper
    from .train import stack_multistep_loss

    device = torch.device(device or "cpu")
    gen = torch.Generator().manual_seed(0)
    rows = {}
    for system, (dim, width) in TABLE2_WIDTHS.items():
        levels = [ResNetStepper(dim, 0.01 * 2**k, hidden=[width] * 3) for k in range(11)]
        stack = ResNetStack(levels).to(device)
        opt = torch.optim.Adam(stack.parameters(), 1e-3)
        batch = torch.randn(11, batch_size, n_forward + 1, dim, generator=gen).to(device)
        for i in range(3 + repeats):
            if i == 3:
                _sync()
                t0 = time.perf_counter()
            opt.zero_grad()
            stack_multistep_loss(stack, batch).sum().backward()
            opt.step()
        _sync()
        per = (time.perf_counter() - t0) / repeats
        n_params = sum(p.numel() for p in stack.parameters())
        rows[system] = {"width": width, "seconds_per_minibatch": per,
                        "hours_for_paper_budget": per * PAPER_MINIBATCHES / 3600,
                        "weights_mib_float32": n_params * 4 / 2**20}
        print(f"{system:12s} width {width:5d}: {per * 1e3:7.1f} ms per minibatch, {PAPER_MINIBATCHES:.0e} "
              f"minibatches {rows[system]['hours_for_paper_budget']:6.1f} h, weights "
              f"{rows[system]['weights_mib_float32']:.1f} MiB", flush=True)
    return {"benchmark": "hits_budget", "batch_size": batch_size, "n_forward": n_forward, "levels": 11,
            "paper_minibatches": PAPER_MINIBATCHES, "device": describe_device(device), "systems": rows}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m hitslite.bench", description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["solvers", "ks_dt", "lhits", "hits", "led", "led_ablation",
                                         "budget"])
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8, 64, 512])
    parser.add_argument("--device", nargs="+", default=None,
                        help="solvers: every device listed (default: cpu, and cuda when present); every "
                             "other benchmark: one device (default: cpu)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: these tensors are small, and on a shared 2-core "
                             "machine a second intra-op thread mostly spins; 0 keeps torch's default)")
    parser.add_argument("--min-time", type=float, default=0.3, help="seconds timed per measurement")
    parser.add_argument("--out", default=None, help="output JSON (default benchmarks/results/<what>.json)")
    parser.add_argument("--fhn-horizon", type=int, default=600,
                        help="led: FHN forecast horizon in time units (600: Chapter 11; 8000: the paper's "
                             "Fig. 7)")
    parser.add_argument("--systems", nargs="+", default=["fhn", "ks"], choices=["fhn", "ks"],
                        help="led, led_ablation: which systems to run")
    args = parser.parse_args(argv)
    if args.what != "solvers" and args.device is not None and len(args.device) > 1:
        parser.error(f"{args.what} runs on one device; got --device {' '.join(args.device)}")
    for name in args.device or []:
        try:
            torch.empty(0, device=name)
        except (RuntimeError, ValueError) as err:  # a typo, or CUDA asked for where there is none
            parser.error(f"--device {name}: {err}")
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out) if args.out else RESULTS / f"{args.what}.json"
    device = args.device[0] if args.device else None  # every benchmark but solvers: one device, default cpu
    devices = args.device or ["cpu"]
    if args.what == "solvers":
        record = bench_solvers(tuple(args.batch), args.device, min_time=args.min_time)
        devices = sorted({row["device"] for row in record["rows"]})
        _print_table(record)
    elif args.what == "lhits":
        record = bench_lhits(device=device)
    elif args.what == "hits":
        record = bench_hits(device=device)
    elif args.what == "led":
        record = bench_led(fhn_horizon=args.fhn_horizon, systems=tuple(args.systems), device=device)
    elif args.what == "led_ablation":
        record = bench_led_ablation(systems=tuple(args.systems), device=device)
    elif args.what == "budget":
        record = bench_hits_budget(device=device)
    else:
        record = ks_dt_convergence(device=device)
        for dt, err in record["relative_error"].items():
            print(f"dt = {float(dt):<8g} relative error {err:.3e}")
    write_record(record, out, devices=devices)
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
