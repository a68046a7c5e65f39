"""tools/test.py refuses weights that do not fit the model; training's ``load_from`` stays partial.

A checkpoint of another architecture, a file without model weights and a
pickled list each end in one ``error:`` line naming the file, the first key
and both shapes, exit code 2, where mmengine evaluated random weights and
exited 0 (or raised ``AttributeError``). ``--allow-partial`` and
``--cfg-options load_strict=False`` load what fits on purpose.
"""

import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope
from torch import nn

from convnext.engine.checkpoint_fit import CheckpointMismatchError, check_checkpoint_fits, unwrap_model

ROOT = Path(__file__).resolve().parents[2]
BAD_INPUT_EXIT = 2
OTHER_CHANNELS = [8, 32]
"""The tiny config's backbone widths are [8, 16]: a checkpoint of this width is another architecture."""

pytestmark = pytest.mark.usefixtures('one_thread')


# --------------------------------------------------------------------------- the check itself


class Tiny(nn.Module):
    def __init__(self, width: int = 4) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, width, 1)
        self.norm = nn.BatchNorm2d(width)


def test_weights_that_fit_pass_with_or_without_the_module_prefix() -> None:
    model = Tiny()
    check_checkpoint_fits('a.pth', {'meta': {}, 'state_dict': model.state_dict()}, model, strict=True)
    wrapped = {f'module.{key}': value for key, value in model.state_dict().items()}
    check_checkpoint_fits('a.pth', wrapped, model, strict=True)


@pytest.mark.parametrize(
    ('checkpoint', 'message'),
    [
        (
            [1, 2, 3],
            r"^a\.pth holds a list, not model weights \(a dict of tensors, or a checkpoint with a 'state_dict'",
        ),
        (
            {'foo': 1},
            r"^a\.pth holds no model weights: no tensor in its 'state_dict' or at its top level \(keys \['foo'\]",
        ),
        ({'state_dict': 3}, r'^a\.pth holds no model weights'),
    ],
)
@pytest.mark.parametrize('strict', [True, False])
def test_a_file_without_weights_is_refused_in_both_modes(checkpoint: object, message: str, strict: bool) -> None:
    with pytest.raises(CheckpointMismatchError, match=message):
        check_checkpoint_fits('a.pth', checkpoint, Tiny(), strict=strict)


def test_strict_names_the_first_key_and_both_shapes() -> None:
    with pytest.raises(CheckpointMismatchError) as error:
        check_checkpoint_fits('a.pth', Tiny(width=8).state_dict(), Tiny(), strict=True)
    assert str(error.value).startswith(
        'a.pth does not fit the model: conv.weight has shape (8, 3, 1, 1) in the checkpoint, (4, 3, 1, 1) in the '
        'model (6 shapes differ, 0 model keys missing, 0 unexpected); load the keys that fit with tools/test.py '
        '--allow-partial'
    )


def test_strict_names_a_missing_and_an_unexpected_key() -> None:
    state = Tiny().state_dict()
    missing = {key: value for key, value in state.items() if key != 'norm.running_var'}
    with pytest.raises(CheckpointMismatchError, match=r'model key norm\.running_var \(4,\) is not in the checkpoint'):
        check_checkpoint_fits('a.pth', missing, Tiny(), strict=True)
    extra = {**state, 'head.weight': torch.zeros(2, 4)}
    with pytest.raises(CheckpointMismatchError, match=r'checkpoint key head\.weight \(2, 4\) is not in the model'):
        check_checkpoint_fits('a.pth', extra, Tiny(), strict=True)


def test_partial_loading_needs_one_key_that_fits() -> None:
    state = Tiny().state_dict()
    partial = {'conv.weight': state['conv.weight'], 'head.weight': torch.zeros(2)}
    check_checkpoint_fits('a.pth', partial, Tiny(), strict=False)  # fine-tuning: what fits is loaded
    with pytest.raises(CheckpointMismatchError, match=r'^a\.pth fits none of the model keys: conv\.weight has shape'):
        check_checkpoint_fits('a.pth', Tiny(width=8).state_dict(), Tiny(), strict=False)


def test_wrappers_are_looked_through() -> None:
    from mmengine.model import BaseTTAModel

    class TTA(BaseTTAModel):
        def merge_preds(self, data_samples_list: list) -> list:
            return data_samples_list

    class Testable(Tiny):
        def test_step(self, data: object) -> list:
            return []

    model = Testable()
    assert unwrap_model(TTA(module=model)) is model
    check_checkpoint_fits('a.pth', Tiny().state_dict(), TTA(module=Testable()), strict=True)  # keys without module.


# --------------------------------------------------------------------------- through tools/test.py and tools/train.py


def run_main(tool: ModuleType, argv: list[str]) -> tuple[int, str]:
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        code = tool.main(argv)
    return code, stderr.getvalue()


@pytest.fixture(scope='module')
def checkpoints(tiny_config: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny config's own weights, another architecture's (wider stage 2), a dict without weights and a list."""
    root = tmp_path_factory.mktemp('fit')
    cfg = Config.fromfile(tiny_config)
    init_default_scope(cfg.default_scope)
    files = {name: root / f'{name}.pth' for name in ('own', 'other_arch', 'no_weights', 'list')}
    torch.save({'meta': {}, 'state_dict': MODELS.build(cfg.model).state_dict()}, files['own'])
    cfg.model.backbone.arch.channels = OTHER_CHANNELS
    cfg.model.head.in_channels = OTHER_CHANNELS[-1]
    torch.save({'meta': {}, 'state_dict': MODELS.build(cfg.model).state_dict()}, files['other_arch'])
    torch.save({'foo': 1}, files['no_weights'])
    torch.save([1, 2, 3], files['list'])
    return files


def test_test_evaluates_its_own_checkpoint(
    test_tool: ModuleType, tiny_config: Path, tmp_path: Path, checkpoints: dict
) -> None:
    code, stderr = run_main(test_tool, [str(tiny_config), str(checkpoints['own']), '--work-dir', str(tmp_path)])
    assert code == 0, stderr[-2000:]


REFUSALS = {
    'other_arch': (
        'does not fit the model: backbone.downsample_layers.1.1.weight has shape (32, 8, 2, 2) in the checkpoint, '
        '(16, 8, 2, 2) in the model ('
    ),
    'no_weights': "holds no model weights: no tensor in its 'state_dict' or at its top level (keys ['foo'])",
    'list': "holds a list, not model weights (a dict of tensors, or a checkpoint with a 'state_dict' dict)",
}


@pytest.mark.parametrize('kind', sorted(REFUSALS))
def test_test_refuses_a_checkpoint_that_does_not_fit(
    test_tool: ModuleType, tiny_config: Path, tmp_path: Path, checkpoints: dict, kind: str
) -> None:
    code, stderr = run_main(test_tool, [str(tiny_config), str(checkpoints[kind]), '--work-dir', str(tmp_path)])
    assert code == BAD_INPUT_EXIT
    assert 'Traceback' not in stderr
    assert stderr.strip().splitlines()[-1].startswith(f'error: {checkpoints[kind]} {REFUSALS[kind]}')


@pytest.mark.parametrize('option', [['--allow-partial'], ['--cfg-options', 'load_strict=False']])
def test_partial_loading_is_explicit(
    test_tool: ModuleType, tiny_config: Path, tmp_path: Path, checkpoints: dict, option: list[str]
) -> None:
    argv = [str(tiny_config), str(checkpoints['other_arch']), '--work-dir', str(tmp_path), *option]
    assert run_main(test_tool, argv)[0] == 0
    code, stderr = run_main(test_tool, [str(tiny_config), str(checkpoints['no_weights']), *argv[2:]])
    assert code == BAD_INPUT_EXIT  # nothing to load is never partial
    assert 'holds no model weights' in stderr


def test_allow_partial_is_documented(test_tool: ModuleType) -> None:
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout), pytest.raises(SystemExit):
        test_tool.main(['--help'])
    assert '--allow-partial' in stdout.getvalue()


@pytest.mark.slow
def test_train_load_from_stays_partial_but_refuses_a_file_without_weights(
    load_tool: Callable[[str], ModuleType], tiny_config: Path, tmp_path: Path, checkpoints: dict
) -> None:
    """Fine-tuning from another model's weights loads what fits (mmengine's behaviour); no weights at all is refused."""
    train = load_tool('tools/train.py')
    options = ['--cfg-options', 'train_cfg.max_epochs=1']
    argv = [
        str(tiny_config),
        '--work-dir',
        str(tmp_path / 'partial'),
        *options,
        f'load_from={checkpoints["other_arch"]}',
    ]
    assert run_main(train, argv)[0] == 0
    argv = [str(tiny_config), '--work-dir', str(tmp_path / 'none'), *options, f'load_from={checkpoints["no_weights"]}']
    code, stderr = run_main(train, argv)
    assert code == BAD_INPUT_EXIT
    assert stderr.strip().splitlines()[-1].startswith(f'error: {checkpoints["no_weights"]} holds no model weights')


@pytest.mark.slow
def test_dist_test_refuses_another_architecture(tiny_config: Path, tmp_path: Path, checkpoints: dict) -> None:
    result = subprocess.run(
        [
            'bash',
            'tools/dist_test.sh',
            str(tiny_config),
            str(checkpoints['other_arch']),
            '2',
            '--work-dir',
            str(tmp_path),
        ],
        cwd=ROOT,
        env=dict(os.environ, CUDA_VISIBLE_DEVICES='', PORT=str(29600 + os.getpid() % 1000), PYTHON=sys.executable),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode != 0
    assert f'error: {checkpoints["other_arch"]} does not fit the model' in result.stderr
    assert 'accuracy/top1' not in result.stdout + result.stderr


def test_test_reads_a_url_through_the_torch_hub_cache(
    test_tool: ModuleType, tiny_config: Path, tmp_path: Path, checkpoints: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A released checkpoint's URL is evaluated from torch hub's cache; a failed download is one line."""
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch'))
    cached = tmp_path / 'torch' / 'hub' / 'checkpoints' / 'tiny_own.pth'
    cached.parent.mkdir(parents=True)
    cached.write_bytes(checkpoints['own'].read_bytes())
    url = 'https://dl.example.org/convnext/tiny_own.pth'
    assert run_main(test_tool, [str(tiny_config), url, '--work-dir', str(tmp_path / 'work')])[0] == 0
    unreachable = 'http://127.0.0.1:9/convnext/other.pth'  # port 9 (discard) refuses at once
    code, stderr = run_main(test_tool, [str(tiny_config), unreachable, '--work-dir', str(tmp_path / 'work')])
    assert code == BAD_INPUT_EXIT
    assert stderr.strip().splitlines()[-1].startswith(f'error: Could not download the checkpoint {unreachable} (')


@pytest.mark.parametrize('reader', ['runner', 'pretrained'])
def test_a_downloaded_checkpoint_is_read_with_weights_only(
    reader: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A URL's file is unpickled with ``weights_only=True`` like a local one (torch hub's loader would not):
    by the one reader the Runner uses, and through the backbone's ``init_cfg`` loader."""
    from fractions import Fraction

    from convnext.models.checkpoint import load_pretrained
    from convnext.serialization import read_checkpoint as read_for_runner

    def read_pretrained(url: str) -> None:
        load_pretrained(torch.nn.Module(), url)

    monkeypatch.setenv('TORCH_HOME', str(tmp_path))
    cached = tmp_path / 'hub' / 'checkpoints' / 'weights.pth'
    cached.parent.mkdir(parents=True)
    torch.save({'state_dict': {'w': torch.ones(1)}, 'extra': Fraction(1, 3)}, cached)  # a type outside the allowlist
    read = read_for_runner if reader == 'runner' else read_pretrained
    with pytest.raises(Exception, match=r'(?s)Unsupported global.*Fraction'):
        read('https://dl.example.org/weights.pth')
