"""What the scripts under ``tools/`` need to start a run, and nothing a model or a user script needs.

- :mod:`~convnext.launch.config`: loading a config with ``--cfg-options`` (unknown keys warned about or
  refused) and checking it before the Runner is built;
- :mod:`~convnext.launch.device`: the config adapted to a machine without CUDA;
- :mod:`~convnext.launch.distributed`: the launchers, with a gloo process group on CPUs (torchrun or SLURM);
- :mod:`~convnext.launch.runner`: the work dir and the preemption-safe Runner;
- :mod:`~convnext.launch.build_errors`: one-line errors for configs that fail to build;
- :mod:`~convnext.launch.batch`: the recipe's total batch against the run's (``--accumulate``);
- :mod:`~convnext.launch.cli` and :mod:`~convnext.launch.shapes`: the shared options, ``--shape`` and the
  one-line bad-input exit;
- :mod:`~convnext.launch.hardware`: the CPU line the benchmarks print beside their numbers.

The tools import these names from ``convnext.launch`` only. For your own scripts the package's API is
:mod:`convnext.compile` (``compile_model``); errors are in :mod:`convnext.exceptions`.
"""

from .batch import parse_accumulate, plan_batch, stretch_iterations, world_size
from .build_errors import config_build_errors
from .cli import (
    BAD_INPUT_EXIT,
    DEBUG_ENV,
    DEBUG_FLAG,
    STRICT_CFG_OPTIONS_FLAG,
    add_cfg_options_args,
    add_debug_arg,
    add_launcher_args,
    debug_requested,
    exit_on_config_error,
    parse_launcher_args,
)
from .config import check_config, load_config, unknown_cfg_options
from .device import adapt_cfg_to_device
from .distributed import LAUNCHERS, distributed_session
from .hardware import cpu_description
from .runner import build_runner, set_work_dir
from .shapes import ANALYSIS_SHAPE_HELP, DETECTION_SHAPE, add_shape_arg, analysis_shape, default_shape, parse_shape

__all__ = [
    'ANALYSIS_SHAPE_HELP',
    'BAD_INPUT_EXIT',
    'DEBUG_ENV',
    'DEBUG_FLAG',
    'DETECTION_SHAPE',
    'LAUNCHERS',
    'STRICT_CFG_OPTIONS_FLAG',
    'adapt_cfg_to_device',
    'add_cfg_options_args',
    'add_debug_arg',
    'add_launcher_args',
    'add_shape_arg',
    'analysis_shape',
    'build_runner',
    'check_config',
    'config_build_errors',
    'cpu_description',
    'debug_requested',
    'default_shape',
    'distributed_session',
    'exit_on_config_error',
    'load_config',
    'parse_accumulate',
    'parse_launcher_args',
    'parse_shape',
    'plan_batch',
    'set_work_dir',
    'stretch_iterations',
    'unknown_cfg_options',
    'world_size',
]
