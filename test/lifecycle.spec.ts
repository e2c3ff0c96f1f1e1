import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as YAML from "yaml";
import { RELEASE_HANDED_OFF } from "../components/argocd";
import { SEALED_SECRETS } from "../components/bootstrap";
import { nodeVersionProblem } from "../components/node-version";
import { exampleNames, readStackConfig, ROOT, stackFile, stackNames } from "../scripts/synth/stack-config";
import { kubeconfigFor } from "./fake-kube";
import { plain, type Recorded, type Recorder, Secret, unwrap } from "./mocks";
import { runProgram } from "./program";

type Obj = Record<string, any>;

/** Is the value at this path a secret, or inside one? */
function isSecretAt(value: unknown, ...path: string[]): boolean {
  let cur = value;
  for (const key of path) {
    if (cur instanceof Secret) return true;
    cur = (cur as Obj | undefined)?.[key];
  }
  return cur instanceof Secret;
}

/**
 * What must be deleted before a resource: everything that depends on it through an input, an
 * explicit dependsOn, its provider, or a parent (children go before their parent).
 */
function dependents(recorder: Recorder): Map<string, Set<string>> {
  const edges = new Map<string, Set<string>>();
  const add = (from: string, to: string) => edges.set(from, (edges.get(from) ?? new Set()).add(to));
  for (const r of recorder.resources) {
    for (const d of r.dependencies) add(d, r.urn);
    for (const deps of Object.values(r.propertyDependencies)) for (const d of deps) add(d, r.urn);
    const provider = recorder.providerOf(r);
    if (provider) add(provider.urn, r.urn);
    if (r.parent) add(r.parent, r.urn);
  }
  return edges;
}

/** The order `pulumi destroy` deletes in: a resource only after everything that depends on it. */
function destroyOrder(recorder: Recorder): string[] {
  const edges = dependents(recorder);
  const order: string[] = [];
  const done = new Set<string>();
  const visit = (urn: string, path: string[]) => {
    if (done.has(urn)) return;
    assert.ok(!path.includes(urn), `dependency cycle: ${[...path, urn].join(" -> ")}`);
    for (const d of edges.get(urn) ?? []) visit(d, [...path, urn]);
    done.add(urn);
    order.push(urn);
  };
  for (const r of recorder.resources) visit(r.urn, []);
  return order;
}

/** Does `a` wait for `b` (directly or through others)? Then `a` is deleted first. */
function waitsFor(recorder: Recorder, a: Recorded, b: Recorded): boolean {
  const edges = dependents(recorder);
  const seen = new Set<string>();
  const stack = [b.urn];
  while (stack.length) {
    const cur = stack.pop()!;
    if (cur === a.urn) return true;
    if (seen.has(cur)) continue;
    seen.add(cur);
    stack.push(...(edges.get(cur) ?? []));
  }
  return false;
}

/** The resource that is the cluster itself, per kind. */
const CLUSTER_TYPES = [
  "command:local:Command",
  "aws:eks/cluster:Cluster",
  "digitalocean:index/kubernetesCluster:KubernetesCluster",
  "gcp:container/cluster:Cluster",
];
const clusterOf = (recorder: Recorder) =>
  recorder.resources.find(
    (r) => CLUSTER_TYPES.includes(r.type) && r.parent.endsWith(":cluster") && r.name.startsWith("cluster"),
  )!;

const stacks = [...stackNames(), ...exampleNames().map((e) => `examples/${e}`)];

/** A stack's config once it points at the team's own copy of the repository, as `npm run up` makes it. */
const OWN_REPO = "https://github.com/acme/platform.git";
function ownRepo(stack: string, overrides: Record<string, unknown> = {}) {
  const gitops = { ...stackFile(stack)["platform:gitops"], repoURL: OWN_REPO };
  return readStackConfig(stack, { "platform:gitops": gitops, ...overrides });
}

describe("the Node.js the lifecycle commands need", () => {
  it("accepts the releases that require() ES modules by default, and names the one it refuses", () => {
    for (const ok of ["20.19.0", "20.20.2", "22.12.0", "23.0.0", "24.3.1"])
      assert.equal(nodeVersionProblem(ok), undefined, ok);
    for (const old of ["18.20.4", "20.18.3", "21.7.3", "22.11.0"]) {
      const problem = nodeVersionProblem(old) ?? "";
      assert.match(problem, new RegExp(`^Node\\.js ${old.replace(/\./g, "\\.")} is too old: .*20\\.19 or later`), old);
    }
    assert.equal(nodeVersionProblem(), undefined, "the Node these specs run on is one the project supports");
  });
});

describe("lifecycle: destroy order, drain, readiness gate, handoff, sealed-secrets key", () => {
  for (const stack of stacks) {
    describe(stack, () => {
      let recorder: Recorder;
      before(async () => {
        const run = await runProgram(stack, ownRepo(stack));
        if (run.error) throw run.error;
        recorder = run.recorder;
      });

      it("destroys root app → drain → Argo CD → cluster, never the cluster first", () => {
        const rootApp = recorder.one("kubernetes:argoproj.io/v1alpha1:Application", "gitops-root-app");
        const drain = recorder.one("command:local:Command", "gitops-drain-command");
        const release = recorder.one("kubernetes:helm.sh/v3:Release", "argocd-release");
        const cluster = clusterOf(recorder);
        assert.ok(cluster, `no cluster resource in ${recorder.summary()}`);
        const order = destroyOrder(recorder);
        const at = (r: Recorded) => order.indexOf(r.urn);
        assert.ok(at(rootApp) < at(drain), "the root app must go before the drain");
        assert.ok(at(drain) < at(release), "the drain must run before Argo CD goes");
        assert.ok(at(release) < at(cluster), "Argo CD must go before the cluster");
        // Not just this order but every valid one: each waits for the next.
        assert.ok(
          waitsFor(recorder, rootApp, drain) &&
            waitsFor(recorder, drain, release) &&
            waitsFor(recorder, release, cluster),
        );
        assert.ok(
          !waitsFor(recorder, drain, rootApp),
          "the drain must not wait for the root app, or it would go after it",
        );
        // And every Kubernetes object goes before the cluster's provider.
        const provider = recorder.one("pulumi:providers:kubernetes");
        for (const r of recorder.resources.filter((x) => x.type.startsWith("kubernetes:"))) {
          assert.ok(at(r) < at(provider), `${r.name} outlives the Kubernetes provider`);
        }
      });

      it("drains on delete only, with the kubeconfig as a secret, bounded by platform:lifecycle.drainTimeoutSeconds", () => {
        const drain = recorder.one("command:local:Command", "gitops-drain-command");
        const i = drain.inputs as Obj;
        assert.equal(i["create"], undefined, "creating the drain must do nothing");
        assert.equal(i["delete"], "node --require ./scripts/register.cjs scripts/lifecycle.ts drain");
        const env = plain(i["environment"]) as Obj;
        assert.ok(
          isSecretAt(i, "environment", "PLATFORM_KUBECONFIG"),
          "the kubeconfig reaches the drain in plain text",
        );
        const lifecycle = (stackFile(stack)["platform:lifecycle"] ?? {}) as Obj;
        const timeout = Number(lifecycle["drainTimeoutSeconds"] ?? 1200);
        assert.deepEqual(plain({ ...env, PLATFORM_KUBECONFIG: "-" }), {
          PLATFORM_KUBECONFIG: "-",
          PLATFORM_ARGOCD_NAMESPACE: "argocd",
          PLATFORM_ROOT_APP: "platform-root",
          PLATFORM_TIMEOUT_SECONDS: String(timeout),
          // k3d: a laptop cluster that is gone holds nothing in a cloud.
          PLATFORM_ALLOW_UNREACHABLE: String(
            lifecycle["ephemeral"] === true || stackFile(stack)["platform:cluster"]?.provider === "k3d",
          ),
        });
        assert.equal(
          drain.customTimeouts.delete,
          `${timeout + 120}s`,
          "Pulumi must not cut the drain off before it reports",
        );
        const rootApp = recorder.one("kubernetes:argoproj.io/v1alpha1:Application", "gitops-root-app");
        assert.equal(rootApp.customTimeouts.delete, `${timeout}s`, "the root app's cascade gets the drain's time");
      });

      it("hands the Argo CD chart to Argo CD: the release ignores every later change to its inputs", () => {
        // Any input that is not ignored (its timeout, say) makes the provider run `helm upgrade`
        // with the bootstrap version and values, undoing Argo CD's upgrades; the e2e shows it.
        const release = recorder.one("kubernetes:helm.sh/v3:Release", "argocd-release");
        assert.deepEqual([...release.ignoreChanges], ["*"]);
        assert.deepEqual([...RELEASE_HANDED_OFF], ["*"]);
      });

      it("waits for a healthy platform exactly when platform:argocd.waitForHealthy is on (default: dev)", () => {
        const file = stackFile(stack);
        const argocd = (file["platform:argocd"] ?? {}) as Obj;
        const expected = argocd["waitForHealthy"] ?? file["platform:environment"] === "dev";
        const gates = recorder.all("command:local:Command").filter((r) => r.name === "gitops-ready-command");
        assert.equal(gates.length, expected ? 1 : 0);
        if (!expected) return;
        const gate = gates[0]!;
        assert.equal(
          (gate.inputs as Obj)["create"],
          "node --require ./scripts/register.cjs scripts/lifecycle.ts wait-healthy",
        );
        const rootApp = recorder.one("kubernetes:argoproj.io/v1alpha1:Application", "gitops-root-app");
        assert.ok(waitsFor(recorder, gate, rootApp), "the gate must start after the root app exists");
        assert.ok(
          isSecretAt(gate.inputs, "environment", "PLATFORM_KUBECONFIG"),
          "the gate's kubeconfig is in plain text",
        );
      });
    });
  }

  describe("changes", () => {
    const gateTrigger = async (overrides: Record<string, unknown>) => {
      const run = await runProgram("dev", ownRepo("dev", overrides));
      if (run.error) throw run.error;
      return plain((run.recorder.one("command:local:Command", "gitops-ready-command").inputs as Obj)["triggers"]);
    };

    it("waits for nothing while the root app points at the example repository, which never syncs", async () => {
      const run = await runProgram("dev");
      if (run.error) throw run.error;
      assert.deepEqual(
        run.recorder.all("command:local:Command").filter((r) => r.name === "gitops-ready-command"),
        [],
      );
      assert.ok(
        run.warnings.some((w) => w.endsWith("until you set your own repository, and `pulumi up` does not wait for it")),
        JSON.stringify(run.warnings),
      );
      const insisted = await runProgram(
        "dev",
        readStackConfig("dev", { "platform:argocd": { ...stackFile("dev")["platform:argocd"], waitForHealthy: true } }),
      );
      assert.match(
        insisted.error?.message ?? "",
        /^platform:argocd\.waitForHealthy cannot be true while platform:gitops\.repoURL is the example/,
      );
    });

    it("waits again when what the root app syncs changes, not otherwise", async () => {
      const base = await gateTrigger({});
      const again = await gateTrigger({});
      const moved = await gateTrigger({
        "platform:gitops": { ...stackFile("dev")["platform:gitops"], repoURL: OWN_REPO, targetRevision: "release-2" },
      });
      assert.deepEqual(base, again);
      assert.notDeepEqual(base, moved);
      assert.match((base as string[])[0]!, /^[0-9a-f]{64}$/, "the trigger is a digest, not the values");
    });

    it("destroys a stack whose cluster is gone: Argo CD goes with the cluster, the drain lets ephemeral and k3d stacks through, refresh never drops objects", async () => {
      for (const stack of ["stage", "examples/eks", "examples/doks", "examples/gke", "dev"]) {
        for (const ephemeral of [true, false]) {
          const overrides = {
            // A stage stack syncs stage's tree.
            ...(stack === "dev"
              ? {}
              : {
                  "platform:environment": "stage",
                  "platform:gitops": { ...stackFile(stack)["platform:gitops"], path: "gitops/envs/stage" },
                }),
            ...(ephemeral ? { "platform:lifecycle": { ephemeral: true } } : {}),
          };
          const run = await runProgram(stack, readStackConfig(stack, overrides));
          if (run.error) throw run.error;
          const provider = run.recorder.one("pulumi:providers:kubernetes");
          const k3d = stack === "dev";
          // pulumi-kubernetes never deletes a Helm release it cannot reach (provider.go: "can't
          // delete Helm Release with unreachable cluster"), whatever deleteUnreachable says; and
          // set in the provider, deleteUnreachable makes a refresh drop every object (Read).
          assert.equal((provider.inputs as Obj)["deleteUnreachable"], undefined, `${stack}: no deleteUnreachable`);
          for (const name of ["argocd-release", "argocd-namespace"]) {
            const r = run.recorder.resources.find((x) => x.name === name);
            const cluster = run.recorder.byUrn(r?.deletedWith ?? "");
            assert.ok(
              cluster?.custom && cluster.parent.includes("platform:cluster:"),
              `${stack}: ${name} must go with the cluster`,
            );
          }
          const drain = run.recorder.one("command:local:Command", "gitops-drain-command");
          assert.equal(
            (plain(drain.inputs) as Obj)["environment"]["PLATFORM_ALLOW_UNREACHABLE"],
            String(ephemeral || k3d),
            `${stack} ephemeral=${ephemeral}`,
          );
        }
      }
    });

    it("installs the sealed-secrets key from platform:sealedSecretsKey before the root app, as a secret", async () => {
      const key = crypto
        .generateKeyPairSync("rsa", { modulusLength: 2048 })
        .privateKey.export({ type: "pkcs8", format: "pem" });
      const cert = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n";
      const config = readStackConfig("dev", { "platform:sealedSecretsKey": { certificate: cert, privateKey: key } });
      config.secretKeys.push("platform:sealedSecretsKey");
      const run = await runProgram("dev", config);
      if (run.error) throw run.error;
      const secret = run.recorder.one("kubernetes:core/v1:Secret", "gitops-sealed-secrets-key");
      const ns = run.recorder.one("kubernetes:core/v1:Namespace", "gitops-sealed-secrets-namespace");
      assert.equal((ns.inputs as Obj)["metadata"]["name"], SEALED_SECRETS.namespace);
      const i = secret.inputs as Obj;
      assert.equal(i["type"], "kubernetes.io/tls");
      assert.equal(i["metadata"]["name"], SEALED_SECRETS.keySecret);
      assert.equal(i["metadata"]["labels"][SEALED_SECRETS.keyLabel], "active");
      assert.ok(i["stringData"] instanceof Secret, "the key pair reaches the cluster in plain text");
      assert.deepEqual(plain(i["stringData"]), { "tls.crt": cert, "tls.key": key });
      const rootApp = run.recorder.one("kubernetes:argoproj.io/v1alpha1:Application", "gitops-root-app");
      assert.ok(waitsFor(run.recorder, rootApp, secret), "the controller could start before its key is there");
      const exported = run.outputs!["sealedSecretsKey"]!;
      assert.deepEqual(await unwrap(exported), { value: { certificate: cert, privateKey: key }, secret: true });
      // The tree's controller lives where the key is put, and never rotates it away.
      const tree = YAML.parse(fs.readFileSync(`${ROOT}/gitops/security/apps/sealed-secrets.yaml`, "utf8")) as Obj;
      assert.equal(tree["spec"]["destination"]["namespace"], SEALED_SECRETS.namespace);
      assert.equal(tree["spec"]["source"]["helm"]["valuesObject"]["keyrenewperiod"], "0");
    });

    it("the drain's command runs as written from the project directory", () => {
      const r = spawnSync("sh", ["-c", "node --require ./scripts/register.cjs scripts/lifecycle.ts drain"], {
        cwd: ROOT,
        encoding: "utf8",
        env: {
          PATH: process.env["PATH"],
          PLATFORM_KUBECONFIG: kubeconfigFor("http://127.0.0.1:9"),
          PLATFORM_ARGOCD_NAMESPACE: "argocd",
          PLATFORM_ROOT_APP: "platform-root",
          PLATFORM_TIMEOUT_SECONDS: "5",
          PLATFORM_SKIP_DRAIN: "1",
        },
      });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^PLATFORM_SKIP_DRAIN=1: not draining/);
    });
  });
});
