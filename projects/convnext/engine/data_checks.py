"""Checks of the data sets that ``tools/train.py`` and ``tools/test.py`` run on: one error line per bad file.

The hosts' datasets (mmdet ``CocoDataset``, mmseg ``BaseSegDataset``,
mmpretrain ``CustomDataset``/``ImageNet``) load their files themselves; these
checks run around them, in three places:

- :func:`explain_dataset_build_error`: when a dataset fails while the Runner
  builds it (an annotation file that is not JSON, a COCO file without
  ``images`` or ``categories``, classes that match none of the file's
  categories, 0 usable images, which mmengine reports as "need at least one
  array to concatenate"), says what is wrong with which file.
  :func:`convnext.launch.config_build_errors` asks it first.
- :class:`DataCheckHook` (``before_run``, once the Runner has built its
  loops' datasets): every dataset has images, every image and label map it
  lists exists (how many are missing, and the first), and the classes of an
  mmdet COCO test set match the file's categories.
- Per-sample checks put into the built datasets' pipelines by the hook
  (checked where the sample is loaded, so a training run costs one file read
  and one comparison per sample, no pass over the data at start):

  - :class:`CheckedImageLoader` around mmcv's ``LoadImageFromFile``: a file
    that does not decode as an image (truncated, or not an image) is an
    error naming the file. With the loader's ``ignore_empty=True`` a
    training set skips it instead, with a warning that names it and counts
    the skipped files (mmengine's ``BaseDataset`` then loads another sample).
  - :class:`SegLabelCheck` after ``LoadAnnotations`` of a segmentation set: a
    label that is neither a class (``0 .. num_classes - 1`` after the
    dataset's ``reduce_zero_label``) nor ``ignore_index`` is an error naming
    the file, the value, ``num_classes`` and ``ignore_index``; otherwise
    training fails on it with ``IndexError: Target 39 is out of bounds`` and
    ``IoUMetric`` silently leaves it out of the histograms.

A check failing in a data-loader worker reaches the main process as a
:class:`DataError` again (torch's ``ExceptionWrapper`` rebuilds the exception
type from its message), with the worker's traceback dropped.
"""

import json
import logging
import os
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import BaseLoop

from ..exceptions import ConfigError

DEFAULT_IGNORE_INDEX = 255
"""mmseg's ``ignore_index`` of the decode heads and ``IoUMetric``, used when the model has none."""

LOOPS = (('_train_loop', 'train_dataloader'), ('_val_loop', 'val_dataloader'), ('_test_loop', 'test_dataloader'))
"""The Runner's loop attributes (built loops, or their configs until built) and their dataloader keys."""

FILE_KEYS = {'img_path': 'images', 'seg_map_path': 'label maps'}
"""Data-info keys of the files a sample is loaded from, and what they are called in messages."""

COCO_KEYS = ('images', 'categories')
"""Entries without which a COCO annotation file describes no data set (``annotations`` may be absent in a test set)."""

SHOWN_ITEMS = 10
"""Most categories or ids quoted in one message."""

WORKER_TRACEBACK = 'Original Traceback'
"""What torch's DataLoader puts into the message of an exception re-raised from a worker process."""

LOAD_STEPS = ('load_data_list', 'full_init', '_serialize_data')
"""``BaseDataset`` methods that read the annotations and serialise the data list."""

NOT_DECODED = 'no image decoded: truncated, or not an image'
"""Why a file that the image decoder returned nothing for is unreadable."""

DATA_CHECK_PRIORITY = 'VERY_HIGH'
"""The data are checked before any other hook's ``before_run`` (EMA, visualisation, preemption) runs."""


class DataError(ConfigError):
    """A data set file that the tools cannot use; the message names the file (or config key) and the problem.

    Args:
        message: The one-line message. A message that torch's DataLoader built
            when re-raising the error from a worker (``Caught DataError in
            DataLoader worker process 0. Original Traceback ...``) is reduced
            to the worker's own message.
    """

    def __init__(self, message: str) -> None:
        super().__init__(_worker_message(message, type(self).__name__))


def _worker_message(message: str, name: str) -> str:
    """The original message inside a worker's re-raised one; ``message`` itself otherwise."""
    if WORKER_TRACEBACK not in message:
        return message
    last = message.strip().splitlines()[-1]
    marker = f'{name}: '
    return last.split(marker, 1)[1] if marker in last else last


def explain_dataset_build_error(frames: Sequence[FrameType], error: BaseException) -> str | None:
    """What is wrong with the data set whose loading raised ``error``, naming its file.

    Args:
        frames: The frames of ``error``'s traceback, outermost first.
        error: What a dataset raised while the Runner built it.

    Returns:
        One line, or None when ``error`` was not raised while a dataset read
        its annotations (e.g. a bad pipeline transform) or is not about them.
    """
    dataset, step = _loading_dataset(frames)
    if dataset is None:
        return None
    ann_file = str(getattr(dataset, 'ann_file', '') or '')
    if isinstance(error, (json.JSONDecodeError, UnicodeDecodeError)):
        return _not_json(ann_file or 'the annotation file', error)
    if _is_coco(dataset) and ann_file:
        problem = coco_problem(ann_file, _classes(dataset))
        if problem is not None:
            return problem
    if step == '_serialize_data' and not getattr(dataset, 'data_list', None):
        return empty_dataset_problem(dataset)
    return None


def _loading_dataset(frames: Sequence[FrameType]) -> tuple[BaseDataset | None, str]:
    """The innermost dataset that was reading its annotations, and the method it was in."""
    for frame in reversed(frames):
        owner = frame.f_locals.get('self')
        if frame.f_code.co_name in LOAD_STEPS and isinstance(owner, BaseDataset):
            return owner, frame.f_code.co_name
    return None, ''


def _not_json(path: str, error: BaseException) -> str:
    """The message for an annotation file that ``json`` cannot parse."""
    reason = str(error) if isinstance(error, json.JSONDecodeError) else f'not UTF-8 text: {error.reason}'
    return f'{path} is not JSON ({reason}); an annotation file must be a COCO JSON file'


def _is_coco(dataset: Any) -> bool:
    """Whether ``dataset`` reads a COCO annotation file through a COCO API (mmdet's ``CocoDataset`` and kin)."""
    return getattr(type(dataset), 'COCOAPI', None) is not None


def _classes(dataset: Any) -> tuple[str, ...]:
    return tuple((getattr(dataset, 'metainfo', None) or {}).get('classes') or ())


def coco_problem(ann_file: str, classes: Sequence[str]) -> str | None:
    """What makes a COCO annotation file unusable with ``classes``, or None when nothing does.

    Args:
        ann_file: The JSON file.
        classes: The config's class names (``metainfo.classes``), matched to
            the file's category names as mmdet's ``CocoDataset`` does.
    """
    try:
        content = json.loads(Path(ann_file).read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        return _not_json(ann_file, error)
    except OSError as error:
        return f'cannot read {ann_file}: {error.strerror}'
    if not isinstance(content, dict):
        return f'{ann_file} holds a JSON {type(content).__name__}, not a COCO object with {", ".join(COCO_KEYS)}'
    for key in COCO_KEYS:
        if not isinstance(content.get(key), list):
            return f"{ann_file} has no '{key}' list (a COCO annotation file has images, annotations and categories)"
    if not content['images']:
        return f"{ann_file} lists no images ('images' is empty)"
    return _category_problem(ann_file, content, classes)


def _category_problem(ann_file: str, content: dict, classes: Sequence[str]) -> str | None:
    """A message when no category of ``classes`` is in the file, or no annotation has one."""
    names = {category.get('id'): category.get('name') for category in content['categories']}
    wanted = sorted(cat_id for cat_id, name in names.items() if name in classes)
    if not wanted:
        return (
            f"none of the config's classes {_shown(classes)} is a category of {ann_file} "
            f'(its categories: {_shown(sorted(map(str, names.values())))}); set metainfo.classes to category names'
        )
    used = sorted({annotation.get('category_id') for annotation in content.get('annotations') or []}, key=str)
    if used and not set(used) & set(wanted):
        return (
            f"none of the {len(content['annotations'])} annotations in {ann_file} has a category id of the config's "
            f'classes ({_shown(wanted)}); their category ids are {_shown(used)}'
        )
    return None


def _shown(items: Sequence[Any]) -> str:
    """Up to :data:`SHOWN_ITEMS` items, with how many more there are."""
    items = list(items)
    shown = ', '.join(map(repr, items[:SHOWN_ITEMS]))
    more = f', ... ({len(items)} in all)' if len(items) > SHOWN_ITEMS else ''
    return f'[{shown}{more}]'


def empty_dataset_problem(dataset: Any) -> str:
    """The message for a dataset with 0 usable images: where it looked and what it kept."""
    name = type(dataset).__name__
    ann_file = getattr(dataset, 'ann_file', '')
    if ann_file:
        filtered = f', none left by filter_cfg={dataset.filter_cfg}' if getattr(dataset, 'filter_cfg', None) else ''
        return f'{name} has 0 usable images from {ann_file}{filtered}'
    prefix = dict(getattr(dataset, 'data_prefix', None) or {})
    folder = prefix.get('img_path') or prefix.get('img') or getattr(dataset, 'data_root', '')
    suffix = getattr(dataset, 'img_suffix', None)
    kind = f"'*{suffix}' images" if suffix else 'images'
    return f'{name} found 0 {kind} in {folder}'


class CheckedImageLoader:
    """Wraps an image-loading transform (mmcv's ``LoadImageFromFile``): an unreadable file is named.

    Args:
        loader: The transform; it reads ``results['img_path']``.
        skip: Skip unreadable files (return None, so that mmengine's
            ``BaseDataset`` loads another sample) with a counted warning,
            instead of raising. True for a training set whose loader has
            ``ignore_empty=True``.
        pipeline_key: The config key of the pipeline, for the message.
    """

    def __init__(self, loader: Callable[[dict], dict | None], skip: bool, pipeline_key: str) -> None:
        self.loader = loader
        self.skip = skip
        self.pipeline_key = pipeline_key
        self.skipped = 0

    def __call__(self, results: dict) -> dict | None:
        path = results.get('img_path')
        try:
            loaded = self.loader(results)
        except Exception as error:  # decoders raise many types (cv2.error, OSError, AssertionError, ...)
            if path is None:
                raise
            return self._unreadable(path, _read_failure(error, path))
        if loaded is None and path is not None:
            return self._unreadable(path, NOT_DECODED)
        return loaded

    def _unreadable(self, path: str, reason: str) -> None:
        if not self.skip:
            raise DataError(
                f'{path} cannot be read as an image ({reason}); replace or remove it, or skip such files in '
                f'training with ignore_empty=True in the LoadImageFromFile of {self.pipeline_key}'
            )
        self.skipped += 1
        print_log(
            f'Skipped unreadable image {path} ({reason}): {self.skipped} skipped so far by this process',
            logger='current',
            level=logging.WARNING,
        )
        return None

    def __repr__(self) -> str:
        return f'{type(self).__name__}({self.loader!r}, skip={self.skip})'


def _read_failure(error: BaseException, path: str) -> str:
    """Why the loader failed, without repeating the path (mmcv says 'failed to load image: PATH' when the decoder
    returns nothing)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    message = lines[0] if lines else ''
    if not message or str(path) in message:
        return NOT_DECODED
    return f'{type(error).__name__}: {message}'


class SegLabelCheck:
    """Checks a loaded label map (``results['gt_seg_map']``): every value a class or ``ignore_index``.

    Placed right after ``LoadAnnotations``, so it sees the labels after the
    dataset's ``reduce_zero_label`` (ADE20K: 0 becomes 255 and ``k`` becomes
    ``k - 1``) and label map, before any crop can hide a bad pixel.

    Args:
        num_classes: Number of classes; labels ``0 .. num_classes - 1``.
        ignore_index: The label that the loss and ``IoUMetric`` leave out.
        pipeline_key: The config key of the pipeline, for the message.
    """

    def __init__(self, num_classes: int, ignore_index: int, pipeline_key: str) -> None:
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.pipeline_key = pipeline_key

    def __call__(self, results: dict) -> dict:
        labels = results.get('gt_seg_map')
        if labels is None:
            return results
        bad = ((labels < 0) | (labels >= self.num_classes)) & (labels != self.ignore_index)
        if bad.any():
            value = int(np.asarray(labels)[bad].max())
            raise DataError(
                f'{results.get("seg_map_path", "a label map")}: {_label_text(value, results)} is not a class: '
                f'num_classes is {self.num_classes} (labels 0-{self.num_classes - 1}) and ignore_index '
                f'{self.ignore_index}; fix the label map, or the classes of the model and dataset'
            )
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(num_classes={self.num_classes}, ignore_index={self.ignore_index})'


def _label_text(value: int, results: dict) -> str:
    """The bad label as the file holds it, when the loaded value can be traced back."""
    if results.get('label_map'):
        return f'label {value} (after the label map)'
    if results.get('reduce_zero_label'):
        return f'label {value + 1} in the file ({value} after reduce_zero_label)'
    return f'label {value}'


class DataCheckHook(Hook):
    """Checks the datasets of the Runner's built loops before the run, and adds the per-sample checks.

    See the module docstring. The tools register it on every Runner they build
    (:func:`add_data_checks`).
    """

    def before_run(self, runner: Any) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        for attribute, key in LOOPS:
            loop = getattr(runner, attribute, None)
            if isinstance(loop, BaseLoop) and hasattr(loop, 'dataloader'):
                check_dataset(loop.dataloader.dataset, key, model)


def add_data_checks(runner: Any) -> None:
    """Registers :class:`DataCheckHook` on ``runner`` (before its other hooks)."""
    runner.register_hook(DataCheckHook(), priority=DATA_CHECK_PRIORITY)


def check_dataset(dataset: Any, key: str, model: Any = None) -> None:
    """Checks a built dataset and the datasets it wraps, and puts the per-sample checks into their pipelines.

    Args:
        dataset: A dataset built by the Runner (wrappers such as
            ``ConcatDataset`` or ``RepeatDataset`` are searched).
        key: Its dataloader's config key, e.g. ``'train_dataloader'``.
        model: The model, whose ``decode_head`` (mmseg) gives ``num_classes``
            and ``ignore_index`` of the labels. Defaults to None.

    Raises:
        DataError: A dataset without images, listed files that do not exist,
            or a COCO test set whose classes match none of its categories.
    """
    for leaf in _leaf_datasets(dataset):
        if len(leaf) == 0:
            raise DataError(f'{key}.dataset: {empty_dataset_problem(leaf)}')
        _check_files(leaf, key)
        _add_sample_checks(leaf, key, model)


def _leaf_datasets(dataset: Any) -> Iterator[BaseDataset]:
    """The mmengine datasets inside ``dataset`` (itself, or those it wraps: ``dataset`` / ``datasets``)."""
    if isinstance(dataset, BaseDataset):
        yield dataset
        return
    inner = dataset.__dict__.get('dataset') if hasattr(dataset, '__dict__') else None
    for child in [inner, *(getattr(dataset, 'datasets', None) or [])]:
        if child is not None:
            yield from _leaf_datasets(child)


def _check_files(dataset: BaseDataset, key: str) -> None:
    """Every local image and label map listed exists; a COCO set's annotations have the config's classes."""
    paths: dict[str, list[str]] = {name: [] for name in FILE_KEYS}
    has_instances = False
    for index in range(len(dataset)):
        info = dataset.get_data_info(index)
        for name in FILE_KEYS:
            if info.get(name) and '://' not in str(info[name]):
                paths[name].append(str(info[name]))
        has_instances = has_instances or bool(info.get('instances'))
    for name, listed in paths.items():
        missing = missing_files(listed)
        if missing:
            source = getattr(dataset, 'ann_file', '') or type(dataset).__name__
            raise DataError(
                f'{key}.dataset: {len(missing)} of the {len(listed)} {FILE_KEYS[name]} listed by {source} '
                f'do not exist, the first: {missing[0]}'
            )
    if _is_coco(dataset) and not has_instances and getattr(dataset, 'ann_file', ''):
        problem = coco_problem(dataset.ann_file, _classes(dataset))
        if problem is not None:
            raise DataError(f'{key}.dataset: {problem}')


def missing_files(paths: Sequence[str]) -> list[str]:
    """The paths of ``paths`` that name no file, in their order (one directory listing per folder)."""
    by_folder: dict[str, set[str]] = defaultdict(set)
    for path in paths:
        by_folder[os.path.dirname(path)].add(os.path.basename(path))
    absent = set()
    for folder, names in by_folder.items():
        try:
            present = set(os.listdir(folder or '.'))
        except OSError:
            present = set()
        absent.update(os.path.join(folder, name) for name in names - present)
    return [path for path in paths if path in absent]


def _add_sample_checks(dataset: BaseDataset, key: str, model: Any) -> None:
    """Wraps the image loaders of ``dataset.pipeline`` and adds a label check after a segmentation set's
    ``LoadAnnotations`` (in place; each only once)."""
    from mmcv.transforms import LoadAnnotations, LoadImageFromFile  # here: the tools import this module at start

    transforms = getattr(getattr(dataset, 'pipeline', None), 'transforms', None)
    if transforms is None:
        return
    pipeline_key = f'{key}.dataset.pipeline'
    labels = _label_range(dataset, model)
    checked = []
    for i, transform in enumerate(transforms):
        if isinstance(transform, LoadImageFromFile):
            skip = bool(getattr(transform, 'ignore_empty', False)) and not dataset.test_mode
            transform = CheckedImageLoader(transform, skip, pipeline_key)
        checked.append(transform)
        follower = transforms[i + 1] if i + 1 < len(transforms) else None
        if labels is not None and isinstance(transform, LoadAnnotations) and not isinstance(follower, SegLabelCheck):
            checked.append(SegLabelCheck(*labels, pipeline_key))
    transforms[:] = checked


def _label_range(dataset: BaseDataset, model: Any) -> tuple[int, int] | None:
    """``(num_classes, ignore_index)`` of a segmentation set's labels, or None for other tasks.

    A segmentation set is one with mmseg's ``reduce_zero_label`` setting, or
    read for a model with a ``decode_head``; ``num_classes`` is the smaller
    of the dataset's classes and the decode head's (a label beyond either
    breaks the loss or the metric).
    """
    head = getattr(model, 'decode_head', None)
    if not hasattr(dataset, 'reduce_zero_label') and head is None:
        return None
    bounds = [len(_classes(dataset))] if _classes(dataset) else []
    if head is not None and getattr(head, 'num_classes', None):
        bounds.append(int(head.num_classes))
    if not bounds:
        return None
    return min(bounds), int(getattr(head, 'ignore_index', DEFAULT_IGNORE_INDEX))
