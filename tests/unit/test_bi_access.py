"""The access file (users, roles, store assignments) and the roles/RLS rules derived from it."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from retail_platform.bi import access
from retail_platform.bi.catalog import DATASETS
from retail_platform.settings import load_settings


def _spec(users: list[access.User]) -> dict:
    return access.provisioning_spec(load_settings({}), users)


def test_the_committed_access_file_is_valid_and_has_every_role():
    users = access.load()
    assert {u.role for u in users} == set(access.ROLES)
    assert all(u.stores for u in users if u.role == "store_manager")


def test_store_rules_cover_every_store_dataset_of_the_dashboards():
    views = access.store_views()
    assert views and all(DATASETS[v].has_store for v in views)
    assert "v_store_daily" in views and "v_exec_daily" not in views
    rules = _spec(access.load())["rls"]
    assert all(rule["views"] == views and rule["roles"] for rule in rules)
    assert all(rule["group_key"] == access.STORE_GROUP for rule in rules)


def test_a_manager_gets_the_closed_rule_plus_one_rule_per_store():
    users = [access.User("m", "M", "store_manager", ("s1", "s2")), access.User("e", "E", "executive")]
    spec = _spec(users)
    closed = [r for r in spec["rls"] if r["roles"] == ["store_manager"]]
    assert [r["clause"] for r in closed] == ["1 = 0"]
    clauses = {r["roles"][0]: r["clause"] for r in spec["rls"] if r not in closed}
    assert clauses == {"store:s1": "store_id = 's1'", "store:s2": "store_id = 's2'"}
    by_name = {u["username"]: u for u in spec["users"]}
    assert by_name["m"]["roles"] == ["store_manager", "store:s1", "store:s2"]
    assert by_name["e"]["roles"] == ["executive"]
    assert "sql_lab" not in spec["roles"]["store_manager"]["base"]
    assert "sql_lab" in spec["roles"]["data_engineer"]["base"]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (None, "mapping with a list"),
        ({"users": "x"}, "mapping with a list"),
        ({"users": ["x"]}, "expected a mapping"),
        ({"users": [{"username": "a", "role": "store_manager"}]}, "needs at least one store"),
        ({"users": [{"username": "a", "role": "store_manager", "stores": []}]}, "needs at least one store"),
        ({"users": [{"username": "a", "role": "executive", "stores": ["s1"]}]}, "only a store_manager"),
        ({"users": [{"username": "a", "role": "root"}]}, "is not one of"),
        ({"users": [{"username": "A B", "role": "analyst"}]}, "username"),
        ({"users": [{"username": "a", "role": "analyst"}, {"username": "a", "role": "analyst"}]}, "twice"),
        ({"users": [{"username": "a", "role": "store_manager", "stores": ["x' OR '1'='1"]}]}, "store ids"),
        ({"users": [{"username": "a", "role": "store_manager", "stores": "s1"}]}, "store ids"),
        ({"users": [{"username": "a", "role": "analyst", "password": "p"}]}, "unknown key"),
        ({"users": [{"username": "a", "role": "analyst", "name": 3}]}, "name must be text"),
    ],
)
def test_bad_access_entries_are_refused_with_what_to_fix(document, message):
    with pytest.raises(access.AccessError, match=message):
        access.parse(document)


def test_invalid_yaml_names_the_file(tmp_path):
    path = tmp_path / "access.yaml"
    path.write_text("users: [\n")
    with pytest.raises(access.AccessError, match="not valid YAML"):
        access.load(path)


_yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)


@given(_yaml_values)
def test_any_document_is_either_users_or_an_access_error(document):
    try:
        users = access.parse(document)
    except access.AccessError:
        return
    assert all(u.role in access.ROLES for u in users)


@given(st.lists(st.text(max_size=30), max_size=5))
def test_store_ids_that_pass_cannot_break_out_of_the_rls_clause(stores):
    document = {"users": [{"username": "m", "role": "store_manager", "stores": stores}]}
    try:
        users = access.parse(document)
    except access.AccessError:
        return
    for rule in _spec(users)["rls"]:
        if rule["clause"] != "1 = 0":
            inner = rule["clause"].removeprefix("store_id = '").removesuffix("'")
            assert "'" not in inner and "\\" not in inner


def test_yaml_round_trip_of_the_committed_file():
    assert access.parse(yaml.safe_load(access.ACCESS_FILE.read_text())) == access.load()
