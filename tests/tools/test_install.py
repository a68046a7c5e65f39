"""tools/install.sh's CUDA choices and its bad-input messages, without compiling or downloading anything.

The shell script is run only where it stops before the virtual environment (malformed arguments); the checks that
need torch or nvcc are run through ``tools/cuda_toolkit.py``'s functions with stand-ins for ``nvcc`` and
``nvidia-smi`` (small shell scripts) and for ``torch.version.cuda``.
"""

import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 600
"""Seconds; the argument checks take well under one, but a loaded 2-core machine starts python slowly."""
KNOWN_ARCHS = 'compute_75 compute_80 compute_86 compute_89 compute_90 compute_100 compute_120'


@pytest.fixture
def toolkit(load_tool: Callable[[str], ModuleType]) -> ModuleType:
    return load_tool('tools/cuda_toolkit.py')


@pytest.fixture
def no_system_cuda(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, toolkit: ModuleType) -> None:
    """No nvcc anywhere: empty PATH, no CUDA_HOME, no /usr/local/cuda."""
    monkeypatch.setenv('PATH', str(tmp_path / 'empty'))
    monkeypatch.delenv('CUDA_HOME', raising=False)
    monkeypatch.setattr(toolkit, 'SYSTEM_CUDA', tmp_path / 'no-cuda')


def fake_program(folder: Path, name: str, script: str) -> Path:
    """An executable shell script ``folder/name`` running ``script``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f'#!/bin/sh\n{script}\n')
    path.chmod(0o755)
    return path


def fake_nvcc(home: Path, release: str) -> Path:
    """A CUDA_HOME whose ``bin/nvcc`` answers ``--version`` and ``--list-gpu-arch`` like nvcc ``release``."""
    fake_program(
        home / 'bin',
        'nvcc',
        f'case "$1" in --version) echo "Cuda compilation tools, release {release}, V{release}.1";; '
        f'--list-gpu-arch) printf "%s\\n" {KNOWN_ARCHS};; esac',
    )
    return home


def run_install(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """``bash tools/install.sh ARGS`` aimed at a missing environment and cache: should it get past its argument
    checks, it fails at once instead of installing anything."""
    env = dict(os.environ, VIRTUAL_ENV=str(tmp_path / 'no-venv'), CONVNEXT_WHEEL_CACHE=str(tmp_path / 'cache'))
    command = ['bash', 'tools/install.sh', *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False)


@pytest.mark.parametrize(
    ('args', 'message'),
    [
        (['--cuda', 'sm_90'], "'sm_90' is not a compute capability; expected e.g. '9.0'"),
        (['--cuda', '90;8.0'], "'90' is not a compute capability"),
        (['--cpu', '--cuda'], '--cpu and --cuda exclude each other'),
        (['--gpu'], "unknown option '--gpu' (expected --cuda [ARCHS], --cpu"),
    ],
)
def test_bad_arguments_stop_before_installing(args: list[str], message: str, tmp_path: Path) -> None:
    result = run_install(tmp_path, *args)
    assert result.returncode == 2
    assert result.stdout == ''  # not even the virtual-environment step ran
    assert result.stderr.count('\n') == 1 and message in result.stderr, result.stderr


def test_help_names_the_cuda_options(tmp_path: Path) -> None:
    result = run_install(tmp_path, '--help')
    assert result.returncode == 0
    assert '--cuda [ARCHS]' in result.stdout and '8.0;9.0+PTX' in result.stdout and '--cpu' in result.stdout


@pytest.mark.parametrize(
    ('spec', 'expected'),
    [('default', '8.0;9.0+PTX'), ('9.0', '9.0'), ('8.0, 9.0 8.0', '8.0;9.0'), ('9.0a;10.0+PTX', '9.0a;10.0+PTX')],
)
def test_arch_lists(toolkit: ModuleType, spec: str, expected: str) -> None:
    assert toolkit.parse_archs(spec) == expected


def test_cpu_only_torch_is_refused(toolkit: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.version, 'cuda', None)
    with pytest.raises(toolkit.ToolkitError, match=r'torch \S+ in .* is CPU-only .* or run without --cuda'):
        toolkit.plan('9.0')


@pytest.mark.usefixtures('no_system_cuda')
def test_cuda_version_without_toolkit_wheels_is_refused(toolkit: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.version, 'cuda', '12.8')
    with pytest.raises(toolkit.ToolkitError) as error:
        toolkit.plan('9.0')
    assert 'no CUDA 12.8 toolkit' in str(error.value)
    assert 'only for CUDA 13.0' in str(error.value) and 'set CUDA_HOME' in str(error.value)


def test_pinned_cuda_version_plans_without_a_system_toolkit(toolkit: ModuleType) -> None:
    assert toolkit.pinned_versions() == ['13.0'], 'a new requirements/cuda-*.txt needs a build proof first'
    if torch.version.cuda == '13.0':
        assert toolkit.plan('default') == ('13.0', '8.0;9.0+PTX')


@pytest.mark.usefixtures('no_system_cuda')
def test_system_toolkit_of_the_same_major_is_used(
    toolkit: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(torch.version, 'cuda', '12.8')
    monkeypatch.setenv('CUDA_HOME', str(fake_nvcc(tmp_path / 'cuda-12.6', '12.6')))
    assert toolkit.plan('9.0') == ('12.8', '9.0')
    assert toolkit.assemble_toolkit('12.8', tmp_path / 'cache') == tmp_path / 'cuda-12.6'
    monkeypatch.setenv('CUDA_HOME', str(fake_nvcc(tmp_path / 'cuda-11.8', '11.8')))
    with pytest.raises(toolkit.ToolkitError, match='no CUDA 12.8 toolkit'):
        toolkit.plan('9.0')


def test_unknown_arch_is_refused_before_compiling(toolkit: ModuleType, tmp_path: Path) -> None:
    home = fake_nvcc(tmp_path / 'cuda', '13.0')
    toolkit.check_archs('8.0;9.0+PTX;10.0', home)
    with pytest.raises(toolkit.ToolkitError, match=r'nvcc 13\.0 .* cannot compile for 6\.0, 7\.0; it knows 7\.5 8\.0'):
        toolkit.check_archs('6.0;7.0;9.0', home)


def test_gpus_are_detected_with_nvidia_smi(
    toolkit: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake_program(tmp_path / 'bin', 'nvidia-smi', 'printf "9.0\\n8.0\\n9.0\\n"')
    monkeypatch.setenv('PATH', f'{tmp_path / "bin"}{os.pathsep}{os.environ["PATH"]}')
    assert toolkit.detect_gpu_archs() == '8.0;9.0'


def test_no_gpu_means_cpu_build(toolkit: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv('PATH', str(tmp_path))
    if not Path('/dev/nvidiactl').exists():
        assert toolkit.detect_gpu_archs() == ''


def test_toolkit_home_layout(toolkit: ModuleType, tmp_path: Path) -> None:
    """torch's runtime and the compiler wheels merge like a system toolkit, with the linker's unversioned names."""
    runtime, compiler = tmp_path / 'runtime', tmp_path / 'compiler'
    for folder in ('include', 'lib'):
        (runtime / folder).mkdir(parents=True)
    (runtime / 'include' / 'cuda_runtime.h').touch()
    (runtime / 'lib' / 'libcudart.so.13').touch()
    for folder in ('bin', 'nvvm', 'lib', 'include/crt', 'include/cccl/thrust', 'include/cccl/cub'):
        (compiler / folder).mkdir(parents=True)
    toolkit.link_home(runtime, compiler, tmp_path / 'home')
    home = tmp_path / 'home'
    assert {p.name for p in (home / 'include').iterdir()} == {'cuda_runtime.h', 'crt', 'cccl', 'thrust', 'cub'}
    assert (home / 'lib64' / 'libcudart.so').resolve() == (runtime / 'lib' / 'libcudart.so.13').resolve()
    assert (home / 'bin').resolve() == compiler / 'bin' and (home / 'nvvm').resolve() == compiler / 'nvvm'
