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
  the pixel count of each class present), or the ``topk`` classes with scores,
  and the path of each output file; images that could not be read or
  predicted (too small or too narrow for the network after the test
  pipeline's resize, say) are listed under ``failed`` with the reason.

``<name>`` is the image's file name without its suffix; where two inputs share
it (``x.jpg`` and ``x.png``, or ``x.png`` in two folders) the later ones get
``<name>_2``, ``<name>_3``, ..., so no output overwrites another.

Example:
    python tools/infer.py configs/mask_rcnn_convnextv2_t_lsj_3x.py epoch_36.pth images/ --out-dir out --score-thr 0.5
"""

import argparse
import contextlib
import glob
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from convnext.exceptions import ConfigError

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp', '.ppm', '.pgm')
"""Files of a folder that are taken as images."""

TOP_K = 5
"""Classes listed per image by a classifier (fewer when it has fewer)."""

UINT8_CLASSES = 256
"""Class maps with more classes than this are written as 16-bit PNGs."""

MMDET_COLLATE_FALLBACK = 'Failed to search registry with scope "mmdet" in the "function" registry tree'
"""mmengine's warning while ``DetInferencer`` is built: mmdet 3.3 defines no ``function`` registry, so mmengine's
``pseudo_collate`` (the right one) is used; nothing is wrong, so it is not shown."""

SOME_FAILED_EXIT = 1
"""Exit code when some inputs failed and the others were predicted (``predictions.json`` lists both)."""

EXIT_CODES = (
    f'exit codes: 0 every image predicted; {SOME_FAILED_EXIT} some images failed (unreadable, or the model could '
    'not run on them): the others are predicted, predictions.json lists the failed ones under "failed" and the '
    'last line names the first; 2 bad input (config, checkpoint, no image found, or no image could be '
    'predicted, e.g. a single file that is not an image), nothing written, one error line'
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parses the command line (before torch and the hosts are imported, so ``--help`` is quick)."""
    from mmengine.config import DictAction  # mmengine's config alone does not import torch

    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0], epilog=EXIT_CODES)
    parser.add_argument('config', help='config file of the trained model')
    parser.add_argument('checkpoint', help='checkpoint file (mmengine)')
    parser.add_argument('inputs', nargs='+', help='image files, folders or glob patterns')
    parser.add_argument('--out-dir', default='outputs', help='where vis/, preds/ and predictions.json go')
    parser.add_argument('--device', default=None, help='torch device (default: cuda if available, else cpu)')
    parser.add_argument('--batch-size', type=int, default=1, help='images per forward pass')
    parser.add_argument('--score-thr', type=float, default=0.3, help='smallest detection score drawn and saved')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config settings')
    # convnext.launch.add_debug_arg's option, spelled here: importing convnext.launch imports torch.
    parser.add_argument(
        '--debug', action='store_true', help='full tracebacks instead of one error line (or CONVNEXT_DEBUG=1)'
    )
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error(f'--batch-size must be >= 1, got {args.batch_size}')
    if not 0.0 <= args.score_thr <= 1.0:
        parser.error(f'--score-thr must be in [0, 1], got {args.score_thr}')
    return args


def collect_images(inputs: list[str]) -> list[str]:
    """Image paths of files, folders (their image files, sorted) and glob patterns, in order, each file once.

    Raises:
        ConfigError: An input that is no file, folder or matching pattern.
    """
    found: list[str] = []
    seen: set[Path] = set()
    for item in inputs:
        if os.path.isdir(item):
            files = [str(path) for path in sorted(Path(item).iterdir()) if path.suffix.lower() in IMAGE_SUFFIXES]
        elif os.path.isfile(item):
            files = [item]
        else:
            files = sorted(path for path in glob.glob(item) if os.path.isfile(path))
        if not files:
            raise ConfigError(f'no image found at {item!r} (expected an image file, a folder or a glob pattern)')
        for path in files:
            if Path(path).resolve() not in seen:
                seen.add(Path(path).resolve())
                found.append(path)
    return found


def output_names(images: list[str]) -> dict[str, str]:
    """A unique output name per image: its file name without the suffix, ``_2``, ``_3``, ... added to later images
    whose name is taken (compared without case, for case-insensitive file systems)."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    for path in images:
        stem = Path(path).stem
        name, count = stem, 1
        while name.lower() in taken:
            count += 1
            name = f'{stem}_{count}'
        taken.add(name.lower())
        names[path] = name
    return names


def unreadable_reason(path: str) -> str | None:
    """Why ``path`` cannot be decoded as an image, or None when it can."""
    import mmcv

    try:
        image = mmcv.imread(path)
    except Exception as error:  # mmcv and OpenCV raise many types on bad files
        return f'{type(error).__name__}: {error}'
    return 'not a decodable image' if image is None else None


def failure_reason(path: str, error: Exception) -> str:
    """The reason recorded for an image the model could not run on: the image's size and the error's first line."""
    from PIL import Image

    with Image.open(path) as image:
        width, height = image.size
    message = str(error).strip().splitlines()[0] if str(error).strip() else ''
    return f'the model or its drawing failed on this {width}x{height} image: {type(error).__name__}: {message}'


@contextlib.contextmanager
def hidden_log_messages(prefix: str) -> Iterator[None]:
    """Drops the current mmengine logger's records starting with ``prefix`` inside the block (others pass)."""
    from mmengine.logging import MMLogger

    def keep(record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(prefix)

    logger = MMLogger.get_current_instance()
    logger.addFilter(keep)
    try:
        yield
    finally:
        logger.removeFilter(keep)


def build_inferencer(cfg, checkpoint: str, device: str | None) -> Any:
    """The host's inferencer for ``cfg`` with ``checkpoint`` loaded (and checked to fit the model)."""
    from convnext.deploy import check_checkpoint_fits, task_of
    from convnext.serialization import allow_mmengine_checkpoints

    task = task_of(cfg)
    if not Path(checkpoint).is_file():
        raise ConfigError(f'checkpoint not found: {checkpoint}')
    allow_mmengine_checkpoints()
    if task == 'detection':
        from mmdet.apis import DetInferencer

        with hidden_log_messages(MMDET_COLLATE_FALLBACK):
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


def predict_batch(inferencer: Any, task: str, paths: list[str], score_thr: float) -> tuple[list, list]:
    """Runs the inferencer on ``paths``; returns the data samples and the drawn images (RGB)."""
    samples = []
    for data in inferencer.preprocess(paths, batch_size=len(paths)):
        batch = data[1] if task == 'detection' else data  # mmdet's DetInferencer yields [original inputs, batch]
        samples.extend(inferencer.forward(batch))
    if task == 'classification':
        with tempfile.TemporaryDirectory() as folder:  # mmpretrain draws only into a folder, by file name
            drawn = inferencer.visualize(paths, samples, show_dir=folder)
        return samples, drawn
    kwargs = {'pred_score_thr': score_thr} if task == 'detection' else {}
    return samples, inferencer.visualize(paths, samples, return_vis=True, img_out_dir='', **kwargs)


def _save_rgb(image: Any, path: Path) -> None:
    import mmcv

    mmcv.imwrite(image[..., ::-1], str(path))


def to_json(task: str, sample: Any, classes: list[str], score_thr: float, pred_path: Path) -> dict[str, Any]:
    """The JSON record of one prediction (see the module docstring)."""
    import numpy as np

    if task == 'detection':
        return {'instances': detections_json(sample.pred_instances, classes, score_thr)}
    if task == 'segmentation':
        return segmentation_json(sample.pred_sem_seg.data[0].cpu().numpy(), classes, pred_path)
    scores = sample.pred_score.cpu().numpy()
    order = np.argsort(-scores, kind='stable')[: min(TOP_K, scores.size)]
    return {'topk': [{'label': int(i), 'class': _name(classes, i), 'score': float(scores[i])} for i in order]}


def detections_json(instances: Any, classes: list[str], score_thr: float) -> list[dict[str, Any]]:
    """Detections at or above ``score_thr``: box, label, class, score and COCO RLE mask."""
    import numpy as np
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


def segmentation_json(class_map: Any, classes: list[str], pred_path: Path) -> dict[str, Any]:
    """Writes the class map ``(H, W)`` as a PNG of class indices; returns its file name and per-class pixel counts."""
    import mmcv
    import numpy as np

    dtype = np.uint8 if len(classes) <= UINT8_CLASSES else np.uint16
    mmcv.imwrite(class_map.astype(dtype), str(pred_path))
    labels, counts = np.unique(class_map, return_counts=True)
    return {
        'sem_seg': str(Path(pred_path.parent.name) / pred_path.name),
        'pixels': {_name(classes, int(label)): int(count) for label, count in zip(labels, counts, strict=True)},
    }


def _name(classes: list[str], label: int) -> str:
    return classes[label] if 0 <= label < len(classes) else str(label)


def main(argv: list[str] | None = None) -> int:
    """Predicts every readable input; returns the exit code (see :data:`EXIT_CODES`)."""
    args = parse_args(argv)
    from convnext.launch import exit_on_config_error  # imports torch: after parsing, so --help is quick

    return exit_on_config_error(lambda _: infer(args, argv))(argv)


def infer(args: argparse.Namespace, argv: list[str] | None) -> int:
    """Loads the model, predicts, writes the outputs; returns 0 or :data:`SOME_FAILED_EXIT`.

    Raises:
        ConfigError: Bad config, checkpoint or inputs, or no input could be predicted.
    """
    from convnext.deploy import task_of
    from convnext.launch import debug_requested, load_config

    start = time.perf_counter()
    cfg = load_config(args.config, args.cfg_options)
    task = task_of(cfg, args.config)
    images = collect_images(args.inputs)
    inferencer = build_inferencer(cfg, args.checkpoint, args.device)
    meta = getattr(inferencer.model, 'dataset_meta', None) or {}
    classes = list(meta.get('classes') or getattr(inferencer, 'classes', None) or [])
    out_dir = Path(args.out_dir)
    runner = Predictor(inferencer, task, classes, args.score_thr, out_dir, debug=debug_requested(argv))
    records, failed = runner.run(images, args.batch_size)
    if not records:
        first = failed[0]
        where = '' if len(images) == 1 else f'none of the {len(images)} images could be predicted; first: '
        raise ConfigError(f'{where}{first["image"]}: {first["reason"]}')
    path = out_dir / 'predictions.json'
    result = {'config': args.config, 'checkpoint': args.checkpoint, 'task': task, 'classes': classes}
    path.write_text(json.dumps({**result, 'predictions': records, 'failed': failed}, indent=1))
    seconds = time.perf_counter() - start
    print(
        f'infer: {len(records)} of {len(images)} images predicted ({len(failed)} failed) in {seconds:.1f} s; '
        f'drawings in {runner.vis_dir}, predictions in {path}'
    )
    if failed:
        first = failed[0]
        print(
            f'error: {len(failed)} of {len(images)} images failed, listed in {path}; '
            f'first: {first["image"]}: {first["reason"]}',
            file=sys.stderr,
        )
        return SOME_FAILED_EXIT
    return 0


class Predictor:
    """Predicts images batch by batch, writes each drawing and class map under a unique name, records failures.

    Args:
        inferencer: The host's inferencer (see :func:`build_inferencer`).
        task: ``'detection'``, ``'segmentation'`` or ``'classification'``.
        classes: Class names of the model.
        score_thr: Smallest detection score drawn and saved.
        out_dir: Where ``vis/`` and ``preds/`` go (created when the first image is predicted).
        debug: Raise a failing image's error (with its traceback) instead of recording it. Defaults to False.
    """

    def __init__(
        self, inferencer: Any, task: str, classes: list[str], score_thr: float, out_dir: Path, debug: bool = False
    ) -> None:
        self.inferencer, self.task, self.classes, self.score_thr = inferencer, task, classes, score_thr
        self.vis_dir, self.pred_dir = out_dir / 'vis', out_dir / 'preds'
        self.debug = debug
        self.warn = False

    def run(self, images: list[str], batch_size: int) -> tuple[list[dict], list[dict]]:
        """Predicts ``images`` with a progress bar; returns the JSON records and the failed images with reasons."""
        from mmengine.utils import ProgressBar

        names = output_names(images)
        records: list[dict] = []
        failed: list[dict] = []
        progress = ProgressBar(len(images)) if len(images) > 1 else None
        self.warn = progress is not None  # a single image's failure is the error line itself
        for batch in chunks(images, batch_size):
            readable = []
            for path in batch:
                reason = unreadable_reason(path)
                if reason is None:
                    readable.append(path)
                else:
                    self._fail(failed, path, reason)
            records.extend(self._predict(readable, names, failed))
            for _ in batch:
                if progress is not None:
                    progress.update()
        if progress is not None:
            progress.file.write('\n')  # mmengine's bar ends its last line without one
            progress.file.flush()
        return records, failed

    def _fail(self, failed: list[dict], path: str, reason: str) -> None:
        if self.warn:
            print(f'\nwarning: failed {path}: {reason}', file=sys.stderr)
        failed.append({'image': path, 'reason': reason})

    def _predict(self, paths: list[str], names: dict[str, str], failed: list[dict]) -> list[dict]:
        """Records of ``paths``; when the batch fails, each image alone, so that one bad image fails alone."""
        if not paths:
            return []
        try:
            return self._predict_batch(paths, names)
        except ConfigError:
            raise
        except Exception as error:  # the host's pipelines and networks raise many types on odd images
            if self.debug:
                raise
            if len(paths) > 1:
                return [record for path in paths for record in self._predict([path], names, failed)]
            self._fail(failed, paths[0], failure_reason(paths[0], error))
            return []

    def _predict_batch(self, paths: list[str], names: dict[str, str]) -> list[dict]:
        samples, drawn = predict_batch(self.inferencer, self.task, paths, self.score_thr)
        self.vis_dir.mkdir(parents=True, exist_ok=True)
        if self.task == 'segmentation':
            self.pred_dir.mkdir(parents=True, exist_ok=True)
        records = []
        for path, sample, image in zip(paths, samples, drawn, strict=True):
            file_name = f'{names[path]}.png'
            _save_rgb(image, self.vis_dir / file_name)
            record = {'image': path, 'vis': str(Path(self.vis_dir.name) / file_name)}
            record.update(to_json(self.task, sample, self.classes, self.score_thr, self.pred_dir / file_name))
            records.append(record)
        return records


if __name__ == '__main__':
    sys.exit(main())
