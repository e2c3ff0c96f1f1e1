import { strict as assert } from "node:assert";
import { compareVersions, doTags } from "../components/cluster/doks";
import { doksLive, fakeCloud, FAKE, plain, Secret, unwrap } from "./mocks";
import { runProgram, type ProgramRun } from "./program";
import { readStackConfig, stackFile } from "../scripts/synth/stack-config";
import { useKubeconfig } from "./tools";

type Obj = Record<string, any>;

describe("DOKS cluster", () => {
  it("turns key/value tags into DigitalOcean's flat tags", () => {
    assert.deepEqual(doTags({ "platform-cluster": "platform-stage", "managed-by": "pulumi", odd: "a b/c" }), [
      "platform-cluster:platform-stage",
      "managed-by:pulumi",
      "odd:a-b-c",
    ]);
  });

  describe("stage", () => {
    let run: ProgramRun;
    let cfg: Obj;
    let name: string;
    const cluster = () =>
      plain(run.recorder.one("digitalocean:index/kubernetesCluster:KubernetesCluster").inputs) as Obj;
    before(async () => {
      run = await runProgram("stage");
      if (run.error) throw run.error;
      const block = stackFile("stage")["platform:cluster"] as Obj;
      cfg = block["doks"];
      name = block["name"];
    });

    it("puts the cluster in its own VPC in the configured region", () => {
      const vpc = plain(run.recorder.one("digitalocean:index/vpc:Vpc").inputs) as Obj;
      assert.equal(vpc["name"], `${name}-vpc`);
      assert.equal(vpc["region"], cfg["region"]);
      assert.equal(vpc["ipRange"], cfg["vpcCidr"]);
      assert.equal(cluster()["vpcUuid"], "cluster-vpc-id");
      assert.equal(cluster()["region"], cfg["region"]);
    });

    it("gives the VPC's delete the time the cluster's droplets take to leave it", () => {
      // terraform-provider-digitalocean, digitalocean/vpc/resource_vpc.go: the cluster's delete
      // returns at once (resourceDigitalOceanKubernetesClusterDelete only calls the API), and the
      // VPC's delete retries "Can not delete VPC with members" within its delete timeout only:
      //   Timeouts: &schema.ResourceTimeout{ Delete: schema.DefaultTimeout(2 * time.Minute) }
      //   retry.RetryContext(ctx, d.Timeout(schema.TimeoutDelete), ... http.StatusConflict ... RetryableError
      // Pulumi's customTimeouts.delete is that d.Timeout(schema.TimeoutDelete) in a bridged provider.
      const vpc = run.recorder.one("digitalocean:index/vpc:Vpc");
      const minutes = Number(/^(\d+)m$/.exec(vpc.customTimeouts.delete ?? "")?.[1]);
      assert.ok(minutes >= 20, `the VPC's delete gives up after ${vpc.customTimeouts.delete ?? "2m (the default)"}`);
    });

    it("runs the newest patch of the configured minor version, kept current by auto and surge upgrades", () => {
      assert.equal(cfg["versionPrefix"], "1.35");
      const lookups = run.recorder.calls.filter((c) => c.token.endsWith("getKubernetesVersions"));
      assert.deepEqual(
        lookups.map((c) => c.args["versionPrefix"]),
        ["1.35."],
        "a prefix without the dot would also match 1.350",
      );
      assert.equal(cluster()["version"], "1.35.1-do.0");
      assert.equal(cluster()["autoUpgrade"], true);
      assert.equal(cluster()["surgeUpgrade"], true);
      assert.deepEqual(cluster()["maintenancePolicy"], cfg["maintenanceWindow"]);
    });

    it("limits the API to the configured CIDRs through the control-plane firewall", () => {
      assert.deepEqual(cluster()["controlPlaneFirewall"], { enabled: true, allowedAddresses: cfg["apiAllowedCidrs"] });
    });

    it("autoscales the node pool within the configured bounds", () => {
      const pool = cluster()["nodePool"];
      const want = cfg["nodePools"][0];
      assert.equal(pool["size"], want["machineType"]);
      assert.deepEqual(
        [pool["autoScale"], pool["minNodes"], pool["maxNodes"]],
        [true, want["minNodes"], want["maxNodes"]],
      );
      assert.equal(pool["nodeCount"], undefined, "a node count would reset the autoscaler's size on every change");
    });

    it("tags the cluster and its nodes, and takes its load balancers and volumes with it on destroy", () => {
      for (const tags of [cluster()["tags"], cluster()["nodePool"]["tags"]]) {
        assert.ok(tags.includes(`platform-cluster:${name}`), JSON.stringify(tags));
        assert.ok(tags.includes("platform-stack:stage"));
      }
      assert.equal(cluster()["destroyAllAssociatedResources"], true);
      assert.equal(cluster()["ha"], false, "an HA control plane is for prod");
    });

    it("signs kubectl in through doctl, with no token in the kubeconfig, secret end to end", async () => {
      // terraform-provider-digitalocean, docs/resources/kubernetes_cluster.md: the kubeconfig's
      // token has "a 7 day expiry" (kubeconfig_expire_seconds), and under "Exec credential plugin":
      //   command = "doctl"
      //   args = ["kubernetes", "cluster", "kubeconfig", "exec-credential", "--version=v1beta1", <cluster id>]
      // "`doctl` will renew the token if needed".
      const { value, secret } = await unwrap(run.outputs!["kubeconfig"]!);
      assert.equal(secret, true);
      assert.ok(run.recorder.one("pulumi:providers:kubernetes").inputs["kubeconfig"] instanceof Secret);
      assert.ok(!String(value).includes(fakeCloud.doToken), "the kubeconfig holds DigitalOcean's seven-day token");
      const use = useKubeconfig(String(value), "doctl");
      assert.equal(use.view["clusters"][0]["cluster"]["server"], FAKE.doksServer);
      assert.equal(use.view["clusters"][0]["cluster"]["certificate-authority-data"], FAKE.caData);
      assert.equal(use.view["users"][0]["user"]["token"], undefined);
      assert.equal(use.view["users"][0]["user"]["exec"]["apiVersion"], "client.authentication.k8s.io/v1beta1");
      assert.deepEqual(use.pluginArgs, [
        "kubernetes",
        "cluster",
        "kubeconfig",
        "exec-credential",
        "--version=v1beta1",
        "cluster-doks-id",
      ]);
    });

    it("keeps the kubeconfig and the provider's cluster identity the same when DigitalOcean re-issues its token", async () => {
      const identity = (r: ProgramRun) =>
        (plain(r.recorder.one("pulumi:providers:kubernetes").inputs) as Obj)["clusterIdentifier"];
      assert.equal(identity(run), "cluster-doks-id");
      const previous = fakeCloud.doToken;
      fakeCloud.doToken = "dop_v1_mocktoken2";
      try {
        const again = await runProgram("stage");
        if (again.error) throw again.error;
        // An unchanged kubeconfig leaves the Kubernetes provider, and the readiness gate that
        // depends on it, untouched by an `up` that changes nothing.
        assert.equal(
          (await unwrap(again.outputs!["kubeconfig"]!)).value,
          (await unwrap(run.outputs!["kubeconfig"]!)).value,
        );
        assert.equal(identity(again), identity(run));
      } finally {
        fakeCloud.doToken = previous;
      }
    });

    it("takes the API token from the environment unless the stack holds digitalocean:token encrypted", async () => {
      assert.equal(run.recorder.one("pulumi:providers:digitalocean").inputs["token"], undefined);
      const cfgWithToken = readStackConfig("stage", { "digitalocean:token": "dop_v1_fromconfig" });
      cfgWithToken.secretKeys.push("digitalocean:token");
      const withToken = await runProgram("stage", cfgWithToken);
      if (withToken.error) throw withToken.error;
      const token = withToken.recorder.one("pulumi:providers:digitalocean").inputs["token"];
      assert.ok(token instanceof Secret, "the token reached the provider in plain text");
      assert.equal(token.value, "dop_v1_fromconfig");
    });
  });

  describe("in prod", () => {
    it("runs an HA control plane, protected, and resolves another minor version from its prefix", async () => {
      const block = stackFile("stage")["platform:cluster"] as Obj;
      const doks = { ...block["doks"], versionPrefix: "1.34", nodePools: undefined };
      const config = readStackConfig("stage", {
        "platform:environment": "prod",
        "platform:cluster": { ...block, doks },
        "platform:gitops": { ...(stackFile("stage")["platform:gitops"] as Obj), path: "gitops/envs/prod" },
      });
      const run = await runProgram("stage", config);
      if (run.error) throw run.error;
      const cluster = run.recorder.one("digitalocean:index/kubernetesCluster:KubernetesCluster");
      assert.equal((plain(cluster.inputs) as Obj)["ha"], true);
      assert.equal((plain(cluster.inputs) as Obj)["version"], "1.34.3-do.1", "not the newest 1.34 patch");
      assert.equal(cluster.protect, true);
    });
  });

  describe("edge cases", () => {
    const block = stackFile("stage")["platform:cluster"] as Obj;
    const withDoks = (patch: Obj) =>
      readStackConfig("stage", { "platform:cluster": { ...block, doks: { ...block["doks"], ...patch } } });

    it("refuses an API opened to all before any resource, on stage too: the firewall is never off", async () => {
      const run = await runProgram("stage", withDoks({ apiAllowedCidrs: ["0.0.0.0/0"] }));
      assert.equal(
        run.error?.message,
        'platform:cluster.doks.apiAllowedCidrs must not hold 0.0.0.0/0: that opens the Kubernetes API to the whole internet; list the networks your operators and CI run from (got ["0.0.0.0/0"])',
      );
      assert.deepEqual(run.recorder.resources, [], "nothing is registered first");
    });

    it("autoscales a second pool in the cluster, and makes the Kubernetes provider wait for it", async () => {
      // The first pool is the cluster's own; another is a KubernetesNodePool that nothing on the
      // cluster names. Pulumi deletes a resource only after all that depend on it
      // (pkg/resource/deploy/step_generator.go, GenerateDeletes: "We must not delete dependencies
      // prior to their dependent nodes"): without the wait, a destroy could delete the pool while
      // the provider still deletes what runs on it, and the drain with it.
      const [system] = block["doks"]["nodePools"] as Obj[];
      const run = await runProgram(
        "stage",
        withDoks({
          nodePools: [system, { name: "work", machineType: "s-4vcpu-8gb", minNodes: 1, maxNodes: 3 }],
        }),
      );
      if (run.error) throw run.error;
      const pool = run.recorder.one("digitalocean:index/kubernetesNodePool:KubernetesNodePool");
      const args = plain(pool.inputs) as Obj;
      assert.equal(
        args["clusterId"],
        `${run.recorder.one("digitalocean:index/kubernetesCluster:KubernetesCluster").name}-id`,
      );
      assert.deepEqual(
        [args["autoScale"], args["minNodes"], args["maxNodes"], args["nodeCount"]],
        [true, 1, 3, undefined],
      );
      const provider = run.recorder.one("pulumi:providers:kubernetes");
      assert.ok(provider.dependencies.includes(pool.urn), "the Kubernetes provider does not wait for the second pool");
    });

    it("leaves the VPC's range to DigitalOcean unless vpcCidr is set", async () => {
      // terraform-provider-digitalocean, docs/resources/vpc.md, ip_range - (Optional): "Network
      // ranges cannot overlap with other networks in the same account and must be in range of
      // private addresses as defined in RFC1918." Unset, DigitalOcean picks a free one.
      const vpc = (r: ProgramRun) => plain(r.recorder.one("digitalocean:index/vpc:Vpc").inputs) as Obj;
      const unset = await runProgram("stage", withDoks({ vpcCidr: undefined }));
      if (unset.error) throw unset.error;
      assert.equal("ipRange" in vpc(unset), false);
      const set = await runProgram("stage", withDoks({ vpcCidr: "10.110.0.0/20" }));
      if (set.error) throw set.error;
      assert.equal(vpc(set)["ipRange"], "10.110.0.0/20");
    });

    it("refuses a version below the one the live cluster runs, before any DigitalOcean resource", async () => {
      // terraform-provider-digitalocean, digitalocean/kubernetes/resource_kubernetes_cluster.go:
      //   customdiff.ForceNewIfChange("version", ...
      //     // "version" can only be upgraded to newer versions, so we must create a new resource
      //     // if it is decreased.  ... if newVer.LessThan(oldVer) { return true }
      // The live version is read by name (data source digitalocean_kubernetes_cluster, which
      // answers "Unable to find cluster with name" on the first run) and checked in the apply that
      // gives the cluster and the VPC their inputs, so neither is registered when it fails.
      const name = block["name"] as string;
      doksLive.set(name, "1.35.1-do.0");
      try {
        const lower = await runProgram("stage", withDoks({ versionPrefix: "1.34" }));
        assert.ok(
          lower.error?.message.endsWith(
            'platform:cluster.doks.versionPrefix "1.34" resolves to 1.34.3-do.1, below the 1.35.1-do.0 that cluster platform-stage runs: DOKS cannot downgrade, and the provider would replace the cluster and everything on it; keep the prefix at or above the running minor version',
          ),
          lower.error?.message,
        );
        assert.deepEqual(
          lower.recorder.resources.filter((r) => r.type.startsWith("digitalocean:index/")).map((r) => r.name),
          [],
        );
        const same = await runProgram("stage");
        if (same.error) throw same.error;
        doksLive.set(name, "1.34.1-do.0");
        const upgrade = await runProgram("stage");
        if (upgrade.error) throw upgrade.error;
        assert.equal(
          (plain(upgrade.recorder.one("digitalocean:index/kubernetesCluster:KubernetesCluster").inputs) as Obj)[
            "version"
          ],
          "1.35.1-do.0",
          "an upgrade goes through",
        );
      } finally {
        doksLive.delete(name);
      }
    });

    it("orders version slugs as the provider does, by number and then DigitalOcean's release", () => {
      assert.ok(compareVersions("1.34.3-do.1", "1.35.1-do.0") < 0);
      assert.ok(compareVersions("1.35.10-do.0", "1.35.9-do.0") > 0, "by number, not text");
      assert.ok(compareVersions("1.35.1-do.0", "1.35.1-do.1") < 0);
      assert.equal(compareVersions("1.35.1-do.0", "1.35.1-do.0"), 0);
    });

    it("stops before any DigitalOcean resource on a version prefix DigitalOcean does not offer", async () => {
      const run = await runProgram("stage", withDoks({ versionPrefix: "1.99" }));
      assert.match(
        run.error?.message ?? "",
        /platform:cluster\.doks\.versionPrefix "1\.99" matches no version DigitalOcean offers/,
      );
      assert.deepEqual(
        run.recorder.resources.filter((r) => r.type.startsWith("digitalocean:")).map((r) => r.name),
        [],
      );
    });
  });
});
