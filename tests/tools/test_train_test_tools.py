"""tools/train.py, tools/test.py and tools/dist_train.sh on a tiny generated classification set."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


def run_tool(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """Runs a tool from the repository root, without CUDA."""
    env = dict(os.environ, CUDA_VISIBLE_DEVICES='', OMP_NUM_THREADS='1')
    return subprocess.run([*args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def test_train_resume_and_test(tiny_config: Path, tmp_path: Path) -> None:
    work_dir = tmp_path / 'work'
    result = run_tool(PYTHON, 'tools/train.py', str(tiny_config), '--work-dir', str(work_dir))
    assert result.returncode == 0, result.stderr[-3000:]
    assert (work_dir / 'epoch_2.pth').is_file()
    log = result.stdout + result.stderr
    assert 'AmpOptimWrapper -> OptimWrapper' in log

    # Resuming an mmengine checkpoint needs its globals allowlisted for torch.load(weights_only=True).
    result = run_tool(
        PYTHON, 'tools/train.py', str(tiny_config), '--work-dir', str(work_dir),
        '--resume', str(work_dir / 'epoch_1.pth'),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'resumed epoch: 1' in result.stdout + result.stderr

    result = run_tool(
        PYTHON, 'tools/test.py', str(tiny_config), str(work_dir / 'epoch_2.pth'),
        '--work-dir', str(work_dir), '--out', str(tmp_path / 'preds.pkl'), '--show-dir', str(tmp_path / 'vis'),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert re.search(r'accuracy/top1: [0-9.]+', result.stdout + result.stderr)
    assert (tmp_path / 'preds.pkl').is_file()
    assert list((tmp_path / 'vis').rglob('*.png'))  # drawn predictions


@pytest.mark.slow
def test_train_compiled_on_the_cpu_gets_the_inductor_options(tiny_config: Path, tmp_path: Path) -> None:
    """``compile=True``: mmengine compiles train_step with the CPU options the tool adds and trains to a checkpoint."""
    result = run_tool(
        PYTHON, 'tools/train.py', str(tiny_config), '--work-dir', str(tmp_path / 'work'),
        '--cfg-options', 'compile=True', 'train_cfg.max_epochs=1', timeout=900,
    )  # fmt: skip
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    assert "compile options {'force_layout_optimization': True, 'cpp_wrapper': True} (CPU inductor)" in log
    assert 'Model has been "compiled"' in log
    assert (tmp_path / 'work' / 'epoch_1.pth').is_file()


def run_on_two_processes(script: str, files: list[str], work_dir: Path) -> str:
    """``bash SCRIPT FILES... 2 --work-dir WORK_DIR`` on two CPU processes; returns its output, asserting success."""
    result = subprocess.run(
        ['bash', script, *files, '2', '--work-dir', str(work_dir)],
        cwd=ROOT,
        env=dict(os.environ, CUDA_VISIBLE_DEVICES='', PORT=str(29500 + os.getpid() % 1000), PYTHON=PYTHON),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    return log


@pytest.mark.slow
def test_dist_train_two_cpu_processes(tiny_config: Path, tmp_path: Path) -> None:
    work_dir = tmp_path / 'dist'
    log = run_on_two_processes('tools/dist_train.sh', [str(tiny_config)], work_dir)
    assert 'Distributed launcher: pytorch' in log and 'Distributed training: True' in log
    assert 'GPU number: 2' in log  # mmengine's name for the world size
    # 8 images, 2 per process and step: each of the 2 processes runs 2 steps an epoch.
    assert 'Epoch(train) [2][2/2]' in log and '[1][3/' not in log
    assert 'convnext.CPUDistributedDataParallel' in log
    checkpoint = work_dir / 'epoch_2.pth'
    assert checkpoint.is_file()

    log = run_on_two_processes('tools/dist_test.sh', [str(tiny_config), str(checkpoint)], work_dir)
    assert 'GPU number: 2' in log and re.search(r'accuracy/top1: [0-9.]+', log)
