"""Self-checks for the exercises: ``check_<exercise>(answer, ...)`` prints PASS or a hint and returns a bool.

Every check follows the same rules, and ``tests/test_checks.py`` holds each one to them with a right and a
wrong answer:

* the reference comes from the package itself or from an invariant, never from a number typed in by hand
  (the one literature value used, the KS Lyapunov exponent, is named and sourced);
* a check that judges a student's *function* calls it on inputs it draws itself and says which case failed;
* a failure prints a hint, never the expected value;
* a number may be a Python number, a numpy scalar or a 0-d tensor; an array a numpy array or a tensor.

One check per exercise, one module per Part (``part1`` for Chapters 1-2 and ``part1b`` for 3-6, ``part2``,
``part3``; ``part4`` for Chapter 13, ``part4c`` for 14 and ``part4b`` for 15), the shared machinery in
``common``; every check is importable from ``hitslite.checks``.
"""

from . import part1, part1b, part2, part3, part4, part4b, part4c
from .part1 import *  # noqa: F403
from .part1b import *  # noqa: F403
from .part2 import *  # noqa: F403
from .part3 import *  # noqa: F403
from .part4 import *  # noqa: F403
from .part4b import *  # noqa: F403
from .part4c import *  # noqa: F403

__all__ = [*part1.__all__, *part1b.__all__, *part2.__all__, *part3.__all__, *part4.__all__, *part4b.__all__,
           *part4c.__all__]
