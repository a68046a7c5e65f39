"""The random state of a training process as plain data, and per-sample seeds.

A checkpoint that resumes to exactly the weights of an uninterrupted run must
carry every generator that training draws from: Python's ``random``, NumPy's
global generator, torch's CPU generator and, per device, its CUDA generators.
:func:`get_random_state` returns them as tensors, lists and numbers only, so
``torch.load(weights_only=True)`` reads them without an allowlist.

Data-loader workers cannot be captured that way (they are other processes, and
which worker loads which batch depends on where the epoch started), so each
sample is loaded with the generators seeded from :func:`derive_seed` of the
run's seed, the rank and the sample's place in the epoch instead.
"""

import contextlib
import random
from collections.abc import Iterator

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_world_size

NUMPY_BIT_GENERATOR = 'MT19937'
"""The algorithm of NumPy's legacy global generator (``np.random.get_state()[0]``)."""

SEED_MASK = (1 << 64) - 1
"""Seed parts are taken modulo 2**64 (``SeedSequence`` needs non-negative integers)."""


def get_random_state(cuda: bool = True) -> dict:
    """The state of the global generators of this process.

    Args:
        cuda: Include the CUDA generators of every visible device (when CUDA is
            available). Defaults to True.

    Returns:
        ``{'python': ..., 'numpy': ..., 'torch': uint8 tensor, 'cuda': [uint8 tensor]}``.
    """
    version, internal, gauss_next = random.getstate()
    name, key, pos, has_gauss, gauss = np.random.get_state(legacy=True)
    return {
        'python': {'version': version, 'internal': torch.tensor(internal, dtype=torch.int64), 'gauss': gauss_next},
        'numpy': {
            'key': torch.from_numpy(key.astype(np.int64)),
            'pos': int(pos),
            'has_gauss': int(has_gauss),
            'gauss': float(gauss),
        },
        'torch': torch.get_rng_state(),
        'cuda': torch.cuda.get_rng_state_all() if cuda and torch.cuda.is_available() else [],
    }


def set_random_state(state: dict) -> None:
    """Restores what :func:`get_random_state` returned (CUDA generators only if both sides have them)."""
    python = state['python']
    random.setstate((python['version'], tuple(python['internal'].tolist()), python['gauss']))
    numpy = state['numpy']
    key = numpy['key'].cpu().numpy().astype(np.uint32)
    np.random.set_state((NUMPY_BIT_GENERATOR, key, numpy['pos'], numpy['has_gauss'], numpy['gauss']))
    torch.set_rng_state(state['torch'].cpu())
    if state['cuda'] and torch.cuda.is_available():
        devices = min(len(state['cuda']), torch.cuda.device_count())
        for device, cuda_state in enumerate(state['cuda'][:devices]):
            torch.cuda.set_rng_state(cuda_state.cpu(), device)


@contextlib.contextmanager
def preserved_random_state(cuda: bool = True) -> Iterator[None]:
    """Runs a block without changing the global generators (their state is restored on exit).

    Args:
        cuda: Preserve the CUDA generators too. Defaults to True.
    """
    python, numpy, cpu = random.getstate(), np.random.get_state(), torch.get_rng_state()  # native: no conversion
    devices = torch.cuda.get_rng_state_all() if cuda and torch.cuda.is_available() else None
    try:
        yield
    finally:
        random.setstate(python)
        np.random.set_state(numpy)
        torch.set_rng_state(cpu)
        if devices is not None:
            torch.cuda.set_rng_state_all(devices)


def gather_random_states() -> list[dict]:
    """Every rank's :func:`get_random_state`, indexed by rank (a collective call in a distributed run)."""
    state = get_random_state()
    if get_world_size() == 1:
        return [state]
    return all_gather_object(state)


def derive_seed(*keys: int) -> int:
    """A 32-bit seed that depends on all of ``keys`` (e.g. seed, rank, epoch, batch, slot).

    NumPy's ``SeedSequence`` hashes the keys, so neighbouring keys give
    unrelated streams.
    """
    return int(np.random.SeedSequence([key & SEED_MASK for key in keys]).generate_state(1)[0])


def seed_cpu_generators(seed: int) -> None:
    """Seeds Python's, NumPy's and torch's CPU global generators (not CUDA's) with ``seed``."""
    random.seed(seed)
    np.random.seed(seed)
    torch.default_generator.manual_seed(seed)
