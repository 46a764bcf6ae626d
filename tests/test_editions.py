"""The student and instructor editions (``.ci/editions.py``) of a small synthetic chapter.

Everything here works on a MyST notebook written to ``tmp_path``, without kernels, except
``test_smoke_stops_at_the_first_stub``, which runs the tiny student notebook with nbclient (one kernel,
about 5 s on the 2-core CI machine).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import sys
from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load():
    spec = importlib.util.spec_from_file_location("hitslite_editions", ROOT / ".ci" / "editions.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


editions = _load()

CHAPTER = '''---
jupytext:
  formats: ipynb,md:myst
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# 3. A tiny chapter

```{admonition} Learning objectives
:class: tip
Learn {ref}`ex-double`.
```

```{code-cell} ipython3
def check_double(fn):
    assert fn(2) == 4, "double(2) should be 4"
    print("check passed")
    return True


BASE = 10
```

## 3.1 Exercises

````{exercise} Doubling
:label: ex-double

Write `double(x)` and check it with `check_double(double)`.
````

```{solution-start} ex-double
:class: dropdown
```

Multiplying by two is SECRET_PROSE.

```{code-cell} ipython3
:tags: [solution]

# STUB: multiply by two
import math


def double(x):
    """Twice x."""
    # the obvious way
    return 2 * x  # SECRET_CODE


helper = double(BASE)
assert check_double(double)
```

Also SECRET_AFTERWORD.

```{solution-end}
```

````{exercise} A region
:label: ex-region

Complete `triple`.
````

````{solution} ex-region
:class: dropdown

Region prose SECRET_REGION_PROSE.
````

```{code-cell} ipython3
:tags: [solution]

def triple(x):
    """Three times x."""
    # STUB: add x three times
    # --- solution ---
    return x + x + x  # SECRET_REGION
    # --- end solution ---


assert triple(1) == 3
```

```{code-cell} ipython3
print("after the exercises")
```
'''


@pytest.fixture
def book(tmp_path):
    folder = tmp_path / "book"
    folder.mkdir()
    (folder / "03_tiny.md").write_text(CHAPTER)
    (folder / "notes.md").write_text("# A plain page, not a notebook\n")
    return folder


def _build(book):
    return editions.build_notebooks(book / "03_tiny.md")


def _code(nb):
    return "\n".join(c.source for c in nb.cells if c.cell_type == "code")


def _markdown(nb):
    return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def test_only_myst_notebooks_are_chapters(book):
    assert [p.name for p in editions.chapter_sources(book)] == ["03_tiny.md"]
    assert [p.name for p in editions.chapter_sources(book, ["03"])] == ["03_tiny.md"]


def test_student_edition_has_stubs_and_no_solution(book):
    nb = _build(book)["student"]
    code, text = _code(nb), _markdown(nb)
    for secret in ("SECRET_CODE", "SECRET_REGION", "2 * x", "helper", "the obvious way", "# STUB"):
        assert secret not in code
    for secret in ("SECRET_PROSE", "SECRET_AFTERWORD", "SECRET_REGION_PROSE", "Solution"):
        assert secret not in text
    stubs = [c for c in nb.cells if "exercise-stub" in c.metadata.get("tags", [])]
    assert len(stubs) == 2 and not any("solution" in c.metadata.get("tags", []) for c in nb.cells)
    # the automatic stub keeps the import, the signature and docstring, and the self-check
    auto = stubs[0].source
    assert "import math" in auto
    assert 'def double(x):\n    """Twice x."""\n    raise NotImplementedError' in auto
    assert auto.rstrip().endswith("assert check_double(double)")
    # the region stub keeps everything outside the region
    assert 'def triple(x):\n    """Three times x."""\n    raise NotImplementedError(' in stubs[1].source
    assert "assert triple(1) == 3" in stubs[1].source


def test_stubs_raise_with_the_hint(book):
    nb = _build(book)["student"]
    namespace = {}
    exec(nb.cells[[i for i, c in enumerate(nb.cells) if "check_double" in c.source][0]].source, namespace)
    stubs = [c for c in nb.cells if "exercise-stub" in c.metadata.get("tags", [])]
    with pytest.raises(NotImplementedError, match=r"^Exercise 3\.1 \(ex-double\): multiply by two$"):
        exec(stubs[0].source, dict(namespace))
    with pytest.raises(NotImplementedError, match=r"^Exercise 3\.2 \(ex-region\): add x three times$"):
        exec(stubs[1].source, dict(namespace))


def test_markdown_has_no_raw_directives(book):
    for nb in _build(book).values():
        text = _markdown(nb)
        assert "```{" not in text and "````{" not in text and "{ref}" not in text
        assert "### Exercise 3.1 — Doubling" in text and "### Exercise 3.2 — A region" in text
        assert "> **Learning objectives**" in text and "[Exercise 3.1](#ex-double)" in text


def test_instructor_edition_has_the_solutions(book):
    nb = _build(book)["instructor"]
    code, text = _code(nb), _markdown(nb)
    assert "return 2 * x  # SECRET_CODE" in code and "return x + x + x  # SECRET_REGION" in code
    assert "# --- solution ---" not in code and "# STUB" not in code
    assert "#### Solution to Exercise 3.1" in text and "SECRET_PROSE" in text
    assert "#### Solution to Exercise 3.2" in text and "SECRET_REGION_PROSE" in text
    # the same code as the book's (what nbmake runs), less the convention's comment lines
    source = [c for c in jupytext.read(book / "03_tiny.md").cells if c.cell_type == "code"]
    ours = [c for c in nb.cells if c.cell_type == "code"]
    assert len(source) == len(ours)
    for a, b in zip(source, ours):
        assert ast.dump(ast.parse(a.source)) == ast.dump(ast.parse(b.source))


def test_colab_gpu_metadata(book):
    for nb in _build(book).values():
        assert nb.metadata["accelerator"] == "GPU"
        assert nb.metadata["colab"] == {"gpuType": "T4", "provenance": []}
        assert nb.metadata["kernelspec"]["name"] == "python3"
        assert "jupytext" not in nb.metadata
        assert all(not c.get("outputs") for c in nb.cells)


def test_build_is_reproducible_and_check_detects_drift(book, tmp_path, capsys):
    out = tmp_path / "editions"
    args = ["--book", str(book), "--out", str(out)]
    assert editions.main(["check", *args]) == 1  # nothing built yet
    assert editions.main(["build", *args]) == 0
    student = out / "student" / "03_tiny.ipynb"
    assert json.loads(student.read_text())["metadata"]["accelerator"] == "GPU"
    first = student.read_text()
    assert editions.main(["build", *args]) == 0 and student.read_text() == first
    assert editions.main(["check", *args]) == 0

    student.write_text(first.replace("multiply by two", "multiply by three"))  # an edited edition
    assert editions.main(["check", *args]) == 1
    editions.main(["build", *args])
    # an edited source
    (book / "03_tiny.md").write_text(CHAPTER.replace("A tiny chapter", "A renamed chapter"))
    assert editions.main(["check", *args]) == 1
    editions.main(["build", *args])
    (out / "instructor" / "99_gone.ipynb").write_text("{}")  # an edition without a source
    assert editions.main(["check", *args]) == 1
    assert "no source" in capsys.readouterr().out


def test_untagged_code_in_a_solution_is_an_error(book):
    (book / "03_tiny.md").write_text(CHAPTER.replace(":tags: [solution]\n\n# STUB", "# STUB"))
    with pytest.raises(editions.EditionError, match="no 'solution' tag"):
        _build(book)


def test_unbalanced_regions_are_an_error():
    with pytest.raises(editions.EditionError, match="without a region"):
        editions.stub_code("x = 1\n# --- end solution ---\n", "Exercise 1.1")


def test_smoke_stops_at_the_first_stub(book, tmp_path):
    out = tmp_path / "editions"
    assert editions.main(["build", "--book", str(book), "--out", str(out)]) == 0
    ok, message = editions.smoke_notebook(out / "student" / "03_tiny.ipynb", cwd=book, timeout=120)
    assert ok, message
    assert "Exercise 3.1" in message
