"""Review test helpers: the demo's world after its first message, with enrolment helpers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from liaison.cli.demo.tour import DemoContext
from liaison.client import agency as agency_ops
from liaison.client import officer as officer_ops
from liaison.client import review as review_ops
from liaison.client import trust as trust_ops
from liaison.client.home import Home
from liaison.client.transport import ApiClient


@dataclass
class World:
    """The demo's cast after its first message, plus a live API client and helpers."""

    ctx: DemoContext
    api: ApiClient
    data_dir: Path
    supervisor: Home | None = None

    def officer(self, name: str) -> Home:
        return self.ctx.officers[name]

    async def enrol(self, name: str, agency: str, officer_id: str, *, role: str) -> Home:
        """Enrol a device of `agency`, pin every other root, and hand out review keys."""
        home = self.ctx.home(name)
        request = officer_ops.init_officer(
            home,
            agency=agency,
            name_vi=officer_id,
            name_zh=officer_id,
            server=self.ctx.url,
            officer_id=officer_id,
            device_name="desk",
        )
        admin = self.ctx.admins[agency]
        certificate = agency_ops.certify(admin, json.dumps(request).encode(), role=role)
        await officer_ops.activate(
            home,
            self.api,
            certificate,
            root_fingerprint=self.ctx.fingerprints[agency].safety_number,
        )
        for other, fp in self.ctx.fingerprints.items():
            if other != agency:
                await trust_ops.add(home, self.api, other, fp.safety_number)
        await review_ops.publish_wraps(admin, self.api)
        self.ctx.officers[name] = home
        return home

    async def entry(self, index: int) -> dict[str, Any]:
        answer = await self.api.entries(index, index + 1)
        return dict(answer["entries"][0]["entry"])

    async def entries(self) -> list[dict[str, Any]]:
        size = (await self.api.checkpoint())["size"]
        answer = await self.api.entries(0, size)
        return [item["entry"] for item in answer["entries"]]
