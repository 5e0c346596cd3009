"""The counter client's widgets: they render a CounterModel and emit intents.

Nothing here talks to the server or decides what is legal: the window
asks the state (``why_not``) and shows the answer. Every action button is
always visible; an illegal one is disabled and its tooltip says why.

Signals of :class:`CounterWindow`:
    ``intent(str, dict)``: a staff action and its fields, e.g.
    ``("transfer", {"service": "tax"})`` or ``("call", {"ticket": "A013"})``.
    ``login_requested(str, str)``: staff id and PIN.
    ``logout_requested()``.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QFont, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from counter.keys import ACTIONS, DEFAULT_KEYS
from counter.state import CounterModel, format_duration
from counter.status import screen_line, status_line
from counter.transfer import Target, transfer_choices

__all__ = ["LABELS", "CounterWindow", "LoginPage", "TransferDialog", "PauseDialog",
           "CallDialog", "ConfirmDialog", "FONT_FAMILIES"]

BLUE, GREEN, AMBER, RED = "#0B4F9C", "#2E7D32", "#F9A825", "#C62828"
FONT_FAMILIES = ["WenQuanYi Micro Hei", "Noto Sans CJK SC", "Noto Sans SC", "sans-serif"]
MONO_FAMILIES = ["WenQuanYi Micro Hei Mono", "Noto Sans Mono CJK SC", "monospace"]

#: Button labels: (Chinese, English).
LABELS: dict[str, tuple[str, str]] = {
    "call_next": ("呼叫下一位", "Call next"),
    "recall": ("重呼", "Recall"),
    "start": ("开始", "Start"),
    "complete": ("办结", "Complete"),
    "no_show": ("过号", "No-show"),
    "transfer": ("转移", "Transfer"),
    "pause": ("暂停/恢复", "Pause/Resume"),
    "call": ("特呼", "Call number"),
    "route_back": ("退回补正", "Send back"),
    "route_end": ("结束联办", "End case"),
}

PAUSE_REASONS = (("休息", "Break"), ("午餐", "Lunch"), ("会议", "Meeting"),
                 ("临时离开", "Away"), ("系统维护", "Maintenance"))

_STYLE = f"""
QWidget {{ background: #FFFFFF; color: #1A1A1A; }}
#header {{ background: {BLUE}; }}
#header QLabel {{ background: transparent; color: white; font-size: 20px; }}
#header QPushButton {{ background: transparent; color: white; border: 1px solid white;
    border-radius: 4px; padding: 6px 12px; font-size: 16px; }}
#header QPushButton:disabled {{ color: #9DB6D6; border-color: #9DB6D6; }}
#banner {{ background: {RED}; color: white; font-size: 20px; padding: 8px; }}
#panel {{ background: #F4F6F9; border: 1px solid #D5DBE3; border-radius: 6px; }}
#panel QLabel {{ background: transparent; }}
#caption {{ color: #4A5563; font-size: 18px; }}
#ticketNumber {{ color: {BLUE}; }}
#ticketNumber[serving="true"] {{ color: {GREEN}; }}
#detail {{ font-size: 22px; color: #1A1A1A; }}
#figures {{ font-size: 16px; color: #4A5563; }}
QPushButton {{ background: white; color: {BLUE}; border: 2px solid {BLUE};
    border-radius: 6px; font-size: 19px; padding: 6px; min-height: 60px; }}
QPushButton:disabled {{ background: #ECEFF3; color: #9AA3AE; border-color: #C9CFD6; }}
QPushButton[role="primary"] {{ background: {BLUE}; color: white; }}
QPushButton[role="primary"]:disabled {{ background: #ECEFF3; color: #9AA3AE; }}
QPushButton[role="go"] {{ background: {GREEN}; color: white; border-color: {GREEN}; }}
QPushButton[role="go"]:disabled {{ background: #ECEFF3; color: #9AA3AE;
    border-color: #C9CFD6; }}
QTableWidget {{ font-size: 18px; gridline-color: #E3E7EC; }}
QHeaderView::section {{ background: #E8EEF6; color: {BLUE}; font-size: 16px;
    padding: 4px; border: none; }}
QLineEdit {{ font-size: 22px; padding: 8px; border: 1px solid #9AA3AE; border-radius: 4px; }}
QListWidget {{ font-size: 18px; }}
#message[level="ok"] {{ color: {GREEN}; }}
#message[level="info"] {{ color: #1A1A1A; }}
#message[level="warn"] {{ color: #8A5A00; background: #FFF4D6; }}
#message[level="error"] {{ color: {RED}; }}
#message {{ font-size: 18px; padding: 6px; }}
#loginError {{ color: {RED}; font-size: 18px; }}
#pausedNote {{ color: #8A5A00; background: #FFF4D6; font-size: 22px; padding: 6px; }}
"""


def _restyle(widget: QWidget, prop: str, value: str) -> None:
    """Set a dynamic property used by the style sheet and re-polish."""
    if widget.property(prop) != value:
        widget.setProperty(prop, value)
        widget.style().unpolish(widget)
        widget.style().polish(widget)


class LoginPage(QWidget):
    """Staff id + PIN. Enter in either field submits."""

    submitted = Signal(str, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel("员工登录  Staff login")
        self.title.setStyleSheet(f"font-size: 30px; color: {BLUE};")
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.staff = QLineEdit()
        self.staff.setPlaceholderText("工号 Staff id")
        self.pin = QLineEdit()
        self.pin.setPlaceholderText("密码 PIN")
        self.pin.setEchoMode(QLineEdit.EchoMode.Password)
        self.button = QPushButton("登录  Log in")
        self.button.setProperty("role", "primary")
        self.error = QLabel("")
        self.error.setObjectName("loginError")
        self.error.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.error.setWordWrap(True)
        self.note = QLabel("")
        self.note.setObjectName("caption")
        self.note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        box = QFrame()
        box.setObjectName("panel")
        box.setMaximumWidth(520)
        form = QVBoxLayout(box)
        form.setContentsMargins(32, 28, 32, 28)
        form.setSpacing(14)
        for w in (self.title, self.note, self.staff, self.pin, self.button, self.error):
            form.addWidget(w)
        outer = QVBoxLayout(self)
        outer.addStretch(1)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(box, 3)
        row.addStretch(1)
        outer.addLayout(row)
        outer.addStretch(2)
        self.button.clicked.connect(self._submit)
        self.staff.returnPressed.connect(self.pin.setFocus)
        self.pin.returnPressed.connect(self._submit)

    def _submit(self) -> None:
        if self.button.isEnabled():
            self.submitted.emit(self.staff.text(), self.pin.text())

    def clear_fields(self) -> None:
        """Empty staff id and PIN: the next clerk must not find the last one's there."""
        if self.staff.text() or self.pin.text():
            self.staff.clear()
            self.pin.clear()

    # The clients' view contract is render(state) (docs/ARCHITECTURE.md); it
    # shadows QWidget.render(device), which nothing here calls from Python.
    def render(self, state: CounterModel) -> None:  # type: ignore[override]
        who = state.counter_name or "窗口"
        self.title.setText(f"{who} 员工登录  Staff login")
        if state.counter_staff and not state.logged_in:
            self.note.setText(f"本窗口当前登记人员：{state.counter_staff['name']} "
                              f"({state.counter_staff['id']})")
        else:
            self.note.setText(state.hall_name)
        self.button.setEnabled(state.online and not state.busy)
        self.button.setText("登录中…  Logging in" if state.busy == "login" else "登录  Log in")
        if state.login_error != self.error.text() and state.login_error:
            self.pin.clear()  # once per new error, not on every repaint
        self.error.setText(state.login_error or "")


class _PickDialog(QDialog):
    def __init__(self, title: str, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setModal(True)
        self.setMinimumWidth(520)
        self.layout_ = QVBoxLayout(self)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("确定  OK")
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setText("取消  Cancel")
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)

    def _accept(self) -> None:  # pragma: no cover - overridden
        self.accept()


class TransferDialog(_PickDialog):
    """Pick one target among services and counters; emits
    ``chosen({"service": id} | {"counter": n})``.

    One list holds both, each row with its state and how many wait; typing
    filters it (name, English name, number, prefix), ↑/↓ move the one
    selection, Enter takes it. Closed and paused counters are listed but
    cannot be chosen. The OK button names the target.
    """

    chosen = Signal(dict)

    def __init__(self, state: CounterModel, parent: QWidget | None = None) -> None:
        super().__init__("转移  Transfer", parent)
        self.resize(820, 560)
        self.state = state
        self.number = str((state.current or {}).get("number", ""))
        self.layout_.addWidget(QLabel(f"把 {self.number} 转到…  Transfer {self.number} to…"))
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("输入业务或窗口筛选  Type to filter services and counters")
        self.list = QListWidget()
        self.summary = QLabel("")
        self.summary.setObjectName("caption")
        self.summary.setWordWrap(True)
        self.layout_.addWidget(self.filter)
        self.layout_.addWidget(self.list, 1)
        self.layout_.addWidget(self.summary)
        self.layout_.addWidget(self.buttons)
        self.ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.filter.textChanged.connect(self._fill)
        self.filter.returnPressed.connect(self._accept)
        self.list.currentItemChanged.connect(lambda *_: self._show_choice())
        self.list.itemDoubleClicked.connect(lambda _i: self._accept())
        self.filter.installEventFilter(self)
        self._fill("")
        self.filter.setFocus()

    def eventFilter(self, watched: Any, event: Any) -> bool:  # noqa: N802 - Qt's name
        # ↑/↓ in the filter box move the selection in the one list.
        from PySide6.QtCore import QEvent
        if watched is self.filter and event.type() == QEvent.Type.KeyPress \
                and event.key() in (Qt.Key.Key_Up, Qt.Key.Key_Down):
            self._step(-1 if event.key() == Qt.Key.Key_Up else 1)
            return True
        return super().eventFilter(watched, event)

    def _fill(self, text: str) -> None:
        self.list.clear()
        for target in transfer_choices(self.state, text):
            item = QListWidgetItem(f"{target.label}    {target.detail}")
            item.setData(Qt.ItemDataRole.UserRole, target)
            if not target.enabled:
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEnabled
                              & ~Qt.ItemFlag.ItemIsSelectable)
                item.setForeground(QColor("#9AA3AE"))  # the style sheet would keep it black
            self.list.addItem(item)
        self._step(1, from_row=-1)
        self._show_choice()

    def _step(self, direction: int, from_row: int | None = None) -> None:
        row = self.list.currentRow() if from_row is None else from_row
        row += direction
        while 0 <= row < self.list.count():
            if self.list.item(row).flags() & Qt.ItemFlag.ItemIsEnabled:
                self.list.setCurrentRow(row)
                return
            row += direction

    def current(self) -> Target | None:
        """The target selected now, if any."""
        item = self.list.currentItem()
        if item is None or not item.flags() & Qt.ItemFlag.ItemIsEnabled:
            return None
        target = item.data(Qt.ItemDataRole.UserRole)
        return target if isinstance(target, Target) else None

    def _show_choice(self) -> None:
        target = self.current()
        self.ok.setEnabled(target is not None)
        if target is None:
            self.ok.setText("确定  OK")
            self.summary.setText("没有可选的目标  No target matches" if self.list.count() == 0
                                 or not any(self.list.item(i).flags()
                                            & Qt.ItemFlag.ItemIsEnabled
                                            for i in range(self.list.count())) else "")
            return
        self.ok.setText(f"转到 {target.label}  Transfer")
        self.summary.setText(f"确认：{self.number} → {target.label}（{target.detail}）  "
                             f"Confirm: {self.number} to {target.label_en}")

    def select(self, target: dict[str, Any]) -> bool:
        """Select the row for ``target`` (tests and keypads); True if found and open."""
        for i in range(self.list.count()):
            item = self.list.item(i)
            t = item.data(Qt.ItemDataRole.UserRole)
            if isinstance(t, Target) and t.request == target and t.enabled:
                self.list.setCurrentRow(i)
                return True
        return False

    def _accept(self) -> None:
        target = self.current()
        if target is not None:
            self.chosen.emit(dict(target.request))
            self.accept()


class ConfirmDialog(_PickDialog):
    """Yes/no with the question in both languages; emits ``chosen(dict)`` on yes."""

    chosen = Signal(dict)

    def __init__(self, title: str, question: str, fields: dict[str, Any] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(title, parent)
        self.fields = dict(fields or {})
        self.question = QLabel(question)
        self.question.setWordWrap(True)
        self.question.setStyleSheet("font-size: 22px;")
        self.layout_.addWidget(self.question)
        self.layout_.addWidget(self.buttons)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setDefault(True)

    def _accept(self) -> None:
        self.chosen.emit(dict(self.fields))
        self.accept()


class PauseDialog(_PickDialog):
    """Pick a pause reason (or type one); emits ``chosen(reason)``."""

    chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("暂停服务  Pause", parent)
        self.layout_.addWidget(QLabel("暂停原因  Reason"))
        self.reasons = QListWidget()
        for zh, en in PAUSE_REASONS:
            item = QListWidgetItem(f"{zh}  {en}")
            item.setData(Qt.ItemDataRole.UserRole, zh)
            self.reasons.addItem(item)
        self.reasons.setCurrentRow(0)
        self.other = QLineEdit()
        self.other.setPlaceholderText("其他原因  Other reason")
        self.layout_.addWidget(self.reasons)
        self.layout_.addWidget(self.other)
        self.layout_.addWidget(self.buttons)
        self.reasons.itemDoubleClicked.connect(lambda _i: self._accept())
        self.other.returnPressed.connect(self._accept)

    def _accept(self) -> None:
        text = self.other.text().strip()
        if not text and self.reasons.currentItem() is not None:
            text = str(self.reasons.currentItem().data(Qt.ItemDataRole.UserRole))
        self.chosen.emit(text)
        self.accept()


class RouteDialog(_PickDialog):
    """联办: send the case back to an earlier step (材料补正) or end it early; a
    reason is required. Emits ``chosen({"reason", "step"?})``."""

    chosen = Signal(dict)

    def __init__(self, action: str, steps: list[tuple[int, str]],
                 parent: QWidget | None = None) -> None:
        back = action == "route_back"
        super().__init__("退回补正  Send back" if back else "结束联办  End the case", parent)
        self.back = back
        self.steps = QListWidget()
        if back:
            self.layout_.addWidget(QLabel("退回到  Back to"))
            for index, text in steps:
                item = QListWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, index)
                self.steps.addItem(item)
            self.steps.setCurrentRow(self.steps.count() - 1)  # the previous step
            self.layout_.addWidget(self.steps)
        self.layout_.addWidget(QLabel("原因 (必填)  Reason (required)"))
        self.reason = QLineEdit()
        self.reason.setPlaceholderText("如: 材料不全  e.g. papers missing")
        self.layout_.addWidget(self.reason)
        self.layout_.addWidget(self.buttons)

    def _accept(self) -> None:
        reason = self.reason.text().strip()
        if not reason:
            self.reason.setFocus()
            return
        fields: dict[str, Any] = {"reason": reason}
        item = self.steps.currentItem()
        if self.back and item is not None:
            fields["step"] = int(item.data(Qt.ItemDataRole.UserRole))
        self.chosen.emit(fields)
        self.accept()


class CallDialog(_PickDialog):
    """特呼: type a number (keypad) or pick from the waiting list."""

    chosen = Signal(str)

    def __init__(self, state: CounterModel, preset: str = "",
                 parent: QWidget | None = None) -> None:
        super().__init__("特呼  Call a number", parent)
        self.layout_.addWidget(QLabel("号码  Ticket number"))
        self.number = QLineEdit(preset)
        self.number.setPlaceholderText("例如 A013")
        self.list = QListWidget()
        for t in state.waiting or ():
            item = QListWidgetItem(f"{t.get('number')}  {state.service_name(t.get('service', ''))}")
            item.setData(Qt.ItemDataRole.UserRole, str(t.get("number")))
            self.list.addItem(item)
        self.list.currentItemChanged.connect(self._picked)
        self.list.itemDoubleClicked.connect(lambda _i: self._accept())
        self.number.returnPressed.connect(self._accept)
        self.layout_.addWidget(self.number)
        self.layout_.addWidget(self.list)
        self.layout_.addWidget(self.buttons)

    def _picked(self, item: QListWidgetItem | None, _old: QListWidgetItem | None) -> None:
        if item is not None:
            self.number.setText(str(item.data(Qt.ItemDataRole.UserRole)))

    def _accept(self) -> None:
        text = self.number.text().strip()
        if text:
            self.chosen.emit(text)
            self.accept()


class CounterWindow(QWidget):
    """The whole counter client window (login page and main page)."""

    intent = Signal(str, dict)
    login_requested = Signal(str, str)
    logout_requested = Signal()

    def __init__(self, keys: dict[str, str] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("qhall 窗口叫号  Counter")
        self.setFont(QFont(FONT_FAMILIES, 12))
        self.setStyleSheet(_STYLE)
        self.resize(1366, 768)
        self.state: CounterModel | None = None
        self.dialog: QDialog | None = None
        self.keys = dict(keys or DEFAULT_KEYS)
        self.shortcuts: dict[str, QShortcut] = {}

        self.banner = QLabel("")
        self.banner.setObjectName("banner")
        self.banner.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.banner.setWordWrap(True)
        self.banner.hide()

        header = QFrame()
        header.setObjectName("header")
        hl = QHBoxLayout(header)
        hl.setContentsMargins(16, 8, 16, 8)
        self.counter_label = QLabel("")
        self.counter_label.setStyleSheet("font-size: 26px; font-weight: bold;")
        self.staff_label = QLabel("")
        self.connection_label = QLabel("")
        self.figures_label = QLabel("")
        self.logout_button = QPushButton("切换人员/退出  Switch staff")
        self.logout_button.setStyleSheet("min-height: 32px;")
        for w in (self.counter_label, self.staff_label):
            hl.addWidget(w)
        hl.addStretch(1)
        hl.addWidget(self.connection_label)
        hl.addStretch(1)
        hl.addWidget(self.figures_label)
        hl.addSpacing(16)
        hl.addWidget(self.logout_button)

        self.login = LoginPage()
        self.main = self._build_main()
        self.pages = QStackedWidget()
        self.pages.addWidget(self.login)
        self.pages.addWidget(self.main)

        self.message = QLabel("")
        self.message.setObjectName("message")
        self.message.setWordWrap(True)

        root = QVBoxLayout(self)
        root.setContentsMargins(0, 0, 0, 0)
        root.setSpacing(0)
        root.addWidget(self.banner)
        root.addWidget(header)
        root.addWidget(self.pages, 1)
        root.addWidget(self.message)

        self.login.submitted.connect(self.login_requested)
        self.logout_button.clicked.connect(self.logout_requested)
        self.set_keys(self.keys)

    # -- building -------------------------------------------------------
    def _build_main(self) -> QWidget:
        page = QWidget()
        left = QFrame()
        left.setObjectName("panel")
        ll = QVBoxLayout(left)
        ll.setContentsMargins(20, 16, 20, 16)
        caption = QLabel("当前号  Current")
        caption.setObjectName("caption")
        self.number_label = QLabel("—")
        self.number_label.setObjectName("ticketNumber")
        self.number_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.number_label.setFont(QFont(MONO_FAMILIES, 96, QFont.Weight.Bold))
        self.number_label.setSizePolicy(QSizePolicy.Policy.Expanding,
                                        QSizePolicy.Policy.Expanding)
        self.detail_label = QLabel("")
        self.detail_label.setObjectName("detail")
        self.detail_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.detail_label.setWordWrap(True)
        self.paused_label = QLabel("")
        self.paused_label.setObjectName("pausedNote")
        self.paused_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.paused_label.hide()
        grid = QGridLayout()
        grid.setSpacing(10)
        # Rows of 4: the ten actions (joint-approval ones included) take three
        # rows, so the window still fits 1366x768.
        columns = 4
        self.buttons: dict[str, QPushButton] = {}
        for i, action in enumerate(ACTIONS):
            button = QPushButton()
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys go to shortcuts
            button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
            if action == "call_next":
                button.setProperty("role", "primary")
            elif action == "complete":
                button.setProperty("role", "go")
            button.clicked.connect(lambda _c=False, a=action: self.trigger(a))
            grid.addWidget(button, i // columns, i % columns)
            self.buttons[action] = button
        self.figures_detail = QLabel("")
        self.figures_detail.setObjectName("figures")
        self.figures_detail.setWordWrap(True)
        self.undo_button = QPushButton("")
        self.undo_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.undo_button.clicked.connect(lambda: self.intent.emit("unmiss", {}))
        self.undo_button.hide()
        ll.addWidget(caption)
        ll.addWidget(self.number_label, 3)
        ll.addWidget(self.detail_label)
        ll.addWidget(self.paused_label)
        ll.addSpacing(8)
        ll.addLayout(grid)
        ll.addWidget(self.undo_button)
        ll.addSpacing(6)
        ll.addWidget(self.figures_detail)

        right = QFrame()
        right.setObjectName("panel")
        rl = QVBoxLayout(right)
        rl.setContentsMargins(12, 16, 12, 12)
        self.queue_caption = QLabel("等候队列  Waiting")
        self.queue_caption.setStyleSheet(f"font-size: 22px; color: {BLUE}; font-weight: bold;")
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["号码 No.", "业务 Service", "已等候 Waited"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.table.cellDoubleClicked.connect(self._row_activated)
        hint = QLabel("双击号码即特呼  Double-click a number to call it")
        hint.setObjectName("caption")
        hint.setStyleSheet("font-size: 14px;")
        self.missed_caption = QLabel("过号  Missed")
        self.missed_caption.setStyleSheet(f"font-size: 20px; color: {BLUE}; font-weight: bold;")
        self.missed_list = QListWidget()
        self.missed_list.setMaximumHeight(150)
        self.requeue_button = QPushButton("重新排队  Re-queue")
        self.requeue_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.requeue_button.clicked.connect(self._requeue_selected)
        self.missed_list.itemDoubleClicked.connect(lambda _i: self._requeue_selected())
        self.missed_list.currentRowChanged.connect(lambda _r: self._render_missed_button())
        rl.addWidget(self.queue_caption)
        rl.addWidget(self.table, 1)
        rl.addWidget(hint)
        rl.addWidget(self.missed_caption)
        rl.addWidget(self.missed_list)
        rl.addWidget(self.requeue_button)

        layout = QHBoxLayout(page)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.setSpacing(12)
        layout.addWidget(left, 3)
        layout.addWidget(right, 2)
        return page

    def set_keys(self, keys: dict[str, str]) -> None:
        """Install one window-wide shortcut per action (F1..F8 by default).

        Raises:
            ValueError: a key text Qt cannot parse.
        """
        for shortcut in self.shortcuts.values():
            shortcut.setEnabled(False)
            shortcut.deleteLater()
        self.shortcuts = {}
        for action in ACTIONS:
            seq = QKeySequence(keys[action])
            if seq.isEmpty() or seq.toString() == "":
                raise ValueError(f"action {action!r}: Qt cannot read the key {keys[action]!r}")
            shortcut = QShortcut(seq, self)
            shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
            shortcut.activated.connect(lambda a=action: self.trigger(a))
            self.shortcuts[action] = shortcut
        self.keys = dict(keys)
        if self.state is not None:
            self.render(self.state)

    # -- intents --------------------------------------------------------
    def trigger(self, action: str) -> None:
        """A button or its key: act if legal, else say why (never send)."""
        state = self.state
        if state is None or self.pages.currentWidget() is not self.main:
            return
        if state.why_not(action):
            # Not legal: the controller refuses it and the state says why
            # (in the status line, where it stays until the next action).
            self.intent.emit(action, {})
            return
        if action == "transfer":
            self._open(TransferDialog(state, self), lambda target: self.intent.emit(
                "transfer", target))
        elif action == "no_show":
            number = (state.current or {}).get("number", "")
            self._open(ConfirmDialog(
                "过号  No-show",
                f"确认 {number} 过号？30 秒内可撤销。\nMark {number} as a no-show? "
                "You can undo it for 30 s.", {}, self),
                lambda fields: self.intent.emit("no_show", fields))
        elif action == "pause" and state.counter_status != "paused":
            self._open(PauseDialog(self), lambda reason: self.intent.emit(
                "pause", {"reason": reason}))
        elif action in ("route_back", "route_end"):
            self._open(RouteDialog(action, state.route_steps(), self),
                       lambda fields: self.intent.emit(action, fields))
        elif action == "call":
            cell = self.table.item(self.table.currentRow(), 0)
            preset = cell.text() if cell is not None else ""
            self._open(CallDialog(state, preset, self), lambda number: self.intent.emit(
                "call", {"ticket": number}))
        else:
            self.intent.emit(action, {})

    def _open(self, dialog: Any, on_chosen: Any) -> None:
        if self.dialog is not None:
            self.dialog.close()
        self.dialog = dialog
        dialog.chosen.connect(on_chosen)
        dialog.finished.connect(lambda _r, d=dialog: self._closed(d))
        dialog.open()

    def _closed(self, dialog: QDialog) -> None:
        if self.dialog is dialog:
            self.dialog = None
        dialog.deleteLater()

    def _row_activated(self, row: int, _column: int) -> None:
        item = self.table.item(row, 0)
        if item is None or self.state is None:
            return
        self.intent.emit("call", {"ticket": str(item.data(Qt.ItemDataRole.UserRole))})

    def _requeue_selected(self) -> None:
        item = self.missed_list.currentItem()
        if item is not None:
            self.intent.emit("requeue", {"ticket": str(item.data(Qt.ItemDataRole.UserRole))})

    def show_message(self, level: str, text: str) -> None:
        _restyle(self.message, "level", level)
        self.message.setText(text)

    # -- rendering ------------------------------------------------------
    # The clients' view contract is render(state) (docs/ARCHITECTURE.md); it
    # shadows QWidget.render(device), which nothing here calls from Python.
    def render(self, state: CounterModel) -> None:  # type: ignore[override]
        """Show ``state``: called after every change and once a second."""
        self.state = state
        self._render_banner(state)
        self._render_header(state)
        if state.logged_in:
            # Once in, the form is emptied, so after logout or "switch staff"
            # it never holds the previous clerk's id and PIN.
            self.login.clear_fields()
            self.pages.setCurrentWidget(self.main)
            self._render_current(state)
            self._render_buttons(state)
            self._render_queue(state)
            self._render_missed(state)
        else:
            if self.dialog is not None:
                self.dialog.close()
            self.pages.setCurrentWidget(self.login)
            self.login.render(state)
        line = status_line(state, self.keys)
        self.show_message(line.level, line.text)

    def _render_banner(self, state: CounterModel) -> None:
        if state.refused:
            self.banner.setText(state.refused)
            self.banner.show()
        elif state.connection != "online":
            self.banner.setText(
                "网络连接已断开，正在自动重连… 操作已停用  "
                "Connection lost: reconnecting, actions are disabled"
                if state.ever_online else "正在连接服务器…  Connecting to the server…")
            self.banner.show()
        else:
            self.banner.hide()

    def _render_header(self, state: CounterModel) -> None:
        self.counter_label.setText(state.counter_name or "窗口")
        self.setWindowTitle(f"{state.counter_name or '窗口'} · qhall 窗口叫号 Counter")
        staff = state.staff
        self.staff_label.setText(f"{staff['name']} ({staff['id']})" if staff else "未登录")
        text, color = {
            "online": ("已连接", "#7CE38B"),
            "connecting": ("连接中…", AMBER),
        }.get(state.connection, ("已断开", "#FF8A80"))
        self.connection_label.setText(f"{text} <span style='color:{color}'>●</span>")
        self.figures_label.setText(f"今日 {state.figures.summary()}" if staff else "")
        self.logout_button.setEnabled(state.can_logout())
        self.logout_button.setVisible(state.logged_in)

    def _render_current(self, state: CounterModel) -> None:
        t = state.current
        # The number is the one thing read from across the desk: scale it.
        size = max(48, min(int(self.height() * 0.17), int(self.width() * 0.09)))
        font = self.number_label.font()
        if font.pixelSize() != size:
            font.setPixelSize(size)
            self.number_label.setFont(font)
        if t:
            self.number_label.setText(str(t.get("number", "?")))
            _restyle(self.number_label, "serving",
                     "true" if t.get("status") == "serving" else "false")
            parts = [state.service_name(str(t.get("service", "")))]
            waited = state.waited_s(t)
            if waited is not None:
                parts.append(f"等候 {format_duration(waited)}")
            parts.append(state.status_text(str(t.get("status"))))
            serving = state.serving_s()
            if serving is not None:
                parts.append(f"办理 {format_duration(serving)}")
            if t.get("priority") == "priority":
                parts.append("优先")
            elif t.get("priority") == "appointment":
                parts.append("预约")
            self.detail_label.setText(" · ".join(parts))
        else:
            self.number_label.setText("—")
            _restyle(self.number_label, "serving", "false")
            # The same words as the status line: the two can never disagree.
            self.detail_label.setText(screen_line(state, self.keys).text
                                      if state.counter_status == "open" else "")
        if state.counter_status == "paused":
            reason = f"（{state.pause_reason}）" if state.pause_reason else ""
            self.paused_label.setText(
                f"暂停服务{reason}  Paused — 按 {self.keys['pause']} 恢复 Resume")
            self.paused_label.show()
        else:
            self.paused_label.hide()
        self.figures_detail.setText(
            f"本窗口今日  {state.figures.summary()}        "
            f"{state.staff['name'] if state.staff else ''}今日  {state.staff_today().summary()}")

    def _render_buttons(self, state: CounterModel) -> None:
        for action, button in self.buttons.items():
            zh, en = LABELS[action]
            if action == "pause":
                zh, en = (("恢复", "Resume") if state.counter_status == "paused"
                          else ("暂停", "Pause"))
            button.setText(f"{self.keys[action]}  {zh}\n{en}")
            why = state.why_not(action)
            button.setEnabled(why is None)
            button.setToolTip(why or f"{zh} {en} ({self.keys[action]})")

    def _render_queue(self, state: CounterModel) -> None:
        waiting = state.waiting or []
        known = state.waiting is not None
        self.queue_caption.setText(
            f"等候队列  Waiting ({len(waiting)})" if known else "等候队列  Waiting (…)")
        ids = [str(t.get("id")) for t in waiting]
        cells = (self.table.item(r, 0) for r in range(self.table.rowCount()))
        current_ids = [str(c.data(Qt.ItemDataRole.UserRole)) for c in cells if c is not None]
        if ids != current_ids:
            # Rebuild only when the list changed, keeping the selection, so
            # the once-a-second refresh of the waited times does not steal it.
            selected = None
            row = self.table.currentRow()
            if 0 <= row < len(current_ids):
                selected = current_ids[row]
            self.table.setRowCount(len(waiting))
            for r, t in enumerate(waiting):
                number = QTableWidgetItem(str(t.get("number", "")))
                number.setData(Qt.ItemDataRole.UserRole, str(t.get("id")))
                number.setFont(QFont(MONO_FAMILIES, 14, QFont.Weight.Bold))
                name = state.service_name(str(t.get("service", "")))
                if t.get("priority") == "priority":
                    name += "  [优先]"
                elif t.get("priority") == "appointment":
                    name += "  [预约]"
                self.table.setItem(r, 0, number)
                self.table.setItem(r, 1, QTableWidgetItem(name))
                self.table.setItem(r, 2, QTableWidgetItem(""))
            self.table.clearSelection()
            if selected in ids:
                self.table.selectRow(ids.index(selected))
        for r, t in enumerate(waiting):
            item = self.table.item(r, 2)
            if item is not None:
                item.setText(format_duration(state.waited_s(t)))
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def _render_missed(self, state: CounterModel) -> None:
        left = state.undo_left_s()
        if state.undo is not None and left > 0:
            number = state.undo[0].get("number", "")
            self.undo_button.setText(f"撤销过号 {number}（{int(left + 0.999)} 秒）  "
                                     f"Undo no-show ({int(left + 0.999)} s)")
            why = state.why_not_undo()
            self.undo_button.setEnabled(why is None)
            self.undo_button.setToolTip(why or "")
            self.undo_button.show()
        else:
            self.undo_button.hide()
        missed = state.missed or []
        self.missed_caption.setText(f"过号  Missed ({len(missed)})")
        ids = [str(t.get("id")) for t in missed]
        shown = [str(self.missed_list.item(i).data(Qt.ItemDataRole.UserRole))
                 for i in range(self.missed_list.count())]
        if ids != shown:
            selected = self.missed_list.currentItem()
            keep = str(selected.data(Qt.ItemDataRole.UserRole)) if selected else None
            self.missed_list.clear()
            for t in missed:
                item = QListWidgetItem(f"{t.get('number', '')}  "
                                       f"{state.service_name(str(t.get('service', '')))}")
                item.setData(Qt.ItemDataRole.UserRole, str(t.get("id")))
                self.missed_list.addItem(item)
            if keep in ids:
                self.missed_list.setCurrentRow(ids.index(keep))
        self._render_missed_button()

    def _render_missed_button(self) -> None:
        state = self.state
        why = state.why_not_requeue() if state is not None else None
        if why is None and self.missed_list.currentItem() is None:
            why = "请先选择一个过号的号  Pick a missed ticket first"
        self.requeue_button.setEnabled(why is None)
        self.requeue_button.setToolTip(why or "")
