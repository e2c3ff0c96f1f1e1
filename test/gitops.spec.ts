/**
 * The GitOps tree (gitops/), rendered as Argo CD renders it: each environment's root with the
 * kustomize patches that platform-root carries (taken from a run of the whole program for the
 * stack), then every child Application from this repository at its own path. Every object is
 * checked against its schema and against the rules of its project.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { ARGOCD_CHART, ARGOCD_NAMESPACE, ARGOCD_RELEASE } from "../components/argocd";
import { CASCADE_FINALIZER, IN_CLUSTER } from "../components/bootstrap";
import { DEFAULTS, ENVIRONMENTS, type Environment, isPinnedImage } from "../components/config";
import { isGitSource, renderStack, renderStackFile, type Tree } from "./argocd-render";
import { podSpecOf, restrictedViolations, validateObject } from "./schemas";
import { exampleNames, readStackConfig, ROOT, stackFile, stackNames } from "../scripts/synth/stack-config";
import { helmTemplate, kustomize } from "./tools";
import { clusterScoped, isCustom } from "./tree-checks";

type Obj = Record<string, any>;

const EXACT_VERSION = /^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/;
const PSA_LEVELS = ["privileged", "baseline", "restricted"];

const ownChildren = (t: Tree): [string, Obj[]][] =>
  [...t.children].filter(([name]) => isGitSource(t.apps.get(name) as Obj));

function app(tree: Tree, name: string): Obj {
  const a = tree.apps.get(name);
  assert.ok(a, `${tree.environment} has no Application ${name}`);
  return a;
}

function values(tree: Tree, name: string): Obj {
  return app(tree, name)["spec"]["source"]["helm"]["valuesObject"];
}

function childObjects(tree: Tree, name: string, kind?: string): Obj[] {
  const objs = tree.children.get(name);
  assert.ok(objs, `${tree.environment} has no child ${name} from this repository`);
  return kind ? objs.filter((o) => o["kind"] === kind) : objs;
}

/** Namespace an object of a child lands in: its own, or its Application's destination. */
const namespaceOf = (o: Obj, application: Obj) =>
  o["metadata"]["namespace"] ?? application["spec"]["destination"]["namespace"];

/** Does a Kubernetes label selector (matchLabels, matchExpressions In) select these labels? */
function selects(selector: Obj, labels: Record<string, string>): boolean {
  const byLabels = Object.entries(selector["matchLabels"] ?? {}).every(([k, v]) => labels[k] === v);
  const byExpressions = (selector["matchExpressions"] ?? []).every((e: Obj) => {
    assert.equal(e["operator"], "In", "only In expressions are used in the tree");
    return (e["values"] as string[]).includes(labels[e["key"]] ?? "");
  });
  return byLabels && byExpressions;
}

const hours = (d: string) => {
  const m = /^(\d+)([hd])$/.exec(d);
  assert.ok(m, `duration ${d}`);
  return Number(m[1]) * (m[2] === "d" ? 24 : 1);
};
const gib = (q: string) => {
  const m = /^(\d+)(Gi|GB)$/.exec(q);
  assert.ok(m, `size ${q}`);
  return Number(m[1]);
};

describe("GitOps tree", () => {
  const trees = new Map<Environment, Tree>();
  before(async function () {
    this.timeout(120_000);
    // The committed stack of each environment: Pulumi.dev.yaml, Pulumi.stage.yaml, Pulumi.prod.yaml.
    for (const env of ENVIRONMENTS) trees.set(env, await renderStackFile(env));
  });
  const tree = (env: Environment) => trees.get(env) as Tree;

  it("has a README in every folder of a function or team, naming its owner and every app it holds", () => {
    for (const dir of ["envs", "projects", "platform", "platform/vault", "security", "observability", "workloads"]) {
      const readme = path.join(ROOT, "gitops", dir, "README.md");
      assert.ok(fs.existsSync(readme), `gitops/${dir} has no README.md`);
      const text = fs.readFileSync(readme, "utf8");
      assert.match(text, /owner/i, `gitops/${dir}/README.md names no owner`);
      const apps = path.join(ROOT, "gitops", dir, "apps");
      if (!fs.existsSync(apps)) continue;
      for (const app of kustomize(apps)) {
        assert.ok(
          text.includes(`\`${app["metadata"]["name"]}\``),
          `gitops/${dir}/README.md omits ${app["metadata"]["name"]}`,
        );
      }
    }
  });

  for (const env of ENVIRONMENTS) {
    describe(env, () => {
      it("renders, with platform-root's patches, into Argo CD objects that match Argo CD's schemas", async () => {
        const t = tree(env);
        assert.ok(t.apps.size >= 10, `only ${t.apps.size} Applications`);
        for (const o of t.objects) {
          assert.ok(["AppProject", "Application"].includes(o["kind"]), `${o["kind"]} at the root`);
          assert.equal(o["metadata"]["namespace"], ARGOCD_NAMESPACE);
          await validateObject(o);
        }
      });

      it("has one project per team, and locks the default project down", () => {
        const t = tree(env);
        assert.deepEqual([...t.projects.keys()].sort(), [
          "default",
          "platform-argocd",
          "platform-observability",
          "platform-security",
          "platform-tools",
          "workloads",
        ]);
        const locked = (t.projects.get("default") as Obj)["spec"];
        for (const key of ["sourceRepos", "destinations", "clusterResourceWhitelist", "namespaceResourceWhitelist"]) {
          assert.deepEqual(locked[key], [], `default project's ${key} is not empty`);
        }
      });

      it("fences every team project: its own repositories, namespaces and cluster kinds, no wildcards", () => {
        const t = tree(env);
        const repoURL = t.root["spec"]["source"]["repoURL"];
        for (const [name, project] of t.projects) {
          if (name === "default") continue;
          const spec = project["spec"];
          assert.equal(spec["sourceRepos"][0], repoURL, `${name} does not allow the stack's repository`);
          assert.ok(!spec["sourceRepos"].some((r: string) => r.includes("*")), name);
          for (const d of spec["destinations"]) {
            assert.equal(d["server"], IN_CLUSTER, name);
            assert.ok(d["namespace"] && !d["namespace"].includes("*"), `${name} destination ${d["namespace"]}`);
          }
          for (const k of spec["clusterResourceWhitelist"]) {
            assert.ok(
              !k["group"].includes("*") && !k["kind"].includes("*"),
              `${name} allows ${k["group"]}/${k["kind"]}`,
            );
          }
          if (name !== "platform-security") {
            const blocked: string[] = (spec["namespaceResourceBlacklist"] ?? []).map((k: Obj) => k["kind"]);
            // Argo CD's own project may apply the chart's NetworkPolicies, in argocd alone.
            const guardrails =
              name === "platform-argocd"
                ? ["LimitRange", "ResourceQuota"]
                : ["LimitRange", "NetworkPolicy", "ResourceQuota"];
            if (name === "platform-argocd")
              assert.deepEqual(
                spec["destinations"].map((d: Obj) => d["namespace"]),
                [ARGOCD_NAMESPACE],
              );
            for (const kind of guardrails) {
              assert.ok(blocked.includes(kind), `${name} can edit guardrails (${kind})`);
            }
            // Argo CD applies as cluster-admin: a team's RoleBinding could grant anything.
            if (name === "workloads") assert.ok(blocked.includes("Role") && blocked.includes("RoleBinding"), name);
          }
        }
        assert.deepEqual(
          (t.projects.get("workloads") as Obj)["spec"]["destinations"].map((d: Obj) => d["namespace"]).sort(),
          ["applications", "services", "workloads"],
        );
        assert.deepEqual((t.projects.get("workloads") as Obj)["spec"]["clusterResourceWhitelist"], []);
      });

      it("puts every Application in its team's project, with a source and a destination the project allows", () => {
        const t = tree(env);
        for (const [name, a] of t.apps) {
          const project = t.projects.get(a["spec"]["project"]);
          assert.ok(project && a["spec"]["project"] !== "default", `${name} is in project ${a["spec"]["project"]}`);
          const spec = project["spec"];
          assert.ok(spec["sourceRepos"].includes(a["spec"]["source"]["repoURL"]), `${name}: source not allowed`);
          const dest = a["spec"]["destination"];
          assert.ok(
            spec["destinations"].some(
              (d: Obj) => d["server"] === dest["server"] && d["namespace"] === dest["namespace"],
            ),
            `${name}: destination ${dest["namespace"]} not allowed by ${a["spec"]["project"]}`,
          );
        }
      });

      it("cascades every Application's deletion, except the one through which Argo CD manages itself", () => {
        for (const [name, a] of tree(env).apps) {
          const finalizers = a["metadata"]["finalizers"] ?? [];
          if (name === "argocd") assert.deepEqual(finalizers, [], "deleting argocd's app would delete Argo CD");
          else assert.deepEqual(finalizers, [CASCADE_FINALIZER], `${name} leaves its resources behind`);
        }
      });

      it("pins every chart to an exact version, and points every app from this repository at the stack's", () => {
        const t = tree(env);
        const { repoURL, targetRevision } = t.root["spec"]["source"];
        for (const [name, a] of t.apps) {
          const source = a["spec"]["source"];
          if (isGitSource(a)) {
            assert.equal(source["repoURL"], repoURL, name);
            assert.equal(source["targetRevision"], targetRevision, name);
            assert.match(source["path"], new RegExp(`^gitops/[a-z-]+/[a-z-]+/overlays/${env}$`), name);
            assert.ok(fs.existsSync(path.join(ROOT, source["path"], "kustomization.yaml")), source["path"]);
          } else {
            assert.ok(source["chart"], `${name} has neither a chart nor a path`);
            assert.match(String(source["targetRevision"]), EXACT_VERSION, `${name} chart version`);
            assert.equal(source["helm"]["releaseName"], name, `${name} release name`);
          }
        }
      });

      it(`syncs ${env === "prod" ? "only when a person presses Sync" : "automatically, pruning and healing"}, with retries`, () => {
        for (const [name, a] of tree(env).apps) {
          const policy = a["spec"]["syncPolicy"];
          if (env === "prod") assert.equal(policy["automated"], undefined, `${name} syncs by itself in prod`);
          else assert.deepEqual(policy["automated"], { prune: true, selfHeal: true }, name);
          assert.ok(policy["retry"]["limit"] >= 3, `${name} does not retry`);
          assert.ok(!(policy["syncOptions"] ?? []).includes("CreateNamespace=true"), `${name} makes its namespace`);
        }
      });

      it("applies CRD-carrying charts server-side, and lets apps of custom resources wait for their CRDs", () => {
        const t = tree(env);
        for (const name of ["argocd", "cert-manager", "external-secrets", "kube-prometheus-stack"]) {
          assert.ok(app(t, name)["spec"]["syncPolicy"]["syncOptions"].includes("ServerSideApply=true"), name);
        }
        for (const [name, objs] of t.children) {
          const custom = objs.some(isCustom);
          const options = app(t, name)["spec"]["syncPolicy"]["syncOptions"] as string[];
          if (custom) assert.ok(options.includes("SkipDryRunOnMissingResource=true"), name);
        }
      });

      it("creates every namespace it uses, each with PSA labels, a quota, a limit range and default-deny", () => {
        const t = tree(env);
        const namespaces = childObjects(t, "namespaces", "Namespace");
        const created = new Set(namespaces.map((n) => n["metadata"]["name"] as string));
        const used = new Set<string>();
        const cluster = clusterScoped(t);
        for (const [name, a] of t.apps) {
          used.add(a["spec"]["destination"]["namespace"]);
          for (const o of t.children.get(name) ?? []) if (!cluster(o)) used.add(namespaceOf(o, a));
        }
        used.delete(ARGOCD_NAMESPACE); // made by Pulumi, with its own PSA labels
        assert.deepEqual(
          [...used].filter((n) => !created.has(n)),
          [],
          "namespaces used but never created",
        );
        const guardrails = ownChildren(t).flatMap(([, objs]) => objs);
        for (const ns of created) {
          const n = namespaces.find((x) => x["metadata"]["name"] === ns) as Obj;
          const labels = n["metadata"]["labels"];
          assert.ok(PSA_LEVELS.includes(labels["pod-security.kubernetes.io/enforce"]), `${ns} enforce`);
          assert.equal(labels["pod-security.kubernetes.io/audit"], "restricted", `${ns} audit`);
          assert.equal(labels["pod-security.kubernetes.io/warn"], "restricted", `${ns} warn`);
          const inNs = (kind: string) =>
            guardrails.filter((o) => o["kind"] === kind && o["metadata"]["namespace"] === ns);
          const [quota] = inNs("ResourceQuota");
          assert.ok(quota, `${ns} has no ResourceQuota`);
          for (const key of ["requests.cpu", "requests.memory", "limits.memory", "pods", "services.loadbalancers"]) {
            assert.ok(quota["spec"]["hard"][key], `${ns} quota lacks ${key}`);
          }
          // A LoadBalancer Service allocates a node port per port, and the quota counts them.
          if (Number(quota["spec"]["hard"]["services.loadbalancers"]) > 0) {
            assert.ok(
              Number(quota["spec"]["hard"]["services.nodeports"] ?? Infinity) >= 2,
              `${ns} LB without node ports`,
            );
          }
          const [limits] = inNs("LimitRange");
          assert.ok(limits?.["spec"]["limits"][0]["defaultRequest"], `${ns} has no LimitRange with default requests`);
          const policies = inNs("NetworkPolicy");
          assert.ok(
            policies.some(
              (p) =>
                Object.keys(p["spec"]["podSelector"]).length === 0 &&
                [...p["spec"]["policyTypes"]].sort().join() === "Egress,Ingress" &&
                !p["spec"]["ingress"] &&
                !p["spec"]["egress"],
            ),
            `${ns} has no default-deny NetworkPolicy`,
          );
          assert.ok(
            policies.some((p) =>
              (p["spec"]["egress"] ?? []).some(
                (r: Obj) =>
                  r["ports"]?.some((port: Obj) => port["port"] === 53) &&
                  r["to"]?.some((to: Obj) => to["podSelector"]?.["matchLabels"]?.["k8s-app"] === "kube-dns"),
              ),
            ),
            `${ns} cannot resolve names`,
          );
          assert.ok(
            policies.some((p) =>
              (p["spec"]["ingress"] ?? []).some((r: Obj) =>
                r["from"]?.some(
                  (f: Obj) =>
                    f["namespaceSelector"]?.["matchLabels"]?.["kubernetes.io/metadata.name"] === "observability" &&
                    f["podSelector"]?.["matchLabels"]?.["app.kubernetes.io/name"] === "prometheus",
                ),
              ),
            ),
            `Prometheus cannot scrape ${ns}`,
          );
        }
        // Pods behind an Ingress are reachable by the ingress controller.
        for (const ingress of guardrails.filter((o) => o["kind"] === "Ingress")) {
          const ns = ingress["metadata"]["namespace"];
          assert.ok(
            guardrails.some(
              (p) =>
                p["kind"] === "NetworkPolicy" &&
                p["metadata"]["namespace"] === ns &&
                (p["spec"]["ingress"] ?? []).some((r: Obj) =>
                  r["from"]?.some(
                    (f: Obj) => f["podSelector"]?.["matchLabels"]?.["app.kubernetes.io/name"] === "traefik",
                  ),
                ),
            ),
            `Traefik cannot reach Ingress ${ingress["metadata"]["name"]} in ${ns}`,
          );
        }
        // Team namespaces enforce restricted; the platform's are the only exceptions.
        for (const d of (t.projects.get("workloads") as Obj)["spec"]["destinations"]) {
          const n = namespaces.find((x) => x["metadata"]["name"] === d["namespace"]) as Obj;
          assert.equal(n["metadata"]["labels"]["pod-security.kubernetes.io/enforce"], "restricted", d["namespace"]);
        }
      });

      it("pins every image, and every pod it renders meets the Pod Security level of its namespace", () => {
        const t = tree(env);
        const namespaces = childObjects(t, "namespaces", "Namespace");
        for (const [name, objs] of t.children) {
          for (const o of objs) {
            const spec = podSpecOf(o);
            if (!spec) continue;
            for (const c of [...(spec["initContainers"] ?? []), ...spec["containers"]]) {
              assert.ok(isPinnedImage(c["image"]), `${name}: ${c["image"]} floats`);
            }
            // argocd is Pulumi's namespace (restricted): test/gitops-rendered.spec.ts checks its pods.
            const ns = namespaces.find((n) => n["metadata"]["name"] === namespaceOf(o, app(t, name)));
            if (ns?.["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] === "restricted") {
              assert.deepEqual(restrictedViolations(spec), [], `${name}: ${o["kind"]} ${o["metadata"]["name"]}`);
            }
          }
        }
      });

      it("runs the sample app with the replicas of its environment", () => {
        const objs = childObjects(tree(env), "sample-app");
        const deployment = objs.find((o) => o["kind"] === "Deployment") as Obj;
        const hpa = objs.find((o) => o["kind"] === "HorizontalPodAutoscaler");
        if (env === "dev") {
          assert.equal(deployment["spec"]["replicas"], 1);
          assert.equal(hpa, undefined);
          return;
        }
        const [min, max] = env === "stage" ? [2, 5] : [3, 20];
        assert.ok(hpa, `${env} has no HorizontalPodAutoscaler`);
        assert.deepEqual([hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]], [min, max]);
        assert.equal(hpa["spec"]["scaleTargetRef"]["name"], deployment["metadata"]["name"]);
        assert.equal(deployment["spec"]["replicas"], undefined, "the Deployment would fight its autoscaler");
        const pdb = objs.find((o) => o["kind"] === "PodDisruptionBudget") as Obj;
        assert.ok(selects(pdb["spec"]["selector"], deployment["spec"]["template"]["metadata"]["labels"]));
      });

      it("takes Grafana's admin password and Alertmanager's webhook URL from Vault, never from values", () => {
        const t = tree(env);
        const stack = values(t, "kube-prometheus-stack");
        const externalSecrets = [...t.children.values()].flat().filter((o) => o["kind"] === "ExternalSecret");
        const produced = (secret: string, key: string, ns: string) =>
          externalSecrets.some(
            (e) =>
              e["metadata"]["namespace"] === ns &&
              e["spec"]["target"]["name"] === secret &&
              e["spec"]["data"].some((d: Obj) => d["secretKey"] === key),
          );
        const admin = stack["grafana"]["admin"];
        assert.equal(stack["grafana"]["adminPassword"], undefined);
        for (const key of [admin["userKey"], admin["passwordKey"]]) {
          assert.ok(produced(admin["existingSecret"], key, "observability"), `no ExternalSecret gives Grafana ${key}`);
        }
        const receivers = stack["alertmanager"]["config"]["receivers"] as Obj[];
        const webhook = receivers.flatMap((r) => r["webhook_configs"] ?? []);
        assert.ok(webhook.length > 0, "no webhook receiver");
        for (const w of webhook) {
          assert.equal(w["url"], undefined, "a webhook URL in plain values");
          const m = /^\/etc\/alertmanager\/secrets\/([^/]+)\/([^/]+)$/.exec(w["url_file"]);
          assert.ok(m, `url_file ${w["url_file"]}`);
          const [, secret = "", key = ""] = m;
          assert.ok(stack["alertmanager"]["alertmanagerSpec"]["secrets"].includes(secret), `${secret} is not mounted`);
          assert.ok(produced(secret, key, "observability"), `no ExternalSecret gives ${secret}/${key}`);
        }
        const names = receivers.map((r) => r["name"]);
        const route = stack["alertmanager"]["config"]["route"];
        for (const r of [route, ...route["routes"]]) assert.ok(names.includes(r["receiver"]), r["receiver"]);
        // Every ExternalSecret reads a store that exists and lets its namespace in.
        const stores = [...t.children.values()].flat().filter((o) => o["kind"] === "ClusterSecretStore");
        for (const e of externalSecrets) {
          const store = stores.find((s) => s["metadata"]["name"] === e["spec"]["secretStoreRef"]["name"]);
          assert.ok(store, `${e["metadata"]["name"]} reads a store that does not exist`);
          assert.ok(
            store["spec"]["conditions"].some((c: Obj) => c["namespaces"].includes(e["metadata"]["namespace"])),
            `store ${store["metadata"]["name"]} refuses namespace ${e["metadata"]["namespace"]}`,
          );
          const auth = store["spec"]["provider"]["vault"]["auth"]["kubernetes"];
          assert.ok(
            auth["role"] && auth["serviceAccountRef"]["name"],
            "the store does not log in with Kubernetes auth",
          );
          // The token is for Vault alone, and Vault's role (the setup in the Vault README) checks it.
          const [audience] = auth["serviceAccountRef"]["audiences"] ?? [];
          assert.ok(audience, "the store's token has no audience");
          const setup = fs.readFileSync(path.join(ROOT, "gitops", "platform", "vault", "README.md"), "utf8");
          const role = new RegExp(`vault write auth/kubernetes/role/${auth["role"]}[^#]*?audience=${audience}\\b`);
          assert.match(setup, role, "the Vault role's setup does not check the store's audience");
        }
      });

      it("alerts on Argo CD apps out of sync for 5 minutes and on degraded apps", () => {
        const rules = childObjects(tree(env), "observability-config", "PrometheusRule").flatMap((r) =>
          r["spec"]["groups"].flatMap((g: Obj) => g["rules"]),
        );
        const outOfSync = rules.find((r) => /argocd_app_info\{sync_status!="Synced"\}/.test(r["expr"]));
        assert.equal(outOfSync?.["for"], "5m");
        const degraded = rules.find((r) => /argocd_app_info\{health_status="Degraded"\}/.test(r["expr"]));
        assert.ok(degraded, "no alert on degraded apps");
        for (const r of rules) assert.ok(["warning", "critical"].includes(r["labels"]["severity"]), r["alert"]);
      });

      it("scrapes the metrics Services that Argo CD's chart renders with the tree's values", () => {
        const t = tree(env);
        const argocd = app(t, "argocd");
        const rendered: Obj[] = helmTemplate(
          argocd["spec"]["source"]["targetRevision"],
          ARGOCD_RELEASE,
          ARGOCD_NAMESPACE,
          argocd["spec"]["source"]["helm"]["valuesObject"],
        );
        const [monitor]: (Obj | undefined)[] = childObjects(t, "observability-config", "ServiceMonitor").filter((m) =>
          m["spec"]["namespaceSelector"]["matchNames"].includes(ARGOCD_NAMESPACE),
        );
        assert.ok(monitor, "no ServiceMonitor for the argocd namespace");
        const scraped = rendered
          .filter((o) => o["kind"] === "Service" && selects(monitor["spec"]["selector"], o["metadata"]["labels"]))
          .map((o) => o["metadata"]["name"])
          .sort();
        for (const s of [
          "argocd-application-controller-metrics",
          "argocd-repo-server-metrics",
          "argocd-server-metrics",
        ]) {
          assert.ok(scraped.includes(s), `${s} is not scraped (scraped: ${scraped.join(", ")})`);
        }
        const port = monitor["spec"]["endpoints"][0]["port"];
        for (const s of rendered.filter((o) => scraped.includes(o["metadata"]["name"]) && o["kind"] === "Service")) {
          assert.ok(
            s["spec"]["ports"].some((p: Obj) => p["name"] === port),
            `${s["metadata"]["name"]} has no ${port}`,
          );
        }
        // The chart leaves the admin password's Secret to the Pulumi release.
        assert.equal(
          rendered.filter((o) => o["kind"] === "Secret" && o["metadata"]["name"] === "argocd-secret").length,
          0,
        );
      });

      it("sizes Prometheus and Loki per environment, and runs Vault HA only in prod", () => {
        const t = tree(env);
        const prom = values(t, "kube-prometheus-stack")["prometheus"]["prometheusSpec"];
        const claim = prom["storageSpec"]["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"];
        assert.ok(hours(prom["retention"]) >= 72 && gib(claim) >= 10, `${prom["retention"]} / ${claim}`);
        assert.ok(gib(prom["retentionSize"]) < gib(claim), "retentionSize must leave room on the volume");
        const loki = values(t, "loki");
        assert.ok(
          gib(loki["singleBinary"]["persistence"]["size"]) >= 5 &&
            hours(loki["loki"]["limits_config"]["retention_period"]) >= 72,
        );
        assert.equal(loki["loki"]["compactor"]["retention_enabled"], true, "Loki keeps logs forever");
        const vault = values(t, "vault")["server"];
        if (env === "prod") {
          assert.equal(vault["ha"]["enabled"], true);
          assert.equal(vault["ha"]["replicas"], 3);
          assert.equal(vault["ha"]["raft"]["enabled"], true);
          for (let i = 0; i < 3; i++)
            assert.match(vault["ha"]["raft"]["config"], new RegExp(`vault-${i}\\.vault-internal`));
        } else {
          assert.equal(vault["ha"], undefined, `${env} runs Vault standalone`);
        }
      });

      it("issues certificates self-signed in dev and from Let's Encrypt in stage and prod", () => {
        const t = tree(env);
        const issuers = childObjects(t, "cert-manager-issuers", "ClusterIssuer");
        const acme = issuers.filter((i) => i["spec"]["acme"]);
        if (env === "dev") {
          assert.deepEqual(acme, []);
          assert.ok(issuers.some((i) => i["spec"]["selfSigned"]));
        } else {
          const le = acme.find((i) => i["metadata"]["name"] === "letsencrypt") as Obj;
          assert.equal(le["spec"]["acme"]["server"], "https://acme-v02.api.letsencrypt.org/directory");
          assert.equal(le["spec"]["acme"]["solvers"][0]["http01"]["ingress"]["ingressClassName"], "traefik");
        }
        // Every issuer an Ingress names exists.
        const names = new Set(issuers.map((i) => i["metadata"]["name"]));
        for (const ing of [...t.children.values()].flat().filter((o) => o["kind"] === "Ingress")) {
          const issuer = ing["metadata"]["annotations"]?.["cert-manager.io/cluster-issuer"];
          if (issuer) assert.ok(names.has(issuer), `Ingress ${ing["metadata"]["name"]} names issuer ${issuer}`);
        }
      });

      it("installs Traefik, the one ingress controller, behind a load balancer", () => {
        const t = tree(env);
        const v = values(t, "traefik");
        assert.equal(app(t, "traefik")["spec"]["destination"]["namespace"], "ingress");
        assert.equal(v["ingressClass"]["name"], "traefik");
        assert.equal(v["service"]["spec"]["type"], "LoadBalancer");
        assert.equal(v["service"]["type"], undefined, "chart 40+ ignores service.type (now service.spec.type)");
        assert.equal(v["deployment"]["replicas"], { dev: 1, stage: 2, prod: 3 }[env]);
      });
    });
  }

  it("hands every child the stack's repository and revision, so a fork needs no edit of the tree", async () => {
    const repoURL = "git@github.com:acme/platform.git";
    const t = await renderStack(
      "stage",
      readStackConfig("stage", {
        "platform:gitops": { repoURL, targetRevision: "release-7", path: "gitops/envs/stage" },
      }),
      { charts: false },
    );
    assert.doesNotMatch(JSON.stringify(t.objects), /your-org/);
    const own = [...t.apps.values()].filter(isGitSource);
    assert.ok(own.length >= 6);
    for (const a of own)
      assert.deepEqual([a["spec"]["source"]["repoURL"], a["spec"]["source"]["targetRevision"]], [repoURL, "release-7"]);
    for (const [name, p] of t.projects)
      if (name !== "default") assert.equal(p["spec"]["sourceRepos"][0], repoURL, name);
  });

  describe("Argo CD managing itself, for every stack file and example", () => {
    for (const stack of [...stackNames(), ...exampleNames().map((n) => `examples/${n}`)]) {
      it(`${stack}: the tree's argocd Application pins the release's chart and carries its values`, async () => {
        const t = await renderStackFile(stack, { charts: false });
        const argocd = app(t, "argocd");
        const source = argocd["spec"]["source"];
        const file = stackFile(stack);
        assert.equal(source["repoURL"], ARGOCD_CHART.repo);
        assert.equal(source["chart"], ARGOCD_CHART.name);
        assert.equal(source["helm"]["releaseName"], ARGOCD_RELEASE);
        assert.equal(argocd["spec"]["destination"]["namespace"], ARGOCD_NAMESPACE);
        const pinned = file["platform:argocd"]?.chartVersion ?? DEFAULTS.argocdChartVersion;
        assert.equal(source["targetRevision"], pinned, `gitops/envs/${t.environment}/versions.yaml pins argocd`);
        // The values platform-root hands over are the release's, but for the admin password.
        const releaseValues = t.releaseValues;
        const { configs: treeConfigs, ...treeRest } = source["helm"]["valuesObject"];
        const { configs: releaseConfigs, ...releaseRest } = releaseValues;
        assert.deepEqual(treeRest, releaseRest);
        assert.deepEqual({ ...treeConfigs, secret: undefined }, { ...releaseConfigs, secret: undefined });
        assert.deepEqual(treeConfigs["secret"], { createSecret: false });
        // The root Application is readable by every Argo CD user: no password, hash or key in it.
        assert.doesNotMatch(JSON.stringify(t.root), /\$2[aby]\$|password|PRIVATE KEY/i);
        // Where the stack serves Argo CD over TLS, the issuer it names exists in the tree.
        const annotations = releaseValues["server"]["ingress"]["annotations"] as Obj;
        const issuer = annotations["cert-manager.io/cluster-issuer"];
        if (issuer) {
          const issuers = childObjects(t, "cert-manager-issuers", "ClusterIssuer").map((i) => i["metadata"]["name"]);
          assert.ok(
            issuers.includes(issuer),
            `${stack} asks for ClusterIssuer ${issuer}; ${t.environment} has ${issuers.join(", ")}`,
          );
        }
      });
    }
  });
});
