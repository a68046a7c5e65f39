"""The GPU side of the set-up (``cuda`` marker; skipped without an NVIDIA GPU): what ``tools/install.sh`` builds
with CUDA, used the way the configs use it.

- one Cascade Mask R-CNN training iteration with AMP (mmcv's CUDA RoIAlign, NMS, mask targets);
- one UperNet training iteration and a test pass;
- an FCMAE step with the ``minkowski`` (sparse, MinkowskiEngine CUDA) and ``dense`` backends: equal outputs and
  gradients, and the sparse one faster than the plain dense-masked encoder (ConvNeXt V2 paper, Section 3.1);
- the layer-decay constructor with ``AmpOptimWrapper`` (fp16 loss scaling);
- ``tools/dist_train.sh`` with two GPUs where two exist.

Run them with ``pytest -m cuda`` after ``bash tools/install.sh`` on a GPU machine.
"""

import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
DET_TESTS = 'tests/configs/test_detection_configs.py'
SEG_TESTS = 'tests/configs/test_segmentation_configs.py'
UPERNET = 'upernet_convnext_t_160k_ade20k_512.py'
FCMAE_ARCH = 'base'
FCMAE_BATCH = 32
FCMAE_SIZE = 224
DIST_TIMEOUT = 300
AMP_STEPS = 3

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason='needs an NVIDIA GPU')]


def test_cascade_mask_rcnn_trains_one_amp_iteration(load_tool: Callable[[str], ModuleType], tmp_path: Path) -> None:
    from mmengine.dataset import pseudo_collate
    from mmengine.optim import AmpOptimWrapper, build_optim_wrapper
    from mmengine.registry import DATASETS, MODELS, init_default_scope

    det = load_tool(DET_TESTS)
    det.make_synthetic_coco(tmp_path, det.SyntheticCocoSpec(num_train=2, num_val=1, image_size=64, max_objects=2))
    cfg = det.tiny_config(det.USER_CONFIG, tmp_path)
    init_default_scope(cfg.default_scope)
    model = MODELS.build(cfg.model).cuda()
    model.init_weights()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    assert isinstance(optim_wrapper, AmpOptimWrapper)  # the official recipe trains in fp16
    train_set = DATASETS.build(cfg.train_dataloader.dataset)
    before = model.backbone.stages[0][0].pwconv1.weight.detach().clone()

    model.train()
    losses = model.train_step(pseudo_collate([train_set[0], train_set[1]]), optim_wrapper)
    assert any(key.endswith('loss_mask') for key in losses)
    assert all(torch.isfinite(value).all() for value in losses.values())
    assert not torch.equal(before, model.backbone.stages[0][0].pwconv1.weight)

    model.eval()
    with torch.no_grad():
        (result,) = model.test_step(pseudo_collate([DATASETS.build(cfg.test_dataloader.dataset)[0]]))
    assert result.pred_instances.bboxes.is_cuda
    assert result.pred_instances.masks.shape[1:] == tuple(result.ori_shape)


def test_upernet_trains_one_iteration(load_tool: Callable[[str], ModuleType], tmp_path: Path) -> None:
    from mmengine.config import Config
    from mmengine.runner import Runner

    seg = load_tool(SEG_TESTS)
    data_root = load_tool('tools/demos/synthetic_ade.py').generate_dataset(tmp_path / 'ade', 2, 1, size=seg.TINY_IMAGE)
    cfg = Config.fromfile(seg.CONFIG_DIR / UPERNET)
    cfg.merge_from_dict(seg.tiny_overrides(cfg, data_root, tmp_path / 'work'))
    cfg.launcher = 'none'
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 1
    assert next(runner.model.parameters()).is_cuda
    assert 0.0 <= runner.test()['mIoU'] <= 100.0


def test_fcmae_sparse_backend_equals_dense_and_is_faster(load_tool: Callable[[str], ModuleType]) -> None:
    from argparse import Namespace

    from convnext.registry import MODELS

    backbone = dict(type='convnext.ConvNeXtV2', arch={'depths': [1, 1, 2, 1], 'channels': [16, 32, 64, 128]})
    model = MODELS.build(dict(type='FCMAE', backbone=backbone, decoder_embed_dim=32)).cuda()
    imgs = torch.randn(4, 3, 128, 128, device='cuda')
    mask = model.generate_mask(imgs)
    outs, grads = {}, {}
    for backend in ('dense', 'minkowski'):
        model.zero_grad()
        outs[backend] = model.encode(imgs, mask, backend=backend)
        outs[backend].square().sum().backward()
        grads[backend] = {name: param.grad.clone() for name, param in model.backbone.named_parameters()}
    torch.testing.assert_close(outs['minkowski'], outs['dense'], atol=1e-4, rtol=1e-4)
    for name, grad in grads['dense'].items():
        torch.testing.assert_close(grads['minkowski'][name], grad, atol=1e-3, rtol=1e-3, msg=name)

    bench = load_tool('tools/analysis/benchmark_fcmae.py')
    options = dict(arch=FCMAE_ARCH, batch_size=FCMAE_BATCH, size=FCMAE_SIZE, mask_ratio=0.6, iters=5, warmup=2)
    results = bench.benchmark(Namespace(**options, backends=['plain', 'minkowski'], threads=None, device='cuda'))
    assert results['minkowski'][0] < results['plain'][0], results


def test_layer_decay_with_amp_optim_wrapper() -> None:
    from mmengine.optim import AmpOptimWrapper
    from torch import nn

    from convnext.engine import LayerDecayOptimWrapperConstructor
    from convnext.models import ConvNeXtV2

    model = nn.ModuleDict({'backbone': ConvNeXtV2(arch='atto', out_type='featmap'), 'head': nn.Linear(320, 10)}).cuda()
    cfg = dict(type='AmpOptimWrapper', optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05))
    optim_wrapper = LayerDecayOptimWrapperConstructor(cfg, dict(decay_rate=0.8))(model)
    assert isinstance(optim_wrapper, AmpOptimWrapper)
    stem = model['backbone'].downsample_layers[0][0].weight
    before = stem.detach().clone()
    for _ in range(AMP_STEPS):  # the dynamic loss scale may skip the first steps (inf gradients in fp16)
        with optim_wrapper.optim_context(model):
            features = model['backbone'](torch.randn(4, 3, 64, 64, device='cuda'))[-1]
            loss = model['head'](features.mean(dim=(2, 3))).float().logsumexp(dim=1).mean()
        optim_wrapper.update_params(loss)
    assert torch.isfinite(loss) and not torch.equal(before, stem)
    lr_of = {name: group['lr'] for group in optim_wrapper.optimizer.param_groups for name in group['param_names']}
    assert lr_of['backbone.downsample_layers.0.0.weight'] < lr_of['backbone.stages.3.0.pwconv1.weight']
    assert lr_of['head.weight'] == pytest.approx(1e-3)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason='needs two GPUs')
def test_dist_train_two_gpus(load_tool: Callable[[str], ModuleType], tmp_path: Path) -> None:
    from mmengine.config import Config

    seg = load_tool(SEG_TESTS)
    data_root = load_tool('tools/demos/synthetic_ade.py').generate_dataset(tmp_path / 'ade', 4, 1, size=seg.TINY_IMAGE)
    options = seg.tiny_overrides(Config.fromfile(seg.CONFIG_DIR / UPERNET), data_root, tmp_path / 'work')
    options.update({'train_cfg.max_iters': 2, 'train_cfg.val_interval': 2})
    env = dict(os.environ, CUDA_VISIBLE_DEVICES='0,1', PORT=str(29500 + os.getpid() % 1000))
    command = ['bash', 'tools/dist_train.sh', f'configs/{UPERNET}', '2', '--cfg-options']
    command += [f'{key}={value}'.replace(' ', '') for key, value in options.items()]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=DIST_TIMEOUT)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-4000:]
    assert (tmp_path / 'work' / 'iter_2.pth').is_file()
    assert 'Distributed training: True' in log and 'nccl' in log.lower()
