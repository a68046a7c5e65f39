"""Segmentation demo: UperNet + ConvNeXt V2-Atto on synthetic ADE20K-format data, on the CPU.

Steps, each with the project's own tools:

1. writes a small dataset in the ADE20K layout (``tools/demos/synthetic_ade.py``:
   5 classes, shapes with their own colours and textures on a textured ground);
2. trains ``configs/upernet_convnextv2_a_demo.py`` from scratch with ``tools/train.py``;
3. tests the last checkpoint with ``tools/test.py`` (mmseg's ``IoUMetric``) and
   prints aAcc / mIoU / mAcc, also saved to ``WORK_DIR/metrics.json``;
4. writes ``WORK_DIR/predictions.png``: for the first validation images, the
   ground truth (left) next to the prediction (right), drawn by mmseg's
   ``SegLocalVisualizer``.

Usage:
    python tools/demo.py segmentation [--work-dir D] [--iters N] [--num-images N] [--seed S]

A few minutes on 2 CPU cores with the defaults (400 iterations of batch 4, 96x96 crops).
"""

import argparse
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
DEMOS_DIR = Path(__file__).resolve().parent
DEFAULT_CONFIG = ROOT / 'configs' / 'upernet_convnextv2_a_demo.py'
DEFAULT_WORK_DIR = 'work_dirs/demo_segmentation'
DEFAULT_ITERS = 400
DEFAULT_NUM_IMAGES = 64
DEFAULT_NUM_VAL = 16
DEFAULT_IMAGE_SIZE = 128
DEFAULT_PREVIEW_ROWS = 4
DEFAULT_THREADS = 1
WARMUP_FRACTION = 0.15
"""Share of the iterations spent in the linear warm-up."""
METRIC_KEYS = ('aAcc', 'mIoU', 'mAcc')
VIS_SUFFIXES = ('.png', '.jpg')
DATALOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parses the demo's command line."""
    parser = argparse.ArgumentParser(
        prog='tools/demo.py segmentation', description='UperNet + ConvNeXt V2-Atto on synthetic ADE20K-format data'
    )
    parser.add_argument('--work-dir', default=DEFAULT_WORK_DIR, help='output folder (data, logs, checkpoints, PNG)')
    parser.add_argument('--config', default=str(DEFAULT_CONFIG), help='segmentation config to train')
    parser.add_argument('--iters', type=int, default=DEFAULT_ITERS, help='training iterations')
    parser.add_argument('--num-images', type=int, default=DEFAULT_NUM_IMAGES, help='training images to generate')
    parser.add_argument('--num-val', type=int, default=DEFAULT_NUM_VAL, help='validation images to generate')
    parser.add_argument('--image-size', type=int, default=DEFAULT_IMAGE_SIZE, help='side of the generated images')
    parser.add_argument('--preview-rows', type=int, default=DEFAULT_PREVIEW_ROWS, help='images in predictions.png')
    parser.add_argument('--seed', type=int, default=0, help='seed of the data and of the training')
    parser.add_argument(
        '--threads',
        type=int,
        default=DEFAULT_THREADS,
        help='torch threads of the train/test processes (1 is by far the fastest on a busy machine)',
    )
    args = parser.parse_args(argv)
    for name in ('iters', 'num_images', 'num_val', 'preview_rows', 'threads'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1, got {getattr(args, name)}')
    return args


def run_tool(script: str, argv: list[str], threads: int) -> int:
    """Runs ``tools/<script>`` in a fresh interpreter with ``threads`` torch threads; returns its exit code.

    A process per step, as a user would run them: mmengine keeps the logger
    and visualizer as named process-wide instances, which a second Runner in
    the same process would reuse.
    """
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    command = [sys.executable, str(ROOT / 'tools' / script), *argv]
    return subprocess.run(command, cwd=ROOT, env=env, check=False).returncode


def load_module(path: Path) -> ModuleType:
    """Imports a script of ``tools/`` by its path (tools/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f'convnext_tool_{path.stem}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def data_options(data_root: Path) -> list[str]:
    """``--cfg-options`` pointing the three dataloaders at ``data_root``."""
    return [
        f'{loader}.dataset.data_root={data_root}'
        for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')
    ]


def train_options(iters: int, seed: int) -> list[str]:
    """``--cfg-options`` for the schedule length (warm-up, poly end, validation) and the seed."""
    warmup = max(1, int(iters * WARMUP_FRACTION))
    return [
        f'train_cfg.max_iters={iters}',
        f'train_cfg.val_interval={iters}',
        f'param_scheduler.0.end={warmup}',
        f'param_scheduler.1.begin={warmup}',
        f'param_scheduler.1.end={iters}',
        f'randomness.seed={seed}',
    ]


def read_test_metrics(test_dir: Path) -> dict[str, float]:
    """The metrics the test run logged to ``TEST_DIR/<timestamp>/<timestamp>.json``."""
    logs = sorted(test_dir.glob('*/*.json'))
    for log in reversed(logs):
        for line in reversed(log.read_text().splitlines()):
            record = json.loads(line)
            if all(key in record for key in METRIC_KEYS):
                return {key: float(record[key]) for key in METRIC_KEYS}
    raise RuntimeError(f'no {METRIC_KEYS} found in the test logs {logs} under {test_dir}')


def save_preview(vis_dir: Path, out_file: Path, rows: int) -> Path:
    """Stacks the first ``rows`` drawings (ground truth | prediction) of ``vis_dir`` into ``out_file``."""
    drawings = sorted(p for p in vis_dir.rglob('*') if p.suffix in VIS_SUFFIXES)[:rows]
    if not drawings:
        raise RuntimeError(f'no drawn predictions under {vis_dir}')
    images = [np.asarray(Image.open(p).convert('RGB')) for p in drawings]
    width = max(image.shape[1] for image in images)
    padded = [np.pad(image, ((0, 0), (0, width - image.shape[1]), (0, 0))) for image in images]
    Image.fromarray(np.concatenate(padded, axis=0)).save(out_file)
    return out_file


def main(argv: list[str] | None = None) -> int:
    """Runs the demo; returns 0, or the failing tool's exit code."""
    args = parse_args(argv)
    work_dir = Path(args.work_dir).resolve()
    synthetic_ade = load_module(DEMOS_DIR / 'synthetic_ade.py')
    data_root = synthetic_ade.generate_dataset(
        work_dir / 'data', args.num_images, args.num_val, size=args.image_size, seed=args.seed
    )
    print(f'Wrote {args.num_images} training and {args.num_val} validation images to {data_root}', flush=True)

    train_dir, test_dir = work_dir / 'train', work_dir / 'test'
    options = data_options(data_root)
    train_argv = [args.config, '--work-dir', str(train_dir), '--cfg-options', *options]
    code = run_tool('train.py', train_argv + train_options(args.iters, args.seed), args.threads)
    if code:
        return code
    checkpoint = train_dir / f'iter_{args.iters}.pth'
    # tools/test.py --show-dir: mmseg's SegVisualizationHook draws into TEST_DIR/vis.
    test_argv = [
        args.config,
        str(checkpoint),
        '--work-dir',
        str(test_dir),
        '--show-dir',
        'vis',
        '--cfg-options',
        *options,
    ]
    code = run_tool('test.py', test_argv, args.threads)
    if code:
        return code

    metrics = read_test_metrics(test_dir)
    (work_dir / 'metrics.json').write_text(json.dumps(metrics, indent=2))
    preview = save_preview(test_dir / 'vis', work_dir / 'predictions.png', args.preview_rows)
    num_classes = len(synthetic_ade.CLASSES)
    print(
        f'Segmentation demo: mIoU {metrics["mIoU"]:.2f} (aAcc {metrics["aAcc"]:.2f}, mAcc {metrics["mAcc"]:.2f}) '
        f'over {num_classes} classes after {args.iters} iterations; ground truth | prediction in {preview}'
    )
    return 0


if __name__ == '__main__':
    sys.exit(main())
