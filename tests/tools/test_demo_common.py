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


def test_leaf_inherits_its_base_and_overrides_it(common: ModuleType, tmp_path: Path) -> None:
    base = tmp_path / 'base.py'
    base.write_text(
        "model = dict(type='Net', depth=4, head=dict(channels=8, loss=dict(type='CE')))\n"
        "pipeline = [dict(type='Load'), dict(type='Resize', scale=(224, 224))]\n"
        "loader = dict(batch_size=64, dataset=dict(type='ImageNet', split='train', pipeline=pipeline))\n"
    )
    overrides = {
        'model': dict(head=dict(channels=2)),
        'pipeline': [dict(type='Load'), dict(type='Resize', scale=(32, 32))],
        'loader': dict(dataset=dict(_delete_=True, type='Folder', data_root=tmp_path, pipeline=common.Ref('pipeline'))),
        'classes': ('a',),
        'palette': {'a': [1, 2, 3]},
        'lr': 1e-3,
        'amp': False,
        'init': None,
    }
    path = common.write_leaf(base, overrides, tmp_path / 'leaf.py', 'A leaf for the test.\nSecond line.')
    text = path.read_text()
    assert text.startswith(f"# A leaf for the test.\n# Second line.\n\n_base_ = ['{base}']\n")
    assert 'pipeline=pipeline' in text
    cfg = Config.fromfile(str(path))
    assert cfg.model.to_dict() == {'type': 'Net', 'depth': 4, 'head': {'channels': 2, 'loss': {'type': 'CE'}}}
    assert cfg.loader.batch_size == 64 and 'split' not in cfg.loader.dataset
    assert cfg.loader.dataset.data_root == str(tmp_path) and cfg.loader.dataset.pipeline[1].scale == (32, 32)
    assert cfg.classes == ('a',) and cfg.palette == {'a': [1, 2, 3]}
    assert cfg.lr == 1e-3 and cfg.amp is False and cfg.init is None
    assert common.render_value({'class': 1, 2: (3,)}) == "{'class': 1, 2: (3,)}"  # not dict(class=1)
    with pytest.raises(TypeError, match="got <class 'set'>"):
        common.write_leaf(base, {'classes': {'a'}}, tmp_path / 'bad.py', 'Bad.')


def test_fcmae_demo_writes_configs_that_build(load_tool: Callable[[str], ModuleType], tmp_path: Path) -> None:
    demo = load_tool('tools/demos/fcmae.py')
    args = demo.parse_args(['--work-dir', str(tmp_path)])
    overrides = demo.pretrain_overrides(args, tmp_path)
    path = demo.common.write_leaf(demo.PRETRAIN_CONFIG, overrides, tmp_path / 'fcmae_pretrain.py', 'Pretraining.')
    cfg = Config.fromfile(str(path))
    assert cfg.model.type == 'convnext.FCMAE' and cfg.log_processor.window_size == 1
    assert cfg.model.backbone.arch == 'atto' and cfg.model.decoder_embed_dim == args.decoder_dim
    assert cfg.train_dataloader.dataset.to_dict() == dict(
        type='CustomDataset', data_root=str(tmp_path), pipeline=cfg.train_pipeline, with_label=False
    )
    assert cfg.train_cfg.to_dict() == dict(type='IterBasedTrainLoop', max_iters=args.pretrain_iters)
    assert cfg.train_dataloader.collate_fn.to_dict() == {'type': 'default_collate'}  # no '_scope_' for the Runner
    overrides = demo.finetune_overrides(args, tmp_path / 'backbone.pth', tmp_path / 'train', tmp_path / 'val')
    path = demo.common.write_leaf(demo.FINETUNE_CONFIG, overrides, tmp_path / 'finetune.py', 'Fine-tuning.')
    cfg = Config.fromfile(str(path))
    assert cfg.model.type == 'ImageClassifier' and cfg.model.head.num_classes == args.num_classes
    assert cfg.model.backbone.init_cfg.checkpoint == str(tmp_path / 'backbone.pth')
    assert cfg.test_evaluator.topk == (1,) and cfg.custom_hooks == []
    assert cfg.test_dataloader.dataset.data_root == str(tmp_path / 'val')
    assert cfg.optim_wrapper.constructor == 'convnext.LayerDecayOptimWrapperConstructor'
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
