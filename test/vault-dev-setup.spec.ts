import { strict as assert } from "node:assert";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import forge from "node-forge";
import { ROOT } from "../scripts/synth/stack-config";

/**
 * The dev Vault's self-setup (gitops/platform/vault-dev-setup/base/setup.py), one pass of its loop
 * at a time, run by python3 against a fake Vault (the HTTP API calls it makes, with Vault's
 * answers: 400 for a wrong unseal key, 404 with metadata for a deleted KV version, check-and-set)
 * and a fake Kubernetes API over TLS with the service account's CA.
 */
const SETUP = path.join(ROOT, "gitops", "platform", "vault-dev-setup", "base");
const SETUP_CONFIG = JSON.parse(fs.readFileSync(path.join(SETUP, "setup.json"), "utf8")) as {
  keysSecret: string;
  secrets: Record<string, Record<string, unknown>>;
  kubernetesAuth: { role: string; audience: string; serviceAccount: { name: string; namespace: string } };
};
const UNSEAL_KEY = "dW5zZWFsLWtleS1vZi10aGlzLXZhdWx0";
const ROOT_TOKEN = "hvs.root-token-of-this-vault";

type Json = Record<string, any>; // API bodies, read loosely

/** What a Vault server holds, as far as the setup reads and writes it. */
class FakeVault {
  initialized = false;
  sealed = true;
  inits = 0;
  mounts: Json = { "sys/": { type: "system" } };
  auth: Json = { "token/": { type: "token" } };
  policies: Json = {};
  roles: Json = {};
  kv = new Map<string, { version: number; data: Json | null }>();

  handle(method: string, url: string, token: string | undefined, body: Json): [number, Json] {
    const p = url.replace(/^\/v1\//, "");
    if (p === "sys/seal-status") return [200, { initialized: this.initialized, sealed: this.sealed }];
    if (p === "sys/init" && method === "PUT") {
      if (this.initialized) return [400, { errors: ["Vault is already initialized"] }];
      this.initialized = true;
      this.inits++;
      return [200, { keys_base64: [UNSEAL_KEY], root_token: ROOT_TOKEN }];
    }
    if (p === "sys/unseal" && method === "PUT") {
      if (body["key"] !== UNSEAL_KEY) return [400, { errors: ["Unseal failed, invalid key"] }];
      this.sealed = false;
      return [200, { sealed: false }];
    }
    if (this.sealed) return [503, { errors: ["Vault is sealed"] }];
    if (token !== ROOT_TOKEN) return [403, { errors: ["permission denied"] }];
    const kv = /^secret\/data\/(.+)$/.exec(p)?.[1];
    if (kv && method === "GET") {
      const entry = this.kv.get(kv);
      if (!entry) return [404, { errors: [] }];
      const metadata = { version: entry.version };
      return entry.data ? [200, { data: { data: entry.data, metadata } }] : [404, { data: { data: null, metadata } }];
    }
    if (kv && method === "POST") {
      const current = this.kv.get(kv)?.version ?? 0;
      if (body["options"]?.["cas"] !== current)
        return [400, { errors: ["check-and-set parameter did not match the current version"] }];
      this.kv.set(kv, { version: current + 1, data: body["data"] });
      return [200, { data: { version: current + 1 } }];
    }
    if (p === "sys/mounts" && method === "GET") return [200, { data: this.mounts }];
    if (p.startsWith("sys/mounts/")) {
      this.mounts[`${p.slice("sys/mounts/".length)}/`] = { type: body["type"], options: body["options"] };
      return [204, {}];
    }
    if (p === "sys/auth" && method === "GET") return [200, { data: this.auth }];
    if (p.startsWith("sys/auth/")) {
      this.auth[`${p.slice("sys/auth/".length)}/`] = { type: body["type"] };
      return [204, {}];
    }
    if (p.startsWith("sys/policies/acl/")) {
      this.policies[p.slice("sys/policies/acl/".length)] = body["policy"];
      return [204, {}];
    }
    if (/^auth\/kubernetes\/(config|role\/.+)$/.test(p)) {
      if (!this.auth["kubernetes/"]) return [404, { errors: ["no handler for route"] }];
      this.roles[p.slice("auth/kubernetes/".length)] = body;
      return [204, {}];
    }
    return [404, { errors: [`no fake for ${method} ${p}`] }];
  }
}

/** The Secrets of one namespace, behind the API server's REST paths, dry runs included. */
class FakeKube {
  secrets = new Map<string, Json>();
  /** A status to refuse every Secret write with (RBAC, admission), dry runs included. */
  refuseWrites?: number;

  handle(method: string, url: string, body: Json): [number, Json] {
    const u = new URL(url, "https://kube");
    const m = /^\/api\/v1\/namespaces\/vault\/secrets(?:\/([^/]+))?$/.exec(u.pathname);
    if (!m) return [404, { message: `no fake for ${url}` }];
    const name = m[1];
    const dryRun = u.searchParams.get("dryRun") === "All";
    const asData = (b: Json) => ({
      ...b,
      data: Object.fromEntries(
        Object.entries((b["stringData"] ?? {}) as Record<string, string>).map(([k, v]) => [
          k,
          Buffer.from(v).toString("base64"),
        ]),
      ),
    });
    if (method === "GET" && name) {
      const s = this.secrets.get(name);
      return s ? [200, s] : [404, { message: "not found" }];
    }
    if (this.refuseWrites) return [this.refuseWrites, { message: "secrets is forbidden" }];
    if (method === "POST" && !name) {
      const n = String(body["metadata"]["name"]);
      if (this.secrets.has(n)) return [409, { message: "already exists" }];
      if (!dryRun) this.secrets.set(n, asData(body));
      return [201, body];
    }
    if (method === "PUT" && name) {
      if (!dryRun) this.secrets.set(name, asData(body));
      return [200, body];
    }
    return [405, { message: "not allowed" }];
  }

  keys(): Record<string, string> | undefined {
    const s = this.secrets.get(SETUP_CONFIG.keysSecret);
    if (!s) return undefined;
    return Object.fromEntries(
      Object.entries(s["data"] as Record<string, string>).map(([k, v]) => [k, Buffer.from(v, "base64").toString()]),
    );
  }
}

/** A CA and a certificate for 127.0.0.1 signed by it, as a cluster's API server has. */
function tlsFor127(): { ca: string; cert: string; key: string } {
  const keys = forge.pki.rsa.generateKeyPair(2048);
  const ca = forge.pki.createCertificate();
  ca.publicKey = keys.publicKey;
  ca.serialNumber = "01";
  ca.validity.notBefore = new Date(Date.now() - 60_000);
  ca.validity.notAfter = new Date(Date.now() + 3_600_000);
  ca.setSubject([{ name: "commonName", value: "fake-cluster-ca" }]);
  ca.setIssuer(ca.subject.attributes);
  ca.setExtensions([{ name: "basicConstraints", cA: true }]);
  ca.sign(keys.privateKey, forge.md.sha256.create());
  const leaf = forge.pki.createCertificate();
  leaf.publicKey = keys.publicKey;
  leaf.serialNumber = "02";
  leaf.validity = ca.validity;
  leaf.setSubject([{ name: "commonName", value: "kube-apiserver" }]);
  leaf.setIssuer(ca.subject.attributes);
  leaf.setExtensions([{ name: "subjectAltName", altNames: [{ type: 7, ip: "127.0.0.1" }] }]);
  leaf.sign(keys.privateKey, forge.md.sha256.create());
  return {
    ca: forge.pki.certificateToPem(ca),
    cert: forge.pki.certificateToPem(leaf),
    key: forge.pki.privateKeyToPem(keys.privateKey),
  };
}

function readBody(req: http.IncomingMessage): Promise<Json> {
  return new Promise((resolve) => {
    let text = "";
    req.on("data", (c: Buffer) => (text += c.toString()));
    req.on("end", () => resolve(text ? (JSON.parse(text) as Json) : {}));
  });
}

const hasPython = spawnSync("python3", ["--version"]).status === 0;

describe("the dev Vault's self-setup (vault-dev-setup), against fake Vault and Kubernetes APIs", function () {
  this.timeout(30_000);
  let vault: FakeVault;
  let kube: FakeKube;
  let vaultServer: http.Server;
  let kubeServer: https.Server;
  let dir: string;
  let config: string;
  const tls = tlsFor127();

  before(function () {
    if (!hasPython) this.skip(); // reported as skipped, never as passed: python3 runs the script
  });

  beforeEach(async () => {
    vault = new FakeVault();
    kube = new FakeKube();
    vaultServer = http.createServer((req, res) => {
      void readBody(req).then((body) => {
        const [status, answer] = vault.handle(
          req.method ?? "GET",
          req.url ?? "",
          req.headers["x-vault-token"] as string | undefined,
          body,
        );
        res.writeHead(status, { "Content-Type": "application/json" }).end(status === 204 ? "" : JSON.stringify(answer));
      });
    });
    kubeServer = https.createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
      void readBody(req).then((body) => {
        const ok = req.headers.authorization === "Bearer sa-token";
        const [status, answer] = ok
          ? kube.handle(req.method ?? "GET", req.url ?? "", body)
          : [401, { message: "Unauthorized" }];
        res.writeHead(status, { "Content-Type": "application/json" }).end(JSON.stringify(answer));
      });
    });
    await new Promise<void>((r) => vaultServer.listen(0, "127.0.0.1", r));
    await new Promise<void>((r) => kubeServer.listen(0, "127.0.0.1", r));
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "vault-dev-setup-"));
    fs.mkdirSync(path.join(dir, "sa"));
    fs.writeFileSync(path.join(dir, "sa", "token"), "sa-token\n");
    fs.writeFileSync(path.join(dir, "sa", "ca.crt"), tls.ca);
    fs.writeFileSync(path.join(dir, "sa", "namespace"), "vault");
    config = path.join(dir, "setup.json");
    const port = (vaultServer.address() as AddressInfo).port;
    fs.writeFileSync(config, JSON.stringify({ ...SETUP_CONFIG, vault: `http://127.0.0.1:${port}` }));
  });

  afterEach(() => {
    vaultServer.close();
    kubeServer.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** One pass of the loop (`step()`), as the pod runs it; its exit code and everything it printed. */
  function step(): Promise<{ status: number; output: string }> {
    const code = [
      "import importlib.util, sys",
      "spec = importlib.util.spec_from_file_location('setup', sys.argv[1])",
      "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)",
      "m.step()",
    ].join("\n");
    return new Promise((resolve) => {
      const child = spawn("python3", ["-c", code, path.join(SETUP, "setup.py")], {
        env: {
          PATH: process.env["PATH"] ?? "",
          SETUP_CONFIG: config,
          SERVICE_ACCOUNT_DIR: path.join(dir, "sa"),
          KUBERNETES_SERVICE_HOST: "127.0.0.1",
          KUBERNETES_SERVICE_PORT: String((kubeServer.address() as AddressInfo).port),
          PYTHONDONTWRITEBYTECODE: "1",
        },
      });
      let output = "";
      child.stdout.on("data", (c: Buffer) => (output += c.toString()));
      child.stderr.on("data", (c: Buffer) => (output += c.toString()));
      child.on("close", (status) => resolve({ status: status ?? 1, output }));
    });
  }

  it("initialises a new Vault, keeps its keys in the Secret, unseals and configures it, and prints no key", async () => {
    const r = await step();
    assert.equal(r.status, 0, r.output);
    assert.deepEqual(kube.keys(), { "unseal-key": UNSEAL_KEY, "root-token": ROOT_TOKEN });
    assert.equal(vault.sealed, false);
    assert.deepEqual(vault.mounts["secret/"], { type: "kv", options: { version: "2" } });
    assert.deepEqual(vault.auth["kubernetes/"], { type: "kubernetes" });
    const auth = SETUP_CONFIG.kubernetesAuth;
    const role = vault.roles[`role/${auth.role}`] as Json;
    assert.deepEqual(role["bound_service_account_names"], [auth.serviceAccount.name]);
    assert.deepEqual(role["bound_service_account_namespaces"], [auth.serviceAccount.namespace]);
    assert.equal(role["audience"], auth.audience);
    for (const [p, fields] of Object.entries(SETUP_CONFIG.secrets)) {
      assert.deepEqual(Object.keys(vault.kv.get(p)?.data ?? {}).sort(), Object.keys(fields).sort(), p);
    }
    assert.ok(String(vault.kv.get("observability/grafana")?.data?.["admin-password"]).length >= 24);
    assert.ok(!r.output.includes(UNSEAL_KEY) && !r.output.includes(ROOT_TOKEN), "a key reached the log");
  });

  it("unseals a restarted Vault with the stored key and keeps every value it holds", async () => {
    assert.equal((await step()).status, 0);
    const password = vault.kv.get("observability/grafana")?.data?.["admin-password"];
    vault.sealed = true;
    const r = await step();
    assert.equal(r.status, 0, r.output);
    assert.equal(vault.sealed, false);
    assert.equal(vault.inits, 1, "initialised twice");
    assert.equal(vault.kv.get("observability/grafana")?.data?.["admin-password"], password, "a value was replaced");
  });

  it("writes a secret again over a deleted version (Vault answers 404 with its metadata)", async () => {
    assert.equal((await step()).status, 0);
    vault.kv.set("observability/grafana", { version: 3, data: null });
    const r = await step();
    assert.equal(r.status, 0, r.output);
    assert.equal(vault.kv.get("observability/grafana")?.version, 4);
    assert.ok(vault.kv.get("observability/grafana")?.data?.["admin-password"]);
  });

  it("does not initialise Vault while the keys' Secret could not be written", async () => {
    kube.refuseWrites = 403;
    const r = await step();
    assert.notEqual(r.status, 0);
    assert.match(r.output, /Vault is not initialised, and Secret vault-dev-keys could not take its keys: 403/);
    assert.equal(vault.initialized, false, "init ran, and its keys would have had nowhere to go");
  });

  it("says so when the stored key is not this Vault's, and when the Secret is gone", async () => {
    assert.equal((await step()).status, 0);
    vault.sealed = true;
    kube.secrets.set(SETUP_CONFIG.keysSecret, {
      data: {
        "unseal-key": Buffer.from("d3Jvbmc=").toString("base64"),
        "root-token": Buffer.from("x").toString("base64"),
      },
    });
    let r = await step();
    assert.notEqual(r.status, 0);
    assert.match(
      r.output,
      /Vault is still sealed after the key in Secret vault-dev-keys was given .*is it the key of this Vault\?/,
    );
    kube.secrets.clear();
    r = await step();
    assert.match(
      r.output,
      /Secret vault-dev-keys does not hold its keys: put them back \(kubectl -n vault create secret generic vault-dev-keys/,
    );
  });
});
