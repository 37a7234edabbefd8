"""A newcomer's first screen (issue 12, finding 8): `make demo` twice rebuilds nothing the
second time, JupyterLab starts without a page of minified JS and "Fail to get yarn
configuration", and npm installs without install-script warnings."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

from .e2e.servers import free_port

ROOT = Path(__file__).resolve().parent.parent


def test_make_demo_would_rebuild_nothing():
    """The suite runs after `make setup`: everything demo needs is then up to date. (pip's
    build hook ran `npm install` in the editable install and touched package-lock.json, so
    every `make demo` reinstalled node_modules and rebuilt the bundle.)"""
    # --no-print-directory: under `make test` the child make would announce its directory
    plan = subprocess.run(["make", "-n", "--no-print-directory", "demo"], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout.splitlines()
    assert len(plan) == 1 and "jupyter lab" in plan[0], plan


def test_every_npm_install_script_is_allowed():
    lock = json.loads((ROOT / "package-lock.json").read_text())
    allowed = json.loads((ROOT / "package.json").read_text()).get("allowScripts", {})
    with_scripts = {path.rsplit("node_modules/", 1)[1] for path, entry in lock["packages"].items()
                    if entry.get("hasInstallScript")}
    assert with_scripts, "no package has an install script: the check reads the wrong field"
    assert with_scripts <= {name for name, ok in allowed.items() if ok}


def test_jupyterlab_starts_clean(tmp_path):
    """Our package.json said "type": "module", and the venv lives under it: JupyterLab's
    builder then loaded its yarn.js (CommonJS) as an ES module and printed ~12 KB of it."""
    log = tmp_path / "lab.log"
    with log.open("w") as out:
        lab = subprocess.Popen(
            [str(Path(sys.executable).parent / "jupyter"), "lab", "--no-browser",
             f"--port={free_port()}", "--ServerApp.ip=127.0.0.1", "--allow-root",
             f"--ServerApp.root_dir={ROOT / 'notebooks'}", "--IdentityProvider.token=test"],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while "is running at" not in log.read_text() and time.monotonic() < deadline:
                assert lab.poll() is None, log.read_text()[-2000:]
                time.sleep(0.2)
            time.sleep(2)  # the build check runs just after start-up
        finally:
            lab.terminate()
            lab.wait(10)
    text = log.read_text()
    assert "is running at" in text
    assert "yarn" not in text.lower() and not re.search(r"\b(Error|Traceback)\b", text), text[:3000]
    assert max(map(len, text.splitlines())) < 1000  # no minified JS (its lines ran to kilobytes)
