"""convnext.launch.shapes: ``--shape H W`` and the input size a config's test pipeline produces.

``tools/deployment/export_onnx.py`` fixes its graph's input with ``default_shape``; ``tools/analysis/get_flops.py``
and ``benchmark.py`` default ``--shape`` to ``analysis_shape`` (the same function, except the papers' detection size).
"""

import argparse
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from mmengine.config import Config

from convnext.exceptions import ConfigError
from convnext.launch import DETECTION_SHAPE, add_shape_arg, analysis_shape, default_shape, parse_shape

ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = ROOT / 'configs'
STRIDE = 32
TINY_ARCH = {'depths': [1, 1, 1, 1], 'channels': [8, 16, 32, 64]}


def pipeline_cfg(scope: str, steps: list[dict], test_cfg: dict | None = None) -> Config:
    model = dict(type='Model', test_cfg=test_cfg) if test_cfg else dict(type='Model')
    return Config(dict(default_scope=scope, model=model, test_dataloader=dict(dataset=dict(pipeline=steps))))


@pytest.mark.parametrize(
    ('name', 'expected'),
    [
        ('convnext_t_sup_300e_in1k.py', (224, 224)),  # ResizeEdge 256 + CenterCrop 224
        ('convnext_b_in22k-ft_30e_in1k_384.py', (384, 384)),  # Resize 384, no crop
        ('upernet_convnext_t_160k_ade20k_512.py', (512, 512)),  # one sliding window
        ('mask_rcnn_convnext_t_3x.py', (1344, 1344)),  # (1333, 800) keeping the ratio: either orientation
    ],
)
def test_default_shape_of_the_configs(name: str, expected: tuple[int, int]) -> None:
    cfg = Config.fromfile(str(CONFIG_DIR / name))
    task = {'mmpretrain': 'classification', 'mmseg': 'segmentation', 'mmdet': 'detection'}[cfg.default_scope]
    assert default_shape(cfg, task, STRIDE) == expected


def test_default_shape_of_sliding_windows_and_odd_sizes() -> None:
    slide = pipeline_cfg('mmseg', [dict(type='Resize', scale=(2048, 512))], dict(mode='slide', crop_size=(96, 64)))
    assert default_shape(slide, 'segmentation', STRIDE) == (96, 64)
    assert default_shape(slide, 'segmentation', STRIDE, windows=False) == (512, 2048)
    crop = pipeline_cfg('mmpretrain', [dict(type='CenterCrop', crop_size=(100, 60))])  # mmcv (w, h)
    assert default_shape(crop, 'classification', STRIDE) == (64, 128)
    assert default_shape(Config(dict(default_scope='mmpretrain')), 'classification', STRIDE) == (224, 224)
    with pytest.raises(ConfigError, match='no Resize with a scale: pass --shape H W'):
        default_shape(pipeline_cfg('mmdet', [dict(type='LoadImageFromFile')]), 'detection', STRIDE)


@pytest.mark.parametrize(
    ('name', 'expected'),
    [
        ('convnextv2_t_fcmae-ft_in1k.py', (224, 224)),
        ('upernet_convnext_t_160k_ade20k_512.py', (512, 2048)),  # resized image (ConvNeXt Table 4); windows inside
        ('cascade_mask_rcnn_convnext_t_3x.py', DETECTION_SHAPE),  # ConvNeXt Table 3's 1280 x 800
    ],
)
def test_analysis_shape_is_the_test_input(name: str, expected: tuple[int, int]) -> None:
    assert analysis_shape(Config.fromfile(str(CONFIG_DIR / name))) == expected


def test_analysis_shape_needs_a_host() -> None:
    with pytest.raises(ConfigError, match="default_scope 'mmnothing' is not one of mmpretrain, mmseg, mmdet"):
        analysis_shape(Config(dict(default_scope='mmnothing')))


def test_every_tool_declares_shape_height_first() -> None:
    parser = argparse.ArgumentParser()
    add_shape_arg(parser, list(DETECTION_SHAPE))
    assert parse_shape(parser.parse_args([]).shape) == (800, 1280)  # H W of the papers' 1280 x 800
    assert parse_shape(parser.parse_args(['--shape', '512', '2048']).shape) == (512, 2048)
    assert 'height and width' in parser.format_help() and '800 1280' in parser.format_help()


def test_shape_is_height_width_or_square() -> None:
    assert parse_shape([480, 640]) == (480, 640) and parse_shape([512]) == (512, 512)
    with pytest.raises(ConfigError, match=r'--shape takes H W or one side, got \[1, 2, 3\]'):
        parse_shape([1, 2, 3])
    with pytest.raises(ConfigError, match='height 0 and width 4'):
        parse_shape([0, 4])


def classifier_config(tmp_path: Path) -> Path:
    """A tiny classifier whose test pipeline crops 96 x 96 (a cheap stand-in for ImageNet's 224)."""
    path = tmp_path / 'cls.py'
    steps = [dict(type='LoadImageFromFile'), dict(type='CenterCrop', crop_size=96), dict(type='PackInputs')]
    backbone = dict(type='convnext.ConvNeXt', arch=TINY_ARCH, out_type='avg')
    head = dict(type='LinearClsHead', num_classes=10, in_channels=TINY_ARCH['channels'][-1])
    Config(
        dict(
            default_scope='mmpretrain',
            model=dict(type='ImageClassifier', backbone=backbone, head=head),
            test_dataloader=dict(dataset=dict(pipeline=steps)),
        )
    ).dump(str(path))
    return path


@pytest.mark.usefixtures('one_thread')
def test_analysis_tools_default_to_the_test_input(
    load_tool: Callable[[str], ModuleType], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    config = str(classifier_config(tmp_path))
    assert load_tool('tools/analysis/get_flops.py').main([config]) == 0
    assert 'Input shape: (1, 3, 96, 96)' in capsys.readouterr().out
    assert load_tool('tools/analysis/benchmark.py').main([config, '--iters', '1', '--warmup', '0']) == 0
    assert '1 x 3 x 96 x 96' in capsys.readouterr().out
