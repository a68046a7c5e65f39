"""--cfg-options keys that are not in the config: mmengine adds them as new keys, so a typo would change nothing.

``convnext.launch.load_config`` warns once per such key, naming the closest existing key, and
``--strict-cfg-options`` (declared once in ``convnext.launch.cli``) makes it the tools' one ``error:`` line.
"""

import argparse
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from convnext.exceptions import ConfigError
from convnext.launch import (
    BAD_INPUT_EXIT,
    add_cfg_options_args,
    load_config,
    unknown_cfg_options,
)

TYPO = 'optim_wraper.optimizer.lr'
CONFIG = """
default_scope = 'mmpretrain'
model = dict(type='ImageClassifier', backbone=dict(type='convnext.ConvNeXt', arch='atto'))
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3))
train_cfg = dict(max_epochs=1)
"""

NEW_BUT_READ = [
    'randomness.seed=0',
    'compile=True',
    'resume=True',
    'load_from=x.pth',
    'auto_scale_lr.enable=True',
    'find_unused_parameters=True',
    'visualizer.type=Visualizer',
    'launcher=pytorch',
    'env_cfg.cudnn_benchmark=False',
    'log_level=DEBUG',
    'model_wrapper_cfg.type=MMDistributedDataParallel',
    'preemption.enable=False',
    'load_strict=False',
    'work_dir=somewhere',
]
"""Keys a config may leave out that the Runner, mmengine's model wrapping or our tools read."""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / 'cfg.py'
    path.write_text(CONFIG)
    return path


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_cfg_options_args(parser)
    return parser.parse_args(argv)


def test_a_misspelt_key_warns_once_with_the_closest_key(config: Path, capsys: pytest.CaptureFixture) -> None:
    cfg = load_config(str(config), {TYPO: 0.5})
    warnings = [line for line in capsys.readouterr().err.splitlines() if TYPO in line]
    assert warnings == [
        f"warning: --cfg-options {TYPO}: 'optim_wraper' is not a key of {config} (did you mean optim_wrapper?); "
        'added as a new key (--strict-cfg-options refuses it)'
    ]
    assert cfg.optim_wrapper.optimizer.lr == 1e-3  # what mmengine does: the typo is a new key


def test_strict_cfg_options_make_it_one_error(config: Path) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(str(config), {TYPO: 0.5, 'trian_cfg.max_epochs': 2}, strict_cfg_options=True)
    assert str(error.value) == (
        f"--cfg-options {TYPO}: 'optim_wraper' is not a key of {config} (did you mean optim_wrapper?) (and 1 more)"
    )


def test_a_key_like_nothing_says_so(config: Path) -> None:
    assert unknown_cfg_options(load_config(str(config)), {'zzz.q': 1}, 'cfg.py') == [
        "--cfg-options zzz.q: 'zzz' is not a key of cfg.py (no similar key)"
    ]


@pytest.mark.parametrize('option', NEW_BUT_READ)
def test_keys_the_runner_reads_are_not_unknown(config: Path, option: str) -> None:
    options = parse(['--cfg-options', option, '--strict-cfg-options']).cfg_options
    cfg = load_config(str(config), options, strict_cfg_options=True)
    assert option.split('.')[0].split('=')[0] in cfg


def test_existing_and_nested_new_keys_are_fine(config: Path) -> None:
    options = {'optim_wrapper.optimizer.lr': 0.5, 'model.backbone.drop_path_rate': 0.1, 'train_cfg.val_interval': 2}
    cfg = load_config(str(config), options, strict_cfg_options=True)
    assert cfg.optim_wrapper.optimizer.lr == 0.5 and cfg.model.backbone.drop_path_rate == 0.1


def test_the_flag_is_declared_once_with_the_option() -> None:
    args = parse(['--cfg-options', 'a.b=1', 'c=x', '--strict-cfg-options'])
    assert args.cfg_options == {'a.b': 1, 'c': 'x'} and args.strict_cfg_options is True
    assert parse([]).strict_cfg_options is False


TOOLS = ['tools/train.py', 'tools/test.py', 'tools/analysis/get_flops.py', 'tools/analysis/benchmark.py']


@pytest.mark.parametrize('tool', TOOLS)
def test_tools_refuse_a_misspelt_key_in_one_line(
    load_tool: Callable[[str], ModuleType], tool: str, config: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    checkpoint = tmp_path / 'ckpt.pth'
    checkpoint.write_bytes(b'')  # tools/test.py checks that it exists before loading the config
    positional = [str(config), str(checkpoint)] if tool == 'tools/test.py' else [str(config)]
    code = load_tool(tool).main([*positional, '--cfg-options', f'{TYPO}=0.5', '--strict-cfg-options'])
    assert code == BAD_INPUT_EXIT
    lines = capsys.readouterr().err.strip().splitlines()
    expected = f"--cfg-options {TYPO}: 'optim_wraper' is not a key of {config} (did you mean optim_wrapper?)"
    assert lines[-1] == f'error: {expected}'
