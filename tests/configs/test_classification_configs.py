"""mmpretrain classification configs of ConvNeXt V1/V2.

Every config is checked against the official hyper-parameters (ConvNeXt paper
appendix Tables 5 and 6, ConvNeXt V2 paper appendix Tables 12 and 13), and
every config builds and runs one training and one validation iteration on CPU
with a tiny backbone on a generated ImageNet-style folder.
"""

import copy
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
import torch
from mmengine.config import Config, ConfigDict
from mmengine.hooks import Hook
from mmengine.runner import Runner
from PIL import Image

from convnext.models.backbones.convnext import ConvNeXt, ConvNeXtV2

CONFIG_DIR = Path(__file__).resolve().parents[2] / 'configs'
CONFIG_GLOBS = ('convnext_*.py', 'convnextv2_*_sup_*.py', 'convnextv2_*_in22k*.py')
"""The classification configs this test covers (V1; V2 supervised and IN-22K recipes)."""

MIN_LR = 1e-6
"""Official final learning rate of every cosine schedule (FB ``--min_lr``)."""

EMA_MOMENTUM = 1e-4
"""mmengine momentum of an EMA with decay 0.9999."""

IN22K_CLASSES = 21841
IN1K_CLASSES = 1000
HEAD_INIT_STD = 0.02
FT_HEAD_INIT_STD = 0.02 * 0.001
"""Trunc-normal std of the head; fine-tuning uses head init scale 0.001."""

TEST_RESIZE_224 = 256
"""Test-time short-edge resize at 224 (crop ratio 0.875)."""

V1_LAYER_SCALE = 1e-6
V2_LAYER_SCALE = 0.0

TINY_ARCH = {'depths': [1, 1, 1, 1], 'channels': [8, 16, 32, 64]}
TINY_CROP = 32
TINY_RESIZE = 36
TINY_IMAGE = 48
TINY_BATCH = 2
CLASSES = ('class_a', 'class_b')
"""Generated data: one batch of ``TINY_BATCH`` images per split, one image per class."""

OFFICIAL_HEAD_CLASSES = 5
"""Classes of the head stored in the generated official-format checkpoints (dropped on loading)."""

LOADED_ATOL = 1e-3
"""Tolerance between checkpoint and trained weights: one AdamW step moves a weight by about lr << 1e-3."""

STEM_WEIGHT = 'downsample_layers.0.0.weight'


class Recipe(NamedTuple):
    """Official values of one config."""

    arch: str
    v2: bool
    drop_path: float
    lr: float
    weight_decay: float
    batch: int
    epochs: int
    warmup: int
    ema: bool
    layer_decay: tuple[float, str] | None
    mixup: bool
    classes: int
    res: int


def _v1_sup(arch: str, drop_path: float) -> Recipe:
    return Recipe(arch, False, drop_path, 4e-3, 0.05, 4096, 300, 20, True, None, True, IN1K_CLASSES, 224)


def _v1_in22k(arch: str, drop_path: float) -> Recipe:
    return Recipe(arch, False, drop_path, 4e-3, 0.05, 4096, 90, 5, False, None, True, IN22K_CLASSES, 224)


def _v1_ft(arch: str, drop_path: float, res: int, decay: float = 0.8, ema: bool = False) -> Recipe:
    return Recipe(arch, False, drop_path, 5e-5, 1e-8, 512, 30, 0, ema, (decay, 'group'), False, IN1K_CLASSES, res)


def _v2_sup(arch: str, drop_path: float) -> Recipe:
    return Recipe(arch, True, drop_path, 4e-3, 0.05, 4096, 300, 20, True, None, True, IN1K_CLASSES, 224)


def _v2_in22k(arch: str, drop_path: float, decay: tuple[float, str]) -> Recipe:
    # V2 Table 12 gives the base lr 2.5e-4: lr = 2.5e-4 x 4096 / 256 (ConvNeXt-V2 main_finetune.py).
    return Recipe(arch, True, drop_path, 2.5e-4 * 4096 / 256, 0.05, 4096, 90, 5, False, decay, True, IN22K_CLASSES, 224)


def _v2_ft(arch: str, drop_path: float, decay: tuple[float, str], epochs: int, ema: bool, res: int) -> Recipe:
    # V2 Table 13 gives the base lr 2.5e-5: lr = 2.5e-5 x 512 / 256 (ConvNeXt-V2 main_finetune.py).
    return Recipe(arch, True, drop_path, 2.5e-5 * 512 / 256, 1e-8, 512, epochs, 0, ema, decay, False, IN1K_CLASSES, res)


EXPECTED: dict[str, Recipe] = {
    # ConvNeXt appendix Table 5, ImageNet-1K column.
    'convnext_t_sup_300e_in1k.py': _v1_sup('tiny', 0.1),
    'convnext_s_sup_300e_in1k.py': _v1_sup('small', 0.4),
    'convnext_b_sup_300e_in1k.py': _v1_sup('base', 0.5),
    'convnext_l_sup_300e_in1k.py': _v1_sup('large', 0.5),
    # Table 5, ImageNet-22K column.
    'convnext_t_sup_90e_in22k.py': _v1_in22k('tiny', 0.0),
    'convnext_s_sup_90e_in22k.py': _v1_in22k('small', 0.0),
    'convnext_b_sup_90e_in22k.py': _v1_in22k('base', 0.1),
    'convnext_l_sup_90e_in22k.py': _v1_in22k('large', 0.1),
    'convnext_xl_sup_90e_in22k.py': _v1_in22k('xlarge', 0.2),
    # Table 6, ImageNet-22K pre-trained column (224 and 384).
    'convnext_t_in22k-ft_30e_in1k.py': _v1_ft('tiny', 0.0, 224),
    'convnext_s_in22k-ft_30e_in1k.py': _v1_ft('small', 0.1, 224),
    'convnext_b_in22k-ft_30e_in1k.py': _v1_ft('base', 0.2, 224),
    'convnext_l_in22k-ft_30e_in1k.py': _v1_ft('large', 0.3, 224),
    'convnext_xl_in22k-ft_30e_in1k.py': _v1_ft('xlarge', 0.4, 224, ema=True),
    'convnext_t_in22k-ft_30e_in1k_384.py': _v1_ft('tiny', 0.0, 384),
    'convnext_s_in22k-ft_30e_in1k_384.py': _v1_ft('small', 0.1, 384),
    'convnext_b_in22k-ft_30e_in1k_384.py': _v1_ft('base', 0.2, 384),
    'convnext_l_in22k-ft_30e_in1k_384.py': _v1_ft('large', 0.3, 384),
    'convnext_xl_in22k-ft_30e_in1k_384.py': _v1_ft('xlarge', 0.4, 384, ema=True),
    # Table 6, ImageNet-1K pre-trained column (384).
    'convnext_b_in1k-ft_30e_in1k_384.py': _v1_ft('base', 0.8, 384, decay=0.7),
    'convnext_l_in1k-ft_30e_in1k_384.py': _v1_ft('large', 0.95, 384, decay=0.7),
    # ConvNeXt V2 supervised baselines (V2 Table 14) with the Table 5 recipe.
    'convnextv2_t_sup_300e_in1k.py': _v2_sup('tiny', 0.1),
    'convnextv2_b_sup_300e_in1k.py': _v2_sup('base', 0.5),
    'convnextv2_l_sup_300e_in1k.py': _v2_sup('large', 0.5),
    # ConvNeXt V2 appendix Table 12: FCMAE -> ImageNet-22K intermediate fine-tuning.
    'convnextv2_n_fcmae-in1k-ft_90e_in22k.py': _v2_in22k('nano', 0.0, (0.9, 'single')),
    'convnextv2_t_fcmae-in1k-ft_90e_in22k.py': _v2_in22k('tiny', 0.0, (0.9, 'single')),
    'convnextv2_b_fcmae-in1k-ft_90e_in22k.py': _v2_in22k('base', 0.1, (0.8, 'group')),
    'convnextv2_l_fcmae-in1k-ft_90e_in22k.py': _v2_in22k('large', 0.1, (0.8, 'group')),
    'convnextv2_h_fcmae-in1k-ft_90e_in22k.py': _v2_in22k('huge', 0.3, (0.8, 'single')),
    # V2 appendix Table 13: ImageNet-22K -> ImageNet-1K fine-tuning.
    'convnextv2_n_in22k-ft_90e_in1k.py': _v2_ft('nano', 0.1, (0.9, 'single'), 90, True, 224),
    'convnextv2_n_in22k-ft_90e_in1k_384.py': _v2_ft('nano', 0.1, (0.9, 'single'), 90, True, 384),
    'convnextv2_t_in22k-ft_90e_in1k.py': _v2_ft('tiny', 0.1, (0.9, 'single'), 90, True, 224),
    'convnextv2_t_in22k-ft_90e_in1k_384.py': _v2_ft('tiny', 0.1, (0.9, 'single'), 90, True, 384),
    'convnextv2_b_in22k-ft_30e_in1k.py': _v2_ft('base', 0.2, (0.8, 'group'), 30, True, 224),
    'convnextv2_b_in22k-ft_30e_in1k_384.py': _v2_ft('base', 0.2, (0.8, 'group'), 30, True, 384),
    'convnextv2_l_in22k-ft_30e_in1k.py': _v2_ft('large', 0.3, (0.8, 'group'), 30, True, 224),
    'convnextv2_l_in22k-ft_30e_in1k_384.py': _v2_ft('large', 0.3, (0.8, 'group'), 30, True, 384),
    'convnextv2_h_in22k-ft_30e_in1k_384.py': _v2_ft('huge', 0.5, (0.85, 'single'), 30, False, 384),
    'convnextv2_h_in22k-ft_30e_in1k_512.py': _v2_ft('huge', 0.5, (0.85, 'single'), 30, False, 512),
}

CONFIG_NAMES = sorted(EXPECTED)


@cache
def _load(name: str) -> Config:
    """Parses a config once per session (parsing the host packages' bases takes ~1 s)."""
    return Config.fromfile(CONFIG_DIR / name)


def _discovered_configs() -> set[str]:
    return {path.name for pattern in CONFIG_GLOBS for path in CONFIG_DIR.glob(pattern)}


def _transform(pipeline: list, transform_type: str) -> ConfigDict | None:
    found = [step for step in pipeline if step['type'] == transform_type]
    return found[0] if found else None


def test_every_classification_config_has_an_expected_row() -> None:
    assert _discovered_configs() == set(EXPECTED)


@pytest.mark.slow
@pytest.mark.parametrize('name', CONFIG_NAMES)
def test_config_matches_official_recipe(name: str) -> None:
    expected = EXPECTED[name]
    cfg = _load(name)
    _check_model(cfg, expected)
    _check_optimizer(cfg, expected)
    _check_schedule(cfg, expected)
    _check_data(cfg, expected)


def _check_model(cfg: Config, expected: Recipe) -> None:
    backbone, head = cfg.model.backbone, cfg.model.head
    assert backbone.type == ('convnext.ConvNeXtV2' if expected.v2 else 'convnext.ConvNeXt')
    assert backbone.arch == expected.arch
    assert backbone.out_type == 'avg'
    assert backbone.drop_path_rate == pytest.approx(expected.drop_path)
    assert backbone.layer_scale_init_value == (V2_LAYER_SCALE if expected.v2 else V1_LAYER_SCALE)
    assert head.type == 'LinearClsHead'
    assert head.in_channels == ConvNeXt.arch_settings[expected.arch]['channels'][-1]
    assert head.num_classes == expected.classes
    assert cfg.data_preprocessor.num_classes == expected.classes
    assert head.loss == {'type': 'LabelSmoothLoss', 'label_smooth_val': 0.1, 'mode': 'original'}
    fine_tune = expected.layer_decay is not None
    assert head.init_cfg.std == pytest.approx(FT_HEAD_INIT_STD if fine_tune else HEAD_INIT_STD)
    assert (backbone.get('init_cfg') or {}).get('type') == ('Pretrained' if fine_tune else None)
    augments = (cfg.model.get('train_cfg') or {}).get('augments')
    if expected.mixup:
        assert augments == [{'type': 'Mixup', 'alpha': 0.8}, {'type': 'CutMix', 'alpha': 1.0}]
    else:
        assert augments is None


def _check_optimizer(cfg: Config, expected: Recipe) -> None:
    optim = cfg.optim_wrapper
    assert optim.optimizer.type == 'AdamW'
    assert optim.optimizer.lr == pytest.approx(expected.lr)
    assert optim.optimizer.weight_decay == pytest.approx(expected.weight_decay)
    assert tuple(optim.optimizer.betas) == (0.9, 0.999)
    assert cfg.auto_scale_lr.base_batch_size == expected.batch
    assert expected.batch % cfg.train_dataloader.batch_size == 0
    if expected.layer_decay is None:
        assert 'constructor' not in optim
        assert optim.paramwise_cfg.norm_decay_mult == 0.0
        assert optim.paramwise_cfg.bias_decay_mult == 0.0
        assert optim.paramwise_cfg.flat_decay_mult == 0.0
        assert optim.paramwise_cfg.custom_keys == {'.grn.': {'decay_mult': 0.0}}
    else:
        assert optim.constructor == 'convnext.LayerDecayOptimWrapperConstructor'
        decay_rate, decay_type = expected.layer_decay
        assert optim.paramwise_cfg.decay_rate == pytest.approx(decay_rate)
        assert optim.paramwise_cfg.decay_type == decay_type
    ema = [hook for hook in cfg.custom_hooks if hook['type'] == 'EMAHook']
    assert [hook['momentum'] for hook in ema] == ([EMA_MOMENTUM] if expected.ema else [])


def _check_schedule(cfg: Config, expected: Recipe) -> None:
    assert cfg.train_cfg.by_epoch and cfg.train_cfg.max_epochs == expected.epochs
    schedulers = {s['type']: s for s in cfg.param_scheduler}
    assert set(schedulers) == ({'LinearLR', 'CosineAnnealingLR'} if expected.warmup else {'CosineAnnealingLR'})
    if expected.warmup:
        warmup = schedulers['LinearLR']
        assert (warmup.begin, warmup.end, warmup.convert_to_iter_based) == (0, expected.warmup, True)
    cosine = schedulers['CosineAnnealingLR']
    assert (cosine.begin, cosine.end, cosine.convert_to_iter_based) == (expected.warmup, expected.epochs, True)
    assert cosine.eta_min_ratio * expected.lr == pytest.approx(MIN_LR)


def _check_data(cfg: Config, expected: Recipe) -> None:
    train = cfg.train_dataloader.dataset
    assert train.type == ('ImageNet21k' if expected.classes == IN22K_CLASSES else 'ImageNet')
    assert _transform(train.pipeline, 'RandomResizedCrop').scale == expected.res
    rand_augment = _transform(train.pipeline, 'RandAugment')
    assert (rand_augment.policies, rand_augment.magnitude_level, rand_augment.magnitude_std) == (
        'timm_increasing',
        9,
        0.5,
    )
    assert _transform(train.pipeline, 'RandomErasing').erase_prob == 0.25
    if expected.classes == IN22K_CLASSES:
        assert cfg.val_dataloader is None and cfg.val_cfg is None
        return
    test_pipeline = cfg.val_dataloader.dataset.pipeline
    if expected.res == 224:
        assert _transform(test_pipeline, 'ResizeEdge').scale == TEST_RESIZE_224
        assert _transform(test_pipeline, 'CenterCrop').crop_size == expected.res
    else:
        assert _transform(test_pipeline, 'Resize').scale == expected.res
        assert _transform(test_pipeline, 'CenterCrop') is None


@pytest.fixture(scope='module')
def image_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ImageNet-style folder ``{train,val}/<class>/<image>.jpg``, one image per class and split."""
    root = tmp_path_factory.mktemp('imagenet')
    rng = np.random.default_rng(0)
    for split in ('train', 'val'):
        for name in CLASSES:
            folder = root / split / name
            folder.mkdir(parents=True)
            pixels = rng.integers(0, 256, (TINY_IMAGE, TINY_IMAGE, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / 'image.jpg')
    return root


@pytest.fixture(scope='module')
def official_checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[bool, Path]:
    """Tiny checkpoints in the official FB format (``model`` dict, head norm ``norm``, ``head``), V1 and V2."""
    root = tmp_path_factory.mktemp('checkpoints')
    paths = {}
    for v2, backbone_class in ((False, ConvNeXt), (True, ConvNeXtV2)):
        state = backbone_class(arch=TINY_ARCH, out_type='avg').state_dict()
        state = {key.replace('norm3.', 'norm.'): torch.randn_like(value) for key, value in state.items()}
        channels = TINY_ARCH['channels'][-1]
        state['head.weight'] = torch.randn(OFFICIAL_HEAD_CLASSES, channels)
        state['head.bias'] = torch.zeros(OFFICIAL_HEAD_CLASSES)
        paths[v2] = root / f'convnext_v{2 if v2 else 1}_official.pth'
        torch.save({'model': state}, paths[v2])
    return paths


def _shrink_pipeline(pipeline: list) -> Iterator[dict]:
    for step in pipeline:
        step = dict(step)
        if step['type'] in ('RandomResizedCrop', 'Resize'):
            step['scale'] = TINY_CROP
        elif step['type'] == 'ResizeEdge':
            step['scale'] = TINY_RESIZE
        elif step['type'] == 'CenterCrop':
            step['crop_size'] = TINY_CROP
        yield step


def _shrink_loader(loader: ConfigDict, root: Path, split: str) -> None:
    loader.update(batch_size=TINY_BATCH, num_workers=0, persistent_workers=False)
    dataset = loader.dataset
    for key in ('split', 'ann_file'):
        dataset.pop(key, None)
    dataset.update(
        data_root=str(root),
        data_prefix=split,
        ann_file='',
        metainfo={'classes': CLASSES},
        serialize_data=False,  # serialising runs gc.collect(), ~1 s per dataset
        pipeline=list(_shrink_pipeline(dataset.pipeline)),
    )


def _tiny_config(name: str, root: Path, work_dir: Path, checkpoint: Path) -> Config:
    cfg = copy.deepcopy(_load(name))
    cfg.model.backbone.arch = TINY_ARCH
    if cfg.model.backbone.get('init_cfg'):
        cfg.model.backbone.init_cfg.checkpoint = str(checkpoint)
    if 'checkpoint' in cfg.model.head.init_cfg:
        cfg.model.head.init_cfg.checkpoint = str(checkpoint)
    cfg.model.head.update(in_channels=TINY_ARCH['channels'][-1], num_classes=len(CLASSES))
    cfg.data_preprocessor.num_classes = len(CLASSES)
    _shrink_loader(cfg.train_dataloader, root, 'train')
    if cfg.val_dataloader is not None:
        _shrink_loader(cfg.val_dataloader, root, 'val')
        cfg.val_evaluator = {'type': 'Accuracy', 'topk': (1,)}  # top-5 needs 5 classes
        cfg.test_dataloader = None
        cfg.test_cfg = None
        cfg.test_evaluator = None
    cfg.train_cfg.max_epochs = 1
    cfg.default_hooks.checkpoint = None
    cfg.visualizer.vis_backends = []
    cfg.work_dir = str(work_dir)
    cfg.launcher = 'none'
    cfg.log_level = 'WARNING'
    return cfg


class MetricsRecorder(Hook):
    """Keeps the metrics of the last validation epoch."""

    def __init__(self) -> None:
        self.metrics: dict[str, float] | None = None

    def after_val_epoch(self, runner: Runner, metrics: dict[str, float] | None = None) -> None:
        """Stores ``metrics``."""
        self.metrics = metrics


def _decays(name: str, ndim: int) -> bool:
    """The official weight-decay rule: not 1-D, not a bias, not layer scale or GRN gamma/beta."""
    return ndim > 1 and not name.endswith(('.bias', '.gamma', '.beta'))


@pytest.mark.slow
@pytest.mark.parametrize('name', CONFIG_NAMES)
def test_config_trains_and_validates_one_iteration(
    name: str,
    image_root: Path,
    official_checkpoints: dict[bool, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    expected = EXPECTED[name]
    # The runner logs and dumps the config through yapf (~2 s a run); the raw text is enough here.
    monkeypatch.setattr(Config, 'pretty_text', property(lambda cfg: cfg.text))
    checkpoint = official_checkpoints[expected.v2]
    runner = Runner.from_cfg(_tiny_config(name, image_root, tmp_path, checkpoint))
    recorder = MetricsRecorder()
    runner.register_hook(recorder)
    runner.train()
    assert runner.iter == 1
    if expected.classes == IN22K_CLASSES:
        assert recorder.metrics is None
    else:
        assert 0.0 <= recorder.metrics['accuracy/top1'] <= 100.0
    names = {id(param): param_name for param_name, param in runner.model.named_parameters()}
    groups = runner.optim_wrapper.optimizer.param_groups
    for group in groups:
        for param in group['params']:
            decayed = group['weight_decay'] > 0
            assert decayed == _decays(names[id(param)], param.ndim), names[id(param)]
    if expected.layer_decay is not None:
        _check_layer_decay(runner, groups, names, expected.layer_decay)
        loaded = torch.load(checkpoint, weights_only=True)['model'][STEM_WEIGHT]
        trained = runner.model.backbone.state_dict()[STEM_WEIGHT]
        assert torch.allclose(trained, loaded, atol=LOADED_ATOL)


def _check_layer_decay(runner: Runner, groups: list[dict], names: dict[int, str], layer_decay: tuple) -> None:
    decay_rate, decay_type = layer_decay
    lr_of = {names[id(param)]: group['lr'] for group in groups for param in group['params']}
    stem = 'backbone.downsample_layers.0.0.weight'
    layer_id, max_id = runner.model.backbone.get_layer_depth(stem, 'backbone.', decay_type=decay_type)
    assert lr_of[stem] / lr_of['head.fc.weight'] == pytest.approx(decay_rate ** (max_id - layer_id - 1))
