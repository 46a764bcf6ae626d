"""The chapters' setup cell (``book/_setup_cell.py``) in a simulated Colab, and outside Colab.

The Colab simulation (``slow``): a fresh virtual environment *without* system site packages (the
repository's ``.venv`` has hitslite installed editable from this checkout, which would hide every mistake)
holding what Colab has before the cell runs, torch and an ipywidgets 7 (installed without its
dependencies: the test only needs pip to see it); a stub ``google.colab`` package on ``PYTHONPATH`` whose
``output.enable_custom_widget_manager`` writes a file; a bare clone of this repository with the pinned tag
created in it, named by ``HITSLITE_REPOSITORY``; an empty working directory (no ``data/``, no
``hitslite/``). Then, as a student would: run the cell, run it again in the same kernel (it must skip the
fetch and the install), and run it in a new interpreter ("Restart session"), which must import the package
from its installed, real module file (not a namespace package from the working directory), keep torch and
ipywidgets at their versions, and find the pretrained weights in the clone.

Measured on the 2-core CI machine: about 3 minutes, most of it pip (torch from its local wheel, then the
cell installing numpy, scipy, matplotlib and tqdm, which the simulated Colab lacks). The other tests take a
second.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CELL = ROOT / "book" / "_setup_cell.py"
TAG = "v0.1.0"  # the ref the cell pins (its HITSLITE_REF); created in the test's bare clone
TORCH = os.environ.get("HITSLITE_TORCH", "torch==2.13.0")
COLAB_IPYWIDGETS = "7.7.1"  # what Colab ships

FAKE_OUTPUT = '''
import os
from pathlib import Path


def enable_custom_widget_manager():
    with open(os.environ["FAKE_COLAB_LOG"], "a") as f:
        f.write("enable_custom_widget_manager\\n")
'''

# what a notebook cell runs: the setup cell (as Colab's kernel: google.colab already imported), optionally
# twice, then the import the chapter makes; prints one JSON line the test reads
DRIVER = '''
import importlib.metadata as md
import json
import sys

import google.colab  # Colab's kernel imports it at start-up

cell = open(sys.argv[1]).read()
for _ in range(int(sys.argv[2])):
    exec(compile(cell, "setup cell", "exec"), {"__name__": "__main__"})
import hitslite
from hitslite import zoo

print("RESULT " + json.dumps({
    "file": hitslite.__file__, "path": list(getattr(hitslite, "__path__", [])),
    "version": hitslite.__version__, "zoo": str(zoo.zoo_dir()),
    "torch": md.version("torch"), "ipywidgets": md.version("ipywidgets"),
}))
'''


def _run(cmd, **kw):
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    assert done.returncode == 0, f"{cmd} failed:\n{done.stdout}\n{done.stderr}"
    return done


def _result(stdout: str) -> dict:
    line = next(x for x in stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


def test_cell_pins_a_release_and_never_clones_into_the_package_name():
    text = CELL.read_text()
    assert f'HITSLITE_REF = "{TAG}"' in text
    assert '"./hitslite"' not in text and '"hitslite"]' not in text
    assert "--no-deps" in text and "enable_custom_widget_manager" in text
    compile(text, str(CELL), "exec")


def test_outside_colab_the_cell_does_nothing(tmp_path):
    """Plain Jupyter (or any host without google.colab): no git, no pip, no output, and the import is the
    one the environment already has."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HITSLITE_")}
    env["PATH"] = str(tmp_path)  # no git, no pip on PATH: any call to them would fail
    code = f"exec(open({str(CELL)!r}).read()); import hitslite; print('ok', HITSLITE_REF)"
    done = _run([sys.executable, "-c", code], cwd=tmp_path, env=env)
    assert done.stdout.strip() == f"ok {TAG}"
    assert not list(tmp_path.iterdir())


@pytest.fixture(scope="module")
def colab(tmp_path_factory):
    """A Colab-like machine: (python of a clean venv, environment for the cell, working directory)."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    base = tmp_path_factory.mktemp("colab")
    repo = base / "repo.git"
    _run(["git", "clone", "-q", "--bare", ROOT, repo])
    _run(["git", "-C", repo, "tag", "-f", TAG, "HEAD"])

    fake = base / "fake"
    (fake / "google" / "colab").mkdir(parents=True)
    (fake / "google" / "__init__.py").write_text("")
    (fake / "google" / "colab" / "__init__.py").write_text("")
    (fake / "google" / "colab" / "output.py").write_text(FAKE_OUTPUT)

    venv = base / "venv"
    _run([sys.executable, "-m", "venv", venv])
    python = venv / "bin" / "python"
    pip = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    _run([*pip, TORCH])
    _run([*pip, "--no-deps", f"ipywidgets=={COLAB_IPYWIDGETS}"])

    workdir = base / "content"
    workdir.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HITSLITE_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(
        PYTHONPATH=str(fake),
        HITSLITE_REPOSITORY=str(repo),
        HITSLITE_SRC=str(base / "hitslite-src"),
        HITSLITE_OFFLINE="1",  # the weights must come from the clone, not from a download
        FAKE_COLAB_LOG=str(base / "colab.log"),
        PATH=f"{venv / 'bin'}:{env.get('PATH', '')}",
        OMP_NUM_THREADS="1",
    )
    (base / "driver.py").write_text(textwrap.dedent(DRIVER))
    return python, env, workdir, base


@pytest.mark.slow
def test_setup_cell_in_a_simulated_colab(colab):
    python, env, workdir, base = colab
    before = _run([python, "-c", "import importlib.metadata as m; print(m.version('torch'), "
                   "m.version('ipywidgets'))"], env=env).stdout.split()
    assert _run([python, "-c", "import importlib.util as u; print(u.find_spec('hitslite'))"],
                env=env, cwd=workdir).stdout.strip() == "None"

    # the cell, then the same cell again in the same kernel
    first = _run([python, base / "driver.py", CELL, "2"], env=env, cwd=workdir)
    assert first.stdout.count("hitslite: fetching") == 1, first.stdout
    assert first.stdout.count("hitslite: installing") == 1, first.stdout
    src = base / "hitslite-src"
    assert (src / "hitslite" / "__init__.py").is_file() and not (workdir / "hitslite").exists()
    assert _result(first.stdout)["file"] == str(src / "hitslite" / "__init__.py")

    # "Restart session": a new interpreter runs the cell once more
    again = _run([python, base / "driver.py", CELL, "1"], env=env, cwd=workdir)
    assert "hitslite: fetching" not in again.stdout and "hitslite: installing" not in again.stdout
    result = _result(again.stdout)
    assert result["file"] == str(src / "hitslite" / "__init__.py")  # a real module, not a namespace
    assert Path(result["file"]).is_file() and result["path"] == [str(src / "hitslite")]
    assert result["version"] == "0.1.0"
    assert [result["torch"], result["ipywidgets"]] == before == [before[0], COLAB_IPYWIDGETS]
    assert Path(result["zoo"]) == src / "data" / "zoo"  # weights from the clone, whatever the cwd
    assert (base / "colab.log").read_text().count("enable_custom_widget_manager") == 3

    # and without the cell, a restarted kernel still imports the installed package from any directory
    bare = _run([python, "-c", "import hitslite; print(hitslite.__file__)"], env=env, cwd=base)
    assert bare.stdout.strip() == str(src / "hitslite" / "__init__.py")


def test_cell_installs_the_release_of_this_package():
    """HITSLITE_REF follows the package version: bumping one without the other fails here."""
    import hitslite

    assert f'HITSLITE_REF = "v{hitslite.__version__}"' in CELL.read_text()


def test_chapters_paste_the_cell_verbatim():
    """Every chapter that has adopted the cell carries it unchanged (one cell, many copies)."""
    cell = CELL.read_text().strip()
    chapters = sorted((ROOT / "book").glob("[0-9]*.md"))
    adopted = [md for md in chapters if "def _setup_hitslite" in md.read_text()]
    for md in adopted:
        assert cell in md.read_text(), f"{md.name}: its setup cell differs from book/_setup_cell.py"
