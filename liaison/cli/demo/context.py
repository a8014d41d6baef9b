"""What the demo's steps share: the cast, the context they fill in, and enrolling a device."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from liaison.client.home import Home

# The steps import the client when they run: `liaison` imports the demo on every call.
if TYPE_CHECKING:
    from liaison.client import agency as agency_ops
    from liaison.client.send import SentMessage
    from liaison.client.transport import ApiClient

DEMO_PASSPHRASE = "demo passphrase, never for real keys"  # noqa: S105 (throw-away demo keys)

# The cast: three agencies of two countries and one officer each (two devices for the first).
AGENCIES = (
    {
        "code": "VN-QN-CA",
        "country": "VN",
        "name_vi": "Công an tỉnh Quảng Ninh",
        "name_zh": "广宁省公安厅",
    },
    {
        "code": "VN-QN-BP",
        "country": "VN",
        "name_vi": "Bộ Chỉ huy Bộ đội Biên phòng tỉnh Quảng Ninh",
        "name_zh": "广宁省边防部队指挥部",
    },
    {
        "code": "CN-GX-DXGA",
        "country": "CN",
        "name_vi": "Công an thành phố Đông Hưng",
        "name_zh": "东兴市公安局",
    },
)
OFFICERS = (
    # (home name, agency, officer id, name vi, name zh, device)
    ("an-phone", "VN-QN-CA", "nguyen.van.an", "Nguyễn Văn An", "阮文安（音）", "phone"),
    ("an-laptop", "VN-QN-CA", "nguyen.van.an", "Nguyễn Văn An", "阮文安（音）", "laptop"),
    ("binh", "VN-QN-BP", "tran.thi.binh", "Trần Thị Bình", "陈氏平（音）", "phone"),
    ("li", "CN-GX-DXGA", "li.wei", "Lý Vĩ", "李伟", "desk"),
)


@dataclass
class DemoContext:
    """Everything the steps share; later steps find homes and results here by name."""

    folder: Path
    say: Callable[[str], None]
    url: str = ""
    admin_token: str = ""
    api: ApiClient | None = None
    admins: dict[str, Home] = field(default_factory=dict)
    fingerprints: dict[str, agency_ops.Fingerprint] = field(default_factory=dict)
    officers: dict[str, Home] = field(default_factory=dict)
    sent: dict[str, SentMessage] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def home(self, name: str) -> Home:
        return Home(self.folder / "homes" / name, passphrase=lambda confirm: DEMO_PASSPHRASE)

    @property
    def client(self) -> ApiClient:
        assert self.api is not None
        return self.api


def catalogue_agency(code: str) -> dict[str, str]:
    """An agency of the data catalogue as the cast lists its members (like AGENCIES')."""
    from liaison.domain.agencies import agency

    found = agency(code)
    assert found is not None, code
    return {
        "code": code,
        "country": found.country,
        "name_vi": found.name("vi"),
        "name_zh": found.name("zh"),
    }


async def create_agency(ctx: DemoContext, spec: dict[str, str]) -> Home:
    """The administrator of `spec` (a row like AGENCIES') creates its root key and registers
    it on the relay of `ctx`; its home and fingerprint join `ctx`. Returns the home."""
    from liaison.client import agency as agency_ops

    admin = ctx.home(f"admin-{spec['code']}")
    ctx.fingerprints[spec["code"]] = agency_ops.init_agency(
        admin,
        code=spec["code"],
        country=spec["country"],
        name_vi=spec["name_vi"],
        name_zh=spec["name_zh"],
    )
    await agency_ops.register_agency(admin, ctx.client, ctx.admin_token)
    ctx.admins[spec["code"]] = admin
    return admin


async def enrol(
    ctx: DemoContext, member: tuple[str, str, str, str, str, str], *, role: str = "officer"
) -> str:
    """Create, certify and activate the device of one `member` (a row like OFFICERS'); the
    device joins `ctx.officers`. Returns its device id."""
    from liaison.client import agency as agency_ops
    from liaison.client import officer as officer_ops

    home_name, code, officer_id, name_vi, name_zh, device = member
    home = ctx.home(home_name)
    request = officer_ops.init_officer(
        home,
        agency=code,
        name_vi=name_vi,
        name_zh=name_zh,
        server=ctx.url,
        officer_id=officer_id,
        device_name=device,
    )
    certificate = agency_ops.certify(
        ctx.admins[code], json.dumps(request).encode("utf-8"), role=role
    )
    # In real life the administrator reads the fingerprint aloud; the officer compares it.
    await officer_ops.activate(
        home,
        ctx.client,
        certificate,
        root_fingerprint=ctx.fingerprints[code].safety_number,
    )
    ctx.officers[home_name] = home
    return str(request["device_id"])
