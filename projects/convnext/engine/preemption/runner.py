"""mmengine's Runner with atomic checkpoint writes and a resume that checks what it resumes."""

import os
import os.path as osp
from collections.abc import Sequence
from typing import Any

from mmengine.dist import get_world_size, master_only
from mmengine.model import is_model_wrapper
from mmengine.runner import BaseLoop, Runner
from mmengine.runner.checkpoint import _load_checkpoint, _load_checkpoint_to_model

from ...exceptions import ConfigError
from ...registry import RUNNERS
from ...serialization import URL_SCHEMES, WRAPPER_REVISE_KEYS, read_checkpoint, strip_wrapper_prefix
from ..checkpoint_fit import LOAD_STRICT, check_checkpoint_fits
from .files import atomic_path, resume_candidates, write_errors
from .state import ResumeError, ResumeState

TRAINING_KEYS = ('meta', 'state_dict', 'message_hub')
"""Entries every Runner checkpoint has (a weights-only file lacks some)."""


@RUNNERS.register_module()
class PreemptibleRunner(Runner):
    """mmengine's ``Runner`` with checkpoints that a kill cannot corrupt and a resume that says what is wrong.

    - :meth:`save_checkpoint` writes a temporary file and renames it (local
      work dirs), so a checkpoint is always complete or absent.
    - ``--resume`` (auto) takes ``last_checkpoint``'s file and, when it cannot
      be read, falls back to the newest readable ``*.pth`` with a warning.
    - A checkpoint that cannot be read, or that another config saved (model
      keys, parameter shapes, optimizer groups) or that needs another world
      size to continue mid-epoch, gets one error naming the file and the first
      mismatch.
    """

    _read_ahead: tuple[str, dict] | None = None
    """The checkpoint :meth:`load_or_resume` read to choose it, as ``(path, checkpoint)``, until it is loaded."""

    @master_only
    def save_checkpoint(self, out_dir: str, filename: str, *args: Any, **kwargs: Any) -> None:
        """mmengine's ``save_checkpoint`` (same arguments), written atomically into a local ``out_dir``.

        Raises:
            WorkDirWriteError: The local ``out_dir`` cannot take the file (read-only,
                full, not permitted): names it and the errno; ``out_dir`` keeps
                its previous files, none half-written.
        """
        remote = bool(kwargs.get('backend_args') or kwargs.get('file_client_args') or (args and args[0]))
        if remote or '://' in str(out_dir):
            super().save_checkpoint(out_dir, filename, *args, **kwargs)
            return
        with write_errors(str(out_dir), f'checkpoint {filename}'):
            os.makedirs(out_dir, exist_ok=True)
            with atomic_path(osp.join(out_dir, filename)) as tmp:
                super().save_checkpoint(out_dir, osp.basename(tmp), *args, **kwargs)

    def load_or_resume(self) -> None:
        """mmengine's, with the auto-resume fallback to the newest readable checkpoint."""
        if self._has_loaded:
            return
        if not (self._resume and self._load_from is None):
            super().load_or_resume()
            return
        path = self._readable_resume_candidate()
        if path is None:
            self.logger.info(f'No checkpoint to resume from in {self.work_dir}: training from the start.')
            return
        self.resume(path)
        self._has_loaded = True

    def _readable_resume_candidate(self) -> str | None:
        """The first readable checkpoint of :func:`resume_candidates` (cached for :meth:`load_checkpoint`)."""
        failures = []
        for path in resume_candidates(self.work_dir):
            try:
                self._read_ahead = (path, read_checkpoint(path))
            except ConfigError as error:
                self.logger.warning(f'--resume: cannot use {path}: {error}')
                failures.append(path)
                continue
            if failures:
                self.logger.warning(f'--resume: falling back to {path} (the newest readable checkpoint)')
            return path
        if failures:
            raise ResumeError(f'--resume found no readable checkpoint in {self.work_dir} (tried {", ".join(failures)})')
        return None

    def load_checkpoint(
        self,
        filename: str,
        map_location: str | Any = 'cpu',
        strict: bool = False,
        revise_keys: Sequence[tuple[str, str]] = WRAPPER_REVISE_KEYS,
    ) -> dict:
        """mmengine's ``load_checkpoint`` (same arguments); a local file is read with one clear error,
        a resumed one is checked against this run first (:func:`check_resumable`), and weights that do not fit
        the model are refused (:func:`check_checkpoint_fits`: strict when ``strict`` or the config's
        ``load_strict``, as ``tools/test.py`` sets it; else only a file of which no key fits)."""
        checkpoint = self._read(filename, map_location)
        if self._resume:
            check_resumable(filename, checkpoint, self)
        strict = strict or bool(self.cfg.get(LOAD_STRICT, False))
        check_checkpoint_fits(filename, checkpoint, self.model, strict, revise_keys)  # before hooks read it
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        model = self.model.module if is_model_wrapper(self.model) else self.model
        checkpoint = _load_checkpoint_to_model(model, checkpoint, strict, revise_keys=list(revise_keys))
        self._has_loaded = True
        self.logger.info(f'Load checkpoint from {filename}')
        return checkpoint

    def _read(self, filename: str, map_location: str | Any) -> dict:
        cached, self._read_ahead = self._read_ahead, None
        if cached is not None and cached[0] == filename:
            return cached[1]
        if '://' in str(filename) and not str(filename).startswith(URL_SCHEMES):  # s3://, petrel://: mmengine
            return _load_checkpoint(filename, map_location=map_location)
        return read_checkpoint(filename)


def check_resumable(path: str, checkpoint: Any, runner: Runner) -> None:
    """Checks that ``runner`` can continue from ``checkpoint`` (a dict read from ``path``).

    Raises:
        ResumeError: Not a training checkpoint; or another config saved it (the
            first model key or optimizer group that differs); or it stopped
            mid-epoch with another number of processes or batches per epoch.
    """
    missing = [key for key in TRAINING_KEYS if not isinstance(checkpoint, dict) or key not in checkpoint]
    if missing:
        raise ResumeError(
            f'cannot resume from {path}: it has no {missing} (a weights file, not a training checkpoint); '
            f'start from its weights with --cfg-options load_from={path}'
        )
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    mismatch = _first_state_mismatch(model.state_dict(), checkpoint['state_dict'])
    if mismatch is None and 'optimizer' in checkpoint and not isinstance(runner.optim_wrapper, dict):
        mismatch = _first_optimizer_mismatch(runner.optim_wrapper.state_dict(), checkpoint['optimizer'], 'optimizer')
    if mismatch is not None:
        raise ResumeError(
            f'cannot resume from {path}: another config saved it ({mismatch}); '
            f'start from its weights with --cfg-options load_from={path}'
        )
    try:
        state = ResumeState.from_checkpoint(checkpoint)
    except ResumeError as error:
        raise ResumeError(f'cannot resume from {path}: {error}') from error
    _check_data_position(path, state, runner)


def _first_state_mismatch(current: dict, saved: dict) -> str | None:
    """The first model key missing from, added to or shaped differently in ``saved``."""
    saved = strip_wrapper_prefix(saved)
    for key, value in current.items():
        if key not in saved:
            return f'model key {key} is not in the checkpoint'
        if hasattr(value, 'shape') and tuple(saved[key].shape) != tuple(value.shape):
            return f'model key {key}: shape {tuple(saved[key].shape)} in the checkpoint, {tuple(value.shape)} here'
    extra = next((key for key in saved if key not in current), None)
    return None if extra is None else f'checkpoint key {extra} is not in the model'


def _first_optimizer_mismatch(current: dict, saved: Any, key: str) -> str | None:
    """The first optimizer (or optimizer of an ``OptimWrapperDict``) whose parameter groups differ."""
    if not isinstance(saved, dict):
        return f'{key} is missing from the checkpoint'
    if 'param_groups' not in current:  # OptimWrapperDict: one state dict per name
        for name, state in current.items():
            mismatch = _first_optimizer_mismatch(state, saved.get(name), f'{key}.{name}')
            if mismatch is not None:
                return mismatch
        return None
    ours, theirs = current['param_groups'], saved.get('param_groups', [])
    if len(ours) != len(theirs):
        return f'{key}.param_groups: {len(theirs)} groups in the checkpoint, {len(ours)} here'
    for i, (group, saved_group) in enumerate(zip(ours, theirs, strict=True)):
        if len(group['params']) != len(saved_group['params']):
            return (
                f'{key}.param_groups.{i}: {len(saved_group["params"])} parameters in the checkpoint, '
                f'{len(group["params"])} here'
            )
    return None


def _check_data_position(path: str, state: ResumeState | None, runner: Runner) -> None:
    """A mid-epoch checkpoint continues only with the same processes and batches per epoch."""
    if state is None or not state.mid_epoch:
        return
    loop = runner.train_loop
    batches = len(loop.dataloader) if isinstance(loop, BaseLoop) else None
    for name, saved, here in (
        ('processes', state.world_size, get_world_size()),
        ('batches per epoch', state.batches_per_epoch, batches),
    ):
        if saved != here:
            raise ResumeError(
                f'cannot resume from {path}: it stopped inside an epoch with {saved} {name}, this run has {here}; '
                f'resume from an epoch checkpoint (--resume work_dir/epoch_N.pth) or use the same set-up'
            )
