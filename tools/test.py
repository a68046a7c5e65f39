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
from pathlib import Path

from mmengine.config import Config
from mmengine.evaluator import DumpResults

from convnext.engine.checkpoint_fit import LOAD_STRICT
from convnext.engine.data_checks import add_data_checks
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
    parse_launcher_args,
    set_work_dir,
)
from convnext.serialization import URL_SCHEMES

DRAW_HOOKS = {'mmdet': 'DetVisualizationHook', 'mmseg': 'SegVisualizationHook', 'mmpretrain': 'VisualizationHook'}
"""The visualization hook of each host, driven by ``--show-dir``."""

DRAWING_SUFFIXES = ('.png', '.jpg', '.jpeg')
"""Files counted as drawings in the ``--show-dir`` folder."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parses the command line (mmdet/mmseg/mmpretrain ``test.py`` options)."""
    parser = argparse.ArgumentParser(description='Test (and evaluate) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file or http(s) URL (downloaded into the torch hub cache)')
    parser.add_argument('--work-dir', help='the dir to save the evaluation metrics')
    parser.add_argument('--out', help='dump predictions to a pickle file (.pkl) for offline evaluation')
    parser.add_argument(
        '--show-dir',
        help='folder the drawn predictions are saved in (relative: inside the work dir); printed at the end',
    )
    parser.add_argument('--tta', action='store_true', help='test-time augmentation (the config tta_model/pipeline)')
    parser.add_argument(
        '--allow-partial',
        action='store_true',
        help='load only the checkpoint keys that fit the model (default: refuse a checkpoint whose keys or shapes '
        'differ from the model; --cfg-options load_strict=False does the same)',
    )
    add_cfg_options_args(parser)
    add_launcher_args(parser, LAUNCHERS)
    return parse_launcher_args(parser, argv)


def build_cfg(args: argparse.Namespace) -> Config:
    """Loads, checks and completes the config from the command line."""
    if not osp.isfile(args.checkpoint) and not args.checkpoint.startswith(URL_SCHEMES):
        raise ConfigError(f'checkpoint not found: {args.checkpoint}')
    if args.out is not None and not args.out.endswith(('.pkl', '.pickle')):
        raise ConfigError(f'--out must be a .pkl or .pickle file, got {args.out}')
    cfg = load_config(args.config, args.cfg_options, args.strict_cfg_options)
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


def drawing_dir(work_dir: str, show_dir: str) -> str:
    """The absolute folder of ``--show-dir``: a relative one is inside the work dir."""
    return osp.abspath(show_dir if osp.isabs(show_dir) else osp.join(work_dir, show_dir))


def enable_drawing(cfg: Config, show_dir: str) -> None:
    """Turns on the host's visualization hook, saving every drawing directly in :func:`drawing_dir`.

    The hosts save in three ways: mmdet's hook under ``work_dir/<timestamp>/test_out_dir``
    (a relative one nests again at every iteration), mmpretrain's at ``out_dir`` as
    given (relative: the current directory), mmseg's through the visualizer's
    backends. Each gets the same absolute folder; how often each draws stays the
    host's (mmdet every image, mmseg every 50th batch, mmpretrain every 5000th image).
    """
    scope = cfg.get('default_scope')
    hook_type = DRAW_HOOKS.get(scope)
    hooks = cfg.get('default_hooks', {})
    if hook_type is None or 'visualization' not in hooks:
        raise ConfigError(f"--show-dir needs default_hooks.visualization (a {DRAW_HOOKS} hook), scope '{scope}'")
    hook, folder = hooks['visualization'], drawing_dir(cfg.work_dir, show_dir)
    if scope == 'mmpretrain':
        hook.update(enable=True, out_dir=folder)
    elif scope == 'mmseg':  # SegVisualizationHook saves through the visualizer's LocalVisBackend
        hook.update(draw=True)
        save_images_in(cfg, folder)
    else:
        hook.update(draw=True, test_out_dir=folder)


def save_images_in(cfg: Config, folder: str) -> None:
    """Points the visualizer's ``LocalVisBackend`` images at ``folder`` (an absolute ``img_save_dir`` wins over
    its ``save_dir``); its config and scalars stay in the run's log folder. Adds the backend if there is none."""
    visualizer = cfg.get('visualizer') or {}
    backends = list(visualizer.get('vis_backends') or [])
    local = [backend for backend in backends if str(backend.get('type', '')).endswith('LocalVisBackend')]
    if not local:
        backends.append(dict(type='LocalVisBackend'))
        local = backends[-1:]
    for backend in local:
        backend['img_save_dir'] = folder
    cfg.visualizer = dict(visualizer, vis_backends=backends)


def report_drawings(folder: str) -> None:
    """Prints where the drawings are and how many there are."""
    count = sum(1 for path in Path(folder).glob('*') if path.suffix.lower() in DRAWING_SUFFIXES)
    print(f'Drawings: {count} images in {folder}')


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
    if args.show_dir is not None:
        report_drawings(drawing_dir(cfg.work_dir, args.show_dir))
    return 0


if __name__ == '__main__':
    sys.exit(main())
