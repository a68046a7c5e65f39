"""convnext.utils.cli: the options tools/train.py and tools/test.py share, shapes, and the one-line bad-input exit."""

import argparse
import os

import pytest

from convnext.exceptions import ConfigError
from convnext.utils import (
    BAD_INPUT_EXIT,
    DEBUG_ENV,
    DETECTION_SHAPE,
    add_launcher_args,
    add_shape_arg,
    exit_on_config_error,
    parse_launcher_args,
    parse_shape,
)


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


def test_every_tool_declares_shape_height_first() -> None:
    parser = argparse.ArgumentParser()
    add_shape_arg(parser, list(DETECTION_SHAPE))
    assert parse_shape(parser.parse_args([]).shape) == (800, 1280)  # H W of the papers' 1280 x 800
    assert parse_shape(parser.parse_args(['--shape', '512', '2048']).shape) == (512, 2048)
    assert 'height and width' in parser.format_help() and '800 1280' in parser.format_help()


def test_shape_is_height_width_or_square() -> None:
    assert parse_shape([480, 640]) == (480, 640) and parse_shape([512]) == (512, 512)
    with pytest.raises(ConfigError, match=r'--shape takes H W or one side, got \[1, 2, 3\]'):
        parse_shape([1, 2, 3])
    with pytest.raises(ConfigError, match='height 0 and width 4'):
        parse_shape([0, 4])


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
