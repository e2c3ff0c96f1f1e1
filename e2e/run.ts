/**
 * `npm run e2e`: the whole life of a stack, for real, on this machine and with no network. It
 * builds (or reuses) the toolchain (e2e/toolchain.sh), starts a control plane on 127.0.0.1
 * (e2e/control-plane.ts), serves the argo-cd chart from a Helm repository on 127.0.0.1, and drives
 * stacks through the real Pulumi CLI with a local file backend:
 *
 *   A. a stack of kind `existing`: preview with the policy pack, up, what the API server then holds,
 *      a second up / preview / refresh with nothing to do, Argo CD's handoff (an upgrade made out
 *      of band survives a changed release input), a config change updated in place, a refresh
 *      while the API server is down, and destroy in the designed order, leaving nothing;
 *   B. the bare lower bound of `up` on the same control plane: helm install --wait of the same
 *      chart and values, then kubectl apply of the same AppProject and root Application;
 *   C. `npm run keys`, `npm run preview`, `npm run up` and `npm run down` on such a stack, with the
 *      commands' own local-backend flow;
 *   D. a stack of kind k3d (with a k3d stand-in: no Docker here) destroyed after its cluster is gone;
 *   E. the k3d Command's scripts against the real k3d binaries (oldest and newest supported), with
 *      no Docker engine: each must get as far as its first Docker call;
 *   F. every object the GitOps tree renders, per environment, through the real API server's
 *      server-side dry run (e2e/tree.ts).
 *
 * What stands in for what cannot run here is in e2e/stand-ins.ts and e2e/plugins/, and is named
 * in the output. It ends with a table of wall times and the line `N passed, N failed`.
 */
import { execFileSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as YAML from "yaml";
import { K3D_ENV, K3D_SCRIPTS, k3dConfigDocument } from "../components/cluster/k3d";
import { DEFAULTS, parseConfig } from "../components/config";
import { argocdChartArchive, chartsDir } from "../test/reference";
import { layerBinary } from "../test/tools";
import { startControlPlane, type ControlPlane } from "./control-plane";
import { assert, Harness, ok, tail } from "./harness";
import { onExit, stopAll, stopAllOnExit } from "./processes";
import { serveCharts, startControllerStandIn, writeK3dStandIn, type ControllerStandIn } from "./stand-ins";
import { scenarioTree } from "./tree";

const ROOT = path.resolve(__dirname, "..");
const NS = "argocd";
const ROOT_APP = "platform-root";
const REPO_URL = "https://github.com/acme/platform.git";

/** The versions e2e/versions.sh pins, as the toolchain built them. */
function versions(): Record<string, string> {
  const out = execFileSync(
    "bash",
    ["-c", `source "${ROOT}/e2e/versions.sh" && set | grep -E '^[A-Z0-9_]+_VERSION=|^K3D_(OLDEST|NEWEST)='`],
    {
      encoding: "utf8",
    },
  );
  return Object.fromEntries(
    out
      .trim()
      .split("\n")
      .map((l) => l.split("="))
      .map(([k, v]) => [k ?? "", (v ?? "").replace(/^'|'$/g, "")]),
  );
}

interface Ctx {
  h: Harness;
  work: string;
  cache: string;
  bin: string;
  cli: string;
  cp: ControlPlane;
  chartRepo: string;
  controller: ControllerStandIn;
  kubectl: (args: string[]) => string;
  pulumiEnv: NodeJS.ProcessEnv;
  v: Record<string, string>;
}

/** A stack file in the project (the CLI reads Pulumi.<stack>.yaml there); removed at the end. */
const stackFiles: string[] = [];
onExit(() => {
  for (const f of stackFiles) fs.rmSync(f, { force: true });
});
function writeStackFile(stack: string, config: Record<string, unknown>): void {
  const file = path.join(ROOT, `Pulumi.${stack}.yaml`);
  fs.writeFileSync(file, YAML.stringify({ config }));
  stackFiles.push(file);
}

function existingStackConfig(ctx: Ctx, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    "platform:environment": "dev",
    "platform:cluster": { provider: "existing", name: "platform-e2e" },
    "platform:argocd": {
      hostname: "argocd.e2e.example.com",
      chartRepository: ctx.chartRepo,
      tls: false,
      waitForHealthy: true,
      healthTimeoutSeconds: 120,
    },
    "platform:gitops": { repoURL: REPO_URL },
    "platform:lifecycle": { drainTimeoutSeconds: 120 },
    ...extra,
  };
}

/** Parsed JSON: API objects are read loosely, as the specs read them. */
function json(text: string): any {
  return JSON.parse(text);
}

async function pulumi(ctx: Ctx, label: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}) {
  return ctx.h.run(label, "pulumi", [...args, "--color", "never"], {
    env: { ...ctx.pulumiEnv, ...opts.env },
    cwd: ROOT,
    ...(opts.input !== undefined ? { input: opts.input } : {}),
  });
}

/** Objects in the cluster that a stack made: Argo CD's namespace and CRDs, cluster roles, the sealed-secrets key. */
function leftovers(ctx: Ctx): string[] {
  const found: string[] = [];
  const names = (args: string[]) =>
    ctx
      .kubectl([...args, "-o", "name"])
      .split("\n")
      .filter(Boolean);
  for (const ns of names(["get", "namespaces"])) if (/namespace\/(argocd|security)$/.test(ns)) found.push(ns);
  for (const crd of names(["get", "crd"])) if (crd.endsWith(".argoproj.io")) found.push(crd);
  for (const kind of ["clusterroles", "clusterrolebindings"]) {
    found.push(...names(["get", kind, "-l", "app.kubernetes.io/part-of=argocd"]));
  }
  return found;
}

async function waitUntil(what: string, check: () => boolean, seconds: number): Promise<void> {
  const until = Date.now() + seconds * 1000;
  while (Date.now() < until) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`${what}: not after ${seconds} s`);
}

// ---------------------------------------------------------------------------------------------
// A. A stack of kind `existing`, through the real CLI
// ---------------------------------------------------------------------------------------------

async function scenarioExisting(ctx: Ctx): Promise<{ upSeconds: number; values: string; objects: any[] }> {
  const { h } = ctx;
  const stack = "e2e";
  console.log("\nA. A stack of kind existing, through the real Pulumi CLI");
  writeStackFile(stack, existingStackConfig(ctx));
  ok(await pulumi(ctx, "stack-init", ["stack", "init", stack, "--secrets-provider", "passphrase"]), "stack init");
  ok(
    await pulumi(ctx, "config-kubeconfig", ["config", "set", "--secret", "platform:kubeconfig", "-s", stack], {
      input: ctx.cp.kubeconfig,
    }),
    "config set",
  );
  const keys = await ctx.h.run("npm-keys", "npm", ["run", "-s", "keys", "--", "--stack", stack], {
    env: ctx.pulumiEnv,
    cwd: ROOT,
  });

  await h.check("npm run keys gives the stack a sealed-secrets key pair, encrypted in its stack file", () => {
    ok(keys, "npm run keys failed");
    const file = fs.readFileSync(path.join(ROOT, `Pulumi.${stack}.yaml`), "utf8");
    assert(
      /platform:sealedSecretsKey:\s*\n\s+certificate:\s*\n?\s*secure:/.test(file),
      "no encrypted certificate in the stack file",
    );
    assert(!file.includes("BEGIN"), "a PEM block is in the stack file in plain text");
  });

  const preview = await pulumi(ctx, "preview", ["preview", "-s", stack, "--policy-pack", "policy"]);
  h.time("preview (stack existing)", preview.seconds);
  await h.check("pulumi preview --policy-pack policy succeeds with the real CLI, the pack loaded", () => {
    ok(preview, "preview failed");
    assert(/platform-guardrails/.test(preview.stdout), "the policy pack did not run");
    assert(/\+ 1[0-9] to create/.test(preview.stdout), `unexpected plan:\n${tail(preview.stdout, 12)}`);
  });

  // The update alone (its preview is the row above): what the lower bound (B) is measured against.
  const up = await pulumi(ctx, "up", ["up", "--yes", "--skip-preview", "-s", stack, "--policy-pack", "policy"]);
  h.time("up --skip-preview (stack existing)", up.seconds);
  const upOk = await h.check("pulumi up --yes succeeds", () => ok(up, "up failed"));
  if (!upOk) throw new Error("stop: nothing after a failed up can be checked");

  await h.check("Argo CD's Deployments and StatefulSet are Ready (kwok plays their kubelet)", () => {
    const deploys = json(ctx.kubectl(["get", "deployments", "-n", NS, "-o", "json"])).items as any[];
    const sets = json(ctx.kubectl(["get", "statefulsets", "-n", NS, "-o", "json"])).items as any[];
    assert(
      deploys.length >= 5,
      `expected Argo CD's 5 Deployments, found ${deploys.map((d) => d.metadata.name).join(", ")}`,
    );
    for (const w of [...deploys, ...sets]) {
      assert(
        (w.status.readyReplicas ?? 0) === w.spec.replicas,
        `${w.metadata.name}: ${w.status.readyReplicas ?? 0}/${w.spec.replicas} ready`,
      );
    }
    assert(
      sets.some((s) => s.metadata.name === "argocd-application-controller"),
      "no application controller StatefulSet",
    );
  });

  await h.check("Argo CD's CRDs are established", () => {
    for (const crd of ["applications", "applicationsets", "appprojects"]) {
      const c = json(ctx.kubectl(["get", "crd", `${crd}.argoproj.io`, "-o", "json"]));
      assert(
        (c.status.conditions as any[]).some((x) => x.type === "Established" && x.status === "True"),
        `${crd} is not established`,
      );
    }
  });

  const project = json(ctx.kubectl(["get", "appproject", ROOT_APP, "-n", NS, "-o", "json"]));
  const app = json(ctx.kubectl(["get", "application", ROOT_APP, "-n", NS, "-o", "json"]));
  await h.check(
    "the API server accepted the AppProject and the root Application (CRD validation) with the expected spec",
    () => {
      assert(
        JSON.stringify(project.spec.sourceRepos) === JSON.stringify([REPO_URL]),
        `sourceRepos ${JSON.stringify(project.spec.sourceRepos)}`,
      );
      assert(
        project.spec.clusterResourceWhitelist?.length === 0 || project.spec.clusterResourceWhitelist === undefined,
        "the root project allows cluster-scoped kinds",
      );
      const src = app.spec.source;
      assert(
        src.repoURL === REPO_URL && src.path === "gitops/envs/dev" && src.targetRevision === "main",
        `source ${JSON.stringify(src)}`,
      );
      assert(app.spec.project === ROOT_APP, `project ${app.spec.project}`);
      assert(
        (app.metadata.finalizers ?? []).includes("resources-finalizer.argocd.argoproj.io"),
        "no cascade finalizer",
      );
      assert(app.spec.syncPolicy?.automated?.selfHeal === true, "dev must sync automatically with self-heal");
      const patches = JSON.stringify(src.kustomize?.patches ?? []);
      assert(patches.includes(ctx.chartRepo), "the tree's Argo CD app is not pointed at the chart mirror");
    },
  );

  const password = (
    await pulumi(ctx, "output-password", ["stack", "output", "argocdAdminPassword", "--show-secrets", "-s", stack])
  ).stdout.trim();
  await h.check(
    "argocd-secret holds a bcrypt hash of the admin password, and no Secret holds the password itself",
    () => {
      assert(password.length === 32, `the admin password output has ${password.length} characters`);
      const secret = json(ctx.kubectl(["get", "secret", "argocd-secret", "-n", NS, "-o", "json"]));
      const hash = Buffer.from(secret.data["admin.password"] ?? "", "base64").toString();
      assert(/^\$2[aby]\$10\$.{53}$/.test(hash), `admin.password is not a bcrypt hash: ${hash.slice(0, 7)}...`);
      for (const s of json(ctx.kubectl(["get", "secrets", "-A", "-o", "json"])).items as any[]) {
        for (const [k, v] of Object.entries((s.data ?? {}) as Record<string, string>)) {
          assert(
            !Buffer.from(v, "base64").toString().includes(password),
            `Secret ${s.metadata.namespace}/${s.metadata.name} holds the password in ${k}`,
          );
        }
      }
    },
  );

  await h.check("the sealed-secrets key Secret is in place, labelled active, with the stack's certificate", () => {
    const s = json(ctx.kubectl(["get", "secret", "sealed-secrets-key-platform", "-n", "security", "-o", "json"]));
    assert(s.type === "kubernetes.io/tls", `type ${s.type}`);
    assert(s.metadata.labels["sealedsecrets.bitnami.com/sealed-secrets-key"] === "active", "not labelled active");
    const crt = Buffer.from(s.data["tls.crt"], "base64").toString();
    assert(crt.startsWith("-----BEGIN CERTIFICATE-----"), "tls.crt is no certificate");
  });

  const state = json((await pulumi(ctx, "export", ["stack", "export", "-s", stack])).stdout);
  const resource = (name: string) => (state.deployment.resources as any[]).find((r) => r.urn.endsWith(`::${name}`));
  await h.check(
    "the readiness gate ran against the API server and saw the root app Synced and Healthy (set by the controller stand-in)",
    () => {
      const gate = resource("gitops-ready-command");
      assert(gate, "no gate Command in the state");
      assert(
        /platform-root is Synced and Healthy/.test(String(gate.outputs.stdout)),
        `gate stdout: ${gate.outputs.stdout}`,
      );
      assert(
        ctx.controller.actions.includes(`status ${ROOT_APP}`),
        "the controller stand-in never reported the root app",
      );
    },
  );
  await h.check("no credential is in the state in plain text (kubeconfig, password, keys)", () => {
    const text = JSON.stringify(state);
    assert(!text.includes(ctx.cp.token), "the API token is in the state in plain text");
    assert(!text.includes(password), "the admin password is in the state in plain text");
    assert(!/BEGIN (RSA )?PRIVATE KEY/.test(text), "a private key is in the state in plain text");
  });

  // The lower bound (B) replays these: the release's values and the objects as applied.
  const values = execFileSync(layerBinary("helm/helm"), ["get", "values", "argocd", "-n", NS, "-o", "yaml"], {
    env: { ...process.env, KUBECONFIG: ctx.cp.kubeconfigFile },
    encoding: "utf8",
  });
  const strip = (o: any) => ({
    apiVersion: o.apiVersion,
    kind: o.kind,
    metadata: {
      name: o.metadata.name,
      namespace: o.metadata.namespace,
      labels: o.metadata.labels,
      finalizers: o.metadata.finalizers,
    },
    spec: o.spec,
  });
  const ns = json(ctx.kubectl(["get", "namespace", NS, "-o", "json"]));
  const objects = [
    { apiVersion: "v1", kind: "Namespace", metadata: { name: NS, labels: ns.metadata.labels } },
    strip(project),
    strip(app),
  ];

  const again = await pulumi(ctx, "up-again", ["up", "--yes", "-s", stack, "--expect-no-changes"]);
  h.time("second up (nothing to do)", again.seconds);
  await h.check("a second pulumi up has nothing to do", () => ok(again, "the second up changed something"));
  const same = await pulumi(ctx, "preview-same", ["preview", "-s", stack, "--expect-no-changes", "--diff"]);
  await h.check("pulumi preview --expect-no-changes: no perpetual diff", () => ok(same, "preview shows changes"));
  const refresh = await pulumi(ctx, "refresh", ["refresh", "--yes", "-s", stack, "--expect-no-changes"]);
  await h.check("pulumi refresh --expect-no-changes: state matches the cluster", () =>
    ok(refresh, "refresh found drift"),
  );

  // Argo CD upgrades itself out of band; a later change to a release input must not undo it.
  const helmEnv = { ...process.env, KUBECONFIG: ctx.cp.kubeconfigFile };
  const chart = argocdChartArchive(DEFAULTS.argocdChartVersion, () => layerBinary("helm/helm"));
  const outOfBand = await h.run(
    "helm-out-of-band",
    layerBinary("helm/helm"),
    ["upgrade", "argocd", chart, "-n", NS, "--reuse-values", "--set", "server.replicas=2"],
    { env: helmEnv },
  );
  ok(
    await pulumi(ctx, "config-timeout", [
      "config",
      "set",
      "--path",
      "platform:argocd.installTimeoutSeconds",
      "600",
      "-s",
      stack,
    ]),
    "config set",
  );
  const handoff = await pulumi(ctx, "up-timeout", ["up", "--yes", "-s", stack]);
  await h.check(
    "Argo CD's handoff: after an out-of-band upgrade, a changed release input (its timeout) does not run helm upgrade",
    () => {
      ok(outOfBand, "helm upgrade (standing in for Argo CD's) failed");
      ok(handoff, "up failed");
      const history = execFileSync(layerBinary("helm/helm"), ["history", "argocd", "-n", NS, "-o", "json"], {
        env: helmEnv,
        encoding: "utf8",
      });
      const revisions = (json(history) as unknown[]).length;
      assert(revisions === 2, `the release has ${revisions} revisions: Pulumi upgraded it after Argo CD did`);
      const server = json(ctx.kubectl(["get", "deployment", "argocd-server", "-n", NS, "-o", "json"]));
      assert(
        server.spec.replicas === 2,
        `argocd-server has ${server.spec.replicas} replicas: Argo CD's change was reverted`,
      );
    },
  );

  // A config change is an update in place: no new provider, no new release.
  ok(
    await pulumi(ctx, "config-host", [
      "config",
      "set",
      "--path",
      "platform:argocd.hostname",
      "argocd2.e2e.example.com",
      "-s",
      stack,
    ]),
    "config set",
  );
  const plan = await pulumi(ctx, "preview-host", ["preview", "-s", stack, "--json"]);
  const change = await pulumi(ctx, "up-host", ["up", "--yes", "-s", stack]);
  await h.check(
    "a changed Argo CD hostname updates the root app in place, replacing neither provider nor release",
    () => {
      ok(plan, "preview failed");
      const steps = (json(plan.stdout).steps ?? []) as { op: string; urn: string }[];
      const changed = steps.filter((s) => s.op !== "same");
      const name = (urn: string) => urn.split("::").pop() ?? urn;
      const root = changed.find((s) => name(s.urn) === "gitops-root-app");
      assert(root?.op === "update", `the root app: ${root?.op ?? "unchanged"}`);
      for (const s of changed) {
        // The readiness gate is made anew to wait again (its trigger is what the root app syncs).
        if (name(s.urn) === "gitops-ready-command") continue;
        assert(!/replace|delete|create/.test(s.op), `${s.op} of ${s.urn}`);
        assert(!/pulumi:providers:kubernetes|helm\.sh\/v3:Release/.test(s.urn), `${s.op} of ${s.urn}`);
      }
      ok(change, "up failed");
      const patched = JSON.stringify(json(ctx.kubectl(["get", "application", ROOT_APP, "-n", NS, "-o", "json"])).spec);
      assert(patched.includes("argocd2.e2e.example.com"), "the root app does not carry the new hostname");
    },
  );

  // A refresh while the cluster is down must fail, not drop the stack's objects from state.
  const count = (s: any) => (s.deployment.resources as any[]).length;
  const before = count(json((await pulumi(ctx, "export-before", ["stack", "export", "-s", stack])).stdout));
  await ctx.cp.stopApiServer();
  const downRefresh = await pulumi(ctx, "refresh-down", ["refresh", "--yes", "-s", stack]);
  const after = count(json((await pulumi(ctx, "export-after", ["stack", "export", "-s", stack])).stdout));
  await ctx.cp.startApiServer();
  const recovered = await pulumi(ctx, "preview-recovered", ["preview", "-s", stack, "--expect-no-changes"]);
  await h.check(
    "pulumi refresh while the API server is down fails and keeps every object in state; the next preview has nothing to do",
    () => {
      assert(downRefresh.status !== 0, "the refresh succeeded against a stopped API server");
      assert(after === before, `the state went from ${before} to ${after} resources`);
      ok(recovered, "the preview after the outage shows changes");
    },
  );

  // Destroy, in order: root app → drain → Argo CD → what is left.
  const destroy = await pulumi(ctx, "destroy", ["destroy", "--yes", "-s", stack]);
  h.time("destroy (stack existing)", destroy.seconds);
  await h.check("pulumi destroy completes in the designed order: root app, drain, Argo CD release, namespace", () => {
    ok(destroy, "destroy failed");
    // The CLI's progress lines, in the order the deletes finished: " -  <type> <name> deleted (1s)".
    const deleted = [...destroy.stdout.matchAll(/^\s*-\s+\S+\s+(\S+)\s+deleted\b/gm)].map((m) => m[1] ?? "");
    const at = (n: string) => deleted.indexOf(n);
    for (const n of ["gitops-root-app", "gitops-drain-command", "argocd-release", "argocd-namespace"])
      assert(at(n) >= 0, `${n} was not deleted (${deleted.join(", ")})`);
    assert(at("gitops-root-app") < at("gitops-drain-command"), `order: ${deleted.join(", ")}`);
    assert(at("gitops-drain-command") < at("argocd-release"), `order: ${deleted.join(", ")}`);
    assert(at("argocd-release") < at("argocd-namespace"), `order: ${deleted.join(", ")}`);
    assert(/Drained in \d+s/.test(destroy.stdout), "the drain did not report");
    assert(
      ctx.controller.actions.includes(`finalizer ${ROOT_APP}`),
      "the controller stand-in never released the root app",
    );
  });
  await h.check("nothing the stack made is left in the cluster (namespaces, CRDs, cluster roles)", () => {
    const left = leftovers(ctx);
    assert(left.length === 0, `left behind: ${left.join(", ")}`);
  });
  const rm = await pulumi(ctx, "stack-rm", ["stack", "rm", stack, "--yes"]);
  await h.check("pulumi stack rm succeeds", () => ok(rm, "stack rm failed"));
  return { upSeconds: up.seconds, values, objects };
}

// ---------------------------------------------------------------------------------------------
// B. The lower bound of `up`
// ---------------------------------------------------------------------------------------------

async function lowerBound(ctx: Ctx, values: string, objects: any[]): Promise<number | undefined> {
  console.log("\nB. The bare lower bound: helm install --wait and kubectl apply");
  const dir = path.join(ctx.work, "lower-bound");
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "values.yaml"), values);
  const [ns, ...argo] = objects;
  fs.writeFileSync(path.join(dir, "namespace.json"), JSON.stringify(ns));
  fs.writeFileSync(path.join(dir, "objects.json"), JSON.stringify({ apiVersion: "v1", kind: "List", items: argo }));
  const helm = layerBinary("helm/helm");
  const chart = argocdChartArchive(DEFAULTS.argocdChartVersion, () => helm);
  const env = { ...process.env, KUBECONFIG: ctx.cp.kubeconfigFile };
  const kubectl = path.join(ctx.bin, `kubernetes-${ctx.v["KUBERNETES_VERSION"]}`, "kubectl");
  const started = process.hrtime.bigint();
  const steps = [
    await ctx.h.run("lb-namespace", kubectl, ["apply", "-f", path.join(dir, "namespace.json")], { env }),
    await ctx.h.run(
      "lb-helm",
      helm,
      [
        "install",
        "argocd",
        chart,
        "-n",
        NS,
        "-f",
        path.join(dir, "values.yaml"),
        "--wait",
        "--wait-for-jobs",
        "--timeout",
        "15m",
      ],
      { env },
    ),
    await ctx.h.run("lb-apply", kubectl, ["apply", "-f", path.join(dir, "objects.json")], { env }),
  ];
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const passed = await ctx.h.check("the lower bound installs the same chart, values and objects", () => {
    for (const s of steps) ok(s, "a lower-bound step failed");
  });
  // Clean up for the next scenario (asynchronously: the controller stand-in must keep running).
  await ctx.h.run(
    "lb-delete-app",
    kubectl,
    ["delete", "application", ROOT_APP, "-n", NS, "--wait=true", "--timeout=60s"],
    { env },
  );
  await ctx.h.run("lb-uninstall", helm, ["uninstall", "argocd", "-n", NS, "--wait"], { env });
  await ctx.h.run(
    "lb-delete",
    kubectl,
    ["delete", "-f", path.join(dir, "objects.json"), "--ignore-not-found", "--wait=true"],
    { env },
  );
  await ctx.h.run("lb-delete-ns", kubectl, ["delete", "namespace", NS, "--wait=true", "--timeout=120s"], { env });
  await waitUntil("the lower bound's leftovers to go", () => leftovers(ctx).length === 0, 120);
  if (!passed) return undefined;
  ctx.h.time("lower bound (helm install --wait + kubectl apply)", seconds);
  return seconds;
}

// ---------------------------------------------------------------------------------------------
// C. npm run keys / preview / up / down, with their own local-backend flow
// ---------------------------------------------------------------------------------------------

async function scenarioNpm(ctx: Ctx): Promise<void> {
  console.log("\nC. npm run keys, preview, up and down, with their local-backend flow");
  const stack = "e2e-npm";
  writeStackFile(stack, existingStackConfig(ctx));
  const stateDir = path.join(ctx.work, "npm-state");
  // The commands' own flow: no backend and no passphrase given; they make both.
  const env: NodeJS.ProcessEnv = { ...ctx.pulumiEnv, PLATFORM_LOCAL_STATE_DIR: stateDir };
  delete env["PULUMI_BACKEND_URL"];
  delete env["PULUMI_CONFIG_PASSPHRASE"];
  const npm = (label: string, args: string[]) => ctx.h.run(label, "npm", ["run", "-s", ...args], { env, cwd: ROOT });
  const keys = await npm("npm-keys", ["keys", "--", "--stack", stack]);
  const backend = {
    PULUMI_BACKEND_URL: `file://${stateDir}`,
    PULUMI_CONFIG_PASSPHRASE_FILE: path.join(stateDir, "passphrase"),
  };
  const set = await ctx.h.run(
    "npm-config",
    "pulumi",
    ["config", "set", "--secret", "platform:kubeconfig", "-s", stack, "--non-interactive"],
    {
      env: { ...env, ...backend },
      cwd: ROOT,
      input: ctx.cp.kubeconfig,
    },
  );
  await ctx.h.check("npm run keys makes a local backend with a passphrase beside it, and the stack's key", () => {
    ok(keys, "npm run keys failed");
    ok(set, "pulumi config set with that backend failed");
    assert(fs.existsSync(path.join(stateDir, "passphrase")), "no generated passphrase");
    assert(
      (fs.statSync(path.join(stateDir, "passphrase")).mode & 0o077) === 0,
      "the passphrase file is readable by others",
    );
  });
  const preview = await npm("npm-preview", ["preview", "--", "--stack", stack]);
  await ctx.h.check("npm run preview succeeds (policy pack included)", () => {
    ok(preview, "npm run preview failed");
    assert(/platform-guardrails/.test(preview.stdout), "the policy pack did not run");
  });
  const up = await npm("npm-up", ["up", "--", "--stack", stack, "--yes"]);
  await ctx.h.check("npm run up succeeds and says where Argo CD and its password are", () => {
    ok(up, "npm run up failed");
    assert(/Argo CD:\s+npm run output -- argocdUrl --stack e2e-npm/.test(up.stdout), "no hint lines after the up");
  });
  const down = await npm("npm-down", ["down", "--", "--stack", stack, "--yes"]);
  await ctx.h.check("npm run down succeeds and leaves nothing in the cluster", () => {
    ok(down, "npm run down failed");
    const left = leftovers(ctx);
    assert(left.length === 0, `left behind: ${left.join(", ")}`);
  });

  // Three mistakes in one stack: npm run up and the real `pulumi up` each name all three, one
  // line each, and nothing is made (no stack for npm run up; no resource for pulumi up).
  const bad = "e2e-bad";
  const good = existingStackConfig(ctx);
  writeStackFile(bad, {
    ...good,
    "platform:argocd": { ...(good["platform:argocd"] as object), chartVersion: "10.2.0" },
    "platform:gitops": { repoURL: REPO_URL, path: "gitops/envs/prod" },
    "platform:lifecycle": { drainTimeoutSeconds: 5 },
  });
  const problems = [
    /platform:lifecycle\.drainTimeoutSeconds must be a whole number from 60 to 7200 \(got 5\)/,
    /platform:gitops\.path gitops\/envs\/prod is the root of the prod environment \(its environment\.yaml\), not of dev/,
    /platform:argocd\.chartVersion must be \d+\.\d+\.\d+, the argo-cd version gitops\/envs\/prod\/versions\.yaml pins/,
  ];
  const npmBad = await npm("npm-up-bad", ["up", "--", "--stack", bad, "--yes"]);
  const stacksAfter = await ctx.h.run("npm-stack-ls", "pulumi", ["stack", "ls", "--json"], {
    env: { ...env, ...backend },
    cwd: ROOT,
  });
  await ctx.h.check("npm run up names every mistake of a bad stack, one line each, and makes no stack", () => {
    assert(npmBad.status !== 0, "npm run up accepted a bad stack");
    for (const p of problems) assert(p.test(npmBad.stderr), `npm run up did not say ${p.source}:\n${npmBad.stderr}`);
    assert(/Nothing was created/.test(npmBad.stderr), "no word that nothing was made");
    ok(stacksAfter, "pulumi stack ls failed");
    assert(!stacksAfter.stdout.includes(`"${bad}"`), `npm run up made the stack ${bad}`);
  });
  ok(await pulumi(ctx, "bad-init", ["stack", "init", bad, "--secrets-provider", "passphrase"]), "stack init");
  const upBad = await pulumi(ctx, "up-bad", ["up", "--yes", "--skip-preview", "-s", bad]);
  const exported = await pulumi(ctx, "bad-export", ["stack", "export", "-s", bad]);
  await ctx.h.check("the real pulumi up names every mistake of a bad stack, one line each, before any resource", () => {
    assert(upBad.status !== 0, "pulumi up accepted a bad stack");
    const out = upBad.stdout + upBad.stderr;
    for (const p of problems) assert(p.test(out), `pulumi up did not say ${p.source}:\n${tail(out, 30)}`);
    ok(exported, "stack export failed");
    const resources = (json(exported.stdout).deployment?.resources ?? []) as { type: string }[];
    const made = resources.filter((r) => r.type !== "pulumi:pulumi:Stack" && !r.type.startsWith("pulumi:providers:"));
    assert(made.length === 0, `pulumi up made ${made.map((r) => r.type).join(", ")}`);
  });
  await pulumi(ctx, "bad-rm", ["stack", "rm", bad, "--yes", "--force"]);
}

// ---------------------------------------------------------------------------------------------
// D. A k3d stack destroyed after its cluster is gone
// ---------------------------------------------------------------------------------------------

async function scenarioGoneCluster(ctx: Ctx): Promise<void> {
  console.log("\nD. A k3d stack (k3d stand-in: no Docker here) destroyed after its cluster is gone");
  const stack = "e2e-k3d";
  const standIn = path.join(ctx.work, "k3d-stand-in");
  writeK3dStandIn(standIn, ctx.cp.kubeconfigFile);
  writeStackFile(stack, {
    "platform:environment": "dev",
    "platform:cluster": { provider: "k3d", name: "platform-e2e-k3d" },
    "platform:argocd": { chartRepository: ctx.chartRepo, healthTimeoutSeconds: 120 },
    "platform:gitops": { repoURL: REPO_URL },
    "platform:lifecycle": { drainTimeoutSeconds: 60 },
  });
  const env = { ...ctx.pulumiEnv, PATH: `${standIn}:${ctx.pulumiEnv["PATH"] ?? ""}` };
  ok(
    await pulumi(ctx, "k3d-init", ["stack", "init", stack, "--secrets-provider", "passphrase"], { env }),
    "stack init",
  );
  const up = await pulumi(ctx, "k3d-up", ["up", "--yes", "-s", stack], { env });
  await ctx.h.check("a k3d stack comes up through its real k3d Command (stand-in k3d) against the API server", () => {
    ok(up, "up failed");
    const calls = fs.readFileSync(path.join(standIn, "calls.log"), "utf8");
    assert(/^cluster create --config \S+\/k3d\.yaml$/m.test(calls), `k3d calls:\n${calls}`);
    assert(/^kubeconfig write platform-e2e-k3d --output /m.test(calls), `k3d calls:\n${calls}`);
  });
  // The cluster goes: k3d no longer knows it and its API server stops answering.
  fs.writeFileSync(path.join(standIn, "clusters"), "");
  await ctx.cp.stopApiServer();
  const destroy = await pulumi(ctx, "k3d-destroy", ["destroy", "--yes", "-s", stack], {
    env: { ...env, PULUMI_K8S_DELETE_UNREACHABLE: "true" },
  });
  await ctx.cp.startApiServer();
  await ctx.h.check(
    "its destroy completes with the cluster gone, as npm run down runs it (Argo CD goes with the cluster; the drain lets k3d through)",
    () => {
      ok(destroy, "destroy failed with the cluster gone");
      assert(
        /does not answer: it is gone, so there is nothing to drain/.test(destroy.stdout),
        "the drain did not say the cluster was gone",
      );
    },
  );
  await pulumi(ctx, "k3d-rm", ["stack", "rm", stack, "--yes", "--force"], { env });
  // What the k3d stack put on the (still running) control plane: the stand-in deleted no cluster.
  const kubectl = path.join(ctx.bin, `kubernetes-${ctx.v["KUBERNETES_VERSION"]}`, "kubectl");
  await ctx.h.run("k3d-cleanup", kubectl, [
    "--kubeconfig",
    ctx.cp.kubeconfigFile,
    "delete",
    "namespace",
    NS,
    "security",
    "--ignore-not-found",
    "--wait=true",
    "--timeout=120s",
  ]);
}

// ---------------------------------------------------------------------------------------------
// E. The k3d scripts against the real k3d binaries, without Docker
// ---------------------------------------------------------------------------------------------

async function scenarioRealK3d(ctx: Ctx): Promise<void> {
  console.log("\nE. The k3d Command's scripts against the real k3d binaries, with no Docker engine");
  const cfg = parseConfig(
    {
      "platform:environment": "dev",
      "platform:cluster": '{"provider":"k3d"}',
      "platform:gitops": JSON.stringify({ repoURL: REPO_URL }),
    },
    "dev",
    () => false,
  );
  if (cfg.cluster.provider !== "k3d") throw new Error("not a k3d config");
  const env = {
    [K3D_ENV.config]: YAML.stringify(k3dConfigDocument({ name: "platform-dev", k3d: cfg.cluster.k3d })),
    [K3D_ENV.cluster]: "platform-dev",
  };
  const docker =
    /Cannot connect to the Docker daemon|docker failed|failed to list containers|Is the docker daemon running/i;
  for (const version of [ctx.v["K3D_OLDEST"] ?? "", ctx.v["K3D_NEWEST"] ?? ""]) {
    const dir = path.join(ctx.bin, `k3d-${version}`);
    const base = {
      ...process.env,
      ...env,
      PATH: `${dir}:/usr/bin:/bin`,
      DOCKER_HOST: "unix:///nonexistent/docker.sock",
    };
    for (const [which, script] of Object.entries(K3D_SCRIPTS)) {
      for (const extra of [{}, { LOG_LEVEL: "debug" }]) {
        const r = await ctx.h.run(`k3d-${version}-${which}`, "/bin/sh", ["-c", script], { env: { ...base, ...extra } });
        const debug = "LOG_LEVEL" in extra ? " with LOG_LEVEL=debug" : "";
        await ctx.h.check(
          `k3d ${version}: the ${which} script${debug} gets as far as its first Docker call, with nothing on stdout`,
          () => {
            assert(r.status !== 0, "it succeeded without Docker");
            assert(docker.test(r.stderr), `it stopped before reaching Docker:\n${tail(r.stderr, 8)}`);
            assert(!/Failed to stat config file|unknown flag|unknown command/i.test(r.stderr), tail(r.stderr, 8));
            assert(r.stdout === "", `stdout (the kubeconfig's channel) holds: ${tail(r.stdout, 3)}`);
          },
        );
      }
    }
    if (version === ctx.v["K3D_NEWEST"]) {
      const old = await ctx.h.run(`k3d-${version}-old-env`, "/bin/sh", ["-c", 'k3d cluster delete "$K3D_CLUSTER"'], {
        env: { ...base, K3D_CONFIG: env[K3D_ENV.config], K3D_CLUSTER: "platform-dev" },
      });
      await ctx.h.check(
        `k3d ${version} does read K3D_CONFIG from the environment (why the scripts never set it)`,
        () => {
          assert(
            /Failed to stat config file/.test(old.stderr),
            `k3d ${version} ignored K3D_CONFIG:\n${tail(old.stderr, 4)}`,
          );
        },
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  stopAllOnExit();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "platform-e2e-"));
  const h = new Harness(path.join(work, "logs"));
  const cache = process.env["PLATFORM_E2E_CACHE"] ?? path.join(os.homedir(), ".cache", "platform-e2e");
  console.log(`e2e: work folder ${work}; toolchain cache ${cache}`);

  // The toolchain: built where missing (cold), then once more with everything there (warm).
  const build = await h.run("toolchain", "bash", [path.join(ROOT, "e2e", "toolchain.sh")], {
    echo: true,
    env: { ...process.env, PLATFORM_E2E_CACHE: cache },
  });
  if (build.status !== 0) {
    console.log(`e2e: the toolchain did not build: see above.\n0 passed, 1 failed`);
    return 1;
  }
  // toolchain.sh writes it when it built everything (an empty cache).
  const coldFile = path.join(cache, "cold-build.json");
  const warm = await h.run("toolchain-warm", "bash", [path.join(ROOT, "e2e", "toolchain.sh")], {
    env: { ...process.env, PLATFORM_E2E_CACHE: cache },
  });
  const cold = fs.existsSync(coldFile)
    ? (json(fs.readFileSync(coldFile, "utf8")) as { seconds: number; at: string })
    : undefined;
  h.time(
    "toolchain build, cold (empty cache)",
    cold ? `${cold.seconds.toFixed(0)} s (measured ${cold.at.slice(0, 10)})` : "not measured on this machine",
  );
  h.time("toolchain, this run", build.seconds);
  h.time("toolchain, warm", warm.seconds);
  const cli = /^toolchain: cli (.+)$/m.exec(build.stdout)?.[1];
  if (!cli) throw new Error("the toolchain did not say where the CLI is");
  // The path line, not the step's line (which names the tool too).
  const healthLua = /^toolchain: argocd-health-lua (\/\S+)$/m.exec(build.stdout)?.[1];
  if (!healthLua) throw new Error("the toolchain did not say where argocd-health-lua is");
  const v = versions();
  const bin = path.join(cache, "bin");
  const k8s = path.join(bin, `kubernetes-${v["KUBERNETES_VERSION"]}`);
  const kwok = path.join(bin, `kwok-${v["KWOK_VERSION"]}`);

  const cpStarted = process.hrtime.bigint();
  const cp = await startControlPlane(
    {
      etcd: path.join(bin, `etcd-${v["ETCD_VERSION"]}`, "etcd"),
      kubeApiserver: path.join(k8s, "kube-apiserver"),
      kubeControllerManager: path.join(k8s, "kube-controller-manager"),
      kubeScheduler: path.join(k8s, "kube-scheduler"),
      kwok: path.join(kwok, "kwok"),
      kwokStages: fs.readdirSync(path.join(kwok, "stages")).map((f) => path.join(kwok, "stages", f)),
    },
    path.join(work, "control-plane"),
  );
  h.time(
    "control plane start (etcd, API server, controllers, kwok, 3 nodes)",
    Number(process.hrtime.bigint() - cpStarted) / 1e9,
  );
  console.log(`e2e: control plane at ${cp.server} (127.0.0.1 only)`);

  // The argo-cd chart from a Helm repository on 127.0.0.1 (the reference data's chart folder).
  argocdChartArchive(DEFAULTS.argocdChartVersion, () => layerBinary("helm/helm"));
  const repo = await serveCharts(chartsDir());
  console.log(`e2e: chart repository at ${repo.url}`);
  const controller = startControllerStandIn({ server: cp.server, ca: cp.ca, token: cp.token }, NS, ROOT_APP);
  console.log(
    "e2e: Argo CD's application controller does not run here: a stand-in reports the root app Synced and Healthy and removes cascade finalizers (e2e/stand-ins.ts)",
  );

  const pulumiEnv: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: `${cli}:${process.env["PATH"] ?? ""}`,
    PULUMI_HOME: path.join(cache, "pulumi-home"),
    PULUMI_BACKEND_URL: `file://${path.join(work, "state")}`,
    PULUMI_CONFIG_PASSPHRASE: crypto.randomBytes(16).toString("hex"),
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK: "true",
    PLATFORM_POLL_MS: "500",
    NO_COLOR: "1",
  };
  delete pulumiEnv["PULUMI_ACCESS_TOKEN"];
  fs.mkdirSync(path.join(work, "state"), { recursive: true });
  // Plugins the CLI starts run in process groups of their own; an interrupted CLI can leave them.
  onExit(() => {
    execFileSync("pkill", ["-f", `^(${cli}|${path.join(cache, "pulumi-home", "plugins")})/`], { stdio: "ignore" });
  });
  const kubectlBin = path.join(k8s, "kubectl");
  const ctx: Ctx = {
    h,
    work,
    cache,
    bin,
    cli,
    cp,
    chartRepo: repo.url,
    controller,
    v,
    pulumiEnv,
    kubectl: (args) =>
      execFileSync(kubectlBin, ["--kubeconfig", cp.kubeconfigFile, ...args], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
        maxBuffer: 256 * 2 ** 20,
      }),
  };

  try {
    const a = await scenarioExisting(ctx);
    const lb = await lowerBound(ctx, a.values, a.objects);
    if (lb) h.time("up / lower bound (the program's own overhead; aim: at most 1.2)", (a.upSeconds / lb).toFixed(2));
    await scenarioNpm(ctx);
    await scenarioGoneCluster(ctx);
    await scenarioRealK3d(ctx);
    await scenarioTree({ h, work, kubectlBin, kubeconfigFile: cp.kubeconfigFile, healthLua });
  } catch (e) {
    await h.check("the scenarios ran to their end", () => {
      throw e;
    });
  } finally {
    controller.stop();
    await repo.close();
    for (const f of stackFiles) fs.rmSync(f, { force: true });
    await stopAll();
  }
  console.log(h.summary());
  return h.counts.failed === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  async (e: unknown) => {
    console.error(e);
    for (const f of stackFiles) fs.rmSync(f, { force: true });
    await stopAll();
    console.log("0 passed, 1 failed");
    process.exit(1);
  },
);
