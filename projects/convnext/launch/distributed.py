"""Distributed start-up of the tools: mmengine's launchers, and a gloo process group on machines without CUDA
(from torchrun's or SLURM's environment)."""

import contextlib
import os
import subprocess
from collections.abc import Iterator

import torch
import torch.distributed as dist

from ..exceptions import ConfigError

LAUNCHERS = ('none', 'pytorch', 'slurm')
"""Launchers the tools accept (mmengine's names)."""


@contextlib.contextmanager
def distributed_session(launcher: str) -> Iterator[bool]:
    """Runs a block under a launcher; yields whether the run is distributed.

    On a machine without CUDA it starts a gloo process group first: mmengine's
    ``init_dist`` calls ``torch.cuda.set_device``, and its Runner skips
    ``init_dist`` when a process group exists, so the same launch scripts run
    on CPUs. A group started here is destroyed on the way out, so no gloo
    thread outlives the interpreter (an unjoined one aborts the process at
    exit). With CUDA, mmengine starts the group itself.

    Args:
        launcher: One of :data:`LAUNCHERS`.

    Raises:
        ConfigError: An unknown launcher, or rendezvous variables missing.
    """
    if launcher not in LAUNCHERS:
        raise ConfigError(f"unknown launcher '{launcher}'; expected one of {', '.join(LAUNCHERS)}")
    start_gloo = launcher != 'none' and not torch.cuda.is_available() and not dist.is_initialized()
    if start_gloo:
        _init_gloo(launcher)
    try:
        yield launcher != 'none'
    finally:
        if start_gloo and dist.is_initialized():
            dist.barrier()  # no rank tears the group down while another still uses it
            dist.destroy_process_group()


def _init_gloo(launcher: str) -> None:
    """Starts the gloo process group from torchrun's (or SLURM's) environment."""
    if launcher == 'slurm':
        _slurm_env_to_torch_env()
    missing = [key for key in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT') if key not in os.environ]
    if missing:
        raise ConfigError(
            f"launcher '{launcher}' needs the environment variables {missing} "
            f'(start with tools/dist_train.sh or torchrun)'
        )
    dist.init_process_group(backend='gloo')


def _slurm_env_to_torch_env() -> None:
    """Sets torch's rendezvous variables from SLURM's, as mmengine does for slurm."""
    node_list = os.environ['SLURM_NODELIST']
    os.environ.setdefault('MASTER_ADDR', subprocess.getoutput(f'scontrol show hostname {node_list} | head -n1'))
    os.environ.setdefault('MASTER_PORT', '29500')
    os.environ['WORLD_SIZE'] = os.environ['SLURM_NTASKS']
    os.environ['RANK'] = os.environ['SLURM_PROCID']
    os.environ['LOCAL_RANK'] = os.environ.get('SLURM_LOCALID', '0')
