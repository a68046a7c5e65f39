"""Exports a trained classifier, segmentor or Mask R-CNN / Cascade Mask R-CNN to ONNX and checks it in onnxruntime.

The config's ``default_scope`` picks the host. The graph takes the normalised
image ``inputs`` ``(N, 3, H, W)`` and returns ``logits`` (classifier),
``seg_logits`` at the input size (segmentor; sliding windows stay in the
runner) or ``boxes, scores, labels, masks`` after NMS (detector, one image of
any height and width, padded as mmdet pads it, with a second input
``image_shape``: the resized image inside the padding, to which boxes are clipped).
After writing the file the tool runs it in onnxruntime on the CPU next to the
PyTorch model: classifiers and segmentors print the largest difference;
detectors run on ``--image`` (or a random image) and on that image beside its
mirror image (twice as wide) through the config's test pipeline, and each
confident detection must have a twin in mmdet's own inference (same label,
box IoU, score and mask within :class:`convnext.deploy.DetectionTolerance`),
else the tool stops with one ``error:`` line. ``--fp16`` graphs are also
checked to read float32 in every GRN and LayerNorm statistic. ``--benchmark``
times onnxruntime against PyTorch eager on the CPU.

Run the graph on images with :class:`convnext.deploy.OnnxModel` (the config's
test pipeline, the same normalisation, padding and postprocessing).

Examples:
    python tools/deployment/export_onnx.py configs/convnextv2_t_fcmae-ft_in1k.py ckpt.pth --out cls.onnx --dynamic
    python tools/deployment/export_onnx.py configs/mask_rcnn_convnextv2_t_lsj_3x.py ckpt.pth --out det.onnx --fp16
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from mmengine.config import Config, DictAction

from convnext.deploy import (
    DEFAULT_OPSET,
    FP16_TOLERANCE,
    DetectionTolerance,
    ExportSpec,
    OnnxModel,
    check_spec,
    compare_detections,
    create_session,
    export_onnx,
    half_statistics_nodes,
    init_model,
    mmdet_detections,
    model_stride,
    pad_size_divisor,
    pad_to_multiple,
    statistics_nodes,
    task_of,
)
from convnext.deploy.detection import hard_nms_model
from convnext.deploy.export import build_graph
from convnext.deploy.runtime import ImagePreprocessor, _runtime_error, normalization_metadata, pad_to
from convnext.exceptions import ConfigError
from convnext.launch import (
    add_debug_arg,
    add_shape_arg,
    cpu_description,
    default_shape,
    exit_on_config_error,
    load_config,
    parse_shape,
)

BENCHMARK_WARMUP = 3
"""Untimed runs before a benchmark."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parses the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='config file of the trained model')
    parser.add_argument('checkpoint', help='checkpoint file (mmengine)')
    parser.add_argument('--out', required=True, help='ONNX file to write')
    add_shape_arg(parser, None, "the test pipeline's crop or resize scale")
    parser.add_argument(
        '--dynamic',
        action='store_true',
        help='dynamic batch, height and width of a classifier or segmentor (a detector graph always takes any '
        'height and width)',
    )
    parser.add_argument('--fp16', action='store_true', help='float16 network; GRN/LayerNorm statistics stay float32')
    parser.add_argument('--opset', type=int, default=DEFAULT_OPSET, help='ONNX opset version')
    parser.add_argument('--device', default='cpu', help='device the model is traced on')
    parser.add_argument(
        '--image', help='image to trace and check with, also beside its mirror image (default: a random image)'
    )
    parser.add_argument(
        '--benchmark',
        type=int,
        nargs='?',
        const=20,
        default=0,
        metavar='ITERS',
        help='time onnxruntime vs PyTorch eager on the CPU (default 20 runs each)',
    )
    parser.add_argument('--threads', type=int, help='CPU threads of PyTorch and onnxruntime in the check and benchmark')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config settings')
    add_debug_arg(parser)
    return parser.parse_args(argv)


@exit_on_config_error
def main(argv: list[str] | None = None) -> int:
    """Exports, checks and optionally benchmarks; returns the exit code (2 with one line on bad input)."""
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = load_config(args.config, args.cfg_options)
    task = task_of(cfg, args.config)
    model = init_model(cfg, args.checkpoint, device=args.device)
    stride = model_stride(model)
    shape = parse_shape(args.shape) if args.shape else default_shape(cfg, task, stride)
    spec = ExportSpec(task=task, shape=shape, dynamic=args.dynamic, fp16=args.fp16, opset=args.opset)
    check_spec(spec, stride)
    example, image_shape = _prepared_example(args, cfg, model, spec)
    out = export_onnx(model, spec, args.out, example=example.to(args.device), image_shape=image_shape)
    traced = tuple(example.shape[-2:])
    print(
        f'Exported {task} model {args.config} to {out} ({out.stat().st_size / 2**20:.1f} MiB), '
        f'input (1, 3, {traced[0]}, {traced[1]}){" dynamic" if spec.dynamic_size else ""}, opset {spec.opset}'
        f'{", fp16" if spec.fp16 else ""}'
    )
    note = getattr(build_graph(model, spec), 'nms_note', None)
    if note:
        print(f'Note: {note}')
    if task == 'detection':
        check_detector(model, cfg, spec, out, args.image, args.threads)
    else:
        check_export(model, spec, out, example, args.threads)
    if args.benchmark:
        if task == 'detection':
            print('--benchmark times classifiers and segmentors; skipped for the detector')
        else:
            benchmark(model, spec, out, example.cpu(), args.benchmark, args.threads)
    return 0


def _prepared_example(
    args: argparse.Namespace, cfg: Config, model: torch.nn.Module, spec: ExportSpec
) -> tuple[torch.Tensor, tuple[int, int]]:
    """The input to trace with and the image's ``(h, w)`` inside it.

    ``--image`` is prepared as :class:`convnext.deploy.OnnxModel` prepares it:
    a detector's padded to a multiple of ``pad_size_divisor`` (the graph takes
    any size), other graphs' to ``spec.shape``. Without ``--image``: a random
    input of ``spec.shape``.
    """
    if args.image is None:
        return torch.randn(1, 3, *spec.shape), spec.shape
    if not Path(args.image).is_file():
        raise ConfigError(f'--image not found: {args.image}')
    pixels, meta = ImagePreprocessor(cfg, normalization_metadata(model))(args.image)
    if spec.task == 'detection':
        padded = pad_to_multiple(pixels, pad_size_divisor(cfg))
    else:
        padded = pad_to(pixels, spec.shape, '--shape')
    return torch.from_numpy(padded[None]), tuple(meta['img_shape'][:2])


def check_detector(
    model: torch.nn.Module, cfg: Config, spec: ExportSpec, out: Path, image: str | None, threads: int | None
) -> None:
    """Runs the graph through :class:`convnext.deploy.OnnxModel` on ``image`` (or a random image of ``spec.shape``)
    and on it beside its mirror image, and matches the detections with mmdet's ``inference_detector``.

    The reference runs the R-CNN with hard NMS, as the graph does.

    Raises:
        ConfigError: A confident detection without a twin within the tolerance, non-finite outputs,
            or (fp16) a GRN/LayerNorm statistic computed in float16.
    """
    runner = OnnxModel(out, cfg, threads)
    reference = hard_nms_model(model.cpu())
    tolerance = FP16_TOLERANCE if spec.fp16 else DetectionTolerance()
    with tempfile.TemporaryDirectory() as folder:
        for name, path in check_images(image, spec.shape, Path(folder)):
            ours = runner(path)
            if not all(np.isfinite(ours[key]).all() for key in ('bboxes', 'scores')):
                raise ConfigError(f'{out} gives non-finite boxes or scores in onnxruntime on {name}')
            parity = compare_detections(ours, mmdet_detections(reference, path), tolerance)
            if parity.mismatch is not None:
                raise ConfigError(f'{out} does not reproduce PyTorch on {name}: {parity.mismatch}')
            print(f'onnxruntime check on {name}: {parity.summary(tolerance)} (mmdet inference, hard NMS)')
    if spec.fp16:
        check_half_statistics(out, build_graph(model, ExportSpec(spec.task, spec.shape)))


def check_images(image: str | None, shape: tuple[int, int], folder: Path) -> list[tuple[str, Path]]:
    """The detector check's images: ``image`` (else a random one of ``shape``) and it beside its mirror image.

    The second is twice as wide: mmdet resizes and pads a non-square image
    differently, which a graph checked on square images alone would hide.

    Returns:
        ``(description, path)`` of each, the new files written to ``folder``.
    """
    import mmcv

    if image is None:
        pixels = np.random.default_rng(0).integers(0, 256, (*shape, 3), dtype=np.uint8)
        path, name = folder / 'random.png', f'a random {shape[1]}x{shape[0]} image'
        mmcv.imwrite(pixels, str(path))
    else:
        pixels = mmcv.imread(image)
        if pixels is None:
            raise ConfigError(f'--image {image} is not a decodable image')
        path, name = Path(image), f'{image} ({pixels.shape[1]}x{pixels.shape[0]})'
    wide = np.ascontiguousarray(np.concatenate([pixels, pixels[:, ::-1]], axis=1))
    mirrored = folder / 'beside_mirror.png'
    mmcv.imwrite(wide, str(mirrored))
    return [(name, path), (f'{name} beside its mirror image ({wide.shape[1]}x{wide.shape[0]})', mirrored)]


def check_export(
    model: torch.nn.Module, spec: ExportSpec, out: Path, example: torch.Tensor, threads: int | None
) -> None:
    """Runs a classifier's or segmentor's graph in onnxruntime next to PyTorch, prints the largest difference,
    and checks that an fp16 graph keeps GRN/LayerNorm statistics in float32.

    Raises:
        ConfigError: onnxruntime cannot run the graph, its outputs are not finite,
            or an fp16 graph computes a GRN/LayerNorm statistic in float16.
    """
    session = create_session(out, threads)
    try:
        ort_outputs = session.run(None, {'inputs': example.numpy()})
    except Exception as error:  # onnxruntime raises its own pybind types
        raise _runtime_error(out, error) from error
    reference = build_graph(model.cpu(), ExportSpec(spec.task, spec.shape))  # float32 PyTorch
    with torch.no_grad():
        torch_outputs = reference(example)
    torch_outputs = torch_outputs if isinstance(torch_outputs, tuple) else (torch_outputs,)
    if not all(np.isfinite(output).all() for output in ort_outputs):
        raise ConfigError(f'{out} gives non-finite outputs in onnxruntime on the check input')
    diff = float(np.abs(ort_outputs[0] - torch_outputs[0].numpy()).max())
    print(f'onnxruntime check: max |onnxruntime - PyTorch float32| = {diff:.3g}')
    if spec.fp16:
        check_half_statistics(out, reference)


def check_half_statistics(out: Path, reference: torch.nn.Module) -> None:
    """Checks that every GRN/LayerNorm statistic of the fp16 graph ``out`` reads float32; prints how many.

    Args:
        out: The exported fp16 graph.
        reference: The float32 module it was traced from (for the module names in node scopes).

    Raises:
        ConfigError: A statistics node reads float16.
    """
    import onnx

    graph = onnx.load(str(out))
    checked = statistics_nodes(graph, reference)
    half = half_statistics_nodes(graph, reference)
    if half:
        raise ConfigError(f'{out}: {len(half)} GRN/LayerNorm statistics read float16, e.g. {half[0][0]}')
    print(f'fp16 graph: all {len(checked)} GRN/LayerNorm statistics nodes read float32')


def benchmark(model: torch.nn.Module, spec: ExportSpec, out: Path, example: torch.Tensor, iters: int, threads) -> None:
    """Times PyTorch eager and onnxruntime on the CPU on the same input, alternating, and prints a table row."""
    session = create_session(out, threads)
    graph = build_graph(model.cpu(), ExportSpec(spec.task, spec.shape, fp16=False))
    feed = {'inputs': example.numpy()}
    with torch.no_grad():
        torch_ms, ort_ms = _alternating_median_ms([lambda: graph(example), lambda: session.run(None, feed)], iters)
    print(
        f'{cpu_description()}; threads: PyTorch {torch.get_num_threads()}, onnxruntime '
        f'{threads or "default"}; median of {iters} alternating runs each after {BENCHMARK_WARMUP} warm-up'
    )
    print('| model | input | PyTorch eager (ms) | onnxruntime (ms) | speed-up |')
    print('| --- | --- | --- | --- | --- |')
    print(
        f'| {spec.task}{" fp16 graph" if spec.fp16 else ""} | {tuple(example.shape)} | {torch_ms:.1f} | '
        f'{ort_ms:.1f} | {torch_ms / ort_ms:.2f}x |'
    )


def _alternating_median_ms(steps: list, iters: int) -> list[float]:
    """Median wall time in milliseconds of each of ``steps`` over ``iters`` rounds that run them in turn.

    Alternating keeps a change in machine load from favouring the one timed last.
    """
    for _ in range(BENCHMARK_WARMUP):
        for step in steps:
            step()
    times: list[list[float]] = [[] for _ in steps]
    for _ in range(iters):
        for step, record in zip(steps, times, strict=True):
            start = time.perf_counter()
            step()
            record.append(time.perf_counter() - start)
    return [1000 * statistics.median(record) for record in times]


if __name__ == '__main__':
    sys.exit(main())
