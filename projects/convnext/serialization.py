"""Safe loading of mmengine's own checkpoints under ``torch.load(weights_only=True)``.

torch >= 2.6 loads with ``weights_only=True`` by default and mmengine 0.10.7
calls ``torch.load`` without the argument, so ``--resume`` fails on the
message hub's ``HistoryBuffer``, on the numpy arrays and scalars inside it, and
on ``getattr(HistoryBuffer, 'min')`` (how pickle stores its statistics
methods). Rather than switching the protection off, we allowlist exactly the
types that mmengine's checkpoints hold; ``getattr`` is allowlisted only as a
restricted version that returns HistoryBuffer's registered statistics
methods and refuses everything else. Foreign pretrained weights still load
with the default allowlist only.
"""

import os
import pickle
import urllib.parse
from typing import Any

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer

from .exceptions import CheckpointDownloadError

DEFAULT_STATISTICS = ('min', 'max', 'current', 'mean')
"""HistoryBuffer's built-in statistics methods (registered when a buffer is first built)."""

NUMPY_DTYPES = ('float64', 'float32', 'float16', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool')
"""Dtypes whose numpy dtype classes may appear in the message hub's arrays and scalars."""


def history_buffer_getattr(obj: Any, name: str) -> Any:
    """``getattr`` limited to ``HistoryBuffer``'s statistics methods (what its pickle needs).

    Raises:
        pickle.UnpicklingError: For any other object or attribute.
    """
    if obj is HistoryBuffer and name in {*DEFAULT_STATISTICS, *HistoryBuffer._statistics_methods}:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(f'checkpoint asks for getattr({obj!r}, {name!r}), which is not allowed')


def _numpy_globals() -> list:
    """The numpy callables and classes that pickled arrays and scalars refer to."""
    multiarray = np._core.multiarray if hasattr(np, '_core') else np.core.multiarray
    dtype_classes = [type(np.dtype(name)) for name in NUMPY_DTYPES]
    return [multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype, *dtype_classes]


def mmengine_checkpoint_globals() -> list:
    """Every non-tensor global an mmengine Runner checkpoint refers to."""
    return [
        HistoryBuffer,
        (history_buffer_getattr, 'builtins.getattr'),
        (history_buffer_getattr, '__builtin__.getattr'),
        *_numpy_globals(),
    ]


def allow_mmengine_checkpoints() -> None:
    """Adds :func:`mmengine_checkpoint_globals` to torch's ``weights_only`` allowlist."""
    torch.serialization.add_safe_globals(mmengine_checkpoint_globals())


def download_checkpoint(url: str, local_file_hint: str) -> str:
    """The local copy of ``url`` in torch hub's ``checkpoints`` folder, downloaded unless it is there already.

    Only the file is fetched: reading it is the caller's, with ``weights_only``
    loading (``torch.hub.load_state_dict_from_url`` and mmengine's
    ``load_from_http`` would unpickle it without that protection).

    Args:
        url: An ``http(s)://`` checkpoint address.
        local_file_hint: How to pass a local file instead, appended to the error
            (e.g. ``'pass the local file'``).

    Raises:
        CheckpointDownloadError: The download failed; names the URL and the hint.
    """
    folder = os.path.join(torch.hub.get_dir(), 'checkpoints')
    path = os.path.join(folder, os.path.basename(urllib.parse.urlparse(url).path))
    if os.path.isfile(path):
        return path
    os.makedirs(folder, exist_ok=True)
    try:
        torch.hub.download_url_to_file(url, path, progress=False)
    except Exception as error:
        raise CheckpointDownloadError(
            f'Could not download the checkpoint {url} ({type(error).__name__}: {error}); '
            f'download it elsewhere and {local_file_hint}'
        ) from error
    return path
