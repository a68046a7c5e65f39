"""Packaging: compatible ranges in the package metadata, exact pins in the constraints, the tools' exit codes."""

import ast
import importlib.metadata
import subprocess
import sys
from pathlib import Path

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


def test_models_do_not_import_the_runner_side() -> None:
    code = (
        'import sys, convnext.models, convnext.exceptions; '
        'print(sorted(m for m in sys.modules if m.startswith("convnext.utils")))'
    )
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == '[]'
    from convnext.exceptions import ConfigError
    from convnext.utils import ConfigError as ReExported

    assert ReExported is ConfigError


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
