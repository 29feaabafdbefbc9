# Throw-away TLS material for `Emulator(tls=True)`: a private CA and a leaf certificate for
# localhost, 127.0.0.1 and ::1, made in memory by `trustme` (the `emulator` extra) at start,
# written to a temporary directory (the ssl module loads chains from files, and `ca_file` is
# handed to other clients) and removed on exit.
from __future__ import annotations

import os
import shutil
import ssl
import tempfile
from dataclasses import dataclass

import trustme


@dataclass(slots=True)
class TLSMaterial:
    directory: str
    ca_file: str
    cert_file: str
    key_file: str

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts only this emulator's CA."""
        return ssl.create_default_context(cafile=self.ca_file)

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


def generate(hosts: tuple[str, ...] = ("localhost", "127.0.0.1", "::1")) -> TLSMaterial:
    ca = trustme.CA(organization_name="openai-realtime-ws emulator")
    leaf = ca.issue_cert(*hosts, common_name=hosts[0])
    directory = tempfile.mkdtemp(prefix="realtime-emulator-tls-")
    ca_file = os.path.join(directory, "ca.pem")
    cert_file = os.path.join(directory, "cert.pem")
    key_file = os.path.join(directory, "key.pem")
    ca.cert_pem.write_to_path(ca_file)
    with open(cert_file, "wb") as f:  # the leaf, then the CA: the chain a server presents
        f.write(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(leaf.private_key_pem.bytes())
    return TLSMaterial(directory, ca_file, cert_file, key_file)
