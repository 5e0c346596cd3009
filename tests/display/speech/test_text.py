"""display.speech.text: the words of a call."""

from __future__ import annotations

import pytest

from display.speech.text import announcement_text


@pytest.mark.parametrize(("number", "counter", "name", "expected"), [
    ("A001", 3, "", "请A零零一号，到三号窗口办理。"),
    ("b017", 12, "", "请B零一七号，到十二号窗口办理。"),
    ("C100", 67, "67号窗口", "请C一零零号，到六十七号窗口办理。"),
    ("A001", 105, "综合受理105号窗口", "请A零零一号，到综合受理一百零五号窗口办理。"),
    ("0042", 1005, "", "请零零四二号，到一千零五号窗口办理。"),
    ("A001", 20, "", "请A零零一号，到二十号窗口办理。"),
])
def test_chinese_text_reads_ticket_digits_one_by_one_and_counters_as_numbers(
        number, counter, name, expected):
    assert announcement_text(number, counter, name, "zh") == expected


def test_english_text_spells_the_ticket():
    assert (announcement_text("A001", 3, "3号窗口", "en")
            == "Number A-0 0 1, please go to counter 3.")
    assert announcement_text("017", 12, lang="en") == "Number 0 1 7, please go to counter 12."


@pytest.mark.parametrize(("args", "match"), [
    (("1A", 3, "", "zh"), "letters then 1-6 digits"),
    (("", 3, "", "zh"), "letters then 1-6 digits"),
    (("A001", 0, "", "zh"), "1..99999"),
    (("A001", "3", "", "zh"), "must be an int"),
    (("A001", 3, "", "fr"), "'zh' or 'en'"),
])
def test_bad_text_input_is_refused(args, match):
    with pytest.raises(ValueError, match=match):
        announcement_text(*args)


# ---------------------------------------------------------------- cache
