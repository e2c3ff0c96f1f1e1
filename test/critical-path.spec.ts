/**
 * How long a new stack's first `pulumi up` takes to reach the root Application, simulated on the
 * resource graph the program registers under the mocks: every resource starts once everything
 * it waits for is created, and takes the time of its type (DURATIONS). The longest chain of
 * waits, the critical path, is compared with the chain no wiring can avoid (UNAVOIDABLE): the
 * network, the control plane, the nodes (with their CNI), Argo CD, the root app.
 */
import { strict as assert } from "node:assert";
import type { Recorded } from "./mocks";
import { runProgram } from "./program";
import { readStackConfig, stackFile } from "../scripts/synth/stack-config";

/**
 * Seconds a create takes, per resource type, and where the figure comes from: the clouds'
 * documentation where it gives one, otherwise what creates of that kind typically take (the
 * provider's own wait for the resource to be ready included). Only their order of magnitude
 * matters here: the control plane and the nodes dwarf the rest. A type without a figure fails
 * the spec, so that a new resource is given one.
 */
const DURATIONS: Record<string, { seconds: number; why: string }> = {
  // --- AWS ---
  "aws:ec2/vpc:Vpc": { seconds: 15, why: "available within seconds; the provider then sets the two DNS attributes" },
  "aws:ec2/subnet:Subnet": { seconds: 10, why: "seconds; the provider waits for it to be available" },
  "aws:ec2/internetGateway:InternetGateway": { seconds: 10, why: "create and attach, seconds" },
  "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": { seconds: 5, why: "adopts and empties an existing group" },
  "aws:ec2/eip:Eip": { seconds: 5, why: "an address allocation, seconds" },
  "aws:ec2/natGateway:NatGateway": { seconds: 120, why: "pending for one to two minutes before it is available" },
  "aws:ec2/routeTable:RouteTable": { seconds: 5, why: "seconds" },
  "aws:ec2/routeTableAssociation:RouteTableAssociation": { seconds: 2, why: "seconds" },
  "aws:ec2/launchTemplate:LaunchTemplate": { seconds: 2, why: "metadata only" },
  "aws:iam/role:Role": { seconds: 5, why: "seconds, plus the provider's wait for IAM to propagate" },
  "aws:iam/rolePolicyAttachment:RolePolicyAttachment": { seconds: 3, why: "seconds" },
  "aws:iam/openIdConnectProvider:OpenIdConnectProvider": { seconds: 3, why: "seconds" },
  "aws:kms/key:Key": { seconds: 10, why: "create, then key policy and rotation, seconds" },
  "aws:kms/alias:Alias": { seconds: 2, why: "seconds" },
  "aws:cloudwatch/logGroup:LogGroup": { seconds: 2, why: "seconds" },
  "aws:eks/cluster:Cluster": { seconds: 540, why: "EKS control planes take 8-10 minutes to become ACTIVE" },
  "aws:eks/accessEntry:AccessEntry": { seconds: 5, why: "an EKS API call, seconds" },
  "aws:eks/accessPolicyAssociation:AccessPolicyAssociation": { seconds: 5, why: "an EKS API call, seconds" },
  "aws:eks/addon:Addon": {
    seconds: 90,
    why: "1-2 minutes: EKS reports ACTIVE once the add-on's workloads are healthy",
  },
  "aws:eks/nodeGroup:NodeGroup": { seconds: 210, why: "3-4 minutes: instances boot, join and turn Ready" },
  "aws:ec2/securityGroup:SecurityGroup": { seconds: 5, why: "create, then its rules, seconds" },
  "aws:ec2/vpcEndpoint:VpcEndpoint": {
    seconds: 120,
    why: "an interface endpoint is pending for one to two minutes, and the provider waits for it (a gateway one, seconds)",
  },
  "aws:ec2/flowLog:FlowLog": { seconds: 5, why: "one API call; delivery starts later and is not awaited" },
  "aws:iam/rolePolicy:RolePolicy": { seconds: 3, why: "seconds" },
  // --- Google Cloud ---
  "gcp:projects/service:Service": { seconds: 30, why: "enabling an API on a new project, under a minute" },
  "gcp:compute/network:Network": { seconds: 30, why: "a global operation, about half a minute" },
  "gcp:compute/subnetwork:Subnetwork": { seconds: 20, why: "a regional operation, tens of seconds" },
  "gcp:compute/router:Router": { seconds: 15, why: "tens of seconds" },
  "gcp:compute/routerNat:RouterNat": { seconds: 30, why: "a router update, tens of seconds" },
  "gcp:serviceaccount/account:Account": { seconds: 5, why: "seconds" },
  "gcp:projects/iAMMember:IAMMember": { seconds: 10, why: "a policy read-modify-write, seconds" },
  "gcp:kms/keyRing:KeyRing": { seconds: 5, why: "seconds" },
  "gcp:kms/cryptoKey:CryptoKey": { seconds: 5, why: "seconds" },
  "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember": { seconds: 10, why: "a policy read-modify-write, seconds" },
  "gcp:projects/serviceIdentity:ServiceIdentity": {
    seconds: 10,
    why: "generateServiceIdentity, a Service Usage operation of seconds",
  },
  "gcp:container/cluster:Cluster": {
    seconds: 540,
    why: "a regional cluster with its short-lived default pool, 8-10 minutes",
  },
  "gcp:container/nodePool:NodePool": { seconds: 240, why: "a regional pool over three zones, 3-5 minutes" },
  // --- DigitalOcean ---
  "digitalocean:index/vpc:Vpc": { seconds: 5, why: "seconds" },
  "digitalocean:index/kubernetesCluster:KubernetesCluster": {
    seconds: 420,
    why: "DOKS provisions the control plane and the first pool in 6-8 minutes; the provider waits for both",
  },
  "digitalocean:index/kubernetesNodePool:KubernetesNodePool": {
    seconds: 240,
    why: "Droplets boot and join, 3-5 minutes",
  },
  // --- Kubernetes, local, random ---
  "kubernetes:core/v1:Namespace": { seconds: 2, why: "one API call" },
  "kubernetes:core/v1:Secret": { seconds: 2, why: "one API call" },
  "kubernetes:storage.k8s.io/v1:StorageClass": { seconds: 2, why: "one API call" },
  "kubernetes:argoproj.io/v1alpha1:AppProject": { seconds: 2, why: "one API call; custom resources are not awaited" },
  "kubernetes:argoproj.io/v1alpha1:Application": { seconds: 2, why: "one API call; custom resources are not awaited" },
  "kubernetes:helm.sh/v3:Release": {
    seconds: 120,
    why: "Argo CD's chart with --wait on new nodes: the pre-install Job, then images pulled and pods Ready, 1-2 minutes",
  },
  "command:local:Command": { seconds: 1, why: "the password's timestamp and the drain (whose create does nothing)" },
  "random:index/randomPassword:RandomPassword": { seconds: 0, why: "local" },
  "random:index/randomId:RandomId": { seconds: 0, why: "local" },
};

/** Providers are configured, not created: they are ready once what they wait for is. */
function durationOf(r: Node): number {
  if (!r.custom || r.type.startsWith("pulumi:providers:")) return 0;
  const d = DURATIONS[r.type];
  if (!d) throw new Error(`no duration for ${r.type} (${r.name}): give it one in DURATIONS, with its source`);
  return d.seconds;
}

/** A resource of the graph, with what it waits for directly: its dependencies and its provider. */
interface Node {
  urn: string;
  type: string;
  name: string;
  custom: boolean;
  parent: string;
  waitsFor: string[];
}

/** The graph of a program run: a resource waits for its dependencies (dependsOn and inputs) and its provider. */
function graphOf(resources: readonly Recorded[]): Node[] {
  return resources.map((r) => ({
    urn: r.urn,
    type: r.type,
    name: r.name,
    custom: r.custom,
    parent: r.parent,
    waitsFor: [...r.dependencies, ...(r.provider ? [r.provider.split("::").slice(0, -1).join("::")] : [])],
  }));
}

interface Schedule {
  /** Seconds after the start at which each resource is created. */
  finish: Map<string, number>;
  /** The longest chain of waits to `target`, first resource first. */
  path: Node[];
  seconds: number;
}

/**
 * When everything is created if each resource starts once all it waits for is there: its own
 * dependencies and provider, and those of its parents (the SDK registers a child only after its
 * parent, and the parent only after its dependencies are created). A component counts as created
 * once all its children are: depending on one waits for all of them.
 */
function schedule(nodes: readonly Node[], target: string): Schedule {
  const byUrn = new Map(nodes.map((n) => [n.urn, n]));
  const children = new Map<string, Node[]>();
  for (const n of nodes) if (n.parent) children.set(n.parent, [...(children.get(n.parent) ?? []), n]);
  const ancestors = (n: Node): Set<string> => {
    const out = new Set<string>();
    for (let p = byUrn.get(n.parent); p; p = byUrn.get(p.parent)) out.add(p.urn);
    return out;
  };
  const start = new Map<string, { at: number; via?: string }>();
  const finish = new Map<string, { at: number; via?: string }>();
  const visiting = new Set<string>();

  const startOf = (n: Node): { at: number; via?: string } => {
    const known = start.get(n.urn);
    if (known) return known;
    const own = ancestors(n);
    let best: { at: number; via?: string } = { at: 0 };
    for (const dep of n.waitsFor) {
      // Waiting on an enclosing component would be waiting on oneself.
      if (own.has(dep)) continue;
      const d = byUrn.get(dep);
      if (!d) throw new Error(`${n.name} waits for ${dep}, which the program never registered`);
      const at = finishOf(d).at;
      if (at > best.at) best = { at, via: dep };
    }
    const parent = byUrn.get(n.parent);
    if (parent) {
      const p = startOf(parent);
      if (p.at > best.at) best = { at: p.at, ...(p.via ? { via: p.via } : {}) };
    }
    start.set(n.urn, best);
    return best;
  };

  const finishOf = (n: Node): { at: number; via?: string } => {
    const known = finish.get(n.urn);
    if (known) return known;
    if (visiting.has(n.urn)) throw new Error(`a cycle of waits through ${n.name}`);
    visiting.add(n.urn);
    const s = startOf(n);
    let result: { at: number; via?: string } = { at: s.at + durationOf(n), ...(s.via ? { via: s.via } : {}) };
    if (!n.custom) {
      for (const c of children.get(n.urn) ?? []) {
        const at = finishOf(c).at;
        if (at > result.at) result = { at, via: c.urn };
      }
    }
    visiting.delete(n.urn);
    finish.set(n.urn, result);
    return result;
  };

  for (const n of nodes) finishOf(n);
  const end = byUrn.get(target);
  if (!end) throw new Error(`no resource ${target} in the graph`);
  const path: Node[] = [];
  for (let n: Node | undefined = end; n; n = finish.get(n.urn)?.via ? byUrn.get(finish.get(n.urn)!.via!) : undefined) {
    path.unshift(n);
  }
  return {
    finish: new Map([...finish].map(([urn, f]) => [urn, f.at])),
    path: path.filter((n) => n.custom),
    seconds: finishOf(end).at,
  };
}

/** Everything `urn` waits for before it starts, directly or not (parents' waits included). */
function waitsOn(nodes: readonly Node[], urn: string): Set<string> {
  const byUrn = new Map(nodes.map((n) => [n.urn, n]));
  const children = (u: string) => nodes.filter((n) => n.parent === u);
  const seen = new Set<string>();
  const add = (u: string): void => {
    if (seen.has(u)) return;
    seen.add(u);
    visit(u);
    // A component is there once its children are.
    for (const c of children(u)) add(c.urn);
  };
  const visit = (u: string): void => {
    const n = byUrn.get(u);
    if (!n) return;
    const deps = [...n.waitsFor];
    for (let p = byUrn.get(n.parent); p; p = byUrn.get(p.parent)) deps.push(...p.waitsFor);
    for (const d of deps) add(d);
  };
  visit(urn);
  return seen;
}

type Step = readonly [type: string, name: string];

/** The chain no wiring avoids, per cloud: each step needs the one before it. */
const UNAVOIDABLE: Record<"eks" | "gke" | "doks", Step[]> = {
  eks: [
    ["aws:ec2/vpc:Vpc", "cluster-vpc"],
    ["aws:ec2/subnet:Subnet", "cluster-private-0"], // the control plane's interfaces sit in them
    ["aws:eks/cluster:Cluster", "cluster-eks"],
    ["aws:eks/addon:Addon", "cluster-vpc-cni"], // a node turns Ready only with a CNI
    ["aws:eks/nodeGroup:NodeGroup", "cluster-system"],
    ["pulumi:providers:kubernetes", "cluster-provider"],
    ["kubernetes:core/v1:Namespace", "argocd-namespace"],
    ["kubernetes:helm.sh/v3:Release", "argocd-release"], // its pods need nodes
    ["kubernetes:argoproj.io/v1alpha1:AppProject", "gitops-project"], // Argo CD's CRDs come with the release
    ["kubernetes:argoproj.io/v1alpha1:Application", "gitops-root-app"],
  ],
  gke: [
    ["gcp:projects/service:Service", "cluster-compute"],
    ["gcp:compute/network:Network", "cluster-network"],
    ["gcp:compute/subnetwork:Subnetwork", "cluster-nodes"],
    ["gcp:container/cluster:Cluster", "cluster-gke"],
    ["gcp:container/nodePool:NodePool", "cluster-system"], // the default pool is removed: no nodes before
    ["pulumi:providers:kubernetes", "cluster-provider"],
    ["kubernetes:core/v1:Namespace", "argocd-namespace"],
    ["kubernetes:helm.sh/v3:Release", "argocd-release"],
    ["kubernetes:argoproj.io/v1alpha1:AppProject", "gitops-project"],
    ["kubernetes:argoproj.io/v1alpha1:Application", "gitops-root-app"],
  ],
  doks: [
    ["digitalocean:index/vpc:Vpc", "cluster-vpc"],
    ["digitalocean:index/kubernetesCluster:KubernetesCluster", "cluster-doks"], // with its first pool
    ["pulumi:providers:kubernetes", "cluster-provider"],
    ["kubernetes:core/v1:Namespace", "argocd-namespace"],
    ["kubernetes:helm.sh/v3:Release", "argocd-release"],
    ["kubernetes:argoproj.io/v1alpha1:AppProject", "gitops-project"],
    ["kubernetes:argoproj.io/v1alpha1:Application", "gitops-root-app"],
  ],
};

/** The stacks of each cloud: the stack files and the examples. */
const STACKS: Record<keyof typeof UNAVOIDABLE, string[]> = {
  eks: ["prod", "examples/eks"],
  gke: ["examples/gke"],
  doks: ["stage", "examples/doks"],
};

function find(nodes: readonly Node[], [type, name]: Step): Node {
  const found = nodes.filter((n) => n.type === type && n.name === name);
  assert.equal(found.length, 1, `expected one ${type} named ${name}, found ${found.length}`);
  return found[0]!;
}

/**
 * The chain's steps in the graph, each checked to wait for the one before (directly or not: what
 * lies between only adds time), and its length, a lower bound of any path through them.
 */
function chainOf(nodes: readonly Node[], steps: readonly Step[]): { nodes: Node[]; seconds: number } {
  const chain = steps.map((s) => find(nodes, s));
  chain.forEach((n, i) => {
    const before = chain[i - 1];
    if (before) assert.ok(waitsOn(nodes, n.urn).has(before.urn), `${n.name} does not wait for ${before.name}`);
  });
  return { nodes: chain, seconds: chain.reduce((sum, n) => sum + durationOf(n), 0) };
}

const show = (path: readonly Node[]) => path.map((n) => `${n.name} (${durationOf(n)} s)`).join(" → ");

const nameOf = (nodes: readonly Node[], urn: string) => nodes.find((n) => n.urn === urn)?.name ?? urn;

type Pattern = readonly [type: string, name?: RegExp];
/**
 * Deleted first → deleted after: every resource matching `first` before every one matching
 * `then`, or, `paired`, before its own counterpart (same name, or same index: route table
 * association 1 and route table 1).
 */
type DestroyRule = readonly [first: Pattern, then: Pattern, why: string, paired?: "paired"];

const K8S_PROVIDER: Pattern = ["pulumi:providers:kubernetes"];
const NODES: Pattern = ["aws:eks/nodeGroup:NodeGroup"];
const CLUSTER: Pattern = ["aws:eks/cluster:Cluster"];
const VPC: Pattern = ["aws:ec2/vpc:Vpc"];
const IGW: Pattern = ["aws:ec2/internetGateway:InternetGateway"];
const NAT: Pattern = ["aws:ec2/natGateway:NatGateway"];
const EIP: Pattern = ["aws:ec2/eip:Eip"];
const SUBNET: Pattern = ["aws:ec2/subnet:Subnet"];
const ROUTES: Pattern = ["aws:ec2/routeTable:RouteTable"];
const ASSOCIATIONS: Pattern = ["aws:ec2/routeTableAssociation:RouteTableAssociation"];
const ADDON = (name: RegExp): Pattern => ["aws:eks/addon:Addon", name];
const ATTACHMENT = (name: RegExp): Pattern => ["aws:iam/rolePolicyAttachment:RolePolicyAttachment", name];
const ROLE = (name: RegExp): Pattern => ["aws:iam/role:Role", name];

/**
 * The destroy order of an EKS stack, as pairs: what `pulumi destroy` deletes before what. Pulumi
 * deletes a resource only after everything that depends on it (pkg/resource/deploy/step_generator.go,
 * GenerateDeletes: "We must not delete dependencies prior to their dependent nodes"), where
 * depending is an input, dependsOn, the provider or the parent: the reverse of the create order,
 * which is what `waitsOn` walks. Every AWS resource of the stack is in at least one pair.
 */
const EKS_DESTROY_ORDER: readonly DestroyRule[] = [
  [
    ["kubernetes:argoproj.io/v1alpha1:Application", /^gitops-root-app$/],
    ["command:local:Command", /^gitops-drain-command$/],
    "the root app's cascade, then the drain",
  ],
  [
    ["command:local:Command", /^gitops-drain-command$/],
    ["kubernetes:helm.sh/v3:Release", /^argocd-release$/],
    "the drain needs Argo CD",
  ],
  [
    ["command:local:Command", /^gitops-drain-command$/],
    ADDON(/coredns|ebs-csi|metrics-server/),
    "the drain's volume deletes need the CSI driver",
  ],
  [["kubernetes:helm.sh/v3:Release"], K8S_PROVIDER, "objects on the cluster go before its provider"],
  [K8S_PROVIDER, NODES, "the provider goes after all on it, before the nodes"],
  [
    K8S_PROVIDER,
    ["aws:eks/accessPolicyAssociation:AccessPolicyAssociation"],
    "Pulumi keeps its access while it deletes objects",
  ],
  [ADDON(/coredns|ebs-csi|metrics-server/), NODES, "their pods run on the nodes"],
  [NODES, ADDON(/vpc-cni|kube-proxy/), "nodes need the CNI while they drain"],
  // Its own: each pool's node group and launch template share the pool's name.
  [NODES, ["aws:ec2/launchTemplate:LaunchTemplate"], "a node group uses its launch template", "paired"],
  [
    NODES,
    ATTACHMENT(/AmazonEKSWorkerNodePolicy|AmazonEKS_CNI_Policy|AmazonEC2ContainerRegistryReadOnly/),
    "nodes keep their policies",
  ],
  // The way out: the drain's volume deletes (EBS CSI controller → EC2 API) go through it.
  [NODES, NAT, "nodes reach AWS APIs through the NAT gateways"],
  [NODES, EIP, "the NAT gateways' addresses"],
  [NODES, ASSOCIATIONS, "private routes to NAT, public routes to the internet gateway"],
  [NODES, ROUTES, "the route tables"],
  [NODES, IGW, "the internet gateway"],
  [NODES, SUBNET, "nodes sit in the private subnets"],
  [NODES, CLUSTER, "node groups belong to the cluster"],
  [ADDON(/vpc-cni|kube-proxy/), CLUSTER, "add-ons belong to the cluster"],
  [ADDON(/ebs-csi/), ATTACHMENT(/AmazonEBSCSIDriverPolicy/), "the CSI driver keeps its role's policy"],
  [ATTACHMENT(/AmazonEBSCSIDriverPolicy/), ROLE(/ebs-csi/), "a policy is detached before its role goes"],
  [ROLE(/ebs-csi/), ["aws:iam/openIdConnectProvider:OpenIdConnectProvider"], "the role trusts the OIDC provider"],
  [["aws:iam/openIdConnectProvider:OpenIdConnectProvider"], CLUSTER, "the cluster's issuer"],
  [
    ["aws:eks/accessPolicyAssociation:AccessPolicyAssociation"],
    ["aws:eks/accessEntry:AccessEntry"],
    "an association belongs to its entry",
    "paired",
  ],
  [["aws:eks/accessEntry:AccessEntry"], CLUSTER, "entries belong to the cluster"],
  [CLUSTER, ["aws:ec2/subnet:Subnet", /private/], "the control plane's interfaces sit in the private subnets"],
  [CLUSTER, ["aws:kms/key:Key"], "Secrets are encrypted with the key"],
  [CLUSTER, ["aws:cloudwatch/logGroup:LogGroup"], "EKS would write the group again, without retention"],
  [CLUSTER, ATTACHMENT(/AmazonEKSClusterPolicy/), "EKS uses its role until the cluster is gone"],
  [ATTACHMENT(/AmazonEKSClusterPolicy/), ROLE(/cluster-role/), "a policy is detached before its role goes"],
  [ATTACHMENT(/AmazonEKSWorkerNodePolicy/), ROLE(/node-role/), "a policy is detached before its role goes"],
  [["aws:kms/alias:Alias"], ["aws:kms/key:Key"], "an alias names its key"],
  [
    ["aws:ec2/routeTableAssociation:RouteTableAssociation", /private/],
    ["aws:ec2/routeTable:RouteTable", /private/],
    "an association names its table",
    "paired",
  ],
  [
    ["aws:ec2/routeTableAssociation:RouteTableAssociation", /public/],
    ["aws:ec2/routeTable:RouteTable", /public/],
    "an association names its table",
    "paired",
  ],
  [
    ["aws:ec2/routeTableAssociation:RouteTableAssociation", /private/],
    ["aws:ec2/subnet:Subnet", /private/],
    "an association names its subnet",
    "paired",
  ],
  [
    ["aws:ec2/routeTableAssociation:RouteTableAssociation", /public/],
    ["aws:ec2/subnet:Subnet", /public/],
    "an association names its subnet",
    "paired",
  ],
  [["aws:ec2/routeTable:RouteTable", /private/], NAT, "private routes lead to the NAT gateways", "paired"],
  [["aws:ec2/routeTable:RouteTable", /public/], IGW, "public routes lead to the internet gateway"],
  [NAT, EIP, "a NAT gateway holds its address", "paired"],
  [NAT, ["aws:ec2/subnet:Subnet", /public/], "NAT gateways sit in the public subnets", "paired"],
  [NAT, IGW, "a NAT gateway needs the internet gateway"],
  [EIP, IGW, "DetachInternetGateway fails while an address is mapped"],
  [["aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"], VPC, "the VPC's own group"],
  [SUBNET, VPC, "subnets are in the VPC"],
  [ROUTES, VPC, "route tables are in the VPC"],
  [IGW, VPC, "the gateway is attached to the VPC"],
  [NODES, ATTACHMENT(/AmazonEC2ContainerRegistryPullOnly/), "nodes keep their policies"],
  [NODES, ["aws:ec2/vpcEndpoint:VpcEndpoint"], "nodes pull images and reach AWS APIs through the endpoints"],
  [
    ["aws:ec2/vpcEndpoint:VpcEndpoint", /endpoint-(ecr|sts|ec2)/],
    ["aws:ec2/securityGroup:SecurityGroup", /endpoints/],
    "interface endpoints are in their security group",
  ],
  [
    ["aws:ec2/vpcEndpoint:VpcEndpoint", /endpoint-(ecr|sts|ec2)/],
    ["aws:ec2/subnet:Subnet", /private/],
    "interface endpoints sit in the private subnets",
  ],
  [
    ["aws:ec2/vpcEndpoint:VpcEndpoint", /endpoint-s3/],
    ["aws:ec2/routeTable:RouteTable", /private/],
    "S3's routes are on the private route tables",
  ],
  [["aws:ec2/vpcEndpoint:VpcEndpoint"], VPC, "endpoints are in the VPC"],
  [["aws:ec2/securityGroup:SecurityGroup"], VPC, "the group is in the VPC"],
  [CLUSTER, ["aws:ec2/flowLog:FlowLog"], "the flow log records the VPC until the cluster is gone"],
  [["aws:ec2/flowLog:FlowLog"], ["aws:cloudwatch/logGroup:LogGroup", /flow-logs/], "the flow log writes to its group"],
  [["aws:ec2/flowLog:FlowLog"], ["aws:iam/rolePolicy:RolePolicy", /flow-logs/], "the service writes with its role"],
  [["aws:ec2/flowLog:FlowLog"], VPC, "the flow log is the VPC's"],
  [["aws:iam/rolePolicy:RolePolicy", /flow-logs/], ROLE(/flow-logs/), "an inline policy belongs to its role"],
  [["aws:cloudwatch/logGroup:LogGroup"], ["aws:kms/key:Key"], "CloudWatch Logs uses the key to the end"],
];

const matches = (nodes: readonly Node[], [type, name]: Pattern) =>
  nodes.filter((n) => n.type === type && (!name || name.test(n.name)));

const indexOf = (n: Node) => /-(\d+)$/.exec(n.name)?.[1];

/** The counterparts of `x` among `ys`: the one of its name, else the one of its index, else the only one. */
function counterparts(x: Node, ys: readonly Node[]): Node[] {
  const same = ys.filter((y) => y.name === x.name);
  if (same.length > 0) return same;
  if (ys.length === 1) return [...ys];
  return ys.filter((y) => indexOf(y) !== undefined && indexOf(y) === indexOf(x));
}

const GKE_NODES: Pattern = ["gcp:container/nodePool:NodePool"];
const GKE_CLUSTER: Pattern = ["gcp:container/cluster:Cluster"];
const GCP_NETWORK: Pattern = ["gcp:compute/network:Network"];
const GCP_API = (name: RegExp): Pattern => ["gcp:projects/service:Service", name];

/**
 * The destroy order of a GKE stack, as pairs, by the rule of EKS_DESTROY_ORDER (GenerateDeletes:
 * "We must not delete dependencies prior to their dependent nodes"): what is on the cluster, the
 * provider, the node pools, then the network's way out and the network, the KMS grant, the
 * service accounts, and the APIs last. Every Google Cloud resource is in at least one pair.
 */
const GKE_DESTROY_ORDER: readonly DestroyRule[] = [
  [
    ["kubernetes:argoproj.io/v1alpha1:Application", /^gitops-root-app$/],
    ["command:local:Command", /^gitops-drain-command$/],
    "the root app's cascade, then the drain",
  ],
  [
    ["command:local:Command", /^gitops-drain-command$/],
    ["kubernetes:helm.sh/v3:Release", /^argocd-release$/],
    "the drain needs Argo CD",
  ],
  [["kubernetes:helm.sh/v3:Release"], K8S_PROVIDER, "objects on the cluster go before its provider"],
  [K8S_PROVIDER, GKE_NODES, "the provider goes after all on it, before the nodes"],
  // The way out: private nodes pull images and reach Google's APIs through Cloud NAT.
  [GKE_NODES, ["gcp:compute/routerNat:RouterNat"], "private nodes go out through Cloud NAT"],
  [GKE_NODES, ["gcp:compute/router:Router"], "Cloud NAT runs on the router"],
  [GKE_NODES, ["gcp:projects/iAMMember:IAMMember"], "nodes log and send metrics with their account's grant"],
  [GKE_NODES, ["gcp:serviceaccount/account:Account"], "nodes run as the node account"],
  [GKE_NODES, GKE_CLUSTER, "node pools belong to the cluster"],
  [["gcp:compute/routerNat:RouterNat"], ["gcp:compute/router:Router"], "a NAT is part of its router"],
  [["gcp:compute/router:Router"], GCP_NETWORK, "the router is in the network"],
  [GKE_CLUSTER, ["gcp:compute/subnetwork:Subnetwork"], "the cluster's nodes, pods and services use its ranges"],
  [GKE_CLUSTER, ["gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"], "GKE decrypts Secrets until the cluster is gone"],
  [GKE_CLUSTER, ["gcp:serviceaccount/account:Account"], "the short-lived default pool's nodes ran as it"],
  [GKE_CLUSTER, GCP_API(/container$/), "the GKE API"],
  [["gcp:compute/subnetwork:Subnetwork"], GCP_NETWORK, "the subnetwork is in the network"],
  [["gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"], ["gcp:kms/cryptoKey:CryptoKey"], "the grant is on the key"],
  [
    ["gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"],
    ["gcp:projects/serviceIdentity:ServiceIdentity"],
    "the grant names GKE's agent",
  ],
  [["gcp:kms/cryptoKey:CryptoKey"], ["gcp:kms/keyRing:KeyRing"], "a key is in its ring"],
  [["gcp:kms/keyRing:KeyRing"], GCP_API(/cloudkms$/), "the Cloud KMS API"],
  [["gcp:projects/serviceIdentity:ServiceIdentity"], GCP_API(/container$/), "GKE's agent comes with the GKE API"],
  [["gcp:projects/iAMMember:IAMMember"], ["gcp:serviceaccount/account:Account"], "the grant names the node account"],
  [["gcp:projects/iAMMember:IAMMember"], GCP_API(/cloudresourcemanager$/), "project IAM is Resource Manager's"],
  [["gcp:serviceaccount/account:Account"], GCP_API(/iam$/), "the IAM API"],
  [GCP_NETWORK, GCP_API(/compute$/), "the Compute Engine API"],
];

const DOKS_CLUSTER: Pattern = ["digitalocean:index/kubernetesCluster:KubernetesCluster"];
const DOKS_POOLS: Pattern = ["digitalocean:index/kubernetesNodePool:KubernetesNodePool"];

/**
 * The destroy order of a DOKS stack, by the same rule: what is on the cluster, the provider, the
 * node pools beside the cluster's own, the cluster (with its first pool), the VPC. A stack with a
 * single pool has no KubernetesNodePool; `destroyOrderGaps` is told so.
 */
const DOKS_DESTROY_ORDER: readonly DestroyRule[] = [
  [
    ["kubernetes:argoproj.io/v1alpha1:Application", /^gitops-root-app$/],
    ["command:local:Command", /^gitops-drain-command$/],
    "the root app's cascade, then the drain",
  ],
  [
    ["command:local:Command", /^gitops-drain-command$/],
    ["kubernetes:helm.sh/v3:Release", /^argocd-release$/],
    "the drain needs Argo CD",
  ],
  [["kubernetes:helm.sh/v3:Release"], K8S_PROVIDER, "objects on the cluster go before its provider"],
  [K8S_PROVIDER, DOKS_POOLS, "the provider goes after all on it, before the nodes"],
  [K8S_PROVIDER, DOKS_CLUSTER, "the provider reaches the cluster's API; the first pool is the cluster's"],
  [DOKS_POOLS, DOKS_CLUSTER, "node pools belong to the cluster"],
  [DOKS_CLUSTER, ["digitalocean:index/vpc:Vpc"], "the cluster's nodes are in the VPC"],
];

/**
 * What a destroy-order table leaves unstated or wrong on a graph: a pair whose first may go after
 * its second, a pattern that matches nothing (unless its type is one of `mayBeAbsent`), and a
 * resource of `cloud` (a type prefix) in no pair.
 */
function destroyOrderGaps(
  nodes: readonly Node[],
  rules: readonly DestroyRule[],
  cloud: string,
  mayBeAbsent: readonly string[] = [],
): string[] {
  const gaps: string[] = [];
  const covered = new Set<string>();
  for (const [first, then, why, paired] of rules) {
    const a = matches(nodes, first);
    const b = matches(nodes, then);
    if (a.length === 0 || b.length === 0) {
      const missing = a.length === 0 ? first : then;
      if (!mayBeAbsent.includes(missing[0])) gaps.push(`no ${missing.join(" ")} in the graph`);
      continue;
    }
    for (const x of a) {
      const waits = waitsOn(nodes, x.urn);
      const ys = paired ? counterparts(x, b) : b;
      if (ys.length === 0) gaps.push(`${x.name} has no counterpart among ${then.join(" ")}`);
      for (const y of ys) {
        if (!waits.has(y.urn)) gaps.push(`${y.name} could be deleted before ${x.name} (${why})`);
        covered.add(x.urn).add(y.urn);
      }
    }
  }
  for (const n of nodes) {
    if (n.custom && n.type.startsWith(cloud) && !covered.has(n.urn)) gaps.push(`no pair states ${n.type} ${n.name}`);
  }
  return gaps;
}

describe("critical path to the root app", () => {
  describe("the simulation", () => {
    const node = (name: string, type: string, waitsFor: string[] = [], parent = ""): Node => ({
      urn: name,
      type,
      name,
      custom: !type.startsWith("platform:"),
      parent,
      waitsFor,
    });
    const ns = "kubernetes:core/v1:Namespace"; // 2 s
    const release = "kubernetes:helm.sh/v3:Release"; // 120 s
    const addon = "aws:eks/addon:Addon"; // 90 s

    it("takes the longest chain of waits, providers included", () => {
      const nodes = [
        node("p", "pulumi:providers:kubernetes", ["a"]),
        node("a", release),
        node("b", addon),
        node("c", ns, ["p", "b"]),
      ];
      const s = schedule(nodes, "c");
      assert.equal(s.seconds, 122);
      assert.deepEqual(
        s.path.map((n) => n.name),
        ["a", "p", "c"],
      );
    });

    it("makes children wait for their parent's dependencies, and a wait on a component wait for its children", () => {
      const nodes = [
        node("slow", release),
        node("comp", "platform:test:Comp", ["slow"]),
        node("child", ns, [], "comp"),
        node("after", ns, ["comp"]),
      ];
      const s = schedule(nodes, "after");
      assert.equal(s.finish.get("child"), 122, "the child started before its parent's dependency was there");
      assert.equal(s.seconds, 124);
      assert.deepEqual(
        s.path.map((n) => n.name),
        ["slow", "child", "after"],
      );
      assert.ok(waitsOn(nodes, "child").has("slow"));
    });

    it("fails on a resource type without a duration", () => {
      assert.throws(() => schedule([node("x", "aws:new/thing:Thing")], "x"), /no duration for aws:new\/thing:Thing/);
    });
  });

  for (const [cloud, stacks] of Object.entries(STACKS) as [keyof typeof UNAVOIDABLE, string[]][]) {
    for (const stack of stacks) {
      describe(`${stack} (${cloud})`, () => {
        let nodes: Node[];
        let root: Node;
        before(async () => {
          const run = await runProgram(stack);
          if (run.error) throw run.error;
          nodes = graphOf(run.recorder.resources);
          root = find(nodes, ["kubernetes:argoproj.io/v1alpha1:Application", "gitops-root-app"]);
        });

        it("reaches the root app in the time of the unavoidable chain, and no later", () => {
          const chain = chainOf(nodes, UNAVOIDABLE[cloud]);
          const critical = schedule(nodes, root.urn);
          const ratio = critical.seconds / chain.seconds;
          assert.equal(
            critical.seconds,
            chain.seconds,
            `critical path ${critical.seconds} s is ${ratio.toFixed(3)} times the unavoidable ${chain.seconds} s:\n` +
              `  critical:    ${show(critical.path)}\n  unavoidable: ${show(chain.nodes)}`,
          );
        });

        it("starts Argo CD once the nodes are up, waiting for none of the cluster's services", () => {
          const release = find(nodes, ["kubernetes:helm.sh/v3:Release", "argocd-release"]);
          const waits = waitsOn(nodes, release.urn);
          // Managed pools (EKS node groups, GKE node pools); DOKS's first pool is part of its cluster.
          const pools = nodes.filter((n) =>
            /\/(nodeGroup:NodeGroup|nodePool:NodePool|kubernetesCluster:KubernetesCluster)$/.test(n.type),
          );
          assert.ok(pools.length > 0, "no node pool in the graph");
          for (const pool of pools) assert.ok(waits.has(pool.urn), `Argo CD does not wait for the ${pool.name} nodes`);
          const services = nodes.filter((n) => n.type === "aws:eks/addon:Addon" && !/vpc-cni|kube-proxy/.test(n.name));
          const storage = nodes.filter((n) => n.type === "kubernetes:storage.k8s.io/v1:StorageClass");
          for (const s of [...services, ...storage]) {
            assert.ok(!waits.has(s.urn), `Argo CD's release waits for ${s.name}`);
          }
        });

        if (cloud === "eks") {
          it("has the root app, and the drain, wait for DNS, metrics, the gp3 StorageClass and the CSI driver with its role", () => {
            const wanted = [
              ["aws:eks/addon:Addon", "cluster-coredns"],
              ["aws:eks/addon:Addon", "cluster-aws-ebs-csi-driver"],
              ["aws:eks/addon:Addon", "cluster-metrics-server"],
              ["kubernetes:storage.k8s.io/v1:StorageClass", "cluster-gp3"],
              ["aws:iam/rolePolicyAttachment:RolePolicyAttachment", "cluster-AmazonEBSCSIDriverPolicy"],
            ] as const;
            const direct = new Set(root.waitsFor);
            const rootWaits = waitsOn(nodes, root.urn);
            const drain = find(nodes, ["command:local:Command", "gitops-drain-command"]);
            const drainWaits = waitsOn(nodes, drain.urn);
            for (const step of wanted) {
              const r = find(nodes, step);
              assert.ok(rootWaits.has(r.urn), `the root app would sync before ${r.name}`);
              // On destroy, the volumes the drain waits for go only while the CSI driver runs.
              assert.ok(drainWaits.has(r.urn), `${r.name} could go on destroy while the drain runs`);
            }
            for (const step of wanted.slice(0, 4)) {
              assert.ok(direct.has(find(nodes, step).urn), `the root app names ${step[1]} itself`);
            }
          });

          it("destroys every cloud resource after all that uses it: the nodes before the network's way out", () => {
            const covered = new Set<string>();
            for (const [first, then, why, paired] of EKS_DESTROY_ORDER) {
              const a = matches(nodes, first);
              const b = matches(nodes, then);
              assert.ok(a.length > 0 && b.length > 0, `no ${first.join(" ")} or ${then.join(" ")} in the graph`);
              for (const x of a) {
                const waits = waitsOn(nodes, x.urn);
                const ys = paired ? counterparts(x, b) : b;
                assert.ok(ys.length > 0, `${x.name} has no counterpart among ${then.join(" ")}`);
                for (const y of ys) {
                  assert.ok(waits.has(y.urn), `${y.name} could be deleted before ${x.name} (${why})`);
                  covered.add(x.urn).add(y.urn);
                }
              }
            }
            const cloud = nodes.filter((n) => n.custom && n.type.startsWith("aws:"));
            assert.deepEqual(
              cloud.filter((n) => !covered.has(n.urn)).map((n) => `${n.type} ${n.name}`),
              [],
              "AWS resources whose destroy order no pair states",
            );
          });

          it("would be longer with the old wiring (the provider after CoreDNS and the CSI driver)", () => {
            const provider = find(nodes, ["pulumi:providers:kubernetes", "cluster-provider"]);
            const dns = find(nodes, ["aws:eks/addon:Addon", "cluster-coredns"]);
            const csi = find(nodes, ["aws:eks/addon:Addon", "cluster-aws-ebs-csi-driver"]);
            const old = nodes.map((n) => (n === provider ? { ...n, waitsFor: [...n.waitsFor, dns.urn, csi.urn] } : n));
            const chain = chainOf(old, UNAVOIDABLE.eks);
            const critical = schedule(old, root.urn);
            const ratio = critical.seconds / chain.seconds;
            assert.ok(
              ratio > 1.05,
              `the old wiring gives ${ratio.toFixed(3)} times the unavoidable chain: ${show(critical.path)}`,
            );
            assert.ok(
              critical.path.some((n) => n.urn === dns.urn || n.urn === csi.urn),
              `the old critical path should run through an add-on: ${critical.path.map((n) => nameOf(old, n.urn)).join(" → ")}`,
            );
          });
        } else {
          it("has nothing besides Argo CD for the root app to wait for: the cloud runs DNS, storage and metrics", () => {
            const cluster = nodes.filter((n) => n.type.startsWith("platform:cluster:"));
            assert.equal(cluster.length, 1);
            const onCluster = new Set(
              nodes
                .filter((n) => n.parent === cluster[0]!.urn && !n.type.startsWith("pulumi:providers:"))
                .map((n) => n.urn),
            );
            const extra = root.waitsFor.filter((u) => onCluster.has(u));
            assert.deepEqual(
              extra.map((u) => nameOf(nodes, u)),
              [],
            );
          });
        }

        if (cloud === "gke") {
          it("destroys every Google Cloud resource after all that uses it: the node pools before Cloud NAT", () => {
            assert.deepEqual(destroyOrderGaps(nodes, GKE_DESTROY_ORDER, "gcp:"), []);
          });
        }
        if (cloud === "doks") {
          it("destroys every DigitalOcean resource after all that uses it: the cluster before its VPC", () => {
            assert.deepEqual(destroyOrderGaps(nodes, DOKS_DESTROY_ORDER, "digitalocean:", [DOKS_POOLS[0]]), []);
          });
        }
      });
    }
  }
});

describe("destroy order of a DOKS stack with a second node pool", () => {
  it("deletes the second pool after the provider and before the cluster", async () => {
    const block = stackFile("stage")["platform:cluster"] as Record<string, any>;
    const pools = block["doks"]["nodePools"] as Record<string, unknown>[];
    const extra = { name: "work", machineType: "s-4vcpu-8gb", minNodes: 1, maxNodes: 3 };
    const run = await runProgram(
      "stage",
      readStackConfig("stage", {
        "platform:cluster": { ...block, doks: { ...block["doks"], nodePools: [...pools, extra] } },
      }),
    );
    if (run.error) throw run.error;
    const nodes = graphOf(run.recorder.resources);
    assert.equal(matches(nodes, DOKS_POOLS).length, 1);
    assert.deepEqual(destroyOrderGaps(nodes, DOKS_DESTROY_ORDER, "digitalocean:"), []);
  });
});
