"""The model registry in the lake: ``models/<model_name>/vN/`` holds the Spark ML pipeline (``model/``)
and ``metadata.json`` (data window, features, parameters, metrics, seed, intervals); ``champion.json``
at the model's root names the version batch predictions use.

Files go through Hadoop's FileSystem API of the Spark session, so the same code writes ``file://`` and
``s3a://`` lakes. Versions are never overwritten: a new training takes the next free N. Promotion
rewrites only ``champion.json`` (one small object: a reader sees the old or the new champion).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from pyspark.ml import PipelineModel
from pyspark.sql import SparkSession

from retail_platform import lake
from retail_platform.settings import Settings

MODEL_NAME = "demand-forecast"
_VERSION = re.compile(r"^v(\d+)$")


@dataclass
class Registry:
    spark: SparkSession
    settings: Settings
    model_name: str = MODEL_NAME

    @property
    def root(self) -> str:
        return lake.uri(self.settings, "models", self.model_name)

    # --- Hadoop FileSystem helpers ----------------------------------------------------------
    def _path(self, uri: str) -> tuple[Any, Any]:
        """Hadoop's Path of ``uri`` and its FileSystem: py4j proxies of JVM objects, which carry no types."""
        jvm = self.spark.sparkContext._jvm
        if jvm is None:
            raise RuntimeError("the model registry needs a classic Spark session (one with a JVM gateway)")
        path = jvm.org.apache.hadoop.fs.Path(uri)
        return path, path.getFileSystem(self.spark.sparkContext._jsc.hadoopConfiguration())

    def _write_text(self, uri: str, text: str) -> None:
        path, fs = self._path(uri)
        stream = fs.create(path, True)
        try:
            stream.write(bytearray(text.encode("utf-8")))
        finally:
            stream.close()

    def _read_text(self, uri: str) -> str | None:
        path, fs = self._path(uri)
        if not fs.exists(path):
            return None
        return "\n".join(r.value for r in self.spark.read.text(uri, wholetext=True).collect())

    # --- versions -------------------------------------------------------------------------------
    def versions(self) -> list[int]:
        path, fs = self._path(self.root)
        if not fs.exists(path):
            return []
        found = []
        for status in fs.listStatus(path):
            match = _VERSION.match(status.getPath().getName())
            if match and status.isDirectory():
                found.append(int(match.group(1)))
        return sorted(found)

    def next_version(self) -> int:
        versions = self.versions()
        return (versions[-1] + 1) if versions else 1

    def version_uri(self, version: int) -> str:
        return f"{self.root}/v{version}"

    def save(self, version: int, model: PipelineModel, metadata: dict[str, Any]) -> str:
        """Write ``vN/model`` and ``vN/metadata.json``; refuses to overwrite an existing version."""
        uri = self.version_uri(version)
        path, fs = self._path(uri)
        if fs.exists(path):
            raise FileExistsError(f"{uri} exists: model versions are immutable")
        model.save(f"{uri}/model")
        self._write_text(f"{uri}/metadata.json", json.dumps(metadata, indent=2, sort_keys=True, default=str))
        return uri

    def metadata(self, version: int) -> dict[str, Any]:
        text = self._read_text(f"{self.version_uri(version)}/metadata.json")
        if text is None:
            raise FileNotFoundError(f"{self.version_uri(version)}/metadata.json")
        return json.loads(text)

    def load_model(self, version: int) -> PipelineModel:
        return PipelineModel.load(f"{self.version_uri(version)}/model")

    # --- champion ---------------------------------------------------------------------------------
    def champion(self) -> int | None:
        text = self._read_text(f"{self.root}/champion.json")
        return None if text is None else int(json.loads(text)["version"])

    def promote(self, version: int, reason: str) -> None:
        self._write_text(f"{self.root}/champion.json", json.dumps({"version": version, "reason": reason}))
