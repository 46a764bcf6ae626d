"""How the modules of hitslite import one another: no circles, no private reaches, no double imports.

Every module of the package (subpackages included, e.g. ``hitslite/zoo/``) is parsed with :mod:`ast`
(nothing is imported to do so) and its imports of other hitslite modules are collected, in two kinds:

* **top-level** — executed when the module is imported (module scope, class bodies, ``try`` blocks;
  not ``if TYPE_CHECKING:``);
* **lazy** — inside a function, executed when the function first runs.

An edge ``a -> b`` means that ``a`` names ``b`` in an import statement (``from .b import x``,
``from . import b``, ``import hitslite.b``); an imported name that is itself a module (``from .zoo
import led``) adds an edge to it too. Implicit imports of parent packages are not edges.

The tests:

1. the top-level graph has no cycle (a top-level circle breaks ``import`` in some orders);
2. the full graph, lazy edges included, has no cycle either: a lazy import that closes a circle hides
   a layering problem (two modules that need each other belong together, or a third module below
   both). A circle that is genuinely needed is listed in :data:`ALLOWED_LAZY_EDGES` with its reason;
   its lazy edge is then left out of the check, and an entry that no longer exists fails the test;
3. no module imports or reads another hitslite module's private name (``from .x import _y``,
   ``x._y`` after ``from . import x``, ``hitslite.x._y``); dunder names are fine;
4. ``python -c "import hitslite"`` succeeds in a fresh interpreter and loads no module twice (under
   one name twice, or one file under two names).

Failures name the module, the file and line, and the name.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIR = ROOT / "hitslite"

#: ``(importer, imported)`` lazy edges allowed to close a circle, with the reason. Keep it short.
ALLOWED_LAZY_EDGES: dict[tuple[str, str], str] = {
    ("hitslite.canonical", "hitslite.data"): (
        "the maintainers' command line of hitslite.canonical (check_all, main: `python -m "
        "hitslite.canonical`) regenerates the KS data sets that its library side (anchors_for, "
        "anchored_rollout) anchors; the library side does not import the data modules"
    ),
}


# ----------------------------------------------------------------------------------------
# the import graph, from the source
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Import:
    importer: str  # module name
    imported: str  # module name
    line: int
    lazy: bool

    def where(self) -> str:
        return f"{_path(self.importer)}:{self.line}"


@dataclass(frozen=True)
class PrivateReach:
    module: str
    line: int
    owner: str  # the hitslite module whose private name is used
    name: str
    how: str

    def __str__(self) -> str:
        return f"{_path(self.module)}:{self.line}: {self.how} the private name {self.name!r} of {self.owner}"


def _module_files() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _module_files()


def _path(module: str) -> str:
    return str(MODULES[module].relative_to(ROOT)) if module in MODULES else module


def _is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _resolve(module: str, level: int, target: str | None) -> str:
    """The absolute name of ``from <level dots><target> import ...`` written in ``module``."""
    if level == 0:
        return target or ""
    base = module.split(".") if _is_package(module) else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


class _Collector(ast.NodeVisitor):
    """Imports of hitslite modules in one module, and the names bound to hitslite modules."""

    def __init__(self, module: str):
        self.module = module
        self.depth = 0  # > 0 inside a function
        self.imports: list[Import] = []
        self.private: list[PrivateReach] = []
        self.module_aliases: dict[str, str] = {}  # local name -> hitslite module it is bound to

    def _edge(self, imported: str, line: int) -> None:
        if imported != self.module and imported in MODULES:
            self.imports.append(Import(self.module, imported, line, self.depth > 0))

    def _function(self, node) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node):  # not executed: no edge
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name == "hitslite" or alias.name.startswith("hitslite."):
                self._edge(alias.name, node.lineno)
                if alias.asname:
                    self.module_aliases[alias.asname] = alias.name
                else:
                    self.module_aliases[alias.name.split(".")[0]] = "hitslite"

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        source = _resolve(self.module, node.level, node.module)
        if not (source == "hitslite" or source.startswith("hitslite.")):
            return
        for alias in node.names:
            sub = f"{source}.{alias.name}"
            if sub in MODULES:  # ``from . import validate``: the name is a module, the edge goes to it
                self._edge(sub, node.lineno)
                self.module_aliases[alias.asname or alias.name] = sub
            else:  # a name defined (or re-exported) by ``source``
                self._edge(source, node.lineno)
            if _is_private(alias.name) and source != self.module:
                statement = f"from {'.' * node.level}{node.module or ''} import {alias.name}"
                self.private.append(PrivateReach(self.module, node.lineno, source, alias.name,
                                                 f"imports `{statement}`:"))

    def visit_Attribute(self, node: ast.Attribute) -> None:
        # x._y with x bound to a hitslite module, or hitslite.a.b._y
        chain, value = [node.attr], node.value
        while isinstance(value, ast.Attribute):
            chain.append(value.attr)
            value = value.value
        if isinstance(value, ast.Name) and value.id in self.module_aliases:
            owner = self.module_aliases[value.id]
            for attr in reversed(chain):
                if _is_private(attr):
                    if owner != self.module:
                        self.private.append(PrivateReach(self.module, node.lineno, owner, attr,
                                                         f"reads `{value.id}.{'.'.join(reversed(chain))}`:"))
                    break
                nxt = f"{owner}.{attr}"
                if nxt not in MODULES:
                    break
                owner = nxt
            return  # the chain is done (do not visit its inner attributes again)
        self.generic_visit(node)


def _collect() -> tuple[list[Import], list[PrivateReach], dict[str, str]]:
    imports, private, errors = [], [], {}
    for module, path in MODULES.items():
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except SyntaxError as err:
            errors[module] = str(err)
            continue
        c = _Collector(module)
        c.visit(tree)
        imports += c.imports
        private += c.private
    return imports, private, errors


IMPORTS, PRIVATE, PARSE_ERRORS = _collect()


def _graph(imports) -> dict[str, dict[str, Import]]:
    g: dict[str, dict[str, Import]] = {m: {} for m in MODULES}
    for imp in imports:
        g[imp.importer].setdefault(imp.imported, imp)  # the first statement naming it
    return g


def _cycles(graph: dict[str, dict[str, Import]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each as a sorted list."""
    index, low, on_stack, stack, out = {}, {}, set(), [], []
    counter = [0]

    def connect(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(graph) + 100))
    for v in sorted(graph):
        if v not in index:
            connect(v)
    return out


def _describe(component: list[str], graph: dict[str, dict[str, Import]]) -> str:
    members = set(component)
    lines = [f"  {imp.importer} -> {imp.imported} ({'lazy, in a function' if imp.lazy else 'top level'}) "
             f"at {imp.where()}"
             for m in component for imp in graph[m].values() if imp.imported in members]
    return "circle among " + ", ".join(component) + ":\n" + "\n".join(lines)


# ----------------------------------------------------------------------------------------
# the tests
# ----------------------------------------------------------------------------------------
def test_every_module_parses_and_the_walk_sees_the_package():
    assert not PARSE_ERRORS, f"modules that do not parse: {PARSE_ERRORS}"
    for name in ("hitslite", "hitslite.steppers", "hitslite.trajectory", "hitslite.data"):
        assert name in MODULES, sorted(MODULES)
    assert any(not imp.lazy for imp in IMPORTS) and any(imp.lazy for imp in IMPORTS)  # both kinds are seen


def test_top_level_imports_form_no_circle():
    graph = _graph(imp for imp in IMPORTS if not imp.lazy)
    found = _cycles(graph)
    assert not found, "top-level imports in a circle:\n" + "\n".join(_describe(c, graph) for c in found)


def test_lazy_imports_close_no_circle():
    """Top-level and lazy imports together: no circle but the allowed ones (each with its reason)."""
    edges = {(imp.importer, imp.imported) for imp in IMPORTS if imp.lazy}
    stale = sorted(set(ALLOWED_LAZY_EDGES) - edges)
    assert not stale, f"ALLOWED_LAZY_EDGES lists lazy imports that no longer exist (remove them): {stale}"
    graph = _graph(imp for imp in IMPORTS
                   if not (imp.lazy and (imp.importer, imp.imported) in ALLOWED_LAZY_EDGES))
    found = _cycles(graph)
    assert not found, ("imports in a circle (lazy ones included; move the shared code to a module below "
                       "both, or, if the circle is genuinely needed, allow its lazy edge with a reason):\n"
                       + "\n".join(_describe(c, graph) for c in found))


def test_no_module_reaches_for_another_modules_private_names():
    assert not PRIVATE, ("private names used outside their module (make them public and documented, or "
                         "keep the use inside the module):\n" + "\n".join(f"  {p}" for p in PRIVATE))


def test_the_walk_finds_what_it_looks_for(tmp_path):
    """The collector itself: edges of both kinds, module names, and private reaches of the three forms."""
    source = (
        "from . import validate\n"
        "from .neural import _coordinate_map, Latent\n"
        "import hitslite.data\n"
        "def f():\n"
        "    from .multiscale import Hierarchy\n"
        "    return validate._is_int(1), hitslite.data._x, validate.positive_int, hitslite.data.cached\n"
    )
    c = _Collector("hitslite.led")
    c.visit(ast.parse(source))
    edges = {(i.imported, i.lazy) for i in c.imports}
    assert edges == {("hitslite.validate", False), ("hitslite.neural", False), ("hitslite.data", False),
                     ("hitslite.multiscale", True)}
    assert sorted((p.owner, p.name) for p in c.private) == [
        ("hitslite.data", "_x"), ("hitslite.neural", "_coordinate_map"), ("hitslite.validate", "_is_int")]
    graph = {"a": {"b": Import("a", "b", 1, False)}, "b": {"a": Import("b", "a", 2, True)}, "c": {}}
    assert _cycles(graph) == [["a", "b"]]


def test_import_hitslite_loads_every_module_once():
    code = (
        "import json, sys\n"
        "import hitslite\n"
        "files = {n: getattr(m, '__file__', None) for n, m in list(sys.modules.items())\n"
        "         if n == 'hitslite' or n.startswith('hitslite.')}\n"
        "print(json.dumps(files))\n"
    )
    res = subprocess.run([sys.executable, "-X", "importtime", "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, f"`import hitslite` failed:\n{res.stderr[-4000:]}"
    loaded = [line.rsplit("|", 1)[1].strip() for line in res.stderr.splitlines()
              if line.startswith("import time:") and "|" in line]
    ours = [name for name in loaded if name == "hitslite" or name.startswith("hitslite.")]
    twice = sorted({name for name in ours if ours.count(name) > 1})
    assert not twice, f"modules loaded more than once by `import hitslite`: {twice}"
    files = json.loads(res.stdout.strip().splitlines()[-1])
    by_file: dict[str, list[str]] = {}
    for name, file in files.items():
        if file:
            by_file.setdefault(str(Path(file).resolve()), []).append(name)
    shared = {f: names for f, names in by_file.items() if len(names) > 1}
    assert not shared, f"one file loaded under several module names: {shared}"
    assert files["hitslite"] and Path(files["hitslite"]).resolve().parent == PACKAGE_DIR
    assert "hitslite.steppers" in files and "hitslite.trajectory" in files


def test_tests_use_only_public_names():
    """The tests hold the package to its public API too: no test imports or reads a private name."""
    found = []
    for path in sorted((ROOT / "tests").glob("*.py")):
        c = _Collector(f"tests.{path.stem}")
        c.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        found += [p for p in c.private if not str(p).startswith("tests/test_imports.py")]
    assert not found, "tests reach private names:\n" + "\n".join(f"  {p}" for p in found)
