"""tools/demo.py and tools/demos/common.py: the dispatcher and the steps the three demos share."""

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from mmengine.config import Config
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope='module')
def common(load_tool: Callable[[str], ModuleType]) -> ModuleType:
    return load_tool('tools/demos/common.py')


def test_dispatcher_rejects_an_unknown_demo() -> None:
    done = subprocess.run(
        [sys.executable, 'tools/demo.py', 'classification'], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    assert done.stderr.strip() == "error: unknown demo 'classification'; expected one of detection, segmentation, fcmae"


def test_preview_tiles_the_drawings(common: ModuleType, tmp_path: Path) -> None:
    vis = tmp_path / 'vis' / 'nested'
    vis.mkdir(parents=True)
    for i, (height, width) in enumerate([(20, 40), (30, 40), (20, 30)]):
        Image.fromarray(np.full((height, width, 3), 50 * (i + 1), np.uint8)).save(vis / f'{i}.png')
    out = common.save_preview(tmp_path / 'vis', tmp_path / 'preview.png', count=3, columns=2)
    preview = np.asarray(Image.open(out))
    assert preview.shape == (2 * 30, 2 * 40, 3)  # 2 rows of 2 panels padded to 30x40, one blank
    assert (preview[:20, :40] == 50).all() and (preview[30:, 40:] == 0).all()
    with pytest.raises(FileNotFoundError, match='drew nothing'):
        common.save_preview(tmp_path / 'empty', tmp_path / 'none.png', count=1)


def test_logs_are_read_as_mmengine_writes_them(common: ModuleType, tmp_path: Path) -> None:
    test_log = tmp_path / 'test' / '20260101_000000' / '20260101_000000.json'
    test_log.parent.mkdir(parents=True)
    test_log.write_text(json.dumps({'coco/bbox_mAP': 0.5, 'coco/segm_mAP': 0.4, 'data_time': 0.1, 'step': 3}) + '\n')
    assert common.read_test_metrics(tmp_path / 'test', 'coco/bbox_mAP') == {'coco/bbox_mAP': 0.5, 'coco/segm_mAP': 0.4}
    scalars = tmp_path / 'train' / '20260101_000000' / 'vis_data' / 'scalars.json'
    scalars.parent.mkdir(parents=True)
    scalars.write_text('\n'.join(json.dumps({'loss': loss, 'iter': i}) for i, loss in enumerate([3.0, 2.0])) + '\n')
    assert common.read_train_scalars(tmp_path / 'train', 'loss') == [3.0, 2.0]
    (tmp_path / 'train' / 'last_checkpoint').write_text(str(tmp_path / 'train' / 'iter_2.pth'))
    assert common.last_checkpoint(tmp_path / 'train') == tmp_path / 'train' / 'iter_2.pth'


def test_fcmae_demo_writes_configs_that_build(load_tool: Callable[[str], ModuleType], tmp_path: Path) -> None:
    demo = load_tool('tools/demos/fcmae.py')
    args = demo.parse_args(['--work-dir', str(tmp_path)])
    text = demo.PRETRAIN_CONFIG.format(
        decoder_dim=args.decoder_dim, mean=demo.IMAGENET_MEAN, std=demo.IMAGENET_STD, size=args.image_size,
        batch=args.batch_size, data_root=tmp_path, lr=args.pretrain_lr, warmup=1, iters=args.pretrain_iters,
    )  # fmt: skip
    path = demo.write_config(text, tmp_path / 'fcmae_pretrain.py')
    cfg = Config.fromfile(str(path))
    assert cfg.model.type == 'convnext.FCMAE' and cfg.log_processor.window_size == 1
    with pytest.raises(SystemExit):
        demo.parse_args(['--num-vis', '0'])


def test_report_gathers_what_the_train_and_test_runs_wrote(
    common: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    test_dir = tmp_path / 'test'
    (test_dir / 'vis').mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(test_dir / 'vis' / '0.png')
    (test_dir / '20260101_000000').mkdir()
    (test_dir / '20260101_000000' / '20260101_000000.json').write_text(json.dumps({'mIoU': 41.5, 'step': 1}) + '\n')
    ran = []

    def fake_train_and_test(config: Path, work_dir: Path, threads: int) -> tuple[Path, Path, float]:
        ran.append((config, work_dir, threads))
        return tmp_path / 'iter_4.pth', test_dir, 12.34

    monkeypatch.setattr(common, 'train_and_test', fake_train_and_test)
    results, path = common.train_test_report(tmp_path / 'demo.py', tmp_path, 2, 'mIoU', (1, 1), started=0.0)
    assert ran == [(tmp_path / 'demo.py', tmp_path, 2)]
    assert results['metrics'] == {'mIoU': 41.5} and results['train_seconds'] == 12.3
    assert results['total_seconds'] > 0 and Path(results['predictions_png']).is_file()
    assert json.loads(path.read_text())['checkpoint'] == str(tmp_path / 'iter_4.pth')
    with pytest.raises(FileNotFoundError, match='no aAcc'):
        common.train_test_report(tmp_path / 'demo.py', tmp_path, 2, 'aAcc', (1, 1), started=0.0)
