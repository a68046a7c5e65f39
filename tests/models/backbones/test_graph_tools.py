"""PyTorch's graph tools on every backbone variant: fx, torchvision's feature extraction, TorchScript, export.

``torch.fx.symbolic_trace`` (what torchvision's ``create_feature_extractor`` and
FX quantization build on), ``torch.jit.script`` and ``torch.export.export`` must
record the backbone, and each recorded module must compute what eager mode
computes to 1e-5 relative. Eager inference on the CPU takes the fused fast path
(:mod:`convnext.models.backbones.fast_paths`) while the tools record the
reference forward, so these comparisons also bound how far the fast path may
move the outputs. The parameters are randomised (layer scale, GRN and biases
included): at their initial values the blocks are near the identity and would
hide a wrong branch.
"""

import io
from collections.abc import Callable, Iterator
from functools import cache, lru_cache
from unittest import mock

import pytest
import torch
from torch import nn
from torchvision.models.feature_extraction import create_feature_extractor, get_graph_node_names

from convnext.models import ConvNeXt, ConvNeXtV2
from convnext.models.backbones import fast_paths
from convnext.models.backbones.convnext import ConvNeXtBlock

RTOL = 1e-5
"""Largest difference from eager, relative to the largest eager output value."""

INPUT_SHAPE = (2, 3, 64, 64)
"""Two samples (GRN and drop path work per sample); 64 px leaves a 2x2 map at the last stage."""

OUT_INDICES = (0, 1, 2, 3)
WIDE_ARCHS = ('base', 'large', 'xlarge', 'huge')
"""Marked slow: the graph of 'small' (same depths) at larger widths, seconds to tens of seconds to build and trace.
The quick run still covers every depth pattern: atto/femto/pico, nano, tiny, small."""

pytestmark = pytest.mark.usefixtures('one_thread')

OUT_TYPES = ('featmap', 'avg')
PARAM_STD = 0.5
"""Std of the randomised layer scales, GRN parameters and biases."""


def variants() -> Iterator:
    """Every arch of ``arch_settings``, as V1 (layer scale) and V2 (GRN, no layer scale)."""
    for cls in (ConvNeXt, ConvNeXtV2):
        for arch in ConvNeXt.arch_settings:
            marks = [pytest.mark.slow] if arch in WIDE_ARCHS else []
            yield pytest.param(cls, arch, id=f'{cls.__name__}-{arch}', marks=marks)


def randomise(model: nn.Module, seed: int = 0) -> nn.Module:
    """Trained-like parameters: layer scale, GRN gamma/beta, LayerNorm and biases away from their init."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.dim() == 1 and name.endswith('weight'):  # LayerNorm weights: around 1
                param.copy_(1 + PARAM_STD * torch.randn(param.shape, generator=generator))
            elif name.endswith(('gamma', 'beta', 'bias')):
                param.copy_(PARAM_STD * torch.randn(param.shape, generator=generator))
    return model


@lru_cache(maxsize=1)  # the tests of one variant run in a row; huge alone holds 2.6 GB
def backbone(cls: type, arch: str, out_type: str) -> nn.Module:
    """A randomised eval-mode backbone, built once per variant (the tool tests share it read-only)."""
    torch.manual_seed(0)
    return randomise(cls(arch=arch, out_indices=OUT_INDICES, out_type=out_type)).eval()


@cache
def images() -> torch.Tensor:
    return torch.randn(INPUT_SHAPE, generator=torch.Generator().manual_seed(1))


def eager(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Eager inference with the fast path switched on, asserting it ran where this build has it."""
    with mock.patch.object(fast_paths, 'fused_inference', wraps=fast_paths.fused_inference) as fused:
        with torch.no_grad(), fast_paths.fast_paths(True):
            outs = model(x)
    assert fused.called == fast_paths.ONEDNN_AVAILABLE
    return outs


def assert_outputs_equal(outs: object, expected: tuple[torch.Tensor, ...]) -> None:
    """``outs`` (a tuple, list or dict in output order) equals ``expected`` to ``RTOL`` of its largest value."""
    outs = tuple(outs.values()) if isinstance(outs, dict) else tuple(outs)
    assert len(outs) == len(expected)
    for out, ref in zip(outs, expected, strict=True):
        assert out.shape == ref.shape
        torch.testing.assert_close(out, ref, rtol=RTOL, atol=RTOL * ref.abs().max().item())


def fx_trace(model: nn.Module, x: torch.Tensor) -> nn.Module:
    return torch.fx.symbolic_trace(model)


def script(model: nn.Module, x: torch.Tensor) -> nn.Module:
    return torch.jit.script(model)


def export(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """``torch.export.export``; the exported program is run through its ``module()``."""
    return torch.export.export(model, (x,)).module()


def feature_extractor(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """torchvision's ``create_feature_extractor`` (traces the train and eval graphs) returning every ``norm{i}``."""
    return create_feature_extractor(model, return_nodes={f'norm{i}': f'out{i}' for i in OUT_INDICES})


TOOLS = {'fx': fx_trace, 'feature_extractor': feature_extractor, 'script': script, 'export': export}


def stage_maps(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Eager outputs of ``stages.i`` (fast path on: hooks on the stages leave the blocks unobserved)."""
    maps = []
    handles = [stage.register_forward_hook(lambda m, i, out: maps.append(out)) for stage in model.stages]
    try:
        eager(model, x)
    finally:
        for handle in handles:
            handle.remove()
    return tuple(maps)


@pytest.mark.parametrize('tool', list(TOOLS))
@pytest.mark.parametrize(('cls', 'arch'), variants())
def test_tool_records_what_eager_computes(cls: type, arch: str, tool: str) -> None:
    """Maps ('featmap') of every variant: the recorded module equals eager (fast path on) to 1e-5."""
    model, x = backbone(cls, arch, 'featmap'), images()
    expected = eager(model, x)
    recorded = TOOLS[tool](model, x)
    with torch.no_grad():
        assert_outputs_equal(recorded(x), expected)


@pytest.mark.parametrize('tool', [name for name in TOOLS if name != 'feature_extractor'])
@pytest.mark.parametrize('cls', [ConvNeXt, ConvNeXtV2])
def test_tool_records_pooled_outputs(cls: type, tool: str) -> None:
    """Pooled vectors ('avg', ``norm{i}`` after global average pooling): ``(N, C_i)`` equal to eager."""
    model, x = backbone(cls, 'atto', 'avg'), images()
    expected = eager(model, x)
    assert [out.shape for out in expected] == [(x.shape[0], c) for c in model.channels]
    with torch.no_grad():
        assert_outputs_equal(TOOLS[tool](model, x)(x), expected)


@pytest.mark.parametrize('tool', list(TOOLS))
@pytest.mark.parametrize('cls', [ConvNeXt, ConvNeXtV2])
def test_tool_records_the_conv_pointwise_layout(cls: type, tool: str) -> None:
    """mmpretrain's ``linear_pw_conv=False`` layout (1x1 convolutions, channel-first LayerNorm and GRN)."""
    torch.manual_seed(0)
    model = randomise(cls(arch='atto', out_indices=OUT_INDICES, out_type='featmap', linear_pw_conv=False)).eval()
    x = images()
    with torch.no_grad():
        expected = model(x)
        assert_outputs_equal(TOOLS[tool](model, x)(x), expected)


@pytest.mark.parametrize('out_type', OUT_TYPES)
@pytest.mark.parametrize('cls', [ConvNeXt, ConvNeXtV2])
def test_feature_extractor_returns_stage_maps(cls: type, out_type: str) -> None:
    """``create_feature_extractor`` gives the ``stages.i`` maps, of a pooling ('avg') backbone too."""
    model, x = backbone(cls, 'atto', out_type), images()
    extractor = create_feature_extractor(model, return_nodes={f'stages.{i}': f'stage{i}' for i in OUT_INDICES})
    with torch.no_grad():
        assert_outputs_equal(extractor(x), stage_maps(model, x))


def test_traced_graphs_keep_the_submodules_and_the_reference_ops() -> None:
    """The fx graph records every block's submodules (``torch.nn`` ones as module calls, ours by their ops)
    and none of the fast path's fused kernels; nor does the scripted graph."""
    model = backbone(ConvNeXtV2, 'atto', 'featmap')
    graph = torch.fx.symbolic_trace(model).graph
    called = {node.target for node in graph.nodes if node.op == 'call_module'}
    blocks = [f'stages.{i}.{j}' for i, depth in enumerate(model.depths) for j in range(depth)]
    assert {f'{block}.{name}' for block in blocks for name in ('dwconv', 'pwconv1', 'act', 'pwconv2')} <= called
    assert 'mkldnn' not in str(graph)
    assert 'mkldnn' not in torch.jit.script(model.stages[0][0]).inlined_graph.str()
    for nodes in get_graph_node_names(model):  # the train and the eval graph
        for block in blocks:
            assert {f'{block}.{name}' for name in ('norm', 'grn')} <= {node.rsplit('.', 1)[0] for node in nodes}


def test_scripted_backbone_saves_and_loads() -> None:
    """Nothing in the scripted module falls back to Python (``torch.jit.ignore`` would not save)."""
    model, x = backbone(ConvNeXt, 'atto', 'featmap'), images()
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(model), buffer)
    buffer.seek(0)
    loaded = torch.jit.load(buffer)
    with torch.no_grad():
        assert_outputs_equal(loaded(x), eager(model, x))


TRAINING_SIZE = 32
"""Input side of the training-mode tests (forward and backward, twice each)."""


def training_backbone(cls: type, with_cp: bool) -> nn.Module:
    """A randomised atto backbone in training mode with stochastic depth on."""
    torch.manual_seed(0)
    model = cls(arch='atto', out_indices=OUT_INDICES, out_type='featmap', drop_path_rate=0.5, with_cp=with_cp)
    return randomise(model).train()


def outputs_and_grads(
    forward: Callable[[torch.Tensor], object], model: nn.Module, x: torch.Tensor, seed: int
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Outputs and parameter gradients of the summed mean squares of the outputs, the RNG (drop path) seeded."""
    model.zero_grad()
    torch.manual_seed(seed)
    outs = list(forward(x))
    sum(out.square().mean() for out in outs).backward()
    return [out.detach() for out in outs], [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize('with_cp', [False, True])
@pytest.mark.parametrize('tool', ['fx', 'script'])
@pytest.mark.parametrize('cls', [ConvNeXt, ConvNeXtV2])
def test_training_mode_with_drop_path_and_checkpointing(cls: type, tool: str, with_cp: bool) -> None:
    """Recorded in training mode, stochastic depth draws the same samples as eager (same seed, same ops) and
    the gradients equal eager's, with checkpointing (eager recomputes; the recorded graph need not)."""
    model = training_backbone(cls, with_cp)
    x = images()[:, :, :TRAINING_SIZE, :TRAINING_SIZE].clone().requires_grad_()
    recorded = TOOLS[tool](model, x)
    eager_outs, eager_grads = outputs_and_grads(model, model, x, seed=3)
    outs, grads = outputs_and_grads(recorded, model, x, seed=3)
    assert_outputs_equal(outs, tuple(eager_outs))
    for grad, eager_grad in zip(grads, eager_grads, strict=True):
        torch.testing.assert_close(grad, eager_grad, rtol=RTOL, atol=RTOL * eager_grad.abs().max().item())
    with torch.no_grad():  # stochastic depth was on: evaluation (no drop) differs
        assert not torch.equal(model.eval()(x)[-1], eager_outs[-1])


def test_checkpointing_recomputes_in_eager_mode() -> None:
    """``with_cp`` still checkpoints eager training (the dispatch the graph tools skip)."""
    model = training_backbone(ConvNeXt, with_cp=True)
    x = images()[:, :, :TRAINING_SIZE, :TRAINING_SIZE].clone().requires_grad_()
    with mock.patch('convnext.models.backbones.convnext.checkpoint', wraps=torch.utils.checkpoint.checkpoint) as cp:
        model(x)
    assert cp.call_count == sum(model.depths)


def test_block_fast_path_is_not_compiled_by_torchscript() -> None:
    """The scripted block runs the reference forward and equals the eager (fused) block."""
    block = randomise(ConvNeXtBlock(16, use_grn=True)).eval()
    x = torch.randn(2, 16, 5, 5).contiguous(memory_format=torch.channels_last)
    scripted = torch.jit.script(block)
    assert 'fused_inference' not in scripted.code and 'checkpoint' not in scripted.code
    with torch.no_grad():
        assert_outputs_equal((scripted(x),), (block(x),))
