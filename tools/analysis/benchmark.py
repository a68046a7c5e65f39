"""Inference speed and memory of an mmdet, mmsegmentation or mmpretrain model.

Runs the model's ``test_step`` (data preprocessing, forward, post-processing)
on random images of a fixed size, after a few warm-up iterations, and reports
images per second, the latency per batch and the peak memory: CUDA's peak
allocated memory on a GPU, the process's peak resident memory on the CPU.
Without ``--shape`` the images have the config's test input size, as in
``get_flops.py`` (224 x 224 for a classifier, 800 x 1280 for a detector).
Without CHECKPOINT the weights are random (no download); the timing of
detectors then includes post-processing of random boxes.

Example:
    python tools/analysis/benchmark.py configs/mask_rcnn_convnext_t_3x.py --iters 20
"""

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

import torch
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope
from mmengine.runner import load_checkpoint
from torch import nn

from convnext.exceptions import ConfigError
from convnext.launch import (
    ANALYSIS_SHAPE_HELP,
    adapt_cfg_to_device,
    add_cfg_options_args,
    add_shape_arg,
    analysis_shape,
    cpu_description,
    exit_on_config_error,
    load_config,
    parse_shape,
)
from convnext.serialization import allow_mmengine_checkpoints

DATA_SAMPLES = {
    'mmdet': ('mmdet.structures', 'DetDataSample'),
    'mmseg': ('mmseg.structures', 'SegDataSample'),
    'mmpretrain': ('mmpretrain.structures', 'DataSample'),
}
"""Data-sample class of each host, by ``default_scope``."""

PIXEL_MAX = 256
"""Random images are uint8 in ``[0, 256)``."""

KIB, MIB = 1024, 1024**2


def build_model(cfg: Config, checkpoint: str | None, device: str) -> nn.Module:
    """Builds ``cfg.model`` in its host's scope on ``device`` in eval mode, with ``checkpoint`` loaded if given."""
    scope = cfg.get('default_scope')
    if scope not in DATA_SAMPLES:
        raise ConfigError(f'default_scope must be one of {sorted(DATA_SAMPLES)}, got {scope!r}')
    init_default_scope(scope)
    cfg, _ = adapt_cfg_to_device(cfg, distributed=False)
    model = MODELS.build(cfg.model)
    if checkpoint is not None:
        if not Path(checkpoint).is_file():
            raise ConfigError(f'checkpoint not found: {checkpoint}')
        allow_mmengine_checkpoints()
        load_checkpoint(model, checkpoint, map_location='cpu')
    return model.to(device).eval()


def random_batch(scope: str, batch_size: int, height: int, width: int) -> dict[str, list]:
    """A ``test_step`` batch of random uint8 images ``(3, height, width)`` with their data samples."""
    module_name, class_name = DATA_SAMPLES[scope]
    sample_class = getattr(__import__(module_name, fromlist=[class_name]), class_name)
    shape = (height, width)
    metainfo = dict(img_shape=shape, ori_shape=shape, scale_factor=(1.0, 1.0), img_id=0)
    inputs = [torch.randint(0, PIXEL_MAX, (3, height, width), dtype=torch.uint8) for _ in range(batch_size)]
    return {'inputs': inputs, 'data_samples': [sample_class(metainfo=metainfo) for _ in range(batch_size)]}


def benchmark(
    cfg: Config,
    checkpoint: str | None = None,
    shape: tuple[int, int] | None = None,
    batch_size: int = 1,
    warmup: int = 2,
    iters: int = 10,
    device: str | None = None,
) -> dict[str, float | str]:
    """Times ``test_step`` on random images.

    Args:
        cfg: A model config of mmdet, mmseg or mmpretrain.
        checkpoint: Weights to load; random weights when None. Defaults to None.
        shape: Image height and width; the config's test input when None
            (:func:`convnext.launch.analysis_shape`). Defaults to None.
        batch_size: Images per ``test_step``. Defaults to 1.
        warmup: Untimed iterations first. Defaults to 2.
        iters: Timed iterations. Defaults to 10.
        device: 'cpu' or 'cuda'; CUDA when available if None. Defaults to None.

    Returns:
        ``images_per_s``, ``latency_ms`` (median per batch), ``latency_ms_mean``,
        ``peak_memory_mib`` and ``memory_kind`` ('cuda_allocated' or 'cpu_rss'), ``device``, and ``cpu``
        (:func:`convnext.launch.cpu_description`: the CPU the numbers come from).
    """
    shape = shape or analysis_shape(cfg)
    if min(batch_size, iters, *shape) < 1 or warmup < 0:
        raise ConfigError(
            f'batch size, iters and shape must be >= 1 and warmup >= 0, got {batch_size}, {iters}, {shape}, {warmup}'
        )
    device = device or ('cuda' if torch.cuda.is_available() else 'cpu')
    model = build_model(cfg, checkpoint, device)
    height, width = shape
    batch = random_batch(cfg.default_scope, batch_size, height, width)
    if device == 'cuda':
        torch.cuda.reset_peak_memory_stats()
    latencies = []
    with torch.no_grad():
        for step in range(warmup + iters):
            start = time.perf_counter()
            model.test_step(batch)
            if device == 'cuda':
                torch.cuda.synchronize()
            if step >= warmup:
                latencies.append(time.perf_counter() - start)
    return {
        'images_per_s': batch_size * iters / sum(latencies),
        'latency_ms': 1e3 * statistics.median(latencies),
        'latency_ms_mean': 1e3 * statistics.fmean(latencies),
        **peak_memory(device),
        'device': device,
        'cpu': cpu_description(),
    }


def peak_memory(device: str) -> dict[str, float | str]:
    """Peak memory in MiB: CUDA allocated memory, or the process's resident memory on the CPU."""
    if device == 'cuda':
        return {'peak_memory_mib': torch.cuda.max_memory_allocated() / MIB, 'memory_kind': 'cuda_allocated'}
    return {'peak_memory_mib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / KIB, 'memory_kind': 'cpu_rss'}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parses the command line."""
    parser = argparse.ArgumentParser(description='Benchmark the inference speed and memory of a model')
    parser.add_argument('config', help='config file (mmdet, mmseg or mmpretrain)')
    parser.add_argument('checkpoint', nargs='?', help='checkpoint file; random weights if omitted')
    add_shape_arg(parser, None, ANALYSIS_SHAPE_HELP)
    parser.add_argument('--batch-size', type=int, default=1, help='images per forward')
    parser.add_argument('--warmup', type=int, default=2, help='untimed iterations first')
    parser.add_argument('--iters', type=int, default=10, help='timed iterations')
    parser.add_argument('--device', choices=['cpu', 'cuda'], help='default: cuda when available')
    parser.add_argument('--out', help='also write the results to this JSON file')
    add_cfg_options_args(parser)
    return parser.parse_args(argv)


@exit_on_config_error
def main(argv: list[str] | None = None) -> int:
    """Prints images/s, latency and peak memory; returns the exit code (2 with one line on bad input)."""
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options, args.strict_cfg_options)
    height, width = parse_shape(args.shape) if args.shape else analysis_shape(cfg)
    result = benchmark(cfg, args.checkpoint, (height, width), args.batch_size, args.warmup, args.iters, args.device)
    weights = args.checkpoint or 'random weights'
    print(f'Config: {args.config} ({weights}) on {result["device"]}, {args.batch_size} x 3 x {height} x {width}')
    print(result['cpu'])
    print(f'Throughput: {result["images_per_s"]:.2f} images/s')
    print(f'Latency: {result["latency_ms"]:.1f} ms median, {result["latency_ms_mean"]:.1f} ms mean per batch')
    print(f'Peak memory: {result["peak_memory_mib"]:.0f} MiB ({result["memory_kind"]})')
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
