"""The client against `sealtrail serve --tls-cert --tls-key`, with a
throwaway CA made here (``cryptography``): recording over https with
``ca_cert=`` and with ``SEALTRAIL_CA_CERT``, minting a token, and refusing
a server whose certificate the given CA did not sign."""

import datetime
import os
import shutil
import tempfile
import unittest
from unittest import mock

from common import need  # first: it puts this SDK ahead of any installed one
from server import Server

import sealtrail  # noqa: E402

FAST = dict(backoff_base=0.05, max_backoff=0.5)


def _write_pki(d: str):
    """A CA, and a server certificate for localhost/127.0.0.1 signed by it;
    another CA that signed nothing. Returns (cert, key, ca, other_ca) paths."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def ca(cn):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(name(cn))
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                             content_commitment=False, key_encipherment=False,
                                             data_encipherment=False, key_agreement=False,
                                             encipher_only=False, decipher_only=False), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .sign(key, hashes.SHA256()))
        return key, cert

    ca_key, ca_cert = ca("sealtrail sdk test CA")
    _, other_cert = ca("another CA")
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(name("localhost")).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    paths = [os.path.join(d, n) for n in ("server.crt", "server.key", "ca.pem", "other-ca.pem")]
    blobs = [cert.public_bytes(pem),
             key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
             ca_cert.public_bytes(pem), other_cert.public_bytes(pem)]
    for p, b in zip(paths, blobs):
        with open(p, "wb") as f:
            f.write(b)
    return paths


@need("cryptography")
class TlsTest(unittest.TestCase):
    def setUp(self):
        self.pki = tempfile.mkdtemp(prefix="sealtrail-sdk-tls-")
        self.addCleanup(shutil.rmtree, self.pki, True)
        self.cert, self.key, self.ca, self.other_ca = _write_pki(self.pki)
        self.server = Server(tls=(self.cert, self.key, self.ca))
        self.addCleanup(self.server.close)
        self.assertTrue(self.server.url.startswith("https://"), self.server.url)

    def spool(self) -> str:
        d = tempfile.mkdtemp(prefix="sealtrail-spool-test-")
        self.addCleanup(shutil.rmtree, d, True)
        return d

    def test_records_over_https_with_ca_cert(self):
        c = sealtrail.Client(self.server.url, self.server.api_key, agent="tls-bot",
                             spool_dir=self.spool(), ca_cert=self.ca, close_at_exit=False, **FAST)
        for i in range(3):
            c.record("tool_call", action=f"call-{i}", outcome="success")
        self.assertTrue(c.flush(30))
        c.close()
        evs = [e["event"] for e in self.server.events(agent="tls-bot")]
        self.assertEqual([e["action"] for e in evs], ["call-0", "call-1", "call-2"])

    def test_sealtrail_ca_cert_environment_variable(self):
        with mock.patch.dict(os.environ, {"SEALTRAIL_CA_CERT": self.ca}):
            c = sealtrail.Client(self.server.url, self.server.api_key, agent="tls-env",
                                 spool_dir=self.spool(), close_at_exit=False, **FAST)
            c.record("decision", action="pick")
            self.assertTrue(c.flush(30))
            c.close()
        self.assertEqual(len(self.server.events(agent="tls-env")), 1)

    def test_mint_token_over_https(self):
        with self.assertRaises(RuntimeError):
            # The owner key is not an agent key: the server answers, over TLS.
            sealtrail.mint_token(self.server.url, self.server.api_key, "s-1", ca_cert=self.ca)

    def test_a_server_the_ca_did_not_sign_is_not_trusted(self):
        c = sealtrail.Client(self.server.url, self.server.api_key, agent="tls-other",
                             spool_dir=self.spool(), ca_cert=self.other_ca, close_at_exit=False, **FAST)
        c.record("decision", action="never-sent")
        with self.assertLogs("sealtrail", "WARNING") as logs:
            self.assertFalse(c.flush(2))
        self.assertIn("CERTIFICATE_VERIFY_FAILED", "\n".join(logs.output))
        c.close(timeout=0.1)
        self.assertEqual(self.server.events(agent="tls-other"), [])
        with self.assertRaises(ValueError) as e:
            sealtrail.Client(self.server.url, self.server.api_key, agent="x", spool_dir=self.spool(),
                             ca_cert=os.path.join(self.pki, "missing.pem"), close_at_exit=False)
        self.assertIn("missing.pem", str(e.exception))


if __name__ == "__main__":
    unittest.main()
