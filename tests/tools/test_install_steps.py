"""tools/install_steps.py on tiny fake source trees, a fake installed distribution and a local package index.

Nothing is compiled and nothing leaves the machine: ``pip download`` reads a ``file://`` simple index written by the
test (pip's configuration files and ``PIP_FIND_LINKS`` are switched off for it).
"""

import hashlib
import io
import json
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / 'tools' / 'install_steps.py'
TIMEOUT = 600
"""Seconds; a step takes a few, but a loaded 2-core machine starts python and pip slowly."""
FAKE_SETUP = 'from setuptools import setup\nsetup(name="fakepkg", version="1.0")\n'


@pytest.fixture
def steps(load_tool: Callable[[str], ModuleType]) -> ModuleType:
    return load_tool('tools/install_steps.py')


def write_tree(root: Path, files: dict[str, str]) -> None:
    """Writes ``files`` (relative path -> text) under ``root``."""
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def source_tree(steps: ModuleType, root: Path, package: str, cuda: bool) -> None:
    """An sdist stand-in holding exactly the text each patch of ``package`` (of this build) replaces."""
    for patch in steps.SOURCE_PATCHES[package]:
        if patch.cuda and not cuda:
            continue
        path = root / patch.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text((path.read_text() if path.exists() else '// head\n') + patch.old + '// tail\n')


def test_every_patch_names_the_error_it_fixes(steps: ModuleType) -> None:
    patches = [patch for package in steps.SOURCE_PATCHES.values() for patch in package]
    assert patches and all(patch.fixes.strip() for patch in patches)
    assert all(patch.old != patch.new for patch in patches)


def test_source_patches_apply_once_and_refuse_other_sources(steps: ModuleType, tmp_path: Path) -> None:
    patches = steps.SOURCE_PATCHES['minkowski']
    source_tree(steps, tmp_path, 'minkowski', cuda=True)
    first = {path: (tmp_path / path).read_text() for path in steps.apply_patches('minkowski', tmp_path, cuda=True)}
    assert set(first) == {patch.path for patch in patches}
    assert steps.apply_patches('minkowski', tmp_path, cuda=True) == []  # a second run changes nothing
    assert all((tmp_path / path).read_text() == text for path, text in first.items())
    (tmp_path / patches[0].path).write_text('// another release\n')
    with pytest.raises(steps.StepError, match='patch does not apply'):
        steps.apply_patches('minkowski', tmp_path, cuda=True)


def test_cpu_build_leaves_the_cuda_sources_alone(steps: ModuleType, tmp_path: Path) -> None:
    source_tree(steps, tmp_path, 'minkowski', cuda=True)
    before = {path: path.read_text() for path in tmp_path.rglob('*') if path.is_file()}
    changed = steps.apply_patches('minkowski', tmp_path)
    assert changed and all(path.endswith('.py') for path in changed)
    assert all(before[path] == path.read_text() for path in before if path.suffix != '.py')


def test_abc_imports_split_off_collections(steps: ModuleType, tmp_path: Path) -> None:
    """The patched lines import on this Python; the original ones raise the error the patch names."""
    source_tree(steps, tmp_path, 'minkowski', cuda=False)
    kernel = tmp_path / 'MinkowskiEngine/MinkowskiKernelGenerator.py'
    original = kernel.read_text()
    with pytest.raises(ImportError, match="cannot import name 'Sequence' from 'collections'"):
        exec(original.replace('// ', '# '), {})
    steps.apply_patches('minkowski', tmp_path)
    patched = kernel.read_text()
    assert 'from collections.abc import Sequence\nfrom collections import namedtuple\n' in patched
    namespace: dict = {}
    exec(patched.replace('// ', '# '), namespace)
    assert namespace['Sequence'].__module__ == 'collections.abc' and callable(namespace['namedtuple'])


def test_mmcv_standard_becomes_cxx20_everywhere(steps: ModuleType, tmp_path: Path) -> None:
    setup = "nvcc = ['-std=c++14', '-std=c++14']\ncxx = ['-std=c++17']\n# ['std=c++14'] in a comment\n"
    write_tree(tmp_path, {'setup.py': setup})
    assert steps.apply_patches('mmcv', tmp_path, cuda=True) == ['setup.py', 'setup.py']
    expected = "nvcc = ['-std=c++20', '-std=c++20']\ncxx = ['-std=c++20']\n# ['std=c++14'] in a comment\n"
    assert (tmp_path / 'setup.py').read_text() == expected
    assert steps.apply_patches('mmcv', tmp_path) == []
    assert (tmp_path / 'setup.py').read_text() == expected


def test_patch_step_prints_the_files_changed(steps: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write_tree(tmp_path, {'setup.py': "cxx = ['-std=c++14', '-std=c++17']\n"})
    assert steps.main(['patch', 'mmcv', str(tmp_path)]) == 0
    assert capsys.readouterr().out == 'setup.py\nsetup.py\n'
    assert steps.main(['patch', 'mmcv', str(tmp_path)]) == 0
    assert capsys.readouterr().out == ''


def test_missing_source_file_is_one_line(steps: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert steps.main(['patch', 'mmcv', str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert error == f'install.sh: mmcv patch does not apply to {tmp_path}: no file setup.py\n'


def test_download_command(steps: ModuleType, tmp_path: Path) -> None:
    command = steps.download_command('MinkowskiEngine', '0.5.4', tmp_path)
    assert command[:3] == [sys.executable, '-m', 'pip'] and 'download' in command
    assert command[command.index('--no-binary') + 1] == ':all:'  # the sdist, never a wheel
    assert {'--no-deps', '--no-build-isolation'} <= set(command)
    assert command[command.index('-d') + 1] == str(tmp_path) and command[-1] == 'MinkowskiEngine==0.5.4'
    assert '--require-hashes' not in command  # pip checks the index's sha256 of the link unasked


def fake_distribution(site: Path, name: str, version: str, wheel_folder: Path | None) -> None:
    """``site/name-version.dist-info``, installed from a wheel in ``wheel_folder`` when given."""
    info = site / f'{name.replace("-", "_")}-{version}.dist-info'
    info.mkdir(parents=True)
    (info / 'METADATA').write_text(f'Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n')
    if wheel_folder is not None:
        url = (wheel_folder / f'{name.replace("-", "_")}-{version}-py3-none-any.whl').as_uri()
        (info / 'direct_url.json').write_text(json.dumps({'url': url, 'archive_info': {}}))


def test_installed_version_and_origin(steps: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wheels = tmp_path / 'cuda13.0-arch9.0'
    fake_distribution(tmp_path / 'site', 'fakedist-cuda', '2.1.0', wheels)
    fake_distribution(tmp_path / 'site', 'fakedist-cpu', '2.1.0', None)
    monkeypatch.syspath_prepend(str(tmp_path / 'site'))
    assert steps.is_installed('fakedist-cuda', '2.1.0') and steps.is_installed('fakedist-cuda', '2.1.0', wheels)
    assert not steps.is_installed('fakedist-cuda', '2.1.0', tmp_path / 'cpu-wheels')
    assert not steps.is_installed('fakedist-cuda', '2.0.0')
    assert steps.is_installed('fakedist-cpu', '2.1.0') and not steps.is_installed('fakedist-cpu', '2.1.0', wheels)
    assert not steps.is_installed('fakedist-absent', '2.1.0')


def test_installed_exit_status_from_the_shell() -> None:
    """install.sh reads the answer from the exit status of the script."""
    version = subprocess.run(
        [sys.executable, '-c', 'import pytest; print(pytest.__version__)'], capture_output=True, text=True, check=True
    ).stdout.strip()
    for wanted, status in ((version, 0), ('0.0.1', 1)):
        command = [sys.executable, str(SCRIPT), 'installed', 'pytest', wanted]
        result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, check=False)
        assert (result.returncode, result.stdout, result.stderr) == (status, '', '')


def fake_sdist(folder: Path) -> bytes:
    """``fakepkg-1.0.tar.gz``: a setup.py and one module, as pip would find it on an index."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode='w:gz') as archive:
        for name, text in {'setup.py': FAKE_SETUP, 'fakepkg.py': 'VALUE = 1\n'}.items():
            data = text.encode()
            member = tarfile.TarInfo(f'fakepkg-1.0/{name}')
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / 'fakepkg-1.0.tar.gz').write_bytes(buffer.getvalue())
    return buffer.getvalue()


@pytest.fixture
def local_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """``publish(sha256)``: a file:// simple index listing fakepkg-1.0.tar.gz with that digest, the only index pip
    sees."""
    files, index = tmp_path / 'files', tmp_path / 'index'
    fake_sdist(files)
    monkeypatch.setenv('PIP_CONFIG_FILE', '/dev/null')
    monkeypatch.setenv('PIP_INDEX_URL', index.as_uri())
    monkeypatch.delenv('PIP_FIND_LINKS', raising=False)
    monkeypatch.delenv('PIP_EXTRA_INDEX_URL', raising=False)

    def publish(digest: str) -> None:
        link = f'{(files / "fakepkg-1.0.tar.gz").as_uri()}#sha256={digest}'
        write_tree(index, {'fakepkg/index.html': f'<html><body><a href="{link}">fakepkg-1.0.tar.gz</a></body></html>'})

    return publish


def test_unpack_fetches_checks_and_reuses(
    steps: ModuleType, tmp_path: Path, local_index: Callable[[str], None]
) -> None:
    local_index(hashlib.sha256((tmp_path / 'files' / 'fakepkg-1.0.tar.gz').read_bytes()).hexdigest())
    source = steps.unpack('fakepkg', '1.0', tmp_path / 'build')
    assert source == tmp_path / 'build' / 'fakepkg-1.0'
    assert (source / 'fakepkg.py').read_text() == 'VALUE = 1\n'
    assert [path.name for path in (tmp_path / 'build').iterdir()] == ['fakepkg-1.0']  # nothing left aside
    (tmp_path / 'index' / 'fakepkg' / 'index.html').unlink()  # a resumed build needs no index
    assert steps.unpack('fakepkg', '1.0', tmp_path / 'build') == source


def test_sha256_mismatch_is_one_line(
    steps: ModuleType, tmp_path: Path, local_index: Callable[[str], None], capsys: pytest.CaptureFixture
) -> None:
    local_index('0' * 64)
    assert steps.main(['unpack', 'fakepkg', '1.0', str(tmp_path / 'build')]) == 2
    captured = capsys.readouterr()
    assert captured.out == '' and captured.err.count('\n') == 1, captured.err
    assert captured.err.startswith('install.sh: pip download fakepkg==1.0 failed: ')
    assert f'not the one the index publishes: Expected sha256 {"0" * 64}, Got ' in captured.err
    assert [path.name for path in (tmp_path / 'build').iterdir()] == []  # no partial unpack to resume from


def test_unknown_release_is_one_line(
    steps: ModuleType, tmp_path: Path, local_index: Callable[[str], None], capsys: pytest.CaptureFixture
) -> None:
    local_index('0' * 64)
    assert steps.main(['unpack', 'fakepkg', '9.9', str(tmp_path / 'build')]) == 2
    error = capsys.readouterr().err
    assert error.count('\n') == 1 and 'fakepkg==9.9 failed: ' in error and 'No matching distribution' in error, error
