"""tools/check_cuda_build.py against this environment's CPU builds: it must tell them from CUDA builds.

The device-code listing comes from a stand-in ``cuobjdump`` (the real one is in the assembled toolkit); the op and
MinkowskiEngine checks run for real on the CPU.
"""

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

CUOBJDUMP_LISTING = {
    '--list-elf': [
        'ELF file    1: _ext.1.sm_80.cubin',
        'ELF file    2: _ext.2.sm_90.cubin',
        'ELF file    3: _ext.3.sm_90.cubin',
    ],
    '--list-ptx': ['PTX file    1: _ext.1.sm_90.ptx'],
}


@pytest.fixture
def check(load_tool: Callable[[str], ModuleType]) -> ModuleType:
    return load_tool('tools/check_cuda_build.py')


def fake_cuobjdump(folder: Path, listing: dict[str, list[str]]) -> Path:
    """A ``cuobjdump`` that prints ``listing[option]`` for ``--list-elf`` / ``--list-ptx``."""
    cases = ' '.join(
        f'{option}) printf "%s\\n" {" ".join(repr(line) for line in lines)};;' for option, lines in listing.items()
    )
    path = folder / 'cuobjdump'
    path.write_text(f'#!/bin/sh\ncase "$1" in {cases} esac\n')
    path.chmod(0o755)
    return path


def test_expected_images(check: ModuleType) -> None:
    assert check.expected_images('8.0;9.0+PTX') == [('80', 'cubin'), ('90', 'cubin'), ('90', 'ptx')]


def test_device_code_counts_images_per_arch(check: ModuleType, tmp_path: Path) -> None:
    images = check.device_code(tmp_path / 'lib.so', fake_cuobjdump(tmp_path, CUOBJDUMP_LISTING))
    assert images == Counter({('80', 'cubin'): 1, ('90', 'cubin'): 2, ('90', 'ptx'): 1})


def test_cpu_mmcv_build_fails_the_device_code_check(check: ModuleType, tmp_path: Path) -> None:
    ((ok, message),) = check.check_library('mmcv._ext', '9.0+PTX', fake_cuobjdump(tmp_path, {}))
    assert not ok
    assert message.endswith('no device code; missing sm_90 cubin, sm_90 ptx'), message


def test_cpu_ops_are_checked_against_torchvision(check: ModuleType) -> None:
    results = {message: ok for ok, message in check.check_mmcv_ops()}
    assert results['mmcv.ops.nms on cpu equals torchvision']
    assert results['mmcv.ops.roi_align on cpu equals torchvision']
    (compiled,) = [message for message in results if message.startswith('mmcv.ops compiled for CUDA')]
    assert results[compiled] == ('not available' not in compiled)


@pytest.mark.minkowski
def test_minkowski_cpu_path_equals_dense(check: ModuleType) -> None:
    ME = pytest.importorskip('MinkowskiEngine')

    (built, built_message), (equal, equal_message) = check.check_minkowski()
    assert built == ME.is_cuda_available(), built_message
    assert equal, equal_message


def test_bad_arch_list_is_one_line(check: ModuleType, capsys: pytest.CaptureFixture) -> None:
    assert check.main(['--archs', 'sm_90']) == 2
    assert "'sm_90' is not a compute capability" in capsys.readouterr().err
