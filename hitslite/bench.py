"""The benchmarks' command line: ``python -m hitslite.bench <what> [--device ...] [--out ...]``.

Only the command line lives here (arguments, tables, where the record goes); every protocol is a function
of :mod:`hitslite.experiments`, which the chapters import too. ``<what>`` is one of:

``solvers``: steps per second of each micro solver (ETDRK4 for KS, lattice Boltzmann for FHN,
Euler–Maruyama for particles) against batch size, on the CPU and on CUDA when present, written to
``benchmarks/results/solvers.json`` and printed as a table. These are the denominators of the
speed-ups LED and L-HiTS report.

``ks_dt``: the convergence of the KS solver step (the evidence for the data sets' dt = 0.025),
written to ``benchmarks/results/ks_dt.json``.

``hits``: for every HiTS system in the zoo, the forecast time and test error of each single NNTS, of
the multiscale scheme and of RK4 against the hybrids, timed side by side; and batched against one-by-one
training of the eleven levels; written to ``benchmarks/results/hits.json``.

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
(about 20 CPU minutes, most of it the three KS propagators).

``perf``: cost curves (Part IV): on the five HiTS systems, test error against wall time of the neural
hierarchy, the hybrids, RK4 at several steps and scipy's DOP853 at several tolerances, and which wins at
each accuracy; ``Hierarchy.forecast``'s throughput as a fraction of the measured matmul peak (widths
128-1024, batches 1-1e4); its peak memory with and without ``chunk_size``; LED's speed-up on KS against
ETDRK4 at the largest step as accurate as LED; the L-HiTS time split. Written to
``benchmarks/results/perf.json`` (about five CPU minutes).

``h2h``: HiTS, L-HiTS, LED and the solver head to head (Chapter 14) on the test split of the L-HiTS FHN
and KS data: the same starts, grid and metrics (MSE, MNAD, time to NAD = 0.1 in Lyapunov times,
Wasserstein distance) and the same cost measures (wall time, sequential depth, training time), written
to ``benchmarks/results/h2h.json`` (about a minute).

``led_period``: LED's FHN forecast period with the same autoencoder and cell recipe, the cell trained on
LED's data and on long attractor trajectories, written to ``benchmarks/results/led_period.json`` (about
two CPU minutes).

``led_cycles``: LED's FHN forecast on each of the two mirror-image cycles of the front (the test starts
and their mirror images, 8000 units or ``--fhn-horizon``): the zoo's cell and cells retrained with its
recipe for ``--seeds`` on LED's data and on the data plus its mirror image; per cycle the MNAD and the
period error; the cell a 2000-unit validation forecast (both cycles) selects; the zoo's and the selected
cell at rho = 1. Written to ``benchmarks/results/led_cycles.json`` (about 40 CPU minutes).

``recipe``: does :func:`~hitslite.recipes.train_hits`'s coupled hierarchy beat its best single level on
test data, on systems outside the papers (Chapter 13's pendulum, Lotka–Volterra, Sel'kov), for seeds
``--seeds`` (default 0, 1, 2) at a two-minute budget each; written to ``benchmarks/results/recipe.json``
(about 2.5 CPU minutes a run; ``--jobs 2`` runs two at once; ``--systems`` picks some).

``peclet``: LED across Péclet numbers (LED Fig. 5, SI 8.2.4) with the zoo's three Péclet entries: the
Wasserstein distance of the run distributions of M1 and M2 against the micro solver (latent-only and
multiscale LED, beside the self-similar and autoencoder references) and the speed-up S against rho, for
``--peclet`` (default 100 10 1), ``--starts`` initial conditions x ``--runs`` runs x ``--horizon`` time
units; written to ``benchmarks/results/peclet.json`` (about 20 CPU minutes at the defaults, nearly all of it
the Pe = 1 micro solver, whose step is 1e-4).

Every subcommand runs on ``--device`` (``solvers``: every device listed, default the CPU and CUDA when
present; the others: one device, default the CPU) and writes strict JSON
(:func:`~hitslite.experiments.write_record`: a non-finite number, such as the error of a diverged
forecast, becomes ``null`` and is listed under ``notes``) with a ``provenance`` block
(:func:`~hitslite.experiments.provenance`: git commit and whether the tree was dirty, UTC date, CPU
model, torch threads, devices, versions of python, torch, numpy, scipy and hitslite).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from . import experiments

__all__ = ["main"]


def _print_table(record: dict) -> None:
    """The ``solvers`` record as a table: steps per second, one row per solver and device."""
    rows = record["rows"]
    batches = sorted({r["batch"] for r in rows})
    print("\nsteps per second (one step of the whole batch)")
    print(f"{'solver':44s} {'device':6s} " + " ".join(f"{'B=' + str(b):>11s}" for b in batches))
    keys = sorted({(r["solver"], r["device"]) for r in rows}, key=lambda k: (k[1], k[0]))
    for solver, device in keys:
        vals = {r["batch"]: r["steps_per_s"] for r in rows if r["solver"] == solver and r["device"] == device}
        print(f"{solver:44s} {device:6s} " + " ".join(f"{vals.get(b, float('nan')):11.1f}" for b in batches))


def main(argv=None) -> None:
    """Run the benchmark ``argv`` names (default: the command line), print its table, write its record."""
    parser = argparse.ArgumentParser(prog="python -m hitslite.bench", description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["solvers", "ks_dt", "lhits", "hits", "led", "led_ablation",
                                         "budget", "perf", "h2h", "led_period", "led_cycles", "recipe",
                                         "peclet"])
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8, 64, 512])
    parser.add_argument("--device", nargs="+", default=None,
                        help="solvers: every device listed (default: cpu, and cuda when present); every "
                             "other benchmark: one device (default: cpu)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: these tensors are small, and on a shared 2-core "
                             "machine a second intra-op thread mostly spins; 0 keeps torch's default)")
    parser.add_argument("--min-time", type=float, default=0.3, help="seconds timed per measurement")
    parser.add_argument("--out", default=None, help="output JSON (default benchmarks/results/<what>.json)")
    parser.add_argument("--fhn-horizon", type=int, default=None,
                        help="led: FHN forecast horizon in time units (default 600: Chapter 11; 8000: the "
                             "paper's Fig. 7); led_cycles: the same (default 8000)")
    parser.add_argument("--systems", nargs="+", default=None,
                        help="led, led_ablation, h2h: fhn and/or ks (default both); recipe: names in "
                             "hitslite.experiments.RECIPE_SYSTEMS (default all)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="recipe, led_cycles: seeds")
    parser.add_argument("--budget", type=float, default=120.0, help="recipe: training seconds per run")
    parser.add_argument("--jobs", type=int, default=1,
                        help="recipe: runs at once, one process and one thread each (at most the free cores)")
    parser.add_argument("--peclet", type=int, nargs="+", default=[100, 10, 1],
                        help="peclet: Péclet numbers among 100, 10, 1")
    parser.add_argument("--starts", type=int, default=2, help="peclet: initial conditions of the test split")
    parser.add_argument("--runs", type=int, default=16, help="peclet: runs per initial condition and set")
    parser.add_argument("--horizon", type=int, default=40,
                        help="peclet: time units forecast after the warm-up")
    args = parser.parse_args(argv)
    if args.what != "solvers" and args.device is not None and len(args.device) > 1:
        parser.error(f"{args.what} runs on one device; got --device {' '.join(args.device)}")
    for name in args.device or []:
        try:
            torch.empty(0, device=name)
        except (RuntimeError, ValueError) as err:  # a typo, or CUDA asked for where there is none
            parser.error(f"--device {name}: {err}")
    if args.what == "recipe":
        unknown = sorted(set(args.systems or []) - set(experiments.RECIPE_SYSTEMS))
        if unknown:
            known = ", ".join(experiments.RECIPE_SYSTEMS)
            parser.error(f"--systems {' '.join(unknown)}: recipe knows {known}")
    else:
        unknown = sorted(set(args.systems or []) - {"fhn", "ks"})
        if unknown:
            parser.error(f"--systems {' '.join(unknown)}: {args.what} knows fhn, ks")
    systems = tuple(args.systems or ("fhn", "ks"))
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out) if args.out else experiments.RESULTS / f"{args.what}.json"
    device = args.device[0] if args.device else None  # every benchmark but solvers: one device, default cpu
    devices = args.device or ["cpu"]
    if args.what == "solvers":
        record = experiments.bench_solvers(tuple(args.batch), args.device, min_time=args.min_time)
        devices = sorted({row["device"] for row in record["rows"]})
        _print_table(record)
    elif args.what == "lhits":
        record = experiments.bench_lhits(device=device)
    elif args.what == "hits":
        record = experiments.bench_hits(device=device)
    elif args.what == "led":
        record = experiments.bench_led(fhn_horizon=args.fhn_horizon or 600, systems=systems,
                                       device=device)
    elif args.what == "led_ablation":
        record = experiments.bench_led_ablation(systems=systems, device=device)
    elif args.what == "perf":
        record = experiments.bench_perf(device=device)
    elif args.what == "h2h":
        record = experiments.bench_h2h(systems, device=device)
    elif args.what == "led_period":
        record = experiments.led_fhn_period_by_data(device=device)
    elif args.what == "led_cycles":
        horizon = args.fhn_horizon or 8000
        try:  # --fhn-horizon is the only argument of the study's checks the command line sets
            experiments.led.check_cycles_arguments(horizon=horizon)
        except ValueError:
            parser.error(f"led_cycles: --fhn-horizon must be >= 400 (two periods), got {args.fhn_horizon}")
        record = experiments.led_fhn_cycles(horizon=horizon, seeds=tuple(args.seeds), device=device)
    elif args.what == "recipe":
        record = experiments.recipe_study(args.systems, seeds=tuple(args.seeds), budget_s=args.budget,
                                          jobs=args.jobs, device=device)
    elif args.what == "peclet":
        study = {"pecletes": tuple(args.peclet), "starts": args.starts, "runs": args.runs,
                 "horizon": args.horizon}
        try:  # bad arguments are a usage error before any work; errors of the run itself are not
            experiments.peclet.check_arguments(**study)
        except ValueError as err:
            parser.error(f"peclet: {err}")
        record = experiments.peclet_study(**study, device=device, progress=True)
    elif args.what == "budget":
        record = experiments.bench_hits_budget(device=device)
    else:
        record = experiments.ks_dt_convergence(device=device)
        for dt, err in record["relative_error"].items():
            print(f"dt = {float(dt):<8g} relative error {err:.3e}")
    experiments.write_record(record, out, devices=devices)
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
