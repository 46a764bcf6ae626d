"""Repository-wide pytest hooks: record how long each chapter (an nbmake item) takes.

``.ci/run`` prints the table at the end (``_build/ci/chapter_times.json``) together with whether the data
cache was cold when the run started; it reports, never asserts, times (they depend on the machine).
"""

import json
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
_TIMES: dict[str, float] = {}
_STATE: dict[str, object] = {}


def _cache_files() -> int:
    cache = Path(os.environ.get("HITSLITE_CACHE_DIR") or ROOT / "data" / "cache")
    return sum(1 for _ in cache.rglob("*.npz")) if cache.is_dir() else 0


def pytest_sessionstart(session):
    _STATE["cache_files_at_start"] = _cache_files()
    _STATE["started"] = time.time()


def pytest_runtest_logreport(report):
    if report.nodeid.split("::")[0].endswith(".ipynb") and report.when in ("setup", "call", "teardown"):
        chapter = Path(report.nodeid.split("::")[0]).stem
        _TIMES[chapter] = _TIMES.get(chapter, 0.0) + report.duration


def pytest_sessionfinish(session, exitstatus):
    if not _TIMES:
        return
    out = ROOT / "_build" / "ci" / "chapter_times.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    record = {"cache": "cold" if not _STATE.get("cache_files_at_start") else "warm",
              "seconds": {k: round(v, 1) for k, v in sorted(_TIMES.items())}}
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    os.replace(tmp, out)
