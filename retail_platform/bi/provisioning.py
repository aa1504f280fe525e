"""What Superset is provisioned with (``infra/superset/provision.py`` reads it): the bundle, the
warehouse connection with the read-only BI account, the admin, roles, users and row-level security,
all from the settings and the repository.

Imports only the settings and the BI catalog (PyYAML and the standard library), so Superset's own
interpreter can run it too: the local profile's ``make up`` calls :func:`spec` from the platform's
environment (retail_platform/runtime/superset.py); the compose profile's ``superset-init`` container,
which has only Superset's environment, runs ``python -m retail_platform.bi.provisioning DIR``.
"""

from __future__ import annotations

import json
import sys
import urllib.parse
from pathlib import Path
from typing import Any

from retail_platform.bi import access, bundle
from retail_platform.settings import Settings, get_settings


def database_uri(settings: Settings) -> str:
    """Superset reads with the read-only BI account, never the ETL account."""
    user = urllib.parse.quote(settings.clickhouse_bi_user, safe="")
    password = urllib.parse.quote(settings.clickhouse_bi_password, safe="")
    host, port, database = settings.clickhouse_host, settings.clickhouse_port, settings.clickhouse_database
    return f"clickhousedb://{user}:{password}@{host}:{port}/{database}"


def spec(settings: Settings, bundle_zip: Path, init: bool) -> dict[str, Any]:
    """The provisioning spec; ``init``: also sync Superset's role definitions (the slow part)."""
    return {
        "init": init,
        "admin": {"username": settings.superset_user, "password": settings.superset_password},
        "bundle": str(bundle_zip),
        "database_uri": database_uri(settings),
        "schema": settings.clickhouse_database,
        **access.provisioning_spec(settings, access.load()),
    }


def write(settings: Settings, directory: Path, init: bool = True) -> Path:
    """Write ``bundle.zip`` and ``provision.json`` (mode 0600: it holds passwords) into
    ``directory``; returns the spec's path."""
    directory.mkdir(parents=True, exist_ok=True)
    zip_path = directory / "bundle.zip"
    zip_path.write_bytes(bundle.zip_bundle())
    spec_path = directory / "provision.json"
    spec_path.touch(mode=0o600)
    spec_path.chmod(0o600)
    spec_path.write_text(json.dumps(spec(settings, zip_path, init)))
    return spec_path


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m retail_platform.bi.provisioning DIRECTORY", file=sys.stderr)
        return 2
    print(write(get_settings(), Path(argv[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
