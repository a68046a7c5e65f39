"""ONNX export of Mask R-CNN and Cascade Mask R-CNN: onnxruntime (CPU) detections against mmdet's own inference."""

from pathlib import Path

import numpy as np
import onnx
import pytest
from mmengine.config import Config
from PIL import Image

from convnext.deploy import (
    DetectionTolerance,
    ExportSpec,
    OnnxModel,
    compare_detections,
    export_onnx,
    init_model,
    mmdet_detections,
)
from convnext.deploy.detection import hard_nms_model

TOP_K = 5
"""Detections compared per image: the top ones."""

TOLERANCE = DetectionTolerance(box_iou=0.99, score=1e-3, mask_iou=0.98, min_score=0.3, top_k=TOP_K)
"""Twins: box IoU above 0.99, the same label, scores within 1e-3, mask IoU at least 0.98 (both masks pasted by
mmdet's ``_do_paste_mask``), for detections scored 0.3 or more by the briefly trained detector."""

pytestmark = pytest.mark.usefixtures('one_thread')


def assert_detections_match(onnx_model: OnnxModel, reference, image: Path, tolerance: DetectionTolerance) -> int:
    """The graph's detections on ``image`` against mmdet's; returns how many were compared."""
    parity = compare_detections(onnx_model(image), mmdet_detections(reference, image), tolerance)
    assert parity.mismatch is None, f'{image.name}: {parity.mismatch}'
    return parity.compared


def wide_image(sources: list[Path], path: Path, height: int) -> Path:
    """The ``sources`` side by side, the bottom rows cut to ``height`` (objects cut by the border), saved to ``path``.

    A height that is no multiple of 32 needs padding, and objects at the bottom border test the clipping.
    """
    tiles = [np.asarray(Image.open(source).convert('RGB')) for source in sources]
    Image.fromarray(np.concatenate(tiles, axis=1)[:height]).save(path)
    return path


@pytest.fixture(scope='module')
def mask_rcnn(trained_detector: dict, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The trained demo detector, its hard-NMS reference and its graph in onnxruntime."""
    cfg = Config.fromfile(str(trained_detector['config']))
    model = init_model(cfg, str(trained_detector['checkpoint']))
    size = trained_detector['size']
    path = export_onnx(model, ExportSpec('detection', (size, size)), tmp_path_factory.mktemp('onnx') / 'mask_rcnn.onnx')
    return {'model': model, 'reference': hard_nms_model(model), 'onnx': OnnxModel(path, cfg, threads=1), 'path': path}


def test_mask_rcnn_graph_matches_mmdet_on_the_demo_images(trained_detector: dict, mask_rcnn: dict) -> None:
    compared = sum(
        assert_detections_match(mask_rcnn['onnx'], mask_rcnn['reference'], image, TOLERANCE)
        for image in sorted(trained_detector['val_dir'].glob('*.png'))
    )
    assert compared > 0, f'the briefly trained detector scored nothing above {TOLERANCE.min_score}'


def test_mask_rcnn_graph_matches_mmdet_on_non_square_images(
    trained_detector: dict, mask_rcnn: dict, tmp_path: Path
) -> None:
    val = sorted(trained_detector['val_dir'].glob('*.png'))
    size = trained_detector['size']
    wide = wide_image(val[:2], tmp_path / 'wide.png', size - size // 8)
    tall = tmp_path / 'tall.png'
    Image.open(wide).transpose(Image.Transpose.TRANSPOSE).save(tall)
    compared = sum(
        assert_detections_match(mask_rcnn['onnx'], mask_rcnn['reference'], image, TOLERANCE) for image in (wide, tall)
    )
    assert compared > 0, f'the briefly trained detector scored nothing above {TOLERANCE.min_score}'


def test_boxes_stay_inside_a_non_square_image(trained_detector: dict, mask_rcnn: dict, tmp_path: Path) -> None:
    val = sorted(trained_detector['val_dir'].glob('*.png'))
    image = wide_image(val[:4], tmp_path / 'strip.png', trained_detector['size'] // 2)
    width, height = Image.open(image).size
    result = mask_rcnn['onnx'](image)
    assert len(result['bboxes']) > 0
    assert (result['bboxes'] >= 0).all() and (result['bboxes'][:, 0::2] <= width).all()
    assert (result['bboxes'][:, 1::2] <= height).all()
    assert result['masks'].shape[1:] == (height, width)


def test_detector_graph_takes_any_height_and_width(mask_rcnn: dict) -> None:
    graph = onnx.load(str(mask_rcnn['path']), load_external_data=False)
    inputs = {
        value.name: [dim.dim_param or dim.dim_value for dim in value.type.tensor_type.shape.dim]
        for value in graph.graph.input
    }
    assert inputs == {'inputs': [1, 3, 'height', 'width'], 'image_shape': [2]}


def test_cascade_mask_rcnn_graph_matches_mmdet(images: list[Path], cascade: dict, tmp_path: Path) -> None:
    wide = wide_image([images[0], images[0]], tmp_path / 'wide.png', 100)
    for image in (images[0], images[1], wide):  # 128x128, 112x80 and 256x100
        expected = mmdet_detections(cascade['reference'], image)
        # Random weights: every score is low, so the top ones are compared whatever they are.
        tolerance = DetectionTolerance(min_score=float(np.sort(expected['scores'])[-TOP_K]), top_k=TOP_K)
        parity = compare_detections(cascade['onnx'](image), expected, tolerance)
        assert parity.mismatch is None and parity.compared > 0, (image.name, parity)


@pytest.fixture(scope='module')
def cascade(tmp_path_factory: pytest.TempPathFactory, load_tool) -> dict:
    """The slimmed Cascade Mask R-CNN with random weights, its hard-NMS reference and its graph in onnxruntime."""
    folder = tmp_path_factory.mktemp('cascade')
    config, checkpoint = load_tool('tests/deploy/deploy_fixtures.py').cascade_checkpoint(folder)
    cfg = Config.fromfile(str(config))
    model = init_model(cfg, str(checkpoint))
    path = export_onnx(model, ExportSpec('detection', (128, 128)), folder / 'cascade.onnx')
    return {'reference': hard_nms_model(model), 'onnx': OnnxModel(path, cfg, threads=1)}


def test_detector_graph_has_only_standard_onnx_ops(trained_detector: dict, tmp_path: Path) -> None:
    cfg = Config.fromfile(str(trained_detector['config']))
    model = init_model(cfg, str(trained_detector['checkpoint']))
    size = trained_detector['size']
    path = export_onnx(model, ExportSpec('detection', (size, size), fp16=True), tmp_path / 'det16.onnx')
    graph = onnx.load(str(path))
    onnx.checker.check_model(graph, full_check=True)
    assert {opset.domain for opset in graph.opset_import} <= {'', 'ai.onnx'}
    ops = {node.op_type for node in graph.graph.node}
    assert {'RoiAlign', 'NonMaxSuppression'} <= ops
    Image.fromarray(np.zeros((size, 2 * size, 3), np.uint8)).save(tmp_path / 'black.png')
    result = OnnxModel(path, cfg, threads=1)(tmp_path / 'black.png')  # nothing to detect: empty outputs, no error
    assert result['masks'].shape[1:] == (size, 2 * size)
    assert all(np.isfinite(result[key]).all() for key in ('bboxes', 'scores'))
