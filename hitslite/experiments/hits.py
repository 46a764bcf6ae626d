"""HiTS (Part I): single levels, multiscale, hybrids and batched training in one run; and what the
paper's training budget costs here.

:func:`bench_hits` is ``python -m hitslite.bench hits``; :func:`bench_hits_budget` is
``python -m hitslite.bench budget`` (HiTS App. A.1's 1e5 minibatches at Table 2's widths).
"""

from __future__ import annotations

import time

import torch

from .. import zoo
from ..data import ode_dataset, ode_splits
from ..device import describe_device
from ..multiscale import compare_hybrids, compare_levels
from ..neural import ResNetStack, ResNetStepper
from ..systems import get_system
from ..timing import synchronize, timed
from ..train import fit_levels, stack_multistep_loss

__all__ = ["bench_hits", "bench_hits_budget", "TABLE2_WIDTHS", "PAPER_MINIBATCHES"]

#: HiTS Table 2: state dimension and hidden width of each system's networks (three hidden layers)
TABLE2_WIDTHS = {"hyperbolic": (2, 128), "cubic": (2, 256), "van_der_pol": (2, 512), "hopf": (3, 128),
                 "lorenz": (3, 1024)}
#: HiTS App. A.1's stopping rule: training runs for 1e5 minibatches
PAPER_MINIBATCHES = 100_000


def bench_hits(systems=("hyperbolic", "cubic", "van_der_pol", "hopf", "lorenz"), n_test: int = 100,
               repeats: int = 3, train_epochs: int = 5, device=None) -> dict:
    """``python -m hitslite.bench hits``: for every system in the zoo, the forecast time and test error of
    each single NNTS, of the multiscale scheme (the stored validation range) and of RK 0-4 / Hybrid 0-4,
    all timed in this run on the first ``n_test`` test trajectories (best of ``repeats``); plus seconds
    per epoch of training the eleven levels together (stacked) against one by one, on the hyperbolic
    data (one run of ``train_epochs`` epochs each). Everything runs on ``device`` (default the CPU);
    errors are computed on the CPU."""
    device = torch.device(device or "cpu")
    record = {"benchmark": "hits", "n_test": n_test, "repeats": repeats, "device": describe_device(device),
              "torch": torch.__version__, "threads": torch.get_num_threads(), "systems": {}}
    for name in systems:
        if not (zoo.zoo_dir() / name / "manifest.json").exists():
            continue
        levels = list(zoo.load_pretrained(name, device=device))
        lower, upper = zoo.selected(name).choice
        test = ode_dataset(name, "test", **zoo.ENTRIES[name].config["data"])[:n_test]
        cmp = compare_levels(levels, test, lower, upper, repeats=repeats)
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
        _, total = timed(lambda batched=batched: fit_levels(
            lambda dt: ResNetStepper(2, dt, hidden=config["hidden"]), train, val, levels=config["levels"],
            n_forward=5, starts="first", max_epochs=train_epochs, patience=None, progress=False,
            batched=batched, device=device), device=device)
        seconds["batched" if batched else "one_by_one"] = total / train_epochs
    record["training_seconds_per_epoch"] = seconds
    record["training_speedup_batched"] = seconds["one_by_one"] / seconds["batched"]
    print(f"training the 11 hyperbolic levels: {seconds['one_by_one']:.2f} s/epoch one by one, "
          f"{seconds['batched']:.2f} s/epoch batched ({record['training_speedup_batched']:.2f}x)")
    return record


def bench_hits_budget(*, batch_size: int = 320, n_forward: int = 5, repeats: int = 5, device=None) -> dict:
    """What HiTS App. A.1's budget costs here: seconds per minibatch (forward, backward, Adam) of the eleven
    levels trained together at Table 2's widths, times ``PAPER_MINIBATCHES``, and the float32 size of the
    weights. Each system: 3 warm-up minibatches, then the mean of ``repeats`` (one clock around all of
    them, the device synchronised before it starts and stops). ``python -m hitslite.bench budget``."""
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
                synchronize(device)
                t0 = time.perf_counter()
            opt.zero_grad()
            stack_multistep_loss(stack, batch).sum().backward()
            opt.step()
        synchronize(device)
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
