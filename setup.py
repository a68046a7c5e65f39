"""Installs the ``convnext`` package from ``projects/convnext``.

Requirements are compatible ranges (``requirements/runtime.txt``, extras ``mim``,
``tests``, ``optional``); ``tools/install.sh`` installs the exact versions of
``requirements/constraints.txt`` (mmcv and MinkowskiEngine built from source).
Like mmdet's and mmpretrain's ``setup.py``, the package carries ``.mim/`` with
``model-index.yml``, ``configs/`` and ``tools/`` (symlinks in an editable
install, copies in a wheel), so ``mim search`` and ``mim train`` find them.
"""

import shutil
import sys
from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).parent

MIM_FILES = ('model-index.yml', 'configs', 'tools')
"""What ``.mim/`` inside the package holds, as OpenMMLab packages do for mim."""

EDITABLE_COMMANDS = ('develop', 'editable_wheel')
"""setuptools commands of an editable install: ``.mim/`` entries are symlinks."""

BUILD_COMMANDS = ('sdist', 'bdist_wheel', 'install', 'build', 'build_py')
"""setuptools commands that package files: ``.mim/`` entries are copies."""


def read_requirements(name: str) -> list[str]:
    """Returns the requirement lines of ``requirements/<name>.txt``."""
    lines = (ROOT / 'requirements' / f'{name}.txt').read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith('#')]


def read_version() -> str:
    """Returns ``__version__`` from ``projects/convnext/version.py``."""
    namespace: dict = {}
    exec((ROOT / 'projects' / 'convnext' / 'version.py').read_text(), namespace)
    return namespace['__version__']


def find_subpackages() -> list[str]:
    """Lists ``convnext`` and its sub-packages (folders with ``__init__.py``)."""
    source = ROOT / 'projects' / 'convnext'
    found = ['convnext']
    for init in sorted(source.rglob('__init__.py')):
        relative = init.parent.relative_to(source)
        if relative.parts:
            found.append('.'.join(('convnext', *relative.parts)))
    return found


def add_mim_extension() -> None:
    """Puts :data:`MIM_FILES` into ``projects/convnext/.mim/`` (symlinks when editable, else copies)."""
    if any(command in sys.argv for command in EDITABLE_COMMANDS):
        link = True
    elif any(command in sys.argv for command in BUILD_COMMANDS):
        link = False
    else:
        return
    mim = ROOT / 'projects' / 'convnext' / '.mim'
    mim.mkdir(exist_ok=True)
    for name in MIM_FILES:
        source, target = ROOT / name, mim / name
        if target.is_symlink() or target.is_file():
            target.unlink()
        elif target.is_dir():
            shutil.rmtree(target)
        if link:
            target.symlink_to(Path('..', '..', '..', name))
        elif source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copyfile(source, target)


add_mim_extension()
setup(
    name='convnext-openmmlab',
    version=read_version(),
    description='ConvNeXt V1/V2 backbones, layer-decay optimizers and FCMAE for OpenMMLab 2.0',
    long_description=(ROOT / 'README.md').read_text() if (ROOT / 'README.md').exists() else '',
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.10',
    packages=find_subpackages(),
    package_dir={'convnext': 'projects/convnext'},
    include_package_data=True,
    package_data={'convnext': ['.mim/model-index.yml', '.mim/configs/**/*', '.mim/tools/**/*']},
    install_requires=read_requirements('runtime'),
    extras_require={
        'mim': read_requirements('mminstall'),
        'tests': read_requirements('tests') + read_requirements('deploy'),
        'deploy': read_requirements('deploy'),
        'optional': read_requirements('optional'),
    },
    zip_safe=False,
)
