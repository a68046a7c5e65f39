"""The backbone's modules are its API in every compute path: weights, hooks, replaced modules, tools, precision.

Each compute path of the block is exercised: CPU inference (the fused oneDNN fast path when nothing observes
it), CPU autograd in eval and train mode, gradient checkpointing, the switch turned off, and the same on CUDA
where a GPU exists (``cuda`` marker).
"""

from collections.abc import Callable

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from convnext.compile import compile_model
from convnext.models import ConvNeXt, ConvNeXtV2
from convnext.models.backbones.convnext import DOWNSAMPLE_STRIDE, DW_KERNEL, MLP_RATIO, STEM_STRIDE, ConvNeXtBlock
from convnext.models.backbones.fast_paths import fast_paths, fast_paths_enabled, fused_inference_applies

pytestmark = pytest.mark.usefixtures('one_thread')

SMALL_ARCH = {'depths': [1, 2, 1, 1], 'channels': [8, 16, 24, 32]}
SIZE = 64
"""Input size: at stage 1 every sample has 256 positions, more than 4C, so the fused path folds ``gamma``."""
SUBMODULES = ('dwconv', 'norm', 'pwconv1', 'act', 'grn', 'pwconv2')
PATHS = ('inference', 'eval_autograd', 'train', 'with_cp', 'switch_off')
DEVICES = ('cpu', pytest.param('cuda', marks=pytest.mark.cuda))
TOL = 1e-5


def blocks(model: ConvNeXt) -> list[ConvNeXtBlock]:
    return [block for stage in model.stages for block in stage]


def require(device: str) -> None:
    if device == 'cuda' and not torch.cuda.is_available():
        pytest.skip('needs a CUDA device')


def build(device: str, v2: bool = True, with_cp: bool = False, arch: str | dict = SMALL_ARCH) -> ConvNeXt:
    """A backbone with non-trivial layer scale, GRN and norm parameters (every term counts)."""
    require(device)
    cls = ConvNeXtV2 if v2 else ConvNeXt
    layer_scale = 0.0 if v2 else 0.5
    model = cls(arch, out_indices=(0, 1, 2, 3), out_type='featmap', with_cp=with_cp, layer_scale_init_value=layer_scale)
    model.init_weights()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith(('gamma', 'beta')) or 'norm' in name:
                param.normal_(0.5, 0.3)
    return model.to(device)


def run(model: ConvNeXt, x: torch.Tensor, path: str, backward: bool = True) -> tuple[torch.Tensor, ...]:
    """The backbone's outputs on ``x`` through one compute path of the blocks, with a backward pass if it has one."""
    model.train(path in ('train', 'with_cp'))
    if path == 'inference':
        with torch.no_grad():
            return model(x)
    if path == 'switch_off':
        with torch.no_grad(), fast_paths(False):
            return model(x)
    outs = model(x)
    if backward:
        sum(o.square().mean() for o in outs).backward()
    return outs


def images(device: str = 'cpu', size: int = SIZE) -> torch.Tensor:
    return torch.randn(2, 3, size, size, device=device)


# --------------------------------------------------------------------------- exact weights


def write_data_mul(model: nn.Module) -> None:
    for param in model.parameters():
        param.data.mul_(1.5)  # mmengine EMAHook and many pruning scripts write through .data


def write_data_copy(model: nn.Module) -> None:
    for param in model.parameters():
        param.data.copy_(torch.randn_like(param) * 0.1 + param.data)


def write_no_grad(model: nn.Module) -> None:
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.01)


def write_set_data(model: nn.Module) -> None:
    for param in model.parameters():
        param.data = param.data * 0.5  # new storage


def write_load_state_dict(model: nn.Module) -> None:
    model.load_state_dict({k: v * 2 for k, v in model.state_dict().items()})


def write_to_double_and_back(model: nn.Module) -> None:
    model.double()
    write_no_grad(model)
    model.float()


@pytest.mark.parametrize(
    'write',
    [write_data_mul, write_data_copy, write_no_grad, write_set_data, write_load_state_dict, write_to_double_and_back],
)
@pytest.mark.parametrize('v2', [False, True])
def test_every_weight_write_is_seen_by_the_next_forward(write: Callable[[nn.Module], None], v2: bool) -> None:
    """A write through ``.data`` after an eval forward is seen by the next forward (nothing is cached)."""
    model = build('cpu', v2=v2, arch='atto').eval()
    x = images()
    with torch.no_grad():
        model(x)
        write(model)
        out = model(x)
    fresh = build('cpu', v2=v2, arch='atto').eval()
    fresh.load_state_dict(model.state_dict())
    with torch.no_grad():
        expected = fresh(x)
    for ours, reference in zip(out, expected, strict=True):
        torch.testing.assert_close(ours, reference, atol=0, rtol=0)


# --------------------------------------------------------------------------- hooks and replaced modules


def record_submodules(model: ConvNeXt) -> list[dict[str, list[tuple[torch.Tensor, torch.Tensor]]]]:
    """Per block, the ``(input, output)`` of every forward call of each submodule (forward hooks)."""
    records = []
    for block in blocks(model):
        calls: dict[str, list] = {name: [] for name in (*SUBMODULES, 'block')}
        for name in SUBMODULES:
            getattr(block, name).register_forward_hook(
                lambda module, args, out, calls=calls[name]: calls.append((args[0].detach(), out.detach()))
            )
        block.register_forward_hook(lambda module, args, out, calls=calls['block']: calls.append((args[0], out)))
        records.append(calls)
    return records


def assert_hooks_saw_the_computation(block: ConvNeXtBlock, calls: dict[str, list], path: str) -> None:
    """Each hook fired once per forward, and the recorded tensors chain into the block's output."""
    counts = {name: len(c) for name, c in calls.items()}
    if path == 'with_cp':  # the backward pass recomputes the branch up to the last tensor it needs
        assert counts['block'] == 1 and all(counts[name] in (1, 2) for name in SUBMODULES), counts
    else:
        assert counts == dict.fromkeys((*SUBMODULES, 'block'), 1)
    chain = [calls[name][0] for name in SUBMODULES]
    torch.testing.assert_close(chain[0][1].permute(0, 2, 3, 1), chain[1][0])  # dwconv output -> norm input
    for (_, out), (next_in, _) in zip(chain[1:], chain[2:], strict=False):
        torch.testing.assert_close(out, next_in)
    for name, (inputs, out) in zip(SUBMODULES, chain, strict=True):
        with torch.no_grad(), fast_paths(False):  # the module, called alone, computes what the hook saw
            torch.testing.assert_close(getattr(block, name)(inputs), out, atol=TOL, rtol=TOL)
    block_in, block_out = calls['block'][0]
    torch.testing.assert_close(block_out, block_in + chain[-1][1].permute(0, 3, 1, 2), atol=TOL, rtol=TOL)


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('path', PATHS)
def test_submodule_hooks_fire_with_the_tensors_computed(path: str, device: str) -> None:
    """Hooks on pwconv1/pwconv2 fire on the CPU, in inference too."""
    model = build(device, with_cp=path == 'with_cp')
    records = record_submodules(model)
    run(model, images(device), path)
    for block, calls in zip(blocks(model), records, strict=True):
        for hooks in (block.dwconv, block.norm, block.pwconv1, block.act, block.grn, block.pwconv2):
            hooks._forward_hooks.clear()  # the checks below call the modules again
        assert_hooks_saw_the_computation(block, calls, path)


class ZeroLinear(nn.Linear):
    """A replacement ``pwconv2`` (as a LoRA adapter or a pruning mask would be) whose output is zero."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) * 0.0


def silence_residual_by_hook(block: ConvNeXtBlock) -> None:
    block.pwconv2.register_forward_hook(lambda module, args, out: torch.zeros_like(out))


def silence_residual_by_replacement(block: ConvNeXtBlock) -> None:
    replacement = ZeroLinear(block.pwconv2.in_features, block.pwconv2.out_features)
    block.pwconv2 = replacement.to(block.pwconv2.weight.device)


@pytest.mark.parametrize('silence', [silence_residual_by_hook, silence_residual_by_replacement])
@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('path', PATHS)
def test_replaced_modules_and_output_hooks_are_used(
    path: str, device: str, silence: Callable[[ConvNeXtBlock], None]
) -> None:
    """A replaced pwconv2 (or a hook replacing its output) is used on the CPU.

    With a zero ``pwconv2`` every block is the identity, so the stages are the downsampling layers alone.
    """
    model = build(device, with_cp=path == 'with_cp')
    for block in blocks(model):
        silence(block)
    x = images(device)
    outs = run(model, x, path)
    y = x
    with torch.no_grad():
        for i, downsample in enumerate(model.downsample_layers):
            y = downsample(y)
            torch.testing.assert_close(outs[i].detach(), getattr(model, f'norm{i}')(y), atol=TOL, rtol=TOL)


def test_fast_path_only_for_plain_unobserved_modules() -> None:
    block = build('cpu').stages[0][0].eval()
    x = torch.randn(2, 8, 16, 16).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        assert fast_paths_enabled() and fused_inference_applies(block, x)
        with fast_paths(False):
            assert not fused_inference_applies(block, x)
        assert fast_paths_enabled()
        handle = block.act.register_forward_pre_hook(lambda module, args: None)
        assert not fused_inference_applies(block, x)
        handle.remove()
        handle = nn.modules.module.register_module_forward_hook(lambda module, args, out: None)
        assert not fused_inference_applies(block, x)
        handle.remove()
        block.norm = nn.LayerNorm(8, eps=1e-6)  # a replacement of another class is used, by the reference path
        assert not fused_inference_applies(block, x)
    assert not fused_inference_applies(block, x)  # autograd needed


# --------------------------------------------------------------------------- tools


def backbone_macs(depths: list[int], channels: list[int], size: int, in_channels: int = 3) -> int:
    """Multiply-adds of the convolutions and linears of a backbone on one ``size x size`` image."""
    positions = (size // STEM_STRIDE) ** 2
    macs = in_channels * channels[0] * STEM_STRIDE**2 * positions
    for i, (depth, width) in enumerate(zip(depths, channels, strict=True)):
        if i > 0:
            positions //= DOWNSAMPLE_STRIDE**2
            macs += channels[i - 1] * width * DOWNSAMPLE_STRIDE**2 * positions
        macs += depth * positions * (DW_KERNEL**2 * width + 2 * MLP_RATIO * width * width)
    return macs


@pytest.mark.parametrize('path', PATHS)
def test_flop_counter_mode_counts_every_multiply_add(path: str) -> None:
    """Under no_grad the counter sees all of ConvNeXt-T (fused oneDNN ops unknown to it must not run).

    The forward pass only: torch's counter overcounts the backward of grouped (depthwise) convolutions.
    """
    model = build('cpu', with_cp=path == 'with_cp')
    with FlopCounterMode(display=False) as counter:
        run(model, images(), path, backward=False)
    batch, macs = 2, backbone_macs(SMALL_ARCH['depths'], SMALL_ARCH['channels'], SIZE)
    assert counter.get_total_flops() == 2 * batch * macs  # the counter reports 2 FLOPs per multiply-add


@pytest.mark.parametrize('training', [False, True])
def test_jit_trace_and_torch_export_see_the_reference_forward(training: bool) -> None:
    model = build('cpu').train(training)
    x = images()
    with torch.no_grad():
        expected = model(x)
        traced = torch.jit.trace(model, (x,), check_trace=False)
        exported = torch.export.export(model, (x,))
    assert not any('mkldnn' in str(node) for node in traced.inlined_graph.nodes())
    assert not any('mkldnn' in str(node.target) for node in exported.graph.nodes)
    with torch.no_grad():
        for outs in (traced(x), exported.module()(x)):
            for ours, reference in zip(outs, expected, strict=True):
                torch.testing.assert_close(ours, reference, atol=TOL, rtol=TOL)


@pytest.mark.parametrize('training', [False, True])
def test_mmengine_complexity_counts_the_papers_flops(training: bool) -> None:
    """mmengine's ``get_model_complexity_info`` (jit-trace based) gives ConvNeXt-T's 4.47G MACs (V2 paper Table 14)."""
    from mmengine.analysis import get_model_complexity_info

    size = SIZE  # every stage's map is exactly (224 / 64)^2 times smaller than at 224
    model = ConvNeXt('tiny', out_type='featmap').train(training)
    info = get_model_complexity_info(model, inputs=(torch.randn(1, 3, size, size),), show_table=False, show_arch=False)
    head_macs = model.channels[-1] * 1000
    gmacs_224 = (info['flops'] * (224 / size) ** 2 + head_macs) / 1e9
    assert gmacs_224 == pytest.approx(4.47, rel=0.01)


def test_compiled_model_never_recompiles_and_sees_weight_writes() -> None:
    """Compiling does not recompile when weights are written between calls (no weight-keyed cache)."""
    from torch._dynamo.testing import CompileCounter

    model = build('cpu', v2=False).eval()
    counter = CompileCounter()
    compiled = torch.compile(model, backend=counter)
    x = images()
    with torch.no_grad():
        for _ in range(3):
            outs = compiled(x)
            with fast_paths(False):
                expected = model(x)
            for ours, reference in zip(outs, expected, strict=True):
                torch.testing.assert_close(ours, reference, atol=TOL, rtol=TOL)
            write_data_mul(model)
    assert counter.frame_count == 1


@pytest.mark.slow
@pytest.mark.parametrize('compiler', [torch.compile, compile_model], ids=['torch.compile', 'compile_model'])
def test_inductor_compiles_train_and_eval(compiler: Callable[[nn.Module], Callable]) -> None:
    """Plain torch.compile and convnext's CPU options (channels-last backward graphs, C++ wrapper) match eager."""
    model = build('cpu')
    compiled = compiler(model)
    x = images()
    for path in ('inference', 'train'):
        eager_outs = run(model, x, path)
        eager_grads = [p.grad.clone() for p in model.parameters()] if path == 'train' else []
        model.zero_grad()
        outs = run(compiled, x, path)
        for ours, reference in zip(outs, eager_outs, strict=True):
            torch.testing.assert_close(ours, reference, atol=1e-4, rtol=1e-4)
        for param, reference in zip(model.parameters(), eager_grads, strict=False):
            torch.testing.assert_close(param.grad, reference, atol=1e-4, rtol=1e-3)


# --------------------------------------------------------------------------- half precision


def relative_error(ours: torch.Tensor, reference: torch.Tensor) -> float:
    return ((ours.float() - reference.float()).norm() / reference.float().norm()).item()


HALF_BLOCK_REL_ERROR = 5e-3
"""fp16 keeps 11 significant bits (5e-4 per rounding); a block rounds a few times and sums over 4C terms."""

BF16_AUTOCAST_REL_ERROR = 3e-2
"""bf16 keeps 8 significant bits (4e-3 per rounding); a few layers of rounding give relative errors of ~1%."""


@pytest.mark.parametrize('device', DEVICES)
def test_half_precision_block_on_overflowing_activations(device: str) -> None:
    """GRN stays finite in fp16 where the squared sum over 56x56 of activations of ~1e3 overflows fp16."""
    require(device)
    block = ConvNeXtBlock(64, use_grn=True, layer_scale_init_value=0).eval().to(device)
    with torch.no_grad():
        block.norm.weight.fill_(4e3)  # pwconv1 outputs of ~2e3 feed GRN, as in deep V2 blocks
        block.grn.gamma.normal_(std=0.05)
    x = torch.randn(2, 64, 56, 56, device=device).half().contiguous(memory_format=torch.channels_last)
    grn_inputs = []
    block.grn.register_forward_pre_hook(lambda module, args: grn_inputs.append(args[0]))
    with torch.no_grad():
        expected = block(x.float())
        out = block.half()(x)
    assert torch.linalg.vector_norm(grn_inputs[0].float(), dim=(1, 2)).max() > torch.finfo(torch.float16).max
    assert out.dtype == torch.float16 and torch.isfinite(out).all()
    assert relative_error(out, expected) < HALF_BLOCK_REL_ERROR


@pytest.mark.parametrize(
    ('device', 'dtype'), [('cpu', torch.bfloat16), pytest.param('cuda', torch.float16, marks=pytest.mark.cuda)]
)
def test_autocast_training_step_matches_float32(device: str, dtype: torch.dtype) -> None:
    model = build(device)
    x = images(device)
    results = {}
    for autocast in (False, True):
        model.zero_grad()
        with torch.autocast(device, dtype=dtype, enabled=autocast):
            outs = model(x)
        loss = sum(o.float().square().mean() for o in outs)
        loss.backward()
        results[autocast] = outs, [p.grad.clone() for p in model.parameters()]
    for ours, reference in zip(results[True][0], results[False][0], strict=True):
        assert ours.dtype == dtype and torch.isfinite(ours).all()
        assert relative_error(ours, reference) < BF16_AUTOCAST_REL_ERROR
    grads = torch.cat([g.flatten() for g in results[True][1]])
    assert relative_error(grads, torch.cat([g.flatten() for g in results[False][1]])) < BF16_AUTOCAST_REL_ERROR
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    optimizer.step()
    assert all(torch.isfinite(p).all() for p in model.parameters())
