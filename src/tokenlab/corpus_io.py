"""Corpus readers: documents from text, JSONL (.gz/.zst), Parquet, a saved HF ``datasets`` directory,
and word counts from a ``word<TAB>count`` TSV; with reproducible byte-budget sampling.

Everything streams: files are read line by line or in record batches, so memory stays bounded by one
batch (plus the sample itself when ``sample_bytes`` is set). Bad input raises ``InvalidInputError``
naming the file and the line or record.
"""

from __future__ import annotations

import contextlib
import gzip
import heapq
import io
import json
import os
import random
import zlib
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, replace
from pathlib import Path

from .errors import InvalidInputError

FORMATS = ("text", "jsonl", "parquet", "datasets", "tsv")
TEXT_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class CorpusOptions:
    """How to read corpus files: ``field`` of JSONL records / ``datasets`` rows, ``column`` of Parquet
    files (default: ``field``), ``sample_bytes`` (a reproducible random sample of documents within that
    many UTF-8 bytes, drawn with ``seed``), and ``format`` to override detection by file name."""

    field: str = "text"
    column: str | None = None
    sample_bytes: int | None = None
    seed: int = 0
    format: str | None = None


_OPTIONS: ContextVar[CorpusOptions | None] = ContextVar("tokenlab_corpus_options", default=None)


@contextlib.contextmanager
def corpus_options(**kw):
    """Set the options that corpus-file readers deep inside a command use (e.g. ``compare -c x.jsonl``)."""
    token = _OPTIONS.set(replace(current_options(), **kw))
    try:
        yield current_options()
    finally:
        _OPTIONS.reset(token)


def current_options() -> CorpusOptions:
    return _OPTIONS.get() or CorpusOptions()


# ---------------------------------------------------------------------------------- detection
def _compression(path: Path) -> str | None:
    return {".gz": "gz", ".zst": "zst", ".zstd": "zst"}.get(path.suffix.lower())


def detect_format(path) -> str:
    """``text``, ``jsonl``, ``parquet``, ``datasets`` (a ``save_to_disk`` directory) or ``tsv``, by name."""
    path = Path(path)
    if path.is_dir():
        if (path / "state.json").is_file() or (path / "dataset_dict.json").is_file():
            return "datasets"
        raise InvalidInputError(f"{path}: a directory, but not a saved HF datasets dataset "
                                "(no state.json / dataset_dict.json)")
    if not path.is_file():
        raise InvalidInputError(f"{path}: no such file")
    suffixes = [s.lower() for s in path.suffixes]
    if _compression(path):
        suffixes = suffixes[:-1]
    last = suffixes[-1] if suffixes else ""
    if last in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if last in (".parquet", ".pq"):
        return "parquet"
    if last == ".tsv":
        return "tsv"
    return "text"


# ---------------------------------------------------------------------------------- raw lines
@contextlib.contextmanager
def _open_binary(path: Path):
    kind = _compression(path)
    if kind == "gz":
        f = gzip.open(path, "rb")
    elif kind == "zst":
        try:
            import zstandard
        except ImportError:
            raise InvalidInputError(f"{path}: reading .zst needs the zstandard package: "
                                    "pip install 'tokenlab[corpus]'") from None
        f = io.BufferedReader(_ZstdReader(path, zstandard), buffer_size=1 << 20)
    else:
        f = open(path, "rb")
    try:
        yield f
    finally:
        f.close()


class _ZstdReader(io.RawIOBase):
    """Decompresses every frame of a .zst file; a truncated last frame is an error (zstandard's own
    stream reader ends quietly there). Memory: one slice's output, not the frame's."""

    def __init__(self, path: Path, zstandard):
        self._raw = open(path, "rb")
        self._zstd = zstandard
        self._obj = zstandard.ZstdDecompressor().decompressobj()
        self._pending = b""
        self._pos = 0
        self._started = False

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        while not self._pending:
            # small input slices bound the output of one call (text compresses ~5-500x)
            block = self._raw.read(8192)
            if not block:
                if self._started and not self._obj.eof:
                    raise OSError("truncated zstd frame")
                return 0
            while block:
                self._started = True
                self._pending += self._obj.decompress(block)
                block = b""
                if self._obj.eof:  # several frames back to back
                    block = self._obj.unused_data
                    self._obj = self._zstd.ZstdDecompressor().decompressobj()
                    self._started = bool(block)
        n = min(len(buf), len(self._pending) - self._pos)
        buf[:n] = self._pending[self._pos:self._pos + n]
        self._pos += n
        if self._pos == len(self._pending):
            self._pending, self._pos = b"", 0
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


def _lines(path: Path) -> Iterator[bytes]:
    """Raw lines of a possibly compressed file; corrupt compression is one clear error."""
    try:
        with _open_binary(path) as f:
            yield from f
    except (OSError, EOFError, zlib.error) as exc:
        if isinstance(exc, FileNotFoundError):
            raise InvalidInputError(f"{path}: no such file") from None
        raise InvalidInputError(f"{path}: corrupt or truncated file ({exc})") from None
    except Exception as exc:  # zstandard.ZstdError is not an OSError
        if type(exc).__name__ == "ZstdError":
            raise InvalidInputError(f"{path}: corrupt .zst file ({exc})") from None
        raise


def _utf8(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{where}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None


# ---------------------------------------------------------------------------------- readers
def read_text(path, chunk_bytes: int = TEXT_CHUNK_BYTES) -> Iterator[str]:
    """A text file (optionally .gz/.zst) in pieces of about ``chunk_bytes``, cut after line ends."""
    path = Path(path)
    buf: list[bytes] = []
    size = offset = 0
    for line in _lines(path):
        buf.append(line)
        size += len(line)
        if size >= chunk_bytes:
            yield _utf8(b"".join(buf), f"{path} (near byte {offset})")
            offset += size
            buf, size = [], 0
    if buf:
        yield _utf8(b"".join(buf), f"{path} (near byte {offset})")


def read_jsonl(path, field: str = "text") -> Iterator[str]:
    """The ``field`` string of every JSON line (blank lines are skipped)."""
    path = Path(path)
    for number, line in enumerate(_lines(path), 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(_utf8(line, where))
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"{where}: not valid JSON ({exc.msg})") from None
        if not isinstance(record, dict):
            raise InvalidInputError(f"{where}: expected a JSON object per line")
        if field not in record:
            raise InvalidInputError(f"{where}: no field {field!r} (fields: {', '.join(map(str, record)) or 'none'}); "
                                    "choose one with --field")
        value = record[field]
        if not isinstance(value, str):
            raise InvalidInputError(f"{where}: field {field!r} is {type(value).__name__}, not a string")
        yield value


def _needs(module: str, extra: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise InvalidInputError(f"reading this corpus needs {module.split('.')[0]}: "
                                f"pip install 'tokenlab[{extra}]'") from None


def read_parquet(path, column: str = "text", batch_rows: int = 256) -> Iterator[str]:
    """One string column of a Parquet file, read in record batches; pages are streamed through a 1 MB buffer
    (no pre-buffering of whole row groups) so memory does not grow with the row-group size."""
    pq = _needs("pyarrow.parquet", "corpus")
    path = Path(path)
    try:
        pf = pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 20)
    except Exception as exc:  # pyarrow raises ArrowInvalid / OSError for a non-Parquet file
        raise InvalidInputError(f"{path}: not a readable Parquet file ({exc})") from None
    names = pf.schema_arrow.names
    if column not in names:
        raise InvalidInputError(f"{path}: no column {column!r} (columns: {', '.join(names)}); "
                                "choose one with --column")
    row = 0
    for batch in pf.iter_batches(batch_size=batch_rows, columns=[column], use_threads=False):
        for value in batch.column(0).to_pylist():
            row += 1
            if value is None:
                continue
            if not isinstance(value, str):
                raise InvalidInputError(f"{path}: row {row}: column {column!r} holds {type(value).__name__}, "
                                        "not strings")
            yield value


def read_datasets_dir(path, field: str = "text", batch_rows: int = 1024) -> Iterator[str]:
    """A directory written by ``datasets``' ``save_to_disk`` (a Dataset, or every split of a DatasetDict
    in sorted order); rows are read in batches from the memory-mapped Arrow files."""
    datasets = _needs("datasets", "datasets")
    try:
        data = datasets.load_from_disk(str(path))
    except Exception as exc:
        raise InvalidInputError(f"{path}: cannot load the saved dataset ({exc})") from None
    splits = [data[k] for k in sorted(data)] if isinstance(data, datasets.DatasetDict) else [data]
    for split in splits:
        if field not in split.column_names:
            raise InvalidInputError(f"{path}: no field {field!r} (columns: {', '.join(split.column_names)}); "
                                    "choose one with --field")
        for batch in split.select_columns([field]).iter(batch_size=batch_rows):
            for value in batch[field]:
                if value is not None:
                    if not isinstance(value, str):
                        raise InvalidInputError(f"{path}: field {field!r} holds {type(value).__name__}, "
                                                "not strings")
                    yield value


def read_word_counts(path) -> Iterator[tuple[str, int]]:
    """``word<TAB>count`` lines (a word may contain spaces, not tabs or newlines)."""
    path = Path(path)
    for number, line in enumerate(_lines(path), 1):
        text = _utf8(line, f"{path}:{number}").rstrip("\r\n")
        if not text:
            continue
        word, sep, count = text.rpartition("\t")
        try:
            n = int(count)
        except ValueError:
            n = -1
        if not sep or not word or n < 0:
            raise InvalidInputError(f"{path}:{number}: expected WORD<TAB>COUNT, got {text[:60]!r}")
        yield word, n


def pretoken_counts(paths: Iterable, pretokenizer) -> dict[bytes, int]:
    """Pretoken counts of word-count TSVs: each word is pre-tokenized and its pieces get the word's count,
    as if every word were a separate document repeated ``count`` times."""
    from collections import Counter

    counts: Counter = Counter()
    for path in paths:
        for word, n in read_word_counts(path):
            if n:
                for piece in pretokenizer.split(word):
                    counts[piece.encode("utf-8", "surrogatepass")] += n
    return dict(counts)


def documents_of(path, options: CorpusOptions | None = None, chunk_bytes: int = TEXT_CHUNK_BYTES) -> Iterator[str]:
    """Documents of one corpus input, by its detected (or given) format."""
    o = options or current_options()
    fmt = o.format or detect_format(path)
    if fmt == "text":
        return read_text(path, chunk_bytes)
    if fmt == "jsonl":
        return read_jsonl(path, o.field)
    if fmt == "parquet":
        return read_parquet(path, o.column or o.field)
    if fmt == "datasets":
        return read_datasets_dir(path, o.field)
    if fmt == "tsv":
        raise InvalidInputError(f"{path}: a word-count TSV gives word counts, not documents "
                                "(it is read by `tokenlab train --algorithm bpe` only)")
    raise InvalidInputError(f"unknown corpus format {fmt!r} ({', '.join(FORMATS)})")


def iter_documents(paths: Iterable, options: CorpusOptions | None = None, **kw) -> Iterator[str]:
    """Documents of all inputs in order, sampled when ``sample_bytes`` is set. Keywords override ``options``
    (``field``, ``column``, ``sample_bytes``, ``seed``, ``format``)."""
    o = replace(options or current_options(), **kw)
    paths = list(paths)
    for p in paths:
        if not Path(p).exists():
            raise InvalidInputError(f"{p}: no such file")
    # a sample of whole 1 MB pieces would be coarse: text files are cut finer when sampling
    chunk = TEXT_CHUNK_BYTES if o.sample_bytes is None else min(TEXT_CHUNK_BYTES, max(4096, o.sample_bytes // 64))
    docs = (d for p in paths for d in documents_of(p, o, chunk))
    if o.sample_bytes is None:
        return docs
    return sample_documents(docs, o.sample_bytes, o.seed)


def sample_documents(docs: Iterable[str], budget: int, seed: int = 0) -> Iterator[str]:
    """A random sample of ``docs`` of at most ``budget`` UTF-8 bytes, in their original order.

    Each document draws a key from ``random.Random(seed)``; the sample is the documents with the smallest
    keys that fit the budget together (a document larger than the budget is never taken). Memory holds
    the sample only; the same documents and seed give the same sample.
    """
    if budget < 1:
        raise InvalidInputError(f"sample size must be at least 1 byte, got {budget}")
    rng = random.Random(seed)
    heap: list[tuple[float, int, int, str]] = []  # (-key, index, size, doc): the largest key on top
    total = 0
    cutoff = 2.0  # keys at or above a dropped key can never be in the sample
    for index, doc in enumerate(docs):
        key = rng.random()
        size = len(doc.encode("utf-8"))
        if key >= cutoff or size > budget:
            continue
        heapq.heappush(heap, (-key, index, size, doc))
        total += size
        while total > budget:
            neg, _, dropped, _ = heapq.heappop(heap)
            total -= dropped
            cutoff = min(cutoff, -neg)
    for _, _, _, doc in sorted(heap, key=lambda e: e[1]):
        yield doc


def corpus_size_hint(paths: Iterable) -> int:
    """Bytes on disk of the inputs (for progress bars); directories count their files."""
    total = 0
    for p in paths:
        p = Path(p)
        if p.is_dir():
            total += sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
        elif p.is_file():
            total += os.path.getsize(p)
    return total
