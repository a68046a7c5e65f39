"""convnext.launch.cli: the options tools/train.py and tools/test.py share, and the one-line bad-input exit."""

import argparse
import os

import pytest

from convnext.exceptions import ConfigError
from convnext.launch import BAD_INPUT_EXIT, DEBUG_ENV, add_launcher_args, exit_on_config_error, parse_launcher_args


def launcher_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    add_launcher_args(parser, ('none', 'pytorch'))
    return parser


def test_launcher_args_default_and_local_rank_export(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv('LOCAL_RANK', raising=False)
    args = parse_launcher_args(launcher_parser(), ['--local-rank', '3', '--debug'])
    assert (args.launcher, args.local_rank, args.debug) == ('none', 3, True)

    assert os.environ['LOCAL_RANK'] == '3'
    monkeypatch.setenv('LOCAL_RANK', '1')  # torchrun's own value wins over the argument's default
    parse_launcher_args(launcher_parser(), ['--launcher', 'pytorch'])
    assert os.environ['LOCAL_RANK'] == '1'
    with pytest.raises(SystemExit):
        parse_launcher_args(launcher_parser(), ['--launcher', 'mpi'])


def test_config_errors_become_one_line_unless_debugging(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    @exit_on_config_error
    def main(argv: list[str] | None = None) -> int:
        raise ConfigError('model.backbone.arch: expected one of tiny, small, got tinny')

    monkeypatch.delenv(DEBUG_ENV, raising=False)
    assert main([]) == BAD_INPUT_EXIT
    assert capsys.readouterr().err == 'error: model.backbone.arch: expected one of tiny, small, got tinny\n'
    with pytest.raises(ConfigError):
        main(['--debug'])
    monkeypatch.setenv(DEBUG_ENV, '1')
    with pytest.raises(ConfigError):
        main([])
