import { strict as assert } from "node:assert";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { GitOpsBootstrap, rootApplication, rootProject } from "../components/bootstrap";
import type { GitOpsConfig } from "../components/config";
import { plain, Secret, settle, setup, unwrap, type Recorder } from "./mocks";

type Obj = Record<string, any>;

function gitops(patch: Partial<GitOpsConfig> = {}): GitOpsConfig {
  return {
    repoURL: "https://github.com/acme/platform.git",
    targetRevision: "main",
    path: "gitops/envs/dev",
    syncPolicy: "automated",
    retryLimit: 5,
    ...patch,
  };
}

/** Stand-in for ArgoCd.selfManagedValues. */
const VALUES = { global: { domain: "argocd.example.com" }, configs: { secret: { createSecret: false } } };

/** Argo CD's own validators (from its API types), loaded as the ES modules they are. */
async function argoValidators() {
  const [{ Application }, { AppProject }] = await Promise.all([
    import("@kubernetes-models/argo-cd/argoproj.io/v1alpha1/Application"),
    import("@kubernetes-models/argo-cd/argoproj.io/v1alpha1/AppProject"),
  ]);
  return {
    application: (o: unknown) => new Application(o as never).validate(),
    project: (o: unknown) => new AppProject(o as never).validate(),
  };
}

class FakeRelease extends pulumi.CustomResource {
  constructor(name: string, opts?: pulumi.CustomResourceOptions) {
    super("kubernetes:helm.sh/v3:Release", name, {}, opts);
  }
}

describe("GitOps bootstrap", () => {
  let validate: Awaited<ReturnType<typeof argoValidators>>;
  before(async () => {
    validate = await argoValidators();
  });

  describe("root Application", () => {
    it("matches Argo CD's Application schema in every sync mode", () => {
      validate.application(rootApplication(gitops(), "argocd", VALUES));
      validate.application(rootApplication(gitops({ syncPolicy: "manual", retryLimit: 0 }), "argocd", VALUES));
    });

    it("is checked by a validator that does reject a broken Application", () => {
      const app = rootApplication(gitops(), "argocd", VALUES) as Obj;
      assert.throws(() =>
        validate.application({ ...app, spec: { ...app["spec"], syncPolicy: { retry: { limit: "five" } } } }),
      );
      assert.throws(() => validate.application({ ...app, spec: { ...app["spec"], destination: "in-cluster" } }));
    });

    it("cascades on delete, syncs platform:gitops into the in-cluster argocd namespace, under its own project", () => {
      const app = rootApplication(gitops(), "argocd", VALUES) as Obj;
      assert.deepEqual(app["metadata"]["finalizers"], ["resources-finalizer.argocd.argoproj.io"]);
      assert.equal(app["metadata"]["namespace"], "argocd");
      assert.equal(app["spec"]["project"], "platform-root");
      assert.notEqual(app["spec"]["project"], "default");
      const { kustomize, ...source } = app["spec"]["source"];
      assert.deepEqual(source, {
        repoURL: "https://github.com/acme/platform.git",
        targetRevision: "main",
        path: "gitops/envs/dev",
      });
      // What the tree gets from the stack (the GitOps spec renders the tree with these).
      const ops = (kustomize["patches"] as Obj[]).map((p) => [p["target"], JSON.parse(p["patch"])]);
      assert.deepEqual(ops, [
        [
          { kind: "Application", labelSelector: "platform.gitops/source=this-repo" },
          [
            { op: "replace", path: "/spec/source/repoURL", value: "https://github.com/acme/platform.git" },
            { op: "replace", path: "/spec/source/targetRevision", value: "main" },
          ],
        ],
        [
          { kind: "AppProject", labelSelector: "platform.gitops/source=this-repo" },
          [{ op: "replace", path: "/spec/sourceRepos/0", value: "https://github.com/acme/platform.git" }],
        ],
        [
          { kind: "Application", labelSelector: "platform.gitops/values=argocd" },
          [{ op: "replace", path: "/spec/source/helm/valuesObject", value: VALUES }],
        ],
      ]);
      assert.deepEqual(app["spec"]["destination"], { server: "https://kubernetes.default.svc", namespace: "argocd" });
    });

    it("syncs automatically with prune and self-heal in dev and stage, and retries with backoff", () => {
      const policy = (rootApplication(gitops(), "argocd", VALUES) as Obj)["spec"]["syncPolicy"];
      assert.deepEqual(policy["automated"], { prune: true, selfHeal: true });
      assert.deepEqual(policy["retry"], { limit: 5, backoff: { duration: "5s", factor: 2, maxDuration: "3m" } });
    });

    it("waits for a person to sync in prod", () => {
      const policy = (rootApplication(gitops({ syncPolicy: "manual" }), "argocd", VALUES) as Obj)["spec"]["syncPolicy"];
      assert.equal(policy["automated"], undefined);
      assert.equal(policy["retry"]["limit"], 5);
    });
  });

  describe("a chart mirror", () => {
    const patches = (repo?: string) =>
      (rootApplication(gitops(), "argocd", VALUES, repo).spec.source?.kustomize?.patches ?? []).map((p) => ({
        kind: p.target?.kind,
        selector: p.target?.labelSelector,
        ops: JSON.parse(String(p.patch)) as { op: string; path: string; value: unknown }[],
      }));
    const opsOf = (all: ReturnType<typeof patches>, kind: string, selector: string) =>
      all.find((p) => p.kind === kind && p.selector === selector)?.ops ?? [];

    it("points Argo CD's own Application, and its project's sources, at the mirror", () => {
      const mirror = "https://charts.example.com/argo";
      const all = patches(mirror);
      assert.deepEqual(
        opsOf(all, "Application", "platform.gitops/values=argocd").find((o) => o.path === "/spec/source/repoURL"),
        { op: "replace", path: "/spec/source/repoURL", value: mirror },
      );
      assert.deepEqual(
        opsOf(all, "AppProject", "platform.gitops/source=this-repo").filter((o) => o.path === "/spec/sourceRepos/-"),
        [{ op: "add", path: "/spec/sourceRepos/-", value: mirror }],
        "the project must allow the mirror",
      );
    });

    it("changes nothing of the tree while the chart comes from argo-helm", () => {
      assert.deepEqual(patches("https://argoproj.github.io/argo-helm"), patches());
      assert.deepEqual(
        opsOf(patches(), "Application", "platform.gitops/values=argocd").map((o) => o.path),
        ["/spec/source/helm/valuesObject"],
      );
    });
  });

  describe("root AppProject", () => {
    it("matches Argo CD's AppProject schema", () => {
      validate.project(rootProject(gitops(), "argocd"));
    });

    it("allows only the platform repository, only Argo CD objects, only in Argo CD's namespace", () => {
      const spec = (rootProject(gitops(), "argocd") as Obj)["spec"];
      assert.deepEqual(spec["sourceRepos"], ["https://github.com/acme/platform.git"]);
      assert.deepEqual(spec["destinations"], [{ server: "https://kubernetes.default.svc", namespace: "argocd" }]);
      assert.deepEqual(spec["clusterResourceWhitelist"], [], "the root may create nothing cluster-scoped");
      assert.deepEqual(spec["namespaceResourceWhitelist"].map((r: Obj) => `${r["group"]}/${r["kind"]}`).sort(), [
        "argoproj.io/AppProject",
        "argoproj.io/Application",
        "argoproj.io/ApplicationSet",
      ]);
    });
  });

  describe("component", () => {
    async function build(
      config: GitOpsConfig,
      withServices = false,
    ): Promise<{ rec: Recorder; bootstrap: GitOpsBootstrap }> {
      const rec = await setup({ stack: "dev" });
      const provider = new k8s.Provider("cluster", { kubeconfig: "mock" });
      const ns = new k8s.core.v1.Namespace("argocd-namespace", { metadata: { name: "argocd" } }, { provider });
      const release = new FakeRelease("argocd-release", { provider });
      const storage = withServices
        ? [new k8s.storage.v1.StorageClass("gp3", { provisioner: "ebs.csi.aws.com" }, { provider })]
        : [];
      const bootstrap = new GitOpsBootstrap("gitops", {
        gitops: config,
        namespace: ns.metadata.name,
        argocdRelease: release,
        argocdValues: VALUES,
        provider,
        ...(withServices ? { readyForPlatform: storage } : {}),
      });
      await settle();
      return { rec, bootstrap };
    }

    it("applies the project and the root app only after the Argo CD release, and the app after its project", async () => {
      const { rec, bootstrap } = await build(gitops());
      const release = rec.one("kubernetes:helm.sh/v3:Release");
      const project = rec.one("kubernetes:argoproj.io/v1alpha1:AppProject");
      const app = rec.one("kubernetes:argoproj.io/v1alpha1:Application");
      assert.ok(
        project.dependencies.includes(release.urn),
        "the AppProject does not wait for the Argo CD release (CRDs)",
      );
      assert.ok(app.dependencies.includes(release.urn), "the root app does not wait for the Argo CD release (CRDs)");
      assert.ok(app.dependencies.includes(project.urn), "the root app does not depend on its project");
      assert.deepEqual(await unwrap(bootstrap.rootAppName), { value: "platform-root", secret: false });
    });

    it("has the root app, and only it, wait for the cluster's services (Cluster.readyForPlatform)", async () => {
      const { rec } = await build(gitops(), true);
      const storage = rec.one("kubernetes:storage.k8s.io/v1:StorageClass");
      const app = rec.one("kubernetes:argoproj.io/v1alpha1:Application");
      const project = rec.one("kubernetes:argoproj.io/v1alpha1:AppProject");
      assert.ok(app.dependencies.includes(storage.urn), "the root app would sync volume claims before their class");
      assert.ok(!project.dependencies.includes(storage.urn), "the project waits for what only the app's sync needs");
    });

    it("registers exactly the objects its builders describe, through the cluster's provider", async () => {
      const { rec } = await build(gitops());
      const project = rec.one("kubernetes:argoproj.io/v1alpha1:AppProject");
      const app = rec.one("kubernetes:argoproj.io/v1alpha1:Application");
      assert.deepEqual(plain(app.inputs), rootApplication(gitops(), "argocd", VALUES));
      assert.deepEqual(plain(project.inputs), rootProject(gitops(), "argocd"));
      validate.application(plain(app.inputs));
      validate.project(plain(project.inputs));
      for (const r of [project, app]) assert.equal(rec.providerOf(r)?.name, "cluster");
      assert.equal(rec.all("kubernetes:core/v1:Secret").length, 0, "no repository secret for a public repository");
    });

    it("adds a repository Secret for a private repository, kept secret, before the root app", async () => {
      const credentials = pulumi.secret({ username: "bot", password: "ghp_token" });
      const { rec } = await build(gitops({ credentials }));
      const secret = rec.one("kubernetes:core/v1:Secret");
      const app = rec.one("kubernetes:argoproj.io/v1alpha1:Application");
      assert.equal((plain(secret.inputs["metadata"]) as Obj)["labels"]["argocd.argoproj.io/secret-type"], "repository");
      assert.equal((plain(secret.inputs["metadata"]) as Obj)["namespace"], "argocd");
      assert.ok(
        secret.inputs["stringData"] instanceof Secret,
        "repository credentials reach the cluster as plain text",
      );
      assert.deepEqual(plain(secret.inputs["stringData"]), {
        type: "git",
        url: "https://github.com/acme/platform.git",
        username: "bot",
        password: "ghp_token",
      });
      assert.ok(app.dependencies.includes(secret.urn), "the root app can sync before its repository credentials exist");
      const namespace = rec.one("kubernetes:core/v1:Namespace");
      assert.deepEqual(secret.dependencies, [namespace.urn], "the Secret must wait for its namespace, and only for it");
    });
  });
});
