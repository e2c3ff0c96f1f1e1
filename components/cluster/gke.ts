// Submodule imports: `@pulumi/gcp`'s index alone takes a seventh of a second to load.
import { createHash } from "node:crypto";
import * as compute from "@pulumi/gcp/compute";
import * as container from "@pulumi/gcp/container";
import * as kms from "@pulumi/gcp/kms";
import { getProjectOutput } from "@pulumi/gcp/organizations/getProject";
import * as projects from "@pulumi/gcp/projects";
import { Provider as GcpProvider } from "@pulumi/gcp/provider";
import * as serviceaccount from "@pulumi/gcp/serviceaccount";
import type * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { RandomId } from "@pulumi/random/randomId";
import type { GkeSettings, NodePoolConfig } from "../config";
import { clusterProvider, execKubeconfigOutput } from "./kubeconfig";
import type { Cluster, ClusterNetwork, WorkloadIdentity } from "./types";

export interface GkeClusterArgs {
  /** GKE cluster name; the network, router, key ring and service account are named from it. */
  name: string;
  /** Project, region, channel, address ranges, API access, node pools; see `platform:cluster.gke`. */
  gke: GkeSettings;
  /** GKE's own deletion protection (`platform:cluster.protect`); `protect` itself comes in through the options. */
  deletionProtection: boolean;
  /** Labels put on every labelled resource of the cluster, nodes included. */
  tags: Readonly<Record<string, string>>;
  /**
   * An ephemeral stack. Accepted as every kind takes it: what is on the cluster is deleted with
   * it, and `npm run down`, `dev:rm` and `reap` drop unreachable objects from state
   * (PULUMI_K8S_DELETE_UNREACHABLE), so a destroy completes when the cluster is already gone.
   */
  ephemeral?: boolean;
}

/**
 * What the node service account may do: Google's least-privilege role for node service accounts
 * (GKE's hardening guide, "Use least privilege IAM service accounts"), which holds what nodes need
 * for logging, monitoring and the HPA's performance profile, and replaces the logging.logWriter,
 * monitoring.metricWriter, monitoring.viewer and stackdriver.resourceMetadata.writer grants.
 */
const GKE_NODE_ROLES = ["roles/container.defaultNodeServiceAccount"] as const;

/**
 * An API the cluster needs; enabled here, never disabled on destroy (other things may use them). A
 * fresh project has only the Service Usage API on: IAM makes the node service account, Resource
 * Manager reads the project and sets its IAM policy.
 */
type Api =
  | "compute.googleapis.com"
  | "container.googleapis.com"
  | "cloudkms.googleapis.com"
  | "iam.googleapis.com"
  | "cloudresourcemanager.googleapis.com";

/**
 * `<base>-<suffix>` within `max` characters; a too-long base is cut and given a short hash, so
 * two long cluster names never shorten to the same name.
 */
export function boundedName(base: string, suffix: string, max: number): string {
  const full = `${base}-${suffix}`;
  if (full.length <= max) return full;
  const hash = createHash("sha256").update(base).digest("hex").slice(0, 4);
  const keep = max - suffix.length - hash.length - 2;
  return `${base.slice(0, keep).replace(/-+$/, "")}-${hash}-${suffix}`;
}

/**
 * A private, regional GKE cluster: its own VPC network and subnetwork with secondary ranges for
 * pods and services, Cloud NAT for egress, a node service account with only GKE's default node
 * role, a release channel, private nodes behind master authorized networks, Workload Identity,
 * Dataplane V2 (network policy enforced), Secrets encrypted with a Cloud KMS key, shielded nodes,
 * and deletion protection in prod. The kubeconfig runs `gke-gcloud-auth-plugin`, so it holds no
 * credential.
 */
export class GkeCluster extends pulumi.ComponentResource implements Cluster {
  public readonly name: pulumi.Output<string>;
  public readonly kubeconfig: pulumi.Output<string>;
  public readonly provider: k8s.Provider;
  /** GKE runs kube-dns, the Persistent Disk CSI driver (default class standard-rwo) and metrics-server itself. */
  public readonly readyForPlatform: readonly pulumi.Resource[] = [];
  public readonly ingressPorts = { http: 80, https: 443 } as const;
  public readonly region: string;
  public readonly deletesEverythingOnIt: pulumi.Resource;
  public readonly holdsCloudResources = true;
  public readonly network: ClusterNetwork;
  public readonly workloadIdentity: WorkloadIdentity;
  public readonly tags: Readonly<Record<string, string>>;

  constructor(name: string, args: GkeClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:cluster:Gke", name, {}, opts);
    const { gke: cfg, tags } = args;
    const clusterName = args.name;
    this.region = cfg.region;
    this.tags = tags;

    // Project and region are this stack's; credentials come from GOOGLE_CREDENTIALS or
    // Application Default Credentials (gcloud auth application-default login, or OIDC in CI).
    const gcp = new GcpProvider(
      `${name}-gcp`,
      { project: cfg.project, region: cfg.region, defaultLabels: { ...tags } },
      { parent: this },
    );
    const child = { parent: this, provider: gcp };

    const api = (service: Api) =>
      new projects.Service(
        `${name}-${service.split(".")[0] ?? service}`,
        { service, disableOnDestroy: false, disableDependentServices: false },
        child,
      );
    const [computeApi, containerApi, kmsApi, iamApi, resourceManagerApi] = [
      api("compute.googleapis.com"),
      api("container.googleapis.com"),
      api("cloudkms.googleapis.com"),
      api("iam.googleapis.com"),
      api("cloudresourcemanager.googleapis.com"),
    ];

    // --- Network -------------------------------------------------------------------------------
    const network = new compute.Network(
      `${name}-network`,
      { name: `${clusterName}-net`, autoCreateSubnetworks: false, routingMode: "REGIONAL" },
      { ...child, dependsOn: [computeApi] },
    );
    const subnet = new compute.Subnetwork(
      `${name}-nodes`,
      {
        name: `${clusterName}-nodes`,
        region: cfg.region,
        network: network.id,
        ipCidrRange: cfg.nodeCidr,
        privateIpGoogleAccess: true,
        secondaryIpRanges: [
          { rangeName: "pods", ipCidrRange: cfg.podCidr },
          { rangeName: "services", ipCidrRange: cfg.serviceCidr },
        ],
      },
      child,
    );
    // Private nodes have no public address: Cloud NAT is their way out.
    const router = new compute.Router(
      `${name}-router`,
      { name: `${clusterName}-router`, region: cfg.region, network: network.id },
      child,
    );
    const nat = new compute.RouterNat(
      `${name}-nat`,
      {
        name: `${clusterName}-nat`,
        region: cfg.region,
        router: router.name,
        natIpAllocateOption: "AUTO_ONLY",
        sourceSubnetworkIpRangesToNat: "ALL_SUBNETWORKS_ALL_IP_RANGES",
        logConfig: { enable: true, filter: "ERRORS_ONLY" },
      },
      child,
    );
    this.network = { id: network.id, privateSubnetIds: [subnet.id], publicSubnetIds: [] };

    // --- Identities and encryption -------------------------------------------------------------
    const nodeAccountId = boundedName(clusterName, "nodes", 30);
    const nodeAccount = new serviceaccount.Account(
      `${name}-nodes`,
      { accountId: nodeAccountId, displayName: `Nodes of GKE cluster ${clusterName}` },
      { ...child, dependsOn: [iamApi] },
    );
    const nodeMember = pulumi.interpolate`serviceAccount:${nodeAccount.email}`;
    const nodeGrants = GKE_NODE_ROLES.map(
      (role) =>
        new projects.IAMMember(
          `${name}-nodes-${role.split("/")[1] ?? role}`,
          { project: cfg.project, role, member: nodeMember },
          { ...child, dependsOn: [resourceManagerApi] },
        ),
    );

    // Key rings can never be deleted in Google Cloud; a random suffix lets a re-created stack
    // make a new one instead of failing on the old name.
    const ringSuffix = new RandomId(`${name}-keyring-suffix`, { byteLength: 3 }, { parent: this });
    const keyRing = new kms.KeyRing(
      `${name}-keyring`,
      { name: pulumi.interpolate`${clusterName}-${ringSuffix.hex}`, location: cfg.region },
      { ...child, dependsOn: [kmsApi] },
    );
    const secretsKey = new kms.CryptoKey(
      `${name}-secrets-key`,
      { name: "kubernetes-secrets", keyRing: keyRing.id, rotationPeriod: "7776000s", purpose: "ENCRYPT_DECRYPT" },
      child,
    );
    // GKE's service agent is made some time after the GKE API is enabled, not always before the
    // key grant: generating it (Service Usage's generateServiceIdentity) makes it now.
    const gkeAgent = new projects.ServiceIdentity(
      `${name}-gke-agent`,
      { project: cfg.project, service: "container.googleapis.com" },
      { ...child, dependsOn: [containerApi] },
    );
    // The provider sets `email` only when the API answers one; GKE's agent has a documented address.
    const projectNumber = getProjectOutput(
      { projectId: cfg.project },
      { parent: this, provider: gcp, dependsOn: [resourceManagerApi] },
    ).number;
    const gkeAgentEmail = pulumi
      .all([gkeAgent.email, projectNumber])
      .apply(([email, number]) => email || `service-${number}@container-engine-robot.iam.gserviceaccount.com`);
    const keyGrant = new kms.CryptoKeyIAMMember(
      `${name}-secrets-key-gke`,
      {
        cryptoKeyId: secretsKey.id,
        role: "roles/cloudkms.cryptoKeyEncrypterDecrypter",
        member: pulumi.interpolate`serviceAccount:${gkeAgentEmail}`,
      },
      child,
    );

    // --- Control plane -------------------------------------------------------------------------
    const nodeSecurity = {
      serviceAccount: nodeAccount.email,
      oauthScopes: ["https://www.googleapis.com/auth/cloud-platform"],
      shieldedInstanceConfig: { enableSecureBoot: true, enableIntegrityMonitoring: true },
      // Pods see the GKE metadata server, never the node's credentials.
      workloadMetadataConfig: { mode: "GKE_METADATA" },
    };
    const workloadPool = `${cfg.project}.svc.id.goog`;
    const cluster = new container.Cluster(
      `${name}-gke`,
      {
        name: clusterName,
        location: cfg.region,
        network: network.id,
        subnetwork: subnet.id,
        // Node pools are managed separately; the default one only exists while the cluster is made.
        removeDefaultNodePool: true,
        initialNodeCount: 1,
        nodeConfig: nodeSecurity,
        releaseChannel: { channel: cfg.releaseChannel },
        networkingMode: "VPC_NATIVE",
        ipAllocationPolicy: { clusterSecondaryRangeName: "pods", servicesSecondaryRangeName: "services" },
        privateClusterConfig: {
          enablePrivateNodes: true,
          enablePrivateEndpoint: false,
          masterIpv4CidrBlock: cfg.controlPlaneCidr,
        },
        masterAuthorizedNetworksConfig: {
          cidrBlocks: cfg.apiAllowedCidrs.map((cidrBlock) => ({ cidrBlock, displayName: `allowed ${cidrBlock}` })),
          gcpPublicCidrsAccessEnabled: false,
        },
        masterAuth: { clientCertificateConfig: { issueClientCertificate: false } },
        enableLegacyAbac: false,
        workloadIdentityConfig: { workloadPool },
        // Dataplane V2: Cilium-based, enforces NetworkPolicy without a separate add-on.
        datapathProvider: "ADVANCED_DATAPATH",
        databaseEncryption: { state: "ENCRYPTED", keyName: secretsKey.id },
        enableShieldedNodes: true,
        loggingConfig: {
          enableComponents: ["SYSTEM_COMPONENTS", "WORKLOADS", "APISERVER", "CONTROLLER_MANAGER", "SCHEDULER"],
        },
        monitoringConfig: { enableComponents: ["SYSTEM_COMPONENTS", "APISERVER", "CONTROLLER_MANAGER", "SCHEDULER"] },
        deletionProtection: args.deletionProtection,
        resourceLabels: { ...tags },
      },
      {
        ...child,
        // GKE must be able to use the key before it encrypts anything with it.
        dependsOn: [keyGrant, containerApi],
        // Only the short-lived default pool reads nodeConfig; a change there must not rebuild the cluster.
        ignoreChanges: ["nodeConfig"],
      },
    );
    this.name = cluster.name;
    this.workloadIdentity = {
      issuerUrl: pulumi.interpolate`https://container.googleapis.com/v1/projects/${cfg.project}/locations/${cfg.region}/clusters/${cluster.name}`,
      trust: cluster.workloadIdentityConfig.apply((w) => w.workloadPool ?? workloadPool),
    };

    // Node pools get an explicit `name`: pulumi-gcp auto-names every `name`, and a `namePrefix`
    // beside it fails every create ("Cannot specify both name and name_prefix"). A pool whose
    // immutable settings change is replaced; a fixed name would make that delete the old pool
    // first (the bridge's default for a name set by the program), so every pod on it goes down at
    // once. Instead the name ends in a random suffix that is drawn again exactly when an immutable
    // setting changes (the keepers below), and the new pool comes up before the old one is drained
    // and deleted. Settings GKE updates in place (machine type, disk size and type, labels, sizes)
    // are not keepers.
    const pools = cfg.nodePools.map((pool: NodePoolConfig) => {
      const immutable = {
        spot: pool.spot,
        metadata: { "disable-legacy-endpoints": "true" },
        oauthScopes: nodeSecurity.oauthScopes,
        shieldedInstanceConfig: nodeSecurity.shieldedInstanceConfig,
      };
      const suffix = new RandomId(
        `${name}-${pool.name}-suffix`,
        {
          byteLength: 4,
          keepers: {
            cluster: clusterName,
            location: cfg.region,
            serviceAccount: nodeAccountId,
            nodeConfig: JSON.stringify(immutable),
          },
        },
        { parent: this },
      );
      return new container.NodePool(
        `${name}-${pool.name}`,
        {
          cluster: cluster.id,
          location: cluster.location,
          name: pulumi.interpolate`${pool.name}-${suffix.hex}`,
          initialNodeCount: Math.max(pool.minNodes, 1),
          autoscaling: { minNodeCount: pool.minNodes, maxNodeCount: pool.maxNodes },
          management: { autoRepair: true, autoUpgrade: true },
          upgradeSettings: { maxSurge: 1, maxUnavailable: 0 },
          nodeConfig: {
            ...nodeSecurity,
            ...immutable,
            machineType: pool.machineType,
            diskSizeGb: pool.diskSizeGb,
            diskType: "pd-balanced",
            labels: { "platform/pool": pool.name },
            resourceLabels: { ...tags },
          },
        },
        // The autoscaler owns the size once the pool exists. A new name comes with every
        // replacement, so the new pool can be made before the old one goes. Nothing the pool
        // reads names the router, the NAT or the node account's grants, yet private nodes pull
        // images through Cloud NAT and log with those grants: waiting for them makes a destroy
        // delete the pools (and the drain before them) first. They are made beside the control
        // plane, far sooner.
        {
          ...child,
          dependsOn: [router, nat, ...nodeGrants],
          ignoreChanges: ["initialNodeCount"],
          deleteBeforeReplace: false,
        },
      );
    });

    this.kubeconfig = execKubeconfigOutput({
      name: cluster.name,
      endpoint: cluster.endpoint,
      certificateAuthorityData: cluster.masterAuth.clusterCaCertificate,
      exec: () => ({
        command: "gke-gcloud-auth-plugin",
        // Without it the plugin signs in as gcloud's logged-in account (gcloud auth login), not as
        // Application Default Credentials: GOOGLE_APPLICATION_CREDENTIALS, `gcloud auth
        // application-default login`, workload identity federation in CI.
        args: ["--use_application_default_credentials"],
        provideClusterInfo: true,
        installHint:
          "Install gke-gcloud-auth-plugin: gcloud components install gke-gcloud-auth-plugin (https://cloud.google.com/kubernetes-engine/docs/how-to/cluster-access-for-kubectl)",
      }),
    });
    this.deletesEverythingOnIt = cluster;
    // A replaced cluster keeps its id (project, region, name), and GKE exports no creation time or
    // uid; the endpoint changes with an IP rotation too. So a generation number, drawn again
    // whenever the cluster is replaced (replaceWith, Pulumi CLI 3.207 or later), tells clusters apart.
    const generation = new RandomId(`${name}-generation`, { byteLength: 8 }, { parent: this, replaceWith: [cluster] });
    this.provider = clusterProvider(name, this, {
      kubeconfig: this.kubeconfig,
      clusterIdentifier: pulumi.interpolate`${cluster.id}@${generation.hex}`,
      readyAfter: pools,
    });

    this.registerOutputs({
      name: this.name,
      kubeconfig: this.kubeconfig,
      provider: this.provider,
      networkId: network.id,
    });
  }
}
