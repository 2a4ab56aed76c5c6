"""decode(encode(s)) == s for arbitrary Unicode, on a trained tokenizer and on cl100k."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

any_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=300)
specials_text = st.lists(st.one_of(any_text, st.sampled_from(["<|endoftext|>", "<|pad|>"])), max_size=6).map("".join)
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(text=any_text)
def test_trained_round_trip(trained, text):
    ids = trained.encode(text, disallowed_special=())
    assert trained.decode(ids) == text
    assert all(0 <= i < trained.n_vocab for i in ids)


@SETTINGS
@given(text=specials_text)
def test_trained_round_trip_with_specials(trained, text):
    ids = trained.encode(text, allowed_special="all")
    assert trained.decode(ids) == text


@SETTINGS
@given(text=any_text)
def test_cl100k_round_trip_and_equality(cl100k, cl100k_ref, text):
    ids = cl100k.encode(text, disallowed_special=())
    assert ids == cl100k_ref.encode(text, disallowed_special=())
    assert cl100k.decode(ids) == text
