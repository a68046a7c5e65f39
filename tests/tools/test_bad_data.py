"""Bad data sets through tools/train.py and tools/test.py: one ``error:`` line naming the file and the problem, exit 2.

Broken copies of the synthetic COCO, ADE20K-layout and image-folder sets
(annotation files that are not JSON or lack ``images``, classes that match no
category, missing, truncated or non-image files, labels outside the classes)
fail while the Runner builds the datasets or at the first bad sample, in a
few seconds each; the helpers in :mod:`convnext.engine.data_checks` are
tested directly where a tool run would add nothing.
"""

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS, DefaultScope
from PIL import Image

from convnext.engine.data_checks import DataError, SegLabelCheck, coco_problem, missing_files

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / 'tools' / 'demos'))
from synthetic_ade import generate_dataset  # noqa: E402
from synthetic_coco import CLASSES, SyntheticCocoSpec, make_synthetic_coco  # noqa: E402

BAD_INPUT_EXIT = 2
COCO_IMAGES = 4
ADE_CLASSES = 5
BAD_LABEL = 40
"""An ADE20K-style label beyond the classes: 39 after reduce_zero_label, as in a 39-class set given a 40."""

pytestmark = pytest.mark.usefixtures('one_thread')

DET_CONFIG = """
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
]
classes = {classes}
model = dict(
    backbone=dict(_delete_=True, type='convnext.ConvNeXt', arch=dict(depths=[1, 1, 1, 1], channels=[8, 16, 32, 64]),
                  out_indices=(0, 1, 2, 3), out_type='featmap'),
    neck=dict(in_channels=[8, 16, 32, 64], out_channels=16),
    rpn_head=dict(in_channels=16, feat_channels=16),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=16),
        bbox_head=dict(in_channels=16, fc_out_channels=32, num_classes=len(classes)),
        mask_roi_extractor=dict(out_channels=16),
        mask_head=dict(in_channels=16, conv_out_channels=16, num_classes=len(classes))))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(64, 64), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(data_root='{data_root}', ann_file='annotations/instances_train.json', data_prefix=dict(img='train/'),
                 metainfo=dict(classes=classes), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    dataset=dict(data_root='{data_root}', ann_file='annotations/instances_val.json', data_prefix=dict(img='val/'),
                 metainfo=dict(classes=classes), pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='CocoMetric', ann_file='{data_root}/annotations/instances_val.json', metric='bbox')
test_evaluator = val_evaluator
train_cfg = dict(max_epochs=1)
default_hooks = dict(logger=dict(interval=1), visualization=dict(draw=False))
log_level = 'WARNING'
"""

SEG_CONFIG = """
_base_ = ['{demo_config}']
train_dataloader = dict(batch_size=2, dataset=dict(data_root='{data_root}'))
val_dataloader = dict(dataset=dict(data_root='{data_root}'))
test_dataloader = dict(dataset=dict(data_root='{data_root}'))
train_cfg = dict(max_iters=2, val_interval=2)
log_level = 'WARNING'
"""


def run_main(tool: ModuleType, argv: list[str]) -> tuple[int, str]:
    """Runs ``tool.main(argv)`` in-process; returns its exit code and what it wrote to stderr."""
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        try:
            code = tool.main(argv)
        except SystemExit as exit_:
            code = exit_.code
    return code, stderr.getvalue()


def error_line(code: int, stderr: str) -> str:
    """The tool's one ``error:`` line (the last stderr line), after checking the exit code and that no traceback
    was printed."""
    assert code == BAD_INPUT_EXIT, stderr[-3000:]
    assert 'Traceback' not in stderr, stderr[-3000:]
    line = stderr.strip().splitlines()[-1]
    assert line.startswith('error: '), line
    return line


def save_checkpoint(config: Path, path: Path) -> Path:
    """A checkpoint of ``config``'s model with its initial weights (what tools/test.py loads)."""
    cfg = Config.fromfile(str(config))
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(cfg.model)
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return path


@pytest.fixture(scope='module')
def coco_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp('coco_source')
    make_synthetic_coco(root, SyntheticCocoSpec(num_train=COCO_IMAGES, num_val=2, image_size=64, max_objects=2))
    return root


@pytest.fixture(scope='module')
def det_checkpoint(coco_source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp('det_checkpoint')
    config = folder / 'det.py'
    config.write_text(DET_CONFIG.format(classes=repr(CLASSES), data_root=coco_source))
    return save_checkpoint(config, folder / 'det.pth')


@pytest.fixture
def coco(coco_source: Path, tmp_path: Path) -> Path:
    """A copy of the synthetic COCO set to break."""
    return Path(shutil.copytree(coco_source, tmp_path / 'coco'))


def det_config(folder: Path, data_root: Path, classes: tuple[str, ...] = CLASSES) -> Path:
    config = folder / 'det.py'
    config.write_text(DET_CONFIG.format(classes=repr(tuple(classes)), data_root=data_root))
    return config


def run_tool(
    tool: ModuleType, config: Path, work_dir: Path, checkpoint: Path | None = None, *options: str
) -> tuple[int, str]:
    """tools/train.py (no checkpoint) or tools/test.py (with one) on ``config``."""
    argv = [str(config)] + ([str(checkpoint)] if checkpoint else []) + ['--work-dir', str(work_dir), *options]
    return run_main(tool, argv)


def edit_json(path: Path, change: Callable[[dict], None]) -> None:
    content = json.loads(path.read_text())
    change(content)
    path.write_text(json.dumps(content))


# Each breaks one split's annotation file; the expected line (after 'error: {key}: ') names that file.
COCO_CASES = {
    'not_json': (lambda path: path.write_text('<html>502 Bad Gateway</html>'), '{ann} is not JSON (Expecting value'),
    'no_images': (
        lambda path: edit_json(path, lambda coco: coco.pop('images')),
        "{ann} has no 'images' list (a COCO annotation file has images, annotations and categories)",
    ),
    'empty_images': (lambda path: edit_json(path, lambda coco: coco.update(images=[])), '{ann} lists no images'),
    'other_category_ids': (
        lambda path: edit_json(path, lambda coco: [ann.update(category_id=99) for ann in coco['annotations']]),
        "annotations in {ann} has a category id of the config's classes ([1, 2, 3]); their category ids are [99]",
    ),
}


@pytest.mark.parametrize('case', list(COCO_CASES))
@pytest.mark.parametrize('tool_name', ['train', 'test'])
def test_bad_coco_annotation_file_is_named(
    request: pytest.FixtureRequest, coco: Path, det_checkpoint: Path, tmp_path: Path, case: str, tool_name: str
) -> None:
    split, key = ('train', 'train_dataloader') if tool_name == 'train' else ('val', 'test_dataloader')
    ann = coco / 'annotations' / f'instances_{split}.json'
    breaker, message = COCO_CASES[case]
    breaker(ann)
    tool = request.getfixturevalue('train' if tool_name == 'train' else 'test_tool')
    checkpoint = det_checkpoint if tool_name == 'test' else None
    line = error_line(*run_tool(tool, det_config(tmp_path, coco), tmp_path / 'work', checkpoint))
    assert line.startswith(f'error: {key}.dataset: ') and message.format(ann=ann) in line, line


@pytest.mark.parametrize('tool_name', ['train', 'test'])
def test_classes_that_match_no_category_are_named(
    request: pytest.FixtureRequest, coco: Path, det_checkpoint: Path, tmp_path: Path, tool_name: str
) -> None:
    """Train: every image is filtered out ("need at least one array to concatenate"); test: mAP of nothing."""
    split = 'train' if tool_name == 'train' else 'val'
    tool = request.getfixturevalue('train' if tool_name == 'train' else 'test_tool')
    checkpoint = det_checkpoint if tool_name == 'test' else None
    config = det_config(tmp_path, coco, classes=('cat', 'dog', 'bird'))
    line = error_line(*run_tool(tool, config, tmp_path / 'work', checkpoint))
    ann = coco / 'annotations' / f'instances_{split}.json'
    assert (
        f"none of the config's classes ['cat', 'dog', 'bird'] is a category of {ann} "
        f"(its categories: ['circle', 'square', 'triangle'])" in line
    ), line


def test_training_set_without_usable_images_is_named(train: ModuleType, coco: Path, tmp_path: Path) -> None:
    ann = coco / 'annotations' / 'instances_train.json'
    edit_json(ann, lambda content: content.update(annotations=[]))  # every image filtered out as empty
    line = error_line(*run_tool(train, det_config(tmp_path, coco), tmp_path / 'work'))
    assert (
        f'error: train_dataloader.dataset: CocoDataset has 0 usable images from {ann}, none left by filter_cfg=' in line
    )


@pytest.mark.parametrize('tool_name', ['train', 'test'])
def test_missing_images_are_counted_and_the_first_named_before_running(
    request: pytest.FixtureRequest, coco: Path, det_checkpoint: Path, tmp_path: Path, tool_name: str
) -> None:
    split, key = ('train', 'train_dataloader') if tool_name == 'train' else ('val', 'test_dataloader')
    first = coco / split / '000000.png'
    first.unlink()
    (coco / split / '000001.png').unlink()
    tool = request.getfixturevalue('train' if tool_name == 'train' else 'test_tool')
    checkpoint = det_checkpoint if tool_name == 'test' else None
    work_dir = tmp_path / 'work'
    line = error_line(*run_tool(tool, det_config(tmp_path, coco), work_dir, checkpoint))
    ann = coco / 'annotations' / f'instances_{split}.json'
    assert line.startswith(f'error: {key}.dataset: 2 of the '), line
    assert f'images listed by {ann} do not exist, the first: {first}' in line
    assert not list(work_dir.rglob('*.pth'))


@pytest.fixture(scope='module')
def ade_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_dataset(tmp_path_factory.mktemp('ade_source'), num_train=2, num_val=2, size=64)


@pytest.fixture(scope='module')
def seg_demo_config(load_tool: Callable[[str], ModuleType], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The segmentation demo's leaf (UperNet V2-Atto, five classes), as ``tools/demo.py segmentation`` writes it."""
    demo = load_tool('tools/demos/segmentation.py')
    folder = tmp_path_factory.mktemp('seg_demo_config')
    return demo.write_config(demo.parse_args([]), folder / 'data', folder)


@pytest.fixture(scope='module')
def seg_checkpoint(ade_source: Path, seg_demo_config: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp('seg_checkpoint')
    return save_checkpoint(seg_config(folder, ade_source, seg_demo_config), folder / 'seg.pth')


def seg_config(folder: Path, data_root: Path, demo_config: Path) -> Path:
    """:data:`SEG_CONFIG` over ``demo_config``: two iterations of batch 2 on ``data_root``."""
    config = folder / 'seg.py'
    config.write_text(SEG_CONFIG.format(demo_config=demo_config, data_root=data_root))
    return config


def put_label(label_map: Path, value: int) -> None:
    """Writes ``value`` into one pixel of an ADE20K-style label map."""
    labels = np.asarray(Image.open(label_map)).copy()
    labels[3, 5] = value
    Image.fromarray(labels).save(label_map)


@pytest.mark.parametrize('tool_name', ['train', 'test'])
def test_segmentation_label_outside_the_classes_is_named(
    request: pytest.FixtureRequest,
    ade_source: Path,
    seg_demo_config: Path,
    seg_checkpoint: Path,
    tmp_path: Path,
    tool_name: str,
) -> None:
    """Train: ``IndexError: Target 39 is out of bounds`` without the check; test: a silently wrong mIoU."""
    data_root = Path(shutil.copytree(ade_source, tmp_path / 'ade'))
    split = 'training' if tool_name == 'train' else 'validation'
    label_map = sorted((data_root / 'annotations' / split).glob('*.png'))[-1]
    put_label(label_map, BAD_LABEL)
    tool = request.getfixturevalue('train' if tool_name == 'train' else 'test_tool')
    options = ['--out', str(tmp_path / 'preds.pkl')] if tool_name == 'test' else []
    checkpoint = seg_checkpoint if tool_name == 'test' else None
    config = seg_config(tmp_path, data_root, seg_demo_config)
    line = error_line(*run_tool(tool, config, tmp_path / 'work', checkpoint, *options))
    assert line == (
        f'error: {label_map}: label {BAD_LABEL} in the file ({BAD_LABEL - 1} after reduce_zero_label) is not a class: '
        f'num_classes is {ADE_CLASSES} (labels 0-{ADE_CLASSES - 1}) and ignore_index 255; fix the label map, or the '
        f'classes of the model and dataset'
    )
    assert not (tmp_path / 'preds.pkl').exists()  # nothing written half


def test_segmentation_set_without_images_is_named(
    train: ModuleType, ade_source: Path, seg_demo_config: Path, tmp_path: Path
) -> None:
    data_root = Path(shutil.copytree(ade_source, tmp_path / 'ade'))
    for image in (data_root / 'images' / 'training').glob('*.jpg'):
        image.rename(image.with_suffix('.jpeg'))
    line = error_line(*run_tool(train, seg_config(tmp_path, data_root, seg_demo_config), tmp_path / 'work'))
    assert line == (
        f"error: train_dataloader.dataset: BaseSegDataset found 0 '*.jpg' images in {data_root / 'images/training'}"
    )


@pytest.mark.parametrize(
    'reduce_zero_label, value, allowed',
    [(True, 0, True), (True, 255, True), (True, ADE_CLASSES, True), (True, ADE_CLASSES + 1, False),
     (False, ADE_CLASSES - 1, True), (False, ADE_CLASSES, False), (False, 255, True)],
)  # fmt: skip
def test_label_check_follows_reduce_zero_label(
    tmp_path: Path, reduce_zero_label: bool, value: int, allowed: bool
) -> None:
    """mmseg's LoadAnnotations, then the check: with reduce_zero_label a file's 0 is ignored and ``k`` is class
    ``k - 1``, so 1..num_classes are the classes; without it 0..num_classes - 1."""
    from mmseg.datasets.transforms import LoadAnnotations

    label_map = tmp_path / 'label.png'
    Image.fromarray(np.full((8, 8), 1 if reduce_zero_label else 0, dtype=np.uint8)).save(label_map)
    put_label(label_map, value)
    results = {'seg_map_path': str(label_map), 'reduce_zero_label': reduce_zero_label, 'seg_fields': []}
    loaded = LoadAnnotations()(results)
    check = SegLabelCheck(num_classes=ADE_CLASSES, ignore_index=255, pipeline_key='train_dataloader.dataset.pipeline')
    if allowed:
        assert check(loaded) is loaded
    else:
        with pytest.raises(DataError, match=f'{label_map}: label {value}'):
            check(loaded)


@pytest.fixture
def cls_data(tiny_config: Path, tmp_path: Path) -> Path:
    """A copy of the tiny classification set of ``tiny_config`` to break."""
    return Path(shutil.copytree(tiny_config.parent / 'data', tmp_path / 'data'))


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


BROKEN_IMAGES = {'truncated': truncate, 'not_an_image': lambda path: path.write_text('not an image\n')}


@pytest.mark.parametrize('kind', list(BROKEN_IMAGES))
def test_unreadable_training_image_is_named(
    train: ModuleType, tiny_config: Path, cls_data: Path, tmp_path: Path, kind: str
) -> None:
    broken = cls_data / 'class_0' / '1.png'
    BROKEN_IMAGES[kind](broken)
    options = ['--cfg-options', f'train_dataloader.dataset.data_root={cls_data}', 'train_cfg.max_epochs=1']
    line = error_line(*run_tool(train, tiny_config, tmp_path / 'work', None, *options))
    assert line == (
        f'error: {broken} cannot be read as an image (no image decoded: truncated, or not an image); replace or '
        'remove it, or skip such files in training with ignore_empty=True in the LoadImageFromFile of '
        'train_dataloader.dataset.pipeline'
    )


def test_unreadable_training_images_are_skipped_with_a_count_when_asked(
    train: ModuleType, tiny_config: Path, cls_data: Path, tmp_path: Path
) -> None:
    broken = [cls_data / 'class_0' / '1.png', cls_data / 'class_1' / '2.png']
    truncate(broken[0])
    broken[1].write_text('not an image\n')
    work_dir = tmp_path / 'work'
    options = [
        '--cfg-options', f'train_dataloader.dataset.data_root={cls_data}', 'train_cfg.max_epochs=1',
        'train_dataloader.dataset.pipeline.0.ignore_empty=True',
    ]  # fmt: skip
    code, stderr = run_tool(train, tiny_config, work_dir, None, *options)
    assert code == 0, stderr[-3000:]
    assert (work_dir / 'epoch_1.pth').is_file()
    log = next(work_dir.rglob('*.log')).read_text()
    for path in broken:
        assert f'Skipped unreadable image {path} (' in log
    assert 'skipped so far by this process' in log


def test_unreadable_image_in_a_worker_is_one_line(
    train: ModuleType, tiny_config: Path, cls_data: Path, tmp_path: Path
) -> None:
    """torch's DataLoader re-raises a worker's error with the worker's traceback in the message; the line stays one."""
    broken = cls_data / 'class_1' / '0.png'
    truncate(broken)
    options = [
        '--cfg-options', f'train_dataloader.dataset.data_root={cls_data}', 'train_cfg.max_epochs=1',
        'train_dataloader.num_workers=1',
    ]  # fmt: skip
    line = error_line(*run_tool(train, tiny_config, tmp_path / 'work', None, *options))
    assert line.startswith(f'error: {broken} cannot be read as an image ('), line
    assert 'Original Traceback' not in line


def test_terminal_shows_one_line(coco: Path, tmp_path: Path) -> None:
    ann = coco / 'annotations' / 'instances_train.json'
    ann.write_text('{"images": [')
    config = det_config(tmp_path, coco)
    env = dict(os.environ, CUDA_VISIBLE_DEVICES='', OMP_NUM_THREADS='1')
    env.pop('CONVNEXT_DEBUG', None)
    result = subprocess.run(
        [sys.executable, 'tools/train.py', str(config), '--work-dir', str(tmp_path / 'work')],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == BAD_INPUT_EXIT
    lines = [line for line in result.stderr.strip().splitlines() if 'Warning' not in line and line.startswith('error')]
    assert len(lines) == 1 and 'Traceback' not in result.stderr, result.stderr[-3000:]
    assert lines[0].startswith(f'error: train_dataloader.dataset: {ann} is not JSON (Expecting value')


def test_missing_files_lists_absent_paths_in_order(tmp_path: Path) -> None:
    present = tmp_path / 'a.png'
    present.write_bytes(b'x')
    paths = [str(tmp_path / 'z.png'), str(present), str(tmp_path / 'sub' / 'b.png'), str(tmp_path / 'c.png')]
    assert missing_files(paths) == [paths[0], paths[2], paths[3]]


def test_coco_problem_accepts_a_good_file_and_names_missing_categories(coco: Path) -> None:
    ann = coco / 'annotations' / 'instances_train.json'
    assert coco_problem(str(ann), CLASSES) is None
    edit_json(ann, lambda content: content.pop('categories'))
    assert (
        coco_problem(str(ann), CLASSES) == f"{ann} has no 'categories' list (a COCO annotation file has images, "
        'annotations and categories)'
    )


def test_worker_message_is_reduced_to_the_original_line() -> None:
    message = (
        'Caught DataError in DataLoader worker process 0.\nOriginal Traceback (most recent call last):\n'
        '  File "x.py", line 1, in f\nconvnext.engine.data_checks.DataError: /d/x.png cannot be read as an image\n'
    )
    assert str(DataError(message)) == '/d/x.png cannot be read as an image'
