"""Shared pieces of the preemption tests: a hook that signals at a chosen iteration, and state comparison.

Subprocess runs import this module through the config's ``custom_imports``
(with ``tests/engine`` on ``PYTHONPATH``), which registers :class:`SignalAtIter`.
"""

import contextlib
import itertools
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from convnext.engine import PREEMPTED_EXIT
from convnext.serialization import read_checkpoint


@HOOKS.register_module()
class SignalAtIter(Hook):
    """Sends a signal after training iteration ``iteration`` (1-based), or after validation iteration ``val_iter``.

    Args:
        iteration: Training iterations done when the signal is sent. Defaults to None.
        epoch: With ``val_iter``: signal in the validation after this epoch (1-based). Defaults to None.
        val_iter: Validation iteration (1-based) after which to signal. Defaults to None.
        signame: Name of the signal. Defaults to ``'SIGTERM'``.
        group: Signal the whole process group (as a cluster does: data-loader
            workers too) instead of this process. Defaults to False.
        rank: Only this rank signals (None: every rank). Defaults to 0.
        stamp: File that receives ``time.time()`` of the signal. Defaults to None.
    """

    priority = 'VERY_LOW'

    def __init__(
        self,
        iteration: int | None = None,
        epoch: int | None = None,
        val_iter: int | None = None,
        signame: str = 'SIGTERM',
        group: bool = False,
        rank: int | None = 0,
        stamp: str | None = None,
    ) -> None:
        self.iteration, self.epoch, self.val_iter = iteration, epoch, val_iter
        self.signame, self.group, self.rank, self.stamp = signame, group, rank, stamp
        self.sent = False

    def after_train_iter(self, runner: Any, batch_idx: int, data_batch: Any = None, outputs: Any = None) -> None:
        if self.iteration is not None and runner.iter + 1 == self.iteration:
            self._send(runner)

    def after_val_iter(self, runner: Any, batch_idx: int, data_batch: Any = None, outputs: Any = None) -> None:
        if self.val_iter is not None and runner.epoch == self.epoch and batch_idx + 1 == self.val_iter:
            self._send(runner)

    def _send(self, runner: Any) -> None:
        if self.sent or (self.rank is not None and runner.rank != self.rank):
            return
        self.sent = True
        if self.stamp:
            Path(self.stamp).write_text(repr(time.time()))
        signum = getattr(signal, self.signame)
        if self.group:
            os.killpg(os.getpgid(0), signum)
        else:
            os.kill(os.getpid(), signum)


def training_state(checkpoint: dict) -> dict[str, torch.Tensor]:
    """Every tensor that defines a run's training state: weights, EMA weights, optimizer state."""
    state = {f'state_dict.{k}': v for k, v in checkpoint['state_dict'].items()}
    state.update({f'ema.{k}': v for k, v in checkpoint.get('ema_state_dict', {}).items()})
    for param_id, param_state in checkpoint['optimizer']['state'].items():
        for name, value in param_state.items():
            state[f'optimizer.{param_id}.{name}'] = torch.as_tensor(value)
    return state


def max_difference(first: dict, second: dict) -> float:
    """Largest absolute difference between two :func:`training_state` results (inf if their keys differ)."""
    a, b = training_state(first), training_state(second)
    if a.keys() != b.keys():
        return float('inf')
    return max(
        (x.double() - y.double()).abs().max().item() if x.numel() else 0.0
        for x, y in zip(a.values(), b.values(), strict=True)
    )


NUM_CLASSES = 2
IMAGES_PER_CLASS = 8
IMAGE_SIZE = 32
CLS_BATCH_SIZE = 4
CLS_EPOCHS = 3
CLS_BATCHES_PER_EPOCH = NUM_CLASSES * IMAGES_PER_CLASS // CLS_BATCH_SIZE

CLASSIFIER_CONFIG = """
default_scope = 'mmpretrain'
custom_imports = dict(imports=['preemption_helpers'], allow_failed_imports=False)
model = dict(
    type='ImageClassifier',
    backbone=dict(type='convnext.ConvNeXtV2', arch=dict(depths=[1, 1], channels=[8, {width}]), out_type='avg',
                  drop_path_rate=0.2),
    head=dict(type='LinearClsHead', num_classes={num_classes}, in_channels={width},
              loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original')),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)]))
data_preprocessor = dict(num_classes={num_classes}, mean=[127.5] * 3, std=[127.5] * 3, to_rgb=True)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale={image_size}),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandAugment', policies='timm_increasing', num_policies=2, total_level=10, magnitude_level=9,
         magnitude_std=0.5, hparams=dict(pad_val=[104, 116, 124])),
    dict(type='RandomErasing', erase_prob=0.25, mode='rand', min_area_ratio=0.02, max_area_ratio=1 / 3),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size={batch_size}, num_workers={num_workers}, persistent_workers={num_workers} > 0,
                        sampler=dict(type='DefaultSampler', shuffle=True),
                        dataset=dict(type='CustomDataset', data_root='{data_root}', pipeline=train_pipeline))
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
    constructor='convnext.LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(decay_rate=0.8, decay_type='single'))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=1, end={epochs}, convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs={epochs})
custom_hooks = [dict(type='EMAHook', momentum=1e-2, priority='ABOVE_NORMAL'), {hooks}]
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=1),
    logger=dict(type='LoggerHook', interval=1),
    visualization=dict(type='VisualizationHook', enable=False))
visualizer = dict(type='UniversalVisualizer', vis_backends=[dict(type='LocalVisBackend')])
randomness = dict(seed=0, deterministic=True)
preemption = dict(minutes=None)
env_cfg = dict(dist_cfg=dict(backend='gloo'))
log_level = 'WARNING'
"""


def make_image_folder(root: Path) -> Path:
    """A generated two-class image folder (mmpretrain ``CustomDataset`` layout); returns its root."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for label in range(NUM_CLASSES):
        folder = root / f'class_{label}'
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(IMAGES_PER_CLASS):
            pixels = rng.integers(0, 96, (IMAGE_SIZE, IMAGE_SIZE, 3)) + 96 * label
            Image.fromarray(pixels.astype(np.uint8)).save(folder / f'{i}.png')
    return root


def classifier_config(path: Path, data_root: Path, hooks: str = '', num_workers: int = 0, width: int = 16) -> Path:
    """Writes the tiny ConvNeXt V2 classifier config (drop path, Mixup/CutMix, RandAugment, EMA, layer decay)."""
    path.write_text(
        CLASSIFIER_CONFIG.format(
            width=width,
            num_classes=NUM_CLASSES,
            image_size=IMAGE_SIZE,
            batch_size=CLS_BATCH_SIZE,
            num_workers=num_workers,
            data_root=data_root,
            epochs=CLS_EPOCHS,
            hooks=hooks,
        )
    )
    return path


def signal_hook(**kwargs: object) -> str:
    """The config text of a :class:`SignalAtIter` hook."""
    return repr(dict(type='SignalAtIter', **kwargs))


MASK_RCNN_EPOCHS = 2
MASK_RCNN_IMAGES = 6
MASK_RCNN_BATCH_SIZE = 2
MASK_RCNN_IMAGE_SIZE = 64

MASK_RCNN_CONFIG = """
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['preemption_helpers'], allow_failed_imports=False)
classes = {classes}
model = dict(
    backbone=dict(_delete_=True, type='convnext.ConvNeXt', arch=dict(depths=[1, 1, 1, 1], channels=[8, 16, 32, 64]),
                  out_indices=(0, 1, 2, 3), out_type='featmap', drop_path_rate=0.1),
    neck=dict(in_channels=[8, 16, 32, 64], out_channels=16),
    rpn_head=dict(in_channels=16, feat_channels=16),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=16),
        bbox_head=dict(in_channels=16, fc_out_channels=32, num_classes=len(classes)),
        mask_roi_extractor=dict(out_channels=16),
        mask_head=dict(in_channels=16, conv_out_channels=16, num_classes=len(classes))),
    train_cfg=dict(rpn_proposal=dict(nms_pre=100, max_per_img=100), rcnn=dict(sampler=dict(num=32))),
    test_cfg=dict(rpn=dict(nms_pre=100, max_per_img=100)))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomResize', scale=({size}, {size}), ratio_range=(0.8, 1.2), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(
    batch_size={batch_size}, num_workers=0, persistent_workers=False,
    dataset=dict(data_root='{data_root}', ann_file='annotations/instances_train.json', data_prefix=dict(img='train/'),
                 metainfo=dict(classes=classes), pipeline=train_pipeline))
val_dataloader = None
val_cfg = None
val_evaluator = None
test_dataloader = None
test_cfg = None
test_evaluator = None
train_cfg = dict(max_epochs={epochs})
optim_wrapper = dict(optimizer=dict(lr=0.01))
custom_hooks = [dict(type='EMAHook', momentum=0.01), {hooks}]
default_hooks = dict(checkpoint=dict(interval=1), logger=dict(interval=1), visualization=dict(draw=False))
randomness = dict(seed=0, deterministic=True)
preemption = dict(minutes=None)
log_level = 'WARNING'
"""


def mask_rcnn_config(path: Path, data_root: Path, classes: tuple[str, ...], hooks: str = '') -> Path:
    """Writes a tiny Mask R-CNN (ConvNeXt backbone, drop path, EMA) config over synthetic COCO data."""
    path.write_text(
        MASK_RCNN_CONFIG.format(
            classes=repr(tuple(classes)),
            size=MASK_RCNN_IMAGE_SIZE,
            batch_size=MASK_RCNN_BATCH_SIZE,
            data_root=data_root,
            epochs=MASK_RCNN_EPOCHS,
            hooks=hooks,
        )
    )
    return path


_RUN_IDS = itertools.count()


def train_in_process(tool: Any, config: Path, work_dir: Path, *options: str) -> int:
    """Runs ``tools/train.py``'s ``main`` (module ``tool``) here; returns its exit code (75 when preempted)."""
    name = f'experiment_name=preempt_{next(_RUN_IDS)}'  # a fresh message hub and logger, as in a new process
    argv = [str(config), '--work-dir', str(work_dir), '--cfg-options', name, *options]
    try:
        return tool.main(argv)
    except SystemExit as stop:
        return stop.code


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """One torch thread, as the tests' ``one_thread`` fixture (float sums depend on the thread count)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def stop_points(batches_per_epoch: int, epochs: int) -> dict[str, int]:
    """Iterations at which the in-process tests send SIGTERM: inside the first epoch, at its end, in the last."""
    return {
        'inside_first_epoch': 2,
        'end_of_first_epoch': batches_per_epoch,
        'inside_last_epoch': epochs * batches_per_epoch - 1,
    }


def stop_resume_difference(
    train: Callable[..., int], config: Path, work_dir: Path, stop_iteration: int, reference_checkpoint: Path
) -> float:
    """Trains ``config`` until the SIGTERM at ``stop_iteration``, resumes it to the end, and compares.

    Args:
        train: ``train(config, work_dir, *options) -> exit code`` (:func:`train_in_process`).
        config: A config whose hooks send the signal at ``stop_iteration`` (:func:`signal_hook`).
        work_dir: The interrupted run's work dir.
        stop_iteration: Where the signal is sent; ``latest.pth`` must hold exactly this iteration.
        reference_checkpoint: The uninterrupted run's final checkpoint.

    Returns:
        The largest absolute difference of the final training states (:func:`max_difference`).
    """
    assert train(config, work_dir) == PREEMPTED_EXIT
    assert read_checkpoint(str(work_dir / 'latest.pth'))['meta']['iter'] == stop_iteration
    assert train(config, work_dir, '--resume') == 0
    final = work_dir / reference_checkpoint.name
    return max_difference(read_checkpoint(str(final)), read_checkpoint(str(reference_checkpoint)))
