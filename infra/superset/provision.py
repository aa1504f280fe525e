"""Provision Superset's metadata in one process (each Superset CLI call would load the app again).

Run with Superset's own interpreter and SUPERSET_CONFIG_PATH set, by `make up`
(retail_platform/runtime/superset.py), with the path of a JSON spec:
  {"init": bool, "admin": {...}, "bundle": zip path, "database_uri": "...",
   "roles": {name: {"base": [...], "datasets": "all"}}, "users": [...], "rls": [...]}
Steps: schema upgrade; role definitions (only when "init", the slow part); the admin; the bundle
(overwriting, so it is idempotent) and the charts each native filter applies to; the database URI
from settings; the platform's roles with access to every imported dataset; the users; the
row-level security rules (replaced as a whole, never patched: a partial update once left a rule
without roles or tables, i.e. open to everyone).
"""

from __future__ import annotations

import json
import os
import sys
import time
from zipfile import ZipFile

RLS_PREFIX = "retail: "


def main(spec_path: str) -> None:
    spec = json.loads(open(spec_path).read())
    t0 = time.monotonic()
    from superset.app import create_app

    app = create_app()
    with app.app_context():
        import superset
        from flask_migrate import upgrade

        upgrade(directory=os.path.join(os.path.dirname(superset.__file__), "migrations"))
        from superset import appbuilder, db, security_manager

        if spec["init"]:  # what `superset init` does
            appbuilder.add_permissions(update_perms=True)
            security_manager.sync_role_definitions()
        sm = security_manager
        admin = spec["admin"]
        user = sm.find_user(username=admin["username"])
        if user is None:
            user = sm.add_user(
                admin["username"],
                "Platform",
                "Admin",
                f"{admin['username']}@retail.local",
                sm.find_role("Admin"),
                password=admin["password"],
            )
        else:
            sm.reset_password(user.id, admin["password"])
        _import_bundle(spec["bundle"], user)
        _scope_native_filters()
        datasets = _point_database(spec["database_uri"], spec["schema"])
        roles = _roles(spec["roles"], datasets)
        _users(spec["users"], roles)
        _rls(spec["rls"], datasets, roles)
        db.session.commit()
    print(f"provisioned Superset in {time.monotonic() - t0:.1f}s", flush=True)


def _import_bundle(path: str, user: object) -> None:
    from superset.commands.dashboard.importers.dispatcher import ImportDashboardsCommand
    from superset.commands.importers.v1.utils import get_contents_from_bundle
    from superset.utils.core import override_user

    with ZipFile(path) as bundle:
        contents = get_contents_from_bundle(bundle)
    with override_user(user):
        ImportDashboardsCommand(contents, overwrite=True).run()


def _scope_native_filters() -> None:
    """Write ``chartsInScope`` of every native filter from its scope, with the imported charts' ids:
    the importer maps the scope's excluded chart ids to the new ones but leaves ``chartsInScope``
    (which the dashboard reads to decide which charts a filter touches) as the bundle had it."""
    from superset import db
    from superset.models.dashboard import Dashboard

    for dashboard in db.session.query(Dashboard):
        metadata = json.loads(dashboard.json_metadata or "{}")
        filters = metadata.get("native_filter_configuration") or []
        if not filters:
            continue
        ids = sorted(chart.id for chart in dashboard.slices)
        for native_filter in filters:
            excluded = set(native_filter.get("scope", {}).get("excluded", []))
            native_filter["chartsInScope"] = [i for i in ids if i not in excluded]
            native_filter["tabsInScope"] = []
        dashboard.json_metadata = json.dumps(metadata)
    db.session.commit()


def _point_database(uri: str, schema: str) -> dict[str, object]:
    """Set the warehouse URI (with its password, which the bundle never holds), put every dataset
    in the settings' database and refresh its columns from the view itself; returns the datasets
    by view name."""
    from superset import db
    from superset.connectors.sqla.models import SqlaTable
    from superset.models.core import Database

    database = db.session.query(Database).filter_by(database_name="retail_warehouse").one()
    database.set_sqlalchemy_uri(uri)
    db.session.commit()
    datasets = {t.table_name: t for t in db.session.query(SqlaTable).filter_by(database_id=database.id)}
    for table in datasets.values():
        table.schema = schema
        table.fetch_metadata()  # fails loudly if a view is missing
    db.session.commit()
    return datasets


def _roles(wanted: dict[str, dict], datasets: dict[str, object]) -> dict[str, object]:
    sm = _sm()
    roles = {}
    for name, conf in wanted.items():
        role = sm.find_role(name) or sm.add_role(name)
        perms = set()
        for base in conf.get("base", []):
            perms.update(sm.find_role(base).permissions)
        if conf.get("datasets"):
            for table in datasets.values():
                pv = sm.add_permission_view_menu("datasource_access", table.perm)
                perms.add(pv)
        role.permissions = sorted(perms, key=lambda p: p.id)
        roles[name] = role
    return roles


def _users(users: list[dict], roles: dict[str, object]) -> None:
    sm = _sm()
    for u in users:
        user_roles = [roles[r] for r in u["roles"]]
        user = sm.find_user(username=u["username"])
        if user is None:
            sm.add_user(
                u["username"],
                u["first_name"],
                u["last_name"],
                f"{u['username']}@retail.local",
                user_roles,
                password=u["password"],
            )
        else:
            user.roles = user_roles
            user.first_name, user.last_name = u["first_name"], u["last_name"]
            sm.update_user(user)
            sm.reset_password(user.id, u["password"])


def _rls(rules: list[dict], datasets: dict[str, object], roles: dict[str, object]) -> None:
    from superset import db
    from superset.connectors.sqla.models import RowLevelSecurityFilter

    for old in db.session.query(RowLevelSecurityFilter).filter(RowLevelSecurityFilter.name.startswith(RLS_PREFIX)):
        db.session.delete(old)
    db.session.flush()
    for rule in rules:
        tables = [datasets[v] for v in rule["views"]]
        if not tables or not rule["roles"]:
            raise SystemExit(f"RLS rule {rule['name']} has no tables or no roles; refusing to create an open rule")
        db.session.add(
            RowLevelSecurityFilter(
                name=RLS_PREFIX + rule["name"],
                description=rule["description"],
                filter_type="Regular",
                group_key=rule["group_key"],
                clause=rule["clause"],
                roles=[roles[r] for r in rule["roles"]],
                tables=tables,
            )
        )


def _sm():
    from superset import security_manager

    return security_manager


if __name__ == "__main__":
    main(sys.argv[1])
