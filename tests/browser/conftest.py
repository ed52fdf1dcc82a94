"""Fixtures for the real-browser tests: the app served on the tiny models, and Debian's Chromium.

One Streamlit server and one browser serve a test module; both stop right after it, not at the
end of the whole run. A missing Chromium or Playwright is a test error with the install
command, never a skip: CI installs both (.ci/run: chromium; requirements-test.txt: playwright).
"""

from __future__ import annotations

import os
import shutil
from typing import Iterator

import pytest

from bench.app_driver import SLOW_TIMEOUT_MS, BrowserMissing, launch_chromium, require_browser
from bench.app_oracle import Oracle
from bench.app_server import AppServer

_HERE = os.path.dirname(os.path.abspath(__file__))


def pytest_collection_modifyitems(config, items) -> None:
    """Every test in this folder drives Chromium: mark it so `-m "not browser"` leaves them out."""
    for item in items:
        if os.path.dirname(str(item.path)) == _HERE:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="module")
def browser_checkpoints(tmp_path_factory, tiny_checkpoints) -> str:
    """A checkpoints folder holding tiny-rnn, tiny-lstm and tiny-gru (copies; no resume state)."""
    root = tmp_path_factory.mktemp("browser-checkpoints")
    for arch, folder in tiny_checkpoints.items():
        shutil.copytree(folder, root / f"tiny-{arch}", ignore=shutil.ignore_patterns("resume", "resume.previous"))
    return str(root)


@pytest.fixture(scope="module")
def oracle(browser_checkpoints) -> Oracle:
    """Expected predictions computed directly from the same checkpoint folders the app reads."""
    return Oracle(browser_checkpoints)


@pytest.fixture(scope="module")
def app_url(browser_checkpoints, tmp_path_factory) -> Iterator[str]:
    """URL of `streamlit run app.py` on the tiny models; the server is stopped (SIGTERM, then kill) afterwards."""
    log_path = str(tmp_path_factory.mktemp("streamlit-log") / "server.log")
    server = AppServer.start(browser_checkpoints, log_path, threads=1)
    try:
        server.wait_healthy(timeout=180)
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium through sync Playwright (fails with the install command when missing)."""
    missing = None
    try:
        require_browser()
    except BrowserMissing as error:
        missing = str(error)
    if missing:
        pytest.fail(missing, pytrace=False)
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=SLOW_TIMEOUT_MS)
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def new_page(browser):
    """Factory of fresh pages, each in its own browser context (= its own Streamlit session); all closed afterwards."""
    contexts = []

    def make(viewport: dict | None = None):
        context = browser.new_context(viewport=viewport or {"width": 1400, "height": 1000})
        context.set_default_timeout(SLOW_TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()
