"""Running an exported graph in onnxruntime on images, prepared the way the config's test pipeline does.

:class:`OnnxModel` reads an image through the config's own test pipeline
(the host's transforms, minus annotation loading), normalises it with the
data preprocessor's mean, std and channel order that the export stored in the
graph's metadata, pads it as mmdet and mmseg do (zeros after normalisation, at
the bottom and right: a detector's image to a multiple of the data
preprocessor's ``pad_size_divisor``, as mmdet pads a batch of one), runs
onnxruntime and maps the outputs back to the original image:

- classification: ``scores`` (softmax) and the ``topk`` labels;
- segmentation: ``seg_logits`` at the original size and the class map
  ``sem_seg``; a config with ``test_cfg.mode='slide'`` is run window by window
  as mmseg's ``EncoderDecoder.slide_inference`` does;
- detection: ``bboxes`` in original pixels (clipped to the image), ``scores``,
  ``labels`` and binary ``masks`` pasted with mmdet's own ``_do_paste_mask``.
"""

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import DefaultScope
from torch import nn

from ..exceptions import ConfigError
from .graphs import IMAGE_SHAPE_NAME, INPUT_NAME

NORMALIZATION_KEYS = ('mean', 'std', 'to_rgb')
"""Metadata entries of the data preprocessor's normalisation."""

MASK_THRESHOLD = 0.5
"""Mask probability threshold when the config's ``test_cfg.rcnn`` names none (mmdet's default)."""

TOP_K = 5
"""Classes listed per image by a classifier (fewer when it has fewer)."""

NOT_IMPLEMENTED = 'NOT_IMPLEMENTED'
"""onnxruntime's status for a node without a kernel of the input's type."""

DEFAULT_PAD_DIVISOR = 1
"""``pad_size_divisor`` of a data preprocessor that names none (mmdet's ``DetDataPreprocessor`` default)."""


def normalization_metadata(model: nn.Module) -> dict[str, str]:
    """The data preprocessor's ``mean``, ``std`` and channel flip of a host model, as metadata strings."""
    preprocessor = model.data_preprocessor
    flip = any(getattr(preprocessor, name, False) for name in ('_channel_conversion', 'channel_conversion', 'to_rgb'))
    mean = std = None
    if getattr(preprocessor, '_enable_normalize', False):
        mean = preprocessor.mean.flatten().tolist()
        std = preprocessor.std.flatten().tolist()
    return {'mean': json.dumps(mean), 'std': json.dumps(std), 'to_rgb': json.dumps(bool(flip))}


def create_session(onnx_file: str | Path, threads: int | None = None) -> ort.InferenceSession:
    """An onnxruntime CPU session of ``onnx_file``.

    Raises:
        ConfigError: The file is missing or onnxruntime has no kernel for one of its nodes (float16 graphs).
    """
    if not Path(onnx_file).is_file():
        raise ConfigError(f'ONNX file not found: {onnx_file}')
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    try:
        return ort.InferenceSession(str(onnx_file), options, providers=['CPUExecutionProvider'])
    except Exception as error:  # onnxruntime raises its own pybind types
        raise _runtime_error(onnx_file, error) from error


def _runtime_error(onnx_file: str | Path, error: BaseException) -> Exception:
    """A one-line :class:`ConfigError` for a missing kernel, else ``error`` itself."""
    message = str(error)
    if NOT_IMPLEMENTED in message or 'Could not find an implementation' in message:
        detail = message.split('Could not find an implementation for ')[-1].splitlines()[0]
        return ConfigError(
            f'onnxruntime {ort.__version__} ({", ".join(ort.get_available_providers())}) cannot run {onnx_file}: '
            f'no kernel for {detail}; export it without --fp16 or run it on a runtime with float16 kernels'
        )
    return error


class ImagePreprocessor:
    """Image file -> normalised ``(3, h, w)`` float32, as the config's test pipeline and data preprocessor do.

    Args:
        cfg: The config (its ``test_dataloader.dataset.pipeline`` and ``default_scope``).
        normalization: ``mean``, ``std`` and ``to_rgb`` as JSON strings (see :func:`normalization_metadata`).
    """

    def __init__(self, cfg: Config, normalization: dict[str, str]) -> None:
        self.pipeline = build_test_pipeline(cfg)
        self.mean, self.std = (_channel_vector(json.loads(normalization[key])) for key in ('mean', 'std'))
        self.to_rgb = json.loads(normalization['to_rgb'])

    def __call__(self, image: str | Path) -> tuple[np.ndarray, dict]:
        """The normalised image ``(3, h, w)`` float32 and its meta (``img_shape``, ``ori_shape``, ``scale_factor``)."""
        packed = self.pipeline(dict(img_path=str(image)))
        pixels = packed['inputs'].numpy().astype(np.float32)
        if self.to_rgb:
            pixels = pixels[::-1]
        if self.mean is not None:
            pixels = (pixels - self.mean) / self.std
        return np.ascontiguousarray(pixels), dict(packed['data_samples'].metainfo)


def pad_to(pixels: np.ndarray, shape: tuple[int, int], what: str) -> np.ndarray:
    """``pixels`` ``(3, h, w)`` padded at the bottom and right with zeros (as mmdet and mmseg pad) to ``shape``.

    Raises:
        ConfigError: The image is larger than ``shape``.
    """
    height, width = pixels.shape[-2:]
    if height > shape[0] or width > shape[1]:
        raise ConfigError(
            f'the prepared image is {height}x{width} but {what} takes {shape[0]}x{shape[1]}; '
            'export with a larger --shape (or --dynamic for classifiers and segmentors)'
        )
    return np.pad(pixels, ((0, 0), (0, shape[0] - height), (0, shape[1] - width)))


def pad_to_multiple(pixels: np.ndarray, divisor: int) -> np.ndarray:
    """``pixels`` ``(3, h, w)`` padded at the bottom and right with zeros to multiples of ``divisor``.

    mmdet's ``DetDataPreprocessor`` pads a batch of one image this way (``pad_size_divisor``).
    """
    height, width = pixels.shape[-2:]
    return pad_to(pixels, (round_up(height, divisor), round_up(width, divisor)), 'the padding')


def pad_size_divisor(cfg: Config) -> int:
    """The ``model.data_preprocessor.pad_size_divisor`` of a config (:data:`DEFAULT_PAD_DIVISOR` when unset)."""
    preprocessor = cfg.model.get('data_preprocessor') or {}
    return int(preprocessor.get('pad_size_divisor', DEFAULT_PAD_DIVISOR))


def round_up(value: int, multiple: int) -> int:
    """The smallest multiple of ``multiple`` that is at least ``value``."""
    return -(-value // multiple) * multiple


class OnnxModel:
    """An exported graph with the config's test-time preprocessing and postprocessing.

    Args:
        onnx_file: A graph written by ``tools/deployment/export_onnx.py``.
        cfg: The config it was exported from (test pipeline and ``test_cfg``).
        threads: onnxruntime intra-op threads. Defaults to None (onnxruntime's choice).
    """

    def __init__(self, onnx_file: str | Path, cfg: Config, threads: int | None = None) -> None:
        self.session = create_session(onnx_file, threads)
        self.onnx_file = str(onnx_file)
        meta = self.session.get_modelmeta().custom_metadata_map
        missing = [key for key in ('task', 'shape', *NORMALIZATION_KEYS) if key not in meta]
        if missing:
            raise ConfigError(
                f'{onnx_file} lacks the metadata {missing}: export it with tools/deployment/export_onnx.py'
            )
        self.task = meta['task']
        self.classes = json.loads(meta.get('classes', '[]'))
        self.shape = tuple(json.loads(meta['shape']))
        self.dynamic = json.loads(meta.get('dynamic', 'false'))
        self.cfg = cfg
        self.preprocess = ImagePreprocessor(cfg, meta)
        self.pad_divisor = pad_size_divisor(cfg)
        if self.task == 'detection':
            self._check_detector_inputs()

    def _check_detector_inputs(self) -> None:
        """Refuses a detector graph without the ``image_shape`` input (boxes would be clipped to the padding).

        Raises:
            ConfigError: The graph's inputs are not ``inputs`` and ``image_shape``.
        """
        names = [graph_input.name for graph_input in self.session.get_inputs()]
        if names != [INPUT_NAME, IMAGE_SHAPE_NAME]:
            raise ConfigError(
                f'{self.onnx_file} is a detector graph with inputs {names}, not {[INPUT_NAME, IMAGE_SHAPE_NAME]}: '
                'export it again with tools/deployment/export_onnx.py'
            )

    def run(self, inputs: np.ndarray, image_shape: np.ndarray | None = None) -> list[np.ndarray]:
        """The graph's outputs for ``inputs`` ``(N, 3, H, W)`` float32 (normalised).

        Args:
            inputs: The normalised, padded images.
            image_shape: Detectors: ``(2,)`` int64 height and width of the image inside the padding.
        """
        feed = {INPUT_NAME: inputs}
        if image_shape is not None:
            feed[IMAGE_SHAPE_NAME] = np.asarray(image_shape, np.int64)
        try:
            return self.session.run(None, feed)
        except Exception as error:  # onnxruntime raises its own pybind types
            raise _runtime_error(self.onnx_file, error) from error

    def __call__(self, image: str) -> dict[str, Any]:
        """Predicts one image file; see the module docstring for the keys of each task."""
        pixels, meta = self.preprocess(image)
        if self.task == 'classification':
            return self._classify(pixels)
        if self.task == 'segmentation':
            return self._segment(pixels, meta)
        return self._detect(pixels, meta)

    def _classify(self, pixels: np.ndarray) -> dict[str, Any]:
        (logits,) = self.run(self._fit(pixels)[None])
        scores = torch.from_numpy(logits[0]).softmax(-1).numpy()
        topk = np.argsort(-scores, kind='stable')[: min(TOP_K, scores.size)]
        return {'logits': logits[0], 'scores': scores, 'topk': topk}

    def _segment(self, pixels: np.ndarray, meta: dict) -> dict[str, Any]:
        test_cfg = self.cfg.model.get('test_cfg') or {}
        if test_cfg.get('mode', 'whole') == 'slide':
            logits = self._slide(pixels, tuple(test_cfg['crop_size']), tuple(test_cfg['stride']))
        else:
            (logits,) = self.run(self._fit(pixels, pad=False)[None])
        align_corners = bool(self.cfg.model.get('decode_head', {}).get('align_corners', False))
        resized = F.interpolate(
            torch.from_numpy(np.ascontiguousarray(logits)),
            size=tuple(meta['ori_shape'][:2]),
            mode='bilinear',
            align_corners=align_corners,
        )[0]
        return {'seg_logits': resized.numpy(), 'sem_seg': resized.argmax(0).numpy()}

    def _slide(self, pixels: np.ndarray, crop: tuple[int, int], stride: tuple[int, int]) -> np.ndarray:
        """mmseg ``slide_inference``: average the logits of overlapping ``crop`` windows ``(1, C, H, W)``."""
        height, width = pixels.shape[-2:]
        rows = max(height - crop[0] + stride[0] - 1, 0) // stride[0] + 1
        cols = max(width - crop[1] + stride[1] - 1, 0) // stride[1] + 1
        total = count = None
        for row in range(rows):
            for col in range(cols):
                y2, x2 = min(row * stride[0] + crop[0], height), min(col * stride[1] + crop[1], width)
                y1, x1 = max(y2 - crop[0], 0), max(x2 - crop[1], 0)
                window = pixels[:, y1:y2, x1:x2]
                (logits,) = self.run(self._fit(window, pad=False)[None])
                if total is None:
                    total = np.zeros((1, logits.shape[1], height, width), np.float32)
                    count = np.zeros((1, 1, height, width), np.float32)
                total[..., y1:y2, x1:x2] += logits
                count[..., y1:y2, x1:x2] += 1
        return total / count

    def _detect(self, pixels: np.ndarray, meta: dict) -> dict[str, Any]:
        from mmdet.models.roi_heads.mask_heads.fcn_mask_head import _do_paste_mask

        padded = pad_to_multiple(pixels, self.pad_divisor)
        boxes, scores, labels, masks = self.run(padded[None], np.asarray(meta['img_shape'][:2], np.int64))
        scale = np.tile(np.asarray(meta['scale_factor'], np.float32), 2)
        height, width = meta['ori_shape'][:2]
        # mmdet clips to the resized image before rescaling; dividing by the scale factor may pass the
        # original border by a rounding error, which the clip to the original image removes.
        boxes = np.clip(boxes / scale, 0, np.asarray([width, height, width, height], np.float32))
        rcnn_cfg = (self.cfg.model.get('test_cfg') or {}).get('rcnn') or {}
        threshold = rcnn_cfg.get('mask_thr_binary', MASK_THRESHOLD)
        pasted = np.zeros((len(boxes), height, width), dtype=bool)
        for i in range(len(boxes)):
            mask, (rows, cols) = _do_paste_mask(
                torch.from_numpy(masks[i][None, None]), torch.from_numpy(boxes[i][None]), height, width, skip_empty=True
            )
            pasted[i, rows, cols] = (mask[0] >= threshold).numpy()
        return {'bboxes': boxes, 'scores': scores, 'labels': labels, 'masks': pasted}

    def _fit(self, pixels: np.ndarray, pad: bool = True) -> np.ndarray:
        """``pixels`` as the graph takes them: as they are for a dynamic graph, else padded to its shape.

        Args:
            pixels: ``(3, h, w)``.
            pad: Pad to a static graph's shape (mmdet pads its batches the same way). Defaults to True;
                segmentors run unpadded in mmseg, so padding would change their results.

        Raises:
            ConfigError: The image does not fit a static graph (is larger, or differs and ``pad`` is False).
        """
        if self.dynamic:
            return pixels
        if not pad and tuple(pixels.shape[-2:]) != self.shape:
            height, width = pixels.shape[-2:]
            raise ConfigError(
                f'the prepared image (or window) is {height}x{width} but {self.onnx_file} takes only '
                f'{self.shape[0]}x{self.shape[1]}; mmseg runs it unpadded: export the segmentor with --dynamic'
            )
        return pad_to(pixels, self.shape, self.onnx_file)


def _channel_vector(values: list[float] | None) -> np.ndarray | None:
    """``(3, 1, 1)`` float32 of a mean or std, or None."""
    return None if values is None else np.asarray(values, np.float32).reshape(-1, 1, 1)


def build_test_pipeline(cfg: Config) -> Compose:
    """The config's test pipeline without annotation loading, built in the host's scope."""
    steps = [step for step in cfg.test_dataloader.dataset.pipeline if 'Annotations' not in step['type']]
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        return Compose(steps)


def read_metadata(onnx_file: str | Path) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX file."""
    return {entry.key: entry.value for entry in onnx.load(str(onnx_file), load_external_data=False).metadata_props}
