"""Config loading, checking and device adaptation for tools/train.py and tools/test.py."""

import contextlib
import copy
import difflib
import importlib.util
import inspect
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.registry import RUNNERS
from mmengine.runner import FlexibleRunner, Runner

from ..engine import PREEMPTION_KEY, make_preemptible
from ..exceptions import ConfigError
from ..serialization import allow_mmengine_checkpoints
from .cli import STRICT_CFG_OPTIONS_FLAG
from .compile import compile_options

LAUNCHERS = ('none', 'pytorch', 'slurm')
"""Launchers the tools accept (mmengine's names)."""

SYNC_BN_TYPES = ('SyncBN', 'MMSyncBN', 'TorchSyncBN')
"""Norm types that need CUDA and become ``BN`` on a CPU-only machine."""

AMP_ONLY_KEYS = ('loss_scale', 'dtype', 'use_fsdp')
"""AmpOptimWrapper arguments that a plain OptimWrapper does not take."""

CPU_DDP = 'convnext.CPUDistributedDataParallel'
"""Model wrapper used for distributed runs on the CPU (gloo)."""

DATALOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
"""The dataloader keys of a config."""

READ_TOP_LEVEL_KEYS = (
    'runner_type',
    'custom_imports',
    'model_wrapper_cfg',
    'find_unused_parameters',
    'sync_bn',
    'compile',
    'activation_checkpointing',
    'efficient_conv_bn_eval',
    'tta_model',
    'tta_pipeline',
    'load_strict',
    PREEMPTION_KEY,
)
"""Top-level config keys read besides the Runner's arguments: by mmengine (``Config``, ``Runner.wrap_model``,
``Runner.train``), by ``tools/test.py`` (``--tta``; ``load_strict``, which its Runner reads) and by
:func:`convnext.engine.make_preemptible`. A ``--cfg-options`` key starting with one of them, or with an argument
of ``Runner`` / ``FlexibleRunner``, may be new in the config."""

PKG_RESOURCES_DEPRECATION = 'pkg_resources is deprecated as an API'
"""setuptools' warning at every import (and reload) of ``pkg_resources``: mmengine's ``Config`` imports and
reloads it once per ``mmdet::``-style base file (``mmengine.utils.is_installed``), so one config load printed it
several times; it is silenced while a config loads, and only there."""

SUGGESTION_CUTOFF = 0.6
"""Least ``difflib`` similarity of an existing key offered as "did you mean" (difflib's own default)."""


def load_config(path: str, cfg_options: dict | None = None, strict_cfg_options: bool = False) -> Config:
    """Loads a config file and merges ``--cfg-options`` into it.

    mmengine adds an override whose key is not in the config as a new key, so a
    misspelt ``optim_wraper.optimizer.lr=0.5`` would change nothing. A key whose
    first component is neither in the config nor read by the Runner (see
    :func:`unknown_cfg_options`) gets one ``warning:`` line on stderr naming the
    closest existing key, or is an error with ``strict_cfg_options``.

    Args:
        path: Config file path.
        cfg_options: Overrides in mmengine's ``key.sub=value`` form. Defaults to None.
        strict_cfg_options: Refuse unknown override keys instead of warning.
            Defaults to False.

    Raises:
        ConfigError: The file is missing, not a ``.py``/``.json``/``.yaml`` file,
            or cannot be parsed (e.g. it inherits from a host package that is
            not installed); with ``strict_cfg_options``, an unknown override key.
    """
    if not Path(path).is_file():
        raise ConfigError(f'config file not found: {path}')
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings('ignore', message=PKG_RESOURCES_DEPRECATION, category=UserWarning)
            cfg = Config.fromfile(path)
    except Exception as error:  # mmengine raises many types; the message names the cause
        raise ConfigError(f'cannot load config {path}: {type(error).__name__}: {error}') from error
    if cfg_options:
        problems = unknown_cfg_options(cfg, cfg_options, path)
        if problems and strict_cfg_options:
            others = f' (and {len(problems) - 1} more)' if len(problems) > 1 else ''
            raise ConfigError(problems[0] + others)
        for problem in problems:
            print(f'warning: {problem}; added as a new key ({STRICT_CFG_OPTIONS_FLAG} refuses it)', file=sys.stderr)
        cfg.merge_from_dict(cfg_options)
    return cfg


def known_top_level_keys() -> frozenset[str]:
    """Top-level keys a config may leave out: the arguments of mmengine's Runners and :data:`READ_TOP_LEVEL_KEYS`."""
    arguments = {name for runner in (Runner, FlexibleRunner) for name in inspect.signature(runner).parameters}
    return frozenset((arguments - {'cfg'}) | set(READ_TOP_LEVEL_KEYS))


def unknown_cfg_options(cfg: Config, cfg_options: dict, path: str) -> list[str]:
    """One message per ``--cfg-options`` key whose first component is neither in ``cfg`` nor known.

    Known keys (:func:`known_top_level_keys`) are read by mmengine's Runner or
    the tools even when a config leaves them out (``randomness``, ``resume``,
    ``load_from``, ...). Each message names the key, the config and the closest
    existing or known key (``difflib``), e.g. ``--cfg-options optim_wraper.optimizer.lr:
    'optim_wraper' is not a key of cfg.py (did you mean optim_wrapper?)``.

    Args:
        cfg: The loaded config, before the overrides are merged.
        cfg_options: The overrides, ``{'key.sub': value}``.
        path: The config's file path, for the messages.
    """
    existing = set(cfg.keys())
    candidates = sorted(existing | known_top_level_keys())
    problems = []
    for key in cfg_options:
        first = key.split('.', 1)[0]
        if first in candidates:
            continue
        close = difflib.get_close_matches(first, candidates, n=1, cutoff=SUGGESTION_CUTOFF)
        hint = f'did you mean {close[0]}?' if close else 'no similar key'
        problems.append(f"--cfg-options {key}: '{first}' is not a key of {path} ({hint})")
    return problems


def check_config(cfg: Config, path: str, loaders: tuple[str, ...]) -> None:
    """Checks what would otherwise fail deep inside the Runner.

    Args:
        cfg: The loaded config.
        path: Its file path, for the messages.
        loaders: Dataloader keys whose ``data_root`` must exist, e.g.
            ``('train_dataloader', 'val_dataloader')``.

    Raises:
        ConfigError: The config's ``default_scope`` is not an installed package,
            or a dataset's ``data_root`` does not exist.
    """
    scope = cfg.get('default_scope')
    if scope is not None and importlib.util.find_spec(scope) is None:
        raise ConfigError(
            f"config {path} has default_scope '{scope}', but no package '{scope}' is installed "
            f'(set up with: bash tools/install.sh)'
        )
    for loader in loaders:
        loader_cfg = cfg.get(loader)
        if not loader_cfg:
            continue
        for key, root in _data_roots(loader_cfg.get('dataset'), f'{loader}.dataset'):
            if not Path(root).exists():
                raise ConfigError(
                    f"data root '{root}' does not exist ({key} in {path}); create the data or pass "
                    f'--cfg-options {key}=PATH'
                )


def _data_roots(dataset: Any, key: str) -> Iterator[tuple[str, str]]:
    """Yields ``(config key, data_root)`` of a dataset config and the datasets it wraps."""
    if isinstance(dataset, dict):
        if dataset.get('data_root'):
            yield f'{key}.data_root', dataset['data_root']
        yield from _data_roots(dataset.get('dataset'), f'{key}.dataset')
        for i, child in enumerate(dataset.get('datasets') or []):
            yield from _data_roots(child, f'{key}.datasets.{i}')


def adapt_cfg_to_device(cfg: Config, distributed: bool) -> tuple[Config, list[str]]:
    """Returns a copy of ``cfg`` that runs on this machine, and what was changed.

    Without CUDA: ``AmpOptimWrapper`` becomes ``OptimWrapper`` (AMP needs a
    GPU here), SyncBN layers become BN, a distributed run wraps the model
    in :class:`convnext.engine.CPUDistributedDataParallel` (gloo), and a
    ``compile`` setting gets the CPU inductor options of
    :func:`convnext.utils.compile.compile_options` (the config's own win).

    On every machine, a dataloader with ``num_workers=0`` gets
    ``persistent_workers=False`` (torch's DataLoader refuses the pair, e.g.
    after ``--cfg-options train_dataloader.num_workers=0`` on an mmdet config).

    Args:
        cfg: The config; not modified.
        distributed: Whether the run uses a launcher.
    """
    cfg = copy.deepcopy(cfg)
    changes = _drop_persistent_workers(cfg)
    if torch.cuda.is_available():
        return cfg, changes
    optim_wrapper = cfg.get('optim_wrapper')
    if optim_wrapper and optim_wrapper.get('type') == 'AmpOptimWrapper':
        optim_wrapper['type'] = 'OptimWrapper'
        for key in AMP_ONLY_KEYS:
            optim_wrapper.pop(key, None)
        changes.append('AmpOptimWrapper -> OptimWrapper (no CUDA)')
    if 'model' in cfg and _replace_sync_bn(cfg.model):
        changes.append('SyncBN -> BN (no CUDA)')
    cfg.pop('sync_bn', None)
    changes += _add_cpu_compile_options(cfg)
    if distributed:
        wrapper = dict(cfg.get('model_wrapper_cfg') or {})
        wrapper['type'] = CPU_DDP
        wrapper.setdefault('broadcast_buffers', False)
        wrapper.setdefault('find_unused_parameters', cfg.get('find_unused_parameters', False))
        cfg.model_wrapper_cfg = wrapper
        changes.append(f'model wrapper -> {CPU_DDP} (gloo)')
    return cfg, changes


def _add_cpu_compile_options(cfg: Config) -> list[str]:
    """Adds the CPU inductor options to ``cfg.compile``, in place; what was changed."""
    compile_cfg = cfg.get('compile')
    kwargs = compile_options(compile_cfg, 'cpu')
    if kwargs is None or kwargs == compile_cfg:
        return []
    cfg.compile = kwargs
    return [f'compile options {kwargs.get("options")} (CPU inductor)']


def _drop_persistent_workers(cfg: Config) -> list[str]:
    """Sets ``persistent_workers=False`` in the dataloaders without workers, in place; what was changed."""
    changes = []
    for loader in DATALOADERS:
        loader_cfg = cfg.get(loader)
        if loader_cfg and loader_cfg.get('persistent_workers') and not loader_cfg.get('num_workers'):
            loader_cfg['persistent_workers'] = False
            changes.append(f'{loader}.persistent_workers -> False (num_workers=0)')
    return changes


def _replace_sync_bn(node: Any) -> bool:
    """Turns SyncBN norm configs inside ``node`` into BN, in place; True if any."""
    found = False
    if isinstance(node, dict):
        if node.get('type') in SYNC_BN_TYPES:
            node['type'] = 'BN'
            found = True
        for value in node.values():
            found |= _replace_sync_bn(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            found |= _replace_sync_bn(value)
    return found


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
