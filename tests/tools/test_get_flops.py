"""tools/analysis/get_flops.py: multiply-add counts for detectors, segmentors and classifiers."""

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from mmengine.config import Config

ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = ROOT / 'configs'
TINY_ARCH = {'depths': [1, 1, 1, 1], 'channels': [8, 16, 32, 64]}
TINY_DIMS = TINY_ARCH['channels']
NUM_CLASSES = 10
COCO_CLASSES = 80
ROI_FEATURES = 256 * 7 * 7
PAPER_TOLERANCE = 0.05
"""Largest relative gap to the papers' FLOPs."""

# ConvNeXt Table 3 (1280 x 800) and Table 4 (2048 x 512), in GFLOPs. The cascade configs (741G ... 1898G) take
# 2-6 CPU minutes each to count and are checked by hand (see the tool's docstring); Mask R-CNN T stands for them.
PAPER_DET_GFLOPS = {'mask_rcnn_convnext_t_3x.py': 262}
PAPER_UPERNET_T_GFLOPS = 939
SEG_CONFIG_T = CONFIG_DIR / 'upernet_convnext_t_160k_ade20k_512.py'


pytestmark = pytest.mark.usefixtures('one_thread')


@pytest.fixture(scope='module')
def get_flops(load_tool: Callable[[str], ModuleType]) -> ModuleType:
    return load_tool('tools/analysis/get_flops.py')


def classifier_cfg() -> Config:
    """An mmpretrain classifier with a tiny ConvNeXt."""
    return Config(
        dict(
            default_scope='mmpretrain',
            model=dict(
                type='ImageClassifier',
                backbone=dict(type='convnext.ConvNeXt', arch=TINY_ARCH, out_type='avg'),
                head=dict(type='LinearClsHead', num_classes=NUM_CLASSES, in_channels=TINY_DIMS[-1]),
            ),
        )
    )


def upernet_cfg(tmp_path: Path, arch: str | dict, dims: list[int], channels: int) -> Config:
    """An mmseg UperNet from mmseg's packaged base, with our ConvNeXt and 150 classes."""
    path = tmp_path / 'upernet.py'
    path.write_text(
        "_base_ = ['mmseg::_base_/models/upernet_convnext.py']\n"
        "default_scope = 'mmseg'\n"
        'model = dict(\n'
        f"    backbone=dict(_delete_=True, type='convnext.ConvNeXt', arch={arch!r}, out_indices=[0, 1, 2, 3], "
        "out_type='featmap'),\n"
        f'    decode_head=dict(in_channels={dims}, channels={channels}, num_classes=150),\n'
        f'    auxiliary_head=dict(in_channels={dims[2]}, channels={channels // 2}, num_classes=150))\n'
    )
    return Config.fromfile(str(path))


def convnext_macs(size: int) -> int:
    """Multiply-adds of the tiny ConvNeXt's convolutions and linears and the classifier on ``size`` x ``size``."""
    side = size // 4
    macs = side * side * TINY_DIMS[0] * 3 * 4 * 4
    for i, (depth, dim) in enumerate(zip(TINY_ARCH['depths'], TINY_DIMS, strict=True)):
        if i:
            side //= 2
            macs += side * side * dim * TINY_DIMS[i - 1] * 2 * 2
        macs += depth * side * side * (dim * 7 * 7 + 2 * dim * 4 * dim)
    return macs + TINY_DIMS[-1] * NUM_CLASSES


def test_classifier_flops_match_an_analytic_count(get_flops: ModuleType) -> None:
    result = get_flops.count_complexity(classifier_cfg(), 64, 64)
    expected = convnext_macs(64)
    # Norm layers add a few element-wise operations on top of the multiply-adds.
    assert expected <= result['flops'] <= 1.1 * expected
    assert result['params'] > 0


def test_segmentor_counts_backbone_and_decode_head(get_flops: ModuleType, tmp_path: Path) -> None:
    cfg = upernet_cfg(tmp_path, TINY_ARCH, TINY_DIMS, 16)
    small = get_flops.count_complexity(cfg, 32, 64)
    large = get_flops.count_complexity(cfg, 64, 128)
    backbone_only = get_flops.count_complexity(classifier_cfg(), 32, 64)['flops']
    assert small['flops'] > backbone_only
    assert large['flops'] == pytest.approx(4 * small['flops'], rel=0.1)


def box_head_macs(fc_channels: int) -> int:
    """Multiply-adds of mmdet's Shared2FCBBoxHead on one RoI (7 x 7 x 256 features, 80 classes)."""
    return ROI_FEATURES * fc_channels + fc_channels * fc_channels + fc_channels * (COCO_CLASSES + 1 + 4 * COCO_CLASSES)


def test_two_stage_detector_counts_fixed_rois(get_flops: ModuleType) -> None:
    cfg = Config.fromfile(str(CONFIG_DIR / 'mask_rcnn_convnext_t_3x.py'))
    cfg.model.backbone.arch = TINY_ARCH
    cfg.model.neck.in_channels = TINY_DIMS
    wide = get_flops.count_complexity(cfg, 64, 64)['flops']
    assert wide == get_flops.count_complexity(cfg, 64, 64)['flops']
    cfg.model.roi_head.bbox_head.fc_out_channels = 512
    narrow = get_flops.count_complexity(cfg, 64, 64)['flops']
    expected = get_flops.DUMMY_PROPOSALS * (box_head_macs(1024) - box_head_macs(512))
    assert wide - narrow == pytest.approx(expected, rel=0.01)


def test_cli_prints_and_rejects_bad_input(get_flops: ModuleType, capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    path = tmp_path / 'cls.py'
    classifier_cfg().dump(str(path))
    assert get_flops.main([str(path), '--shape', '64']) == 0
    out = capsys.readouterr().out
    assert 'FLOPs:' in out and 'Params:' in out and '(1, 3, 64, 64)' in out
    assert get_flops.main([str(path), '--shape', '32', '64']) == 0  # H W, as mmseg's and mmpretrain's get_flops
    assert '(1, 3, 32, 64)' in capsys.readouterr().out
    assert get_flops.main([str(tmp_path / 'missing.py')]) == 2
    assert get_flops.main([str(path), '--shape', '0', '64']) == 2


@pytest.mark.slow
@pytest.mark.parametrize('name', sorted(PAPER_DET_GFLOPS))
def test_detection_flops_match_the_paper(get_flops: ModuleType, name: str) -> None:
    result = get_flops.count_complexity(Config.fromfile(str(CONFIG_DIR / name)), 800, 1280)
    assert result['flops'] / 1e9 == pytest.approx(PAPER_DET_GFLOPS[name], rel=PAPER_TOLERANCE)


@pytest.mark.slow
def test_upernet_flops_match_the_paper(get_flops: ModuleType, tmp_path: Path) -> None:
    if SEG_CONFIG_T.is_file():
        cfg = Config.fromfile(str(SEG_CONFIG_T))
    else:
        cfg = upernet_cfg(tmp_path, 'tiny', [96, 192, 384, 768], 512)
    result = get_flops.count_complexity(cfg, 512, 2048)
    assert result['flops'] / 1e9 == pytest.approx(PAPER_UPERNET_T_GFLOPS, rel=PAPER_TOLERANCE)
