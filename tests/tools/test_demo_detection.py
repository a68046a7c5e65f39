"""The detection demo: synthetic COCO data, its config, and a short run that must learn."""

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

ROOT = Path(__file__).resolve().parents[2]

# Shortened demo run of the slow test, and the mAP it must reach (chance is ~0).
SHORT_RUN = ['--iters', '200', '--num-images', '96', '--image-size', '96', '--num-vis', '2']
BBOX_MAP_FLOOR = 0.15
SHORT_RUN_TIMEOUT = 540  # two tool processes (train, test) start besides the demo itself


pytestmark = pytest.mark.usefixtures('one_thread')


@pytest.fixture(scope='module')
def demo(load_tool: Callable[[str], ModuleType]) -> ModuleType:
    return load_tool('tools/demos/detection.py')


@pytest.fixture(scope='module')
def synthetic_coco(load_tool: Callable[[str], ModuleType]) -> ModuleType:
    return load_tool('tools/demos/synthetic_coco.py')


def test_synthetic_coco_is_valid_coco(synthetic_coco: ModuleType, tmp_path: Path) -> None:
    spec = synthetic_coco.SyntheticCocoSpec(num_train=6, num_val=3, image_size=64, seed=3)
    files = synthetic_coco.make_synthetic_coco(tmp_path, spec)
    coco = COCO(str(files['train']))
    assert [c['name'] for c in coco.loadCats(coco.getCatIds())] == list(synthetic_coco.CLASSES)
    assert len(coco.getImgIds()) == 6 and len(COCO(str(files['val'])).getImgIds()) == 3
    for ann in coco.loadAnns(coco.getAnnIds()):
        mask = coco.annToMask(ann)
        x, y, w, h = ann['bbox']
        assert mask.sum() == ann['area'] > 0
        assert mask[:, : int(x)].sum() == 0 and mask[: int(y)].sum() == 0
        assert mask_utils.toBbox(mask_utils.encode(np.asfortranarray(mask))).tolist() == [x, y, w, h]
    again = tmp_path / 'again'
    synthetic_coco.make_synthetic_coco(again, spec)
    assert (again / 'train' / '000000.png').read_bytes() == (tmp_path / 'train' / '000000.png').read_bytes()


def test_synthetic_coco_rejects_bad_sizes(synthetic_coco: ModuleType) -> None:
    with pytest.raises(ValueError, match='image_size'):
        synthetic_coco.SyntheticCocoSpec(image_size=8)


def test_demo_config_adapts_the_real_atto_config(demo: ModuleType, tmp_path: Path) -> None:
    args = demo.parse_args(['--iters', '10', '--image-size', '96'])
    path = demo.write_config(args, tmp_path, tmp_path)
    assert path == tmp_path / 'mask_rcnn_convnextv2_a_demo.py'
    assert f"_base_ = ['{ROOT / 'configs' / 'mask_rcnn_convnextv2_a_lsj_3x.py'}']" in path.read_text()
    cfg = Config.fromfile(str(path))
    assert cfg.model.backbone.type == 'convnext.ConvNeXtV2' and cfg.model.backbone.arch == 'atto'
    assert cfg.model.backbone.init_cfg is None
    num_classes = len(demo.CLASSES)
    assert cfg.model.roi_head.bbox_head.num_classes == num_classes == cfg.model.roi_head.mask_head.num_classes
    assert cfg.model.test_cfg.rcnn.nms.type == 'soft_nms'
    assert cfg.optim_wrapper.constructor == 'convnext.LayerDecayOptimWrapperConstructor'
    assert cfg.train_cfg.max_iters == 10 and cfg.param_scheduler[1].milestones == [7, 9]
    assert cfg.train_dataloader.dataset.data_root == str(tmp_path)
    assert cfg.test_dataloader.dataset.pipeline == cfg.test_pipeline  # the leaf's own names, resolved
    assert cfg.val_evaluator.metric == ['bbox', 'segm']
    init_default_scope('mmdet')
    model = MODELS.build(cfg.model)
    assert model.neck.fpn_convs[0].conv.out_channels == demo.FPN_CHANNELS


def test_demo_rejects_bad_options(demo: ModuleType) -> None:
    with pytest.raises(SystemExit):
        demo.parse_args(['--iters', '0'])


@pytest.mark.slow
def test_demo_learns_on_the_cpu(tmp_path: Path) -> None:
    command = [sys.executable, str(ROOT / 'tools' / 'demo.py'), 'detection', '--work-dir', str(tmp_path), *SHORT_RUN]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=SHORT_RUN_TIMEOUT)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    assert 'bbox mAP' in done.stdout and 'segm mAP' in done.stdout
    results = json.loads((tmp_path / 'demo_results.json').read_text())
    assert results['metrics']['coco/bbox_mAP'] >= BBOX_MAP_FLOOR, results
    assert results['metrics']['coco/segm_mAP'] > 0, results
    assert (tmp_path / 'predictions.png').stat().st_size > 0
    assert list(tmp_path.glob('*/vis/*.png')), 'tools/test.py --show-dir drew nothing'
    assert (tmp_path / 'mask_rcnn_convnextv2_a_demo.py').is_file()  # the config that was run
