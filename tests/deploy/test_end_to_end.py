"""The detection demo's trained checkpoint through tools/infer.py and tools/deployment/export_onnx.py."""

import json
import re
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from mmengine.config import Config
from pycocotools import mask as mask_utils
from torchvision.ops import box_iou

from convnext.deploy import OnnxModel

SCORE_THRESHOLD = 0.3
BOX_IOU = 0.99
SCORE_TOLERANCE = 1e-3
MASK_IOU = 0.98

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures('one_thread')]


def test_trained_detector_goes_through_infer_and_export(
    trained_detector: dict, load_tool: Callable[[str], ModuleType], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    config, checkpoint, val_dir = (str(trained_detector[key]) for key in ('config', 'checkpoint', 'val_dir'))
    size = trained_detector['size']
    out = tmp_path / 'infer'
    infer = load_tool('tools/infer.py')
    assert infer.main([config, checkpoint, val_dir, '--out-dir', str(out), '--score-thr', str(SCORE_THRESHOLD)]) == 0
    infer_output = capsys.readouterr()
    assert 'Failed to search registry' not in infer_output.out + infer_output.err  # mmengine's harmless fallback
    result = json.loads((out / 'predictions.json').read_text())
    predictions = result['predictions']
    assert len(predictions) == len(list(Path(val_dir).glob('*.png'))) and result['failed'] == []
    assert any(prediction['instances'] for prediction in predictions), 'the trained demo model detects nothing'
    for prediction in predictions:
        assert (out / prediction['vis']).is_file()
        for instance in prediction['instances']:
            mask = mask_utils.decode({**instance['mask'], 'counts': instance['mask']['counts'].encode()})
            assert mask.shape == (trained_detector['size'],) * 2 and instance['score'] >= SCORE_THRESHOLD
            assert instance['class'] == result['classes'][instance['label']]

    onnx_file = tmp_path / 'detector.onnx'
    export = load_tool('tools/deployment/export_onnx.py')
    assert export.main([config, checkpoint, '--out', str(onnx_file), '--image', predictions[0]['image']]) == 0
    printed = capsys.readouterr().out
    assert 'soft_nms has no ONNX operator; exported as hard NMS' in printed
    # The check matches detections with mmdet's on the image and on it beside its mirror image (non-square; at
    # the demo's 64-pixel test scale its objects may shrink below the confident scores).
    checks = re.findall(r'onnxruntime check on (.+?): (.+) \(mmdet inference, hard NMS\)', printed)
    assert [name.endswith(f'beside its mirror image ({2 * size}x{size})') for name, _ in checks] == [False, True]
    assert re.match(r'[1-9]\d* detections matched', checks[0][1]), printed

    # Soft-NMS (infer.py, the config's) never lowers the best score, so the top detection must agree.
    runner = OnnxModel(onnx_file, Config.fromfile(config), threads=1)
    for prediction in predictions:
        if not prediction['instances']:
            continue
        best = prediction['instances'][0]
        onnx_result = runner(prediction['image'])
        iou = box_iou(torch.tensor([best['bbox']]), torch.from_numpy(onnx_result['bboxes'][:1]))
        assert float(iou) > BOX_IOU and int(onnx_result['labels'][0]) == best['label']
        assert abs(float(onnx_result['scores'][0]) - best['score']) <= SCORE_TOLERANCE
        mask = mask_utils.decode({**best['mask'], 'counts': best['mask']['counts'].encode()}) > 0
        overlap = np.logical_and(mask, onnx_result['masks'][0]).sum() / max(
            np.logical_or(mask, onnx_result['masks'][0]).sum(), 1
        )
        assert overlap >= MASK_IOU
