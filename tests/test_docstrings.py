"""Every public docstring renders as reStructuredText on the API page.

The book's build runs with warnings as errors, so one stray ``|x|`` (a substitution) or an unclosed ``*`` in a
docstring fails CI only at its last stage, after the chapters ran. This test finds it in seconds: each
docstring goes through napoleon (as the API page does) and then docutils, with Sphinx's roles and the
``math`` directive registered, and any message at warning level or above fails with the object's name.
"""
from __future__ import annotations

import importlib
import inspect
import io
import pkgutil

import pytest

docutils_core = pytest.importorskip("docutils.core")
from docutils.parsers.rst import Directive, directives, roles  # noqa: E402
from docutils.parsers.rst.directives.body import MathBlock  # noqa: E402

napoleon = pytest.importorskip("sphinx.ext.napoleon.docstring")

import hitslite  # noqa: E402

SPHINX_ROLES = ("func", "class", "meth", "attr", "data", "mod", "obj", "exc", "ref", "doc", "py:func",
                "py:class", "py:meth", "py:mod")


def _generic_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    from docutils import nodes

    return [nodes.literal(rawtext, text)], []


for _name in SPHINX_ROLES:
    roles.register_local_role(_name, _generic_role)
directives.register_directive("math", MathBlock)


class _SphinxObject(Directive):
    """Napoleon writes ``.. attribute::`` / ``.. method::`` blocks; Sphinx renders them, docutils does not
    know them. Parse their body so errors inside still show."""

    has_content = True
    optional_arguments = 1
    final_argument_whitespace = True
    option_spec = {"type": directives.unchanged, "value": directives.unchanged, "noindex": directives.flag}

    def run(self):
        from docutils import nodes

        node = nodes.container()
        self.state.nested_parse(self.content, self.content_offset, node)
        return [node]


for _name in ("attribute", "method", "function", "class", "data", "py:attribute", "py:method"):
    directives.register_directive(_name, _SphinxObject)


def _modules():
    names = [hitslite.__name__]
    for info in pkgutil.walk_packages(hitslite.__path__, prefix="hitslite."):
        if info.name.endswith("__main__"):
            continue
        names.append(info.name)
    return names


def _documented(module):
    """(qualified name, docstring) of the module and of every public object it defines."""
    yield module.__name__, module.__doc__
    for name, obj in vars(module).items():
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isclass(obj):
            yield f"{module.__name__}.{name}", obj.__doc__
            for attr, member in vars(obj).items():
                if attr.startswith("_") and attr != "__init__":
                    continue
                member = getattr(member, "__func__", member)
                if isinstance(member, property):
                    member = member.fget
                if callable(member) and getattr(member, "__doc__", None):
                    yield f"{module.__name__}.{name}.{attr}", member.__doc__
        elif inspect.isfunction(obj):
            yield f"{module.__name__}.{name}", obj.__doc__


def _problems(doc: str) -> str:
    # as sphinx.ext.napoleon does with both styles on: NumPy sections first, then Google ones
    text = str(napoleon.GoogleDocstring(str(napoleon.NumpyDocstring(inspect.cleandoc(doc)))))
    stream = io.StringIO()
    docutils_core.publish_doctree(text, settings_overrides={"report_level": 2, "halt_level": 5,
                                                              "warning_stream": stream})
    return stream.getvalue()


@pytest.mark.parametrize("module_name", _modules())
def test_docstrings_render_without_warnings(module_name):
    module = importlib.import_module(module_name)
    bad = {}
    for name, doc in _documented(module):
        if doc:
            found = _problems(doc)
            if found:
                bad[name] = found.strip()
    assert not bad, "docstrings that the API page cannot render:\n" + "\n".join(
        f"{name}: {msg}" for name, msg in bad.items())


def test_the_check_finds_a_bad_docstring():
    """The scanner is not vacuous: the docstring that broke a CI build is reported."""
    assert "substitution" in _problems("Rows of (truth, prediction, |error|) images.").lower()
    assert _problems("Rows of (truth, prediction, ``|error|``) images, see :func:`plot`.") == ""
