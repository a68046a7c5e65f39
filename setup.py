"""Installs the ``convnext`` package from ``projects/convnext``.

The OpenMMLab stack is pinned in ``requirements/mminstall.txt`` and set up by
``tools/install.sh`` (mmcv and MinkowskiEngine are built from source there).
"""

from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).parent


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
    install_requires=read_requirements('runtime'),
    extras_require={
        'mim': read_requirements('mminstall'),
        'tests': read_requirements('tests'),
        'optional': read_requirements('optional'),
    },
    zip_safe=False,
)
