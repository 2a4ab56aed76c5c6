"""Byte-level BPE training whose merge list equals HF ``tokenizers``' BpeTrainer's.

Pipeline: :func:`count_pretokens` (pre-tokenize + count: threads over the C kernels, or worker
processes, or a Dask/Ray cluster through ``map_fn``) -> :func:`train_from_counts` (the merge loop over
flat arrays: ``kernels/_train.c``, else ``_native`` under numba, else the same code as plain Python).
Each step merges the most frequent adjacent pair; ties go to the pair whose parts come first in
HF's id order (byte-level alphabet sorted by its printable character, then tokens in creation
order). :class:`BPETrainer` is the small pure-Python reference of the same counting scheme.
"""

from __future__ import annotations

import heapq
import os
from collections import Counter, defaultdict
from collections.abc import Iterable

from tqdm.auto import tqdm

from ..errors import InvalidInputError, TokenlabError
from ..pretokenize import PreTokenizer, get_pretokenizer


def _hf_byte_order() -> list[int]:
    """Position of each byte in HF's sorted byte-level alphabet."""
    from ..io.hf_json import bytes_to_unicode

    table = bytes_to_unicode()
    order = sorted(range(256), key=lambda b: ord(table[b]))
    pos = [0] * 256
    for p, b in enumerate(order):
        pos[b] = p
    return pos


def _encode_counts(counts: Counter) -> dict[bytes, int]:
    out: dict[bytes, int] = {}
    for piece, c in counts.items():
        try:
            key = piece.encode()  # UTF-8
        except UnicodeEncodeError:
            raise InvalidInputError("corpus contains text that is not valid Unicode (lone surrogates)") from None
        out[key] = out.get(key, 0) + c
    return out


_WORKER_COUNT = None
_PROBE = ("Hello, World! It's 2024-06-01: x=3.14159;\n\n    def f(a, b):\n\treturn a+b  \r\n"
          "I'LL don't \u00e9t\u00e9 \u65e5\u672c\u8a9e \u0645\u0631\u062d\u0628\u0627 \U0001f916\U0001f916 "
          "ABCdef DEFghi\u00a0nbsp 1234567 ...!!! \n")


def _make_counter(pretokenizer: PreTokenizer, native: bool | None = None):
    """``docs -> {pretoken bytes: count}``: compiled state machines for the named patterns, else the regex."""
    split = pretokenizer.split

    def count_with_regex(docs: list[str]) -> dict[bytes, int]:
        counts: Counter = Counter()
        for doc in docs:
            counts.update(split(doc))
        return _encode_counts(counts)

    fast = None
    if native is not False:
        try:
            fast = c_counter(pretokenizer)  # the C kernels: no numba (no JIT warm-up, no LLVM in memory)
            if fast is None:
                from ._count import native_counter

                fast = native_counter(pretokenizer)
            # the state machines belong to the encoder: check they still agree with the regex here
            if fast is not None and fast([_PROBE]) != count_with_regex([_PROBE]):
                fast = None
        except Exception:  # numba missing, or the encoder's kernels changed shape: use the regex
            fast = None
        if fast is None and native:
            raise InvalidInputError(
                f"no native pre-tokenizer for {pretokenizer.name!r} (needs the C kernel or numba, and a named "
                "pattern)")
    if fast is None:
        return count_with_regex

    def count(docs: list[str]) -> dict[bytes, int]:
        try:
            out = fast(docs)
        except UnicodeEncodeError:
            raise InvalidInputError("corpus contains text that is not valid Unicode (lone surrogates)") from None
        return count_with_regex(docs) if out is None else out

    count.releases_gil = True
    return count


def c_counter(pretokenizer: PreTokenizer):
    """``docs -> {pretoken bytes: count}`` on the C kernels (the encoder's pre-tokenizer splits, ``_train.c``
    counts), or None where they are not built or the pattern is not a named one."""
    import numpy as np

    from ..encode.native import native_encoder_for
    from ..kernels import train as ctrain
    from ..tokenizer import Tokenizer

    if ctrain is None:
        return None
    # a bytes-only tokenizer with this pre-tokenizer: only its kernel's split is used
    native = native_encoder_for(Tokenizer(vocab={bytes([b]): b for b in range(256)}, merges=[],
                                          pretokenizer=pretokenizer))
    # the counting kernel runs the named state machines (ids 1..5); the cl100k family, DeepSeek and compiled
    # regex programs count through the regex counter
    if native is None or not isinstance(native.pattern, int) or not 0 < native.pattern <= 5:
        return None
    from ..kernels import count as ccount

    if ccount is not None:  # the encoder's state machines straight into the counting table
        from ..encode.unicode_table import class_table

        table = class_table()
        pattern, split_digits = native.pattern, int(pretokenizer.split_digits or 0)

        def pieces(data: bytes, datas: list[bytes]):
            doc_ends = np.cumsum(np.fromiter(map(len, datas), dtype=np.int64))
            return ccount.count_text(table, data, doc_ends, pattern, split_digits)
    else:  # Encoder.split's lists of ends, counted by _train.c
        split = native.kernel.split
        count_split = ctrain.count_split

        def pieces(data: bytes, datas: list[bytes]):
            cuts = []
            offset = 0
            for x in datas:
                if x:
                    cuts.append((offset, split(x)))
                    offset += len(x)
            return count_split(data, cuts)

    def count(docs: list[str]) -> dict[bytes, int]:
        datas = [doc.encode() for doc in docs]  # UTF-8; a lone surrogate raises UnicodeEncodeError
        data = b"".join(datas)
        starts, lengths, counts = (np.frombuffer(x, dtype=np.int64).tolist() for x in pieces(data, datas))
        return {data[s:s + n]: c for s, n, c in zip(starts, lengths, counts)}

    return count


def _init_worker(pretokenizer: PreTokenizer, native: bool | None = None) -> None:
    global _WORKER_COUNT
    _WORKER_COUNT = _make_counter(pretokenizer, native)


def _count_batch(docs: list[str]) -> dict[bytes, int]:
    return _WORKER_COUNT(docs)


_TASK_COUNTERS: dict = {}


class CountTask:
    """The map step of pretoken counting: ``docs -> {pretoken bytes: count}``, picklable, so it runs on Dask
    or Ray workers as well as here; each process builds (and checks) its counter once and keeps it."""

    def __init__(self, pretokenizer: PreTokenizer, native: bool | None = None):
        self.pretokenizer, self.native = pretokenizer, native

    def __call__(self, docs: list[str]) -> dict[bytes, int]:
        key = (self.pretokenizer.pattern, self.pretokenizer.split_digits, self.native)
        counter = _TASK_COUNTERS.get(key)
        if counter is None:
            counter = _TASK_COUNTERS[key] = _make_counter(self.pretokenizer, self.native)
        return counter(docs)


def _batches(corpus: Iterable[str], batch_chars: int, bar):
    batch: list[str] = []
    size = 0
    for doc in corpus:
        if not isinstance(doc, str):
            raise InvalidInputError(f"corpus items must be str, got {type(doc).__name__}")
        batch.append(doc)
        size += len(doc)
        bar.update(len(doc))
        if size >= batch_chars:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def default_workers() -> int:
    """All cores, at most 16."""
    return max(1, min(os.cpu_count() or 1, 16))


def count_pretokens(corpus: Iterable[str], pretokenizer: PreTokenizer, progress: bool = False,
                    workers: int | None = None, batch_chars: int = 1 << 22, native: bool | None = None,
                    map_fn=None) -> Counter:
    """Pretoken (as UTF-8 bytes) -> frequency over the corpus.

    With ``workers > 1`` the corpus is cut into batches of about ``batch_chars`` characters (a batch ends with
    the document that brings it to ``batch_chars`` or more) and counted in worker processes; a corpus that fits
    in one batch is counted here (no pool start-up).
    ``native``: None = compiled splitting when available, False = always ``PreTokenizer.split``.
    ``map_fn(fn, batches)``: run the counting elsewhere, e.g. ``tokenlab.corpus.dask_map(client)`` or
    ``ray_map()``; it must yield ``fn(batch)`` in batch order (then the counts, and their order, which
    fixes HF's rare ties, equal a local run's). ``workers`` is ignored then.
    """
    if map_fn is not None:
        return _count_mapped(corpus, pretokenizer, progress, batch_chars, native, map_fn)
    workers = default_workers() if workers is None else max(1, int(workers))
    if workers > 1 and _in_daemon_process():  # e.g. inside a pool worker: it may not start children
        workers = 1
    total: Counter = Counter()
    with tqdm(desc="pre-tokenizing", unit="char", unit_scale=True, disable=not progress) as bar:
        batches = _batches(corpus, batch_chars, bar)
        first = next(batches, None)
        if first is None:
            return total
        second = next(batches, None) if workers > 1 else None
        _init_worker(pretokenizer, native)  # here too: a forked pool inherits the loaded kernels
        if second is None:
            total.update(_count_batch(first))
            for batch in batches:
                total.update(_count_batch(batch))
            return total
        import itertools
        from collections import deque
        from concurrent.futures import ThreadPoolExecutor
        from concurrent.futures.process import BrokenProcessPool

        if getattr(_WORKER_COUNT, "releases_gil", False):
            # the compiled counter releases the GIL: threads, no pickling of text or tables
            executor = ThreadPoolExecutor(workers)
        else:
            _count_batch([_PROBE])  # fills the pre-tokenizer's caches (class stand-ins) once, before the fork
            executor = _pool(workers, _init_worker, (pretokenizer, native))
        try:
            with executor:
                # a bounded window of batches in flight, collected in order: memory stays flat and the
                # word order (which fixes the result in HF's rare tie cases) does not depend on timing
                pending: deque = deque()
                for batch in itertools.chain([first, second], batches):
                    pending.append(executor.submit(_count_batch, batch))
                    if len(pending) >= 2 * workers:
                        total.update(pending.popleft().result())
                while pending:
                    total.update(pending.popleft().result())
        except BrokenProcessPool:
            raise TokenlabError("a pre-tokenizing worker process died (killed, out of memory, or it failed to "
                                "start: see its error above); workers=1 counts in this process") from None
    return total


def _count_mapped(corpus, pretokenizer, progress, batch_chars, native, map_fn) -> Counter:
    """Batches of documents are read here and counted wherever ``map_fn`` runs them; per-batch tables come
    back in order and are added up here (the reduce step)."""
    total: Counter = Counter()
    CountTask(pretokenizer, native)(["check the pre-tokenizer here first"])  # bad settings fail before any shipping
    with tqdm(desc="pre-tokenizing", unit="char", unit_scale=True, disable=not progress) as bar:
        for part in map_fn(CountTask(pretokenizer, native), _batches(corpus, batch_chars, bar)):
            total.update(part)
    return total


def _in_daemon_process() -> bool:
    import multiprocessing as mp

    return bool(mp.current_process().daemon)


def _pool(workers: int, initializer, initargs):
    """A ``concurrent.futures`` process pool, forked where ``fork`` exists (the workers inherit the loaded kernels
    and caches). A worker that dies (killed, or its initializer fails) breaks it and every waiting job raises
    ``BrokenProcessPool``, where ``multiprocessing.Pool`` would start new workers for ever while the job waits."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    return ProcessPoolExecutor(workers, mp_context=mp.get_context(method), initializer=initializer,
                               initargs=initargs)


def heap_entry(tie_key, pair, count):
    """Max-count first; ties to the smallest (left key, right key), HF's order."""
    return (-count, tie_key[pair[0]], tie_key[pair[1]], pair)


def settle_heap_top(heap, pair_counts, tie_key) -> int:
    """Refresh stale entries (counts change after they are pushed) until the top is current;
    returns its count, 0 when no pair is left. Lazy invalidation keeps each merge cheap."""
    while heap:
        neg, _, _, pair = heap[0]
        current = pair_counts.get(pair, 0)
        if -neg == current:
            return current
        if current > 0:
            heapq.heapreplace(heap, heap_entry(tie_key, pair, current))
        else:
            heapq.heappop(heap)
    return 0


class BPETrainer:
    """State of one BPE training run over a word-frequency table (readable reference; slow).

    Unlike ``train_from_counts`` it gives a merge that re-creates an existing token a new symbol.

    ``words`` hold symbol ids; symbol ids are 0..255 for bytes and 256+k for the k-th merge.
    """

    def __init__(self, word_counts: dict[bytes, int]):
        self.words: list[list[int]] = [list(w) for w in word_counts]
        self.counts: list[int] = list(word_counts.values())
        self.token_bytes: list[bytes] = [bytes([b]) for b in range(256)]
        self.tie_key: list[int] = _hf_byte_order()
        self.pair_counts: defaultdict[tuple[int, int], int] = defaultdict(int)
        self.where: defaultdict[tuple[int, int], set[int]] = defaultdict(set)
        for wi, (w, c) in enumerate(zip(self.words, self.counts)):
            for pair in zip(w, w[1:]):
                self.pair_counts[pair] += c
                self.where[pair].add(wi)
        self.heap = [self._entry(p, c) for p, c in self.pair_counts.items() if c > 0]
        heapq.heapify(self.heap)
        self.merges: list[tuple[int, int]] = []

    def _entry(self, pair, count):
        return heap_entry(self.tie_key, pair, count)

    def best_pair(self) -> tuple[tuple[int, int], int] | None:
        """Pop the most frequent pair (refreshing stale heap entries on the way)."""
        count = settle_heap_top(self.heap, self.pair_counts, self.tie_key)
        if count <= 0:
            return None
        return heapq.heappop(self.heap)[3], count

    def merge(self, pair: tuple[int, int]) -> int:
        """Apply ``pair`` everywhere (left to right, non-overlapping); returns the new symbol id."""
        a, b = pair
        new = len(self.token_bytes)
        self.token_bytes.append(self.token_bytes[a] + self.token_bytes[b])
        self.tie_key.append(new)
        self.merges.append(pair)
        delta: defaultdict[tuple[int, int], int] = defaultdict(int)
        pc, where = self.pair_counts, self.where
        for wi in self.where.pop(pair, ()):
            w = self.words[wi]
            n = len(w)
            i = 0
            out = []
            while i < n:
                if i < n - 1 and w[i] == a and w[i + 1] == b:
                    out.append(new)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            if len(out) == n:  # the pair no longer occurs here (an earlier merge took a part of it)
                continue
            c = self.counts[wi]
            for p in zip(w, w[1:]):
                delta[p] -= c
            for p in zip(out, out[1:]):
                delta[p] += c
                where[p].add(wi)
            self.words[wi] = out
        for p, d in delta.items():
            if d == 0:
                continue
            pc[p] += d
            if d > 0:
                heapq.heappush(self.heap, self._entry(p, pc[p]))
        pc.pop(pair, None)
        return new


def train_bpe(
    corpus: Iterable[str],
    vocab_size: int,
    pretokenizer: str | PreTokenizer | None = "gpt2",
    special_tokens: Iterable[str] = (),
    min_frequency: int = 0,
    split_digits: int | None = None,
    progress: bool = False,
    name: str = "",
    workers: int | None = None,
    map_fn=None,
):
    """Train a byte-level BPE tokenizer.

    ``vocab_size`` counts the 256 bytes, the merges and the special tokens (as HF does).
    Ids: bytes 0..255, then merges in order, then special tokens. ``workers`` processes
    pre-tokenize the corpus (default: all cores; small corpora are counted in-process); ``map_fn`` counts
    on a cluster instead (see :func:`count_pretokens`).
    """
    special_tokens = _checked_specials(special_tokens)
    if vocab_size < 256 + len(special_tokens):
        raise InvalidInputError(f"vocab_size {vocab_size} is below 256 bytes + {len(special_tokens)} specials")
    _check_vocab_size(vocab_size)
    pre = get_pretokenizer(pretokenizer, split_digits)
    counts = count_pretokens(corpus, pre, progress=progress, workers=workers, map_fn=map_fn)
    return train_from_counts(counts, vocab_size, pre, special_tokens, min_frequency, progress, name)


def _check_vocab_size(vocab_size: int) -> None:
    from ..io.validate import MAX_ID

    if vocab_size > MAX_ID + 1:
        raise InvalidInputError(f"vocab_size {vocab_size} is too large (ids must fit in 31 bits: at most {MAX_ID + 1})")


def _checked_specials(special_tokens) -> list[str]:
    out = list(dict.fromkeys(special_tokens))
    for s in out:
        if not isinstance(s, str) or not s:
            raise InvalidInputError(f"special token {s!r} must be a non-empty string")
    return out


def train_from_counts(word_counts: dict[bytes, int], vocab_size: int, pretokenizer: PreTokenizer,
                      special_tokens: Iterable[str] = (), min_frequency: int = 0, progress: bool = False,
                      name: str = "", native: bool | None = None):
    """Learn merges from a pretoken-frequency table (what :func:`count_pretokens` returns).

    ``native=False`` runs the merge loop as plain Python (the numba-less fallback; slow).
    """
    import numpy as np

    from ..kernels import train as ctrain
    from ..tokenizer import Tokenizer

    special_tokens = _checked_specials(special_tokens)
    n_new = vocab_size - 256 - len(special_tokens)
    if n_new < 0:
        raise InvalidInputError(f"vocab_size {vocab_size} is below 256 bytes + {len(special_tokens)} specials")
    _check_vocab_size(vocab_size)
    words = [w for w in word_counts if w]  # an empty word has no node (a one-byte word is a node with no pair)
    lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
    n_nodes = int(lengths.sum())
    # every merge removes at least one symbol, so no run can add more tokens than there are pairs: the
    # loop's tables are sized by this, not by a vocab_size of 10**9 (same result, no 24 GB allocation)
    n_new = min(n_new, n_nodes - len(words))
    if n_nodes >= 2**31 - 1:
        raise InvalidInputError("too many distinct pretoken bytes for the trainer (over 2**31)")
    sym = np.frombuffer(b"".join(words), dtype=np.uint8).astype(np.int32)
    ends = np.cumsum(lengths)
    word_start = ends - lengths
    nxt = np.arange(1, n_nodes + 1, dtype=np.int32)
    if n_nodes:
        nxt[ends - 1] = -1
    word_count = np.fromiter((word_counts[w] for w in words), dtype=np.int64, count=len(words))
    byte_key = np.asarray(_hf_byte_order(), dtype=np.int64)
    min_freq = max(1, int(min_frequency))

    if native is not False and ctrain is not None:
        kernel = _c_train_merges  # the C loop: same steps as _native's, no numba
    else:
        from . import _native

        use_native = _native.HAVE_NUMBA if native is None else native
        if use_native and not _native.HAVE_NUMBA:
            raise InvalidInputError("native=True needs the C kernel or numba (pip install 'tokenlab[fast]')")
        kernel = _native.train_merges if use_native or not _native.HAVE_NUMBA else _native.train_merges.py_func
    left, right, result = _run_with_progress(kernel, (sym, nxt, word_start, word_count, byte_key, n_new, min_freq),
                                             n_new, progress)

    token_bytes: list[bytes] = [bytes([b]) for b in range(256)]
    merges: list[tuple[bytes, bytes]] = []
    for a, b, r in zip(left.tolist(), right.tolist(), result.tolist()):
        merges.append((token_bytes[a], token_bytes[b]))
        if r == len(token_bytes):
            token_bytes.append(token_bytes[a] + token_bytes[b])
    vocab = {t: i for i, t in enumerate(token_bytes)}
    next_id = len(token_bytes)
    specials = {s: next_id + k for k, s in enumerate(special_tokens)}
    return Tokenizer(vocab=vocab, merges=merges, pretokenizer=pretokenizer, special_tokens=specials, name=name)


def _c_train_merges(sym, nxt, word_start, word_count, byte_key, n_new, min_freq, counter):
    import numpy as np

    from ..kernels import train as ctrain

    left, right, result = ctrain.train_merges(sym, nxt, word_start, word_count, byte_key, int(n_new),
                                              int(min_freq), counter)
    return tuple(np.frombuffer(x, dtype=np.int32) for x in (left, right, result))


def _run_with_progress(kernel, args, total: int, progress: bool):
    """Run the merge loop; with ``progress`` it runs in a thread (numba releases the GIL) and a bar polls it."""
    import numpy as np

    counter = np.zeros(1, dtype=np.int64)
    if not progress:
        return kernel(*args, counter)
    import threading

    out: dict = {}

    def work():
        try:
            out["result"] = kernel(*args, counter)
        except BaseException as exc:  # re-raised in the caller's thread
            out["error"] = exc

    thread = threading.Thread(target=work, daemon=True)
    with tqdm(total=total, desc="merging", unit="merge", disable=False) as bar:  # asked for: not TQDM_DISABLE
        thread.start()
        while thread.is_alive():
            thread.join(0.1)
            bar.update(int(counter[0]) - bar.n)
        bar.update(int(counter[0]) - bar.n)
    if "error" in out:
        raise out["error"]
    return out["result"]
