"""`crypto` and `liaison.domain` stay sans-io: importing them pulls in no network or database."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("aiohttp", "asyncio", "sqlalchemy", "asyncpg", "aiosqlite")
PROBE = """
import json, sys, pkgutil, importlib
import crypto, liaison.domain
for pkg in (crypto, liaison.domain):
    for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
        importlib.import_module(info.name)
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in %r)))
"""


def test_importing_crypto_and_domain_loads_no_io_library():
    out = subprocess.run(
        [sys.executable, "-c", PROBE % (FORBIDDEN,)],
        capture_output=True,
        text=True,
        check=True,
        cwd=PROJECT_ROOT,
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
