#!/usr/bin/env python3
"""Student and instructor editions of the chapters, generated from the MyST sources.

    python .ci/editions.py build   [--chapters 01 04]   write editions/{student,instructor}/NN_topic.ipynb
    python .ci/editions.py check   [--chapters 01 04]   fail if the committed editions differ from a build
    python .ci/editions.py smoke   [--chapters 01 04] [--timeout 900]
                                   run each student notebook (cwd book/, kernel python3); pass when the
                                   first error is the first stub's NotImplementedError (each runs in a
                                   child process, as nbmake runs it; a chapter costs about its nbmake time,
                                   since the first stub sits in its last section)
    python .ci/editions.py tag-solutions [--chapters ..]  one-off migration: tag every code cell inside a
                                   {solution-start}...{solution-end} block of book/*.md with `solution`

Sources are the paired MyST notebooks ``book/NN_topic.md`` (a front matter with ``kernelspec:`` or
``jupytext:``, the rule ``.ci/run`` uses for the pairs check). Both editions are plain ``.ipynb`` without
outputs, committed under ``editions/`` so that Colab can open them from GitHub
(``https://colab.research.google.com/github/<owner>/<repo>/blob/<tag>/editions/student/01_flow_maps.ipynb``);
they carry Colab's GPU request (``accelerator: GPU``, ``colab.gpuType: T4``) and the ``python3`` kernelspec.

What changes from the source
----------------------------
*Markdown*, in both editions: the MyST that Jupyter and Colab would show as raw fences becomes Markdown.
``{exercise}`` (fenced, or gated ``{exercise-start}``/``{exercise-end}``) becomes a heading
"### Exercise N.k — title" (N the chapter number, k counting the chapter's exercises) and its body;
admonitions become block quotes with a bold title; ``{math}`` becomes ``$$``; ``(label)=`` targets become
HTML anchors; ``{ref}``/``{numref}``/``{doc}`` roles become text or links to the sibling notebook; ``%``
comment lines go. The instructor edition turns ``{solution}`` (fenced, or gated ``{solution-start}`` ...
``{solution-end}``) into a heading "#### Solution to Exercise N.k" followed by the solution; the student
edition drops the solution's text altogether and keeps only the stubs of its code cells.

*Code*: a solution code cell is marked once, in the source, with the cell tag ``solution``::

    ```{code-cell} ipython3
    :tags: [solution]

    def flow_map(x, dt):
        ...
    ```

Every code cell inside a solution block must carry it (an untagged one is an error: it would either leak
the solution or be dropped silently); a tagged cell may also stand outside any block. The instructor
edition keeps the cell's code as it is, less the comment lines of the convention below, so it runs exactly
what ``pytest --nbmake`` runs on ``book/*.ipynb`` (the build checks that both parse to the same syntax tree).
That is why ``smoke`` runs only the student notebooks: the instructor ones are executed by nbmake already.

The student edition replaces each solution cell by a *stub*; every stub raises
``NotImplementedError("Exercise N.k (label): <hint>")`` when run as handed out. The hint is the text of
the cell's ``# STUB: <hint>`` comment lines (joined; default "write your solution here"); these lines are
removed from both editions. Two ways to say what the stub keeps:

1. **Regions** (explicit; use them when the automatic stub is not what you want). Lines between
   ``# --- solution ---`` and ``# --- end solution ---`` (the end marker may be omitted: then to the end of
   the cell) are replaced by one ``raise NotImplementedError(...)`` at the marker's indentation; all other
   lines are kept verbatim::

       def flow_map(x, dt):
           \"\"\"The exact flow map; x [B, 2] -> [B, 2].\"\"\"
           # STUB: rotate each state by the angle dt
           # --- solution ---
           c, s = np.cos(dt), np.sin(dt)
           return torch.stack([c * x[:, 0] + s * x[:, 1], -s * x[:, 0] + c * x[:, 1]], dim=-1)
           # --- end solution ---


       assert checks.check_flow_map(flow_map)

   gives the student ``def flow_map(x, dt):`` with its docstring and ``raise NotImplementedError(
   "Exercise 1.1 (ex-flow-map): rotate each state by the angle dt")`` as the body, and the check.

2. **Automatic** (no region markers in the cell): from the cell's syntax tree the stub keeps the imports;
   every top-level function (and method of a top-level class) with its decorators, signature and
   docstring, the body replaced by the ``raise``; then a top-level ``raise`` for the rest of the work; then
   the top-level statements that call the self-checks (any statement mentioning ``checks.`` or calling a
   ``check_*`` function), which run
   once the student has removed the ``raise`` above them. Everything else (assignments, prints, comments)
   is dropped. A cell that does not parse as Python (IPython magics) needs regions.

The banner cell at the top of each edition says which one it is and where it comes from. Cell ids are
derived from the cells' content, so a build is byte-for-byte reproducible and ``check`` is exact.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import hashlib
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
EDITIONS_DIR = ROOT / "editions"
EDITIONS = ("student", "instructor")

SOLUTION_TAG = "solution"
STUB_TAG = "exercise-stub"  # the tag a stub cell carries in the student edition (smoke finds them by it)
BEGIN = re.compile(r"^[ \t]*#[ \t]*---[ \t]*solution[ \t]*---[ \t]*$")
END = re.compile(r"^[ \t]*#[ \t]*---[ \t]*end[ \t]+solution[ \t]*---[ \t]*$")
HINT = re.compile(r"^[ \t]*#[ \t]*STUB:[ \t]?(.*?)[ \t]*$")
CHECK_CALL = re.compile(r"\bchecks\.|\bcheck_\w*\(")  # a self-check: checks.check_x(...) or check_x(...)
DEFAULT_HINT = "write your solution here"

NOTEBOOK_METADATA = {
    "accelerator": "GPU",
    "colab": {"gpuType": "T4", "provenance": []},
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "language_info": {"name": "python"},
}

ADMONITIONS = {"note", "tip", "hint", "important", "warning", "caution", "attention", "danger", "error",
               "seealso"}
FENCE = re.compile(
    r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,}|:{3,})\{(?P<name>[\w:-]+)\}[ \t]*(?P<arg>.*?)[ \t]*$"
)
PLAIN_FENCE = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})")
OPTION = re.compile(r"^:(?P<key>[\w-]+):[ \t]*(?P<value>.*)$")
TARGET = re.compile(r"^\((?P<label>[\w.:-]+)\)=[ \t]*$")
ROLE = re.compile(r"\{(?P<role>ref|numref|doc|eq|term)\}`(?P<body>[^`]+)`")


class EditionError(ValueError):
    """A chapter source that does not follow the conventions above (the message names the cell)."""


# -------------------------------------------------------------------------------------------------
# sources
# -------------------------------------------------------------------------------------------------
def is_myst_notebook(md: Path) -> bool:
    """The rule of ``.ci/run``'s pairs check: a front matter naming a kernelspec or jupytext."""
    text = md.read_text(encoding="utf-8")
    front = text.split("\n---", 1)[0] if text.startswith("---\n") else ""
    return "kernelspec:" in front or "jupytext:" in front


def chapter_sources(book: Path = BOOK, chapters: list[str] | None = None) -> list[Path]:
    """The MyST notebooks of ``book``; with ``chapters`` (``["01", "04"]`` or full stems) only those."""
    found = [md for md in sorted(book.glob("*.md")) if is_myst_notebook(md)]
    if chapters:
        wanted = [c.removesuffix(".md").removesuffix(".ipynb") for c in chapters]
        found = [md for md in found if any(md.stem == w or md.stem.split("_")[0] == w for w in wanted)]
        missing = [w for w in wanted if not any(md.stem == w or md.stem.split("_")[0] == w for md in found)]
        if missing:
            raise SystemExit(f"[editions] no chapter source for {', '.join(missing)} in {book}")
    return found


def chapter_number(stem: str) -> int | None:
    head = stem.split("_")[0]
    return int(head) if head.isdigit() else None


# -------------------------------------------------------------------------------------------------
# code: stubs and the instructor's copy
# -------------------------------------------------------------------------------------------------
def _quoted(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a valid Python string literal, double-quoted


def _hint(lines: list[str]) -> str:
    hints = [m.group(1) for line in lines if (m := HINT.match(line))]
    return " ".join(h for h in hints if h) or DEFAULT_HINT


def instructor_code(source: str, where: str = "cell") -> str:
    """The solution as the book runs it, less the convention's comment lines (markers and hints)."""
    kept = [line for line in source.splitlines()
            if not (BEGIN.match(line) or END.match(line) or HINT.match(line))]
    code = "\n".join(kept).strip("\n")
    try:
        same = ast.dump(ast.parse(source)) == ast.dump(ast.parse(code))
    except SyntaxError:
        same = True  # IPython syntax: only comment lines were removed, which cannot change it
    if not same:  # a marker inside a string literal, say
        raise EditionError(f"{where}: removing the marker comments changed the code")
    return code


def stub_code(source: str, prefix: str, where: str = "cell") -> str:
    """The student's stub of a solution cell (see the module docstring for the convention)."""
    lines = source.splitlines()
    message = f"{prefix}: {_hint(lines)}"
    raise_line = f"raise NotImplementedError({_quoted(message)})"
    lines = [line for line in lines if not HINT.match(line)]
    if any(BEGIN.match(line) or END.match(line) for line in lines):
        out, inside = [], False
        for n, line in enumerate(lines, 1):
            if BEGIN.match(line):
                if inside:
                    raise EditionError(f"{where}, line {n}: '# --- solution ---' inside an open region")
                inside = True
                out.append(line[: len(line) - len(line.lstrip())] + raise_line)
            elif END.match(line):
                if not inside:
                    raise EditionError(f"{where}, line {n}: '# --- end solution ---' without a region")
                inside = False
            elif not inside:
                out.append(line)
        stub = "\n".join(out).strip("\n")
    else:
        stub = _auto_stub("\n".join(lines), raise_line, where)
    try:
        ast.parse(stub)
    except SyntaxError as e:
        raise EditionError(f"{where}: the stub is not valid Python ({e.msg}, line {e.lineno}):\n"
                           f"{stub}") from e
    return stub


def _segment(lines: list[str], node: ast.AST) -> list[str]:
    start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    return lines[start - 1 : node.end_lineno]


def _stub_function(lines: list[str], node: ast.FunctionDef | ast.AsyncFunctionDef, raise_line: str,
                   where: str) -> list[str]:
    start = min([node.lineno] + [d.lineno for d in node.decorator_list])
    first = node.body[0]
    if first.lineno == node.lineno:
        raise EditionError(f"{where}: `def {node.name}` has its body on the signature line; use regions")
    header = lines[start - 1 : first.lineno - 1]
    while header and (not header[-1].strip() or header[-1].lstrip().startswith("#")):
        header.pop()  # comments between the signature and the body may explain the solution
    indent = " " * first.col_offset
    body = []
    if isinstance(first, ast.Expr) and isinstance(getattr(first, "value", None), ast.Constant) \
            and isinstance(first.value.value, str):
        body = lines[first.lineno - 1 : first.end_lineno]
    return header + body + [indent + raise_line]


def _auto_stub(source: str, raise_line: str, where: str) -> str:
    try:
        tree = ast.parse(source)
    except SyntaxError as e:
        raise EditionError(f"{where}: not plain Python ({e.msg}); mark the solution with "
                           f"'# --- solution ---' regions") from e
    lines = source.splitlines()
    imports, defs, checks = [], [], []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            imports += _segment(lines, node)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            defs.append(_stub_function(lines, node, raise_line, where))
        elif isinstance(node, ast.ClassDef):
            first = node.body[0]
            block = lines[min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1 : first.lineno - 1]
            while block and (not block[-1].strip() or block[-1].lstrip().startswith("#")):
                block.pop()
            members = [
                _stub_function(lines, m, raise_line, where)
                for m in node.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))
            ]
            docstring = (isinstance(first, ast.Expr)
                         and isinstance(getattr(first, "value", None), ast.Constant)
                         and isinstance(first.value.value, str))
            if docstring:
                block += lines[first.lineno - 1 : first.end_lineno]
            for m in members:
                block += ([""] if block and len(block) > 1 else []) + m
            if not members and not docstring:
                block.append(" " * first.col_offset + "...")
            defs.append(block)
        elif CHECK_CALL.search(ast.get_source_segment(source, node) or ""):
            checks += _segment(lines, node)
    parts = []
    if imports:
        parts.append("\n".join(imports))
    parts += ["\n".join(d) for d in defs]
    parts.append("# Your code here (then delete the raise below).\n" + raise_line)
    if checks:
        parts.append("\n".join(checks))
    sep = "\n\n\n" if defs else "\n\n"
    return sep.join(parts)


# -------------------------------------------------------------------------------------------------
# markdown: MyST directives -> Markdown that Jupyter and Colab render
# -------------------------------------------------------------------------------------------------
@dataclass
class _State:
    edition: str
    chapter: int | None
    chapters: set[str]
    repo_blob: str | None
    numbers: dict[str, str] = field(default_factory=dict)  # exercise label -> "1.2"
    count: int = 0
    last_exercise: str | None = None
    solution: str | None = None  # label of the open gated solution block (None: outside)

    def number(self) -> str:
        self.count += 1
        return f"{self.chapter}.{self.count}" if self.chapter is not None else str(self.count)

    @property
    def dropping(self) -> bool:
        return self.edition == "student" and self.solution is not None


def _split_options(body: list[str]) -> tuple[dict[str, str], list[str]]:
    options, i = {}, 0
    if body and body[0].strip() == "---":  # a YAML block of options
        end = next((j for j in range(1, len(body)) if body[j].strip() == "---"), None)
        if end is not None:
            for line in body[1:end]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    options[k.strip()] = v.strip()
            i = end + 1
    while i < len(body) and (m := OPTION.match(body[i])):
        options[m.group("key")] = m.group("value")
        i += 1
    while i < len(body) and not body[i].strip():
        i += 1
    return options, body[i:]


def _closing(lines: list[str], start: int, fence: str) -> int:
    """Index of the line closing the fence opened at ``start`` (len(lines) if it never closes)."""
    char, n = fence[0], len(fence)
    pattern = re.compile(r"^ {0,3}" + re.escape(char) + "{" + str(n) + r",}[ \t]*$")
    for j in range(start + 1, len(lines)):
        if pattern.match(lines[j]):
            return j
    return len(lines)


def _anchor(label: str | None) -> list[str]:
    return [f'<a id="{label}"></a>', ""] if label else []


def _roles(text: str, state: _State) -> str:
    def replace(m: re.Match) -> str:
        role, body = m.group("role"), m.group("body")
        explicit = re.fullmatch(r"(?P<text>.*?)\s*<(?P<target>[^>]+)>", body, flags=re.S)
        shown, target = (explicit.group("text"), explicit.group("target")) if explicit else (None, body)
        if role == "doc":
            stem = target.rsplit("/", 1)[-1]
            if stem in state.chapters:
                return f"[{shown or stem}]({stem}.ipynb)"
            if state.repo_blob:
                return f"[{shown or stem}]({state.repo_blob}/book/{stem}.md)"
            return shown or stem
        if role in ("ref", "numref") and target in state.numbers:
            return shown or f"[Exercise {state.numbers[target]}](#{target})"
        if role == "eq":
            return f"({target})"
        return shown or target

    def links(m: re.Match) -> str:
        target = m.group("target")
        stem = target.removesuffix(".md")
        if stem in state.chapters:
            return f"]({stem}.ipynb{m.group('frag') or ''})"
        if state.repo_blob:
            return f"]({state.repo_blob}/book/{target}{m.group('frag') or ''})"
        return m.group(0)

    text = ROLE.sub(replace, text)
    return re.sub(r"\]\((?P<target>[\w.-]+\.md)(?P<frag>#[\w-]*)?\)", links, text)


def convert_markdown(text: str, state: _State) -> str:
    """One markdown cell of the source, as the edition shows it (may be empty)."""
    out, fence, blank = [], None, False
    for line in _convert_lines(text.splitlines(), state):
        plain = PLAIN_FENCE.match(line)
        if plain and (fence is None or line.strip().startswith(fence)):
            fence = plain.group("fence") if fence is None else None
        if fence is None and not line.strip():
            if blank:
                continue  # one blank line between blocks is enough
            blank = True
        else:
            blank = False
        out.append(line)
    return "\n".join(out).strip("\n")


def _convert_lines(lines: list[str], state: _State) -> list[str]:
    out: list[str] = []
    i = 0

    def emit(new: list[str]) -> None:
        if not state.dropping:
            out.extend(new)

    while i < len(lines):
        line = lines[i]
        m = FENCE.match(line)
        if m is None:
            plain = PLAIN_FENCE.match(line)
            if plain:  # an ordinary code block: copied through untouched
                end = _closing(lines, i, plain.group("fence"))
                emit(lines[i : end + 1])
                i = end + 1
                continue
            target = TARGET.match(line)
            if target:
                emit(_anchor(target.group("label"))[:1])
            elif line.startswith("%"):
                pass  # a MyST comment
            else:
                emit([_roles(line, state)])
            i += 1
            continue

        name, arg, fence = m.group("name"), m.group("arg"), m.group("fence")
        start, end = i, _closing(lines, i, fence)
        options, body = _split_options(lines[i + 1 : end])
        i = end + 1
        label = options.get("label")

        if name == "exercise" or name == "exercise-start":
            number = None if "nonumber" in options else state.number()
            if label and number:
                state.numbers[label] = number
            state.last_exercise = label
            title = f"Exercise {number}" if number else "Exercise"
            emit(["", *_anchor(label), f"### {title}" + (f" — {_roles(arg, state)}" if arg else ""), ""])
            if name == "exercise":
                emit(_convert_lines(body, state))
        elif name == "exercise-end":
            pass
        elif name in ("solution", "solution-start"):
            target = arg.split()[0] if arg else state.last_exercise
            heading = f"#### Solution to Exercise {state.numbers[target]}" if target in state.numbers \
                else "#### Solution"
            if name == "solution-start":
                if state.edition == "instructor":
                    emit(["", heading, ""])
                state.solution = target or "?"  # the student edition drops the block's text from here on
            elif state.edition == "instructor":
                emit(["", heading, "", *_convert_lines(body, state)])
        elif name == "solution-end":
            state.solution = None
        elif name == "admonition" or name in ADMONITIONS:
            title = _roles(arg, state) if name == "admonition" and arg else name.capitalize()
            inner = _convert_lines(body, state)
            emit([f"> **{title}**", ">", *[f"> {t}".rstrip() for t in inner]])
        elif name == "math":
            emit(["$$", *body, "$$"])
        elif name in ("code-block", "code", "sourcecode"):
            emit([f"```{arg}", *body, "```"])
        else:  # anything else stays as it was (Jupyter shows it as a code block, which is honest)
            emit(lines[start : end + 1])
    return out


# -------------------------------------------------------------------------------------------------
# notebooks
# -------------------------------------------------------------------------------------------------
def _repo_blob() -> str | None:
    try:
        import yaml

        config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
        repo = config["repository"]
        return f"{repo['url'].rstrip('/')}/blob/{repo.get('branch', 'main')}"
    except Exception:  # no config (a test's tmp book): links to other pages stay relative
        return None


def _banner(edition: str, md: Path, chapter: int | None) -> str:
    name = f"Chapter {chapter}" if chapter is not None else md.stem
    try:
        source = md.resolve().relative_to(ROOT)
    except ValueError:
        source = Path(md.name)
    if edition == "student":
        what = (f"> **Student edition of {name}.** Where the book shows a solution, this notebook has a stub "
                "that raises `NotImplementedError`: replace it with your code, then run the self-check "
                "below it.")
    else:
        what = f"> **Instructor edition of {name}**, with the solutions of its exercises."
    return (f"{what}\n>\n> On Colab: *Runtime → Change runtime type → GPU* is preselected; the first "
            f"code cell installs the package. Generated from `{source}` by `.ci/editions.py`: edit the "
            f"source, not this file.")


def build_notebooks(md: Path, chapters: set[str] | None = None) -> dict[str, object]:
    """The two editions of the MyST notebook ``md``: ``{"student": nb, "instructor": nb}`` (nbformat)."""
    import jupytext
    import nbformat

    source = jupytext.read(md, fmt="md:myst")
    chapter = chapter_number(md.stem)
    chapters = chapters if chapters is not None else {p.stem for p in chapter_sources(md.parent)}
    result = {}
    numbers = _State("instructor", chapter, chapters, None)  # a first pass numbers the exercises, so that
    for cell in source.cells:                                  # a reference before one finds it
        if cell.cell_type == "markdown":
            convert_markdown(cell.source, numbers)
    for edition in EDITIONS:
        state = _State(edition, chapter, chapters, _repo_blob(), numbers=dict(numbers.numbers))
        cells = [nbformat.v4.new_markdown_cell(_banner(edition, md, chapter))]
        for index, cell in enumerate(source.cells):
            where = f"{md.name}, cell {index + 1}"
            if cell.cell_type == "markdown":
                text = convert_markdown(cell.source, state)
                if text.strip():
                    cells.append(nbformat.v4.new_markdown_cell(text))
                continue
            if cell.cell_type != "code":
                cells.append(nbformat.v4.new_raw_cell(cell.source))
                continue
            tags = list(cell.metadata.get("tags", []))
            metadata = {k: v for k, v in cell.metadata.items() if k != "tags"}
            if SOLUTION_TAG not in tags:
                if state.solution is not None:
                    raise EditionError(f"{where}: a code cell inside the solution of {state.solution} has no "
                                       f"'{SOLUTION_TAG}' tag (add `:tags: [{SOLUTION_TAG}]` to it)")
                new = nbformat.v4.new_code_cell(cell.source, metadata=dict(cell.metadata))
            else:
                label = state.solution or state.last_exercise
                number = state.numbers.get(label) if label else None
                prefix = f"Exercise {number}" if number else "Exercise"
                prefix += f" ({label})" if label else ""
                if edition == "instructor":
                    new = nbformat.v4.new_code_cell(instructor_code(cell.source, where),
                                                    metadata={**metadata, "tags": tags})
                else:
                    stub_tags = [t for t in tags if t != SOLUTION_TAG] + [STUB_TAG]
                    new = nbformat.v4.new_code_cell(stub_code(cell.source, prefix, where),
                                                    metadata={**metadata, "tags": stub_tags})
            if not new.metadata.get("tags"):
                new.metadata.pop("tags", None)
            cells.append(new)
        if state.solution is not None:
            raise EditionError(f"{md.name}: the solution of {state.solution} is never closed "
                               f"({{solution-end}})")
        nb = nbformat.v4.new_notebook(cells=cells, metadata=json.loads(json.dumps(NOTEBOOK_METADATA)))
        nb.metadata["hitslite"] = {"edition": edition, "source": f"book/{md.name}"}
        _stable_ids(nb)
        nbformat.validate(nb)
        result[edition] = nb
    return result


def _stable_ids(nb) -> None:
    seen: dict[str, int] = {}
    for cell in nb.cells:
        digest = hashlib.sha1(f"{cell.cell_type}\n{cell.source}".encode()).hexdigest()[:8]
        seen[digest] = seen.get(digest, 0) + 1
        cell["id"] = digest if seen[digest] == 1 else f"{digest}-{seen[digest]}"


def render(nb) -> str:
    import nbformat

    return nbformat.writes(nb, version=4) + "\n"


def expected_files(book: Path, out: Path, chapters: list[str] | None = None) -> dict[Path, str]:
    """Every file ``build`` writes, with its text."""
    sources = chapter_sources(book, chapters)
    stems = {p.stem for p in chapter_sources(book)}
    files = {}
    for md in sources:
        for edition, nb in build_notebooks(md, stems).items():
            files[out / edition / f"{md.stem}.ipynb"] = render(nb)
    return files


# -------------------------------------------------------------------------------------------------
# smoke: run the student notebooks up to their first stub
# -------------------------------------------------------------------------------------------------
def first_stub(nb) -> tuple[int, str] | None:
    """(index, message prefix) of the first stub cell, or None when the notebook has none."""
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and STUB_TAG in cell.metadata.get("tags", []):
            m = re.search(r'NotImplementedError\("(?P<prefix>Exercise[^:"]*)', cell.source)
            return index, (m.group("prefix") if m else "Exercise")
    return None


def _execute(path: Path, cwd: Path, timeout: float) -> dict:
    """Run the notebook at ``path`` as nbmake does (nbclient, kernel python3, working directory ``cwd``,
    ``timeout`` seconds per cell); return where the first error happened, or that none did."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    # the repository's root conftest.py (by path: tests/ has its own): its bound on kernel-client polls
    spec = importlib.util.spec_from_file_location("repo_conftest", ROOT / "conftest.py")
    conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conftest)  # installs the bound (see its docstring)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=int(timeout), allow_errors=False, kernel_name="python3",
                            resources={"metadata": {"path": str(cwd)}})
    try:
        client.execute()
        return {"status": "ok"}
    except CellExecutionError as e:
        for index, cell in enumerate(nb.cells):
            if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
                return {"status": "error", "cell": index, "ename": e.ename, "evalue": e.evalue}
        return {"status": "error", "cell": None, "ename": e.ename, "evalue": e.evalue}
    except (CellTimeoutError, DeadKernelError, TimeoutError) as e:
        started = [i for i, c in enumerate(nb.cells) if c.get("execution_count") is not None]
        return {"status": "timeout", "cell": started[-1] if started else None, "why": type(e).__name__}


def smoke_notebook(path: Path, cwd: Path = BOOK, timeout: float = 900) -> tuple[bool, str]:
    """Run one student notebook; True when its first error is its first stub's NotImplementedError."""
    import nbformat

    stub = first_stub(nbformat.read(path, as_version=4))
    start = time.perf_counter()
    # A child process per notebook, in a session of its own, so that a wall-clock limit can stop it
    # whatever the kernel does. Its output goes to a file, not a pipe: a pipe is only closed when every
    # process holding it exits, and a kernel still shutting down would hold the runner until the timeout.
    with tempfile.TemporaryFile("w+") as out:
        child = subprocess.Popen([sys.executable, __file__, "_execute", str(path), str(cwd), str(timeout)],
                                 stdout=out, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        try:
            child.wait(timeout=timeout + 60)
            out.seek(0)
            text = out.read()
            lines = [x for x in text.splitlines() if x.startswith("RESULT ")]
            result = json.loads(lines[-1].removeprefix("RESULT ")) if lines else {
                "status": "error", "cell": None, "ename": "runner", "evalue": text[-2000:]}
        except subprocess.TimeoutExpired:
            result = {"status": "timeout", "cell": None}
        finally:  # the child, and a kernel it may have left behind
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait()
    seconds = time.perf_counter() - start
    where = f"{path.name} ({seconds:.0f} s)"
    if result["status"] == "timeout":
        return False, f"{where}: timed out after {timeout:g} s, in cell {result['cell']}"
    if stub is None:
        if result["status"] == "ok":
            return True, f"{where}: no stubs; ran to the end"
        return False, f"{where}: cell {result['cell']} failed: {result['ename']}: {result['evalue']}"
    index, prefix = stub
    if result["status"] == "ok":
        return False, f"{where}: ran to the end, but its first stub (cell {index}) should have raised"
    ok = (result["cell"] == index and result["ename"] == "NotImplementedError"
          and result["evalue"].startswith(prefix))
    if ok:
        return True, f"{where}: stops at its first stub, cell {index}: {prefix}"
    return False, (f"{where}: the first error should be {prefix}'s NotImplementedError in cell {index}; got "
                   f"{result['ename']}: {result['evalue']} in cell {result['cell']}")


def tag_solutions(md: Path) -> int:
    """Add the ``solution`` tag to every code cell inside a gated solution block of ``md`` (a one-off
    migration for sources written before the convention); returns how many cells it tagged."""
    lines = md.read_text(encoding="utf-8").split("\n")
    out, inside, tagged, i = [], False, 0, 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        i += 1
        if re.match(r"^`{3,}\{solution-start\}", line):
            inside = True
        elif re.match(r"^`{3,}\{solution-end\}", line):
            inside = False
        elif inside and re.match(r"^`{3,}\{code-cell\}", line):
            if i < len(lines) and lines[i].startswith(":tags:"):
                listed = lines[i].split(":", 2)[2].strip().strip("[]").split(",")
                tags = [t.strip() for t in listed if t.strip()]
                if SOLUTION_TAG not in tags:
                    lines[i] = f":tags: [{', '.join(tags + [SOLUTION_TAG])}]"
                    tagged += 1
            else:
                out += [f":tags: [{SOLUTION_TAG}]"] + ([""] if i < len(lines) and lines[i].strip() else [])
                tagged += 1
    if tagged:
        md.write_text("\n".join(out), encoding="utf-8")
    return tagged


# -------------------------------------------------------------------------------------------------
# CLI
# -------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="editions.py", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["build", "check", "smoke", "tag-solutions"])
    parser.add_argument("--chapters", nargs="+", metavar="NN", help="only these chapters (01 04, or stems)")
    parser.add_argument("--book", type=Path, default=BOOK, help="where the MyST sources are (book/)")
    parser.add_argument("--out", type=Path, default=EDITIONS_DIR, help="where the editions go (editions/)")
    parser.add_argument("--timeout", type=float, default=900, help="smoke: seconds per notebook (900)")
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_execute"]:  # the child process of smoke_notebook()
        path, cwd, timeout = argv[1:4]
        print("RESULT " + json.dumps(_execute(Path(path), Path(cwd), float(timeout))), flush=True)
        return 0
    args = parser.parse_args(argv)

    if args.command == "tag-solutions":  # one-off migration of the sources; see tag_solutions()
        for md in chapter_sources(args.book, args.chapters):
            print(f"[editions] {md}: tagged {tag_solutions(md)} solution cell(s)")
        return 0

    if args.command == "smoke":
        sources = chapter_sources(args.book, args.chapters)
        paths = [args.out / "student" / f"{md.stem}.ipynb" for md in sources]
        failed = 0
        for path in paths:
            if not path.exists():
                ok, message = False, f"{path}: missing (run `python .ci/editions.py build`)"
            else:
                ok, message = smoke_notebook(path, cwd=args.book, timeout=args.timeout)
            failed += not ok
            print(f"[editions] smoke {'ok  ' if ok else 'FAIL'} {message}", flush=True)
        print(f"[editions] smoke: {len(paths) - failed} passed, {failed} failed")
        return 1 if failed else 0

    try:
        files = expected_files(args.book, args.out, args.chapters)
    except EditionError as e:
        print(f"[editions] ERROR {e}", file=sys.stderr)
        return 1
    if args.command == "build":
        for path, text in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                path.write_text(text, encoding="utf-8")
                print(f"[editions] wrote {path}")
        if not args.chapters:  # editions of chapters that no longer exist
            for edition in EDITIONS:
                for stale in sorted((args.out / edition).glob("*.ipynb")):
                    if stale not in files:
                        stale.unlink()
                        print(f"[editions] removed {stale} (no source)")
        print(f"[editions] {len(files) // 2} chapter(s), student and instructor editions in {args.out}")
        return 0

    problems = []
    for path, text in files.items():
        if not path.exists():
            problems.append(f"{path}: missing")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{path}: differs from its source book/{path.stem}.md")
    if not args.chapters:
        for edition in EDITIONS:
            problems += [f"{p}: no source book/{p.stem}.md"
                         for p in sorted((args.out / edition).glob("*.ipynb")) if p not in files]
    for p in problems:
        print(f"[editions] ERROR {p}")
    if problems:
        print("[editions] the editions are out of date: run `python .ci/editions.py build` and commit "
              "editions/")
        return 1
    print(f"[editions] {len(files) // 2} chapter(s): editions in sync with their sources")
    return 0


if __name__ == "__main__":
    sys.exit(main())
