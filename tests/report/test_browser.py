"""The report in a real browser: headless Chromium renders it with every image loaded, and draws a page.

The report's inline load check writes ``data-images-total`` / ``data-images-loaded`` on ``<body>``
once the window has loaded; ``--dump-dom`` after a virtual-time budget returns the DOM with them.
CI (``.ci/run``) installs Debian's ``chromium`` when missing; elsewhere the test is skipped only when
no Chromium is on PATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from analysis.report import write_report
from tests.report.page import Page

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--virtual-time-budget=10000",
)


@pytest.fixture(scope="session")
def browser() -> str:
    """Chromium's path (session-scoped and listed first, so a skip comes before the run is built)."""
    found = next((path for name in BROWSERS if (path := shutil.which(name))), None)
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("no Chromium on PATH in CI: .ci/run installs Debian's chromium package before `make test`")
    pytest.skip(f"no Chromium found on PATH (looked for {', '.join(BROWSERS)}); install Debian's chromium package to run this test")


def _chromium(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [browser, *FLAGS, f"--user-data-dir={profile}", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


@pytest.mark.ray
def test_report_renders_in_headless_chromium_with_every_image_loaded(browser, run_dir, tmp_path):
    files = write_report(run_dir, tmp_path / "report.html", tmp_path / "summary.md")
    count = len(Page.read(files.html).images)
    url = files.html.resolve().as_uri()
    dom = Page(_chromium(browser, tmp_path / "profile", "--dump-dom", url).stdout)
    assert dom.body.get("data-images-total") == str(count) and count >= 8
    assert dom.body.get("data-images-loaded") == str(count), f"{dom.body} of {count} images"
    shot = tmp_path / "page.png"
    _chromium(browser, tmp_path / "profile", "--window-size=1280,2400", f"--screenshot={shot}", url)
    pixels = np.asarray(Image.open(shot).convert("L"))  # (H, W)
    assert pixels.shape == (2400, 1280) and pixels.std() > 10, "the page drew text and figures, not a blank canvas"
