"""The built-in demo hall, modelled on the Chuzhou city government service center.

``demo_config()`` gives a complete :class:`~server.config.HallConfig`: the three
service categories, 27 services, 67 counters (36 approval, 19 public service,
12 intermediary), staff and devices. ``demo_toml()`` renders it as a config
file for ``qhall check-config`` / ``qhall serve --config``.

Demo secrets are public and deterministic (see ``docs/CONFIG.md``):

* every staff PIN is ``1234``;
* every device token is ``"demo-" + device id`` (``demo-kiosk-1``, ``demo-counter-3``).

Because they are public, their hashes use a low scrypt cost and a salt derived
from the id: ~240 hashes then cost a fraction of a second instead of ~10 s,
and the demo TOML is the same on every run. Real halls use ``qhall hash-secret``.
"""

from __future__ import annotations

import datetime
import functools
import hashlib

from server.auth import hash_secret
from server.client.tokens import demo_token
from server.config import (
    Announce,
    Appointments,
    Counter,
    Device,
    Dispatch,
    HallConfig,
    Service,
    Staff,
    dumps,
)
from server.wire.where import counter_span, service_counters

__all__ = [
    "DEMO_PIN",
    "demo_config",
    "demo_toml",
    "demo_token",
]

DEMO_PIN = "1234"
#: Lower scrypt cost for the public demo secrets only (see the module docstring).
_DEMO_N = 2**8
_STAFF_EXTRA = 13  # floaters beyond one per counter: breaks, rush hours

_t = datetime.time
_HALL_HOURS = ((_t(8, 30), _t(12, 0)), (_t(13, 30), _t(17, 30)))
# Bank and payment counters in Chinese halls usually stay open over lunch.
_ALL_DAY = ((_t(8, 30), _t(17, 30)),)
_MORNING = ((_t(8, 30), _t(12, 0)),)


@functools.cache
def _demo_hash(secret: str, owner: str) -> str:
    # Deterministic salt per owner: same config every run, distinct hashes per entry.
    salt = hashlib.sha256(f"qhall-demo:{owner}".encode()).digest()[:16]
    return hash_secret(secret, n=_DEMO_N, salt=salt)


# id, name, name_en, prefix, category, default_service_s, hours, daily_quota, appointments
_SERVICES: tuple[tuple, ...] = (
    # 行政审批 administrative approval
    ("qydj", "企业开办登记", "Business start-up registration", "A", "approval", 1080,
     _HALL_HOURS, None, None),
    ("gtdj", "个体工商户登记", "Sole proprietor registration", "B", "approval", 720,
     _HALL_HOURS, None, None),
    ("spxk", "食品经营许可", "Food business permit", "C", "approval", 900,
     _HALL_HOURS, None, None),
    ("gcjs", "工程建设项目联合审批", "Construction project joint approval", "D", "approval", 1200,
     _HALL_HOURS, 80, None),
    ("bdc", "不动产登记", "Real estate registration", "E", "approval", 1200,
     _HALL_HOURS, 300, Appointments(slot_minutes=30, capacity=4)),
    ("ysxk", "道路运输许可", "Road transport permit", "F", "approval", 900,
     _HALL_HOURS, None, None),
    ("ypxk", "药品经营许可", "Drug retail permit", "G", "approval", 900,
     _HALL_HOURS, None, None),
    ("wsxk", "公共场所卫生许可", "Public venue hygiene permit", "H", "approval", 720,
     _HALL_HOURS, None, None),
    ("hpsp", "环境影响评价审批", "Environmental impact approval", "J", "approval", 1200,
     _HALL_HOURS, 40, None),
    ("crj", "出入境证件办理", "Passports and exit-entry permits", "K", "approval", 600,
     _HALL_HOURS, 200, None),
    ("hj", "户籍业务", "Household registration (hukou)", "L", "approval", 600,
     _HALL_HOURS, None, None),
    ("jsz", "驾驶证业务", "Driving licences", "M", "approval", 480,
     _HALL_HOURS, None, None),
    ("rlzy", "人力资源服务许可", "Employment agency licence", "N", "approval", 900,
     _MORNING, 30, None),
    # 公共服务 public service
    ("gjj", "公积金提取", "Housing fund withdrawal", "P", "public", 420,
     _HALL_HOURS, None, None),
    ("gjjdk", "公积金贷款", "Housing fund loans", "Q", "public", 1200,
     _HALL_HOURS, 60, Appointments(slot_minutes=30, capacity=2)),
    ("sb", "社会保险", "Social insurance", "R", "public", 480,
     _HALL_HOURS, None, None),
    ("yb", "医疗保险", "Medical insurance", "S", "public", 420,
     _HALL_HOURS, None, None),
    ("ns", "税费缴纳", "Tax payment", "T", "public", 240,
     _HALL_HOURS, None, None),
    ("sdq", "水电气缴费", "Water, power and gas bills", "U", "public", 180,
     _ALL_DAY, None, None),
    ("tx", "话费充值与宽带", "Phone top-up and broadband", "V", "public", 180,
     _ALL_DAY, None, None),
    ("yh", "银行业务", "Banking", "W", "public", 300,
     _ALL_DAY, None, None),
    ("dkhk", "贷款还款", "Loan repayment", "X", "public", 240,
     _ALL_DAY, None, None),
    # 中介服务 intermediary services
    ("ch", "测绘服务", "Surveying and mapping", "Y", "intermediary", 900,
     _HALL_HOURS, None, None),
    ("pg", "房地产评估", "Property valuation", "Z", "intermediary", 900,
     _HALL_HOURS, None, None),
    ("db", "代办服务", "Filing agency (we file for you)", "DB", "intermediary", 600,
     _HALL_HOURS, None, None),
    ("gz", "公证服务", "Notary services", "GZ", "intermediary", 900,
     _HALL_HOURS, 50, None),
    ("zb", "招标代理", "Tender agency", "ZB", "intermediary", 1200,
     _HALL_HOURS, None, None),
    # steps of the joint-approval routes below (联合审批, 一件事一次办)
    ("mcsb", "企业名称申报", "Company name declaration", "MC", "approval", 300,
     _HALL_HOURS, None, None),
    ("swdj", "税务登记与发票申领", "Tax registration and invoices", "SW", "approval", 480,
     _HALL_HOURS, None, None),
    ("ghxk", "建设工程规划许可", "Planning permit", "GH", "approval", 900,
     _HALL_HOURS, None, None),
    ("sgxk", "建筑工程施工许可", "Construction permit", "SG", "approval", 900,
     _HALL_HOURS, None, None),
    ("xfsj", "消防设计审查", "Fire safety design review", "XF", "approval", 720,
     _HALL_HOURS, None, None),
    # the routes: one number through their steps' windows in order
    ("qyzr", "企业准入一件事", "New business (joint)", "QZ", "approval", 900,
     _HALL_HOURS, None, None),
    ("jjsp", "基建审批一件事", "Building permits (joint)", "JJ", "approval",
     1200, _HALL_HOURS, 40, None),
)  # fmt: skip

#: The reference hall's joint approvals (REFERENCE_HALL.md): name, registration,
#: tax, social insurance for a new business; planning, construction, fire, environment
#: for a building project.
_ROUTES: dict[str, tuple[str, ...]] = {
    "qyzr": ("mcsb", "qydj", "swdj", "sb"),
    "jjsp": ("ghxk", "sgxk", "xfsj", "hpsp"),
}
#: Not offered at the kiosk on their own (``kiosk = false``): the route steps
#: that exist only inside a route, and 工程建设项目联合审批, which the kiosk
#: offers as 基建审批一件事 now (its window still serves it, e.g. transfers).
_NOT_AT_KIOSK = frozenset({"mcsb", "swdj", "ghxk", "sgxk", "xfsj", "gcjs"})

# (how many counters, their services in order of preference, mode); numbered
# 1..36 approval, 37..55 public service, 56..67 intermediary, as in the reference.
_COUNTER_GROUPS: tuple[tuple[int, tuple[str, ...], str], ...] = (
    # approval: 36
    (4, ("qydj", "gtdj"), "ordered"),
    (1, ("qydj", "gtdj"), "oldest"),
    (2, ("mcsb", "gtdj", "qydj"), "oldest"),
    (2, ("spxk", "ypxk", "wsxk"), "ordered"),
    (1, ("ypxk", "wsxk", "spxk"), "oldest"),
    (3, ("gcjs", "hpsp"), "ordered"),  # one window accepts joint approvals
    (1, ("ghxk", "sgxk", "gcjs"), "oldest"),  # the construction route's steps
    (1, ("xfsj", "sgxk", "gcjs"), "oldest"),
    (1, ("hpsp", "gcjs"), "ordered"),
    (7, ("bdc",), "ordered"),
    (1, ("bdc", "gcjs"), "ordered"),
    (2, ("ysxk",), "ordered"),
    (4, ("crj", "hj"), "ordered"),
    (1, ("hj", "crj"), "ordered"),
    (1, ("hj", "rlzy"), "ordered"),
    (3, ("jsz",), "ordered"),
    (1, ("qydj", "spxk", "gcjs", "ysxk"), "oldest"),  # 综合受理 general intake
    # public service: 19
    (4, ("gjj", "gjjdk"), "ordered"),
    (3, ("gjjdk", "gjj"), "ordered"),
    (3, ("sb", "yb"), "ordered"),
    (2, ("yb", "sb"), "ordered"),
    (3, ("ns", "swdj"), "oldest"),
    (1, ("sdq", "tx"), "oldest"),
    (1, ("tx", "sdq"), "ordered"),
    (1, ("yh", "dkhk"), "ordered"),
    (1, ("dkhk", "yh"), "ordered"),
    # intermediary: 12
    (3, ("ch", "pg"), "ordered"),
    (2, ("pg", "ch"), "ordered"),
    (3, ("db",), "ordered"),
    (2, ("gz",), "ordered"),
    (2, ("zb", "db"), "ordered"),
)

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹"
_GIVEN = (
    "芳", "伟", "敏", "静", "磊", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超",
    "秀英", "丽", "强", "军", "平", "刚", "桂兰", "婷", "浩", "慧", "志远", "晓燕",
    "建国", "雪", "鹏", "琳", "文博",
)  # fmt: skip

_NOTICE = (
    "温馨提示: 请保管好您的号票, 过号请到取号机或窗口重新排队。公积金贷款、不动产登记可提前预约。"
)


#: The hall's areas per category (the reference hall's floor plan: approval
#: counters in area A, public service in B, intermediary services in C).
_AREAS = {"approval": "A", "public": "B", "intermediary": "C"}


def _zone(sid: str, category: str) -> str:
    """E.g. "A区 1-7、36号窗口": the area and the counters that serve ``sid``."""
    counters = [{"number": c.number, "services": c.services} for c in _counters()]
    return f"{_AREAS[category]}区 {counter_span(service_counters(sid, counters))}号窗口"


def _services() -> tuple[Service, ...]:
    return tuple(
        Service(
            id=sid,
            name=name,
            name_en=name_en,
            prefix=prefix,
            category=category,
            hours=hours,
            daily_quota=quota,
            default_service_s=seconds,
            appointments=appointments,
            # A route's citizens wait where its first step is served.
            zone=_zone(_ROUTES.get(sid, (sid,))[0], category),
            route=_ROUTES.get(sid, ()),
            kiosk=sid not in _NOT_AT_KIOSK,
        )
        for sid, name, name_en, prefix, category, seconds, hours, quota, appointments in _SERVICES
    )


def _counters() -> tuple[Counter, ...]:
    counters: list[Counter] = []
    for count, services, mode in _COUNTER_GROUPS:
        for _ in range(count):
            number = len(counters) + 1
            counters.append(Counter(number, f"{number}号窗口", services, mode))
    return tuple(counters)


def _staff(count: int) -> tuple[Staff, ...]:
    staff = []
    for i in range(count):
        # Deterministic, varied names: the steps are coprime with the list sizes.
        name = _SURNAMES[(i * 7) % len(_SURNAMES)] + _GIVEN[(i * 11 + i // 30) % len(_GIVEN)]
        sid = f"s{i + 1:03d}"
        staff.append(Staff(sid, name, _demo_hash(DEMO_PIN, sid)))
    return tuple(staff)


def _devices(counter_numbers: list[int]) -> tuple[Device, ...]:
    plan: list[tuple[str, str, int | None]] = []
    plan += [(f"kiosk-{i}", "kiosk", None) for i in range(1, 7)]
    plan += [(f"counter-{n}", "counter", n) for n in counter_numbers]
    plan += [(f"board-{i}", "display", None) for i in range(1, 21)]
    plan += [(f"evaluator-{n}", "evaluator", n) for n in counter_numbers]
    plan += [("admin-1", "admin", None), ("booking-1", "booking", None)]
    return tuple(
        Device(did, role, _demo_hash(demo_token(did), did), counter) for did, role, counter in plan
    )


def demo_config(database: str = "sqlite:///qhall.db") -> HallConfig:
    """The built-in demo hall.

    Args:
        database: the SQLAlchemy URL to store it in.

    Returns:
        A valid configuration (the same on every call but for ``database``).
    """
    counters = _counters()
    return HallConfig(
        id="main",
        name="滁州市政务服务中心",
        timezone="Asia/Shanghai",
        database=database,
        services=_services(),
        counters=counters,
        staff=_staff(len(counters) + _STAFF_EXTRA),
        devices=_devices([c.number for c in counters]),
        dispatch=Dispatch(),
        announce=Announce(),
        notice=_NOTICE,
    )


def demo_toml(database: str = "sqlite:///qhall.db") -> str:
    """The demo hall as the text of a hall configuration file.

    Args:
        database: the SQLAlchemy URL written into ``[hall]``.

    Returns:
        TOML text that :func:`server.config.parse` reads back equal to
        ``demo_config(database)``.
    """
    header = (
        "# qhall demo hall, modelled on the Chuzhou city government service center.\n"
        "# Generated by server.reference.demo_toml(). DEMO SECRETS ARE PUBLIC:\n"
        f"# every staff PIN is {DEMO_PIN}; every device token is 'demo-' + the device id.\n"
        "# Replace every pin_hash and token_hash (qhall hash-secret) before real use.\n\n"
    )
    return header + dumps(demo_config(database))
