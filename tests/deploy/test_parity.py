"""compare_detections: twins matched by label and box, within box-IoU, score and mask tolerances."""

import numpy as np
import pytest

from convnext.deploy import DetectionTolerance, compare_detections

IMAGE = (40, 60)
"""(H, W) of the masks."""


def detections(boxes: list[list[float]], scores: list[float], labels: list[int]) -> dict[str, np.ndarray]:
    """Detections with box-shaped binary masks."""
    masks = np.zeros((len(boxes), *IMAGE), bool)
    for mask, (x1, y1, x2, y2) in zip(masks, boxes, strict=True):
        mask[int(y1) : int(y2), int(x1) : int(x2)] = True
    return {
        'bboxes': np.asarray(boxes, np.float32).reshape(-1, 4),
        'scores': np.asarray(scores, np.float32),
        'labels': np.asarray(labels, np.int64),
        'masks': masks,
    }


REFERENCE = detections([[10, 5, 30, 25], [35, 10, 55, 35], [0, 0, 8, 8]], [0.9, 0.6, 0.1], [0, 2, 1])


def test_identical_detections_match_in_both_directions() -> None:
    parity = compare_detections(REFERENCE, REFERENCE)
    # Two confident detections on each side (the third scores 0.1, below min_score 0.3).
    assert parity.mismatch is None and parity.compared == 4
    assert parity.worst_box_iou == 1.0 and parity.worst_score == 0.0 and parity.worst_mask_iou == 1.0
    assert parity.summary(DetectionTolerance()).startswith('4 detections matched: box IoU >= 1.0000')


def test_order_does_not_matter_and_small_differences_pass() -> None:
    order = [2, 1, 0]
    ours = {key: value[order] for key, value in REFERENCE.items()}
    ours['bboxes'] = ours['bboxes'] + np.float32(0.01)
    ours['scores'] = ours['scores'] + np.float32(2e-4)
    parity = compare_detections(ours, REFERENCE)
    assert parity.mismatch is None and parity.compared == 4
    assert 0.99 < parity.worst_box_iou < 1.0 and parity.worst_score == pytest.approx(2e-4, rel=1e-2)


def test_a_box_beyond_the_image_is_a_mismatch() -> None:
    # The exported graph's fault on non-square images: boxes clipped to the padded input, not the image.
    ours = {key: value.copy() for key, value in REFERENCE.items()}
    ours['bboxes'][1] = [35, 10, 55, 44]
    parity = compare_detections(ours, REFERENCE)
    assert parity.mismatch is not None
    assert parity.mismatch.startswith('onnxruntime detection [35.0, 10.0, 55.0, 44.0] label 2 score 0.600 vs PyTorch')
    assert 'box IoU 0.7353 (at least 0.99)' in parity.mismatch


def test_a_score_difference_is_a_mismatch_even_with_the_same_box() -> None:
    ours = {key: value.copy() for key, value in REFERENCE.items()}
    ours['scores'][0] = 0.942
    parity = compare_detections(ours, REFERENCE)
    assert 'score difference 0.042 (at most 0.001)' in parity.mismatch


def test_a_detection_of_another_label_has_no_twin() -> None:
    ours = {key: value.copy() for key, value in REFERENCE.items()}
    ours['labels'][0] = 5
    parity = compare_detections(ours, REFERENCE, names=('ours', 'mmdet'))
    assert (
        parity.mismatch
        == 'ours detection [10.0, 5.0, 30.0, 25.0] label 5 score 0.900 has no twin of its label in mmdet'
    )


def test_a_missing_detection_is_found_from_the_reference_side() -> None:
    ours = {key: value[:1] for key, value in REFERENCE.items()}
    parity = compare_detections(ours, REFERENCE)
    assert parity.compared == 2 and parity.mismatch.startswith('PyTorch detection [35.0, 10.0, 55.0, 35.0] label 2')


def test_low_scores_and_ranks_beyond_top_k_are_not_compared() -> None:
    ours = {key: value[:2] for key, value in REFERENCE.items()}  # the 0.1 detection is missing: not compared
    assert compare_detections(ours, REFERENCE).mismatch is None
    only_best = DetectionTolerance(top_k=1)
    ours = {key: value[:1] for key, value in REFERENCE.items()}  # the second-best is missing: beyond top_k
    assert compare_detections(ours, REFERENCE, only_best).compared == 2


def test_masks_are_compared_when_both_sides_have_them() -> None:
    ours = {key: value.copy() for key, value in REFERENCE.items()}
    ours['masks'][0] = False
    assert 'mask IoU 0.000 (at least 0.98)' in compare_detections(ours, REFERENCE).mismatch
    without_masks = {key: value for key, value in ours.items() if key != 'masks'}
    assert compare_detections(without_masks, REFERENCE).mismatch is None


def test_nothing_confident_compares_nothing() -> None:
    low = detections([[0, 0, 8, 8]], [0.1], [0])
    parity = compare_detections(low, detections([], [], []))
    assert parity.compared == 0 and parity.mismatch is None
    assert parity.summary(DetectionTolerance()) == 'no detection scored 0.3 or more on either side'
