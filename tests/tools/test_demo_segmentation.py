"""``python tools/demo.py segmentation``: synthetic ADE20K data, UperNet + ConvNeXt V2-Atto, mIoU, preview PNG."""

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import MODELS, DefaultScope
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
DEMO_ITERS = 150
DEMO_TRAIN_IMAGES = 32
DEMO_VAL_IMAGES = 8
PREVIEW_ROWS = 3
MIN_MIOU = 50.0
"""Floor of the shortened run; predicting 'ground' everywhere scores about 14 mIoU on 5 classes."""
DEMO_TIMEOUT_S = 360  # two tool processes (train, test) start besides the demo itself


@pytest.fixture(scope='module')
def synthetic_ade(load_tool: Callable[[str], ModuleType]) -> ModuleType:
    return load_tool('tools/demos/synthetic_ade.py')


def test_generated_dataset_follows_ade20k_conventions(synthetic_ade: ModuleType, tmp_path: Path) -> None:
    root = synthetic_ade.generate_dataset(tmp_path, num_train=3, num_val=2, size=48, seed=1)
    for split, count in (('training', 3), ('validation', 2)):
        images = sorted((root / 'images' / split).glob('*.jpg'))
        labels = sorted((root / 'annotations' / split).glob('*.png'))
        assert len(images) == len(labels) == count
        assert [p.stem for p in images] == [p.stem for p in labels]
        image, label = np.asarray(Image.open(images[0])), np.asarray(Image.open(labels[0]))
        assert image.shape == (48, 48, 3) and label.shape == (48, 48) and label.dtype == np.uint8
    values = np.unique(np.concatenate([np.asarray(Image.open(p)).ravel() for p in root.rglob('annotations/*/*.png')]))
    # 0 = unlabeled outline, k + 1 = class k: reduce_zero_label maps them to 255 and k.
    assert values.min() == 0 and values.max() <= len(synthetic_ade.CLASSES)
    assert 1 in values and len(values) > 2


def test_generated_dataset_is_seeded(synthetic_ade: ModuleType) -> None:
    first = synthetic_ade.make_sample(32, np.random.default_rng(3))
    second = synthetic_ade.make_sample(32, np.random.default_rng(3))
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


def test_generated_dataset_rejects_bad_sizes(synthetic_ade: ModuleType, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match='num_val must be >= 1, got 0'):
        synthetic_ade.generate_dataset(tmp_path, num_train=1, num_val=0)


def test_demo_leaf_inherits_the_real_upernet_config(load_tool: Callable[[str], ModuleType], tmp_path: Path) -> None:
    demo = load_tool('tools/demos/segmentation.py')
    path = demo.write_config(demo.parse_args(['--iters', '50', '--image-size', '64']), tmp_path / 'data', tmp_path)
    assert path == tmp_path / 'upernet_convnextv2_a_demo.py'
    assert f"_base_ = ['{ROOT / 'configs' / 'upernet_convnextv2_t_160k_ade20k_512.py'}']" in path.read_text()
    cfg = Config.fromfile(str(path))
    assert cfg.model.backbone.arch == 'atto' and cfg.model.backbone.init_cfg is None
    assert cfg.model.decode_head.num_classes == len(cfg.classes) == 5 == cfg.model.auxiliary_head.num_classes
    assert cfg.model.test_cfg.to_dict() == {'mode': 'whole'}
    assert cfg.train_cfg.max_iters == 50 and [s.end for s in cfg.param_scheduler] == [7, 50]
    assert (
        cfg.test_pipeline[1].scale == (64, 64) and cfg.train_pipeline[3].crop_size == cfg.model.data_preprocessor.size
    )
    dataset = cfg.test_dataloader.dataset
    assert dataset.type == 'BaseSegDataset' and dataset.data_root == str(tmp_path / 'data')
    assert dataset.metainfo.palette == cfg.palette and len(cfg.palette) == len(cfg.classes)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(cfg.model)
    assert model.decode_head.channels == demo.DECODE_CHANNELS


def test_demo_rejects_bad_options(load_tool: Callable[[str], ModuleType], capsys: pytest.CaptureFixture) -> None:
    demo = load_tool('tools/demos/segmentation.py')
    with pytest.raises(SystemExit):
        demo.main(['--iters', '0'])
    assert '--iters must be >= 1, got 0' in capsys.readouterr().err


@pytest.mark.slow
def test_demo_learns(tmp_path: Path) -> None:
    work_dir = tmp_path / 'demo'
    command = [
        sys.executable,
        'tools/demo.py',
        'segmentation',
        '--work-dir',
        str(work_dir),
        '--iters',
        str(DEMO_ITERS),
        '--num-images',
        str(DEMO_TRAIN_IMAGES),
        '--num-val',
        str(DEMO_VAL_IMAGES),
        '--preview-rows',
        str(PREVIEW_ROWS),
    ]
    env = dict(os.environ, CUDA_VISIBLE_DEVICES='')
    result = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=DEMO_TIMEOUT_S, check=False
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    metrics = json.loads((work_dir / 'demo_results.json').read_text())['metrics']
    assert metrics['mIoU'] >= MIN_MIOU, metrics
    assert 'Segmentation demo: mIoU' in result.stdout
    preview = np.asarray(Image.open(work_dir / 'predictions.png'))
    assert preview.ndim == 3 and preview.shape[0] >= PREVIEW_ROWS * 64
    assert (work_dir / 'upernet_convnextv2_a_demo.py').is_file()  # the config that was run
