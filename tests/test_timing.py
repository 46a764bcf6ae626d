"""hitslite.timing: best-of-N wall times, device synchronisation."""

import pytest
import torch

from hitslite import timing


class FakeClock:
    """``time.perf_counter`` stand-in: every run of the timed function lasts the next of ``durations``."""

    def __init__(self, durations):
        self.now, self.durations, self.calls = 0.0, list(durations), 0

    def perf_counter(self):
        return self.now

    def run(self):
        self.now += self.durations[self.calls]
        self.calls += 1
        return self.calls


def test_best_time_is_the_minimum_over_repeats_and_calls_fn_repeats_times(monkeypatch):
    clock = FakeClock([0.5, 0.2, 0.9, 0.3])
    monkeypatch.setattr(timing.time, "perf_counter", clock.perf_counter)
    assert timing.best_time(clock.run, 4) == pytest.approx(0.2)
    assert clock.calls == 4


def test_timed_returns_the_last_output_and_the_best_time(monkeypatch):
    clock = FakeClock([0.4, 0.1, 0.3])
    monkeypatch.setattr(timing.time, "perf_counter", clock.perf_counter)
    out, seconds = timing.timed(clock.run, 3)
    assert out == 3 and seconds == pytest.approx(0.1) and clock.calls == 3


def test_real_times_are_positive_and_the_default_repeats_are_three():
    calls = []
    seconds = timing.best_time(lambda: calls.append(torch.ones(8).sum()))
    assert len(calls) == 3 and 0 < seconds < 60


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "3", None])
def test_bad_repeats_are_rejected(bad):
    with pytest.raises(ValueError, match="repeats must be a positive int"):
        timing.best_time(lambda: None, bad)
    with pytest.raises(ValueError, match="repeats must be a positive int"):
        timing.timed(lambda: None, bad)


def test_fn_must_be_callable():
    with pytest.raises(TypeError, match="fn must be callable"):
        timing.best_time(42, 2)


def test_synchronize_only_touches_cuda_devices(monkeypatch):
    synced = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: synced.append(device))
    timing.synchronize(None)
    timing.synchronize("cpu")
    timing.synchronize(torch.zeros(2))
    assert synced == []
    timing.synchronize("cuda:0")  # (the fake does not need a GPU)
    assert synced == [torch.device("cuda:0")]


def test_best_time_synchronises_before_and_after_every_run(monkeypatch):
    events = []
    monkeypatch.setattr(timing, "synchronize", lambda device: events.append(("sync", device)))
    timing.best_time(lambda: events.append("run"), 2, device="cuda")
    assert events == [("sync", "cuda"), "run", ("sync", "cuda")] * 2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_cuda_the_time_covers_the_work():
    x = torch.randn(2048, 2048, device="cuda")
    launch_only = timing.best_time(lambda: x @ x, 3)  # no device: the clock sees only the launch
    with_sync = timing.best_time(lambda: [x @ x for _ in range(20)], 3, device=x.device)
    assert with_sync > launch_only
