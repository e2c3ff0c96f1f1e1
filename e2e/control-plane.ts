/**
 * A real Kubernetes control plane on 127.0.0.1 only: etcd, kube-apiserver (TLS, token auth,
 * RBAC), kube-controller-manager, kube-scheduler, and kwok, which plays the kubelet of a few
 * fake nodes, so Deployments, StatefulSets and Jobs become Ready and complete without containers.
 * No container ever runs: a pod's "Running" is kwok's word for it.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as https from "node:https";
import * as net from "node:net";
import * as path from "node:path";
import * as YAML from "yaml";
import { startService, type Service } from "./processes";

export interface ControlPlaneBinaries {
  etcd: string;
  kubeApiserver: string;
  kubeControllerManager: string;
  kubeScheduler: string;
  kwok: string;
  /** kwok's stage files (node and pod lifecycles). */
  kwokStages: string[];
}

export interface ControlPlane {
  /** https://127.0.0.1:<port> */
  server: string;
  /** The CA of its serving certificate (PEM), and the admin token. */
  ca: string;
  token: string;
  /** An admin kubeconfig (token user in system:masters); a credential, kept out of logs. */
  kubeconfig: string;
  kubeconfigFile: string;
  /** Stops only the API server (the cluster "goes away"), and starts it again. */
  stopApiServer(): Promise<void>;
  startApiServer(): Promise<void>;
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}

function openssl(args: string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

/** A CA, the API server's serving certificate for 127.0.0.1, and the service-account key pair. */
function makePki(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  openssl(
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-days",
      "2",
      "-subj",
      "/CN=platform-e2e-ca",
      "-keyout",
      "ca.key",
      "-out",
      "ca.crt",
    ],
    dir,
  );
  fs.writeFileSync(
    path.join(dir, "san.cnf"),
    "subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc\n",
  );
  openssl(
    [
      "req",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-subj",
      "/CN=kube-apiserver",
      "-keyout",
      "apiserver.key",
      "-out",
      "apiserver.csr",
    ],
    dir,
  );
  openssl(
    [
      "x509",
      "-req",
      "-in",
      "apiserver.csr",
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-days",
      "2",
      "-extfile",
      "san.cnf",
      "-out",
      "apiserver.crt",
    ],
    dir,
  );
  openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "sa.key"], dir);
  openssl(["pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub"], dir);
}

function kubeconfigText(server: string, ca: string, token: string): string {
  return YAML.stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "e2e", cluster: { server, "certificate-authority-data": Buffer.from(ca).toString("base64") } }],
    users: [{ name: "e2e-admin", user: { token } }],
    contexts: [{ name: "e2e", context: { cluster: "e2e", user: "e2e-admin" } }],
    "current-context": "e2e",
  });
}

/** GET a path with the admin token; resolves with the status code (0 when nothing answers). */
export function apiGet(
  server: string,
  ca: string,
  token: string,
  p: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = https.get(
      `${server}${p}`,
      { ca, headers: { Authorization: `Bearer ${token}` }, timeout: 3000 },
      (res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", () => resolve({ status: 0, body: "" }));
    req.on("timeout", () => req.destroy());
  });
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number, logs: string[]): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  const tails = logs.map((l) => `--- ${l}\n${tail(l, 15)}`).join("\n");
  throw new Error(`${what} was not ready after ${timeoutMs / 1000} s\n${tails}`);
}

function tail(file: string, lines: number): string {
  try {
    return fs.readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/** Starts the control plane in `dir` (certificates, data and logs) with `nodes` fake nodes. */
export async function startControlPlane(bin: ControlPlaneBinaries, dir: string, nodes = 3): Promise<ControlPlane> {
  const pki = path.join(dir, "pki");
  makePki(pki);
  const file = (n: string) => path.join(pki, n);
  const ca = fs.readFileSync(file("ca.crt"), "utf8");
  const token = execFileSync("openssl", ["rand", "-hex", "24"], { encoding: "utf8" }).trim();
  fs.writeFileSync(file("tokens.csv"), `${token},e2e-admin,e2e-admin,"system:masters"\n`, { mode: 0o600 });

  const [etcdPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
  const server = `https://127.0.0.1:${apiPort}`;
  const kubeconfig = kubeconfigText(server, ca, token);
  const kubeconfigFile = path.join(dir, "admin.kubeconfig");
  fs.writeFileSync(kubeconfigFile, kubeconfig, { mode: 0o600 });
  const log = (n: string) => path.join(dir, `${n}.log`);

  const etcd = startService(
    "etcd",
    bin.etcd,
    [
      "--name=e2e",
      `--data-dir=${path.join(dir, "etcd")}`,
      `--listen-client-urls=http://127.0.0.1:${etcdPort}`,
      `--advertise-client-urls=http://127.0.0.1:${etcdPort}`,
      `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-cluster=e2e=http://127.0.0.1:${peerPort}`,
      "--log-level=warn",
      "--quota-backend-bytes=2147483648",
    ],
    { log: log("etcd") },
  );

  const apiserverArgs = [
    `--etcd-servers=http://127.0.0.1:${etcdPort}`,
    "--bind-address=127.0.0.1",
    "--advertise-address=127.0.0.1",
    `--secure-port=${apiPort}`,
    `--tls-cert-file=${file("apiserver.crt")}`,
    `--tls-private-key-file=${file("apiserver.key")}`,
    `--client-ca-file=${file("ca.crt")}`,
    `--token-auth-file=${file("tokens.csv")}`,
    "--authorization-mode=RBAC",
    "--service-account-issuer=https://kubernetes.default.svc",
    `--service-account-key-file=${file("sa.pub")}`,
    `--service-account-signing-key-file=${file("sa.key")}`,
    "--service-cluster-ip-range=10.96.0.0/16",
    "--profiling=false",
    "--v=0",
  ];
  let apiserver: Service | undefined;
  const startApiServer = async () => {
    apiserver = startService("kube-apiserver", bin.kubeApiserver, apiserverArgs, { log: log("kube-apiserver") });
    await waitFor("kube-apiserver", async () => (await apiGet(server, ca, token, "/readyz")).status === 200, 90_000, [
      log("kube-apiserver"),
      log("etcd"),
    ]);
  };
  await startApiServer();

  const common = [`--kubeconfig=${kubeconfigFile}`, "--leader-elect=false", "--bind-address=127.0.0.1"];
  const controllerManager = startService(
    "kube-controller-manager",
    bin.kubeControllerManager,
    [
      ...common,
      "--secure-port=0",
      `--service-account-private-key-file=${file("sa.key")}`,
      `--root-ca-file=${file("ca.crt")}`,
      "--use-service-account-credentials=false",
      "--controllers=*,-nodeipam",
      "--v=0",
    ],
    { log: log("kube-controller-manager") },
  );
  const scheduler = startService("kube-scheduler", bin.kubeScheduler, [...common, "--secure-port=0", "--v=0"], {
    log: log("kube-scheduler"),
  });
  const kwok = startService(
    "kwok",
    bin.kwok,
    [
      `--kubeconfig=${kubeconfigFile}`,
      "--manage-nodes-with-label-selector=type=kwok",
      ...bin.kwokStages.flatMap((s) => ["--config", s]),
    ],
    { log: log("kwok") },
  );

  // The fake nodes: kwok answers for them; each has room for what the platform asks for.
  const nodeList = {
    apiVersion: "v1",
    kind: "List",
    items: Array.from({ length: nodes }, (_, i) => ({
      apiVersion: "v1",
      kind: "Node",
      metadata: {
        name: `kwok-node-${i}`,
        labels: { type: "kwok", "kubernetes.io/hostname": `kwok-node-${i}`, "kubernetes.io/os": "linux" },
        annotations: { "node.alpha.kubernetes.io/ttl": "0", "kwok.x-k8s.io/node": "fake" },
      },
      status: {
        allocatable: { cpu: "16", memory: "64Gi", pods: "110" },
        capacity: { cpu: "16", memory: "64Gi", pods: "110" },
      },
    })),
  };
  const nodesFile = path.join(dir, "nodes.yaml");
  fs.writeFileSync(nodesFile, YAML.stringify(nodeList));
  const ready = async () => {
    const r = await apiGet(server, ca, token, "/api/v1/nodes?labelSelector=type%3Dkwok");
    if (r.status !== 200) return false;
    const items = (JSON.parse(r.body) as { items: { status?: { conditions?: { type: string; status: string }[] } }[] })
      .items;
    return (
      items.length === nodes &&
      items.every((n) => n.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"))
    );
  };
  const created = await createObjects(server, ca, token, nodeList.items);
  if (!created) throw new Error("could not create the fake nodes");
  await waitFor("the fake nodes", ready, 60_000, [log("kwok")]);

  return {
    server,
    ca,
    token,
    kubeconfig,
    kubeconfigFile,
    async stopApiServer() {
      await apiserver?.stop();
      apiserver = undefined;
    },
    startApiServer,
    async stop() {
      for (const s of [kwok, scheduler, controllerManager, apiserver, etcd]) await s?.stop();
    },
  };
}

/** POSTs cluster-scoped core objects (the nodes); true when each was created or already there. */
async function createObjects(server: string, ca: string, token: string, items: { kind: string }[]): Promise<boolean> {
  for (const item of items) {
    const status = await new Promise<number>((resolve) => {
      const body = JSON.stringify(item);
      const req = https.request(
        `${server}/api/v1/${item.kind.toLowerCase()}s`,
        {
          method: "POST",
          ca,
          headers: {
            Authorization: `Bearer ${token}`,
            "Content-Type": "application/json",
            "Content-Length": Buffer.byteLength(body),
          },
        },
        (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
        },
      );
      req.on("error", () => resolve(0));
      req.end(body);
    });
    if (status !== 201 && status !== 409) return false;
  }
  return true;
}
