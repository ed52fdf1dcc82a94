"""A controlled long-lag corpus: a cue word fixes a later word after a lag of neutral filler.

Each paragraph opens with a cue and ends with the word it fixes, after ``lag``
tokens (the distance from the cue token to the dependent word):

    Mrs. Weston garden letter quietly ... her .       title: Mr -> his, Mrs -> her
    [ morning window a carriage ... ] .               bracket: ( -> ), [ -> ], { -> }
    Neither candle evening ... nor .                  conjunction: Either -> or, Neither -> nor
    " walked the parlour ... " .                      quote: " -> ", ' -> '

    tokens:  Mrs   .   Weston  garden ... quietly  her   .
    index:   0     1   2       3          lag-1    lag
             ^ cue                                 ^ dependent word

The filler words never include a cue or a dependent word, so only the cue can
tell the model which closing word comes. Surnames are shared by Mr and Mrs, so
the name says nothing about the pronoun. The text is plain paragraphs separated
by blank lines: it goes through the ordinary tokenizer and training code.

A cue whose opening phrase is longer than the drawn lag takes its own shortest lag
("Mr . Brown his" needs 3; "( )" has lag 1), so lags 1 and 2 hold brackets only.

Lag distributions (:class:`LagDistribution`):
    fixed       every paragraph has lag ``low``;
    uniform     lag uniform in [low, high];
    loguniform  log(lag) uniform in [log low, log high]: many short lags, some long;
    curriculum  the corpus is ``blocks`` consecutive blocks; in each block the
                upper bound rises linearly from ``low`` to ``high`` over the first
                ``ramp`` share of its paragraphs, then stays at ``high``. With
                ``blocks`` equal to the training batch size, each batch row (a
                contiguous stretch of the stream, see data/batching.py) meets short
                lags first and long lags later.
    two_bands   with probability ``short_share`` a short lag, uniform in [low, short_high];
                otherwise a long one, uniform in [long_low, high]; never one in between.
                Short gaps to learn the task from, long gaps to need a memory, and no
                stepping stones from one to the other.
"""

from __future__ import annotations

import dataclasses
import math
import random
from dataclasses import dataclass

from data.corpus import Corpus, split_paragraphs

LAG_KINDS = ("fixed", "uniform", "loguniform", "curriculum", "two_bands")
FILLER_PATTERNS = ("random", "echo")


@dataclass(frozen=True)
class CueType:
    """One family of cues: opener i fixes closer i.

    Attributes:
        name: family name ("title", "bracket", ...).
        openers: the opening phrase of each cue; its first token is the cue.
        closers: the dependent word each opener fixes (the alternatives).
        names: if not empty, one of these words follows the opener (a surname).
    """

    name: str
    openers: tuple[tuple[str, ...], ...]
    closers: tuple[str, ...]
    names: tuple[str, ...] = ()

    @property
    def min_lag(self) -> int:
        """The shortest possible lag: the opener (and name) with no filler."""
        return len(self.openers[0]) + (1 if self.names else 0)


SURNAMES = ("Brown", "Weston", "Elton", "Bennet", "Dashwood", "Morland", "Tilney", "Crawford")
CUE_TYPES: tuple[CueType, ...] = (
    CueType("title", (("Mr", "."), ("Mrs", ".")), ("his", "her"), SURNAMES),
    CueType("bracket", (("(",), ("[",), ("{",)), (")", "]", "}")),
    CueType("conjunction", (("Either",), ("Neither",)), ("or", "nor")),
    CueType("quote", (('"',), ("'",)), ('"', "'")),
)

# Neutral words a 19th-century novel would use; none is a cue or a dependent word.
FILLER_WORDS: tuple[str, ...] = tuple(
    """the a garden letter morning evening window carriage parlour quietly walked spoke
    candle door house river road field hill village church bell rain wind fire table
    chair book paper pen ink tea cup bread wine dinner supper ball dance music song
    horse dog cat bird tree flower rose grass stone wall gate path lane town street
    shop market inn room stair hall kitchen cellar garret cottage estate park lawn
    hedge orchard meadow brook pond lake shore sea ship boat sail storm cloud sun moon
    star night day week month year hour minute clock watch ring glove hat bonnet coat
    shawl gown lace ribbon silver gold coin purse debt rent fortune income servant
    maid butler cook groom coachman clergyman doctor lawyer officer soldier sailor
    captain colonel admiral neighbour cousin friend stranger visitor guest party
    slowly softly gravely warmly coldly kindly sadly gladly often seldom always never
    perhaps indeed certainly surely hardly nearly almost quite rather very much little
    great small old young new long short high low early late cold warm bright dark
    silent gentle proper civil honest clever foolish handsome plain pale grave merry""".split()
)


@dataclass(frozen=True)
class LagDistribution:
    """How the lag of each training paragraph is drawn (see the module docstring).

    Attributes:
        kind: "fixed", "uniform", "loguniform" or "curriculum".
        low: the shortest lag (the only one for "fixed").
        high: the longest lag (ignored by "fixed").
        blocks: curriculum only: how many ramps the corpus holds.
        ramp: curriculum only: share of each block over which the upper bound rises.
        short_high, long_low, short_share: two_bands only: the short band is [low, short_high],
            the long band [long_low, high], and a lag is short with probability short_share.
    """

    kind: str = "loguniform"
    low: int = 1
    high: int = 60
    blocks: int = 1
    ramp: float = 0.5
    short_high: int = 5
    long_low: int = 30
    short_share: float = 0.5

    def __post_init__(self) -> None:
        if self.kind not in LAG_KINDS:
            raise ValueError(f"Lag distribution kind must be one of {LAG_KINDS}; got {self.kind!r}.")
        if not isinstance(self.low, int) or self.low < 1:
            raise ValueError(f"The lowest lag must be a positive integer; got {self.low!r}.")
        if self.kind != "fixed" and (not isinstance(self.high, int) or self.high < self.low):
            raise ValueError(
                f"The highest lag must be an integer >= low={self.low}; got {self.high!r}. Raise high or use kind='fixed'."
            )
        if self.blocks < 1:
            raise ValueError(f"blocks must be at least 1; got {self.blocks}.")
        if not 0.0 < self.ramp <= 1.0:
            raise ValueError(f"ramp must be in (0, 1]; got {self.ramp}.")
        if self.kind == "two_bands":
            if not self.low <= self.short_high < self.long_low <= self.high:
                raise ValueError(
                    f"two_bands needs low <= short_high < long_low <= high; got low={self.low}, short_high={self.short_high}, "
                    f"long_low={self.long_low}, high={self.high}. Widen the gap between the bands or raise high."
                )
            if not 0.0 <= self.short_share <= 1.0:
                raise ValueError(f"short_share must be in [0, 1]; got {self.short_share}.")

    @property
    def support(self) -> tuple[int, int]:
        """(smallest, largest) lag this distribution can draw."""
        return (self.low, self.low) if self.kind == "fixed" else (self.low, self.high)

    def sample(self, rng: random.Random, index: int, count: int) -> int:
        """The lag of paragraph ``index`` of ``count`` (the position matters for "curriculum")."""
        if self.kind == "fixed":
            return self.low
        if self.kind == "uniform":
            return rng.randint(self.low, self.high)
        if self.kind == "loguniform":
            return min(self.high, int(math.exp(rng.uniform(math.log(self.low), math.log(self.high + 1)))))
        if self.kind == "two_bands":
            return (
                rng.randint(self.low, self.short_high)
                if rng.random() < self.short_share
                else rng.randint(self.long_low, self.high)
            )
        block_size = max(1, math.ceil(count / self.blocks))
        progress = (index % block_size) / block_size  # 0 at a block's start, -> 1 at its end
        upper = self.low + round((self.high - self.low) * min(1.0, progress / self.ramp))
        return rng.randint(self.low, upper)


@dataclass(frozen=True)
class LongLagSpec:
    """What to generate.

    Attributes:
        lags: the lag distribution of training paragraphs.
        filler_vocab_size: how many distinct filler words (<= len(FILLER_WORDS)).
        num_cue_types: how many cue families, taken in order from CUE_TYPES.
        num_sequences: paragraphs in the training text.
        seed: the text is a pure function of this spec.
        filler_pattern: "random" (each filler word drawn afresh: nothing to predict) or "echo"
            (the filler comes in triples x y x: every third word repeats the word two back, so a
            model that predicts the filler must keep the last two words in its state too).
        distractor_rate: each filler word is, with this probability, replaced by an opening word
            of the paragraph's own cue family ("Mr", "Mrs"; "(", "[", "{"; not quotes): only the
            paragraph's first cue fixes the closing word, so a memory must ignore the later ones.
    """

    lags: LagDistribution = LagDistribution()
    filler_vocab_size: int = 24
    num_cue_types: int = 2
    num_sequences: int = 4000
    seed: int = 0
    filler_pattern: str = "random"
    distractor_rate: float = 0.0

    def __post_init__(self) -> None:
        if not 1 <= self.filler_vocab_size <= len(FILLER_WORDS):
            raise ValueError(f"filler_vocab_size must be in [1, {len(FILLER_WORDS)}]; got {self.filler_vocab_size}.")
        if not 1 <= self.num_cue_types <= len(CUE_TYPES):
            raise ValueError(f"num_cue_types must be in [1, {len(CUE_TYPES)}]; got {self.num_cue_types}.")
        if self.num_sequences < 1:
            raise ValueError(f"num_sequences must be at least 1; got {self.num_sequences}.")
        if self.filler_pattern not in FILLER_PATTERNS:
            raise ValueError(f"filler_pattern must be one of {FILLER_PATTERNS}; got {self.filler_pattern!r}.")
        if not 0.0 <= self.distractor_rate < 1.0:
            raise ValueError(f"distractor_rate must be in [0, 1); got {self.distractor_rate}.")
        check_lags_possible(self.lags.support[0], self.num_cue_types)

    @property
    def cue_types(self) -> tuple[CueType, ...]:
        return CUE_TYPES[: self.num_cue_types]

    @property
    def fillers(self) -> tuple[str, ...]:
        return FILLER_WORDS[: self.filler_vocab_size]


@dataclass(frozen=True)
class LagSequence:
    """One paragraph with a known cue and lag.

    Attributes:
        tokens: the paragraph's tokens (as the word tokenizer splits its text).
        text: the paragraph as text.
        cue_type: the family name.
        lag: token distance from the cue (index 0) to the dependent word.
        answer: the dependent word (tokens[lag]).
        alternatives: every closer of the family; ``answer`` is one of them.
    """

    tokens: tuple[str, ...]
    text: str
    cue_type: str
    lag: int
    answer: str
    alternatives: tuple[str, ...]

    @property
    def chance(self) -> float:
        """Accuracy of a uniform guess among the alternatives."""
        return 1.0 / len(self.alternatives)


def check_lags_possible(shortest_lag: int, num_cue_types: int) -> None:
    """Raise ValueError if no cue family of the first ``num_cue_types`` can fit ``shortest_lag``."""
    needed = min(cue.min_lag for cue in CUE_TYPES[:num_cue_types])
    if shortest_lag < needed:
        raise ValueError(
            f"A lag of {shortest_lag} is too short: the cue families {[c.name for c in CUE_TYPES[:num_cue_types]]} "
            f"need a lag of at least {needed} (e.g. 'Mr . Brown his' has lag 3, '( )' lag 1). Use lags >= {needed}."
        )


def make_sequence(cue: CueType, lag: int, rng: random.Random, spec: "LongLagSpec") -> LagSequence:
    """One paragraph of family ``cue`` whose dependent word comes ``lag`` tokens after the cue.

    Args:
        cue: the cue family; one of its openers is drawn.
        lag: token distance from the cue to the dependent word (>= cue.min_lag).
        rng: the random source (the caller's, so a corpus is one reproducible stream).
        spec: gives the filler words.
    """
    if lag < cue.min_lag:
        raise ValueError(f"The {cue.name} cue needs a lag of at least {cue.min_lag}; got {lag}.")
    choice = rng.randrange(len(cue.openers))
    tokens = list(cue.openers[choice])
    if cue.names:
        tokens.append(rng.choice(cue.names))
    tokens.extend(_filler(lag - len(tokens), cue, rng, spec))
    tokens.extend([cue.closers[choice], "."])
    return LagSequence(tuple(tokens), render(tokens), cue.name, lag, cue.closers[choice], cue.closers)


def _filler(count: int, cue: CueType, rng: random.Random, spec: "LongLagSpec") -> list[str]:
    """``count`` filler words in the spec's pattern, some replaced by distractor openers."""
    if spec.filler_pattern == "echo":
        words: list[str] = []
        while len(words) < count:
            first, second = rng.choice(spec.fillers), rng.choice(spec.fillers)
            words.extend([first, second, first])  # the third word repeats the first
        words = words[:count]
    else:
        words = [rng.choice(spec.fillers) for _ in range(count)]
    if spec.distractor_rate > 0 and cue.name != "quote":  # a stray quote would unbalance the rendered text
        openers = [opener[0] for opener in cue.openers]
        words = [rng.choice(openers) if rng.random() < spec.distractor_rate else word for word in words]
    return words


_GLUE_LEFT = {".", ",", ")", "]", "}"}
_GLUE_RIGHT = {"(", "[", "{"}
_QUOTES = {'"', "'"}


def render(tokens: list[str] | tuple[str, ...]) -> str:
    """Join tokens as a writer would: "Mr." and "(a b)", and quotes hugging their words."""
    pieces: list[str] = []
    open_quotes: set[str] = set()
    glue_next = True
    for token in tokens:
        glue = glue_next or token in _GLUE_LEFT
        glue_next = token in _GLUE_RIGHT
        if token in _QUOTES:
            if token in open_quotes:  # a closing quote hugs the word before it
                open_quotes.discard(token)
                glue = True
            else:
                open_quotes.add(token)
                glue_next = True
        pieces.append(token if glue else " " + token)
    return "".join(pieces)


def generate_sequences(spec: LongLagSpec) -> list[LagSequence]:
    """The training paragraphs of ``spec``: cue families in turn, lags from ``spec.lags``.

    Returns:
        ``spec.num_sequences`` sequences; the same spec always gives the same list.
    """
    rng = random.Random(spec.seed)
    cues = spec.cue_types
    sequences = []
    for index in range(spec.num_sequences):
        cue = cues[rng.randrange(len(cues))]
        # A cue longer than the drawn lag ("Mr . Brown" needs 3) takes its shortest lag instead.
        lag = max(spec.lags.sample(rng, index, spec.num_sequences), cue.min_lag)
        sequences.append(make_sequence(cue, lag, rng, spec))
    return sequences


def generate_text(spec: LongLagSpec) -> str:
    """The training text: one paragraph per sequence, separated by blank lines."""
    return "\n\n".join(sequence.text for sequence in generate_sequences(spec)) + "\n"


def evaluation_sequences(
    lags: list[int] | tuple[int, ...], per_lag: int, spec: LongLagSpec, seed: int = 1_000_003
) -> list[LagSequence]:
    """Held-out sequences with known cue and lag: ``per_lag`` for each lag, the families that fit in equal turns.

    Args:
        lags: the lags to test (each >= the families' shortest lag).
        per_lag: sequences per lag.
        spec: gives the cue families and filler words (its lags and seed are not used).
        seed: a seed distinct from training, so fillers differ from the training text.
    """
    if per_lag < 1:
        raise ValueError(f"per_lag must be at least 1; got {per_lag}.")
    if not lags:
        raise ValueError("Pass at least one lag to evaluate.")
    check_lags_possible(min(lags), spec.num_cue_types)
    rng = random.Random(seed)
    sequences = []
    for lag in lags:
        cues = [cue for cue in spec.cue_types if cue.min_lag <= lag]  # at lags 1-2 only one-token cues fit
        sequences.extend(make_sequence(cues[i % len(cues)], lag, rng, spec) for i in range(per_lag))
    return sequences


def build_corpus(spec: LongLagSpec, valid_sequences: int = 200) -> Corpus:
    """A :class:`Corpus` with "train" (``spec``) and "valid" (same distribution, another seed).

    The paragraphs come from the text through data.corpus.split_paragraphs, as
    any local corpus file would.
    """
    valid_spec = dataclasses.replace(spec, num_sequences=valid_sequences, seed=spec.seed + 7919)
    splits = {"train": split_paragraphs(generate_text(spec)), "valid": split_paragraphs(generate_text(valid_spec))}
    return Corpus(
        name=f"long-lag-{spec.lags.kind}-{spec.lags.low}-{spec.lags.support[1]}-seed{spec.seed}", splits=splits
    )
