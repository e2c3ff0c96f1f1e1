import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { drain } from "../scripts/lifecycle/drain";
import { gateState, WAITS_FOR_ANNOTATION, waitHealthy } from "../scripts/lifecycle/health";
import { connect, isUnreachable } from "../scripts/lifecycle/kube";
import { ROOT } from "../scripts/synth/stack-config";
import { FakeKube, type FakeObject, kubeconfigFor } from "./fake-kube";

const NS = "argocd";
const ROOT_APP = "platform-root";

/** An Application; every one but the root is one the root app synced, unless `syncedBy` says otherwise. */
const app = (name: string, status?: Record<string, unknown>, syncedBy: string | null = ROOT_APP): FakeObject => ({
  metadata: {
    name,
    namespace: NS,
    ...(name !== ROOT_APP && syncedBy
      ? { annotations: { "argocd.argoproj.io/tracking-id": `${syncedBy}:argoproj.io/Application:${NS}/${name}` } }
      : {}),
  },
  spec: { project: "platform-tools" },
  ...(status ? { status } : {}),
});
const service = (namespace: string, name: string, type: string): FakeObject => ({
  metadata: { name, namespace },
  spec: { type },
});
const volume = (name: string, policy: string, claim: string, dynamic = true): FakeObject => ({
  metadata: { name, ...(dynamic ? { annotations: { "pv.kubernetes.io/provisioned-by": "ebs.csi.aws.com" } } : {}) },
  spec: { persistentVolumeReclaimPolicy: policy, claimRef: { namespace: "observability", name: claim } },
});
const claim = (name: string): FakeObject => ({ metadata: { name, namespace: "observability" } });

/**
 * Runs scripts/lifecycle.ts as the stack's Command resource does. Asynchronously: the stand-in API
 * server answers from this process.
 */
function runCli(command: string, env: Record<string, string>) {
  const child = spawn(
    process.execPath,
    ["--require", path.join(ROOT, "scripts/register.cjs"), path.join(ROOT, "scripts/lifecycle.ts"), command],
    {
      env: {
        PATH: process.env["PATH"],
        PLATFORM_ARGOCD_NAMESPACE: NS,
        PLATFORM_ROOT_APP: ROOT_APP,
        PLATFORM_TIMEOUT_SECONDS: "2",
        PLATFORM_POLL_MS: "20",
        ...env,
      },
      timeout: 30_000,
    },
  );
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  return new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on("close", (status) => resolve({ status, stdout, stderr })),
  );
}

describe("the GitOps drain, against a stand-in API server", () => {
  let fake: FakeKube;
  let lines: string[];
  const opts = (timeoutMs = 3000) => ({
    namespace: NS,
    rootApp: ROOT_APP,
    timeoutMs,
    intervalMs: 10,
    log: (l: string) => lines.push(l),
  });

  beforeEach(() => {
    fake = new FakeKube();
    lines = [];
  });
  afterEach(() => fake.stop());

  it("rides out an API server that answers 429 or 503 for a while (a CRD's storage re-initialising, a restart)", async () => {
    fake
      .add("applications", app(ROOT_APP), {
        deleteTakes: 1,
        onGone: [{ collection: "applications", name: "loki", after: 1 }],
      })
      .add("applications", app("loki"))
      .fail(429, 3);
    const kube = connect(await fake.start(), { transientMs: 5000, pauseMs: 5 });
    const result = await drain(kube, opts());
    assert.equal(result.drained, true, JSON.stringify(result));
    const refused = fake.requests.length;
    fake.fail(503, 1000);
    await assert.rejects(
      connect(kubeconfigFor("http://127.0.0.1:1"), { transientMs: 50, pauseMs: 5 }).applications(),
      (e: unknown) => isUnreachable(e),
      "a refused connection is retried twice, then reported as unreachable",
    );
    const impatient = connect(kubeconfigFor(fake.url), { transientMs: 50, pauseMs: 5 });
    await assert.rejects(
      impatient.applications(),
      (e: { code?: number }) => e.code === 503,
      "gives up once the time is over",
    );
    assert.ok(fake.requests.length > refused + 2, "the 503s were retried");
  });

  it("waits only for what the root app owns: its children, theirs, and their ApplicationSets' apps; never an app made by hand", async () => {
    const generated: FakeObject = {
      metadata: {
        name: "team-a-preview",
        namespace: NS,
        ownerReferences: [{ apiVersion: "argoproj.io/v1alpha1", kind: "ApplicationSet", name: "previews", uid: "1" }],
      },
    };
    fake
      .add("applications", app(ROOT_APP), {
        deleteTakes: 1,
        onGone: [
          { collection: "applications", name: "workloads", after: 1 },
          { collection: "applications", name: "team-a", after: 2 },
          { collection: "applications", name: "team-a-preview", after: 3 },
        ],
      })
      .add("applications", app("workloads"))
      .add("applications", app("team-a", undefined, "workloads"))
      .add("applications", generated)
      .add("applicationsets", {
        metadata: {
          name: "previews",
          namespace: NS,
          annotations: { "argocd.argoproj.io/tracking-id": `workloads:argoproj.io/ApplicationSet:${NS}/previews` },
        },
      })
      .add("applications", app("made-by-hand", undefined, null))
      .add("applications", app("another-teams", undefined, "their-root"));
    const kube = connect(await fake.start());

    const result = await drain(kube, opts());

    assert.equal(result.drained, true, JSON.stringify(result));
    assert.deepEqual(fake.names("applications").sort(), ["another-teams", "made-by-hand"]);
    assert.ok(fake.round >= 4, `the drain must wait for the generated app too (polled ${fake.round} rounds)`);
    assert.deepEqual(
      fake.requests.filter((r) => r.startsWith("DELETE")),
      [`DELETE /apis/argoproj.io/v1alpha1/namespaces/${NS}/applications/${ROOT_APP}?propagationPolicy=Foreground`],
    );
  });

  it("deletes the root app, waits for the cascade, then removes the claims a StatefulSet left and waits for their volumes", async () => {
    fake
      .add("applications", app(ROOT_APP), {
        deleteTakes: 2,
        onGone: [
          { collection: "applications", name: "traefik", after: 1 },
          { collection: "applications", name: "loki", after: 2 },
          { collection: "services", name: "traefik", after: 3 },
        ],
      })
      .add("applications", app("traefik"))
      .add("applications", app("loki"))
      .add("services", service("ingress", "traefik", "LoadBalancer"))
      .add("services", service("default", "kubernetes", "ClusterIP"))
      .add("ingresses", { metadata: { name: "argocd-server", namespace: NS }, status: { loadBalancer: {} } })
      .add("persistentvolumes", volume("pvc-loki", "Delete", "storage-loki-0"))
      .add("persistentvolumes", volume("pv-retained", "Retain", "keep-me"))
      .add("persistentvolumes", volume("pv-static", "Delete", "static", false))
      .add("persistentvolumeclaims", claim("storage-loki-0"), {
        deleteTakes: 0,
        onGone: [{ collection: "persistentvolumes", name: "pvc-loki", after: 2 }],
      });
    const kube = connect(await fake.start());

    const result = await drain(kube, opts());

    assert.equal(result.drained, true, JSON.stringify(result));
    const deletes = fake.requests.filter((r) => r.startsWith("DELETE"));
    assert.deepEqual(deletes, [
      `DELETE /apis/argoproj.io/v1alpha1/namespaces/${NS}/applications/${ROOT_APP}?propagationPolicy=Foreground`,
      "DELETE /api/v1/namespaces/observability/persistentvolumeclaims/storage-loki-0",
    ]);
    // The claim goes only once no app is left: Argo CD would otherwise sync it back.
    const claimAt = fake.requests.findIndex((r) => r.includes("persistentvolumeclaims/storage-loki-0"));
    const lastAppsWithItems = fake.round;
    assert.ok(claimAt > 0 && lastAppsWithItems >= 5, `the drain polled ${fake.round} rounds`);
    assert.deepEqual(
      fake.names("persistentvolumes"),
      ["pv-retained", "pv-static"],
      "volumes that outlive a claim are not waited for",
    );
    assert.deepEqual(fake.names("services"), ["kubernetes"]);
    assert.match(lines[0] ?? "", /^Deleted the root Application argocd\/platform-root/);
    assert.match(lines.at(-1) ?? "", /^Drained in \d+s/);
    assert.ok(
      lines.some((l) => l === "Waiting for 3 Applications, 1 LoadBalancer Service, 1 PersistentVolume to go."),
      lines.join("\n"),
    );
  });

  it("deletes a load balancer no app owns once the apps are gone, and waits for the cloud to let it go", async () => {
    fake.add("services", service("team-a", "by-hand", "LoadBalancer"), { deleteTakes: 3 }).add(
      "ingresses",
      {
        metadata: { name: "web", namespace: "team-a" },
        status: { loadBalancer: { ingress: [{ ip: "203.0.113.7" }] } },
      },
      { deleteTakes: 1 },
    );
    const kube = connect(await fake.start());

    const result = await drain(kube, opts());

    assert.equal(result.drained, true, JSON.stringify(result));
    assert.match(lines[0] ?? "", /already gone/);
    assert.deepEqual(fake.requests.filter((r) => r.startsWith("DELETE /api")).slice(1), [
      "DELETE /api/v1/namespaces/team-a/services/by-hand",
      "DELETE /apis/networking.k8s.io/v1/namespaces/team-a/ingresses/web",
    ]);
  });

  it("gives up after the timeout and names what is still there and how to remove it", async () => {
    fake
      .add("applications", app(ROOT_APP), {
        deleteTakes: 1,
        onGone: [{ collection: "applications", name: "traefik", after: 0 }],
      })
      .add("applications", app("traefik"))
      // Its finalizer never completes (Argo CD cannot delete what it synced).
      .add("applications", app("vault"))
      .add("services", service("ingress", "traefik", "LoadBalancer"))
      .add("persistentvolumes", volume("pvc-vault", "Delete", "data-vault-0"));
    const kube = connect(await fake.start());

    const started = Date.now();
    const result = await drain(kube, opts(400));
    const took = Date.now() - started;

    assert.equal(result.drained, false);
    assert.ok(took >= 400 && took < 2500, `gave up after ${took} ms`);
    assert.deepEqual(
      result.leftovers.applications.map((a) => a.metadata.name),
      ["vault"],
    );
    const report = result.report.split("\n");
    assert.equal(
      report[0],
      "The drain gave up after 0.4s; still there: 1 Application, 1 LoadBalancer Service, 1 PersistentVolume.",
    );
    assert.ok(report.includes("  Application argocd/vault"), result.report);
    assert.ok(report.includes("  Service ingress/traefik (type LoadBalancer)"), result.report);
    assert.ok(report.includes("  PersistentVolume pvc-vault (claim observability/data-vault-0)"), result.report);
    assert.ok(
      report.some((l) => l.includes(`kubectl -n ${NS} patch application <name> --type merge`)),
      result.report,
    );
    // While an app is left, nothing it may own is deleted behind Argo CD's back.
    assert.deepEqual(fake.requests.filter((r) => r.startsWith("DELETE")).length, 1);
  });

  it("as the destroy runs it: exit 1 with the report on give-up, exit 0 once drained", async () => {
    fake.add("applications", app("stuck"));
    const kubeconfig = await fake.start();
    const stuck = await runCli("drain", { PLATFORM_KUBECONFIG: kubeconfig, PLATFORM_TIMEOUT_SECONDS: "1" });
    assert.equal(stuck.status, 1, stuck.stderr);
    assert.match(
      stuck.stderr,
      /^The drain gave up after 1s; still there: 1 Application\.\n {2}Application argocd\/stuck\n/,
    );

    const skipped = await runCli("drain", { PLATFORM_KUBECONFIG: kubeconfig, PLATFORM_SKIP_DRAIN: "1" });
    assert.equal(skipped.status, 0);
    assert.match(skipped.stdout, /^PLATFORM_SKIP_DRAIN=1: not draining/);
  });

  it("a cluster that is gone: drained for an ephemeral stack, a clear stop otherwise", async () => {
    const gone = kubeconfigFor("http://127.0.0.1:9"); // discard port: nothing listens
    const ephemeral = await runCli("drain", { PLATFORM_KUBECONFIG: gone, PLATFORM_ALLOW_UNREACHABLE: "true" });
    assert.equal(ephemeral.status, 0, ephemeral.stderr);
    assert.match(ephemeral.stdout, /does not answer: it is gone, so there is nothing to drain/);

    const kept = await runCli("drain", { PLATFORM_KUBECONFIG: gone, PLATFORM_ALLOW_UNREACHABLE: "false" });
    assert.equal(kept.status, 1);
    const message = kept.stderr.trim().split("\n");
    assert.equal(message.length, 1, kept.stderr);
    assert.match(
      message[0] ?? "",
      /^cannot reach the cluster's API server http:\/\/127\.0\.0\.1:9 to drain it .*PLATFORM_SKIP_DRAIN=1/,
    );
  });

  it("says how to go on when the stack's kubeconfig is refused, and takes a working one from a file", async () => {
    fake.add("applications", app("only-with-a-good-token"));
    const good = await fake.start();
    const server = (JSON.parse(good) as { clusters: { cluster: { server: string } }[] }).clusters[0]!.cluster.server;
    // A server that refuses every token, like a DOKS cluster after its kubeconfig expired.
    const refusing = http.createServer((_, res) => {
      res.writeHead(401, { "content-type": "application/json" });
      res.end(JSON.stringify({ kind: "Status", code: 401, message: "Unauthorized" }));
    });
    await new Promise<void>((r) => refusing.listen(0, "127.0.0.1", r));
    const port = (refusing.address() as { port: number }).port;
    try {
      const expired = await runCli("drain", { PLATFORM_KUBECONFIG: kubeconfigFor(`http://127.0.0.1:${port}`) });
      assert.equal(expired.status, 1);
      assert.match(
        expired.stderr.trim(),
        /^the cluster's API server http:\/\/127\.0\.0\.1:\d+ refused the stack's kubeconfig \(401\): its token may have expired\. Run `pulumi up` to refresh it, or point PLATFORM_KUBECONFIG_FILE at a working kubeconfig/,
      );

      const file = path.join(os.tmpdir(), `kubeconfig-${process.pid}.json`);
      fs.writeFileSync(file, kubeconfigFor(server), { mode: 0o600 });
      const fixed = await runCli("drain", {
        PLATFORM_KUBECONFIG: kubeconfigFor(`http://127.0.0.1:${port}`),
        PLATFORM_KUBECONFIG_FILE: file,
        PLATFORM_TIMEOUT_SECONDS: "1",
      });
      fs.rmSync(file);
      assert.match(fixed.stderr, /still there: 1 Application\.\n {2}Application argocd\/only-with-a-good-token/);
    } finally {
      refusing.close();
    }
  });

  it("names a missing setting in one line", async () => {
    const r = await runCli("drain", { PLATFORM_KUBECONFIG: "", PLATFORM_ROOT_APP: "" });
    assert.equal(r.status, 1);
    assert.equal(
      r.stderr.trim(),
      "PLATFORM_ROOT_APP is not set: this command is run by the stack's lifecycle resources",
    );
    const bad = await runCli("drain", { PLATFORM_TIMEOUT_SECONDS: "soon" });
    assert.equal(bad.stderr.trim(), 'PLATFORM_TIMEOUT_SECONDS must be a whole number of seconds (got "soon")');
    const usage = await runCli("undo", {});
    assert.equal(usage.stderr.trim(), 'usage: lifecycle.ts drain|wait-healthy (got "undo")');
  });
});

describe("the readiness gate, against a stand-in API server", () => {
  let fake: FakeKube;
  let lines: string[];
  const opts = (timeoutMs: number) => ({
    namespace: NS,
    rootApp: ROOT_APP,
    timeoutMs,
    intervalMs: 10,
    log: (l: string) => lines.push(l),
  });
  const healthy = { sync: { status: "Synced" }, health: { status: "Healthy" } };

  beforeEach(() => {
    fake = new FakeKube();
    lines = [];
  });
  afterEach(() => fake.stop());

  it("returns once the root app is Synced and Healthy, saying each state it waits through once", async () => {
    fake.add("applications", app(ROOT_APP, { sync: { status: "OutOfSync" }, health: { status: "Missing" } }), {
      statusAt: [
        { round: 3, status: { sync: { status: "Synced" }, health: { status: "Progressing" } } },
        // Healthy but not yet at the new revision: not done.
        { round: 5, status: { sync: { status: "OutOfSync" }, health: { status: "Healthy" } } },
        { round: 7, status: healthy },
      ],
    });
    const result = await waitHealthy(connect(await fake.start()), opts(3000));
    assert.equal(result.healthy, true);
    assert.deepEqual(lines, [
      "Waiting for platform-root: OutOfSync, Missing.",
      "Waiting for platform-root: Synced, Progressing.",
      "Waiting for platform-root: OutOfSync, Healthy.",
      "platform-root is Synced and Healthy after 0s.",
    ]);
  });

  it("takes the root app as done only once Argo CD has compared it with the source its spec names now", async () => {
    const source = { repoURL: "https://github.com/acme/platform.git", path: "gitops/envs/dev", targetRevision: "v2" };
    const root: FakeObject = { ...app(ROOT_APP), spec: { project: "default", source } };
    const compared = (targetRevision: string) => ({
      ...healthy,
      sync: { status: "Synced", comparedTo: { source: { ...source, targetRevision } } },
    });
    fake.add("applications", { ...root, status: compared("v1") }, { statusAt: [{ round: 5, status: compared("v2") }] });
    const result = await waitHealthy(connect(await fake.start()), opts(3000));
    assert.equal(result.healthy, true);
    assert.deepEqual(lines, [
      "Waiting for platform-root: Synced, Healthy (not yet compared with the source its spec names now).",
      "platform-root is Synced and Healthy after 0s.",
    ]);
  });

  it("names each app it waits for with its sync, health and message, again only when one changes", async () => {
    fake
      .add("applications", app(ROOT_APP, { sync: { status: "Synced" }, health: { status: "Progressing" } }), {
        statusAt: [{ round: 12, status: healthy }],
      })
      .add(
        "applications",
        app("loki", {
          sync: { status: "Synced" },
          health: { status: "Progressing", message: "Waiting for 1 pods to be ready" },
        }),
        {
          statusAt: [
            // The same state again: no new line.
            {
              round: 4,
              status: {
                sync: { status: "Synced" },
                health: { status: "Progressing", message: "Waiting for 1 pods to be ready" },
              },
            },
            {
              round: 6,
              status: { sync: { status: "Synced" }, health: { status: "Progressing", message: "Waiting for rollout" } },
            },
            { round: 10, status: healthy },
          ],
        },
      )
      .add(
        "applications",
        app("traefik", {
          sync: { status: "OutOfSync" },
          health: { status: "Healthy" },
          operationState: { phase: "Running", message: "waiting for healthy state of apps/Deployment/traefik" },
        }),
        { statusAt: [{ round: 8, status: healthy }] },
      )
      .add("applications", app("cert-manager", healthy));
    const result = await waitHealthy(connect(await fake.start()), opts(3000));
    assert.equal(result.healthy, true);
    assert.deepEqual(lines, [
      [
        "Waiting for 3 apps:",
        "  platform-root: Synced, Progressing",
        "  loki: Synced, Progressing (Waiting for 1 pods to be ready)",
        "  traefik: OutOfSync, Healthy (last sync Running: waiting for healthy state of apps/Deployment/traefik)",
      ].join("\n"),
      [
        "Waiting for 3 apps:",
        "  platform-root: Synced, Progressing",
        "  loki: Synced, Progressing (Waiting for rollout)",
        "  traefik: OutOfSync, Healthy (last sync Running: waiting for healthy state of apps/Deployment/traefik)",
      ].join("\n"),
      "Waiting for 2 apps:\n  platform-root: Synced, Progressing\n  loki: Synced, Progressing (Waiting for rollout)",
      "Waiting for platform-root: Synced, Progressing.",
      "platform-root is Synced and Healthy after 0s.",
    ]);
  });

  const marked = (name: string, status: Record<string, unknown>) => {
    const a = app(name, status);
    a.metadata.annotations = { ...a.metadata.annotations, [WAITS_FOR_ANNOTATION]: "Vault's one-time setup (README)" };
    return a;
  };

  it("does not wait for apps marked as waiting on a person, names them once with why, and still waits for the rest", async () => {
    const sealed = { sync: { status: "Synced" }, health: { status: "Progressing", message: "sealed" } };
    fake
      // The root's health is its children's: Vault holds it at Progressing for good.
      .add("applications", app(ROOT_APP, { sync: { status: "OutOfSync" }, health: { status: "Missing" } }), {
        statusAt: [{ round: 3, status: { sync: { status: "Synced" }, health: { status: "Progressing" } } }],
      })
      .add("applications", marked("vault", sealed))
      .add("applications", marked("secret-stores", { sync: { status: "Synced" }, health: { status: "Degraded" } }))
      .add("applications", app("loki", { sync: { status: "Synced" }, health: { status: "Progressing" } }), {
        statusAt: [{ round: 7, status: healthy }],
      });
    const result = await waitHealthy(connect(await fake.start()), opts(3000));
    assert.equal(result.healthy, true);
    assert.deepEqual(lines, [
      "Not waiting for secret-stores, vault: they wait for Vault's one-time setup (README).",
      "Waiting for 2 apps:\n  platform-root: OutOfSync, Missing\n  loki: Synced, Progressing",
      "Waiting for loki: Synced, Progressing.",
      "platform-root is Synced and every app the gate waits for is Synced and Healthy after 0s; not waited for: secret-stores (Degraded), vault (Progressing).",
    ]);
  });

  it("waits for the root's health when every marked app is Healthy, and gives up naming the marked ones", async () => {
    fake
      .add("applications", app(ROOT_APP, { sync: { status: "Synced" }, health: { status: "Progressing" } }))
      .add("applications", marked("vault", healthy));
    const result = await waitHealthy(connect(await fake.start()), opts(200));
    assert.equal(result.healthy, false);
    assert.deepEqual(lines, [
      "Not waiting for vault: they wait for Vault's one-time setup (README).",
      "Waiting for platform-root: Synced, Progressing.",
    ]);
    assert.deepEqual(result.report.split("\n").slice(0, 3), [
      "platform-root was not Synced and Healthy after 0.2s (platform-root: Synced, Progressing).",
      "Every child app the gate waits for is Synced and Healthy; the root app is still syncing.",
      "Not waiting for vault: they wait for Vault's one-time setup (README).",
    ]);
  });

  it("never counts an app as done for being marked unless the root is Synced", () => {
    const root = app(ROOT_APP, { sync: { status: "OutOfSync" }, health: { status: "Healthy" } });
    const state = gateState(root, [root, marked("vault", { sync: { status: "OutOfSync" } })], ROOT_APP);
    assert.equal(state.done, false);
    assert.deepEqual(state.awaited, ["platform-root: OutOfSync, Healthy"]);
    assert.deepEqual([...state.notAwaited.keys()], ["Vault's one-time setup (README)"]);
    // An empty mark marks nothing.
    const blank = app("loki", { sync: { status: "Synced" }, health: { status: "Progressing" } });
    blank.metadata.annotations = { [WAITS_FOR_ANNOTATION]: " " };
    const synced = app(ROOT_APP, { sync: { status: "Synced" }, health: { status: "Progressing" } });
    assert.deepEqual(gateState(synced, [synced, blank], ROOT_APP).awaited, [
      "platform-root: Synced, Progressing",
      "loki: Synced, Progressing",
    ]);
  });

  it("gives up after the timeout and says which child apps are not healthy, and why", async () => {
    fake
      .add("applications", app(ROOT_APP, { sync: { status: "Synced" }, health: { status: "Progressing" } }))
      .add("applications", app("cert-manager", healthy))
      .add(
        "applications",
        app("vault", {
          sync: { status: "Synced" },
          health: { status: "Progressing", message: "Waiting for 1 pods to be ready" },
        }),
      )
      .add(
        "applications",
        app("kube-prometheus-stack", {
          sync: { status: "OutOfSync" },
          health: { status: "Degraded" },
          operationState: { phase: "Failed", message: "one or more objects failed to apply" },
          conditions: [{ type: "SyncError", message: "secret grafana-admin not found" }],
        }),
      );
    const result = await waitHealthy(connect(await fake.start()), opts(300));
    assert.equal(result.healthy, false);
    assert.deepEqual(result.report.split("\n").slice(0, 4), [
      "platform-root was not Synced and Healthy after 0.3s (platform-root: Synced, Progressing).",
      "Apps that are not Synced and Healthy:",
      "  kube-prometheus-stack: OutOfSync, Degraded (last sync Failed: one or more objects failed to apply; SyncError: secret grafana-admin not found)",
      "  vault: Synced, Progressing (Waiting for 1 pods to be ready)",
    ]);
  });

  it("keeps waiting through an API server that does not answer yet, and says so when it gives up", async () => {
    const result = await waitHealthy(connect(kubeconfigFor("http://127.0.0.1:9")), opts(200));
    assert.equal(result.healthy, false);
    assert.match(
      result.report,
      /^platform-root was not Synced and Healthy after 0\.2s: the API server http:\/\/127\.0\.0\.1:9 did not answer/,
    );
  });

  it("as `pulumi up` runs it: exit 1 with the report on stderr", async () => {
    fake.add("applications", app(ROOT_APP, { sync: { status: "OutOfSync" }, health: { status: "Missing" } }));
    const r = await runCli("wait-healthy", { PLATFORM_KUBECONFIG: await fake.start(), PLATFORM_TIMEOUT_SECONDS: "1" });
    assert.equal(r.status, 1);
    assert.match(
      r.stderr,
      /^platform-root was not Synced and Healthy after 1s \(platform-root: OutOfSync, Missing\)\.\nEvery child app the gate waits for is Synced and Healthy/,
    );
  });
});
