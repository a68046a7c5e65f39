"""Packaging: compatible ranges in the package metadata, exact pins in the constraints, the tools' exit codes."""

import ast
import importlib.metadata
import importlib.util
import pkgutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / 'requirements'
RANGED = ('runtime', 'mminstall', 'optional')
"""Requirement files that become install_requires / extras: ranges, never exact pins."""

TOOLS = sorted(
    path.relative_to(ROOT)
    for folder in ('tools', 'tools/analysis', 'tools/model_converters', 'tools/deployment')
    for path in (ROOT / folder).glob('*.py')
)


def requirements(name: str) -> list[Requirement]:
    lines = (REQUIREMENTS / f'{name}.txt').read_text().splitlines()
    return [Requirement(line) for line in (line.strip() for line in lines) if line and not line.startswith('#')]


def constraints() -> dict[str, Requirement]:
    return {req.name.lower(): req for req in requirements('constraints')}


@pytest.mark.parametrize('name', RANGED)
def test_package_requirements_are_ranges(name: str) -> None:
    for req in requirements(name):
        assert not any(spec.operator in ('==', '===') for spec in req.specifier), f'{name}.txt pins {req}'


@pytest.mark.parametrize('name', RANGED)
def test_constraints_pin_versions_inside_the_ranges(name: str) -> None:
    pinned = constraints()
    for req in requirements(name):
        if req.name.lower() in pinned:
            pin = next(iter(pinned[req.name.lower()].specifier))
            if pin.operator == '==':
                assert req.specifier.contains(pin.version, prereleases=True), f'{pin} is outside {req}'


def test_environment_has_the_constrained_versions() -> None:
    for name, req in constraints().items():
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue  # optional (e.g. MinkowskiEngine with --no-minkowski)
        assert req.specifier.contains(version, prereleases=True), f'{name} {version} installed, constraints say {req}'


def test_install_script_installs_with_the_constraints() -> None:
    script = (ROOT / 'tools' / 'install.sh').read_text()
    steps = [line for line in script.splitlines() if 'install -q' in line and ('runtime.txt' in line or '-e ' in line)]
    steps += [line for line in script.splitlines() if 'mminstall.txt' in line and 'install' in line]
    assert len(steps) == 3 and 'requirements/constraints.txt' in script
    assert all('PINS' in step or 'constraints.txt' in step for step in steps), steps


def test_models_do_not_import_the_tools_start_up() -> None:
    code = (
        'import sys, convnext.models, convnext.exceptions, convnext.compile; '
        'print(sorted(m for m in sys.modules if m.startswith("convnext.launch")))'
    )
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == '[]'
    import convnext.launch

    assert not hasattr(convnext.launch, 'ConfigError')  # one import path: convnext.exceptions


def convnext_modules() -> list[ModuleType]:
    """Every module and package of ``convnext``, imported."""
    import convnext

    names = [info.name for info in pkgutil.walk_packages(convnext.__path__, 'convnext.')]
    return [convnext, *(importlib.import_module(name) for name in names)]


def test_every_public_name_has_one_import_path() -> None:
    """A face exports (``__all__``) only what is defined inside its own package: no re-exports across packages."""
    outside = []
    for module in convnext_modules():
        for name in getattr(module, '__all__', ()):
            home = getattr(getattr(module, name), '__module__', None)
            inside = home == module.__name__ or str(home).startswith(f'{module.__name__}.')
            if str(home).startswith('convnext') and not inside:
                outside.append(f'{module.__name__}.{name} (defined in {home})')
    assert not outside, outside
    assert importlib.util.find_spec('convnext.utils') is None  # no alias of convnext.launch or convnext.compile


def imported_modules(path: Path) -> list[str]:
    """The modules a Python file imports (``import a.b``, ``from a.b import c``)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def test_tools_and_tests_import_the_start_up_package_by_its_face() -> None:
    files = [*(ROOT / 'tools').rglob('*.py'), *(ROOT / 'tests').rglob('*.py')]
    past_the_face = [
        f'{path.relative_to(ROOT)}: {name}'
        for path in sorted(files)
        for name in imported_modules(path)
        if name.startswith('convnext.launch.')
    ]
    assert not past_the_face, past_the_face


@pytest.mark.parametrize('tool', TOOLS, ids=str)
def test_every_tool_main_returns_an_exit_code(tool: Path) -> None:
    tree = ast.parse((ROOT / tool).read_text())
    main = next((node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == 'main'), None)
    assert main is not None, f'{tool}: every script under tools/ (not tools/demos/) defines main()'
    assert ast.unparse(main.returns) == 'int', f'{tool}: main must return an int exit code'
    assert 'sys.exit(main(' in (ROOT / tool).read_text(), f'{tool}: the script must exit with main()'


def test_licence_and_weights_notice() -> None:
    assert 'Apache License' in (ROOT / 'LICENSE').read_text() and 'Version 2.0' in (ROOT / 'LICENSE').read_text()
    notice = (ROOT / 'NOTICE').read_text()
    assert 'CC-BY-NC 4.0' in notice and 'ConvNeXt-V2' in notice
