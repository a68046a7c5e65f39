"""The Runner of a tool's run: its work dir, and the Runner built preemption-safe with safe checkpoint loading."""

import os
from pathlib import Path

from mmengine.config import Config
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from ..engine import make_preemptible
from ..serialization import allow_mmengine_checkpoints


def set_work_dir(cfg: Config, config_path: str, work_dir: str | None) -> None:
    """Sets ``cfg.work_dir``: the command line's, the config's, or ``work_dirs/<config name>``."""
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = os.path.join('./work_dirs', Path(config_path).stem)


def build_runner(cfg: Config, changes: list[str]) -> Runner:
    """Builds the Runner (or the config's ``runner_type``) and logs the device adaptations.

    Training is preemption-safe unless ``preemption.enable=False`` (see
    :func:`convnext.engine.make_preemptible`): a stop signal saves an exact
    checkpoint and exits with code 75, and a rolling ``latest.pth`` is kept.
    """
    allow_mmengine_checkpoints()
    cfg = make_preemptible(cfg)
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    for change in changes:
        runner.logger.info(f'Adapted to this machine: {change}')
    return runner
