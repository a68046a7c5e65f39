"""tools/train.py killed or starved of disk while it writes a checkpoint, tried as a user would.

With ``max_keep_ckpts=1`` (``_base_/schedules/coco_3x_lsj.py``, the detection
demo) a SIGKILL in the middle of writing ``iter_4.pth`` must leave
``iter_2.pth`` and a ``last_checkpoint`` naming it, and ``--resume`` must
continue from there (removing the killed write's partial file). A full or
read-only work dir must end in one ``error:`` line naming the directory and the
errno, exit code 2, with the previous checkpoint intact. Faults are injected by
a small wrapper that patches mmengine's file writes and then runs the tool
(tests run as root, where ``chmod`` does not stop writes).
"""

import builtins
import contextlib
import errno
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest
from mmengine.fileio.backends import LocalBackend

from convnext.engine.preemption.files import LAST_CHECKPOINT
from convnext.serialization import read_checkpoint

pytestmark = pytest.mark.usefixtures('one_thread')

ROOT = Path(__file__).resolve().parents[2]
BAD_INPUT_EXIT = 2
MAX_ITERS = 6
INTERVAL = 2
BLOCKED = 'iter_4.pth'
"""The checkpoint whose write is killed or fails; ``iter_2.pth`` is the previous one."""
WAIT_S = 300
"""Longest wait for the subprocess to reach the blocked write (start-up and 3 iterations take ~15 s)."""

CONFIG = """
default_scope = 'mmpretrain'
model = dict(
    type='ImageClassifier',
    backbone=dict(type='convnext.ConvNeXtV2', arch=dict(depths=[1, 1], channels=[8, 16]), out_type='avg'),
    head=dict(type='LinearClsHead', num_classes=2, in_channels=16, loss=dict(type='CrossEntropyLoss')))
data_preprocessor = dict(num_classes=2, mean=[127.5] * 3, std=[127.5] * 3, to_rgb=True)
pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
train_dataloader = dict(batch_size=2, num_workers=0, sampler=dict(type='InfiniteSampler', shuffle=True),
                        dataset=dict(type='CustomDataset', data_root='{data_root}', pipeline=pipeline))
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05))
train_cfg = dict(by_epoch=False, max_iters={max_iters})
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval={interval}, by_epoch=False, max_keep_ckpts=1),
    logger=dict(type='LoggerHook', interval=1),
    visualization=dict(type='VisualizationHook', enable=False))
preemption = dict(minutes=None)
randomness = dict(seed=0)
log_level = 'INFO'
"""

FAULTS = """
import errno, os, runpy, sys, time
from pathlib import Path

from mmengine.fileio.backends import LocalBackend

NAME, MODE = os.environ['FAULT_FILE'], os.environ['FAULT_MODE']
_put = LocalBackend.put


def put(backend, obj, filepath):
    if NAME != os.path.basename(str(filepath)).split('.tmp')[0].lstrip('.'):
        return _put(backend, obj, filepath)
    with open(filepath, 'wb') as file:  # half the file is on disk when the fault strikes
        file.write(obj[: len(obj) // 2])
        file.flush()
    if MODE == 'block':  # the test SIGKILLs the process now
        Path(os.environ['FAULT_MARK']).write_text(str(filepath))
        time.sleep(3600)
    code = int(os.environ['FAULT_ERRNO'])
    raise OSError(code, os.strerror(code))


LocalBackend.put = put
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name='__main__')
"""


@pytest.fixture(scope='module')
def config(tiny_config: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An iteration-based tiny classifier saving iter_2/4/6.pth with ``max_keep_ckpts=1``."""
    path = tmp_path_factory.mktemp('checkpoint_kill') / 'iter_cls.py'
    path.write_text(CONFIG.format(data_root=tiny_config.parent / 'data', max_iters=MAX_ITERS, interval=INTERVAL))
    return path


def environment(**faults: str) -> dict[str, str]:
    return dict(os.environ, CUDA_VISIBLE_DEVICES='', OMP_NUM_THREADS='1', **faults)


def train_command(tmp_path: Path, config: Path, *args: str) -> list[str]:
    """``tools/train.py`` run through the fault wrapper."""
    wrapper = tmp_path / 'faults.py'
    wrapper.write_text(FAULTS)
    return [sys.executable, str(wrapper), 'tools/train.py', str(config), '--work-dir', str(tmp_path / 'work'), *args]


def partial_files(directory: Path) -> list[Path]:
    return sorted(path for path in directory.iterdir() if '.tmp' in path.name)


def kill_during_write(tmp_path: Path, config: Path) -> None:
    """Runs tools/train.py until it is half-way through writing :data:`BLOCKED`, then SIGKILLs it."""
    mark = tmp_path / 'blocked'
    env = environment(FAULT_FILE=BLOCKED, FAULT_MODE='block', FAULT_MARK=str(mark))
    process = subprocess.Popen(
        train_command(tmp_path, config),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + WAIT_S
        while not mark.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert mark.exists(), f'the run never reached the write of {BLOCKED}: {process.stderr.read()[-3000:]!r}'
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()


@pytest.mark.slow
def test_sigkill_during_checkpoint_write_then_resume(tmp_path: Path, config: Path) -> None:
    work_dir = tmp_path / 'work'
    kill_during_write(tmp_path, config)
    previous = work_dir / 'iter_2.pth'
    assert read_checkpoint(str(previous))['meta']['iter'] == INTERVAL
    assert (work_dir / LAST_CHECKPOINT).read_text() == str(previous)
    assert not (work_dir / BLOCKED).exists()
    [partial] = partial_files(work_dir)
    assert partial.name.startswith(f'.{BLOCKED}.tmp') and partial.stat().st_size > 0

    result = subprocess.run(
        [sys.executable, 'tools/train.py', str(config), '--work-dir', str(work_dir), '--resume'],
        cwd=ROOT,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=WAIT_S,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    log = result.stdout + result.stderr
    assert f'Load checkpoint from {previous}' in log
    assert f'Removed 1 partial file(s) of a killed checkpoint write: {[str(partial)]}' in log
    assert partial_files(work_dir) == []
    assert sorted(path.name for path in work_dir.glob('*.pth')) == [f'iter_{MAX_ITERS}.pth']
    assert read_checkpoint(str(work_dir / f'iter_{MAX_ITERS}.pth'))['meta']['iter'] == MAX_ITERS


@pytest.mark.slow
def test_full_disk_during_checkpoint_write_is_one_error_line(tmp_path: Path, config: Path) -> None:
    """What a terminal shows: one line, exit 2, no traceback; iter_2.pth intact and nothing half-written."""
    env = environment(FAULT_FILE=BLOCKED, FAULT_MODE='error', FAULT_ERRNO=str(errno.ENOSPC))
    result = subprocess.run(
        train_command(tmp_path, config), cwd=ROOT, env=env, capture_output=True, text=True, timeout=WAIT_S, check=False
    )
    work_dir = tmp_path / 'work'
    assert result.returncode == BAD_INPUT_EXIT, result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and 'Traceback' not in result.stdout + result.stderr, result.stderr[-3000:]
    assert lines[0].startswith(f'error: cannot write checkpoint {BLOCKED} to {work_dir} (errno 28: No space left')
    assert read_checkpoint(str(work_dir / 'iter_2.pth'))['meta']['iter'] == INTERVAL
    assert (work_dir / LAST_CHECKPOINT).read_text() == str(work_dir / 'iter_2.pth')
    assert partial_files(work_dir) == [] and not (work_dir / BLOCKED).exists()


@contextlib.contextmanager
def read_only(directory: Path) -> Iterator[None]:
    """Makes creating directories and opening files for writing under ``directory`` fail with EROFS."""
    mkdir, open_ = os.mkdir, builtins.open

    def refuse(path: object) -> None:
        if os.path.abspath(os.fsdecode(path)).startswith(str(directory)):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fsdecode(path))

    def guarded_mkdir(path: object, *args: object, **kwargs: object) -> None:
        refuse(path)
        mkdir(path, *args, **kwargs)

    def guarded_open(file: object, mode: str = 'r', *args: object, **kwargs: object) -> object:
        if isinstance(file, str | bytes | os.PathLike) and set(mode) & set('wax+'):
            refuse(file)
        return open_(file, mode, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, 'mkdir', guarded_mkdir)
        patch.setattr(builtins, 'open', guarded_open)
        yield


def run_main(train: ModuleType, argv: list[str]) -> tuple[int, str]:
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        code = train.main(argv)
    return code, stderr.getvalue()


@pytest.fixture
def train_tool(load_tool: Callable[[str], ModuleType]) -> ModuleType:
    return load_tool('tools/train.py')


def test_read_only_work_dir_at_start_is_one_error_line(train_tool: ModuleType, tmp_path: Path, config: Path) -> None:
    """mmengine writes its log dir, log and config into the work dir first: the first failure is the error."""
    work_dir = tmp_path / 'work'
    work_dir.mkdir()
    (work_dir / 'iter_2.pth').write_bytes(b'previous run')
    with read_only(work_dir):
        code, stderr = run_main(train_tool, [str(config), '--work-dir', str(work_dir)])
    assert code == BAD_INPUT_EXIT
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f'error: cannot write logs and checkpoints to {work_dir} (errno 30: Read-only file')
    assert sorted(path.name for path in work_dir.iterdir()) == ['iter_2.pth']
    assert (work_dir / 'iter_2.pth').read_bytes() == b'previous run'


def test_work_dir_that_becomes_read_only_keeps_the_previous_checkpoint(
    train_tool: ModuleType, tmp_path: Path, config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work_dir = tmp_path / 'work'
    put = LocalBackend.put

    def read_only_put(backend: LocalBackend, obj: bytes, filepath: str) -> None:
        if BLOCKED in os.path.basename(str(filepath)):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(filepath))
        put(backend, obj, filepath)

    monkeypatch.setattr(LocalBackend, 'put', read_only_put)
    code, stderr = run_main(train_tool, [str(config), '--work-dir', str(work_dir)])
    assert code == BAD_INPUT_EXIT
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f'error: cannot write checkpoint {BLOCKED} to {work_dir} (errno 30: Read-only file')
    assert read_checkpoint(str(work_dir / 'iter_2.pth'))['meta']['iter'] == INTERVAL
    assert partial_files(work_dir) == []
