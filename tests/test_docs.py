"""The README and the package's pointers to docs say what the code does (issue 12, finding 10:
the README said demo-terminal runs 10 s where the Makefile ran 20, left PORT= undocumented and
orjson out of the dependency list, and results.py pointed to a DESIGN.md the repository does
not have)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
MAKEFILE = (ROOT / "Makefile").read_text(encoding="utf-8")


def test_the_readme_says_how_long_make_demo_terminal_runs():
    said = re.search(r"`make demo-terminal` runs the same load \((\d+) clients, (\d+) s\)", README)
    ran = re.search(r"^demo-terminal:.*\n\t.*demo --duration (\d+)", MAKEFILE, re.MULTILINE)
    assert said and ran
    assert said.group(2) == ran.group(1)


def test_every_make_variable_a_user_sets_is_in_the_readme():
    for variable in re.findall(r"^(\w+)\s*\?=", MAKEFILE, re.MULTILINE):
        if variable in ("PYTHON", "VENV"):  # set-up internals, not a user's choice
            continue
        assert f"{variable}=" in README, variable


def test_the_readme_lists_every_dependency():
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    block = re.search(r"^dependencies = \[(.*?)^\]", pyproject, re.MULTILINE | re.DOTALL).group(1)
    names = re.findall(r'^\s*"([A-Za-z0-9_.-]+)', block, re.MULTILINE)  # (tomllib: 3.11+)
    assert len(names) >= 8
    listed = README[README.index("Dependencies:"):].split("\n\n")[0]
    for name in names:
        assert name in listed, f"{name} is a dependency the README does not name"


def test_every_document_the_package_points_to_exists():
    named = set()
    for source in (ROOT / "llmeter_widget").rglob("*.py"):
        named |= set(re.findall(r"[\w./-]*\w\.md\b", source.read_text(encoding="utf-8")))
    assert named, "the search found nothing: it is broken"
    missing = [name for name in sorted(named)
               if not any((base / name).exists() for base in (ROOT, ROOT / "docs"))]
    assert missing == []
