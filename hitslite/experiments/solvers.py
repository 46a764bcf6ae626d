"""The classical solvers: their speed against batch size, and the KS solver step's convergence.

:func:`bench_solvers` measures steps per second of each micro solver (ETDRK4 for KS, lattice Boltzmann
for FHN, Euler–Maruyama for particles): the denominators of the speed-ups LED and L-HiTS report.
:func:`ks_dt_convergence` is the evidence for the KS data sets' dt = 0.025.
"""

from __future__ import annotations

import platform
import time

import torch

from ..device import describe_device
from ..particles import EulerMaruyama
from ..pde import ETDRK4, LatticeBoltzmann
from ..pde_data import fhn_initial_conditions
from ..steppers import Repeated
from ..systems import get_system
from ..timing import synchronize

__all__ = ["bench_solvers", "ks_dt_convergence"]


def _solvers():
    """(name, stepper factory, initial-state factory) for each benchmarked configuration."""
    ks_led = get_system("ks", preset="led")
    ks_lhits = get_system("ks", preset="lhits")
    fhn = get_system("fhn")
    ad3 = get_system("advection_diffusion", dim=3)

    def ks_state(system):
        return lambda b: system.sample_initial(b, torch.Generator().manual_seed(0))

    def fhn_state(b):
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
def _steps_per_second(stepper, x, min_time: float = 0.3) -> float:
    """Steps per second of ``stepper`` from ``x``: after 5 warm-up steps, chunks of steps (doubling, at
    most 2000) until ``min_time`` seconds have passed, the device synchronised before every clock read.
    (Not a best-of-N: one run long enough to be measured.)"""
    carry = stepper.init_carry(x)
    for _ in range(5):  # warm-up (kernel launch, FFT plans)
        x, carry = stepper.step(x, carry)
    synchronize(x.device)
    n, start = 0, time.perf_counter()
    chunk = 10
    while True:
        for _ in range(chunk):
            x, carry = stepper.step(x, carry)
        n += chunk
        synchronize(x.device)
        elapsed = time.perf_counter() - start
        if elapsed >= min_time:
            return n / elapsed
        chunk = min(chunk * 2, 2000)


def bench_solvers(batch_sizes=(1, 8, 64, 512), devices=None, dtype=torch.float64, min_time: float = 0.3,
                  verbose: bool = True) -> dict:
    """Steps per second for every solver, batch size and device; returns the JSON-able record.

    Used in Ch. 7 (the solvers' cost against batch size) and by ``python -m hitslite.bench solvers``.
    ``devices`` defaults to the CPU, and CUDA when present; each measurement runs at least ``min_time``
    seconds.
    """
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
    ``device`` (default the CPU; the initial states are drawn on the CPU either way).

    ``python -m hitslite.bench ks_dt``: the evidence for the KS data sets' dt = 0.025.
    """
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
