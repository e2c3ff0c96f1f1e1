import * as digitalocean from "@pulumi/digitalocean";
import type * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { DoksSettings, NodePoolConfig } from "../config";
import { clusterProvider, execKubeconfigOutput } from "./kubeconfig";
import type { Cluster, ClusterNetwork } from "./types";

export interface DoksClusterArgs {
  /** DOKS cluster name; the VPC, node pools and tags are named from it. */
  name: string;
  /** Region, version prefix, API access, HA, maintenance window, node pools; see `platform:cluster.doks`. */
  doks: DoksSettings;
  /** Marks every resource of the cluster; DigitalOcean tags are flat, so `key:value`. */
  tags: Readonly<Record<string, string>>;
  /**
   * An ephemeral stack. Accepted as every kind takes it: what is on the cluster is deleted with
   * it, and `npm run down`, `dev:rm` and `reap` drop unreachable objects from state
   * (PULUMI_K8S_DELETE_UNREACHABLE), so a destroy completes when the cluster is already gone.
   */
  ephemeral?: boolean;
}

/**
 * How long the VPC's delete waits for the cluster's droplets to leave it: the cluster's delete
 * does not wait for them (terraform-provider-digitalocean, resourceDigitalOceanVPCDelete retries
 * within `d.Timeout(schema.TimeoutDelete)`).
 */
export const VPC_DELETE_TIMEOUT = "30m";

/** DigitalOcean tags from key/value tags: letters, digits, ':', '-' and '_'. */
export function doTags(tags: Readonly<Record<string, string>>): string[] {
  return Object.entries(tags).map(([k, v]) => `${k}:${v}`.replace(/[^A-Za-z0-9:_-]/g, "-"));
}

/**
 * A DigitalOcean Kubernetes cluster in its own VPC: the newest patch of the configured minor
 * version, auto-upgrade and surge upgrade in a maintenance window, an HA control plane in prod,
 * a control-plane firewall, autoscaling node pools, and every resource tagged. Destroying it also
 * destroys the load balancers and volumes its workloads created, so none are left to bill.
 */
export class DoksCluster extends pulumi.ComponentResource implements Cluster {
  public readonly name: pulumi.Output<string>;
  public readonly kubeconfig: pulumi.Output<string>;
  public readonly provider: k8s.Provider;
  /** DOKS runs CoreDNS and the block-storage CSI driver (default class do-block-storage) itself. */
  public readonly readyForPlatform: readonly pulumi.Resource[] = [];
  public readonly ingressPorts = { http: 80, https: 443 } as const;
  public readonly region: string;
  public readonly deletesEverythingOnIt: pulumi.Resource;
  public readonly holdsCloudResources = true;
  public readonly network: ClusterNetwork;
  public readonly tags: Readonly<Record<string, string>>;

  constructor(name: string, args: DoksClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:cluster:Doks", name, {}, opts);
    const { doks: cfg } = args;
    const clusterName = args.name;
    this.region = cfg.region;
    this.tags = args.tags;
    const tags = doTags(args.tags);

    // The token comes from `digitalocean:token` (secret config) or DIGITALOCEAN_TOKEN.
    const digitaloceanProvider = new digitalocean.Provider(
      `${name}-digitalocean`,
      cfg.token ? { token: cfg.token } : {},
      { parent: this },
    );
    const child = { parent: this, provider: digitaloceanProvider };

    // Resolved on every run: a new patch release of the minor version is an in-place upgrade. A
    // prefix DigitalOcean does not offer is a config error; the VPC waits for this check, so that
    // nothing is created when it fails.
    const versions = digitalocean.getKubernetesVersionsOutput(
      { versionPrefix: cfg.versionPrefix },
      { parent: this, provider: digitaloceanProvider },
    );
    // The version of the cluster as it runs now, read by name before anything changes; none on
    // the first run. A version below it would make the provider replace the cluster.
    const live = pulumi.output(
      digitalocean.getKubernetesCluster({ name: clusterName }, { parent: this, provider: digitaloceanProvider }).then(
        (c): string | undefined => c.version,
        (e: unknown) => {
          // The data source's words for "none of that name" (datasource_kubernetes_cluster.go):
          // "Unable to find cluster with name: <name>", or "No clusters found" on a 404 listing.
          if (/Unable to find cluster with name|No clusters found/.test(String((e as Error | undefined)?.message ?? e)))
            return undefined;
          throw e;
        },
      ),
    );
    const version = pulumi.all([versions, live]).apply(([v, running]) => {
      const prefix = cfg.versionPrefix.replace(/\.$/, "");
      if (!v.latestVersion) {
        throw new pulumi.ResourceError(
          `platform:cluster.doks.versionPrefix "${prefix}" matches no version DigitalOcean offers; see \`doctl kubernetes options versions\``,
          this,
        );
      }
      if (running && compareVersions(v.latestVersion, running) < 0) {
        throw new pulumi.ResourceError(
          `platform:cluster.doks.versionPrefix "${prefix}" resolves to ${v.latestVersion}, below the ${running} that cluster ${clusterName} runs: DOKS cannot downgrade, and the provider would replace the cluster and everything on it; keep the prefix at or above the running minor version`,
          this,
        );
      }
      return v.latestVersion;
    });

    const vpc = new digitalocean.Vpc(
      `${name}-vpc`,
      {
        name: `${clusterName}-vpc`,
        region: version.apply(() => cfg.region),
        description: `Network of DOKS cluster ${clusterName}`,
        // Unset, DigitalOcean picks a range that overlaps none of the account's VPCs.
        ...(cfg.vpcCidr ? { ipRange: cfg.vpcCidr } : {}),
      },
      // The cluster's delete returns while DigitalOcean still tears its droplets down; the VPC's
      // delete retries "VPC with members" (403/409) for as long as its delete timeout, 2 minutes
      // by default. A cluster's nodes take longer than that to go.
      { ...child, customTimeouts: { delete: VPC_DELETE_TIMEOUT } },
    );
    this.network = { id: vpc.id, privateSubnetIds: [], publicSubnetIds: [] };

    const [first, ...more] = cfg.nodePools;
    if (!first)
      throw new pulumi.ResourceError("platform:cluster.doks.nodePools must hold at least one node pool", this);
    const cluster = new digitalocean.KubernetesCluster(
      `${name}-doks`,
      {
        name: clusterName,
        region: cfg.region,
        version,
        vpcUuid: vpc.id,
        autoUpgrade: true,
        surgeUpgrade: true,
        ha: cfg.ha,
        maintenancePolicy: { day: cfg.maintenanceWindow.day, startTime: cfg.maintenanceWindow.startTime },
        // Always on: the config refuses 0.0.0.0/0 (components/api-access.ts), as the policy pack does.
        controlPlaneFirewall: {
          enabled: true,
          allowedAddresses: cfg.apiAllowedCidrs,
        },
        nodePool: { ...poolArgs(first, clusterName), tags },
        tags,
        // Load balancers, volumes and snapshots its workloads made go with it, not onto the bill.
        destroyAllAssociatedResources: true,
      },
      child,
    );
    const morePools = more.map(
      (pool) =>
        new digitalocean.KubernetesNodePool(
          `${name}-${pool.name}`,
          { clusterId: cluster.id, ...poolArgs(pool, clusterName), tags },
          child,
        ),
    );
    this.name = cluster.name;

    // DigitalOcean's own kubeconfig carries a token that expires after seven days, and the drain
    // on destroy runs with the kubeconfig from state. This one asks doctl for a token on every use
    // (doctl kubernetes cluster kubeconfig exec-credential), as the provider's docs suggest: it
    // holds no credential, never expires and stays the same from run to run.
    const ca = cluster.kubeConfigs.apply((configs) => {
      const data = configs[0]?.clusterCaCertificate;
      if (!data) throw new pulumi.ResourceError(`DigitalOcean returned no CA certificate for ${clusterName}`, this);
      return data;
    });
    this.kubeconfig = pulumi.secret(
      cluster.id.apply((id) =>
        execKubeconfigOutput({
          name: cluster.name,
          endpoint: cluster.endpoint,
          certificateAuthorityData: ca,
          exec: () => ({
            command: "doctl",
            args: ["kubernetes", "cluster", "kubeconfig", "exec-credential", "--version=v1beta1", id],
            installHint:
              "the DOKS kubeconfig signs in with `doctl kubernetes cluster kubeconfig exec-credential`; install doctl (https://docs.digitalocean.com/reference/doctl/how-to/install/) and sign in with `doctl auth init` or DIGITALOCEAN_ACCESS_TOKEN",
          }),
        }),
      ),
    );
    this.deletesEverythingOnIt = cluster;
    // The first pool comes with the cluster; the provider also waits for the others, so that
    // Argo CD starts on all the nodes and a destroy deletes what is on the cluster, the drain
    // included, before any pool goes.
    this.provider = clusterProvider(name, this, {
      kubeconfig: this.kubeconfig,
      clusterIdentifier: cluster.id,
      readyAfter: morePools,
    });

    this.registerOutputs({ name: this.name, kubeconfig: this.kubeconfig, provider: this.provider, vpcId: vpc.id });
  }
}

/**
 * Orders DOKS version slugs (`1.35.1-do.0`) as the provider's go-version does: numbers by value,
 * then the `-do.N` release; negative when `a` is the older.
 */
export function compareVersions(a: string, b: string): number {
  const parts = (v: string) => v.split(/[.-]/).map((p) => (/^\d+$/.test(p) ? Number(p) : p));
  const [pa, pb] = [parts(a), parts(b)];
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const [x, y] = [pa[i] ?? 0, pb[i] ?? 0];
    if (x === y) continue;
    if (typeof x === "number" && typeof y === "number") return x - y;
    return String(x) < String(y) ? -1 : 1;
  }
  return 0;
}

function poolArgs(pool: NodePoolConfig, clusterName: string) {
  return {
    name: `${clusterName}-${pool.name}`,
    size: pool.machineType,
    autoScale: true,
    minNodes: pool.minNodes,
    maxNodes: pool.maxNodes,
    // No nodeCount: with autoscaling it would reset the pool's size on every change.
    labels: { "platform/pool": pool.name },
  };
}
