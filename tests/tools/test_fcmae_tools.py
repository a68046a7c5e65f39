"""FCMAE tools and configs: converter, pictures, benchmark, configs, end-to-end demo."""

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
import torch
from mmengine.config import Config
from PIL import Image

from convnext.models.backbones.convnext import ConvNeXtV2
from convnext.registry import MODELS

ROOT = Path(__file__).resolve().parents[2]
TINY_ARCH = {'depths': [1, 1, 1, 1], 'channels': [8, 16, 24, 32]}
SIZES = 'afpntblh'


def tiny_fcmae() -> torch.nn.Module:
    model = MODELS.build(
        dict(type='FCMAE', backbone=dict(type='convnext.ConvNeXtV2', arch=TINY_ARCH), decoder_embed_dim=16)
    )
    model.init_weights()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if '.grn.' in name:
                param.normal_()
    return model


def official_sparse_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Our encoder in the official Minkowski ``encoder.`` layout (inverse of ConvNeXt-V2 remap_checkpoint_keys)."""
    out = {}
    for key, value in model.backbone.state_dict().items():
        name = 'encoder.' + key
        block = key.startswith('stages.')
        down = key.startswith('downsample_layers.') and not key.startswith('downsample_layers.0.')
        if key.endswith('dwconv.weight'):
            out[name.replace('.weight', '.kernel')] = value.transpose(3, 2).reshape(value.shape[0], -1).t()
        elif down and key.endswith('.1.weight'):
            c_out, c_in, k, _ = value.shape
            kernel = value.transpose(3, 2).reshape(c_out, c_in, k * k).permute(2, 1, 0)
            out[name.replace('.weight', '.kernel')] = kernel
        elif '.grn.' in key:
            out[name] = value.reshape(1, -1)
        elif block and ('.norm.' in key):
            out[name.replace('.norm.', '.norm.ln.')] = value
        elif block and '.pwconv' in key:
            out[name.replace('.weight', '.linear.weight').replace('.bias', '.linear.bias')] = value
        elif down and '.0.' in key:
            out[name.rsplit('.', 1)[0] + '.ln.' + key.rsplit('.', 1)[1]] = value
        else:
            out[name] = value.reshape(1, -1) if (key.endswith('bias') and (block or down)) else value
    out['mask_token'] = model.mask_token.detach()
    out['proj.weight'] = model.proj.weight.detach()
    return out


@pytest.mark.parametrize('layout', ['ours', 'official_sparse'])
def test_converter_gives_loadable_backbone(load_tool: Callable[[str], ModuleType], tmp_path: Path, layout: str) -> None:
    converter = load_tool('tools/model_converters/fcmae_to_backbone.py')
    model = tiny_fcmae()
    src = tmp_path / 'fcmae.pth'
    state = model.state_dict() if layout == 'ours' else official_sparse_state_dict(model)
    torch.save({'state_dict' if layout == 'ours' else 'model': state}, src)
    dst = tmp_path / 'backbone.pth'
    assert converter.main([str(src), str(dst)]) == 0
    saved = torch.load(dst, map_location='cpu')['state_dict']
    assert all(k.startswith('backbone.') for k in saved)
    assert not any(k.startswith(('backbone.proj', 'backbone.mask_token', 'backbone.decoder')) for k in saved)
    backbone = ConvNeXtV2(arch=TINY_ARCH, out_type='avg', init_cfg=dict(type='Pretrained', checkpoint=str(dst)))
    backbone.init_weights()
    for key, value in model.backbone.state_dict().items():
        torch.testing.assert_close(backbone.state_dict()[key], value, msg=key)


def test_visualize_writes_grid(load_tool: Callable[[str], ModuleType], tmp_path: Path) -> None:
    tool = load_tool('tools/analysis/visualize_fcmae.py')
    config = tmp_path / 'fcmae_tiny.py'
    config.write_text(
        f"model = dict(type='convnext.FCMAE', backbone=dict(type='convnext.ConvNeXtV2', arch={TINY_ARCH}), "
        'decoder_embed_dim=16, data_preprocessor=dict(type="mmpretrain.SelfSupDataPreprocessor", '
        'mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True))\n'
    )
    checkpoint = tmp_path / 'fcmae.pth'
    torch.save({'state_dict': tiny_fcmae().state_dict()}, checkpoint)
    images = []
    for i in range(2):
        path = tmp_path / f'{i}.png'
        Image.new('RGB', (80, 70), (40 * i, 100, 200)).save(path)
        images.append(str(path))
    out = tmp_path / 'grid.png'
    assert tool.main([str(config), str(checkpoint), *images, '--out', str(out), '--size', '64']) == 0
    grid = Image.open(out)
    assert grid.size == (64 * len(tool.COLUMNS), 64 * 2)


def test_visible_stats_use_no_removed_pixels(load_tool: Callable[[str], ModuleType]) -> None:
    tool = load_tool('tools/analysis/visualize_fcmae.py')
    model = tiny_fcmae().eval()
    imgs = torch.randn(2, 3, 64, 64)
    mask = model.generate_mask(imgs)
    removed = mask.reshape(2, 1, 2, 1, 2, 1).expand(2, 3, 2, 32, 2, 32).reshape(imgs.shape).bool()
    changed = torch.where(removed, torch.randn_like(imgs) * 10, imgs)
    pred = model.reconstruct(imgs, mask)
    ours = tool.unnormalise_prediction(model, pred, imgs, mask, 'visible')
    torch.testing.assert_close(tool.unnormalise_prediction(model, pred, changed, mask, 'visible'), ours)
    assert not torch.allclose(tool.unnormalise_prediction(model, pred, changed, mask, 'own'), ours)


def test_benchmark_prints_ratios(load_tool: Callable[[str], ModuleType], capsys: pytest.CaptureFixture) -> None:
    tool = load_tool('tools/analysis/benchmark_fcmae.py')
    args = ['--arch', 'atto', '--batch-size', '2', '--size', '64', '--iters', '1', '--warmup', '0']
    assert tool.main(args + ['--backends', 'plain', 'dense']) == 0
    out = capsys.readouterr().out
    assert 'plain' in out and 'dense' in out and '1.00x' in out
    assert 'CPU: ' in out and 'torch kernels: ' in out  # which machine the ratios come from


@pytest.mark.parametrize('size', list(SIZES))
def test_configs_load(size: str) -> None:
    pretrain = Config.fromfile(str(ROOT / f'configs/fcmae_convnextv2_{size}_800e_in1k.py'))
    assert pretrain.model.type == 'convnext.FCMAE'
    assert pretrain.train_cfg.max_epochs == 800
    assert pretrain.optim_wrapper.optimizer.lr == pytest.approx(1.5e-4 * 4096 / 256)
    assert pretrain.optim_wrapper.optimizer.betas == (0.9, 0.95)
    finetune = Config.fromfile(str(ROOT / f'configs/convnextv2_{size}_fcmae-ft_in1k.py'))
    decay = finetune.optim_wrapper.paramwise_cfg
    expected = {'b': ('group', 0.6), 'l': ('group', 0.6), 'h': ('single', 0.75)}.get(size, ('single', 0.9))
    assert (decay.decay_type, decay.decay_rate) == expected
    assert finetune.model.backbone.type == 'convnext.ConvNeXtV2' and finetune.model.backbone.out_type == 'avg'
    if size in 'blh':
        long = Config.fromfile(str(ROOT / f'configs/fcmae_convnextv2_{size}_1600e_in1k.py'))
        assert long.train_cfg.max_epochs == 1600 and long.param_scheduler[-1].end == 1600


def test_atto_configs_build() -> None:
    from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS

    pretrain = Config.fromfile(str(ROOT / 'configs/fcmae_convnextv2_a_800e_in1k.py'))
    model = MMPRETRAIN_MODELS.build(pretrain.model)
    assert model.backbone.channels[-1] == 320
    finetune = Config.fromfile(str(ROOT / 'configs/convnextv2_a_fcmae-ft_in1k.py'))
    finetune.model.backbone.init_cfg = None
    classifier = MMPRETRAIN_MODELS.build(finetune.model)
    classifier.init_weights()
    assert classifier.head.fc.weight.abs().max() < 1e-3  # head init scale 0.001


@pytest.mark.slow
def test_demo_end_to_end(load_tool: Callable[[str], ModuleType], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    demo = load_tool('tools/demos/fcmae.py')
    args = [
        '--work-dir', str(tmp_path), '--num-images', '64', '--pretrain-iters', '40', '--num-cls-images', '32',
        '--finetune-epochs', '1', '--batch-size', '8', '--decoder-dim', '64',
    ]  # fmt: skip
    assert demo.main(args) == 0  # 0 means the pretraining loss fell
    out = capsys.readouterr().out
    assert 'first' in out and 'accuracy' in out
    assert (tmp_path / 'backbone.pth').is_file()
