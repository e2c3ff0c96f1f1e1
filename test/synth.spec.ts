import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as YAML from "yaml";
import { main, parseArgs } from "../scripts/synth";
import { SECRET, SynthError, synthesize, UNKNOWN } from "../scripts/synth/desired-state";
import { exampleNames, readStackConfig, ROOT, stackNames } from "../scripts/synth/stack-config";

type Obj = Record<string, any>;

const TARGETS = [...stackNames(), ...exampleNames().map((e) => `examples/${e}`)];
const CANARY = "canary-9f4e1c-must-never-appear";

/** The first line where two texts differ, for a failure message a reviewer can act on. */
function firstDifference(actual: string, expected: string): string {
  const a = actual.split("\n");
  const e = expected.split("\n");
  const i = a.findIndex((line, n) => line !== e[n]);
  const at = i === -1 ? Math.min(a.length, e.length) : i;
  return `line ${at + 1}: committed ${JSON.stringify(e[at])}, program ${JSON.stringify(a[at])}`;
}

function resource(doc: Obj, id: string): Obj {
  const found = (doc["resources"] as Obj[]).filter((r) => r["resource"] === id);
  assert.equal(found.length, 1, `expected one ${id}`);
  return found[0]!;
}

async function captured(fn: () => Promise<number>): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = console.log;
  const error = console.error;
  console.log = (...a: unknown[]) => out.push(a.join(" "));
  console.error = (...a: unknown[]) => err.push(a.join(" "));
  try {
    return { code: await fn(), out: out.join("\n"), err: err.join("\n") };
  } finally {
    console.log = log;
    console.error = error;
  }
}

describe("npm run synth: each stack's desired state, without the CLI or a cloud", () => {
  const texts = new Map<string, string>();
  before(async () => {
    for (const target of TARGETS) texts.set(target, await synthesize(target));
  });

  for (const target of TARGETS) {
    it(`${target} matches the committed synth/${target}.yaml (update with \`npm run synth -- --all\`)`, () => {
      const file = path.join(ROOT, "synth", `${target}.yaml`);
      assert.ok(fs.existsSync(file), `synth/${target}.yaml is missing; run \`npm run synth -- --all\``);
      const committed = fs.readFileSync(file, "utf8");
      const actual = texts.get(target)!;
      assert.ok(
        actual === committed,
        `synth/${target}.yaml is out of date (${firstDifference(actual, committed)}); run \`npm run synth -- --all\` and review the diff`,
      );
    });
  }

  it("is byte-identical from run to run", async () => {
    assert.equal(await synthesize("prod"), texts.get("prod"));
  });

  it("lists every resource once, sorted, with its parent and provider", () => {
    const doc = YAML.parse(texts.get("prod")!) as Obj;
    const ids = (doc["resources"] as Obj[]).map((r) => String(r["resource"]));
    assert.equal(new Set(ids).size, ids.length, "a resource appears twice");
    const app = resource(doc, "kubernetes:argoproj.io/v1alpha1:Application::gitops-root-app");
    assert.equal(app["parent"], "platform:gitops:Bootstrap::gitops");
    assert.equal(app["provider"], "pulumi:providers:kubernetes::cluster-provider");
    assert.deepEqual(app["inputs"]["metadata"]["finalizers"], ["resources-finalizer.argocd.argoproj.io"]);
  });

  it("shows the options that matter: protect, explicit dependsOn, ignoreChanges, secret outputs", () => {
    const prod = YAML.parse(texts.get("prod")!) as Obj;
    const eks = resource(prod, "aws:eks/cluster:Cluster::cluster-eks");
    assert.equal(eks["protect"], true, "prod's cluster must show as protected");
    const app = resource(prod, "kubernetes:argoproj.io/v1alpha1:Application::gitops-root-app");
    assert.deepEqual(app["dependsOn"], [
      "aws:eks/addon:Addon::cluster-aws-ebs-csi-driver",
      "aws:eks/addon:Addon::cluster-coredns",
      "aws:eks/addon:Addon::cluster-metrics-server",
      "command:local:Command::gitops-drain-command",
      "kubernetes:argoproj.io/v1alpha1:AppProject::gitops-project",
      "kubernetes:helm.sh/v3:Release::argocd-release",
      "kubernetes:storage.k8s.io/v1:StorageClass::cluster-gp3",
    ]);
    // The node group's size is Pulumi's (no autoscaler), and the cluster keeps the access flag it was made with.
    const pool = resource(prod, "aws:eks/nodeGroup:NodeGroup::cluster-system");
    assert.equal(pool["ignoreChanges"], undefined);
    assert.deepEqual(eks["ignoreChanges"], ["accessConfig.bootstrapClusterCreatorAdminPermissions"]);
    assert.deepEqual(resource(prod, "kubernetes:helm.sh/v3:Release::argocd-release")["ignoreChanges"], ["*"]);
    const dev = YAML.parse(texts.get("dev")!) as Obj;
    const k3d = resource(dev, "command:local:Command::cluster-k3d");
    assert.deepEqual(k3d["secretOutputs"], ["stdout"]);
    assert.equal(resource(dev, "command:local:Command::cluster-k3d")["protect"], undefined, "dev is unprotected");
  });

  it("shows what only the cloud knows as a placeholder", () => {
    const prod = YAML.parse(texts.get("prod")!) as Obj;
    const eks = resource(prod, "aws:eks/cluster:Cluster::cluster-eks")["inputs"];
    assert.equal(eks["roleArn"], UNKNOWN);
    assert.ok((eks["vpcConfig"]["subnetIds"] as unknown[]).every((s) => s === UNKNOWN));
    assert.equal(prod["outputs"]["clusterName"], "platform-prod", "a name the program chose is known");
  });

  it("lists the stand-in answers it gave for the cloud's lookups", () => {
    const doks = YAML.parse(texts.get("examples/doks")!) as Obj;
    const prefix = String(JSON.parse(readStackConfig("examples/doks").config["platform:cluster"]!).doks.versionPrefix);
    const lookup = (doks["lookups"] as Obj[]).find((l) => String(l["function"]).endsWith("getKubernetesVersions"));
    assert.ok(lookup, "the DOKS version lookup is not listed");
    // The config's "1.35" asks DigitalOcean for "1.35." (so that 1.3 cannot match 1.35).
    assert.equal(lookup["args"]["versionPrefix"], `${prefix.replace(/\.$/, "")}.`);
    const cluster = (doks["resources"] as Obj[]).find((r) =>
      r["resource"].startsWith("digitalocean:index/kubernetesCluster"),
    );
    assert.equal(cluster?.["inputs"]["version"], lookup["answer"]["latestVersion"]);
  });

  it("keeps the program's warnings", () => {
    const dev = YAML.parse(texts.get("dev")!) as Obj;
    assert.ok(
      (dev["warnings"] as string[]).some((w) => w.startsWith("platform:gitops.repoURL is still the example")),
      JSON.stringify(dev["warnings"]),
    );
  });

  it("writes [secret] for secret config and every value made from it, never the value", async () => {
    const config = readStackConfig("dev", {
      "platform:gitopsCredentials": { username: "bot", password: CANARY },
    });
    config.secretKeys.push("platform:gitopsCredentials");
    const text = await synthesize("dev", config);
    assert.ok(!text.includes(CANARY), "a secret's value reached the desired state");
    const doc = YAML.parse(text) as Obj;
    assert.equal(doc["config"]["platform:gitopsCredentials"], SECRET);
    const repoSecrets = (doc["resources"] as Obj[]).filter((r) =>
      r["resource"].startsWith("kubernetes:core/v1:Secret::"),
    );
    assert.equal(repoSecrets.length, 1, "the repository credentials Secret is missing");
    assert.ok(
      JSON.stringify(repoSecrets[0]!["inputs"]).includes(JSON.stringify(SECRET)),
      "its data is not marked [secret]",
    );
  });

  it("synthesizes a stack of kind existing, whose encrypted kubeconfig it cannot read, with a placeholder one", async () => {
    const config = readStackConfig("dev", {
      "platform:cluster": { provider: "existing", existing: { context: "kind-platform" } },
      "platform:argocd": { hostname: "argocd.example.com" },
      "platform:kubeconfig": { secure: "v1:c2VjcmV0" },
    });
    const doc = YAML.parse(await synthesize("dev", config)) as Obj;
    assert.equal(doc["config"]["platform:kubeconfig"], SECRET);
    const provider = resource(doc, "pulumi:providers:kubernetes::cluster-provider");
    assert.equal(provider["inputs"]["clusterIdentifier"], "existing:https://kubernetes.invalid");
    assert.equal(provider["inputs"]["kubeconfig"], SECRET);
  });

  it("stops with every problem of a bad stack, one line each, as the program reports them", async () => {
    const bad = readStackConfig("dev", {
      "platform:cluster": { provider: "k3d", k3d: { agents: -1 } },
      "platform:argocd": { chartVersion: "10.2.0" },
    });
    await assert.rejects(synthesize("dev", bad), (e: Error) => {
      assert.ok(e instanceof SynthError);
      const lines = e.message.split("\n");
      assert.equal(lines.length, 2, e.message);
      assert.match(
        lines[0] ?? "",
        /^dev: platform:cluster\.k3d\.agents must be a whole number from 0 to 10 \(got -1\)$/,
      );
      assert.match(lines[1] ?? "", /^dev: platform:argocd\.chartVersion must be 10\.1\.1, /);
      return true;
    });
  });

  describe("the command line", () => {
    it("takes stacks, stack files, or --all (every stack file and example)", () => {
      assert.deepEqual(parseArgs(["prod", "Pulumi.dev.yaml"]).stacks, ["prod", "dev"]);
      assert.deepEqual(parseArgs(["--all"]).stacks, TARGETS);
      assert.equal(parseArgs(["dev", "--out", "x"]).out, path.resolve("x"));
    });

    it("refuses bad arguments with one line naming them", () => {
      assert.throws(() => parseArgs([]), /^Error: name a stack or give --all; usage: npm run synth/);
      assert.throws(() => parseArgs(["--al"]), /^Error: unknown option --al; usage/);
      assert.throws(() => parseArgs(["dev", "--out"]), /^Error: --out needs a directory; usage/);
      assert.throws(
        () => parseArgs(["qa"]),
        /^Error: no stack file for "qa" \(Pulumi\.qa\.yaml\); stacks: dev, prod, stage, examples\/doks/,
      );
    });

    it("writes a file, leaves it when unchanged, and --check fails on a stale one", async () => {
      const out = fs.mkdtempSync(path.join(os.tmpdir(), "synth-"));
      try {
        const first = await captured(() => main(["dev", "--out", out]));
        assert.equal(first.code, 0, first.err);
        assert.equal(fs.readFileSync(path.join(out, "dev.yaml"), "utf8"), texts.get("dev"));
        assert.match(first.out, /dev\.yaml: written$/);
        assert.equal((await captured(() => main(["dev", "--out", out, "--check"]))).code, 0);

        fs.appendFileSync(path.join(out, "dev.yaml"), "# edited by hand\n");
        const stale = await captured(() => main(["dev", "--out", out, "--check"]));
        assert.equal(stale.code, 1);
        assert.match(stale.err, /dev\.yaml: differs from the program/);
        assert.match(stale.err, /run `npm run synth -- --all`/);
        assert.match(fs.readFileSync(path.join(out, "dev.yaml"), "utf8"), /edited by hand/, "--check must not write");

        const bad = await captured(() => main(["--bogus"]));
        assert.equal(bad.code, 2);
      } finally {
        fs.rmSync(out, { recursive: true, force: true });
      }
    });
  });
});
