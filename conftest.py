"""Repository-wide pytest hooks: record how long each chapter (an nbmake item) takes; bound the kernel
client's polls.

``.ci/run`` prints the table at the end (``_build/ci/chapter_times.json``) together with whether the data
cache was cold when the run started; it reports, never asserts, times (they depend on the machine).

Chapters sometimes stalled for exactly one cell timeout (300 s) after a cell, with no error, and then went on.
The cause is in the client, not the kernel: nbclient waits for a cell's reply with one long
``socket.poll(timeout)`` of pyzmq's asyncio socket, whose wake-up comes from an edge-triggered file
descriptor; when that edge is consumed elsewhere the poll only wakes at its timeout, finds the reply with a
final zero-timeout check and returns it, one timeout late. :func:`bound_kernel_polls` makes every client poll
longer than :data:`POLL_SLICE_S` a loop of short polls (each ends with that final check), so a missed wake-up
costs at most one slice; a message that arrives in time is received exactly as before.
"""

import json
import os
import time
from pathlib import Path

#: the longest single poll of a kernel client's socket, in seconds (see the module docstring)
POLL_SLICE_S = 1.0


def sliced(get_msg, slice_s: float = POLL_SLICE_S):
    """``get_msg(channel, timeout)`` as a loop of polls of at most ``slice_s`` seconds, same contract:
    the first message, or ``queue.Empty`` once ``timeout`` (None: never) has passed."""
    from queue import Empty

    async def bounded(self, timeout=None):
        if timeout is not None and timeout <= slice_s:
            return await get_msg(self, timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = slice_s if deadline is None else min(slice_s, deadline - time.monotonic())
            try:
                return await get_msg(self, max(left, 0.0))
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise

    bounded._bounded = True
    bounded.__doc__ = get_msg.__doc__
    return bounded


def bound_kernel_polls() -> None:
    """Patch ``jupyter_client``'s asyncio channel so no single poll waits longer than ``POLL_SLICE_S``."""
    try:
        from jupyter_client.channels import AsyncZMQSocketChannel
    except ImportError:  # jupyter_client not installed: nothing runs notebooks here
        return
    if not getattr(AsyncZMQSocketChannel.get_msg, "_bounded", False):
        AsyncZMQSocketChannel.get_msg = sliced(AsyncZMQSocketChannel.get_msg)


bound_kernel_polls()

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
