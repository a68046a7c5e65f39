"""Session fixtures of the deployment tests (built by :mod:`deploy_fixtures`)."""

from collections.abc import Callable
from pathlib import Path

import deploy_fixtures
import pytest


@pytest.fixture(scope='session')
def random_checkpoint() -> Callable:
    """``random_checkpoint(cfg, folder, classes) -> (config, checkpoint)`` with random weights."""
    return deploy_fixtures.save_random_checkpoint


@pytest.fixture(scope='session')
def classifier_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return deploy_fixtures.classifier_checkpoint(tmp_path_factory.mktemp('classifier'))


@pytest.fixture(scope='session')
def segmentor_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return deploy_fixtures.segmentor_checkpoint(tmp_path_factory.mktemp('segmentor'))


@pytest.fixture(scope='session')
def images(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return deploy_fixtures.write_images(tmp_path_factory.mktemp('images'))


@pytest.fixture(scope='session')
def trained_detector(tmp_path_factory: pytest.TempPathFactory, load_tool: Callable) -> dict[str, Path]:
    """The detection demo's model trained for a few iterations (shared by every detector test)."""
    return deploy_fixtures.train_detector(tmp_path_factory.mktemp('detector'), load_tool)
