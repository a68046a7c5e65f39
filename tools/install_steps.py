"""The steps of ``tools/install.sh`` that are more than one command: installed-version checks, fetching and
unpacking an sdist, and the source patches the mmcv and MinkowskiEngine builds need.

Sub-commands (each prints its result on stdout, or one line naming the problem on stderr, exit 2):

- ``installed DIST VERSION [--from WHEELS]``: exit 0 when ``DIST==VERSION`` is installed (with ``--from``: from a
  wheel in the folder ``WHEELS``), else 1.
- ``unpack NAME VERSION PARENT``: ``PARENT/NAME-VERSION``, the sdist fetched by ``pip download`` and unpacked there;
  an existing one is reused, so an interrupted build resumes.
- ``patch mmcv|minkowski SRC [--cuda]``: applies :data:`SOURCE_PATCHES` to the unpacked sdist ``SRC`` (with
  ``--cuda`` also those of a CUDA build) and prints the files changed.

Only the standard library is imported, so a step starts about as fast as ``python -c``.
"""

import argparse
import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

EVERY = -1
"""``SourcePatch.count`` replacing every occurrence (``str.replace``'s count)."""
PIP_ERROR = re.compile(r'^ERROR: (.*)$', re.M)
HASH_LINES = re.compile(r'^\s*(Expected sha256 \S+|Got\s+\S+)\s*$', re.M)


class StepError(RuntimeError):
    """A step that cannot go on, reported as one line."""


@dataclass(frozen=True)
class SourcePatch:
    """Replaces the first ``count`` occurrences of ``old`` by ``new`` in ``path`` (relative to the unpacked sdist).

    Args:
        path: File of the sdist.
        old: Text to replace.
        new: Replacement.
        fixes: The build or import error the patch fixes.
        count: Occurrences to replace, :data:`EVERY` for all. Defaults to 1.
        cuda: Applies to CUDA builds only. Defaults to False.
    """

    path: str
    old: str
    new: str
    fixes: str
    count: int = 1
    cuda: bool = False


THRUST_HEADERS = ('execution_policy', 'sort', 'unique', 'remove', 'reduce', 'count', 'copy', 'fill', 'sequence')
PREFETCH_HELPER = """#if CUDART_VERSION >= 13000
static inline cudaError_t minkowski_prefetch_to_device(const void* ptr, size_t bytes, int device, cudaStream_t stream)
{
  cudaMemLocation location{};
  location.type = cudaMemLocationTypeDevice;
  location.id   = device;
  return cudaMemPrefetchAsync(ptr, bytes, location, 0, stream);
}
#else
#define minkowski_prefetch_to_device cudaMemPrefetchAsync
#endif
#include <functional>
"""
"""cudaMemPrefetchAsync with a device number, for CUDA 12 and 13 (inserted into concurrent_unordered_map.cuh)."""
CXX20 = '#error C++20 or later compatible compiler is required to use PyTorch (torch/all.h of torch 2.14)'
NO_ABC_ALIASES = "ImportError: cannot import name 'Sequence' from 'collections' (removed in Python 3.10)"
NVTX_AMBIGUOUS = '"nvtx3::domain" is ambiguous'
PREFETCH_LOCATION = 'no suitable constructor exists to convert from "int" to "cudaMemLocation"'


def abc_import(path: str, names: str, rest: str = '') -> SourcePatch:
    """Imports ``names`` from ``collections.abc``, keeping ``rest`` (if any) from ``collections``."""
    old = f'from collections import {names}{", " + rest if rest else ""}\n'
    new = f'from collections.abc import {names}\n' + (f'from collections import {rest}\n' if rest else '')
    return SourcePatch(path, old, new, fixes=NO_ABC_ALIASES)


# The cuda=True patches fix the device code's build with CUDA 13.0 / CCCL 3.0 / C++20 and torch 2.14's headers.
SOURCE_PATCHES = {
    'minkowski': (
        abc_import('MinkowskiEngine/MinkowskiCommon.py', 'Sequence'),
        abc_import('MinkowskiEngine/MinkowskiCoordinateManager.py', 'Sequence'),
        abc_import('MinkowskiEngine/MinkowskiKernelGenerator.py', 'Sequence', rest='namedtuple'),
        abc_import('MinkowskiEngine/MinkowskiTensorField.py', 'Sequence'),
        abc_import('MinkowskiEngine/utils/quantization.py', 'Sequence'),
        # CCCL 3 no longer includes the algorithm headers transitively; gpu.cuh is included by every .cu file.
        SourcePatch(
            'src/gpu.cuh',
            '#include <cublas_v2.h>\n',
            ''.join(f'#include <thrust/{name}.h>\n' for name in THRUST_HEADERS) + '#include <cublas_v2.h>\n',
            fixes='namespace "thrust" has no member "sort" (unique, remove_if, ...)',
            cuda=True,
        ),
        # The vendored cudf NVTX 3.0 clashes with CUDA 13's NVTX 3; it served one profiler range only.
        SourcePatch(
            'src/3rdparty/concurrent_unordered_map.cuh',
            '#include <cudf/detail/nvtx/ranges.hpp>\n',
            '',
            fixes=NVTX_AMBIGUOUS,
            cuda=True,
        ),
        SourcePatch(
            'src/3rdparty/concurrent_unordered_map.cuh',
            '    CUDF_FUNC_RANGE();\n',
            '',
            fixes=NVTX_AMBIGUOUS,
            cuda=True,
        ),
        # This header uses thrust::device, and coordinate_map_gpu.cu includes it before gpu.cuh; CCCL 3's
        # thrust/count.h no longer declares the execution policies.
        SourcePatch(
            'src/3rdparty/concurrent_unordered_map.cuh',
            '#include <thrust/count.h>\n',
            '#include <thrust/count.h>\n#include <thrust/execution_policy.h>\n',
            fixes='namespace "thrust" has no member "device"',
            cuda=True,
        ),
        # CUDA 13's cudaMemPrefetchAsync takes a cudaMemLocation and flags instead of a device number.
        SourcePatch(
            'src/3rdparty/concurrent_unordered_map.cuh',
            '#include <functional>\n',
            PREFETCH_HELPER,
            fixes=PREFETCH_LOCATION,
            cuda=True,
        ),
        SourcePatch(
            'src/3rdparty/concurrent_unordered_map.cuh',
            'cudaMemPrefetchAsync(m_hashtbl_values, ',
            'minkowski_prefetch_to_device(m_hashtbl_values, ',
            fixes=PREFETCH_LOCATION,
            count=2,  # prefetch() and init()
            cuda=True,
        ),
        SourcePatch(
            'src/3rdparty/concurrent_unordered_map.cuh',
            'cudaMemPrefetchAsync(this, ',
            'minkowski_prefetch_to_device(this, ',
            fixes=PREFETCH_LOCATION,
            cuda=True,
        ),
        # libstdc++'s shared_ptr = unique_ptr&& calls __to_address unqualified and ADL also finds cuda::std's
        # (CCCL 3); constructing the shared_ptr from the released pointer and its deleter avoids that overload.
        SourcePatch(
            'src/coordinate_map_gpu.cuh',
            '      m_map = map_type::create(\n'
            '          compute_hash_table_size(size, m_hashtable_occupancy),\n'
            '          m_unused_element, m_unused_key, m_hasher, m_equal, m_map_allocator);\n',
            '      auto created = map_type::create(\n'
            '          compute_hash_table_size(size, m_hashtable_occupancy),\n'
            '          m_unused_element, m_unused_key, m_hasher, m_equal, m_map_allocator);\n'
            '      auto deleter = created.get_deleter();\n'
            '      m_map = std::shared_ptr<map_type>(created.release(), deleter);\n',
            fixes='more than one instance of overloaded function "std::__to_address" matches',
            cuda=True,
        ),
        # torch 2.14's ATen/cuda/CUDAUtils.h no longer brings the Tensor definition, and spmm.cu includes it
        # before torch/extension.h.
        SourcePatch(
            'src/spmm.cu',
            '#include <ATen/cuda/CUDAContext.h>\n',
            '#include <torch/extension.h>\n#include <ATen/cuda/CUDAContext.h>\n',
            fixes='incomplete type "at::Tensor" is not allowed',
            cuda=True,
        ),
        # Removed in CCCL 3; the base only added typedefs.
        SourcePatch(
            'src/coordinate_map_functors.cuh',
            '\n    : public thrust::unary_function<uint32_t,\n                                    '
            'thrust::pair<uint32_t, uint32_t>> {',
            ' {',
            fixes='namespace "thrust" has no member class "unary_function"',
            cuda=True,
        ),
    ),
    # mmcv 2.1.0 hard-codes C++14 and C++17 for its ops.
    'mmcv': (
        SourcePatch('setup.py', '-std=c++14', '-std=c++20', fixes=CXX20, count=EVERY),
        SourcePatch('setup.py', '-std=c++17', '-std=c++20', fixes=CXX20, count=EVERY),
    ),
}
"""The patches of each sdist this repository builds, in the order they apply."""


def apply_patches(package: str, source: Path, cuda: bool = False) -> list[str]:
    """Applies ``SOURCE_PATCHES[package]`` to the unpacked sdist ``source``; patches already applied are skipped.

    Args:
        package: ``'mmcv'`` or ``'minkowski'``.
        source: The unpacked sdist.
        cuda: Also apply the patches of a CUDA build. Defaults to False.

    Returns:
        The files changed, in patch order (a file changed by several patches appears once per patch).

    Raises:
        StepError: A patch's file is missing, or its text matches neither the original nor the patched text
            (another release of the sdist).
    """
    changed = []
    for patch in SOURCE_PATCHES[package]:
        if patch.cuda and not cuda:
            continue
        path = source / patch.path
        if not path.is_file():
            raise StepError(f'{package} patch does not apply to {source}: no file {patch.path}')
        text = path.read_text()
        if patch.old in text and not (patch.old in patch.new and patch.new in text):
            path.write_text(text.replace(patch.old, patch.new, patch.count))
            changed.append(patch.path)
        elif patch.new and patch.new not in text:
            raise StepError(f'{package} patch does not apply to {path}: {patch.old.strip()!r} not found')
    return changed


def is_installed(dist: str, version: str, wheels: Path | None = None) -> bool:
    """Whether ``dist==version`` is installed in this interpreter's environment.

    Args:
        dist: Distribution name, e.g. ``'mmcv'``.
        version: Exact version, e.g. ``'2.1.0'``.
        wheels: When given, the installed copy must come from a wheel in this folder (``direct_url.json``), so a
            CPU build is not taken for a CUDA one. Defaults to None.
    """
    try:
        found = importlib.metadata.distribution(dist)
    except importlib.metadata.PackageNotFoundError:
        return False
    if found.version != version:
        return False
    if wheels is None:
        return True
    url = json.loads(found.read_text('direct_url.json') or '{}').get('url', '')
    origin = Path(urllib.parse.unquote(urllib.parse.urlparse(url).path)).parent
    return origin == wheels.resolve()


def download_command(name: str, version: str, dest: Path) -> list[str]:
    """``pip download`` of the sdist ``name==version`` into ``dest``, with this interpreter's pip.

    pip checks the file against the sha256 the index publishes with each link (``#sha256=`` in the simple API),
    and prepares the sdist's metadata with the build tools on ``PYTHONPATH`` (``--no-build-isolation``: mmcv's
    setup.py needs setuptools<70, which ``install.sh`` provides there).
    """
    return [
        sys.executable,
        '-m',
        'pip',
        '--disable-pip-version-check',
        'download',
        '-q',
        '--no-binary',
        ':all:',
        '--no-deps',
        '--no-build-isolation',
        '-d',
        str(dest),
        f'{name}=={version}',
    ]


def pip_failure(output: str) -> str:
    """One line from pip's output: the expected and actual sha256 when they differ, else its ``ERROR:`` lines."""
    digests = [' '.join(line.split()) for line in HASH_LINES.findall(output)]
    if digests:
        return f'the file is not the one the index publishes: {", ".join(digests)}'
    errors = [line.strip() for line in PIP_ERROR.findall(output)]
    return '; '.join(errors) or (output.strip().splitlines() or ['no output'])[-1]


def fetch_sdist(name: str, version: str, dest: Path) -> Path:
    """Downloads the sdist ``name==version`` into the empty folder ``dest`` (see :func:`download_command`).

    Returns:
        The ``.tar.gz`` file.

    Raises:
        StepError: pip failed (no such release, no network, a sha256 mismatch); the message is one line.
    """
    result = subprocess.run(download_command(name, version, dest), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise StepError(f'pip download {name}=={version} failed: {pip_failure(result.stderr + result.stdout)}')
    archives = sorted(dest.glob('*.tar.gz'))
    if len(archives) != 1:
        raise StepError(f'pip download {name}=={version} left {len(archives)} .tar.gz files in {dest}, not one')
    return archives[0]


def find_unpacked(parent: Path, name: str, version: str) -> Path | None:
    """The folder ``parent/name-version`` (names compared without case, as sdists spell them either way)."""
    wanted = f'{name}-{version}'.lower()
    found = [path for path in parent.iterdir() if path.is_dir() and path.name.lower() == wanted]
    return found[0] if found else None


def unpack(name: str, version: str, parent: Path) -> Path:
    """The sdist ``name==version`` unpacked in ``parent``, reused when there (a build resumes in it).

    The archive is fetched and unpacked in a fresh folder of ``parent`` and then moved, so an interrupted unpack
    is never mistaken for a complete one.

    Raises:
        StepError: See :func:`fetch_sdist`.
    """
    parent.mkdir(parents=True, exist_ok=True)
    existing = find_unpacked(parent, name, version)
    if existing is not None:
        print(f'resuming the build in {existing}', file=sys.stderr)
        return existing
    fresh = Path(tempfile.mkdtemp(prefix='.unpack.', dir=parent))
    try:
        with tarfile.open(fetch_sdist(name, version, fresh)) as archive:
            archive.extractall(fresh, filter='data')
        unpacked = find_unpacked(fresh, name, version)
        if unpacked is None:
            raise StepError(f'the sdist of {name}=={version} holds no folder {name}-{version}')
        return Path(shutil.move(unpacked, parent / unpacked.name))
    finally:
        shutil.rmtree(fresh, ignore_errors=True)


def run_installed(args: argparse.Namespace) -> int:
    """``installed``: 0 when the distribution is installed (see :func:`is_installed`), else 1."""
    return 0 if is_installed(args.dist, args.version, args.wheels) else 1


def run_unpack(args: argparse.Namespace) -> int:
    """``unpack``: prints the unpacked sdist (see :func:`unpack`)."""
    print(unpack(args.name, args.version, args.parent))
    return 0


def run_patch(args: argparse.Namespace) -> int:
    """``patch``: prints the files changed, one a line (see :func:`apply_patches`)."""
    for path in apply_patches(args.package, args.source, args.cuda):
        print(path)
    return 0


def parser() -> argparse.ArgumentParser:
    """The command line of the module (see its docstring); each step sets ``run``, its function."""
    cli = argparse.ArgumentParser(prog='install_steps.py', description=__doc__.split('\n\n')[0])
    steps = cli.add_subparsers(dest='step', required=True)
    installed = steps.add_parser('installed', help='exit 0 when DIST==VERSION is installed')
    installed.add_argument('dist')
    installed.add_argument('version')
    installed.add_argument('--from', dest='wheels', type=Path, help='installed from a wheel in this folder')
    installed.set_defaults(run=run_installed)
    unpacked = steps.add_parser('unpack', help='print PARENT/NAME-VERSION, the sdist fetched and unpacked')
    unpacked.add_argument('name')
    unpacked.add_argument('version')
    unpacked.add_argument('parent', type=Path)
    unpacked.set_defaults(run=run_unpack)
    patch = steps.add_parser('patch', help='apply the source patches of an unpacked sdist')
    patch.add_argument('package', choices=sorted(SOURCE_PATCHES))
    patch.add_argument('source', type=Path)
    patch.add_argument('--cuda', action='store_true', help='also the patches of a CUDA build')
    patch.set_defaults(run=run_patch)
    return cli


def main(argv: list[str]) -> int:
    """Runs one step (see the module docstring); returns the exit status."""
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except StepError as error:
        print(f'install.sh: {error}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
