"""The tree passes the linters that .pre-commit-config.yaml runs (ruff lint + isort, ruff format)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUFF = Path(sys.executable).with_name('ruff')


@pytest.mark.parametrize('command', [['check', '.'], ['format', '--check', '.']], ids=['lint', 'format'])
def test_ruff_passes(command: list[str]) -> None:
    ruff = str(RUFF) if RUFF.exists() else shutil.which('ruff')
    assert ruff, 'ruff is a test dependency (requirements/tests.txt)'
    result = subprocess.run([ruff, *command], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_pre_commit_runs_the_same_ruff_hooks() -> None:
    config = (ROOT / '.pre-commit-config.yaml').read_text()
    assert 'ruff check --fix' in config and 'ruff format' in config
