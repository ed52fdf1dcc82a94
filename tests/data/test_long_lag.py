"""The long-lag generator: deterministic, the advertised lags, and text the ordinary tokenizer reads back exactly."""

from __future__ import annotations

import math
import statistics

import pytest

from data.corpus import split_paragraphs
from data.long_lag import (
    CUE_TYPES,
    LagDistribution,
    LongLagSpec,
    build_corpus,
    evaluation_sequences,
    generate_sequences,
    generate_text,
)
from data.tokenizer import WordTokenizer

ALL_CLOSERS = {closer for cue in CUE_TYPES for closer in cue.closers}


def test_same_spec_same_text_other_seed_other_text():
    spec = LongLagSpec(num_sequences=300, num_cue_types=4, seed=4)
    assert generate_text(spec) == generate_text(spec)
    assert generate_text(spec) != generate_text(LongLagSpec(num_sequences=300, num_cue_types=4, seed=5))


def test_text_is_paragraphs_the_tokenizer_reads_back_exactly():
    spec = LongLagSpec(num_sequences=400, num_cue_types=4)
    sequences = generate_sequences(spec)
    paragraphs = split_paragraphs(generate_text(spec))
    assert paragraphs == [s.text for s in sequences]
    tokenizer = WordTokenizer.train(paragraphs, min_frequency=1)
    for sequence in sequences:
        assert tuple(tokenizer.encode(sequence.text).tokens) == sequence.tokens
        # The answer sits exactly `lag` tokens after the cue, and nothing in between is a closing word.
        assert sequence.tokens[sequence.lag] == sequence.answer
        assert sequence.answer in sequence.alternatives
        assert not ALL_CLOSERS & set(sequence.tokens[1 : sequence.lag])
        assert sequence.tokens[-1] == "."


def test_the_cue_fixes_the_answer():
    for sequence in generate_sequences(LongLagSpec(num_sequences=300, num_cue_types=4)):
        cue = next(c for c in CUE_TYPES if c.name == sequence.cue_type)
        opener = next(index for index, o in enumerate(cue.openers) if o[0] == sequence.tokens[0])
        assert sequence.answer == cue.closers[opener]


def test_fixed_and_uniform_lags():
    fixed = generate_sequences(LongLagSpec(LagDistribution("fixed", 7), num_sequences=200))
    assert {s.lag for s in fixed} == {7}
    lags = [s.lag for s in generate_sequences(LongLagSpec(LagDistribution("uniform", 3, 30), num_sequences=6000))]
    assert min(lags) == 3 and max(lags) == 30
    assert abs(statistics.mean(lags) - 16.5) < 0.5
    counts = [lags.count(lag) for lag in range(3, 31)]
    assert max(counts) < 1.5 * min(counts)  # flat: each lag near 6000 / 28 = 214


def test_loguniform_lags_are_uniform_in_log():
    lags = [s.lag for s in generate_sequences(LongLagSpec(LagDistribution("loguniform", 3, 60), num_sequences=6000))]
    assert min(lags) == 3 and max(lags) == 60
    # Half the mass below the geometric middle sqrt(3 * 61) ~ 13.5.
    assert abs(sum(lag <= 13 for lag in lags) / len(lags) - 0.5) < 0.04
    assert abs(statistics.mean(math.log(lag) for lag in lags) - (math.log(3) + math.log(61)) / 2) < 0.08


def test_two_bands_draw_short_and_long_lags_and_none_between():
    bands = LagDistribution("two_bands", 1, 60, short_high=5, long_low=30, short_share=0.25)
    lags = [s.lag for s in generate_sequences(LongLagSpec(bands, num_cue_types=2, num_sequences=4000))]
    assert not [lag for lag in lags if 5 < lag < 30]
    assert min(lags) == 1 and max(lags) == 60 and {3, 5, 30, 60} <= set(lags)
    assert abs(sum(lag <= 5 for lag in lags) / len(lags) - 0.25) < 0.03
    assert bands.support == (1, 60)
    with pytest.raises(ValueError, match="short_high < long_low"):
        LagDistribution("two_bands", 1, 60, short_high=30, long_low=30)
    with pytest.raises(ValueError, match="short_share"):
        LagDistribution("two_bands", 1, 60, short_share=1.5)


def test_echo_filler_repeats_every_third_word_and_distractors_are_the_familys_openers():
    echo = generate_sequences(
        LongLagSpec(LagDistribution("fixed", 14), num_cue_types=2, num_sequences=200, filler_pattern="echo")
    )
    for sequence in echo:
        start = 3 if sequence.cue_type == "title" else 1  # after "Mr . Brown" or "("
        filler = sequence.tokens[start : sequence.lag]
        assert all(filler[k + 2] == filler[k] for k in range(0, len(filler) - 2, 3))
    spec = LongLagSpec(LagDistribution("fixed", 30), num_cue_types=2, num_sequences=400, distractor_rate=0.1)
    openers = {"title": {"Mr", "Mrs"}, "bracket": {"(", "[", "{"}}
    seen = 0
    for sequence in generate_sequences(spec):
        inside = sequence.tokens[1 : sequence.lag]
        stray = [token for token in inside if token in {"Mr", "Mrs", "(", "[", "{"}]
        assert set(stray) <= openers[sequence.cue_type]  # only the paragraph's own family
        seen += len(stray)
    assert 0.07 < seen / sum(s.lag - (3 if s.cue_type == "title" else 1) for s in generate_sequences(spec)) < 0.13
    with pytest.raises(ValueError, match="filler_pattern"):
        LongLagSpec(filler_pattern="zigzag")
    with pytest.raises(ValueError, match="distractor_rate"):
        LongLagSpec(distractor_rate=1.0)


def test_curriculum_ramps_within_each_block():
    spec = LongLagSpec(LagDistribution("curriculum", 3, 40, blocks=4, ramp=0.5), num_sequences=4000)
    lags = [s.lag for s in generate_sequences(spec)]
    for block in range(4):
        part = lags[block * 1000 : (block + 1) * 1000]
        early, late = part[:100], part[500:]
        assert max(early) <= 3 + round(37 * 0.2) + 1  # the upper bound is still low
        assert max(late) == 40 and abs(statistics.mean(late) - 21.5) < 1.5


def test_evaluation_sequences_have_known_lag_and_cue_in_turn():
    spec = LongLagSpec(num_cue_types=2)
    sequences = evaluation_sequences([3, 10, 40], 6, spec)
    assert [s.lag for s in sequences] == [3] * 6 + [10] * 6 + [40] * 6
    assert [s.cue_type for s in sequences[:4]] == ["title", "bracket", "title", "bracket"]
    assert all(len(s.tokens) == s.lag + 2 for s in sequences)
    assert {s.chance for s in sequences} == {1 / 2, 1 / 3}


def test_a_cue_too_long_for_the_lag_takes_its_shortest_lag():
    sequences = generate_sequences(LongLagSpec(LagDistribution("fixed", 1), num_sequences=200))
    assert {s.lag for s in sequences if s.cue_type == "bracket"} == {1}  # "( ) ."
    assert {s.lag for s in sequences if s.cue_type == "title"} == {3}  # "Mr . Brown his ."
    short = evaluation_sequences([1, 2, 3], 4, LongLagSpec())
    assert {s.cue_type for s in short if s.lag < 3} == {"bracket"}
    assert {s.cue_type for s in short if s.lag == 3} == {"title", "bracket"}


def test_corpus_goes_through_the_ordinary_split():
    corpus = build_corpus(LongLagSpec(num_sequences=50), valid_sequences=10)
    assert len(corpus.splits["train"]) == 50 and len(corpus.splits["valid"]) == 10
    assert corpus.splits["train"][0] != corpus.splits["valid"][0]


def test_bad_settings_are_refused_with_the_way_out():
    with pytest.raises(ValueError, match="at least 3"):
        LongLagSpec(LagDistribution("fixed", 2), num_cue_types=1)  # "Mr . Brown his" needs lag 3
    with pytest.raises(ValueError, match="kind"):
        LagDistribution("gaussian")
    with pytest.raises(ValueError, match="highest lag"):
        LagDistribution("uniform", 10, 5)
    with pytest.raises(ValueError, match="filler_vocab_size"):
        LongLagSpec(filler_vocab_size=0)
    with pytest.raises(ValueError, match="num_cue_types"):
        LongLagSpec(num_cue_types=9)
