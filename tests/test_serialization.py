"""convnext.serialization: checkpoints load with torch.load(weights_only=True) and only the allowlisted globals,
through one reader that names the file it cannot read."""

import argparse
import inspect
import pickle
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.logging.history_buffer import HistoryBuffer

from convnext.serialization import history_buffer_getattr, mmengine_checkpoint_globals, read_checkpoint


class Payload:
    """An object whose unpickling would run code."""

    def __reduce__(self) -> tuple:
        return (print, ('this must never run',))


def message_hub_checkpoint(path: Path) -> None:
    """Saves what mmengine's Runner saves besides tensors: the message hub with numpy history."""
    hub = MessageHub(name='serialization_test')
    for value in (0.5, 0.25):
        hub.update_scalar('train/loss', value)
    hub.update_info('iter', np.int64(3))
    torch.save({'meta': {'epoch': 1}, 'message_hub': hub.state_dict(), 'state_dict': {'w': torch.ones(2)}}, path)


@pytest.fixture
def default_allowlist() -> Iterator[None]:
    """torch's own allowlist, as in a fresh process (tools that built a Runner in this process extended it)."""
    saved = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    yield
    torch.serialization.add_safe_globals(saved)


@pytest.mark.usefixtures('default_allowlist')
def test_mmengine_checkpoint_loads_with_the_allowlist(tmp_path: Path) -> None:
    path = tmp_path / 'runner.pth'
    message_hub_checkpoint(path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)  # torch's defaults refuse it: the reason for the allowlist
    with torch.serialization.safe_globals(mmengine_checkpoint_globals()):
        loaded = torch.load(path, weights_only=True)
    buffer = loaded['message_hub']['log_scalars']['train/loss']
    assert isinstance(buffer, HistoryBuffer) and buffer.mean() == pytest.approx(0.375)


def test_read_checkpoint_takes_official_training_files_and_refuses_code(tmp_path: Path) -> None:
    official = tmp_path / 'official.pth'
    torch.save({'model': {'w': torch.ones(2)}, 'args': argparse.Namespace(lr=4e-3), 'epoch': 299}, official)
    assert read_checkpoint(str(official))['args'].lr == 4e-3
    evil = tmp_path / 'evil.pth'
    torch.save({'model': Payload()}, evil)
    with pytest.raises(pickle.UnpicklingError, match=r'evil.pth holds Python objects that are not allowed'):
        read_checkpoint(str(evil))


def test_getattr_is_restricted_to_history_buffer_statistics() -> None:
    assert history_buffer_getattr(HistoryBuffer, 'mean') is HistoryBuffer.mean
    with pytest.raises(pickle.UnpicklingError, match='not allowed'):
        history_buffer_getattr(HistoryBuffer, '__init__')
    with pytest.raises(pickle.UnpicklingError, match='not allowed'):
        history_buffer_getattr(torch, 'load')


def test_wrapper_prefix_is_removed_as_mmengine_does_by_default() -> None:
    from mmengine.runner import load_checkpoint

    from convnext.serialization import WRAPPER_REVISE_KEYS, strip_wrapper_prefix

    assert inspect.signature(load_checkpoint).parameters['revise_keys'].default == list(WRAPPER_REVISE_KEYS)
    weights = {'module.backbone.w': 1, 'head.module.b': 2, 'module.module.c': 3}
    revised = {re.sub(*WRAPPER_REVISE_KEYS[0], key): value for key, value in weights.items()}
    assert strip_wrapper_prefix(weights) == revised == {'backbone.w': 1, 'head.module.b': 2, 'module.c': 3}
    assert 'module.backbone.w' in weights  # not modified


@pytest.mark.parametrize('kind', ['missing', 'truncated', 'not_zip'])
def test_read_checkpoint_names_a_file_it_cannot_read(kind: str, tmp_path: Path) -> None:
    from convnext.exceptions import CheckpointNotFoundError, CheckpointReadError

    path = tmp_path / f'{kind}.pth'
    if kind == 'truncated':
        torch.save({'state_dict': {'w': torch.ones(64)}}, path)
        path.write_bytes(path.read_bytes()[:200])
    elif kind == 'not_zip':
        path.write_text('not a checkpoint')
    expected = CheckpointNotFoundError if kind == 'missing' else CheckpointReadError
    with pytest.raises(expected, match=re.escape(str(path))):
        read_checkpoint(str(path))
