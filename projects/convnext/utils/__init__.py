"""Run-time set-up shared by the tools: configs adapted to the device, CPU
distributed launch, ``torch.compile`` options for the CPU, safe loading of
mmengine's own checkpoints, one-line errors for configs that fail to build,
and the command-line pieces (``--shape``, ``--launcher``, bad-input exits).

The error classes live in :mod:`convnext.exceptions`; ``ConfigError`` is
re-exported here for the tools."""

from ..exceptions import ConfigError
from ..serialization import allow_mmengine_checkpoints
from .cli import (
    ANALYSIS_SHAPE_HELP,
    BAD_INPUT_EXIT,
    DEBUG_ENV,
    DEBUG_FLAG,
    DETECTION_SHAPE,
    STRICT_CFG_OPTIONS_FLAG,
    add_cfg_options_args,
    add_debug_arg,
    add_launcher_args,
    add_shape_arg,
    analysis_shape,
    default_shape,
    exit_on_config_error,
    parse_launcher_args,
    parse_shape,
)
from .compile import CPU_INDUCTOR_OPTIONS, compile_model, compile_options
from .env import (
    LAUNCHERS,
    adapt_cfg_to_device,
    build_runner,
    check_config,
    distributed_session,
    load_config,
    set_work_dir,
    unknown_cfg_options,
)
from .errors import config_build_errors
from .hardware import cpu_description

__all__ = [
    'ANALYSIS_SHAPE_HELP',
    'BAD_INPUT_EXIT',
    'DEBUG_ENV',
    'DEBUG_FLAG',
    'DETECTION_SHAPE',
    'STRICT_CFG_OPTIONS_FLAG',
    'add_cfg_options_args',
    'add_debug_arg',
    'add_launcher_args',
    'add_shape_arg',
    'analysis_shape',
    'default_shape',
    'parse_launcher_args',
    'LAUNCHERS',
    'CPU_INDUCTOR_OPTIONS',
    'ConfigError',
    'adapt_cfg_to_device',
    'allow_mmengine_checkpoints',
    'build_runner',
    'check_config',
    'compile_model',
    'compile_options',
    'config_build_errors',
    'cpu_description',
    'exit_on_config_error',
    'distributed_session',
    'load_config',
    'parse_shape',
    'set_work_dir',
    'unknown_cfg_options',
]
