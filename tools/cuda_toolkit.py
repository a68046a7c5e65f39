"""The CUDA side of ``tools/install.sh``: GPU detection, input checks and a toolkit assembled from registry wheels.

``torch`` from PyPI ships the CUDA runtime headers and libraries (``site-packages/nvidia/cu13/``) but no compiler.
The compiler comes as wheels of the same CUDA release, pinned in ``requirements/cuda-<version>.txt``
(``nvidia-cuda-nvcc``, ``nvidia-cuda-crt``, ``nvidia-nvvm``, ``nvidia-cuda-cccl``); :func:`assemble_toolkit` links
both into one ``CUDA_HOME`` (``bin/``, ``nvvm/``, ``include/``, ``lib64/``) that
``torch.utils.cpp_extension.CUDAExtension`` builds with, on any machine, with or without a GPU.

Sub-commands (each prints its result on stdout, or one line naming the problem and the fix on stderr, exit 2):

- ``archs SPEC``: the checked ``TORCH_CUDA_ARCH_LIST`` for ``--cuda SPEC`` (``default`` -> ``8.0;9.0+PTX``).
- ``detect``: the compute capabilities of this machine's GPUs (``9.0``), empty without one.
- ``plan ARCHS``: ``<cuda version> <arch list>`` once torch is known to be a CUDA build with a toolkit available.
- ``toolkit ARCHS CACHE``: the ``CUDA_HOME`` to build with, after checking that its ``nvcc`` knows every arch.

Everything but ``detect``'s fallback and ``plan``/``toolkit`` runs without torch. The source patches of a CUDA build
are in ``tools/install_steps.py``.
"""

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / 'requirements'
# A100 (sm_80) and H100/H200 (sm_90), with PTX of the newest so later GPUs JIT-compile it.
DEFAULT_ARCHS = '8.0;9.0+PTX'
ARCH_PATTERN = re.compile(r'^(\d+)\.(\d+)([af]?)(\+PTX)?$')
NVCC_RELEASE = re.compile(r'release (\d+)\.(\d+)')
SYSTEM_CUDA = Path('/usr/local/cuda')


class ToolkitError(RuntimeError):
    """Bad input or a missing piece, reported as one line before anything is compiled."""


def parse_archs(spec: str) -> str:
    """Checks and normalises an arch list given to ``--cuda``.

    Args:
        spec: Compute capabilities separated by ``;``, ``,`` or spaces, each ``X.Y`` with an optional ``a``/``f``
            suffix and ``+PTX`` (torch's ``TORCH_CUDA_ARCH_LIST`` syntax), or ``default``.

    Returns:
        The ``TORCH_CUDA_ARCH_LIST`` value, duplicates dropped, e.g. ``'8.0;9.0+PTX'``.

    Raises:
        ToolkitError: An empty list or an entry that is not a compute capability (``sm_90``, ``90``).
    """
    if spec.strip() == 'default':
        return DEFAULT_ARCHS
    archs = [arch for arch in re.split(r'[;,\s]+', spec.strip()) if arch]
    bad = [arch for arch in archs if not ARCH_PATTERN.match(arch)]
    if not archs:
        raise ToolkitError("--cuda '': no arch given; expected e.g. '9.0' or '8.0;9.0' (--cuda alone: the default)")
    if bad:
        raise ToolkitError(
            f"--cuda '{spec}': {', '.join(repr(a) for a in bad)} is not a compute capability; "
            f"expected e.g. '9.0' (H100/H200) or '8.0;9.0' (append +PTX for newer GPUs), "
            'see https://developer.nvidia.com/cuda-gpus'
        )
    return ';'.join(dict.fromkeys(archs))


def detect_gpu_archs() -> str:
    """The distinct compute capabilities of the visible GPUs, from ``nvidia-smi`` or else ``torch.cuda``.

    Returns:
        ``TORCH_CUDA_ARCH_LIST`` for exactly these GPUs, e.g. ``'9.0'``; ``''`` on a machine without a GPU.
    """
    archs: list[str] = []
    if shutil.which('nvidia-smi'):
        query = ['nvidia-smi', '--query-gpu=compute_cap', '--format=csv,noheader']
        result = subprocess.run(query, capture_output=True, text=True, check=False)
        if result.returncode == 0:
            archs = [line.strip() for line in result.stdout.splitlines() if ARCH_PATTERN.match(line.strip())]
    if not archs and (shutil.which('nvidia-smi') or Path('/dev/nvidiactl').exists()):
        import torch  # older drivers lack the compute_cap query

        if torch.cuda.is_available():
            capabilities = (torch.cuda.get_device_capability(i) for i in range(torch.cuda.device_count()))
            archs = [f'{major}.{minor}' for major, minor in capabilities]
    return ';'.join(sorted(set(archs), key=lambda arch: tuple(map(int, arch.split('.')))))


def pinned_versions() -> list[str]:
    """The CUDA versions whose toolkit wheels ``requirements/cuda-<version>.txt`` pins, e.g. ``['13.0']``."""
    return sorted(path.stem.removeprefix('cuda-') for path in REQUIREMENTS.glob('cuda-*.txt'))


def nvcc_release(cuda_home: Path) -> tuple[int, int] | None:
    """``(major, minor)`` of ``cuda_home/bin/nvcc``, or ``None`` when there is no working nvcc there."""
    nvcc = cuda_home / 'bin' / 'nvcc'
    if not nvcc.is_file():
        return None
    result = subprocess.run([str(nvcc), '--version'], capture_output=True, text=True, check=False)
    found = NVCC_RELEASE.search(result.stdout)
    return (int(found.group(1)), int(found.group(2))) if found else None


def system_toolkit(major: int) -> Path | None:
    """An installed toolkit of CUDA ``major``: ``$CUDA_HOME``, the ``nvcc`` on ``PATH``, or ``/usr/local/cuda``."""
    candidates = [Path(os.environ['CUDA_HOME'])] if os.environ.get('CUDA_HOME') else []
    if shutil.which('nvcc'):
        candidates.append(Path(shutil.which('nvcc')).resolve().parents[1])
    candidates.append(SYSTEM_CUDA)
    for home in candidates:
        release = nvcc_release(home)
        if release and release[0] == major:
            return home
    return None


def torch_cuda_version() -> str:
    """``torch.version.cuda`` of the running interpreter, e.g. ``'13.0'``.

    Raises:
        ToolkitError: torch is a CPU-only build.
    """
    import torch

    if torch.version.cuda is None:
        raise ToolkitError(
            f'--cuda needs a CUDA build of torch, but torch {torch.__version__} in {sys.prefix} is CPU-only '
            f'(torch.version.cuda is None): install torch=={torch.__version__.split("+")[0]} from PyPI '
            f'(CUDA {", ".join(pinned_versions())}) or run without --cuda'
        )
    return torch.version.cuda


def plan(archs: str) -> tuple[str, str]:
    """Checks everything a CUDA build needs that can be checked without the compiler.

    Args:
        archs: ``--cuda`` value (see :func:`parse_archs`).

    Returns:
        ``(cuda_version, arch_list)``, e.g. ``('13.0', '8.0;9.0+PTX')``.

    Raises:
        ToolkitError: A bad arch list, a CPU-only torch, or a CUDA version with neither pinned toolkit wheels nor
            an installed toolkit of the same major version.
    """
    arch_list = parse_archs(archs)
    version = torch_cuda_version()
    major = int(version.split('.')[0])
    if version not in pinned_versions() and system_toolkit(major) is None:
        import torch

        raise ToolkitError(
            f'no CUDA {version} toolkit: torch {torch.__version__} is built for CUDA {version}, '
            f'requirements/ pins toolkit wheels only for CUDA {", ".join(pinned_versions())}, and no nvcc {major}.x '
            'was found ($CUDA_HOME, PATH, /usr/local/cuda); install a CUDA '
            f'{major}.x toolkit and set CUDA_HOME, or install the PyPI torch built for CUDA {pinned_versions()[-1]}'
        )
    return version, arch_list


def check_archs(arch_list: str, cuda_home: Path) -> None:
    """Raises :class:`ToolkitError` naming every arch of ``arch_list`` that ``cuda_home``'s nvcc cannot compile."""
    nvcc = cuda_home / 'bin' / 'nvcc'
    known = subprocess.run([str(nvcc), '--list-gpu-arch'], capture_output=True, text=True, check=True).stdout.split()
    wanted = {arch: 'compute_{}{}'.format(*ARCH_PATTERN.match(arch).groups()[:2]) for arch in arch_list.split(';')}
    unknown = [arch for arch, name in wanted.items() if name not in known]
    if unknown:
        release = '.'.join(map(str, nvcc_release(cuda_home)))
        supported = ' '.join(f'{int(name[8:-1])}.{name[-1]}' for name in known)
        raise ToolkitError(
            f'--cuda: nvcc {release} ({nvcc}) cannot compile for {", ".join(unknown)}; '
            f'it knows {supported}: drop those archs or use a torch/CUDA release that supports them'
        )


def install_wheels(version: str, wheels: Path) -> None:
    """Installs the pinned toolkit wheels of CUDA ``version`` into ``wheels`` (once per pin set)."""
    requirements = REQUIREMENTS / f'cuda-{version}.txt'
    stamp = wheels / 'requirements.txt'
    if stamp.is_file() and stamp.read_text() == requirements.read_text():
        return
    shutil.rmtree(wheels, ignore_errors=True)
    pip = [sys.executable, '-m', 'pip', '--disable-pip-version-check', 'install', '-q', '--no-deps']
    subprocess.run([*pip, '--target', str(wheels), '-r', str(requirements)], check=True)
    shutil.copyfile(requirements, stamp)


def link_entries(sources: list[Path], dest: Path) -> None:
    """Symlinks every entry of each folder in ``sources`` into ``dest``; later folders win name clashes."""
    dest.mkdir(parents=True, exist_ok=True)
    for source in sources:
        for entry in sorted(source.iterdir()):
            link = dest / entry.name
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(entry)


def link_home(runtime: Path, compiler: Path, home: Path) -> None:
    """Builds ``CUDA_HOME`` from torch's runtime (headers, libraries) and the compiler wheels, all nvidia/cu<major>.

    Layout: ``bin`` and ``nvvm`` from the compiler, ``include`` merged (thrust/cub/libcu++ from
    ``include/cccl`` at the top, as in a system toolkit), ``lib64`` merged with the unversioned ``libX.so`` links
    the linker needs (``-lcudart``, ``-lcusparse``).
    """
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    (home / 'bin').symlink_to(compiler / 'bin')
    (home / 'nvvm').symlink_to(compiler / 'nvvm')
    link_entries([runtime / 'include', compiler / 'include', compiler / 'include' / 'cccl'], home / 'include')
    link_entries([runtime / 'lib', compiler / 'lib'], home / 'lib64')
    for versioned in sorted((home / 'lib64').glob('lib*.so.*')):
        unversioned = versioned.with_name(versioned.name.split('.so.')[0] + '.so')
        if not unversioned.exists():
            unversioned.symlink_to(versioned.name)


def assemble_toolkit(version: str, cache: Path) -> Path:
    """``CUDA_HOME`` for CUDA ``version``: registry wheels when pinned, else an installed toolkit of that major.

    The wheels stay in ``cache/toolkits/cuda-<version>/`` (about 300 MB); the links into this environment's
    ``site-packages/nvidia/cu<major>/`` are rebuilt on every call, so the folder serves any virtual environment.

    Raises:
        ToolkitError: torch's CUDA runtime headers are missing, or no toolkit (see :func:`plan`).
    """
    major = version.split('.')[0]
    explicit = Path(os.environ['CUDA_HOME']) if os.environ.get('CUDA_HOME') else None
    if explicit and (nvcc_release(explicit) or (None,))[0] == int(major):
        return explicit
    if version not in pinned_versions():
        return system_toolkit(int(major))
    runtime = Path(sysconfig.get_paths()['purelib']) / 'nvidia' / f'cu{major}'
    if not (runtime / 'include' / 'cuda_runtime.h').is_file():
        raise ToolkitError(
            f'no CUDA runtime headers in {runtime}: reinstall torch from PyPI, which installs cuda-toolkit {version}'
        )
    toolkit = cache / 'toolkits' / f'cuda-{version}'
    install_wheels(version, toolkit / 'wheels')
    link_home(runtime, toolkit / 'wheels' / 'nvidia' / f'cu{major}', toolkit / 'home')
    return toolkit / 'home'


def main(argv: list[str]) -> int:
    """Runs one sub-command (see the module docstring); returns the exit status."""
    command, *args = argv or ['']
    try:
        if command == 'archs' and len(args) == 1:
            print(parse_archs(args[0]))
        elif command == 'detect' and not args:
            print(detect_gpu_archs())
        elif command == 'plan' and len(args) == 1:
            print(*plan(args[0]))
        elif command == 'toolkit' and len(args) == 2:
            version, arch_list = plan(args[0])
            home = assemble_toolkit(version, Path(args[1]))
            check_archs(arch_list, home)
            print(home)
        else:
            usage = 'archs SPEC | detect | plan ARCHS | toolkit ARCHS CACHE'
            print(f'usage: {Path(__file__).name} {usage}', file=sys.stderr)
            return 2
    except ToolkitError as error:
        print(f'install.sh: {error}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
