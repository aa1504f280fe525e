"""The lake's objects from Python (not Spark) when the lake is on S3: the minio client on
RETAIL_S3_ENDPOINT, and the few things the package does there itself (create the bucket, write a
folder of files, list a prefix, fetch a prefix into a local folder for readers that need files).

Errors name the setting to fix: wrong credentials, a missing bucket or an unreachable endpoint stop
the command with RETAIL_S3_* or RETAIL_LAKE_URI in the message."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

from minio import Minio
from minio.error import S3Error
from urllib3.exceptions import HTTPError

from retail_platform.settings import Settings


class LakeStoreError(RuntimeError):
    """The object store refused or could not be reached; the message names the setting."""


def client(settings: Settings) -> Minio:
    endpoint = urlparse(settings.s3_endpoint)
    return Minio(
        endpoint.netloc or endpoint.path,
        access_key=settings.s3_access_key,
        secret_key=settings.s3_secret_key,
        region=settings.s3_region,
        secure=endpoint.scheme == "https",
    )


def key(settings: Settings, *parts: str) -> str:
    """The object key of a path below the lake root (s3a://bucket/prefix/<parts>)."""
    base = urlparse(settings.lake_uri).path.strip("/")
    return "/".join(p.strip("/") for p in (base, *parts) if p.strip("/"))


def _explain(settings: Settings, exc: S3Error) -> LakeStoreError:
    if exc.code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied"):
        return LakeStoreError(
            f"the object store at RETAIL_S3_ENDPOINT={settings.s3_endpoint} refused the credentials ({exc.code}); "
            "check RETAIL_S3_ACCESS_KEY and RETAIL_S3_SECRET_KEY"
        )
    if exc.code == "NoSuchBucket":
        return LakeStoreError(
            f"the bucket {settings.lake_bucket!r} of RETAIL_LAKE_URI={settings.lake_uri} does not exist at "
            f"{settings.s3_endpoint}; create it or fix RETAIL_LAKE_URI"
        )
    return LakeStoreError(f"the object store at RETAIL_S3_ENDPOINT={settings.s3_endpoint} answered {exc.code}: {exc}")


def ensure_bucket(settings: Settings) -> None:
    """Create the lake's bucket when it is missing (the local gateway's)."""
    store = client(settings)
    try:
        if not store.bucket_exists(settings.lake_bucket):
            store.make_bucket(settings.lake_bucket)
    except S3Error as exc:
        raise _explain(settings, exc) from exc


def check_bucket(settings: Settings) -> None:
    """Refuse a lake whose store cannot be reached, whose bucket is missing or whose credentials the
    store refuses."""
    try:
        exists = client(settings).bucket_exists(settings.lake_bucket)
    except S3Error as exc:
        raise _explain(settings, exc) from exc
    except (OSError, HTTPError) as exc:
        raise LakeStoreError(
            f"the object store at RETAIL_S3_ENDPOINT={settings.s3_endpoint} cannot be reached ({type(exc).__name__}); "
            "start it or fix RETAIL_S3_ENDPOINT"
        ) from exc
    if not exists:
        raise LakeStoreError(
            f"the bucket {settings.lake_bucket!r} of RETAIL_LAKE_URI={settings.lake_uri} does not exist at "
            f"{settings.s3_endpoint}; create it or fix RETAIL_LAKE_URI"
        )


def put(settings: Settings, object_key: str, data: bytes) -> None:
    try:
        client(settings).put_object(settings.lake_bucket, object_key, io.BytesIO(data), len(data))
    except S3Error as exc:
        raise _explain(settings, exc) from exc


def list_keys(settings: Settings, prefix: str) -> Iterator[str]:
    """Every object key below ``prefix`` (recursive)."""
    try:
        for obj in client(settings).list_objects(settings.lake_bucket, prefix=prefix.rstrip("/") + "/", recursive=True):
            if obj.object_name is not None and not obj.is_dir:
                yield obj.object_name
    except S3Error as exc:
        raise _explain(settings, exc) from exc


def fetch(settings: Settings, prefix: str, folder: Path) -> Path:
    """Copy the objects below ``prefix`` into ``folder`` (same relative paths; files no longer in the
    store are removed), for readers that take local files. Returns ``folder``."""
    store = client(settings)
    folder.mkdir(parents=True, exist_ok=True)
    wanted: set[Path] = set()
    base = prefix.rstrip("/") + "/"
    try:
        for name in list_keys(settings, prefix):
            target = folder / name[len(base) :]
            wanted.add(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            store.fget_object(settings.lake_bucket, name, str(target))
    except S3Error as exc:
        raise _explain(settings, exc) from exc
    for path in sorted(folder.rglob("*"), reverse=True):
        if path.is_file() and path not in wanted:
            path.unlink()
    return folder
