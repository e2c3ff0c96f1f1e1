import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { plain, Secret, unwrap } from "./mocks";
import { runProgram, type ProgramRun } from "./program";
import { readStackConfig, ROOT, stackFile, stackNames } from "../scripts/synth/stack-config";

type Obj = Record<string, any>;

describe("the program, per stack file", () => {
  it("has a stack file for dev, stage and prod", () => {
    assert.deepEqual(stackNames(), ["dev", "prod", "stage"]);
  });

  describe("dev", () => {
    let run: ProgramRun;
    // The dev stack as a person's copy of it runs: pointed at their repository (npm run up sets it).
    const devConfig = () =>
      readStackConfig("dev", {
        "platform:gitops": { ...stackFile("dev")["platform:gitops"], repoURL: "https://github.com/acme/platform.git" },
      });
    before(async () => {
      run = await runProgram("dev", devConfig());
      if (run.error) throw run.error;
    });

    it("registers the k3d cluster, its provider, Argo CD and the GitOps bridge, and nothing else", () => {
      const types = run.recorder.resources.map((r) => `${r.type} ${r.name}`).sort();
      assert.deepEqual(types, [
        "command:local:Command argocd-admin-password-mtime",
        "command:local:Command cluster-k3d",
        "command:local:Command gitops-drain-command",
        "command:local:Command gitops-ready-command",
        "kubernetes:argoproj.io/v1alpha1:AppProject gitops-project",
        "kubernetes:argoproj.io/v1alpha1:Application gitops-root-app",
        "kubernetes:core/v1:Namespace argocd-namespace",
        "kubernetes:helm.sh/v3:Release argocd-release",
        "platform:cluster:K3d cluster",
        "platform:gitops:ArgoCd argocd",
        "platform:gitops:Bootstrap gitops",
        "platform:lifecycle:GitOpsDrain gitops-drain",
        "platform:lifecycle:ReadinessGate gitops-ready",
        "pulumi:providers:kubernetes cluster-provider",
        "random:index/randomPassword:RandomPassword argocd-admin-password",
      ]);
    });

    it("exports the cluster name, Argo CD's URL and the root app in plain text, credentials as secrets", async () => {
      const out = run.outputs!;
      // An export left undefined (no sealed-secrets key in this stack) is no stack output.
      assert.equal(out["sealedSecretsKey"], undefined);
      assert.deepEqual(
        Object.keys(out)
          .filter((k) => out[k] !== undefined)
          .sort(),
        ["argocdAdminPassword", "argocdUrl", "clusterName", "kubeconfig", "rootApp"],
      );
      assert.deepEqual(await unwrap(out["clusterName"]!), { value: "platform-dev", secret: false });
      assert.deepEqual(await unwrap(out["argocdUrl"]!), {
        value: "http://argocd.dev.127.0.0.1.nip.io:8080",
        secret: false,
      });
      assert.deepEqual(await unwrap(out["rootApp"]!), { value: "platform-root", secret: false });
      assert.equal((await unwrap(out["kubeconfig"]!)).secret, true, "kubeconfig is exported in plain text");
      assert.equal(
        (await unwrap(out["argocdAdminPassword"]!)).secret,
        true,
        "the admin password is exported in plain text",
      );
    });

    it("creates every Kubernetes object through the k3d cluster's provider, never an ambient one", () => {
      const k8sObjects = run.recorder.resources.filter((r) => r.custom && r.type.startsWith("kubernetes:"));
      assert.equal(k8sObjects.length, 4);
      for (const r of k8sObjects) {
        assert.equal(run.recorder.providerOf(r)?.name, "cluster-provider", `${r.type} ${r.name}`);
      }
      assert.ok(run.recorder.one("pulumi:providers:kubernetes").inputs["kubeconfig"] instanceof Secret);
    });

    it("builds the k3d cluster from the stack file's k3d block", () => {
      const cmd = plain(run.recorder.one("command:local:Command", "cluster-k3d").inputs) as Obj;
      const config = cmd["environment"]["PLATFORM_K3D_CONFIG"] as string;
      assert.match(config, /^servers: 1$/m);
      assert.match(config, /^agents: 2$/m);
      assert.match(config, /image: rancher\/k3s:v1\.35\.5-k3s1/);
    });

    it("warns on every run while the GitOps repository is still the example one, and only then", async () => {
      const { warnings } = await runProgram("dev");
      const example = warnings.filter((w) => w.includes("platform:gitops.repoURL is still the example"));
      assert.equal(example.length, 1, `warnings: ${JSON.stringify(warnings)}`);
      const own = readStackConfig("dev", {
        "platform:gitops": { repoURL: "https://github.com/acme/platform.git", path: "gitops/envs/dev" },
      });
      const again = await runProgram("dev", own);
      assert.deepEqual(
        again.warnings.filter((w) => w.includes("platform:gitops")),
        [],
      );
    });

    it("points the root app at the stack's GitOps source, synced automatically", () => {
      const app = plain(run.recorder.one("kubernetes:argoproj.io/v1alpha1:Application").inputs) as Obj;
      const gitops = JSON.parse(devConfig().config["platform:gitops"]!);
      const { kustomize, ...source } = app["spec"]["source"];
      assert.deepEqual(source, {
        repoURL: gitops.repoURL,
        targetRevision: gitops.targetRevision,
        path: "gitops/envs/dev",
      });
      assert.ok(kustomize["patches"].length > 0, "the root app hands the tree no stack settings");
      assert.deepEqual(app["spec"]["syncPolicy"]["automated"], { prune: true, selfHeal: true });
    });

    it("waits only where it must, so the cluster and the password are made side by side", () => {
      const deps = (name: string) =>
        run.recorder.resources
          .find((r) => r.name === name)!
          .dependencies.map((u) => u.split("::").pop())
          .sort();
      assert.deepEqual(deps("cluster-k3d"), []);
      assert.deepEqual(deps("argocd-admin-password"), [], "the password can be made while the cluster starts");
      assert.deepEqual(deps("argocd-admin-password-mtime"), ["argocd-admin-password"]);
      assert.deepEqual(deps("argocd-namespace"), [], "the namespace waits for the cluster through its provider alone");
      assert.deepEqual(deps("argocd-release"), [
        "argocd-admin-password",
        "argocd-admin-password-mtime",
        "argocd-namespace",
      ]);
      assert.deepEqual(deps("gitops-project"), ["argocd-namespace", "argocd-release"]);
      assert.deepEqual(deps("gitops-root-app"), [
        "argocd-namespace",
        "argocd-release",
        "gitops-drain-command",
        "gitops-project",
      ]);
      // The drain waits for nothing it does not need on create: Argo CD, and the cluster's kubeconfig.
      assert.deepEqual(deps("gitops-drain-command"), ["argocd-namespace", "argocd-release", "cluster-k3d"]);
    });

    it("parents every resource to a component, so `pulumi preview` shows the platform's shape", () => {
      for (const r of run.recorder.resources) {
        if (r.type.startsWith("platform:")) continue;
        assert.ok(r.parent.includes("::platform:"), `${r.type} ${r.name} is not inside a platform component`);
      }
    });
  });

  // The cloud stacks and every example a user copies: each runs, and the parts every cluster
  // kind must get right hold for all of them.
  const cloudStacks: [string, "eks" | "doks" | "gke", boolean][] = [
    ["stage", "doks", false],
    ["prod", "eks", true],
    ["examples/eks", "eks", false],
    ["examples/doks", "doks", false],
    ["examples/gke", "gke", true],
  ];
  for (const [stack, provider, prod] of cloudStacks) {
    describe(`${stack} (${provider})`, () => {
      let run: ProgramRun;
      before(async () => {
        run = await runProgram(stack);
        if (run.error) throw run.error;
      });

      it("exports the cluster's name in plain text and its kubeconfig only as a secret", async () => {
        const out = run.outputs!;
        const cluster = stackFile(stack)["platform:cluster"] as Obj;
        assert.deepEqual(await unwrap(out["clusterName"]!), { value: cluster["name"], secret: false });
        const kubeconfig = await unwrap(out["kubeconfig"]!);
        assert.equal(kubeconfig.secret, true, "kubeconfig is exported in plain text");
        assert.match(String(kubeconfig.value), /^apiVersion: v1/m);
      });

      it("creates every Kubernetes object through the cluster's own provider, fed a secret kubeconfig", () => {
        const k8sObjects = run.recorder.resources.filter((r) => r.custom && r.type.startsWith("kubernetes:"));
        assert.ok(k8sObjects.length >= 4);
        for (const r of k8sObjects) assert.equal(run.recorder.providerOf(r)?.name, "cluster-provider", r.name);
        assert.ok(run.recorder.one("pulumi:providers:kubernetes").inputs["kubeconfig"] instanceof Secret);
      });

      it(`creates every ${provider} resource through the stack's explicit ${provider} provider, never an ambient one`, () => {
        const pkg = { eks: "aws", doks: "digitalocean", gke: "gcp" }[provider];
        const cloudResources = run.recorder.resources.filter((r) => r.type.startsWith(`${pkg}:`));
        assert.ok(cloudResources.length >= 2);
        for (const r of cloudResources) {
          assert.equal(run.recorder.providerOf(r)?.type, `pulumi:providers:${pkg}`, `${r.type} ${r.name}`);
        }
      });

      it(
        prod ? "protects every resource of the cluster" : "leaves the cluster unprotected, so it can be torn down",
        () => {
          const inCluster = run.recorder.resources.filter((r) => r.parent.includes("::platform:cluster:"));
          assert.ok(inCluster.length >= 4);
          for (const r of inCluster) assert.equal(r.protect, prod, `${r.type} ${r.name}`);
        },
      );

      it("parents every resource to a component, so `pulumi preview` shows the platform's shape", () => {
        for (const r of run.recorder.resources) {
          if (r.type.startsWith("platform:")) continue;
          assert.ok(r.parent.includes("::platform:"), `${r.type} ${r.name} is not inside a platform component`);
        }
      });

      it("names every cloud resource it names from the cluster name, so two stacks never collide", () => {
        const clusterName = String((stackFile(stack)["platform:cluster"] as Obj)["name"]);
        // Names that live inside the cluster or its key ring, so the cluster already keeps them apart.
        const scoped = new Set([
          "aws:eks/nodeGroup:NodeGroup",
          "gcp:container/nodePool:NodePool",
          "gcp:kms/cryptoKey:CryptoKey",
        ]);
        let named = 0;
        for (const r of run.recorder.resources.filter((x) => x.custom && !x.type.startsWith("kubernetes:"))) {
          const i = plain(r.inputs) as Obj;
          for (const field of ["name", "namePrefix", "accountId", "nodeGroupNamePrefix"]) {
            const value: unknown = i[field];
            if (typeof value !== "string" || scoped.has(r.type) || r.type.startsWith("pulumi:")) continue;
            named++;
            const base = field === "accountId" ? clusterName.slice(0, 12) : clusterName;
            assert.ok(
              value.includes(base),
              `${r.type} ${r.name}: ${field} ${value} does not derive from ${clusterName}`,
            );
          }
        }
        assert.ok(named >= 2, `only ${named} named resources`);
      });
    });
  }

  describe("loading", () => {
    /** The cloud SDK packages a fresh Node process loaded to run one stack, and whether npm's resolver was. */
    function loadedFor(stack: string): { sdks: string[]; resolver: boolean } {
      const script = `
        const { runProgram } = require("./test/program.ts");
        runProgram(${JSON.stringify(stack)}).then((run) => {
          if (run.error) throw run.error;
          const files = Object.keys(require.cache);
          const sdks = ["aws", "gcp", "digitalocean"].filter((p) => files.some((f) => f.includes("/node_modules/@pulumi/" + p + "/")));
          console.log(JSON.stringify({ sdks: sdks.sort(), resolver: files.some((f) => f.includes("/node_modules/pacote/")) }));
        });`;
      const out = execFileSync(process.execPath, ["--require", "./scripts/register.cjs", "-e", script], {
        cwd: ROOT,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "ignore"],
      });
      return JSON.parse(out.trim().split("\n").pop()!);
    }

    it("loads only the SDK of the stack's cloud, and none for k3d", () => {
      assert.deepEqual(loadedFor("dev").sdks, []);
      assert.deepEqual(loadedFor("stage").sdks, ["digitalocean"]);
      assert.deepEqual(loadedFor("prod").sdks, ["aws"]);
      assert.deepEqual(loadedFor("examples/gke").sdks, ["gcp"]);
    });

    it("leaves the SDK's function-serialization dependencies unloaded, yet usable on first use", () => {
      assert.equal(loadedFor("prod").resolver, false, "npm's resolver was loaded: start-up is a third slower");
      const check = execFileSync(
        process.execPath,
        [
          "--require",
          "./scripts/register.cjs",
          "-e",
          'require("@pulumi/pulumi"); const sdk = require.resolve("@pulumi/pulumi"); const a = require(require.resolve("@npmcli/arborist", { paths: [sdk] })); console.log(typeof a.Arborist, "Arborist" in a)',
        ],
        { cwd: ROOT, encoding: "utf8" },
      );
      assert.equal(check.trim(), "function true");
    });
  });

  describe("bad config", () => {
    const breakages: [string, (c: Obj) => void, RegExp][] = [
      ["a misspelt key", (c) => (c["platform:clustr"] = "{}"), /^platform:clustr is not a known config key/],
      [
        "a negative agent count",
        (c) => setK3d(c, { agents: -1 }),
        /^platform:cluster\.k3d\.agents must be a whole number/,
      ],
      [
        "a floating chart",
        (c) => setJson(c, "platform:argocd", { chartVersion: "latest" }),
        /^platform:argocd\.chartVersion must be an exact/,
      ],
      [
        "a path outside the repo",
        (c) => setJson(c, "platform:gitops", { path: "../x" }),
        /^platform:gitops\.path must stay inside/,
      ],
      [
        "a repo that is not a URL",
        (c) => setJson(c, "platform:gitops", { repoURL: "nope" }),
        /^platform:gitops\.repoURL must be/,
      ],
    ];

    function setJson(c: Obj, key: string, patch: Obj): void {
      c[key] = JSON.stringify({ ...JSON.parse(c[key] ?? "{}"), ...patch });
    }
    function setK3d(c: Obj, patch: Obj): void {
      const cluster = JSON.parse(c["platform:cluster"]);
      cluster.k3d = { ...cluster.k3d, ...patch };
      c["platform:cluster"] = JSON.stringify(cluster);
    }

    const cloudBreakages: [string, string, (eks: Obj) => void, RegExp][] = [
      [
        "an EKS block without a region",
        "prod",
        (eks) => delete eks["region"],
        /^platform:cluster\.eks\.region is required/,
      ],
      [
        "a node pool whose minimum exceeds its maximum",
        "prod",
        (eks) => (eks["nodePools"] = [{ name: "system", machineType: "m6i.large", minNodes: 4, maxNodes: 3 }]),
        /^platform:cluster\.eks\.nodePools\[0\]\.minNodes must be at most maxNodes \(got 4 > 3\)$/,
      ],
      [
        "an API wider than a /8 in prod",
        "prod",
        (eks) => (eks["apiAllowedCidrs"] = ["10.0.0.0/7"]),
        /^platform:cluster\.eks\.apiAllowedCidrs must not hold 10\.0\.0\.0\/7 in prod \(nothing wider than a \/8\)/,
      ],
      [
        "an API open to all, in stage too",
        "stage",
        (doks) => (doks["apiAllowedCidrs"] = ["0.0.0.0/0"]),
        /^platform:cluster\.doks\.apiAllowedCidrs must not hold 0\.0\.0\.0\/0: that opens the Kubernetes API to the whole internet/,
      ],
      ["a misspelt DOKS key", "stage", (doks) => (doks["regoin"] = "fra1"), /did you mean "region"\?/],
    ];
    for (const [what, stack, breakIt, message] of cloudBreakages) {
      it(`stops a ${stack} stack on ${what} with one line, before any resource`, async () => {
        const cluster = structuredClone(stackFile(stack)["platform:cluster"]) as Obj;
        breakIt(cluster[cluster["provider"]] as Obj);
        const run = await runProgram(stack, readStackConfig(stack, { "platform:cluster": cluster }));
        assert.ok(run.error, "the program ran with bad config");
        assert.match(run.error.message, message);
        assert.equal(run.error.message.split("\n").length, 1, run.error.message);
        assert.deepEqual(run.recorder.resources, []);
      });
    }

    for (const [what, breakIt, message] of breakages) {
      it(`stops on ${what} with one line, before any resource`, async () => {
        const cfg = readStackConfig("dev");
        breakIt(cfg.config);
        const run = await runProgram("dev", cfg);
        assert.ok(run.error, "the program ran with bad config");
        assert.match(run.error.message, message);
        assert.equal(run.error.message.split("\n").length, 1);
        assert.deepEqual(run.recorder.resources, []);
      });
    }
  });
});
