"""Weights for pip users (issue 15): a zoo entry downloaded into an empty zoo, verified against the
package's pin and every file's SHA-256; served here from a loopback HTTP server, never the internet."""

import functools
import hashlib
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

import hitslite
from hitslite import fetch, zoo
from hitslite.zoo import store

#: the smallest committed entry (64 kB): two ResNet levels on the harmonic oscillator
ENTRY = "harmonic_oscillator"
COMMITTED = Path(hitslite.__file__).resolve().parents[1] / "data" / "zoo" / ENTRY


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder and records every path asked for (``server.requests``)."""

    def do_GET(self):  # noqa: N802 - the name http.server calls
        self.server.requests.append(self.path)
        super().do_GET()

    def log_message(self, *args):  # quiet
        pass


@pytest.fixture
def server(tmp_path):
    """A copy of ``data/zoo/<ENTRY>`` on ``http://127.0.0.1:<free port>/zoo/<ENTRY>/...``."""
    root = tmp_path / "www"
    shutil.copytree(COMMITTED, root / "zoo" / ENTRY)
    handler = functools.partial(_Handler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.requests = []
    httpd.folder = root / "zoo" / ENTRY
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}/zoo"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(10)


@pytest.fixture
def user_zoo(tmp_path, monkeypatch, server):
    """What a pip user has: an empty zoo folder, with downloads pointed at the loopback server."""
    folder = tmp_path / "user" / "zoo"
    monkeypatch.setenv("HITSLITE_ZOO_DIR", str(folder))
    monkeypatch.setenv("HITSLITE_ZOO_URL", server.url)
    monkeypatch.delenv("HITSLITE_OFFLINE", raising=False)
    return folder


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.parent.iterdir()) if folder.parent.exists() else []


def _weights(module):
    return {k: v.clone() for k, v in module.state_dict().items()}


def test_committed_entry_is_pinned_and_the_smallest():
    assert ENTRY in zoo.pinned_entries()
    assert sum(p.stat().st_size for p in COMMITTED.iterdir()) < 100_000


def test_load_pretrained_downloads_a_missing_pinned_entry(server, user_zoo):
    module = zoo.load_pretrained(ENTRY)
    manifest = json.loads((COMMITTED / "manifest.json").read_text())
    names = sorted([*manifest["files"], "manifest.json"])
    assert sorted(p.name for p in (user_zoo / ENTRY).iterdir()) == names
    assert sorted(server.requests) == [f"/zoo/{ENTRY}/{f}" for f in names]
    committed = zoo.load_pretrained(ENTRY, directory=COMMITTED.parent)
    for (key, ours), theirs in zip(_weights(module).items(), committed.state_dict().values()):
        assert torch.equal(ours, theirs), key
    assert _leftovers(user_zoo / ENTRY) == [ENTRY]  # no staging folder left behind
    # present now: loading again asks the server nothing, and verifies against the pin as usual
    n = len(server.requests)
    zoo.load_pretrained(ENTRY)
    zoo.verify(ENTRY)
    assert len(server.requests) == n


def test_a_tampered_file_on_the_server_is_refused(server, user_zoo):
    weights = server.folder / "weights.pt"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(zoo.ZooError, match=r"weights\.pt does not match the SHA-256 its \(pinned\) manifest"):
        zoo.load_pretrained(ENTRY)
    assert not (user_zoo / ENTRY).exists() and _leftovers(user_zoo / ENTRY) == []  # nothing kept


def test_a_manifest_that_is_not_the_pinned_one_is_refused(server, user_zoo):
    path = server.folder / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["metrics"]["note"] = "edited on the server"  # consistent with the weights, not with the pin
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    with pytest.raises(zoo.ZooError, match=r"manifest at http://127\.0\.0\.1:\d+/zoo/harmonic_oscillator/"
                                           r"manifest\.json is not the one this package pins"):
        zoo.load_pretrained(ENTRY)
    assert server.requests == [f"/zoo/{ENTRY}/manifest.json"]  # no file was fetched on its word
    assert not (user_zoo / ENTRY).exists()


def test_a_pinned_manifest_naming_files_outside_the_entry_is_refused(server, user_zoo, monkeypatch):
    """Even a manifest that matches the pin is validated as every manifest is: file names stay plain."""
    path = server.folder / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["files"]["../../escape.pt"] = manifest["files"].pop("weights.pt")
    blob = (json.dumps(manifest, indent=2) + "\n").encode()
    path.write_bytes(blob)
    monkeypatch.setattr(store, "read_pins", lambda: {ENTRY: hashlib.sha256(blob).hexdigest()})
    with pytest.raises(zoo.ZooError, match="plain file name"):
        fetch.fetch_entry(ENTRY)
    assert server.requests == [f"/zoo/{ENTRY}/manifest.json"]
    assert not (user_zoo / ENTRY).exists() and not (user_zoo.parent / "escape.pt").exists()


def test_offline_refuses_to_download(server, user_zoo, monkeypatch):
    monkeypatch.setenv("HITSLITE_OFFLINE", "1")
    with pytest.raises(zoo.ZooError, match=rf"no pretrained weights for '{ENTRY}'.*HITSLITE_OFFLINE"):
        zoo.load_pretrained(ENTRY)
    assert server.requests == [] and not (user_zoo / ENTRY).exists()


def test_network_errors_name_the_url_and_the_way_out(server, user_zoo, monkeypatch):
    shutil.rmtree(server.folder)  # the server has no such entry: 404
    with pytest.raises(zoo.ZooError, match=rf"{server.url}/{ENTRY}/manifest\.json: HTTP 404.*"
                                           rf"HITSLITE_ZOO_URL.*python -m hitslite\.zoo train {ENTRY}"):
        zoo.load_pretrained(ENTRY)
    closed = f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()  # nothing listens there any more: connection refused
    with pytest.raises(zoo.ZooError, match=rf"could not download zoo entry '{ENTRY}': {closed}/x/{ENTRY}/"
                                           r"manifest\.json: .*refused.*HITSLITE_ZOO_URL"):
        fetch.fetch_entry(ENTRY, base_url=f"{closed}/x/")
    with pytest.raises(zoo.ZooError, match="must start with https://"):
        fetch.fetch_entry(ENTRY, base_url="ftp://example.org/zoo")
    assert not (user_zoo / ENTRY).exists()


def test_default_url_is_the_release_tag(monkeypatch):
    import hitslite

    monkeypatch.delenv("HITSLITE_ZOO_URL", raising=False)
    assert fetch.zoo_url() == (f"https://raw.githubusercontent.com/hitslite/hitslite/v{hitslite.__version__}"
                               "/data/zoo")
    monkeypatch.setenv("HITSLITE_ZOO_URL", "https://mirror.example/zoo")
    assert fetch.zoo_url() == "https://mirror.example/zoo"


def test_unpinned_or_unknown_entries_are_not_fetched(server, user_zoo, monkeypatch):
    monkeypatch.setattr(store, "read_pins", lambda: {})
    with pytest.raises(zoo.ZooError, match="not pinned by this package"):
        fetch.fetch_entry(ENTRY)
    with pytest.raises(zoo.ZooError, match="unknown zoo entry"):
        fetch.fetch_entry("no_such_entry")
    assert server.requests == []


def test_fetch_repairs_a_damaged_entry_and_downloads_only_what_is_needed(server, user_zoo):
    fetch.fetch_entry(ENTRY)
    (user_zoo / ENTRY / "weights.pt").write_bytes(b"truncated")
    with pytest.raises(zoo.ZooError, match="does not match its manifest"):  # present: never papered over
        zoo.load_pretrained(ENTRY)
    del server.requests[:]
    assert fetch.fetch_entry(ENTRY) == user_zoo / ENTRY
    assert server.requests == [f"/zoo/{ENTRY}/manifest.json", f"/zoo/{ENTRY}/weights.pt"]
    zoo.load_pretrained(ENTRY)
    del server.requests[:]
    fetch.fetch_entry(ENTRY)  # complete and verified: no request at all
    assert server.requests == []


def test_file_urls_and_other_directories(tmp_path, user_zoo, monkeypatch):
    """A checkout's ``data/zoo`` as ``file://`` URL, into a folder that is not the zoo."""
    monkeypatch.setenv("HITSLITE_ZOO_URL", COMMITTED.parent.as_uri())
    folder = fetch.fetch_entry(ENTRY, directory=tmp_path / "elsewhere")
    assert folder == tmp_path / "elsewhere" / ENTRY
    zoo.load_pretrained(ENTRY, directory=tmp_path / "elsewhere")
    assert not user_zoo.exists()


def test_cli_list_and_fetch(server, user_zoo, capsys):
    assert zoo.main(["list"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    for name in zoo.pinned_entries():  # every pinned entry can be fetched, and says how
        assert f" not downloaded (python -m hitslite.zoo fetch {name}) " in lines[name]
    assert zoo.main(["fetch", ENTRY]) == 0
    assert f"fetched {ENTRY}: {user_zoo / ENTRY}" in capsys.readouterr().out
    assert zoo.main(["list"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith(ENTRY + " "))
    assert "present" in line
    assert zoo.main(["fetch", "no_such_entry"]) == 1
    assert "error: unknown zoo entry" in capsys.readouterr().err


# ---- what the issue asks, literally: a fresh virtual environment, the package installed as a wheel ------
_SCRIPT = """
import os, sys, time
t0 = time.perf_counter()
import hitslite, hitslite.zoo as z
m = z.load_pretrained({entry!r})
print("FILE", hitslite.__file__)
print("ZOO", z.zoo_dir())
print("LEVELS", len(list(m)), "SECONDS", round(time.perf_counter() - t0, 1))
"""


def _package_sources(dst: Path) -> Path:
    """What ``pip install <checkout>`` builds from (pyproject, README, licences, the package), copied so the
    build writes its ``build/`` and ``*.egg-info`` into the copy, not into the checkout."""
    root = COMMITTED.parents[2]
    dst.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE", "LICENSE-TEXT"):
        if (root / name).exists():
            shutil.copy2(root / name, dst / name)
    shutil.copytree(root / "hitslite", dst / "hitslite", ignore=shutil.ignore_patterns("__pycache__"))
    return dst


@pytest.mark.slow
def test_pip_install_into_a_fresh_venv_then_load_pretrained(tmp_path, server):
    """``python -m venv`` outside the repository, ``pip install torch==2.13.0`` (this machine's local CPU
    wheel) then the package as a wheel (not editable), then ``load_pretrained`` in a fresh process whose
    working folder and HOME are temporary: the entry comes from the loopback server into
    ``~/.cache/hitslite/zoo``. Measured on the shared 2-core CI machine (local wheel and package index): 61 s
    in all, 58 s of it pip (torch, then the package and its dependencies), the fetch and load 2 s."""
    t0 = time.perf_counter()
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("HITSLITE_", "VIRTUAL_ENV", "PYTHON"))}
    env = {**clean, "HOME": str(tmp_path / "home"), "OMP_NUM_THREADS": "1", "HITSLITE_ZOO_URL": server.url}
    pip = [str(python), "-m", "pip", "install", "--progress-bar", "off", "--quiet"]
    for what in ("torch==2.13.0", str(_package_sources(tmp_path / "src"))):
        done = subprocess.run([*pip, what], env=env, cwd=tmp_path, capture_output=True, text=True,
                              timeout=900)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    installed = time.perf_counter() - t0
    (tmp_path / "run.py").write_text(_SCRIPT.format(entry=ENTRY))
    done = subprocess.run([str(python), "run.py"], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines() if " " in line)
    assert Path(lines["FILE"]).resolve().is_relative_to(venv.resolve())  # the wheel, not the checkout
    assert Path(lines["ZOO"]) == tmp_path / "home" / ".cache" / "hitslite" / "zoo"
    assert (tmp_path / "home" / ".cache" / "hitslite" / "zoo" / ENTRY / "weights.pt").exists()
    assert f"/zoo/{ENTRY}/weights.pt" in server.requests
    print(f"fresh venv: install {installed:.0f} s, load {time.perf_counter() - t0 - installed:.0f} s")
