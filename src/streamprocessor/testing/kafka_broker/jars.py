"""The broker's jars: Maven resolves ``kafka_2.13`` and its runtime once into a cache folder."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from streamprocessor.testing.kafka_broker._common import _tail
from streamprocessor.testing.kafka_broker.errors import JarFetchError

__all__ = [
    "CACHE_ENV",
    "DEPENDENCY_PLUGIN",
    "KAFKA_VERSION",
    "LOG4J_VERSION",
    "SLF4J_VERSION",
    "default_cache_dir",
    "ensure_jars",
]

KAFKA_VERSION: Final = "4.3.1"
"""Version of ``org.apache.kafka:kafka_2.13`` that is fetched and run."""

LOG4J_VERSION: Final = "2.25.4"
"""Version of the log4j2 artifacts, pinned through ``log4j-bom``."""

SLF4J_VERSION: Final = "1.7.36"
"""Kafka 4.x logs through SLF4J 1.7; an SLF4J 2 API would silently turn logging off."""

DEPENDENCY_PLUGIN: Final = "org.apache.maven.plugins:maven-dependency-plugin:3.6.1"
"""The Maven plugin (pinned) that copies the resolved jars into a flat folder."""

CACHE_ENV: Final = "STREAMPROCESSOR_KAFKA_CACHE"
"""Environment variable that overrides the jar cache directory."""

_JARS_MARKER: Final = ".complete"

_POM_TEMPLATE: Final = """\
<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by streamprocessor.testing.kafka_broker: resolves the jars a Kafka broker needs. -->
<project xmlns="http://maven.apache.org/POM/4.0.0"
         xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
         xsi:schemaLocation="http://maven.apache.org/POM/4.0.0 \
https://maven.apache.org/xsd/maven-4.0.0.xsd">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.streamprocessor.testing</groupId>
  <artifactId>kafka-broker-runtime</artifactId>
  <version>0</version>
  <packaging>pom</packaging>

  <properties>
    <kafka.version>{kafka}</kafka.version>
    <log4j2.version>{log4j}</log4j2.version>
  </properties>

  <dependencyManagement>
    <dependencies>
      <dependency>
        <groupId>org.apache.logging.log4j</groupId>
        <artifactId>log4j-bom</artifactId>
        <version>${{log4j2.version}}</version>
        <type>pom</type>
        <scope>import</scope>
      </dependency>
      <dependency>
        <groupId>org.slf4j</groupId>
        <artifactId>slf4j-api</artifactId>
        <version>{slf4j}</version>
      </dependency>
    </dependencies>
  </dependencyManagement>

  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>${{kafka.version}}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-core</artifactId>
      <scope>runtime</scope>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <scope>runtime</scope>
    </dependency>
  </dependencies>
</project>
"""


def default_cache_dir() -> Path:
    """Return the jar cache directory: ``$STREAMPROCESSOR_KAFKA_CACHE`` or a per-user default."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "streamprocessor" / f"kafka-{KAFKA_VERSION}"


def _pom_text() -> str:
    return _POM_TEMPLATE.format(kafka=KAFKA_VERSION, log4j=LOG4J_VERSION, slf4j=SLF4J_VERSION)


def ensure_jars(cache_dir: Path | None = None) -> Path:
    """Make sure the broker's jars are in ``<cache_dir>/libs`` and return that folder.

    The first call writes a ``pom.xml`` into *cache_dir* and runs Maven's
    ``copy-dependencies`` goal; later calls only check a marker file and return at once (no
    Maven, no network). Concurrent callers are serialised with a file lock.

    Raises:
        JarFetchError: ``mvn`` is missing or failed; the message ends with its output.

    """
    cache = (cache_dir if cache_dir is not None else default_cache_dir()).expanduser().resolve()
    libs = cache / "libs"
    pom = _pom_text()
    digest = hashlib.sha256(pom.encode()).hexdigest()
    marker = libs / _JARS_MARKER
    if _marker_matches(marker, digest):
        return libs
    cache.mkdir(parents=True, exist_ok=True)
    with _file_lock(cache / ".lock"):
        if _marker_matches(marker, digest):  # another process fetched while we waited
            return libs
        mvn = shutil.which("mvn")
        if mvn is None:
            raise JarFetchError(
                f"cannot fetch Kafka {KAFKA_VERSION} jars: 'mvn' is not on PATH "
                f"(install Maven, or fill {libs} and write {marker})"
            )
        (cache / "pom.xml").write_text(pom, encoding="utf-8")
        staging = Path(tempfile.mkdtemp(prefix="libs-", dir=cache))
        try:
            cmd = [
                mvn,
                "-B",
                "-q",
                "-f",
                str(cache / "pom.xml"),
                f"{DEPENDENCY_PLUGIN}:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={staging}",
            ]
            try:
                done = subprocess.run(
                    cmd,
                    cwd=cache,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    timeout=900,
                    check=False,
                )
            except subprocess.TimeoutExpired as exc:
                out = exc.output if isinstance(exc.output, str) else ""
                raise JarFetchError(
                    f"mvn timed out fetching Kafka {KAFKA_VERSION} jars:\n{_tail(out)}"
                ) from exc
            main_jar = staging / f"kafka_2.13-{KAFKA_VERSION}.jar"
            if done.returncode != 0 or not main_jar.is_file():
                raise JarFetchError(
                    f"mvn failed (exit {done.returncode}) fetching Kafka {KAFKA_VERSION} jars "
                    f"into {cache}:\n{_tail(done.stdout)}"
                )
            (staging / _JARS_MARKER).write_text(digest + "\n", encoding="utf-8")
            if libs.exists():
                shutil.rmtree(libs)
            staging.rename(libs)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    return libs


def _marker_matches(marker: Path, digest: str) -> bool:
    try:
        return marker.read_text(encoding="utf-8").strip() == digest
    except OSError:
        return False


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
