"""Checks the CUDA builds of mmcv and MinkowskiEngine that ``bash tools/install.sh --cuda`` installed, GPU or not.

1. Device code: every shared library of mmcv's ops and of MinkowskiEngine's backend carries, for each requested
   architecture, a cubin (``sm_XY``), and PTX where the arch is marked ``+PTX``; listed by ``cuobjdump`` of the
   toolkit ``tools/cuda_toolkit.py`` assembles (``readelf`` finds the ``.nv_fatbin`` section).
2. ``mmcv.ops`` imports, was compiled for ``torch.version.cuda``, and its CPU ``nms`` and ``roi_align`` equal
   torchvision's (on the GPU too when there is one).
3. MinkowskiEngine reports CUDA, and FCMAE's sparse ``minkowski`` encoder equals the ``dense`` one on the CPU
   (and on the GPU when there is one).

Usage: python tools/check_cuda_build.py [--archs '8.0;9.0+PTX'] [--cache DIR]
Prints one line per check; exit status 1 when any fails.
"""

import argparse
import importlib.util
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import torch

TOOLS = Path(__file__).resolve().parent
DEFAULT_ARCHS = '8.0;9.0+PTX'
DEFAULT_CACHE = os.environ.get('CONVNEXT_WHEEL_CACHE', str(Path.home() / '.cache' / 'convnext-wheels'))
CUBIN_ARCH = re.compile(r'\.sm_(\d+[af]?)\.(cubin|ptx)$')
TINY_ARCH = {'depths': [1, 1, 1, 1], 'channels': [8, 16, 24, 32]}
IMAGE_SIZE = 96  # a 3x3 grid of FCMAE's 32-pixel patches


def cuda_home(archs: str, cache: str) -> Path:
    """The toolkit ``install.sh`` builds with (``tools/cuda_toolkit.py toolkit``), for its ``cuobjdump``."""
    command = [sys.executable, str(TOOLS / 'cuda_toolkit.py'), 'toolkit', archs, cache]
    return Path(subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip())


def device_code(library: Path, cuobjdump: Path) -> Counter:
    """Counts the embedded images of ``library`` per ``(arch, kind)``, e.g. ``{('90', 'cubin'): 59}``."""
    listing = []
    for option in ('--list-elf', '--list-ptx'):
        result = subprocess.run([str(cuobjdump), option, str(library)], capture_output=True, text=True, check=False)
        listing += result.stdout.split()
    return Counter(match.groups() for match in map(CUBIN_ARCH.search, listing) if match)


def has_fatbin(library: Path) -> bool:
    """Whether ``readelf -S`` finds the ``.nv_fatbin`` section that holds the device code."""
    sections = subprocess.run(['readelf', '-S', '-W', str(library)], capture_output=True, text=True, check=True)
    return '.nv_fatbin' in sections.stdout


def expected_images(archs: str) -> list[tuple[str, str]]:
    """``[(arch, kind)]`` that a build for ``archs`` must embed: a cubin each, plus PTX for ``+PTX`` ones."""
    expected = []
    for arch in archs.split(';'):
        number = arch.removesuffix('+PTX').replace('.', '')
        expected.append((number, 'cubin'))
        if arch.endswith('+PTX'):
            expected.append((number, 'ptx'))
    return expected


def check_library(extension: str, archs: str, cuobjdump: Path) -> list[tuple[bool, str]]:
    """The compiled extension module ``extension`` (e.g. ``'mmcv._ext'``) carries device code for every arch."""
    spec = importlib.util.find_spec(extension)
    if spec is None or not spec.origin:
        return [(False, f'{extension}: not installed')]
    library = Path(spec.origin)
    images = device_code(library, cuobjdump)
    missing = [f'sm_{arch} {kind}' for arch, kind in expected_images(archs) if not images[(arch, kind)]]
    found = ', '.join(f'{count} sm_{arch} {kind}' for (arch, kind), count in sorted(images.items()))
    message = f'{extension} ({library.name}): {found or "no device code"}'
    return [(has_fatbin(library) and not missing, message + (f'; missing {", ".join(missing)}' if missing else ''))]


def check_mmcv_ops() -> list[tuple[bool, str]]:
    """mmcv.ops was compiled for torch's CUDA, and nms / roi_align equal torchvision's on each device."""
    import torchvision.ops
    from mmcv.ops import get_compiling_cuda_version, nms, roi_align

    compiled = get_compiling_cuda_version()
    results = [
        (compiled == torch.version.cuda, f'mmcv.ops compiled for CUDA {compiled}, torch for {torch.version.cuda}')
    ]
    generator = torch.Generator().manual_seed(0)
    corners = torch.rand(200, 2, generator=generator) * 50
    boxes = torch.cat([corners, corners + torch.rand(200, 2, generator=generator) * 30 + 1], dim=1)
    scores = torch.rand(200, generator=generator)
    feats = torch.randn(2, 8, 32, 32, generator=generator)
    rois = torch.cat([torch.tensor([[0.0], [1.0], [1.0]]), boxes[:3] / 2], dim=1)
    for device in devices():
        _, keep = nms(boxes.to(device), scores.to(device), iou_threshold=0.5)
        same_nms = torch.equal(keep.cpu(), torchvision.ops.nms(boxes, scores, 0.5))
        ours = roi_align(feats.to(device), rois.to(device), (7, 7), 1.0, 2, 'avg', True).cpu()
        reference = torchvision.ops.roi_align(feats, rois, (7, 7), 1.0, 2, aligned=True)
        results.append((same_nms, f'mmcv.ops.nms on {device} equals torchvision'))
        same_roi_align = torch.allclose(ours, reference, atol=1e-5)
        results.append((same_roi_align, f'mmcv.ops.roi_align on {device} equals torchvision'))
    return results


def check_minkowski() -> list[tuple[bool, str]]:
    """MinkowskiEngine was built with CUDA, and FCMAE's minkowski encoder equals the dense one on each device."""
    import MinkowskiEngine as ME

    from convnext.registry import MODELS

    results = [(ME.is_cuda_available(), f'MinkowskiEngine {ME.__version__} built with CUDA {ME.cuda_version()}')]
    torch.manual_seed(0)
    backbone = dict(type='convnext.ConvNeXtV2', arch=TINY_ARCH)
    model = MODELS.build(dict(type='FCMAE', backbone=backbone, decoder_embed_dim=16)).eval()
    imgs = torch.randn(2, 3, IMAGE_SIZE, IMAGE_SIZE)
    mask = model.generate_mask(imgs)
    for device in devices():
        model.to(device)
        with torch.no_grad():
            dense = model.encode(imgs.to(device), mask.to(device), backend='dense')
            sparse = model.encode(imgs.to(device), mask.to(device), backend='minkowski')
        error = (dense - sparse).abs().max().item()
        results.append((error < 1e-4, f'FCMAE minkowski encoder on {device} equals dense (max |diff| {error:.1e})'))
    return results


def devices() -> list[str]:
    """``['cpu']``, plus ``'cuda'`` where a GPU is visible."""
    return ['cpu', 'cuda'] if torch.cuda.is_available() else ['cpu']


def run(checks: list[Callable[[], list[tuple[bool, str]]]]) -> bool:
    """Runs the checks, prints ``PASS``/``FAIL`` lines (an exception fails its check), returns whether all passed."""
    passed = True
    for check in checks:
        try:
            results = check()
        except Exception as error:  # one broken check must not hide the others
            results = [(False, f'{check.__name__}: {type(error).__name__}: {error}')]
        for ok, message in results:
            print(f'{"PASS" if ok else "FAIL"}  {message}')
            passed &= ok
    return passed


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--archs', default=DEFAULT_ARCHS, help=f'TORCH_CUDA_ARCH_LIST built (default {DEFAULT_ARCHS})')
    parser.add_argument('--cache', default=DEFAULT_CACHE, help='install.sh wheel cache holding the toolkit')
    parser.add_argument('--no-minkowski', action='store_true', help='MinkowskiEngine was not installed')
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Runs every check; returns the exit status (2: no toolkit for these archs, as ``install.sh`` reports it)."""
    args = parse_args(argv)
    try:
        cuobjdump = cuda_home(args.archs, args.cache) / 'bin' / 'cuobjdump'
    except subprocess.CalledProcessError as error:
        print(error.stderr.strip(), file=sys.stderr)
        return 2
    print(f'torch {torch.__version__} (CUDA {torch.version.cuda}), TORCH_CUDA_ARCH_LIST={args.archs}, {cuobjdump}')
    checks = [lambda: check_library('mmcv._ext', args.archs, cuobjdump), check_mmcv_ops]
    if not args.no_minkowski:
        checks += [lambda: check_library('MinkowskiEngineBackend._C', args.archs, cuobjdump), check_minkowski]
    return 0 if run(checks) else 1


if __name__ == '__main__':
    sys.exit(main())
