"""Bad input through the tools, tried as a user would: one ``error:`` line that names the problem and the fix, exit 2.

Most cases run ``main`` in-process (they fail before or while the Runner is
built, in about a second); two subprocess runs check what a terminal shows:
exactly one stderr line, and the full traceback with ``CONVNEXT_DEBUG=1``.
"""

import contextlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
BAD_INPUT_EXIT = 2
UNREACHABLE_URL = 'http://127.0.0.1:9/convnext_tiny_1k_224.pth'
"""Port 9 (discard) refuses connections at once: a download that fails without a network."""
WARNING_LINE = re.compile(r'^\S+:\d+: \w*Warning: ')

pytestmark = pytest.mark.usefixtures('one_thread')


def run_main(tool: ModuleType, argv: list[str]) -> tuple[int, str]:
    """Runs ``tool.main(argv)`` in-process; returns its exit code and what it wrote to stderr.

    stdout (the Runner's log) is left to pytest's capture: mmengine's logger keeps the stream it was created with.
    """
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        try:
            code = tool.main(argv)
        except SystemExit as exit_:  # argparse
            code = exit_.code
    return code, stderr.getvalue()


def own_lines(stderr: str) -> list[str]:
    """stderr without the libraries' Python warnings (``file:line: XWarning: ...`` and the source line under it)."""
    lines = stderr.strip().splitlines()
    warnings = {i for i, line in enumerate(lines) if WARNING_LINE.match(line)}
    return [line for i, line in enumerate(lines) if i not in warnings and i - 1 not in warnings]


def error_line(stderr: str) -> str:
    """The last stderr line, which must be the tool's one ``error:`` line."""
    lines = stderr.strip().splitlines()
    assert lines, 'nothing on stderr'
    assert 'Traceback' not in stderr, stderr[-3000:]
    return lines[-1]


@pytest.fixture(scope='module')
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A truncated checkpoint (half of a real one) and a corrupt one (an HTML error page saved as .pth)."""
    root = tmp_path_factory.mktemp('checkpoints')
    good = root / 'good.pth'
    torch.save({'state_dict': {'weight': torch.ones(256)}}, good)
    truncated, corrupt = root / 'truncated.pth', root / 'corrupt.pth'
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    corrupt.write_bytes(b'<html><body>404 Not Found</body></html>\n')
    return {'truncated': truncated, 'corrupt': corrupt}


CONFIG_CASES = [
    (['configs/no_such_config.py'], 'error: config file not found: configs/no_such_config.py'),
    (['{syntax_config}'], 'error: cannot load config {syntax_config}: SyntaxError'),
    (['{config}', '--launcher', 'mpi2'], "error: argument --launcher: invalid choice: 'mpi2'"),
    (['{scope_config}'], "default_scope 'mmnothing', but no package 'mmnothing' is installed"),
    (['{config}', '--cfg-options', 'train_dataloader.dataset.data_root=/no/data'],
     "data root '/no/data' does not exist (train_dataloader.dataset.data_root in"),
    (['{config}', '--resume', '/no/epoch_1.pth'], 'error: --resume checkpoint not found: /no/epoch_1.pth'),
]  # fmt: skip


@pytest.mark.parametrize('argv, message', CONFIG_CASES)
def test_train_rejects_bad_command_lines(
    train: ModuleType, tiny_config: Path, tmp_path: Path, argv: list[str], message: str
) -> None:
    paths = {'config': tiny_config, 'syntax_config': tmp_path / 'syntax.py', 'scope_config': tmp_path / 'scope.py'}
    paths['syntax_config'].write_text('model = dict(type=\n')
    paths['scope_config'].write_text(f"_base_ = ['{tiny_config}']\ndefault_scope = 'mmnothing'\n")
    code, stderr = run_main(train, [arg.format(**paths) for arg in argv])
    assert code == BAD_INPUT_EXIT
    assert message.format(**paths) in error_line(stderr)


BUILD_CASES = [
    ('model.backbone.arch=gigantic', "error: model.backbone.arch: Unknown arch 'gigantic'"),
    ('model.backbone.frozen_stages=7', 'error: model.backbone.frozen_stages: frozen_stages must be in [-1, 2]'),
    ('optim_wrapper.paramwise_cfg.decay_type=per_pixel',
     "error: optim_wrapper.paramwise_cfg.decay_type: Unknown decay_type 'per_pixel'"),
]  # fmt: skip
LAYER_DECAY = [
    'optim_wrapper.constructor=convnext.LayerDecayOptimWrapperConstructor',
    'optim_wrapper.paramwise_cfg.decay_rate=0.9',
]


@pytest.mark.parametrize('option, message', BUILD_CASES)
def test_train_names_the_config_key_that_fails_to_build(
    train: ModuleType, tiny_config: Path, tmp_path: Path, option: str, message: str
) -> None:
    argv = [str(tiny_config), '--work-dir', str(tmp_path), '--cfg-options', *LAYER_DECAY, option]
    code, stderr = run_main(train, argv)
    assert code == BAD_INPUT_EXIT
    line = error_line(stderr)
    assert line.startswith(message), line
    key = message.split(': ')[1]
    assert f'--cfg-options {key}=VALUE' in line and str(tiny_config) in line


def pretrained_error_line(train: ModuleType, config: Path, work_dir: Path, checkpoint: str) -> str:
    """The one error line of tools/train.py whose backbone is initialised from ``checkpoint``."""
    options = ['model.backbone.init_cfg.type=Pretrained', f'model.backbone.init_cfg.checkpoint={checkpoint}']
    code, stderr = run_main(train, [str(config), '--work-dir', str(work_dir), '--cfg-options', *options])
    assert code == BAD_INPUT_EXIT
    return error_line(stderr)


def test_train_names_an_unreachable_pretrained_url_and_the_fix(
    train: ModuleType, tiny_config: Path, tmp_path: Path
) -> None:
    line = pretrained_error_line(train, tiny_config, tmp_path, UNREACHABLE_URL)
    assert line.startswith(f'error: Could not download the checkpoint {UNREACHABLE_URL}')
    assert '--cfg-options model.backbone.init_cfg.checkpoint=PATH' in line


@pytest.mark.parametrize('kind', ['truncated', 'corrupt'])
def test_unreadable_pretrained_weights_are_named(
    train: ModuleType, tiny_config: Path, tmp_path: Path, checkpoints: dict[str, Path], kind: str
) -> None:
    line = pretrained_error_line(train, tiny_config, tmp_path, str(checkpoints[kind]))
    assert line.startswith(f'error: {checkpoints[kind]} is not a readable PyTorch checkpoint (truncated or corrupt?)')
    assert 'file an issue' not in line


@pytest.mark.parametrize('kind', ['truncated', 'corrupt'])
def test_test_names_an_unreadable_checkpoint(
    test_tool: ModuleType, tiny_config: Path, tmp_path: Path, checkpoints: dict[str, Path], kind: str
) -> None:
    code, stderr = run_main(test_tool, [str(tiny_config), str(checkpoints[kind]), '--work-dir', str(tmp_path)])
    assert code == BAD_INPUT_EXIT
    assert error_line(stderr).startswith(f'error: {checkpoints[kind]} is not a readable PyTorch checkpoint')


def test_test_names_a_missing_checkpoint(test_tool: ModuleType, tiny_config: Path) -> None:
    code, stderr = run_main(test_tool, [str(tiny_config), '/no/ckpt.pth'])
    assert code == BAD_INPUT_EXIT
    assert error_line(stderr) == 'error: checkpoint not found: /no/ckpt.pth'


@pytest.mark.parametrize('script', ['tools/dist_train.sh', 'tools/dist_test.sh', 'tools/slurm_train.sh'])
def test_launch_scripts_need_their_arguments(script: str) -> None:
    result = subprocess.run(['bash', script], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == BAD_INPUT_EXIT and 'usage:' in result.stderr


def test_terminal_shows_one_line_and_debug_shows_the_traceback(tiny_config: Path, tmp_path: Path) -> None:
    command = [
        sys.executable, 'tools/train.py', str(tiny_config), '--work-dir', str(tmp_path),
        '--cfg-options', 'model.backbone.arch=gigantic',
    ]  # fmt: skip
    env = dict(os.environ, CUDA_VISIBLE_DEVICES='', OMP_NUM_THREADS='1')
    env.pop('CONVNEXT_DEBUG', None)
    plain = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert plain.returncode == BAD_INPUT_EXIT
    lines = own_lines(plain.stderr)
    assert len(lines) == 1, plain.stderr[-3000:]
    assert lines[0].startswith("error: model.backbone.arch: Unknown arch 'gigantic'")

    debug = subprocess.run(
        command, cwd=ROOT, env=dict(env, CONVNEXT_DEBUG='1'), capture_output=True, text=True, timeout=300, check=False
    )
    assert debug.returncode == 1
    assert 'Traceback' in debug.stderr and "Unknown arch 'gigantic'" in debug.stderr
