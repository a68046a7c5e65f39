"""convnext.launch.hardware: the CPU line the benchmarks print beside their numbers."""

from pathlib import Path

from convnext.launch import cpu_description


def test_cpu_description_names_model_and_vector_extensions(tmp_path: Path) -> None:
    cpuinfo = tmp_path / 'cpuinfo'
    first = 'processor\t: 0\nmodel name\t: AMD EPYC 9454\nflags\t\t: fpu sse avx2 fma avx512f\n'
    cpuinfo.write_text(first + '\nprocessor\t: 1\n')
    line = cpu_description(cpuinfo)
    assert line.startswith('CPU: AMD EPYC 9454 (') and 'avx2 fma avx512f;' in line and 'torch kernels: ' in line
