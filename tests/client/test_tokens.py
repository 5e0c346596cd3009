"""server.client.tokens: a device token from a file, and the demo convention."""

from __future__ import annotations

import pytest

from server.client.tokens import demo_token, read_token


def test_read_token_takes_the_first_line(tmp_path):
    path = tmp_path / "token"
    path.write_text("\n  s3cret  \nsecond line\n", encoding="utf-8")
    assert read_token(path) == "s3cret"
    path.write_text(" \n\t\n", encoding="utf-8")
    with pytest.raises(ValueError, match="is empty"):
        read_token(str(path))
    with pytest.raises(ValueError, match="cannot read token file"):
        read_token(tmp_path / "missing")



def test_demo_token_is_demo_dash_device():
    assert demo_token("kiosk-3") == "demo-kiosk-3"
    assert demo_token("evaluator-12") == "demo-evaluator-12"
