import { strict as assert } from "node:assert";
import { ConfigError, configWarnings, parseConfig, type PlatformConfig } from "../components/config";
import { flat, MINIMAL_CLOUD } from "./configs";
import { unwrap } from "./mocks";

type Raw = Record<string, unknown>;
type Provider = keyof typeof MINIMAL_CLOUD;
type Env = "dev" | "stage" | "prod";

/** A valid cloud stack of the given provider and environment, with `block` merged into its block. */
function cloud(provider: Provider, environment: Env = "stage", block: Raw = {}, extra: Raw = {}): Raw {
  return {
    "platform:environment": environment,
    "platform:cluster": { provider, [provider]: { ...MINIMAL_CLOUD[provider], ...block } },
    "platform:argocd": { hostname: "argocd.example.com" },
    "platform:gitops": { repoURL: "https://github.com/acme/platform.git" },
    ...extra,
  };
}

function parse(raw: Raw, secret: string[] = []): PlatformConfig {
  const env = raw["platform:environment"];
  return parseConfig(flat(raw), typeof env === "string" ? env : "stage", (k) => secret.includes(k));
}

function problems(raw: Raw, secret: string[] = []): string[] {
  try {
    parse(raw, secret);
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    return e.message.split("\n");
  }
  assert.fail("expected the config to be rejected");
}

function settings<P extends Provider>(raw: Raw, provider: P) {
  const c = parse(raw).cluster;
  assert.equal(c.provider, provider);
  return c as Extract<PlatformConfig["cluster"], { provider: P }>;
}

describe("cloud cluster config", () => {
  describe("defaults by environment", () => {
    it("EKS: two zones and one NAT gateway outside prod; three zones, a NAT per zone, protection in prod", () => {
      const stage = settings(cloud("eks", "stage"), "eks");
      const prod = settings(cloud("eks", "prod"), "eks");
      assert.deepEqual(
        [stage.eks.availabilityZones, stage.eks.natGatewayPerZone, stage.eks.logRetentionDays, stage.protect],
        [2, false, 30, false],
      );
      assert.deepEqual(
        [prod.eks.availabilityZones, prod.eks.natGatewayPerZone, prod.eks.logRetentionDays, prod.protect],
        [3, true, 90, true],
      );
      assert.deepEqual(prod.eks.nodePools, [
        { name: "system", machineType: "m6i.large", minNodes: 3, maxNodes: 6, spot: false, diskSizeGb: 50 },
      ]);
      assert.equal(stage.eks.vpcCidr, "10.0.0.0/16");
      assert.deepEqual(stage.eks.adminPrincipalArns, []);
    });

    it("DOKS: HA control plane in prod only, a Sunday maintenance window, the version prefix ending in a dot", () => {
      const stage = settings(cloud("doks", "stage"), "doks");
      const prod = settings(cloud("doks", "prod"), "doks");
      assert.equal(stage.doks.ha, false);
      assert.equal(prod.doks.ha, true);
      assert.deepEqual(stage.doks.maintenanceWindow, { day: "sunday", startTime: "04:00" });
      // "1.3" would also match 1.30-1.39; the dot keeps the prefix to one minor version.
      assert.equal(stage.doks.versionPrefix, "1.35.");
      assert.equal(settings(cloud("doks", "stage", { versionPrefix: "1.34." }), "doks").doks.versionPrefix, "1.34.");
    });

    it("GKE: the STABLE channel in prod, REGULAR elsewhere, and non-overlapping default ranges", () => {
      assert.equal(settings(cloud("gke", "prod"), "gke").gke.releaseChannel, "STABLE");
      const dev = settings(cloud("gke", "dev"), "gke").gke;
      assert.equal(dev.releaseChannel, "REGULAR");
      assert.deepEqual(
        [dev.nodeCidr, dev.podCidr, dev.serviceCidr, dev.controlPlaneCidr],
        ["10.20.0.0/20", "10.24.0.0/14", "10.28.0.0/20", "172.16.0.0/28"],
      );
    });

    it("protects prod clusters unless platform:cluster.protect turns it off for a planned teardown", () => {
      assert.equal(parse(cloud("gke", "prod")).cluster.protect, true);
      assert.equal(parse(cloud("gke", "stage")).cluster.protect, false);
      const raw = cloud("gke", "prod");
      raw["platform:cluster"] = { ...(raw["platform:cluster"] as Raw), protect: "false" };
      assert.equal(parse(raw).cluster.protect, false);
    });

    it("tags every cluster with its name, stack and environment, in a form GCP labels accept", () => {
      const { tags } = settings(cloud("gke", "prod"), "gke");
      assert.deepEqual(tags, {
        "platform-cluster": "platform-prod",
        "platform-stack": "prod",
        "platform-environment": "prod",
        "managed-by": "pulumi",
      });
      for (const [k, v] of Object.entries(tags)) assert.match(`${k}=${v}`, /^[a-z][a-z0-9_-]{0,62}=[a-z0-9_-]{0,63}$/);
    });
  });

  describe("warnings", () => {
    it("warns while the API allow-list and the admins are still the examples' placeholders", () => {
      const raw = cloud("eks", "stage", {
        apiAllowedCidrs: ["203.0.113.0/24", "192.0.0.0/16"],
        adminPrincipalArns: ["arn:aws:iam::123456789012:role/platform-admins", "arn:aws:iam::210987654321:role/ops"],
      });
      assert.deepEqual(
        configWarnings(parse(raw)).filter((w) => w.includes("cluster")),
        [
          "platform:cluster.eks.apiAllowedCidrs still holds the documentation range 203.0.113.0/24: nobody reaches the API from there; list your own egress ranges",
          "platform:cluster.eks.adminPrincipalArns still holds the example arn:aws:iam::123456789012:role/platform-admins: set your own roles",
        ],
      );
      assert.deepEqual(
        configWarnings(parse(cloud("gke", "stage", { apiAllowedCidrs: ["203.0.0.0/16"] }))).filter((w) =>
          w.includes("cluster"),
        ),
        [],
      );
    });

    it("calls a block the documentation range only when it lies inside one, not when it merely overlaps", () => {
      const warned = (cidrs: string[]) =>
        configWarnings(parse(cloud("doks", "stage", { apiAllowedCidrs: cidrs }))).filter((w) => w.includes("cluster"));
      assert.deepEqual(warned(["203.0.0.0/8", "192.0.0.0/16", "198.51.0.0/16"]), []);
      assert.deepEqual(warned(["198.51.100.128/25"]), [
        "platform:cluster.doks.apiAllowedCidrs still holds the documentation range 198.51.100.128/25: nobody reaches the API from there; list your own egress ranges",
      ]);
    });
  });

  describe("digitalocean:token", () => {
    it("reaches the cluster as a secret when the stack holds it encrypted", async () => {
      const c = parseConfig(
        flat({ ...cloud("doks"), "digitalocean:token": "dop_v1_secret" }),
        "stage",
        (k) => k === "digitalocean:token",
      ).cluster;
      assert.equal(c.provider, "doks");
      const token = c.doks.token;
      assert.ok(token, "the token was dropped");
      assert.deepEqual(await unwrap(token), { value: "dop_v1_secret", secret: true });
    });

    it("is refused in plain text, without printing it", () => {
      const lines = problems({ ...cloud("doks"), "digitalocean:token": "dop_v1_secret" });
      assert.deepEqual(lines, [
        "digitalocean:token must be stored encrypted: set it with `pulumi config set --secret digitalocean:token <token>`",
      ]);
    });
  });

  describe("bad provider config: one line naming the key, before any resource", () => {
    const cases: [string, Raw, string][] = [
      [
        "an EKS block without a region",
        {
          ...cloud("eks"),
          "platform:cluster": { provider: "eks", eks: { kubernetesVersion: "1.35", apiAllowedCidrs: [] } },
        },
        "platform:cluster.eks.region is required: it must be an AWS region like eu-central-1",
      ],
      [
        "a missing EKS block",
        { ...cloud("eks"), "platform:cluster": { provider: "eks" } },
        "platform:cluster.eks is required: it must be an object with the keys region, kubernetesVersion, vpcCidr, availabilityZones, zones, natGatewayPerZone, apiAllowedCidrs, adminPrincipalArns, nodePools, addonVersions, logRetentionDays",
      ],
      [
        "a GKE block without a project",
        {
          ...cloud("gke"),
          "platform:cluster": { provider: "gke", gke: { region: "europe-west1", apiAllowedCidrs: [] } },
        },
        "platform:cluster.gke.project is required: it must be a Google Cloud project ID",
      ],
      [
        "a DOKS region that is not a slug",
        cloud("doks", "stage", { region: "Frankfurt" }),
        'platform:cluster.doks.region must be a DigitalOcean region slug like fra1 (got "Frankfurt")',
      ],
      [
        "a floating EKS version",
        cloud("eks", "stage", { kubernetesVersion: "latest" }),
        'platform:cluster.eks.kubernetesVersion must be an EKS Kubernetes version like 1.34 (major.minor; EKS manages patches) (got "latest")',
      ],
      [
        "a CIDR that is not one",
        cloud("eks", "stage", { apiAllowedCidrs: ["10.0.0.0/33"] }),
        'platform:cluster.eks.apiAllowedCidrs[0] must be an IPv4 CIDR block like 10.0.0.0/16 (got "10.0.0.0/33")',
      ],
      [
        "a CIDR with host bits set",
        cloud("eks", "stage", { vpcCidr: "10.0.5.0/16" }),
        'platform:cluster.eks.vpcCidr must be a network address: did you mean 10.0.0.0/16? (got "10.0.5.0/16")',
      ],
      [
        "a VPC too small to split",
        cloud("eks", "stage", { vpcCidr: "10.0.0.0/24" }),
        'platform:cluster.eks.vpcCidr must be an IPv4 CIDR block with a prefix length from /16 to /20 (got "10.0.0.0/24")',
      ],
      [
        "a node pool whose minimum exceeds its maximum",
        cloud("eks", "stage", { nodePools: [{ name: "system", machineType: "m6i.large", minNodes: 5, maxNodes: 3 }] }),
        "platform:cluster.eks.nodePools[0].minNodes must be at most maxNodes (got 5 > 3)",
      ],
      [
        "an EC2 instance type in the wrong format",
        cloud("eks", "stage", { nodePools: [{ name: "system", machineType: "m6i-large", minNodes: 1, maxNodes: 3 }] }),
        'platform:cluster.eks.nodePools[0].machineType must be an EC2 instance type like m6i.large (got "m6i-large")',
      ],
      [
        "a Droplet size in the wrong format",
        cloud("doks", "stage", { nodePools: [{ name: "system", machineType: "2vcpu 4GB", minNodes: 1, maxNodes: 3 }] }),
        'platform:cluster.doks.nodePools[0].machineType must be a DigitalOcean Droplet size slug like s-2vcpu-4gb (got "2vcpu 4GB")',
      ],
      [
        "a GCE machine type in the wrong format",
        cloud("gke", "stage", { nodePools: [{ name: "system", machineType: "m6i.large", minNodes: 1, maxNodes: 3 }] }),
        'platform:cluster.gke.nodePools[0].machineType must be a Compute Engine machine type like e2-standard-4 (got "m6i.large")',
      ],
      [
        "a misspelt key in a provider block",
        cloud("eks", "stage", { regoin: "eu-west-1" }),
        'platform:cluster.eks has unknown key "regoin" (did you mean "region"?); allowed: region, kubernetesVersion, vpcCidr, availabilityZones, zones, natGatewayPerZone, apiAllowedCidrs, adminPrincipalArns, nodePools, addonVersions, logRetentionDays',
      ],
      [
        "spot on DigitalOcean, which has none",
        cloud("doks", "stage", {
          nodePools: [{ name: "system", machineType: "s-2vcpu-4gb", minNodes: 1, maxNodes: 3, spot: true }],
        }),
        'platform:cluster.doks.nodePools[0] has unknown key "spot"; allowed: name, machineType, minNodes, maxNodes',
      ],
      [
        "spot capacity in prod",
        cloud("gke", "prod", {
          nodePools: [{ name: "system", machineType: "e2-standard-4", minNodes: 1, maxNodes: 3, spot: true }],
        }),
        "platform:cluster.gke.nodePools[0].spot must be false in prod: spot capacity can be taken back at any time (got true)",
      ],
      [
        "an API open to the internet in prod",
        cloud("eks", "prod", { apiAllowedCidrs: ["0.0.0.0/0"] }),
        'platform:cluster.eks.apiAllowedCidrs must not hold 0.0.0.0/0: that opens the Kubernetes API to the whole internet; list the networks your operators and CI run from (got ["0.0.0.0/0"])',
      ],
      [
        "an empty allow-list on GKE, whose endpoint stays public: nobody could reach it",
        cloud("gke", "stage", { apiAllowedCidrs: [] }),
        "platform:cluster.gke.apiAllowedCidrs must list at least one network: this cluster's API endpoint is public, and an empty list lets nobody reach it, this program included (got [])",
      ],
      [
        "an empty allow-list on DOKS, whose firewall would let nobody in",
        cloud("doks", "stage", { apiAllowedCidrs: [] }),
        "platform:cluster.doks.apiAllowedCidrs must list at least one network: this cluster's API endpoint is public, and an empty list lets nobody reach it, this program included (got [])",
      ],
      [
        "a private block for EKS's public endpoint (AWS refuses it)",
        cloud("eks", "stage", { apiAllowedCidrs: ["198.51.100.0/24", "10.20.0.0/16"] }),
        "platform:cluster.eks.apiAllowedCidrs must hold public networks only: EKS refuses a private, loopback or link-local block such as 10.20.0.0/16 for its public endpoint (networks inside the VPC reach the private endpoint)",
      ],
      [
        "a DigitalOcean VPC outside the private ranges",
        cloud("doks", "stage", { vpcCidr: "100.64.0.0/20" }),
        'platform:cluster.doks.vpcCidr must lie in a private range (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16), as DigitalOcean requires of a VPC (got "100.64.0.0/20"); leave it unset to let DigitalOcean choose one that overlaps none of the account\'s VPCs',
      ],
      [
        "an EKS pool at 0 nodes, which nothing would scale up",
        cloud("eks", "stage", {
          nodePools: [
            { name: "system", machineType: "m6i.large", minNodes: 2, maxNodes: 4 },
            { name: "batch", machineType: "m6i.xlarge", minNodes: 0, maxNodes: 3, spot: true },
          ],
        }),
        "platform:cluster.eks.nodePools[1].minNodes must be at least 1 on EKS: no autoscaler runs here, so a pool stays at its minimum and one at 0 never gets a node (got 0)",
      ],
      [
        "a GKE cluster name that starts with a digit",
        {
          ...cloud("gke", "stage"),
          "platform:cluster": { provider: "gke", name: "1platform", gke: MINIMAL_CLOUD.gke },
        },
        'platform:cluster.name must start with a letter on GKE: Google Cloud names are [a-z]([-a-z0-9]*[a-z0-9])? (got "1platform")',
      ],
      [
        "a GKE machine series that boots from Hyperdisk only",
        cloud("gke", "stage", {
          nodePools: [{ name: "system", machineType: "c4-standard-4", minNodes: 1, maxNodes: 2 }],
        }),
        'platform:cluster.gke.nodePools[0].machineType must be of a series that boots from Persistent Disk (pd-balanced): C4 takes Hyperdisk only (got "c4-standard-4"); use e2, n2, n2d, t2d or c3',
      ],
      [
        "an API open to the internet on a stage DOKS (its firewall would be off)",
        cloud("doks", "stage", { apiAllowedCidrs: ["10.1.0.0/16", "0.0.0.0/0"] }),
        'platform:cluster.doks.apiAllowedCidrs must not hold 0.0.0.0/0: that opens the Kubernetes API to the whole internet; list the networks your operators and CI run from (got ["10.1.0.0/16","0.0.0.0/0"])',
      ],
      [
        "the internet in two halves in prod",
        cloud("gke", "prod", { apiAllowedCidrs: ["0.0.0.0/1", "128.0.0.0/1"] }),
        'platform:cluster.gke.apiAllowedCidrs must not hold 0.0.0.0/1 in prod (nothing wider than a /8): list the networks your operators and CI run from (got ["0.0.0.0/1","128.0.0.0/1"])',
      ],
      [
        "two zones in prod",
        cloud("eks", "prod", { availabilityZones: 2 }),
        "platform:cluster.eks.availabilityZones must be 3 in prod, to survive the loss of a zone (got 2)",
      ],
      [
        "a single NAT gateway in prod",
        cloud("eks", "prod", { natGatewayPerZone: false }),
        "platform:cluster.eks.natGatewayPerZone must be true in prod: one NAT gateway is one zone's outage from no egress (got false)",
      ],
      [
        "a zone list that does not match the zone count",
        cloud("eks", "stage", { zones: ["eu-central-1a", "eu-central-1b", "eu-central-1c"] }),
        "platform:cluster.eks.zones must name exactly 2 zones, one per availability zone used (got 3)",
      ],
      [
        "a zone of another region",
        cloud("eks", "stage", { zones: ["eu-central-1a", "eu-west-1b"] }),
        'platform:cluster.eks.zones must be zones of eu-central-1 (got "eu-west-1b")',
      ],
      [
        "a GKE pool name too long for GKE's 40 characters with the unique suffix",
        cloud("gke", "stage", {
          nodePools: [{ name: "general-purpose", machineType: "e2-standard-4", minNodes: 1, maxNodes: 3 }],
        }),
        'platform:cluster.gke.nodePools[0].name must be at most 13 characters (got "general-purpose")',
      ],
      [
        "a missing API access list",
        cloud("doks", "stage", { apiAllowedCidrs: undefined }),
        "platform:cluster.doks.apiAllowedCidrs is required: it must be a list of IPv4 CIDR blocks (empty: reachable only from inside the network)",
      ],
      [
        "overlapping GKE ranges",
        cloud("gke", "stage", { serviceCidr: "10.20.8.0/24" }),
        'platform:cluster.gke.serviceCidr must not overlap platform:cluster.gke.nodeCidr (10.20.0.0/20) (got "10.20.8.0/24")',
      ],
      [
        "a DOKS VPC over the cluster's pod network",
        cloud("doks", "stage", { vpcCidr: "10.244.0.0/20" }),
        'platform:cluster.doks.vpcCidr must not overlap 10.244.0.0/16, which DOKS uses for pods and services (got "10.244.0.0/20")',
      ],
      [
        "a DOKS pool that may shrink to nothing",
        cloud("doks", "stage", {
          nodePools: [
            { name: "system", machineType: "s-2vcpu-4gb", minNodes: 1, maxNodes: 3 },
            { name: "batch", machineType: "s-4vcpu-8gb", minNodes: 0, maxNodes: 3 },
          ],
        }),
        "platform:cluster.doks.nodePools[1].minNodes must be a whole number from 1 to 100 (DOKS pools cannot scale to zero) (got 0)",
      ],
      [
        "two pools of one name",
        cloud("eks", "stage", {
          nodePools: [
            { name: "system", machineType: "m6i.large", minNodes: 1, maxNodes: 3 },
            { name: "system", machineType: "m6i.xlarge", minNodes: 1, maxNodes: 3 },
          ],
        }),
        'platform:cluster.eks.nodePools[1].name must be unique among the node pools (got "system" twice)',
      ],
      [
        "more zones than the layout has",
        cloud("eks", "stage", { availabilityZones: 4 }),
        "platform:cluster.eks.availabilityZones must be a whole number from 2 to 3 (got 4)",
      ],
      [
        "an admin that is not an IAM ARN",
        cloud("eks", "stage", { adminPrincipalArns: ["platform-admins"] }),
        'platform:cluster.eks.adminPrincipalArns[0] must be an IAM role or user ARN like arn:aws:iam::123456789012:role/platform-admins (got "platform-admins")',
      ],
      [
        "a floating add-on version",
        cloud("eks", "stage", { addonVersions: { vpcCni: "latest" } }),
        'platform:cluster.eks.addonVersions.vpcCni must be an exact EKS add-on version like v1.20.4-eksbuild.2 (got "latest")',
      ],
      [
        "a log retention CloudWatch does not offer",
        cloud("eks", "stage", { logRetentionDays: 10 }),
        "platform:cluster.eks.logRetentionDays must be a CloudWatch retention in days: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653 (got 10)",
      ],
      [
        "a control-plane range that is not a /28",
        cloud("gke", "stage", { controlPlaneCidr: "172.16.0.0/24" }),
        'platform:cluster.gke.controlPlaneCidr must be an IPv4 CIDR block with a prefix length from /28 to /28 (got "172.16.0.0/24")',
      ],
    ];
    for (const [what, raw, expected] of cases) {
      it(`rejects ${what}`, () => {
        assert.deepEqual(problems(raw), [expected]);
      });
    }

    it("lets an empty allow-list on EKS turn the public endpoint off, and a DOKS VPC range be left to DigitalOcean", () => {
      assert.deepEqual(settings(cloud("eks", "stage", { apiAllowedCidrs: [] }), "eks").eks.apiAllowedCidrs, []);
      assert.equal(settings(cloud("doks", "stage", { vpcCidr: undefined }), "doks").doks.vpcCidr, undefined);
      assert.equal(
        settings(cloud("doks", "stage", { vpcCidr: "172.16.8.0/21" }), "doks").doks.vpcCidr,
        "172.16.8.0/21",
      );
    });

    it("allows wide blocks outside prod, but never the whole internet", () => {
      assert.deepEqual(settings(cloud("eks", "dev", { apiAllowedCidrs: ["0.0.0.0/1"] }), "eks").eks.apiAllowedCidrs, [
        "0.0.0.0/1",
      ]);
    });
  });
});
