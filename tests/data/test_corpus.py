"""Corpus loading: folders and files, paragraphs, sha256, and every bad-input error."""

from __future__ import annotations

import hashlib
import time

import pytest

from data.corpus import hub_offline, load_hub, load_local, split_paragraphs


def _write(path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def test_split_paragraphs_joins_lines_and_splits_on_empty_lines():
    text = "Line one\nline two\n\n\nPara two\n   \nPara three\r\n\r\nPara four\r\n"
    assert split_paragraphs(text) == ["Line one line two", "Para two", "Para three", "Para four"]
    assert split_paragraphs("\n\n  \n") == []


def test_folder_loading_reads_each_split_and_records_sha256(tmp_path):
    folder = tmp_path / "novel"
    folder.mkdir()
    contents = {
        "train": "Mr. Robert came\nto tea.\n\nMrs. Mary left.\n",
        "valid": "Robert said.\n",
        "test": "Mary said.\n\n\nThe end.\n",
    }
    for split, text in contents.items():
        (folder / f"{split}.txt").write_text(text, encoding="utf-8")
    corpus = load_local(folder=str(folder))
    assert corpus.name == "novel"
    assert corpus.splits == {
        "train": ["Mr. Robert came to tea.", "Mrs. Mary left."],
        "valid": ["Robert said."],
        "test": ["Mary said.", "The end."],
    }
    for split, text in contents.items():
        assert corpus.files[split]["sha256"] == hashlib.sha256(text.encode("utf-8")).hexdigest()
        assert corpus.files[split]["path"] == str(folder / f"{split}.txt")


def test_folder_with_only_train_txt(tmp_path):
    (tmp_path / "train.txt").write_text("one\n\ntwo\n", encoding="utf-8")
    corpus = load_local(folder=str(tmp_path))
    assert corpus.splits == {"train": ["one", "two"]}
    assert set(corpus.files) == {"train"}


def test_separate_files(tmp_path):
    train = _write(tmp_path / "book.txt", "First paragraph\nstill first.\n\nSecond.\n".encode())
    valid = _write(tmp_path / "held.txt", "Held out.\n".encode())
    corpus = load_local(train=train, valid=valid)
    assert corpus.name == "book"
    assert corpus.splits == {"train": ["First paragraph still first.", "Second."], "valid": ["Held out."]}
    assert corpus.files["train"]["sha256"] == hashlib.sha256((tmp_path / "book.txt").read_bytes()).hexdigest()


def test_unicode_text_survives_loading(tmp_path):
    text = "Amélie 😀 שלום\n\nمرحبا a\u200bb\n"
    corpus = load_local(train=_write(tmp_path / "train.txt", text.encode("utf-8")))
    assert corpus.splits["train"] == ["Amélie 😀 שלום", "مرحبا a\u200bb"]


def test_missing_train_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        load_local(train=str(tmp_path / "missing.txt"))


def test_no_train_file_given(tmp_path):
    valid = _write(tmp_path / "valid.txt", b"text\n")
    with pytest.raises(ValueError, match="--train"):
        load_local(valid=valid)
    with pytest.raises(ValueError, match="train.txt"):
        load_local(folder=str(tmp_path))  # a folder with valid.txt only


def test_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="train.txt"):
        load_local(folder=str(tmp_path / "nowhere"))


def test_binary_file_is_refused(tmp_path):
    path = _write(tmp_path / "train.txt", b"some words\x00\x01\x02 more")
    with pytest.raises(ValueError, match="binary.*NUL"):
        load_local(train=path)


def test_nul_byte_deep_in_a_large_file_is_refused(tmp_path):
    path = _write(tmp_path / "train.txt", b"word " * 300_000 + b"\x00")
    with pytest.raises(ValueError, match="NUL bytes, first at byte 1500000"):
        load_local(train=path)


def test_non_utf8_file_is_refused(tmp_path):
    path = _write(tmp_path / "train.txt", "café au lait\n".encode("latin-1"))
    with pytest.raises(ValueError, match="not UTF-8.*byte 3.*iconv"):
        load_local(train=path)


def test_non_utf8_byte_far_into_the_file_is_refused(tmp_path):
    # Past the first megabyte, so a check of the file's head alone would miss it.
    path = _write(tmp_path / "train.txt", b"word " * 300_000 + "\n\ncafé\n".encode("latin-1"))
    with pytest.raises(ValueError, match="not UTF-8 text \\(byte 1500005"):
        load_local(train=path)


def test_file_cut_inside_a_multibyte_character_is_refused(tmp_path):
    path = _write(tmp_path / "train.txt", "ok é".encode("utf-8")[:-1])
    with pytest.raises(ValueError, match="not UTF-8"):
        load_local(train=path)


def test_empty_train_file(tmp_path):
    path = _write(tmp_path / "train.txt", b"")
    with pytest.raises(ValueError, match="train.txt is empty"):
        load_local(train=path)


def test_train_file_of_blank_lines_holds_no_text(tmp_path):
    path = _write(tmp_path / "train.txt", b"\n\n   \n\t\n")
    with pytest.raises(ValueError, match="train file .* holds no text"):
        load_local(train=path)


def test_empty_validation_file_is_named(tmp_path):
    train = _write(tmp_path / "train.txt", b"words here\n")
    valid = _write(tmp_path / "valid.txt", b"\n \n")
    with pytest.raises(ValueError, match="valid file .*valid.txt holds no text"):
        load_local(train=train, valid=valid)


def test_hub_name_fails_fast_offline_and_points_to_local_files(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub_offline()
    started = time.perf_counter()
    with pytest.raises(ConnectionError) as caught:
        load_hub("wikitext", "wikitext-2-raw-v1")
    assert time.perf_counter() - started < 5.0
    message = str(caught.value)
    assert "wikitext" in message and "--train" in message and "--corpus-dir" in message


def test_hub_offline_reads_either_flag(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    assert not hub_offline()
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "true")
    assert hub_offline()


def test_several_training_files_are_read_in_order_and_recorded_each(tmp_path):
    (tmp_path / "novels").mkdir()
    (tmp_path / "library").mkdir()
    first = _write(tmp_path / "novels" / "train.txt", "Mr. Robert came.\n".encode())  # no blank line at the end
    second = _write(tmp_path / "library" / "train.txt", "Mrs. Mary left.\n\nThe end.\n".encode())
    corpus = load_local(train=[first, second])
    assert corpus.name == "novels+library"
    # Each file keeps its own paragraphs: the first file's last line does not run into the second's.
    assert corpus.splits["train"] == ["Mr. Robert came.", "Mrs. Mary left.", "The end."]
    record = corpus.files["train"]
    digests = [hashlib.sha256(open(path, "rb").read()).hexdigest() for path in (first, second)]
    assert record["paths"] == [first, second]
    assert record["sha256s"] == digests
    assert record["sha256"] == hashlib.sha256("\n".join(digests).encode()).hexdigest()
    reordered = load_local(train=[second, first]).files["train"]["sha256"]
    assert reordered != record["sha256"]
    assert load_local(train=[first]).files["train"] == {"path": first, "sha256": digests[0]}


def test_a_bad_file_among_several_is_named(tmp_path):
    good = _write(tmp_path / "a.txt", b"Fine text.\n")
    bad = _write(tmp_path / "b.txt", b"caf\xe9\n")
    with pytest.raises(ValueError, match="b.txt is not UTF-8"):
        load_local(train=[good, bad])


def test_a_split_named_file_takes_its_folders_name(tmp_path):
    from data.corpus import _corpus_name

    assert _corpus_name(str(tmp_path / "novels" / "train.txt")) == "novels"
    assert _corpus_name(str(tmp_path / "novels" / "book.txt")) == "book"
    assert (
        _corpus_name([str(tmp_path / "novels" / "train.txt"), str(tmp_path / "library" / "train.txt")])
        == "novels+library"
    )
