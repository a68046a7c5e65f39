"""FCMAE end to end on the CPU: pretrain a ConvNeXt V2-Atto, convert, fine-tune, test, draw.

``python tools/demo.py fcmae`` (layout: :mod:`.common`):

1. writes an unlabelled image folder (random coloured shapes on smooth
   gradients, so masked patches are predictable from their neighbours) and
   ``fcmae_pretrain.py``, a leaf of the real ``configs/fcmae_convnextv2_a_800e_in1k.py``
   (:func:`.common.write_leaf`) with the demo's data, image size, iteration
   schedule and decoder width, and pretrains ``convnext.FCMAE`` (V2-Atto
   encoder, 60% of 32-pixel patches removed) with ``tools/train.py``; prints
   the first and last losses (means over a few iterations of the training log);
2. converts the checkpoint with ``tools/model_converters/fcmae_to_backbone.py``;
3. writes a two-class classification folder (mmpretrain ``CustomDataset``
   with class subfolders) and ``finetune.py``, a leaf of the real
   ``configs/convnextv2_a_fcmae-ft_in1k.py`` (an mmpretrain ``ImageClassifier``,
   ``convnext.ConvNeXtV2`` atto, layer decay) initialised from the converted
   weights, with the demo's data, image size and epochs; fine-tunes it
   with ``tools/train.py``, tests it with ``tools/test.py --show-dir``
   (mmpretrain's ``VisualizationHook`` draws each prediction) and prints the
   accuracy; tiles the first drawings into ``predictions.png``.
"""

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from . import common

LOSS_WINDOW = 5
"""Iterations averaged for the reported first and last losses."""

PREVIEW_COLUMNS = 4
"""Drawn test images per row of ``predictions.png``."""

DRAW_SCALE = 4.0
"""Upscaling of the small test images before mmpretrain's visualizer writes the predicted class on them."""

PRETRAIN_CONFIG = common.ROOT / 'configs' / 'fcmae_convnextv2_a_800e_in1k.py'
"""The real pretraining config that ``fcmae_pretrain.py`` inherits."""

FINETUNE_CONFIG = common.ROOT / 'configs' / 'convnextv2_a_fcmae-ft_in1k.py'
"""The real fine-tuning config that ``finetune.py`` inherits."""

PRETRAIN_HEADER = """FCMAE demo (tools/demo.py fcmae), stage 1: FCMAE pretraining of ConvNeXt V2-Atto on generated
images. The real 800-epoch config with the demo's data, image size, iteration schedule (linear warm-up, then constant)
and decoder width; every iteration's own loss is logged."""

FINETUNE_HEADER = """FCMAE demo (tools/demo.py fcmae), stage 3: fine-tuning from the converted FCMAE backbone on
a generated two-class folder. The real V2-Atto fine-tuning config with the demo's data, image size and epochs:
random crops and flips at the demo's size instead of the ImageNet pipeline (224 px, RandAugment, RandomErasing),
top-1 only (two classes), no EMA (its momentum 1e-4 averages over far more iterations than the demo runs)."""

PRETRAIN_CROP_RATIOS = (0.5, 1.0)
"""Area range of the pretraining crops ((0.2, 1.0) in the real config's 224 px crops of ImageNet)."""

FINETUNE_CROP_RATIOS = (0.6, 1.0)
"""Area range of the fine-tuning crops, so that most of a shape stays in view."""

WARMUP_START = 0.1
"""Pretraining learning-rate factor at the first warm-up iteration."""

WARMUP_DIVISOR = 10
"""A tenth of the pretraining iterations warm the learning rate up."""


def synthetic_image(rng: np.random.Generator, size: int, label: int | None = None) -> Image.Image:
    """A smooth two-colour gradient with random ellipses and rectangles; ``label`` picks the shape kind."""
    ramp = np.linspace(0.0, 1.0, size)[None, :, None]
    start, end = rng.uniform(0, 255, (2, 1, 1, 3))
    pixels = np.broadcast_to(start + (end - start) * ramp, (size, size, 3))
    image = Image.fromarray(pixels.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(rng.integers(2, 5)):
        x0, y0 = rng.integers(0, size * 3 // 4, 2)
        w, h = rng.integers(size // 6, size // 2, 2)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        ellipse = rng.random() < 0.5 if label is None else label == 0
        (draw.ellipse if ellipse else draw.rectangle)([x0, y0, x0 + w, y0 + h], fill=colour)
    return image


def make_folder(root: Path, num_images: int, size: int, num_classes: int, seed: int) -> Path:
    """Writes ``num_images`` PNGs, in ``class_k`` subfolders when ``num_classes`` > 0; returns ``root``."""
    rng = np.random.default_rng(seed)
    for i in range(num_images):
        label = i % num_classes if num_classes else None
        folder = root / f'class_{label}' if num_classes else root
        folder.mkdir(parents=True, exist_ok=True)
        synthetic_image(rng, size, label).save(folder / f'{i:05d}.png')
    return root


def random_crop_pipeline(size: int, crop_ratios: tuple[float, float]) -> list[dict]:
    """Random resized crops of side ``size`` and horizontal flips (the demos' training pipeline of both stages)."""
    return [
        dict(type='LoadImageFromFile'),
        dict(
            type='RandomResizedCrop',
            scale=size,
            crop_ratio_range=crop_ratios,
            backend='pillow',
            interpolation='bicubic',
        ),
        dict(type='RandomFlip', prob=0.5),
        dict(type='PackInputs'),
    ]


def folder_loader(data_root: Path, batch_size: int, sampler: str, pipeline: str, **dataset: object) -> dict:
    """A single-process loader of an mmpretrain ``CustomDataset`` folder, replacing the config's ImageNet loader.

    Args:
        data_root: The image folder.
        batch_size: Images per iteration.
        sampler: ``'InfiniteSampler'`` or ``'DefaultSampler'``.
        pipeline: Name of the leaf's pipeline, e.g. ``'train_pipeline'``.
        **dataset: More ``CustomDataset`` arguments, e.g. ``with_label=False``.
    """
    return dict(
        batch_size=batch_size, num_workers=0, persistent_workers=False, sampler=dict(type=sampler),
        dataset=dict(_delete_=True, type='CustomDataset', data_root=str(data_root), pipeline=common.Ref(pipeline),
                     **dataset),
    )  # fmt: skip


def pretrain_overrides(args: argparse.Namespace, data_root: Path) -> dict:
    """What ``fcmae_pretrain.py`` changes in :data:`PRETRAIN_CONFIG`: data, image size, schedule, decoder width."""
    warmup = max(args.pretrain_iters // WARMUP_DIVISOR, 1)
    return {
        'model': dict(decoder_embed_dim=args.decoder_dim),
        'train_pipeline': random_crop_pipeline(args.image_size, PRETRAIN_CROP_RATIOS),
        'train_dataloader': folder_loader(
            data_root, args.batch_size, 'InfiniteSampler', 'train_pipeline', with_label=False
        ),
        'optim_wrapper': dict(optimizer=dict(lr=args.pretrain_lr)),
        'param_scheduler': [dict(type='LinearLR', start_factor=WARMUP_START, by_epoch=False, begin=0, end=warmup)],
        'train_cfg': dict(_delete_=True, type='IterBasedTrainLoop', max_iters=args.pretrain_iters),
        'log_processor': dict(window_size=1),  # every iteration's own loss in the log
        'default_hooks': dict(logger=dict(interval=1), checkpoint=dict(interval=args.pretrain_iters, by_epoch=False)),
        'randomness': dict(seed=args.seed),
    }


def finetune_overrides(args: argparse.Namespace, checkpoint: Path, train_root: Path, val_root: Path) -> dict:
    """What ``finetune.py`` changes in :data:`FINETUNE_CONFIG`: weights, data, image size, epochs."""
    epochs = args.finetune_epochs
    return {
        'model': dict(
            backbone=dict(init_cfg=dict(checkpoint=str(checkpoint))), head=dict(num_classes=args.num_classes)
        ),
        'data_preprocessor': dict(num_classes=args.num_classes),
        'train_pipeline': random_crop_pipeline(args.image_size, FINETUNE_CROP_RATIOS),
        'test_pipeline': [dict(type='LoadImageFromFile'), dict(type='PackInputs')],
        'train_dataloader': folder_loader(train_root, args.batch_size, 'DefaultSampler', 'train_pipeline'),
        'val_dataloader': folder_loader(val_root, args.batch_size, 'DefaultSampler', 'test_pipeline'),
        'test_dataloader': common.Ref('val_dataloader'),
        'val_evaluator': dict(topk=(1,)),
        'test_evaluator': common.Ref('val_evaluator'),
        'optim_wrapper': dict(optimizer=dict(lr=args.finetune_lr)),
        'param_scheduler': [
            dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=epochs, convert_to_iter_based=True)
        ],
        # No validation inside training (val_interval past the end): tools/test.py evaluates once, after training.
        'train_cfg': dict(max_epochs=epochs, val_interval=epochs + 1),
        'custom_hooks': [],
        'default_hooks': dict(
            logger=dict(interval=LOSS_WINDOW),
            checkpoint=dict(interval=epochs),
            visualization=dict(interval=1, rescale_factor=DRAW_SCALE),
        ),  # fmt: skip
        'randomness': dict(seed=args.seed),
    }


def pretrain(args: argparse.Namespace, work_dir: Path) -> tuple[Path, float, float]:
    """Pretrains FCMAE with ``tools/train.py``; returns the checkpoint and the mean first and last losses."""
    data_root = make_folder(work_dir / 'data' / 'pretrain', args.num_images, args.image_size, 0, seed=args.seed)
    overrides = pretrain_overrides(args, data_root)
    config = common.write_leaf(PRETRAIN_CONFIG, overrides, work_dir / 'fcmae_pretrain.py', PRETRAIN_HEADER)
    pretrain_dir = work_dir / 'pretrain'
    common.run_tool('train.py', [str(config), '--work-dir', str(pretrain_dir)], args.threads)
    losses = common.read_train_scalars(pretrain_dir, 'loss')
    window = min(LOSS_WINDOW, max(len(losses) // 2, 1))
    first, last = float(np.mean(losses[:window])), float(np.mean(losses[-window:]))
    return common.last_checkpoint(pretrain_dir), first, last


def convert(checkpoint: Path, dst: Path, threads: int) -> Path:
    """Converts the FCMAE checkpoint with ``tools/model_converters/fcmae_to_backbone.py``."""
    common.run_tool('model_converters/fcmae_to_backbone.py', [str(checkpoint), str(dst)], threads)
    return dst


def finetune(args: argparse.Namespace, work_dir: Path, checkpoint: Path) -> tuple[float, Path]:
    """Fine-tunes and tests a classifier from the converted weights; returns the top-1 accuracy (%) and the PNG."""
    data = work_dir / 'data'
    train_root = make_folder(data / 'cls_train', args.num_cls_images, args.image_size, args.num_classes, seed=1)
    val_root = make_folder(data / 'cls_val', args.num_cls_images // 2, args.image_size, args.num_classes, seed=2)
    overrides = finetune_overrides(args, checkpoint, train_root, val_root)
    config = common.write_leaf(FINETUNE_CONFIG, overrides, work_dir / 'finetune.py', FINETUNE_HEADER)
    _, test_dir, _ = common.train_and_test(config, work_dir, args.threads)
    accuracy = common.read_test_metrics(test_dir, 'accuracy/top1')['accuracy/top1']
    png = common.save_preview(test_dir / 'vis', work_dir / common.PREVIEW_FILE, args.num_vis, PREVIEW_COLUMNS)
    return accuracy, png


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parses the demo's options."""
    parser = common.demo_parser('fcmae', __doc__)
    parser.add_argument('--image-size', type=int, default=64, help='image side, a multiple of 32')
    parser.add_argument('--num-images', type=int, default=256, help='unlabelled pretraining images')
    parser.add_argument('--pretrain-iters', type=int, default=200, help='pretraining iterations')
    parser.add_argument('--pretrain-lr', type=float, default=2e-3, help='pretraining learning rate')
    parser.add_argument('--decoder-dim', type=int, default=128, help='decoder width (512 in the paper)')
    parser.add_argument('--num-classes', type=int, default=2, help='classes of the fine-tuning set')
    parser.add_argument('--num-cls-images', type=int, default=128, help='fine-tuning training images')
    parser.add_argument('--finetune-epochs', type=int, default=6, help='fine-tuning epochs')
    parser.add_argument('--finetune-lr', type=float, default=1e-3, help='fine-tuning learning rate')
    parser.add_argument('--batch-size', type=int, default=16, help='batch size of both stages')
    parser.add_argument('--num-vis', type=int, default=8, help='test drawings tiled into predictions.png')
    args = parser.parse_args(argv)
    names = ('num_images', 'pretrain_iters', 'num_classes', 'num_cls_images', 'finetune_epochs', 'batch_size')
    common.check_positive(parser, args, (*names, 'num_vis', 'threads'))
    return args


def main(argv: list[str] | None = None) -> int:
    """Runs the demo; returns 0 when the pretraining loss fell, 1 otherwise."""
    args = parse_args(argv)
    work_dir = Path(args.work_dir).resolve()
    start = time.perf_counter()
    checkpoint, first, last = pretrain(args, work_dir)
    print(f'[demo] FCMAE pretraining loss: first {first:.4f} -> last {last:.4f}')
    backbone = convert(checkpoint, work_dir / 'backbone.pth', args.threads)
    print(f'[demo] converted {checkpoint} -> {backbone}')
    accuracy, png = finetune(args, work_dir, backbone)
    print(f'[demo] fine-tuning top-1 accuracy: {accuracy:.2f}%; predictions drawn in {png}')
    results = {
        'metrics': {'pretrain_loss_first': first, 'pretrain_loss_last': last, 'accuracy/top1': accuracy},
        'total_seconds': round(time.perf_counter() - start, 1),
        'backbone': backbone,
        'predictions_png': png,
    }
    print(f'[demo] results in {common.write_results(work_dir, results)}')
    return 0 if last < first else 1
