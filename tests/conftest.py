import os
import warnings

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
warnings.filterwarnings("ignore", category=DeprecationWarning)

import torch  # noqa: E402

torch.set_num_threads(1)

IDS = ["sim2real/Grasp-v0", "sim2real/Navigate-v0"]
TASKS = ["grasp", "navigate"]


@pytest.fixture(autouse=True)
def _quiet_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
