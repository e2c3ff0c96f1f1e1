import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import * as k8s from "@pulumi/kubernetes";
import * as YAML from "yaml";
import { ArgoCd, ARGOCD_CHART, chartSource } from "../components/argocd";
import { DEFAULTS } from "../components/config";
import { parsedConfig } from "./configs";
import { FAKE, plain, Secret, settle, setup, unwrap, type Recorded, type Recorder } from "./mocks";
import { containersWithoutRequests, podSpecOf, restrictedViolations, validateObject } from "./schemas";
import { chartArchive, chartDefaultValues, helmTemplate, layerBinary } from "./tools";

type Obj = Record<string, any>;

interface Installed {
  rec: Recorder;
  argocd: ArgoCd;
  release: Recorded;
  values: Obj;
  rendered: Obj[];
}

async function install(environment: "dev" | "prod", ingressPorts: { http: number; https: number }): Promise<Installed> {
  const cfg = parsedConfig(environment);
  const rec = await setup({ stack: environment });
  const provider = new k8s.Provider("cluster", { kubeconfig: "mock" });
  const argocd = new ArgoCd("argocd", { environment, settings: cfg.argocd, ingressPorts, provider });
  await settle();
  const release = rec.one("kubernetes:helm.sh/v3:Release");
  const values = plain(release.inputs["values"]) as Obj;
  const rendered = helmTemplate(cfg.argocd.chartVersion, "argocd", "argocd", values);
  return { rec, argocd, release, values, rendered };
}

const find = (objs: Obj[], kind: string, name: string): Obj => {
  const o = objs.find((x) => x["kind"] === kind && x["metadata"]?.["name"] === name);
  assert.ok(o, `rendered chart has no ${kind} ${name}`);
  return o;
};

/** Value paths we set that the chart's values.yaml does not have. */
function unknownValuePaths(values: Obj, defaults: Obj, at: string[] = []): string[] {
  // Maps the chart renders whole into ConfigMaps, whatever their keys.
  const FREE_FORM = ["configs.cm", "configs.params", "configs.rbac"];
  const out: string[] = [];
  for (const [key, value] of Object.entries(values)) {
    const here = [...at, key];
    const known = key in defaults;
    const parentIsOpenMap = Object.keys(defaults).length === 0;
    if (!known) {
      if (!parentIsOpenMap && !FREE_FORM.includes(at.join("."))) out.push(here.join("."));
      continue;
    }
    const d = defaults[key];
    if (value && typeof value === "object" && !Array.isArray(value) && d && typeof d === "object") {
      out.push(...unknownValuePaths(value, d, here));
    }
  }
  return out;
}

describe("the argo-cd chart from a mirror (platform:argocd.chartRepository)", () => {
  it("pulls from an https mirror by repository, and from an OCI registry by chart reference", () => {
    assert.deepEqual(chartSource("https://charts.example.com/argo"), {
      release: { chart: "argo-cd", repositoryOpts: { repo: "https://charts.example.com/argo" } },
      argocdRepoURL: "https://charts.example.com/argo",
      oci: false,
    });
    // Helm takes an OCI chart as oci://<registry>/<path>/<chart> with no repository; Argo CD takes
    // the registry path without the scheme, from a repository marked enableOCI.
    assert.deepEqual(chartSource("oci://registry.example.com/charts/"), {
      release: { chart: "oci://registry.example.com/charts/argo-cd" },
      argocdRepoURL: "registry.example.com/charts",
      oci: true,
    });
  });

  it("gives Argo CD an OCI repository for its own chart, in the release's and its own Application's values", async () => {
    const cfg = parsedConfig("dev");
    await setup({ stack: "dev" });
    const provider = new k8s.Provider("cluster", { kubeconfig: "mock" });
    const settings = { ...cfg.argocd, chartRepository: "oci://registry.example.com/charts" };
    const argocd = new ArgoCd("argocd", {
      environment: "dev",
      settings,
      ingressPorts: { http: 80, https: 443 },
      provider,
    });
    await settle();
    const repo = { name: "argo-cd-chart", type: "helm", url: "registry.example.com/charts", enableOCI: "true" };
    assert.deepEqual((argocd.selfManagedValues["configs"] as Obj)["repositories"], { "argo-cd-chart": repo });
    assert.equal(argocd.chartSource.argocdRepoURL, "registry.example.com/charts");
    assert.equal((parsedConfig("dev").argocd as Obj)["chartRepository"], ARGOCD_CHART.repo, "the default is argo-helm");
  });
});

describe("Argo CD", () => {
  it("tests against the same chart version the config pins", () => {
    const chart = YAML.parse(
      execFileSync(layerBinary("helm/helm"), ["show", "chart", chartArchive(DEFAULTS.argocdChartVersion)], {
        encoding: "utf8",
      }),
    );
    assert.equal(chart.name, ARGOCD_CHART.name);
    assert.equal(chart.version, DEFAULTS.argocdChartVersion);
    assert.equal(chart.appVersion, "v3.4.4");
  });

  describe("dev (k3d)", () => {
    let dev: Installed;
    before(async () => {
      dev = await install("dev", { http: 8080, https: 8443 });
    });

    it("creates the argocd namespace with Pod Security Admission set to restricted", () => {
      const ns = dev.rec.one("kubernetes:core/v1:Namespace");
      assert.deepEqual(plain(ns.inputs["metadata"]), {
        name: "argocd",
        labels: {
          "pod-security.kubernetes.io/enforce": "restricted",
          "pod-security.kubernetes.io/audit": "restricted",
          "pod-security.kubernetes.io/warn": "restricted",
        },
      });
    });

    it("installs chart argo-cd 10.1.1 from argo-helm as release argocd, atomically, with a timeout", () => {
      const i = dev.release.inputs;
      assert.equal(i["chart"], "argo-cd");
      assert.equal(i["version"], "10.1.1");
      assert.deepEqual(i["repositoryOpts"], { repo: "https://argoproj.github.io/argo-helm" });
      assert.equal(i["name"], "argocd");
      assert.equal(i["namespace"], "argocd");
      assert.equal(i["createNamespace"], false);
      assert.equal(i["atomic"], true);
      assert.equal(i["cleanupOnFail"], true);
      assert.equal(i["timeout"], 900);
    });

    it("goes through the cluster's provider, as a child of the component", () => {
      const component = dev.rec.one("platform:gitops:ArgoCd");
      for (const r of [dev.release, dev.rec.one("kubernetes:core/v1:Namespace")]) {
        assert.equal(dev.rec.providerOf(r)?.name, "cluster", `${r.name} does not use the cluster's provider`);
        assert.equal(r.parent, component.urn);
      }
    });

    it("sets the admin password from a generated password's bcrypt hash, as a secret", async () => {
      const password = dev.rec.one("random:index/randomPassword:RandomPassword");
      assert.ok((password.inputs["length"] as number) >= 24, "admin password shorter than 24 characters");
      // A secret inside the values makes all of them secret in the engine's eyes.
      const values = dev.release.inputs["values"];
      assert.ok(values instanceof Secret, "the bcrypt hash reaches Helm as plain text");
      assert.equal(
        (plain(values) as Obj)["configs"]["secret"]["argocdServerAdminPassword"],
        FAKE.adminPasswordBcrypt,
        "the chart must get the bcrypt hash, not the password",
      );
      assert.deepEqual(await unwrap(dev.argocd.adminPassword), { value: FAKE.adminPassword, secret: true });
    });

    it("stamps the admin password with the time it was made, once, so upgrades keep sessions", () => {
      const stamp = dev.rec.all("command:local:Command").find((c) => c.name === "argocd-admin-password-mtime");
      assert.ok(stamp, "no timestamp for the admin password");
      assert.equal(plain(stamp.inputs["create"]), "date -u +%Y-%m-%dT%H:%M:%SZ");
      const password = dev.rec.one("random:index/randomPassword:RandomPassword");
      assert.ok(stamp.dependencies.includes(password.urn), "a new password must get a new timestamp");
      assert.ok(stamp.inputs["triggers"] instanceof Secret, "the password reaches the trigger in plain text");
      const secret = find(dev.rendered, "Secret", "argocd-secret");
      assert.equal(Buffer.from(secret["data"]["admin.passwordMtime"], "base64").toString(), FAKE.passwordSetAt);
    });

    it("serves the UI at http://argocd.dev.127.0.0.1.nip.io:8080", async () => {
      assert.deepEqual(await unwrap(dev.argocd.url), {
        value: "http://argocd.dev.127.0.0.1.nip.io:8080",
        secret: false,
      });
      const ingress = find(dev.rendered, "Ingress", "argocd-server");
      assert.equal(ingress["spec"]["ingressClassName"], "traefik");
      assert.equal(ingress["spec"]["rules"][0]["host"], "argocd.dev.127.0.0.1.nip.io");
      assert.equal(ingress["spec"]["tls"], undefined, "no TLS on k3d");
      assert.equal(ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"]["number"], 80);
      assert.equal(
        find(dev.rendered, "ConfigMap", "argocd-cm")["data"]["url"],
        "http://argocd.dev.127.0.0.1.nip.io:8080",
      );
      assert.equal(find(dev.rendered, "ConfigMap", "argocd-cmd-params-cm")["data"]["server.insecure"], "true");
    });

    it("uses only values the chart reads", () => {
      assert.deepEqual(unknownValuePaths(dev.values, chartDefaultValues("10.1.1")), []);
    });

    it("has a value checker that does catch a key the chart does not read", () => {
      const defaults = chartDefaultValues("10.1.1");
      assert.deepEqual(unknownValuePaths({ server: { replica: 2, resources: { requests: { cpu: "1" } } } }, defaults), [
        "server.replica",
      ]);
      assert.deepEqual(unknownValuePaths({ configs: { cm: { anything: "x" }, secrets: {} } }, defaults), [
        "configs.secrets",
      ]);
    });

    it("renders read-only default RBAC and the hashed admin password into Argo CD's config", () => {
      assert.equal(find(dev.rendered, "ConfigMap", "argocd-rbac-cm")["data"]["policy.default"], "role:readonly");
      const secret = find(dev.rendered, "Secret", "argocd-secret");
      assert.equal(Buffer.from(secret["data"]["admin.password"], "base64").toString(), FAKE.adminPasswordBcrypt);
      assert.equal(find(dev.rendered, "ConfigMap", "argocd-cm")["data"]["exec.enabled"], "false");
    });

    it("runs one replica of everything with small resource requests, and no Dex", () => {
      for (const name of ["argocd-server", "argocd-repo-server", "argocd-applicationset-controller", "argocd-redis"]) {
        assert.equal(find(dev.rendered, "Deployment", name)["spec"]["replicas"], 1, name);
      }
      assert.equal(find(dev.rendered, "StatefulSet", "argocd-application-controller")["spec"]["replicas"], 1);
      assert.ok(!dev.rendered.some((o) => String(o["metadata"]["name"]).includes("dex")), "Dex is rendered");
      assert.ok(
        !dev.rendered.some((o) => String(o["metadata"]["name"]).includes("redis-ha")),
        "redis-ha is rendered in dev",
      );
      const server = find(dev.rendered, "Deployment", "argocd-server")["spec"]["template"]["spec"]["containers"][0];
      assert.deepEqual(server["resources"], { requests: { cpu: "50m", memory: "64Mi" }, limits: { memory: "256Mi" } });
    });

    it("renders only objects that match the Kubernetes schemas", async () => {
      for (const o of dev.rendered) await validateObject(o);
    });

    it("renders only pods the restricted Pod Security profile admits, with resource requests", () => {
      let pods = 0;
      for (const o of dev.rendered) {
        const spec = podSpecOf(o);
        if (!spec) continue;
        pods++;
        assert.deepEqual(restrictedViolations(spec), [], `${o["kind"]} ${o["metadata"]["name"]}`);
        assert.deepEqual(containersWithoutRequests(o), [], "every container asks for memory");
      }
      assert.ok(pods >= 6, `only ${pods} pod templates rendered`);
    });
  });

  describe("prod (HA)", () => {
    let prod: Installed;
    before(async () => {
      prod = await install("prod", { http: 80, https: 443 });
    });

    it("serves the UI over TLS at https://argocd.example.com with a cert-manager certificate", async () => {
      assert.deepEqual(await unwrap(prod.argocd.url), { value: "https://argocd.example.com", secret: false });
      const ingress = find(prod.rendered, "Ingress", "argocd-server");
      assert.deepEqual(ingress["spec"]["tls"], [{ hosts: ["argocd.example.com"], secretName: "argocd-server-tls" }]);
      assert.equal(ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"], "letsencrypt");
    });

    it("runs redis-ha and two replicas of server, repo-server and applicationset, each with a PDB", () => {
      for (const name of ["argocd-server", "argocd-repo-server", "argocd-applicationset-controller"]) {
        assert.equal(find(prod.rendered, "Deployment", name)["spec"]["replicas"], 2, name);
        const pdb = find(prod.rendered, "PodDisruptionBudget", name);
        assert.equal(pdb["spec"]["minAvailable"], 1, name);
      }
      assert.equal(find(prod.rendered, "StatefulSet", "argocd-redis-ha-server")["spec"]["replicas"], 3);
      assert.ok(
        !prod.rendered.some((o) => o["kind"] === "Deployment" && o["metadata"]["name"] === "argocd-redis"),
        "single redis in HA",
      );
    });

    it("gives prod larger resource requests than dev", () => {
      const controller = find(prod.rendered, "StatefulSet", "argocd-application-controller")["spec"]["template"][
        "spec"
      ]["containers"][0];
      assert.deepEqual(controller["resources"], {
        requests: { cpu: "500m", memory: "1Gi" },
        limits: { memory: "2Gi" },
      });
    });

    it("uses only values the chart reads", () => {
      assert.deepEqual(unknownValuePaths(prod.values, chartDefaultValues("10.1.1")), []);
    });

    it("renders only schema-valid objects and restricted-compliant pods with requests, redis-ha included", async () => {
      for (const o of prod.rendered) {
        await validateObject(o);
        const spec = podSpecOf(o);
        if (!spec) continue;
        assert.deepEqual(restrictedViolations(spec), [], `${o["kind"]} ${o["metadata"]["name"]}`);
        assert.deepEqual(containersWithoutRequests(o), [], "every container asks for memory");
      }
    });
  });
});
