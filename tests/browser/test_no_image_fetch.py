"""Failure 5 in a real browser: a Markdown image in metrics.json is shown as text, never fetched.

The Models card is an st.table, which renders its cells as Markdown: `![t](http://HOST/x.png)` in
metrics.json's corpus made every viewer's browser fetch that URL (anyone could track who opened a
model card). A local HTTP listener counts the requests; the page must make none, while an image
the test itself asks the page for proves that the listener would have seen one.
"""

from __future__ import annotations

import http.server
import json
import shutil
import threading
from typing import Iterator

import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture then fails every test with the install command
    expect = None

from bench.app_driver import STATUS_WIDGET
from bench.app_server import AppServer


class _Counter(http.server.BaseHTTPRequestHandler):
    paths: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        type(self).paths.append(self.path)
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def listener() -> Iterator[tuple[int, list[str]]]:
    """An HTTP server on 127.0.0.1 that records the path of every request: (port, paths)."""
    handler = type("Counter", (_Counter,), {"paths": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], handler.paths
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def poisoned_app(tmp_path_factory, tiny_checkpoints, listener) -> Iterator[str]:
    """The app on the tiny models, with tracking images in tiny-lstm's metrics.json and a config error."""
    port, _ = listener
    root = tmp_path_factory.mktemp("poisoned-checkpoints")
    for arch, folder in tiny_checkpoints.items():
        shutil.copytree(folder, root / f"tiny-{arch}", ignore=shutil.ignore_patterns("resume", "resume.previous"))
    metrics_file = root / "tiny-lstm" / "metrics.json"
    metrics = json.loads(metrics_file.read_text(encoding="utf-8"))
    metrics.update(
        corpus=f"![t](http://127.0.0.1:{port}/corpus.png)",
        status=f"![s](http://127.0.0.1:{port}/status.png)",
        storage_dtype=f'<img src="http://127.0.0.1:{port}/html.png">',
    )
    metrics_file.write_text(json.dumps(metrics), encoding="utf-8")
    broken = root / "broken"
    shutil.copytree(root / "tiny-gru", broken)
    config = json.loads((broken / "config.json").read_text(encoding="utf-8"))
    config["arch"] = f"![a](http://127.0.0.1:{port}/arch.png)"  # the error message quotes it
    (broken / "config.json").write_text(json.dumps(config), encoding="utf-8")
    server = AppServer.start(str(root), str(tmp_path_factory.mktemp("log") / "server.log"), threads=1)
    try:
        server.wait_healthy(timeout=180)
        yield server.url
    finally:
        server.stop()


def test_an_image_in_metrics_json_is_not_fetched(poisoned_app, listener, new_page):
    port, paths = listener
    page = new_page()
    page.goto(poisoned_app)
    page.get_by_role("tab", name="Models").click()
    expect(page.get_by_role("heading", name="Models", exact=True)).to_be_visible()
    expect(page.locator(STATUS_WIDGET)).to_have_count(0)
    card = page.get_by_role("table").filter(has_text="Corpus")
    expect(card.first).to_be_visible()
    # The payload is on the page as literal text, so it did reach a Markdown-rendering cell.
    expect(page.get_by_text(f"![t](http://127.0.0.1:{port}/corpus.png)", exact=False).first).to_be_visible()
    page.get_by_text("Folders that could not be loaded").click()  # render the sidebar's list of broken folders too
    expect(page.get_by_text("arch must be one of", exact=False).first).to_be_visible()
    page.wait_for_timeout(1500)  # time for any image request to arrive
    assert paths == [], f"the page fetched {paths}"

    # Control: an image the page is told to load does reach the listener.
    page.evaluate(
        "(url) => { const image = new Image(); image.src = url; document.body.appendChild(image); }",
        f"http://127.0.0.1:{port}/control.png",
    )
    page.wait_for_timeout(1500)
    assert paths == ["/control.png"]
