"""The COCO detection configs: official values, and one train and one test iteration each.

Every config is loaded as written, then shrunk for the CPU (a tiny ConvNeXt,
random init, images and RoI counts divided down, generated data) and run for
one training iteration and one test iteration; the user's own config is also
trained through ``tools/dist_train.sh`` with two gloo processes.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DATASETS, MODELS, init_default_scope

from convnext.launch import adapt_cfg_to_device

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / 'tools' / 'demos'))
from synthetic_coco import CLASSES, SyntheticCocoSpec, make_synthetic_coco  # noqa: E402

CONFIG_DIR = ROOT / 'configs'
USER_CONFIG = CONFIG_DIR / 'cascade_mask_rcnn_convnext_b_3x.py'
FB = 'https://dl.fbaipublicfiles.com/convnext'

V1_SIZES = {'t': 'tiny', 's': 'small', 'b': 'base', 'l': 'large', 'xl': 'xlarge'}
V2_SIZES = {'a': 'atto', 'f': 'femto', 'p': 'pico', 'n': 'nano', 't': 'tiny', 'b': 'base', 'l': 'large', 'h': 'huge'}
EXPECTED_CONFIGS = sorted(
    [f'mask_rcnn_convnext_{s}_3x.py' for s in 'tsb']
    + [f'mask_rcnn_convnext_{s}_in22k_3x.py' for s in ('l', 'xl')]
    + [f'mask_rcnn_convnextv2_{s}_lsj_3x.py' for s in V2_SIZES]
    + [f'cascade_mask_rcnn_convnext_{s}_3x.py' for s in 'tsb']
    + [f'cascade_mask_rcnn_convnext_{s}_in22k_3x.py' for s in ('b', 'l', 'xl')]
    + [f'cascade_mask_rcnn_convnextv2_{s}_3x.py' for s in 'blh']
)

# ConvNeXt object_detection/configs/convnext/*.py (the official mmdet 2.x recipes):
# config -> (drop path, lr, decay rate, num_layers, fp16, checkpoint).
OFFICIAL_V1 = {
    'mask_rcnn_convnext_t_3x.py': (0.4, 1e-4, 0.95, 6, True, 'convnext_tiny_1k_224.pth'),
    'cascade_mask_rcnn_convnext_t_3x.py': (0.4, 2e-4, 0.7, 6, True, 'convnext_tiny_1k_224.pth'),
    'cascade_mask_rcnn_convnext_s_3x.py': (0.6, 2e-4, 0.7, 12, True, 'convnext_small_1k_224.pth'),
    'cascade_mask_rcnn_convnext_b_3x.py': (0.7, 2e-4, 0.8, 12, True, 'convnext_base_1k_224.pth'),
    'cascade_mask_rcnn_convnext_b_in22k_3x.py': (0.6, 1e-4, 0.8, 12, True, 'convnext_base_22k_224.pth'),
    'cascade_mask_rcnn_convnext_l_in22k_3x.py': (0.7, 1e-4, 0.7, 12, False, 'convnext_large_22k_224.pth'),
    'cascade_mask_rcnn_convnext_xl_in22k_3x.py': (0.8, 1e-4, 0.7, 12, False, 'convnext_xlarge_22k_224.pth'),
}

TINY_ARCH = {'depths': [1, 1, 1, 1], 'channels': [8, 16, 32, 64]}
SHRINK = 8
"""Image sizes in the pipelines are divided by this for the CPU runs."""

SIZE_KEYS = ('scale', 'scales', 'crop_size', 'size')
"""Pipeline and batch-augment arguments that hold image sizes."""

FEW_ROIS = 16
"""RoIs sampled per image and proposals kept in the CPU runs."""

FEW_DETECTIONS = 5
"""Detections per image kept by the test iteration."""

SLIM_CHANNELS = 32
"""FPN, RPN and RoI-head width in the CPU runs (256, 1024 for fully connected layers, in the configs)."""

DIST_TIMEOUT = 300


@pytest.fixture(scope='module')
def tiny_coco(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four 64 px training and two validation images with COCO annotations."""
    root = tmp_path_factory.mktemp('tiny_coco')
    make_synthetic_coco(root, SyntheticCocoSpec(num_train=4, num_val=2, image_size=64, max_objects=2, seed=1))
    return root


pytestmark = pytest.mark.usefixtures('one_thread')


def shrink_sizes(node: object) -> object:
    """A copy of a pipeline (or any config node) with every image size divided by :data:`SHRINK`."""
    if isinstance(node, dict):
        return {key: _divide(value) if key in SIZE_KEYS else shrink_sizes(value) for key, value in node.items()}
    if isinstance(node, (list, tuple)):
        return type(node)(shrink_sizes(value) for value in node)
    return node


def _divide(value: object) -> object:
    if isinstance(value, int):
        return max(1, value // SHRINK)
    if isinstance(value, (list, tuple)):
        return type(value)(_divide(v) for v in value)
    return value


def few_rois(node: dict) -> None:
    """Caps proposals, sampled RoIs and detections in a train_cfg/test_cfg node, in place."""
    for key, value in node.items():
        if key == 'sampler' and 'num' in value:
            value['num'] = FEW_ROIS
        elif key in ('nms_pre', 'max_per_img'):
            node[key] = FEW_DETECTIONS if node.get('score_thr') is not None else FEW_ROIS
        elif isinstance(value, dict):
            few_rois(value)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    few_rois(item)


def slim_heads(model: dict) -> None:
    """Narrows the FPN, RPN and RoI heads of a (Cascade) Mask R-CNN config to :data:`SLIM_CHANNELS`, in place."""
    width = SLIM_CHANNELS
    model['neck']['out_channels'] = width
    model['rpn_head'].update(in_channels=width, feat_channels=width)
    roi_head = model['roi_head']
    for key in ('bbox_roi_extractor', 'mask_roi_extractor'):
        roi_head[key]['out_channels'] = width
    bbox_heads = roi_head['bbox_head']
    for head in bbox_heads if isinstance(bbox_heads, list) else [bbox_heads]:
        head.update(in_channels=width, conv_out_channels=width, fc_out_channels=width)
    roi_head['mask_head'].update(in_channels=width, conv_out_channels=width)


def tiny_config(path: Path, data_root: Path) -> Config:
    """The config at ``path`` with a tiny random backbone, slim heads, small images, few RoIs and tiny data."""
    cfg = Config.fromfile(str(path))
    cfg.model.backbone.arch = dict(TINY_ARCH)
    cfg.model.backbone.init_cfg = None
    cfg.model.neck.in_channels = list(TINY_ARCH['channels'])
    cfg.model.data_preprocessor = shrink_sizes(cfg.model.data_preprocessor.to_dict())
    slim_heads(cfg.model)
    for key in ('train_cfg', 'test_cfg'):
        few_rois(cfg.model[key])
    for loader, split in (('train_dataloader', 'train'), ('test_dataloader', 'val')):
        dataset = cfg[loader].dataset
        dataset.update(
            data_root=str(data_root),
            ann_file=f'annotations/instances_{split}.json',
            data_prefix=dict(img=f'{split}/'),
            metainfo=dict(classes=CLASSES),
            pipeline=shrink_sizes(dataset.pipeline),
        )
    cfg, _ = adapt_cfg_to_device(cfg, distributed=False)
    return cfg


def test_every_detection_config_exists() -> None:
    found = sorted(p.name for p in CONFIG_DIR.glob('*mask_rcnn_convnext*.py'))
    assert found == EXPECTED_CONFIGS


def test_user_config_has_the_official_values() -> None:
    cfg = Config.fromfile(str(USER_CONFIG))
    backbone = cfg.model.backbone
    assert (backbone.type, backbone.arch, backbone.drop_path_rate) == ('convnext.ConvNeXt', 'base', 0.7)
    assert backbone.layer_scale_init_value == 1.0 and backbone.out_indices == [0, 1, 2, 3]
    assert backbone.init_cfg.checkpoint == f'{FB}/convnext_base_1k_224.pth'
    assert cfg.model.neck.in_channels == [128, 256, 512, 1024]
    assert cfg.optim_wrapper.constructor == 'convnext.LayerDecayOptimWrapperConstructor'
    assert cfg.optim_wrapper.paramwise_cfg == dict(decay_rate=0.8, decay_type='layer_wise', num_layers=12)
    assert cfg.optim_wrapper.optimizer == dict(type='AdamW', lr=2e-4, betas=(0.9, 0.999), weight_decay=0.05)
    assert cfg.train_dataloader.batch_size == 2 and cfg.auto_scale_lr.base_batch_size == 16
    assert cfg.train_cfg.max_epochs == 36 and cfg.param_scheduler[1].milestones == [27, 33]


@pytest.mark.parametrize('name', sorted(OFFICIAL_V1))
def test_v1_configs_follow_the_official_table(name: str) -> None:
    drop_path, lr, decay, num_layers, fp16, checkpoint = OFFICIAL_V1[name]
    cfg = Config.fromfile(str(CONFIG_DIR / name))
    assert cfg.model.backbone.drop_path_rate == drop_path
    assert cfg.optim_wrapper.optimizer.lr == lr
    assert cfg.optim_wrapper.paramwise_cfg.decay_rate == decay
    assert cfg.optim_wrapper.paramwise_cfg.num_layers == num_layers
    assert (cfg.optim_wrapper.type == 'AmpOptimWrapper') == fp16
    assert cfg.model.backbone.init_cfg.checkpoint == f'{FB}/{checkpoint}'
    crop_branch = cfg.train_dataloader.dataset.pipeline[3].transforms[1]
    assert crop_branch[1].crop_size == (384, 600) and len(crop_branch[2].scales) == 11


@pytest.mark.parametrize('name', [n for n in EXPECTED_CONFIGS if n.startswith('cascade')])
def test_cascade_heads_are_4conv1fc_giou(name: str) -> None:
    heads = Config.fromfile(str(CONFIG_DIR / name)).model.roi_head.bbox_head
    assert heads[2].bbox_coder.target_stds == [0.033, 0.033, 0.067, 0.067]
    for head in heads:
        assert (head.type, head.num_shared_convs, head.num_shared_fcs) == ('ConvFCBBoxHead', 4, 1)
        assert head.loss_bbox == dict(type='GIoULoss', loss_weight=10.0) and head.reg_decoded_bbox


@pytest.mark.parametrize('size', sorted(V2_SIZES))
def test_v2_mask_rcnn_follows_the_paper_recipe(size: str) -> None:
    cfg = Config.fromfile(str(CONFIG_DIR / f'mask_rcnn_convnextv2_{size}_lsj_3x.py'))
    arch = V2_SIZES[size]
    assert (cfg.model.backbone.type, cfg.model.backbone.arch) == ('convnext.ConvNeXtV2', arch)
    assert cfg.model.backbone.init_cfg.checkpoint == f'{FB}/convnextv2/pt_only/convnextv2_{arch}_1k_224_fcmae.pt'
    jitter = cfg.train_dataloader.dataset.pipeline[2]
    assert (jitter.type, jitter.scale, jitter.ratio_range) == ('RandomResize', (1024, 1024), (0.1, 2.0))
    assert cfg.model.test_cfg.rcnn.nms.type == 'soft_nms'
    assert cfg.optim_wrapper.optimizer.lr == 1e-4 and cfg.optim_wrapper.optimizer.weight_decay == 0.05
    assert cfg.train_dataloader.batch_size * 8 == cfg.auto_scale_lr.base_batch_size == 32


@pytest.mark.parametrize('name', EXPECTED_CONFIGS)
def test_config_trains_and_tests_one_iteration(name: str, tiny_coco: Path) -> None:
    cfg = tiny_config(CONFIG_DIR / name, tiny_coco)
    init_default_scope(cfg.default_scope)
    model = MODELS.build(cfg.model)
    model.init_weights()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    train_set = DATASETS.build(cfg.train_dataloader.dataset)
    before = model.backbone.stages[0][0].pwconv1.weight.detach().clone()

    model.train()
    losses = model.train_step(pseudo_collate([train_set[0], train_set[1]]), optim_wrapper)
    assert {'loss_rpn_cls', 'loss_rpn_bbox'} <= set(losses)
    assert any(key.endswith('loss_mask') for key in losses)
    assert all(torch.isfinite(value).all() for value in losses.values())
    assert not torch.equal(before, model.backbone.stages[0][0].pwconv1.weight)

    model.eval()
    test_set = DATASETS.build(cfg.test_dataloader.dataset)
    with torch.no_grad():
        (result,) = model.test_step(pseudo_collate([test_set[0]]))
    predictions = result.pred_instances
    assert predictions.bboxes.shape[1] == 4 and len(predictions) <= FEW_DETECTIONS
    assert predictions.masks.shape[1:] == tuple(result.ori_shape)


def test_roi_features_do_not_depend_on_the_memory_format() -> None:
    """mmcv's RoIAlign reads NCHW memory: backbone maps in channels-last memory would give wrong RoI features."""
    cfg = Config.fromfile(str(CONFIG_DIR / 'mask_rcnn_convnext_t_3x.py'))
    cfg.model.backbone.update(arch=dict(TINY_ARCH), init_cfg=None)
    cfg.model.neck.in_channels = list(TINY_ARCH['channels'])
    init_default_scope('mmdet')
    model = MODELS.build(cfg.model).eval()
    rois = torch.tensor([[0.0, 4.0, 4.0, 40.0, 36.0], [0.0, 10.0, 2.0, 60.0, 50.0]])
    with torch.no_grad():
        feats = model.extract_feat(torch.randn(1, 3, 64, 64))
        extractor = model.roi_head.bbox_roi_extractor
        features = extractor(feats[: extractor.num_inputs], rois)
        reference = extractor(tuple(f.contiguous() for f in feats[: extractor.num_inputs]), rois)
    torch.testing.assert_close(features, reference)


@pytest.mark.slow
def test_user_config_trains_with_two_gloo_processes(tiny_coco: Path, tmp_path: Path) -> None:
    """``tools/dist_train.sh configs/cascade_mask_rcnn_convnext_b_3x.py 2`` on the CPU, shrunk by --cfg-options."""
    small = f'{800 // SHRINK},{1333 // SHRINK}'
    data = []
    for loader, split in (('train_dataloader', 'train'), ('val_dataloader', 'val')):
        data += [
            f'{loader}.dataset.data_root={tiny_coco}',
            f'{loader}.dataset.ann_file=annotations/instances_{split}.json',
            f'{loader}.dataset.data_prefix.img={split}/',
            f'{loader}.dataset.metainfo.classes=({",".join(CLASSES)})',
        ]
    options = [
        *data,
        f'val_evaluator.ann_file={tiny_coco}/annotations/instances_val.json',
        'model.backbone.arch=atto',
        'model.neck.in_channels=[40,80,160,320]',
        'model.backbone.init_cfg=None',
        f'train_dataloader.dataset.pipeline.3.transforms.0.0.scales=[({small})]',
        f'train_dataloader.dataset.pipeline.3.transforms.1.0.scales=[({small})]',
        'train_dataloader.dataset.pipeline.3.transforms.1.1.crop_size=(40,60)',
        f'train_dataloader.dataset.pipeline.3.transforms.1.2.scales=[({small})]',
        f'val_dataloader.dataset.pipeline.1.scale=({1333 // SHRINK},{800 // SHRINK})',
        'model.train_cfg.rpn_proposal.max_per_img=64',
        *[f'model.train_cfg.rcnn.{stage}.sampler.num={FEW_ROIS}' for stage in range(3)],
        'model.test_cfg.rpn.max_per_img=64',
        f'model.test_cfg.rcnn.max_per_img={FEW_DETECTIONS}',
        'train_cfg.max_epochs=1',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False',
    ]
    env = dict(os.environ, PORT='29531', OMP_NUM_THREADS='1')
    command = ['bash', str(ROOT / 'tools' / 'dist_train.sh'), str(USER_CONFIG), '2', '--work-dir', str(tmp_path)]
    done = subprocess.run(
        [*command, '--cfg-options', *options], cwd=ROOT, env=env, capture_output=True, text=True, timeout=DIST_TIMEOUT
    )
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    assert (tmp_path / 'epoch_1.pth').is_file()
    (run_log,) = tmp_path.glob('*/*.log')
    text = run_log.read_text()
    assert 'SyncBN -> BN' in text and 'CPUDistributedDataParallel' in text and 'Epoch(val) [1]' in text
