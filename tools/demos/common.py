"""The steps every demo shares: run the tools as a user would, read what they logged, draw the picture.

A demo writes its data into its work dir, and its config as a small leaf
(:func:`write_leaf`) that inherits one of our real configs from ``configs/``
and overrides only what the demo must change: the data, the image size, the
schedule length, the model width. Then :func:`train_and_test` runs
``tools/train.py`` and ``tools/test.py --show-dir`` in fresh interpreters
(mmengine keeps loggers and visualizers as named process-wide instances, so
one Runner per process, as on the command line). The metrics come from the
JSON log that the test run wrote, the picture from the drawings that the
host's visualization hook saved under ``--show-dir``. The layout::

    WORK_DIR/data/             generated data
    WORK_DIR/<name>.py         the config that was run (a leaf of a config in configs/)
    WORK_DIR/train/            tools/train.py --work-dir (logs, checkpoints)
    WORK_DIR/test/vis/         tools/test.py --show-dir (one drawing per image)
    WORK_DIR/predictions.png   the first drawings, tiled
    WORK_DIR/demo_results.json metrics, timings, paths
"""

import argparse
import json
import keyword
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from yapf.yapflib.yapf_api import FormatCode

ROOT = Path(__file__).resolve().parents[2]
"""Repository root: the tools run from here, as in the README."""

TOOLS = ROOT / 'tools'

RESULTS_FILE = 'demo_results.json'
PREVIEW_FILE = 'predictions.png'
DRAWING_SUFFIXES = ('.png', '.jpg')
LAST_CHECKPOINT = 'last_checkpoint'
"""File in which mmengine's CheckpointHook records the path of the newest checkpoint."""

NON_METRIC_KEYS = ('data_time', 'time', 'step')
"""Keys of mmengine's test log records that are not metrics."""

LEAF_STYLE = {'based_on_style': 'pep8', 'column_limit': 120}
"""yapf style of the written leaves: the repository's line length."""

DEFAULT_THREADS = 1
"""Torch threads per tool process: one is by far the fastest on a busy 2-core machine."""


def demo_parser(name: str, doc: str) -> argparse.ArgumentParser:
    """The parser of ``tools/demo.py NAME`` with the options every demo takes (:func:`add_common_args`).

    Args:
        name: The demo, e.g. ``'detection'``; its default work dir is ``work_dirs/demo_<name>``.
        doc: The demo module's docstring; its first line describes the demo.
    """
    parser = argparse.ArgumentParser(prog=f'tools/demo.py {name}', description=doc.split('\n')[0])
    add_common_args(parser, f'work_dirs/demo_{name}')
    return parser


def add_common_args(parser: argparse.ArgumentParser, work_dir: str) -> None:
    """Adds ``--work-dir``, ``--seed`` and ``--threads`` (the options every demo takes)."""
    parser.add_argument('--work-dir', default=work_dir, help='output folder (data, config, logs, checkpoints, PNG)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the data and of the training')
    parser.add_argument(
        '--threads', type=int, default=DEFAULT_THREADS, help='torch threads of the train/test processes'
    )


def check_positive(parser: argparse.ArgumentParser, args: argparse.Namespace, names: Sequence[str]) -> None:
    """Exits through ``parser.error`` when one of the integer options ``names`` is below 1."""
    for name in names:
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1, got {getattr(args, name)}')


@dataclass(frozen=True)
class Ref:
    """A name set earlier in the same leaf, written bare.

    ``dict(pipeline=Ref('train_pipeline'))`` is written ``dict(pipeline=train_pipeline)``.
    """

    name: str


def write_leaf(base: Path, overrides: dict, path: Path, header: str) -> Path:
    """Writes a leaf config that inherits ``base`` and sets ``overrides`` (``python tools/train.py PATH`` runs it).

    mmengine merges the leaf into its base as it merges any ``_base_``: dicts
    key by key, lists and other values replaced; a dict holding
    ``_delete_=True`` replaces the base's dict instead of merging into it.

    Args:
        base: The config the leaf inherits, e.g. ``configs/mask_rcnn_convnextv2_a_lsj_3x.py``.
        overrides: Top-level config names -> values (dicts, lists, tuples, strings, numbers, ``None``, paths,
            :class:`Ref` to a name set before it), written in this order.
        path: Where to write the leaf.
        header: What the leaf is, one comment line per line of text.

    Returns:
        ``path``.
    """
    lines = [f'# {line}'.rstrip() for line in header.splitlines()]
    lines += ['', f'_base_ = [{str(base)!r}]']
    lines += [f'{name} = {render_value(value)}' for name, value in overrides.items()]
    text, _ = FormatCode('\n'.join(lines) + '\n', style_config=LEAF_STYLE)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def render_value(value: object) -> str:
    """``value`` as Python source, dicts with identifier keys written ``dict(key=value)`` as configs write them.

    Raises:
        TypeError: ``value`` holds something a config file cannot spell (a set, an object).
    """
    if isinstance(value, dict):
        if all(isinstance(key, str) and key.isidentifier() and not keyword.iskeyword(key) for key in value):
            return f'dict({", ".join(f"{key}={render_value(item)}" for key, item in value.items())})'
        return f'{{{", ".join(f"{render_value(key)}: {render_value(item)}" for key, item in value.items())}}}'
    if isinstance(value, list):
        return f'[{", ".join(map(render_value, value))}]'
    if isinstance(value, tuple):
        return f'({", ".join(map(render_value, value))}{"," if len(value) == 1 else ""})'
    if isinstance(value, Ref):
        return value.name
    if isinstance(value, Path):
        return repr(str(value))
    if value is None or isinstance(value, str | bool | int | float):
        return repr(value)
    raise TypeError(f'a config value must be a dict, list, tuple, str, number, None, Path or Ref; got {type(value)}')


def run_tool(script: str, argv: Sequence[str], threads: int) -> None:
    """Runs ``tools/<script>`` with ``argv`` in a fresh interpreter from the repository root.

    Raises:
        subprocess.CalledProcessError: The tool exited with a non-zero code
            (its own output already names the problem).
    """
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    command = [sys.executable, str(TOOLS / script), *argv]
    print(f'[demo] python tools/{script} {" ".join(argv)}', flush=True)
    subprocess.run(command, cwd=ROOT, env=env, check=True)


def train_and_test(config: Path, work_dir: Path, threads: int) -> tuple[Path, Path, float]:
    """Trains with ``tools/train.py``, then tests the last checkpoint with ``tools/test.py --show-dir``.

    Returns:
        ``(checkpoint, test_dir, train_seconds)``; drawings are under ``test_dir / 'vis'``.
    """
    train_dir, test_dir = work_dir / 'train', work_dir / 'test'
    start = time.perf_counter()
    run_tool('train.py', [str(config), '--work-dir', str(train_dir)], threads)
    train_seconds = time.perf_counter() - start
    checkpoint = last_checkpoint(train_dir)
    run_tool(
        'test.py', [str(config), str(checkpoint), '--work-dir', str(test_dir), '--show-dir', str(test_dir / 'vis')],
        threads,
    )  # fmt: skip
    return checkpoint, test_dir, train_seconds


def last_checkpoint(train_dir: Path) -> Path:
    """The newest checkpoint of a training run (what mmengine wrote to ``last_checkpoint``)."""
    record = train_dir / LAST_CHECKPOINT
    if not record.is_file():
        raise FileNotFoundError(f'no {LAST_CHECKPOINT} in {train_dir}: the training saved no checkpoint')
    return Path(record.read_text().strip())


def read_test_metrics(test_dir: Path, required: str) -> dict[str, float]:
    """The metrics of the newest test log ``<timestamp>/<timestamp>.json`` that holds ``required``.

    Args:
        test_dir: ``tools/test.py --work-dir``.
        required: A metric the record must hold, e.g. ``'coco/bbox_mAP'``, ``'mIoU'``, ``'accuracy/top1'``.
    """
    for log in sorted(test_dir.glob('*/[0-9]*_[0-9]*.json'), reverse=True):
        for line in reversed(log.read_text().splitlines()):
            record = json.loads(line) if line.strip() else {}
            if required in record:
                return {key: float(value) for key, value in record.items() if key not in NON_METRIC_KEYS}
    raise FileNotFoundError(f'no {required} in the test logs under {test_dir}')


def read_train_scalars(train_dir: Path, key: str) -> list[float]:
    """Every logged value of ``key`` (e.g. ``'loss'``) in the training's ``vis_data/scalars.json``, in order."""
    values = []
    for log in sorted(train_dir.glob('*/vis_data/scalars.json')):
        records = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
        values.extend(float(record[key]) for record in records if key in record)
    if not values:
        raise FileNotFoundError(f'no {key!r} logged under {train_dir}')
    return values


def save_preview(vis_dir: Path, out_file: Path, count: int, columns: int = 1) -> Path:
    """Tiles the first ``count`` drawings under ``vis_dir`` into ``out_file``, ``columns`` per row.

    The hosts' hooks draw ground truth and prediction side by side (mmdet,
    mmseg) or the prediction on the image (mmpretrain); this only arranges them.
    """
    drawings = sorted(p for p in vis_dir.rglob('*') if p.suffix in DRAWING_SUFFIXES)[:count]
    if not drawings:
        raise FileNotFoundError(f'no drawings under {vis_dir}: tools/test.py --show-dir drew nothing')
    images = [np.asarray(Image.open(p).convert('RGB')) for p in drawings]
    height, width = max(i.shape[0] for i in images), max(i.shape[1] for i in images)
    padded = [np.pad(i, ((0, height - i.shape[0]), (0, width - i.shape[1]), (0, 0))) for i in images]
    padded += [np.zeros_like(padded[0])] * (-len(padded) % columns)
    rows = [np.concatenate(padded[r : r + columns], axis=1) for r in range(0, len(padded), columns)]
    Image.fromarray(np.concatenate(rows, axis=0)).save(out_file)
    return out_file


def train_test_report(
    config: Path, work_dir: Path, threads: int, metric: str, preview: tuple[int, int], started: float
) -> tuple[dict, Path]:
    """Trains and tests (:func:`train_and_test`), tiles the drawings and writes ``demo_results.json``.

    Args:
        config: The demo's config file.
        work_dir: The demo's work dir.
        threads: Torch threads of the training and test processes.
        metric: A test metric the log must hold, e.g. ``'coco/bbox_mAP'``.
        preview: ``(count, columns)`` of the preview grid (:func:`save_preview`).
        started: ``time.perf_counter()`` when the demo began (for ``total_seconds``).

    Returns:
        ``(results, path)``: the results dict (metrics, timings, checkpoint, preview) and the file written.
    """
    checkpoint, test_dir, train_seconds = train_and_test(config, work_dir, threads)
    results = {
        'metrics': read_test_metrics(test_dir, metric),
        'train_seconds': round(train_seconds, 1),
        'total_seconds': round(time.perf_counter() - started, 1),
        'checkpoint': checkpoint,
        'predictions_png': save_preview(test_dir / 'vis', work_dir / PREVIEW_FILE, *preview),
    }
    return results, write_results(work_dir, results)


def write_results(work_dir: Path, results: dict) -> Path:
    """Writes ``demo_results.json`` (metrics, timings, paths) into the work dir."""
    path = work_dir / RESULTS_FILE
    path.write_text(json.dumps(results, indent=2, default=str))
    return path
