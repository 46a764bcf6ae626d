"""The repository's bound on kernel-client polls (``conftest.sliced``, ``conftest.bound_kernel_polls``)."""
import asyncio
import importlib.util
import time
from pathlib import Path
from queue import Empty

import pytest

# the repository's root conftest.py, by path (``import conftest`` would find tests/conftest.py)
_ROOT_CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"
_spec = importlib.util.spec_from_file_location("repo_conftest", _ROOT_CONFTEST)
conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(conftest)


class MissedWakeup:
    """A channel whose poll behaves like pyzmq's after a missed edge: it sleeps its whole timeout and only
    then looks for a message (which arrives ``ready_after`` seconds after the channel is made)."""

    def __init__(self, ready_after):
        self.ready_at = time.monotonic() + ready_after

    async def get_msg(self, timeout=None):
        await asyncio.sleep(timeout if timeout is not None else 3600)
        if time.monotonic() >= self.ready_at:
            return {"msg": "reply"}
        raise Empty


def _run(channel, get_msg, timeout):
    start = time.monotonic()
    try:
        out = asyncio.run(get_msg(channel, timeout))
    except Empty:
        out = None
    return out, time.monotonic() - start


def test_a_missed_wakeup_costs_one_slice_not_the_whole_timeout():
    bounded = conftest.sliced(MissedWakeup.get_msg, slice_s=0.2)
    out, seconds = _run(MissedWakeup(0.3), bounded, timeout=5.0)
    assert out == {"msg": "reply"} and seconds < 1.0
    out, seconds = _run(MissedWakeup(0.3), MissedWakeup.get_msg, timeout=1.5)  # unbounded: the full wait
    assert out == {"msg": "reply"} and seconds >= 1.5


def test_the_contract_is_kept_timeouts_and_none():
    bounded = conftest.sliced(MissedWakeup.get_msg, slice_s=0.2)
    out, seconds = _run(MissedWakeup(10.0), bounded, timeout=0.7)  # nothing comes: Empty after the timeout
    assert out is None and 0.6 <= seconds < 1.2
    out, seconds = _run(MissedWakeup(0.5), bounded, timeout=None)  # None: wait until a message comes
    assert out == {"msg": "reply"} and seconds < 1.2
    out, _ = _run(MissedWakeup(0.0), bounded, timeout=0.1)  # short polls go straight through
    assert out == {"msg": "reply"}


def test_the_patch_is_installed_once_and_notebooks_still_run(tmp_path):
    channels = pytest.importorskip("jupyter_client.channels")
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    conftest.bound_kernel_polls()
    patched = channels.AsyncZMQSocketChannel.get_msg
    assert getattr(patched, "_bounded", False)
    conftest.bound_kernel_polls()
    assert channels.AsyncZMQSocketChannel.get_msg is patched  # idempotent: never wrapped twice
    first = nbformat.v4.new_code_cell("import time; time.sleep(1.5); print(6 * 7)")  # longer than a slice
    nb = nbformat.v4.new_notebook(cells=[first, nbformat.v4.new_code_cell("print('next')")])
    nbclient.NotebookClient(nb, timeout=60, kernel_name="python3").execute()
    assert nb.cells[0].outputs[0]["text"].strip() == "42" and nb.cells[1].outputs[0]["text"].strip() == "next"
