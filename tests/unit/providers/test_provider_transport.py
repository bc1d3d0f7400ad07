"""Transport security: HTTPS required off loopback, TLS >= 1.2, certificates verified."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import socket
import ssl
import warnings

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pipeline.errors import ConfigError, ProviderError
from pipeline.providers import AdapterConfig, ChatRequest, OpenAIChatAdapter
from pipeline.providers.local_server import LocalProviderServer
from pipeline.providers.transport import check_endpoint, is_loopback_host, tls_context


@pytest.mark.parametrize(
    "url",
    [
        "https://api.openai.com/v1",
        "https://example-resource.openai.azure.com",
        "http://127.0.0.1:8080/v1",
        "http://127.1.2.3:8080",
        "http://[::1]:8080/v1",
        "http://localhost:11434/v1",
    ],
)
def test_provider_endpoint_accepted(url):
    assert str(check_endpoint(url)).startswith(url.split(":")[0])


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://api.openai.com/v1", "insecure_endpoint"),
        ("http://10.0.0.5:8000/v1", "insecure_endpoint"),
        ("http://127.0.0.1.nip.io/v1", "insecure_endpoint"),
        ("http://localhost.example.com/v1", "insecure_endpoint"),
        ("ftp://127.0.0.1/v1", "insecure_endpoint"),
        ("https://user:secret@api.example.com/v1", "bad_endpoint"),
        ("not a url", "bad_endpoint"),
    ],
)
def test_provider_endpoint_rejected(url, reason):
    with pytest.raises(ConfigError) as info:
        check_endpoint(url)
    assert info.value.reason == reason
    assert "secret" not in str(info.value)


def test_provider_adapter_refuses_http_non_loopback():
    with pytest.raises(ConfigError) as info:
        OpenAIChatAdapter(AdapterConfig(name="x", endpoint="http://llm.example.com/v1"))
    assert info.value.reason == "insecure_endpoint"


def test_provider_loopback_hosts():
    assert is_loopback_host("127.0.0.1")
    assert is_loopback_host("::1")
    assert is_loopback_host("[::1]")
    assert is_loopback_host("LOCALHOST")
    assert not is_loopback_host("0.0.0.0")
    assert not is_loopback_host("192.168.1.1")


def test_provider_tls_context_settings():
    context = tls_context()
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname


# -- a real HTTPS server on loopback -----------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_file), str(key_file)


def _server_context(certificate, maximum):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS < 1.2 on purpose
        if maximum is not None and maximum < ssl.TLSVersion.TLSv1_2:
            context.set_ciphers("DEFAULT:@SECLEVEL=0")
            context.minimum_version = ssl.TLSVersion.TLSv1
        context.maximum_version = maximum or ssl.TLSVersion.MAXIMUM_SUPPORTED
    return context


def _negotiated_by_permissive_client(url, ca_file):
    """Return the TLS version a client that allows TLS 1.0+ negotiates, or None."""
    host, port = url.removeprefix("https://").split(":")
    context = ssl.create_default_context(cafile=ca_file)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
        context.minimum_version = ssl.TLSVersion.TLSv1
    try:
        with (
            socket.create_connection((host, int(port)), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            return tls.version()
    except (ssl.SSLError, OSError):
        return None


def _call(url, ca_file):
    async def go():
        adapter = OpenAIChatAdapter(
            AdapterConfig(name="tls", endpoint=url + "/v1", ca_file=ca_file, max_retries=0)
        )
        try:
            return await adapter.complete(ChatRequest.from_prompt("m", "over tls"))
        finally:
            await adapter.aclose()

    return asyncio.run(go())


@pytest.mark.parametrize("maximum", [None, ssl.TLSVersion.TLSv1_2])
def test_provider_https_with_tls12_or_newer_succeeds(certificate, maximum):
    context = _server_context(certificate, maximum)
    with LocalProviderServer(ssl_context=context) as server:
        assert server.url.startswith("https://127.0.0.1:")
        response = _call(server.url, certificate[0])
        assert response.text.endswith("over tls")
        assert len(server.recorded()) == 1


def test_provider_https_below_tls12_refused(certificate):
    try:
        context = _server_context(certificate, ssl.TLSVersion.TLSv1_1)
    except ssl.SSLError:
        pytest.skip("this OpenSSL cannot even configure a TLS 1.1 server")
    with LocalProviderServer(ssl_context=context) as server:
        # The server really speaks TLS 1.1 (else this test would prove nothing)...
        if _negotiated_by_permissive_client(server.url, certificate[0]) != "TLSv1.1":
            pytest.skip("this OpenSSL build cannot negotiate TLS 1.1")
        # ...and our client refuses it.
        with pytest.raises(ProviderError) as info:
            _call(server.url, certificate[0])
        assert info.value.reason == "tls_error"
        assert server.recorded() == []


def test_provider_https_untrusted_certificate_refused(certificate):
    with LocalProviderServer(ssl_context=_server_context(certificate, None)) as server:
        with pytest.raises(ProviderError) as info:
            _call(server.url, None)  # system trust store: our self-signed cert is not in it
        assert info.value.reason == "tls_error"
        assert server.recorded() == []
