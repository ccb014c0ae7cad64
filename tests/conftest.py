import os
import warnings

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering (tests/test_video.py)
warnings.filterwarnings("ignore", category=DeprecationWarning)

import torch  # noqa: E402

torch.set_num_threads(1)

try:  # rliable imports absl, whose log handler closes the stream it was built with when Hydra reconfigures
    # logging; built under pytest's capture, that stream is pytest's own. Point it at the real stderr.
    import sys

    from absl import logging as absl_logging

    absl_logging.get_absl_handler().python_handler.stream = sys.__stderr__
except ImportError:
    pass

IDS = ["sim2real/Grasp-v0", "sim2real/Navigate-v0", "sim2real/PandaLift-v0"]
TASKS = ["grasp", "navigate"]


@pytest.fixture(autouse=True)
def _run_in_tmp(tmp_path, monkeypatch):
    """Every test runs in its own temporary directory: Hydra's run directories and anything a command writes
    by default land there, never in the repository."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True)
def _quiet_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@pytest.fixture(scope="session")
def runtime_venv(tmp_path_factory):
    """The runtime-only install (tests/helpers.py, build_runtime_venv), built once per session."""
    from tests.helpers import build_runtime_venv

    return build_runtime_venv(tmp_path_factory.mktemp("robot"))
