"""A real time-stamping authority for the tests: `openssl ts -reply` behind an HTTP server on 127.0.0.1.

The certificates are made here with `cryptography`: a test CA, a TSA certificate it issues (EKU
timeStamping, critical), and a second CA and TSA nobody pinned. `mode` makes the server
misbehave the ways a TSA can.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = dt.datetime.now(dt.UTC)


def _name(cn: str) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if cn.endswith("Root CA"):
        # rfc3161-client reads the token's certificates as a DER SET OF, which must be sorted by
        # encoding; `openssl ts` writes the signer first. A CA certificate longer than the TSA's
        # sorts after it, so a token carrying its chain stays readable.
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Khronika test suite: " + "x" * 120))
    return x509.Name(attrs)


def _cert(subject: str, key: ec.EllipticCurvePrivateKey, issuer: str, issuer_key: ec.EllipticCurvePrivateKey,
          ca: bool) -> x509.Certificate:
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(NOW - dt.timedelta(days=1)).not_valid_after(NOW + dt.timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
    return builder.sign(issuer_key, hashes.SHA256())


class Authority:
    """A CA and the TSA certificate it issued, written as PEM files in `folder`."""

    def __init__(self, folder: Path, name: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        ca_key, tsa_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
        self.ca = _cert(f"{name} Root CA", ca_key, f"{name} Root CA", ca_key, ca=True)
        self.tsa = _cert(f"{name} TSA", tsa_key, f"{name} Root CA", ca_key, ca=False)
        self.ca_pem = folder / "ca.pem"
        self.tsa_pem = folder / "tsa.pem"
        self.key_pem = folder / "tsa.key"
        self.ca_pem.write_bytes(self.ca.public_bytes(serialization.Encoding.PEM))
        self.tsa_pem.write_bytes(self.tsa.public_bytes(serialization.Encoding.PEM))
        self.key_pem.write_bytes(tsa_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
        (folder / "serial").write_text("01\n")
        (folder / "ts.cnf").write_text(f"""[ tsa ]
default_tsa = tsa_config
[ tsa_config ]
dir = {folder}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.pem
certs = $dir/ca.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = no
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
""")

    def reply(self, request: bytes) -> bytes:
        with tempfile.TemporaryDirectory() as tmp:
            query = Path(tmp) / "q.der"
            query.write_bytes(request)
            out = Path(tmp) / "r.der"
            subprocess.run(["openssl", "ts", "-reply", "-config", str(self.folder / "ts.cnf"), "-queryfile",
                            str(query), "-out", str(out)], check=True, capture_output=True)
            return out.read_bytes()


# A TimeStampResp with status "rejection" (2) and a reason, as a TSA sends on an error.
REJECTION = bytes.fromhex("3015301302010230 0e0c0c62616420726571756573742e".replace(" ", ""))


class TsaServer:
    """Serves an Authority on 127.0.0.1; `mode` is ok, error-status, other-imprint, truncated or http-500."""

    def __init__(self, authority: Authority) -> None:
        self.authority = authority
        self.mode = "ok"
        self.requests: list[bytes] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                server.requests.append(body)
                status, reply = server.answer(body)
                self.send_response(status)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/tsa"

    def answer(self, request: bytes) -> tuple[int, bytes]:
        if self.mode == "http-500":
            return 500, b"internal error"
        if self.mode == "error-status":
            return 200, REJECTION
        if self.mode == "other-imprint":
            # The same request with its digest's first byte changed: a token over another head.
            i = request.index(bytes.fromhex("0420")) + 2
            request = request[:i] + bytes([request[i] ^ 0xFF]) + request[i + 1:]
        reply = self.authority.reply(request)
        if self.mode == "truncated":
            return 200, reply[: len(reply) // 2]
        return 200, reply

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
