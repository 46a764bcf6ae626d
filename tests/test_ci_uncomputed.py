"""The CI check that every number a chapter states is computed on the page (``.ci/uncomputed.py``)."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("ci_uncomputed", ROOT / ".ci" / "uncomputed.py")
uncomputed = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(uncomputed)


def notebook(markdown: str, code: str = "", output: str = "") -> dict:
    cells = [{"cell_type": "markdown", "metadata": {}, "source": markdown}]
    cells.append({"cell_type": "code", "metadata": {}, "source": code, "execution_count": 1,
                  "outputs": [{"output_type": "stream", "name": "stdout", "text": output}] if output else []})
    return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def problems(tmp_path, nb: dict, allowed: dict | None = None) -> list[str]:
    path = tmp_path / "01_demo.ipynb"
    path.write_text(json.dumps(nb))
    return uncomputed.check(path, allowed or {})


def stated(md: str) -> list[str]:
    return [s[2] for s in uncomputed.stated_numbers(md)]


@pytest.mark.parametrize("written, printed", [
    ("the error is 3.9e-7", "error 3.92e-07"),
    ("the error is $3.9 \\times 10^{-7}$", "error 3.92e-07"),
    ("a speed-up of 1.6×", "speed-up 1.63x"),
    ("about 12 % of the steps", "fraction 0.12"),
    ("after 8,000 time units", "T = 8000"),
    ("an MNAD of 0.135", "mnad=0.1349"),
    ("$\\Delta t = 0.008$ for 2048 steps", ""),  # set in the code, so on the page
])
def test_a_number_the_page_computes_passes(tmp_path, written, printed):
    code = "dt, n = 0.008, 2048" if not printed else "print(x)"
    assert problems(tmp_path, notebook(written, code, printed)) == []


@pytest.mark.parametrize("written, printed", [
    ("the error is 3.9e-7", "error 4.4e-07"),
    ("the error is $3.9 \\times 10^{-7}$", "error 3.9e-06"),
    ("cut the error about threefold, 3×", "ratio 2.2"),
    ("a slope of about 3.5", "slope 3.9"),
    ("within 12 % of the paper", "0.2"),
    ("takes 16.4 time units", ""),
])
def test_a_typed_number_fails(tmp_path, written, printed):
    found = problems(tmp_path, notebook(written, "print(x)", printed))
    assert len(found) == 1 and "no cell computes it" in found[0]


def test_what_is_not_a_claim_is_not_checked():
    assert stated("HiTS Sec. 3.1, Figs. 1, 16–28, eqs. 1–4 and SI 8.2.4; Table 2; Chapter 9") == []
    assert stated("## 5.2 Noisy data\n\n1. first item") == []
    assert stated("two levels, p = 5 steps, 3 networks") == []  # small counts
    assert stated("`dt = 0.01` and $$x = 1.5$$ and ```{math}\ny = 2.5\n```") == []
    assert stated("Springer (1993), [link](https://example.org/v1.2.3), SHA-256, $2^{10}$") == []
    assert stated("a 3× speed-up") == ["3×"]  # a comparison is always checked


def test_allowed_exceptions_need_a_reason(tmp_path):
    nb = notebook("the Lorenz system with rho = 28")
    assert problems(tmp_path, nb) and not problems(tmp_path, nb, {"01_demo": [[28, "equation constant"]]})
    assert not problems(tmp_path, nb, {"*": [[28, "equation constant"]]})
