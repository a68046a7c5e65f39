"""What a benchmark ran on: the CPU model and the instruction sets torch can use on it.

CPU timings differ several-fold between machines (AVX2 vs AVX-512 vs AMX
kernels in oneDNN), so every benchmark prints this line next to its table.
"""

import os
import platform
from pathlib import Path

import torch

CPUINFO = Path('/proc/cpuinfo')
"""Linux's CPU description (model name and feature flags)."""

VECTOR_FLAGS = ('avx2', 'fma', 'avx512f', 'avx512_bf16', 'avx512_fp16', 'avx512_vnni', 'amx_bf16', 'amx_int8')
"""CPU feature flags that decide which oneDNN/ATen kernels run, in the order they are reported."""


def cpu_description(cpuinfo: Path = CPUINFO) -> str:
    """One line naming the CPU, its logical CPUs, its vector extensions and torch's kernel level.

    Args:
        cpuinfo: The ``/proc/cpuinfo``-format file to read. Defaults to
            :data:`CPUINFO`; elsewhere only ``platform.processor()`` is named.

    Returns:
        E.g. ``'CPU: AMD EPYC 9454 (16 logical CPUs); avx2 fma avx512f avx512_bf16; torch kernels: AVX512'``.
    """
    model, flags = platform.processor() or platform.machine(), set()
    if cpuinfo.is_file():
        fields = _first_cpu_fields(cpuinfo.read_text())
        model = fields.get('model name', model)
        flags = set(fields.get('flags', '').split())
    extensions = ' '.join(flag for flag in VECTOR_FLAGS if flag in flags) or 'no AVX2/AVX-512/AMX flags listed'
    capability = torch.backends.cpu.get_cpu_capability()
    return f'CPU: {model} ({os.cpu_count()} logical CPUs); {extensions}; torch kernels: {capability}'


def _first_cpu_fields(text: str) -> dict[str, str]:
    """The ``key: value`` fields of the first processor block of ``/proc/cpuinfo``."""
    fields: dict[str, str] = {}
    for line in text.split('\n\n', 1)[0].splitlines():
        key, _, value = line.partition(':')
        fields[key.strip()] = value.strip()
    return fields
