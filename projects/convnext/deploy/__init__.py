"""From a trained checkpoint to deployment: ONNX export and an onnxruntime runner.

- :func:`init_model` builds the host's model of a config and refuses a
  checkpoint whose keys do not fit it;
- :func:`export_onnx` writes the test path of a classifier, segmentor or
  Mask R-CNN / Cascade Mask R-CNN as a graph of standard ONNX operators
  (optionally float16 with float32 GRN and LayerNorm statistics);
- :class:`OnnxModel` runs such a graph in onnxruntime on image files,
  prepared by the config's own test pipeline;
- :func:`compare_detections` matches an exported detector's detections with
  mmdet's own (:func:`mmdet_detections`) within a :class:`DetectionTolerance`.

Needs the ``deploy`` extras (``onnx``, ``onnxruntime``); the hosts are
imported only for the task at hand.
"""

from .export import DEFAULT_OPSET, ExportSpec, check_spec, export_onnx, half_statistics_nodes, statistics_nodes
from .models import TASKS, check_checkpoint_fits, init_model, model_stride, task_of
from .parity import (
    FP16_TOLERANCE,
    DetectionParity,
    DetectionTolerance,
    compare_detections,
    mmdet_detections,
)
from .runtime import OnnxModel, build_test_pipeline, create_session, pad_size_divisor, pad_to_multiple

__all__ = [
    'DEFAULT_OPSET',
    'FP16_TOLERANCE',
    'TASKS',
    'DetectionParity',
    'DetectionTolerance',
    'ExportSpec',
    'OnnxModel',
    'build_test_pipeline',
    'check_checkpoint_fits',
    'check_spec',
    'compare_detections',
    'create_session',
    'export_onnx',
    'half_statistics_nodes',
    'init_model',
    'mmdet_detections',
    'model_stride',
    'pad_size_divisor',
    'pad_to_multiple',
    'statistics_nodes',
    'task_of',
]
