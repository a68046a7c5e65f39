"""ONNX export of Mask R-CNN and Cascade Mask R-CNN: onnxruntime (CPU) detections against mmdet's own inference."""

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from torchvision.ops import box_iou

from convnext.deploy import ExportSpec, OnnxModel, export_onnx, init_model

TOP_K = 5
"""Detections compared per image (issue 14: the top detections)."""

CONFIDENT = 0.3
"""Smallest score of the trained detector's detections that are compared."""

BOX_IOU = 0.99
SCORE_TOLERANCE = 1e-3
MASK_IOU = 0.98
"""Smallest IoU of a pasted mask with mmdet's (both pasted by mmdet's ``_do_paste_mask``)."""

CASCADE_CONFIG = Path(__file__).resolve().parents[2] / 'configs' / 'cascade_mask_rcnn_convnextv2_b_3x.py'
SLIM = 32
"""FPN, RoI and head width of the slimmed Cascade Mask R-CNN."""

pytestmark = pytest.mark.usefixtures('one_thread')


def hard_nms_reference(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``model`` whose R-CNN NMS is hard NMS at the config's IoU (what the graph computes)."""
    reference = copy.deepcopy(model)
    nms = reference.roi_head.test_cfg.nms
    reference.roi_head.test_cfg.nms = type(nms)(type='nms', iou_threshold=nms.iou_threshold)
    return reference


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def assert_top_detections_match(predicted: dict, expected, min_score: float) -> int:
    """Every detection scored ``min_score`` or more by either side (at most :data:`TOP_K` each) has its twin.

    Twins: box IoU above :data:`BOX_IOU`, the same label, scores within
    :data:`SCORE_TOLERANCE`, mask IoU at least :data:`MASK_IOU`. Low-scored
    detections are left out: they come from proposals of near-equal objectness,
    which float rounding between two runtimes may rank either way.

    Returns:
        How many detections were compared.
    """
    ours = {key: torch.as_tensor(predicted[key]) for key in ('bboxes', 'scores', 'labels', 'masks')}
    theirs = {key: getattr(expected, key).cpu() for key in ('bboxes', 'scores', 'labels', 'masks')}
    compared = 0
    for first, second in ((ours, theirs), (theirs, ours)):
        top = torch.nonzero(first['scores'] >= min_score).flatten()[:TOP_K]
        for index in top.tolist():
            ious = box_iou(first['bboxes'][index : index + 1].float(), second['bboxes'].float())[0]
            candidates = torch.nonzero((ious > BOX_IOU) & (second['labels'] == first['labels'][index])).flatten()
            assert len(candidates) > 0, f'no twin for detection {index} (score {float(first["scores"][index]):.3f})'
            twin = int(candidates[0])
            assert abs(float(first['scores'][index]) - float(second['scores'][twin])) <= SCORE_TOLERANCE
            assert mask_iou(first['masks'][index].numpy(), second['masks'][twin].numpy()) >= MASK_IOU
            compared += 1
    return compared


def slim_cascade_config() -> Config:
    """The V2 Cascade Mask R-CNN config with an Atto backbone, narrow heads, three classes, 128x128 test images."""
    cfg = Config.fromfile(str(CASCADE_CONFIG))
    cfg.model.backbone.update(arch='atto', init_cfg=None, drop_path_rate=0.0)
    cfg.model.neck.update(in_channels=[40, 80, 160, 320], out_channels=SLIM)
    cfg.model.rpn_head.update(in_channels=SLIM, feat_channels=SLIM)
    for key in ('bbox_roi_extractor', 'mask_roi_extractor'):
        cfg.model.roi_head[key].out_channels = SLIM
    for head in cfg.model.roi_head.bbox_head:
        head.update(in_channels=SLIM, conv_out_channels=SLIM, fc_out_channels=2 * SLIM, num_classes=3)
    cfg.model.roi_head.mask_head.update(in_channels=SLIM, conv_out_channels=SLIM, num_classes=3)
    cfg.model.test_cfg.rpn.update(nms_pre=200, max_per_img=100)
    for step in cfg.test_dataloader.dataset.pipeline:
        if step['type'] == 'Resize':
            step['scale'] = (128, 128)
    return cfg


def test_mask_rcnn_graph_matches_mmdet_on_the_demo_images(trained_detector: dict, tmp_path: Path) -> None:
    from mmdet.apis import inference_detector

    cfg = Config.fromfile(str(trained_detector['config']))
    model = init_model(cfg, str(trained_detector['checkpoint']))
    size = trained_detector['size']
    path = export_onnx(model, ExportSpec('detection', (size, size)), tmp_path / 'mask_rcnn.onnx')
    runner, reference = OnnxModel(path, cfg, threads=1), hard_nms_reference(model)
    compared = 0
    for image in sorted(trained_detector['val_dir'].glob('*.png')):
        expected = inference_detector(reference, str(image)).pred_instances
        compared += assert_top_detections_match(runner(image), expected, CONFIDENT)
    assert compared > 0, f'the briefly trained detector scored nothing above {CONFIDENT}'


def test_cascade_mask_rcnn_graph_matches_mmdet(images: list[Path], random_checkpoint, tmp_path: Path) -> None:
    from mmdet.apis import inference_detector

    config, checkpoint = random_checkpoint(slim_cascade_config(), tmp_path, ('circle', 'square', 'triangle'))
    cfg = Config.fromfile(str(config))
    model = init_model(cfg, str(checkpoint))
    path = export_onnx(model, ExportSpec('detection', (128, 128)), tmp_path / 'cascade.onnx')
    runner, reference = OnnxModel(path, cfg, threads=1), hard_nms_reference(model)
    expected = inference_detector(reference, str(images[0])).pred_instances
    # Random weights: every score is low, so the top ones are compared whatever they are.
    assert assert_top_detections_match(runner(images[0]), expected, float(expected.scores[TOP_K - 1])) > 0


def test_detector_graph_has_only_standard_onnx_ops(trained_detector: dict, tmp_path: Path) -> None:
    import onnx

    cfg = Config.fromfile(str(trained_detector['config']))
    model = init_model(cfg, str(trained_detector['checkpoint']))
    size = trained_detector['size']
    path = export_onnx(model, ExportSpec('detection', (size, size), fp16=True), tmp_path / 'det16.onnx')
    graph = onnx.load(str(path))
    onnx.checker.check_model(graph, full_check=True)
    assert {opset.domain for opset in graph.opset_import} <= {'', 'ai.onnx'}
    ops = {node.op_type for node in graph.graph.node}
    assert {'RoiAlign', 'NonMaxSuppression'} <= ops
    black = np.zeros((size, size, 3), np.uint8)
    from PIL import Image

    Image.fromarray(black).save(tmp_path / 'black.png')
    result = OnnxModel(path, cfg, threads=1)(tmp_path / 'black.png')  # nothing to detect: empty outputs, no error
    assert result['masks'].shape[1:] == (size, size)
    assert all(np.isfinite(result[key]).all() for key in ('bboxes', 'scores'))
