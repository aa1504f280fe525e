"""Users, roles and store assignments of the BI layer, read from ``infra/superset/access.yaml``,
turned into what provisioning creates in Superset: roles, users and row-level security rules.

Per-store security uses Superset's RLS group keys: every rule below shares the group ``store``, and
rules of one group are OR-ed. The ``store_manager`` role carries ``1 = 0`` (nothing), and each store
has a role ``store:<id>`` carrying ``store_id = '<id>'``; a manager holds ``store_manager`` plus one
role per assigned store, so they see exactly those stores, and nothing if a store role were lost.
The rules cover every dataset with a store column (from the catalog), never a hand-kept list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from retail_platform.bi.catalog import DASHBOARDS, DATASETS, STORE_COLUMN
from retail_platform.settings import REPO_ROOT, Settings

ACCESS_FILE = REPO_ROOT / "infra" / "superset" / "access.yaml"
ROLES = ("executive", "analyst", "store_manager", "data_engineer")
# Superset's built-in roles each platform role starts from. Gamma has no SQL Lab; only the data
# engineer gets it (row-restricted people must not write free-form SQL: the local engine cannot
# enforce per-user rules on its own).
BASE_ROLES = {
    "executive": ["Gamma"],
    "analyst": ["Gamma"],
    "store_manager": ["Gamma"],
    "data_engineer": ["Alpha", "sql_lab"],
}
STORE_GROUP = "store"
_USERNAME = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
_STORE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class AccessError(ValueError):
    """The access file is malformed; the message names the entry and what to fix."""


@dataclass(frozen=True)
class User:
    username: str
    name: str
    role: str
    stores: tuple[str, ...] = ()


def parse(document: Any) -> list[User]:
    """Validate the parsed access file (any YAML value) into users."""
    if not isinstance(document, dict) or not isinstance(document.get("users"), list):
        raise AccessError("the access file must be a mapping with a list under 'users'")
    users: list[User] = []
    seen: set[str] = set()
    for i, entry in enumerate(document["users"]):
        where = f"users[{i}]"
        if not isinstance(entry, dict):
            raise AccessError(f"{where}: expected a mapping with username, name, role (and stores)")
        unknown = set(entry) - {"username", "name", "role", "stores"}
        if unknown:
            raise AccessError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
        username, name, role = entry.get("username"), entry.get("name", ""), entry.get("role")
        if not isinstance(username, str) or not _USERNAME.match(username):
            raise AccessError(f"{where}: username {username!r} must be lower-case letters, digits, _ . - (max 64)")
        if username in seen:
            raise AccessError(f"{where}: username {username} appears twice")
        seen.add(username)
        if not isinstance(name, str):
            raise AccessError(f"{where} ({username}): name must be text")
        if role not in ROLES:
            raise AccessError(f"{where} ({username}): role {role!r} is not one of {', '.join(ROLES)}")
        stores = entry.get("stores", [])
        if not isinstance(stores, list) or not all(isinstance(s, str) and _STORE.match(s) for s in stores):
            raise AccessError(f"{where} ({username}): stores must be a list of store ids (letters, digits, _ . -)")
        if role == "store_manager" and not stores:
            raise AccessError(f"{where} ({username}): a store manager needs at least one store under 'stores'")
        if role != "store_manager" and stores:
            raise AccessError(f"{where} ({username}): only a store_manager has stores (role is {role})")
        users.append(User(username, name or username, role, tuple(dict.fromkeys(stores))))
    return users


def load(path: Path = ACCESS_FILE) -> list[User]:
    try:
        document = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise AccessError(f"{path} is not valid YAML: {exc}") from None
    return parse(document)


def store_views() -> list[str]:
    """Every dataset of the dashboards that has a store column: each gets the store rules."""
    used = {chart.dataset for dash in DASHBOARDS for chart in dash.charts}
    return sorted(v for v in used if DATASETS[v].has_store)


def store_role(store_id: str) -> str:
    return f"store:{store_id}"


def provisioning_spec(settings: Settings, users: list[User]) -> dict[str, Any]:
    """Roles, users and RLS rules as the provisioning script takes them."""
    stores = sorted({s for u in users for s in u.stores})
    roles: dict[str, Any] = {r: {"base": BASE_ROLES[r], "datasets": True} for r in ROLES}
    roles.update({store_role(s): {"base": [], "datasets": False} for s in stores})
    views = store_views()
    rules = [
        {
            "name": "store managers see no store unless assigned",
            "description": "OR-ed with the store rules of the same group: a manager without stores sees nothing.",
            "group_key": STORE_GROUP,
            "clause": "1 = 0",
            "roles": ["store_manager"],
            "views": views,
        }
    ]
    rules += [
        {
            "name": f"store {s}",
            "description": f"Rows of store {s} (access.yaml).",
            "group_key": STORE_GROUP,
            "clause": f"{STORE_COLUMN} = '{s}'",
            "roles": [store_role(s)],
            "views": views,
        }
        for s in stores
    ]
    first_last = [(u.name.split(" ", 1) + [""])[:2] for u in users]
    return {
        "roles": roles,
        "users": [
            {
                "username": u.username,
                "first_name": fl[0],
                "last_name": fl[1] or "-",
                "password": settings.superset_demo_password,
                "roles": [u.role, *(store_role(s) for s in u.stores)],
            }
            for u, fl in zip(users, first_last, strict=True)
        ],
        "rls": rules,
    }
