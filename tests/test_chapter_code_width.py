"""Code lines of the chapters fit the page: no line of a ``{code-cell}`` in ``book/NN_topic.md`` is longer
than ruff's ``line-length`` (``[tool.ruff]`` in ``pyproject.toml``, the limit the package's code keeps too).

Markdown text is not checked (it wraps); only what sits between a line starting with ```` ```{code-cell} ````
and its closing fence. A failure names each offending ``file:line`` with its length.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pytest itself depends on tomli there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "book").glob("[0-9]*.md"))
OPEN = re.compile(r"^(?P<fence>`{3,})\{code-cell\}")


def line_length() -> int:
    with (ROOT / "pyproject.toml").open("rb") as fh:
        return int(tomllib.load(fh)["tool"]["ruff"]["line-length"])


def long_code_lines(text: str, limit: int) -> list[tuple[int, int]]:
    """(line number, length) of every code-cell line of the MyST ``text`` longer than ``limit``."""
    found, close = [], None
    for number, line in enumerate(text.split("\n"), 1):
        if close is None:
            if m := OPEN.match(line):
                close = re.compile(rf"^{m.group('fence')}`*[ \t]*$")
        elif close.match(line):
            close = None
        elif len(line) > limit:
            found.append((number, len(line)))
    return found


def test_the_limit_comes_from_ruff():
    assert 79 <= line_length() <= 200


def test_the_scan_finds_long_code_lines_only():
    text = "\n".join([
        "# title " + "x" * 200,  # markdown: not checked
        "```{code-cell} ipython3",
        ":tags: [solution]",
        "",
        "a = 1",
        "b = '" + "y" * 20 + "'",  # line 6: 26 characters
        "```",
        "z" * 50,  # markdown again
        "````{code-cell} ipython3",
        "```",  # inside a four-backtick cell
        "c = '" + "w" * 30 + "'",  # line 11: 36 characters
        "````",
    ])
    assert long_code_lines(text, 25) == [(6, 26), (11, 36)]
    assert long_code_lines(text, 40) == []


def test_there_are_chapters():
    assert len(CHAPTERS) >= 10, CHAPTERS


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.name)
def test_code_cell_lines_fit_the_page(chapter):
    limit = line_length()
    long = long_code_lines(chapter.read_text(encoding="utf-8"), limit)
    where = [f"{chapter.relative_to(ROOT)}:{number} ({length} characters)" for number, length in long]
    message = f"code-cell lines longer than {limit} characters (ruff's line-length):\n" + "\n".join(where)
    assert not long, message
