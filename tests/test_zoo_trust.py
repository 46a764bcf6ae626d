"""The zoo's trust model (issue 19): manifests validated when read, file names confined to their entry,
manifests pinned by the package, a CLI that fails loudly, and retraining that does not depend on luck."""

import copy
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import hitslite as h
from hitslite import zoo
from hitslite.zoo import store

NAME = "tiny_trust_entry"
SHA = "0" * 64


@pytest.fixture(scope="module")
def trained_entry(tmp_path_factory):
    """A two-level entry, trained once into a folder of its own (not the committed zoo)."""
    zoo.hits_levels_entry(
        NAME, "two tiny oscillator networks (tests only)", system="harmonic_oscillator", state_dim=2,
        data={"n_trajectories": {"train": 20, "val": 10, "test": 10}, "n_steps": 64, "dt": 0.008, "seed": 3},
        levels=[2, 3], hidden=[8], train={"n_forward": 1, "starts": 4, "lr": 1e-3, "batch_size": 32,
                                           "max_epochs": 2, "patience": 5, "target_loss": 1e-9},
        seed=0)
    root = tmp_path_factory.mktemp("trust")
    with pytest.MonkeyPatch.context() as mp:  # the function-scoped cache isolation is not active here yet
        mp.setenv("HITSLITE_CACHE_DIR", str(root / "cache"))
        zoo.train_entry(NAME, directory=root / "zoo", progress=False)
    yield root / "zoo" / NAME
    del zoo.ENTRIES[NAME]


@pytest.fixture
def private_zoo(tmp_path, monkeypatch):
    """An empty committed zoo of our own: HITSLITE_ZOO_DIR and the pins file both point into tmp_path,
    so nothing here touches data/zoo or hitslite/zoo_pins.json."""
    folder = tmp_path / "zoo"
    folder.mkdir()
    monkeypatch.setenv("HITSLITE_ZOO_DIR", str(folder))
    monkeypatch.setattr(store, "PINS_FILE", tmp_path / "zoo_pins.json")
    return folder


def _copy(entry_folder, directory):
    shutil.copytree(entry_folder, directory / NAME)
    return directory / NAME / "manifest.json"


def _edit(path, change):
    manifest = json.loads(path.read_text())
    manifest = change(manifest) or manifest
    path.write_text(json.dumps(manifest, indent=2) + "\n")


# ---- the pins shipped with the package ----------------------------------------------------------------
def test_every_committed_entry_is_pinned_by_the_package():
    committed = sorted(p.parent.name for p in zoo.zoo_dir().glob("*/manifest.json"))
    assert len(committed) >= 20 and zoo.pinned_entries() == committed
    pins = json.loads(store.PINS_FILE.read_text())["manifest_sha256"]
    for name in committed:
        digest = hashlib.sha256((zoo.zoo_dir() / name / "manifest.json").read_bytes()).hexdigest()
        assert pins[name] == digest, name


def test_the_pins_ship_as_package_data():
    text = (Path(h.__file__).parents[1] / "pyproject.toml").read_text()  # (tomllib is Python >= 3.11 only)
    section = text.split("[tool.setuptools.package-data]", 1)[1].split("\n[", 1)[0]
    line = next(x for x in section.splitlines() if x.startswith("hitslite = ["))
    shipped = [name.strip().strip('"') for name in line.split("[", 1)[1].rstrip("]").split(",")]
    assert store.PINS_FILE.name in shipped
    assert store.PINS_FILE.parent.resolve() == Path(h.__file__).parent.resolve()
    # the canonical anchors (hitslite/canonical.py) ship too: without them KS data differ between machines
    assert {"canonical/*.npz", "canonical/manifest.json"} <= set(shipped)


# ---- manifest structure --------------------------------------------------------------------------------
def _del(key):
    return lambda m: m.pop(key) and None


def _set(key, value):
    return lambda m: m.__setitem__(key, value)


def _files(files):
    return lambda m: m.__setitem__("files", files)


MALFORMED = {
    "no files": (_del("files"), "lacks the key 'files'"),
    "no config": (_del("config"), "lacks the key 'config'"),
    "config a string": (_set("config", "x"), "key 'config' must be a dict"),
    "files a list": (_set("files", ["weights.pt"]), "key 'files' must be a dict"),
    "metrics null": (_set("metrics", None), "key 'metrics' must be a dict"),
    "seconds a bool": (_set("training_seconds", True), "key 'training_seconds' must be a int or float"),
    "another entry": (_set("entry", "lorenz"), "key 'entry' says 'lorenz'"),
    "files empty": (_files({}), "'files' is empty"),
    "short digest": (_files({"weights.pt": "abc"}), r"files\['weights.pt'\] must be a SHA-256"),
    "digest a number": (_files({"weights.pt": 5}), r"files\['weights.pt'\] must be a SHA-256"),
    "parent folder": (_files({"../weights.pt": SHA}), "plain file name"),
    "dot dot": (_files({"..": SHA}), "plain file name"),
    "absolute path": (_files({"/etc/passwd": SHA}), "plain file name"),
    "sub folder": (_files({"sub/weights.pt": SHA}), "plain file name"),
    "backslash": (_files({"..\\weights.pt": SHA}), "plain file name"),
    "hidden file": (_files({".weights.pt": SHA}), "plain file name"),
    "not an object": (lambda m: [m], "must be a JSON object"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_manifest_is_a_zoo_error_naming_the_entry_and_the_key(trained_entry, tmp_path, case):
    change, message = MALFORMED[case]
    path = _copy(trained_entry, tmp_path)
    zoo.verify(NAME, tmp_path)  # the copy verifies before the edit
    _edit(path, change)
    for call in (zoo.read_manifest, zoo.verify, lambda n, d: zoo.load_pretrained(n, directory=d)):
        with pytest.raises(zoo.ZooError, match=rf"'{NAME}'.*{message}"):
            call(NAME, tmp_path)


def test_entry_names_cannot_leave_the_zoo(tmp_path):
    for name in ("../escape", "/abs", "a/b", ".."):
        with pytest.raises(zoo.ZooError, match="plain file name"):
            zoo.read_manifest(name, tmp_path)


def test_verify_cli_reports_a_malformed_manifest_and_exits_nonzero(trained_entry, private_zoo, capsys):
    _edit(_copy(trained_entry, private_zoo), _files({"../../etc/passwd": SHA}))
    assert zoo.main(["verify", NAME]) == 1
    out = capsys.readouterr().out
    assert f"FAILED  {NAME}" in out and "plain file name" in out and "verified 0 of 1" in out
    assert zoo.main(["select", NAME]) == 1  # every subcommand: a message, not a traceback
    assert "error:" in capsys.readouterr().err


def test_verify_cli_exits_nonzero_when_it_verified_nothing(private_zoo, capsys):
    assert zoo.main(["verify"]) == 1  # an empty zoo, no pins
    assert "nothing to verify" in capsys.readouterr().out
    assert zoo.main(["verify", "lorenz"]) == 1  # the entry is missing
    assert "FAILED  lorenz" in capsys.readouterr().out


def test_verify_cli_in_a_process_fails_for_a_zoo_without_the_committed_entries(tmp_path):
    """``python -m hitslite.zoo verify`` against an empty folder: every pinned entry is missing -> exit 1."""
    env = {**os.environ, "HITSLITE_ZOO_DIR": str(tmp_path), "HITSLITE_CACHE_DIR": str(tmp_path / "cache"),
           "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "hitslite.zoo", "verify"], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAILED  lorenz" in done.stdout and f"verified 0 of {len(zoo.pinned_entries())}" in done.stdout
    assert "Traceback" not in done.stderr


def test_verify_cli_passes_on_a_good_entry(trained_entry, private_zoo, capsys):
    _copy(trained_entry, private_zoo)
    assert zoo.main(["verify"]) == 0
    assert f"ok      {NAME}" in capsys.readouterr().out


# ---- pins ----------------------------------------------------------------------------------------------
def test_writing_into_the_committed_zoo_pins_the_manifest(trained_entry, private_zoo):
    _copy(trained_entry, private_zoo)
    assert zoo.pinned_entries() == []
    zoo.rewrite_weights(NAME)  # writes the manifest into the committed zoo: pinned
    manifest_sha = hashlib.sha256((private_zoo / NAME / "manifest.json").read_bytes()).hexdigest()
    assert json.loads(store.PINS_FILE.read_text())["manifest_sha256"] == {NAME: manifest_sha}
    zoo.select_entry_levels(NAME)  # rewrites selection.json and the manifest: the pin follows
    zoo.verify(NAME)


def test_weights_and_manifest_edited_together_are_caught_by_the_pin(trained_entry, private_zoo, tmp_path):
    path = _copy(trained_entry, private_zoo)
    assert zoo.main(["pin"]) == 0 and zoo.pinned_entries() == [NAME]
    zoo.verify(NAME)
    # new weights, and a manifest updated to match them: consistent with each other, not with the package
    state = torch.load(private_zoo / NAME / "weights.pt", weights_only=True)
    state = {k: v + 0.5 if v.is_floating_point() else v for k, v in state.items()}
    torch.save(state, private_zoo / NAME / "weights.pt")
    digest = hashlib.sha256((private_zoo / NAME / "weights.pt").read_bytes()).hexdigest()
    _edit(path, lambda m: m["files"].__setitem__("weights.pt", digest))
    with pytest.raises(zoo.ZooError, match=rf"'{NAME}'.*does not match the SHA-256 pinned.*hitslite.zoo pin"):
        zoo.load_pretrained(NAME)
    # the same folder elsewhere (a retrained_dir(), say) has no pin: its manifest is all there is to check
    shutil.copytree(private_zoo / NAME, tmp_path / "elsewhere" / NAME)
    zoo.load_pretrained(NAME, directory=tmp_path / "elsewhere")
    # a deliberate change: pin it, and it verifies again
    assert zoo.main(["pin", NAME]) == 0
    zoo.verify(NAME)


def test_pin_refuses_an_entry_whose_files_do_not_match(trained_entry, private_zoo, capsys):
    _copy(trained_entry, private_zoo)
    assert zoo.main(["pin"]) == 0
    before = store.PINS_FILE.read_bytes()
    weights = private_zoo / NAME / "weights.pt"
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF
    weights.write_bytes(bytes(data))
    assert zoo.main(["pin"]) == 1
    assert "SHA-256" in capsys.readouterr().err and store.PINS_FILE.read_bytes() == before


# ---- determinism: an interrupted retraining equals an uninterrupted one --------------------------------
def _tiny_led_config():
    from hitslite.zoo.led import LED_FHN_CONFIG

    cfg = copy.deepcopy(LED_FHN_CONFIG)
    cfg["data"] = {"n_steps": 40}
    cfg["train_seeds"] = [0, 1]
    cfg["warm_up"] = 10
    cfg["variants"] = [{"latent_dim": 2, "variational": False}, {"latent_dim": 2, "variational": True}]
    cfg["autoencoder"]["loss"]["noise"] = 0.05  # exercise the input-noise draws as well as the VAE samples
    cfg["autoencoder"]["train"].update(max_epochs=6)
    cfg["rnn"].update(propagation_length=20, bptt_length=10, burn_in=2, window_starts=3)
    cfg["rnn"]["train"].update(max_epochs=6)
    return cfg


def test_tiny_led_family_trained_with_interruptions_equals_one_trained_without(tmp_path, monkeypatch,
                                                                               one_thread):
    """Every draw (shuffles, autoencoder noise, VAE samples, window starts, cell input noise) comes from a
    seeded generator that checkpoints carry, so killing and resuming a retraining changes nothing."""
    import functools

    from hitslite import train
    from hitslite.zoo.led import train_led_family

    cfg = _tiny_led_config()
    monkeypatch.setattr(train, "fit", functools.partial(train.fit, checkpoint_every=2))
    original_stop = train.epoch_stop_reason
    crash = {"at": None, "calls": 0}

    def stop_reason(*args):  # called once per epoch of every fit
        crash["calls"] += 1
        if crash["calls"] == crash["at"]:
            raise KeyboardInterrupt
        return original_stop(*args)

    monkeypatch.setattr(train, "epoch_stop_reason", stop_reason)
    reference, ref_metrics = train_led_family(cfg, workdir=tmp_path / "a", device="cpu", progress=False)

    # 6 epochs per fit, checkpoints every 2: die in epoch 3 of ae2's LSTM, then, resumed, in epoch 3 of the
    # VAE's autoencoder (ae2's LSTM runs epochs 3-6 first), then finish
    for at in (6 + 3, 4 + 3, None):
        crash.update(at=at, calls=0)
        if at is None:
            family, metrics = train_led_family(cfg, workdir=tmp_path / "b", device="cpu", progress=False)
        else:
            with pytest.raises(KeyboardInterrupt):
                train_led_family(cfg, workdir=tmp_path / "b", device="cpu", progress=False)
    assert (tmp_path / "b" / "ae2.done.pt").exists() and (tmp_path / "b" / "vae2.done.pt").exists()
    ref_state, state = reference.state_dict(), family.state_dict()
    assert list(ref_state) == list(state)
    for key in ref_state:
        assert torch.equal(ref_state[key], state[key]), key
    for name in ("ae2", "vae2"):
        assert metrics["variants"][name]["validation"] == ref_metrics["variants"][name]["validation"]
        ours, theirs = metrics["variants"][name], ref_metrics["variants"][name]
        assert ours["rnn"]["best_loss"] == theirs["rnn"]["best_loss"]
