"""tools/train.py stopped by SIGTERM resumes to exactly the uninterrupted run: a tiny mmdet Mask R-CNN with a
ConvNeXt backbone (drop path), EMA, random resize and flip, mmdet's AspectRatioBatchSampler, on synthetic COCO."""

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / 'tests' / 'engine'))
sys.path.insert(0, str(ROOT / 'tools' / 'demos'))
from preemption_helpers import (  # noqa: E402
    MASK_RCNN_BATCH_SIZE,
    MASK_RCNN_EPOCHS,
    MASK_RCNN_IMAGE_SIZE,
    MASK_RCNN_IMAGES,
    mask_rcnn_config,
    signal_hook,
    single_thread,
    stop_points,
    stop_resume_difference,
    train_in_process,
)
from synthetic_coco import CLASSES, SyntheticCocoSpec, make_synthetic_coco  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures('one_thread')]

BATCHES_PER_EPOCH = MASK_RCNN_IMAGES // MASK_RCNN_BATCH_SIZE
FINAL = f'epoch_{MASK_RCNN_EPOCHS}.pth'
STOP_POINTS = stop_points(BATCHES_PER_EPOCH, MASK_RCNN_EPOCHS)


@pytest.fixture(scope='module')
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp('preempt_coco')
    spec = SyntheticCocoSpec(num_train=MASK_RCNN_IMAGES, num_val=1, image_size=MASK_RCNN_IMAGE_SIZE, max_objects=2)
    make_synthetic_coco(root, spec)
    return root


@pytest.fixture(scope='module')
def train(load_tool: Callable[[str], ModuleType]) -> Callable[..., int]:
    return functools.partial(train_in_process, load_tool('tools/train.py'))


@pytest.fixture(scope='module')
def reference(tmp_path_factory: pytest.TempPathFactory, data_root: Path, train: Callable[..., int]) -> Path:
    work_dir = tmp_path_factory.mktemp('preempt_mask_rcnn_reference')
    with single_thread():
        assert train(mask_rcnn_config(work_dir / 'cfg.py', data_root, CLASSES), work_dir) == 0
    return work_dir


@pytest.mark.parametrize('stop', list(STOP_POINTS))
def test_sigterm_and_resume_is_bit_identical(
    reference: Path, data_root: Path, train: Callable[..., int], tmp_path: Path, stop: str
) -> None:
    hook = signal_hook(iteration=STOP_POINTS[stop])
    config = mask_rcnn_config(tmp_path / 'cfg.py', data_root, CLASSES, hooks=hook)
    difference = stop_resume_difference(train, config, tmp_path, STOP_POINTS[stop], reference / FINAL)
    print(f'Mask R-CNN, stop {stop} (iteration {STOP_POINTS[stop]}): max difference {difference}')
    assert difference == 0
