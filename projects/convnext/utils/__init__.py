"""Run-time set-up shared by the tools: configs adapted to the device, CPU
distributed launch, safe loading of mmengine's own checkpoints, and the
command-line pieces (``--shape``, bad-input exits)."""

from .cli import BAD_INPUT_EXIT, exit_on_config_error, parse_shape
from .env import (
    ConfigError,
    adapt_cfg_to_device,
    build_runner,
    check_config,
    distributed_session,
    load_config,
    set_work_dir,
)
from .serialization import allow_mmengine_checkpoints

__all__ = [
    'BAD_INPUT_EXIT',
    'ConfigError',
    'adapt_cfg_to_device',
    'allow_mmengine_checkpoints',
    'build_runner',
    'check_config',
    'exit_on_config_error',
    'distributed_session',
    'load_config',
    'parse_shape',
    'set_work_dir',
]
