"""Shared facts (core.facts): one number formatter for terminals and prose."""

import pytest

from talentflow.core.facts import compact_number


def test_numbers_read_the_same_in_a_terminal_and_in_prose():
    assert compact_number(96_810_000.0) == "96.8M"
    assert compact_number(96_810_000.0, "words") == "96.8 million"
    assert compact_number(11_200.0, "words") == "11.2 thousand"
    assert compact_number(2_350.0) == "2,350"
    assert compact_number(0.017624) == "0.0176"
    assert compact_number(None) == compact_number(float("nan")) == "–"
    with pytest.raises(ValueError, match="style"):
        compact_number(1.0, "roman")
