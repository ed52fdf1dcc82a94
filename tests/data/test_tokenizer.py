"""WordTokenizer: splitting, vocabulary rules, ids, offsets into odd Unicode, save/load."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from data.tokenizer import EOS_TOKEN, UNK_TOKEN, WordTokenizer

TRAIN = [
    "Mr. Robert said that the road was long, so his friend came to tea.",
    "Mrs. Mary said the tea was cold; her friend left.",
    "Robert, Robert and Robert! the the the",
]


@pytest.fixture(scope="module")
def tokenizer() -> WordTokenizer:
    return WordTokenizer.train(TRAIN, min_frequency=1)


def test_punctuation_is_its_own_token_and_case_is_kept(tokenizer):
    encoded = tokenizer.encode("Robert, said Mr. ROBERT robert!")
    assert encoded.tokens == ["Robert", ",", "said", "Mr", ".", "ROBERT", "robert", "!"]
    # Case is kept: "Robert" is known, the other spellings are not.
    assert encoded.ids[0] == tokenizer.token_to_id("Robert")
    assert tokenizer.token_to_id("robert") is None
    assert encoded.unknown == [False, False, False, False, False, True, True, False]
    assert encoded.unknown_words == ["ROBERT", "robert"]


def test_specials_have_fixed_ids(tokenizer):
    assert tokenizer.unk_id == 0 and tokenizer.token_to_id(UNK_TOKEN) == 0
    assert tokenizer.eos_id == 1 and tokenizer.token_to_id(EOS_TOKEN) == 1
    assert tokenizer.id_to_token(0) == UNK_TOKEN and tokenizer.id_to_token(1) == EOS_TOKEN


def test_ids_are_ordered_by_training_frequency(tokenizer):
    counts = Counter(token for text in TRAIN for token in tokenizer.encode(text).tokens)
    ordered = [tokenizer.id_to_token(index) for index in range(2, tokenizer.vocab_size)]
    assert set(ordered) == set(counts)
    frequencies = [counts[token] for token in ordered]
    assert frequencies == sorted(frequencies, reverse=True)
    assert ordered[0] == "the"  # 5 times, the most frequent word


def test_vocabulary_comes_from_the_training_texts_only():
    tokenizer = WordTokenizer.train(["alpha beta alpha"], min_frequency=1)
    encoded = tokenizer.encode("alpha gamma")
    assert encoded.ids == [tokenizer.token_to_id("alpha"), tokenizer.unk_id]
    assert encoded.unknown_words == ["gamma"]
    assert tokenizer.vocab_size == 4  # <unk>, <eos>, alpha, beta


def test_min_frequency_keeps_words_seen_at_least_that_often():
    texts = ["a a a a b b b c c d"]
    tokenizer = WordTokenizer.train(texts, min_frequency=3)
    assert tokenizer.token_to_id("a") is not None and tokenizer.token_to_id("b") is not None
    assert tokenizer.token_to_id("c") is None and tokenizer.token_to_id("d") is None
    assert tokenizer.vocab_size == 4


def test_max_size_counts_specials_and_keeps_the_most_frequent():
    tokenizer = WordTokenizer.train(["a a a a b b b c c d"], min_frequency=1, max_size=4)
    assert tokenizer.vocab_size == 4
    assert [tokenizer.id_to_token(i) for i in range(4)] == [UNK_TOKEN, EOS_TOKEN, "a", "b"]


@pytest.mark.parametrize("kwargs", [{"min_frequency": 0}, {"max_size": 2}])
def test_bad_training_settings_raise(kwargs):
    with pytest.raises(ValueError, match="min_frequency|max_size"):
        WordTokenizer.train(TRAIN, **kwargs)


def test_save_load_round_trip_gives_identical_ids(tokenizer, tmp_path):
    path = tmp_path / "tokenizer.json"
    tokenizer.save(path)
    loaded = WordTokenizer.load(path)
    text = "Mr. Robert, the unknown-word 😀 friend."
    assert loaded.encode(text) == tokenizer.encode(text)
    assert loaded.vocab_size == tokenizer.vocab_size
    assert loaded.fingerprint() == tokenizer.fingerprint()
    assert [p for p in tmp_path.iterdir()] == [path]  # no temporary file left behind


def test_fingerprint_differs_for_another_vocabulary(tokenizer):
    other = WordTokenizer.train(["entirely different words here"], min_frequency=1)
    assert other.fingerprint() != tokenizer.fingerprint()


ODD_TEXTS = [
    "Robert 😀 left, 👨‍👩‍👧 stayed.",
    "مرحبا بالعالم، Robert!",  # Arabic, right to left, with an Arabic comma
    "שלום עולם! Robert.",  # Hebrew
    "a\u200bb Robert\u200b.",  # zero-width spaces
    "cafe\u0301 nai\u0308ve Ame\u0301lie",  # combining accents (NFD)
    "\u200fRobert\u200e 🇫🇷  \t\n tea",  # direction marks, a flag, mixed white space
]


@pytest.mark.parametrize("text", ODD_TEXTS)
def test_offsets_map_every_token_back_to_the_typed_text(tokenizer, text):
    encoded = tokenizer.encode(text)
    assert len(encoded.tokens) == len(encoded.ids) == len(encoded.offsets) == len(encoded.unknown)
    previous_end = 0
    for token, (start, end) in zip(encoded.tokens, encoded.offsets):
        assert text[start:end] == token
        assert previous_end <= start < end  # in order, not overlapping, never empty
        assert text[previous_end:start].strip() == ""  # only white space is skipped
        previous_end = end
    # Nothing but white space is dropped: the tokens rebuild the text without spaces.
    assert "".join(encoded.tokens) == "".join(text.split())


def test_odd_unicode_splits_where_expected(tokenizer):
    assert tokenizer.encode("a\u200bb").tokens == ["a", "\u200b", "b"]
    # A combining accent stays with its letter instead of becoming a token of its own.
    assert tokenizer.encode("cafe\u0301 x").tokens == ["cafe\u0301", "x"]
    assert tokenizer.encode("Robert 😀").tokens == ["Robert", "😀"]
    encoded = tokenizer.encode("שלום Robert")
    assert encoded.tokens == ["שלום", "Robert"]
    assert encoded.unknown_words == ["שלום"]


def test_unknown_words_are_distinct_and_in_order(tokenizer):
    encoded = tokenizer.encode("zebra Robert yak zebra 😀")
    assert encoded.unknown_words == ["zebra", "yak", "😀"]
    assert [encoded.ids[i] == tokenizer.unk_id for i in range(len(encoded))] == encoded.unknown


def test_iter_ids_appends_eos_after_each_paragraph(tokenizer):
    paragraphs = ["Robert said", "the tea", "zebra"]
    batches = list(tokenizer.iter_ids(paragraphs, batch_size=2))
    assert batches == [
        [tokenizer.token_to_id("Robert"), tokenizer.token_to_id("said"), tokenizer.eos_id],
        [tokenizer.token_to_id("the"), tokenizer.token_to_id("tea"), tokenizer.eos_id],
        [tokenizer.unk_id, tokenizer.eos_id],
    ]


def test_encode_batch_matches_encode(tokenizer):
    texts = ["Robert, said", "", "שלום 😀"]
    assert tokenizer.encode_batch(texts) == [tokenizer.encode(text) for text in texts]


def test_id_to_token_out_of_range_raises(tokenizer):
    with pytest.raises(IndexError, match="Token id"):
        tokenizer.id_to_token(tokenizer.vocab_size)


@pytest.mark.parametrize(
    "content",
    ['{"not": "a tokenizer"}', "plain text, not JSON", "\x00\x01binary"],
)
def test_loading_a_non_tokenizer_file_is_a_clear_value_error(tmp_path, content):
    path = tmp_path / "tokenizer.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match="Could not read a tokenizer from .*tokenizer.json"):
        WordTokenizer.load(path)


def test_loading_a_missing_file_is_a_clear_value_error(tmp_path):
    with pytest.raises(ValueError, match="Could not read a tokenizer"):
        WordTokenizer.load(tmp_path / "missing.json")


def test_a_tokenizer_without_the_specials_is_refused(tokenizer, tmp_path):
    path = tmp_path / "tokenizer.json"
    tokenizer.save(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    vocab = data["model"]["vocab"]
    vocab["<nope>"] = vocab.pop(EOS_TOKEN)
    data["added_tokens"] = [entry for entry in data["added_tokens"] if entry["content"] != EOS_TOKEN]
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match="<eos>"):
        WordTokenizer.load(path)


@pytest.mark.parametrize(
    ("where", "value"),
    [
        (("added_tokens", 0, "lstrip"), 0),  # 0 == False in Python; the tokenizers parser wants a boolean
        (("added_tokens", 1, "special"), 1),
        (("pre_tokenizer", "invert"), 1),
        (("added_tokens", 0, "id"), 0.0),
    ],
)
def test_a_value_of_the_wrong_json_type_is_refused_by_the_format_check(tokenizer, tmp_path, where, value):
    path = tmp_path / "tokenizer.json"
    tokenizer.save(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    node = data
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match=f'"{where[0]}" must be'):
        WordTokenizer.load(path)
