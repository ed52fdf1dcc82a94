"""The browser benches' pure parts: inputs, statistics, the oracle, memory polling, the missing-browser message.

The browser itself is exercised by tests/browser (same driver, same oracle, same in-page timer).
"""

from __future__ import annotations

import os
import shutil

import pytest

from bench import app_driver, app_latency, app_load
from bench.app_oracle import Oracle
from bench.app_server import process_tree_rss
from model.core.checkpoint import load_checkpoint
from model.core.generation import top_k_next_words


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 21)]
    assert app_driver.percentile(values, 0.95) == 19.0
    assert app_driver.percentile(values, 0.5) == 10.0
    assert app_driver.percentile([7.0], 0.95) == 7.0
    with pytest.raises(ValueError, match="fraction"):
        app_driver.percentile([], 0.5)


def test_bench_inputs_are_distinct_and_sized():
    variants = app_latency.seed_variants()
    assert len(set(variants)) == len(variants) >= 20 and app_latency.SEED not in variants
    assert {len(text.split()) for text in variants} == {len(app_latency.SEED.split())}
    # Each shows other words before the lesson word than the seed and than the variant before it.
    shown = [text.split(" with ")[0] for text in [app_latency.SEED, *variants]]
    assert all(before != after for before, after in zip(shown, shown[1:])) and len(set(shown[1:])) == len(variants)
    paragraphs = [app_latency.paragraph(index) for index in range(5)]
    assert all(len(text.split()) == 200 for text in paragraphs) and len(set(paragraphs)) == 5
    sentences = [app_load.sentence(index) for index in range(len(app_load.PEOPLE) * len(app_load.ENDINGS))]
    assert len(set(sentences)) == len(sentences)
    assert app_load.sentence(1) == "Mrs. Mary went to the window and looked at her"


def test_oracle_matches_top_k_and_the_app_cut(tiny_checkpoints, tmp_path):
    root = tmp_path / "checkpoints"
    shutil.copytree(tiny_checkpoints["lstm"], root / "tiny-lstm")
    oracle = Oracle(str(root))
    expected = oracle.expected("Mr. John said so", ["tiny-lstm"])["tiny-lstm"]
    checkpoint = load_checkpoint(tiny_checkpoints["lstm"])
    word, probability = top_k_next_words(checkpoint.model, checkpoint.tokenizer, "Mr. John said so", 1)[0]
    assert expected == {
        "words": ["Mr", ".", "John", "said", "so"],
        "top1": word,
        "probability": pytest.approx(probability),
    }
    long_text = " ".join(["Mr. John said so ,"] * 40)  # 200 tokens: the app keeps the first MAX_WORDS
    from ui.settings import MAX_WORDS

    assert len(oracle.expected(long_text, ["tiny-lstm"])["tiny-lstm"]["words"]) == MAX_WORDS
    with pytest.raises(ValueError, match="refuses"):
        oracle.expected("?! ...", ["tiny-lstm"])


def test_process_tree_rss_counts_this_process():
    assert process_tree_rss(os.getpid()) > 10_000_000  # python with torch loaded
    assert process_tree_rss(2**22 + 12345) == 0  # no such process


def test_missing_chromium_is_an_error_that_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(app_driver, "CHROMIUM_PATH", str(tmp_path / "no-chromium"))
    with pytest.raises(app_driver.BrowserMissing, match="apt-get install -y chromium"):
        app_driver.require_browser()
    assert app_latency.main(["--checkpoints", str(tmp_path)]) == 2


def test_a_missing_baseline_folder_is_an_error_before_any_server_starts(tmp_path, capsys):
    missing = str(tmp_path / "no-such-folder")
    assert app_latency.main(["--checkpoints", str(tmp_path), "--baseline", missing]) == 2
    assert f"no checkpoints folder {missing!r}" in capsys.readouterr().err


def test_autogroup_nice_reads_the_kernel_line_and_nothing_else(tmp_path):
    from bench.app_server import autogroup_nice

    def write(text: str) -> str:
        path = tmp_path / "autogroup"
        path.write_text(text, encoding="utf-8")
        return str(path)

    assert autogroup_nice(write("/autogroup-310 nice -15\n")) == "-15"
    assert autogroup_nice(write("/autogroup-7 nice 0\n")) == "0"
    assert autogroup_nice(write("")) is None  # a task in a cgroup task group: the kernel prints nothing
    assert autogroup_nice(write("garbage\n")) is None
    assert autogroup_nice(str(tmp_path / "missing")) is None


def test_matching_without_an_autogroup_is_a_reported_no_op(tmp_path):
    from bench.app_server import match_scheduler_group

    empty = tmp_path / "autogroup"
    empty.write_text("", encoding="utf-8")
    assert match_scheduler_group(os.getpid(), source=str(empty)) is False
    assert match_scheduler_group(2**22 + 12345, source=str(empty)) is False


def _live_autogroup() -> bool:
    from bench.app_server import autogroup_nice

    return autogroup_nice("/proc/self/autogroup") is not None


@pytest.mark.skipif(
    not _live_autogroup(), reason="this process is not in a sched autogroup (none, or a cgroup task group)"
)
def test_the_server_shares_the_callers_scheduler_priority():
    import subprocess

    from bench.app_server import autogroup_nice, match_scheduler_group

    child = subprocess.Popen(["sleep", "30"], start_new_session=True)  # its own autogroup, nice 0
    try:
        try:
            with open(f"/proc/{child.pid}/autogroup", "w", encoding="utf-8") as stream:
                stream.write("5")  # make it differ from ours first
        except OSError:
            pytest.skip("no right to set autogroup nice here")
        if autogroup_nice(f"/proc/{child.pid}/autogroup") != "5":
            pytest.skip("the new session did not get its own autogroup here")
        assert match_scheduler_group(child.pid) is True
        assert autogroup_nice(f"/proc/{child.pid}/autogroup") == autogroup_nice("/proc/self/autogroup")
    finally:
        child.kill()
        child.wait()


def test_the_bare_baselines_time_the_tab_work_and_the_whole_analysis(tiny_checkpoints, tmp_path):
    root = tmp_path / "models"
    for arch in ("rnn", "lstm"):
        shutil.copytree(tiny_checkpoints[arch], root / f"tiny-{arch}")
    oracle = Oracle(str(root))
    tab_ms, whole_ms = app_latency.bare_ms(oracle, ["tiny-rnn", "tiny-lstm"], app_latency.seed_variants()[:2])
    assert 0 < tab_ms < whole_ms  # the whole analysis does strictly more than the tab's predictions
