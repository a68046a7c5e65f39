"""tools/infer.py on image folders: drawings, the JSON of predictions, unreadable files, bad input."""

import json
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
def folder(fixtures: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two readable images and a file with an image suffix that is not an image."""
    images = fixtures.write_images(tmp_path_factory.mktemp('inputs'))
    (images[0].parent / 'broken.jpg').write_bytes(b'not a jpeg')
    return images[0].parent


def test_classifier_writes_topk_drawings_and_skips_unreadable_files(
    infer: ModuleType, fixtures: ModuleType, folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    config, checkpoint = fixtures.classifier_checkpoint(tmp_path / 'model')
    out = tmp_path / 'out'
    assert infer.main([str(config), str(checkpoint), str(folder), '--out-dir', str(out), '--batch-size', '2']) == 0
    captured = capsys.readouterr()
    assert 'infer: 2 of 3 images predicted (1 unreadable, skipped)' in captured.out
    assert 'skipped' in captured.err and 'broken.jpg' in captured.err
    result = json.loads((out / 'predictions.json').read_text())
    assert result['task'] == 'classification' and result['classes'] == list(fixtures.CLASSES)
    assert [Path(p['image']).name for p in result['predictions']] == ['noise.png', 'shapes.png']
    assert [Path(s['image']).name for s in result['skipped']] == ['broken.jpg']
    for prediction in result['predictions']:
        topk = prediction['topk']
        assert len(topk) == len(fixtures.CLASSES) and sorted(t['label'] for t in topk) == [0, 1, 2]
        assert abs(sum(t['score'] for t in topk) - 1) < 1e-4
        assert (out / prediction['vis']).is_file()


def test_segmentor_writes_class_map_pngs(infer: ModuleType, fixtures: ModuleType, folder: Path, tmp_path: Path) -> None:
    config, checkpoint = fixtures.segmentor_checkpoint(tmp_path / 'model')
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


def test_missing_inputs_are_one_error_line(
    infer: ModuleType, fixtures: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    config, checkpoint = fixtures.classifier_checkpoint(tmp_path / 'model')
    code = infer.main([str(config), str(checkpoint), str(tmp_path / 'nothing*.png')])
    assert code == 2
    assert capsys.readouterr().err.strip() == f"error: no image found at '{tmp_path / 'nothing*.png'}' " + (
        '(expected an image file, a folder or a glob pattern)'
    )
