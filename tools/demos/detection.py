"""Detection demo: Mask R-CNN with ConvNeXt-V2-Atto learns synthetic shapes on the CPU.

``python tools/demo.py detection`` generates a small COCO-format
instance-segmentation dataset (:mod:`synthetic_coco`), adapts the real config
``configs/mask_rcnn_convnextv2_a_lsj_3x.py`` to it (random init, small images,
a short iteration schedule, slimmer FPN and RoI heads), trains through
``tools/train.py``, evaluates COCO bbox and segm mAP through ``tools/test.py``
(mmdet's ``CocoMetric``, pycocotools), prints them, and draws predictions on
validation images into one PNG with mmdet's ``DetLocalVisualizer``.

Outputs in ``--work-dir``: ``data/``, ``mask_rcnn_convnextv2_a_demo.py`` (the
config that was run), ``iter_N.pth``, ``predictions.png`` and
``demo_results.json`` (metrics and timings).
"""

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path
from types import ModuleType

import numpy as np
from mmengine.config import Config

DEMOS_DIR = Path(__file__).resolve().parent
ROOT = DEMOS_DIR.parents[1]
sys.path.insert(0, str(DEMOS_DIR))
from synthetic_coco import CLASSES, SyntheticCocoSpec, make_synthetic_coco  # noqa: E402

BASE_CONFIG = ROOT / 'configs' / 'mask_rcnn_convnextv2_a_lsj_3x.py'
"""The real config the demo adapts."""

DEMO_CONFIG_NAME = 'mask_rcnn_convnextv2_a_demo.py'
"""File name of the adapted config written into the work dir."""

FPN_CHANNELS = 64
"""FPN and RoI-feature width of the demo (256 in the real config)."""

FC_CHANNELS = 256
"""Width of the box head's fully connected layers (1024 in the real config)."""

RPN_PROPOSALS = 300
"""Proposals kept per image by the RPN in training and testing (1000 and 2000 in the real config)."""

RCNN_SAMPLES = 128
"""RoIs sampled per image for the box head (512 in the real config)."""

JITTER_RANGE = (0.75, 1.25)
"""Scale range of the demo's large-scale jitter (0.1-2.0 in the real config)."""

WARMUP_FRACTION = 0.1
"""Share of the iterations spent on linear learning-rate warm-up."""

LR_STEPS = (0.75, 0.92)
"""Learning-rate steps as fractions of the iterations (27/36 and 33/36 of the 3x schedule)."""

SCORE_THRESHOLD = 0.3
"""Smallest score drawn in ``predictions.png``."""

GRID_COLUMNS = 2
"""Panels (ground truth | prediction) per row of ``predictions.png``."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parses the demo's options."""
    parser = argparse.ArgumentParser(prog='tools/demo.py detection', description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/demo_detection', help='output directory')
    parser.add_argument('--iters', type=int, default=400, help='training iterations')
    parser.add_argument('--num-images', type=int, default=160, help='training images (validation: a quarter)')
    parser.add_argument('--image-size', type=int, default=128, help='side of the square images in pixels')
    parser.add_argument('--batch-size', type=int, default=4, help='training images per iteration')
    parser.add_argument('--lr', type=float, default=1e-3, help='AdamW learning rate (training from scratch)')
    parser.add_argument('--num-vis', type=int, default=6, help='validation images drawn into predictions.png')
    parser.add_argument('--seed', type=int, default=0, help='seed of the data and the training')
    args = parser.parse_args(argv)
    for name in ('iters', 'num_images', 'batch_size', 'num_vis'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1, got {getattr(args, name)}')
    if args.lr <= 0:
        parser.error(f'--lr must be > 0, got {args.lr}')
    return args


def demo_config(args: argparse.Namespace, data_root: Path) -> Config:
    """The real V2-Atto config adapted to the synthetic data and a CPU budget.

    Args:
        args: The demo's options.
        data_root: Root of :func:`make_synthetic_coco`'s output.
    """
    cfg = Config.fromfile(str(BASE_CONFIG))
    size = (args.image_size, args.image_size)
    cfg.merge_from_dict(
        {
            'model': _model_overrides(size),
            'train_pipeline': _train_pipeline(size),
            'test_pipeline': _test_pipeline(size),
            'optim_wrapper': {
                'paramwise_cfg': {'decay_rate': 1.0},  # random init: nothing to preserve
                'optimizer': {'lr': args.lr},
            },
            'default_hooks': {
                'logger': {'interval': max(1, args.iters // 20)},
                'checkpoint': {'by_epoch': False, 'interval': args.iters, 'max_keep_ckpts': 1},
            },
            'log_processor': {'by_epoch': False},
            'randomness': {'seed': args.seed},
        }
    )
    cfg.train_cfg = dict(
        type='IterBasedTrainLoop', max_iters=args.iters, val_interval=args.iters, val_begin=args.iters + 1
    )
    cfg.param_scheduler = _schedule(args.iters)
    cfg.train_dataloader = _dataloader(cfg.train_dataloader, data_root, 'train', cfg.train_pipeline, args.batch_size)
    for split in ('val', 'test'):
        loader = _dataloader(cfg[f'{split}_dataloader'], data_root, 'val', cfg.test_pipeline, 1)
        cfg[f'{split}_dataloader'] = loader
        cfg[f'{split}_evaluator'] = dict(
            type='CocoMetric', ann_file=str(data_root / 'annotations' / 'instances_val.json'), metric=['bbox', 'segm']
        )
    cfg.auto_scale_lr = dict(enable=False, base_batch_size=args.batch_size)
    return cfg


def _model_overrides(size: tuple[int, int]) -> dict:
    """Random init, no drop path, slimmer FPN and heads, fewer RoIs, three classes."""
    roi = {'out_channels': FPN_CHANNELS}
    return {
        'data_preprocessor': {'batch_augments': [dict(type='BatchFixedSizePad', size=size, pad_mask=True)]},
        'backbone': {'init_cfg': None, 'drop_path_rate': 0.0},
        'neck': {'out_channels': FPN_CHANNELS},
        'rpn_head': {'in_channels': FPN_CHANNELS, 'feat_channels': FPN_CHANNELS},
        'roi_head': {
            'bbox_roi_extractor': roi,
            'bbox_head': {'in_channels': FPN_CHANNELS, 'fc_out_channels': FC_CHANNELS, 'num_classes': len(CLASSES)},
            'mask_roi_extractor': roi,
            'mask_head': {'in_channels': FPN_CHANNELS, 'conv_out_channels': FPN_CHANNELS, 'num_classes': len(CLASSES)},
        },
        'train_cfg': {
            'rpn_proposal': {'nms_pre': RPN_PROPOSALS, 'max_per_img': RPN_PROPOSALS},
            'rcnn': {'sampler': {'num': RCNN_SAMPLES}},
        },
        'test_cfg': {'rpn': {'nms_pre': RPN_PROPOSALS, 'max_per_img': RPN_PROPOSALS}},
    }


def _train_pipeline(size: tuple[int, int]) -> list[dict]:
    """The config's large-scale jitter at the demo's image size and a milder scale range."""
    return [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
        dict(type='RandomResize', scale=size, ratio_range=JITTER_RANGE, keep_ratio=True),
        dict(
            type='RandomCrop', crop_type='absolute_range', crop_size=size, recompute_bbox=True, allow_negative_crop=True
        ),
        dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-2, 1e-2)),
        dict(type='RandomFlip', prob=0.5),
        dict(type='PackDetInputs'),
    ]


def _test_pipeline(size: tuple[int, int]) -> list[dict]:
    """Single-scale test at the demo's image size."""
    return [
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=size, keep_ratio=True),
        dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
        dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
    ]


def _schedule(iters: int) -> list[dict]:
    """Linear warm-up, then the 3x schedule's two x0.1 steps, by iteration."""
    warmup = max(1, int(WARMUP_FRACTION * iters))
    return [
        dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=warmup),
        dict(type='MultiStepLR', by_epoch=False, begin=0, end=iters, milestones=[int(f * iters) for f in LR_STEPS]),
    ]


def _dataloader(base: dict, data_root: Path, split: str, pipeline: list[dict], batch_size: int) -> dict:
    """A single-process dataloader over one split of the synthetic data."""
    loader = dict(base, batch_size=batch_size, num_workers=0, persistent_workers=False)
    loader['dataset'] = dict(
        base['dataset'],
        data_root=str(data_root),
        ann_file=f'annotations/instances_{split}.json',
        data_prefix=dict(img=f'{split}/'),
        metainfo=dict(classes=CLASSES),
        pipeline=pipeline,
    )
    return loader


def load_tool(name: str) -> ModuleType:
    """Imports ``tools/<name>.py`` (the lead's entry points) as a module."""
    spec = importlib.util.spec_from_file_location(f'convnext_tool_{name}', ROOT / 'tools' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def latest_test_metrics(work_dir: Path) -> dict[str, float]:
    """The metrics of the newest ``<timestamp>/<timestamp>.json`` that mmengine wrote for a test run."""
    logs = sorted(work_dir.glob('*/[0-9]*_[0-9]*.json'))
    for log in reversed(logs):
        lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
        for record in reversed(lines):
            if 'coco/bbox_mAP' in record:
                return {key: value for key, value in record.items() if key.startswith('coco/')}
    raise FileNotFoundError(f'no test metrics (coco/bbox_mAP) in the json logs under {work_dir}')


def draw_predictions(cfg_path: Path, checkpoint: Path, data_root: Path, out_file: Path, num_images: int) -> Path:
    """Draws ground truth (left) and predictions (right) of validation images into one PNG.

    Args:
        cfg_path: The demo config.
        checkpoint: Trained weights.
        data_root: Root of the synthetic data.
        out_file: PNG to write.
        num_images: Validation images to draw.
    """
    from mmdet.apis import inference_detector, init_detector
    from mmdet.registry import DATASETS, VISUALIZERS
    from PIL import Image

    from convnext.utils import allow_mmengine_checkpoints

    allow_mmengine_checkpoints()
    model = init_detector(str(cfg_path), str(checkpoint), device='cpu')
    dataset = DATASETS.build(model.cfg.test_dataloader.dataset)
    visualizer = VISUALIZERS.build(dict(type='DetLocalVisualizer', name=f'demo_{time.time_ns()}'))
    visualizer.dataset_meta = model.dataset_meta
    panels = []
    for index in range(min(num_images, len(dataset))):
        ground_truth = dataset[index]['data_samples']
        image = np.asarray(Image.open(ground_truth.img_path).convert('RGB'))
        sample = inference_detector(model, ground_truth.img_path)
        ground_truth.gt_instances.bboxes = ground_truth.gt_instances.bboxes.tensor  # HorizontalBoxes -> (K, 4)
        sample.gt_instances = ground_truth.gt_instances
        visualizer.add_datasample(
            'val', image, sample, draw_gt=True, draw_pred=True, pred_score_thr=SCORE_THRESHOLD, show=False
        )
        panels.append(visualizer.get_image())
    Image.fromarray(_grid(panels, GRID_COLUMNS)).save(out_file)
    return out_file


def _grid(panels: list[np.ndarray], columns: int) -> np.ndarray:
    """Tiles equal-size ``(H, W, 3)`` panels into rows of ``columns``."""
    rows = -(-len(panels) // columns)
    blank = np.zeros_like(panels[0])
    padded = panels + [blank] * (rows * columns - len(panels))
    return np.concatenate(
        [np.concatenate(padded[r * columns : (r + 1) * columns], axis=1) for r in range(rows)], axis=0
    )


def main(argv: list[str] | None = None) -> int:
    """Generates data, trains, evaluates and draws; returns the exit code."""
    args = parse_args(argv)
    work_dir = Path(args.work_dir).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    data_root = work_dir / 'data'
    spec = SyntheticCocoSpec(
        num_train=args.num_images, num_val=max(1, args.num_images // 4), image_size=args.image_size, seed=args.seed
    )
    make_synthetic_coco(data_root, spec)
    cfg_path = work_dir / DEMO_CONFIG_NAME
    demo_config(args, data_root).dump(str(cfg_path))
    print(f'[demo] data: {spec.num_train} train / {spec.num_val} val images in {data_root}; config: {cfg_path}')

    train_start = time.perf_counter()
    code = load_tool('train').main([str(cfg_path), '--work-dir', str(work_dir)])
    if code != 0:
        return code
    train_seconds = time.perf_counter() - train_start
    checkpoint = work_dir / f'iter_{args.iters}.pth'
    # --show-dir: mmdet's DetVisualizationHook draws every validation image into WORK_DIR/<timestamp>/vis.
    code = load_tool('test').main([str(cfg_path), str(checkpoint), '--work-dir', str(work_dir), '--show-dir', 'vis'])
    if code != 0:
        return code
    metrics = latest_test_metrics(work_dir)
    png = draw_predictions(cfg_path, checkpoint, data_root, work_dir / 'predictions.png', args.num_vis)

    results = {
        'metrics': metrics,
        'train_seconds': round(train_seconds, 1),
        'total_seconds': round(time.perf_counter() - start, 1),
        'checkpoint': str(checkpoint),
        'predictions_png': str(png),
    }
    (work_dir / 'demo_results.json').write_text(json.dumps(results, indent=2))
    print(
        f'[demo] COCO val: bbox mAP {metrics["coco/bbox_mAP"]:.3f} (AP50 {metrics["coco/bbox_mAP_50"]:.3f}), '
        f'segm mAP {metrics["coco/segm_mAP"]:.3f} (AP50 {metrics["coco/segm_mAP_50"]:.3f})'
    )
    print(f'[demo] trained {args.iters} iterations in {train_seconds:.0f} s; total {results["total_seconds"]:.0f} s')
    print(f'[demo] predictions drawn in {png}; results in {work_dir / "demo_results.json"}')
    return 0
