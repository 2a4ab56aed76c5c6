"""Corpus -> token shards: fixed-size ``.npy`` shards plus a ``manifest.json``, resumable.

The work is split into *units* (a byte range of one input, cut at line ends, or one whole file).
:func:`encode_unit` is the map step: a plain, picklable function from a unit to its token array,
so it runs equally in a multiprocessing pool, on Dask or on Ray. The driver concatenates unit
outputs in unit order and cuts them into shards of exactly ``shard_tokens`` tokens (the last one
may be shorter); documents may span two shards, as in most pre-training pipelines.

Resuming: after every shard the manifest records where that shard ends (unit, token offset in the
unit). A re-run re-encodes from there and skips what is already on disk; encoding is
deterministic, so the result equals an uninterrupted run.
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import json
import os
import re
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import FormatError, InvalidInputError, TokenlabError

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "tokenlab-shards"
DEFAULT_SHARD_TOKENS = 1 << 25
DEFAULT_UNIT_BYTES = 1 << 22
EOS_CANDIDATES = ("<|endoftext|>", "</s>", "<|end_of_text|>", "<eos>", "<|eos|>", "[SEP]")


@dataclass(frozen=True)
class Unit:
    """A piece of input encoded as one task: bytes ``[start, end)`` of ``path``."""

    index: int
    path: str
    start: int
    end: int


# ---------------------------------------------------------------------------------- planning
def _line_cuts(path: str, size: int, unit_bytes: int) -> list[int]:
    """Offsets just after a newline, about ``unit_bytes`` apart (plus 0 and ``size``)."""
    cuts = [0]
    with open(path, "rb") as f:
        pos = unit_bytes
        while pos < size:
            f.seek(pos)
            tail = f.readline()
            pos += len(tail)
            if pos >= size:
                break
            cuts.append(pos)
            pos += unit_bytes
    cuts.append(size)
    return cuts


def plan_units(inputs: Sequence[str], documents: str = "lines", unit_bytes: int = DEFAULT_UNIT_BYTES) -> list[Unit]:
    """The deterministic list of work units for ``inputs``."""
    units: list[Unit] = []
    for path in inputs:
        size = os.path.getsize(path)
        if documents == "files":
            units.append(Unit(len(units), str(path), 0, size))
            continue
        cuts = _line_cuts(str(path), size, unit_bytes)
        for a, b in zip(cuts, cuts[1:]):
            if b > a:
                units.append(Unit(len(units), str(path), a, b))
    return units


# ---------------------------------------------------------------------------------- map step
_TOKENIZERS: dict[str, object] = {}


def _tokenizer(tokenizer):
    """A tokenizer object; paths are loaded once per process (pool worker, Dask or Ray worker)."""
    if not isinstance(tokenizer, (str, os.PathLike)):
        return tokenizer
    name = os.fspath(tokenizer)
    if name in _TOKENIZERS:  # an in-memory tokenizer registered before the pool forked
        return _TOKENIZERS[name]
    try:
        st = os.stat(name)
    except OSError:
        raise InvalidInputError(f"{name}: no such tokenizer file") from None
    key = f"{os.path.abspath(name)}|{st.st_size}|{st.st_mtime_ns}"  # a rewritten file is reloaded
    if key not in _TOKENIZERS:
        from .io import load_tokenizer

        _TOKENIZERS[key] = load_tokenizer(name)
    return _TOKENIZERS[key]


def _read_unit(unit: Unit) -> bytes:
    with open(unit.path, "rb") as f:
        f.seek(unit.start)
        data = f.read(unit.end - unit.start)
    if len(data) != unit.end - unit.start:
        raise InvalidInputError(f"{unit.path}: file changed while encoding (short read)")
    return data


class _UnitBuffers:
    """Units read one after another into ``count`` reused buffers (their pages are mapped once, not once per
    unit); ``read`` returns a view of the unit's bytes, valid until the buffer comes round again."""

    def __init__(self, count: int = 1):
        self._bufs = [np.empty(0, dtype=np.uint8) for _ in range(max(1, count))]
        self._next = 0

    def read(self, unit: Unit) -> memoryview:
        n = unit.end - unit.start
        k = self._next
        self._next = (k + 1) % len(self._bufs)
        if len(self._bufs[k]) < n:
            self._bufs[k] = np.empty(n, dtype=np.uint8)  # not zero-filled: the read maps each page once
        view = memoryview(self._bufs[k])[:n]
        got = 0
        with open(unit.path, "rb", buffering=0) as f:
            f.seek(unit.start)
            while got < n:
                step = f.readinto(view[got:])
                if not step:
                    break
                got += step
        if got != n:
            raise InvalidInputError(f"{unit.path}: file changed while encoding (short read)")
        return view


def _documents(unit: Unit, documents: str, native: bool = False, data: bytes | None = None) -> list:
    """The unit's documents: strs, or with ``native`` (the C encoder reads them) for lines ASCII strs and the
    UTF-8 bytes of other lines, cut and checked in one C pass (no decode, split and filter in Python)."""
    if data is None:
        data = _read_unit(unit)
    if native and documents == "lines":
        from .kernels import lines as line_kernel

        if line_kernel is not None:
            try:
                return line_kernel.lines(data)
            except ValueError:  # invalid UTF-8: the decoder below names it as before
                pass
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(
            f"{unit.path}: not valid UTF-8 ({exc.reason} at byte {unit.start + exc.start})") from None
    if documents == "files":
        return [text] if text else []
    if documents == "records":  # a staged JSONL file: one JSON string per line
        # not splitlines: U+2028 inside a JSON string is no line end
        return [json.loads(line) for line in text.split("\n") if line]
    lines = text.split("\n")
    if "\r" in text:
        lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    return list(filter(None, lines))


def encode_unit(unit: Unit, tokenizer, documents: str = "lines", eos_id: int | None = None,
                dtype: str = "uint32", threads: int = 1) -> np.ndarray:
    """Token ids of one unit: each document's ids, followed by ``eos_id`` when given.

    ``tokenizer`` is a tokenizer object or a path (loaded once per process and cached). ``threads``: the C
    encoder's threads for this unit (the local driver's; a pool or cluster task keeps 1).
    """
    return _encode_data(_tokenizer(tokenizer), unit, _read_unit(unit), documents, eos_id, dtype, threads)


def _encode_data(tok, unit: Unit, data: bytes, documents: str, eos_id: int | None, dtype: str,
                 threads: int = 1) -> np.ndarray:
    """``encode_unit`` on the unit's bytes. Lines for the C encoder go to ``_corpus.encode_lines`` (cut, checked
    and encoded in C, no Python object per line) where it is built; else cut into documents here."""
    fast = _native(tok)
    if fast is not None and documents == "lines":
        from .kernels import corpus as corpus_kernel

        if corpus_kernel is not None:
            try:
                ids, ends = corpus_kernel.encode_lines(fast.kernel, data, max(1, int(threads)))
            except (ValueError, TypeError):  # invalid UTF-8 (named below, as before) or another build's Encoder
                pass
            else:
                flat = np.frombuffer(ids, dtype=np.uint32).astype(dtype, copy=False)
                if eos_id is None:
                    return flat
                return np.insert(flat, np.frombuffer(ends, dtype=np.int64), eos_id)  # each line, then its eos
    docs = _documents(unit, documents, native=fast is not None, data=bytes(data))  # (a reused buffer's view)
    return _unit_ids(tok, docs, eos_id, dtype, threads)


def _unit_ids(tok, docs: list, eos_id: int | None, dtype: str, threads: int = 1) -> np.ndarray:
    if not docs:
        return np.zeros(0, dtype=dtype)
    flat, lengths = _encode_documents(tok, docs, threads)
    if eos_id is None:
        return flat.astype(dtype, copy=False)
    return np.insert(flat.astype(dtype, copy=False), np.cumsum(lengths), eos_id)  # each document, then its eos


def _native(tok):
    """The tokenizer's C encoder when the kernel also pre-tokenizes (a NativeBPE state machine), else None.
    Not a NativeRegexBPE: its kernel splits nothing itself, so its batch call would encode each line whole."""
    from .encode.native import NativeBPE
    from .tokenizer import Tokenizer

    fast = tok._fast if isinstance(tok, Tokenizer) else None
    return fast if type(fast) is NativeBPE else None


def _encode_documents(tok, docs: list, threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(all ids in one array, ids per document); special-token strings in a corpus are plain text."""
    from .tokenizer import Tokenizer

    fast = _native(tok)
    if fast is not None:
        # the C kernel's batch entry point, joined once (not one numpy array per line)
        try:
            ids, offsets = fast.kernel.encode_batch(docs, max(1, int(threads)), 2)  # ids + int64 offsets
        except UnicodeEncodeError:  # a lone surrogate (JSON records can hold one): the library's error
            fast.encode_texts(docs)
            raise
        return np.frombuffer(ids, dtype=np.uint32), np.diff(np.frombuffer(offsets, dtype=np.int64))
    docs = [d.decode("utf-8") if isinstance(d, bytes) else d for d in docs]
    if isinstance(tok, Tokenizer):
        encoded = tok.encode_batch(docs, num_threads=1, allowed_special=(), disallowed_special=(), as_array=True)
    else:
        encoded = [np.asarray(tok.encode(doc), dtype=np.int64) for doc in docs]
    lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
    return (np.concatenate(encoded) if len(encoded) else np.zeros(0, dtype=np.int64)), lengths


# ---------------------------------------------------------------------------------- helpers
def _hash_and_check(path: str, digest=None, start: int = 0) -> str:
    """SHA-256 of a file; also proves it is valid UTF-8 before any output is written (one read: the C check
    where built, else Python's incremental decoder). ``digest`` and ``start``: the file's first ``start`` bytes
    are already hashed into ``digest`` (and known valid; ``start`` is at a character boundary)."""
    from .kernels import lines as line_kernel

    if line_kernel is None:
        return _hash_and_check_python(path)
    if digest is None:
        digest = hashlib.sha256()
    carry = b""
    with open(path, "rb", buffering=0) as f:
        f.seek(start)
        # one reused block (its pages mapped once, it stays in cache), no larger than what is left to read
        buf = bytearray(max(1, min(CHECK_BLOCK, os.fstat(f.fileno()).st_size - start)))
        view = memoryview(buf)
        while True:
            got = f.readinto(buf)
            if not got:
                break
            block = view[:got]
            digest.update(block)
            data = carry + block if carry else block
            ok = line_kernel.check_utf8(data)
            if ok < 0:  # invalid: the decoder's pass names the reason and the byte, as before
                return _hash_and_check_python(path)
            carry = bytes(data[ok:])  # a sequence the block cut off
    if carry:
        return _hash_and_check_python(path)
    return digest.hexdigest()


CHECK_BLOCK = 1 << 20


def _hash_and_check_python(path: str) -> str:
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with open(path, "rb") as f:
        while True:
            block = f.read(1 << 22)
            final = not block
            try:
                decoder.decode(block, final=final)
            except UnicodeDecodeError as exc:
                raise InvalidInputError(
                    f"{path}: not valid UTF-8 ({exc.reason} near byte {offset + max(0, exc.start)})") from None
            if final:
                break
            digest.update(block)
            offset += len(block)
    return digest.hexdigest()


def _tokenizer_fingerprint(tokenizer, tok) -> str:
    if isinstance(tokenizer, (str, os.PathLike)):
        return hashlib.sha256(Path(tokenizer).read_bytes()).hexdigest()
    from .tokenizer import Tokenizer

    if type(tok) is Tokenizer:  # its content, without to_dict's base64 + JSON of every token (~1 s for cl100k)
        header = json.dumps(
            {"format": "tokenlab-fingerprint-1", "pretokenizer": tok.pretokenizer.to_dict(),
             "ignore_merges": tok.ignore_merges, "any_split": tok.any_split, "special_tokens": tok.special_tokens},
            sort_keys=True, default=str).encode()
        digest = hashlib.sha256(header)
        compiled = tok.__dict__.get("_compiled")
        if compiled is not None and not {"vocab", "merges", "id_to_bytes"} & tok.__dict__.keys():
            return _compiled_fingerprint(digest, header, compiled)
        from itertools import chain

        table = tok.id_to_bytes  # bytes of each id (None where no token has it)
        tokens = [t for t in table if t is not None]
        digest.update(json.dumps([i for i, t in enumerate(table) if t is None]).encode())
        digest.update(np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens)).tobytes())
        digest.update(b"".join(tokens))
        parts = list(chain.from_iterable(tok.merges))
        digest.update(np.fromiter(map(len, parts), dtype=np.int64, count=len(parts)).tobytes())
        digest.update(b"".join(parts))
        return digest.hexdigest()
    to_dict = getattr(tok, "to_dict", None)
    if to_dict is None:
        raise InvalidInputError("pass the tokenizer as a file path (this object cannot be fingerprinted)")
    return hashlib.sha256(json.dumps(to_dict(), sort_keys=True, default=str).encode()).hexdigest()


def _compiled_fingerprint(digest, header: bytes, compiled) -> str:
    """The fingerprint of a tokenizer over a compiled vocabulary, kept in the derived cache under its compiled
    key (which names the tables: source file digest, load arguments, builder) and the header: a later run reads
    32 bytes instead of hashing the tables again."""
    from .io.derived_cache import load_array, save_array

    memo = hashlib.sha256(b"encode-corpus fingerprint\0" + str(compiled.meta.get("key")).encode() + b"\0"
                          + header).hexdigest()
    cached = load_array("fingerprint", memo)
    if cached is not None and cached.dtype == np.uint8 and cached.shape == (32,):
        return cached.tobytes().hex()
    _digest_compiled(digest, compiled)  # the same bytes as the full path, without building vocab and merges
    save_array("fingerprint", memo, np.frombuffer(digest.digest(), dtype=np.uint8))
    return digest.hexdigest()


def _digest_compiled(digest, compiled) -> None:
    """Feed ``digest`` what ``_tokenizer_fingerprint`` feeds for the tokenizer's tables, read from its compiled
    vocabulary (token bytes in id order, specials included, and merges as id pairs): numpy over three arrays
    instead of building ~100k-entry dicts and lists (~0.3 s for cl100k on a cold run)."""
    sec = compiled.sections
    off = np.frombuffer(sec["off"], dtype=np.uint64).astype(np.int64)
    blob = np.frombuffer(sec["blob"], dtype=np.uint8)
    lens = np.diff(off)
    digest.update(json.dumps(np.flatnonzero(lens == 0).tolist()).encode())  # ids no token has
    digest.update(lens[lens > 0].tobytes())
    digest.update(sec["blob"])
    parts = np.frombuffer(sec["merges"], dtype=np.uint32)  # left, right, left, right, ...
    part_lens = lens[parts]
    digest.update(part_lens.tobytes())
    if not len(parts):
        return
    # every part's bytes back to back, gathered from blob: positions rise by one within a part and jump to
    # the next part's start at its first byte (a cumulative sum of steps, no per-part Python)
    starts = off[parts]
    index = np.int32 if len(blob) < 1 << 31 else np.int64
    step = np.ones(int(part_lens.sum()), dtype=index)
    firsts = np.cumsum(part_lens) - part_lens
    step[firsts[1:]] = starts[1:] - (starts[:-1] + part_lens[:-1]) + 1
    step[0] = starts[0]
    digest.update(blob[np.cumsum(step, dtype=index)].tobytes())


def choose_dtype(n_vocab: int, dtype: str = "auto") -> str:
    """uint16 when every id fits (n_vocab <= 65536), else uint32."""
    if dtype == "auto":
        return "uint16" if n_vocab <= 1 << 16 else "uint32"
    if dtype not in ("uint16", "uint32"):
        raise InvalidInputError(f"dtype must be auto, uint16 or uint32, got {dtype!r}")
    if dtype == "uint16" and n_vocab > 1 << 16:
        raise InvalidInputError(f"uint16 cannot hold ids of a {n_vocab}-token vocabulary; use uint32")
    return dtype


def _eos_id(tok, eos: str | None) -> int:
    specials = getattr(tok, "special_tokens", {}) or {}
    if eos is not None:
        if eos not in specials:
            raise InvalidInputError(f"end-of-document token {eos!r} is not a special token of this tokenizer")
        return int(specials[eos])
    for name in EOS_CANDIDATES:
        if name in specials:
            return int(specials[name])
    raise InvalidInputError("the tokenizer has no end-of-text special token; pass --eos TOKEN or --no-append-eos")


def _n_vocab(tok) -> int:
    compiled = getattr(tok, "__dict__", {}).get("_compiled")
    if compiled is not None and "n_vocab" not in tok.__dict__:  # its id table spans every id, specials too
        return len(compiled.sections["off"]) // 8 - 1
    n = getattr(tok, "n_vocab", None)
    return int(n) if n is not None else len(tok)


def shard_name(k: int) -> str:
    return f"shard-{k:06d}.npy"


def read_manifest(out_dir) -> dict | None:
    path = Path(out_dir) / MANIFEST
    if not path.exists():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise FormatError(f"{path}: corrupt manifest ({exc}); use --overwrite to start again") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise FormatError(f"{path}: not a tokenlab shard manifest; use --overwrite to start again")
    shards = manifest.get("shards")
    if not isinstance(shards, list) or not all(isinstance(s, dict) for s in shards):
        raise FormatError(f"{path}: shards: expected a list of objects; use --overwrite to start again")
    for k, shard in enumerate(shards):
        name = shard.get("file")
        # only our own names, inside the directory: a manifest must not make us read or trust other files
        if not isinstance(name, str) or not _SHARD_NAME.fullmatch(name):
            raise FormatError(f"{path}: shards[{k}].file: {str(name)[:60]!r} is not a shard name of this "
                              "directory (shard-NNNNNN.npy)")
    return manifest


_SHARD_NAME = re.compile(r"shard-\d{6,}\.npy")
LOCK = ".tokenlab-lock"


def file_sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


@contextmanager
def locked(out_dir: Path):
    """An exclusive lock on ``out_dir`` for one run; a second concurrent run is refused (the kernel frees
    the lock when a run dies, even by kill -9)."""
    import fcntl

    out_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(out_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            raise InvalidInputError(f"{out_dir}: another encode-corpus run (pid {holder}) is writing here; "
                                    "wait for it or use another directory") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def verify_shards(out_dir) -> dict:
    """Check every shard of a run against its manifest (name, size in tokens, SHA-256); returns the manifest.

    Raises FormatError naming the first shard that is missing, truncated or changed.
    """
    out_dir = Path(out_dir)
    manifest = read_manifest(out_dir)
    if manifest is None:
        raise InvalidInputError(f"{out_dir}: no {MANIFEST}")
    for shard in manifest["shards"]:
        _check_shard(out_dir, shard)
    return manifest


def _check_shard(out_dir: Path, shard: dict) -> None:
    path = out_dir / shard["file"]
    if not path.is_file():
        raise FormatError(f"{path}: shard is missing")
    want = shard.get("sha256")
    if want is not None and file_sha256(path) != want:
        raise FormatError(f"{path}: shard does not match its SHA-256 in {MANIFEST} (truncated or changed)")
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise FormatError(f"{path}: not a readable .npy shard ({exc})") from None
    if arr.ndim != 1 or len(arr) != int(shard.get("tokens", -1)):
        raise FormatError(f"{path}: shard holds {arr.shape} tokens, {MANIFEST} says {shard.get('tokens')}")


def load_shards(out_dir) -> np.ndarray:
    """All tokens of a finished (or partial) output, in order."""
    manifest = read_manifest(out_dir)
    if manifest is None:
        raise InvalidInputError(f"{out_dir}: no {MANIFEST}")
    arrays = [np.load(Path(out_dir) / s["file"], allow_pickle=False) for s in manifest["shards"]]
    return np.concatenate(arrays) if arrays else np.zeros(0, dtype=manifest["settings"]["dtype"])


def _write_manifest(out_dir: Path, manifest: dict) -> None:
    from .io.atomic import atomic_write_text

    atomic_write_text(out_dir / MANIFEST, json.dumps(manifest, indent=1) + "\n")


def _write_shard(out_dir: Path, k: int, tokens, hash_aside: bool = False) -> tuple[str, str]:
    """(file name, SHA-256) of shard ``k``: the bytes ``np.save`` writes of ``tokens`` (an array, or a list of
    arrays of one dtype written back to back: no concatenated copy), hashed from memory, not read back. With
    ``hash_aside`` the hash runs in a second thread while this one writes (both release the GIL)."""
    import io

    from .io.atomic import atomic_path

    pieces = [np.ascontiguousarray(t) for t in (tokens if isinstance(tokens, (list, tuple)) else [tokens])]
    if not pieces:
        raise ValueError("_write_shard: no arrays")
    dtype = pieces[0].dtype
    if any(p.dtype != dtype or p.ndim != 1 for p in pieces):
        raise ValueError("_write_shard: arrays of one dtype and one dimension expected")
    name = shard_name(k)
    n = sum(len(p) for p in pieces)
    head = io.BytesIO()
    np.lib.format.write_array_header_1_0(head, {"descr": np.lib.format.dtype_to_descr(dtype),
                                               "fortran_order": False, "shape": (n,)})
    views = [head.getvalue()] + [p.view(np.uint8) for p in pieces if len(p)]

    def digest_of() -> str:
        digest = hashlib.sha256()
        for v in views:
            digest.update(v)
        return digest.hexdigest()

    hashed: list = []
    aside = None
    if hash_aside and n * dtype.itemsize >= 1 << 20:
        import threading

        aside = threading.Thread(target=lambda: hashed.append(digest_of()), daemon=True)
        aside.start()
    try:
        with atomic_path(out_dir / name) as tmp:
            with open(tmp, "wb") as f:
                for v in views:
                    f.write(v)
    finally:
        if aside is not None:
            aside.join()
    return name, (hashed[0] if hashed else digest_of())


# ---------------------------------------------------------------------------------- executors
def _pool_map(workers: int, tokenizer):
    """An ordered ``map`` over a process pool with a bounded number of units in flight."""

    def run(fn, units):
        from .train.bpe import _in_daemon_process, _pool

        units = list(units)
        if workers <= 1 or len(units) <= 1 or _in_daemon_process():
            for u in units:
                yield fn(u)
            return
        from concurrent.futures.process import BrokenProcessPool

        try:
            with _pool(min(workers, len(units)), _warm, (tokenizer,)) as pool:
                pending: deque = deque()
                for u in units:
                    pending.append(pool.submit(fn, u))
                    if len(pending) >= 2 * workers:
                        yield pending.popleft().result()
                while pending:
                    yield pending.popleft().result()
        except BrokenProcessPool:  # a worker killed (out of memory) or unable to start: fail, never hang
            raise TokenlabError("an encoding worker process died (killed, out of memory, or it failed to start: "
                                "see its error above); workers=1 (--workers 1) encodes in this process") from None

    return run


def _kernel_releases_gil(tok) -> bool:
    """Units of this tokenizer are encoded by the C kernel, which releases the GIL and runs its own threads:
    they beat a process pool (no fork, no pickling of results, warm caches across units)."""
    return _native(tok) is not None


def _shareable(tokenizer, tok):
    """What pool tasks carry: a path, or for an in-memory tokenizer a key that forked workers inherit."""
    import multiprocessing as mp

    if isinstance(tokenizer, (str, os.PathLike)) or "fork" not in mp.get_all_start_methods():
        return tokenizer
    key = f"<in-memory tokenizer {id(tok)}>"
    _TOKENIZERS[key] = tok
    return key


def _warm(tokenizer) -> None:
    _tokenizer(tokenizer)


class _EncodeTask:
    """``encode_unit`` with its settings bound (picklable, unlike a lambda)."""

    def __init__(self, tokenizer, documents, eos_id, dtype, threads: int = 1):
        self.tokenizer, self.documents, self.eos_id, self.dtype = tokenizer, documents, eos_id, dtype
        self.threads = threads

    def __call__(self, unit: Unit) -> np.ndarray:
        return encode_unit(unit, self.tokenizer, self.documents, self.eos_id, self.dtype, self.threads)

    def read(self, unit: Unit) -> bytes:
        return _read_unit(unit)

    def encode(self, unit: Unit, data: bytes) -> np.ndarray:
        return _encode_data(_tokenizer(self.tokenizer), unit, data, self.documents, self.eos_id, self.dtype,
                            self.threads)


def _native_map(workers: int, check: _InputCheck | None = None):
    """An ordered ``map`` for a tokenizer the C kernel encodes: units one after another, each on ``workers``
    kernel threads (the kernel's thread pool keeps its caches warm across calls; a Python thread per unit would
    start each call with a cold cache). ``check`` (mode ``"along"``) hashes each unit's bytes once it encoded
    (so they are valid UTF-8). With more than one worker that hash and the next unit's read run in one helper
    thread while this unit encodes (the kernel runs without the GIL, and the helper's work ends long before it:
    a hash thread running all along, and a reader started per unit, held the GIL when this thread needed it and
    delayed the first unit of a 10 MB run by 5-20 ms)."""

    def feed(unit, data) -> None:
        if check is not None:
            check.feed(unit, data)  # hashed while in cache, before the buffer is read over

    def run(task: _EncodeTask, units):
        units = list(units)
        if workers <= 1 or len(units) < 2:
            buffers = _UnitBuffers(1)
            for u in units:
                data = buffers.read(u)
                ids = task.encode(u, data)
                feed(u, data)
                yield ids
            return
        buffers = _UnitBuffers(2)  # one being encoded; the helper hashes the last unit in the other, then reads
        steps = _overlapped(units, buffers.read, feed)
        ready = None
        try:  # closed at once on an error: its helper is joined before the caller reads the check
            for unit, data in steps:
                ids = task.encode(unit, data)
                if ready is not None:
                    yield ready
                ready = ids  # handed on after the next step, so the last one comes after every unit's hash
        finally:
            steps.close()
        if ready is not None:
            yield ready

    return run


def _overlapped(items: list, read: Callable, done: Callable) -> Iterable:
    """``(item, read(item))`` in order, and ``done(item, data)`` for each once the caller is through with it:
    while the caller uses item i, one helper thread calls ``done`` for item i-1 and then reads item i+1 (the
    last item is done when the caller asks past it). An error in either is raised where that item would come
    (a plain thread per item: concurrent.futures' import alone costs a few ms of a short run)."""
    import threading

    def start(prev, nxt: int):
        box: list = []

        def work():
            try:
                if prev is not None:
                    done(*prev)
                box.append((True, read(items[nxt]) if nxt < len(items) else None))
            except BaseException as exc:  # handed to the caller
                box.append((False, exc))

        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        return thread, box

    if not items:
        return
    data, prev = read(items[0]), None
    for i, item in enumerate(items):
        helper = start(prev, i + 1) if prev is not None or i + 1 < len(items) else None
        try:
            yield item, data
        finally:
            if helper is not None:
                helper[0].join()
        prev = (item, data)
        if helper is not None:
            ok, data = helper[1][0]
            if not ok:
                raise data
    done(*prev)


class _NoBar:
    def update(self, n=1) -> None:
        pass


def _progress(iterable, show: bool, **kw):
    """A tqdm bar, or with ``show`` off a stand-in (tqdm's import alone costs ~0.1-0.2 s)."""
    if show:
        from tqdm.auto import tqdm

        return tqdm(iterable, **kw)
    return iterable if iterable is not None else contextlib.nullcontext(_NoBar())


# ---------------------------------------------------------------------------------- driver
def encode_corpus(
    inputs: Iterable[str | os.PathLike],
    tokenizer,
    out_dir,
    *,
    shard_tokens: int = DEFAULT_SHARD_TOKENS,
    dtype: str = "auto",
    workers: int | None = None,
    append_eos: bool = True,
    eos: str | None = None,
    documents: str = "lines",
    unit_bytes: int = DEFAULT_UNIT_BYTES,
    overwrite: bool = False,
    progress: bool = True,
    map_fn: Callable[[Callable, list], Iterable[np.ndarray]] | None = None,
) -> dict:
    """Encode text files into token shards under ``out_dir``; returns the manifest.

    ``documents``: ``"lines"`` (each non-empty line, without its line end) or ``"files"``.
    ``map_fn(fn, units)`` must yield ``fn(unit)`` for each unit *in order*; the default runs the C kernel's
    ``workers`` threads in this process where it encodes the tokenizer, else a process pool of ``workers``
    (all cores by default). Give your own to run on Dask or Ray.
    """
    if documents not in ("lines", "files", "records"):
        raise InvalidInputError(f"documents must be 'lines' or 'files', got {documents!r}")
    if int(shard_tokens) < 1:
        raise InvalidInputError("shard_tokens must be at least 1")
    if int(unit_bytes) < 1:
        raise InvalidInputError("unit_bytes must be at least 1")
    inputs = [os.fspath(p) for p in inputs]
    if not inputs:
        raise InvalidInputError("no input files")
    if _needs_staging(inputs):
        inputs, documents = [_stage_documents(inputs, documents, Path(out_dir))], "records"
    for path in inputs:
        if not os.path.isfile(path):
            raise InvalidInputError(f"{path}: no such file")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InvalidInputError(f"{out_dir}: exists and is not a directory")
    tok = _tokenizer(tokenizer)
    dtype = choose_dtype(_n_vocab(tok), dtype)
    eos_id = _eos_id(tok, eos) if append_eos else None

    # with the C kernel each unit's bytes are hashed once encoded (nothing is written into out_dir before the
    # check has passed); else first, as a pool or cluster run needs them checked before it starts
    mode = "along" if map_fn is None and documents == "lines" and _kernel_releases_gil(tok) else "now"
    check = _InputCheck(inputs, mode, progress)
    settings = {"documents": documents, "append_eos": append_eos, "eos_id": eos_id, "dtype": dtype,
                "shard_tokens": int(shard_tokens), "unit_bytes": int(unit_bytes)}
    tok_info = {"sha256": _tokenizer_fingerprint(tokenizer, tok), "n_vocab": _n_vocab(tok),
                "path": os.path.abspath(tokenizer) if isinstance(tokenizer, (str, os.PathLike)) else None}

    created = [d for d in (out_dir, *out_dir.parents) if not d.exists()]  # deepest first: what locked() makes
    lock_existed = (out_dir / LOCK).exists()
    try:
        with locked(out_dir):
            return _encode_locked(out_dir, tokenizer, tok, inputs, check, settings, tok_info, overwrite, units_args=(
                documents, unit_bytes), shard_tokens=shard_tokens, workers=workers, eos_id=eos_id, dtype=dtype,
                progress=progress, map_fn=map_fn)
    except BaseException:
        if check.failed:  # a bad input leaves nothing behind: only the lock (and directories) this run made
            with contextlib.suppress(OSError):
                if not lock_existed:
                    (out_dir / LOCK).unlink()
                for d in created:
                    d.rmdir()
        raise


class _InputCheck:
    """The inputs' size, mtime, SHA-256 and UTF-8 check (the manifest's ``inputs``). ``mode``: ``"now"`` (done
    at once) or ``"along"`` (each unit's bytes hashed once encoded, in order: the encoder checks their UTF-8
    itself; what no unit covered is read at the end). ``result()`` finishes the check and raises its error."""

    def __init__(self, inputs: list[str], mode: str = "now", progress: bool = False):
        self.mode, self._info, self._error = mode, None, None
        self._inputs = list(inputs)
        if mode == "along":
            import threading

            self._lock = threading.Lock()  # feed (a helper thread) and result (the caller) one at a time
            self._stats = [os.stat(p) for p in self._inputs]
            self._digests = [hashlib.sha256() for _ in self._inputs]
            self._done = [0] * len(self._inputs)  # bytes hashed from the start of each input
            self._at = 0
        else:
            self._info = self._run(self._inputs, progress)

    @property
    def deferred(self) -> bool:
        return self.mode != "now"

    @staticmethod
    def _run(inputs: list[str], progress: bool = False) -> list[dict]:
        info = []
        for path in _progress(inputs, progress and len(inputs) > 1, desc="checking inputs", unit="file"):
            st = os.stat(path)
            info.append(_input_entry(path, st, _hash_and_check(path)))
        return info

    def feed(self, unit: Unit, data) -> None:
        """``along``: the bytes of ``unit`` (just encoded, so valid UTF-8), in unit order. Only a unit that starts
        where its input's hashed part ends counts; anything else is left for ``result()`` to read."""
        if self.mode != "along":
            return
        with self._lock:
            self._feed(unit, data)

    def _feed(self, unit: Unit, data) -> None:
        if self._info is not None or self._error is not None:  # result() came first: it read the rest itself
            return
        at = self._at
        while at < len(self._inputs) and not (self._inputs[at] == unit.path and self._done[at] == unit.start):
            at += 1
        if at == len(self._inputs):
            return
        self._at = at
        self._digests[at].update(data)
        self._done[at] = unit.end

    @property
    def failed(self) -> bool:
        return self._error is not None

    def result(self) -> list[dict]:
        if self.mode == "along":
            with self._lock:
                if self._info is None and self._error is None:
                    try:
                        self._info = [_input_entry(path, st, _hash_and_check(path, digest, done)) for path, st,
                                      digest, done in zip(self._inputs, self._stats, self._digests, self._done)]
                    except BaseException as exc:
                        self._error = exc
        if self._error is not None:
            raise self._error
        return self._info


def _input_entry(path: str, st: os.stat_result, sha256: str) -> dict:
    return {"path": os.path.abspath(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha256}


def _encode_locked(out_dir, tokenizer, tok, inputs, check, settings, tok_info, overwrite, *, units_args,
                   shard_tokens, workers, eos_id, dtype, progress, map_fn):
    documents, unit_bytes = units_args
    manifest = None if overwrite else read_manifest(out_dir)
    pending = manifest is None  # old shards removed and the first manifest written once the inputs checked out
    if manifest is not None:
        _check_resumable(manifest, check.result(), tok_info, settings, out_dir)
        if manifest.get("complete"):
            return manifest
    else:
        manifest = {"format": MANIFEST_FORMAT, "version": 1, "tokenizer": tok_info, "inputs": None,
                    "settings": settings, "shards": [], "total_tokens": 0, "complete": False}
    out_dir.mkdir(parents=True, exist_ok=True)

    units = plan_units(inputs, documents, unit_bytes)
    manifest["units"] = len(units)

    def ready(write: bool = True) -> None:
        """Before anything is written into out_dir (the inputs' check may still run beside the encoding)."""
        nonlocal pending
        if pending:
            manifest["inputs"] = check.result()
            _remove_old_shards(out_dir)
            pending = False
        if write:
            _write_manifest(out_dir, manifest)

    if not check.deferred:
        ready()
    done = manifest["shards"]
    start_unit, skip = (done[-1]["end"] if done else (0, 0))
    todo = units[start_unit:]
    ref, threads = tokenizer, 1
    n_workers = workers or os.cpu_count() or 1
    if map_fn is None and _kernel_releases_gil(tok):
        ref, threads = tok, n_workers  # the kernel's own threads, in this process
        map_fn = _native_map(n_workers, check)
    elif map_fn is None:
        ref = _shareable(tokenizer, tok)
        map_fn = _pool_map(n_workers, ref)
    task = _EncodeTask(ref, documents, eos_id, dtype, threads)
    aside = threads > 1  # a shard's hash beside its write: the kernel's threads are idle then

    buffer: list[np.ndarray] = []
    buffered = 0
    total_bytes = sum(u.end - u.start for u in todo)
    with _progress(None, progress, total=total_bytes, desc="encoding", unit="B", unit_scale=True) as bar:
        results = map_fn(task, todo)
        try:
            for unit, ids in zip(todo, results):
                ids = np.asarray(ids, dtype=dtype)
                if unit.index == start_unit and skip:
                    ids = ids[skip:]
                offset_in_unit = skip if unit.index == start_unit else 0
                while buffered + len(ids) >= shard_tokens:
                    take = int(shard_tokens) - buffered
                    buffer.append(ids[:take])
                    offset_in_unit += take
                    if pending:
                        ready()
                    _flush(out_dir, manifest, buffer, (unit.index, offset_in_unit), aside)
                    ids = ids[take:]
                    buffer, buffered = [], 0
                if len(ids):
                    buffer.append(ids)
                    buffered += len(ids)
                bar.update(unit.end - unit.start)
        except InvalidInputError:
            check.result()  # an invalid input the encoder met first: named by the check, as before
            raise
    if pending:
        ready(write=not buffered)  # the last shard's flush writes the manifest
    manifest["complete"] = True  # written with the last shard's entry (one manifest write, not two)
    if buffered:
        _flush(out_dir, manifest, buffer, (len(units), 0), aside)
    else:
        _write_manifest(out_dir, manifest)
    return manifest


STAGED = "documents.staged.jsonl"


def _needs_staging(inputs: list[str]) -> bool:
    """Inputs that cannot be cut into byte ranges (JSONL, Parquet, datasets, compressed) or a sample."""
    import sys

    if f"{__package__}.corpus_io" not in sys.modules and all(_plain_text_file(p) for p in inputs):
        return False  # no options were set (they live in corpus_io) and no reader is needed: skip its import
    from .corpus_io import _compression, current_options, detect_format

    if current_options().sample_bytes is not None:
        return True
    return any(detect_format(p) != "text" or _compression(Path(p)) for p in inputs)


_NOT_TEXT_SUFFIXES = (".gz", ".zst", ".zstd", ".jsonl", ".ndjson", ".json", ".parquet", ".pq", ".tsv")


def _plain_text_file(path: str) -> bool:
    """A regular file that ``corpus_io.detect_format`` calls text, uncompressed (judged by its name alone)."""
    return os.path.isfile(path) and not os.path.basename(path).lower().endswith(_NOT_TEXT_SUFFIXES)


def _stage_documents(inputs: list[str], documents: str, out_dir: Path) -> str:
    """Stream the documents (records of structured inputs; lines or whole files of text inputs) into one
    JSONL file of strings under ``out_dir``, which the units then cut at line ends. Deterministic, so a
    re-run stages the same file and resumes."""
    from .corpus_io import current_options, detect_format, documents_of, sample_documents
    from .io.atomic import atomic_path

    opts = current_options()

    def docs():
        for path in inputs:
            if detect_format(path) == "text":
                chunks = documents_of(path, opts)
                if documents == "files":
                    text = "".join(chunks)
                    if text:
                        yield text
                    continue
                tail = ""
                for chunk in chunks:
                    lines = (tail + chunk).split("\n")
                    tail = lines.pop()
                    yield from (x.removesuffix("\r") for x in lines if x.removesuffix("\r"))
                if tail.removesuffix("\r"):
                    yield tail.removesuffix("\r")
            else:
                yield from (d for d in documents_of(path, opts) if d)

    stream = docs() if opts.sample_bytes is None else sample_documents(docs(), opts.sample_bytes, opts.seed)
    created = not out_dir.exists()
    target = out_dir / STAGED
    try:
        with atomic_path(target) as tmp:
            with open(tmp, "w", encoding="utf-8") as f:
                for doc in stream:
                    f.write(json.dumps(doc, ensure_ascii=False) + "\n")
    except BaseException:
        if created:  # a bad input leaves nothing behind
            with contextlib.suppress(OSError):
                out_dir.rmdir()
        raise
    return str(target)


def _flush(out_dir: Path, manifest: dict, tokens, end: tuple[int, int], hash_aside: bool = False) -> None:
    """Write the next shard (``tokens``: an array or a list of arrays, see ``_write_shard``) and record it."""
    k = len(manifest["shards"])
    name, digest = _write_shard(out_dir, k, tokens, hash_aside)
    n = sum(map(len, tokens)) if isinstance(tokens, (list, tuple)) else len(tokens)
    manifest["shards"].append({"file": name, "tokens": int(n), "end": list(end), "sha256": digest})
    manifest["total_tokens"] = int(manifest["total_tokens"]) + int(n)
    _write_manifest(out_dir, manifest)


def _check_resumable(manifest: dict, input_info: list, tok_info: dict, settings: dict, out_dir: Path) -> None:
    hint = "; use --overwrite (overwrite=True) to start again"
    if manifest.get("tokenizer", {}).get("sha256") != tok_info["sha256"]:
        raise InvalidInputError(f"{out_dir}: made with a different tokenizer{hint}")
    old = [(i["path"], i["size"], i["sha256"]) for i in manifest.get("inputs", [])]
    new = [(i["path"], i["size"], i["sha256"]) for i in input_info]
    if old != new:
        changed = [n[0] for o, n in zip(old, new) if o != n] or ["the list of inputs"]
        raise InvalidInputError(f"{out_dir}: inputs changed since the last run ({changed[0]}){hint}")
    if manifest.get("settings") != settings:
        diff = sorted(k for k in settings if manifest.get("settings", {}).get(k) != settings[k])
        raise InvalidInputError(f"{out_dir}: settings changed since the last run ({', '.join(diff)}){hint}")
    for shard in manifest["shards"]:
        if not (out_dir / shard["file"]).is_file():
            raise InvalidInputError(f"{out_dir}: shard {shard['file']} is missing{hint}")
        try:
            _check_shard(out_dir, shard)
        except FormatError as exc:
            raise InvalidInputError(f"{exc}{hint}") from None


def _remove_old_shards(out_dir: Path) -> None:
    if not out_dir.is_dir():
        return
    for path in out_dir.glob("shard-*.npy"):
        path.unlink()
    from .io.atomic import remove_stale_temps

    remove_stale_temps(out_dir)
    manifest = out_dir / MANIFEST
    if manifest.exists():
        manifest.unlink()


def dask_map(client, window: int | None = None) -> Callable:
    """``map_fn`` running a map step (:func:`encode_corpus`'s units, or
    :func:`tokenlab.train.bpe.count_pretokens`' batches of documents) on a ``dask.distributed`` client.

    Results come back in submission order; at most ``window`` tasks (default: twice the cluster's
    threads) are in flight, so a long stream of inputs is not held in memory all at once.
    """

    def run(fn, items):
        limit = window or 2 * max(1, sum(client.nthreads().values()))
        fn_future = client.scatter(fn, broadcast=True, hash=False)  # shipped once, not with every task
        pending: deque = deque()
        for item in items:
            pending.append(client.submit(_call, fn_future, item, pure=False))
            if len(pending) >= limit:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

    return run


def ray_map(window: int | None = None) -> Callable:
    """``map_fn`` running a map step as Ray tasks (call ``ray.init()`` first); in order, at most ``window``
    tasks (default: twice the cluster's CPUs) in flight."""
    import ray

    def run(fn, items):
        remote = ray.remote(_call_ray)
        # shipped once, not with every task; boxed so Ray does not resolve it per task (each worker
        # unpickles it once and keeps it: a tokenizer's tables are built once per worker, not per unit)
        fn_box = [ray.put(fn)]
        limit = window or 2 * max(1, int(ray.cluster_resources().get("CPU", 1)))
        pending: deque = deque()
        for item in items:
            pending.append(remote.remote(fn_box, item))
            if len(pending) >= limit:
                yield ray.get(pending.popleft())
        while pending:
            yield ray.get(pending.popleft())

    return run


def _call(fn, item):
    return fn(item)


_RAY_FNS: dict = {}


def _call_ray(fn_box, item):
    import ray

    ref = fn_box[0]
    key = ref.hex()
    fn = _RAY_FNS.get(key)
    if fn is None:
        if len(_RAY_FNS) >= 4:  # a long-lived worker serves several runs: keep the latest few
            _RAY_FNS.pop(next(iter(_RAY_FNS)))
        fn = _RAY_FNS[key] = ray.get(ref)
    return fn(item)


@contextmanager
def cluster_map(spec: str | None):
    """The ``map_fn`` for a ``--cluster`` option: ``dask:ADDRESS`` (a running scheduler), ``ray`` (the
    running Ray instance, or a new local one) or ``ray:ADDRESS``; ``None`` gives ``None`` (local run).
    Whatever this opens is closed afterwards."""
    if not spec:
        yield None
        return
    kind, _, address = spec.partition(":")
    if kind == "dask":
        if not address:
            raise InvalidInputError("--cluster dask needs the scheduler address: dask:tcp://HOST:8786")
        try:
            from dask.distributed import Client
        except ImportError:
            raise InvalidInputError("--cluster dask needs dask: pip install 'tokenlab[dask]'") from None
        try:
            client = Client(address, timeout=30)
        except OSError as exc:
            raise InvalidInputError(f"--cluster {spec}: cannot reach the Dask scheduler ({exc})") from None
        with client:
            yield dask_map(client)
        return
    if kind == "ray":
        try:
            import ray
        except ImportError:
            raise InvalidInputError("--cluster ray needs ray: pip install 'tokenlab[ray]'") from None
        started = False
        if not ray.is_initialized():
            try:
                ray.init(address=address or None, include_dashboard=False, log_to_driver=False)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise InvalidInputError(f"--cluster {spec}: cannot start or reach Ray ({exc})") from None
            started = True
        try:
            yield ray_map()
        finally:
            if started:
                ray.shutdown()
        return
    raise InvalidInputError(f"--cluster: expected dask:ADDRESS, ray or ray:ADDRESS, got {spec!r}")


__all__ = ["Unit", "choose_dtype", "cluster_map", "dask_map", "encode_corpus", "encode_unit", "load_shards",
           "plan_units", "ray_map", "read_manifest", "verify_shards"]
