"""The README stays true: its configuration reference is the code's, and CI
runs the test command it shows."""

from pathlib import Path

from constitutional.core.config import commented_yaml

ROOT = Path(__file__).resolve().parents[1]


def test_config_reference_matches_the_code():
    assert commented_yaml() in (ROOT / "README.md").read_text(), \
        "regenerate the README's configuration reference from `constitutional init`"


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert "make test" in (ROOT / "README.md").read_text()
