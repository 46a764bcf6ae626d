"""hitslite.io: atomic writes, pickle-free checkpoints, fingerprints, resume_or_fit."""

import os
import pathlib
import re

import pytest
import torch

from hitslite import io


def test_atomic_write_replaces_whole_files_and_leaves_nothing_on_failure(tmp_path):
    path = tmp_path / "sub" / "file.bin"
    io.atomic_write(path, lambda f: f.write(b"first"))
    assert path.read_bytes() == b"first"

    def dies_halfway(f):
        f.write(b"half of the new conte")
        raise KeyboardInterrupt  # a kill between write and rename

    with pytest.raises(KeyboardInterrupt):
        io.atomic_write(path, dies_halfway)
    assert path.read_bytes() == b"first"  # the old content, whole
    assert sorted(p.name for p in path.parent.iterdir()) == ["file.bin"]  # no temporary file left behind
    io.atomic_write(path, lambda f: f.write(b"second"))
    assert path.read_bytes() == b"second"


def test_atomic_write_uses_a_temporary_name_unique_per_process(tmp_path, monkeypatch):
    seen = []
    real_replace = os.replace

    def spy(src, dst):
        seen.append(pathlib.Path(src).name)
        real_replace(src, dst)

    monkeypatch.setattr(io.os, "replace", spy)
    for _ in range(2):
        io.atomic_write(tmp_path / "x", lambda f: f.write(b"."))
    assert len(set(seen)) == 2 and all(re.fullmatch(rf"\.x\.{os.getpid()}\.[0-9a-f]+\.tmp", s) for s in seen)


def _optimizer_state():
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    net(torch.randn(4, 3)).sum().backward()
    opt.step()
    return net, opt


def test_checkpoint_round_trip_is_readable_with_weights_only(tmp_path):
    net, opt = _optimizer_state()
    gen = torch.Generator().manual_seed(5)
    path = tmp_path / "ck.pt"
    meta = {"epoch": 3, "history": [1.0, 0.5, float("inf")], "note": "x"}
    state = {"model": net.state_dict(), "optimizer": opt.state_dict(), "gen": gen.get_state()}
    io.save_checkpoint(path, state, meta, fingerprint={"data": "abc"})
    torch.load(path, weights_only=True)  # nothing in it needs pickle's arbitrary objects
    tensors, back = io.load_checkpoint(path, fingerprint={"data": "abc"})
    assert back == meta
    assert all(torch.equal(a, b) for a, b in zip(tensors["model"].values(), net.state_dict().values()))
    opt2 = torch.optim.Adam(net.parameters(), lr=1e-3)
    opt2.load_state_dict(tensors["optimizer"])  # optimizer state dicts qualify
    assert torch.equal(tensors["gen"], gen.get_state())


def test_checkpoint_refuses_objects_and_non_json_meta(tmp_path):
    class Result:
        pass

    with pytest.raises(TypeError, match=r"tensors\['result'\] is a Result"):
        io.save_checkpoint(tmp_path / "a.pt", {"result": Result()}, {})
    with pytest.raises(TypeError, match="meta must be JSON-able"):
        io.save_checkpoint(tmp_path / "a.pt", {}, {"t": torch.zeros(2)})
    assert not (tmp_path / "a.pt").exists()


class OldResult:
    """Stands for the FitResult objects that checkpoints used to pickle."""


def test_torn_and_foreign_checkpoints_name_the_file_and_say_to_delete_it(tmp_path):
    path = tmp_path / "torn.pt"
    io.save_checkpoint(path, {"w": torch.randn(100)}, {"epoch": 1})
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])  # a kill halfway through a plain write
    with pytest.raises(io.CheckpointError, match=rf"{re.escape(str(path))}.*delete it"):
        io.load_checkpoint(path)

    old = tmp_path / "old.pt"  # the old format: a pickled Python object, which weights_only refuses to build
    torch.save({"model": {}, "result": OldResult()}, old)
    with pytest.raises(ValueError, match="delete it"):
        io.load_checkpoint(old)
    plain = tmp_path / "plain.pt"
    torch.save({"model": {}}, plain)  # loads with weights_only, but is no hitslite checkpoint
    with pytest.raises(io.CheckpointError, match="not a hitslite checkpoint"):
        io.load_checkpoint(plain)


def test_checkpoint_of_a_different_run_is_refused_and_says_what_differs(tmp_path):
    path = tmp_path / "run.pt"
    io.save_checkpoint(path, {}, {}, fingerprint={"data": "a", "hyperparameters": "b"})
    message = rf"{re.escape(str(path))} belongs to a different run.*'hyperparameters'.*delete it"
    with pytest.raises(ValueError, match=message):
        io.load_checkpoint(path, fingerprint={"data": "a", "hyperparameters": "c"})
    io.load_checkpoint(path)  # without a fingerprint to compare: loads


def test_fingerprint_is_canonical_and_follows_content():
    x = torch.linspace(0, 1, 50, dtype=torch.float64)
    a = io.fingerprint({"lr": 1e-3, "data": x, "layers": [3, 4]})
    assert a == io.fingerprint({"layers": [3, 4], "data": x.float(), "lr": 1e-3})  # dict order, float32 copy
    y = x.clone()
    y[17] += 1e-6
    assert a != io.fingerprint({"lr": 1e-3, "data": y, "layers": [3, 4]})
    assert a != io.fingerprint({"lr": 2e-3, "data": x, "layers": [3, 4]})
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(2)
    assert io.fingerprint(g1) != io.fingerprint(g2)
    with pytest.raises(TypeError, match=r"obj\['loss'\] is a function"):
        io.fingerprint({"loss": lambda m, b: 0})


def test_fingerprint_of_very_large_tensors_is_a_summary(monkeypatch):
    monkeypatch.setattr(io, "FINGERPRINT_FULL_ELEMENTS", 100)
    x = torch.randn(1000, generator=torch.Generator().manual_seed(0))
    assert io.fingerprint(x) == io.fingerprint(x.clone())
    shifted = x.clone()
    shifted += 1e-3
    assert io.fingerprint(x) != io.fingerprint(shifted)
    assert io.fingerprint(x) != io.fingerprint(x.reshape(10, 100))  # the shape belongs to the data


def test_resume_or_fit_trains_once_and_refuses_a_different_run(tmp_path):
    done = tmp_path / "m.done.pt"
    calls = []

    def make():
        torch.manual_seed(0)
        return torch.nn.Linear(2, 2)

    def train(module):
        def fit():
            calls.append(1)
            with torch.no_grad():
                module.weight.add_(1.0)
            return {"loss": 0.5, "epochs": 3}
        return fit

    first = make()
    metrics = {"loss": 0.5, "epochs": 3}
    assert io.resume_or_fit(done, first, train(first), fingerprint={"data": "d1"}) == metrics
    again = make()
    assert io.resume_or_fit(done, again, train(again), fingerprint={"data": "d1"}) == metrics
    assert len(calls) == 1 and torch.equal(again.weight, first.weight)
    with pytest.raises(ValueError, match=r"different run.*'data'"):
        io.resume_or_fit(done, make(), train(make()), fingerprint={"data": "d2"})
    torch.manual_seed(1)
    other_init = torch.nn.Linear(2, 2)
    with pytest.raises(ValueError, match=r"different run.*'initial_module'"):
        io.resume_or_fit(done, other_init, train(other_init), fingerprint={"data": "d1"})


def test_the_library_never_unpickles():
    root = pathlib.Path(io.__file__).parent
    offenders = [str(p) for p in root.rglob("*.py") if "weights_only=False" in p.read_text()]
    assert not offenders, offenders
