"""The cost-curve protocols of ``python -m hitslite.bench perf`` (hitslite.experiments.perf)."""
import math

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import hitslite as h
from hitslite.experiments import perf


def _row(method, family, seconds, mse):
    return {"method": method, "family": family, "seconds": seconds, "mse": mse}


def test_winners_pick_the_fastest_family_that_reaches_each_target():
    rows = [_row("neural", "neural hierarchy", 0.01, 1e-4), _row("RK4 3", "RK4", 0.05, 1e-3),
            _row("RK4 0", "RK4", 0.4, 1e-9), _row("DOP853 1e-6", "DOP853", 0.2, 1e-7),
            _row("DOP853 1e-3", "DOP853", 0.02, math.inf)]
    by_target = {w["target_mse"]: w for w in perf.winners(rows, targets=(1e-2, 1e-5, 1e-8, 1e-12))}
    assert by_target[1e-2]["winner"] == "neural" and by_target[1e-2]["margin"] == pytest.approx(5.0)
    assert by_target[1e-5]["winner"] == "DOP853 1e-6" and by_target[1e-5]["margin"] == pytest.approx(2.0)
    assert by_target[1e-8]["winner"] == "RK4 0" and by_target[1e-8]["margin"] is None  # alone there
    assert by_target[1e-12]["winner"] is None and by_target[1e-12]["fastest"] == {}
    assert by_target[1e-2]["fastest"]["RK4"]["method"] == "RK4 3"  # the fastest RK4 that is good enough


def test_resnet_flops_match_torchs_own_count():
    stepper = h.ResNetStepper(3, 0.01, hidden=[64, 128, 32])
    with FlopCounterMode(display=False) as counter:
        stepper(torch.zeros(10, 3))
    assert counter.get_total_flops() == 10 * perf.resnet_flops(3, [64, 128, 32])


def test_chunking_lowers_the_measured_peak_memory_per_state():
    """Each run in a fresh process; wide layers, so whole-batch activations dwarf the stored states. The test
    process holds an extra GiB while it runs, as a benchmark that loaded models and data does: a child's
    peak must not inherit the parent's (Linux carries ru_maxrss across exec)."""
    ballast = torch.ones(2**28)  # 1 GiB in the parent
    record = perf.forecast_memory((256,), n_levels=4, horizon=256, whole_bytes=(5e7, 2e8),
                                  chunked_states=(2**18, 2**20), chunk_bytes=2**20, budget_bytes=2**30)
    whole, chunked = (next(r for r in record["rows"] if r["mode"] == m) for m in ("whole", "chunked"))
    assert all(p < 2**30 for r in record["rows"] for p in r["peak_bytes"])  # not the parent's GiB
    del ballast
    assert whole["bytes_per_state"] > 4 * chunked["bytes_per_state"]
    assert chunked["largest_batch_x_horizon"] > 4 * whole["largest_batch_x_horizon"]


def test_bench_perf_quick_end_to_end(tmp_path):
    record = perf.bench_perf(quick=True)
    ev = record["error_vs_time"]["hyperbolic"]
    methods = [r["method"] for r in ev["rows"]]
    assert methods[0] == "neural" and "RK4 0" in methods and any(m.startswith("DOP853") for m in methods)
    rk = {r["method"]: r["mse"] for r in ev["rows"] if r["family"] == "RK4"}
    assert rk["RK4 0"] < rk["RK4 1"] < rk["RK4 2"]  # RK4 converges as its step shrinks
    rows = record["throughput"]["rows"]
    assert 0 < rows[0]["fraction_of_peak"] < 1.5
    assert "over max_flops" in rows[-1]["skipped"] and "seconds" not in rows[-1]  # too big: listed, not run
    h.experiments.write_record(record, tmp_path / "perf.json")
    assert (tmp_path / "perf.json").read_text().startswith("{")
