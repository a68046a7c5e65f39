"""Segmentation demo: UperNet + ConvNeXt V2-Atto on synthetic ADE20K-format data, on the CPU.

``python tools/demo.py segmentation`` writes a small dataset in the ADE20K
layout (:mod:`.synthetic_ade`: 5 classes, shapes with their own colours and
textures on a textured ground), writes into the work dir a leaf config that
inherits the real ``configs/upernet_convnextv2_t_160k_ade20k_512.py`` and
overrides the data, the image and crop size, the schedule length and the width
(V2-Atto from random init, narrower UperNet and FCN heads) (:func:`.common.write_leaf`), trains
from scratch with ``tools/train.py``, tests the last checkpoint with
``tools/test.py`` (mmseg's ``IoUMetric``: aAcc / mIoU / mAcc) whose
``--show-dir`` draws ground truth next to the prediction (mmseg's
``SegLocalVisualizer``), and stacks the first drawings into ``predictions.png``
(layout: :mod:`.common`).

A few minutes on 2 CPU cores with the defaults (400 iterations of batch 4, 96x96 crops).
"""

import argparse
import time
from pathlib import Path

from . import common
from .synthetic_ade import CLASSES, PALETTE, generate_dataset

BASE_CONFIG = common.ROOT / 'configs' / 'upernet_convnextv2_t_160k_ade20k_512.py'
"""The real config the demo's leaf inherits (UperNet, ConvNeXt V2, ADE20K 512x512, 160k iterations)."""

CONFIG_NAME = 'upernet_convnextv2_a_demo.py'
"""File name of the leaf config written into the work dir."""

HEADER = """Segmentation demo (tools/demo.py segmentation): UperNet, ConvNeXt V2-Atto from random init, synthetic
ADE20K. The real V2 UperNet config with the demo's data (5 classes, read with reduce_zero_label as ADE20K is),
96x96 crops of 128x128 images tested whole, an iteration schedule (linear warm-up, then poly) at batch 4 on one process,
UperNet and FCN heads narrowed to 64 and 32 channels, AdamW lr 2e-3 without layer decay (decay_rate 1: a backbone
trained from scratch learns at the full rate)."""

ATTO_CHANNELS = [40, 80, 160, 320]
"""Widths of the V2-Atto stages (ConvNeXt V2 appendix A.1), the heads' inputs."""

CROP_SIZE = (96, 96)
"""Training crops; the test runs on whole images at the generated size."""

DECODE_CHANNELS = 64
"""UperNet head width (512 in the real config)."""

AUXILIARY_CHANNELS = 32
"""FCN auxiliary head width (256 in the real config)."""

BATCH_SIZE = 4
"""Training images per iteration, on one process."""

LR = 2e-3
"""AdamW learning rate for training from scratch (1e-4 in the real config, which fine-tunes)."""

WARMUP_FRACTION = 0.15
"""Share of the iterations spent in the linear warm-up."""

WARMUP_START = 1e-3
"""Learning-rate factor at the first warm-up iteration."""

RESIZE_RATIOS = (0.75, 1.5)
"""Range of the random resize of the training images around their size, before cropping."""

CAT_MAX_RATIO = 0.75
"""Largest share of one class in a training crop (mmseg's ``RandomCrop``; the real config's value)."""

LOG_INTERVAL = 20
"""Iterations between training log lines."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parses the demo's command line."""
    parser = common.demo_parser('segmentation', __doc__)
    parser.add_argument(
        '--config', default=str(BASE_CONFIG), help="UperNet ConvNeXt V2 config that the demo's leaf config inherits"
    )
    parser.add_argument('--iters', type=int, default=400, help='training iterations')
    parser.add_argument('--num-images', type=int, default=64, help='training images to generate')
    parser.add_argument('--num-val', type=int, default=16, help='validation images to generate')
    parser.add_argument('--image-size', type=int, default=128, help='side of the generated images')
    parser.add_argument('--preview-rows', type=int, default=4, help='drawings stacked into predictions.png')
    args = parser.parse_args(argv)
    common.check_positive(parser, args, ('iters', 'num_images', 'num_val', 'preview_rows', 'threads'))
    return args


def write_config(args: argparse.Namespace, data_root: Path, folder: Path) -> Path:
    """Writes the demo's leaf of ``args.config`` into ``folder``; returns its path."""
    return common.write_leaf(Path(args.config), overrides(args, data_root), folder / CONFIG_NAME, HEADER)


def overrides(args: argparse.Namespace, data_root: Path) -> dict:
    """What the leaf changes in the real config: data, image and crop size, schedule length, widths.

    Args:
        args: The demo's options.
        data_root: Root of :func:`generate_dataset`'s output.
    """
    warmup = max(1, int(args.iters * WARMUP_FRACTION))
    num_classes = len(CLASSES)
    test_scale = (args.image_size, args.image_size)
    metainfo = dict(classes=common.Ref('classes'), palette=common.Ref('palette'))
    dataset = dict(
        type='BaseSegDataset', data_root=str(data_root), metainfo=metainfo, img_suffix='.jpg', seg_map_suffix='.png',
        reduce_zero_label=True,
    )  # fmt: skip
    return {
        'classes': CLASSES,
        'palette': [list(colour) for colour in PALETTE],
        'crop_size': CROP_SIZE,
        'model': dict(
            data_preprocessor=dict(size=common.Ref('crop_size')),
            backbone=dict(arch='atto', drop_path_rate=0.0, init_cfg=None),
            decode_head=dict(in_channels=ATTO_CHANNELS, channels=DECODE_CHANNELS, num_classes=num_classes),
            auxiliary_head=dict(in_channels=ATTO_CHANNELS[2], channels=AUXILIARY_CHANNELS, num_classes=num_classes),
            test_cfg=dict(_delete_=True, mode='whole'),
        ),
        'optim_wrapper': dict(optimizer=dict(lr=LR), paramwise_cfg=dict(decay_rate=1.0)),
        'param_scheduler': [
            dict(type='LinearLR', start_factor=WARMUP_START, by_epoch=False, begin=0, end=warmup),
            dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False, begin=warmup, end=args.iters),
        ],
        'train_cfg': dict(max_iters=args.iters, val_interval=args.iters),
        'auto_scale_lr': dict(base_batch_size=BATCH_SIZE),  # one process
        'train_pipeline': [
            dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations', reduce_zero_label=True),
            dict(type='RandomResize', scale=test_scale, ratio_range=RESIZE_RATIOS, keep_ratio=True),
            dict(type='RandomCrop', crop_size=common.Ref('crop_size'), cat_max_ratio=CAT_MAX_RATIO),
            dict(type='RandomFlip', prob=0.5),
            dict(type='PackSegInputs'),
        ],
        'test_pipeline': [
            dict(type='LoadImageFromFile'),
            dict(type='Resize', scale=test_scale, keep_ratio=True),
            dict(type='LoadAnnotations', reduce_zero_label=True),
            dict(type='PackSegInputs'),
        ],
        'train_dataloader': dict(
            batch_size=BATCH_SIZE,
            num_workers=0,
            persistent_workers=False,
            dataset=dict(dataset, pipeline=common.Ref('train_pipeline')),
        ),  # fmt: skip
        'val_dataloader': dict(
            num_workers=0, persistent_workers=False, dataset=dict(dataset, pipeline=common.Ref('test_pipeline'))
        ),
        'test_dataloader': common.Ref('val_dataloader'),
        'default_hooks': dict(logger=dict(interval=LOG_INTERVAL), visualization=dict(interval=1)),
        'randomness': dict(seed=args.seed),
    }


def main(argv: list[str] | None = None) -> int:
    """Runs the demo; returns the exit code."""
    args = parse_args(argv)
    work_dir = Path(args.work_dir).resolve()
    start = time.perf_counter()
    data_root = generate_dataset(work_dir / 'data', args.num_images, args.num_val, size=args.image_size, seed=args.seed)
    config = write_config(args, data_root, work_dir)
    print(f'[demo] data: {args.num_images} train / {args.num_val} val images in {data_root}; config: {config}')

    results, path = common.train_test_report(config, work_dir, args.threads, 'mIoU', (args.preview_rows, 1), start)
    metrics, png = results['metrics'], results['predictions_png']
    print(
        f'[demo] Segmentation demo: mIoU {metrics["mIoU"]:.2f} (aAcc {metrics["aAcc"]:.2f}, '
        f'mAcc {metrics["mAcc"]:.2f}) over {len(CLASSES)} classes after {args.iters} iterations'
    )
    print(f'[demo] ground truth | prediction drawn in {png}; results in {path}')
    return 0
