"""What a checkpoint carries to resume exactly: one typed, versioned record, and its only reader and writer.

:class:`ResumeState` is stored as the plain dict of :meth:`ResumeState.to_dict`
under :data:`RESUME_STATE_KEY` of a Runner checkpoint (numbers, strings,
tensors and lists only, so ``torch.load(weights_only=True)`` reads it).
:meth:`ResumeState.from_checkpoint` reads it back and refuses, with one line,
a version this code does not read or a record with missing or unknown fields.
A new field is added to the dataclass (and its test) and nowhere else; a
change to the meaning of a field raises :data:`RESUME_STATE_VERSION`.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from ...exceptions import ConfigError

RESUME_STATE_KEY = 'resume_state'
"""Key of the record in a Runner checkpoint."""

RESUME_STATE_VERSION = 1
"""Version of the record this code writes and reads."""

Phase = Literal['in_epoch', 'epoch_start']
"""Where in the loop the state was captured."""

IN_EPOCH: Phase = 'in_epoch'
"""Captured after an iteration: restored once the epoch's data iterator exists."""

EPOCH_START: Phase = 'epoch_start'
"""Captured between epochs: restored before the next epoch begins."""


class ResumeError(ConfigError):
    """A checkpoint that ``--resume`` cannot continue from (another config, another world size, weights only)."""


@dataclass(frozen=True)
class ResumeState:
    """The data position and random state of a training run at a stop point.

    Args:
        phase: :data:`IN_EPOCH` or :data:`EPOCH_START`.
        position: Batches of the current pass already trained (0 at an epoch start).
        data_epoch: The sampler epoch of the pass that continues.
        batches_per_epoch: Batches per pass of the train dataloader (a
            mid-epoch position is valid only for the same number).
        sample_seed: Run seed of the per-sample seeds
            (:class:`~convnext.engine.preemption.data.ResumableBatchSampler`);
            None for a dataloader built elsewhere.
        sampler_seed: The index sampler's shuffling seed; None when it has none.
        world_size: Processes of the run that saved it.
        random: Every rank's generator states
            (:func:`~convnext.engine.preemption.random_state.get_random_state`),
            indexed by rank.
    """

    version: int = field(default=RESUME_STATE_VERSION, init=False)
    phase: Phase
    position: int
    data_epoch: int
    batches_per_epoch: int
    sample_seed: int | None
    sampler_seed: int | None
    world_size: int
    random: list[dict]

    def to_dict(self) -> dict[str, Any]:
        """The record as stored in a checkpoint: ``{'version': ..., 'phase': ..., ...}`` (values not copied)."""
        return {item.name: getattr(self, item.name) for item in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> 'ResumeState':
        """The record of :meth:`to_dict`'s output.

        Raises:
            ResumeError: ``data`` is not a dict, has another version, or lacks
                (or has unknown) fields.
        """
        if not isinstance(data, Mapping):
            raise ResumeError(f'{RESUME_STATE_KEY} is a {type(data).__name__}, not a dict')
        version = data.get('version')
        if version != RESUME_STATE_VERSION:
            raise ResumeError(
                f'{RESUME_STATE_KEY} has version {version!r}; this convnext reads version {RESUME_STATE_VERSION} '
                '(resume with the convnext that saved it, or start from its weights with load_from)'
            )
        names = [item.name for item in fields(cls) if item.init]
        missing = [name for name in names if name not in data]
        unknown = [name for name in data if name != 'version' and name not in names]
        problems = [f'lacks fields {missing}'] * bool(missing) + [f'has unknown fields {unknown}'] * bool(unknown)
        if problems:
            raise ResumeError(f'{RESUME_STATE_KEY} (version {version}) {" and ".join(problems)}')
        return cls(**{name: data[name] for name in names})

    @classmethod
    def from_checkpoint(cls, checkpoint: Mapping[str, Any]) -> 'ResumeState | None':
        """The record of a checkpoint; None when it has none (saved without the preemption hook).

        Raises:
            ResumeError: The record cannot be read (see :meth:`from_dict`).
        """
        data = checkpoint.get(RESUME_STATE_KEY)
        return None if data is None else cls.from_dict(data)

    def random_state_of(self, rank: int, world_size: int) -> dict | None:
        """The generator states ``rank`` saved; None when this run has another number of processes."""
        return self.random[rank] if world_size == self.world_size else None

    @property
    def mid_epoch(self) -> bool:
        """Whether the run stopped inside an epoch (after some, not all, of its batches)."""
        return self.phase == IN_EPOCH and self.position > 0
