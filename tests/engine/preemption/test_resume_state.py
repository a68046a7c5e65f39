"""The record a checkpoint carries for resuming: its stored form, and the one-line errors of a record it cannot read."""

import io

import pytest
import torch

from convnext.engine.preemption.random_state import get_random_state
from convnext.engine.preemption.state import (
    EPOCH_START,
    IN_EPOCH,
    RESUME_STATE_KEY,
    RESUME_STATE_VERSION,
    ResumeError,
    ResumeState,
)

STORED_FIELDS = [
    'version',
    'phase',
    'position',
    'data_epoch',
    'batches_per_epoch',
    'sample_seed',
    'sampler_seed',
    'world_size',
    'random',
]
"""The keys of a version-1 record, as checkpoints on disk have them."""


def make_state(**changes: object) -> ResumeState:
    position = dict(phase=IN_EPOCH, position=3, data_epoch=1, batches_per_epoch=8)
    seeds = dict(sample_seed=0, sampler_seed=7)
    values = dict(**position, **seeds, world_size=2, random=[get_random_state(cuda=False), {'rank': 1}])
    return ResumeState(**{**values, **changes})


def test_stored_form_is_a_plain_dict_with_the_version_1_keys() -> None:
    stored = make_state().to_dict()
    assert list(stored) == STORED_FIELDS and stored['version'] == RESUME_STATE_VERSION == 1
    assert stored['phase'] == 'in_epoch' and stored['position'] == 3 and stored['world_size'] == 2


def test_round_trip_through_a_weights_only_checkpoint() -> None:
    state = make_state()
    buffer = io.BytesIO()
    torch.save({RESUME_STATE_KEY: state.to_dict()}, buffer)
    buffer.seek(0)
    loaded = ResumeState.from_checkpoint(torch.load(buffer, weights_only=True))
    assert loaded is not None
    assert (loaded.phase, loaded.position, loaded.data_epoch, loaded.batches_per_epoch) == (IN_EPOCH, 3, 1, 8)
    assert (loaded.sample_seed, loaded.sampler_seed, loaded.world_size) == (0, 7, 2)
    assert torch.equal(loaded.random[0]['torch'], state.random[0]['torch'])


def test_checkpoint_without_a_record() -> None:
    assert ResumeState.from_checkpoint({'meta': {}}) is None


@pytest.mark.parametrize(
    ('change', 'message'),
    [
        ({'version': 2}, r'^resume_state has version 2; this convnext reads version 1 \('),
        ({'version': None}, r'^resume_state has version None; this convnext reads version 1'),
        ({'position': None}, r"^resume_state \(version 1\) lacks fields \['position'\]$"),
        ({'extra': 1}, r"^resume_state \(version 1\) has unknown fields \['extra'\]$"),
    ],
    ids=['newer_version', 'no_version', 'missing_field', 'unknown_field'],
)
def test_unreadable_record_is_one_line(change: dict, message: str) -> None:
    stored = make_state().to_dict()
    for key, value in change.items():
        if value is None:
            stored.pop(key)
        else:
            stored[key] = value
    with pytest.raises(ResumeError, match=message) as error:
        ResumeState.from_dict(stored)
    assert '\n' not in str(error.value)


def test_record_that_is_not_a_dict() -> None:
    with pytest.raises(ResumeError, match='^resume_state is a list, not a dict$'):
        ResumeState.from_checkpoint({RESUME_STATE_KEY: [1, 2]})


def test_random_state_only_for_the_same_world_size() -> None:
    state = make_state()
    assert state.random_state_of(1, 2) == {'rank': 1}
    assert state.random_state_of(0, 4) is None


@pytest.mark.parametrize(
    ('phase', 'position', 'mid_epoch'),
    [(IN_EPOCH, 3, True), (IN_EPOCH, 0, False), (EPOCH_START, 0, False)],
)
def test_mid_epoch(phase: str, position: int, mid_epoch: bool) -> None:
    assert make_state(phase=phase, position=position).mid_epoch is mid_epoch
