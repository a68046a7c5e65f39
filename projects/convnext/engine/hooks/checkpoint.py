"""mmengine's ``CheckpointHook`` that removes old checkpoints only once the new one is on disk.

mmengine's ``CheckpointHook`` (``_save_checkpoint_with_step`` and
``_save_best_checkpoint``, mmengine 0.10.7) removes the oldest checkpoint of
``max_keep_ckpts`` and the previous best checkpoint *before* it writes the new
one: with ``max_keep_ckpts=1`` a kill during the write leaves no checkpoint at
all. :class:`SafeCheckpointHook` runs mmengine's own methods unchanged but
holds their removals back until the new checkpoint has been renamed into place
and ``last_checkpoint`` points at it, so a kill at any moment leaves the
previous checkpoint and a ``last_checkpoint`` that names a complete file.
"""

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from mmengine.dist import is_main_process
from mmengine.fileio.backends import LocalBackend
from mmengine.hooks import CheckpointHook

from ...registry import HOOKS
from ..preemption.files import remove_partial_files, write_errors


class DeferredRemovals:
    """A file backend whose ``remove`` and ``rmtree`` are recorded, to be done later; all else is forwarded.

    Args:
        backend: The file backend (mmengine ``LocalBackend``, ``PetrelBackend``, ...).
    """

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.removals: list[tuple[str, Callable[[str], None]]] = []

    def remove(self, path: str) -> None:
        """Records the removal of the file ``path``."""
        self.removals.append((str(path), self.backend.remove))

    def rmtree(self, path: str) -> None:
        """Records the removal of the directory ``path`` (checkpoints saved by DeepSpeed are directories)."""
        self.removals.append((str(path), self.backend.rmtree))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.backend, name)


@HOOKS.register_module()
class SafeCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` (same arguments) that never removes a checkpoint before its successor is saved.

    ``tools/train.py`` (:func:`convnext.engine.make_preemptible`) uses it in
    place of ``default_hooks.checkpoint`` of type ``CheckpointHook``. Old
    checkpoints (``max_keep_ckpts``) and the previous best checkpoint
    (``save_best``) are removed after the new file is complete and
    ``last_checkpoint`` names it; a checkpoint that the hook still refers to
    (the newest, a kept one, the current best) is never removed. At the start
    of training, temporary files of writes killed in an earlier run are
    removed from the checkpoint directory.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deferred: DeferredRemovals | None = None

    def before_train(self, runner: Any) -> None:
        """mmengine's set-up, then removes partial checkpoint files left in the (local) checkpoint directory."""
        super().before_train(runner)
        if is_main_process() and isinstance(self.file_backend, LocalBackend):
            removed = remove_partial_files(str(self.out_dir))
            if removed:
                runner.logger.warning(f'Removed {len(removed)} partial file(s) of a killed checkpoint write: {removed}')

    def _save_checkpoint_with_step(self, runner: Any, step: int, meta: dict) -> None:
        with self._removals_after_save(runner, f'checkpoint {self.filename_tmpl.format(step)}'):
            super()._save_checkpoint_with_step(runner, step, meta)

    def _save_best_checkpoint(self, runner: Any, metrics: dict) -> None:
        with self._removals_after_save(runner, 'the best checkpoint'):
            super()._save_best_checkpoint(runner, metrics)

    @contextlib.contextmanager
    def _removals_after_save(self, runner: Any, what: str) -> Iterator[None]:
        """Holds back the block's removals until it has returned (the outermost block, when nested)."""
        if self._deferred is not None:  # _save_best_checkpoint calls _save_checkpoint_with_step
            yield
            return
        backend = self.file_backend
        self._deferred = self.file_backend = DeferredRemovals(backend)
        try:
            with write_errors(str(self.out_dir), what):
                yield
            removals = self._deferred.removals
        finally:
            self.file_backend, self._deferred = backend, None
        kept = self._referenced_paths()
        for path, remove in removals:
            if path not in kept and (backend.isfile(path) or backend.isdir(path)):
                remove(path)

    def _referenced_paths(self) -> set[str]:
        """Checkpoints the hook (and ``runner.message_hub``) refer to: the newest, the kept and the best ones."""
        paths = {self.last_ckpt, getattr(self, 'best_ckpt_path', None)}
        paths.update(getattr(self, 'best_ckpt_path_dict', {}).values())
        for step in getattr(self, 'keep_ckpt_ids', ()):
            paths.add(self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(step)))
        return {str(path) for path in paths if path is not None}
