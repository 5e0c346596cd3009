"""Speech for call announcements, split by job.

* :mod:`display.speech.text`: the words to say (:func:`~display.speech.text.announcement_text`).
* :mod:`display.speech.wav`: PCM WAV reading, resampling, atomic writing.
* :mod:`display.speech.engines`: the speech engines (pyttsx3's espeak driver,
  the ``espeak-ng`` program as the fallback).
* :mod:`display.speech.cache`: :class:`~display.speech.cache.Voice`, the cached
  renderer of speech and whole announcements.
* :mod:`display.speech.cli`: ``qhall announce``.

The voice ``cmn-latn-pinyin`` reads Chinese characters as Mandarin (plain
``cmn`` spells Latin letters the English way).
"""
