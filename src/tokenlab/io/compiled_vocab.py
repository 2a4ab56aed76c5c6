"""A compiled vocabulary: what the C kernel and a `Tokenizer` need, cached on disk and read back with one read.

A cold load of cl100k parses 100k base64 lines, checks every token and merge, derives the merges and builds
the kernel's tables (~1 s). All of that depends only on the source file and the load arguments, so the result
is kept under the derived cache (``$TOKENLAB_CACHE_DIR`` or ``~/.cache/tokenlab``) as
``compiled-<key>.bin``, where the key hashes the source file's SHA-256, the pre-tokenizer, the specials, the
encoding switches, the Unicode class table, this format's version and the code that builds the tables
(`_builder_stamp`). A hit skips parsing and checking (the
file was made from checked data and carries a CRC-32): the kernel is built from its buffers, and the
tokenizer's ``vocab`` and ``merges`` are made from them only when something reads them.

Layout (native byte order, the order is part of the key): ``MAGIC``, version (u32), CRC-32 of the rest (u32),
section count (u32), then one u64 length per section, then the sections, each padded to 8 bytes: metadata
JSON, class table, token bytes, offsets (u64), vocab ids, vocab ranks, byte ids, pair table, merges (all u32).
A file with another magic, version, size, section count, CRC or key is ignored and rebuilt; an unwritable
cache directory means no cache (the tokenizer is built as before).
"""

from __future__ import annotations

import json
import os
import struct
import sys

MAGIC = b"TLCVOCAB"
VERSION = 1
SECTIONS = ("meta", "cls", "blob", "off", "ids", "ranks", "byte_ids", "pairs", "merges")
_HEAD = struct.Struct("<8sIII")


def _pad(n: int) -> int:
    return -n % 8


def compiled_key(source_digest: str, pretokenizer, special_tokens: dict[str, int], ignore_merges: bool,
                 any_split: bool, extra: bytes = b"") -> str:
    """The cache key of one load: everything the compiled tables depend on."""
    import hashlib

    h = hashlib.sha256()
    h.update(json.dumps([VERSION, sys.byteorder, source_digest, pretokenizer.to_dict(),
                         sorted(special_tokens.items()), bool(ignore_merges), bool(any_split),
                         _class_table_digest(), _builder_stamp()]).encode())
    h.update(extra)
    return h.hexdigest()


def _class_table_digest() -> str:
    """SHA-256 of the shipped Unicode classes the kernel's class table is built from."""
    import hashlib

    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "unicode_classes.json")
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _builder_stamp() -> str:
    """What made the tables: the sources of this module and of ``native_tables`` and the kernel binary's size and
    mtime, so that a changed table builder or kernel never reads tables an older one wrote (a rebuilt kernel
    costs one rebuild of the file)."""
    import hashlib

    from ..kernels import bpe as kernel

    h = hashlib.sha256()
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for path in (__file__, os.path.join(here, "encode", "native.py")):
        try:
            with open(path, "rb") as f:
                h.update(f.read())
        except OSError:
            h.update(path.encode())
    try:
        st = os.stat(kernel.__file__)
        h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
    except (AttributeError, TypeError, OSError):
        pass
    return h.hexdigest()


def cache_path(key: str) -> str:
    from .derived_cache import cache_dir

    return os.path.join(cache_dir(), f"compiled-{key[:40]}.bin")


class CompiledVocab:
    """The sections of one compiled vocabulary (memoryviews into one ``bytes``)."""

    def __init__(self, meta: dict, sections: dict):
        self.meta = meta
        self.sections = sections

    def kernel_tables(self) -> dict:
        s, m = self.sections, self.meta
        return {"cls": s["cls"], "blob": s["blob"], "off": s["off"], "ids": s["ids"], "ranks": s["ranks"],
                "byte_ids": s["byte_ids"], "pairs": s["pairs"], "pattern": m["pattern"],
                "split_digits": m["split_digits"], "ignore_merges": m["ignore_merges"], "any_split": m["any_split"]}

    def _tokens(self) -> list[bytes]:
        blob = bytes(self.sections["blob"])
        off = self.sections["off"].cast("Q").tolist()
        return [blob[a:b] for a, b in zip(off, off[1:])]

    def vocab(self) -> dict[bytes, int]:
        tokens = self._tokens()
        return {tokens[i]: i for i in self.sections["ids"].cast("I").tolist()}

    def merges(self, vocab: dict[bytes, int] | None = None) -> list[tuple[bytes, bytes]]:
        tokens = self._tokens()
        flat = self.sections["merges"].cast("I").tolist()
        return [(tokens[a], tokens[b]) for a, b in zip(flat[::2], flat[1::2])]


def read_compiled(key: str) -> CompiledVocab | None:
    """The compiled vocabulary of ``key``, or None when missing, unreadable or failing any check."""
    try:
        with open(cache_path(key), "rb") as f:
            data = f.read()
    except OSError:
        return None
    return parse_compiled(data, key)


def parse_compiled(data: bytes, key: str) -> CompiledVocab | None:
    import zlib

    n_sec = len(SECTIONS)
    head = _HEAD.size + 8 * n_sec
    if len(data) < head:
        return None
    magic, version, crc, count = _HEAD.unpack_from(data)
    if magic != MAGIC or version != VERSION or count != n_sec:
        return None
    lengths = struct.unpack_from(f"<{n_sec}Q", data, _HEAD.size)
    if head + sum(n + _pad(n) for n in lengths) != len(data):
        return None
    view = memoryview(data)
    if zlib.crc32(view[_HEAD.size:]) != crc:
        return None
    sections, pos = {}, head
    for name, n in zip(SECTIONS, lengths):
        sections[name] = view[pos : pos + n]
        pos += n + _pad(n)
    try:
        meta = json.loads(bytes(sections.pop("meta")))
    except ValueError:
        return None
    if not isinstance(meta, dict) or meta.get("key") != key:
        return None
    return CompiledVocab(meta, sections)


def write_compiled(key: str, tables: dict, merge_ids: list[int]) -> bool:
    """Write the compiled vocabulary of ``key`` (temp file + rename: readers see the old file or the new one);
    False when the cache directory is not writable."""
    import array
    import zlib

    meta = {"key": key, "pattern": int(tables["pattern"]), "split_digits": int(tables["split_digits"]),
            "ignore_merges": bool(tables["ignore_merges"]), "any_split": bool(tables["any_split"])}
    parts = [json.dumps(meta).encode()]
    for name in SECTIONS[1:]:
        value = array.array("I", merge_ids) if name == "merges" else tables[name]
        parts.append(memoryview(value).cast("B"))
    body = bytearray()
    for p in parts:
        body += p
        body += bytes(_pad(len(p)))
    lengths = struct.pack(f"<{len(SECTIONS)}Q", *(len(p) for p in parts))
    head = _HEAD.pack(MAGIC, VERSION, zlib.crc32(body, zlib.crc32(lengths)), len(SECTIONS)) + lengths
    path = cache_path(key)
    tmp = f"{path}.{os.getpid()}.{os.urandom(4).hex()}.tmp"  # unique per writer, thread or process
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(head)
            f.write(body)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        return False
    return True


def compiled_tokenizer(key: str, pretokenizer, special_tokens: dict[str, int], name: str, build):
    """The tokenizer of ``key`` from its compiled vocabulary; on a miss, ``build()`` makes it and, where the C
    kernel takes it, its compiled vocabulary is written for the next load."""
    from ..encode.native import NativeBPE, native_eligible, native_tables
    from ..kernels import bpe as kernel
    from ..tokenizer import Tokenizer

    if kernel is None:  # no C kernel (or TOKENLAB_NO_NATIVE=1): nothing to compile for
        return build()
    compiled = read_compiled(key)
    if compiled is not None:
        try:
            fast = NativeBPE.from_tables(compiled.kernel_tables())
        except (ValueError, TypeError):  # the kernel refuses the tables: rebuild them
            fast = None
        if fast is not None:
            return Tokenizer._from_compiled(compiled, fast, pretokenizer=pretokenizer,
                                            special_tokens=special_tokens, name=name)
    tok = build()
    pid = native_eligible(tok)
    if pid is None:
        return tok
    try:
        tables = native_tables(tok, pid)
        fast = NativeBPE.from_tables(tables)
    except ValueError:
        return tok
    tok.__dict__["_fast"] = fast
    vocab = tok.vocab
    write_compiled(key, tables, [vocab[t] for pair in tok.merges for t in pair])
    return tok
