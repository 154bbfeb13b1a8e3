"""The wheel holds every subpackage: a package missing from pyproject's list breaks `pip install .` only."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_every_subpackage_is_listed_for_the_wheel() -> None:
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(init.parent.relative_to(REPO).parts) for init in (REPO / "stream_colorize").rglob("__init__.py")}
    assert found <= listed, f"missing from [tool.setuptools] packages: {sorted(found - listed)}"


def test_the_wheel_ships_the_library_not_the_maintainers_tools(tmp_path: Path) -> None:
    """py.typed and the bundled model go in; dataset harvesting (apt-get download) and job scripts stay out."""
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path)]
    cmd.append(str(REPO))
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("stream_colorize-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        code = "".join(zf.read(n).decode("utf-8", "replace") for n in names if n.endswith(".py"))
    assert "stream_colorize/py.typed" in names and "stream_colorize/_bundled/default.onnx" in names
    assert "stream_colorize/_bundled/default-int8.onnx" in names  # --precision int8/auto needs it installed
    # the earlier default, by name: stored without the encoder it shares with default (rebuilt on first use)
    for kept in ("default-v1.slim.onnx", "default-v1.json", "default-v1-int8.onnx"):
        assert f"stream_colorize/_bundled/{kept}" in names
    assert "stream_colorize/evaluate.py" in names and "stream_colorize/train/loop.py" in names
    assert not [n for n in names if n.startswith("tools/") or n.endswith((".sh", "sources.py", "dataset.py"))]
    assert "apt-get" not in code


def test_bench_and_tool_scripts_import() -> None:
    """Every bench and tool script's imports resolve (a module split once broke bench/pipeline.py
    without any test noticing): each is loaded as a module, its ``main`` not run."""
    import runpy

    repo = Path(__file__).resolve().parent.parent
    scripts = sorted([*repo.glob("bench/*.py"), *repo.glob("tools/*.py"), *repo.glob("tools/training/*.py")])
    assert len(scripts) > 10
    sys.path.insert(0, str(repo))
    try:
        for script in scripts:
            if script.name != "__init__.py":
                runpy.run_path(str(script), run_name="imported_by_test")
    finally:
        sys.path.remove(str(repo))
