"""The fast path and the block depend in one direction only, read from the package's import statements.

The block (``backbones/convnext.py``) asks one public function of the fast
path, ``fast_forward(block, x)``, and passes itself; the fast path imports
neither the block nor anything that imports it, and reads only the public
attributes it declares in ``FusableBlock``. No other module uses a private
name of the fast path; the per-module hook registries are read in one place,
``layers.has_hooks``.
"""

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

import convnext
from convnext.models.backbones import ConvNeXtBlock
from convnext.models.backbones.fast_paths import (
    ONEDNN_AVAILABLE,
    PLAIN_TYPES,
    FusableBlock,
    fast_forward,
    fast_paths,
)

PACKAGE = 'convnext'
PACKAGE_ROOT = Path(convnext.__file__).parent
FAST_PATHS = 'convnext.models.backbones.fast_paths'
BLOCK_MODULE = 'convnext.models.backbones.convnext'
HOOKS_MODULE = 'convnext.models.layers'
FCMAE_ENCODERS = ('convnext.models.selfsup.minkowski_encoder', 'convnext.models.selfsup.dense_encoder')
HOOK_REGISTRY = '_forward_hooks'
TOL = 1e-5
"""A per-module hook registry of ``nn.Module``: only the module that tests for hooks names it."""


def module_names() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its ``__init__.py``)."""
    names = {}
    for path in PACKAGE_ROOT.rglob('*.py'):
        parts = path.relative_to(PACKAGE_ROOT).with_suffix('').parts
        parts = parts[:-1] if parts[-1] == '__init__' else parts
        names['.'.join((PACKAGE, *parts))] = path
    return names


MODULES = module_names()


def parse(module: str) -> ast.Module:
    return ast.parse(MODULES[module].read_text(), filename=str(MODULES[module]))


def resolve(module: str, node: ast.ImportFrom) -> str:
    """The absolute name of the module a ``from ... import`` statement of ``module`` reads from."""
    if not node.level:
        return node.module or ''
    is_package = MODULES[module].name == '__init__.py'
    base = module.split('.')[: len(module.split('.')) - node.level + is_package]
    return '.'.join(base + ([node.module] if node.module else []))


def imports(module: str) -> Iterator[tuple[str, str | None, str]]:
    """``(source, name, bound_as)`` of every import in ``module``; ``name`` None for ``import source``."""
    for node in ast.walk(parse(module)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None, alias.asname or alias.name
        elif isinstance(node, ast.ImportFrom):
            source = resolve(module, node)
            for alias in node.names:
                yield source, alias.name, alias.asname or alias.name


def imported_modules(module: str) -> set[str]:
    """The package's modules that ``module`` imports (``from pkg import submodule`` counts the submodule)."""
    found = set()
    for source, name, _ in imports(module):
        submodule = f'{source}.{name}'
        found.add(submodule if submodule in MODULES else source)
    return found & set(MODULES)


def reachable_modules(module: str) -> set[str]:
    """The package's modules ``module`` imports, directly or through others."""
    seen, todo = set(), [module]
    while todo:
        for imported in imported_modules(todo.pop()) - seen:
            seen.add(imported)
            todo.append(imported)
    return seen


def fast_path_names_used(module: str) -> set[str]:
    """Names ``module`` takes from the fast path: imported from it, or read as attributes of it."""
    names, aliases = set(), set()
    for source, name, bound_as in imports(module):
        if source == FAST_PATHS and name is not None:
            names.add(name)
        elif f'{source}.{name}' == FAST_PATHS or (name is None and source == FAST_PATHS):
            aliases.add(bound_as)
    for node in ast.walk(parse(module)):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            names.add(node.attr)
    return names


def block_attributes_read() -> set[str]:
    """Attributes the fast path reads of a parameter named ``block``."""
    return {
        node.attr
        for node in ast.walk(parse(FAST_PATHS))
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == 'block'
    }


def test_the_reader_finds_the_imports_it_checks() -> None:
    assert FAST_PATHS in imported_modules(BLOCK_MODULE)
    assert HOOKS_MODULE in imported_modules(FAST_PATHS)
    assert BLOCK_MODULE in reachable_modules('convnext.models.selfsup.minkowski_encoder')
    assert fast_path_names_used(BLOCK_MODULE)


def test_the_fast_path_does_not_import_the_block() -> None:
    reachable = reachable_modules(FAST_PATHS)
    assert BLOCK_MODULE not in reachable
    assert not any(FAST_PATHS.startswith(f'{module}.') for module in reachable), 'a package that imports the block'


def test_the_block_asks_one_public_function_of_the_fast_path() -> None:
    assert fast_path_names_used(BLOCK_MODULE) == {'fast_forward'}


@pytest.mark.parametrize('module', sorted(set(MODULES) - {FAST_PATHS}))
def test_no_module_uses_a_private_name_of_the_fast_path(module: str) -> None:
    private = {name for name in fast_path_names_used(module) if name.startswith('_')}
    assert not private


@pytest.mark.parametrize('module', FCMAE_ENCODERS)
def test_fcmae_encoders_do_not_use_the_fast_path(module: str) -> None:
    assert FAST_PATHS not in imported_modules(module)


def test_the_fast_path_reads_only_the_public_attributes_it_declares() -> None:
    declared = set(FusableBlock.__annotations__) | {'parameters'}
    assert block_attributes_read() <= declared
    assert set(PLAIN_TYPES) <= declared
    assert not any(name.startswith('_') for name in declared)


@pytest.mark.parametrize('kwargs', [{}, {'use_grn': True, 'layer_scale_init_value': 0.0}])
def test_the_block_has_what_the_fast_path_declares(kwargs: dict) -> None:
    block = ConvNeXtBlock(8, **kwargs)
    missing = [name for name in FusableBlock.__annotations__ if not hasattr(block, name)]
    assert not missing


def names_string(module: str, text: str) -> bool:
    """Whether ``module`` has the string constant ``text``."""
    return any(isinstance(node, ast.Constant) and node.value == text for node in ast.walk(parse(module)))


def test_hook_registries_are_read_in_one_module() -> None:
    assert [module for module in MODULES if names_string(module, HOOK_REGISTRY)] == [HOOKS_MODULE]


@pytest.mark.parametrize('kwargs', [{}, {'use_grn': True, 'layer_scale_init_value': 0.0}])
def test_fast_forward_is_the_blocks_output_or_none(kwargs: dict) -> None:
    block = ConvNeXtBlock(8, **kwargs).eval()
    x = torch.randn(2, 8, 16, 16).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        reference = x + block.residual(x)
        fused = fast_forward(block, x)
        with fast_paths(False):
            assert fast_forward(block, x) is None
    assert (fused is not None) == ONEDNN_AVAILABLE
    if fused is not None:
        torch.testing.assert_close(fused, reference, atol=TOL, rtol=TOL)
    assert fast_forward(block, x) is None  # autograd needed: the block runs its reference forward
