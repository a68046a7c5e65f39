"""Runs a trained model on image files: one drawn image per input and one JSON file of predictions.

The config's ``default_scope`` picks the host, whose own inferencer does the
work (mmdet ``DetInferencer``, mmseg ``MMSegInferencer``, mmpretrain
``ImageClassificationInferencer``). INPUTS is an image, a folder (its images,
not recursive) or a glob pattern, or several of them.

Outputs in ``--out-dir``:

- ``vis/<name>.png``: the image with the predictions drawn by the host's visualizer;
- ``predictions.json``: per image, detections (``bbox`` x1 y1 x2 y2 in pixels,
  ``label``, ``class``, ``score``, ``mask`` as COCO RLE from pycocotools),
  the class map (``sem_seg``: a PNG of class indices under ``preds/``, with
  the pixel count of each class present), or the ``topk`` classes with scores;
  images that could not be read are listed under ``skipped`` with the reason.

Example:
    python tools/infer.py configs/mask_rcnn_convnextv2_t_lsj_3x.py epoch_36.pth images/ --out-dir out --score-thr 0.5
"""

import argparse
import glob
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from mmengine.config import DictAction
from mmengine.utils import ProgressBar

from convnext.deploy import check_checkpoint_fits, task_of
from convnext.exceptions import ConfigError
from convnext.utils import add_debug_arg, allow_mmengine_checkpoints, exit_on_config_error, load_config

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp', '.ppm', '.pgm')
"""Files of a folder that are taken as images."""

TOP_K = 5
"""Classes listed per image by a classifier (fewer when it has fewer)."""

UINT8_CLASSES = 256
"""Class maps with more classes than this are written as 16-bit PNGs."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parses the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='config file of the trained model')
    parser.add_argument('checkpoint', help='checkpoint file (mmengine)')
    parser.add_argument('inputs', nargs='+', help='image files, folders or glob patterns')
    parser.add_argument('--out-dir', default='outputs', help='where vis/, preds/ and predictions.json go')
    parser.add_argument('--device', default=None, help='torch device (default: cuda if available, else cpu)')
    parser.add_argument('--batch-size', type=int, default=1, help='images per forward pass')
    parser.add_argument('--score-thr', type=float, default=0.3, help='smallest detection score drawn and saved')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config settings')
    add_debug_arg(parser)
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error(f'--batch-size must be >= 1, got {args.batch_size}')
    if not 0.0 <= args.score_thr <= 1.0:
        parser.error(f'--score-thr must be in [0, 1], got {args.score_thr}')
    return args


def collect_images(inputs: list[str]) -> list[str]:
    """Image paths of files, folders (their image files, sorted) and glob patterns, in order, without repeats.

    Raises:
        ConfigError: An input that is no file, folder or matching pattern.
    """
    found: list[str] = []
    for item in inputs:
        if os.path.isdir(item):
            files = [str(path) for path in sorted(Path(item).iterdir()) if path.suffix.lower() in IMAGE_SUFFIXES]
        elif os.path.isfile(item):
            files = [item]
        else:
            files = sorted(path for path in glob.glob(item) if os.path.isfile(path))
        if not files:
            raise ConfigError(f'no image found at {item!r} (expected an image file, a folder or a glob pattern)')
        found.extend(path for path in files if path not in found)
    return found


def unreadable_reason(path: str) -> str | None:
    """Why ``path`` cannot be decoded as an image, or None when it can."""
    import mmcv

    try:
        image = mmcv.imread(path)
    except Exception as error:  # mmcv and OpenCV raise many types on bad files
        return f'{type(error).__name__}: {error}'
    return 'not a decodable image' if image is None else None


def build_inferencer(cfg, checkpoint: str, device: str | None) -> Any:
    """The host's inferencer for ``cfg`` with ``checkpoint`` loaded (and checked to fit the model)."""
    task = task_of(cfg)
    if not Path(checkpoint).is_file():
        raise ConfigError(f'checkpoint not found: {checkpoint}')
    allow_mmengine_checkpoints()
    if task == 'detection':
        from mmdet.apis import DetInferencer

        inferencer = DetInferencer(model=cfg, weights=checkpoint, device=device, show_progress=False)
    elif task == 'segmentation':
        from mmseg.apis import MMSegInferencer

        inferencer = MMSegInferencer(model=cfg, weights=checkpoint, device=device)
    else:
        from mmpretrain.apis import ImageClassificationInferencer

        inferencer = ImageClassificationInferencer(model=cfg, pretrained=checkpoint, device=device)
    check_checkpoint_fits(inferencer.model, checkpoint)
    return inferencer


def chunks(items: list[str], size: int) -> Iterator[list[str]]:
    """Consecutive slices of ``items`` of ``size`` (the last may be shorter)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def predict_batch(inferencer: Any, task: str, paths: list[str], vis_dir: Path, score_thr: float) -> list:
    """Runs the inferencer on ``paths``; draws each into ``vis_dir``; returns the data samples."""
    samples = []
    for data in inferencer.preprocess(paths, batch_size=len(paths)):
        batch = data[1] if task == 'detection' else data  # mmdet's DetInferencer yields [original inputs, batch]
        samples.extend(inferencer.forward(batch))
    if task == 'classification':
        inferencer.visualize(paths, samples, show_dir=str(vis_dir))
        return samples
    kwargs = {'pred_score_thr': score_thr} if task == 'detection' else {}
    drawn = inferencer.visualize(paths, samples, return_vis=True, img_out_dir='', **kwargs)
    for path, image in zip(paths, drawn, strict=True):
        _save_rgb(image, vis_dir / f'{Path(path).stem}.png')
    return samples


def _save_rgb(image: np.ndarray, path: Path) -> None:
    import mmcv

    mmcv.imwrite(image[..., ::-1], str(path))


def to_json(task: str, sample: Any, classes: list[str], score_thr: float, pred_path: Path) -> dict[str, Any]:
    """The JSON record of one prediction (see the module docstring)."""
    if task == 'detection':
        return {'instances': detections_json(sample.pred_instances, classes, score_thr)}
    if task == 'segmentation':
        return segmentation_json(sample.pred_sem_seg.data[0].cpu().numpy(), classes, pred_path)
    scores = sample.pred_score.cpu().numpy()
    order = np.argsort(-scores, kind='stable')[: min(TOP_K, scores.size)]
    return {'topk': [{'label': int(i), 'class': _name(classes, i), 'score': float(scores[i])} for i in order]}


def detections_json(instances: Any, classes: list[str], score_thr: float) -> list[dict[str, Any]]:
    """Detections at or above ``score_thr``: box, label, class, score and COCO RLE mask."""
    from pycocotools import mask as mask_utils

    keep = instances.scores >= score_thr
    instances = instances[keep].cpu()
    records = []
    for i in range(len(instances)):
        record = {
            'bbox': [round(float(v), 2) for v in instances.bboxes[i]],
            'label': int(instances.labels[i]),
            'class': _name(classes, int(instances.labels[i])),
            'score': round(float(instances.scores[i]), 5),
        }
        if 'masks' in instances:
            rle = mask_utils.encode(np.asfortranarray(instances.masks[i].numpy().astype(np.uint8)))
            record['mask'] = {'size': [int(v) for v in rle['size']], 'counts': rle['counts'].decode('ascii')}
        records.append(record)
    return records


def segmentation_json(class_map: np.ndarray, classes: list[str], pred_path: Path) -> dict[str, Any]:
    """Writes the class map ``(H, W)`` as a PNG of class indices; returns its file name and per-class pixel counts."""
    import mmcv

    dtype = np.uint8 if len(classes) <= UINT8_CLASSES else np.uint16
    mmcv.imwrite(class_map.astype(dtype), str(pred_path))
    labels, counts = np.unique(class_map, return_counts=True)
    return {
        'sem_seg': str(Path(pred_path.parent.name) / pred_path.name),
        'pixels': {_name(classes, int(label)): int(count) for label, count in zip(labels, counts, strict=True)},
    }


def _name(classes: list[str], label: int) -> str:
    return classes[label] if 0 <= label < len(classes) else str(label)


@exit_on_config_error
def main(argv: list[str] | None = None) -> int:
    """Predicts every readable input; returns 0 (2 with one line on bad input)."""
    args = parse_args(argv)
    start = time.perf_counter()
    cfg = load_config(args.config, args.cfg_options)
    task = task_of(cfg, args.config)
    images = collect_images(args.inputs)
    inferencer = build_inferencer(cfg, args.checkpoint, args.device)
    out_dir = Path(args.out_dir)
    vis_dir, pred_dir = out_dir / 'vis', out_dir / 'preds'
    for folder in (vis_dir, pred_dir) if task == 'segmentation' else (vis_dir,):
        folder.mkdir(parents=True, exist_ok=True)
    meta = getattr(inferencer.model, 'dataset_meta', None) or {}
    classes = list(meta.get('classes') or getattr(inferencer, 'classes', None) or [])
    records, skipped = run(inferencer, task, images, args, classes, (vis_dir, pred_dir))
    result = {'config': args.config, 'checkpoint': args.checkpoint, 'task': task, 'classes': classes}
    result.update(predictions=records, skipped=skipped)
    (out_dir / 'predictions.json').write_text(json.dumps(result, indent=1))
    seconds = time.perf_counter() - start
    print(
        f'infer: {len(records)} of {len(images)} images predicted ({len(skipped)} unreadable, skipped) in '
        f'{seconds:.1f} s; drawings in {vis_dir}, predictions in {out_dir / "predictions.json"}'
    )
    return 0


def run(inferencer: Any, task: str, images: list[str], args: argparse.Namespace, classes: list[str], dirs: tuple):
    """Predicts ``images`` batch by batch with a progress bar; returns the JSON records and the skipped images."""
    vis_dir, pred_dir = dirs
    records, skipped = [], []
    progress = ProgressBar(len(images)) if len(images) > 1 else None
    for batch in chunks(images, args.batch_size):
        readable = []
        for path in batch:
            reason = unreadable_reason(path)
            if reason is None:
                readable.append(path)
            else:
                print(f'\nwarning: skipped {path}: {reason}', file=sys.stderr)
                skipped.append({'image': path, 'reason': reason})
        samples = predict_batch(inferencer, task, readable, vis_dir, args.score_thr) if readable else []
        for path, sample in zip(readable, samples, strict=True):
            record = {'image': path, 'vis': str(Path(vis_dir.name) / f'{Path(path).stem}.png')}
            record.update(to_json(task, sample, classes, args.score_thr, pred_dir / f'{Path(path).stem}.png'))
            records.append(record)
        for _ in batch:
            if progress is not None:
                progress.update()
    return records, skipped


if __name__ == '__main__':
    sys.exit(main())
