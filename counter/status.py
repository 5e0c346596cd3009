"""The counter's status line, derived from the very state the screen shows.

One function, :func:`status_line`, so the line can never contradict the
screen: a message from the last action is shown only while what it talked
about is still on screen (``CounterModel.message`` drops itself when the
current ticket, its status, the waiting count or the counter's state
change); otherwise the line says what the screen shows and which key moves
it on, naming a key only when that action is enabled.
"""

from __future__ import annotations

from collections.abc import Mapping

from counter.state import CounterModel, Message

__all__ = ["status_line", "screen_line"]


def status_line(state: CounterModel, keys: Mapping[str, str]) -> Message:
    """The line under the counter screen: the fresh message, else :func:`screen_line`."""
    message = state.message
    if message is not None and message.text:
        return message
    return screen_line(state, keys)


def screen_line(state: CounterModel, keys: Mapping[str, str]) -> Message:
    """What the screen shows now and what to do next (Chinese first, English second)."""
    if state.refused:
        return Message("error", state.refused)
    if not state.online:
        return Message("warn", "网络未连接，操作已停用  Offline: actions are disabled")
    if not state.logged_in:
        return Message("info", "")
    if state.busy:
        return Message("info", "正在处理…  Waiting for the server…")
    t = state.current
    if t and t.get("status") == "called":
        n = t.get("number", "")
        hints = _hints(state, keys, (("start", "开始", "start"),
                                     ("no_show", "过号", "no-show"),
                                     ("recall", "重呼", "recall")))
        return Message("info", f"已呼叫 {n}，等候市民到窗口{hints[0]}  "
                               f"Called {n}, waiting for the citizen{hints[1]}")
    if t and t.get("status") == "serving":
        n = t.get("number", "")
        hints = _hints(state, keys, (("complete", "办结", "complete"),
                                     ("transfer", "转移", "transfer")))
        return Message("info", f"正在办理 {n}{hints[0]}  Serving {n}{hints[1]}")
    if state.counter_status == "paused":
        reason = f"（{state.pause_reason}）" if state.pause_reason else ""
        hints = _hints(state, keys, (("pause", "恢复", "resume"),))
        return Message("warn", f"暂停服务{reason}{hints[0]}  Paused{hints[1]}")
    if state.counter_status != "open":
        return Message("warn", "窗口未开放  The counter is closed")
    waiting = state.waiting
    if waiting is None:
        return Message("info", "空闲，正在读取等候队列…  Idle: loading the waiting list…")
    if not waiting:
        return Message("info", "空闲，当前没有等候的号  Idle: no one is waiting")
    hints = _hints(state, keys, (("call_next", "呼叫下一位", "call the next citizen"),))
    return Message("info", f"空闲，{len(waiting)} 人等候{hints[0]}  "
                           f"Idle: {len(waiting)} waiting{hints[1]}")


def _hints(state: CounterModel, keys: Mapping[str, str],
           actions: tuple[tuple[str, str, str], ...]) -> tuple[str, str]:
    """"，按 F3 开始" / ", press F3 to start" for the actions enabled now."""
    zh, en = [], []
    for action, label_zh, label_en in actions:
        if state.legal(action) and action in keys:
            zh.append(f"按 {keys[action]} {label_zh}")
            en.append(f"{keys[action]} to {label_en}")
    if not zh:
        return "", ""
    return "；" + "，".join(zh), ": " + ", ".join(en)
