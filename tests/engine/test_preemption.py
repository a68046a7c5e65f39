"""Preemption-safe training on mmengine alone: a toy model whose data and forward pass draw from every generator.

A run stopped by a real SIGTERM at several points and resumed ends with exactly
(max difference 0) the weights, EMA weights and optimizer state of an
uninterrupted run, for the epoch- and the iteration-based loop and with
data-loader workers. Also: rolling checkpoints, atomic writes, and the errors
and fallbacks of ``--resume``.
"""

import itertools
import random
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.evaluator import BaseMetric
from mmengine.fileio.backends import LocalBackend
from mmengine.model import BaseModel
from mmengine.registry import DATASETS, METRICS, MODELS, RUNNERS
from torch import nn
from torch.utils.data import Dataset

from convnext.engine import (
    PREEMPTED_EXIT,
    PreemptionHook,
    ResumeError,
    SeededDataset,
    TrainingPreempted,
    make_preemptible,
)
from convnext.exceptions import CheckpointReadError
from convnext.serialization import read_checkpoint

sys.path.insert(0, str(Path(__file__).parent))
from preemption_helpers import max_difference  # noqa: E402  (registers SignalAtIter)

pytestmark = pytest.mark.usefixtures('one_thread')

NUM_SAMPLES = 16
BATCH_SIZE = 4
EPOCHS = 3
BATCHES_PER_EPOCH = NUM_SAMPLES // BATCH_SIZE
FEATURES = 8
RUN_IDS = itertools.count()


@DATASETS.register_module(name='PreemptionToyDataset')
class NoisyDataset(Dataset):
    """Samples whose 'augmentation' draws from Python's, NumPy's and torch's generators."""

    metainfo = {'classes': ('a', 'b')}

    def __len__(self) -> int:
        return NUM_SAMPLES

    def __getitem__(self, index: int) -> dict:
        base = torch.arange(FEATURES, dtype=torch.float32) * (index + 1) / NUM_SAMPLES
        noise = torch.rand(FEATURES) + float(np.random.rand()) + random.random()
        return {'inputs': base + noise, 'label': index % 2}


@MODELS.register_module(name='PreemptionToyModel')
class DropModel(BaseModel):
    """A linear classifier with dropout (torch's generator) and a NumPy-drawn input scale (like Mixup)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(FEATURES, 16)
        self.drop = nn.Dropout(0.3)
        self.fc2 = nn.Linear(16, 2)

    def forward(self, inputs: torch.Tensor, label: torch.Tensor | None = None, mode: str = 'tensor') -> object:
        scale = float(np.random.beta(0.8, 0.8)) if self.training else 1.0
        logits = self.fc2(self.drop(torch.relu(self.fc1(inputs * scale))))
        if mode == 'loss':
            return {'loss': nn.functional.cross_entropy(logits, label)}
        return logits


def toy_cfg(work_dir: Path, by_epoch: bool = True, num_workers: int = 0, hooks: list | None = None) -> Config:
    """A small training config over :class:`NoisyDataset` with EMA, a scheduler and AdamW."""
    loader = dict(
        dataset=dict(type='PreemptionToyDataset'),
        sampler=dict(type='DefaultSampler', shuffle=True),
        batch_size=BATCH_SIZE,
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
        collate_fn=dict(type='default_collate'),
    )
    max_iters = EPOCHS * BATCHES_PER_EPOCH
    train_cfg = dict(by_epoch=True, max_epochs=EPOCHS) if by_epoch else dict(by_epoch=False, max_iters=max_iters)
    return Config(
        dict(
            model=dict(type='PreemptionToyModel'),
            work_dir=str(work_dir),
            train_dataloader=loader,
            train_cfg=train_cfg,
            optim_wrapper=dict(optimizer=dict(type='AdamW', lr=0.01, weight_decay=0.05)),
            param_scheduler=[dict(type='CosineAnnealingLR', T_max=max_iters, by_epoch=False)],
            custom_hooks=[dict(type='EMAHook', momentum=0.1), *(hooks or [])],
            default_hooks=dict(
                checkpoint=dict(type='CheckpointHook', interval=1 if by_epoch else max_iters, by_epoch=by_epoch),
                logger=dict(type='LoggerHook', interval=1),
            ),
            randomness=dict(seed=0, deterministic=True),
            preemption=dict(minutes=None),
            log_level='WARNING',
        )
    )


def train(cfg: Config, resume: bool = False) -> int:
    """Trains in this process; returns the exit code (0, or :data:`PREEMPTED_EXIT`)."""
    cfg = make_preemptible(cfg)
    cfg.resume = resume
    cfg.experiment_name = f'toy_{next(RUN_IDS)}'  # a fresh message hub and logger, as in a new process
    runner = RUNNERS.build(cfg)
    try:
        runner.train()
    except TrainingPreempted as stop:
        return stop.code
    return 0


def final_checkpoint(work_dir: Path, by_epoch: bool = True) -> dict:
    name = f'epoch_{EPOCHS}.pth' if by_epoch else f'iter_{EPOCHS * BATCHES_PER_EPOCH}.pth'
    return read_checkpoint(str(work_dir / name))


@pytest.fixture(scope='module')
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Uninterrupted runs, epoch- and iteration-based (their work dirs and final checkpoints)."""
    runs = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the tests (one_thread): float sums depend on the thread count
    try:
        for by_epoch in (True, False):
            work_dir = tmp_path_factory.mktemp(f'reference_{by_epoch}')
            assert train(toy_cfg(work_dir, by_epoch)) == 0
            runs[by_epoch] = {'work_dir': work_dir, 'final': final_checkpoint(work_dir, by_epoch)}
    finally:
        torch.set_num_threads(threads)
    return runs


STOP_POINTS = {
    'first_epoch': dict(iteration=2),
    'end_of_epoch': dict(iteration=BATCHES_PER_EPOCH),
    'start_of_second_epoch': dict(iteration=BATCHES_PER_EPOCH + 1),
    'last_epoch': dict(iteration=EPOCHS * BATCHES_PER_EPOCH - 1),
}


@pytest.mark.parametrize('by_epoch', [True, False], ids=['epoch_loop', 'iter_loop'])
@pytest.mark.parametrize('stop', list(STOP_POINTS))
def test_sigterm_and_resume_is_bit_identical(reference: dict, tmp_path: Path, stop: str, by_epoch: bool) -> None:
    hook = dict(type='SignalAtIter', **STOP_POINTS[stop])
    assert train(toy_cfg(tmp_path, by_epoch, hooks=[hook])) == PREEMPTED_EXIT
    latest = read_checkpoint(str(tmp_path / 'latest.pth'))
    assert latest['meta']['iter'] == STOP_POINTS[stop]['iteration']
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path / 'latest.pth')
    assert train(toy_cfg(tmp_path, by_epoch), resume=True) == 0
    difference = max_difference(final_checkpoint(tmp_path, by_epoch), reference[by_epoch]['final'])
    print(f'max difference after a stop at {stop} ({"epoch" if by_epoch else "iter"} loop): {difference}')
    assert difference == 0


@pytest.mark.parametrize('by_epoch', [True, False], ids=['epoch_loop', 'iter_loop'])
def test_workers_regenerate_the_same_samples(reference: dict, tmp_path: Path, by_epoch: bool) -> None:
    """Two persistent workers, stopped mid-epoch: the same result as the single-process reference."""
    hook = dict(type='SignalAtIter', iteration=BATCHES_PER_EPOCH + 2)
    assert train(toy_cfg(tmp_path, by_epoch, num_workers=2, hooks=[hook])) == PREEMPTED_EXIT
    assert train(toy_cfg(tmp_path, by_epoch, num_workers=2), resume=True) == 0
    assert max_difference(final_checkpoint(tmp_path, by_epoch), reference[by_epoch]['final']) == 0


def test_signal_during_validation_stops_at_the_epoch_boundary(reference: dict, tmp_path: Path) -> None:
    cfg = toy_cfg(tmp_path, hooks=[dict(type='SignalAtIter', epoch=1, val_iter=1)])
    cfg.val_dataloader = cfg.train_dataloader
    cfg.val_cfg = {}
    cfg.val_evaluator = dict(type='PreemptionToyMetric')
    assert train(cfg) == PREEMPTED_EXIT
    latest = read_checkpoint(str(tmp_path / 'latest.pth'))
    assert latest['resume_state']['phase'] == 'epoch_start' and latest['meta']['epoch'] == 1
    resumed = toy_cfg(tmp_path)
    resumed.merge_from_dict({k: cfg[k] for k in ('val_dataloader', 'val_cfg', 'val_evaluator')})
    assert train(resumed, resume=True) == 0
    assert max_difference(final_checkpoint(tmp_path), reference[True]['final']) == 0


def test_epoch_checkpoint_resumes_exactly(reference: dict, tmp_path: Path) -> None:
    """Resuming the recipe's own epoch checkpoint (not a stop checkpoint) also reproduces the run."""
    source = reference[True]['work_dir']
    (tmp_path / 'epoch_1.pth').write_bytes((source / 'epoch_1.pth').read_bytes())
    cfg = toy_cfg(tmp_path)
    cfg.load_from = str(tmp_path / 'epoch_1.pth')
    assert train(cfg, resume=True) == 0
    assert max_difference(final_checkpoint(tmp_path), reference[True]['final']) == 0


def test_rolling_checkpoint_every_n_iterations(tmp_path: Path) -> None:
    cfg = toy_cfg(tmp_path)
    cfg.merge_from_dict({'preemption.interval': 5})
    assert train(cfg) == 0
    latest = read_checkpoint(str(tmp_path / 'latest.pth'))
    assert latest['meta']['iter'] == 10 and latest['resume_state']['position'] == 2
    assert all((tmp_path / f'epoch_{epoch}.pth').is_file() for epoch in range(1, EPOCHS + 1))


def test_preemption_settings_are_checked(tmp_path: Path) -> None:
    cfg = toy_cfg(tmp_path)
    cfg.merge_from_dict({'preemption.intervall': 5})
    with pytest.raises(Exception, match='preemption.intervall is not a setting'):
        make_preemptible(cfg)
    with pytest.raises(ValueError, match='preemption.interval must be a positive'):
        PreemptionHook(interval=0)
    cfg = toy_cfg(tmp_path)
    cfg.preemption = dict(enable=False)
    assert make_preemptible(cfg) == cfg


def test_killed_write_leaves_the_old_checkpoint(
    reference: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = toy_cfg(tmp_path)
    cfg.merge_from_dict({'preemption.interval': 1})
    old = (reference[True]['work_dir'] / 'epoch_1.pth').read_bytes()
    (tmp_path / 'latest.pth').write_bytes(old)

    def killed_write(backend: object, obj: bytes, filepath: str) -> None:
        Path(filepath).write_bytes(obj[: len(obj) // 2])
        raise KeyboardInterrupt  # what a kill during the write looks like to the caller

    monkeypatch.setattr(LocalBackend, 'put', killed_write)
    with pytest.raises(KeyboardInterrupt):
        train(cfg)
    assert (tmp_path / 'latest.pth').read_bytes() == old
    assert [p.name for p in tmp_path.iterdir() if '.tmp' in p.name] == []


def test_truncated_checkpoint_is_one_clear_error(reference: dict, tmp_path: Path) -> None:
    data = (reference[True]['work_dir'] / 'epoch_2.pth').read_bytes()
    truncated = tmp_path / 'epoch_2.pth'
    truncated.write_bytes(data[: len(data) // 2])
    cfg = toy_cfg(tmp_path)
    cfg.load_from = str(truncated)
    with pytest.raises(CheckpointReadError, match=str(truncated)):
        train(cfg, resume=True)


def test_auto_resume_falls_back_to_the_previous_good_checkpoint(reference: dict, tmp_path: Path) -> None:
    source = reference[True]['work_dir']
    (tmp_path / 'epoch_1.pth').write_bytes((source / 'epoch_1.pth').read_bytes())
    data = (source / 'epoch_2.pth').read_bytes()
    (tmp_path / 'latest.pth').write_bytes(data[: len(data) // 3])
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'latest.pth'))
    assert train(toy_cfg(tmp_path), resume=True) == 0
    log = ''.join(path.read_text() for path in tmp_path.glob('*/*.log'))
    assert f'--resume: cannot use {tmp_path / "latest.pth"}' in log
    assert f'--resume: falling back to {tmp_path / "epoch_1.pth"}' in log
    assert max_difference(final_checkpoint(tmp_path), reference[True]['final']) == 0


def test_checkpoint_of_another_config_names_the_first_mismatch(reference: dict, tmp_path: Path) -> None:
    cfg = toy_cfg(tmp_path)
    cfg.model = dict(type='PreemptionToyWideModel')
    cfg.load_from = str(reference[True]['work_dir'] / 'epoch_1.pth')
    with pytest.raises(ResumeError, match=r'model key fc1.weight: shape \(16, 8\) in the checkpoint, \(32, 8\) here'):
        train(cfg, resume=True)


@MODELS.register_module(name='PreemptionToyWideModel')
class WideModel(DropModel):
    """The toy model with a wider hidden layer: another config."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(FEATURES, 32)
        self.fc2 = nn.Linear(32, 2)


@METRICS.register_module(name='PreemptionToyMetric')
class ZeroMetric(BaseMetric):
    """A metric that needs nothing from the toy model (the validation-stop test only needs a validation loop)."""

    def process(self, data_batch: object, data_samples: object) -> None:
        self.results.append(0.0)

    def compute_metrics(self, results: list) -> dict:
        return {'zero': 0.0}


def test_seeded_dataset_forwards_attributes() -> None:
    dataset = SeededDataset(NoisyDataset())
    assert dataset.metainfo == NoisyDataset.metainfo and len(dataset) == NUM_SAMPLES
    state = torch.get_rng_state()
    first, second = dataset[(3, 7)], dataset[(3, 7)]
    assert torch.equal(first['inputs'], second['inputs'])
    assert torch.equal(torch.get_rng_state(), state)  # the main process's generators are left alone


def test_checkpoint_of_a_newer_resume_state_version_is_one_error(reference: dict, tmp_path: Path) -> None:
    checkpoint = read_checkpoint(str(reference[True]['work_dir'] / 'epoch_1.pth'))
    checkpoint['resume_state'] = dict(checkpoint['resume_state'], version=2)
    path = tmp_path / 'epoch_1.pth'
    torch.save(checkpoint, path)
    cfg = toy_cfg(tmp_path)
    cfg.load_from = str(path)
    with pytest.raises(ResumeError, match=rf'^cannot resume from {path}: resume_state has version 2; this convnext'):
        train(cfg, resume=True)
