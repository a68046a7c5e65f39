"""Checkpoint writes that a kill or a full disk cannot turn into lost work, on a toy mmengine run.

mmengine's ``CheckpointHook`` removes the oldest checkpoint (``max_keep_ckpts``)
and the previous best one before it writes their successor; here a write that
dies (a simulated kill, a full or read-only disk) must leave the previous
checkpoint, a ``last_checkpoint`` naming it, and no half-written file.
"""

import errno
import itertools
import os
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.evaluator import BaseMetric
from mmengine.fileio.backends import LocalBackend
from mmengine.model import BaseModel
from mmengine.registry import DATASETS, METRICS, MODELS, RUNNERS
from torch import nn
from torch.utils.data import Dataset

from convnext.engine import make_preemptible
from convnext.engine.preemption.files import (
    LAST_CHECKPOINT,
    WorkDirWriteError,
    atomic_path,
    remove_partial_files,
    resume_candidates,
    work_dir_write_errors,
)
from convnext.serialization import read_checkpoint

pytestmark = pytest.mark.usefixtures('one_thread')

NUM_SAMPLES = 8
BATCH_SIZE = 2
MAX_ITERS = 6
INTERVAL = 2
FEATURES = 4
RUN_IDS = itertools.count()


@DATASETS.register_module(name='CheckpointWritesToyDataset')
class ToyDataset(Dataset):
    """Fixed features and labels."""

    metainfo = {'classes': ('a', 'b')}

    def __len__(self) -> int:
        return NUM_SAMPLES

    def __getitem__(self, index: int) -> dict:
        return {'inputs': torch.arange(FEATURES, dtype=torch.float32) * (index + 1), 'label': index % 2}


@MODELS.register_module(name='CheckpointWritesToyModel')
class ToyModel(BaseModel):
    """A linear classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(FEATURES, 2)

    def forward(self, inputs: torch.Tensor, label: torch.Tensor | None = None, mode: str = 'tensor') -> object:
        logits = self.fc(inputs)
        if mode == 'loss':
            return {'loss': nn.functional.cross_entropy(logits, label)}
        return [logits]


@METRICS.register_module(name='CheckpointWritesRisingMetric')
class RisingMetric(BaseMetric):
    """A score that improves at every validation, so each one saves a new best checkpoint."""

    calls = 0

    def process(self, data_batch: object, data_samples: object) -> None:
        self.results.append(0.0)

    def compute_metrics(self, results: list) -> dict:
        RisingMetric.calls += 1
        return {'score': float(RisingMetric.calls)}


def toy_cfg(work_dir: Path, max_keep_ckpts: int = 1, save_best: bool = False) -> Config:
    """An iteration-based run of :data:`MAX_ITERS` saving ``iter_{2,4,6}.pth`` (optionally a best checkpoint)."""
    loader = dict(
        dataset=dict(type='CheckpointWritesToyDataset'),
        sampler=dict(type='InfiniteSampler', shuffle=False),
        batch_size=BATCH_SIZE,
        num_workers=0,
        collate_fn=dict(type='default_collate'),
    )
    checkpoint = dict(type='CheckpointHook', interval=INTERVAL, by_epoch=False, max_keep_ckpts=max_keep_ckpts)
    cfg = dict(
        model=dict(type='CheckpointWritesToyModel'),
        work_dir=str(work_dir),
        train_dataloader=loader,
        train_cfg=dict(by_epoch=False, max_iters=MAX_ITERS, val_interval=INTERVAL),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        default_hooks=dict(checkpoint=checkpoint, logger=dict(type='LoggerHook', interval=1)),
        preemption=dict(minutes=None),
        log_level='WARNING',
    )
    if save_best:
        checkpoint.update(save_best='score', rule='greater')
        cfg.update(
            val_dataloader=dict(loader, sampler=dict(type='DefaultSampler', shuffle=False)),
            val_cfg={},
            val_evaluator=dict(type='CheckpointWritesRisingMetric'),
        )
    return Config(cfg)


def train(cfg: Config, resume: bool = False) -> None:
    """Trains in this process, as ``tools/train.py`` does (:func:`make_preemptible`)."""
    cfg = make_preemptible(cfg)
    cfg.resume = resume
    cfg.experiment_name = f'checkpoint_writes_{next(RUN_IDS)}'  # a fresh message hub, as in a new process
    RUNNERS.build(cfg).train()


class Killed(BaseException):
    """What a kill during the write looks like to the code above it: nothing after the write runs."""


def failing_put(name: str, error: BaseException) -> object:
    """A ``LocalBackend.put`` that writes half of the file ``name`` and raises ``error`` (others are written)."""
    put = LocalBackend.put

    def patched(backend: LocalBackend, obj: bytes, filepath: str) -> None:
        if name in os.path.basename(str(filepath)):
            Path(filepath).write_bytes(obj[: len(obj) // 2])
            raise error
        put(backend, obj, filepath)

    return patched


def partial_files(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir() if '.tmp' in path.name)


def test_killed_write_keeps_the_only_previous_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """max_keep_ckpts=1: a kill while iter_4.pth is written leaves iter_2.pth, and last_checkpoint names it."""
    monkeypatch.setattr(LocalBackend, 'put', failing_put('iter_4.pth', Killed()))
    with pytest.raises(Killed):
        train(toy_cfg(tmp_path))
    assert read_checkpoint(str(tmp_path / 'iter_2.pth'))['meta']['iter'] == INTERVAL
    assert (tmp_path / LAST_CHECKPOINT).read_text() == str(tmp_path / 'iter_2.pth')
    assert not (tmp_path / 'iter_4.pth').exists()
    assert resume_candidates(str(tmp_path)) == [str(tmp_path / 'iter_2.pth')]


def test_old_checkpoints_go_once_their_successor_is_saved(tmp_path: Path) -> None:
    """Without failures max_keep_ckpts still holds: only the newest checkpoint is left."""
    train(toy_cfg(tmp_path))
    assert sorted(path.name for path in tmp_path.glob('*.pth')) == [f'iter_{MAX_ITERS}.pth']
    assert (tmp_path / LAST_CHECKPOINT).read_text() == str(tmp_path / f'iter_{MAX_ITERS}.pth')


def test_resume_after_a_killed_write_continues_from_the_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(LocalBackend, 'put', failing_put('iter_4.pth', Killed()))
        with pytest.raises(Killed):
            train(toy_cfg(tmp_path))
    partial = tmp_path / f'.iter_4.pth.tmp{os.getpid() + 1}'  # what a SIGKILLed process leaves
    partial.write_bytes(b'half a checkpoint')
    assert str(partial) not in resume_candidates(str(tmp_path))
    train(toy_cfg(tmp_path), resume=True)
    assert partial_files(tmp_path) == []
    assert sorted(path.name for path in tmp_path.glob('*.pth')) == [f'iter_{MAX_ITERS}.pth']
    final = read_checkpoint(str(tmp_path / f'iter_{MAX_ITERS}.pth'))
    assert final['meta']['iter'] == MAX_ITERS


def test_killed_best_checkpoint_write_keeps_the_previous_best(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The previous best checkpoint survives a kill while its successor is written, and the newest regular
    checkpoint's ``best_ckpt`` names a file that exists."""
    monkeypatch.setattr(LocalBackend, 'put', failing_put('best_score_iter_4.pth', Killed()))
    with pytest.raises(Killed):
        train(toy_cfg(tmp_path, save_best=True))
    previous_best = tmp_path / 'best_score_iter_2.pth'
    assert previous_best.is_file()
    newest = read_checkpoint((tmp_path / LAST_CHECKPOINT).read_text())
    assert newest['message_hub']['runtime_info']['best_ckpt'] == str(previous_best)


def test_best_checkpoint_and_last_checkpoint_agree_after_a_run(tmp_path: Path) -> None:
    train(toy_cfg(tmp_path, save_best=True))
    best = sorted(path.name for path in tmp_path.glob('best_*.pth'))
    assert best == [f'best_score_iter_{MAX_ITERS}.pth']
    newest = read_checkpoint((tmp_path / LAST_CHECKPOINT).read_text())
    assert newest['message_hub']['runtime_info']['best_ckpt'] == str(tmp_path / best[0])
    assert sorted(path.name for path in tmp_path.glob('iter_*.pth')) == [f'iter_{MAX_ITERS}.pth']


@pytest.mark.parametrize('code', [errno.ENOSPC, errno.EROFS], ids=['full', 'read_only'])
def test_failed_write_names_the_directory_and_keeps_the_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    monkeypatch.setattr(LocalBackend, 'put', failing_put('iter_4.pth', OSError(code, os.strerror(code))))
    with pytest.raises(WorkDirWriteError) as raised:
        train(toy_cfg(tmp_path))
    message = str(raised.value)
    assert message.startswith(f'cannot write checkpoint iter_4.pth to {tmp_path} (errno {code}: {os.strerror(code)})')
    assert read_checkpoint(str(tmp_path / 'iter_2.pth'))['meta']['iter'] == INTERVAL
    assert (tmp_path / LAST_CHECKPOINT).read_text() == str(tmp_path / 'iter_2.pth')
    assert partial_files(tmp_path) == []


def test_partial_files_are_removed_and_never_resumed(tmp_path: Path) -> None:
    kept = [tmp_path / 'iter_2.pth', tmp_path / 'notes.tmp1', tmp_path / '.hidden.pth']
    partial = [tmp_path / '.iter_4.pth.tmp4242', tmp_path / f'.{LAST_CHECKPOINT}.tmp7']
    for path in kept + partial:
        path.write_bytes(b'x')
    assert all(str(path) not in resume_candidates(str(tmp_path)) for path in partial)
    assert remove_partial_files(str(tmp_path)) == sorted(str(path) for path in partial)
    assert sorted(tmp_path.iterdir()) == sorted(kept)


def test_atomic_path_leaves_the_old_file_when_the_write_fails(tmp_path: Path) -> None:
    target = tmp_path / 'iter_2.pth'
    target.write_bytes(b'old')
    with pytest.raises(OSError, match='No space'), atomic_path(str(target)) as tmp:
        Path(tmp).write_bytes(b'ne')
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert target.read_bytes() == b'old' and partial_files(tmp_path) == []


@pytest.mark.parametrize(
    ('code', 'inside', 'converted'),
    [
        (errno.EROFS, True, True),
        (errno.ENOSPC, True, True),
        (errno.EACCES, True, True),
        (errno.EROFS, False, False),  # another directory: not the work dir's problem
        (errno.ENOENT, True, False),  # a missing file is not a write failure
    ],
)
def test_work_dir_write_errors(tmp_path: Path, code: int, inside: bool, converted: bool) -> None:
    work_dir = tmp_path / 'work'
    filename = str(work_dir / '20260101_000000') if inside else '/elsewhere/file'
    error = OSError(code, os.strerror(code), filename)
    with pytest.raises(WorkDirWriteError if converted else OSError) as raised, work_dir_write_errors(str(work_dir)):
        raise error
    if converted:
        assert str(raised.value).startswith(f'cannot write logs and checkpoints to {work_dir} (errno {code}: ')
    else:
        assert raised.value is error


@pytest.mark.parametrize(
    ('checkpoint', 'expected'),
    [
        (dict(type='CheckpointHook', interval=2), 'convnext.SafeCheckpointHook'),
        (dict(type='mmdet.CheckpointHook', interval=2), 'convnext.SafeCheckpointHook'),
        (dict(type='MyCheckpointHook', interval=2), 'MyCheckpointHook'),
    ],
)
def test_make_preemptible_substitutes_the_checkpoint_hook(tmp_path: Path, checkpoint: dict, expected: str) -> None:
    cfg = toy_cfg(tmp_path)
    cfg.default_hooks.checkpoint = checkpoint
    adapted = make_preemptible(cfg)
    assert adapted.default_hooks.checkpoint.type == expected
    assert adapted.default_hooks.checkpoint.interval == checkpoint['interval']
    assert cfg.default_hooks.checkpoint.type == checkpoint['type']  # the caller's config is not changed


def test_make_preemptible_without_a_checkpoint_hook(tmp_path: Path) -> None:
    cfg = toy_cfg(tmp_path)
    cfg.default_hooks.checkpoint = None
    assert make_preemptible(cfg).default_hooks.checkpoint is None
    del cfg.default_hooks['checkpoint']  # mmengine's default CheckpointHook(interval=1)
    assert make_preemptible(cfg).default_hooks.checkpoint == dict(type='convnext.SafeCheckpointHook', interval=1)
