"""The user-facing errors of the ``convnext`` package and its tools, in one place.

Every class here derives from :class:`ConfigError`: the tools print such an
error as one ``error: ...`` line and exit with code 2 (see
:func:`convnext.launch.exit_on_config_error`), so each message names the file,
key or value at fault and how to fix it. Models raise them without importing
the tools' start-up side (:mod:`convnext.launch`). This module is their one
import path.
"""

import pickle
import zipfile


class ConfigError(Exception):
    """A problem with the user's config, command line or input files, reported in one line."""


class CheckpointNotFoundError(ConfigError, FileNotFoundError):
    """A local checkpoint file named by the config or the command line does not exist."""


class CheckpointDownloadError(ConfigError, RuntimeError):
    """A checkpoint URL named by the config cannot be fetched."""


class CheckpointReadError(ConfigError, RuntimeError):
    """A checkpoint file exists but is not a readable PyTorch checkpoint (truncated or corrupt)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(
            f'{path} is not a readable PyTorch checkpoint (truncated or corrupt?): {reason}; download or copy it again'
        )
        self.path = path


class CheckpointMismatchError(ConfigError, ValueError):
    """A readable checkpoint whose weights do not fit the model (another architecture, or no model weights)."""


DISALLOWED_GLOBAL = 'Unsupported global'
"""What ``torch.load(weights_only=True)`` says of a readable file that holds a type outside its allowlist."""

UNPICKLER_PREFIX = 'WeightsUnpickler error:'
"""Precedes the unpickler's own reason in ``torch.load(weights_only=True)``'s long message."""

READ_FAILURES = (EOFError, zipfile.BadZipFile, pickle.UnpicklingError, RuntimeError, ValueError)
"""Exception types ``torch.load`` raises on a truncated or corrupt file (a bad zip archive or pickle stream)."""


def as_read_error(path: str, error: BaseException) -> CheckpointReadError | None:
    """The :class:`CheckpointReadError` for ``torch.load``'s failure on ``path``, or None for other failures.

    Args:
        path: The file ``torch.load`` read.
        error: What it raised. A file whose pickle refers to a type outside the
            ``weights_only`` allowlist is readable, so that is not a read error.
    """
    if isinstance(error, ConfigError) or not isinstance(error, READ_FAILURES) or DISALLOWED_GLOBAL in str(error):
        return None
    return CheckpointReadError(path, f'{type(error).__name__}: {_first_cause(str(error))}')


def _first_cause(message: str) -> str:
    """The informative part of torch's message: the unpickler's own line, else the first sentence."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if not lines:
        return 'the file ends early'
    for i, line in enumerate(lines[:-1]):
        if line.endswith(UNPICKLER_PREFIX):
            return lines[i + 1]
    return lines[0].split('. ')[0]
