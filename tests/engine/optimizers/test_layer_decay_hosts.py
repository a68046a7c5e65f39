"""LayerDecayOptimWrapperConstructor inside mmdet, mmseg and mmpretrain models and Runners.

The same backbone gives the same groups in a detector, a segmentor and a
classifier, and a two-iteration training run with the constructor works under
each host's Runner (tiny in-memory data, CPU).
"""

import copy
from collections.abc import Callable

import mmdet
import mmpretrain
import mmseg
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.hooks import Hook
from mmengine.runner import Runner
from mmengine.structures import InstanceData, PixelData
from torch.utils.data import DataLoader

BASE_LR = 1e-3
BASE_WD = 0.05
DECAY_RATE = 0.7
IMAGE_SIZE = 64
NUM_CLASSES = 3
NUM_SAMPLES = 2
MAX_ITERS = 2
CHANNELS = [8, 16, 32, 64]
BACKBONE = dict(
    type='convnext.ConvNeXt',
    arch=dict(depths=[1, 1, 3, 1], channels=CHANNELS),
    out_indices=(0, 1, 2, 3),
    out_type='featmap',
    drop_path_rate=0.1,
)
OPTIM_WRAPPER = dict(
    type='OptimWrapper',
    constructor='convnext.LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(decay_rate=DECAY_RATE, decay_type='layer_wise', num_layers=None),
    optimizer=dict(type='AdamW', lr=BASE_LR, weight_decay=BASE_WD),
)
MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]


def detector_cfg() -> dict:
    """A tiny RetinaNet from mmdet's packaged base config, with our backbone."""
    cfg = Config.fromfile(f'{mmdet.__path__[0]}/.mim/configs/_base_/models/retinanet_r50_fpn.py').model
    cfg.backbone = dict(BACKBONE)
    cfg.neck.update(in_channels=CHANNELS, out_channels=16)
    cfg.bbox_head.update(num_classes=NUM_CLASSES, in_channels=16, feat_channels=16, stacked_convs=1)
    return cfg.to_dict()


def segmentor_cfg() -> dict:
    """mmseg EncoderDecoder with an FCNHead on the last stage."""
    return dict(
        type='EncoderDecoder',
        data_preprocessor=dict(type='SegDataPreProcessor', mean=MEAN, std=STD, bgr_to_rgb=True, size_divisor=32),
        backbone=dict(BACKBONE),
        decode_head=dict(
            type='FCNHead',
            in_channels=CHANNELS[-1],
            in_index=3,
            channels=16,
            num_convs=1,
            concat_input=False,
            num_classes=NUM_CLASSES,
            norm_cfg=dict(type='BN', requires_grad=True),
            loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
        ),
    )


def classifier_cfg() -> dict:
    """mmpretrain ImageClassifier on the globally pooled, normalised last stage."""
    return dict(
        type='ImageClassifier',
        data_preprocessor=dict(type='ClsDataPreprocessor', num_classes=NUM_CLASSES, mean=MEAN, std=STD),
        backbone=dict(BACKBONE, out_type='avg'),
        head=dict(type='LinearClsHead', num_classes=NUM_CLASSES, in_channels=CHANNELS[-1]),
    )


def det_sample(index: int) -> dict:
    from mmdet.structures import DetDataSample

    sample = DetDataSample(metainfo=dict(img_shape=(IMAGE_SIZE, IMAGE_SIZE), ori_shape=(IMAGE_SIZE, IMAGE_SIZE)))
    sample.gt_instances = InstanceData(
        bboxes=torch.tensor([[4.0, 6.0, 40.0, 50.0]]) + index, labels=torch.tensor([index % NUM_CLASSES])
    )
    return sample


def seg_sample(index: int) -> dict:
    from mmseg.structures import SegDataSample

    sample = SegDataSample(metainfo=dict(img_shape=(IMAGE_SIZE, IMAGE_SIZE), ori_shape=(IMAGE_SIZE, IMAGE_SIZE)))
    labels = torch.randint(0, NUM_CLASSES, (1, IMAGE_SIZE, IMAGE_SIZE))
    sample.gt_sem_seg = PixelData(data=labels)
    return sample


def cls_sample(index: int) -> dict:
    from mmpretrain.structures import DataSample

    return DataSample().set_gt_label(index % NUM_CLASSES)


HOSTS: dict[str, tuple[Callable[[], dict], Callable[[int], object], object]] = {
    'mmdet': (detector_cfg, det_sample, mmdet),
    'mmseg': (segmentor_cfg, seg_sample, mmseg),
    'mmpretrain': (classifier_cfg, cls_sample, mmpretrain),
}


def build_model(scope: str) -> torch.nn.Module:
    from mmengine.registry import MODELS, init_default_scope

    init_default_scope(scope)
    return MODELS.build(HOSTS[scope][0]())


def backbone_groups(optimizer: torch.optim.Optimizer) -> list[tuple]:
    """``(group_name, backbone param names, lr, weight_decay)`` per group, in order."""
    return [
        (g['group_name'], [n for n in g['param_names'] if n.startswith('backbone.')], g['lr'], g['weight_decay'])
        for g in optimizer.param_groups
    ]


def test_same_groups_in_every_host() -> None:
    from convnext.engine import LayerDecayOptimWrapperConstructor

    results = {}
    for scope in HOSTS:
        model = build_model(scope)
        cfg = copy.deepcopy(OPTIM_WRAPPER)
        paramwise = cfg.pop('paramwise_cfg')
        cfg.pop('constructor')
        optimizer = LayerDecayOptimWrapperConstructor(cfg, paramwise)(model).optimizer
        groups = {n: g for g in optimizer.param_groups for n in g['param_names']}
        for name, param in model.named_parameters():
            if not name.startswith('backbone.'):  # necks and heads: full lr, official decay rule
                assert groups[name]['lr'] == BASE_LR and groups[name]['layer_id'] == 7, (scope, name)
                assert groups[name]['weight_decay'] == (0.0 if param.ndim <= 1 else BASE_WD), (scope, name)
        results[scope] = backbone_groups(optimizer)
    assert results['mmdet'] == results['mmseg'] == results['mmpretrain']
    names = [g[0] for g in results['mmdet']]
    assert names[0] == 'layer_0_decay' and 'layer_6_decay' in names and 'layer_7_decay' in names


class StemRecorder(Hook):
    """Keeps the stem weight as training starts (after the Runner initialised the weights)."""

    def before_train(self, runner: Runner) -> None:
        self.stem_before = runner.model.backbone.downsample_layers[0][0].weight.detach().clone()


@pytest.mark.parametrize('scope', list(HOSTS))
def test_training_step_under_host_runner(scope: str, tmp_path) -> None:
    model_cfg, make_sample, _ = HOSTS[scope]
    generator = torch.Generator().manual_seed(0)
    data = [
        dict(
            inputs=torch.randint(0, 256, (3, IMAGE_SIZE, IMAGE_SIZE), dtype=torch.uint8, generator=generator),
            data_samples=make_sample(i),
        )
        for i in range(NUM_SAMPLES)
    ]
    recorder = StemRecorder()
    runner = Runner(
        model=model_cfg(),
        work_dir=str(tmp_path),
        train_dataloader=DataLoader(data, batch_size=NUM_SAMPLES, collate_fn=pseudo_collate),
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=MAX_ITERS),
        optim_wrapper=copy.deepcopy(OPTIM_WRAPPER),
        default_hooks=dict(checkpoint=None, logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=[recorder],
        default_scope=scope,
        experiment_name=f'layer_decay_{scope}_{tmp_path.name}',
        log_level='WARNING',
    )
    runner.train()
    stem = runner.model.backbone.downsample_layers[0][0].weight
    optimizer = runner.optim_wrapper.optimizer
    assert runner.iter == MAX_ITERS
    assert all(g['group_name'].startswith('layer_') for g in optimizer.param_groups)
    stem_group = next(g for g in optimizer.param_groups if any(p is stem for p in g['params']))
    assert stem_group['group_name'] == 'layer_0_decay'
    assert stem_group['lr'] == pytest.approx(BASE_LR * DECAY_RATE**7)
    assert not torch.equal(recorder.stem_before, stem.detach())
