"""Checkpoints and images for the deployment tests: the real Atto configs with random weights, a briefly trained
detector, and small images. Imported by ``tests/deploy/conftest.py`` and, through
``load_tool('tests/deploy/deploy_fixtures.py')``, by the tools' tests.

GRN starts as the identity (``gamma = beta = 0``); the random checkpoints draw
them from a normal distribution so that GRN's statistics reach the outputs,
and redraw near-zero initialised heads.
"""

import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import MODELS, DefaultScope
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / 'tools' / 'demos'))
from synthetic_coco import CLASSES, SyntheticCocoSpec, make_synthetic_coco  # noqa: E402

sys.path.insert(0, str(ROOT / 'tools'))  # the demos package, as tools/demo.py imports it
from demos import segmentation as segmentation_demo  # noqa: E402

CLASSIFIER_CONFIG = ROOT / 'configs' / 'convnextv2_a_fcmae-ft_in1k.py'
CASCADE_CONFIG = ROOT / 'configs' / 'cascade_mask_rcnn_convnextv2_b_3x.py'
SLIM = 32
"""FPN, RoI and head width of the slimmed Cascade Mask R-CNN."""
CASCADE_TEST_SIDE = 128
"""Resize scale of the slimmed Cascade Mask R-CNN's test pipeline."""
GRN_STD = 0.5
TINY_STD = 1e-3
"""Weights initialised smaller than this (the fine-tuning configs' classifier head, std 2e-5) are redrawn..."""
HEAD_STD = 0.02
"""... with this standard deviation, so that the outputs differ between inputs."""
DETECTOR_ITERS = 100
DETECTOR_IMAGES = 24
DETECTOR_IMAGE_SIZE = 64
DETECTOR_LR = '2e-3'
"""Enough for detections scored 0.5-0.6 on the validation shapes (the demo's own run: 200 iterations of 96x96)."""


def save_random_checkpoint(cfg: Config, folder: Path, classes: tuple[str, ...]) -> tuple[Path, Path]:
    """Writes ``cfg`` and a checkpoint of its model with random weights (GRN included); returns both paths."""
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(cfg.model)
    model.init_weights()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if '.grn.' in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * GRN_STD)
            elif name.endswith('weight') and parameter.dim() > 1 and parameter.std() < TINY_STD:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * HEAD_STD)
    folder.mkdir(parents=True, exist_ok=True)
    config, checkpoint = folder / 'config.py', folder / 'model.pth'
    cfg.dump(str(config))
    dataset_meta = {'classes': list(classes)}
    if cfg.get('palette'):  # as mmseg's training saves it (its visualizer needs one colour per class)
        dataset_meta['palette'] = cfg.palette
    torch.save({'state_dict': model.state_dict(), 'meta': {'dataset_meta': dataset_meta}}, checkpoint)
    return config, checkpoint


def classifier_checkpoint(folder: Path) -> tuple[Path, Path]:
    """The V2-Atto ImageNet fine-tuning config with three classes, and random weights."""
    cfg = Config.fromfile(str(CLASSIFIER_CONFIG))
    cfg.merge_from_dict({'model.head.num_classes': len(CLASSES), 'model.backbone.init_cfg': None})
    return save_random_checkpoint(cfg, folder, CLASSES)


def segmentor_checkpoint(folder: Path) -> tuple[Path, Path]:
    """The segmentation demo's UperNet V2-Atto leaf (five classes, whole-image test at 128x128), random weights."""
    config = segmentation_demo.write_config(segmentation_demo.parse_args([]), folder / 'data', folder)
    cfg = Config.fromfile(str(config))
    return save_random_checkpoint(cfg, folder, tuple(cfg.classes))


def slim_cascade_config() -> Config:
    """The V2 Cascade Mask R-CNN config with an Atto backbone, narrow heads, three classes, 128x128 test scale."""
    cfg = Config.fromfile(str(CASCADE_CONFIG))
    cfg.model.backbone.update(arch='atto', init_cfg=None, drop_path_rate=0.0)
    cfg.model.neck.update(in_channels=[40, 80, 160, 320], out_channels=SLIM)
    cfg.model.rpn_head.update(in_channels=SLIM, feat_channels=SLIM)
    for key in ('bbox_roi_extractor', 'mask_roi_extractor'):
        cfg.model.roi_head[key].out_channels = SLIM
    for head in cfg.model.roi_head.bbox_head:
        head.update(in_channels=SLIM, conv_out_channels=SLIM, fc_out_channels=2 * SLIM, num_classes=len(CLASSES))
    cfg.model.roi_head.mask_head.update(in_channels=SLIM, conv_out_channels=SLIM, num_classes=len(CLASSES))
    cfg.model.test_cfg.rpn.update(nms_pre=200, max_per_img=100)
    for step in cfg.test_dataloader.dataset.pipeline:
        if step['type'] == 'Resize':
            step['scale'] = (CASCADE_TEST_SIDE, CASCADE_TEST_SIDE)
    return cfg


def cascade_checkpoint(folder: Path) -> tuple[Path, Path]:
    """The slimmed Cascade Mask R-CNN (:func:`slim_cascade_config`) with random weights."""
    return save_random_checkpoint(slim_cascade_config(), folder, CLASSES)


def write_images(folder: Path) -> list[Path]:
    """Two images of different sizes in ``folder``: synthetic shapes (128x128) and noise (80x112)."""
    make_synthetic_coco(folder / 'coco', SyntheticCocoSpec(num_train=1, num_val=1, image_size=128, seed=1))
    first = folder / 'images' / 'shapes.png'
    first.parent.mkdir(parents=True)
    Image.open(folder / 'coco' / 'val' / '000000.png').save(first)
    rng = np.random.default_rng(0)
    second = first.with_name('noise.png')
    Image.fromarray(rng.integers(0, 256, (80, 112, 3), dtype=np.uint8)).save(second)
    return [first, second]


def train_detector(work_dir: Path, load_tool) -> dict[str, Path]:
    """The detection demo's Mask R-CNN V2-Atto, trained briefly on synthetic shapes through tools/train.py.

    Returns:
        ``config``, ``checkpoint``, ``val_dir`` (the validation images) and ``size`` (their side).
    """
    demo: ModuleType = load_tool('tools/demos/detection.py')
    args = demo.parse_args(
        ['--iters', str(DETECTOR_ITERS), '--num-images', str(DETECTOR_IMAGES), '--image-size', str(DETECTOR_IMAGE_SIZE)]
        + ['--lr', DETECTOR_LR]
    )
    data_root = work_dir / 'data'
    make_synthetic_coco(
        data_root, SyntheticCocoSpec(num_train=DETECTOR_IMAGES, num_val=4, image_size=DETECTOR_IMAGE_SIZE)
    )
    config = demo.write_config(args, data_root, work_dir)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        code = load_tool('tools/train.py').main([str(config), '--work-dir', str(work_dir)])
    finally:
        torch.set_num_threads(threads)
    if code != 0:
        raise RuntimeError(f'tools/train.py exited with {code}')
    checkpoint = work_dir / f'iter_{DETECTOR_ITERS}.pth'
    return {'config': config, 'checkpoint': checkpoint, 'val_dir': data_root / 'val', 'size': DETECTOR_IMAGE_SIZE}
