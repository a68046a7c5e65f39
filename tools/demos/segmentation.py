"""Segmentation demo: UperNet + ConvNeXt V2-Atto on synthetic ADE20K-format data, on the CPU.

``python tools/demo.py segmentation`` writes a small dataset in the ADE20K
layout (:mod:`.synthetic_ade`: 5 classes, shapes with their own colours and
textures on a textured ground), writes ``configs/upernet_convnextv2_a_demo.py``
adapted to it (data root, schedule length, seed) into the work dir, trains
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

from mmengine.config import Config

from . import common
from .synthetic_ade import CLASSES, generate_dataset

DEFAULT_CONFIG = common.ROOT / 'configs' / 'upernet_convnextv2_a_demo.py'
"""The config the demo adapts to its data and schedule."""

WARMUP_FRACTION = 0.15
"""Share of the iterations spent in the linear warm-up."""

DATALOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parses the demo's command line."""
    parser = argparse.ArgumentParser(prog='tools/demo.py segmentation', description=__doc__.split('\n')[0])
    common.add_common_args(parser, 'work_dirs/demo_segmentation')
    parser.add_argument('--config', default=str(DEFAULT_CONFIG), help='segmentation config to adapt and train')
    parser.add_argument('--iters', type=int, default=400, help='training iterations')
    parser.add_argument('--num-images', type=int, default=64, help='training images to generate')
    parser.add_argument('--num-val', type=int, default=16, help='validation images to generate')
    parser.add_argument('--image-size', type=int, default=128, help='side of the generated images')
    parser.add_argument('--preview-rows', type=int, default=4, help='drawings stacked into predictions.png')
    args = parser.parse_args(argv)
    common.check_positive(parser, args, ('iters', 'num_images', 'num_val', 'preview_rows', 'threads'))
    return args


def demo_config(args: argparse.Namespace, data_root: Path) -> Config:
    """The config pointed at ``data_root``, with the schedule scaled to ``args.iters`` and the seed set."""
    cfg = Config.fromfile(args.config)
    warmup = max(1, int(args.iters * WARMUP_FRACTION))
    options = {f'{loader}.dataset.data_root': str(data_root) for loader in DATALOADERS}
    options.update(
        {
            'train_cfg.max_iters': args.iters,
            'train_cfg.val_interval': args.iters,
            'param_scheduler.0.end': warmup,
            'param_scheduler.1.begin': warmup,
            'param_scheduler.1.end': args.iters,
            'randomness.seed': args.seed,
        }
    )
    cfg.merge_from_dict(options)
    return cfg


def main(argv: list[str] | None = None) -> int:
    """Runs the demo; returns the exit code."""
    args = parse_args(argv)
    work_dir = Path(args.work_dir).resolve()
    start = time.perf_counter()
    data_root = generate_dataset(work_dir / 'data', args.num_images, args.num_val, size=args.image_size, seed=args.seed)
    config = common.write_config(demo_config(args, data_root), work_dir / Path(args.config).name)
    print(f'[demo] data: {args.num_images} train / {args.num_val} val images in {data_root}; config: {config}')

    results, path = common.train_test_report(config, work_dir, args.threads, 'mIoU', (args.preview_rows, 1), start)
    metrics, png = results['metrics'], results['predictions_png']
    print(
        f'[demo] Segmentation demo: mIoU {metrics["mIoU"]:.2f} (aAcc {metrics["aAcc"]:.2f}, '
        f'mAcc {metrics["mAcc"]:.2f}) over {len(CLASSES)} classes after {args.iters} iterations'
    )
    print(f'[demo] ground truth | prediction drawn in {png}; results in {path}')
    return 0
