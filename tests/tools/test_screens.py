"""server.tools.screens: the docs' screenshots drawn from the real app widgets."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.gui


def test_kiosk_screens_script_writes_every_screen(qapp, tmp_path):
    from server.tools.screens.kiosk import SCREENS, render_screens

    paths = render_screens(tmp_path, landscape=False)
    assert len(paths) == 2 * len(SCREENS)
    for p in paths:
        assert p.stat().st_size > 10_000


def test_counter_screens_render_with_a_cjk_font(tmp_path, qapp):
    from PySide6.QtGui import QFontInfo, QImage

    from counter.view import CounterWindow
    from server.tools.screens.counter import render_screens

    paths = render_screens(tmp_path)
    assert [p.name for p in paths] == ["counter-login.png", "counter-main.png",
                                       "counter-offline.png", "counter-missed.png",
                                       "counter-transfer.png"]
    for p in paths[:-1]:
        image = QImage(str(p))
        assert (image.width(), image.height()) == (1366, 768)
    assert not QImage(str(paths[-1])).isNull()  # the transfer dialog
    window = CounterWindow()
    assert "WenQuanYi" in QFontInfo(window.font()).family()  # not tofu boxes
    window.deleteLater()


def test_kiosk_sample_welcome_is_a_hall_services_welcome():
    """The screenshots' welcome comes from a real hall service: the service
    shaping (routes, kiosk-hidden steps, ETA ranges) is the server's own."""
    from server.reference import demo_config
    from server.tools.screens.kiosk import sample_welcome

    welcome = sample_welcome()
    assert welcome["type"] == "welcome" and welcome["role"] == "kiosk"
    services = {s["id"]: s for s in welcome["hall"]["services"]}
    assert list(services) == [s.id for s in demo_config().services]
    assert services["qyzr"]["route"] == ["mcsb", "qydj", "swdj", "sb"]
    assert services["mcsb"]["kiosk"] is False and "kiosk" not in services["gjj"]
    queues = welcome["snapshot"]["queues"]
    assert queues["gjjdk"]["waiting"] == 18 and queues["gjjdk"]["open_counters"] > 0
    assert queues["gjjdk"]["eta_low_s"] <= queues["gjjdk"]["eta_s"] <= queues["gjjdk"]["eta_high_s"]
    welcome["snapshot"]["queues"].clear()  # a fresh copy on every call
    assert sample_welcome()["snapshot"]["queues"]["gjjdk"]["waiting"] == 18
