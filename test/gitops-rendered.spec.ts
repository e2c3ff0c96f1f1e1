/**
 * The GitOps tree as Argo CD 3.4 syncs it: every child Application rendered, the Helm ones from
 * the real chart packages at their pinned versions (test/reference.ts finds them), and every
 * rendered object checked against its project, its schema, Pod Security, its namespace's quota,
 * the NetworkPolicies, and what other children expect of it (test/tree-checks.ts).
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as YAML from "yaml";
import { APPLICATION_HEALTH_LUA, SYNC_TIMEOUT_SECONDS } from "../components/argocd";
import { ENVIRONMENTS, type Environment } from "../components/config";
import { CHILD_HEALTH_CASES, runHealthLua } from "./lua";
import { stackFile } from "../scripts/synth/stack-config";
import { isGitSource, type Obj, pinOf, renderStackFile, type Tree } from "./argocd-render";
import { chartPins } from "./fetch-charts";
import { chartPackageOf, chartValuesOf } from "./tools";
import {
  callViolations,
  markViolations,
  monitorTargets,
  placed,
  pods,
  podSecurityViolations,
  projectViolations,
  quotaViolations,
  schemaViolations,
  selects,
  trafficViolations,
  vaultSetups,
  WAITS_FOR_ANNOTATION,
  waveViolations,
} from "./tree-checks";

/** The most nodes a stack's cluster grows to (a DaemonSet runs a pod on each): every pool at its maximum, or k3d's servers and agents. */
function maxNodes(env: Environment): number {
  const cluster = (stackFile(env)["platform:cluster"] ?? {}) as Obj;
  const settings = (cluster[cluster["provider"]] ?? {}) as Obj;
  if (cluster["provider"] === "k3d") return Number(settings["servers"] ?? 1) + Number(settings["agents"] ?? 0);
  const pools = (settings["nodePools"] ?? []) as Obj[];
  const total = pools.reduce((n, p) => n + Number(p["maxNodes"] ?? p["nodeCount"] ?? p["minNodes"] ?? 1), 0);
  assert.ok(total > 0, `${env}: no node pools in platform:cluster`);
  return total;
}

/** Pod Security levels: the tree's namespaces, and argocd's (made by Pulumi, restricted). */
function levels(tree: Tree): Map<string, string> {
  const out = new Map([["argocd", "restricted"]]);
  for (const { object } of placed(tree))
    if (object["kind"] === "Namespace")
      out.set(object["metadata"]["name"], object["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]);
  return out;
}

const byName = (tree: Tree, child: string, kind: string, name?: string): Obj[] =>
  (tree.children.get(child) ?? []).filter((o) => o["kind"] === kind && (!name || o["metadata"]["name"] === name));

/** Alertmanager's routing: the receiver an alert with these labels goes to. */
function receiverFor(route: Obj, labels: Record<string, string>, inherited = ""): string {
  const receiver = route["receiver"] ?? inherited;
  for (const child of route["routes"] ?? [])
    if ((child["matchers"] ?? []).every((m: string) => matches(m, labels))) return receiverFor(child, labels, receiver);
  return receiver;
}

/** One Alertmanager matcher (`name op "value"`, op one of = != =~ !~) against an alert's labels. */
function matches(matcher: string, labels: Record<string, string>): boolean {
  const { name, op, value } = parseMatcher(matcher);
  const v = labels[name] ?? "";
  const re = new RegExp(`^(?:${value})$`);
  return op === "=" ? v === value : op === "!=" ? v !== value : op === "=~" ? re.test(v) : !re.test(v);
}

function parseMatcher(m: string): { name: string; op: string; value: string } {
  const r = /^\s*([a-zA-Z_]+)\s*(=~|!~|!=|=)\s*"?(.*?)"?\s*$/.exec(m);
  assert.ok(r, `matcher ${m}`);
  return { name: r[1] as string, op: r[2] as string, value: r[3] as string };
}

const normalRule = (r: Obj) =>
  JSON.stringify({
    source: (r["source_matchers"] ?? []).map(parseMatcher),
    target: (r["target_matchers"] ?? []).map(parseMatcher),
    equal: [...(r["equal"] ?? [])].sort(),
  });

describe("GitOps tree as Argo CD syncs it: every child rendered, Helm charts from their packages", () => {
  it("has the package of every chart version the tree pins (or says which, and how to fetch it)", () => {
    const pins = chartPins();
    assert.ok(pins.length >= 9 * ENVIRONMENTS.length, `only ${pins.length} pins`);
    for (const pin of pins) assert.ok(fs.existsSync(chartPackageOf(pin)), `${pin.chart} ${pin.version}`);
  });

  for (const env of ENVIRONMENTS) {
    describe(env, () => {
      let tree: Tree;
      before(async function () {
        this.timeout(120_000);
        tree = await renderStackFile(env);
      });

      it("renders every Helm child from its chart at the version the tree pins", () => {
        const helmApps = [...tree.apps.values()].filter((a) => !isGitSource(a));
        assert.ok(helmApps.length >= 9, `${helmApps.length} Helm apps`);
        for (const a of helmApps) {
          const { chart, version } = pinOf(a);
          const objects = tree.children.get(a["metadata"]["name"]) ?? [];
          const labelled = objects.filter((o) =>
            [o["metadata"]?.["labels"]?.["helm.sh/chart"], o["metadata"]?.["labels"]?.["chart"]].includes(
              `${chart}-${version}`,
            ),
          );
          assert.ok(labelled.length > 0, `${a["metadata"]["name"]}: nothing from ${chart} ${version}`);
        }
      });

      it("creates only kinds, in namespaces, that each app's project admits", () => {
        assert.deepEqual(projectViolations(tree), []);
      });

      it("renders objects that match Kubernetes' schemas and their CRDs at the pinned versions", async function () {
        this.timeout(60_000);
        assert.deepEqual(await schemaViolations(tree), []);
      });

      it("runs only pods that the Pod Security level of their namespace admits", () => {
        assert.deepEqual(podSecurityViolations(tree, levels(tree)), []);
      });

      it("fits every namespace's quota and limit range, at the most pods it scales to", () => {
        assert.deepEqual(quotaViolations(tree, maxNodes(env)), []);
      });

      it("lets through what every pod needs: DNS, the API server, webhook calls, scraping, ingress", () => {
        assert.deepEqual(trafficViolations(tree), []);
      });

      it("reaches, by address, the Services one child names in another", () => {
        const out: string[] = [];
        const named = (label: string) => (p: { labels: Record<string, string> }) =>
          p.labels["app.kubernetes.io/name"] === label;
        // Grafana's datasources (the chart's own, and the tree's Loki).
        const datasources = byName(tree, "kube-prometheus-stack", "ConfigMap").filter(
          (c) => c["metadata"]["labels"]?.["grafana_datasource"] === "1",
        );
        const urls = datasources.flatMap((c) =>
          Object.values(c["data"] as Record<string, string>).flatMap((d) =>
            (YAML.parse(d)["datasources"] as Obj[]).map((s) => String(s["url"])),
          ),
        );
        assert.ok(urls.some((u) => u.includes("loki")) && urls.some((u) => u.includes("prometheus")), urls.join());
        for (const url of urls)
          out.push(...callViolations(tree, named("grafana"), "Grafana datasource", url.replace(/\/$/, "")));
        // Alloy pushes logs to Loki.
        const config = byName(tree, "alloy", "ConfigMap")
          .map((c) => Object.values(c["data"]).join("\n"))
          .join("\n");
        const push = [...config.matchAll(/url\s*=\s*"([^"]+)"/g)].map((m) => m[1] as string);
        assert.ok(push.length > 0, "Alloy pushes nowhere");
        for (const url of push)
          out.push(...callViolations(tree, (p) => p.child === "alloy", "Alloy", url.replace(/\/loki\/api.*$/, "")));
        // External Secrets reads Vault.
        for (const store of byName(tree, "secret-stores", "ClusterSecretStore"))
          out.push(
            ...callViolations(
              tree,
              named("external-secrets"),
              "External Secrets",
              store["spec"]["provider"]["vault"]["server"],
            ),
          );
        // Where the tree sets Vault up by itself (dev), the setup reaches Vault at its address.
        for (const setup of vaultSetups(tree))
          out.push(
            ...callViolations(
              tree,
              (p) => p.workload === setup.workload,
              `${setup.child} (Vault's setup)`,
              setup.config["vault"],
            ),
          );
        assert.deepEqual(out, []);
      });

      it("marks the apps whose health waits on a person (and no other), which the readiness gate does not wait for", () => {
        assert.deepEqual(markViolations(tree), []);
        const marked = [...tree.apps.values()]
          .filter((a) => a["metadata"]["annotations"]?.[WAITS_FOR_ANNOTATION] !== undefined)
          .map((a) => a["metadata"]["name"])
          .sort();
        // dev sets Vault up by itself; stage and prod wait for a person to do it.
        const setups = vaultSetups(tree).map((s) => s.child);
        if (env === "dev") {
          assert.deepEqual(setups, ["vault-dev-setup"]);
          assert.deepEqual(marked, []);
        } else {
          assert.deepEqual(setups, []);
          assert.deepEqual(marked, ["kube-prometheus-stack", "observability-config", "secret-stores", "vault"]);
        }
      });

      it("scrapes every component that runs pods", () => {
        const key = (p: { child: string; namespace: string; workload: Obj }) =>
          `${p.child}/${p.namespace}/${p.workload["kind"]}/${p.workload["metadata"]["name"]}`;
        const scraped = new Set(monitorTargets(tree).flatMap((t) => t.pods.map(key)));
        const unscraped = pods(tree, 1)
          .filter((p) =>
            ["Deployment", "StatefulSet", "DaemonSet", "Prometheus", "Alertmanager"].includes(p.workload["kind"]),
          )
          .filter((p) => !scraped.has(key(p)))
          .map((p) => `${p.child}: ${p.workload["kind"]} ${p.workload["metadata"]["name"]}`);
        // Not scraped, on purpose: Argo CD's redis (no exporter in the release) and notifications
        // controller (no notifications are configured), the sample app (a team's own app: its
        // team adds its monitor), and dev's Vault setup (a loop that serves nothing; whether it
        // has done its work shows in its readiness and in Vault's own metrics).
        const unmonitored =
          /^(argocd: \w+ argocd-(redis|redis-ha-server|redis-ha-haproxy|notifications-controller)|sample-app: Deployment sample-app|vault-dev-setup: Deployment vault-dev-setup)$/;
        const known = unscraped.filter((u) => !unmonitored.test(u));
        assert.deepEqual(known, []);
      });

      it("orders the sync waves so that each sync can finish, and bounds every sync in time", () => {
        assert.deepEqual(waveViolations(tree), []);
        // What Argo CD's chart makes of the release's values: the controller's timeout, and the
        // health check through which the root's waves wait on its children.
        const [params] = byName(tree, "argocd", "ConfigMap", "argocd-cmd-params-cm");
        assert.equal(params?.["data"]["controller.sync.timeout.seconds"], String(SYNC_TIMEOUT_SECONDS));
        const [cm] = byName(tree, "argocd", "ConfigMap", "argocd-cm");
        assert.equal(cm?.["data"]["resource.customizations.health.argoproj.io_Application"], APPLICATION_HEALTH_LUA);
      });

      it("pages only on warning and critical alerts, and keeps the chart's inhibit rules", () => {
        const [secret] = byName(tree, "kube-prometheus-stack", "Secret").filter((s) =>
          s["metadata"]["name"].startsWith("alertmanager-"),
        );
        assert.ok(secret, "no Alertmanager config Secret");
        const raw = secret["data"]?.["alertmanager.yaml"]
          ? Buffer.from(secret["data"]["alertmanager.yaml"], "base64").toString("utf8")
          : secret["stringData"]["alertmanager.yaml"];
        const config = YAML.parse(raw) as Obj;
        const to = (labels: Record<string, string>) => receiverFor(config["route"], labels);
        assert.equal(to({ alertname: "KubePodCrashLooping", severity: "warning", namespace: "x" }), "platform-webhook");
        assert.equal(to({ alertname: "KubeNodeNotReady", severity: "critical" }), "platform-webhook");
        assert.equal(to({ alertname: "CPUThrottlingHigh", severity: "info", namespace: "x" }), "null");
        assert.equal(to({ alertname: "SomethingWithoutSeverity" }), "null");
        assert.equal(to({ alertname: "Watchdog", severity: "none" }), "null");
        assert.equal(to({ alertname: "InfoInhibitor", severity: "none" }), "null");
        const chart = helmDefaults(tree);
        const rules = new Set((config["inhibit_rules"] as Obj[]).map(normalRule));
        for (const r of chart)
          assert.ok(rules.has(normalRule(r)), `the chart's inhibit rule ${JSON.stringify(r)} is gone`);
      });

      if (env === "prod") {
        it("runs every fail-closed webhook and the ingress controller on several nodes, with a disruption budget", () => {
          const all = placed(tree);
          const out: string[] = [];
          // A constraint counts only the pods its selector picks: it must pick the workload's own.
          const spreadsOverNodes = (o: Obj) =>
            (o["spec"]["template"]["spec"]["topologySpreadConstraints"] ?? []).some(
              (c: Obj) =>
                c["topologyKey"] === "kubernetes.io/hostname" &&
                c["whenUnsatisfiable"] === "DoNotSchedule" &&
                c["labelSelector"] !== undefined &&
                selects(c["labelSelector"], o["spec"]["template"]["metadata"]["labels"]),
            );
          const check = (workload: Obj, ns: string, why: string, min: number) => {
            const labels = workload["spec"]["template"]["metadata"]["labels"];
            if ((workload["spec"]["replicas"] ?? 1) < min)
              out.push(`${why}: ${workload["metadata"]["name"]} runs ${workload["spec"]["replicas"] ?? 1}`);
            if (!spreadsOverNodes(workload))
              out.push(`${why}: ${workload["metadata"]["name"]} may run all its pods on one node`);
            const pdb = all.find(
              (p) =>
                p.object["kind"] === "PodDisruptionBudget" &&
                p.namespace === ns &&
                selects(p.object["spec"]["selector"], labels),
            );
            if (!pdb) out.push(`${why}: ${workload["metadata"]["name"]} has no PodDisruptionBudget`);
          };
          for (const { object } of all) {
            if (!["ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"].includes(object["kind"])) continue;
            for (const w of object["webhooks"] ?? []) {
              const s = w["clientConfig"]?.["service"];
              if (!s || (w["failurePolicy"] ?? "Fail") !== "Fail") continue;
              const svc = all.find(
                (p) =>
                  p.object["kind"] === "Service" &&
                  p.namespace === s["namespace"] &&
                  p.object["metadata"]["name"] === s["name"],
              );
              const backing = all.filter(
                (p) =>
                  p.namespace === s["namespace"] &&
                  ["Deployment", "StatefulSet"].includes(p.object["kind"]) &&
                  Object.entries(svc?.object["spec"]["selector"] ?? { none: "" }).every(
                    ([k, v]) => p.object["spec"]["template"]["metadata"]["labels"][k] === v,
                  ),
              );
              if (backing.length === 0) out.push(`webhook ${w["name"]}: no workload behind ${s["name"]}`);
              for (const b of backing) check(b.object, s["namespace"], `webhook ${w["name"]} (fails closed)`, 2);
            }
          }
          for (const p of all.filter((x) => x.child === "traefik" && x.object["kind"] === "Deployment")) {
            check(p.object, p.namespace as string, "the ingress controller", 3);
            const zones = (p.object["spec"]["template"]["spec"]["topologySpreadConstraints"] ?? []).some(
              (c: Obj) =>
                c["topologyKey"] === "topology.kubernetes.io/zone" &&
                c["labelSelector"] !== undefined &&
                selects(c["labelSelector"], p.object["spec"]["template"]["metadata"]["labels"]),
            );
            if (!zones) out.push("the ingress controller does not spread over zones");
          }
          assert.deepEqual([...new Set(out)], []);
        });
      }
    });
  }

  describe("a child Application's health, as the root's sync waves see it (the Lua check, run)", () => {
    // The same cases run on Argo CD's own interpreter, gopher-lua, in npm run e2e.
    for (const c of CHILD_HEALTH_CASES) {
      it(`${c.expect.status}: ${c.why}`, () => {
        const got = runHealthLua(APPLICATION_HEALTH_LUA, c.app);
        assert.equal(got.status, c.expect.status);
        if (c.expect.message !== undefined) assert.equal(got.message, c.expect.message);
      });
    }
  });

  describe("the checks see the defects they look for (each on a copy of dev with one defect)", () => {
    let base: Tree;
    before(async function () {
      this.timeout(120_000);
      base = await renderStackFile("dev");
    });
    const copy = (): Tree => structuredClone(base);
    const child = (t: Tree, name: string) => t.children.get(name) as Obj[];

    it("a kind the project forbids (a NetworkPolicy in a platform-tools app)", () => {
      const t = copy();
      child(t, "traefik").push({
        apiVersion: "networking.k8s.io/v1",
        kind: "NetworkPolicy",
        metadata: { name: "x" },
        spec: { podSelector: {} },
      });
      assert.match(
        projectViolations(t).join("\n"),
        /traefik: NetworkPolicy x .*not permitted in project platform-tools/,
      );
    });

    it("a namespace outside the project, and a cluster kind it does not list", () => {
      const t = copy();
      child(t, "loki").push({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "x", namespace: "vault" } });
      child(t, "loki").push({
        apiVersion: "storage.k8s.io/v1",
        kind: "StorageClass",
        metadata: { name: "fast" },
        provisioner: "x",
      });
      const found = projectViolations(t).join("\n");
      assert.match(found, /loki: ConfigMap x .*namespace vault is not a destination/);
      assert.match(found, /loki: StorageClass fast .*cluster-scoped kind not permitted/);
    });

    it("an object that breaks its CRD's schema", async () => {
      const t = copy();
      const issuer = child(t, "cert-manager-issuers").find((o) => o["kind"] === "ClusterIssuer") as Obj;
      issuer["spec"] = { selfSigned: "yes" };
      assert.match((await schemaViolations(t)).join("\n"), /ClusterIssuer/);
    });

    it("an object in an API version Kubernetes 1.35 no longer serves", async () => {
      const t = copy();
      const pdb = child(t, "traefik").find((o) => o["kind"] === "PodDisruptionBudget");
      if (pdb) pdb["apiVersion"] = "policy/v1beta1";
      else
        child(t, "traefik").push({
          apiVersion: "policy/v1beta1",
          kind: "PodDisruptionBudget",
          metadata: { name: "x" },
          spec: {},
        });
      assert.match((await schemaViolations(t)).join("\n"), /traefik: PodDisruptionBudget .*serves no policy\/v1beta1/);
    });

    it("a privileged container in a baseline namespace", () => {
      const t = copy();
      const d = child(t, "cert-manager").find((o) => o["kind"] === "Deployment") as Obj;
      d["spec"]["template"]["spec"]["containers"][0]["securityContext"] = { privileged: true };
      assert.match(
        podSecurityViolations(t, levels(t)).join("\n"),
        /cert-manager: Deployment .* \(baseline\): .*privileged/,
      );
    });

    it("a quota too small for what runs in its namespace", () => {
      const t = copy();
      const quota = child(t, "namespaces").find(
        (o) => o["kind"] === "ResourceQuota" && o["metadata"]["namespace"] === "vault",
      ) as Obj;
      quota["spec"]["hard"]["requests.memory"] = "1Mi";
      assert.match(quotaViolations(t, 1).join("\n"), /vault: quota requests.memory is 1Mi/);
    });

    it("a namespace whose policies stop its controllers reaching the API server and its webhook", () => {
      const t = copy();
      t.children.set(
        "namespaces",
        child(t, "namespaces").filter(
          (o) =>
            !(
              o["kind"] === "NetworkPolicy" &&
              o["metadata"]["namespace"] === "cert-manager" &&
              /kube-api|webhooks/.test(o["metadata"]["name"])
            ),
        ),
      );
      const found = trafficViolations(t).join("\n");
      assert.match(found, /cert-manager: Deployment cert-manager .*cannot reach the API server/);
      assert.match(found, /webhook webhook\.cert-manager\.io.*NetworkPolicies block it/);
    });

    it("a monitor that names a port no Service has, and a call to a Service that does not exist", () => {
      const t = copy();
      const monitor = child(t, "observability-config").find((o) => o["kind"] === "ServiceMonitor") as Obj;
      monitor["spec"]["endpoints"][0]["port"] = "nope";
      assert.match(trafficViolations(t).join("\n"), /ServiceMonitor argocd.* has no port nope/);
      const grafana = (p: { labels: Record<string, string> }) => p.labels["app.kubernetes.io/name"] === "grafana";
      assert.match(
        callViolations(t, grafana, "Grafana", "http://lokii.observability.svc:3100").join(),
        /lokii does not exist/,
      );
    });

    it("an app that waits on people in an early wave, and one that needs a later wave's CRD", () => {
      const t = copy();
      (t.apps.get("vault") as Obj)["metadata"]["annotations"] = { "argocd.argoproj.io/sync-wave": "-1" };
      (t.apps.get("rbac") as Obj)["metadata"]["annotations"] = { "argocd.argoproj.io/sync-wave": "-1" };
      child(t, "rbac").push({
        apiVersion: "monitoring.coreos.com/v1",
        kind: "ServiceMonitor",
        metadata: { name: "x" },
        spec: {},
      });
      (t.apps.get("vault-dev-setup") as Obj)["metadata"]["annotations"] = { "argocd.argoproj.io/sync-wave": "-1" };
      const found = waveViolations(t).join("\n");
      assert.match(found, /vault \(wave -1, before the last wave 0\): Vault is sealed/);
      assert.match(
        found,
        /vault-dev-setup \(wave -1, .*Deployment vault-dev-setup is not ready until it has set vault up/,
      );
      assert.match(
        found,
        /rbac \(wave -1\) applies ServiceMonitor, whose CRD comes from kube-prometheus-stack \(wave 0\)/,
      );
    });

    it("a PostSync hook in an app whose pods wait for a Secret from Vault, and no sync timeout", () => {
      const t = copy();
      child(t, "kube-prometheus-stack").push({
        apiVersion: "batch/v1",
        kind: "Job",
        metadata: { name: "after", annotations: { "helm.sh/hook": "post-install" } },
        spec: { template: { spec: { containers: [{ name: "x", image: "busybox:1.37.0" }] } } },
      });
      delete t.releaseValues["configs"]["params"]["controller.sync.timeout.seconds"];
      const found = waveViolations(t).join("\n");
      assert.match(
        found,
        /kube-prometheus-stack: its sync has hooks or waves after Deployment kube-prometheus-stack-grafana, so it waits on its health, and Deployment kube-prometheus-stack-grafana waits for Secret grafana-admin from Vault/,
      );
      assert.match(found, /no sync timeout/);
    });

    it("an app that waits on Vault and prunes last, and a child that keeps no history", () => {
      const t = copy();
      (t.apps.get("vault") as Obj)["spec"]["syncPolicy"]["syncOptions"].push("PruneLast=true");
      (t.apps.get("loki") as Obj)["spec"]["revisionHistoryLimit"] = 0;
      const found = waveViolations(t).join("\n");
      assert.match(found, /vault: it prunes last, so its sync waits on health after applying, and Vault is sealed/);
      assert.match(found, /loki: revisionHistoryLimit 0 leaves no history/);
    });

    it("dev without its Vault setup: every app that then waits on a person is unmarked", () => {
      const t = copy();
      t.children.set(
        "vault-dev-setup",
        child(t, "vault-dev-setup").filter((o) => o["kind"] !== "Deployment"),
      );
      const found = markViolations(t);
      assert.deepEqual(
        found.map((f) => f.split(" ")[0]).sort(),
        ["kube-prometheus-stack", "observability-config", "secret-stores", "vault"],
        found.join("\n"),
      );
      assert.match(
        found.join("\n"),
        /vault is not marked platform\.gitops\/waits-for, but Vault is sealed until someone unseals it/,
      );
    });

    it("a secret the setup does not seed, a store whose role it does not make, and a mark where nothing waits", () => {
      const t = copy();
      const config = child(t, "vault-dev-setup").find((o) => o["kind"] === "ConfigMap") as Obj;
      const setup = JSON.parse(config["data"]["setup.json"]);
      delete setup["secrets"]["observability/grafana"]["admin-password"];
      config["data"]["setup.json"] = JSON.stringify(setup);
      (t.apps.get("loki") as Obj)["metadata"]["annotations"] = { [WAITS_FOR_ANNOTATION]: "nothing" };
      let found = markViolations(t).join("\n");
      assert.match(
        found,
        /observability-config is not marked .*vault-dev-setup does not seed secret\/observability\/grafana admin-password/,
      );
      assert.match(found, /kube-prometheus-stack is not marked .*grafana-admin from Vault/);
      assert.match(
        found,
        /loki is marked platform\.gitops\/waits-for \("nothing"\), but nothing in it waits on a person/,
      );
      assert.doesNotMatch(found, /^(vault|secret-stores) /m);
      const store = child(t, "secret-stores").find((o) => o["kind"] === "ClusterSecretStore") as Obj;
      store["spec"]["provider"]["vault"]["auth"]["kubernetes"]["serviceAccountRef"]["audiences"] = ["other"];
      found = markViolations(t).join("\n");
      assert.match(found, /secret-stores is not marked .*its token is not for audience vault/);
    });

    it("a Vault setup that names an address where no Vault listens", () => {
      const t = copy();
      const config = child(t, "vault-dev-setup").find((o) => o["kind"] === "ConfigMap") as Obj;
      const setup = JSON.parse(config["data"]["setup.json"]);
      setup["vault"] = "http://vault-nope.vault.svc:8200";
      config["data"]["setup.json"] = JSON.stringify(setup);
      assert.match(markViolations(t).join("\n"), /vault is not marked .*Vault is sealed until someone unseals it/);
    });

    it("a container with only a memory limit, which Kubernetes also requests in full", () => {
      const t = copy();
      const quota = child(t, "namespaces").find(
        (o) => o["kind"] === "ResourceQuota" && o["metadata"]["namespace"] === "security",
      ) as Obj;
      quota["spec"]["hard"]["requests.memory"] = "1Gi";
      const d = child(t, "sealed-secrets").find((o) => o["kind"] === "Deployment") as Obj;
      d["spec"]["template"]["spec"]["containers"][0]["resources"] = { limits: { memory: "2Gi" } };
      assert.match(quotaViolations(t, 1).join("\n"), /security: quota requests.memory is 1Gi, .* needs [4-9]\.\d+Gi/);
    });

    it("routing that pages on info alerts (the tree's route before this fix)", () => {
      const route = {
        receiver: "platform-webhook",
        routes: [{ receiver: "null", matchers: ['alertname = "Watchdog"'] }],
      };
      assert.equal(receiverFor(route, { alertname: "X", severity: "info" }), "platform-webhook");
    });
  });
});

/** The inhibit rules of kube-prometheus-stack's own default Alertmanager config, at the pinned chart. */
function helmDefaults(tree: Tree): Obj[] {
  const app = tree.apps.get("kube-prometheus-stack");
  assert.ok(app, "no kube-prometheus-stack app");
  return chartValuesOf(pinOf(app))["alertmanager"]["config"]["inhibit_rules"];
}
