"""The cluster profile's S3 gateway and the package's Python side of an S3 lake: `up` runs it and
creates the lake's bucket; objects written survive a restart; wrong credentials and a missing bucket
stop with the setting to fix. The gateway on free ports with a state folder of its own."""

from __future__ import annotations

import socket
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from retail_platform import lake_store
from retail_platform.runtime import stack
from retail_platform.runtime.errors import RuntimeStartError
from retail_platform.settings import Settings, load_settings

pytestmark = pytest.mark.cluster


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def s3() -> Iterator[Settings]:
    base = Path(tempfile.mkdtemp(prefix="retail-cluster-s3-"))
    settings = load_settings(
        {
            "RETAIL_PROFILE": "cluster",
            "RETAIL_STATE_DIR": str(base / "state"),
            "RETAIL_S3_ENDPOINT": f"http://127.0.0.1:{_free_port()}",
            "RETAIL_LAKE_URI": "s3a://lake-under-test/chain",
        }
    )
    if not settings.versitygw_bin.exists():
        pytest.fail("the S3 gateway is not built: run `make setup-cluster`")
    stack.up(settings, only=("s3",))
    yield settings
    stack.down(settings, only=("s3",))


def test_up_creates_the_bucket_and_objects_survive_a_restart(s3: Settings, tmp_path: Path) -> None:
    lake_store.check_bucket(s3)
    key = lake_store.key(s3, "landing", "catalogue", "stores.csv")
    assert key == "chain/landing/catalogue/stores.csv"
    lake_store.put(s3, key, b"store_id\nS1\n")
    lake_store.put(s3, lake_store.key(s3, "landing", "catalogue", "2026/products.csv"), b"sku\nA\n")
    stack.down(s3, only=("s3",))
    stack.up(s3, only=("s3",))
    prefix = lake_store.key(s3, "landing", "catalogue")
    assert sorted(lake_store.list_keys(s3, prefix)) == [
        "chain/landing/catalogue/2026/products.csv",
        "chain/landing/catalogue/stores.csv",
    ]
    folder = tmp_path / "copy"
    (folder / "gone.csv").parent.mkdir(parents=True)
    (folder / "gone.csv").write_text("a file the store no longer has")
    lake_store.fetch(s3, prefix, folder)
    assert (folder / "stores.csv").read_bytes() == b"store_id\nS1\n"
    assert (folder / "2026" / "products.csv").read_bytes() == b"sku\nA\n"
    assert not (folder / "gone.csv").exists()


def test_wrong_credentials_name_the_settings(s3: Settings) -> None:
    wrong = replace(s3, s3_secret_key="not-the-secret")
    with pytest.raises(lake_store.LakeStoreError, match="RETAIL_S3_ACCESS_KEY and RETAIL_S3_SECRET_KEY"):
        lake_store.check_bucket(wrong)


def test_a_missing_bucket_names_the_lake_setting(s3: Settings) -> None:
    missing = replace(s3, lake_uri="s3a://no-such-bucket")
    with pytest.raises(lake_store.LakeStoreError, match="RETAIL_LAKE_URI=s3a://no-such-bucket"):
        lake_store.check_bucket(missing)
    with pytest.raises(lake_store.LakeStoreError, match="does not exist"):
        list(lake_store.list_keys(missing, "landing"))


def test_up_stops_when_the_lake_store_cannot_be_reached(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "RETAIL_PROFILE": "cluster",
            "RETAIL_STATE_DIR": str(tmp_path / "state"),
            # Not on this machine, so `up` runs no gateway for it: it must answer before anything starts.
            "RETAIL_S3_ENDPOINT": "http://s3.invalid:9000",
        }
    )
    with pytest.raises(RuntimeStartError, match="RETAIL_S3_ENDPOINT=http://s3.invalid:9000 cannot be reached"):
        stack.up(settings, only=("warehouse",))
