"""Run-time set-up shared by the tools: configs adapted to the device, CPU
distributed launch, and safe loading of mmengine's own checkpoints."""

from .env import (
    ConfigError,
    adapt_cfg_to_device,
    build_runner,
    check_config,
    init_cpu_distributed,
    load_config,
    set_work_dir,
)
from .serialization import allow_mmengine_checkpoints

__all__ = [
    'ConfigError',
    'adapt_cfg_to_device',
    'allow_mmengine_checkpoints',
    'build_runner',
    'check_config',
    'init_cpu_distributed',
    'load_config',
    'set_work_dir',
]
