"""The words of a call announcement, numbers spelled to be read naturally.

A ticket number is read digit by digit, as halls do ("A001" -> "A零零一号",
never "A一号"); a counter number is read as a number ("12" -> "十二号窗口").
English reads "Number A-0 0 1, please go to counter 12." (the hyphen makes
espeak say the letter "A", not the article "a").
"""

from __future__ import annotations

import re

__all__ = ["announcement_text"]

_HANZI_DIGITS = "零一二三四五六七八九"
_TICKET = re.compile(r"([A-Z]{0,3})([0-9]{1,6})")


def _split_ticket(number: str) -> tuple[str, str]:
    m = _TICKET.fullmatch(number.strip().upper())
    if not m:
        raise ValueError(
            f"ticket number must be up to 3 letters then 1-6 digits, like A001: got {number!r}"
        )
    return m.group(1), m.group(2)


def _zh_integer(n: int) -> str:
    """Read 1..99999 the way a number is said in Mandarin (12 -> 十二, 105 -> 一百零五)."""
    if not 0 < n < 100000:
        raise ValueError(f"counter number must be 1..99999: got {n}")
    units = ("", "十", "百", "千", "万")
    digits = [int(c) for c in str(n)]
    out: list[str] = []
    zero = False
    for i, d in enumerate(digits):
        place = len(digits) - 1 - i
        if d == 0:
            zero = True
            continue
        if zero and out:
            out.append("零")  # one 零 for any run of inner zeros: 1005 -> 一千零五
        zero = False
        out.append(_HANZI_DIGITS[d] + units[place])
    text = "".join(out)
    # 10..19 are said 十, 十一 ... not 一十, 一十一.
    return text[1:] if text.startswith("一十") else text


def _zh_numbers_in(name: str) -> str:
    return re.sub(r"[0-9]+", lambda m: _zh_integer(int(m.group())), name)


def announcement_text(number: str, counter_number: int, counter_name: str = "",
                      lang: str = "zh") -> str:
    """The words to speak for one call.

    Args:
        number: the ticket number, letters then digits ("A001").
        counter_number: the counter's number (1..99999).
        counter_name: the counter's configured name ("3号窗口"); Chinese only,
            used instead of "N号窗口" when given.
        lang: ``"zh"`` or ``"en"``.

    Returns:
        The text for the speech engine, with numbers spelled to be read naturally.

    Raises:
        ValueError: a malformed ticket number, counter number or language.
    """
    letters, digits = _split_ticket(number)
    if isinstance(counter_number, bool) or not isinstance(counter_number, int):
        raise ValueError(f"counter number must be an int: got {counter_number!r}")
    if lang == "zh":
        counter = _zh_numbers_in(counter_name.strip()) or f"{_zh_integer(counter_number)}号窗口"
        spoken = letters + "".join(_HANZI_DIGITS[int(d)] for d in digits)
        return f"请{spoken}号，到{counter}办理。"
    if lang == "en":
        _zh_integer(counter_number)  # same range check as Chinese
        spelled = "".join(c + "-" for c in letters) + " ".join(digits)
        return f"Number {spelled}, please go to counter {counter_number}."
    raise ValueError(f"language must be 'zh' or 'en' for one text: got {lang!r}")
