import { strict as assert } from "node:assert";
import { boundedName } from "../components/cluster/gke";
import { containsUnknown, FAKE, plain, type Recorded, unwrap } from "./mocks";
import { runProgram, type ProgramRun } from "./program";
import { readStackConfig, stackFile } from "../scripts/synth/stack-config";
import { useKubeconfig } from "./tools";

type Obj = Record<string, any>;

function inputs(r: Recorded): Obj {
  return plain(r.inputs) as Obj;
}

/** The last segment of each URN a resource waits for. */
function dependsOn(r: Recorded): string[] {
  return r.dependencies.map((u) => u.split("::").pop() ?? u);
}

/**
 * The examples/gke stack played as stage (where spot pools are allowed; stage syncs stage's tree
 * and, on a pool that may lose its nodes, runs Argo CD without HA), `change` applied to its pool.
 */
function stageWithPool(change: Obj): ReturnType<typeof readStackConfig> {
  const file = stackFile("examples/gke");
  const block = file["platform:cluster"] as Obj;
  const [pool] = block["gke"]["nodePools"] as Obj[];
  return readStackConfig("examples/gke", {
    "platform:environment": "stage",
    "platform:cluster": { ...block, gke: { ...block["gke"], nodePools: [{ ...pool, ...change }] } },
    "platform:gitops": { ...(file["platform:gitops"] as Obj), path: "gitops/envs/stage" },
    "platform:argocd": { ...(file["platform:argocd"] as Obj), ha: false },
  });
}

describe("GKE cluster", () => {
  it("bounds derived names, keeping two long cluster names apart", () => {
    assert.equal(boundedName("platform-prod", "nodes", 30), "platform-prod-nodes");
    const a = boundedName("platform-production-europe-west", "nodes", 30);
    const b = boundedName("platform-production-europe-east", "nodes", 30);
    assert.ok(a.length <= 30 && b.length <= 30, `${a} ${b}`);
    assert.notEqual(a, b);
    assert.match(a, /^[a-z][a-z0-9-]*-nodes$/);
  });

  describe("examples/gke (prod)", () => {
    let run: ProgramRun;
    let cfg: Obj;
    let name: string;
    const one = (type: string, n?: string) => run.recorder.one(`gcp:${type}`, n);
    const cluster = () => inputs(one("container/cluster:Cluster"));
    before(async () => {
      run = await runProgram("examples/gke");
      if (run.error) throw run.error;
      const block = stackFile("examples/gke")["platform:cluster"] as Obj;
      cfg = block["gke"];
      name = block["name"];
    });

    it("builds its own VPC network with a node subnetwork and secondary ranges for pods and services", () => {
      assert.equal(inputs(one("compute/network:Network"))["autoCreateSubnetworks"], false);
      const subnet = inputs(one("compute/subnetwork:Subnetwork"));
      assert.equal(subnet["ipCidrRange"], cfg["nodeCidr"]);
      assert.equal(subnet["privateIpGoogleAccess"], true);
      assert.deepEqual(subnet["secondaryIpRanges"], [
        { rangeName: "pods", ipCidrRange: cfg["podCidr"] },
        { rangeName: "services", ipCidrRange: cfg["serviceCidr"] },
      ]);
      assert.deepEqual(cluster()["ipAllocationPolicy"], {
        clusterSecondaryRangeName: "pods",
        servicesSecondaryRangeName: "services",
      });
    });

    it("gives the private nodes a way out through Cloud Router and Cloud NAT", () => {
      const nat = inputs(one("compute/routerNat:RouterNat"));
      assert.equal(nat["router"], `${name}-router`);
      assert.equal(nat["sourceSubnetworkIpRangesToNat"], "ALL_SUBNETWORKS_ALL_IP_RANGES");
      assert.deepEqual(cluster()["privateClusterConfig"], {
        enablePrivateNodes: true,
        enablePrivateEndpoint: false,
        masterIpv4CidrBlock: cfg["controlPlaneCidr"],
      });
    });

    it("keeps the nodes' way out and their grants until the node pools are gone", () => {
      // Pulumi deletes a resource only after all that depend on it (pkg/resource/deploy/
      // step_generator.go, GenerateDeletes: "We must not delete dependencies prior to their
      // dependent nodes"). No input of a pool names the router, the NAT or the node account's
      // grants, so only dependsOn keeps them while the pools, and the drain before them, go:
      // private nodes have no external address and pull images through Cloud NAT (Google Cloud,
      // "Cloud NAT overview": "Cloud NAT provides network address translation (NAT) for outbound
      // traffic to the internet", for resources that include "Google Kubernetes Engine (GKE)
      // clusters").
      const pools = run.recorder.all("gcp:container/nodePool:NodePool");
      assert.ok(pools.length > 0);
      const wanted = [
        one("compute/router:Router"),
        one("compute/routerNat:RouterNat"),
        ...run.recorder.all("gcp:projects/iAMMember:IAMMember"),
      ];
      for (const pool of pools) {
        for (const r of wanted) assert.ok(dependsOn(pool).includes(r.name), `${pool.name} does not wait for ${r.name}`);
      }
    });

    it("runs nodes as their own service account with only GKE's default node role", () => {
      // Google Cloud, "Troubleshoot service accounts in GKE": "the IAM service accounts that your
      // GKE nodes use must have all of the permissions that are included in the Kubernetes Engine
      // Default Node Service Account (`roles/container.defaultNodeServiceAccount`) IAM role"; without
      // them GKE cannot send logs and metrics or run the HPA's performance profile. The IAM docs
      // ("Troubleshoot organization policy errors for service accounts") name that role for GKE's
      // nodes and point to GKE's hardening guide, "Use least privilege IAM service accounts". It
      // replaces logging.logWriter, monitoring.metricWriter, monitoring.viewer and
      // stackdriver.resourceMetadata.writer.
      const account = inputs(one("serviceaccount/account:Account"));
      const email = `${account["accountId"]}@mock-project.iam.gserviceaccount.com`;
      const grants = run.recorder.all("gcp:projects/iAMMember:IAMMember").map(inputs);
      assert.deepEqual(
        grants.map((g) => g["role"]),
        ["roles/container.defaultNodeServiceAccount"],
      );
      for (const g of grants) assert.equal(g["project"], cfg["project"]);
      for (const g of grants) assert.equal(g["member"], `serviceAccount:${email}`);
      for (const pool of run.recorder.all("gcp:container/nodePool:NodePool").map(inputs)) {
        assert.equal(pool["nodeConfig"]["serviceAccount"], email);
      }
    });

    it("limits the API to the master authorized networks, with no client certificates or legacy ABAC", () => {
      assert.deepEqual(
        cluster()["masterAuthorizedNetworksConfig"]["cidrBlocks"].map((b: Obj) => b["cidrBlock"]),
        cfg["apiAllowedCidrs"],
      );
      assert.equal(cluster()["masterAuthorizedNetworksConfig"]["gcpPublicCidrsAccessEnabled"], false);
      assert.deepEqual(cluster()["masterAuth"], { clientCertificateConfig: { issueClientCertificate: false } });
      assert.equal(cluster()["enableLegacyAbac"], false);
    });

    it("turns on Workload Identity, Dataplane V2, shielded nodes, logging and monitoring, on a release channel", () => {
      assert.deepEqual(cluster()["workloadIdentityConfig"], { workloadPool: `${cfg["project"]}.svc.id.goog` });
      assert.equal(cluster()["datapathProvider"], "ADVANCED_DATAPATH");
      assert.equal(cluster()["enableShieldedNodes"], true);
      assert.deepEqual(cluster()["releaseChannel"], { channel: cfg["releaseChannel"] });
      assert.ok(cluster()["loggingConfig"]["enableComponents"].includes("WORKLOADS"));
      assert.ok(cluster()["loggingConfig"]["enableComponents"].includes("APISERVER"));
      assert.ok(cluster()["monitoringConfig"]["enableComponents"].includes("SYSTEM_COMPONENTS"));
      assert.equal(cluster()["removeDefaultNodePool"], true);
    });

    it("encrypts Secrets with a rotating Cloud KMS key that GKE's service agent may use before the cluster exists", () => {
      const key = one("kms/cryptoKey:CryptoKey");
      assert.equal(inputs(key)["rotationPeriod"], "7776000s");
      assert.deepEqual(cluster()["databaseEncryption"], { state: "ENCRYPTED", keyName: `${key.name}-id` });
      const grant = one("kms/cryptoKeyIAMMember:CryptoKeyIAMMember");
      assert.equal(
        inputs(grant)["member"],
        `serviceAccount:service-${FAKE.gcpProjectNumber}@container-engine-robot.iam.gserviceaccount.com`,
      );
      assert.ok(dependsOn(one("container/cluster:Cluster")).includes(grant.name), "the cluster would not wait for it");
      // The agent is made by GKE some time after the API is enabled: google_project_service_identity
      // (terraform-provider-google-beta google-beta/services/resourcemanager/
      // resource_project_service_identity.go) calls ".../services/{{service}}:generateServiceIdentity",
      // which makes it now; its docs: "used to retrieve the emails of the Google-managed service accounts".
      const agent = one("projects/serviceIdentity:ServiceIdentity");
      assert.equal(inputs(agent)["service"], "container.googleapis.com");
      assert.ok(dependsOn(agent).includes("cluster-container"), "generated before the GKE API is on");
      assert.ok(dependsOn(grant).includes(agent.name), "the key would be granted before GKE's agent exists");
      assert.match(inputs(one("kms/keyRing:KeyRing"))["name"], new RegExp(`^${name}-${FAKE.randomHex}$`));
    });

    it("enables the IAM and Resource Manager APIs a fresh project lacks before the resources that use them", () => {
      // A fresh project has only Service Usage on; google_project_service's docs
      // (website/docs/r/google_project_service.html.markdown) enable "iam.googleapis.com" in their example.
      const services = run.recorder.all("gcp:projects/service:Service").map((s) => inputs(s)["service"]);
      for (const api of ["iam.googleapis.com", "cloudresourcemanager.googleapis.com", "container.googleapis.com"]) {
        assert.ok(services.includes(api), `${api} is not enabled`);
      }
      for (const s of run.recorder.all("gcp:projects/service:Service"))
        assert.equal(inputs(s)["disableOnDestroy"], false);
      assert.ok(
        dependsOn(one("serviceaccount/account:Account")).includes("cluster-iam"),
        "service account before IAM API",
      );
      for (const grant of run.recorder.all("gcp:projects/iAMMember:IAMMember")) {
        assert.ok(
          dependsOn(grant).includes("cluster-cloudresourcemanager"),
          `${grant.name} before the Resource Manager API`,
        );
      }
    });

    it("keeps GKE's deletion protection on in prod, and every cluster resource protected", () => {
      assert.equal(cluster()["deletionProtection"], true);
      assert.equal(one("container/cluster:Cluster").protect, true);
    });

    it("autoscales shielded node pools that show pods the GKE metadata server, never the node's", () => {
      const pools = run.recorder.all("gcp:container/nodePool:NodePool");
      assert.equal(pools.length, cfg["nodePools"].length);
      for (const [i, want] of (cfg["nodePools"] as Obj[]).entries()) {
        const p = inputs(pools[i]!);
        assert.deepEqual(p["autoscaling"], { minNodeCount: want["minNodes"], maxNodeCount: want["maxNodes"] });
        assert.equal(p["nodeConfig"]["machineType"], want["machineType"]);
        assert.deepEqual(p["nodeConfig"]["workloadMetadataConfig"], { mode: "GKE_METADATA" });
        assert.deepEqual(p["nodeConfig"]["shieldedInstanceConfig"], {
          enableSecureBoot: true,
          enableIntegrityMonitoring: true,
        });
        assert.equal(p["nodeConfig"]["spot"], false);
        assert.deepEqual(p["management"], { autoRepair: true, autoUpgrade: true });
      }
    });

    it("names each node pool itself, never with a namePrefix beside the name pulumi-gcp would generate", () => {
      // pulumi-gcp provider/resources.go calls `prov.SetAutonaming(255, "-")`, which "auto-names all
      // resource properties that are literally called "name"" (pulumi-terraform-bridge
      // pkg/tfbridge/info/autonaming.go), skipping a default only for a declared ConflictsWith
      // (pkg/tfbridge/schema.go buildConflictsWith). google_container_node_pool's name_prefix declares
      // none, and expandNodePool (google/services/container/resource_container_node_pool.go) answers
      // "Cannot specify both name and name_prefix for a node_pool"; its name_prefix check says
      // "name is limited to 40".
      for (const [i, want] of (cfg["nodePools"] as Obj[]).entries()) {
        const pool = run.recorder.all("gcp:container/nodePool:NodePool")[i]!;
        assert.equal(inputs(pool)["namePrefix"], undefined);
        assert.equal(inputs(pool)["name"], `${want["name"]}-${FAKE.randomHex}`);
        const suffix = inputs(run.recorder.one("random:index/randomId:RandomId", `cluster-${want["name"]}-suffix`));
        assert.ok(
          `${want["name"]}-`.length + 2 * suffix["byteLength"] <= 40,
          "the pool's name would exceed 40 characters",
        );
        // The bridge replaces a resource whose name the program set delete-first
        // (nameRequiresDeleteBeforeReplace in pkg/tfbridge/schema.go); the engine lets the option
        // override it ("The user can override the provider's decision", pkg/resource/deploy/step_generator.go).
        assert.equal(pool.deleteBeforeReplace, false);
        assert.ok(dependsOn(pool).includes(`cluster-${want["name"]}-suffix`), "the name would not wait for its suffix");
      }
    });

    it("draws a pool's name suffix again exactly when a setting that replaces the pool changes", async () => {
      // resource_container_node_pool.go/node_config.go: spot, service_account, oauth_scopes,
      // metadata, shielded_instance_config carry `ForceNew: true`; machine_type, disk_size_gb and
      // disk_type do not (updated in place). random_id's keepers: "Arbitrary map of values that,
      // when changed, will trigger recreation of resource" (terraform-provider-random).
      const keepers = async (change: Obj) => {
        const r = await runProgram("examples/gke", stageWithPool(change));
        if (r.error) throw r.error;
        return inputs(r.recorder.one("random:index/randomId:RandomId", "cluster-system-suffix"))["keepers"];
      };
      const before = await keepers({});
      assert.ok(before, "no keepers");
      assert.notDeepEqual(await keepers({ spot: true }), before, "a spot change would reuse the pool's name");
      assert.deepEqual(await keepers({ machineType: "e2-standard-8", diskSizeGb: 200 }), before);
    });

    it("replaces its Kubernetes provider only with the cluster, not when its endpoint or credentials rotate", async () => {
      // google_container_cluster exports id ("projects/{{project}}/locations/{{zone}}/clusters/{{name}}",
      // the same for a replacement), self_link, endpoint, master_version, label_fingerprint: no
      // creation time or uid (website/docs/r/container_cluster.html.markdown, Attributes Reference).
      const provider = inputs(run.recorder.one("pulumi:providers:kubernetes"));
      assert.equal(provider["clusterIdentifier"], `cluster-gke-id@${FAKE.randomHex}`);
      const endpoint = FAKE.gkeEndpoint;
      FAKE.gkeEndpoint = "34.0.0.99";
      try {
        const rotated = await runProgram("examples/gke");
        if (rotated.error) throw rotated.error;
        const { value } = await unwrap(rotated.outputs!["kubeconfig"]!);
        assert.match(String(value), /34\.0\.0\.99/, "the endpoint did not change");
        assert.equal(
          inputs(rotated.recorder.one("pulumi:providers:kubernetes"))["clusterIdentifier"],
          provider["clusterIdentifier"],
        );
      } finally {
        FAKE.gkeEndpoint = endpoint;
      }
    });

    it("labels every labelled resource through its provider, in this project and region", () => {
      const provider = inputs(run.recorder.one("pulumi:providers:gcp"));
      assert.equal(provider["project"], cfg["project"]);
      assert.equal(provider["region"], cfg["region"]);
      assert.equal(JSON.parse(provider["defaultLabels"])["platform-cluster"], name);
    });

    it("hands out a kubeconfig that kubectl loads and that signs in through gke-gcloud-auth-plugin with Application Default Credentials, holding no credential", async () => {
      const { value } = await unwrap(run.outputs!["kubeconfig"]!);
      const use = useKubeconfig(String(value), "gke-gcloud-auth-plugin");
      // gcloud's own kubeconfig writer (googlecloudsdk/api_lib/container/kubeconfig.py,
      // _ExecAuthPlugin) adds `exec_cfg['args'] = ['--use_application_default_credentials']` when
      // container/use_application_default_credentials is set; without it the plugin uses gcloud's login.
      assert.deepEqual(use.pluginArgs, ["--use_application_default_credentials"], "kubectl ran the plugin without ADC");
      assert.equal(use.view["clusters"][0]["cluster"]["server"], `https://${FAKE.gkeEndpoint}`);
      assert.deepEqual(Object.keys(use.view["users"][0]["user"]), ["exec"]);
    });
  });

  describe("outside prod", () => {
    it("leaves deletion protection off, so a destroy completes, and allows spot pools", async () => {
      const block = stackFile("examples/gke")["platform:cluster"] as Obj;
      const pools = [{ name: "spot", machineType: "e2-standard-4", minNodes: 0, maxNodes: 3, spot: true }];
      const file = stackFile("examples/gke");
      // A stage stack syncs stage's tree, and a spot pool that may scale to zero cannot hold HA Argo CD.
      const config = readStackConfig("examples/gke", {
        "platform:environment": "stage",
        "platform:cluster": { ...block, gke: { ...block["gke"], nodePools: pools } },
        "platform:gitops": { ...(file["platform:gitops"] as Obj), path: "gitops/envs/stage" },
        "platform:argocd": { ...(file["platform:argocd"] as Obj), ha: false },
      });
      const run = await runProgram("examples/gke", config);
      if (run.error) throw run.error;
      const cluster = run.recorder.one("gcp:container/cluster:Cluster");
      assert.equal(inputs(cluster)["deletionProtection"], false);
      assert.equal(cluster.protect, false);
      assert.equal(inputs(run.recorder.one("gcp:container/nodePool:NodePool"))["nodeConfig"]["spot"], true);
    });

    it("refuses an empty apiAllowedCidrs before any resource: the endpoint stays public, and nobody could reach it", async () => {
      // GKE's master authorized networks, when enabled with no block, admit no public address
      // (only Google Cloud's internal ones with gcpPublicCidrsAccessEnabled, which is off), and
      // the kubeconfig names the public endpoint: the program itself could not reach the API.
      const block = stackFile("examples/gke")["platform:cluster"] as Obj;
      const config = readStackConfig("examples/gke", {
        "platform:cluster": { ...block, gke: { ...block["gke"], apiAllowedCidrs: [] } },
      });
      const run = await runProgram("examples/gke", config);
      assert.match(run.error?.message ?? "", /^platform:cluster\.gke\.apiAllowedCidrs must list at least one network/);
      assert.deepEqual(run.recorder.resources, [], "nothing is registered first");
    });
  });

  it("keeps the kubeconfig known in a preview that adds a node pool, and orders Kubernetes objects after the pools", async () => {
    const run = await runProgram("examples/gke", undefined, {
      preview: true,
      unknownTypes: ["gcp:container/nodePool:NodePool"],
    });
    if (run.error) throw run.error;
    const provider = run.recorder.one("pulumi:providers:kubernetes");
    const kubeconfigInput = provider.inputs["kubeconfig"];
    assert.ok(!containsUnknown(kubeconfigInput), "pulumi-kubernetes replaces its provider on an unknown kubeconfig");
    assert.ok(
      provider.dependencies.some((u) => u.endsWith("::cluster-system")),
      "Argo CD would start before any node",
    );
  });
});
