"""Corpora larger than memory: token ids in a file on disk, read one window at a time.

    text files --load_text_dataset--> Arrow dataset (datasets' cache, on disk)
               --datasets.map(batched, num_proc)--> ids per sample (Arrow, on disk)
               --written in record batches--> <token cache>/<key>.int32   (flat int32 ids)
               --np.memmap--> 1-D torch tensor [N] backed by the file

The in-memory path (data/corpus.py + model.training.encode_splits) holds every
paragraph in a Python list and every id in a tensor. Here nothing proportional
to the corpus is held in memory: the map runs over Arrow batches, the ids are
copied to the token file batch by batch, and training reads windows
``rows[:, i*T : i*T + T]`` from the memory-mapped file (the operating system pages
them in and out). The ids are the same as the in-memory path's: the same
`datasets` text builder, :func:`data.corpus.split_paragraphs` and
:meth:`WordTokenizer.iter_ids` (each paragraph followed by ``<eos>``).

The token file's name is a hash of the text file's sha256 and the tokenizer's
fingerprint, so a second run on the same corpus skips tokenizing.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any, Iterator

import numpy as np
import torch
from filelock import FileLock

from data.corpus import Corpus, file_record, load_text_dataset, local_paths, split_paragraphs
from data.files import write_atomic
from data.tokenizer import WordTokenizer

# Above this much training text, `python -m model.train --stream auto` streams.
STREAM_THRESHOLD_BYTES = 256 * 2**20
TOKEN_DTYPE = np.int32  # 4 bytes a token; vocabularies stay far below 2**31
_FORMAT_VERSION = "memory-lab-tokens-1"


def token_cache_dir() -> str:
    """Where token files go: $MEMORY_LAB_TOKEN_CACHE, else ~/.cache/memory-lab/tokens."""
    return os.environ.get("MEMORY_LAB_TOKEN_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "memory-lab", "tokens"
    )


def should_stream(paths: dict[str, str], mode: str) -> bool:
    """Decide whether to stream.

    Args:
        paths: split -> text file (or list of files, see :func:`data.corpus.local_paths`).
        mode: "on", "off", or "auto" (stream when the training file exceeds STREAM_THRESHOLD_BYTES).
    """
    if mode not in ("auto", "on", "off"):
        raise ValueError(f"stream mode must be auto, on or off; got {mode!r}.")
    if mode != "auto":
        return mode == "on"
    train = paths["train"]
    return (
        sum(os.path.getsize(path) for path in ([train] if isinstance(train, str) else train)) > STREAM_THRESHOLD_BYTES
    )


def iter_paragraphs(dataset: Any, batch_size: int = 1000) -> Iterator[str]:
    """Every paragraph of one split of :func:`data.corpus.load_text_dataset`, read batch by batch."""
    for batch in dataset.iter(batch_size=batch_size):
        for text in batch["text"]:
            yield from split_paragraphs(text)


def train_tokenizer(dataset: Any, min_frequency: int = 3, max_size: int | None = None) -> WordTokenizer:
    """Build the vocabulary from a streamed training split (only word counts are held in memory)."""
    return WordTokenizer.train(iter_paragraphs(dataset), min_frequency=min_frequency, max_size=max_size)


def _encode_batch(batch: dict[str, list[str]], tokenizer: WordTokenizer) -> dict[str, list[list[int]]]:
    """datasets.map function: each sample's paragraphs -> one flat list of ids (<eos> after each)."""
    ids = []
    for text in batch["text"]:
        ids.append([i for paragraph_ids in tokenizer.iter_ids(split_paragraphs(text)) for i in paragraph_ids])
    return {"ids": ids}


def token_file_key(text_sha256: str, tokenizer: WordTokenizer) -> str:
    """The cache key of one split's token file: text content + vocabulary + file format."""
    return hashlib.sha256(f"{_FORMAT_VERSION}:{text_sha256}:{tokenizer.fingerprint()}".encode()).hexdigest()[:32]


def tokenize_to_file(
    dataset: Any, tokenizer: WordTokenizer, path: str, num_proc: int = 1, batch_size: int = 1000
) -> int:
    """Tokenize one split with ``datasets.map`` and write its ids to ``path`` as flat int32.

    Args:
        dataset: one split of :func:`data.corpus.load_text_dataset`.
        tokenizer: the vocabulary.
        path: the token file to write (atomically: data.files.write_atomic).
        num_proc: processes tokenizing in parallel (datasets.map's num_proc).
        batch_size: samples per map call and per write.

    Returns:
        The number of tokens written.
    """
    from datasets import Features, Sequence, Value  # imported late: HF_* offline flags must be set first

    num_proc = max(1, min(num_proc, len(dataset)))
    mapped = dataset.map(
        _encode_batch,
        batched=True,
        batch_size=batch_size,
        num_proc=num_proc if num_proc > 1 else None,
        fn_kwargs={"tokenizer": tokenizer},
        remove_columns=dataset.column_names,
        features=Features({"ids": Sequence(Value("int32"))}),
        # Named after the token file (whose name already hashes text and vocabulary), which spares
        # `datasets` hashing the tokenizer to fingerprint the map.
        new_fingerprint=hashlib.sha256(os.path.abspath(path).encode()).hexdigest()[:32],
        desc="tokenizing",
    )
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    count = 0

    def write(temporary: str) -> None:
        nonlocal count
        with open(temporary, "wb") as stream:
            for ids in _id_batches(mapped, batch_size):
                stream.write(ids.astype(TOKEN_DTYPE, copy=False).tobytes())
                count += ids.size

    write_atomic(path, write, ".int32")
    _remove_map_cache(mapped, dataset)
    return count


def _id_batches(mapped: Any, batch_size: int) -> Iterator[np.ndarray]:
    """The flat ids of each Arrow record batch, in order.

    The map's cache files are read with ordinary buffered reads rather than a
    memory map, so the pages read do not stay resident in this process.
    """
    import pyarrow as pa  # comes with datasets, which is imported late (offline flags first)

    files = [entry["filename"] for entry in mapped.cache_files]
    if files:
        for filename in files:
            with pa.OSFile(filename, "rb") as source:
                for record_batch in pa.ipc.open_stream(source):
                    yield record_batch.column("ids").flatten().to_numpy(zero_copy_only=False)
        return
    for batch in mapped.with_format("arrow").iter(batch_size=batch_size):  # an in-memory dataset
        yield batch.column("ids").flatten().to_numpy(zero_copy_only=False)


def _remove_map_cache(mapped: Any, source: Any) -> None:
    """The token file now holds the ids; their Arrow copy would only double the disk used."""
    keep = {entry["filename"] for entry in source.cache_files}
    for entry in mapped.cache_files:
        if entry["filename"] not in keep and os.path.exists(entry["filename"]):
            os.remove(entry["filename"])


def open_token_file(path: str):
    """Memory-map a token file as a 1-D int32 torch tensor [N] (nothing is read until used).

    Copy-on-write mapping: the tensor is writable in memory (torch wants that) but
    the file never changes.
    """

    size = os.path.getsize(path)
    itemsize = np.dtype(TOKEN_DTYPE).itemsize
    if size == 0 or size % itemsize:
        raise ValueError(
            f"{path} is not a token file ({size} bytes, not a positive multiple of {itemsize}). Delete it to re-tokenize."
        )
    array = np.memmap(path, dtype=TOKEN_DTYPE, mode="c")
    return torch.from_numpy(array)


def stream_corpus(
    tokenizer: WordTokenizer | None,
    train: str | None = None,
    valid: str | None = None,
    test: str | None = None,
    folder: str | None = None,
    cache_dir: str | None = None,
    num_proc: int = 1,
    min_frequency: int = 3,
    max_size: int | None = None,
) -> tuple[Corpus, WordTokenizer, dict[str, Any]]:
    """Local text files -> memory-mapped token streams, tokenizing only what is not cached.

    Args:
        tokenizer: the vocabulary, or None to build one from the training split.
        train, valid, test, folder: the files, as for :func:`data.corpus.load_local`.
        cache_dir: where token files live (default :func:`token_cache_dir`).
        num_proc: tokenizing processes.
        min_frequency, max_size: vocabulary settings when ``tokenizer`` is None.

    Returns:
        (a Corpus with names and sha256 of the files but no paragraphs in memory, the tokenizer,
        split -> 1-D int32 tensor of ids backed by its token file), ready for
        ``model.training.train(config, corpus, tokenizer, streams=...)``.
    """
    name, paths = local_paths(train, valid, test, folder)
    cache_dir = cache_dir or token_cache_dir()
    dataset = load_text_dataset(paths)
    if tokenizer is None:
        tokenizer = train_tokenizer(dataset["train"], min_frequency=min_frequency, max_size=max_size)
    files, streams = {}, {}
    for split, path in paths.items():
        files[split] = file_record(path)
        token_path = os.path.join(cache_dir, token_file_key(files[split]["sha256"], tokenizer) + ".int32")
        os.makedirs(cache_dir, exist_ok=True)
        # torchrun starts every rank at once: the first to take the lock tokenizes, the others then find the file.
        with FileLock(token_path + ".lock"):
            if not os.path.isfile(token_path):
                tokenize_to_file(dataset[split], tokenizer, token_path, num_proc=num_proc)
        if os.path.getsize(token_path) == 0:
            raise ValueError(f"The {split} file {path} holds no text. Pass a file with words in it.")
        streams[split] = open_token_file(token_path)
    return Corpus(name=name, splits={}, files=files), tokenizer, streams
