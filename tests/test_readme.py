"""The README stays true: its configuration reference is the code's, CI runs
the test command it shows, the configs it and docs/ point to load, and it
points only inside the repository. (tests/test_tour.py runs its tour.)"""

import re
from pathlib import Path

import pytest

from constitutional.core.config import commented_yaml, load_config

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = [README, *sorted((ROOT / "docs").glob("*.md"))]


def test_config_reference_matches_the_code():
    text = README.read_text()
    assert commented_yaml() in text, \
        "regenerate the README's configuration reference: python scripts/update_readme_reference.py"
    block = text.split("<!-- config-reference:start -->\n", 1)[1].split("<!-- config-reference:end -->", 1)[0]
    assert block == f"```yaml\n{commented_yaml()}\n```\n", "run python scripts/update_readme_reference.py"


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert "make test" in README.read_text()


@pytest.mark.parametrize("config", sorted((ROOT / "configs").glob("*.yaml")) +
                         sorted((ROOT / "experiments").glob("*/*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_loads(config):
    load_config(config)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_docs_point_only_inside_the_repository(doc):
    text = doc.read_text()
    assert "../" not in text, f"{doc.name} points outside the repository"
    assert not re.search(r"\bissues? ?#?\d", text, re.I), f"{doc.name} refers to an issue number"
    for path in re.findall(r"`((?:configs|experiments|docs|scripts|benchmarks|tests)/[\w./-]+)`", text):
        assert (ROOT / path).exists() or (doc.parent / path).exists(), f"{doc.name} names a missing file: {path}"
