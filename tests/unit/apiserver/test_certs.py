"""The serving certificate carries the in-cluster names; an old one is re-issued by the same CA."""
from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from skiff.apiserver import certs


def sans(path: Path) -> set[str]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(v) for v in ext.get_values_for_type(x509.DNSName)} | \
        {str(v) for v in ext.get_values_for_type(x509.IPAddress)}


def test_in_cluster_names(tmp_path: Path) -> None:
    pki = certs.ensure_pki(tmp_path, hosts=["10.240.0.2"])
    assert {"10.96.0.1", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local", "10.240.0.2", "127.0.0.1"} <= sans(pki.cert)


def test_old_certificate_is_reissued_by_the_same_ca(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(certs, "IN_CLUSTER_NAMES", ())
    old = certs.ensure_pki(tmp_path, hosts=["10.240.0.2"])
    assert "kubernetes.default.svc" not in sans(old.cert)
    ca_before, cert_before = old.ca_cert.read_bytes(), old.cert.read_bytes()
    monkeypatch.undo()
    new = certs.ensure_pki(tmp_path, hosts=["10.240.0.2"])
    assert new.ca_cert.read_bytes() == ca_before and new.cert.read_bytes() != cert_before
    assert "kubernetes.default.svc" in sans(new.cert)
    ca = x509.load_pem_x509_certificate(ca_before)
    cert = x509.load_pem_x509_certificate(new.cert.read_bytes())
    assert cert.issuer == ca.subject
    pub = ca.public_key()
    assert isinstance(pub, ec.EllipticCurvePublicKey)
    pub.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
    # unchanged names: the certificate is kept
    assert certs.ensure_pki(tmp_path, hosts=["10.240.0.2"]).cert.read_bytes() == new.cert.read_bytes()
