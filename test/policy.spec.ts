import { strict as assert } from "node:assert";
import { type ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as pulumi from "@pulumi/pulumi";
import * as analyzerRpc from "@pulumi/pulumi/proto/analyzer_grpc_pb";
import * as analyzer from "@pulumi/pulumi/proto/analyzer_pb";
import { Empty } from "google-protobuf/google/protobuf/empty_pb";
import { Struct } from "google-protobuf/google/protobuf/struct_pb";
import * as YAML from "yaml";
import { ConfigError, parseConfig } from "../components/config";
import { PREVIEW_CLOUD } from "../scripts/synth/desired-state";
import { type Recorded, type Recorder, Secret } from "../scripts/synth/engine";
import { runProgram } from "../scripts/synth/run";
import { exampleNames, readStackConfig, ROOT, stackFile, stackNames } from "../scripts/synth/stack-config";

type Obj = Record<string, any>;

/** How the engine sends a value a preview does not know yet (the policy SDK's sentinel). */
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
const POLICY_DIR = path.join(ROOT, "policy");

interface Outcome {
  policy: string;
  resource: string;
  violation?: string;
  /** The rule touched a value a preview does not know: the server skips it with an advisory. */
  skipped?: string;
  notApplicable?: string;
}

/** A recorded value as the engine hands it to an analyzer: secrets unwrapped, unknowns as the sentinel. */
function asAnalyzerValue(v: unknown): unknown {
  if (pulumi.isUnknown(v)) return UNKNOWN;
  if (v instanceof Secret) return asAnalyzerValue(v.value);
  if (Array.isArray(v)) return v.map(asAnalyzerValue);
  if (v && typeof v === "object") {
    return Object.fromEntries(
      Object.entries(v)
        .filter(([, x]) => x !== undefined)
        .map(([k, x]) => [k, asAnalyzerValue(x)]),
    );
  }
  return v;
}

/**
 * The policy pack, run the way the Pulumi CLI runs it: `node policy/index.js` in the pack's folder
 * serves the analyzer gRPC protocol and prints its port; the specs call it as the engine would.
 */
class PolicyServer {
  private constructor(
    private readonly child: ChildProcess,
    private readonly client: grpc.Client & Obj,
  ) {}

  static async start(): Promise<PolicyServer> {
    const child = spawn(process.execPath, ["index.js"], { cwd: POLICY_DIR, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += String(d)));
    const port = await new Promise<string>((resolve, reject) => {
      child.stdout.once("data", (d) => resolve(String(d).trim()));
      child.once("exit", (code) => reject(new Error(`the policy pack exited (${code}) before serving: ${stderr}`)));
    });
    assert.match(port, /^\d+$/, `the policy pack printed ${port}, not a port`);
    const Client = grpc.makeGenericClientConstructor(analyzerRpc.AnalyzerService, "Analyzer");
    return new PolicyServer(child, new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure()));
  }

  stop(): void {
    this.client.close();
    this.child.kill();
  }

  call<T>(method: string, request: unknown): Promise<T> {
    return new Promise((resolve, reject) =>
      (this.client[method] as (r: unknown, cb: (e: Error | null, v: T) => void) => void).call(
        this.client,
        request,
        (e, v) => (e ? reject(e) : resolve(v)),
      ),
    );
  }

  info(): Promise<analyzer.AnalyzerInfo> {
    return this.call("getAnalyzerInfo", new Empty());
  }

  /** Every policy on every resource of a run, as `pulumi preview` would ask. */
  async evaluate(recorder: Recorder): Promise<Outcome[]> {
    const outcomes: Outcome[] = [];
    for (const r of recorder.resources.filter((x) => x.custom)) {
      const req = new analyzer.AnalyzeRequest();
      req.setType(r.type);
      req.setName(r.name);
      req.setUrn(r.urn);
      req.setProperties(Struct.fromJavaScript(asAnalyzerValue(r.inputs) as never));
      const opts = new analyzer.AnalyzerResourceOptions();
      opts.setProtect(r.protect);
      opts.setIgnorechangesList(r.ignoreChanges);
      opts.setAdditionalsecretoutputsList(r.additionalSecretOutputs);
      opts.setAliasesList(r.aliases);
      if (r.parent) opts.setParent(r.parent);
      req.setOptions(opts);
      const provider = recorder.providerOf(r);
      if (provider) {
        const p = new analyzer.AnalyzerProviderResource();
        p.setType(provider.type);
        p.setName(provider.name);
        p.setUrn(provider.urn);
        p.setProperties(Struct.fromJavaScript(asAnalyzerValue(provider.inputs) as never));
        req.setProvider(p);
      }
      const resp = await this.call<analyzer.AnalyzeResponse>("analyze", req);
      const resource = `${r.type}::${r.name}`;
      for (const d of resp.getDiagnosticsList()) {
        const message = d.getMessage().replace(`${d.getDescription()}\n`, "");
        outcomes.push(
          message.startsWith("can't run policy")
            ? { policy: d.getPolicyname(), resource, skipped: message }
            : { policy: d.getPolicyname(), resource, violation: message },
        );
      }
      for (const n of resp.getNotApplicableList()) {
        outcomes.push({ policy: n.getPolicyName(), resource, notApplicable: n.getReason() });
      }
    }
    return outcomes;
  }
}

const violations = (o: Outcome[]) => o.filter((x) => x.violation).map((x) => `${x.policy}: ${x.violation}`);

/** A run's recorder with one resource's inputs or options changed, for the mutation checks. */
function mutated(recorder: Recorder, type: string, change: (r: Recorded) => void): Recorder {
  const copy = Object.create(Object.getPrototypeOf(recorder)) as Recorder;
  const resources = recorder.resources.map((r) => (r.type === type ? structuredClone(r) : r));
  Object.assign(copy, { resources, calls: recorder.calls });
  const target = resources.filter((r) => r.type === type);
  assert.ok(target.length > 0, `no ${type} to change`);
  target.forEach(change);
  return copy;
}

async function previewRun(stack: string, overrides?: Record<string, unknown>): Promise<Recorder> {
  const config = overrides ? readStackConfig(stack, overrides) : undefined;
  const run = await runProgram(stack, {
    cloud: PREVIEW_CLOUD,
    preview: true,
    echoWarnings: false,
    ...(config ? { config } : {}),
  });
  if (run.error) throw run.error;
  return run.recorder;
}

describe("the policy pack (policy/)", () => {
  const runs = new Map<string, Recorder>();
  const targets = [...stackNames(), ...exampleNames().map((e) => `examples/${e}`)];
  let server: PolicyServer;
  const evaluate = (recorder: Recorder) => server.evaluate(recorder);
  before(async () => {
    server = await PolicyServer.start();
    for (const t of targets) runs.set(t, await previewRun(t));
  });
  after(() => server.stop());

  it("is a Node.js pack the CLI can load: PulumiPolicy.yaml, a versioned package.json, an entry that strips types", () => {
    const manifest = YAML.parse(fs.readFileSync(path.join(ROOT, "policy", "PulumiPolicy.yaml"), "utf8")) as Obj;
    assert.equal(manifest["runtime"], "nodejs");
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "policy", "package.json"), "utf8")) as Obj;
    assert.match(String(pkg["version"]), /^\d+\.\d+\.\d+$/, "PolicyPack reads its version from package.json");
    assert.equal(pkg["dependencies"], undefined, "the pack's dependencies are the project's (one npm ci)");
    const entry = fs.readFileSync(path.join(ROOT, "policy", pkg["main"] as string), "utf8");
    assert.match(entry, /require\("\.\.\/scripts\/register\.cjs"\)/);
    const root = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as Obj;
    assert.match(String(root["dependencies"]["@pulumi/policy"]), /^\d+\.\d+\.\d+$/, "@pulumi/policy must be pinned");
  });

  it("serves the guardrails the platform promises, each mandatory", async () => {
    const info = await server.info();
    assert.equal(info.getName(), "platform-guardrails");
    const mandatory = analyzer.EnforcementLevel.MANDATORY;
    assert.deepEqual(
      info.getPoliciesList().map((p) => [p.getName(), p.getEnforcementlevel()]),
      [
        ["prod-clusters-protected", mandatory],
        ["cluster-api-not-public", mandatory],
        ["cluster-secrets-encrypted", mandatory],
        ["chart-versions-pinned", mandatory],
        ["applications-cascade-delete", mandatory],
        ["kubeconfigs-secret", mandatory],
      ],
    );
  });

  for (const target of ["dev", "stage", "prod", "examples/doks", "examples/eks", "examples/gke"]) {
    it(`${target}: passes every rule, and no rule is skipped for a value unknown in a preview`, async () => {
      const outcomes = await evaluate(runs.get(target)!);
      assert.deepEqual(violations(outcomes), []);
      assert.deepEqual(
        outcomes.filter((o) => o.skipped).map((o) => `${o.policy} on ${o.resource}: ${o.skipped}`),
        [],
      );
    });
  }

  it("checks the cluster of every cloud stack (the rules do run, not only pass)", async () => {
    for (const t of ["stage", "prod", "examples/doks", "examples/eks", "examples/gke"]) {
      const recorder = runs.get(t)!;
      const cluster = recorder.resources.find((r) =>
        /\/(cluster:Cluster|kubernetesCluster:KubernetesCluster)$/.test(r.type),
      )!;
      const rules = [
        "cluster-api-not-public",
        ...(cluster.type.startsWith("digitalocean:") ? [] : ["cluster-secrets-encrypted"]),
      ];
      for (const rule of rules) {
        const broken = await evaluate(
          mutated(recorder, cluster.type, (r) => {
            r.inputs = {};
          }),
        );
        assert.ok(
          violations(broken).some((v) => v.startsWith(`${rule}: `)),
          `${rule} passed an empty ${cluster.type} in ${t}`,
        );
      }
    }
  });

  describe("fails what it should", () => {
    it("an unprotected prod cluster, through the stack's own config", async () => {
      const recorder = await previewRun("prod", {
        "platform:cluster": { ...(stackFile("prod")["platform:cluster"] as Obj), protect: false },
      });
      assert.deepEqual(violations(await evaluate(recorder)), [
        "prod-clusters-protected: prod cluster cluster-eks must be protected (platform:cluster.protect)",
        "prod-clusters-protected: prod cluster cluster-eks must have the cloud's deletion protection on (deletionProtection: true)",
      ]);
    });

    it("but not an unprotected stage cluster", async () => {
      const stage = runs.get("stage")!;
      assert.equal(stage.one("digitalocean:index/kubernetesCluster:KubernetesCluster").protect, false);
      assert.deepEqual(violations(await evaluate(stage)), []);
    });

    it("a GKE prod cluster without deletion protection, and a cluster with no environment tag", async () => {
      const gke = runs.get("examples/gke")!;
      const type = "gcp:container/cluster:Cluster";
      assert.deepEqual(
        violations(await evaluate(mutated(gke, type, (r) => (r.inputs["deletionProtection"] = false)))),
        [
          "prod-clusters-protected: prod cluster cluster-gke must have the cloud's deletion protection on (deletionProtection: true)",
        ],
      );
      assert.deepEqual(violations(await evaluate(mutated(gke, type, (r) => delete r.inputs["resourceLabels"]))), [
        "prod-clusters-protected: cluster-gke carries no platform-environment tag, so the guardrails cannot tell whether it is prod",
      ]);
    });

    it("an API open to the internet or without private access, on each cloud", async () => {
      const eks = "aws:eks/cluster:Cluster";
      const vpc = (r: Recorded) => r.inputs["vpcConfig"] as Obj;
      assert.deepEqual(
        violations(
          await evaluate(mutated(runs.get("prod")!, eks, (r) => (vpc(r)["publicAccessCidrs"] = ["0.0.0.0/0"]))),
        ),
        [
          "cluster-api-not-public: cluster-eks: vpcConfig.publicAccessCidrs must not hold 0.0.0.0/0: that opens the Kubernetes API to the whole internet; list the networks your operators and CI run from",
        ],
      );
      assert.deepEqual(
        violations(await evaluate(mutated(runs.get("prod")!, eks, (r) => (vpc(r)["endpointPrivateAccess"] = false)))),
        ["cluster-api-not-public: cluster-eks: vpcConfig.endpointPrivateAccess must be true"],
      );
      const gke = "gcp:container/cluster:Cluster";
      assert.deepEqual(
        violations(
          await evaluate(
            mutated(runs.get("examples/gke")!, gke, (r) => {
              (r.inputs["masterAuthorizedNetworksConfig"] as Obj)["cidrBlocks"] = [{ cidrBlock: "0.0.0.0/0" }];
            }),
          ),
        ),
        [
          "cluster-api-not-public: cluster-gke: masterAuthorizedNetworksConfig.cidrBlocks must not hold 0.0.0.0/0: that opens the Kubernetes API to the whole internet; list the networks your operators and CI run from",
        ],
      );
      const doks = "digitalocean:index/kubernetesCluster:KubernetesCluster";
      assert.deepEqual(
        violations(
          await evaluate(
            mutated(runs.get("stage")!, doks, (r) => ((r.inputs["controlPlaneFirewall"] as Obj)["enabled"] = false)),
          ),
        ),
        ["cluster-api-not-public: cluster-doks: controlPlaneFirewall.enabled must be true"],
      );
    });

    it("the same API rule as the config check: what one refuses, the other refuses", async () => {
      const doks = "digitalocean:index/kubernetesCluster:KubernetesCluster";
      const block = stackFile("stage")["platform:cluster"] as Obj;
      const lists = [[], ["0.0.0.0/0"], ["10.1.0.0/16", "0.0.0.0/0"], ["0.0.0.0/1"], ["10.0.0.0/7"], ["10.0.0.0/8"]];
      for (const environment of ["stage", "prod"]) {
        for (const cidrs of lists) {
          const stack = readStackConfig("stage", {
            "platform:environment": environment,
            "platform:cluster": { ...block, doks: { ...block["doks"], apiAllowedCidrs: cidrs } },
          });
          let refused: string[] = [];
          try {
            parseConfig(stack.config, "stage", (k) => stack.secretKeys.includes(k));
          } catch (e) {
            if (!(e instanceof ConfigError)) throw e;
            refused = e.problems.filter((p) => p.startsWith("platform:cluster.doks.apiAllowedCidrs "));
          }
          const changed = mutated(runs.get("stage")!, doks, (r) => {
            (r.inputs["controlPlaneFirewall"] as Obj)["allowedAddresses"] = cidrs;
            r.inputs["tags"] = (r.inputs["tags"] as string[]).map((t) =>
              t.startsWith("platform-environment:") ? `platform-environment:${environment}` : t,
            );
          });
          const violated = violations(await evaluate(changed)).filter((v) => v.startsWith("cluster-api-not-public: "));
          const what = `${JSON.stringify(cidrs)} in ${environment}`;
          assert.equal(violated.length > 0, refused.length > 0, `config and policy disagree on ${what}`);
          // The same phrase, after each side's own key.
          assert.deepEqual(
            violated.map((v) => v.replace(/^.*controlPlaneFirewall\.allowedAddresses /, "")),
            refused.map((p) => p.replace(/^platform:cluster\.doks\.apiAllowedCidrs /, "").replace(/ \(got .*\)$/, "")),
            what,
          );
        }
      }
    });

    it("Secrets not encrypted with the account's key, on EKS and GKE; DOKS is not applicable", async () => {
      assert.deepEqual(
        violations(
          await evaluate(
            mutated(runs.get("prod")!, "aws:eks/cluster:Cluster", (r) => delete r.inputs["encryptionConfig"]),
          ),
        ),
        ['cluster-secrets-encrypted: cluster-eks: encryptionConfig must encrypt "secrets" with a KMS key'],
      );
      assert.deepEqual(
        violations(
          await evaluate(
            mutated(runs.get("examples/gke")!, "gcp:container/cluster:Cluster", (r) => {
              r.inputs["databaseEncryption"] = { state: "DECRYPTED" };
            }),
          ),
        ),
        ["cluster-secrets-encrypted: cluster-gke: databaseEncryption.state must be ENCRYPTED (a Cloud KMS key)"],
      );
      const doks = (await evaluate(runs.get("stage")!)).filter(
        (o) => o.policy === "cluster-secrets-encrypted" && o.notApplicable,
      );
      assert.deepEqual(
        doks.map((o) => o.resource),
        ["digitalocean:index/kubernetesCluster:KubernetesCluster::cluster-doks"],
      );
    });

    it("a chart version that is a range, a wildcard or missing", async () => {
      for (const version of ["^10.1.1", "10.1.x", "", undefined, "latest"]) {
        const changed = mutated(runs.get("dev")!, "kubernetes:helm.sh/v3:Release", (r) => {
          if (version === undefined) delete r.inputs["version"];
          else r.inputs["version"] = version;
        });
        assert.deepEqual(violations(await evaluate(changed)), [
          `chart-versions-pinned: argocd-release: chart argo-cd must be pinned to an exact version (got ${JSON.stringify(version ?? null)})`,
        ]);
      }
    });

    it("an Application without the cascade finalizer", async () => {
      const changed = mutated(runs.get("dev")!, "kubernetes:argoproj.io/v1alpha1:Application", (r) => {
        (r.inputs["metadata"] as Obj)["finalizers"] = [];
      });
      assert.deepEqual(violations(await evaluate(changed)), [
        "applications-cascade-delete: gitops-root-app: metadata.finalizers must hold resources-finalizer.argocd.argoproj.io",
      ]);
    });

    it("a kubeconfig that comes back in plain text", async () => {
      const k3d = mutated(runs.get("dev")!, "command:local:Command", (r) => (r.additionalSecretOutputs = []));
      assert.deepEqual(violations(await evaluate(k3d)), [
        "kubeconfigs-secret: cluster-k3d: prints a kubeconfig, so stdout must be in additionalSecretOutputs",
      ]);
      const doks = mutated(
        runs.get("stage")!,
        "digitalocean:index/kubernetesCluster:KubernetesCluster",
        (r) => (r.additionalSecretOutputs = []),
      );
      assert.deepEqual(violations(await evaluate(doks)), [
        "kubeconfigs-secret: cluster-doks: kubeConfigs must be in additionalSecretOutputs",
      ]);
    });
  });
});
