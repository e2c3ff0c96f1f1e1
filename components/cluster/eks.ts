// Submodule imports: `@pulumi/aws`'s index alone takes a quarter of a second to load.
import * as ec2 from "@pulumi/aws/ec2";
import * as eks from "@pulumi/aws/eks";
import { getAvailabilityZonesOutput } from "@pulumi/aws/getAvailabilityZones";
import { getCallerIdentityOutput } from "@pulumi/aws/getCallerIdentity";
import * as iam from "@pulumi/aws/iam";
import * as kms from "@pulumi/aws/kms";
import { LogGroup } from "@pulumi/aws/cloudwatch/logGroup";
import { Provider as AwsProvider } from "@pulumi/aws/provider";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { subnetCidr } from "../cidr";
import type { EksSettings, NodePoolConfig } from "../config";
import { clusterProvider, execKubeconfigOutput } from "./kubeconfig";
import type { Cluster, ClusterNetwork, WorkloadIdentity } from "./types";

export interface EksClusterArgs {
  /** EKS cluster name; every physical name and tag is built from it. */
  name: string;
  /** Region, version, network, API access, admins, node pools; see `platform:cluster.eks`. */
  eks: EksSettings;
  /** EKS deletion protection (`platform:cluster.protect`); `protect` itself comes in through the options. */
  deletionProtection: boolean;
  /** Tags put on every AWS resource of the cluster, instances and volumes included. */
  tags: Readonly<Record<string, string>>;
  /**
   * An ephemeral stack. Accepted as every kind takes it: what is on the cluster is deleted with
   * it, and `npm run down`, `dev:rm` and `reap` drop unreachable objects from state
   * (PULUMI_K8S_DELETE_UNREACHABLE), so a destroy completes when the cluster is already gone.
   */
  ephemeral?: boolean;
}

/**
 * The AWS APIs the VPC reaches through interface endpoints rather than NAT: ECR's API and
 * registry (image pulls), STS (IRSA's AssumeRoleWithWebIdentity) and EC2 (the CNI, the CSI driver).
 * Their names are `com.amazonaws.<region>.<service>`, as in the aws and aws-us-gov partitions; the
 * China regions name some services `cn.com.amazonaws.…`, which this does not handle.
 */
const INTERFACE_ENDPOINTS = ["ecr.api", "ecr.dkr", "sts", "ec2"] as const;

/** The five control-plane log types; all of them go to CloudWatch. */
const EKS_LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"] as const;

/** The AWS partition of a region: the ARNs of managed policies differ between them. */
export function awsPartition(region: string): string {
  if (region.startsWith("cn-")) return "aws-cn";
  if (region.startsWith("us-gov-")) return "aws-us-gov";
  return "aws";
}

/**
 * Subnet layout of the VPC, split in eight: private subnets (nodes, pods, internal load balancers)
 * take blocks 0-2, public subnets (NAT gateways, internet-facing load balancers) blocks 4-6.
 */
export function subnetLayout(vpcCidr: string, zones: number): { private: string[]; public: string[] } {
  const idx = Array.from({ length: zones }, (_, i) => i);
  return {
    private: idx.map((i) => subnetCidr(vpcCidr, 3, i)),
    public: idx.map((i) => subnetCidr(vpcCidr, 3, 4 + i)),
  };
}

/** AL2023 images; Graviton instance families (m7g, c7gn, t4g, ...) need the ARM one. */
export function amiType(machineType: string): string {
  const family = machineType.split(".")[0] ?? "";
  return /^[a-z]+\d+[a-z]*g[a-z]*$/.test(family) && !/^(g|p|inf|trn|dl)/.test(family)
    ? "AL2023_ARM_64_STANDARD"
    : "AL2023_x86_64_STANDARD";
}

function assumeRolePolicy(service: string): string {
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [{ Effect: "Allow", Principal: { Service: service }, Action: ["sts:AssumeRole", "sts:TagSession"] }],
  });
}

/**
 * An EKS cluster a security review passes: its own VPC over 2 AZs (3 in prod) with private node
 * subnets behind NAT, Secrets encrypted with a rotating KMS key, all control-plane logs, a private
 * API endpoint plus a public one limited to the configured CIDRs, access entries for the admins,
 * managed node groups with IMDSv2 and encrypted disks, IRSA, and the managed add-ons with network
 * policy enforcement on. The kubeconfig runs `aws eks get-token`, so it holds no credential.
 */
export class EksCluster extends pulumi.ComponentResource implements Cluster {
  public readonly name: pulumi.Output<string>;
  public readonly kubeconfig: pulumi.Output<string>;
  public readonly provider: k8s.Provider;
  public readonly readyForPlatform: readonly pulumi.Resource[];
  public readonly ingressPorts = { http: 80, https: 443 } as const;
  public readonly region: string;
  public readonly deletesEverythingOnIt: pulumi.Resource;
  public readonly holdsCloudResources = true;
  public readonly network: ClusterNetwork;
  public readonly workloadIdentity: WorkloadIdentity;
  public readonly tags: Readonly<Record<string, string>>;

  constructor(name: string, args: EksClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:cluster:Eks", name, {}, opts);
    const { eks: cfg, tags } = args;
    const clusterName = args.name;
    const partition = awsPartition(cfg.region);
    const managed = (policy: string) => `arn:${partition}:iam::aws:policy/${policy}`;
    this.region = cfg.region;
    this.tags = tags;

    // Configured zones are used as written; otherwise the region's first available ones, looked
    // up through a provider of their own. Too few of them is a config error, and every AWS
    // resource waits for that check (through its provider's region), so none is created first.
    const zones = cfg.zones
      ? pulumi.output(cfg.zones)
      : getAvailabilityZonesOutput(
          { state: "available", filters: [{ name: "opt-in-status", values: ["opt-in-not-required"] }] },
          { parent: this, provider: new AwsProvider(`${name}-aws-lookups`, { region: cfg.region }, { parent: this }) },
        ).names;
    const checkedZones = zones.apply((z) => {
      if (z.length < cfg.availabilityZones) {
        throw new pulumi.ResourceError(
          `platform:cluster.eks.availabilityZones is ${cfg.availabilityZones}, but ${cfg.region} offers only ${z.length} (${z.join(", ")}); lower it, or choose another region`,
          this,
        );
      }
      return z;
    });

    // The region is this stack's, never an ambient AWS_REGION; credentials come from the
    // environment (AWS_PROFILE, SSO, OIDC in CI). Default tags reach every taggable resource.
    const aws = new AwsProvider(
      `${name}-aws`,
      { region: checkedZones.apply(() => cfg.region), defaultTags: { tags: { ...tags } } },
      { parent: this },
    );
    const child = { parent: this, provider: aws };
    const named = (suffix: string) => ({ Name: `${clusterName}-${suffix}` });

    // --- Network -------------------------------------------------------------------------------
    const zone = (i: number) => checkedZones.apply((z) => z[i] ?? "");
    const vpc = new ec2.Vpc(
      `${name}-vpc`,
      {
        cidrBlock: cfg.vpcCidr,
        enableDnsHostnames: true,
        enableDnsSupport: true,
        tags: named("vpc"),
      },
      child,
    );
    // No rules: nothing may use the VPC's default security group by accident.
    new ec2.DefaultSecurityGroup(`${name}-default-sg`, { vpcId: vpc.id, tags: named("default-deny") }, child);
    const igw = new ec2.InternetGateway(`${name}-igw`, { vpcId: vpc.id, tags: named("igw") }, child);

    const layout = subnetLayout(cfg.vpcCidr, cfg.availabilityZones);
    const owned = { [`kubernetes.io/cluster/${clusterName}`]: "owned" };
    // Public subnets hold NAT gateways and internet-facing load balancers, private ones the nodes
    // and internal load balancers; the role tags are what the AWS load balancer controller reads.
    const subnets = (kind: "public" | "private", role: string) =>
      layout[kind].map(
        (cidrBlock, i) =>
          new ec2.Subnet(
            `${name}-${kind}-${i}`,
            {
              vpcId: vpc.id,
              cidrBlock,
              availabilityZone: zone(i),
              mapPublicIpOnLaunch: false,
              tags: { ...named(`${kind}-${i}`), ...owned, [role]: "1" },
            },
            // A subnet never moves; if the region's list of available zones shifts later (a
            // zone impaired), that must not replace the subnets and the cluster in them.
            { ...child, ignoreChanges: ["availabilityZone"] },
          ),
      );
    const publicSubnets = subnets("public", "kubernetes.io/role/elb");
    const privateSubnets = subnets("private", "kubernetes.io/role/internal-elb");

    const publicRoutes = new ec2.RouteTable(
      `${name}-public`,
      { vpcId: vpc.id, routes: [{ cidrBlock: "0.0.0.0/0", gatewayId: igw.id }], tags: named("public") },
      child,
    );
    const publicAssociations = publicSubnets.map(
      (s, i) =>
        new ec2.RouteTableAssociation(`${name}-public-${i}`, { subnetId: s.id, routeTableId: publicRoutes.id }, child),
    );
    // A NAT gateway per zone (prod requires it), so losing a zone never cuts the others off; or one.
    const natCount = cfg.natGatewayPerZone ? cfg.availabilityZones : 1;
    const nats = publicSubnets.slice(0, natCount).map((subnet, i) => {
      // "EIP may require IGW to exist prior to association" (the provider's Eip docs); on destroy
      // the address is released before the gateway is detached, which fails while one is mapped.
      const eip = new ec2.Eip(
        `${name}-nat-${i}`,
        { domain: "vpc", tags: named(`nat-${i}`) },
        { ...child, dependsOn: [igw] },
      );
      return new ec2.NatGateway(
        `${name}-nat-${i}`,
        { allocationId: eip.id, subnetId: subnet.id, tags: named(`nat-${i}`) },
        { ...child, dependsOn: [igw] },
      );
    });
    const privateNetwork = privateSubnets.map((subnet, i) => {
      const nat = nats[Math.min(i, nats.length - 1)];
      const table = new ec2.RouteTable(
        `${name}-private-${i}`,
        { vpcId: vpc.id, routes: [{ cidrBlock: "0.0.0.0/0", natGatewayId: nat?.id }], tags: named(`private-${i}`) },
        child,
      );
      const association = new ec2.RouteTableAssociation(
        `${name}-private-${i}`,
        { subnetId: subnet.id, routeTableId: table.id },
        child,
      );
      return { table, association };
    });
    const privateTables = privateNetwork.map((p) => p.table);
    const privateRoutes = privateNetwork.map((p) => p.association);

    // AWS APIs from inside the VPC without the NAT gateways: image pulls (ECR's API and registry,
    // whose layers come from S3), IRSA's STS calls and the EC2 calls of the CNI and the CSI
    // driver. Interface endpoints sit in the private subnets and answer the services' own names
    // (private DNS, which needs the VPC's DNS support and hostnames, both on); S3's gateway
    // endpoint is a route on the private route tables. Each interface endpoint costs per zone-hour.
    const endpointSg = new ec2.SecurityGroup(
      `${name}-endpoints`,
      {
        namePrefix: `${clusterName}-endpoints-`,
        description: "HTTPS from the VPC to the AWS API endpoints",
        vpcId: vpc.id,
        ingress: [
          { protocol: "tcp", fromPort: 443, toPort: 443, cidrBlocks: [cfg.vpcCidr], description: "HTTPS from the VPC" },
        ],
        // No egress: an endpoint only answers, and security groups are stateful.
        tags: named("endpoints"),
      },
      child,
    );
    const interfaceEndpoints = INTERFACE_ENDPOINTS.map(
      (service) =>
        new ec2.VpcEndpoint(
          `${name}-endpoint-${service.replace(".", "-")}`,
          {
            vpcId: vpc.id,
            serviceName: `com.amazonaws.${cfg.region}.${service}`,
            vpcEndpointType: "Interface",
            privateDnsEnabled: true,
            subnetIds: privateSubnets.map((s) => s.id),
            securityGroupIds: [endpointSg.id],
            tags: named(`endpoint-${service.replace(".", "-")}`),
          },
          child,
        ),
    );
    const s3Endpoint = new ec2.VpcEndpoint(
      `${name}-endpoint-s3`,
      {
        vpcId: vpc.id,
        serviceName: `com.amazonaws.${cfg.region}.s3`,
        vpcEndpointType: "Gateway",
        routeTableIds: privateTables.map((t) => t.id),
        tags: named("endpoint-s3"),
      },
      child,
    );
    this.network = {
      id: vpc.id,
      privateSubnetIds: privateSubnets.map((s) => s.id),
      publicSubnetIds: publicSubnets.map((s) => s.id),
    };

    // --- IAM and encryption --------------------------------------------------------------------
    const clusterRole = new iam.Role(
      `${name}-cluster-role`,
      { namePrefix: `${clusterName}-eks-`, assumeRolePolicy: assumeRolePolicy("eks.amazonaws.com") },
      child,
    );
    const clusterPolicies = ["AmazonEKSClusterPolicy"].map(
      (p) => new iam.RolePolicyAttachment(`${name}-${p}`, { role: clusterRole.name, policyArn: managed(p) }, child),
    );
    const nodeRole = new iam.Role(
      `${name}-node-role`,
      { namePrefix: `${clusterName}-node-`, assumeRolePolicy: assumeRolePolicy("ec2.amazonaws.com") },
      child,
    );
    // Pulling images is all a node does with ECR: PullOnly, not ReadOnly (which lists and
    // describes every repository of the account as well).
    const nodePolicies = [
      "AmazonEKSWorkerNodePolicy",
      "AmazonEKS_CNI_Policy",
      "AmazonEC2ContainerRegistryPullOnly",
    ].map((p) => new iam.RolePolicyAttachment(`${name}-${p}`, { role: nodeRole.name, policyArn: managed(p) }, child));

    // One key for Secrets and for the cluster's two log groups. Its policy is KMS's default one
    // (the account administers it through IAM, which is how EKS's role uses it) plus CloudWatch
    // Logs of this region, for these two groups only (the encryption context names the group).
    const caller = getCallerIdentityOutput({}, { parent: this, provider: aws });
    const account = caller.accountId;
    const logGroupNames = [`/aws/eks/${clusterName}/cluster`, `/aws/vpc/${clusterName}/flow-logs`] as const;
    const secretsKey = new kms.Key(
      `${name}-secrets-key`,
      {
        description: `Envelope encryption of Kubernetes Secrets, and of the control-plane and flow logs, of EKS cluster ${clusterName}`,
        enableKeyRotation: true,
        deletionWindowInDays: cfg.secretsKeyDeletionWindowDays,
        policy: account.apply((acct) => keyPolicy(partition, cfg.region, acct, logGroupNames)),
      },
      child,
    );
    new kms.Alias(
      `${name}-secrets-key`,
      { name: `alias/${clusterName}-secrets`, targetKeyId: secretsKey.keyId },
      child,
    );

    // EKS writes to this group; creating it here gives it a retention and removes it on destroy.
    const logGroup = new LogGroup(
      `${name}-logs`,
      { name: logGroupNames[0], retentionInDays: cfg.logRetentionDays, kmsKeyId: secretsKey.arn },
      child,
    );

    // VPC flow logs (all traffic, accepted and rejected) to a group of their own, written by the
    // flow-logs service through a role that may write to that group only.
    const flowLogGroup = new LogGroup(
      `${name}-flow-logs`,
      { name: logGroupNames[1], retentionInDays: cfg.logRetentionDays, kmsKeyId: secretsKey.arn },
      child,
    );
    const flowLogsRole = new iam.Role(
      `${name}-flow-logs-role`,
      {
        namePrefix: `${clusterName}-flow-logs-`,
        assumeRolePolicy: account.apply((acct) => flowLogsTrustPolicy(partition, cfg.region, acct)),
      },
      child,
    );
    const flowLogsPolicy = new iam.RolePolicy(
      `${name}-flow-logs`,
      {
        role: flowLogsRole.name,
        policy: pulumi
          .all([flowLogGroup.arn, account])
          .apply(([arn, acct]) => flowLogsWritePolicy(arn, `arn:${partition}:logs:${cfg.region}:${acct}:log-group:*`)),
      },
      child,
    );
    const flowLog = new ec2.FlowLog(
      `${name}-flow-logs`,
      {
        vpcId: vpc.id,
        trafficType: "ALL",
        logDestinationType: "cloud-watch-logs",
        logDestination: flowLogGroup.arn,
        iamRoleArn: flowLogsRole.arn,
        tags: named("flow-logs"),
      },
      // The service writes as soon as the flow log exists: the role's policy comes first.
      { ...child, dependsOn: [flowLogsPolicy] },
    );

    // --- Control plane -------------------------------------------------------------------------
    const publicAccess = cfg.apiAllowedCidrs.length > 0;
    const cluster = new eks.Cluster(
      `${name}-eks`,
      {
        name: clusterName,
        version: cfg.kubernetesVersion,
        roleArn: clusterRole.arn,
        vpcConfig: {
          subnetIds: privateSubnets.map((s) => s.id),
          endpointPrivateAccess: true,
          endpointPublicAccess: publicAccess,
          ...(publicAccess ? { publicAccessCidrs: cfg.apiAllowedCidrs } : {}),
        },
        // No implicit admin: EKS's entry for the creator is one no other identity gets, and one that
        // adminPrincipalArns cannot list (CreateAccessEntry: ResourceInUseException). Access is
        // the explicit entries below.
        accessConfig: { authenticationMode: "API", bootstrapClusterCreatorAdminPermissions: false },
        encryptionConfig: { provider: { keyArn: secretsKey.arn }, resources: ["secrets"] },
        enabledClusterLogTypes: [...EKS_LOG_TYPES],
        // The add-ons below are EKS-managed ones; no unmanaged copies to adopt first.
        bootstrapSelfManagedAddons: false,
        deletionProtection: args.deletionProtection,
        // Standard support only: extended support costs six times as much per hour, silently.
        upgradePolicy: { supportType: "STANDARD" },
      },
      {
        ...child,
        // The role's policy must be attached before EKS uses the role, and detached only after.
        // The flow log records the VPC from before the control plane's first interface to after
        // its last (on destroy it goes only once the cluster is gone).
        dependsOn: [...clusterPolicies, logGroup, flowLog],
        // The provider marks the flag ForceNew (EKS reads it at creation only): a cluster created
        // with the creator as admin keeps it, rather than being replaced.
        ignoreChanges: ["accessConfig.bootstrapClusterCreatorAdminPermissions"],
      },
    );
    this.name = cluster.name;

    // --- Access --------------------------------------------------------------------------------
    // Cluster-admin for each of adminPrincipalArns and for whoever runs `pulumi up` (laptop, CI):
    // an access entry per principal (EKS allows one) with the cluster-admin policy.
    const grantAdmin = (resourceName: string, principalArn: pulumi.Input<string>) => {
      const entry = new eks.AccessEntry(
        resourceName,
        { clusterName: cluster.name, principalArn, type: "STANDARD" },
        child,
      );
      return new eks.AccessPolicyAssociation(
        resourceName,
        {
          clusterName: cluster.name,
          principalArn: entry.principalArn,
          policyArn: `arn:${partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy`,
          accessScope: { type: "cluster" },
        },
        child,
      );
    };
    const admins = [...new Set(cfg.adminPrincipalArns)];
    const adminAccess = admins.map((principalArn, i) => grantAdmin(`${name}-admin-${i}`, principalArn));
    // The deployer, as an IAM principal: STS names an assumed role's session
    // (arn:aws:sts::ACCT:assumed-role/NAME/SESSION); getSessionContext gives the role's ARN.
    const deployerArn = iam.getSessionContextOutput({ arn: caller.arn }, { parent: this, provider: aws }).issuerArn;
    // An exception to "no resources inside apply": whether the deployer needs an entry of its own
    // depends on who it is, which only the lookup knows (in a preview too, so the preview shows
    // it). It has one only when it is not an admin already, so `${name}-deployer` only ever holds
    // a principal no admin entry has, and a change of deployer never collides with one.
    const deployerAccess = deployerArn.apply((arn) =>
      admins.includes(arn) ? [] : [grantAdmin(`${name}-deployer`, arn)],
    );

    const issuerUrl = cluster.identities.apply((ids) => ids[0]?.oidcs[0]?.issuer ?? "");
    const oidc = new iam.OpenIdConnectProvider(
      `${name}-oidc`,
      { url: issuerUrl, clientIdLists: ["sts.amazonaws.com"] },
      child,
    );
    this.workloadIdentity = { issuerUrl, trust: oidc.arn };

    // --- Add-ons and nodes ---------------------------------------------------------------------
    // An add-on runs the configured version, or EKS's default for the cluster's Kubernetes
    // version: shown exactly in every preview, and moved on when kubernetesVersion is.
    const addon = (
      addonName: string,
      version: string | undefined,
      extra: Partial<eks.AddonArgs>,
      deps: pulumi.Resource[],
    ) =>
      new eks.Addon(
        `${name}-${addonName}`,
        {
          clusterName: cluster.name,
          addonName,
          addonVersion:
            version ??
            eks.getAddonVersionOutput(
              { addonName, kubernetesVersion: cfg.kubernetesVersion, mostRecent: false },
              { parent: this, provider: aws },
            ).version,
          resolveConflictsOnCreate: "OVERWRITE",
          resolveConflictsOnUpdate: "OVERWRITE",
          ...extra,
        },
        { ...child, dependsOn: deps },
      );
    // Nodes become Ready only with a CNI, and the CNI's pods reach the API through kube-proxy's
    // Service routes, so these two come before the node groups (side by side: neither waits).
    const vpcCni = addon(
      "vpc-cni",
      cfg.addonVersions.vpcCni,
      { configurationValues: JSON.stringify({ enableNetworkPolicy: "true" }) },
      [],
    );
    const kubeProxy = addon("kube-proxy", cfg.addonVersions.kubeProxy, {}, []);

    const nodeGroups = cfg.nodePools.map((pool) =>
      this.nodeGroup(name, clusterName, pool, {
        cluster,
        nodeRole,
        subnets: privateSubnets,
        tags,
        child,
        // Nodes in private subnets pull their images (the CNI's among them) through the NAT
        // gateways: their routes must be in before a node boots, and on destroy the way out (NAT
        // gateways, routes, internet gateway) goes only after the nodes, as the drain before them
        // needs the EBS CSI controller to reach the EC2 API. The control plane takes longer than
        // the NAT gateways, so this costs no time.
        // The deployer's access comes in here too: the Kubernetes provider waits for the node
        // groups, and clusterProvider's readyAfter takes resources, not an Output of them.
        dependsOn: deployerAccess.apply((deployer) => [
          ...nodePolicies,
          igw,
          ...nats,
          ...publicAssociations,
          ...privateRoutes,
          ...interfaceEndpoints,
          s3Endpoint,
          vpcCni,
          kubeProxy,
          ...deployer,
        ]),
      }),
    );

    const ebsRole = new iam.Role(
      `${name}-ebs-csi-role`,
      {
        namePrefix: `${clusterName}-ebs-`,
        assumeRolePolicy: pulumi
          .all([oidc.arn, issuerUrl])
          .apply(([arn, url]) => irsaTrustPolicy(arn, url, "kube-system", "ebs-csi-controller-sa")),
      },
      child,
    );
    const ebsPolicy = new iam.RolePolicyAttachment(
      `${name}-AmazonEBSCSIDriverPolicy`,
      { role: ebsRole.name, policyArn: `arn:${partition}:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy` },
      child,
    );
    // Their pods need nodes to run on; EKS waits for them to be healthy.
    const coredns = addon("coredns", cfg.addonVersions.coredns, {}, nodeGroups);
    const ebsCsi = addon("aws-ebs-csi-driver", cfg.addonVersions.ebsCsiDriver, { serviceAccountRoleArn: ebsRole.arn }, [
      ...nodeGroups,
      ebsPolicy,
    ]);
    // Resource metrics for HorizontalPodAutoscalers (`kubectl top` too); EKS has none built in.
    const metricsServer = addon("metrics-server", undefined, {}, nodeGroups);

    this.kubeconfig = execKubeconfigOutput({
      name: cluster.name,
      endpoint: cluster.endpoint,
      certificateAuthorityData: cluster.certificateAuthority.data,
      exec: (clusterId) => ({
        command: "aws",
        args: ["eks", "get-token", "--cluster-name", clusterId, "--region", cfg.region, "--output", "json"],
        installHint:
          "The AWS CLI v2 signs the tokens: https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html",
      }),
    });
    this.deletesEverythingOnIt = cluster;
    this.provider = clusterProvider(name, this, {
      kubeconfig: this.kubeconfig,
      // A replaced cluster keeps its name and ARN, but not its creation time.
      clusterIdentifier: pulumi.interpolate`${cluster.arn}@${cluster.createdAt}`,
      // Argo CD starts as soon as pods can run: the node groups (which wait for the CNI). Its
      // install needs no storage, and no cluster DNS to turn Ready: its probes ask only the
      // process (and the API server, by its Service IP); the pods that resolve Service names at
      // start (redis-ha's init and haproxy, in HA) come after the chart's pre-install Job, and the
      // kubelet restarts them until CoreDNS answers, well within the release's timeout.
      // And the admins' access: the provider acts as the deployer (whose association the node
      // groups wait for), and an admin's first kubectl comes right after `pulumi up`.
      readyAfter: [...nodeGroups, ...adminAccess],
    });

    // EKS marks no StorageClass as default since 1.30; volume claims that name none (Prometheus,
    // Loki, Vault in the GitOps tree) get encrypted gp3, made in the zone of the pod that uses it.
    const gp3 = new k8s.storage.v1.StorageClass(
      `${name}-gp3`,
      {
        metadata: { name: "gp3", annotations: { "storageclass.kubernetes.io/is-default-class": "true" } },
        provisioner: "ebs.csi.aws.com",
        parameters: { type: "gp3", encrypted: "true" },
        volumeBindingMode: "WaitForFirstConsumer",
        allowVolumeExpansion: true,
        reclaimPolicy: "Delete",
      },
      { parent: this, provider: this.provider },
    );
    // The tree's first sync needs these before the root app applies it: volume claims bind only
    // with the default class and its CSI driver (with its IRSA role), Argo CD's repo server
    // resolves the Git host through cluster DNS, and HorizontalPodAutoscalers read resource metrics.
    this.readyForPlatform = [coredns, ebsCsi, gp3, metricsServer];

    this.registerOutputs({
      name: this.name,
      kubeconfig: this.kubeconfig,
      provider: this.provider,
      vpcId: vpc.id,
      oidcProviderArn: oidc.arn,
    });
  }

  private nodeGroup(
    name: string,
    clusterName: string,
    pool: NodePoolConfig,
    ctx: {
      cluster: eks.Cluster;
      nodeRole: iam.Role;
      subnets: ec2.Subnet[];
      tags: Readonly<Record<string, string>>;
      child: pulumi.CustomResourceOptions;
      dependsOn: pulumi.Input<pulumi.Resource[]>;
    },
  ): eks.NodeGroup {
    const instanceTags = { ...ctx.tags, Name: `${clusterName}-${pool.name}` };
    // IMDSv2 only, one hop: pods cannot borrow the node's role (they get their own through IRSA).
    const template = new ec2.LaunchTemplate(
      `${name}-${pool.name}`,
      {
        namePrefix: `${clusterName}-${pool.name}-`,
        metadataOptions: { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1 },
        blockDeviceMappings: [
          {
            deviceName: "/dev/xvda",
            ebs: { volumeSize: pool.diskSizeGb, volumeType: "gp3", encrypted: "true", deleteOnTermination: "true" },
          },
        ],
        // Default tags do not reach what the node group launches; these do.
        tagSpecifications: ["instance", "volume", "network-interface"].map((resourceType) => ({
          resourceType,
          tags: instanceTags,
        })),
      },
      ctx.child,
    );
    return new eks.NodeGroup(
      `${name}-${pool.name}`,
      {
        clusterName: ctx.cluster.name,
        nodeGroupNamePrefix: `${pool.name}-`,
        nodeRoleArn: ctx.nodeRole.arn,
        subnetIds: ctx.subnets.map((s) => s.id),
        // Nodes follow the control plane when kubernetesVersion moves.
        version: ctx.cluster.version,
        instanceTypes: [pool.machineType],
        amiType: amiType(pool.machineType),
        capacityType: pool.spot ? "SPOT" : "ON_DEMAND",
        // Pulumi owns the size: nothing else does (no autoscaler runs in this platform), and an
        // ignored desiredSize keeps its old value on update, which EKS refuses below a raised
        // minSize ("Minimum capacity N can't be greater than desired size M"). An autoscaler,
        // when one comes, owns desiredSize: ignore it again then, and raise it with minNodes.
        scalingConfig: { minSize: pool.minNodes, maxSize: pool.maxNodes, desiredSize: pool.minNodes },
        updateConfig: { maxUnavailable: 1 },
        launchTemplate: { id: template.id, version: template.latestVersion.apply(String) },
        labels: { "platform/pool": pool.name },
      },
      { ...ctx.child, dependsOn: ctx.dependsOn },
    );
  }
}

/** Trust policy of an IRSA role: only the given service account of this cluster may assume it. */
function irsaTrustPolicy(
  oidcProviderArn: string,
  issuerUrl: string,
  namespace: string,
  serviceAccount: string,
): string {
  const issuer = issuerUrl.replace(/^https:\/\//, "");
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      {
        Effect: "Allow",
        Principal: { Federated: oidcProviderArn },
        Action: "sts:AssumeRoleWithWebIdentity",
        Condition: {
          StringEquals: {
            [`${issuer}:sub`]: `system:serviceaccount:${namespace}:${serviceAccount}`,
            [`${issuer}:aud`]: "sts.amazonaws.com",
          },
        },
      },
    ],
  });
}

/**
 * The key policy of the cluster's key: KMS's default one (the account administers and uses the
 * key through IAM), and CloudWatch Logs of this region may use it for the named log groups only.
 */
function keyPolicy(partition: string, region: string, account: string, groups: readonly string[]): string {
  const dnsSuffix = partition === "aws-cn" ? "amazonaws.com.cn" : "amazonaws.com";
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "Enable IAM User Permissions",
        Effect: "Allow",
        Principal: { AWS: `arn:${partition}:iam::${account}:root` },
        Action: "kms:*",
        Resource: "*",
      },
      {
        Sid: "CloudWatchLogsEncryptsTheClusterGroups",
        Effect: "Allow",
        Principal: { Service: `logs.${region}.${dnsSuffix}` },
        Action: ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
        Resource: "*",
        Condition: {
          ArnEquals: {
            "kms:EncryptionContext:aws:logs:arn": groups.map(
              (g) => `arn:${partition}:logs:${region}:${account}:log-group:${g}`,
            ),
          },
        },
      },
    ],
  });
}

/** Trust policy of the flow-logs role: the flow-logs service, for this account's flow logs in this region. */
function flowLogsTrustPolicy(partition: string, region: string, account: string): string {
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      {
        Effect: "Allow",
        Principal: { Service: "vpc-flow-logs.amazonaws.com" },
        Action: "sts:AssumeRole",
        Condition: {
          StringEquals: { "aws:SourceAccount": account },
          ArnLike: { "aws:SourceArn": `arn:${partition}:ec2:${region}:${account}:vpc-flow-log/*` },
        },
      },
    ],
  });
}

/**
 * What the flow-logs service does with the role: AWS's list of actions, on the flow-log group
 * and its streams only (DescribeLogGroups takes no narrower resource than the region's groups).
 */
function flowLogsWritePolicy(groupArn: string, allGroupsArn: string): string {
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      {
        Effect: "Allow",
        Action: ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
        Resource: [groupArn, `${groupArn}:*`],
      },
      { Effect: "Allow", Action: "logs:DescribeLogGroups", Resource: allGroupsArn },
    ],
  });
}
