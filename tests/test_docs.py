"""References to the docs and to the code stay true: a reader who follows one arrives.

Two kinds are checked wherever they are written (code, suites, docs, deploy files):

- ``docs/<page>.md`` and ``docs/<page>.md#<anchor>``: the page exists and, with an anchor,
  has a heading whose GitHub anchor it is;
- dotted code paths in the docs and in the suites' ``meta`` (``tasks.forecast.backtest``,
  ``talentflow.core.tables.FORECASTS_SCHEMA``): the module exists and defines the name
  itself, so a name that moved and is only re-imported at its old home is reported too.
"""

from __future__ import annotations

import importlib
import inspect
import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: A dotted name ending in one of these is a file name (``models.py``), not a code path.
FILE_SUFFIXES = {"py", "md", "json", "yaml", "yml", "toml", "j2", "csv", "txt"}
DOC_LINK = re.compile(r"\bdocs/([\w-]+\.md)(?:#([\w-]+))?")
CODE_PATH = re.compile(
    r"(?<![\w./])(?:talentflow\.)?((?:tasks|flows|models|core|expectations)(?:\.\w+)+)"
)


def _files(*suffixes: str) -> list[Path]:
    """The repository's own files (tracked, or new and not ignored): never a virtual
    environment, a tool's cache or the data directory."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    return sorted(
        REPO / name for name in listed if Path(name).suffix in suffixes and (REPO / name).is_file()
    )


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading: lowercase, punctuation other than
    ``-`` and ``_`` dropped, spaces as dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    headings = re.findall(r"^#+\s+(.+)$", page.read_text(encoding="utf-8"), flags=re.M)
    return {github_anchor(heading) for heading in headings}


def test_the_anchor_rule_is_githubs():
    assert github_anchor("China's intake of foreign talent") == "chinas-intake-of-foreign-talent"
    assert (
        github_anchor("china_prior_ties (`prior_ties_china`, from `china_arrivals`)")
        == "china_prior_ties-prior_ties_china-from-china_arrivals"
    )


def test_every_docs_reference_names_a_page_and_heading_that_exist():
    broken = []
    for path in _files(".py", ".md", ".json", ".yaml", ".yml", ".toml", ".j2"):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for page, anchor in DOC_LINK.findall(line):
                target = REPO / "docs" / page
                if not target.is_file():
                    broken.append(f"{path.relative_to(REPO)}:{number}: no docs/{page}")
                elif anchor and anchor not in _anchors(target):
                    broken.append(f"{path.relative_to(REPO)}:{number}: no #{anchor} in {page}")
    assert broken == []


def _defined_at(reference: str) -> bool:
    """Whether the longest importable prefix of ``talentflow.<reference>`` is a module
    that defines (not imports) the name that follows, and the rest are its attributes."""
    parts = reference.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            module = importlib.import_module("talentflow." + ".".join(parts[:cut]))
        except ImportError:
            continue
        if cut == len(parts):
            return True
        name, obj = parts[cut], module
        source = inspect.getsource(module)
        defined = re.search(rf"^(?:(?:async )?def|class) {name}\b|^{name}\s*[:=]", source, re.M)
        if defined is None:
            return False
        for attribute in parts[cut:]:
            if not hasattr(obj, attribute):
                return False
            obj = getattr(obj, attribute)
        return True
    return False


def test_code_paths_in_the_docs_and_suites_point_where_the_code_is():
    stale = []
    for path in _files(".md", ".json"):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for reference in CODE_PATH.findall(line):
                if reference.rsplit(".", 1)[-1] in FILE_SUFFIXES:
                    continue  # a file name such as models.py
                if not _defined_at(reference):
                    stale.append(f"{path.relative_to(REPO)}:{number}: {reference}")
    assert stale == []


TEST_REFERENCE = re.compile(r"`((?:tests/[\w/]+/)?test_\w+\.py)?(::\w+)?(?:\[[^\]]*\])?`")


def test_every_test_a_doc_cites_exists():
    """docs/reliability.md proves each fault with a test (``tests/…/test_x.py::test_y``,
    ``test_x.py::test_y``, or ``::test_y`` after a file on the same line): each must exist,
    so the page cannot go on citing a test that was renamed or removed."""
    tests = {path.name: path for path in (REPO / "tests").rglob("test_*.py")}
    broken, checked = [], 0
    for page in sorted((REPO / "docs").glob("*.md")):
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
            current = None
            for file, name in TEST_REFERENCE.findall(line):
                if file:
                    current = REPO / file if file.startswith("tests/") else tests.get(file)
                    if current is None or not current.is_file():
                        broken.append(f"docs/{page.name}:{number}: no {file}")
                        current = None
                        continue
                if not (name and current is not None):
                    continue
                checked += 1
                if f"def {name[2:]}(" not in current.read_text(encoding="utf-8"):
                    broken.append(f"docs/{page.name}:{number}: no {name[2:]} in {current.name}")
    assert broken == []
    assert checked >= 25, f"only {checked} test references found: has the page's format changed?"
