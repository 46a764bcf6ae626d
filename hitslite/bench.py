"""Benchmarks of the classical solvers: ``python -m hitslite.bench solvers`` (and ``ks_dt``).

``solvers``: steps per second of each micro solver (ETDRK4 for KS, lattice Boltzmann for FHN,
Euler–Maruyama for particles) against batch size, on the CPU and on CUDA when present, written to
``benchmarks/results/solvers.json`` and printed as a table. These are the denominators of the
speed-ups LED and L-HiTS report.

``ks_dt``: the convergence of the KS solver step (the evidence for the data sets' dt = 0.025),
written to ``benchmarks/results/ks_dt.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from .device import describe_device
from .particles import EulerMaruyama
from .pde import ETDRK4, LatticeBoltzmann
from .steppers import Repeated
from .systems import get_system

__all__ = ["bench_solvers", "ks_dt_convergence", "main"]

RESULTS = Path("benchmarks") / "results"


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
                      horizon: float = 10.0, n_states: int = 4, seed: int = 0) -> dict:
    """Relative max error of ETDRK4 (LED KS preset) after ``horizon`` vs a ``ref_dt`` reference."""
    system = get_system("ks", preset="led")
    x = system.sample_initial(n_states, torch.Generator().manual_seed(seed))
    x = Repeated(ETDRK4(system, 0.025), 4000)(x)  # 100 time units onto the attractor
    ref = Repeated(ETDRK4(system, ref_dt), round(horizon / ref_dt))(x)
    errors = {}
    for dt in dts:
        y = Repeated(ETDRK4(system, dt), round(horizon / dt))(x)
        errors[dt] = float((y - ref).abs().max() / ref.abs().max())
    return {"benchmark": "ks_dt", "preset": "led", "horizon": horizon, "ref_dt": ref_dt,
            "n_states": n_states, "relative_error": {str(k): v for k, v in errors.items()}}


def _print_table(record: dict) -> None:
    rows = record["rows"]
    batches = sorted({r["batch"] for r in rows})
    print("\nsteps per second (one step of the whole batch)")
    print(f"{'solver':44s} {'device':6s} " + " ".join(f"{'B=' + str(b):>11s}" for b in batches))
    keys = sorted({(r["solver"], r["device"]) for r in rows}, key=lambda k: (k[1], k[0]))
    for solver, device in keys:
        vals = {r["batch"]: r["steps_per_s"] for r in rows if r["solver"] == solver and r["device"] == device}
        print(f"{solver:44s} {device:6s} " + " ".join(f"{vals.get(b, float('nan')):11.1f}" for b in batches))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m hitslite.bench", description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["solvers", "ks_dt"])
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8, 64, 512])
    parser.add_argument("--device", nargs="+", default=None, help="default: cpu, and cuda when present")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: these tensors are small, and on a shared 2-core "
                             "machine a second intra-op thread mostly spins; 0 keeps torch's default)")
    parser.add_argument("--min-time", type=float, default=0.3, help="seconds timed per measurement")
    parser.add_argument("--out", default=None, help="output JSON (default benchmarks/results/<what>.json)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out) if args.out else RESULTS / f"{args.what}.json"
    if args.what == "solvers":
        record = bench_solvers(tuple(args.batch), args.device, min_time=args.min_time)
        _print_table(record)
    else:
        record = ks_dt_convergence()
        for dt, err in record["relative_error"].items():
            print(f"dt = {float(dt):<8g} relative error {err:.3e}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
