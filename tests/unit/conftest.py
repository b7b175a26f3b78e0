"""The deployable template of each committed stage, built once per run for the deploy tests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from deploy import template

ROOT = Path(__file__).resolve().parents[2]
CONFIG = json.loads((ROOT / ".chalice" / "config.json").read_text(encoding="utf-8"))


def _package(stage: str, work: Path) -> dict[str, Any]:
    """``make package``'s two steps, on a copy of the app with no Lambda requirements: the same
    template, without pip fetching packages for the zip (so offline)."""
    project = work / "project"
    shutil.copytree(ROOT / "chalicelib", project / "chalicelib")
    shutil.copy(ROOT / "app.py", project / "app.py")
    (project / ".chalice").mkdir()
    shutil.copy(ROOT / ".chalice" / "config.json", project / ".chalice" / "config.json")
    (project / "requirements.txt").write_text("")
    out = work / "build"
    chalice = Path(sys.executable).with_name("chalice")
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    subprocess.run(
        [str(chalice), "package", "--stage", stage, str(out)],
        cwd=project,
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    path = template.write(template.read_stage(CONFIG, stage), out)
    return {
        "dir": out,
        "sam": json.loads((out / "sam.json").read_text(encoding="utf-8")),
        "template": json.loads(path.read_text(encoding="utf-8")),
    }


@pytest.fixture(scope="session")
def packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Each stage's package: ``template`` (template.json, parsed), ``sam`` (Chalice's), ``dir``."""
    return {
        stage: _package(stage, tmp_path_factory.mktemp(f"package-{stage}"))
        for stage in sorted(CONFIG["stages"])
    }
