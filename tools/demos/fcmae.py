"""FCMAE end to end on the CPU: pretrain a ConvNeXt V2-Atto, convert, fine-tune, test, draw.

``python tools/demo.py fcmae`` (layout: :mod:`.common`):

1. writes an unlabelled image folder (random coloured shapes on smooth
   gradients, so masked patches are predictable from their neighbours) and
   ``fcmae_pretrain.py``, and pretrains ``convnext.FCMAE`` (V2-Atto encoder, 60%
   of 32-pixel patches removed) with ``tools/train.py``; prints the first and
   last losses (means over a few iterations of the training log);
2. converts the checkpoint with ``tools/model_converters/fcmae_to_backbone.py``;
3. writes a two-class classification folder (mmpretrain ``CustomDataset``
   with class subfolders) and ``finetune.py``: an mmpretrain
   ``ImageClassifier`` (``convnext.ConvNeXtV2`` atto, ``out_type='avg'``)
   initialised from the converted weights, with layer decay; fine-tunes it
   with ``tools/train.py``, tests it with ``tools/test.py --show-dir``
   (mmpretrain's ``VisualizationHook`` draws each prediction) and prints the
   accuracy; tiles the first drawings into ``predictions.png``.
"""

import argparse
import time
from pathlib import Path

import numpy as np
from mmengine.config import Config
from PIL import Image, ImageDraw

from . import common

LOSS_WINDOW = 5
"""Iterations averaged for the reported first and last losses."""

PREVIEW_COLUMNS = 4
"""Drawn test images per row of ``predictions.png``."""

DRAW_SCALE = 4.0
"""Upscaling of the small test images before mmpretrain's visualizer writes the predicted class on them."""
IMAGENET_MEAN = [123.675, 116.28, 103.53]
IMAGENET_STD = [58.395, 57.12, 57.375]

PRETRAIN_CONFIG = """
default_scope = 'mmpretrain'
model = dict(
    type='convnext.FCMAE',
    backbone=dict(type='convnext.ConvNeXtV2', arch='atto', out_indices=-1, out_type='featmap'),
    decoder_embed_dim={decoder_dim},
    mask_ratio=0.6,
    norm_pix_loss=True,
    data_preprocessor=dict(type='mmpretrain.SelfSupDataPreprocessor', mean={mean}, std={std}, to_rgb=True),
)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale={size}, crop_ratio_range=(0.5, 1.0), backend='pillow',
         interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size={batch}, num_workers=0, sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='CustomDataset', data_root='{data_root}', with_label=False, pipeline=train_pipeline))
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr={lr}, betas=(0.9, 0.95), weight_decay=0.05),
    paramwise_cfg=dict(bias_decay_mult=0.0, flat_decay_mult=0.0))
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end={warmup})]
train_cfg = dict(type='IterBasedTrainLoop', max_iters={iters})
log_processor = dict(window_size=1)  # every iteration's own loss in the log
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=1),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval={iters}, by_epoch=False),
    sampler_seed=dict(type='DistSamplerSeedHook'))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
"""

FINETUNE_CONFIG = """
default_scope = 'mmpretrain'
model = dict(
    type='ImageClassifier',
    backbone=dict(type='convnext.ConvNeXtV2', arch='atto', out_indices=-1, out_type='avg', drop_path_rate=0.1,
                  init_cfg=dict(type='Pretrained', checkpoint='{checkpoint}')),
    head=dict(type='LinearClsHead', num_classes={num_classes}, in_channels=320,
              loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
              init_cfg=dict(type='TruncNormal', layer='Linear', std=2e-5, bias=0.0)))
data_preprocessor = dict(num_classes={num_classes}, mean={mean}, std={std}, to_rgb=True)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale={size}, crop_ratio_range=(0.6, 1.0), backend='pillow',
         interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
train_dataloader = dict(
    batch_size={batch}, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='CustomDataset', data_root='{train_root}', pipeline=train_pipeline))
val_dataloader = dict(
    batch_size={batch}, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='CustomDataset', data_root='{val_root}', pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1,))
test_evaluator = val_evaluator
optim_wrapper = dict(
    type='OptimWrapper',
    constructor='convnext.LayerDecayOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr={lr}, weight_decay=0.05),
    paramwise_cfg=dict(decay_rate=0.9, decay_type='single'))
# No validation inside training (val_interval past the end): tools/test.py evaluates once, after training.
train_cfg = dict(by_epoch=True, max_epochs={epochs}, val_interval={epochs} + 1)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval={log_interval}),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval={epochs}),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='VisualizationHook', enable=False, interval=1, rescale_factor={draw_scale}))
visualizer = dict(type='UniversalVisualizer', vis_backends=[dict(type='LocalVisBackend')])
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
"""


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


def write_config(text: str, path: Path) -> Path:
    """Writes one of the config templates above, filled in, as a complete config file."""
    return common.write_config(Config.fromstring(text, '.py'), path)


def pretrain(args: argparse.Namespace, work_dir: Path) -> tuple[Path, float, float]:
    """Pretrains FCMAE with ``tools/train.py``; returns the checkpoint and the mean first and last losses."""
    data_root = make_folder(work_dir / 'data' / 'pretrain', args.num_images, args.image_size, 0, seed=args.seed)
    text = PRETRAIN_CONFIG.format(
        decoder_dim=args.decoder_dim, mean=IMAGENET_MEAN, std=IMAGENET_STD, size=args.image_size,
        batch=args.batch_size, data_root=data_root, lr=args.pretrain_lr, warmup=max(args.pretrain_iters // 10, 1),
        iters=args.pretrain_iters,
    )  # fmt: skip
    config = write_config(text, work_dir / 'fcmae_pretrain.py')
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
    text = FINETUNE_CONFIG.format(
        checkpoint=checkpoint, num_classes=args.num_classes, mean=IMAGENET_MEAN, std=IMAGENET_STD,
        size=args.image_size, batch=args.batch_size, train_root=train_root, val_root=val_root,
        lr=args.finetune_lr, epochs=args.finetune_epochs, log_interval=LOSS_WINDOW, draw_scale=DRAW_SCALE,
    )  # fmt: skip
    config = write_config(text, work_dir / 'finetune.py')
    _, test_dir, _ = common.train_and_test(config, work_dir, args.threads)
    accuracy = common.read_test_metrics(test_dir, 'accuracy/top1')['accuracy/top1']
    png = common.save_preview(test_dir / 'vis', work_dir / common.PREVIEW_FILE, args.num_vis, PREVIEW_COLUMNS)
    return accuracy, png


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parses the demo's options."""
    parser = argparse.ArgumentParser(prog='tools/demo.py fcmae', description=__doc__.split('\n')[0])
    common.add_common_args(parser, 'work_dirs/demo_fcmae')
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
