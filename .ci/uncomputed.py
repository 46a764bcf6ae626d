"""Every number a chapter's text states is one of its cells computes (or a short, explicit exception).

    python .ci/uncomputed.py [book/NN_topic.ipynb ...]      # default: every executed book/*.ipynb

Run after the test command has executed the chapters (their outputs are in book/*.ipynb); ``.ci/run``
calls it in the book stage. For each chapter it collects

* the **stated** numbers: every number in the Markdown cells' prose, after removing what is not a claim
  (math, inline and fenced code, links, directive options, list markers, and references such as
  "Fig. 6", "Table 2", "Sec. 3.1", "eqs. 1-4", "SI Figs. 32-33", "Chapter 9"); integers up to 10 that
  carry no unit of comparison (x, %, "times") are counts in the language ("two levels", "p = 5") and are
  not checked;
* the **computed** numbers: every number in any code cell's source (a parameter set on the page is on the
  page) and in every output it produced (printed text, tables, figures' text, saved widget views).

A stated number matches when some computed number, rounded to the stated number's significant digits,
equals it (percentages also match the fraction, and the reverse). What is stated but not computed is
printed with its line, and the script exits 1. Exceptions live in ``.ci/uncomputed_allowed.json``: one
list per chapter (or ``"*"`` for every chapter) of ``[number, reason]`` pairs. Keep it short: most
numbers should be printed by the page itself.
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALLOWED = Path(__file__).with_name("uncomputed_allowed.json")

# references: a keyword, then a list of numbers / ranges ("Figs. 1, 16-28", "SI 8.2.4", "eqs. (9)-(10)")
_REF_WORDS = (r"(?:Figs?|Figures?|Tables?|Tabs?|Secs?|Sections?|Eqs?|eqs?|Equations?|equations?|SI|App|"
              r"Appendix|Appendices|Algorithms?|Alg|Ch|Chapters?|chapters?|Parts?|Exercises?|exercises?|"
              r"Steps?|Listings?|Lemmas?|Theorems?|Remarks?|Items?|items?|issues?|level|levels|NNTS|"
              r"Level|Levels|Part|v|version|Python|torch|PyTorch|ipywidgets)")
_REF_ITEM = r"\(?[A-Z]?\d+(?:\.\d+)*[A-Za-z]?\)?"
_REF = re.compile(_REF_WORDS + r"\.?[\s~]*" + _REF_ITEM
                  + r"(?:\s*(?:,|–|-|—|and|&|or|to)\s*" + _REF_ITEM + r")*")
# a number as prose writes it: 8,000  0.135  3.9e-7  3.9 × 10^-7  1e5  12.5
_NUM = re.compile(r"(?<![\w.^_])(?<!\w-)"
                  r"(?P<num>\d{1,3}(?:(?:,|\\,|\u2009|\u202f|\u00a0)\d{3})+|\d+(?:\.\d+)?)"
                  r"(?P<exp>(?:e[-+−]?\d+)|(?:\s*[×x]\s*10\s*(?:\^\s*\{?\s*[-−]?\d+\}?|[⁻⁰¹²³⁴⁵⁶⁷⁸⁹]+)))?"
                  r"(?P<after>\s*(?:[×%]|x\b|times\b|-fold|fold\b))?")
_CODE_NUM = re.compile(r"(?<![\w.])[-−]?(\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")


def _strip_prose(md: str) -> str:
    """The claims in a Markdown cell: everything that is not math, code, a link target or markup."""
    text = re.sub(r"<!--.*?-->", " ", md, flags=re.S)
    # a references section lists citations (volumes, pages, years), not claims
    text = re.split(r"^#+\s*(?:References|Further reading|Bibliography)\b", text, maxsplit=1,
                    flags=re.M)[0]
    text = re.sub(r"^(`{3,}|~{3,})\s*\{(math|code-block|code)\}.*?^\1\s*$", " ", text, flags=re.S | re.M)
    text = re.sub(r"^(`{3,}|~{3,})(?!\s*\{).*?^\1\s*$", " ", text, flags=re.S | re.M)  # plain fenced code
    text = re.sub(r"^(`{3,}|~{3,})\s*\{[^}]*\}.*$", " ", text, flags=re.M)  # directive openers
    text = re.sub(r"^\s*:[\w-]+:.*$", " ", text, flags=re.M)  # directive options (:label: ex-10-1)
    text = re.sub(r"\$\$.*?\$\$", " ", text, flags=re.S)
    # scientific notation written as math: 3.9 \times 10^{-7} -> 3.9e-7 (before exponents are dropped)
    text = re.sub(r"(\d(?:\.\d+)?)\s*(?:\\times|\\cdot|×)\s*10\^\{?\s*([-−]?\d+)\s*\}?", r"\1e\2", text)
    text = re.sub(r"\^\{[^}]*\}|_\{[^}]*\}|[\^_]\w", " ", text)  # exponents and subscripts: notation
    text = re.sub(r"(?<!\\)\$(.+?)(?<!\\)\$", r" \1 ", text)  # inline math: its numbers are claims too
    text = re.sub(r"\{(math|eq|numref|ref|doc|download)\}`[^`]*`", " ", text)
    text = re.sub(r"`[^`]*`", " ", text)
    text = re.sub(r"\]\([^)]*\)", "]", text)  # link targets
    text = re.sub(r"https?://\S+", " ", text)
    text = re.sub(r"^\s*#+.*$", " ", text, flags=re.M)  # headings carry section numbers
    text = re.sub(r"^\s*(\d+\.|[-*+])\s", " ", text, flags=re.M)  # list markers
    text = re.sub(r"\((?:19|20)\d{2}[a-z]?\)", " ", text)  # citation years: "Springer (1993)"
    # citation years after a name: "Cox & Matthews 2002", "Benettin et al. 1980"
    text = re.sub(r"((?:et al\.?|[A-Z][\w'-]+),?)\s+(?:19|20)\d{2}[a-z]?\b", r"\1", text)
    text = re.sub(r"\[\d+(?:\s*[,–-]\s*\d+)*\]", " ", text)  # reference numbers: "refs. [53, 30]"
    text = _REF.sub(" ", text)
    return text


def _sig_digits(num: str) -> int:
    digits = re.sub(r"\\,|[,.\u2009\u202f\u00a0]", "", num).lstrip("0")
    if "." not in num:
        digits = digits.rstrip("0") or "0"  # 8000 states one significant digit at least
    return max(1, len(digits))


def _value(m: re.Match) -> tuple[float, int] | None:
    num, exp = m.group("num"), m.group("exp") or ""
    value = float(re.sub(r"\\,|[,\u2009\u202f\u00a0]", "", num))
    if exp:
        e = re.search(r"[-−]?\d+\s*\}?$", exp.replace(" ", "")).group(0).rstrip("}").replace("−", "-")
        value *= 10.0 ** int(e)
    return value, _sig_digits(num)


def stated_numbers(md: str) -> list[tuple[float, int, str, str]]:
    """``(value, significant digits, as written, line)`` for every number a Markdown cell states."""
    out = []
    for line in _strip_prose(md).splitlines():
        for m in _NUM.finditer(line):
            value, sig = _value(m)
            has_unit = bool(m.group("after"))
            if not has_unit and not m.group("exp") and "." not in m.group("num") and value <= 10:
                continue  # small counts: "two levels", "p = 5"
            out.append((value, sig, m.group(0).strip(), line.strip()))
    return out


def computed_numbers(nb: dict) -> set[float]:
    """Every number in the notebook's code and outputs (text, HTML, widget state)."""
    texts = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        texts.append("".join(cell["source"]))
        for out in cell.get("outputs", []):
            if "text" in out:
                texts.append("".join(out["text"]))
            for mime, data in out.get("data", {}).items():
                if mime.startswith("text/") or mime.endswith("json"):
                    texts.append(data if isinstance(data, str) else json.dumps(data))
            if out.get("output_type") == "error":
                texts.append("\n".join(out.get("traceback", [])))
    texts.append(json.dumps(nb.get("metadata", {}).get("widgets", {})))
    values = set()
    for text in texts:
        for m in _CODE_NUM.finditer(text.replace("−", "-")):
            try:
                values.add(abs(float(m.group(0).replace("−", "-"))))
            except ValueError:
                pass
    return values


def _round_sig(x: float, sig: int) -> float:
    if x == 0 or not math.isfinite(x):
        return x
    return round(x, sig - 1 - math.floor(math.log10(abs(x))))


def matches(value: float, sig: int, computed: set[float]) -> bool:
    targets = {value, value / 100, value * 100}
    for c in computed:
        for t in targets:
            if t == 0:
                if c == 0:
                    return True
                continue
            if math.isclose(_round_sig(c, sig), _round_sig(t, sig), rel_tol=1e-9):
                return True
    return False


def check(nb_path: Path, allowed: dict) -> list[str]:
    nb = json.loads(nb_path.read_text())
    computed = computed_numbers(nb)
    exceptions = {float(v) for v, _ in allowed.get("*", []) + allowed.get(nb_path.stem, [])}
    problems = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        for value, sig, written, line in stated_numbers("".join(cell["source"])):
            if value in exceptions or matches(value, sig, computed):
                continue
            problems.append(f"{nb_path.stem}: '{written}' is stated but no cell computes it: {line[:150]}")
    return problems


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or sorted((ROOT / "book").glob("[0-9]*.ipynb"))
    allowed = json.loads(ALLOWED.read_text()) if ALLOWED.exists() else {}
    for key, pairs in allowed.items():
        for pair in pairs:
            if not (isinstance(pair, list) and len(pair) == 2 and str(pair[1]).strip()):
                sys.exit(f"{ALLOWED}: entry {pair!r} under {key!r} must be [number, reason]")
    problems, checked = [], 0
    for path in paths:
        nb = json.loads(path.read_text())
        if not any(c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code"):
            problems.append(f"{path}: not executed (no outputs): run the README test command first")
            continue
        checked += 1
        problems += check(path, allowed)
    for p in problems:
        print(p)
    n_allowed = sum(len(v) for v in allowed.values())
    print(f"[numbers] {checked} chapter(s) checked, {len(problems)} uncomputed number(s), "
          f"{n_allowed} allowed exception(s) in {ALLOWED.name}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
