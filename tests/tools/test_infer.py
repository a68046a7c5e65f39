"""tools/infer.py on image folders: drawings, the JSON of predictions, failing images, name collisions, bad input."""

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.usefixtures('one_thread')


@pytest.fixture(scope='module')
def infer(load_tool: Callable[[str], ModuleType]) -> ModuleType:
    return load_tool('tools/infer.py')


@pytest.fixture(scope='module')
def fixtures(load_tool: Callable[[str], ModuleType]) -> ModuleType:
    return load_tool('tests/deploy/deploy_fixtures.py')


@pytest.fixture(scope='module')
def classifier(fixtures: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The Atto classifier config with three classes and random weights (config, checkpoint)."""
    return fixtures.classifier_checkpoint(tmp_path_factory.mktemp('classifier'))


@pytest.fixture(scope='module')
def segmentor(fixtures: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The UperNet Atto demo config with random weights (config, checkpoint)."""
    return fixtures.segmentor_checkpoint(tmp_path_factory.mktemp('segmentor'))


@pytest.fixture(scope='module')
def folder(fixtures: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two readable images and a file with an image suffix that is not an image."""
    images = fixtures.write_images(tmp_path_factory.mktemp('inputs'))
    (images[0].parent / 'broken.jpg').write_bytes(b'not a jpeg')
    return images[0].parent


ROOT = Path(__file__).resolve().parents[2]


def test_classifier_writes_topk_drawings_and_records_unreadable_files(
    infer: ModuleType,
    fixtures: ModuleType,
    classifier: tuple[Path, Path],
    folder: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    config, checkpoint = classifier
    out = tmp_path / 'out'
    code = infer.main([str(config), str(checkpoint), str(folder), '--out-dir', str(out), '--batch-size', '2'])
    captured = capsys.readouterr()
    assert code == infer.SOME_FAILED_EXIT == 1
    # The summary starts its own line after mmengine's progress bar, which ends without a newline.
    assert any(line.startswith('infer: 2 of 3 images predicted (1 failed)') for line in captured.out.splitlines())
    assert f'warning: failed {folder / "broken.jpg"}: not a decodable image' in captured.err
    assert captured.err.strip().splitlines()[-1] == (
        f'error: 1 of 3 images failed, listed in {out / "predictions.json"}; '
        f'first: {folder / "broken.jpg"}: not a decodable image'
    )
    result = json.loads((out / 'predictions.json').read_text())
    assert result['task'] == 'classification' and result['classes'] == list(fixtures.CLASSES)
    assert [Path(p['image']).name for p in result['predictions']] == ['noise.png', 'shapes.png']
    assert result['failed'] == [{'image': str(folder / 'broken.jpg'), 'reason': 'not a decodable image'}]
    for prediction in result['predictions']:
        topk = prediction['topk']
        assert len(topk) == len(fixtures.CLASSES) and sorted(t['label'] for t in topk) == [0, 1, 2]
        assert abs(sum(t['score'] for t in topk) - 1) < 1e-4
        assert (out / prediction['vis']).is_file()


def test_segmentor_writes_class_map_pngs(
    infer: ModuleType, segmentor: tuple[Path, Path], folder: Path, tmp_path: Path
) -> None:
    config, checkpoint = segmentor
    image = folder / 'noise.png'
    out = tmp_path / 'out'
    assert infer.main([str(config), str(checkpoint), str(image), '--out-dir', str(out)]) == 0
    (prediction,) = json.loads((out / 'predictions.json').read_text())['predictions']
    class_map = np.asarray(Image.open(out / prediction['sem_seg']))
    assert class_map.shape == (80, 112) and class_map.max() < 5
    assert sum(prediction['pixels'].values()) == 80 * 112
    drawn = Image.open(out / prediction['vis'])
    assert drawn.size == (112, 80)


@pytest.mark.parametrize(
    ('mutation', 'message'),
    [('drop', 'does not fit .* 1 missing keys \\(backbone.stages.0.0.grn.gamma\\)'), ('rename', '1 unexpected keys')],
)
def test_checkpoint_that_does_not_fit_the_config_is_one_error_line(
    infer: ModuleType,
    fixtures: ModuleType,
    folder: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    mutation: str,
    message: str,
) -> None:
    import re

    import torch

    config, checkpoint = fixtures.classifier_checkpoint(tmp_path / 'model')
    saved = torch.load(checkpoint, weights_only=False)
    gamma = saved['state_dict'].pop('backbone.stages.0.0.grn.gamma')
    if mutation == 'rename':
        saved['state_dict']['backbone.stages.0.0.grn.weight'] = gamma
        saved['state_dict']['backbone.stages.0.0.grn.gamma'] = gamma
    torch.save(saved, checkpoint)
    code = infer.main([str(config), str(checkpoint), str(folder), '--out-dir', str(tmp_path / 'out')])
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and error.startswith('error: checkpoint ') and re.search(message, error), error


def test_a_file_that_is_not_an_image_given_alone_is_one_error_line(
    infer: ModuleType, classifier: tuple[Path, Path], folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    config, checkpoint = classifier
    out = tmp_path / 'out'
    code = infer.main([str(config), str(checkpoint), str(folder / 'broken.jpg'), '--out-dir', str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.strip().splitlines()[-1] == f'error: {folder / "broken.jpg"}: not a decodable image'
    assert 'warning: failed' not in err  # the error line alone names the file
    assert not (out / 'predictions.json').exists() and not (out / 'vis').exists()


def save_image(path: Path, height: int, width: int, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def test_images_the_segmentor_cannot_run_on_fail_alone(
    infer: ModuleType, segmentor: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    config, checkpoint = segmentor
    inputs = tmp_path / 'inputs'
    save_image(inputs / 'a_good.png', 80, 112)
    save_image(inputs / 'dot.png', 1, 1)
    save_image(inputs / 'wide.png', 8, 1024)  # 128x1 after the test pipeline's resize: too thin for the stem
    out = tmp_path / 'out'
    code = infer.main([str(config), str(checkpoint), str(inputs), '--out-dir', str(out), '--batch-size', '3'])
    captured = capsys.readouterr()
    assert code == 1
    result = json.loads((out / 'predictions.json').read_text())
    assert [Path(p['image']).name for p in result['predictions']] == ['a_good.png']
    assert (out / result['predictions'][0]['sem_seg']).is_file()
    reasons = {Path(failure['image']).name: failure['reason'] for failure in result['failed']}
    assert sorted(reasons) == ['dot.png', 'wide.png']
    assert reasons['wide.png'].startswith('the model or its drawing failed on this 1024x8 image: RuntimeError: ')
    assert 'Kernel size' in reasons['wide.png']
    assert reasons['dot.png'].startswith('the model or its drawing failed on this 1x1 image: ')
    assert captured.err.strip().splitlines()[-1] == (
        f'error: 2 of 3 images failed, listed in {out / "predictions.json"}; '
        f'first: {inputs / "dot.png"}: {reasons["dot.png"]}'
    )


def test_outputs_of_images_with_the_same_name_do_not_overwrite_each_other(
    infer: ModuleType, classifier: tuple[Path, Path], tmp_path: Path
) -> None:
    config, checkpoint = classifier
    sizes = {'a/x.jpg': (30, 40), 'a/x.png': (20, 50), 'b/X.png': (36, 24)}
    for seed, (name, (height, width)) in enumerate(sizes.items()):
        save_image(tmp_path / name, height, width, seed)
    out = tmp_path / 'out'
    assert (
        infer.main([str(config), str(checkpoint), str(tmp_path / 'a'), str(tmp_path / 'b'), '--out-dir', str(out)]) == 0
    )
    predictions = json.loads((out / 'predictions.json').read_text())['predictions']
    assert [p['vis'] for p in predictions] == ['vis/x.png', 'vis/x_2.png', 'vis/X_3.png']
    for prediction in predictions:
        name = str(Path(prediction['image']).relative_to(tmp_path))
        height, width = sizes[name]
        assert Image.open(out / prediction['vis']).size == (width, height), name  # the drawing of that image


def test_help_does_not_import_torch_or_onnx() -> None:
    code = (
        'import runpy, sys\n'
        "sys.argv = ['tools/infer.py', '--help']\n"
        'try:\n'
        "    runpy.run_path('tools/infer.py', run_name='__main__')\n"
        'except SystemExit as exit:\n'
        '    assert exit.code == 0\n'
        "print(sorted(name for name in ('torch', 'onnx', 'onnxruntime', 'mmdet', 'mmcv') if name in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert 'exit codes: 0 every image predicted; 1 some images failed' in ' '.join(result.stdout.split())
    assert result.stdout.strip().splitlines()[-1] == '[]'


def test_missing_inputs_are_one_error_line(
    infer: ModuleType, classifier: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    config, checkpoint = classifier
    code = infer.main([str(config), str(checkpoint), str(tmp_path / 'nothing*.png')])
    assert code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: no image found at '{tmp_path / 'nothing*.png'}' (expected an image file, a folder or a glob pattern)"
    )
