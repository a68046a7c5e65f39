"""tools/slurm_train.sh requeues a preempted run (exit code 75) when asked, with fake ``srun`` and ``scontrol``."""

import os
import subprocess
from pathlib import Path

import pytest

from convnext.engine import PREEMPTED_EXIT

ROOT = Path(__file__).resolve().parents[2]

FAKE_SRUN = """#!/usr/bin/env bash
# Logs its arguments; exits with the next code of $FAKE_CODES (one per line), 0 when they run out.
echo "$*" >> "$FAKE_LOG"
code=$(head -n 1 "$FAKE_CODES")
sed -i 1d "$FAKE_CODES"
exit "${code:-0}"
"""

FAKE_SCONTROL = """#!/usr/bin/env bash
echo "scontrol $*" >> "$FAKE_LOG"
"""


def run_slurm_train(tmp_path: Path, codes: list[int], *args: str, env: dict | None = None) -> tuple[int, list[str]]:
    """Runs slurm_train.sh with fake Slurm commands; returns its exit code and the commands' log lines."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir(exist_ok=True)
    for name, text in (('srun', FAKE_SRUN), ('scontrol', FAKE_SCONTROL)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    log, code_file = tmp_path / 'log', tmp_path / 'codes'
    code_file.write_text(''.join(f'{code}\n' for code in codes))
    full_env = {k: v for k, v in os.environ.items() if not k.startswith('SLURM_')}
    full_env.update(PATH=f'{bin_dir}:{os.environ["PATH"]}', FAKE_LOG=str(log), FAKE_CODES=str(code_file), **(env or {}))
    command = ['bash', str(ROOT / 'tools' / 'slurm_train.sh'), 'part', 'job', 'configs/x.py', 'work_dirs/x', *args]
    result = subprocess.run(command, env=full_env, capture_output=True, text=True, timeout=60, check=False)
    return result.returncode, log.read_text().splitlines() if log.exists() else []


def test_preempted_run_is_started_again_with_resume(tmp_path: Path) -> None:
    code, calls = run_slurm_train(tmp_path, [PREEMPTED_EXIT, PREEMPTED_EXIT, 0], '--requeue', '--amp')
    assert code == 0
    assert len(calls) == 3
    assert all(call.endswith('--amp --resume') and '--requeue' not in call for call in calls)


def test_requeue_from_the_environment_inside_a_batch_job(tmp_path: Path) -> None:
    env = {'SLURM_REQUEUE': '1', 'SLURM_JOB_ID': '4242'}
    code, calls = run_slurm_train(tmp_path, [PREEMPTED_EXIT], env=env)
    assert code == PREEMPTED_EXIT
    assert calls[-1] == 'scontrol requeue 4242' and len(calls) == 2


@pytest.mark.parametrize('codes', [[PREEMPTED_EXIT], [1]], ids=['preempted', 'failed'])
def test_without_requeue_the_exit_code_is_passed_on(tmp_path: Path, codes: list[int]) -> None:
    code, calls = run_slurm_train(tmp_path, codes, '--resume', 'work_dirs/x/epoch_3.pth')
    assert code == codes[0] and len(calls) == 1
    assert calls[0].endswith('--launcher slurm --resume work_dirs/x/epoch_3.pth')


def test_a_failure_after_a_requeue_is_not_retried(tmp_path: Path) -> None:
    code, calls = run_slurm_train(tmp_path, [PREEMPTED_EXIT, 3], '--requeue')
    assert code == 3 and len(calls) == 2
