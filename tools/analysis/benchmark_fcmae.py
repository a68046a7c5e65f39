"""Benchmarks FCMAE pretraining steps with the three encoder backends, interleaved in one run.

Usage:
    python tools/analysis/benchmark_fcmae.py [--arch tiny] [--batch-size 8] [--size 224] [--iters 5]

Backends (same weights, same images, same mask in every iteration):

* ``plain``: plain dense masking, everything computed then masked (baseline);
* ``dense``: ours, the per-position layers on visible rows only;
* ``minkowski``: MinkowskiEngine sparse tensors (skipped when not installed).

A step is the forward and backward of the whole FCMAE (encoder, decoder,
norm-pix loss). Reported per backend: median step time, and memory: the peak
CUDA allocation on a GPU; on the CPU the bytes of the tensors autograd saves
for the backward pass (the activation memory that dominates a training step's
peak; storages counted once). Ratios are relative to ``plain``.

On a busy CPU, prefer ``--threads 1``: with more threads than free cores,
every parallel region waits for its slowest thread, which penalises the
``dense`` backend's many small operations and hides its lower FLOP count.
"""

import argparse
import statistics
import sys
import time

import torch

from convnext.launch import cpu_description
from convnext.models.selfsup import FCMAE
from convnext.registry import MODELS

MIB = 2**20
BACKENDS = ('plain', 'dense', 'minkowski')


class SavedTensorMeter:
    """Counts the bytes of distinct storages autograd saves for the backward pass."""

    def __init__(self) -> None:
        self.storages: dict[int, int] = {}

    def pack(self, tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        self.storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    @property
    def mib(self) -> float:
        return sum(self.storages.values()) / MIB


def minkowski_available() -> bool:
    try:
        import MinkowskiEngine  # noqa: F401
    except ImportError:
        return False
    return True


def step(model: FCMAE, imgs: torch.Tensor, mask: torch.Tensor, backend: str) -> tuple[float, float]:
    """One forward + backward; returns (seconds, MiB)."""
    model.zero_grad(set_to_none=True)
    meter = SavedTensorMeter()
    if imgs.is_cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    with torch.autograd.graph.saved_tensors_hooks(meter.pack, lambda t: t):
        pred = model.decode(model.encode(imgs, mask, backend=backend), mask)
        loss = model.reconstruction_loss(imgs, pred, mask)
    loss.backward()
    if imgs.is_cuda:
        torch.cuda.synchronize()
        return time.perf_counter() - start, torch.cuda.max_memory_allocated() / MIB
    return time.perf_counter() - start, meter.mib


def benchmark(args: argparse.Namespace) -> dict[str, tuple[float, float]]:
    """Median step time and memory per backend."""
    device = torch.device(args.device)
    model = MODELS.build(
        dict(type='FCMAE', backbone=dict(type='convnext.ConvNeXtV2', arch=args.arch), mask_ratio=args.mask_ratio)
    )
    model.to(device).train()  # default PyTorch init: the timing does not depend on the values
    backends = [b for b in args.backends if b != 'minkowski' or minkowski_available()]
    if len(backends) < len(args.backends):
        print('MinkowskiEngine is not installed: minkowski backend skipped (bash tools/install.sh builds it)')
    imgs = torch.randn(args.batch_size, 3, args.size, args.size, device=device)
    mask = model.generate_mask(imgs)
    times: dict[str, list[float]] = {b: [] for b in backends}
    memory: dict[str, float] = {}
    for i in range(args.warmup + args.iters):
        for backend in backends:
            if args.threads is not None:  # re-applied: MinkowskiEngine resets the thread count
                torch.set_num_threads(args.threads)
            seconds, mib = step(model, imgs, mask, backend)
            if i >= args.warmup:
                times[backend].append(seconds)
                memory[backend] = max(memory.get(backend, 0.0), mib)
    return {b: (statistics.median(times[b]), memory[b]) for b in backends}


def report(results: dict[str, tuple[float, float]], args: argparse.Namespace) -> None:
    threads = args.threads or torch.get_num_threads()
    memory_kind = 'peak CUDA MiB' if args.device.startswith('cuda') else 'saved activations MiB'
    print(
        f'FCMAE ConvNeXt V2-{args.arch}, batch {args.batch_size}, {args.size}x{args.size}, '
        f'mask ratio {args.mask_ratio}, {args.iters} timed steps (fwd+bwd), {threads} threads'
    )
    print(cpu_description())
    base_time, base_mem = results.get('plain', next(iter(results.values())))
    print(f'{"backend":<10} {"step s":>9} {"time ratio":>11} {memory_kind:>22} {"memory ratio":>13}')
    for backend, (seconds, mib) in results.items():
        print(f'{backend:<10} {seconds:>9.3f} {seconds / base_time:>10.2f}x {mib:>22.1f} {mib / base_mem:>12.2f}x')


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='FCMAE encoder backends: step time and memory')
    parser.add_argument('--arch', default='tiny', help='ConvNeXt V2 arch name')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--size', type=int, default=224, help='image side, a multiple of 32')
    parser.add_argument('--mask-ratio', type=float, default=0.6)
    parser.add_argument('--iters', type=int, default=5, help='timed iterations per backend')
    parser.add_argument('--warmup', type=int, default=1, help='untimed iterations per backend')
    parser.add_argument('--backends', nargs='+', default=list(BACKENDS), choices=BACKENDS)
    parser.add_argument('--threads', type=int, default=None, help='CPU threads (torch.set_num_threads)')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Runs the benchmark and prints the table; returns the exit code."""
    args = parse_args(argv)
    if args.device.startswith('cuda') and 'minkowski' in args.backends:
        print('note: the minkowski backend runs wherever MinkowskiEngine was built (CPU build by tools/install.sh)')
    report(benchmark(args), args)
    return 0


if __name__ == '__main__':
    sys.exit(main())
