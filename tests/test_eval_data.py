"""Shipped evaluation data: the .po parser on a hand-written catalogue, and the Django parallel corpus
checked against the compiled .mo catalogues read by Python's own gettext."""

from __future__ import annotations

import gettext
from collections import Counter
from pathlib import Path

import pytest

from tokenlab.errors import InvalidInputError
from tokenlab.evaluate.data import (
    DEFAULT_LANGUAGES,
    django_parallel,
    load_corpus,
    normalise_message,
    parse_po,
    python_prose,
    stdlib_code,
)
from tokenlab.evaluate.metrics import char_script

PO = r'''
# Translators:
msgid ""
msgstr ""
"Language: xx\n"

msgid "Save"
msgstr "Sichern"

#, fuzzy
msgid "Delete"
msgstr "Löschen?"

#, python-format
msgid ""
"Ensure this value has at most %(limit_value)d character "
"(it has %(show_value)d)."
msgstr ""
"Stellen Sie sicher, dass der Wert höchstens %(limit_value)d Zeichen "
"hat (er hat %(show_value)d)."

msgid "Untranslated"
msgstr ""

msgctxt "month"
msgid "May"
msgstr "Mai"

msgid "%(count)s item"
msgid_plural "%(count)s items"
msgstr[0] "%(count)s Objekt"
msgstr[1] "%(count)s Objekte"

msgid "Say \"hi\""
msgstr "Sag \"hallo\"\tjetzt"

#~ msgid "Old"
#~ msgstr "Alt"
'''


def test_parse_po_hand_catalogue():
    assert parse_po(PO) == {
        "Save": "Sichern",
        "Ensure this value has at most %(limit_value)d character (it has %(show_value)d).":
            "Stellen Sie sicher, dass der Wert höchstens %(limit_value)d Zeichen hat (er hat %(show_value)d).",
        "month\x04May": "Mai",
        "%(count)s item": "%(count)s Objekt",
        'Say "hi"': 'Sag "hallo"\tjetzt',
    }


def test_normalise_message():
    assert normalise_message("Ensure at most %(limit_value)d chars (it has %(show_value)d).") == \
        "Ensure at most chars (it has)."
    assert normalise_message("Hi %s, see <a href=\"{url}\">this</a> {0} %%") == "Hi, see this %%"
    assert normalise_message("  a  \n\n b ") == "a\n\nb"
    assert normalise_message("sent to %(email)s. Also %s, %d」") == "sent to. Also,」"


@pytest.fixture(scope="module")
def parallel():
    return django_parallel()


def test_parallel_corpus_size_and_scripts(parallel):
    assert len(parallel) == len(DEFAULT_LANGUAGES) >= 20
    n = len(parallel["en"])
    assert n >= 300 and all(len(v) == n for v in parallel.values())
    scripts = set()
    for _lang, sents in parallel.items():
        counts = Counter(s for text in sents for s in map(char_script, text) if s)
        scripts.add(counts.most_common(1)[0][0])
    # Latin, Cyrillic, Greek, Arabic, Hebrew, Devanagari, Bengali, Han/Kana, Hangul, Georgian
    assert len(scripts) >= 5, scripts
    assert {"Latin", "Cyrillic", "Arabic", "Devanagari", "Hangul", "Georgian"} <= scripts


def test_parallel_matches_gettext_mo_catalogues(parallel):
    """Each aligned row is what gettext itself returns for the English msgid (compiled .mo files)."""
    import django

    from tokenlab.evaluate.data import DJANGO_DOMAINS

    root = Path(django.__file__).parent
    reference: dict[str, dict[str, set[str]]] = {}
    for lang in ("de", "ru", "ja", "ar", "ka"):
        ref = reference[lang] = {}
        for domain in DJANGO_DOMAINS:
            base = root / "conf" if domain == "conf" else root / "contrib" / domain
            path = base / "locale" / lang / "LC_MESSAGES" / "django.mo"
            if not path.is_file():
                continue
            with open(path, "rb") as f:
                catalogue = gettext.GNUTranslations(f)._catalog
            for key, value in catalogue.items():
                msgid = key[0] if isinstance(key, tuple) else key
                if isinstance(key, tuple) and key[1] != 0:
                    continue
                ref.setdefault(normalise_message(msgid.split("\x04")[-1]), set()).add(normalise_message(value))
    checked = 0
    for i, english in enumerate(parallel["en"]):
        for lang, ref in reference.items():
            assert parallel[lang][i] in ref[english], (lang, english)
            checked += 1
    assert checked == 5 * len(parallel["en"])


def test_language_selection_and_errors():
    small = django_parallel(["en", "de", "ja"])
    assert list(small) == ["en", "de", "ja"] and len(small["en"]) > len(django_parallel()["en"])
    i = small["en"].index("Bengali")
    assert (small["de"][i], small["ja"][i]) == ("Bengali", "ベンガル語")
    with pytest.raises(InvalidInputError, match="xx_YY"):
        django_parallel(["en", "xx_YY"])
    with pytest.raises(InvalidInputError):
        django_parallel([])


def test_code_and_prose_and_files(tmp_path):
    code = stdlib_code(50_000)
    assert sum(len(c.encode()) for c in code) >= 50_000 and "def " in code[0] + code[1]
    prose = python_prose(20_000)
    assert any("statement" in p for p in prose)
    assert load_corpus("code", limit_bytes=50_000) == code
    assert len(load_corpus("parallel")) == len(DEFAULT_LANGUAGES)
    f = tmp_path / "c.txt"
    f.write_text("hello wörld", encoding="utf-8")
    assert load_corpus(str(f)) == ["hello wörld"]
    f.write_bytes(b"bad \xff byte")
    with pytest.raises(InvalidInputError, match="UTF-8"):
        load_corpus(str(f))
    with pytest.raises(InvalidInputError, match="corpus name"):
        load_corpus(str(tmp_path / "missing.txt"))


def test_eval_data_cli(tmp_path):
    from click.testing import CliRunner

    from tokenlab.cli import main

    res = CliRunner().invoke(main, ["eval-data", "-o", str(tmp_path), "--languages", "de,ko", "--limit-bytes",
                                    "5000"])
    assert res.exit_code == 0, res.output
    lines = {lang: (tmp_path / f"{lang}.txt").read_text(encoding="utf-8").splitlines() for lang in ("en", "de", "ko")}
    assert len(lines["en"]) == len(lines["de"]) == len(lines["ko"]) > 300
    assert (tmp_path / "code.txt").stat().st_size >= 5000
    res = CliRunner().invoke(main, ["eval-data", "-o", str(tmp_path), "--languages", "de,zz"])
    assert res.exit_code == 1 and res.output.count("error:") == 1
