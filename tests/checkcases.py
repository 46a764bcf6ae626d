"""What the tests of the exercise checks share (imported by tests/test_checks*.py; not a test module)."""

import numpy as np
import torch


def number_types(x):
    """The same number as a Python float, a numpy scalar and a 0-d tensor."""
    return [float(x), np.float64(x), torch.tensor(float(x), dtype=torch.float64)]


def assert_hidden(capsys, want):
    """The last check failed and its output does not contain the expected value in any usual format."""
    out = capsys.readouterr().out
    assert "NOT YET" in out
    shown = {f"{want:.{p}g}" for p in range(3, 7)} | {repr(want), repr(float(want))}
    if abs(want) >= 100:
        shown.add(f"{want:.0f}")
    for text in shown:
        assert text not in out, f"the failure message gives away the expected value {text}: {out}"
