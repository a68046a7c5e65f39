"""tools/model_converters/convert_convnext.py end to end on generated checkpoints."""

import hashlib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
import torch

from convnext.models import ConvNeXt, ConvNeXtV2

SCRIPT = 'tools/model_converters/convert_convnext.py'
ARCH = {'depths': [1, 1, 1, 1], 'channels': [8, 16, 32, 64]}


@pytest.fixture
def run_converter(load_tool: Callable[[str], ModuleType], capsys: pytest.CaptureFixture) -> Callable[[Path, Path], str]:
    """``run_converter(src, dst) -> stdout``: the script's ``main`` in this process (no interpreter start-up)."""
    script = load_tool(SCRIPT)

    def run(src: Path, dst: Path) -> str:
        capsys.readouterr()
        script.main([str(src), str(dst)])
        return capsys.readouterr().out

    return run


def test_converts_official_v2_and_result_loads(tmp_path: Path, run_converter: Callable[[Path, Path], str]) -> None:
    source = ConvNeXtV2(ARCH).eval()
    with torch.no_grad():
        for param in source.parameters():
            param.normal_(0.3, 0.2)
    official = {k.replace('norm3.', 'norm.'): v for k, v in source.state_dict().items()}
    official['head.weight'], official['head.bias'] = torch.randn(7, 64), torch.randn(7)
    src = tmp_path / 'convnextv2_official.pt'
    torch.save({'model': official}, src)

    stdout = run_converter(src, tmp_path / 'out' / 'convnextv2_ours.pth')

    assert 'Detected format: official' in stdout
    (written,) = (tmp_path / 'out').glob('convnextv2_ours-*.pth')
    digest = hashlib.sha256(written.read_bytes()).hexdigest()
    assert written.name == f'convnextv2_ours-{digest[:8]}.pth'
    checkpoint = torch.load(written, weights_only=True)
    state_dict = checkpoint['state_dict']
    assert checkpoint['meta']['source_format'] == 'official'
    assert state_dict['backbone.stages.0.0.grn.gamma'].shape == (1, 1, 1, 32)
    assert torch.equal(state_dict['backbone.norm3.weight'], source.norm3.weight)
    assert torch.equal(state_dict['head.fc.weight'], official['head.weight'])
    assert all(k.startswith(('backbone.', 'head.fc.')) for k in state_dict)

    for prefix in (None, 'backbone.'):
        model = ConvNeXtV2(ARCH, init_cfg={'type': 'Pretrained', 'checkpoint': str(written), 'prefix': prefix})
        model.init_weights()
        model.eval()
        x = torch.randn(1, 3, 32, 32)
        with torch.no_grad():
            torch.testing.assert_close(model(x)[0], source(x)[0])


def test_reports_timm_format(tmp_path: Path, run_converter: Callable[[Path, Path], str]) -> None:
    ours = ConvNeXt(ARCH).state_dict()
    timm_like = {}
    for key, value in ours.items():
        key = key.replace('downsample_layers.0.', 'stem.').replace('norm3.', 'head.norm.')
        if key.startswith('stages.'):
            stage, block, rest = key[len('stages.') :].split('.', 2)
            rest = rest.replace('dwconv', 'conv_dw').replace('pwconv', 'mlp.fc')
            key = f'stages.{stage}.blocks.{block}.{rest}'
        elif key.startswith('downsample_layers.'):
            stage, rest = key[len('downsample_layers.') :].split('.', 1)
            key = f'stages.{stage}.downsample.{rest}'
        timm_like[key] = value
    src = tmp_path / 'timm.pth'
    torch.save(timm_like, src)
    stdout = run_converter(src, tmp_path / 'ours.pth')
    assert 'Detected format: timm' in stdout
    (written,) = tmp_path.glob('ours-*.pth')
    converted = torch.load(written, weights_only=True)['state_dict']
    assert set(converted) == {'backbone.' + k for k in ours}
