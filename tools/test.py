"""Evaluates a checkpoint of an mmdet, mmsegmentation or mmpretrain model.

The config's ``default_scope`` picks the host; its test evaluator gives the
metrics (COCO bbox/segm mAP, mIoU, top-1). ``--show-dir`` draws predictions
with the host's visualizer, ``--out`` dumps the raw predictions.

Example:
    python tools/test.py configs/mask_rcnn_convnext_t_3x.py work_dirs/mrcnn_t/epoch_36.pth --show-dir vis
"""

import argparse
import os.path as osp
import sys

from mmengine.config import Config, DictAction
from mmengine.evaluator import DumpResults

from convnext.engine.checkpoint_fit import LOAD_STRICT
from convnext.engine.runner_files import URL_SCHEMES
from convnext.engine.data_checks import add_data_checks
from convnext.utils import (
    LAUNCHERS,
    ConfigError,
    adapt_cfg_to_device,
    add_launcher_args,
    build_runner,
    check_config,
    config_build_errors,
    distributed_session,
    exit_on_config_error,
    load_config,
    parse_launcher_args,
    set_work_dir,
)

DRAW_HOOKS = {'mmdet': 'DetVisualizationHook', 'mmseg': 'SegVisualizationHook', 'mmpretrain': 'VisualizationHook'}
"""The visualization hook of each host, driven by ``--show-dir``."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parses the command line (mmdet/mmseg/mmpretrain ``test.py`` options)."""
    parser = argparse.ArgumentParser(description='Test (and evaluate) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file or http(s) URL (downloaded into the torch hub cache)')
    parser.add_argument('--work-dir', help='the dir to save the evaluation metrics')
    parser.add_argument('--out', help='dump predictions to a pickle file (.pkl) for offline evaluation')
    parser.add_argument('--show-dir', help='where drawn predictions are saved (relative: inside the work dir)')
    parser.add_argument('--tta', action='store_true', help='test-time augmentation (the config tta_model/pipeline)')
    parser.add_argument(
        '--allow-partial',
        action='store_true',
        help='load only the checkpoint keys that fit the model (default: refuse a checkpoint whose keys or shapes '
        'differ from the model; --cfg-options load_strict=False does the same)',
    )
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config settings')
    add_launcher_args(parser, LAUNCHERS)
    return parse_launcher_args(parser, argv)


def build_cfg(args: argparse.Namespace) -> Config:
    """Loads, checks and completes the config from the command line."""
    if not osp.isfile(args.checkpoint) and not args.checkpoint.startswith(URL_SCHEMES):
        raise ConfigError(f'checkpoint not found: {args.checkpoint}')
    if args.out is not None and not args.out.endswith(('.pkl', '.pickle')):
        raise ConfigError(f'--out must be a .pkl or .pickle file, got {args.out}')
    cfg = load_config(args.config, args.cfg_options)
    check_config(cfg, args.config, ('test_dataloader',))
    cfg.launcher = args.launcher
    set_work_dir(cfg, args.config, args.work_dir)
    cfg.load_from = args.checkpoint
    cfg[LOAD_STRICT] = False if args.allow_partial else cfg.get(LOAD_STRICT, True)  # the weights must fit
    cfg.setdefault('runner_type', 'convnext.PreemptibleRunner')  # its load_checkpoint checks the fit
    if args.show_dir is not None:
        enable_drawing(cfg, args.show_dir)
    if args.tta:
        enable_tta(cfg, args.config)
    return cfg


def enable_drawing(cfg: Config, show_dir: str) -> None:
    """Turns on the host's visualization hook, saving drawings under ``show_dir``."""
    scope = cfg.get('default_scope')
    hook_type = DRAW_HOOKS.get(scope)
    hooks = cfg.get('default_hooks', {})
    if hook_type is None or 'visualization' not in hooks:
        raise ConfigError(f"--show-dir needs default_hooks.visualization (a {DRAW_HOOKS} hook), scope '{scope}'")
    hook = hooks['visualization']
    if scope == 'mmpretrain':
        hook.update(enable=True, out_dir=show_dir)
    elif scope == 'mmseg':  # SegVisualizationHook saves through the visualizer's save_dir
        hook.update(draw=True)
        cfg.visualizer.save_dir = show_dir if osp.isabs(show_dir) else osp.join(cfg.work_dir, show_dir)
    else:
        hook.update(draw=True, test_out_dir=show_dir)


def enable_tta(cfg: Config, path: str) -> None:
    """Wraps the model in the config's ``tta_model`` and uses its ``tta_pipeline``."""
    if 'tta_model' not in cfg or 'tta_pipeline' not in cfg:
        raise ConfigError(f'--tta needs tta_model and tta_pipeline in {path}')
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
    cfg.model = dict(**cfg.tta_model, module=cfg.model)


@exit_on_config_error
def main(argv: list[str] | None = None) -> int:
    """Tests; returns the exit code (2 with one ``error:`` line on bad input)."""
    args = parse_args(argv)
    with distributed_session(args.launcher) as distributed:
        cfg, changes = adapt_cfg_to_device(build_cfg(args), distributed)
        with config_build_errors(cfg, args.config):  # model, datasets, the checkpoint: one error line
            runner = build_runner(cfg, changes)
            add_data_checks(runner)  # missing or unreadable files, labels outside the classes: one error line
            if args.out is not None:
                runner.test_evaluator.metrics.append(DumpResults(out_file_path=args.out))
            runner.test()
    return 0


if __name__ == '__main__':
    sys.exit(main())
