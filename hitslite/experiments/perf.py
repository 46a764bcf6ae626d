"""Cost curves: what each method's accuracy costs, how close a forecast runs to the machine's peak, and how
much memory it needs (``python -m hitslite.bench perf``; Part IV).

Every ratio here is measured side by side in one run on one machine; nothing is compared with a time
measured elsewhere.

* :func:`error_vs_time`: on the five HiTS systems, the test error and wall time of the neural hierarchy
  (the zoo's validation-chosen range), the hybrids (the coarsest network over RK4 at ``dt * 2**k``), RK4
  alone at several steps and scipy's DOP853 at several tolerances, all on the same test starts and the
  same horizon, scored on the same output times; then, for each accuracy target, which method reaches it
  fastest and by how much (:func:`winners`).
* :func:`matmul_peak` and :func:`forecast_throughput`: ``Hierarchy.forecast``'s floating-point rate as a
  fraction of this machine's measured matrix-multiply peak, for several widths and batch sizes.
* :func:`forecast_memory`: the peak memory of ``Hierarchy.forecast`` with and without ``chunk_size``
  (each run in a fresh process, its peak resident memory read from the kernel), the bytes per output state
  fitted from two sizes, and from them the largest ``batch x horizon`` each width fits in a budget.
* :func:`led_vs_etdrk4`: LED's speed-up on KS against ETDRK4 run at the largest step whose own error stays
  below LED's, rather than at the small step the data were made with.
* :func:`lhits_time_split`: where an L-HiTS forecast spends its time (encode, latent hierarchy, decode).
"""

from __future__ import annotations

import math
import multiprocessing as mp

import torch

from .. import validate, zoo
from ..data import ode_dataset, solve_reference
from ..device import describe_device
from ..metrics import nad
from ..multiscale import Hierarchy, chunk_size_for
from ..neural import ResNetStepper
from ..pde import ETDRK4
from ..pde_data import ks_dataset
from ..steppers import RK4, Repeated, forecast, rollout
from ..systems import get_system
from ..timing import best_time, timed

__all__ = ["HITS_SYSTEMS", "error_vs_time", "winners", "matmul_peak", "resnet_flops", "forecast_throughput",
           "forecast_memory", "led_vs_etdrk4", "lhits_time_split", "bench_perf"]

#: The five nonlinear benchmarks of HiTS Sec. 3.1.
HITS_SYSTEMS = ("hyperbolic", "cubic", "van_der_pol", "hopf", "lorenz")


def _mse(pred: torch.Tensor, truth: torch.Tensor) -> float:
    return float(torch.mean((pred.double().cpu() - truth.double().cpu()) ** 2))


def error_vs_time(systems=HITS_SYSTEMS, *, n_test: int = 32, repeats: int = 3, rk_ks=range(7),
                  hybrid_ks=range(5), dop853_rtols=(1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9),
                  device=None) -> dict:
    """Test MSE against wall time for every method on the first ``n_test`` test trajectories of each
    system (the zoo's test split, its full horizon).

    Methods: ``neural`` (the zoo's level set coupled over its validation-chosen range, float32), ``hybrid
    k`` (the coarsest network over RK4 at ``dt * 2**k``, as HiTS App. A.2), ``RK4 k`` (RK4 alone at
    ``dt * 2**k``) and ``DOP853 rtol`` (scipy's adaptive 8th-order method, ``atol = rtol * 1e-3``, the
    ``n_test`` trajectories integrated as one system). Every method is scored at the same output
    times, every ``2**max(rk_ks)``-th sample of the test grid (the coarsest RK4 grid), and timed as
    the best of ``repeats`` runs in this call. Neural and RK4 forecasts run on ``device``; DOP853 on
    the CPU (scipy).
    """
    device = torch.device(device or "cpu")
    repeats = validate.positive_int("repeats", repeats)
    n_test = validate.positive_int("n_test", n_test)
    rk_ks, hybrid_ks = list(rk_ks), list(hybrid_ks)
    out = {}
    for name in systems:
        if (zoo.zoo_dir() / name / "manifest.json").exists():
            out[name] = _error_vs_time_system(name, n_test, repeats, rk_ks, hybrid_ks, dop853_rtols, device)
    return out


def _error_vs_time_system(name, n_test, repeats, rk_ks, hybrid_ks, dop853_rtols, device) -> dict:
    system = get_system(name)
    levels = list(zoo.load_pretrained(name, device=device))
    lower, upper = zoo.selected(name).choice
    test = ode_dataset(name, "test", **zoo.ENTRIES[name].config["data"])[:n_test]
    stride = 2 ** max(rk_ks + hybrid_ks)
    n = (test.n_steps // stride) * stride
    truth = test.x[:, : n + 1 : stride]
    x0 = test.x[:, 0].to(device)
    rows = []

    def add(method, family, setting, stepper, grid_stride, start):
        with torch.no_grad():
            pred, seconds = timed(lambda: forecast(stepper, start, n // grid_stride, test.dt * grid_stride,
                                                   check_finite=False).x, repeats, device=device)
        rows.append({"method": method, "family": family, "setting": setting, "seconds": seconds,
                     "mse": _mse(pred[:, :: stride // grid_stride], truth)})

    add("neural", "neural hierarchy", f"NNTS {lower}-{upper}", Hierarchy(levels[lower: upper + 1]), 1,
        x0.float())
    for k in hybrid_ks:
        add(f"hybrid {k}", "hybrid", test.dt * 2**k,
            Hierarchy([levels[-1], RK4(system, test.dt * 2**k)]), 2**k, x0)
    for k in rk_ks:
        add(f"RK4 {k}", "RK4", test.dt * 2**k, RK4(system, test.dt * 2**k), 2**k, x0)
    t_eval = test.t[: n + 1 : stride]
    for rtol in dop853_rtols:
        rows.append(_dop853_row(system, x0.cpu(), t_eval, rtol, truth, repeats))
    best = min(rows, key=lambda r: r["mse"])
    print(f"{name:12s} neural {rows[0]['mse']:.1e} in {rows[0]['seconds']:.3f} s; most accurate "
          f"{best['method']} {best['mse']:.1e} in {best['seconds']:.3f} s", flush=True)
    return {"n_test": int(x0.shape[0]), "horizon_steps": n, "dt": test.dt, "scored_every": stride,
            "rows": rows, "winners": winners(rows)}


def _dop853_row(system, x0, t_eval, rtol, truth, repeats) -> dict:
    def run():
        return solve_reference(system, x0, t_eval, rtol=rtol, atol=rtol * 1e-3, method="DOP853",
                               chunk=x0.shape[0])

    try:
        pred, seconds = timed(run, repeats)
        mse = _mse(pred, truth)
    except RuntimeError:  # the solver gave up
        seconds, mse = math.nan, math.inf
    return {"method": f"DOP853 {rtol:g}", "family": "DOP853", "setting": rtol, "seconds": seconds, "mse": mse}


def winners(rows, targets=(1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8)) -> list[dict]:
    """For each accuracy target, the fastest method of each family whose MSE is at or below it, the
    winning family, and how many times faster it is than the runner-up family (None if no other family
    gets there)."""
    out = []
    for target in targets:
        best = {}
        for r in rows:
            if r["mse"] <= target and math.isfinite(r["seconds"]):
                if r["family"] not in best or r["seconds"] < best[r["family"]]["seconds"]:
                    best[r["family"]] = r
        ranked = sorted(best.values(), key=lambda r: r["seconds"])
        out.append({"target_mse": target,
                    "fastest": {fam: {"method": r["method"], "seconds": r["seconds"]}
                                for fam, r in best.items()},
                    "winner": ranked[0]["method"] if ranked else None,
                    "margin": ranked[1]["seconds"] / ranked[0]["seconds"] if len(ranked) > 1 else None})
    return out


# ----------------------------------------------------------------------------------------------------------
# throughput against the matmul peak
# ----------------------------------------------------------------------------------------------------------
def matmul_peak(sizes=(512, 1024, 2048), *, repeats: int = 5, dtype=torch.float32, device=None) -> dict:
    """This machine's measured matrix-multiply rate: the best of ``repeats`` square products for each size
    (``2 n^3`` floating-point operations each); the peak is the largest rate."""
    device = torch.device(device or "cpu")
    rates = {}
    for n in sizes:
        a = torch.randn(n, n, dtype=dtype, device=device)
        b = torch.randn(n, n, dtype=dtype, device=device)
        a @ b  # warm-up
        seconds = best_time(lambda a=a, b=b: a @ b, repeats, device=device)
        rates[n] = 2 * n**3 / seconds
    return {"flops_per_s": max(rates.values()), "by_size": {str(n): r for n, r in rates.items()},
            "dtype": str(dtype).removeprefix("torch.")}


def resnet_flops(dim: int, hidden) -> int:
    """Floating-point operations of one ResNet step of one state: ``2 x`` the weights' multiply-adds (biases,
    activations and the skip connection are lower order)."""
    sizes = [dim, *hidden, dim]
    return 2 * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def _random_hierarchy(dim, width, n_levels, device, seed=0):
    torch.manual_seed(seed)
    levels = [ResNetStepper(dim, 0.01 * 2**k, hidden=[width] * 3) for k in range(n_levels)]
    for s in levels:  # small weights: the states stay bounded, so no overflow skews the timing
        for p in s.parameters():
            p.data.mul_(0.1)
    return Hierarchy(levels).to(device)


def forecast_throughput(widths=(128, 256, 512, 1024), batches=(1, 10, 100, 1000, 10000), *, dim: int = 3,
                        n_levels: int = 8, n_steps: int = 256, max_flops: float = 2.5e12, repeats: int = 2,
                        memory_bytes: float = 2**30, peak: float | None = None, device=None) -> dict:
    """``Hierarchy.forecast``'s rate (floating-point operations per second, counted as
    :func:`resnet_flops` x the evaluations of :meth:`~hitslite.multiscale.Hierarchy.cost` x batch) as a
    fraction of the matmul ``peak`` (default: :func:`matmul_peak` measured now), for hierarchies of
    ``n_levels`` random ResNet steppers of each width (three hidden layers, steps ``2**k``) and each batch
    size, over ``n_steps`` steps, without gradients, in chunks that fit ``memory_bytes`` of activations
    (:func:`chunk_size_for`). ``total flops / peak`` is the least time any implementation could take; a
    run over ``max_flops`` is listed as skipped, not run."""
    device = torch.device(device or "cpu")
    peak = peak or matmul_peak(device=device)["flops_per_s"]
    rows = []
    for width in widths:
        hier = _random_hierarchy(dim, width, n_levels, device)
        per_eval = resnet_flops(dim, [width] * 3)
        chunk = chunk_size_for(hier, memory_bytes)
        for batch in batches:
            evals = batch * hier.cost(n_steps)["evaluations"]
            row = {"width": width, "batch": batch, "horizon": n_steps, "evaluations": evals,
                   "flops": evals * per_eval, "least_seconds": evals * per_eval / peak, "chunk_size": chunk}
            if evals * per_eval > max_flops:
                rows.append({**row, "skipped": f"over max_flops={max_flops:g}"})
                continue
            x0 = torch.randn(batch, dim, generator=torch.Generator().manual_seed(1)).to(device) * 0.1
            with torch.no_grad():
                hier.forecast(x0, n_steps, check_finite=False, chunk_size=chunk)  # warm-up
                seconds = best_time(lambda x0=x0, m=hier, c=chunk: m.forecast(
                    x0, n_steps, check_finite=False, chunk_size=c), repeats, device=device)
            rate = evals * per_eval / seconds
            rows.append({**row, "seconds": seconds, "flops_per_s": rate, "fraction_of_peak": rate / peak})
            print(f"width {width:5d} batch {batch:6d}: {rate / 1e9:7.2f} GFLOP/s = {rate / peak:6.1%} of "
                  "peak", flush=True)
    return {"peak_flops_per_s": peak, "dim": dim, "n_levels": n_levels, "rows": rows}


# ----------------------------------------------------------------------------------------------------------
# memory
# ----------------------------------------------------------------------------------------------------------
def _status_bytes(field: str) -> int:
    """A memory field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``: kB there) in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise OSError(f"no {field} in /proc/self/status")


def _peak_rss_child(conn, dim, width, n_levels, batch, horizon, chunk_bytes):
    """In a fresh process: build the hierarchy, note the resident memory, forecast, report the peak's rise.

    The peak is this process's own high-water mark (``VmHWM``), reset to the current resident size just
    before the forecast where the kernel allows it (``/proc/self/clear_refs``). Not ``ru_maxrss``: Linux
    carries that across ``exec`` from the forked copy of the parent, so a large parent would mask the
    child's peak."""
    torch.set_num_threads(1)
    hier = _random_hierarchy(dim, width, n_levels, "cpu")
    x0 = torch.randn(batch, dim) * 0.1
    chunk = chunk_size_for(hier, chunk_bytes) if chunk_bytes else None
    with torch.no_grad():
        hier.forecast(x0[:1], 16, check_finite=False)  # load kernels before the baseline
        base = _status_bytes("VmRSS")
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # reset VmHWM to the current resident size
        except OSError:
            pass
        hier.forecast(x0, horizon, check_finite=False, chunk_size=chunk)
    conn.send(_status_bytes("VmHWM") - base)
    conn.close()


def _measure_peak(dim, width, n_levels, batch, horizon, chunk_bytes) -> float:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_peak_rss_child,
                       args=(child, dim, width, n_levels, batch, horizon, chunk_bytes))
    proc.start()
    value = parent.recv()
    proc.join()
    return float(value)


def _fits(budget: float, per_state: float) -> int | None:
    """States of ``per_state`` bytes that fit in ``budget``; None when the slope was not measurable (the
    larger run's peak no higher than the smaller's: allocator noise swamped the signal)."""
    return int(budget / per_state) if per_state > 0 else None


def forecast_memory(widths=(128, 256, 512, 1024), *, dim: int = 3, n_levels: int = 8, horizon: int = 1024,
                    whole_bytes=(1.5e8, 6e8), chunked_states=(2**21, 2**23), chunk_bytes: float = 2**26,
                    budget_bytes: float = 16 * 2**30) -> dict:
    """Peak memory of ``Hierarchy.forecast`` (CPU, no gradients) with and without ``chunk_size``.

    Each measurement runs in a fresh process that builds a hierarchy of ``n_levels`` random ResNet
    steppers, forecasts ``horizon`` steps and reports the rise of its peak resident memory (read from the
    kernel). Two sizes give a slope, the bytes per output state (``batch x horizon``), and
    ``budget_bytes`` over it is the largest ``batch x horizon`` that fits.

    Whole batches (no ``chunk_size``): for each width, batches sized so that the activations are about
    ``whole_bytes`` (large enough to dwarf the allocator's noise). Chunked: every stepper call capped at
    :func:`chunk_size_for` ``(hierarchy, chunk_bytes)`` states, so the activations never exceed about
    ``chunk_bytes`` whatever the width, and what grows with ``batch x horizon`` is the stored states
    alone; measured once with a narrow network (width 8, cheap to run at ``chunked_states`` states) and
    reported for every width with ``budget_bytes - chunk_bytes`` left for the states.
    """
    rows = []
    for width in widths:
        sizes = [max(1, round(b / (8 * width * horizon))) for b in whole_bytes]
        peaks = [_measure_peak(dim, width, n_levels, b, horizon, None) for b in sizes]
        per_state = (peaks[1] - peaks[0]) / ((sizes[1] - sizes[0]) * horizon)
        rows.append({"width": width, "mode": "whole", "batches": sizes, "peak_bytes": peaks,
                     "bytes_per_state": per_state, "largest_batch_x_horizon": _fits(budget_bytes, per_state)})
    sizes = [max(1, n // horizon) for n in chunked_states]
    peaks = [_measure_peak(dim, 8, n_levels, b, horizon, chunk_bytes) for b in sizes]
    chunked = (peaks[1] - peaks[0]) / ((sizes[1] - sizes[0]) * horizon)
    for width in widths:
        rows.append({"width": width, "mode": "chunked", "batches": sizes, "peak_bytes": peaks,
                     "bytes_per_state": chunked,
                     "largest_batch_x_horizon": _fits(budget_bytes - chunk_bytes, chunked)})
    for r in rows:
        print(f"width {r['width']:5d} {r['mode']:8s}: {r['bytes_per_state']:8.0f} bytes per state -> "
              f"{r['largest_batch_x_horizon'] or float('nan'):.2e} states in {budget_bytes / 2**30:.0f} GiB",
              flush=True)
    return {"dim": dim, "n_levels": n_levels, "horizon": horizon, "chunk_bytes": chunk_bytes,
            "budget_bytes": budget_bytes, "rows": rows}


# ----------------------------------------------------------------------------------------------------------
# LED against ETDRK4 at its largest adequate step; L-HiTS time split
# ----------------------------------------------------------------------------------------------------------
def led_vs_etdrk4(*, n_starts: int = 40, horizon: int = 480,
                  solver_dts=(0.025, 0.05, 0.125, 0.25, 0.5, 1.0, 2.0), repeats: int = 2,
                  device=None) -> dict:
    """LED's latent forecast of KS (the zoo's ``led_ks``, its validation-chosen variant) against ETDRK4 at
    each step of ``solver_dts``, from the same ``n_starts`` test states over ``horizon`` samples of the
    data (``save_dt`` apart; the defaults are those of ``bench led``, whose test data the committed
    anchors cover, so every machine scores the same trajectories). Every forecast is scored at the same
    times, those of the coarsest solver step (or of the samples, if coarser): NAD averaged over the first
    Lyapunov time (LED's KS metric), against the test data (made by ETDRK4 at the data's own step). The
    fair baseline is the largest solver step whose own error stays below LED's; the speed-up is that
    solver's time over LED's, both timed in this call."""
    device = torch.device(device or "cpu")
    ks = get_system("ks", preset="led")
    family = zoo.load_pretrained("led_ks", device=device)
    variant = zoo.selected("led_ks").choice
    led = family.led(variant)
    stride = max(1, max(round(h / ks.save_dt) for h in solver_dts))
    horizon = (horizon // stride) * stride
    data = ks_dataset("test", preset="led", n_trajectories=n_starts, n_steps=59 + horizon)
    warm, truth = data.x[:, :60].to(device), data.x[:, 59::stride]
    lyap = round(1 / 0.048 / (ks.save_dt * stride))

    def score(x, every):
        return float(nad(x.cpu()[:, :: stride // every], truth).mean(0)[: lyap + 1].mean())

    with torch.no_grad():
        pred, t_led = timed(lambda: led.forecast(warm, horizon).x, repeats, device=device)
    led_err = score(pred, 1)
    rows = []
    for h in solver_dts:
        if h <= ks.save_dt:  # substeps of one sample
            every = 1
            ratio = validate.integer_ratio("a solver step", ks.save_dt, h)
            solver = Repeated(ETDRK4(ks, h).to(device), ratio)
        else:  # one step spans several samples
            every = validate.integer_ratio("a solver step", h, ks.save_dt)
            solver = ETDRK4(ks, h).to(device)
        with torch.no_grad():
            x, seconds = timed(lambda s=solver, e=every: rollout(s, warm[:, -1], horizon // e).x, repeats,
                               device=device)
        rows.append({"solver_dt": h, "seconds": seconds, "nad_first_lyapunov_time": score(x, every)})
    adequate = [r for r in rows if r["nad_first_lyapunov_time"] <= led_err]
    fair = max(adequate, key=lambda r: r["solver_dt"]) if adequate else None
    finest = min(rows, key=lambda r: r["solver_dt"])
    out = {"variant": variant, "n_starts": n_starts, "horizon_units": horizon * ks.save_dt,
           "scored_every_units": stride * ks.save_dt, "led_seconds": t_led,
           "led_nad_first_lyapunov_time": led_err, "solver": rows,
           "speedup_vs_data_step": finest["seconds"] / t_led,
           "fair_solver_dt": fair["solver_dt"] if fair else None,
           "speedup_vs_fair_step": fair["seconds"] / t_led if fair else None}
    fair_text = (f"{out['speedup_vs_fair_step']:.2f}x against dt {fair['solver_dt']:g}" if fair
                 else "no solver step as coarse as LED")
    print(f"KS LED ({variant}): NAD {led_err:.3f}; speed-up {out['speedup_vs_data_step']:.1f}x against "
          f"ETDRK4 dt {finest['solver_dt']:g}, {fair_text}", flush=True)
    return out


def lhits_time_split(system: str = "ks", *, repeats: int = 3, device=None) -> dict:
    """Where an L-HiTS forecast of the zoo's test data spends its time: encoding the initial states, the
    latent hierarchy (validation-chosen range) and decoding every latent state, each timed alone (best of
    ``repeats``, in this call), with their fractions of the three together; and the whole forecast
    timed as one call."""
    device = torch.device(device or "cpu")
    name = f"lhits_{system}"
    model = zoo.load_pretrained(name, device=device)
    lower, upper = zoo.selected(name).choice
    latent = model.hierarchy(lower, upper)
    test = zoo.lhits_data(name)["test"].to(device)
    x0, n, dt = test.x[:, 0], test.n_steps, test.dt
    with torch.no_grad():
        z0, t_enc = timed(lambda: latent.encode(x0), repeats, device=device)
        z, t_lat = timed(lambda: latent.inner.forecast(z0, n, dt=dt, check_finite=False).x, repeats,
                         device=device)
        _, t_dec = timed(lambda: latent.decode(z.reshape(-1, z.shape[-1])), repeats, device=device)
        _, t_all = timed(lambda: latent.forecast(x0, n, dt=dt, check_finite=False), repeats, device=device)
    out = {"system": system, "levels": [lower, upper], "batch": int(x0.shape[0]), "n_steps": n,
           "seconds": {"encode": t_enc, "latent": t_lat, "decode": t_dec, "total": t_all}}
    parts = t_enc + t_lat + t_dec
    out["fractions"] = {k: v / parts for k, v in out["seconds"].items() if k != "total"}
    print(f"L-HiTS {system}: " + ", ".join(f"{k} {v:.1%}" for k, v in out["fractions"].items())
          + f" of {parts:.3f} s (one call: {t_all:.3f} s)", flush=True)
    return out


def bench_perf(*, quick: bool = False, device=None) -> dict:
    """``python -m hitslite.bench perf``: all of the above in one run (``quick``: tiny sizes, for tests)."""
    device = torch.device(device or "cpu")
    record = {"benchmark": "perf", "device": describe_device(device),
              "torch_threads": torch.get_num_threads()}
    if quick:
        peak = matmul_peak((128,), repeats=2, device=device)
        record["matmul_peak"] = peak
        record["error_vs_time"] = error_vs_time(("hyperbolic",), n_test=2, repeats=1, rk_ks=range(3),
                                                hybrid_ks=range(2), dop853_rtols=(1e-4,), device=device)
        record["throughput"] = forecast_throughput((16,), (1, 4, 10**9), n_levels=3, n_steps=32, repeats=1,
                                                   peak=peak["flops_per_s"], device=device)
        record["memory"] = forecast_memory((16,), n_levels=3, horizon=64, whole_bytes=(1e6, 4e6),
                                           chunked_states=(2**12, 2**14))
        return record
    peak = matmul_peak(device=device)
    record["matmul_peak"] = peak
    print(f"matmul peak {peak['flops_per_s'] / 1e9:.1f} GFLOP/s ({peak['dtype']})", flush=True)
    record["error_vs_time"] = error_vs_time(device=device)
    record["throughput"] = forecast_throughput(peak=peak["flops_per_s"], device=device)
    if device.type == "cpu":
        record["memory"] = forecast_memory()
    record["led_vs_etdrk4"] = led_vs_etdrk4(device=device)
    record["lhits_time_split"] = {s: lhits_time_split(s, device=device) for s in ("fhn", "ks")}
    return record
