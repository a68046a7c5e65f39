"""Checkpoint files that a killed write cannot corrupt, and the ones ``--resume`` may continue from.

Reading a checkpoint is :func:`convnext.serialization.read_checkpoint`'s, the package's one reader."""

import contextlib
import errno
import os
import os.path as osp
import re
from collections.abc import Iterator
from pathlib import Path

from ...exceptions import ConfigError

LAST_CHECKPOINT = 'last_checkpoint'
"""File in the work dir naming the checkpoint ``--resume`` continues from (mmengine's name)."""

CHECKPOINT_SUFFIX = '.pth'
"""Suffix of the checkpoints ``--resume`` falls back to."""

PARTIAL_FILE = re.compile(r'\.(?P<name>.+)\.tmp(?P<pid>\d+)')
"""Name of the temporary file :func:`atomic_path` writes (``.iter_10.pth.tmp4242``); a kill can leave one."""

WRITE_ERRNOS = frozenset({errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EFBIG})
"""``errno`` values that mean a directory cannot take a file (read-only, full, over quota, not permitted)."""

SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
"""The part of :data:`WRITE_ERRNOS` that more free space fixes."""

DEFAULT_WHAT = 'logs and checkpoints'
"""What a run writes into its work dir, named by :class:`WorkDirWriteError` when the write is not a checkpoint."""


class WorkDirWriteError(ConfigError):
    """A file cannot be written into the work dir (read-only, full or not permitted); names the directory and errno.

    Args:
        directory: The directory that cannot take the file.
        error: The ``OSError`` of the failed write.
        what: What was being written, e.g. ``'checkpoint iter_10.pth'``.
            Defaults to ``'logs and checkpoints'``.
    """

    def __init__(self, directory: str, error: OSError, what: str = DEFAULT_WHAT) -> None:
        reason = f'errno {error.errno}: {error.strerror or error}' if error.errno is not None else str(error)
        if error.filename is not None and osp.abspath(str(error.filename)) != osp.abspath(directory):
            reason = f'{reason}: {error.filename}'
        if error.errno in SPACE_ERRNOS:
            fix = 'free space there (a new checkpoint is written next to the previous one, removed only after it)'
        else:
            fix = 'make it writable'
        super().__init__(
            f'cannot write {what} to {directory} ({reason}); {fix} or pass another --work-dir; '
            'the checkpoints already there are complete and kept'
        )
        self.directory = directory
        self.errno = error.errno


@contextlib.contextmanager
def write_errors(directory: str, what: str = DEFAULT_WHAT) -> Iterator[None]:
    """Raises an ``OSError`` of the block as :class:`WorkDirWriteError` naming ``directory`` and ``what``.

    Errors the block already explained (:class:`ConfigError`) and other
    exceptions propagate unchanged.
    """
    try:
        yield
    except OSError as error:
        if isinstance(error, ConfigError) or error.errno is None:
            raise
        raise WorkDirWriteError(directory, error, what) from error


@contextlib.contextmanager
def work_dir_write_errors(work_dir: str) -> Iterator[None]:
    """Raises an ``OSError`` of the block that failed to write into ``work_dir`` as :class:`WorkDirWriteError`.

    Wraps a whole run (mmengine creates the work dir, its log dir, log and
    config files first): a read-only, full or forbidden work dir is then one
    error naming it and the errno. Only errors whose ``errno`` is in
    :data:`WRITE_ERRNOS` and whose file lies inside ``work_dir`` are converted.
    """
    try:
        yield
    except OSError as error:
        if isinstance(error, ConfigError) or error.errno not in WRITE_ERRNOS or not _inside(error.filename, work_dir):
            raise
        raise WorkDirWriteError(work_dir, error) from error


def _inside(path: object, directory: str) -> bool:
    """Whether ``path`` is ``directory``, lies below it, or is one of the parents mmengine creates for it."""
    if path is None:
        return False
    path, directory = osp.abspath(os.fsdecode(path)), osp.abspath(directory)
    return osp.commonpath([path, directory]) in (path, directory)


def partial_path(path: str) -> str:
    """The temporary file :func:`atomic_path` writes for ``path`` in this process (see :data:`PARTIAL_FILE`)."""
    directory, name = osp.split(path)
    return osp.join(directory, f'.{name}.tmp{os.getpid()}')


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """Yields a temporary path next to ``path``; renames it to ``path`` when the block succeeds.

    The file and the rename are flushed to disk, so ``path`` is always either
    the old file or the complete new one; a failed block removes the
    temporary. A kill leaves it behind: :func:`remove_partial_files` removes
    it at the next start.
    """
    tmp = partial_path(path)
    try:
        yield tmp
        with open(tmp, 'rb') as file:
            os.fsync(file.fileno())
        os.replace(tmp, path)
        _fsync_directory(osp.dirname(path) or '.')
    finally:
        if osp.lexists(tmp):
            with contextlib.suppress(OSError):  # a read-only directory: the original error matters
                os.remove(tmp)


def _fsync_directory(directory: str) -> None:
    """Flushes a directory entry (a rename) to disk; a file system that cannot is left as it is."""
    with contextlib.suppress(OSError):
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def remove_partial_files(directory: str) -> list[str]:
    """Removes the temporary files of killed :func:`atomic_path` writes in ``directory``; returns their paths.

    A work dir belongs to one run at a time, so every such file (whatever
    process id it names: a restarted container often has the same one) is
    left from an earlier, killed process.
    """
    if not osp.isdir(directory):
        return []
    removed = []
    for entry in sorted(os.scandir(directory), key=lambda entry: entry.name):
        if PARTIAL_FILE.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
            os.remove(entry.path)
            removed.append(entry.path)
    return removed


def write_last_checkpoint(work_dir: str, checkpoint: str) -> None:
    """Points ``work_dir/last_checkpoint`` at ``checkpoint`` (atomically)."""
    with atomic_path(osp.join(work_dir, LAST_CHECKPOINT)) as tmp:
        Path(tmp).write_text(checkpoint)


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
