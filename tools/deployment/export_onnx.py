"""Exports a trained classifier, segmentor or Mask R-CNN / Cascade Mask R-CNN to ONNX and checks it in onnxruntime.

The config's ``default_scope`` picks the host. The graph takes the normalised
image ``inputs`` ``(N, 3, H, W)`` and returns ``logits`` (classifier),
``seg_logits`` at the input size (segmentor; sliding windows stay in the
runner) or ``boxes, scores, labels, masks`` after NMS (detector, one image).
After writing the file the tool runs it in onnxruntime on the CPU next to the
PyTorch model and prints the largest difference; ``--fp16`` graphs are also
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
import time
from pathlib import Path

import numpy as np
import torch
from mmengine.config import Config, DictAction

from convnext.deploy import (
    DEFAULT_OPSET,
    ExportSpec,
    check_spec,
    create_session,
    export_onnx,
    half_statistics_nodes,
    init_model,
    model_stride,
    statistics_nodes,
    task_of,
)
from convnext.deploy.export import build_graph
from convnext.deploy.runtime import ImagePreprocessor, _runtime_error, normalization_metadata, pad_to
from convnext.exceptions import ConfigError
from convnext.utils import (
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
    parser.add_argument('--dynamic', action='store_true', help='dynamic batch, height and width (not for detectors)')
    parser.add_argument('--fp16', action='store_true', help='float16 network; GRN/LayerNorm statistics stay float32')
    parser.add_argument('--opset', type=int, default=DEFAULT_OPSET, help='ONNX opset version')
    parser.add_argument('--device', default='cpu', help='device the model is traced on')
    parser.add_argument('--image', help='image to trace and check with (default: a random input)')
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
    example = _prepared_example(args, cfg, model, shape).to(args.device)
    out = export_onnx(model, spec, args.out, example=example)
    print(
        f'Exported {task} model {args.config} to {out} ({out.stat().st_size / 2**20:.1f} MiB), '
        f'input (1, 3, {shape[0]}, {shape[1]}){" dynamic" if spec.dynamic else ""}, opset {spec.opset}'
        f'{", fp16" if spec.fp16 else ""}'
    )
    note = getattr(build_graph(model, spec), 'nms_note', None)
    if note:
        print(f'Note: {note}')
    check_export(model, spec, out, example.cpu(), args.threads)
    if args.benchmark:
        if task == 'detection':
            print('--benchmark times classifiers and segmentors; skipped for the detector')
        else:
            benchmark(model, spec, out, example.cpu(), args.benchmark, args.threads)
    return 0


def _prepared_example(args: argparse.Namespace, cfg: Config, model: torch.nn.Module, shape: tuple) -> torch.Tensor:
    """``--image`` prepared as :class:`convnext.deploy.OnnxModel` prepares it, padded to ``shape``; else random."""
    if args.image is None:
        return torch.randn(1, 3, *shape)
    if not Path(args.image).is_file():
        raise ConfigError(f'--image not found: {args.image}')
    pixels, _ = ImagePreprocessor(cfg, normalization_metadata(model))(args.image)
    return torch.from_numpy(pad_to(pixels, shape, '--shape')[None])


def check_export(
    model: torch.nn.Module, spec: ExportSpec, out: Path, example: torch.Tensor, threads: int | None
) -> None:
    """Runs the graph in onnxruntime next to PyTorch and prints the differences; checks fp16 statistics.

    Raises:
        ConfigError: onnxruntime cannot run the graph, its outputs are not finite,
            or an fp16 graph computes a GRN/LayerNorm statistic in float16.
    """
    import onnx

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
    if spec.task == 'detection':
        print(f'onnxruntime check: {len(ort_outputs[0])} detections (PyTorch: {len(torch_outputs[0])})')
    else:
        diff = float(np.abs(ort_outputs[0] - torch_outputs[0].numpy()).max())
        print(f'onnxruntime check: max |onnxruntime - PyTorch float32| = {diff:.3g}')
    if spec.fp16:
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
