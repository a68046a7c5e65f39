"""Trains a model of mmdet, mmsegmentation or mmpretrain from a config.

The config's ``default_scope`` picks the host. On a machine without CUDA the
config is adapted (AMP off, SyncBN -> BN) and a launcher starts gloo
processes, so ``tools/dist_train.sh CONFIG 2`` trains on two CPU processes.

Preemption: SIGTERM, SIGINT or SIGUSR1 finishes the current iteration, saves
the exact training state to ``WORK_DIR/latest.pth`` and exits with code 75;
the same command with ``--resume`` then continues to the weights of an
uninterrupted run. ``latest.pth`` is also rewritten every 30 minutes
(``--cfg-options preemption.minutes=M`` or ``preemption.interval=ITERS``).

Example:
    python tools/train.py configs/mask_rcnn_convnext_t_3x.py --work-dir work_dirs/mrcnn_t
"""

import argparse
import os.path as osp
import sys

from mmengine.config import Config
from mmengine.logging import print_log

from convnext.engine.data_checks import add_data_checks
from convnext.engine.preemption.files import work_dir_write_errors
from convnext.exceptions import ConfigError
from convnext.launch import (
    LAUNCHERS,
    adapt_cfg_to_device,
    add_cfg_options_args,
    add_launcher_args,
    build_runner,
    check_config,
    config_build_errors,
    distributed_session,
    exit_on_config_error,
    load_config,
    parse_accumulate,
    parse_launcher_args,
    plan_batch,
    set_work_dir,
    world_size,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parses the command line (mmdet/mmseg/mmpretrain ``train.py`` options)."""
    parser = argparse.ArgumentParser(description='Train a detector, segmentor or classifier')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint, or from the latest readable one in the work dir if no path is given',
    )
    parser.add_argument('--amp', action='store_true', help='enable automatic mixed precision (needs CUDA)')
    parser.add_argument('--auto-scale-lr', action='store_true', help='scale the lr by the actual batch size')
    parser.add_argument(
        '--accumulate',
        type=parse_accumulate,
        help="'auto': keep the recipe's total batch (auto_scale_lr.base_batch_size) by gradient accumulation",
    )
    add_cfg_options_args(parser, 'model.backbone.init_cfg.checkpoint=PATH')
    add_launcher_args(parser, LAUNCHERS)
    return parse_launcher_args(parser, argv)


def build_cfg(args: argparse.Namespace) -> Config:
    """Loads, checks and completes the config from the command line."""
    cfg = load_config(args.config, args.cfg_options, args.strict_cfg_options)
    check_config(cfg, args.config, ('train_dataloader', 'val_dataloader'))
    cfg.launcher = args.launcher
    set_work_dir(cfg, args.config, args.work_dir)
    if args.amp:
        cfg = enable_amp(cfg)
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            raise ConfigError(f'--auto-scale-lr needs auto_scale_lr.base_batch_size in {args.config}')
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        if not osp.isfile(args.resume):
            raise ConfigError(f'--resume checkpoint not found: {args.resume}')
        cfg.resume, cfg.load_from = True, args.resume
    return cfg


def enable_amp(cfg: Config) -> Config:
    """Switches the optimizer wrapper to ``AmpOptimWrapper`` (dynamic loss scale)."""
    optim_wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if optim_wrapper == 'AmpOptimWrapper':
        print_log('AMP is already enabled in the config.', logger='current')
    elif optim_wrapper != 'OptimWrapper':
        raise ConfigError(f'--amp needs optim_wrapper.type OptimWrapper or AmpOptimWrapper, got {optim_wrapper}')
    else:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    return cfg


@exit_on_config_error
def main(argv: list[str] | None = None) -> int:
    """Trains; returns the exit code (2 with one ``error:`` line on bad input)."""
    args = parse_args(argv)
    with distributed_session(args.launcher) as distributed:
        cfg, changes = adapt_cfg_to_device(build_cfg(args), distributed)
        cfg, batch = plan_batch(cfg, world_size(args.launcher), args.accumulate, args.auto_scale_lr, args.config)
        with config_build_errors(cfg, args.config), work_dir_write_errors(cfg.work_dir):  # one error line
            runner = build_runner(cfg, changes)
            add_data_checks(runner)  # missing or unreadable files, labels outside the classes: one error line
            runner.logger.info(batch)
            runner.train()
    return 0


if __name__ == '__main__':
    sys.exit(main())
