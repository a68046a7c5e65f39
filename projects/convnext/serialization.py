"""Reading checkpoints: the one reader of every checkpoint file and URL, under ``torch.load(weights_only=True)``.

:func:`read_checkpoint` serves the backbone's ``init_cfg``, the Runner
(``load_from``, ``--resume``, ``tools/test.py``), the deployment tools and the
converters: one download path, one allowlist, one error per way a file can be
unreadable. :func:`strip_wrapper_prefix` is the one place a
``(Distributed)DataParallel`` ``module.`` prefix is removed.

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

import argparse
import os
import pickle
import re
import urllib.parse
from collections.abc import Mapping
from typing import Any, TypeVar

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer

from .exceptions import CheckpointDownloadError, CheckpointNotFoundError, CheckpointReadError, as_read_error

URL_SCHEMES = ('http://', 'https://')
"""Checkpoint locations downloaded into torch hub's cache before they are read."""

DEFAULT_LOCAL_FILE_HINT = 'pass the local file'
"""How to use a local file instead of a URL that cannot be downloaded, when the caller has nothing more precise."""

WRAPPER_PREFIX = 'module.'
"""Prefix of state-dict keys saved from a ``(Distributed)DataParallel`` wrapper (mmengine's default ``revise_keys``)."""

WRAPPER_REVISE_KEYS = ((rf'^{re.escape(WRAPPER_PREFIX)}', ''),)
"""mmengine's default ``revise_keys`` of ``load_checkpoint``: :data:`WRAPPER_PREFIX` removed, as a regex rule."""

V = TypeVar('V')

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


def read_checkpoint(checkpoint: str, local_file_hint: str = DEFAULT_LOCAL_FILE_HINT) -> Any:
    """Reads a checkpoint file or ``http(s)://`` URL on the CPU with ``torch.load(weights_only=True)``.

    Besides tensors, only the types that mmengine's Runner checkpoints (message
    hub, numpy arrays and scalars) and the official ConvNeXt training scripts
    (``argparse.Namespace`` under ``args``) save are allowed; anything else is
    refused, never loaded with ``weights_only=False``.

    Args:
        checkpoint: A local path (``~`` expanded) or an ``http(s)://`` URL,
            downloaded once into torch hub's ``checkpoints`` folder.
        local_file_hint: Appended to the download error: how to pass a local
            file instead. Defaults to :data:`DEFAULT_LOCAL_FILE_HINT`.

    Returns:
        The unpickled object, tensors on the CPU.

    Raises:
        CheckpointNotFoundError: A local file does not exist.
        CheckpointDownloadError: A URL cannot be downloaded; names it and the hint.
        CheckpointReadError: The file is truncated or corrupt; names it.
        pickle.UnpicklingError: The file holds Python objects outside the
            allowlist; names the file and the first such type.
    """
    path = str(checkpoint)
    if path.startswith(URL_SCHEMES):
        path = download_checkpoint(path, local_file_hint)
    path = os.path.expanduser(path)
    if not os.path.isfile(path):
        raise CheckpointNotFoundError(f'checkpoint not found: {checkpoint}')
    with torch.serialization.safe_globals([*mmengine_checkpoint_globals(), argparse.Namespace]):
        try:
            return torch.load(path, map_location='cpu', weights_only=True)
        except Exception as error:
            explained = _explained(path, error)
            if explained is error:
                raise
            raise explained from error


def _explained(path: str, error: Exception) -> Exception:
    """The one-line error for ``torch.load``'s failure on ``path`` (``error`` itself when it is not about the file)."""
    read_error = as_read_error(path, error)
    if read_error is None and isinstance(error, OSError) and not isinstance(error, PermissionError):
        # torch's zip reader on a cut file: 'OSError: [Errno 22] Invalid argument'
        read_error = CheckpointReadError(path, f'{type(error).__name__}: {error}')
    if read_error is not None:
        return read_error
    if not isinstance(error, pickle.UnpicklingError):
        return error
    reason = next((line for line in str(error).splitlines() if 'Unsupported global' in line), str(error))
    return pickle.UnpicklingError(
        f'{path} holds Python objects that are not allowed when loading weights ({reason.strip()}); '
        f'save only its tensors, e.g. torch.save(state_dict, path), and load that file'
    )


def strip_wrapper_prefix(weights: Mapping[str, V]) -> dict[str, V]:
    """``weights`` with the :data:`WRAPPER_PREFIX` removed from every key that has it (a new dict).

    The same as applying :data:`WRAPPER_REVISE_KEYS` (mmengine's default ``revise_keys``).
    """
    return {key.removeprefix(WRAPPER_PREFIX): value for key, value in weights.items()}
