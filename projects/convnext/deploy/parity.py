"""Whether an exported detector reproduces the PyTorch model: detections matched one by one.

Counting detections says little (two runs can find as many boxes in other
places); :func:`compare_detections` instead gives every confident detection of
either side its twin on the other (same label, the best-overlapping box) and
checks the twin's box IoU, score and mask IoU against a
:class:`DetectionTolerance`. :func:`mmdet_detections` is the reference: mmdet's
own ``inference_detector`` (the config's test pipeline, resize, padding to
``pad_size_divisor``, clipping to ``img_shape``, rescaling).
"""

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torchvision.ops import box_iou

DETECTION_KEYS = ('bboxes', 'scores', 'labels', 'masks')
"""Keys of a detection result (``masks`` optional): boxes ``(K, 4)`` x1 y1 x2 y2, ``(K,)`` scores and labels,
``(K, H, W)`` binary masks."""


@dataclass(frozen=True)
class DetectionTolerance:
    """How close twin detections must be.

    Args:
        box_iou: Smallest IoU of a box with its twin. Defaults to 0.99.
        score: Largest absolute score difference. Defaults to 1e-3.
        mask_iou: Smallest IoU of a binary mask with its twin's. Defaults to 0.98.
        min_score: Detections scored below this on both sides are not compared: they come from proposals of
            near-equal objectness, which float rounding in two runtimes may rank either way. Defaults to 0.3.
        top_k: Most detections compared per side (the best scored). Defaults to 5.
    """

    box_iou: float = 0.99
    score: float = 1e-3
    mask_iou: float = 0.98
    min_score: float = 0.3
    top_k: int = 5


FP16_TOLERANCE = DetectionTolerance(box_iou=0.9, score=0.05, mask_iou=0.8)
"""Tolerance of a graph whose backbone and neck run in float16, against float32 PyTorch."""


@dataclass(frozen=True)
class DetectionParity:
    """The outcome of :func:`compare_detections`.

    Args:
        compared: Detections given a twin (both directions counted).
        worst_box_iou: Smallest box IoU of a compared detection with its twin (1.0 when none).
        worst_score: Largest score difference (0.0 when none).
        worst_mask_iou: Smallest mask IoU (1.0 when none or no masks).
        mismatch: The first detection whose twin is missing or too far, described; None when all match.
    """

    compared: int
    worst_box_iou: float
    worst_score: float
    worst_mask_iou: float
    mismatch: str | None

    def summary(self, tolerance: DetectionTolerance) -> str:
        """One line: how many detections matched and how closely."""
        if self.compared == 0:
            return f'no detection scored {tolerance.min_score} or more on either side'
        return (
            f'{self.compared} detections matched: box IoU >= {self.worst_box_iou:.4f}, '
            f'|score difference| <= {self.worst_score:.2g}, mask IoU >= {self.worst_mask_iou:.3f}'
        )


def compare_detections(
    ours: Mapping[str, np.ndarray | torch.Tensor],
    reference: Mapping[str, np.ndarray | torch.Tensor],
    tolerance: DetectionTolerance = DetectionTolerance(),  # noqa: B008 (frozen dataclass: immutable)
    names: tuple[str, str] = ('onnxruntime', 'PyTorch'),
) -> DetectionParity:
    """Gives each of the ``tolerance.top_k`` best detections of either side scored ``tolerance.min_score`` or
    more its twin on the other side, the detection of the same label whose box overlaps most, and measures them.

    Args:
        ours: Detections (see :data:`DETECTION_KEYS`) in original-image pixels.
        reference: The detections to reproduce, likewise.
        tolerance: What counts as the same detection. Defaults to :class:`DetectionTolerance`'s defaults.
        names: What ``ours`` and ``reference`` are called in the mismatch message.
            Defaults to ``('onnxruntime', 'PyTorch')``.

    Returns:
        The count, the worst differences and the first mismatch (None when every detection has its twin).
    """
    sides = [_as_tensors(ours), _as_tensors(reference)]
    with_masks = all('masks' in side for side in sides)
    twins: list[_Twin] = []
    for first, second in ((0, 1), (1, 0)):
        for index in _confident(sides[first]['scores'], tolerance):
            twin = _find_twin(sides[first], index, sides[second], with_masks)
            what = f'{names[first]} detection {_describe(sides[first], index)}'
            if twin is None:
                return _parity(twins, f'{what} has no twin of its label in {names[second]}')
            if not twin.within(tolerance):
                return _parity(
                    twins,
                    f'{what} vs {names[second]} {_describe(sides[second], twin.index)}: box IoU {twin.box_iou:.4f} '
                    f'(at least {tolerance.box_iou}), score difference {twin.score:.2g} (at most {tolerance.score}), '
                    f'mask IoU {twin.mask_iou:.3f} (at least {tolerance.mask_iou})',
                )
            twins.append(twin)
    return _parity(twins, None)


@dataclass(frozen=True)
class _Twin:
    """A detection's twin on the other side: its index, box IoU, score difference and mask IoU."""

    index: int
    box_iou: float
    score: float
    mask_iou: float

    def within(self, tolerance: DetectionTolerance) -> bool:
        return (
            self.box_iou >= tolerance.box_iou and self.score <= tolerance.score and self.mask_iou >= tolerance.mask_iou
        )


def _parity(twins: list[_Twin], mismatch: str | None) -> DetectionParity:
    return DetectionParity(
        compared=len(twins),
        worst_box_iou=min((twin.box_iou for twin in twins), default=1.0),
        worst_score=max((twin.score for twin in twins), default=0.0),
        worst_mask_iou=min((twin.mask_iou for twin in twins), default=1.0),
        mismatch=mismatch,
    )


def _as_tensors(result: Mapping[str, np.ndarray | torch.Tensor]) -> dict[str, torch.Tensor]:
    return {key: torch.as_tensor(np.asarray(result[key])) for key in DETECTION_KEYS if key in result}


def _confident(scores: torch.Tensor, tolerance: DetectionTolerance) -> list[int]:
    """Indices of the ``top_k`` best scores that reach ``min_score``, best first."""
    order = torch.argsort(scores, descending=True, stable=True)
    return [int(i) for i in order[: tolerance.top_k] if float(scores[i]) >= tolerance.min_score]


def _find_twin(side: dict[str, torch.Tensor], index: int, other: dict[str, torch.Tensor], masks: bool) -> _Twin | None:
    """The detection of ``other`` with the label of ``side``'s ``index`` whose box overlaps most, or None."""
    same = torch.nonzero(other['labels'] == side['labels'][index]).flatten()
    if len(same) == 0:
        return None
    ious = box_iou(side['bboxes'][index].reshape(1, 4).double(), other['bboxes'][same].reshape(-1, 4).double())[0]
    best = int(same[int(torch.argmax(ious))])
    return _Twin(
        index=best,
        box_iou=float(ious.max()),
        score=abs(float(side['scores'][index]) - float(other['scores'][best])),
        mask_iou=_mask_iou(side['masks'][index], other['masks'][best]) if masks else 1.0,
    )


def _mask_iou(first: torch.Tensor, second: torch.Tensor) -> float:
    union = torch.logical_or(first.bool(), second.bool()).sum()
    return 1.0 if int(union) == 0 else float(torch.logical_and(first.bool(), second.bool()).sum() / union)


def _describe(side: dict[str, torch.Tensor], index: int) -> str:
    box = ', '.join(f'{float(v):.1f}' for v in side['bboxes'][index])
    return f'[{box}] label {int(side["labels"][index])} score {float(side["scores"][index]):.3f}'


def mmdet_detections(detector: nn.Module, image: str | Path) -> dict[str, np.ndarray]:
    """mmdet's ``inference_detector`` of ``detector`` (built by ``init_detector``, which sets its ``cfg``) on an
    image file, as arrays of :data:`DETECTION_KEYS`."""
    from mmdet.apis import inference_detector

    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # mmdet's mask head warns about its own tensor construction
        instances = inference_detector(detector, str(image)).pred_instances
    return {key: getattr(instances, key).cpu().numpy() for key in DETECTION_KEYS if key in instances}
