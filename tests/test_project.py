"""The project's own promises: CI runs the README's test command verbatim."""
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands():
    text = (ROOT / "README.md").read_text()
    quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [block.split("```", 1)[0].strip() for block in quick.split("```bash")[1:]]


def test_ci_runs_the_readme_test_command_verbatim():
    run, test = readme_commands()
    assert "pytest" in test
    assert test in (ROOT / ".ci" / "run").read_text().splitlines()
