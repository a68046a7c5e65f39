"""ONNX export of classifiers, segmentors and two-stage detectors, and checks of the exported graph.

The graphs are traced with PyTorch's TorchScript-based exporter
(``torch.onnx.export(..., dynamo=False)``): it maps torchvision's RoIAlign and
NMS to the standard ONNX ``RoiAlign`` and ``NonMaxSuppression`` through
torchvision's registered symbolics, records data-dependent shapes (boxes that
survive NMS) as ordinary ONNX ops, and needs no ``onnxscript``. The
``torch.export``-based exporter needs the detector's Python control flow
rewritten for symbolic shapes first.
"""

import copy
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import onnx
import torch
from torch import nn

from ..exceptions import ConfigError
from ..models.layers import GRN, LayerNorm2d
from .graphs import IMAGE_SHAPE_NAME, INPUT_NAME, OUTPUT_NAMES, ClassifierGraph, SegmentorGraph, replace_adaptive_pools
from .runtime import normalization_metadata, round_up

DEFAULT_OPSET = 17
"""ONNX opset of the export: ``RoiAlign`` with ``half_pixel`` (mmcv's ``aligned=True``) and ``LayerNormalization``."""

MIN_OPSET = 16
"""Lowest opset whose ``RoiAlign`` matches mmcv's ``aligned=True``."""

STATISTIC_OPS = ('ReduceL2', 'ReduceSum', 'ReduceMean', 'ReduceSumSquare', 'Pow', 'Sqrt', 'LayerNormalization')
"""ONNX ops that compute GRN's and LayerNorm's statistics; in an fp16 graph they must read float32."""

DYNAMIC_AXES = {'classification': {0: 'batch', 2: 'height', 3: 'width'}, 'detection': {2: 'height', 3: 'width'}}
"""Dynamic axes of the input of a ``--dynamic`` export (segmentors add the output's). A detector graph always
has a dynamic height and width (one image): mmdet pads each image only to a multiple of ``pad_size_divisor``,
and a fixed, larger padding changes the features near the image's border."""

DETECTIONS_AXIS = {0: 'detections'}
"""The data-dependent first axis of every detector output."""


@dataclass(frozen=True)
class ExportSpec:
    """What to export.

    Args:
        task: ``'classification'``, ``'segmentation'`` or ``'detection'``.
        shape: ``(H, W)`` of the traced input.
        dynamic: Batch, height and width left dynamic (classifiers and segmentors; a detector graph always
            has a dynamic height and width, see :data:`DYNAMIC_AXES`). Defaults to False.
        fp16: Run the network in float16 (inputs and outputs stay float32). Defaults to False.
        opset: ONNX opset. Defaults to :data:`DEFAULT_OPSET`.
    """

    task: str
    shape: tuple[int, int]
    dynamic: bool = False
    fp16: bool = False
    opset: int = DEFAULT_OPSET

    @property
    def dynamic_size(self) -> bool:
        """Whether the graph takes any height and width (``--dynamic``, or any detector)."""
        return self.dynamic or self.task == 'detection'


def build_graph(model: nn.Module, spec: ExportSpec) -> nn.Module:
    """The module whose trace becomes the ONNX graph, around a copy of ``model`` (``model`` is not changed)."""
    model = replace_adaptive_pools(copy.deepcopy(model).eval())
    if spec.task == 'classification':
        return ClassifierGraph(model, half=spec.fp16)
    if spec.task == 'segmentation':
        return SegmentorGraph(model, half=spec.fp16)
    from .detection import TwoStageGraph  # imports mmdet

    return TwoStageGraph(model, half=spec.fp16)


def check_spec(spec: ExportSpec, stride: int) -> None:
    """Refuses what cannot be exported, in one line.

    Raises:
        ConfigError: A side not divisible by ``stride``, or an opset below 16.
    """
    height, width = spec.shape
    if height % stride or width % stride:
        raise ConfigError(
            f'--shape {height} {width}: height and width must be multiples of the model stride {stride} '
            f'(e.g. {round_up(height, stride)} {round_up(width, stride)})'
        )
    if spec.opset < MIN_OPSET:
        raise ConfigError(
            f'--opset {spec.opset}: at least {MIN_OPSET} is needed (RoiAlign half_pixel, LayerNormalization)'
        )


def export_onnx(
    model: nn.Module,
    spec: ExportSpec,
    out: str | Path,
    example: torch.Tensor | None = None,
    image_shape: tuple[int, int] | None = None,
) -> Path:
    """Traces ``model``'s test path and writes the ONNX graph to ``out``.

    Args:
        model: The host model in eval mode (see :func:`convnext.deploy.init_model`).
        spec: Task, shape and options.
        out: The ``.onnx`` file to write (folders created).
        example: Input ``(1, 3, H, W)`` to trace with, normalised. Detectors
            should get a real image: a trace freezes the branches mmdet's box
            coder takes when no box survives. Defaults to a random tensor of ``spec.shape``.
        image_shape: Detectors: ``(h, w)`` of the image inside the padded
            ``example`` (mmdet's ``img_shape``). Defaults to the example's size.

    Returns:
        The written path.

    Raises:
        ConfigError: PyTorch has no float16 kernel for an op on this device (``fp16``).
    """
    graph = build_graph(model, spec)
    if example is None:
        example = torch.randn(1, 3, *spec.shape)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    names = OUTPUT_NAMES[spec.task]
    inputs, input_names = (example,), [INPUT_NAME]
    if spec.task == 'detection':
        shape = tuple(example.shape[-2:]) if image_shape is None else image_shape
        inputs, input_names = (example, torch.tensor(shape, dtype=torch.int64)), [INPUT_NAME, IMAGE_SHAPE_NAME]
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter('ignore')  # the TorchScript exporter's deprecation and tracer warnings
        try:
            torch.onnx.export(
                graph,
                inputs,
                str(out),
                dynamo=False,
                opset_version=spec.opset,
                input_names=input_names,
                output_names=list(names),
                dynamic_axes=_dynamic_axes(spec) if spec.dynamic_size else None,
            )
        except RuntimeError as error:
            if spec.fp16 and 'Half' in str(error):
                raise ConfigError(
                    f'--fp16: this PyTorch build has no float16 kernel for an op on the CPU ({_first_line(error)}); '
                    'export on a GPU (--device cuda) or without --fp16'
                ) from error
            raise
    _add_metadata(out, model, spec)
    return out


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _dynamic_axes(spec: ExportSpec) -> dict[str, dict[int, str]]:
    """Dynamic axes of the input and outputs (batch, and height and width for dense outputs)."""
    if spec.task == 'detection':
        return {INPUT_NAME: DYNAMIC_AXES['detection'], **dict.fromkeys(OUTPUT_NAMES['detection'], DETECTIONS_AXIS)}
    axes = {INPUT_NAME: DYNAMIC_AXES['classification']}
    if spec.task == 'classification':
        axes['logits'] = {0: 'batch'}
    else:
        axes['seg_logits'] = DYNAMIC_AXES['classification']
    return axes


def _add_metadata(path: Path, model: nn.Module, spec: ExportSpec) -> None:
    """Writes the task, classes and export options into the graph's ``metadata_props``."""
    graph = onnx.load(str(path))
    classes = list((getattr(model, 'dataset_meta', None) or {}).get('classes') or [])
    entries = {
        'task': spec.task,
        'classes': json.dumps(classes),
        'shape': json.dumps(list(spec.shape)),
        'dynamic': json.dumps(spec.dynamic_size),
        'fp16': json.dumps(spec.fp16),
        **normalization_metadata(model),
    }
    for key, value in entries.items():
        graph.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))
    onnx.save(graph, str(path))


def statistics_nodes(graph: onnx.ModelProto, model: nn.Module) -> list[tuple[str, str, str]]:
    """The nodes that compute GRN and LayerNorm statistics, with the dtype they read.

    Nodes are matched by the module scope the TorchScript exporter writes into
    node names (``/backbone/stages.0/stages.0.1/grn/ReduceL2``).

    Args:
        graph: The exported ONNX model.
        model: The exported module (for the names of its GRN and LayerNorm modules).

    Returns:
        ``(node name, op type, input dtype name)`` of every :data:`STATISTIC_OPS` node in a GRN or LayerNorm scope.
    """
    scopes = [name for name, module in model.named_modules() if _is_statistics_module(module)]
    inferred = onnx.shape_inference.infer_shapes(graph)
    dtypes = {value.name: value.type.tensor_type.elem_type for value in _all_values(inferred)}
    found = []
    for node in inferred.graph.node:
        if node.op_type not in STATISTIC_OPS or not _in_scopes(node.name, scopes):
            continue
        dtype = dtypes.get(node.input[0], onnx.TensorProto.UNDEFINED)
        found.append((node.name, node.op_type, onnx.TensorProto.DataType.Name(dtype)))
    return found


def _is_statistics_module(module: nn.Module) -> bool:
    return isinstance(module, (GRN, LayerNorm2d, nn.LayerNorm))


def _in_scopes(node_name: str, qualified_names: list[str]) -> bool:
    """Whether the node's innermost module scope is one of the modules ``qualified_names``.

    The exporter writes each scope as the module's dotted name below the
    nearest called ancestor (``stages.0.1``, ``grn``, ``downsample_layers.0.1``).
    """
    parts = node_name.strip('/').split('/')[:-1]
    if not parts or parts[-1].isdigit():
        return False
    return any(name == parts[-1] or name.endswith(f'.{parts[-1]}') for name in qualified_names)


def _all_values(model: onnx.ModelProto) -> list:
    graph = model.graph
    return [*graph.input, *graph.output, *graph.value_info]


def half_statistics_nodes(graph: onnx.ModelProto, model: nn.Module) -> list[tuple[str, str, str]]:
    """The GRN/LayerNorm statistics nodes of :func:`statistics_nodes` that do not read float32."""
    return [node for node in statistics_nodes(graph, model) if node[2] != 'FLOAT']
