"""tools/train.py stopped by SIGTERM resumes to exactly the uninterrupted run: an mmpretrain ConvNeXt V2
classifier with drop path, Mixup/CutMix, RandAugment, random erasing, EMA and layer decay.

The uninterrupted reference runs once (in this process, no workers); runs stopped inside the first epoch, at
the end of an epoch and in the last epoch, a run on two data-loader workers whose whole process group gets the
signal (as on a cluster), and the errors of ``--resume`` are checked against it.
"""

import functools
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from convnext.engine import PREEMPTED_EXIT
from convnext.serialization import read_checkpoint

ROOT = Path(__file__).resolve().parents[2]
HELPERS = ROOT / 'tests' / 'engine'
sys.path.insert(0, str(HELPERS))
from preemption_helpers import (  # noqa: E402
    CLS_BATCHES_PER_EPOCH,
    CLS_EPOCHS,
    classifier_config,
    make_image_folder,
    max_difference,
    signal_hook,
    single_thread,
    stop_points,
    stop_resume_difference,
    train_in_process,
)

pytestmark = pytest.mark.usefixtures('one_thread')

FINAL = f'epoch_{CLS_EPOCHS}.pth'
STOP_POINTS = stop_points(CLS_BATCHES_PER_EPOCH, CLS_EPOCHS)


@pytest.fixture(scope='module')
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_image_folder(tmp_path_factory.mktemp('preempt_cls_data'))


@pytest.fixture(scope='module')
def train(load_tool: Callable[[str], ModuleType]) -> Callable[..., int]:
    """``train(config, work_dir, *options) -> exit code``: tools/train.py's main in this process."""
    return functools.partial(train_in_process, load_tool('tools/train.py'))


@pytest.fixture(scope='module')
def reference(tmp_path_factory: pytest.TempPathFactory, data_root: Path, train: Callable[..., int]) -> Path:
    """The uninterrupted run's work dir."""
    work_dir = tmp_path_factory.mktemp('preempt_cls_reference')
    with single_thread():
        assert train(classifier_config(work_dir / 'cfg.py', data_root), work_dir) == 0
    return work_dir


@pytest.mark.parametrize('stop', list(STOP_POINTS))
def test_sigterm_and_resume_is_bit_identical(
    reference: Path, data_root: Path, train: Callable[..., int], tmp_path: Path, stop: str
) -> None:
    config = classifier_config(tmp_path / 'cfg.py', data_root, hooks=signal_hook(iteration=STOP_POINTS[stop]))
    difference = stop_resume_difference(train, config, tmp_path, STOP_POINTS[stop], reference / FINAL)
    print(f'classifier, stop {stop} (iteration {STOP_POINTS[stop]}): max difference {difference}')
    assert difference == 0


def run_train_py(*args: str, timeout: int = 900) -> tuple[subprocess.CompletedProcess, float]:
    """Runs tools/train.py in its own process group; returns the result and the time it ended."""
    python_path = os.pathsep.join(filter(None, [str(HELPERS), os.environ.get('PYTHONPATH')]))
    env = dict(os.environ, CUDA_VISIBLE_DEVICES='', OMP_NUM_THREADS='1', PYTHONPATH=python_path)
    command = [sys.executable, 'tools/train.py', *args]
    result = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False, start_new_session=True
    )
    return result, time.time()


@pytest.mark.slow
def test_cluster_sigterm_with_two_workers(reference: Path, data_root: Path, tmp_path: Path) -> None:
    """SIGTERM to the whole process group (the workers too) mid-epoch: exit 75, then --resume matches."""
    stamp = tmp_path / 'signal_time'
    hook = signal_hook(iteration=CLS_BATCHES_PER_EPOCH + 2, group=True, stamp=str(stamp))
    config = classifier_config(tmp_path / 'cfg.py', data_root, hooks=hook, num_workers=2)
    result, ended = run_train_py(str(config), '--work-dir', str(tmp_path))
    assert result.returncode == PREEMPTED_EXIT, result.stderr[-3000:]
    latency = ended - float(stamp.read_text())
    print(f'stop-to-exit latency (SIGTERM to the process group, 2 workers): {latency:.2f} s')
    assert 'Stopped by SIGTERM' in result.stdout + result.stderr
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path / 'latest.pth')
    result, _ = run_train_py(str(config), '--work-dir', str(tmp_path), '--resume')
    assert result.returncode == 0, result.stderr[-3000:]
    difference = max_difference(read_checkpoint(str(tmp_path / FINAL)), read_checkpoint(str(reference / FINAL)))
    print(f'classifier, 2 workers, stop at iteration {CLS_BATCHES_PER_EPOCH + 2}: max difference {difference}')
    assert difference == 0


def test_truncated_resume_checkpoint_is_one_error_line(
    reference: Path, data_root: Path, train: Callable[..., int], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    data = (reference / 'epoch_1.pth').read_bytes()
    truncated = tmp_path / 'epoch_1.pth'
    truncated.write_bytes(data[: len(data) // 2])
    assert train(classifier_config(tmp_path / 'cfg.py', data_root), tmp_path, '--resume', str(truncated)) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith('error: ') and str(truncated) in error[0]


def test_resume_from_another_config_names_the_first_mismatching_key(
    reference: Path, data_root: Path, train: Callable[..., int], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    config = classifier_config(tmp_path / 'cfg.py', data_root, width=24)
    assert train(config, tmp_path, '--resume', str(reference / 'epoch_1.pth')) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and str(reference / 'epoch_1.pth') in error[0]
    assert 'model key backbone.downsample_layers.1.1.weight: shape (16, 8, 2, 2) in the checkpoint' in error[0]
