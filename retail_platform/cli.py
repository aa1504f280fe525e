"""The platform's command line: `python -m retail_platform {up,down,status,demo,migrate}`."""

from __future__ import annotations

import argparse
import sys

from retail_platform.runtime.errors import RuntimeStartError
from retail_platform.settings import SettingsError, get_settings
from retail_platform.warehouse.migrations import MigrationError


def _only(value: str | None) -> tuple[str, ...]:
    from retail_platform.runtime.stack import SERVICE_NAMES

    return tuple(v.strip() for v in value.split(",")) if value else SERVICE_NAMES


def cmd_up(args: argparse.Namespace) -> int:
    from retail_platform.runtime import stack

    settings = get_settings()
    print(f"starting the {settings.profile} stack (state in {settings.state_dir})")
    stack.up(settings, _only(args.only))
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    from retail_platform.runtime import stack

    stack.down(get_settings(), _only(args.only))
    print("stopped; data is kept (`make reset` deletes it)")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from retail_platform.runtime import stack

    report = stack.status(get_settings())
    for item in report:
        procs = ", ".join(f"{name}={'pid ' + str(pid) if pid else 'stopped'}" for name, pid in item.processes.items())
        print(f"{item.name:<10} {'healthy' if item.healthy else 'DOWN':<8} {item.detail}\n           {procs}")
    # Stopped services are reported, not failed; a service with a process that is not healthy fails.
    running = [item for item in report if any(item.processes.values())]
    return 0 if running and all(item.healthy for item in running) else 1


def cmd_demo(args: argparse.Namespace) -> int:
    from retail_platform import demo

    return demo.main(
        get_settings(),
        seconds=args.seconds,
        stores=args.stores,
        products=args.products,
        rate=args.rate,
        skip_batch=args.skip_batch,
        history_days=args.history_days,
    )


def cmd_dashboards(args: argparse.Namespace) -> int:
    from pathlib import Path

    from retail_platform.bi import showcase
    from retail_platform.runtime import stack

    settings = get_settings()
    stack.up(settings, ("superset",))
    showcase.show(settings, Path(args.out) if args.out else None)
    return 0


def cmd_smoke(args: argparse.Namespace) -> int:
    from retail_platform import smoke
    from retail_platform.runtime import stack

    settings = get_settings()
    stack.up(settings, ("warehouse", "kafka", "airflow"))
    return 1 if smoke.run(settings).failed else 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from retail_platform.warehouse import migrations

    return migrations.main(args.rest)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="retail", description="Retail inventory lambda platform")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, func, helptext in (
        ("up", cmd_up, "start the local stack"),
        ("down", cmd_down, "stop what `up` started; data is kept"),
        ("status", cmd_status, "each service and its health"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--only", help="comma-separated services: warehouse,kafka,airflow,stream")
        p.set_defaults(func=func)
    p = sub.add_parser("dashboards", help="Superset's dashboards: URLs, logins and a screenshot of each")
    p.add_argument("--out", help="folder for the screenshots (default <state>/demo/screenshots)")
    p.set_defaults(func=cmd_dashboards)
    p = demo_parser = sub.add_parser(
        "demo", help="the stack up, the simulators with the stream, a history through the DAGs, reconciled"
    )
    p.add_argument("--seconds", type=float, default=120.0, help="how long the simulators run (default 120)")
    p.add_argument("--stores", type=int, default=20)
    p.add_argument("--products", type=int, default=50)
    p.add_argument("--rate", type=float, default=300.0, help="events per minute per store (default 300)")
    p.add_argument(
        "--skip-batch", action="store_true", help="stream part only: no history through the batch and ML DAGs"
    )
    p.add_argument(
        "--history-days", type=int, default=None, help="days of simulated history the batch part closes (default 70)"
    )
    p.set_defaults(func=cmd_demo)
    sub.add_parser("smoke", help="prove every service answers (Kafka, warehouse, Spark, Airflow)").set_defaults(
        func=cmd_smoke
    )
    p = sub.add_parser("migrate", help="warehouse migrations: status | up | down --to N")
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_migrate)
    args = parser.parse_args(argv)
    if args.command == "demo":
        from retail_platform.demo import argument_problem

        if problem := argument_problem(args.skip_batch, args.history_days):
            demo_parser.error(problem)
    try:
        return args.func(args)
    except (SettingsError, RuntimeStartError, MigrationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
