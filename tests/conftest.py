import os
import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config):
    # Tests that run the same design share its simulator build (tb/run.py); the key is
    # the Verilog itself, so a changed design is always rebuilt.
    os.environ.setdefault("ROWLOOM_SIM_CACHE", str(ROOT / "build" / "simcache"))


@pytest.fixture
def build_dir(request):
    """A fresh build folder per test case, ``build/tests/<test id>``, kept after the run
    so its waves and logs can be read."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    path = ROOT / "build" / "tests" / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path
