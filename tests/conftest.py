"""Shared test settings: small, deterministic CPU runs, and the scripts under tools/ as modules."""

import copy
import importlib
import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest
import torch
from mmengine.registry import DefaultScope

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _restore_default_scope() -> Iterator[None]:
    """Leaves mmengine's default scope as the test found it (as ``DefaultScope.overwrite_default_scope`` does).

    Otherwise a test's ``init_default_scope('mmdet')`` decides how later tests' bare type names resolve.
    """
    saved = copy.copy(DefaultScope._instance_dict)
    yield
    DefaultScope._instance_dict = saved


@pytest.fixture(autouse=True, scope='session')
def _default_scope_at_start() -> dict:
    """mmengine's default scopes before any session fixture ran (autouse session fixtures set up first)."""
    return copy.copy(DefaultScope._instance_dict)


@pytest.fixture(autouse=True, scope='module')
def _reset_default_scope_per_module(_default_scope_at_start: dict) -> Iterator[None]:
    """Leaves the next module the default scope the session started with.

    Module and session fixtures set up before any one test: one that trains through a host's Runner (e.g. the
    deploy tests' shared detector) leaves 'mmdet' current, and a later bare ``type='FCMAE'`` then resolves in
    ``mmdet::model``.
    """
    yield
    DefaultScope._instance_dict = copy.copy(_default_scope_at_start)


@pytest.fixture
def one_thread() -> Iterator[None]:
    """One intra-op thread: two spin against each other on a busy 2-core machine (small runs many times slower).

    Enable it for a whole module with ``pytestmark = pytest.mark.usefixtures('one_thread')``.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def import_script(relative_path: str) -> ModuleType:
    """Imports a script of the repository (e.g. ``'tools/analysis/benchmark.py'``) as a module, without running it.

    Raises:
        FileNotFoundError: No such file under the repository root.
    """
    path = ROOT / relative_path
    if not path.is_file():
        raise FileNotFoundError(f'no script {relative_path} under {ROOT}')
    if (path.parent / '__init__.py').is_file():
        return _import_from_package(path)
    name = relative_path.removesuffix('.py').replace('/', '.')
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _import_from_package(path: Path) -> ModuleType:
    """Imports a module of a script package (e.g. ``tools/demos/``, imported by ``tools/demo.py`` as ``demos``).

    The package is registered under its folder's name, as the script that uses
    it sees it, so the module's relative imports work without ``sys.path`` edits.
    """
    package = path.parent.name
    if package not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            package, path.parent / '__init__.py', submodule_search_locations=[str(path.parent)]
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[package] = module
        spec.loader.exec_module(module)
    return importlib.import_module(f'{package}.{path.stem}')


@pytest.fixture(scope='session')
def load_tool() -> Callable[[str], ModuleType]:
    """``load_tool(relative_path) -> module``: a script of the repository imported once per test session."""
    loaded: dict[str, ModuleType] = {}

    def load(relative_path: str) -> ModuleType:
        if relative_path not in loaded:
            loaded[relative_path] = import_script(relative_path)
        return loaded[relative_path]

    return load
