"""tools/analysis/benchmark.py: images/s, latency and peak memory of any host's model."""

import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope

ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = ROOT / 'configs'
TINY_ARCH = {'depths': [1, 1, 1, 1], 'channels': [8, 16, 32, 64]}
TINY_DIMS = TINY_ARCH['channels']
RESULT_KEYS = {'images_per_s', 'latency_ms', 'latency_ms_mean', 'peak_memory_mib', 'memory_kind', 'device', 'cpu'}


pytestmark = pytest.mark.usefixtures('one_thread')


@pytest.fixture(scope='module')
def benchmark(load_tool: Callable[[str], ModuleType]) -> ModuleType:
    return load_tool('tools/analysis/benchmark.py')


def tiny_detector_cfg() -> Config:
    """The Mask R-CNN T config with a tiny backbone and few RoIs."""
    cfg = Config.fromfile(str(CONFIG_DIR / 'mask_rcnn_convnext_t_3x.py'))
    cfg.model.backbone.arch = TINY_ARCH
    cfg.model.neck.in_channels = TINY_DIMS
    cfg.model.test_cfg.rpn.update(nms_pre=50, max_per_img=50)
    cfg.model.test_cfg.rcnn.max_per_img = 5
    return cfg


def tiny_segmentor_cfg(tmp_path: Path) -> Config:
    path = tmp_path / 'upernet.py'
    path.write_text(
        "_base_ = ['mmseg::_base_/models/upernet_convnext.py']\n"
        "default_scope = 'mmseg'\n"
        'model = dict(\n'
        f"    backbone=dict(_delete_=True, type='convnext.ConvNeXt', arch={TINY_ARCH!r}, out_indices=[0, 1, 2, 3], "
        "out_type='featmap'),\n"
        f'    data_preprocessor=dict(size=None), decode_head=dict(in_channels={TINY_DIMS}, channels=16),\n'
        f'    auxiliary_head=dict(in_channels={TINY_DIMS[2]}, channels=8))\n'
    )
    return Config.fromfile(str(path))


def tiny_classifier_cfg() -> Config:
    return Config(
        dict(
            default_scope='mmpretrain',
            model=dict(
                type='ImageClassifier',
                backbone=dict(type='convnext.ConvNeXtV2', arch=TINY_ARCH, out_type='avg'),
                head=dict(type='LinearClsHead', num_classes=10, in_channels=TINY_DIMS[-1]),
            ),
        )
    )


@pytest.mark.parametrize('host', ['mmdet', 'mmseg', 'mmpretrain'])
def test_benchmark_runs_every_host(benchmark: ModuleType, host: str, tmp_path: Path) -> None:
    cfg = {'mmdet': tiny_detector_cfg, 'mmpretrain': tiny_classifier_cfg}.get(
        host, lambda: tiny_segmentor_cfg(tmp_path)
    )()
    result = benchmark.benchmark(cfg, shape=(64, 96), batch_size=2, warmup=1, iters=2, device='cpu')
    assert set(result) == RESULT_KEYS
    assert result['images_per_s'] == pytest.approx(2e3 / result['latency_ms_mean'], rel=1e-6)
    assert result['peak_memory_mib'] > 0 and result['memory_kind'] == 'cpu_rss'


def test_cli_loads_a_checkpoint_and_writes_json(
    benchmark: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    cfg = tiny_classifier_cfg()
    config_path, checkpoint, out = tmp_path / 'cls.py', tmp_path / 'cls.pth', tmp_path / 'result.json'
    cfg.dump(str(config_path))
    init_default_scope('mmpretrain')
    torch.save({'state_dict': MODELS.build(cfg.model).state_dict()}, checkpoint)
    argv = [str(config_path), str(checkpoint), '--shape', '64', '--iters', '2', '--warmup', '0', '--out', str(out)]
    assert benchmark.main(argv) == 0
    printed = capsys.readouterr().out
    assert 'images/s' in printed and 'Peak memory' in printed and 'CPU: ' in printed
    assert set(json.loads(out.read_text())) == RESULT_KEYS


def test_cli_rejects_bad_input(benchmark: ModuleType, tmp_path: Path) -> None:
    config_path = tmp_path / 'cls.py'
    tiny_classifier_cfg().dump(str(config_path))
    assert benchmark.main([str(config_path), str(tmp_path / 'missing.pth')]) == 2
    assert benchmark.main([str(config_path), '--iters', '0']) == 2


# --------------------------------------------------------------------------- benchmark_backbone.py


@pytest.fixture(scope='module')
def benchmark_backbone(load_tool: Callable[[str], ModuleType]) -> ModuleType:
    return load_tool('tools/analysis/benchmark_backbone.py')


def test_backbone_benchmark_compares_implementations_and_names_the_cpu(
    benchmark_backbone: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / 'times.json'
    argv = ['--arch', 'atto', '--size', '32', '--batch-size', '1', '--repeats', '1', '--warmup', '0', '--no-memory']
    benchmark_backbone.main([*argv, '--models', 'ours', 'timm', 'mmpretrain', '--json', str(out)])
    printed = capsys.readouterr().out
    assert 'CPU: ' in printed and 'torch kernels: ' in printed
    rows = [line for line in printed.splitlines() if line.startswith('| ') and 'model' not in line]
    assert [row.split('|')[1].strip() for row in rows] == ['ours', 'timm', 'mmpretrain']
    assert rows[0].split('|')[4].strip() == '1.00x'
    times = json.loads(out.read_text())['times']
    assert set(times) == {'ours', 'timm', 'mmpretrain'} and all(len(t['train']) == 1 for t in times.values())


def test_backbone_benchmark_table_leaves_compiled_memory_blank(benchmark_backbone: ModuleType) -> None:
    times = {'ours': {'inference': [1.0], 'train': [2.0]}, 'ours-compiled': {'inference': [0.5], 'train': [4.0]}}
    table = benchmark_backbone.report(times, {'ours': {'inference': 10.0, 'train': 20.0}})
    assert table.splitlines()[-1] == '| ours-compiled | 500 | 4000 | 0.50x | 2.00x | - | - |'


@pytest.mark.parametrize(
    ('extra', 'expected'),
    [([], {'options': {'force_layout_optimization': True, 'cpp_wrapper': True}}), (['--plain-compile'], {})],
)
def test_backbone_benchmark_compiles_every_implementation_alike(
    benchmark_backbone: ModuleType, extra: list[str], expected: dict
) -> None:
    """ours-compiled and timm-compiled get the same torch.compile arguments: the CPU options, or none."""
    args = benchmark_backbone.parse_args(['--models', 'ours-compiled', 'timm-compiled', *extra])
    assert benchmark_backbone.compile_kwargs(args) == expected
