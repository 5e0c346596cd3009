"""``qhall evaluator``: the 好差评 rating pad next to a counter (800x480, touch).

Split by job:

* :mod:`display.rating.state`: :class:`~display.rating.state.RatingState` (plain
  Python, no Qt): applies the link's messages and the citizen's taps; tested
  without widgets.
* :mod:`display.rating.view`: :class:`~display.rating.view.RatingView` (dumb
  widgets): idle ("3号窗口 · 王芳 为您服务"), the five levels 非常满意 …
  非常不满意 with a face and a colour each (green to red), the reasons after a
  1 or 2, and the thank-you; emits ``rated(score)``.
* :mod:`display.rating.app`: :class:`~display.rating.app.RatingPad` (wiring):
  link → state → view, taps → ``rate`` requests, a timer that returns to idle.
* :mod:`display.rating.cli`: the ``qhall evaluator`` command.

The pad's counter comes from the server's welcome (the device's counter in
the hall configuration), never from the command line. It offers a rating
after ``ticket.completed`` at its counter, once per ticket ("一次一评"); a
ticket already rated (here or replayed) is never offered again.
"""
