"""Training data that a resumed run regenerates exactly, from any batch of any epoch.

Three pieces, put around the config's own dataset and samplers by
:func:`resumable_dataloader_cfg` (the preemptible train loops call it):

- :class:`ResumableBatchSampler` wraps the batch sampler (mmdet's
  ``AspectRatioBatchSampler``, or torch's plain one) and can skip the batches
  an interrupted epoch already consumed, without loading them. It tags every
  index with a seed derived from (run seed, rank, epoch, batch, slot).
- :class:`SeededDataset` wraps the dataset and loads each tagged index with
  Python's, NumPy's and torch's CPU generators seeded from its tag, so random
  augmentations do not depend on which worker loads the sample or on what that
  worker loaded before. In the main process (``num_workers=0``) the training
  process's own generators are left as they were.
- :func:`worker_init` makes data-loader workers ignore the stop signals
  unless their own main process sends them: the cluster signals every
  process of the job, and the main process shuts its workers down itself
  once the checkpoint is written.
"""

import copy
import os
import signal
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from mmengine.dataset import worker_init_fn as mmengine_worker_init_fn
from mmengine.dist import get_rank
from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from torch.utils.data import BatchSampler, Sampler, get_worker_info

from ...registry import DATA_SAMPLERS, DATASETS
from .contract import STOP_SIGNALS
from .random_state import derive_seed, preserved_random_state, seed_cpu_generators

SeededIndex = tuple[int, int]
"""A dataset index and the seed its sample is loaded with."""

SEEDED_DATASET = 'convnext.SeededDataset'
RESUMABLE_BATCH_SAMPLER = 'convnext.ResumableBatchSampler'


@DATASETS.register_module()
class SeededDataset:
    """Loads each sample with the global generators seeded from the sample's own seed.

    Indexed with a :data:`SeededIndex` ``(index, seed)`` (what
    :class:`ResumableBatchSampler` yields), it seeds Python's, NumPy's and
    torch's CPU generators with ``seed`` and returns ``dataset[index]``; in the
    main process the generators are restored afterwards. A plain integer index
    is passed through unseeded. Every other attribute (``metainfo``,
    ``get_data_info``, ``pipeline``, ...) is the wrapped dataset's, for
    reading and for setting.

    Args:
        dataset: The dataset, or its config (built in the current default scope).
    """

    def __init__(self, dataset: dict | Any) -> None:
        built = MMENGINE_DATASETS.build(copy.deepcopy(dataset)) if isinstance(dataset, dict) else dataset
        object.__setattr__(self, 'dataset', built)

    def __getitem__(self, key: int | SeededIndex) -> Any:
        if not isinstance(key, tuple):
            return self.dataset[key]
        index, seed = key
        if get_worker_info() is not None:  # a worker process: its generators serve only its samples
            seed_cpu_generators(seed)
            return self.dataset[index]
        with preserved_random_state(cuda=False):
            seed_cpu_generators(seed)
            return self.dataset[index]

    def __len__(self) -> int:
        return len(self.dataset)

    def full_init(self) -> None:
        """Fully initialises the wrapped dataset, if it initialises lazily (mmengine's ``BaseDataset``)."""
        if hasattr(self.dataset, 'full_init'):
            self.dataset.full_init()

    def __getattr__(self, name: str) -> Any:
        dataset = self.__dict__.get('dataset')
        if dataset is None or (name.startswith('__') and name.endswith('__')):
            raise AttributeError(name)
        return getattr(dataset, name)

    def __setattr__(self, name: str, value: Any) -> None:
        # Hooks such as mmdet's PipelineSwitchHook set ``train_dataloader.dataset.pipeline``.
        setattr(self.dataset, name, value)


@DATA_SAMPLERS.register_module()
class ResumableBatchSampler(Sampler):
    """Wraps a batch sampler: skips already trained batches and tags indices with per-sample seeds.

    Each pass yields the wrapped batch sampler's batches as lists of
    ``(index, seed)`` with ``seed = derive_seed(seed, rank, epoch, batch, slot)``,
    where ``epoch`` is the sampler's (set by ``DistSamplerSeedHook``) and
    ``batch`` counts from the start of the pass. :meth:`skip_next` makes the
    next pass start at a later batch: the skipped batches are drawn from the
    wrapped batch sampler (indices only, so its own state such as mmdet's
    aspect-ratio buckets is the same as in the interrupted run) but not loaded.

    Args:
        sampler: The index sampler (given by mmengine's ``build_dataloader``).
        batch_size: Samples per batch (given by mmengine's ``build_dataloader``).
        batch_sampler: Config of the wrapped batch sampler, e.g.
            ``dict(type='AspectRatioBatchSampler')``; None for torch's
            ``BatchSampler``. Defaults to None.
        drop_last: Drop the last incomplete batch (torch's ``BatchSampler``
            only). Defaults to False.
        seed: Run seed of the per-sample seeds; None takes the sampler's
            ``seed`` (mmengine's samplers share it across ranks), else 0.
            Defaults to None.
        hold_first_pass: The first pass is empty unless :meth:`skip_next` was
            called before it (an iteration-based loop makes an iterator before
            it knows where to resume). Defaults to False.
    """

    def __init__(
        self,
        sampler: Sampler,
        batch_size: int,
        batch_sampler: dict | None = None,
        drop_last: bool = False,
        seed: int | None = None,
        hold_first_pass: bool = False,
    ) -> None:
        if batch_sampler is None:
            self.batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        else:
            self.batch_sampler = MMENGINE_DATA_SAMPLERS.build(
                copy.deepcopy(batch_sampler), default_args=dict(sampler=sampler, batch_size=batch_size)
            )
        self.seed = seed if seed is not None else getattr(sampler, 'seed', None) or 0
        self.rank = get_rank()
        self._skip: int | None = None if hold_first_pass else 0

    @property
    def sampler(self) -> Sampler:
        """The index sampler (``DistSamplerSeedHook`` sets its epoch through this attribute)."""
        return self.batch_sampler.sampler

    def skip_next(self, num_batches: int) -> None:
        """Makes the next pass start at batch ``num_batches`` (0: the first batch)."""
        self._skip = num_batches

    def __iter__(self) -> Iterator[list[SeededIndex]]:
        skip, self._skip = self._skip, 0
        if skip is None:
            return
        epoch = getattr(self.sampler, 'epoch', 0)
        for batch_idx, batch in enumerate(self.batch_sampler):
            if batch_idx >= skip:
                yield [
                    (index, derive_seed(self.seed, self.rank, epoch, batch_idx, slot))
                    for slot, index in enumerate(batch)
                ]

    def __len__(self) -> int:
        return len(self.batch_sampler)


def worker_init(
    worker_id: int,
    num_workers: int,
    rank: int,
    seed: int | None,
    signals: Sequence[str] = STOP_SIGNALS,
    disable_subprocess_warning: bool = False,
) -> None:
    """Data-loader worker start: ignore the stop signals (SIGTERM only from others than the main process),
    then seed as mmengine's default ``worker_init_fn``.

    Args:
        worker_id: Worker index in ``[0, num_workers)``.
        num_workers: Workers of the loader.
        rank: Process rank.
        seed: Run seed; None skips mmengine's seeding.
        signals: Names of the signals to ignore. Defaults to :data:`STOP_SIGNALS`.
        disable_subprocess_warning: Silence warnings in workers other than the first. Defaults to False.
    """
    for name in signals:
        if name != 'SIGTERM':
            signal.signal(getattr(signal, name), signal.SIG_IGN)
    if 'SIGTERM' in signals:
        # Block it and wait for it in a thread that can see the sender: the DataLoader's own SIGTERM (from the
        # main process, e.g. multiprocessing's exit) still ends the worker, the cluster's does not.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        threading.Thread(target=_exit_on_sigterm_from, args=(os.getppid(),), daemon=True).start()
    if seed is not None:
        mmengine_worker_init_fn(worker_id, num_workers, rank, seed, disable_subprocess_warning)


def _exit_on_sigterm_from(parent: int) -> None:
    """Ends the worker on a SIGTERM sent by ``parent`` and ignores the others (torch's rule for its workers)."""
    while True:
        if signal.sigwaitinfo({signal.SIGTERM}).si_pid == parent:
            os._exit(0)


def resumable_dataloader_cfg(dataloader: dict, seed: int | None, hold_first_pass: bool = False) -> dict:
    """A copy of a train dataloader config with :class:`SeededDataset`, :class:`ResumableBatchSampler` and
    :func:`worker_init` put around the config's own dataset, batch sampler and worker start.

    Args:
        dataloader: The ``train_dataloader`` config; not modified.
        seed: The run seed (``runner.seed``).
        hold_first_pass: See :class:`ResumableBatchSampler`. Defaults to False.
    """
    cfg = copy.deepcopy(dict(dataloader))
    if not _is_type(cfg.get('dataset'), SEEDED_DATASET):
        cfg['dataset'] = dict(type=SEEDED_DATASET, dataset=cfg['dataset'])
    if not _is_type(cfg.get('batch_sampler'), RESUMABLE_BATCH_SAMPLER):
        cfg['batch_sampler'] = dict(
            type=RESUMABLE_BATCH_SAMPLER,
            batch_sampler=cfg.pop('batch_sampler', None),
            drop_last=cfg.pop('drop_last', False),
            hold_first_pass=hold_first_pass,
        )
    if 'worker_init_fn' not in cfg:
        cfg['worker_init_fn'] = dict(
            type=worker_init,
            num_workers=cfg.get('num_workers', 0),
            rank=get_rank(),
            seed=seed,
            disable_subprocess_warning=cfg.pop('disable_subprocess_warning', False),
        )
    return cfg


def _is_type(cfg: Any, type_name: str) -> bool:
    """Whether ``cfg`` is a config dict of ``type_name`` (with or without the ``convnext.`` scope)."""
    return isinstance(cfg, dict) and cfg.get('type') in (type_name, type_name.split('.', 1)[1])
