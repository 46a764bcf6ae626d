"""Benchmark records (issue 15): strict JSON with a provenance block, and ``--device`` reaching every
benchmark; ``hitslite.bench`` is only the command line over ``hitslite.experiments``. The heavy
benchmarks are never run here: their functions are replaced by recorders."""

import ast
import datetime
import inspect
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from hitslite import bench, experiments

RESULTS = Path(bench.__file__).resolve().parents[1] / "benchmarks" / "results"


def _strict_load(text: str):
    """``json.loads`` that refuses ``NaN``, ``Infinity`` and ``-Infinity``, as strict parsers do."""
    def refuse(constant):
        raise ValueError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_write_record_turns_non_finite_numbers_into_null_and_says_so(tmp_path):
    record = {"benchmark": "toy", "mse": 1.25e-3, "diverged": math.inf,
              "rows": [{"x": -math.inf}, {"x": 0.1}], "undefined": float("nan"),
              "tensor": torch.tensor([1.5, 2.0]), "scalar": np.float32(0.5),
              "count": np.int64(3), "by_dim": {2: 0.25}}
    written = experiments.write_record(record, tmp_path / "toy.json")
    loaded = _strict_load((tmp_path / "toy.json").read_text())
    assert loaded == json.loads(json.dumps(written))
    assert loaded["mse"] == 1.25e-3 and loaded["rows"][1]["x"] == 0.1  # finite numbers exactly as they were
    assert loaded["diverged"] is None and loaded["rows"][0]["x"] is None and loaded["undefined"] is None
    assert loaded["notes"]["non_finite_as_null"]["values"] == {"diverged": "inf", "rows[0].x": "-inf",
                                                               "undefined": "nan"}
    assert loaded["tensor"] == [1.5, 2.0] and loaded["scalar"] == 0.5 and loaded["count"] == 3
    assert loaded["by_dim"] == {"2": 0.25}
    assert record["diverged"] == math.inf  # the caller's record is left alone


def test_write_record_keeps_existing_notes_and_provenance(tmp_path):
    record = {"notes": "measured on a quiet machine", "x": math.nan, "provenance": {"commit": None}}
    experiments.write_record(record, tmp_path / "r.json")
    loaded = _strict_load((tmp_path / "r.json").read_text())
    assert loaded["notes"]["text"] == "measured on a quiet machine"
    assert loaded["notes"]["non_finite_as_null"]["values"] == {"x": "nan"}
    assert loaded["provenance"] == {"commit": None}
    experiments.write_record({"x": 1.0}, tmp_path / "clean.json")
    assert "notes" not in _strict_load((tmp_path / "clean.json").read_text())  # nothing converted: no note


def test_provenance_in_a_checkout():
    p = experiments.provenance(["cpu"])
    assert set(p) >= {"commit", "dirty", "date_utc", "cpu", "torch_threads", "devices", "versions"}
    assert set(p["versions"]) == {"python", "torch", "numpy", "scipy", "hitslite"}
    assert p["versions"]["torch"] == torch.__version__ and p["torch_threads"] == torch.get_num_threads()
    when = datetime.datetime.fromisoformat(p["date_utc"])
    assert when.utcoffset() == datetime.timedelta(0)
    assert p["devices"][0].startswith("cpu (")
    if (RESULTS.parents[1] / ".git").exists():
        assert len(p["commit"]) == 40 and int(p["commit"], 16) >= 0 and isinstance(p["dirty"], bool)
    _strict_load(json.dumps(p))


def test_provenance_outside_a_checkout(monkeypatch):
    import hitslite.experiments.record

    # what an installed package sees (patched where provenance looks it up)
    monkeypatch.setattr(hitslite.experiments.record, "repo_root", lambda: None)
    p = experiments.provenance("cpu")
    assert p["commit"] is None and p["dirty"] is None and p["versions"]["hitslite"]


def test_committed_results_are_strict_json():
    files = sorted(RESULTS.glob("*.json"))
    assert files
    for path in files:
        _strict_load(path.read_text())  # no NaN or Infinity anywhere
    lhits = _strict_load((RESULTS / "lhits.json").read_text())
    converted = lhits["notes"]["non_finite_as_null"]["values"]
    assert converted and all(v == "inf" for v in converted.values())
    assert lhits["systems"]["ks"]["singles"][0]["test_mse"] is None
    ks_dt = _strict_load((RESULTS / "ks_dt.json").read_text())
    assert ks_dt["provenance"] == "unknown (recorded before provenance was kept)"


# ---- --device reaches every benchmark ------------------------------------------------------------------
_BENCHMARKS = {"lhits": "bench_lhits", "hits": "bench_hits", "led": "bench_led",
               "led_ablation": "bench_led_ablation", "ks_dt": "ks_dt_convergence", "perf": "bench_perf",
               "h2h": "bench_h2h", "led_period": "led_fhn_period_by_data", "recipe": "recipe_study",
               "peclet": "peclet_study", "led_cycles": "led_fhn_cycles"}


def test_every_benchmark_function_takes_a_device():
    for fn in (*_BENCHMARKS.values(), "compare_lhits", "lhits_by_latent_dim", "bench_solvers"):
        params = inspect.signature(getattr(experiments, fn)).parameters
        assert "device" in params or "devices" in params, fn


@pytest.mark.parametrize("what", sorted(_BENCHMARKS))
def test_main_passes_the_device_and_writes_provenance(what, tmp_path, monkeypatch):
    seen = {}

    def recorder(*args, **kwargs):
        seen.update(kwargs)
        return {"benchmark": what, "relative_error": {"0.5": 1e-3}, "worst": math.inf}

    monkeypatch.setattr(experiments, _BENCHMARKS[what], recorder)
    out = tmp_path / f"{what}.json"
    bench.main([what, "--device", "cpu", "--threads", "0", "--out", str(out)])
    assert seen["device"] == "cpu"
    loaded = _strict_load(out.read_text())
    assert loaded["provenance"]["devices"][0].startswith("cpu (") and loaded["worst"] is None


def test_main_refuses_several_or_unknown_devices(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(experiments, "bench_hits", lambda **kw: pytest.fail("must not run"))
    with pytest.raises(SystemExit):
        bench.main(["hits", "--device", "cpu", "cpu", "--out", str(tmp_path / "x.json")])
    assert "runs on one device" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench.main(["hits", "--device", "no_such_device", "--out", str(tmp_path / "x.json")])
    assert "--device no_such_device" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


def test_main_refuses_systems_the_benchmark_does_not_know(tmp_path, monkeypatch, capsys):
    for fn in ("recipe_study", "bench_led"):
        monkeypatch.setattr(experiments, fn, lambda *a, **kw: pytest.fail("must not run"))
    with pytest.raises(SystemExit):
        bench.main(["recipe", "--systems", "selkov", "fhn", "--out", str(tmp_path / "x.json")])
    assert "--systems fhn: recipe knows damped_pendulum" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench.main(["led", "--systems", "selkov", "--out", str(tmp_path / "x.json")])
    assert "--systems selkov: led knows fhn, ks" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


def test_ks_dt_end_to_end(tmp_path):
    """The cheapest subcommand, as a user runs it (about 7 s on one core): strict JSON, provenance, device."""
    out = tmp_path / "ks_dt.json"
    bench.main(["ks_dt", "--device", "cpu", "--threads", "0", "--out", str(out)])
    record = _strict_load(out.read_text())
    errors = [record["relative_error"][k] for k in ("0.1", "0.05", "0.025")]
    assert errors[0] > errors[1] > errors[2] > 0  # the solver converges as dt shrinks (fourth order)
    assert 10 < errors[1] / errors[2] < 20  # 2^4 = 16
    assert record["device"].startswith("cpu (") and record["provenance"]["versions"]["hitslite"]


# ---- hitslite.bench is the command line only --------------------------------------------------------------
def test_bench_is_only_the_command_line_over_experiments():
    """Every protocol lives in hitslite.experiments: bench.py defines main and the printing of tables, imports
    no hitslite module but hitslite.experiments, exports only main, and stays short."""
    path = Path(bench.__file__)
    source = path.read_text()
    assert len(source.splitlines()) < 250
    tree = ast.parse(source)
    functions = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    assert functions == {"main", "_print_table"}
    assert not [n for n in tree.body if isinstance(n, ast.ClassDef)]
    hitslite_imports = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:  # from . import experiments
            hitslite_imports |= {f"{node.module}" if node.module else a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("hitslite"):
            hitslite_imports.add(node.module)
        elif isinstance(node, ast.Import):
            hitslite_imports |= {a.name for a in node.names if a.name.startswith("hitslite")}
    assert hitslite_imports == {"experiments"}
    assert bench.__all__ == ["main"]
    for name in _BENCHMARKS.values():  # the protocols are not re-exported by the command line
        assert not hasattr(bench, name) and callable(getattr(experiments, name))


def test_bench_help_runs():
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "hitslite.bench", "--help"], capture_output=True, text=True,
                          timeout=120, env=env, cwd=RESULTS.parents[1])
    assert done.returncode == 0, done.stderr
    for what in ("solvers", "ks_dt", "lhits", "hits", "led", "led_ablation", "budget"):
        assert what in done.stdout
    for flag in ("--device", "--out", "--threads", "--min-time", "--fhn-horizon", "--systems", "--batch"):
        assert flag in done.stdout
    assert "RuntimeWarning" not in done.stderr  # (runpy: hitslite.bench found in sys.modules before running)
