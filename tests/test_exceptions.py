"""convnext.exceptions: what a checkpoint that torch.load cannot read becomes."""

from pathlib import Path

from convnext.exceptions import CheckpointReadError, as_read_error


def test_read_errors_name_the_file_and_leave_disallowed_types_alone(tmp_path: Path) -> None:
    error = as_read_error(str(tmp_path / 'x.pth'), RuntimeError('PytorchStreamReader failed reading zip archive: x'))
    assert isinstance(error, CheckpointReadError)
    assert str(error).startswith(f'{tmp_path / "x.pth"} is not a readable PyTorch checkpoint (truncated or corrupt?)')
    assert as_read_error('x.pth', RuntimeError('Unsupported global: GLOBAL os.system')) is None
