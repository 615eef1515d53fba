"""`--resolve HOST:PORT:ADDRESS` (curl's meaning) and `--ca-file PEM`: a named host served by a test
HTTPS server on 127.0.0.1 with a certificate from the tests' own CA, for run and verify --live."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Site, khronika, query
from tls_ca import TestCA

from ingest.capture.fetch import FetchConfig, fetch
from ingest.capture.policy import parse_resolve
from ingest.errors import FetchFailed

PAGE = ("<html><head><meta charset='utf-8'><title>Statement</title></head><body><article>"
        "<p>The court in Kaliningrad extended the detention of the three defendants by two months.</p>"
        "<p>Their lawyers said they would appeal the ruling to the regional court on Monday next week.</p>"
        "</article></body></html>").encode()


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def tls_site(ca: TestCA) -> Iterator[Site]:
    s = Site(tls=ca.server_context(("t.me", "news.example")))
    s.set("/statement", PAGE, Content_Type="text/html; charset=utf-8")
    yield s
    s.close()


@pytest.mark.parametrize(("entry", "expected"), [
    ("t.me:8443:127.0.0.1", (("t.me", 8443), ("127.0.0.1",))),
    ("T.ME:443:127.0.0.1,127.0.0.2", (("t.me", 443), ("127.0.0.1", "127.0.0.2"))),
    ("t.me:443:[::1]", (("t.me", 443), ("::1",))),
    ("t.me:443:::1", (("t.me", 443), ("::1",))),
])
def test_parse_resolve(entry: str, expected: tuple) -> None:
    assert parse_resolve(entry) == expected


@pytest.mark.parametrize(("entry", "message"), [
    ("t.me:443", "'t.me:443' is not HOST:PORT:ADDRESS"),
    ("t.me", "'t.me' is not HOST:PORT:ADDRESS"),
    (":443:127.0.0.1", "':443:127.0.0.1' is not HOST:PORT:ADDRESS"),
    ("t.me:https:127.0.0.1", "'t.me:https:127.0.0.1': port 'https' is not a number from 1 to 65535"),
    ("t.me:0:127.0.0.1", "'t.me:0:127.0.0.1': port '0' is not a number from 1 to 65535"),
    ("t.me:443:localhost", "'t.me:443:localhost': 'localhost' is not an IP address"),
    ("*:443:127.0.0.1", "'*:443:127.0.0.1': wildcard, '+' and '-' entries are not supported; name the host"),
    ("-t.me:443:127.0.0.1", "'-t.me:443:127.0.0.1': wildcard, '+' and '-' entries are not supported; name the host"),
])
def test_parse_resolve_refuses(entry: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_resolve(entry)
    assert str(info.value) == message


def test_named_host_over_https_through_the_mapping_and_the_test_ca(tls_site: Site, ca: TestCA) -> None:
    url = f"https://t.me:{tls_site.port}/statement"
    config = FetchConfig(allow_private=True, ca_file=str(ca.ca_file), resolve={("t.me", tls_site.port): ("127.0.0.1",)})
    result = fetch(url, config)
    assert (result.body, result.final_url, result.status) == (PAGE, url, 200)
    hop = result.hops[0]
    assert (hop.url, hop.ip, hop.port) == (url, "127.0.0.1", tls_site.port)
    assert dict(hop.request_headers)["Host"] == f"t.me:{tls_site.port}"  # the URL's host, not the address
    assert hop.tls is not None and (hop.tls["subject"], hop.tls["issuer"]) == ("commonName=t.me", "commonName=Khronika test CA")


def test_mapping_does_not_lift_the_address_policy(tls_site: Site, ca: TestCA) -> None:
    url = f"https://t.me:{tls_site.port}/statement"
    pins = {("t.me", tls_site.port): ("127.0.0.1",)}
    with pytest.raises(FetchFailed) as info:
        fetch(url, FetchConfig(allow_private=False, ca_file=str(ca.ca_file), resolve=pins))
    assert (info.value.outcome, info.value.reason) == (
        "refused", "loopback address 127.0.0.1 refused; use --allow-private to fetch from local and private "
                   f"networks (mapped from t.me:{tls_site.port} by --resolve) at {url}")
    # Cloud metadata is refused even with --allow-private.
    with pytest.raises(FetchFailed) as info:
        fetch(url, FetchConfig(allow_private=True, resolve={("t.me", tls_site.port): ("169.254.169.254",)}))
    assert (info.value.outcome, info.value.reason) == (
        "refused", f"cloud metadata address 169.254.169.254 refused (mapped from t.me:{tls_site.port} by --resolve) at {url}")


def test_mapping_for_another_port_does_not_apply_and_no_ca_means_untrusted(tls_site: Site, ca: TestCA) -> None:
    # Mapped for port 443 only; the URL's port is the server's: the name goes to DNS, where
    # a name under .invalid never resolves (RFC 2606), and no packet leaves the machine.
    url = f"https://news.invalid:{tls_site.port}/statement"
    with pytest.raises(FetchFailed) as info:
        fetch(url, FetchConfig(allow_private=True, resolve={("news.invalid", 443): ("127.0.0.1",)}))
    assert info.value.outcome == "unreachable"
    assert info.value.reason.startswith("DNS lookup failed for news.invalid: ")
    # Mapped, but without the test CA the certificate is not trusted.
    with pytest.raises(FetchFailed) as info:
        fetch(f"https://t.me:{tls_site.port}/statement",
              FetchConfig(allow_private=True, resolve={("t.me", tls_site.port): ("127.0.0.1",)}))
    assert info.value.outcome == "unreachable"
    assert info.value.reason.startswith("TLS error (") and "CERTIFICATE_VERIFY_FAILED" in info.value.reason


def test_resolve_with_a_proxy_is_refused() -> None:
    with pytest.raises(FetchFailed) as info:
        fetch("https://t.me/durov/1", FetchConfig(proxy="socks5h://127.0.0.1:9", resolve={("t.me", 443): ("127.0.0.1",)}))
    assert (info.value.outcome, info.value.reason) == (
        "refused", "--resolve cannot be used with a proxy (names are resolved by the proxy) at https://t.me/durov/1")


def _case(folder: Path, url: str) -> Path:
    case = folder / "c.yml"
    case.write_text(f"""case:
  id: c
  title: C
sources:
  - id: statement
    url: {url}
claims:
  - id: extended
    text: The detention was extended.
    citations:
      - source: statement
        quote: "extended the detention of the three defendants"
        stance: supports
""", encoding="utf-8")
    return case


def test_run_and_verify_live_with_resolve_and_ca_file(tmp_path: Path, tls_site: Site, ca: TestCA) -> None:
    url = f"https://t.me:{tls_site.port}/statement"
    case, archive = _case(tmp_path, url), tmp_path / "archive"
    net = ["--resolve", f"t.me:{tls_site.port}:127.0.0.1", "--ca-file", str(ca.ca_file)]
    r = khronika("run", str(case), "--archive", str(archive), *net)
    assert r.code == 0, r.err
    assert query(archive / "archive.db", "SELECT source_id, url, final_url, status, ip FROM captures") == [
        ("c/statement", url, url, 200, "127.0.0.1")]
    assert query(archive / "archive.db", "SELECT id, status FROM claims") == [("c/extended", "sourced")]
    tls_site.set("/statement", PAGE.replace(b"extended the detention of", b"released"), Content_Type="text/html; charset=utf-8")
    r = khronika("verify", "--archive", str(archive), "--live", "--json", *net)
    assert r.code == 3, r.err
    live = [(c["subject"].split(" at ")[0], c["state"], c["finding"]) for c in json.loads(r.out)["checks"] if c["check"] == "live"]
    assert live == [("citation c/extended#1", "drift", "quote_removed")]
    assert query(archive / "archive.db", "SELECT source_id, version, url, ip FROM captures ORDER BY id") == [
        ("c/statement", 1, url, "127.0.0.1"), ("c/statement", 2, url, "127.0.0.1")]
    # Without the CA the live fetch is unverifiable: the certificate is not trusted.
    r = khronika("verify", "--archive", str(archive), "--live", "--json", "--resolve", f"t.me:{tls_site.port}:127.0.0.1")
    assert r.code == 4
    assert [(c["state"], c["finding"]) for c in json.loads(r.out)["checks"] if c["check"] == "live"] == [
        ("unverifiable", "unreachable")]


@pytest.mark.parametrize(("args", "message"), [
    (["--resolve", "t.me:443"], "Invalid value for '--resolve': 't.me:443' is not HOST:PORT:ADDRESS"),
    (["--resolve", "t.me:443:127.0.0.1", "--proxy", "socks5h://127.0.0.1:9050"],
     "Error: --resolve and --proxy contradict each other: behind a proxy the proxy resolves names"),
    (["--ca-file", "no-such.pem"], "Invalid value for '--ca-file': File 'no-such.pem' does not exist."),
])
def test_run_refuses_bad_network_options(tmp_path: Path, args: list[str], message: str) -> None:
    case = _case(tmp_path, "https://t.me/durov/1")
    r = khronika("run", str(case), "--archive", str(tmp_path / "archive"), *args, cwd=tmp_path)
    assert r.code == 2
    assert message in r.err
    assert not (tmp_path / "archive").exists()
