"""tools/deployment/export_onnx.py: export, onnxruntime check, benchmark table, and one-line errors on bad input."""

import re
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import onnxruntime
import pytest

pytestmark = pytest.mark.usefixtures('one_thread')

ORT_MISSING_KERNEL = (
    '[ONNXRuntimeError] : 9 : NOT_IMPLEMENTED : Could not find an implementation for Conv(11) node with name '
    "'/model/backbone/downsample_layers.0/downsample_layers.0.0/Conv'"
)
"""What onnxruntime says when its provider has no kernel for a node's type (e.g. a float16 Conv)."""


@pytest.fixture(scope='module')
def export(load_tool: Callable[[str], ModuleType]) -> ModuleType:
    return load_tool('tools/deployment/export_onnx.py')


@pytest.fixture(scope='module')
def classifier(load_tool: Callable[[str], ModuleType], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return load_tool('tests/deploy/deploy_fixtures.py').classifier_checkpoint(tmp_path_factory.mktemp('classifier'))


@pytest.fixture(scope='module')
def segmentor(load_tool: Callable[[str], ModuleType], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return load_tool('tests/deploy/deploy_fixtures.py').segmentor_checkpoint(tmp_path_factory.mktemp('segmentor'))


def test_classifier_export_checks_and_benchmarks(
    export: ModuleType, classifier: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / 'cls.onnx'
    args = [
        *map(str, classifier),
        '--out',
        str(out),
        '--shape',
        '64',
        '--dynamic',
        '--benchmark',
        '2',
        '--threads',
        '1',
    ]
    assert export.main(args) == 0
    printed = capsys.readouterr().out
    assert out.is_file() and 'input (1, 3, 64, 64) dynamic, opset 17' in printed
    difference = float(re.search(r'max \|onnxruntime - PyTorch float32\| = (\S+)', printed).group(1))
    assert difference <= 1e-4
    assert re.search(r'CPU: .+', printed)
    assert re.search(r'\| classification \| \(1, 3, 64, 64\) \| [\d.]+ \| [\d.]+ \| [\d.]+x \|', printed)


def test_segmentor_fp16_export_reads_float32_statistics(
    export: ModuleType, segmentor: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / 'seg16.onnx'
    assert export.main([*map(str, segmentor), '--out', str(out), '--shape', '64', '96', '--fp16']) == 0
    printed = capsys.readouterr().out
    assert 'input (1, 3, 64, 96)' in printed and ', fp16' in printed
    assert re.search(r'fp16 graph: all [1-9]\d* GRN/LayerNorm statistics nodes read float32', printed)


def test_default_shape_comes_from_the_test_pipeline(export: ModuleType, segmentor: tuple[Path, Path]) -> None:
    from mmengine.config import Config

    cfg = Config.fromfile(str(segmentor[0]))
    assert export.default_shape(cfg, 'segmentation', 32) == (128, 128)  # Resize scale (128, 128), whole-image test
    cfg.model.test_cfg = dict(mode='slide', crop_size=(96, 64), stride=(64, 48))
    assert export.default_shape(cfg, 'segmentation', 32) == (96, 64)


CONFIDENT_LOGIT = 3.0
"""Added to the first class's logit in every box head of the random Cascade Mask R-CNN: scores near 0.88, so that
the check has confident detections to match."""


@pytest.fixture(scope='module')
def detector(load_tool: Callable[[str], ModuleType], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The slimmed Cascade Mask R-CNN (random weights, confident first class) and a 256x100 image of shapes."""
    import numpy as np
    import torch
    from PIL import Image

    fixtures = load_tool('tests/deploy/deploy_fixtures.py')
    folder = tmp_path_factory.mktemp('cascade')
    config, checkpoint = fixtures.cascade_checkpoint(folder)
    saved = torch.load(checkpoint, weights_only=False)
    for key, value in saved['state_dict'].items():
        if key.endswith('fc_cls.bias'):
            value[0] += CONFIDENT_LOGIT
    torch.save(saved, checkpoint)
    shapes = np.asarray(Image.open(fixtures.write_images(folder / 'images')[0]).convert('RGB'))
    image = folder / 'wide.png'
    Image.fromarray(np.concatenate([shapes, shapes], axis=1)[:100]).save(image)
    return {'config': config, 'checkpoint': checkpoint, 'image': image}


def test_detector_export_matches_mmdet_on_non_square_images(
    export: ModuleType, detector: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    args = [str(detector['config']), str(detector['checkpoint']), '--out', str(tmp_path / 'det.onnx')]
    assert export.main([*args, '--image', str(detector['image']), '--threads', '1']) == 0
    printed = capsys.readouterr().out
    assert 'input (1, 3, 64, 128) dynamic, opset 17' in printed  # the 256x100 image resized to 128x50, padded
    checks = re.findall(r'onnxruntime check on (.+): (\d+) detections matched: box IoU >= ([\d.]+)', printed)
    assert [name for name, _, _ in checks] == [
        f'{detector["image"]} (256x100)',
        f'{detector["image"]} (256x100) beside its mirror image (512x100)',
    ]
    assert all(int(count) > 0 and float(iou) >= 0.99 for _, count, iou in checks)


def test_detector_check_names_a_detection_pytorch_does_not_reproduce(
    export: ModuleType,
    detector: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reference = export.mmdet_detections

    def shifted(model: object, image: str) -> dict:
        """mmdet's detections 8 pixels lower: what a graph clipping to the padded input gives near the border."""
        detections = reference(model, image)
        return {**detections, 'bboxes': detections['bboxes'] + [0, 8, 0, 8]}

    monkeypatch.setattr(export, 'mmdet_detections', shifted)
    args = [str(detector['config']), str(detector['checkpoint']), '--out', str(tmp_path / 'det.onnx')]
    error = run_expecting_error(export, [*args, '--image', str(detector['image'])], capsys)
    assert error.startswith(
        f'error: {tmp_path / "det.onnx"} does not reproduce PyTorch on {detector["image"]} (256x100)'
    )
    assert re.search(r': onnxruntime detection \[[\d., ]+\] label 0 score 0\.\d+ vs PyTorch \[', error)
    assert 'box IoU' in error and '(at least 0.99)' in error


def run_expecting_error(export: ModuleType, args: list[str], capsys: pytest.CaptureFixture) -> str:
    assert export.main(args) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: '), lines
    return lines[0]


def test_shape_not_divisible_by_the_stride(
    export: ModuleType, classifier: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    args = [*map(str, classifier), '--out', str(tmp_path / 'x.onnx'), '--shape', '100', '96']
    error = run_expecting_error(export, args, capsys)
    assert 'must be multiples of the model stride 32' in error and '(e.g. 128 96)' in error


def test_checkpoint_of_another_model(
    export: ModuleType,
    classifier: tuple[Path, Path],
    segmentor: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    args = [str(classifier[0]), str(segmentor[1]), '--out', str(tmp_path / 'x.onnx')]
    error = run_expecting_error(export, args, capsys)
    assert f'checkpoint {segmentor[1]} does not fit' in error and 'missing keys (head.fc.weight' in error


def test_fp16_on_a_runtime_without_fp16_kernels(
    export: ModuleType,
    classifier: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class NoHalfKernels:
        """onnxruntime as a build without float16 kernels answers a float16 graph."""

        def __init__(self, *args: object, **kwargs: object) -> None:
            raise onnxruntime.capi.onnxruntime_pybind11_state.NotImplemented(ORT_MISSING_KERNEL)

    monkeypatch.setattr(onnxruntime, 'InferenceSession', NoHalfKernels)
    args = [*map(str, classifier), '--out', str(tmp_path / 'x.onnx'), '--shape', '64', '--fp16']
    error = run_expecting_error(export, args, capsys)
    assert 'no kernel for Conv(11) node' in error and 'export it without --fp16' in error
