"""`python -m model.predict`: the next-word distribution after a text, or a sampled continuation.

Examples:
    python -m model.predict checkpoints/novels-lstm "Mr. Robert shook" --top-k 10
    python -m model.predict checkpoints/novels-lstm "It was a dark" --generate 30 --temperature 0.8 --seed 1

The model reads [<eos>] + the text's words, as in training (the <eos> marks the
start of a paragraph). Words the vocabulary does not know are read as <unk>
and listed.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

import torch

from data.echo import shown
from model.cli_common import bounded_int, fail, one_line_errors, positive_float, print_json, set_offline_defaults
from model.language_model import model_device, require_eval_mode

set_offline_defaults()

if TYPE_CHECKING:
    from data.tokenizer import WordTokenizer
    from model.language_model import LanguageModel

# Tokens written without a space before them, and tokens after which no space follows.
_NO_SPACE_BEFORE = frozenset(".,;:!?)]}%")
_NO_SPACE_AFTER = frozenset("([{$")
_JOINERS = frozenset("-/")  # "to-day", "and/or": no space on either side
_CONTRACTIONS = frozenset({"s", "t", "ll", "re", "ve", "d", "m", "S", "T", "LL", "RE", "VE", "D", "M"})
MAX_TOP_K = 1000
MAX_GENERATE = 10_000


def join_tokens(tokens: list[str]) -> str:
    """Join word tokens into readable text: "Mr", ".", "Robert", ",", "don", "'", "t" -> "Mr. Robert, don't".

    Args:
        tokens: tokens as the word tokenizer splits text; "<eos>" becomes a paragraph break.

    Returns:
        The text, with no space before closing punctuation, none around hyphens
        and apostrophes inside words, and double quotes alternating open/close.
    """
    pieces: list[str] = []
    glue_next = True  # no space before the first token
    quote_open = False
    for index, token in enumerate(tokens):
        if token == "<eos>":
            pieces.append("\n\n")
            glue_next = True
            continue
        following = tokens[index + 1] if index + 1 < len(tokens) else ""
        glue = glue_next or token in _NO_SPACE_BEFORE or token in _JOINERS
        glue_next = token in _NO_SPACE_AFTER or token in _JOINERS
        if token == "'" and following in _CONTRACTIONS and pieces and pieces[-1][-1:].isalnum():
            glue, glue_next = True, True  # don't, it's, I'll
        elif token == '"':
            quote_open = not quote_open
            glue = glue or not quote_open  # a closing quote hugs the word before it
            glue_next = quote_open  # an opening quote hugs the word after it
        pieces.append(token if glue else " " + token)
    return "".join(pieces)


def top_k_next_words(model: "LanguageModel", tokenizer: "WordTokenizer", text: str, k: int) -> list[tuple[str, float]]:
    """The k most probable next words after ``text``, most probable first.

    Args:
        model: a language model in eval mode.
        tokenizer: its tokenizer.
        text: any text (may be empty: then the distribution at a paragraph's start).
        k: how many words; more than the vocabulary gives the whole vocabulary.

    Returns:
        [(word, probability)], sorted by probability, descending.

    Raises:
        ValueError: k < 1.
    """
    from model.pairs import next_word_log_probs

    if k < 1:
        raise ValueError(f"k must be at least 1; got {k}.")
    log_probs = next_word_log_probs(model, tokenizer, [text])[0]  # [V]
    values, indices = torch.topk(log_probs, min(k, log_probs.numel()))  # [k], [k]
    return [(tokenizer.id_to_token(int(index)), float(value.exp())) for value, index in zip(values, indices)]


@torch.no_grad()
def generate(
    model: "LanguageModel", tokenizer: "WordTokenizer", text: str, n: int, temperature: float = 1.0, seed: int = 0
) -> str:
    """Sample a continuation of ``n`` tokens after ``text``.

    Each token is drawn from softmax(logits / temperature); ``<unk>`` is never
    drawn (it is not a word anyone could read), ``<eos>`` becomes a paragraph break.

    Args:
        model: a language model in eval mode.
        tokenizer: its tokenizer.
        text: the prompt (may be empty).
        n: tokens to sample (>= 1).
        temperature: > 0; below 1 sharpens the distribution, above 1 flattens it.
        seed: seeds a private torch.Generator, so the same seed gives the same text.

    Returns:
        The continuation alone, joined with :func:`join_tokens` (no leading space).

    Raises:
        ValueError: n < 1, temperature not > 0, or the model in training mode.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1 token; got {n}.")
    if not temperature > 0 or temperature == float("inf"):
        raise ValueError(
            f"temperature must be a positive finite number; got {temperature}. Try 1.0 (plain sampling) or 0.7."
        )
    require_eval_mode(model, "sampled words would not follow the model's own probabilities")
    device = model_device(model)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    ids = torch.tensor([[tokenizer.eos_id, *tokenizer.encode(text).ids]], dtype=torch.long, device=device)  # [1, T + 1]
    features, state = model.features(ids)  # [1, T + 1, H]
    last = features[:, -1]  # [1, H]
    sampled: list[str] = []
    for _ in range(n):
        logits = model.logits_from_features(last)[0].float().cpu()  # [V]
        logits[tokenizer.unk_id] = float("-inf")
        probabilities = torch.softmax(logits / temperature, dim=-1)  # [V]
        index = int(torch.multinomial(probabilities, 1, generator=generator))
        sampled.append(tokenizer.id_to_token(index))
        features, state = model.features(torch.tensor([[index]], dtype=torch.long, device=device), state)  # [1, 1, H]
        last = features[:, -1]  # [1, H]
    return join_tokens(sampled)


def append_continuation(text: str, continuation: str) -> str:
    """The prompt followed by its continuation, with a space only where one belongs.

    Args:
        text: the prompt as typed.
        continuation: what :func:`generate` returned.

    Returns:
        The joined text.
    """
    if (
        not text
        or not continuation
        or text[-1].isspace()
        or continuation[0] in _NO_SPACE_BEFORE
        or continuation.startswith("\n")
    ):
        return text + continuation
    return text + " " + continuation


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of `python -m model.predict`."""
    parser = argparse.ArgumentParser(
        prog="python -m model.predict", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("checkpoint", metavar="CHECKPOINT", help="checkpoint folder written by model.train")
    parser.add_argument("text", help="the text to continue (quote it); may be empty for a paragraph's start")
    parser.add_argument(
        "--top-k",
        type=bounded_int(1, MAX_TOP_K, "a longer list is not readable"),
        default=10,
        help=f"how many next words to list (default 10, 1 to {MAX_TOP_K:,})",
    )
    parser.add_argument(
        "--generate",
        type=bounded_int(1, MAX_GENERATE, "one model step per token"),
        default=None,
        metavar="N",
        help=f"also sample a continuation of N tokens (1 to {MAX_GENERATE:,})",
    )
    parser.add_argument(
        "--temperature", type=positive_float, default=1.0, help="sampling temperature for --generate, > 0 (default 1.0)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed for --generate (default 0)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI.

    Args:
        argv: arguments without the program name (None: sys.argv[1:]).

    Returns:
        0 on success; errors exit with status 2.
    """
    args = build_parser().parse_args(argv)
    with one_line_errors():
        return _main(args)


def _main(args: argparse.Namespace) -> int:
    from model.checkpoint import CheckpointError, load_checkpoint

    try:
        checkpoint = load_checkpoint(args.checkpoint)
        unknown = checkpoint.tokenizer.encode(args.text).unknown_words
        top = top_k_next_words(checkpoint.model, checkpoint.tokenizer, args.text, args.top_k)
        continuation = None
        if args.generate:
            continuation = generate(
                checkpoint.model, checkpoint.tokenizer, args.text, args.generate, args.temperature, args.seed
            )
    except (CheckpointError, ValueError) as error:
        fail(str(error))
    if args.json:
        result: dict[str, Any] = {
            "checkpoint": checkpoint.path,
            "text": args.text,
            "unknown_words": unknown,
            "top_k": [{"word": word, "probability": probability} for word, probability in top],
        }
        if continuation is not None:
            result["generated"] = {
                "tokens": args.generate,
                "temperature": args.temperature,
                "seed": args.seed,
                "continuation": continuation,
            }
        print_json(result)
        return 0
    if unknown:
        print(f"unknown words (read as <unk>): {', '.join(unknown)}")
    print(f"next word after {shown(args.text)} ({checkpoint.name}):")
    for rank, (word, probability) in enumerate(top, start=1):
        print(f"  {rank:>3}. {word:<20} {probability:.4f}")
    if continuation is not None:
        print(f"\ngenerated ({args.generate} tokens, temperature {args.temperature}, seed {args.seed}):")
        print(append_continuation(args.text, continuation))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
