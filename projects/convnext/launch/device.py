"""A config adapted to the machine it runs on: CPU-only replacements for AMP, SyncBN and DDP, the CPU inductor
options of a ``compile`` setting, and dataloaders without workers."""

import copy
from typing import Any

import torch
from mmengine.config import Config

from ..compile import compile_options

SYNC_BN_TYPES = ('SyncBN', 'MMSyncBN', 'TorchSyncBN')
"""Norm types that need CUDA and become ``BN`` on a CPU-only machine."""

AMP_ONLY_KEYS = ('loss_scale', 'dtype', 'use_fsdp')
"""AmpOptimWrapper arguments that a plain OptimWrapper does not take."""

CPU_DDP = 'convnext.CPUDistributedDataParallel'
"""Model wrapper used for distributed runs on the CPU (gloo)."""

DATALOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
"""The dataloader keys of a config."""


def adapt_cfg_to_device(cfg: Config, distributed: bool) -> tuple[Config, list[str]]:
    """Returns a copy of ``cfg`` that runs on this machine, and what was changed.

    Without CUDA: ``AmpOptimWrapper`` becomes ``OptimWrapper`` (AMP needs a
    GPU here), SyncBN layers become BN, a distributed run wraps the model
    in :class:`convnext.engine.CPUDistributedDataParallel` (gloo), and a
    ``compile`` setting gets the CPU inductor options of
    :func:`convnext.compile.compile_options` (the config's own win).

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
