"""TLS material for tests: a throw-away CA, a broker keystore and a client certificate."""

from __future__ import annotations

import dataclasses
import os
import secrets
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from streamprocessor.testing.kafka_broker._common import _HOST, _tail
from streamprocessor.testing.kafka_broker.errors import CertificateError

__all__ = ["TlsFiles", "create_test_certificates"]


@dataclasses.dataclass(frozen=True)
class TlsFiles:
    """PEM and PKCS#12 files for TLS listeners and clients (:func:`create_test_certificates`).

    Every certificate is signed by one throw-away CA; the broker's names ``IP:<ip>`` as
    subjectAltName, so clients verify it with hostname verification on (librdkafka's
    default). Pass the client paths to ``options.kafka_ssl`` or the ``*_KAFKA_SSL_*``
    variables.
    """

    directory: Path
    """Folder holding every file."""
    ca_cert: Path
    """The CA certificate (PEM): what clients trust (``ssl.ca.location``)."""
    broker_cert: Path
    """The broker's certificate (PEM), for reference."""
    broker_keystore: Path
    """The broker's key and certificate chain (PKCS#12), for ``ssl.keystore.location``."""
    broker_keystore_password: str
    """Password of :attr:`broker_keystore`."""
    client_cert: Path
    """A client certificate (PEM) for mutual TLS (``ssl.certificate.location``)."""
    client_key: Path
    """The client's private key (PEM, encrypted with :attr:`client_key_password`)."""
    client_key_password: str
    """Password of :attr:`client_key` (``ssl.key.password``)."""


def _openssl(args: Sequence[str], cwd: Path, secret: str | None = None) -> None:
    """Run openssl in ``cwd``; raise :class:`CertificateError` when it fails.

    ``secret`` is passed as ``$SP_OPENSSL_PASS`` (``env:SP_OPENSSL_PASS`` in ``args``), not
    on the command line, which every user of the machine can read.
    """
    openssl = shutil.which("openssl")
    if openssl is None:
        raise CertificateError("cannot make test certificates: no 'openssl' on PATH")
    env = None if secret is None else {**os.environ, "SP_OPENSSL_PASS": secret}
    try:
        done = subprocess.run(
            [openssl, *args],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=60,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise CertificateError(f"openssl {args[0]} timed out") from exc
    if done.returncode != 0:
        raise CertificateError(
            f"openssl {args[0]} failed (exit {done.returncode}):\n{_tail(done.stdout)}"
        )


def create_test_certificates(
    directory: Path | str, *, ip: str = _HOST, days: int = 30, name: str = "streamprocessor"
) -> TlsFiles:
    """Make a CA, a broker certificate for ``IP:<ip>`` and a client certificate in *directory*.

    Keys are EC P-256 (fast to make). The broker's key and chain go into a PKCS#12 keystore,
    the client's key is a PEM file encrypted with a random password. Passwords are random
    and returned in the :class:`TlsFiles`; files that hold keys are readable by the owner
    only.

    Raises:
        CertificateError: ``openssl`` is missing or failed.

    """
    folder = Path(directory).expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    keystore_password = secrets.token_urlsafe(12)
    client_password = secrets.token_urlsafe(12)
    curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
    (folder / "broker.ext").write_text(
        f"basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        f"extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:{ip}\n"
    )
    (folder / "client.ext").write_text(
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=clientAuth\n"
    )
    old_umask = os.umask(0o077)
    try:
        _openssl(
            ["req", "-x509", "-new", *curve, "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
             "-days", str(days), "-subj", f"/CN={name} test CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
            folder,
        )  # fmt: skip
        _openssl(
            ["req", "-new", *curve, "-nodes", "-keyout", "broker.key", "-out", "broker.csr",
             "-subj", f"/CN={ip}"],
            folder,
        )  # fmt: skip
        _openssl(
            ["x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "broker.pem", "-days", str(days),
             "-extfile", "broker.ext"],
            folder,
        )  # fmt: skip
        _openssl(
            ["pkcs12", "-export", "-in", "broker.pem", "-inkey", "broker.key",
             "-certfile", "ca.pem", "-name", "broker", "-out", "broker.p12",
             "-passout", "env:SP_OPENSSL_PASS"],
            folder,
            keystore_password,
        )  # fmt: skip
        _openssl(
            ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-aes-256-cbc", "-pass", "env:SP_OPENSSL_PASS", "-out", "client.key"],
            folder,
            client_password,
        )  # fmt: skip
        _openssl(
            ["req", "-new", "-key", "client.key", "-passin", "env:SP_OPENSSL_PASS",
             "-out", "client.csr", "-subj", f"/CN={name} test client"],
            folder,
            client_password,
        )  # fmt: skip
        _openssl(
            ["x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "client.pem", "-days", str(days),
             "-extfile", "client.ext"],
            folder,
        )  # fmt: skip
    finally:
        os.umask(old_umask)
    return TlsFiles(
        directory=folder,
        ca_cert=folder / "ca.pem",
        broker_cert=folder / "broker.pem",
        broker_keystore=folder / "broker.p12",
        broker_keystore_password=keystore_password,
        client_cert=folder / "client.pem",
        client_key=folder / "client.key",
        client_key_password=client_password,
    )
