"""The recipe's total batch against the run's, and what ``tools/train.py`` does about it.

A recipe's learning rate belongs to its total batch (``auto_scale_lr.base_batch_size``, e.g. 4096 = 32 GPUs x 128).
On fewer GPUs the batch shrinks while the lr stays. :func:`plan_batch` says so in one line and, on request, keeps
the recipe's batch by gradient accumulation (``--accumulate auto``, as the official single-machine commands do
with ``--update_freq``: ConvNeXt ``main.py``, ConvNeXt-V2 ``main_finetune.py``) or lets mmengine scale the lr
(``--auto-scale-lr``).
"""

import argparse
import copy
import os

from mmengine.config import Config

from ..exceptions import ConfigError

ACCUMULATE_AUTO = 'auto'
"""``--accumulate`` value that derives the number of accumulated steps from the recipe's batch."""

ITERATION_KEYS = ('begin', 'end', 'T_max', 'step_size', 'milestones')
"""Iteration counts of an iteration-based scheduler, multiplied by the accumulation (one optimizer step then
takes that many iterations)."""


def parse_accumulate(value: str) -> str | int:
    """``--accumulate`` argument: 'auto' or a positive number of accumulated iterations per optimizer step.

    Raises:
        argparse.ArgumentTypeError: Anything else (a usage error that quotes this message).
    """
    if value == ACCUMULATE_AUTO:
        return value
    if value.isdigit() and int(value) > 0:
        return int(value)
    raise argparse.ArgumentTypeError(f"expected '{ACCUMULATE_AUTO}' or a positive integer, got {value!r}")


def world_size(launcher: str) -> int:
    """Processes of the run before they start: 1 without a launcher, else torchrun's or SLURM's count."""
    if launcher == 'none':
        return 1
    return int(os.environ.get('WORLD_SIZE') or os.environ.get('SLURM_NTASKS') or 1)


def plan_batch(
    cfg: Config, processes: int, accumulate: str | int | None, auto_scale_lr: bool, path: str
) -> tuple[Config, str]:
    """Compares the recipe's total batch with the run's and applies ``--accumulate``.

    Args:
        cfg: The config; not modified.
        processes: Number of training processes (GPUs).
        accumulate: 'auto' to accumulate ``recipe batch / (processes x per-GPU batch)`` iterations per optimizer
            step, a number of iterations, or None to leave the config's. The config's iteration-based
            schedule (``max_iters``, ``by_epoch=False`` schedulers, iteration checkpoints) is stretched by it.
        auto_scale_lr: Whether ``--auto-scale-lr`` is given (mmengine then scales the lr by actual / recipe).
        path: The config's path, for the messages.

    Returns:
        The config to train with and the one-line statement for the log.

    Raises:
        ConfigError: ``accumulate`` without a recipe batch, together with ``auto_scale_lr``, on a config that
            accumulates already, or a recipe batch that is not a multiple of the actual one.
    """
    per_gpu = cfg.train_dataloader.batch_size
    own_steps = cfg.optim_wrapper.get('accumulative_counts', 1)
    recipe = (cfg.get('auto_scale_lr') or {}).get('base_batch_size')
    if accumulate is None:
        return cfg, _statement(
            recipe,
            processes * per_gpu * own_steps,
            _product(processes, per_gpu, own_steps),
            auto_scale_lr=auto_scale_lr,
        )
    _check_accumulate(recipe, own_steps, auto_scale_lr, path)
    steps = accumulate if isinstance(accumulate, int) else _auto_steps(recipe, processes, per_gpu, path)
    cfg = stretch_iterations(cfg, steps)
    cfg.optim_wrapper.accumulative_counts = steps
    how = f'--accumulate {accumulate}: optim_wrapper.accumulative_counts={steps}, iteration-based schedule x{steps}'
    product = f'{_product(processes, per_gpu, steps)} ({how})'
    return cfg, _statement(recipe, processes * per_gpu * steps, product, accumulating=True)


def _product(processes: int, per_gpu: int, steps: int) -> str:
    return f'{processes} processes x {per_gpu} per process x {steps} accumulated iterations'


def _statement(
    recipe: int | None, total: int, product: str, auto_scale_lr: bool = False, accumulating: bool = False
) -> str:
    """The start-up line: recipe batch, actual batch (``product`` spells it out) and what happens to the lr."""
    if recipe is None:
        return f'Batch: actual {total} = {product}; the config states no recipe batch (auto_scale_lr.base_batch_size)'
    head = f'Batch: recipe {recipe} (auto_scale_lr.base_batch_size), actual {total} = {product}'
    if auto_scale_lr:
        return f'{head}; lr scaled by {total}/{recipe} (--auto-scale-lr)'
    if total == recipe:
        return f'{head}; the recipe lr applies as is'
    hint = (
        ''
        if accumulating
        else (
            ': pass --accumulate auto to keep the recipe batch by gradient accumulation, or --auto-scale-lr to scale '
            'the lr'
        )
    )
    return f'{head}; the lr is NOT changed, so this run uses the recipe lr with a {total / recipe:.3g}x batch{hint}'


def _check_accumulate(recipe: int | None, own_steps: int, auto_scale_lr: bool, path: str) -> None:
    if auto_scale_lr:
        raise ConfigError(
            '--accumulate and --auto-scale-lr are alternatives: accumulation keeps the recipe batch and lr, '
            '--auto-scale-lr keeps the batch and scales the lr; pass one'
        )
    if recipe is None:
        raise ConfigError(
            f'--accumulate needs the recipe batch auto_scale_lr.base_batch_size in {path}; add it, or set '
            f'--cfg-options optim_wrapper.accumulative_counts=N yourself'
        )
    if own_steps != 1:
        raise ConfigError(
            f'{path} already accumulates optim_wrapper.accumulative_counts={own_steps} iterations; '
            f'drop --accumulate or set --cfg-options optim_wrapper.accumulative_counts=1'
        )


def _auto_steps(recipe: int, processes: int, per_gpu: int, path: str) -> int:
    actual = processes * per_gpu
    if recipe % actual == 0:
        return recipe // actual
    fits = [size for size in range(per_gpu, 0, -1) if recipe % (processes * size) == 0]
    hint = f', e.g. --cfg-options train_dataloader.batch_size={fits[0]}' if fits else ''
    raise ConfigError(
        f'--accumulate auto: the recipe batch {recipe} (auto_scale_lr.base_batch_size in {path}) is not a multiple '
        f'of the actual batch {actual} = {processes} processes x {per_gpu} per process; use --auto-scale-lr to '
        f'scale the lr instead, or a per-GPU batch whose total divides {recipe}{hint}'
    )


def stretch_iterations(cfg: Config, steps: int) -> Config:
    """A copy of ``cfg`` whose iteration counts are ``steps`` times longer (one optimizer step per ``steps``).

    Epoch-based parts need nothing: an epoch still sees the whole dataset. Stretched are ``train_cfg.max_iters``
    and ``val_interval`` of an iteration-based loop, the iteration counts (:data:`ITERATION_KEYS`) of schedulers
    with ``by_epoch=False``, and the checkpoint interval when it counts iterations.

    Args:
        cfg: The config; not modified.
        steps: Iterations per optimizer step.
    """
    cfg = copy.deepcopy(cfg)
    if steps == 1:
        return cfg
    train_cfg = cfg.get('train_cfg') or {}
    if 'max_iters' in train_cfg:
        train_cfg.max_iters *= steps
        if 'val_interval' in train_cfg:
            train_cfg.val_interval *= steps
    schedulers = cfg.get('param_scheduler') or []
    for scheduler in schedulers if isinstance(schedulers, list) else [schedulers]:
        if scheduler.get('by_epoch', True) is False:
            for key in ITERATION_KEYS:
                if key in scheduler:
                    value = scheduler[key]
                    scheduler[key] = [v * steps for v in value] if isinstance(value, list) else value * steps
    checkpoint = (cfg.get('default_hooks') or {}).get('checkpoint') or {}
    if checkpoint.get('by_epoch') is False and 'interval' in checkpoint:
        checkpoint.interval *= steps
    return cfg
