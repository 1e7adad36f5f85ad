"""The hand-written stub of the native module must match it (mypy.stubtest)."""

import subprocess
import sys
from pathlib import Path

import pseudolabel


def test_core_stub_matches_the_native_module():
    out = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "pseudolabel._core", "--concise"],
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_package_is_typed():
    root = Path(pseudolabel.__file__).parent
    assert (root / "py.typed").exists()
    assert (root / "_core.pyi").exists()
