"""Checkpoint files that a killed write cannot corrupt, and reading them with one clear error."""

import contextlib
import os
import os.path as osp
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import torch

from ..exceptions import CheckpointDownloadError, CheckpointNotFoundError, CheckpointReadError, as_read_error
from ..serialization import allow_mmengine_checkpoints

LAST_CHECKPOINT = 'last_checkpoint'
"""File in the work dir naming the checkpoint ``--resume`` continues from (mmengine's name)."""

CHECKPOINT_SUFFIX = '.pth'
"""Suffix of the checkpoints ``--resume`` falls back to."""

URL_SCHEMES = ('http://', 'https://')
"""Checkpoint locations downloaded into torch hub's cache before they are read."""


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """Yields a temporary path next to ``path``; renames it to ``path`` when the block succeeds.

    The file is flushed to disk before the rename, so ``path`` is always either
    the old file or the complete new one; a failed block removes the temporary.
    """
    directory, name = osp.split(path)
    tmp = osp.join(directory, f'.{name}.tmp{os.getpid()}')
    try:
        yield tmp
        with open(tmp, 'rb') as file:
            os.fsync(file.fileno())
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def write_last_checkpoint(work_dir: str, checkpoint: str) -> None:
    """Points ``work_dir/last_checkpoint`` at ``checkpoint`` (atomically)."""
    with atomic_path(osp.join(work_dir, LAST_CHECKPOINT)) as tmp:
        Path(tmp).write_text(checkpoint)


def read_checkpoint(path: str) -> dict:
    """Loads a local checkpoint, or an ``http(s)://`` one through the torch hub cache, on the CPU
    (``weights_only``, mmengine's types allowed).

    Raises:
        CheckpointNotFoundError: No such file.
        CheckpointDownloadError: The URL cannot be fetched (names it).
        CheckpointReadError: The file is truncated or corrupt (names the file).
    """
    if str(path).startswith(URL_SCHEMES):
        path = download_checkpoint(path)
    if not osp.isfile(path):
        raise CheckpointNotFoundError(f'checkpoint not found: {path}')
    allow_mmengine_checkpoints()
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except Exception as error:
        read_error = as_read_error(path, error)
        if read_error is None and isinstance(error, OSError) and not isinstance(error, PermissionError):
            # torch's zip reader on a cut file: 'OSError: [Errno 22] Invalid argument'
            read_error = CheckpointReadError(path, f'{type(error).__name__}: {error}')
        if read_error is None:
            raise
        raise read_error from error


def download_checkpoint(url: str) -> str:
    """The local copy of ``url`` in torch hub's ``checkpoints`` folder, downloaded unless it is there already.

    Raises:
        CheckpointDownloadError: The download failed; names the URL and how to pass a local file instead.
    """
    folder = osp.join(torch.hub.get_dir(), 'checkpoints')
    path = osp.join(folder, osp.basename(urllib.parse.urlparse(url).path))
    if osp.isfile(path):
        return path
    os.makedirs(folder, exist_ok=True)
    try:
        torch.hub.download_url_to_file(url, path, progress=False)
    except Exception as error:
        raise CheckpointDownloadError(
            f'could not download the checkpoint {url} ({type(error).__name__}: {error}); '
            f'download it elsewhere and pass the local file'
        ) from error
    return path


def resume_candidates(work_dir: str) -> list[str]:
    """Checkpoints ``--resume`` may continue from, best first: ``last_checkpoint``'s, then the newest ``*.pth``."""
    candidates = []
    pointer = Path(work_dir, LAST_CHECKPOINT)
    if pointer.is_file() and pointer.read_text().strip():
        candidates.append(pointer.read_text().strip())
    others = sorted(Path(work_dir).glob(f'*{CHECKPOINT_SUFFIX}'), key=lambda p: p.stat().st_mtime, reverse=True)
    seen = {osp.realpath(path) for path in candidates}
    for path in others:
        if osp.realpath(path) not in seen:
            candidates.append(str(path))
            seen.add(osp.realpath(path))
    return candidates
