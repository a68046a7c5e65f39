"""Times our ConvNeXt backbone against timm's and mmpretrain's at the same arch, eager and compiled.

The ``-compiled`` models are the same backbones under ``torch.compile``
(inductor, default mode), every implementation with the same options: by
default :func:`convnext.compile.compile_model`'s (on the CPU: channels-last
backward graphs and the C++ wrapper, see :mod:`convnext.compile`),
``--plain-compile`` for none. Their first (untimed) runs compile the inference
and the training graphs. Each repeat runs every model once (inference, then one training step:
forward, backward and an SGD step), interleaved, so background load hits all
models alike; the table shows medians and the ratio of every model's time to
ours (> 1: ours is faster). Peak memory is measured per model and mode in a
fresh subprocess:

- CPU: the growth of the peak resident set size (``VmHWM`` in
  ``/proc/self/status``, reset through ``/proc/self/clear_refs``) over the
  resident size before the step. It counts everything the step touches
  (activations, gradients, oneDNN scratch), which allocator statistics such
  as ``tracemalloc`` cannot see for torch tensors.
- CUDA: ``torch.cuda.max_memory_allocated`` over the allocation before the step.

The CPU model, its vector extensions and torch's kernel level are printed
with the table: CPU timings and ratios differ between machines.

Example::

    python tools/analysis/benchmark_backbone.py --arch tiny --batch-size 8 --repeats 7
    python tools/analysis/benchmark_backbone.py --models ours timm  # eager only, no compilation
    python tools/analysis/benchmark_backbone.py --models ours ours-compiled --plain-compile
    python tools/analysis/benchmark_backbone.py --device cuda --amp --channels-last
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import torch
from torch import nn

from convnext.compile import compile_options
from convnext.launch import cpu_description

IMPLEMENTATIONS = ('ours', 'timm', 'mmpretrain')
"""The backbone implementations compared."""

COMPILED_SUFFIX = '-compiled'
"""A model name with this suffix is the implementation under ``torch.compile``."""

MODEL_NAMES = (*IMPLEMENTATIONS, 'ours' + COMPILED_SUFFIX, 'timm' + COMPILED_SUFFIX)
"""The models timed by default; ratios are relative to the first one given."""

MODES = ('inference', 'train')
"""What is timed: a no-grad forward, and forward + backward + SGD step."""

LEARNING_RATE = 0.01
"""SGD learning rate of the timed training step (its value does not matter)."""

KIB_PER_MIB = 1024
"""``/proc`` reports kB; the table shows MiB."""

BYTES_PER_MIB = 1024 * 1024
"""CUDA memory statistics are in bytes."""

CLEAR_REFS_RESET_PEAK = '5'
"""Writing this to ``/proc/self/clear_refs`` resets ``VmHWM`` (Linux >= 4.0)."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; see ``--help``."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--arch', default='tiny', help='ConvNeXt arch name (default: tiny)')
    parser.add_argument('--v2', action='store_true', help='compare ConvNeXt V2 (GRN, no layer scale)')
    parser.add_argument('--batch-size', type=int, default=8, help='images per batch (default: 8)')
    parser.add_argument('--size', type=int, default=224, help='square input size (default: 224)')
    parser.add_argument('--threads', type=int, default=None, help='torch threads (default: torch default)')
    parser.add_argument('--repeats', type=int, default=5, help='timed repeats per model and mode (default: 5)')
    parser.add_argument('--warmup', type=int, default=1, help='untimed runs per model and mode (default: 1)')
    parser.add_argument(
        '--models', nargs='+', default=list(MODEL_NAMES), choices=MODEL_NAMES, help='models to time (default: all)'
    )
    parser.add_argument('--device', default='cpu', help='cpu or cuda (default: cpu)')
    parser.add_argument('--amp', action='store_true', help='autocast to float16 (CUDA) or bfloat16 (CPU)')
    parser.add_argument('--channels-last', action='store_true', help='feed channels-last input to every model')
    parser.add_argument('--no-memory', action='store_true', help='skip the peak-memory subprocesses')
    parser.add_argument(
        '--plain-compile',
        action='store_true',
        help='compile with torch.compile defaults, without convnext.compile.compile_options (shows what they gain)',
    )
    parser.add_argument('--profile', action='store_true', help='print torch.profiler top ops of ours')
    parser.add_argument('--json', default=None, help='also write the results to this JSON file')
    parser.add_argument('--memory-worker', nargs=2, metavar=('MODEL', 'MODE'), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# --------------------------------------------------------------------------- models


def build_model(name: str, arch: str, v2: bool) -> nn.Module:
    """Builds one implementation's backbone (``-compiled``: without compiling it; see :class:`Runner`)."""
    name = name.removesuffix(COMPILED_SUFFIX)
    if name == 'ours':
        from convnext.models import ConvNeXt, ConvNeXtV2

        return (ConvNeXtV2 if v2 else ConvNeXt)(arch=arch, out_indices=-1, out_type='featmap')
    if name == 'timm':
        import timm

        return timm.create_model(f'convnextv2_{arch}' if v2 else f'convnext_{arch}', pretrained=False, num_classes=0)
    if name == 'mmpretrain':
        from mmpretrain.models import ConvNeXt as MMPretrainConvNeXt

        v2_kwargs = {'use_grn': True, 'layer_scale_init_value': 0.0} if v2 else {}
        return MMPretrainConvNeXt(arch=arch, out_indices=-1, gap_before_final_norm=False, **v2_kwargs)
    raise ValueError(f'Unknown model {name!r}; expected one of {IMPLEMENTATIONS} (optionally {COMPILED_SUFFIX!r})')


def features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The last stage's output of any of the three backbones."""
    if hasattr(model, 'forward_features'):  # timm
        return model.forward_features(x)
    return model(x)[-1]


class Features(nn.Module):
    """A backbone whose ``forward`` is :func:`features`, so ``torch.compile`` compiles exactly what is timed.

    Args:
        backbone: A backbone from :func:`build_model`.
    """

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The last stage's map of images ``x``."""
        return features(self.backbone, x)


class Runner:
    """One model's inference and training step on a fixed input.

    Args:
        model: A backbone from :func:`build_model`.
        args: Parsed options (device, batch size, size, amp, channels-last).
        compiled: Runs the model under ``torch.compile`` with
            :func:`compile_kwargs`. Defaults to False.
    """

    def __init__(self, model: nn.Module, args: argparse.Namespace, compiled: bool = False) -> None:
        self.device = torch.device(args.device)
        memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
        model = Features(model).to(self.device, memory_format=memory_format)
        self.model = torch.compile(model, **compile_kwargs(args)) if compiled else model
        self.x = torch.randn(args.batch_size, 3, args.size, args.size, device=self.device)
        self.x = self.x.contiguous(memory_format=memory_format)
        self.amp_dtype = (torch.float16 if self.device.type == 'cuda' else torch.bfloat16) if args.amp else None
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=LEARNING_RATE)

    def _autocast(self) -> torch.autocast:
        return torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None)

    def inference(self) -> None:
        """One no-grad forward pass in eval mode."""
        self.model.eval()
        with torch.no_grad(), self._autocast():
            self.model(self.x)

    def train(self) -> None:
        """One training step: forward, mean loss, backward, SGD step."""
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        with self._autocast():
            loss = self.model(self.x).float().mean()
        loss.backward()
        self.optimizer.step()

    def step(self, mode: str) -> Callable[[], None]:
        """The callable of a mode in :data:`MODES`."""
        return self.inference if mode == 'inference' else self.train

    def sync(self) -> None:
        """Waits for queued GPU work, so wall-clock times are complete."""
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)


def compile_kwargs(args: argparse.Namespace) -> dict:
    """The keyword arguments every ``-compiled`` model gets from ``torch.compile``."""
    return {} if args.plain_compile else compile_options(True, args.device)


def make_runner(name: str, args: argparse.Namespace) -> Runner:
    """The :class:`Runner` of a model name of :data:`MODEL_NAMES`."""
    return Runner(build_model(name, args.arch, args.v2), args, compiled=name.endswith(COMPILED_SUFFIX))


def time_interleaved(runners: dict[str, Runner], args: argparse.Namespace) -> dict[str, dict[str, list[float]]]:
    """Seconds per run of every model and mode, the models interleaved per repeat."""
    for runner in runners.values():
        for mode in MODES:
            for _ in range(args.warmup):
                runner.step(mode)()
            runner.sync()
    times: dict[str, dict[str, list[float]]] = {name: {mode: [] for mode in MODES} for name in runners}
    for _ in range(args.repeats):
        for name, runner in runners.items():
            for mode in MODES:
                runner.sync()
                start = time.perf_counter()
                runner.step(mode)()
                runner.sync()
                times[name][mode].append(time.perf_counter() - start)
    return times


# --------------------------------------------------------------------------- memory


def _status_kib(field: str) -> int:
    with open('/proc/self/status') as status:
        for line in status:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    raise RuntimeError(f'/proc/self/status has no {field}')


def measure_peak_mib(model_name: str, mode: str, args: argparse.Namespace) -> float:
    """Peak memory growth of the first step of a model and mode, in MiB (this process).

    The first step in a fresh process: memory freed by an earlier step would
    stay in the allocator's pools and hide the growth.
    """
    runner = make_runner(model_name, args)
    if runner.device.type == 'cuda':
        runner.step(mode)()  # warm-up: cuDNN workspaces; the caching allocator's peak is reset below
        runner.sync()
        before = torch.cuda.memory_allocated(runner.device)
        torch.cuda.reset_peak_memory_stats(runner.device)
        runner.step(mode)()
        runner.sync()
        return (torch.cuda.max_memory_allocated(runner.device) - before) / BYTES_PER_MIB
    with open('/proc/self/clear_refs', 'w') as clear_refs:
        clear_refs.write(CLEAR_REFS_RESET_PEAK)
    before = _status_kib('VmRSS')
    runner.step(mode)()
    return (_status_kib('VmHWM') - before) / KIB_PER_MIB


def peak_memory(args: argparse.Namespace, argv: list[str]) -> dict[str, dict[str, float]]:
    """Runs :func:`measure_peak_mib` in a fresh subprocess per eager model and mode.

    Compiled models are left out: their first step's peak is the compiler's.
    """
    eager = [name for name in args.models if not name.endswith(COMPILED_SUFFIX)]
    peaks: dict[str, dict[str, float]] = {name: {} for name in eager}
    for name in eager:
        for mode in MODES:
            command = [sys.executable, os.path.abspath(__file__), *argv, '--memory-worker', name, mode]
            output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            peaks[name][mode] = float(output.strip().splitlines()[-1])
    return peaks


# --------------------------------------------------------------------------- report


def report(times: dict[str, dict[str, list[float]]], peaks: dict[str, dict[str, float]] | None) -> str:
    """A markdown table of median milliseconds, ratios to ours and peak memory."""
    medians = {name: {mode: statistics.median(v) for mode, v in modes.items()} for name, modes in times.items()}
    reference = next(iter(medians))
    header = '| model | inference ms | train step ms | inference / ours | train / ours |'
    rule = '|---|---:|---:|---:|---:|'
    if peaks:
        header += ' peak MiB inference | peak MiB train |'
        rule += '---:|---:|'
    lines = [header, rule]
    for name, modes in medians.items():
        ratios = [modes[mode] / medians[reference][mode] for mode in MODES]
        row = f'| {name} | {modes["inference"] * 1e3:.0f} | {modes["train"] * 1e3:.0f} | '
        row += f'{ratios[0]:.2f}x | {ratios[1]:.2f}x |'
        if peaks:
            row += ''.join(f' {peaks[name][mode]:.0f} |' if name in peaks else ' - |' for mode in MODES)
        lines.append(row)
    return '\n'.join(lines)


def profile_ours(runner: Runner) -> None:
    """Prints the most expensive ops of one inference and one training step."""
    from torch.profiler import profile

    for mode in MODES:
        with profile() as prof:
            runner.step(mode)()
        print(f'\n{mode}:\n' + prof.key_averages().table(sort_by='self_cpu_time_total', row_limit=15))


def main(argv: list[str] | None = None) -> int:
    """Parses options, times the models and prints the table; returns the exit code."""
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory_worker:
        print(measure_peak_mib(*args.memory_worker, args))
        return 0
    torch.manual_seed(0)
    runners = {name: make_runner(name, args) for name in args.models}
    times = time_interleaved(runners, args)
    peaks = None if args.no_memory else peak_memory(args, argv)
    version = 'V2' if args.v2 else 'V1'
    print(
        f'ConvNeXt {version}-{args.arch}, batch {args.batch_size}, {args.size}x{args.size}, device {args.device}, '
        f'amp {args.amp}, channels-last input {args.channels_last}, threads {torch.get_num_threads()}, '
        f'median of {args.repeats} interleaved repeats, torch {torch.__version__}'
    )
    if any(name.endswith(COMPILED_SUFFIX) for name in runners):
        print(f'-compiled: torch.compile(**{compile_kwargs(args)})')
    print(cpu_description())
    print(report(times, peaks))
    if args.profile and 'ours' in runners:
        profile_ours(runners['ours'])
    if args.json:
        with open(args.json, 'w') as out:
            json.dump({'args': vars(args), 'times': times, 'peaks': peaks}, out, indent=2)
    return 0


if __name__ == '__main__':
    sys.exit(main())
