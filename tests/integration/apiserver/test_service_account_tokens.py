"""TokenRequest, service-account authentication, the token volume admission and kube-root-ca.crt,
against a real ``skiff server`` with the real kubectl 1.33."""
from __future__ import annotations

import base64
import json
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from skiff.apiserver import satokens

pytestmark = pytest.mark.integration
KUBECTL = "/usr/lib/google-cloud-sdk/bin/kubectl.1.33"
MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"


def claims_of(token: str) -> dict[str, Any]:
    body = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def header_of(token: str) -> dict[str, Any]:
    head = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))


def wait(cond: Callable[[], Any], what: str, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


class Cluster:
    def __init__(self, server: Any, namespace: str) -> None:
        self.server = server
        self.ns = namespace
        cfg = yaml.safe_load(server.kubeconfig.read_text())
        self.ca = base64.b64decode(cfg["clusters"][0]["cluster"]["certificate-authority-data"])
        self.tls = ssl.create_default_context(cadata=self.ca.decode())

    def kubectl(self, *args: str, check: bool = True, token: str | None = None) -> subprocess.CompletedProcess[str]:
        extra = ["--token", token] if token is not None else []
        r = subprocess.run([KUBECTL, *extra, "-n", self.ns, *args], env=self.server.env(), capture_output=True,
                           text=True, timeout=60)
        if check:
            assert r.returncode == 0, f"kubectl {' '.join(args)}: {r.stderr}"
        return r

    def request(self, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.server.url + path, data=data, method=method,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, context=self.tls, timeout=30) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def status_of(self, token: str) -> int:
        return self.request("GET", f"/api/v1/namespaces/{self.ns}/pods", token)[0]

    def get(self, *args: str) -> dict[str, Any]:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)


@pytest.fixture(scope="module")
def cluster(skiff_server_session: Any) -> Iterator[Cluster]:
    import secrets

    ns = f"satokens-{secrets.token_hex(3)}"
    c = Cluster(skiff_server_session, ns)
    subprocess.run([KUBECTL, "create", "namespace", ns], env=c.server.env(), check=True, capture_output=True)
    try:
        wait(lambda: c.kubectl("get", "serviceaccount", "default", check=False).returncode == 0,
             "the default ServiceAccount")
        yield c
    finally:
        subprocess.run([KUBECTL, "delete", "namespace", ns, "--wait=false"], env=c.server.env(), capture_output=True)


def test_kubectl_create_token_prints_a_kubernetes_shaped_token(cluster: Cluster) -> None:
    token = cluster.kubectl("create", "token", "default").stdout.strip()
    head, claims = header_of(token), claims_of(token)
    assert head["alg"] == "RS256" and head["kid"]
    assert claims["iss"] == "https://kubernetes.default.svc.cluster.local"
    assert claims["sub"] == f"system:serviceaccount:{cluster.ns}:default"
    assert claims["aud"] == ["https://kubernetes.default.svc.cluster.local"]
    assert claims["exp"] - claims["iat"] == 3600 and claims["nbf"] == claims["iat"]
    sa = cluster.get("serviceaccount", "default")
    assert claims["kubernetes.io"] == {"namespace": cluster.ns,
                                       "serviceaccount": {"name": "default", "uid": sa["metadata"]["uid"]}}
    # the token is a credential: kubectl and a plain HTTPS client get in with it
    assert cluster.kubectl("get", "pods", token=token).returncode == 0
    assert cluster.status_of(token) == 200
    assert cluster.status_of(token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")) == 401


def test_token_request_fields_and_answer(cluster: Cluster) -> None:
    path = f"/api/v1/namespaces/{cluster.ns}/serviceaccounts/default/token"
    code, body = cluster.request("POST", path, cluster.server.token, {
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
        "spec": {"audiences": ["vault", "https://kubernetes.default.svc.cluster.local"], "expirationSeconds": 7200}})
    assert code == 201, body
    assert body["kind"] == "TokenRequest" and body["apiVersion"] == "authentication.k8s.io/v1"
    assert body["spec"]["audiences"] == ["vault", "https://kubernetes.default.svc.cluster.local"]
    claims = claims_of(body["status"]["token"])
    assert claims["exp"] - claims["iat"] == 7200
    assert body["status"]["expirationTimestamp"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(claims["exp"]))
    assert cluster.status_of(body["status"]["token"]) == 200  # one of its audiences is the API's


@pytest.mark.parametrize(("spec", "account", "code", "text"), [
    ({"expirationSeconds": 599}, "default", 422, "spec.expirationSeconds: Invalid value: 599: may not specify a "
                                                 "duration less than 10 minutes"),
    ({"boundObjectRef": {"kind": "Node", "apiVersion": "v1", "name": "n"}}, "default", 400,
     "cannot bind token for serviceaccount \"default\" to object of type v1, Kind=Node"),
    ({"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "no-such-pod"}}, "default", 404,
     'pods "no-such-pod" not found'),
    ({}, "no-such-account", 404, 'serviceaccounts "no-such-account" not found'),
], ids=["too-short", "unbindable-kind", "missing-pod", "missing-account"])
def test_token_request_errors(cluster: Cluster, spec: dict[str, Any], account: str, code: int, text: str) -> None:
    got, body = cluster.request("POST", f"/api/v1/namespaces/{cluster.ns}/serviceaccounts/{account}/token",
                                cluster.server.token, {"kind": "TokenRequest", "spec": spec})
    assert (got, body["message"]) == (code, text) or (got == code and text in body["message"]), body


def test_wrong_audience_is_refused(cluster: Cluster) -> None:
    token = cluster.kubectl("create", "token", "default", "--audience", "vault").stdout.strip()
    assert claims_of(token)["aud"] == ["vault"]
    assert cluster.status_of(token) == 401
    r = cluster.kubectl("get", "pods", token=token, check=False)
    assert r.returncode != 0 and "Unauthorized" in r.stderr


def test_forged_expired_and_foreign_tokens_are_refused(cluster: Cluster) -> None:
    """Tokens signed with the server's own key (read from its data dir) but expired or with a
    wrong issuer, and a well-formed token of another key, are all 401."""
    key = serialization.load_pem_private_key((cluster.server.data_dir / "pki" / "sa.key").read_bytes(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    sa_uid = cluster.get("serviceaccount", "default")["metadata"]["uid"]
    now = int(time.time())

    def made(**change: Any) -> dict[str, Any]:
        c = satokens.claims_for(namespace=cluster.ns, account="default", account_uid=sa_uid,
                                audiences=list(satokens.API_AUDIENCES), now=now, expiration_seconds=3600)
        c.update(change)
        return c

    assert cluster.status_of(satokens.sign(key, made())) == 200  # the control: the forge is otherwise right
    assert cluster.status_of(satokens.sign(key, made(iat=now - 7200, nbf=now - 7200, exp=now - 3600))) == 401
    assert cluster.status_of(satokens.sign(key, made(iss="https://evil.example"))) == 401
    assert cluster.status_of(satokens.sign(key, made(sub=f"system:serviceaccount:{cluster.ns}:admin"))) == 401
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert cluster.status_of(satokens.sign(other, made())) == 401


def test_deleting_the_service_account_invalidates_its_tokens(cluster: Cluster) -> None:
    cluster.kubectl("create", "serviceaccount", "short-lived")
    token = cluster.kubectl("create", "token", "short-lived").stdout.strip()
    assert cluster.status_of(token) == 200
    cluster.kubectl("delete", "serviceaccount", "short-lived")
    assert cluster.status_of(token) == 401
    cluster.kubectl("create", "serviceaccount", "short-lived")  # same name, new uid: still not valid
    assert cluster.status_of(token) == 401


def test_token_bound_to_a_pod_lives_with_the_pod(cluster: Cluster) -> None:
    cluster.kubectl("run", "holder", "--image=busybox:1.36", "--restart=Never", "--", "sleep", "3600")
    pod = cluster.get("pod", "holder")
    token = cluster.kubectl("create", "token", "default", "--bound-object-kind", "Pod",
                            "--bound-object-name", "holder").stdout.strip()
    assert claims_of(token)["kubernetes.io"]["pod"] == {"name": "holder", "uid": pod["metadata"]["uid"]}
    assert cluster.status_of(token) == 200
    wrong = cluster.kubectl("create", "token", "default", "--bound-object-kind", "Pod", "--bound-object-name",
                            "holder", "--bound-object-uid", "00000000-0000-0000-0000-000000000000", check=False)
    assert wrong.returncode != 0 and "does not match the UID in record" in wrong.stderr
    cluster.kubectl("delete", "pod", "holder", "--grace-period=0", "--force")
    wait(lambda: cluster.kubectl("get", "pod", "holder", check=False).returncode != 0, "the pod to be gone")
    assert cluster.status_of(token) == 401


def test_token_bound_to_a_secret(cluster: Cluster) -> None:
    cluster.kubectl("create", "secret", "generic", "anchor", "--from-literal=a=b")
    token = cluster.kubectl("create", "token", "default", "--bound-object-kind", "Secret",
                            "--bound-object-name", "anchor").stdout.strip()
    assert claims_of(token)["kubernetes.io"]["secret"]["name"] == "anchor"
    assert cluster.status_of(token) == 200
    cluster.kubectl("delete", "secret", "anchor")
    assert cluster.status_of(token) == 401


# -- admission and the root CA ConfigMap ----------------------------------------------------------

def _pod(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "main", "image": "busybox:1.36"}], **spec}}


def _create(cluster: Cluster, obj: dict[str, Any]) -> dict[str, Any]:
    r = subprocess.run([KUBECTL, "-n", cluster.ns, "create", "-f", "-", "-o", "json"], input=json.dumps(obj),
                       env=cluster.server.env(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_pods_get_the_kube_api_access_volume(cluster: Cluster) -> None:
    pod = _create(cluster, _pod("mounted", initContainers=[{"name": "init", "image": "busybox:1.36"}]))
    volumes = pod["spec"]["volumes"]
    assert len(volumes) == 1
    name = volumes[0]["name"]
    assert name.startswith("kube-api-access-") and len(name) == len("kube-api-access-") + 5
    assert volumes[0]["projected"] == {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace",
                                    "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}
    for c in pod["spec"]["containers"] + pod["spec"]["initContainers"]:
        assert c["volumeMounts"] == [{"name": name, "readOnly": True, "mountPath": MOUNT}]


def test_automount_false_and_own_mounts_are_respected(cluster: Cluster) -> None:
    off = _create(cluster, _pod("no-token", automountServiceAccountToken=False))
    assert "volumes" not in off["spec"] and "volumeMounts" not in off["spec"]["containers"][0]
    _create(cluster, {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "quiet"},
                      "automountServiceAccountToken": False})
    quiet = _create(cluster, _pod("quiet-pod", serviceAccountName="quiet"))
    assert "volumes" not in quiet["spec"]
    # the pod's own field wins over its account's
    loud = _create(cluster, _pod("loud-pod", serviceAccountName="quiet", automountServiceAccountToken=True))
    assert loud["spec"]["volumes"][0]["name"].startswith("kube-api-access-")
    own = _create(cluster, {**_pod("own-mount"), "spec": {
        "containers": [{"name": "a", "image": "busybox:1.36",
                        "volumeMounts": [{"name": "mine", "mountPath": MOUNT}]},
                       {"name": "b", "image": "busybox:1.36"}],
        "volumes": [{"name": "mine", "emptyDir": {}}]}})
    a, b = own["spec"]["containers"]
    assert a["volumeMounts"] == [{"name": "mine", "mountPath": MOUNT}]
    assert b["volumeMounts"][0]["name"].startswith("kube-api-access-")


def test_every_namespace_has_kube_root_ca(cluster: Cluster) -> None:
    def ca_data() -> str | None:
        r = cluster.kubectl("get", "configmap", "kube-root-ca.crt", "-o", "json", check=False)
        return json.loads(r.stdout)["data"].get("ca.crt") if r.returncode == 0 else None

    assert wait(ca_data, "kube-root-ca.crt") == cluster.ca.decode()
    for ns in ("default", "kube-system", "kube-public"):
        r = subprocess.run([KUBECTL, "-n", ns, "get", "configmap", "kube-root-ca.crt"], env=cluster.server.env(),
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    cluster.kubectl("delete", "configmap", "kube-root-ca.crt")
    assert wait(ca_data, "kube-root-ca.crt to be recreated") == cluster.ca.decode()
    cluster.kubectl("patch", "configmap", "kube-root-ca.crt", "-p", '{"data":{"ca.crt":"tampered"}}')
    wait(lambda: ca_data() == cluster.ca.decode(), "kube-root-ca.crt to be restored")


def test_serving_certificate_names_the_in_cluster_addresses(cluster: Cluster) -> None:
    cert = x509.load_pem_x509_certificate((cluster.server.data_dir / "pki" / "apiserver.crt").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    names = set(san.get_values_for_type(x509.DNSName))
    assert {"kubernetes", "kubernetes.default", "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local"} <= names
    assert "10.96.0.1" in {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}


def test_python_client_token_request(cluster: Cluster) -> None:
    from kubernetes import client, config

    cfg = client.Configuration()
    config.load_kube_config(config_file=str(cluster.server.kubeconfig), client_configuration=cfg)
    with client.ApiClient(cfg) as api:
        tr = client.CoreV1Api(api).create_namespaced_service_account_token(
            "default", cluster.ns,
            client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=900)))
    assert tr.status.token and tr.status.expiration_timestamp is not None
    claims = claims_of(tr.status.token)
    assert claims["exp"] - claims["iat"] == 900
    assert cluster.status_of(tr.status.token) == 200
