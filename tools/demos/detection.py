"""Detection demo: Mask R-CNN with ConvNeXt-V2-Atto learns synthetic shapes on the CPU.

``python tools/demo.py detection`` generates a small COCO-format
instance-segmentation dataset (:mod:`.synthetic_coco`), writes into the work
dir a leaf config that inherits the real ``configs/mask_rcnn_convnextv2_a_lsj_3x.py``
and overrides the data, the image size, the schedule length (iterations) and
the widths (random init, slimmer FPN and RoI heads) (:func:`.common.write_leaf`),
trains with ``tools/train.py``, evaluates COCO bbox and segm mAP with
``tools/test.py`` (mmdet's ``CocoMetric``, pycocotools) whose ``--show-dir``
draws ground truth and predictions (mmdet's ``DetVisualizationHook``), and
tiles the first drawings into ``predictions.png`` (layout: :mod:`.common`).
"""

import argparse
import time
from pathlib import Path

from . import common
from .synthetic_coco import CLASSES, SyntheticCocoSpec, make_synthetic_coco

BASE_CONFIG = common.ROOT / 'configs' / 'mask_rcnn_convnextv2_a_lsj_3x.py'
"""The real config the demo's leaf inherits."""

CONFIG_NAME = 'mask_rcnn_convnextv2_a_demo.py'
"""File name of the leaf config written into the work dir."""

HEADER = """Detection demo (tools/demo.py detection): Mask R-CNN, ConvNeXt V2-Atto from random init, synthetic COCO.
The real V2-Atto config with the demo's data, image size, iteration schedule, slimmer FPN and RoI heads,
AdamW without layer decay (decay_rate 1: nothing pretrained to preserve)."""

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
"""Smallest score the visualization hook draws."""

GRID_COLUMNS = 2
"""Drawings (each ground truth | prediction) per row of ``predictions.png``."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parses the demo's options."""
    parser = common.demo_parser('detection', __doc__)
    parser.add_argument('--iters', type=int, default=400, help='training iterations')
    parser.add_argument('--num-images', type=int, default=160, help='training images (validation: a quarter)')
    parser.add_argument('--image-size', type=int, default=128, help='side of the square images in pixels')
    parser.add_argument('--batch-size', type=int, default=4, help='training images per iteration')
    parser.add_argument('--lr', type=float, default=1e-3, help='AdamW learning rate (training from scratch)')
    parser.add_argument('--num-vis', type=int, default=6, help='validation drawings tiled into predictions.png')
    args = parser.parse_args(argv)
    common.check_positive(parser, args, ('iters', 'num_images', 'batch_size', 'num_vis', 'threads'))
    if args.lr <= 0:
        parser.error(f'--lr must be > 0, got {args.lr}')
    return args


def write_config(args: argparse.Namespace, data_root: Path, folder: Path) -> Path:
    """Writes the demo's leaf of :data:`BASE_CONFIG` into ``folder``; returns its path."""
    return common.write_leaf(BASE_CONFIG, overrides(args, data_root), folder / CONFIG_NAME, HEADER)


def overrides(args: argparse.Namespace, data_root: Path) -> dict:
    """What the leaf changes in the real V2-Atto config: data, image size, schedule length, widths.

    Args:
        args: The demo's options.
        data_root: Root of :func:`make_synthetic_coco`'s output.
    """
    size = (args.image_size, args.image_size)
    evaluator = dict(
        _delete_=True, type='CocoMetric', ann_file=str(data_root / 'annotations' / 'instances_val.json'),
        metric=['bbox', 'segm'],
    )  # fmt: skip
    return {
        'model': _model_overrides(size),
        'train_pipeline': _train_pipeline(size),
        'test_pipeline': _test_pipeline(size),
        'train_dataloader': _dataloader(data_root, 'train', 'train_pipeline', args.batch_size),
        'val_dataloader': _dataloader(data_root, 'val', 'test_pipeline', 1),
        'test_dataloader': common.Ref('val_dataloader'),
        'val_evaluator': evaluator,
        'test_evaluator': common.Ref('val_evaluator'),
        'optim_wrapper': {
            'paramwise_cfg': {'decay_rate': 1.0},  # random init: nothing to preserve
            'optimizer': {'lr': args.lr},
        },
        'param_scheduler': _schedule(args.iters),
        'train_cfg': dict(
            _delete_=True,
            type='IterBasedTrainLoop',
            max_iters=args.iters,
            val_interval=args.iters,
            val_begin=args.iters + 1,
        ),  # fmt: skip
        'auto_scale_lr': dict(enable=False, base_batch_size=args.batch_size),
        'default_hooks': {
            'logger': {'interval': max(1, args.iters // 20)},
            'checkpoint': {'by_epoch': False, 'interval': args.iters, 'max_keep_ckpts': 1},
            'visualization': {'score_thr': SCORE_THRESHOLD},
        },
        'log_processor': {'by_epoch': False},
        'randomness': {'seed': args.seed},
    }


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


def _dataloader(data_root: Path, split: str, pipeline: str, batch_size: int) -> dict:
    """A single-process dataloader over one split of the synthetic data (merged into the config's loader).

    Args:
        data_root: Root of :func:`make_synthetic_coco`'s output.
        split: ``'train'`` or ``'val'``.
        pipeline: Name of the leaf's pipeline, e.g. ``'train_pipeline'``.
        batch_size: Images per iteration.
    """
    dataset = dict(
        data_root=str(data_root),
        ann_file=f'annotations/instances_{split}.json',
        data_prefix=dict(img=f'{split}/'),
        metainfo=dict(classes=CLASSES),
        pipeline=common.Ref(pipeline),
    )
    return dict(batch_size=batch_size, num_workers=0, persistent_workers=False, dataset=dataset)


def main(argv: list[str] | None = None) -> int:
    """Generates data, writes the config, trains, tests and draws; returns the exit code."""
    args = parse_args(argv)
    work_dir = Path(args.work_dir).resolve()
    start = time.perf_counter()
    spec = SyntheticCocoSpec(
        num_train=args.num_images, num_val=max(1, args.num_images // 4), image_size=args.image_size, seed=args.seed
    )
    make_synthetic_coco(work_dir / 'data', spec)
    config = write_config(args, work_dir / 'data', work_dir)
    print(f'[demo] data: {spec.num_train} train / {spec.num_val} val images in {work_dir / "data"}; config: {config}')

    results, path = common.train_test_report(
        config, work_dir, args.threads, 'coco/bbox_mAP', (args.num_vis, GRID_COLUMNS), start
    )
    metrics, png = results['metrics'], results['predictions_png']
    print(
        f'[demo] COCO val: bbox mAP {metrics["coco/bbox_mAP"]:.3f} (AP50 {metrics["coco/bbox_mAP_50"]:.3f}), '
        f'segm mAP {metrics["coco/segm_mAP"]:.3f} (AP50 {metrics["coco/segm_mAP_50"]:.3f})'
    )
    seconds = f'{results["train_seconds"]:.0f} s; total {results["total_seconds"]:.0f} s'
    print(f'[demo] trained {args.iters} iterations in {seconds}')
    print(f'[demo] ground truth | predictions drawn in {png}; results in {path}')
    return 0
