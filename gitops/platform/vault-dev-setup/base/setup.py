"""Vault's one-time setup, done by a machine: for dev clusters only (see ../README.md).

A loop, every few seconds until Vault is set up and then every 30 s:
  1. Vault not initialised: check that the API server would take the Secret named by keysSecret
     (in this pod's namespace; a dry-run write), init with one key share, and store the unseal key
     and root token in it. The keys stay in memory and the write is retried while the pod lives,
     and tried once more when the pod is told to stop.
  2. Vault sealed (a new cluster, or a restarted pod): unseal it with the key from the Secret.
  3. Configure, idempotently: the KV v2 engine, Kubernetes auth and its role, the policies, and
     every secret the dev tree's ExternalSecrets read (values already in Vault are kept).
The pod is ready (/tmp/ready) while Vault is unsealed and configured.
Standard library only. Settings: /setup/setup.json (the ConfigMap beside this script).
"""

import base64
import json
import os
import secrets
import signal
import ssl
import sys
import time
import urllib.error
import urllib.request

CONFIG = json.load(open(os.environ.get("SETUP_CONFIG", "/setup/setup.json")))
SA_DIR = os.environ.get("SERVICE_ACCOUNT_DIR", "/var/run/secrets/kubernetes.io/serviceaccount")
READY = "/tmp/ready"
# Keys from an init that the Secret does not hold yet.
pending = None
configured_at = 0.0


def log(message):
    print(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), message, flush=True)


class Failure(Exception):
    pass


def call(method, url, body=None, headers=None, context=None):
    """(status, parsed JSON body or None); an HTTP error status is returned, not raised."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as e:
        raw = e.read()
        status = e.code
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, {"raw": raw.decode(errors="replace")[:200]}


def vault(method, path, body=None, token=None, ok=(200, 204)):
    status, answer = call(method, f"{CONFIG['vault']}/v1/{path}", body, {"X-Vault-Token": token} if token else None)
    if status not in ok:
        raise Failure(f"Vault {method} /v1/{path}: {status} {(answer or {}).get('errors', answer)}")
    return status, answer or {}


def kube(method, path, body=None):
    host = os.environ["KUBERNETES_SERVICE_HOST"]
    host = f"[{host}]" if ":" in host else host
    with open(f"{SA_DIR}/token") as f:
        token = f.read().strip()
    context = ssl.create_default_context(cafile=f"{SA_DIR}/ca.crt")
    url = f"https://{host}:{os.environ['KUBERNETES_SERVICE_PORT']}{path}"
    return call(method, url, body, {"Authorization": f"Bearer {token}"}, context)


def namespace():
    with open(f"{SA_DIR}/namespace") as f:
        return f.read().strip()


def secret_path(name=""):
    return f"/api/v1/namespaces/{namespace()}/secrets{'/' + name if name else ''}"


def read_keys():
    """The stored keys, or None when the Secret does not exist."""
    status, answer = kube("GET", secret_path(CONFIG["keysSecret"]))
    if status == 404:
        return None
    if status != 200:
        raise Failure(f"reading Secret {CONFIG['keysSecret']}: {status} {(answer or {}).get('message')}")
    data = answer.get("data") or {}
    return {k: base64.b64decode(v).decode() for k, v in data.items()}


def keys_secret(keys):
    """The keys' Secret, as the setup writes it."""
    name = CONFIG["keysSecret"]
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "labels": {"app.kubernetes.io/name": "vault-dev-setup"},
            "annotations": {"platform.gitops/what": "Vault's unseal key and root token (dev only)"},
        },
        "type": "Opaque",
        "stringData": keys,
    }


def check_keys_writable():
    """Before init: the API server would take the keys' Secret (RBAC, admission, quota), dry-run."""
    name = CONFIG["keysSecret"]
    body = keys_secret({"unseal-key": "", "root-token": ""})
    status, answer = kube("POST", f"{secret_path()}?dryRun=All", body)
    if status == 409:
        status, answer = kube("PUT", f"{secret_path(name)}?dryRun=All", body)
    if status not in (200, 201):
        raise Failure(f"Vault is not initialised, and Secret {name} could not take its keys: {status} {(answer or {}).get('message')}")


def store_keys(keys):
    """Writes the keys to the Secret: creates it, or replaces one left from an earlier Vault."""
    name = CONFIG["keysSecret"]
    body = keys_secret(keys)
    status, answer = kube("POST", secret_path(), body)
    if status == 409:
        log(f"Secret {name} holds keys of an earlier Vault (its data is gone): replacing them")
        status, answer = kube("PUT", secret_path(name), body)
    if status not in (200, 201):
        raise Failure(f"storing the keys in Secret {name}: {status} {(answer or {}).get('message')}")
    log(f"Stored the unseal key and root token in Secret {namespace()}/{name}")


def value_of(spec):
    if isinstance(spec, dict) and "random" in spec:
        return secrets.token_urlsafe(int(spec["random"]))
    return str(spec)


def configure(token):
    kv = CONFIG["kv"]["path"]
    auth = CONFIG["kubernetesAuth"]
    _, mounts = vault("GET", "sys/mounts", token=token)
    mount = (mounts.get("data") or mounts).get(f"{kv}/")
    if mount is None:
        vault("POST", f"sys/mounts/{kv}", {"type": "kv", "options": {"version": str(CONFIG["kv"]["version"])}}, token)
        log(f"Enabled the KV v{CONFIG['kv']['version']} engine at {kv}/")
    elif mount.get("type") != "kv" or (mount.get("options") or {}).get("version") != str(CONFIG["kv"]["version"]):
        raise Failure(f"{kv}/ is mounted, but not as KV v{CONFIG['kv']['version']}: {mount.get('type')}")
    _, methods = vault("GET", "sys/auth", token=token)
    if f"{auth['path']}/" not in (methods.get("data") or methods):
        vault("POST", f"sys/auth/{auth['path']}", {"type": "kubernetes"}, token)
        log(f"Enabled Kubernetes auth at auth/{auth['path']}/")
    vault("POST", f"auth/{auth['path']}/config", {"kubernetes_host": auth["kubernetesHost"]}, token)
    for name, policy in CONFIG["policies"].items():
        vault("PUT", f"sys/policies/acl/{name}", {"policy": policy}, token)
    role = {
        "bound_service_account_names": [auth["serviceAccount"]["name"]],
        "bound_service_account_namespaces": [auth["serviceAccount"]["namespace"]],
        "audience": auth["audience"],
        "policies": auth["policies"],
        "ttl": auth["ttl"],
    }
    vault("POST", f"auth/{auth['path']}/role/{auth['role']}", role, token)
    for path, fields in CONFIG["secrets"].items():
        status, answer = vault("GET", f"{kv}/data/{path}", token=token, ok=(200, 404))
        current = ((answer.get("data") or {}).get("data") or {}) if status == 200 else {}
        # A deleted version answers 404 with its metadata: the next write must name that version.
        version = ((answer.get("data") or {}).get("metadata") or {}).get("version", 0)
        missing = {k: value_of(v) for k, v in fields.items() if k not in current}
        if missing:
            # cas: written only over the version read, so a value someone set is never replaced.
            body = {"options": {"cas": version}, "data": {**current, **missing}}
            vault("POST", f"{kv}/data/{path}", body, token)
            log(f"Wrote {kv}/{path}: {', '.join(sorted(missing))}")


def step():
    global pending, configured_at
    if pending is not None:
        store_keys(pending)
        pending = None
    _, status = vault("GET", "sys/seal-status")
    if not status.get("initialized"):
        # Init's keys must have somewhere to go before they exist.
        check_keys_writable()
        _, init = vault("PUT", "sys/init", {"secret_shares": 1, "secret_threshold": 1})
        pending = {"unseal-key": init["keys_base64"][0], "root-token": init["root_token"]}
        log("Initialised Vault (one key share)")
        store_keys(pending)
        pending = None
        configured_at = 0.0
        _, status = vault("GET", "sys/seal-status")
    keys = read_keys()
    if keys is None or "unseal-key" not in keys or "root-token" not in keys:
        raise Failure(
            f"Vault is initialised but Secret {CONFIG['keysSecret']} does not hold its keys: put them back "
            f"(kubectl -n {namespace()} create secret generic {CONFIG['keysSecret']} --from-literal=unseal-key=... "
            "--from-literal=root-token=...), or delete Vault's volume to start over (gitops/platform/vault/README.md)"
        )
    if status.get("sealed"):
        refused, answer = vault("PUT", "sys/unseal", {"key": keys["unseal-key"]}, ok=(200, 400))
        _, status = vault("GET", "sys/seal-status")
        if refused == 400 or status.get("sealed"):
            why = f" ({answer.get('errors')})" if refused == 400 else ""
            raise Failure(
                f"Vault is still sealed after the key in Secret {CONFIG['keysSecret']} was given{why}: is it the key of this Vault?"
            )
        log("Unsealed Vault")
        configured_at = 0.0
    # Configured again every 10 minutes, which heals drift; and at once after an init or unseal.
    if time.time() - configured_at > 600:
        configure(keys["root-token"])
        if configured_at == 0.0:
            log("Vault is set up")
        configured_at = time.time()


def stop(signum, frame):
    """Told to stop (a rollout, an eviction): keys from an init that no Secret holds yet get one more try."""
    if pending is not None:
        try:
            store_keys(pending)
        except Exception as e:  # noqa: BLE001 -- the last chance; say what is lost
            log(f"Could not store the keys of this Vault before stopping ({e}): delete Vault's volume to start over")
    sys.exit(0)


def main():
    signal.signal(signal.SIGTERM, stop)
    while True:
        try:
            step()
            open(READY, "w").close()
            time.sleep(30)
        except Exception as e:  # noqa: BLE001 -- every failure is retried; the pod stays not ready
            if os.path.exists(READY):
                os.remove(READY)
            log(f"Not set up yet: {e}")
            time.sleep(5)


if __name__ == "__main__":
    sys.exit(main())
