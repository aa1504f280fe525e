"""``python -m retail_platform.api serve`` runs the API (uvicorn); ``token`` prints a bearer token.

python -m retail_platform.api token --role store_manager --stores store_001,store_002 --subject alice
"""

from __future__ import annotations

import argparse
import sys

from retail_platform.settings import SettingsError, get_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m retail_platform.api")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="serve the API on RETAIL_API_URL")
    token = sub.add_parser("token", help="print a signed bearer token")
    token.add_argument("--subject", required=True, help="who the token is for (recorded in the audit trail)")
    token.add_argument("--role", required=True, choices=["store_manager", "analyst", "integration"])
    token.add_argument("--stores", required=True, help="comma-separated store ids, or * for every store")
    token.add_argument("--permissions", help="integration tokens: inventory:read,inventory:adjust (default both)")
    token.add_argument("--lifetime", type=int, default=3600, help="seconds (default 3600)")
    args = parser.parse_args(argv)
    try:
        settings = get_settings()
    except SettingsError as exc:
        print(f"settings: {exc}", file=sys.stderr)
        return 2

    from retail_platform.api import auth

    if args.command == "token":
        try:
            secret = auth.load_secret(settings.api_secret_file)
            perms = args.permissions.split(",") if args.permissions else None
            stores = [s.strip() for s in args.stores.split(",") if s.strip()]
            print(
                auth.issue_token(secret, args.subject, args.role, stores, permissions=perms, lifetime_s=args.lifetime)
            )
        except (auth.AuthError, ValueError) as exc:
            print(f"token: {exc}", file=sys.stderr)
            return 2
        return 0

    import uvicorn

    from retail_platform import tls
    from retail_platform.api.app import FLOOR_FILE
    from retail_platform.api.snapshot import Floor

    tls_args: dict[str, str] = {}
    if settings.api_tls:
        _, crt, key = tls.ensure_local(settings.tls_dir, "api", settings.api_host)
        tls_args = {"ssl_certfile": str(crt), "ssl_keyfile": str(key)}
    Floor.reset(settings.state_dir / "api" / FLOOR_FILE)  # before any worker reads it
    # The app by its factory: with several workers each process builds its own (from the same settings).
    uvicorn.run(
        "retail_platform.api.app:serve_app",
        factory=True,
        workers=settings.api_workers,
        host=settings.api_host,
        port=settings.api_port,
        log_level="warning",
        access_log=False,
        **tls_args,  # type: ignore[arg-type]
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
