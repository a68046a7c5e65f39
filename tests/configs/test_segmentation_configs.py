"""The UperNet/ADE20K configs: official settings, and one CPU train/test iteration each on generated data.

The settings are checked against a table written from the official code
(``facebookresearch/ConvNeXt`` ``semantic_segmentation/configs``), the ConvNeXt
paper (Table 4, appendix A.3) and the ConvNeXt V2 paper (Table 7, appendix A.4).
The runs shrink the model (``depths=[1, 1, 1, 1]``, ``channels=[8, 16, 32, 64]``,
no pretrained weights) and the images; everything else is the config's own.
"""

import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

import pytest
from mmengine.config import Config, ConfigDict
from mmengine.runner import Runner

from convnext.launch import adapt_cfg_to_device
from convnext.models.backbones.convnext import ConvNeXt

ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = ROOT / 'configs'
FB = 'https://dl.fbaipublicfiles.com/convnext'

NUM_CLASSES = 150
V1_TTA_RATIOS = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)
"""The Swin/BEiT ``--aug-test`` the ConvNeXt paper uses for its multi-scale numbers."""
V2_TTA_RATIOS = (0.75, 0.875, 1.0, 1.125, 1.25)
"""ConvNeXt V2 appendix A.4."""
TEST_SCALE = {512: (2048, 512), 640: (2560, 640)}
SLIDE_STRIDE = {512: 341, 640: 426}
WARMUP_ITERS = 1500
MAX_ITERS = 160000
GPUS, IMAGES_PER_GPU = 8, 2

TINY_ARCH = {'depths': [1, 1, 1, 1], 'channels': [8, 16, 32, 64]}
TINY_HEAD_CHANNELS = 16
TINY_IMAGE = 64
TINY_CROP = (64, 64)
TINY_STRIDE = (43, 43)
TINY_TEST_SCALE = (96, 96)
TINY_TTA_SHRINK = 4
"""TTA test scales are divided by this in the TTA run (64 px images, stride-32 backbone)."""
TINY_BATCH = 2
NUM_TRAIN, NUM_VAL = 2, 1


class Recipe(NamedTuple):
    """The official settings of one config."""

    backbone: str
    arch: str
    checkpoint: str
    drop_path: float
    num_layers: int
    lr: float
    amp: bool
    res: int
    tta_ratios: tuple[float, ...]


def _v1(arch: str, weights: str, drop_path: float, num_layers: int, res: int, lr: float = 1e-4) -> Recipe:
    return Recipe(
        'convnext.ConvNeXt',
        arch,
        f'{FB}/{weights}',
        drop_path,
        num_layers,
        lr,
        arch in ('tiny', 'small', 'base'),
        res,
        V1_TTA_RATIOS,
    )


def _v2(arch: str, weights: str, drop_path: float, num_layers: int, res: int = 512) -> Recipe:
    return Recipe(
        'convnext.ConvNeXtV2',
        arch,
        f'{FB}/convnextv2/{weights}',
        drop_path,
        num_layers,
        1e-4,
        arch in ('tiny', 'base'),
        res,
        V2_TTA_RATIOS,
    )


EXPECTED = {
    'upernet_convnext_t_160k_ade20k_512.py': _v1('tiny', 'convnext_tiny_1k_224.pth', 0.4, 6, 512),
    'upernet_convnext_s_160k_ade20k_512.py': _v1('small', 'convnext_small_1k_224.pth', 0.3, 12, 512),
    'upernet_convnext_b_160k_ade20k_512.py': _v1('base', 'convnext_base_1k_224.pth', 0.4, 12, 512),
    'upernet_convnext_b_in22k_160k_ade20k_640.py': _v1('base', 'convnext_base_22k_224.pth', 0.4, 12, 640),
    'upernet_convnext_l_in22k_160k_ade20k_640.py': _v1('large', 'convnext_large_22k_224.pth', 0.4, 12, 640),
    'upernet_convnext_xl_in22k_160k_ade20k_640.py': _v1('xlarge', 'convnext_xlarge_22k_224.pth', 0.4, 12, 640, lr=8e-5),
    'upernet_convnextv2_t_160k_ade20k_512.py': _v2('tiny', 'im1k/convnextv2_tiny_1k_224_ema.pt', 0.2, 6),
    'upernet_convnextv2_b_160k_ade20k_512.py': _v2('base', 'im1k/convnextv2_base_1k_224_ema.pt', 0.3, 12),
    'upernet_convnextv2_l_160k_ade20k_512.py': _v2('large', 'im1k/convnextv2_large_1k_224_ema.pt', 0.4, 12),
    'upernet_convnextv2_h_160k_ade20k_512.py': _v2('huge', 'im1k/convnextv2_huge_1k_224_ema.pt', 0.4, 12),
    'upernet_convnextv2_h_in22k_160k_ade20k_640.py': _v2('huge', 'im22k/convnextv2_huge_22k_512_ema.pt', 0.4, 12, 640),
}
CONFIG_NAMES = sorted(EXPECTED)
TTA_CONFIGS = ['upernet_convnext_t_160k_ade20k_512.py', 'upernet_convnextv2_h_in22k_160k_ade20k_640.py']


pytestmark = pytest.mark.usefixtures('one_thread')


def _transform(pipeline: list, transform_type: str) -> tuple[int, ConfigDict]:
    """Index and config of the only ``transform_type`` step of ``pipeline``."""
    found = [(i, step) for i, step in enumerate(pipeline) if step['type'] == transform_type]
    assert len(found) == 1, f'{transform_type} appears {len(found)} times in {pipeline}'
    return found[0]


def test_every_segmentation_config_has_an_expected_row() -> None:
    found = {p.name for p in CONFIG_DIR.glob('upernet_*.py')}
    assert found == set(EXPECTED)


@pytest.mark.parametrize('name', CONFIG_NAMES)
def test_config_matches_official_recipe(name: str) -> None:
    expected = EXPECTED[name]
    cfg = Config.fromfile(CONFIG_DIR / name)
    assert cfg.default_scope == 'mmseg'
    _check_model(cfg.model, expected)
    _check_optimizer(cfg, expected)
    _check_schedule(cfg)
    _check_data(cfg, expected)


def _check_model(model: ConfigDict, expected: Recipe) -> None:
    backbone = model.backbone
    assert backbone.type == expected.backbone
    assert backbone.arch == expected.arch
    assert backbone.drop_path_rate == expected.drop_path
    assert list(backbone.out_indices) == [0, 1, 2, 3]
    # Official segmentation code: layer scale 1.0 for V1; V2 has none (the class default 0).
    assert backbone.get('layer_scale_init_value') == (1.0 if expected.backbone == 'convnext.ConvNeXt' else None)
    assert backbone.init_cfg == {'type': 'Pretrained', 'checkpoint': expected.checkpoint}
    channels = ConvNeXt.arch_settings[expected.arch]['channels']
    head, aux = model.decode_head, model.auxiliary_head
    assert (head.type, list(head.in_channels), head.channels, tuple(head.pool_scales)) == (
        'UPerHead',
        channels,
        512,
        (1, 2, 3, 6),
    )
    assert (aux.type, aux.in_channels, aux.in_index, aux.channels, aux.loss_decode.loss_weight) == (
        'FCNHead',
        channels[2],
        2,
        256,
        0.4,
    )
    assert head.num_classes == aux.num_classes == NUM_CLASSES
    assert head.norm_cfg.type == aux.norm_cfg.type == 'SyncBN'
    crop = (expected.res, expected.res)
    assert tuple(model.data_preprocessor.size) == crop
    stride = SLIDE_STRIDE[expected.res]
    assert model.test_cfg == {'mode': 'slide', 'crop_size': crop, 'stride': (stride, stride)}


def _check_optimizer(cfg: Config, expected: Recipe) -> None:
    optim_wrapper = cfg.optim_wrapper
    assert optim_wrapper.type == ('AmpOptimWrapper' if expected.amp else 'OptimWrapper')
    assert optim_wrapper.constructor == 'convnext.LayerDecayOptimWrapperConstructor'
    assert optim_wrapper.paramwise_cfg == {
        'decay_rate': 0.9,
        'decay_type': 'stage_wise',
        'num_layers': expected.num_layers,
    }
    assert optim_wrapper.optimizer == {'type': 'AdamW', 'lr': expected.lr, 'betas': (0.9, 0.999), 'weight_decay': 0.05}


def _check_schedule(cfg: Config) -> None:
    warmup, poly = cfg.param_scheduler
    assert (warmup.type, warmup.start_factor, warmup.begin, warmup.end, warmup.by_epoch) == (
        'LinearLR',
        1e-6,
        0,
        WARMUP_ITERS,
        False,
    )
    assert (poly.type, poly.power, poly.eta_min, poly.begin, poly.end, poly.by_epoch) == (
        'PolyLR',
        1.0,
        0.0,
        WARMUP_ITERS,
        MAX_ITERS,
        False,
    )
    assert cfg.train_cfg.type == 'IterBasedTrainLoop'
    assert cfg.train_cfg.max_iters == MAX_ITERS
    assert cfg.train_dataloader.batch_size * GPUS == GPUS * IMAGES_PER_GPU


def _check_data(cfg: Config, expected: Recipe) -> None:
    assert cfg.train_dataloader.dataset.type == 'ADE20KDataset'
    _, crop = _transform(cfg.train_dataloader.dataset.pipeline, 'RandomCrop')
    assert tuple(crop.crop_size) == (expected.res, expected.res)
    _, resize = _transform(cfg.test_dataloader.dataset.pipeline, 'Resize')
    test_scale = TEST_SCALE[expected.res]
    assert tuple(resize.scale) == test_scale
    assert cfg.tta_model.type == 'SegTTAModel'
    scales, flips = cfg.tta_pipeline[1].transforms[:2]
    ratios = tuple(step.scale[1] / test_scale[1] for step in scales)
    assert ratios == pytest.approx(expected.tta_ratios)
    assert [step.scale[0] for step in scales] == [int(test_scale[0] * r) for r in expected.tta_ratios]
    assert [flip.prob for flip in flips] == [0.0, 1.0]


@pytest.fixture(scope='module')
def ade_root(tmp_path_factory: pytest.TempPathFactory, load_tool: Callable[[str], ModuleType]) -> Path:
    """A tiny ADE20K-layout dataset (2 training, 1 validation image of 64x64)."""
    root = tmp_path_factory.mktemp('ade')
    return load_tool('tools/demos/synthetic_ade.py').generate_dataset(root, NUM_TRAIN, NUM_VAL, size=TINY_IMAGE)


def tiny_overrides(cfg: Config, data_root: Path, work_dir: Path) -> dict[str, Any]:
    """Dotted-key overrides (``--cfg-options`` style) that shrink ``cfg`` to the tiny arch, data and schedule."""
    channels = TINY_ARCH['channels']
    options: dict[str, Any] = {
        'work_dir': str(work_dir),
        'model.backbone.arch._delete_': True,
        'model.backbone.arch.depths': TINY_ARCH['depths'],
        'model.backbone.arch.channels': channels,
        'model.backbone.init_cfg': None,
        'model.decode_head.in_channels': channels,
        'model.decode_head.channels': TINY_HEAD_CHANNELS,
        'model.auxiliary_head.in_channels': channels[2],
        'model.auxiliary_head.channels': TINY_HEAD_CHANNELS,
        'model.data_preprocessor.size': TINY_CROP,
        'model.test_cfg.crop_size': TINY_CROP,
        'model.test_cfg.stride': TINY_STRIDE,
        'train_cfg.max_iters': 1,
        'train_cfg.val_interval': 1,
        'default_hooks.checkpoint.interval': 1,
        'visualizer.vis_backends': [],
    }
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        options.update({f'{loader}.{key}': value for key, value in _tiny_loader_options(cfg, loader).items()})
        options[f'{loader}.dataset.data_root'] = str(data_root)
    return options


def _tiny_loader_options(cfg: Config, loader: str) -> dict[str, Any]:
    pipeline = cfg[loader].dataset.pipeline
    options: dict[str, Any] = {'batch_size': TINY_BATCH, 'num_workers': 0, 'persistent_workers': False}
    if loader == 'train_dataloader':
        resize, _ = _transform(pipeline, 'RandomResize')
        crop, _ = _transform(pipeline, 'RandomCrop')
        options[f'dataset.pipeline.{resize}.scale'] = (TINY_IMAGE, TINY_IMAGE)
        options[f'dataset.pipeline.{crop}.crop_size'] = TINY_CROP
    else:
        resize, _ = _transform(pipeline, 'Resize')
        options[f'dataset.pipeline.{resize}.scale'] = TINY_TEST_SCALE
    return options


def _tiny_config(name: str, data_root: Path, work_dir: Path) -> Config:
    cfg = Config.fromfile(CONFIG_DIR / name)
    cfg.merge_from_dict(tiny_overrides(cfg, data_root, work_dir))
    cfg.launcher = 'none'
    return adapt_cfg_to_device(cfg, distributed=False)[0]


@pytest.mark.slow
@pytest.mark.parametrize('name', CONFIG_NAMES)
def test_config_trains_and_tests_one_iteration(name: str, ade_root: Path, tmp_path: Path) -> None:
    expected = EXPECTED[name]
    runner = Runner.from_cfg(_tiny_config(name, ade_root, tmp_path))
    runner.train()
    assert runner.iter == 1
    metrics = runner.test()
    assert 0.0 <= metrics['mIoU'] <= 100.0
    _check_layer_decay(runner, expected.num_layers)


def _check_layer_decay(runner: Runner, num_layers: int) -> None:
    """Stage-wise decay 0.9: the stem learns at ``0.9 ** (num_layers + 1)`` of the heads' rate."""
    groups = runner.optim_wrapper.optimizer.param_groups
    names = {id(param): name for name, param in runner.model.named_parameters()}
    lr_of = {names[id(param)]: group['lr'] for group in groups for param in group['params']}
    stem, head = 'backbone.downsample_layers.0.0.weight', 'decode_head.conv_seg.weight'
    assert lr_of[stem] / lr_of[head] == pytest.approx(0.9 ** (num_layers + 1))


@pytest.mark.slow
@pytest.mark.parametrize(
    'name', ['upernet_convnext_t_160k_ade20k_512.py', 'upernet_convnextv2_h_in22k_160k_ade20k_640.py']
)
def test_multi_scale_flip_test(name: str, ade_root: Path, tmp_path: Path) -> None:
    """``tools/test.py --tta``'s wrapping: SegTTAModel over the config's model, its tta_pipeline."""
    cfg = _tiny_config(name, ade_root, tmp_path)
    scales = cfg.tta_pipeline[1].transforms[0]
    for step in scales:
        step.scale = tuple(side // TINY_TTA_SHRINK for side in step.scale)
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
    cfg.model = dict(**cfg.tta_model, module=cfg.model)
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    assert 0.0 <= metrics['mIoU'] <= 100.0


def _option_strings(options: dict[str, Any]) -> list[str]:
    """``--cfg-options`` arguments; lists and tuples without spaces, as ``DictAction`` parses them."""
    return [f'{key}={value}'.replace(' ', '') for key, value in options.items()]


@pytest.mark.slow
def test_dist_train_two_cpu_processes(ade_root: Path, tmp_path: Path) -> None:
    name = 'upernet_convnext_t_160k_ade20k_512.py'
    cfg = Config.fromfile(CONFIG_DIR / name)
    iters = 2
    options = tiny_overrides(cfg, ade_root, tmp_path)
    options.update({'train_cfg.max_iters': iters, 'train_cfg.val_interval': iters})
    env = dict(os.environ, CUDA_VISIBLE_DEVICES='', OMP_NUM_THREADS='1', PORT=str(29500 + os.getpid() % 1000))
    command = ['bash', 'tools/dist_train.sh', f'configs/{name}', '2', '--cfg-options', *_option_strings(options)]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240, check=False)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-4000:]
    assert (tmp_path / f'iter_{iters}.pth').is_file()
    assert 'mIoU' in log
    assert 'Distributed training: True' in log
