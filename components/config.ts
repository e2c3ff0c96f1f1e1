/**
 * The one place stack configuration is read. `loadConfig()` turns every `platform:*` key into
 * typed, validated objects that the components take as args; no other module calls
 * `new pulumi.Config()`. Bad config stops the program before any resource is registered, with one
 * line per problem that names the key as the user writes it, the bad value and what is allowed.
 */
import * as pulumi from "@pulumi/pulumi";
import * as runtimeConfig from "@pulumi/pulumi/runtime/config";
import * as YAML from "yaml";
import { z } from "zod";
import { apiAccessProblems } from "./api-access";
import {
  cidrContains,
  cidrsOverlap,
  formatCidr,
  isPrivateCidr,
  parseCidr,
  PRIVATE_RANGES,
  isNonPublicCidr,
} from "./cidr";
import { checkoutTree, type GitOpsTree, isExampleRepoURL, isSshGitUrl, scpGitUrl } from "./gitops-tree";

/** Config namespace of this project (`name:` in Pulumi.yaml). */
export const NAMESPACE = "platform";

export const ENVIRONMENTS = ["dev", "stage", "prod"] as const;
export type Environment = (typeof ENVIRONMENTS)[number];

export const CLUSTER_PROVIDERS = ["k3d", "eks", "doks", "gke", "existing"] as const;
export type ClusterProvider = (typeof CLUSTER_PROVIDERS)[number];

export const SYNC_POLICIES = ["automated", "manual"] as const;
export type SyncPolicy = (typeof SYNC_POLICIES)[number];

/**
 * Defaults that are versions or images. Pulumi.yaml documents the same values; a test keeps the
 * two in step.
 */
export const DEFAULTS = {
  /** argo-cd Helm chart 10.1.1 ships Argo CD v3.4.4. */
  argocdChartVersion: "10.1.1",
  /** k3s release that k3d 5.9 uses by default. */
  k3sImage: "rancher/k3s:v1.35.5-k3s1",
  /** Image of the optional local registry. */
  registryImage: "docker.io/library/registry:2.8.3",
  /** Where the argo-cd chart is published (argo-helm's Helm repository). */
  argocdChartRepository: "https://argoproj.github.io/argo-helm",
} as const;

// ---------------------------------------------------------------------------------------------
// Field rules. Each carries its own phrase ("must be ..."); the formatter adds key and value.
// ---------------------------------------------------------------------------------------------

/** Accept "3" as 3: `pulumi config set --path` stores what it is given as a string. */
function numeric(schema: z.ZodNumber) {
  return z.preprocess((v) => (typeof v === "string" && /^-?\d+$/.test(v.trim()) ? Number(v) : v), schema);
}

/** Accept "true"/"false" as booleans, for the same reason. */
function bool() {
  const msg = "must be true or false";
  return z.preprocess((v) => (v === "true" ? true : v === "false" ? false : v), z.boolean({ error: msg }));
}

function wholeNumber(min: number, max: number, extra = "") {
  const msg = `must be a whole number from ${min} to ${max}${extra}`;
  return numeric(z.number({ error: msg }).int({ error: msg }).min(min, { error: msg }).max(max, { error: msg }));
}

const port = () => wholeNumber(1, 65535);

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const clusterName = z
  .string({ error: "must be a DNS-1123 label" })
  .max(32, { error: "must be at most 32 characters (k3d and the cloud providers build longer names from it)" })
  .regex(DNS_LABEL, {
    error: "must be a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit",
  });

const HOSTNAME = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)+$/;
const hostname = z
  .string({ error: "must be a DNS hostname" })
  .regex(HOSTNAME, { error: "must be a fully qualified DNS hostname in lowercase, like argocd.example.com" });

/** An exact semantic version: no ranges, wildcards or 'latest'. */
const EXACT_SEMVER = /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/;
const exactVersion = z
  .string({ error: "must be an exact chart version like 10.1.1" })
  .regex(EXACT_SEMVER, { error: "must be an exact chart version like 10.1.1 (no ranges, wildcards or 'latest')" });

/** Hosts a plain-HTTP chart repository may be on: this machine only. */
const LOOPBACK_HOSTS: ReadonlySet<string> = new Set(["127.0.0.1", "localhost", "[::1]"]);

/**
 * Where the argo-cd chart is pulled from: an https Helm repository (a mirror like Artifactory or
 * Harbor, or argo-helm itself) or an `oci://` registry; plain http only on this machine.
 */
const chartRepository = rule("must be a Helm repository URL", (s) => {
  const example =
    "must be an https:// Helm repository or an oci:// registry, like https://argoproj.github.io/argo-helm or oci://ghcr.io/argoproj/argo-helm";
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    return example;
  }
  if (url.protocol === "http:" && !LOOPBACK_HOSTS.has(url.hostname)) {
    return "must use https:// (plain http:// only for a repository on 127.0.0.1 or localhost)";
  }
  if (!["https:", "http:", "oci:"].includes(url.protocol) || !url.hostname) return example;
  if (url.username || url.password) return "must not hold credentials";
  if (url.search || url.hash) return "must not have a query or fragment";
  return undefined;
});

/**
 * An image reference pinned to an exact version: a digest, or a tag that holds a full x.y.z
 * version. `latest`, `2` or `v1.35` float and are refused.
 */
const PINNED_IMAGE =
  /^[a-z0-9]+([._/-][a-z0-9]+)*(:[0-9]+)?(\/[a-z0-9]+([._-][a-z0-9]+)*)*(:[\w.-]*\d+\.\d+\.\d+[\w.-]*)?(@sha256:[a-f0-9]{64})?$/;
/** Is this image reference pinned to an exact version? (The GitOps spec holds the tree to it too.) */
export function isPinnedImage(image: string): boolean {
  return PINNED_IMAGE.test(image) && /(:[\w.-]*\d+\.\d+\.\d+[\w.-]*|@sha256:[a-f0-9]{64})$/.test(image);
}
const pinnedImage = z.string({ error: "must be an image reference" }).refine(isPinnedImage, {
  error: "must be an image pinned to an exact version, like rancher/k3s:v1.35.5-k3s1 or name@sha256:<digest>",
});

/** A string rule whose check returns what is wrong, or nothing. */
function rule(typeError: string, problem: (s: string) => string | undefined) {
  return z.string({ error: typeError }).superRefine((s, ctx) => {
    const message = problem(s);
    if (message) ctx.addIssue({ code: "custom", message, input: s });
  });
}

/** A Git repository URL Argo CD can clone: https or ssh, never with credentials inside. */
const gitUrl = rule("must be a Git URL", (s) => {
  if (scpGitUrl(s)) return undefined;
  const example = "must be an https:// or ssh Git URL, like https://github.com/acme/platform.git";
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    return example;
  }
  if (url.protocol !== "https:" && url.protocol !== "ssh:") return example;
  if (url.password || (url.protocol === "https:" && url.username)) {
    return "must not hold credentials; set them in platform:gitopsCredentials with --secret";
  }
  if (!url.hostname || url.pathname.length < 2) {
    return "must name a host and a repository path, like https://github.com/acme/platform.git";
  }
  return undefined;
});

/** A path inside the repository: relative, no `..`, no empty segments. */
const repoPath = rule("must be a path inside the repository", (s) => {
  if (s.startsWith("/") || /^[A-Za-z]:/.test(s)) return "must be relative to the repository root, like gitops/envs/dev";
  if (s.includes("\\")) return "must use '/' as separator";
  const segments = s.replace(/\/$/, "").split("/");
  if (segments.includes("..")) return "must stay inside the repository (no '..')";
  if (s !== "." && !segments.every((seg) => /^[A-Za-z0-9._-]+$/.test(seg) && seg !== ".")) {
    return "must be a relative path of letters, digits, '.', '_' and '-' segments, like gitops/envs/dev";
  }
  return undefined;
});

/** A branch, tag or commit, by Git's ref-name rules as far as they matter here. */
const gitRevision = rule("must be a branch, tag or commit", (s) =>
  /^[A-Za-z0-9._/-]+$/.test(s) && !/(^[-/.])|\.\.|\/\/|[/.]$|\.lock$/.test(s)
    ? undefined
    : "must be a branch, tag or commit: letters, digits, '.', '_', '/' and '-', no '..', not starting or ending with '/' or '.'",
);

function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, { error: `must be one of ${values.join(" | ")}` });
}

/** A strict object whose unknown keys are reported with the keys that are allowed. */
function block<S extends z.ZodRawShape>(shape: S) {
  const allowed = Object.keys(shape);
  return z.strictObject(shape, {
    error: (iss) =>
      iss.code === "unrecognized_keys"
        ? unknownKeysMessage(iss.keys, allowed)
        : `must be an object with the keys ${allowed.join(", ")}`,
  });
}

function unknownKeysMessage(keys: readonly string[], allowed: readonly string[]): string {
  const parts = keys.map((k) => {
    const near = closest(k, allowed);
    return near ? `"${k}" (did you mean "${near}"?)` : `"${k}"`;
  });
  return `has unknown key${keys.length > 1 ? "s" : ""} ${parts.join(", ")}; allowed: ${allowed.join(", ")}`;
}

/** The allowed key nearest to a typo, if it is within two edits. */
function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(
        (prev[j] ?? 0) + 1,
        (row[j - 1] ?? 0) + 1,
        (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    prev = row;
  }
  return prev[b.length] ?? 0;
}

// ---------------------------------------------------------------------------------------------
// The schema of every `platform:*` key.
// ---------------------------------------------------------------------------------------------

const k3dSchema = block({
  servers: wholeNumber(1, 7, ", and odd (etcd needs a majority)")
    .refine((n) => n % 2 === 1, {
      error: "must be a whole number from 1 to 7, and odd (etcd needs a majority)",
    })
    .default(1),
  agents: wholeNumber(0, 10).default(2),
  image: pinnedImage.default(DEFAULTS.k3sImage),
  apiPort: port().default(6443),
  httpPort: port().default(8080),
  httpsPort: port().default(8443),
  registry: block({
    enabled: bool().default(false),
    port: port().default(5000),
    image: pinnedImage.default(DEFAULTS.registryImage),
  }).prefault({}),
  waitTimeoutSeconds: wholeNumber(30, 1800).default(300),
});

// --- Cloud clusters ---------------------------------------------------------------------------

/**
 * An IPv4 network in CIDR form whose host bits are zero (10.0.0.0/16, not 10.0.0.1/16), with a
 * prefix length in the range the field allows.
 */
function ipv4Cidr(minPrefix: number, maxPrefix: number) {
  return rule(`must be an IPv4 CIDR block like 10.0.0.0/${Math.max(minPrefix, 16)}`, (s) => {
    const parsed = parseCidr(s);
    if (!parsed) return `must be an IPv4 CIDR block like 10.0.0.0/${Math.max(minPrefix, 16)}`;
    if (parsed.prefix < minPrefix || parsed.prefix > maxPrefix) {
      return `must be an IPv4 CIDR block with a prefix length from /${minPrefix} to /${maxPrefix}`;
    }
    if (parsed.base !== parsed.network) return `must be a network address: did you mean ${formatCidr(parsed)}?`;
    return undefined;
  });
}

/** Who may reach the Kubernetes API from outside the network; an empty list keeps it private. */
const apiAllowedCidrs = z
  .array(ipv4Cidr(0, 32), {
    error: "must be a list of IPv4 CIDR blocks (empty: reachable only from inside the network)",
  })
  .max(40, { error: "must hold at most 40 CIDR blocks (the cloud APIs' limit)" });

/**
 * Fields every node pool has. `limits.name` is what the cloud leaves for the pool's name after
 * the program's prefix and suffix; `limits.minNodes` the smallest pool it can scale to.
 */
function poolFields(
  machineType: z.ZodType<string>,
  limits: { maxNodes: number; name: number; minNodes: number; minNodesWhy?: string },
) {
  return {
    name: z
      .string({ error: "must be a node pool name" })
      .max(limits.name, { error: `must be at most ${limits.name} characters` })
      .regex(DNS_LABEL, { error: "must be a DNS-1123 label, like system" }),
    machineType,
    minNodes: wholeNumber(limits.minNodes, 100, limits.minNodesWhy),
    maxNodes: wholeNumber(1, limits.maxNodes),
  };
}

/** A node pool on a cloud with spot capacity and a settable root disk. */
function nodePool(machineType: z.ZodType<string>, limits: { maxNodes: number; name: number }) {
  return block({
    ...poolFields(machineType, { ...limits, minNodes: 0 }),
    spot: bool().default(false),
    diskSizeGb: wholeNumber(20, 2000).default(50),
  });
}

/** An exact EKS add-on version; unset, EKS's default for the cluster's Kubernetes version. */
function eksAddonVersion(example: string) {
  const msg = `must be an exact EKS add-on version like ${example}`;
  return z
    .string({ error: msg })
    .regex(/^v\d+\.\d+\.\d+-eksbuild\.\d+$/, { error: msg })
    .optional();
}

const EC2_INSTANCE_TYPE = /^[a-z][a-z0-9-]*\d[a-z0-9-]*\.(nano|micro|small|medium|large|\d*xlarge|metal(-\d+xl)?)$/;
const eksSchema = block({
  region: z
    .string({ error: "must be an AWS region like eu-central-1" })
    .regex(/^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$/, { error: "must be an AWS region like eu-central-1" }),
  kubernetesVersion: z
    .string({ error: "must be an EKS Kubernetes version like 1.34" })
    .regex(/^1\.\d{2}$/, { error: "must be an EKS Kubernetes version like 1.34 (major.minor; EKS manages patches)" }),
  vpcCidr: ipv4Cidr(16, 20).default("10.0.0.0/16"),
  availabilityZones: wholeNumber(2, 3).optional(),
  zones: z
    .array(
      z
        .string({ error: "must be an availability zone name like eu-central-1a" })
        .regex(/^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d[a-z]$/, {
          error: "must be an availability zone name like eu-central-1a",
        }),
      { error: "must be a list of availability zone names" },
    )
    .optional(),
  natGatewayPerZone: bool().optional(),
  apiAllowedCidrs,
  adminPrincipalArns: z
    .array(
      z
        .string({ error: "must be an IAM role or user ARN" })
        .regex(/^arn:aws[a-z-]*:iam::\d{12}:(role|user)\/[\w+=,.@/-]+$/, {
          error: "must be an IAM role or user ARN like arn:aws:iam::123456789012:role/platform-admins",
        }),
      { error: "must be a list of IAM role or user ARNs" },
    )
    .default([]),
  nodePools: z
    .array(
      nodePool(
        z
          .string({ error: "must be an EC2 instance type like m6i.large" })
          .regex(EC2_INSTANCE_TYPE, { error: "must be an EC2 instance type like m6i.large" }),
        // A node group name is the pool's name, '-' and a 26-character suffix: 63 at most.
        { maxNodes: 450, name: 36 },
      ),
      { error: "must be a list of node pools" },
    )
    .min(1, { error: "must hold at least one node pool" })
    .optional(),
  addonVersions: block({
    vpcCni: eksAddonVersion("v1.20.4-eksbuild.2"),
    coredns: eksAddonVersion("v1.12.4-eksbuild.1"),
    kubeProxy: eksAddonVersion("v1.34.1-eksbuild.2"),
    ebsCsiDriver: eksAddonVersion("v1.50.1-eksbuild.1"),
  }).prefault({}),
  logRetentionDays: z
    .preprocess(
      (v) => (typeof v === "string" && /^\d+$/.test(v) ? Number(v) : v),
      z.union(
        [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653].map(
          (n) => z.literal(n),
        ) as [z.ZodLiteral<number>, ...z.ZodLiteral<number>[]],
        {
          error:
            "must be a CloudWatch retention in days: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653",
        },
      ),
    )
    .optional(),
});

const DO_DAYS = ["any", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"] as const;
const doksSchema = block({
  region: z
    .string({ error: "must be a DigitalOcean region slug like fra1" })
    .regex(/^[a-z]{3}\d$/, { error: "must be a DigitalOcean region slug like fra1" }),
  versionPrefix: z
    .string({ error: "must be a Kubernetes minor version like 1.34" })
    .regex(/^1\.\d{2}\.?$/, { error: "must be a Kubernetes minor version like 1.34 (the newest 1.34.x patch is used)" })
    .transform((s) => (s.endsWith(".") ? s : `${s}.`)),
  vpcCidr: ipv4Cidr(16, 24).optional(),
  apiAllowedCidrs,
  ha: bool().optional(),
  maintenanceWindow: block({
    day: oneOf(DO_DAYS).default("sunday"),
    startTime: z
      .string({ error: "must be a UTC time HH:MM like 04:00" })
      .regex(/^([01]\d|2[0-3]):[0-5]\d$/, { error: "must be a UTC time HH:MM like 04:00" })
      .default("04:00"),
  }).prefault({}),
  nodePools: z
    .array(
      block(
        poolFields(
          z
            .string({ error: "must be a DigitalOcean Droplet size slug like s-2vcpu-4gb" })
            .regex(/^[a-z][a-z0-9_]*(-[a-z0-9]+)+$/, {
              error: "must be a DigitalOcean Droplet size slug like s-2vcpu-4gb",
            }),
          // Pool names are <cluster>-<pool>; DOKS pools cannot scale to zero.
          { maxNodes: 512, name: 20, minNodes: 1, minNodesWhy: " (DOKS pools cannot scale to zero)" },
        ),
      ),
      { error: "must be a list of node pools" },
    )
    .min(1, { error: "must hold at least one node pool" })
    .optional(),
});

const GKE_CHANNELS = ["RAPID", "REGULAR", "STABLE"] as const;
const gkeSchema = block({
  project: z.string({ error: "must be a Google Cloud project ID" }).regex(/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/, {
    error: "must be a Google Cloud project ID: 6-30 lowercase letters, digits and '-', like acme-platform-prod",
  }),
  region: z
    .string({ error: "must be a Google Cloud region like europe-west1" })
    .regex(/^[a-z]+-[a-z]+\d{1,2}$/, { error: "must be a Google Cloud region like europe-west1" }),
  releaseChannel: oneOf(GKE_CHANNELS).optional(),
  nodeCidr: ipv4Cidr(16, 24).default("10.20.0.0/20"),
  podCidr: ipv4Cidr(9, 21).default("10.24.0.0/14"),
  serviceCidr: ipv4Cidr(16, 27).default("10.28.0.0/20"),
  controlPlaneCidr: ipv4Cidr(28, 28).default("172.16.0.0/28"),
  apiAllowedCidrs,
  nodePools: z
    .array(
      nodePool(
        z
          .string({ error: "must be a Compute Engine machine type like e2-standard-4" })
          .regex(/^[a-z][a-z0-9]*-[a-z0-9]+(-[a-z0-9]+)*$/, {
            error: "must be a Compute Engine machine type like e2-standard-4",
          }),
        // GKE pool names hold 40 characters; Pulumi adds '-' and a 26-character suffix.
        { maxNodes: 1000, name: 13 },
      ),
      { error: "must be a list of node pools" },
    )
    .min(1, { error: "must hold at least one node pool" })
    .optional(),
});

/** A cluster made elsewhere (kind, minikube, Docker Desktop, another stack or team). */
const existingSchema = block({
  /** The kubeconfig context to use; default: its current-context. */
  context: z.string({ error: "must be a kubeconfig context name" }).min(1, { error: "must not be empty" }).optional(),
  httpPort: port().default(80),
  httpsPort: port().default(443),
});

const clusterSchema = z.discriminatedUnion(
  "provider",
  [
    block({
      provider: z.literal("k3d"),
      name: clusterName.optional(),
      protect: bool().optional(),
      k3d: k3dSchema.prefault({}),
    }),
    block({ provider: z.literal("eks"), name: clusterName.optional(), protect: bool().optional(), eks: eksSchema }),
    block({ provider: z.literal("doks"), name: clusterName.optional(), protect: bool().optional(), doks: doksSchema }),
    block({ provider: z.literal("gke"), name: clusterName.optional(), protect: bool().optional(), gke: gkeSchema }),
    block({
      provider: z.literal("existing"),
      name: clusterName.optional(),
      protect: bool().optional(),
      existing: existingSchema.prefault({}),
    }),
  ],
  {
    error: (iss) =>
      iss.input !== null && typeof iss.input === "object"
        ? `must be one of ${CLUSTER_PROVIDERS.join(" | ")}`
        : `must be an object with a provider (${CLUSTER_PROVIDERS.join(" | ")}) and its block`,
  },
);

const argocdSchema = block({
  chartVersion: exactVersion.default(DEFAULTS.argocdChartVersion),
  chartRepository: chartRepository.default(DEFAULTS.argocdChartRepository),
  hostname: hostname.optional(),
  ha: bool().optional(),
  ingressClassName: z
    .string({ error: "must be an IngressClass name" })
    .regex(DNS_LABEL, { error: "must be an IngressClass name (a DNS-1123 label)" })
    .default("traefik"),
  tls: bool().optional(),
  clusterIssuer: z
    .string({ error: "must be a cert-manager ClusterIssuer name" })
    .regex(DNS_LABEL, { error: "must be a cert-manager ClusterIssuer name (a DNS-1123 label)" })
    .default("letsencrypt"),
  installTimeoutSeconds: wholeNumber(120, 3600).default(900),
  waitForHealthy: bool().optional(),
  healthTimeoutSeconds: wholeNumber(60, 7200).default(900),
});

const lifecycleSchema = block({
  ephemeral: bool().default(false),
  drainTimeoutSeconds: wholeNumber(60, 7200).default(1200),
});

/** PEM text of one kind ("CERTIFICATE", "PRIVATE KEY"), as `npm run keys` writes it. */
function pem(kind: string, example: string) {
  const msg = `must be a PEM ${example} (-----BEGIN ${kind}-----)`;
  return z
    .string({ error: msg })
    .regex(new RegExp(`-----BEGIN (RSA )?${kind}-----[\\s\\S]+-----END (RSA )?${kind}-----`), {
      error: msg,
    });
}

const sealedSecretsKeySchema = block({
  certificate: pem("CERTIFICATE", "X.509 certificate"),
  privateKey: pem("PRIVATE KEY", "RSA private key"),
});

const gitopsSchema = block({
  repoURL: gitUrl,
  targetRevision: gitRevision.default("main"),
  path: repoPath.optional(),
  syncPolicy: oneOf(SYNC_POLICIES).optional(),
  retryLimit: wholeNumber(0, 20).default(5),
});

const credentialsSchema = z.union(
  [
    block({
      username: z.string({ error: "must be a user name" }).min(1, { error: "must not be empty" }),
      password: z.string({ error: "must be a password or token" }).min(1, { error: "must not be empty" }),
    }),
    block({ sshPrivateKey: z.string().includes("PRIVATE KEY", { error: "must be a PEM/OpenSSH private key" }) }),
  ],
  { error: "must hold either username and password (HTTPS token), or sshPrivateKey" },
);

/** The schema of all `platform:*` keys; exported so tests can hold Pulumi.yaml's docs to it. */
export const platformSchema = block({
  environment: oneOf(ENVIRONMENTS),
  cluster: clusterSchema,
  argocd: argocdSchema.prefault({}),
  gitops: gitopsSchema,
  gitopsCredentials: credentialsSchema.optional(),
  lifecycle: lifecycleSchema.prefault({}),
  sealedSecretsKey: sealedSecretsKeySchema.optional(),
  kubeconfig: z.string({ error: "must be the text of a kubeconfig file" }).optional(),
});

/** The top-level keys, in the order Pulumi.yaml declares them. */
export const CONFIG_KEYS = Object.keys(platformSchema.shape) as (keyof typeof platformSchema.shape)[];

/** Top-level keys whose value is a YAML object in the stack file. */
const OBJECT_KEYS: ReadonlySet<string> = new Set([
  "cluster",
  "argocd",
  "gitops",
  "gitopsCredentials",
  "lifecycle",
  "sealedSecretsKey",
]);
/** Keys whose values must never be printed or stored in plain text. */
const SECRET_KEYS: ReadonlySet<string> = new Set(["gitopsCredentials", "sealedSecretsKey", "kubeconfig"]);

// ---------------------------------------------------------------------------------------------
// The typed result the components take.
// ---------------------------------------------------------------------------------------------

export type K3dSettings = z.output<typeof k3dSchema>;

/** One group of worker nodes that scales between minNodes and maxNodes. */
export interface NodePoolConfig {
  /** Pool name, a DNS label; physical names are built from it. */
  name: string;
  /** EC2 instance type, Droplet size slug or Compute Engine machine type. */
  machineType: string;
  /** Autoscaling bounds (per zone on GKE). */
  minNodes: number;
  maxNodes: number;
  /** Spot/preemptible capacity; never in prod, never on DigitalOcean. */
  spot: boolean;
  /** Root disk size; not settable on DigitalOcean. */
  diskSizeGb: number;
}

export interface EksSettings {
  region: string;
  /** EKS control-plane version, major.minor. */
  kubernetesVersion: string;
  vpcCidr: string;
  /** Availability zones the subnets and nodes span: 2, or 3 in prod. */
  availabilityZones: number;
  /** Zone names to use, in order; unset: the region's first available zones. Subnets never move once made. */
  zones?: string[];
  /** A NAT gateway in every zone (prod), or one for the whole VPC (cheaper, one zone's outage away from no egress). */
  natGatewayPerZone: boolean;
  /** CIDRs that may reach the public API endpoint; empty: private endpoint only. */
  apiAllowedCidrs: string[];
  /** IAM principals that get cluster-admin through EKS access entries. */
  adminPrincipalArns: string[];
  nodePools: NodePoolConfig[];
  /** Exact add-on versions; unset: EKS's default for the Kubernetes version, looked up on every run. */
  addonVersions: { vpcCni?: string; coredns?: string; kubeProxy?: string; ebsCsiDriver?: string };
  /** Retention of the control-plane log group. */
  logRetentionDays: number;
  /** Days AWS waits before deleting the Secrets key after a destroy: 30 in prod, else 7 (not a key). */
  secretsKeyDeletionWindowDays: number;
}

export interface DoksSettings {
  region: string;
  /** "1.34.": the newest patch of that minor version is used. */
  versionPrefix: string;
  vpcCidr?: string;
  /** CIDRs the control-plane firewall lets in; empty: only the cluster's own network. */
  apiAllowedCidrs: string[];
  /** Highly available control plane: on in prod. */
  ha: boolean;
  maintenanceWindow: { day: (typeof DO_DAYS)[number]; startTime: string };
  nodePools: NodePoolConfig[];
  /** API token from `digitalocean:token` (secret config); unset: DIGITALOCEAN_TOKEN in the environment. */
  token?: pulumi.Output<string>;
}

export interface ExistingSettings {
  /** The kubeconfig as given, with its current-context set to `context`. A Pulumi secret. */
  kubeconfig: pulumi.Output<string>;
  /** The context the program uses. */
  context: string;
  /** The API server of that context: the cluster's identity (a new one replaces what is on it). */
  server: string;
  /** Ports the cluster's ingress is reached on from outside (80 and 443 unless mapped elsewhere). */
  httpPort: number;
  httpsPort: number;
}

export interface GkeSettings {
  project: string;
  region: string;
  releaseChannel: (typeof GKE_CHANNELS)[number];
  /** Primary range of the node subnetwork, and its secondary ranges for pods and services. */
  nodeCidr: string;
  podCidr: string;
  serviceCidr: string;
  /** The /28 the private control plane uses. */
  controlPlaneCidr: string;
  /** Master authorized networks; empty: only from inside the VPC. */
  apiAllowedCidrs: string[];
  nodePools: NodePoolConfig[];
}

/** What every cluster config carries besides its provider block. */
interface ClusterCommon {
  /** Cluster name: a DNS label of at most 32 characters, unique per cloud account. */
  name: string;
  /**
   * `protect: true` on the cluster's resources and deletion protection where the cloud has it;
   * default on in prod. Turned off (and applied with `pulumi up`) before a prod stack is destroyed.
   */
  protect: boolean;
  /** Tags (labels on GCP) on every cloud resource of this cluster that takes them, to find leftovers by. */
  tags: Readonly<Record<string, string>>;
  /** `platform:lifecycle.ephemeral`: a destroy completes even when the cluster is already gone. */
  ephemeral: boolean;
}

export type ClusterConfig = ClusterCommon &
  (
    | { provider: "k3d"; k3d: K3dSettings }
    | { provider: "eks"; eks: EksSettings }
    | { provider: "doks"; doks: DoksSettings }
    | { provider: "gke"; gke: GkeSettings }
    | { provider: "existing"; existing: ExistingSettings }
  );

export interface ArgoCdConfig {
  chartVersion: string;
  /** The Helm repository (https) or OCI registry (`oci://`) the argo-cd chart is pulled from. */
  chartRepository: string;
  /** Hostname of the Argo CD UI and API. */
  hostname: string;
  /** HA mode: redis-ha and two or more replicas of server, repo-server and applicationset. */
  ha: boolean;
  ingressClassName: string;
  /** TLS on the ingress through cert-manager; off on k3d. */
  tls: { enabled: boolean; clusterIssuer: string };
  installTimeoutSeconds: number;
  /** `pulumi up` waits until the root app is Synced and Healthy (default on in dev). */
  waitForHealthy: boolean;
  /** How long it waits before it gives up and reports the apps that are not healthy. */
  healthTimeoutSeconds: number;
}

export interface LifecycleConfig {
  /**
   * A short-lived stack (`npm run dev:new`): never protected, and `pulumi destroy` completes
   * even when its cluster was deleted out of band.
   */
  ephemeral: boolean;
  /** How long a destroy waits for Argo CD's apps and their load balancers and volumes to go. */
  drainTimeoutSeconds: number;
}

/** The sealed-secrets controller's key pair: a PEM certificate and its RSA private key. */
export interface SealedSecretsKey {
  certificate: string;
  privateKey: string;
}

export type GitCredentials = { username: string; password: string } | { sshPrivateKey: string };

export interface GitOpsConfig {
  repoURL: string;
  targetRevision: string;
  path: string;
  syncPolicy: SyncPolicy;
  retryLimit: number;
  /** Repository credentials; a Pulumi secret. */
  credentials?: pulumi.Output<GitCredentials>;
}

export interface PlatformConfig {
  environment: Environment;
  stack: string;
  cluster: ClusterConfig;
  argocd: ArgoCdConfig;
  gitops: GitOpsConfig;
  lifecycle: LifecycleConfig;
  /** From `platform:sealedSecretsKey`; a Pulumi secret. Unset: the controller makes its own key. */
  sealedSecretsKey?: pulumi.Output<SealedSecretsKey>;
}

/** Thrown for bad configuration; Pulumi prints RunErrors without a stack trace. */
export class ConfigError extends pulumi.RunError {
  constructor(public readonly problems: string[]) {
    super(problems.join("\n"));
    this.name = "ConfigError";
  }
}

/**
 * Reads and validates all `platform:*` configuration of the current stack.
 * @throws ConfigError listing every problem, one line each, before any resource exists.
 */
export function loadConfig(): PlatformConfig {
  const config = parseConfig(pulumi.runtime.allConfig(), pulumi.getStack(), isSecretKey);
  for (const warning of configWarnings(config)) void pulumi.log.warn(warning);
  return config;
}

/** Settings that are valid but almost surely not meant; shown as warnings, not errors. */
export function configWarnings(config: PlatformConfig): string[] {
  const warnings: string[] = [];
  if (isExampleRepoURL(config.gitops.repoURL)) {
    warnings.push(
      `${NAMESPACE}:gitops.repoURL is still the example ${config.gitops.repoURL}: Argo CD cannot sync it until you set your own repository${config.environment === "dev" && !config.argocd.waitForHealthy ? ", and `pulumi up` does not wait for it" : ""}`,
    );
  }
  const ssh = isSshGitUrl(config.gitops.repoURL);
  if (ssh && !config.gitops.credentials) {
    warnings.push(
      `${NAMESPACE}:gitops.repoURL ${config.gitops.repoURL} is an ssh URL, and ${NAMESPACE}:gitopsCredentials holds no sshPrivateKey: Argo CD clones over ssh only with a key; set one, or use the repository's https URL`,
    );
  }
  const c = config.cluster;
  const cloud =
    c.provider === "eks" ? c.eks : c.provider === "doks" ? c.doks : c.provider === "gke" ? c.gke : undefined;
  const examples = cloud?.apiAllowedCidrs.filter((cidr) => DOCUMENTATION_RANGES.some((r) => cidrContains(r, cidr)));
  if (examples?.length) {
    warnings.push(
      `${NAMESPACE}:cluster.${c.provider}.apiAllowedCidrs still holds the documentation range ${examples.join(", ")}: nobody reaches the API from there; list your own egress ranges`,
    );
  }
  if (!config.sealedSecretsKey) {
    warnings.push(
      `${NAMESPACE}:sealedSecretsKey is not set: the sealed-secrets controller makes its own key, and what is sealed for it will not decrypt once the stack is re-created; \`npm run keys -- --stack ${config.stack}\` stores one in the stack's config`,
    );
  }
  if (c.provider === "eks") {
    for (const arn of c.eks.adminPrincipalArns.filter((a) => a.includes(`::${EXAMPLE_ACCOUNT}:`))) {
      warnings.push(`${NAMESPACE}:cluster.eks.adminPrincipalArns still holds the example ${arn}: set your own roles`);
    }
  }
  return warnings;
}

/** RFC 5737's documentation networks and AWS's documentation account, as the examples use them. */
const DOCUMENTATION_RANGES = ["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"];
const EXAMPLE_ACCOUNT = "123456789012";

/** The one message for a credential stored in plain text; `setArgs` follows `pulumi config set --secret`. */
function mustBeEncrypted(fullKey: string, setArgs: string): string {
  return `${fullKey} must be stored encrypted: set it with \`pulumi config set --secret ${setArgs}\``;
}

function isSecretKey(fullKey: string): boolean {
  // Not in the SDK's typings, but exported by the runtime: true when the stack holds the key encrypted.
  const rt = runtimeConfig as unknown as { isConfigSecret?: (k: string) => boolean };
  return rt.isConfigSecret?.(fullKey) ?? false;
}

/**
 * Pure core of `loadConfig`, for tests: `all` is the flat config map as Pulumi passes it
 * (`"platform:cluster"` → JSON text), `isSecret` tells which keys the stack holds encrypted.
 */
export function parseConfig(
  all: Record<string, string>,
  stack: string,
  isSecret: (fullKey: string) => boolean,
  tree: GitOpsTree = checkoutTree(),
): PlatformConfig {
  const problems: string[] = [];
  const raw: Record<string, unknown> = {};
  for (const [fullKey, text] of Object.entries(all)) {
    if (!fullKey.startsWith(`${NAMESPACE}:`)) continue;
    const key = fullKey.slice(NAMESPACE.length + 1);
    const value = OBJECT_KEYS.has(key) ? parseObject(text) : text;
    // Pulumi.yaml declares optional keys with `default: {}` (objects) or `""`: empty is "not set".
    if (isEmptyObject(value) || value === "") continue;
    raw[key] = value;
    if (SECRET_KEYS.has(key) && !isSecret(fullKey)) {
      problems.push(
        mustBeEncrypted(fullKey, OBJECT_KEYS.has(key) ? `--path ${fullKey}.<field> <value>` : `${fullKey} < <file>`),
      );
    }
  }

  // Each key on its own, so that a mistake in one hides neither the mistakes in the others nor
  // the checks across keys that do not need it.
  const unknown = Object.keys(raw).filter((k) => !(CONFIG_KEYS as string[]).includes(k));
  problems.push(...unknown.map(unknownConfigKey));
  const v: Partial<z.output<typeof platformSchema>> = {};
  for (const key of CONFIG_KEYS) {
    const parsed = platformSchema.shape[key].safeParse(raw[key], { reportInput: true });
    if (parsed.success) (v as Record<string, unknown>)[key] = parsed.data;
    // A value can break two rules at once (0 servers: too few, and even); say it once.
    else problems.push(...new Set(parsed.error.issues.map((i) => formatIssue({ ...i, path: [key, ...i.path] }))));
  }

  const environment = v.environment;
  const name = v.cluster?.name ?? `platform-${stack}`;
  let cluster: ClusterConfig | undefined;
  if (v.cluster) {
    const c = v.cluster;
    if (c.name === undefined && !clusterName.safeParse(name).success) {
      problems.push(
        `${NAMESPACE}:cluster.name is not set and the default "platform-${stack}" is not a DNS-1123 label of at most 32 characters; set ${NAMESPACE}:cluster.name`,
      );
    }
    if (c.provider !== "existing" && raw["kubeconfig"] !== undefined) {
      problems.push(
        `${NAMESPACE}:kubeconfig is read only when ${NAMESPACE}:cluster.provider is existing (got provider ${c.provider}); remove it with \`pulumi config rm ${NAMESPACE}:kubeconfig\``,
      );
    }
    if (c.provider === "k3d") checkK3dPorts(c.k3d, problems);
    if (environment && v.lifecycle) {
      const common = {
        name,
        protect: c.protect ?? (environment === "prod" && !v.lifecycle.ephemeral),
        ephemeral: v.lifecycle.ephemeral,
        tags: cleanupTags(name, stack, environment),
      };
      cluster = clusterSettings(c, common, environment, v.kubeconfig, all, isSecret, problems);
    }
    if (v.lifecycle?.ephemeral && c.protect === true) {
      problems.push(
        `${NAMESPACE}:cluster.protect must be false when ${NAMESPACE}:lifecycle.ephemeral is true: an ephemeral stack is destroyed by the reaper (got true)`,
      );
    }
  }
  if (v.lifecycle?.ephemeral && environment === "prod") {
    problems.push(
      `${NAMESPACE}:lifecycle.ephemeral must be false in prod: a prod stack is never short-lived (got true)`,
    );
  }

  const isLocal = v.cluster?.provider === "k3d";
  const hostnameValue = v.argocd?.hostname ?? (isLocal ? `argocd.${environment ?? "dev"}.127.0.0.1.nip.io` : undefined);
  if (v.cluster && v.argocd && hostnameValue === undefined) {
    problems.push(
      `${NAMESPACE}:argocd.hostname is required when ${NAMESPACE}:cluster.provider is ${v.cluster.provider} (a DNS name you control, like argocd.example.com)`,
    );
  }
  const gitopsPath = environment && (v.gitops?.path ?? `gitops/envs/${environment}`).replace(/\/$/, "");
  if (environment && v.gitops && gitopsPath) checkGitOpsPath(gitopsPath, v.gitops.path, environment, tree, problems);
  const ha = v.argocd && environment ? (v.argocd.ha ?? environment === "prod") : undefined;
  if (v.argocd && environment && gitopsPath) checkArgoCdPin(v.argocd.chartVersion, gitopsPath, tree, problems);
  if (ha && cluster) checkHaNodes(cluster, problems);
  if (v.argocd?.waitForHealthy === true && v.gitops && isExampleRepoURL(v.gitops.repoURL)) {
    problems.push(
      `${NAMESPACE}:argocd.waitForHealthy cannot be true while ${NAMESPACE}:gitops.repoURL is the example ${v.gitops.repoURL}: Argo CD cannot sync it, so the wait could never end; set your repository first`,
    );
  }

  if (
    problems.length > 0 ||
    !environment ||
    !cluster ||
    !v.argocd ||
    !v.gitops ||
    !v.lifecycle ||
    !gitopsPath ||
    ha === undefined ||
    hostnameValue === undefined
  ) {
    throw new ConfigError(problems);
  }

  return {
    environment,
    stack,
    cluster,
    argocd: {
      chartVersion: v.argocd.chartVersion,
      chartRepository: v.argocd.chartRepository.replace(/\/+$/, ""),
      hostname: hostnameValue,
      ha,
      ingressClassName: v.argocd.ingressClassName,
      tls: { enabled: v.argocd.tls ?? !isLocal, clusterIssuer: v.argocd.clusterIssuer },
      installTimeoutSeconds: v.argocd.installTimeoutSeconds,
      // Nothing to wait for while the root app points at the example repository, which cannot sync.
      waitForHealthy: v.argocd.waitForHealthy ?? (environment === "dev" && !isExampleRepoURL(v.gitops.repoURL)),
      healthTimeoutSeconds: v.argocd.healthTimeoutSeconds,
    },
    gitops: {
      repoURL: v.gitops.repoURL,
      targetRevision: v.gitops.targetRevision,
      path: gitopsPath,
      syncPolicy: v.gitops.syncPolicy ?? (environment === "prod" ? "manual" : "automated"),
      retryLimit: v.gitops.retryLimit,
      ...(v.gitopsCredentials ? { credentials: pulumi.secret(v.gitopsCredentials) } : {}),
    },
    lifecycle: v.lifecycle,
    ...(v.sealedSecretsKey ? { sealedSecretsKey: pulumi.secret(v.sealedSecretsKey) } : {}),
  };
}

type ParsedCluster = z.output<typeof clusterSchema>;

/** The provider's settings, with the checks that need the environment. */
function clusterSettings(
  c: ParsedCluster,
  common: ClusterCommon,
  environment: Environment,
  kubeconfig: string | undefined,
  all: Record<string, string>,
  isSecret: (fullKey: string) => boolean,
  problems: string[],
): ClusterConfig {
  switch (c.provider) {
    case "k3d":
      return { ...common, provider: "k3d", k3d: c.k3d };
    case "eks":
      return { ...common, provider: "eks", eks: eksSettings(c.eks, environment, problems) };
    case "doks":
      return { ...common, provider: "doks", doks: doksSettings(c.doks, environment, all, isSecret, problems) };
    case "gke":
      // GCP resource names start with a letter ([a-z]([-a-z0-9]*[a-z0-9])?); DNS labels may start with a digit.
      if (!/^[a-z]/.test(common.name)) {
        problems.push(
          `${NAMESPACE}:cluster.name must start with a letter on GKE: Google Cloud names are [a-z]([-a-z0-9]*[a-z0-9])? (got "${common.name}")`,
        );
      }
      return { ...common, provider: "gke", gke: gkeSettings(c.gke, environment, problems) };
    case "existing":
      return { ...common, provider: "existing", existing: existingSettings(c.existing, kubeconfig, problems) };
  }
}

/** k3d maps each port on this machine once. */
function checkK3dPorts(k: K3dSettings, problems: string[]): void {
  const ports: [string, number][] = [
    ["apiPort", k.apiPort],
    ["httpPort", k.httpPort],
    ["httpsPort", k.httpsPort],
    ...(k.registry.enabled ? ([["registry.port", k.registry.port]] as [string, number][]) : []),
  ];
  const seen = new Map<number, string>();
  for (const [key, port] of ports) {
    const first = seen.get(port);
    if (first === undefined) seen.set(port, key);
    else
      problems.push(
        `${NAMESPACE}:cluster.k3d.${key} must differ from ${NAMESPACE}:cluster.k3d.${first} (both are ${port})`,
      );
  }
}

/**
 * The root app syncs a folder of this repository, and the root of the stack's own environment:
 * a dev stack must never sync what prod runs.
 */
function checkGitOpsPath(
  rel: string,
  given: string | undefined,
  environment: Environment,
  tree: GitOpsTree,
  problems: string[],
): void {
  const key = `${NAMESPACE}:gitops.path`;
  const subject = given === undefined ? `${key} is not set and its default ${rel}` : `${key} ${rel}`;
  const roots = tree.roots();
  const known = roots.length ? ` (the environments' roots: ${roots.join(", ")})` : "";
  if (!tree.isFolder(rel)) {
    problems.push(`${subject} is not a folder of this repository, so Argo CD would find nothing to sync${known}`);
    return;
  }
  const declared = tree.environmentOf(rel);
  if (declared !== undefined && declared !== environment) {
    const own = roots.find((r) => tree.environmentOf(r) === environment);
    problems.push(
      `${subject} is the root of the ${declared} environment (its environment.yaml), not of ${environment}: a ${environment} stack must sync its own environment's tree${own ? `, like ${own}` : ""}`,
    );
  }
}

/**
 * After bootstrap Argo CD manages its own chart, at the version the tree pins: a stack that
 * installs another version would fight it on every sync.
 */
function checkArgoCdPin(version: string, rel: string, tree: GitOpsTree, problems: string[]): void {
  const pinned = tree.isFolder(rel) ? tree.argocdChartVersion(rel) : undefined;
  if (pinned === undefined || pinned === version) return;
  problems.push(
    `${NAMESPACE}:argocd.chartVersion must be ${pinned}, the argo-cd version ${rel}/versions.yaml pins: Argo CD manages its own chart after bootstrap, and two versions would fight on every sync (got "${version}"); change both together, as \`npm run promote\` does`,
  );
}

/** Argo CD's HA mode runs three redis-ha replicas, each on a node of its own. */
const HA_MIN_NODES = 3;

/**
 * The nodes a cluster has at the least: k3d's servers and agents, the cloud pools at their
 * minimum (GKE's per zone, in a region's three zones); undefined for a cluster made elsewhere.
 */
function minimumNodes(cluster: ClusterConfig): { nodes: number; from: string } | undefined {
  const pools = (key: string, list: NodePoolConfig[], perPool = 1) => ({
    nodes: list.reduce((n, p) => n + p.minNodes * perPool, 0),
    from: `${NAMESPACE}:cluster.${key}.nodePools minNodes${perPool > 1 ? ` (per zone, ${perPool} zones)` : ""}`,
  });
  switch (cluster.provider) {
    case "k3d":
      return { nodes: cluster.k3d.servers + cluster.k3d.agents, from: `${NAMESPACE}:cluster.k3d servers + agents` };
    case "eks":
      return pools("eks", cluster.eks.nodePools);
    case "doks":
      return pools("doks", cluster.doks.nodePools);
    case "gke":
      return pools("gke", cluster.gke.nodePools, GKE_REGION_ZONES);
    case "existing":
      return undefined;
  }
}

/** A regional GKE node pool puts its per-zone node count in each of the region's zones: three. */
const GKE_REGION_ZONES = 3;

function checkHaNodes(cluster: ClusterConfig, problems: string[]): void {
  const least = minimumNodes(cluster);
  if (!least || least.nodes >= HA_MIN_NODES) return;
  problems.push(
    `${NAMESPACE}:argocd.ha needs at least ${HA_MIN_NODES} nodes (redis-ha runs ${HA_MIN_NODES} replicas, each on a node of its own), and the cluster has ${least.nodes} at the least (${least.from}): add nodes or set ${NAMESPACE}:argocd.ha to false`,
  );
}

/** The tags that mark every cloud resource of a cluster (GCP label rules: lowercase, '-' and '_'). */
function cleanupTags(name: string, stack: string, environment: Environment): Record<string, string> {
  return {
    "platform-cluster": name,
    "platform-stack": stack
      .toLowerCase()
      .replace(/[^a-z0-9_-]/g, "-")
      .slice(0, 63),
    "platform-environment": environment,
    "managed-by": "pulumi",
  };
}

type NodePoolInput = Partial<Pick<NodePoolConfig, "spot" | "diskSizeGb">> & Omit<NodePoolConfig, "spot" | "diskSizeGb">;

/** Fills a pool's optional fields and checks what spans fields: min <= max, no spot in prod. */
function nodePools(
  key: string,
  pools: NodePoolInput[],
  environment: Environment,
  problems: string[],
): NodePoolConfig[] {
  const seen = new Set<string>();
  return pools.map((p, i) => {
    const at = `${key}[${i}]`;
    if (p.minNodes > p.maxNodes) {
      problems.push(`${at}.minNodes must be at most maxNodes (got ${p.minNodes} > ${p.maxNodes})`);
    }
    if (seen.has(p.name)) problems.push(`${at}.name must be unique among the node pools (got "${p.name}" twice)`);
    seen.add(p.name);
    if (p.spot && environment === "prod") {
      problems.push(`${at}.spot must be false in prod: spot capacity can be taken back at any time (got true)`);
    }
    return { spot: false, diskSizeGb: 50, ...p };
  });
}

/** Who may reach the API: the rule the policy pack applies too (components/api-access.ts). */
function checkApiAccess(
  key: string,
  cidrs: string[],
  environment: Environment,
  privateWhenEmpty: boolean,
  problems: string[],
): void {
  for (const problem of apiAccessProblems(cidrs, environment, privateWhenEmpty)) {
    problems.push(`${key} ${problem} (got ${JSON.stringify(cidrs)})`);
  }
}

function eksSettings(e: z.output<typeof eksSchema>, environment: Environment, problems: string[]): EksSettings {
  const key = `${NAMESPACE}:cluster.eks`;
  const prod = environment === "prod";
  // An empty list turns EKS's public endpoint off: the API is then reached inside the VPC only.
  checkApiAccess(`${key}.apiAllowedCidrs`, e.apiAllowedCidrs, environment, true, problems);
  // EKS's publicAccessCidrs take public networks only; private ones reach the private endpoint.
  const inside = e.apiAllowedCidrs.find(isNonPublicCidr);
  if (inside) {
    problems.push(
      `${key}.apiAllowedCidrs must hold public networks only: EKS refuses a private, loopback or link-local block such as ${inside} for its public endpoint (networks inside the VPC reach the private endpoint)`,
    );
  }
  // Production-shaped means surviving the loss of a zone: three of them, each with its own way out.
  if (prod && e.availabilityZones !== undefined && e.availabilityZones < 3) {
    problems.push(
      `${key}.availabilityZones must be 3 in prod, to survive the loss of a zone (got ${e.availabilityZones})`,
    );
  }
  if (prod && e.natGatewayPerZone === false) {
    problems.push(
      `${key}.natGatewayPerZone must be true in prod: one NAT gateway is one zone's outage from no egress (got false)`,
    );
  }
  const zoneCount = e.availabilityZones ?? (prod ? 3 : 2);
  if (e.zones) {
    if (e.zones.length !== zoneCount) {
      problems.push(
        `${key}.zones must name exactly ${zoneCount} zones, one per availability zone used (got ${e.zones.length})`,
      );
    }
    if (new Set(e.zones).size !== e.zones.length)
      problems.push(`${key}.zones must not repeat a zone (got ${JSON.stringify(e.zones)})`);
    const foreign = e.zones.find((z) => !z.startsWith(e.region));
    if (foreign) problems.push(`${key}.zones must be zones of ${e.region} (got "${foreign}")`);
  }
  const defaults: NodePoolInput[] = [
    { name: "system", machineType: "m6i.large", minNodes: prod ? 3 : 2, maxNodes: prod ? 6 : 4 },
  ];
  // Nothing scales an EKS node group here (no cluster autoscaler or Karpenter is installed): a
  // pool stays at its minNodes, so one at 0 never gets a node.
  (e.nodePools ?? []).forEach((p, i) => {
    if (p.minNodes === 0) {
      problems.push(
        `${key}.nodePools[${i}].minNodes must be at least 1 on EKS: no autoscaler runs here, so a pool stays at its minimum and one at 0 never gets a node (got 0)`,
      );
    }
  });
  return {
    ...e,
    availabilityZones: zoneCount,
    natGatewayPerZone: e.natGatewayPerZone ?? prod,
    nodePools: nodePools(`${key}.nodePools`, e.nodePools ?? defaults, environment, problems),
    logRetentionDays: e.logRetentionDays ?? (prod ? 90 : 30),
    secretsKeyDeletionWindowDays: prod ? 30 : 7,
  };
}

/** DOKS's own pod and service networks; a VPC range must not overlap them. */
const DOKS_RESERVED = ["10.244.0.0/16", "10.245.0.0/16"];

function doksSettings(
  d: z.output<typeof doksSchema>,
  environment: Environment,
  all: Record<string, string>,
  isSecret: (fullKey: string) => boolean,
  problems: string[],
): DoksSettings {
  const key = `${NAMESPACE}:cluster.doks`;
  const prod = environment === "prod";
  checkApiAccess(`${key}.apiAllowedCidrs`, d.apiAllowedCidrs, environment, false, problems);
  if (d.vpcCidr && !isPrivateCidr(d.vpcCidr)) {
    problems.push(
      `${key}.vpcCidr must lie in a private range (${PRIVATE_RANGES.join(", ")}), as DigitalOcean requires of a VPC (got "${d.vpcCidr}"); leave it unset to let DigitalOcean choose one that overlaps none of the account's VPCs`,
    );
  }
  const reserved = d.vpcCidr && DOKS_RESERVED.find((r) => cidrsOverlap(r, d.vpcCidr ?? ""));
  if (reserved) {
    problems.push(
      `${key}.vpcCidr must not overlap ${reserved}, which DOKS uses for pods and services (got "${d.vpcCidr}")`,
    );
  }
  const token = all[TOKEN_KEY];
  if (token !== undefined && !isSecret(TOKEN_KEY)) problems.push(mustBeEncrypted(TOKEN_KEY, `${TOKEN_KEY} <token>`));
  const defaults: NodePoolInput[] = [
    {
      name: "system",
      machineType: prod ? "s-4vcpu-8gb" : "s-2vcpu-4gb",
      minNodes: prod ? 3 : 2,
      maxNodes: prod ? 6 : 4,
    },
  ];
  return {
    ...d,
    ha: d.ha ?? prod,
    nodePools: nodePools(`${key}.nodePools`, d.nodePools ?? defaults, environment, problems),
    ...(token !== undefined && token !== "" ? { token: pulumi.secret(token) } : {}),
  };
}

/** The context of a kubeconfig the program uses, and the API server it points at. */
interface KubeconfigTarget {
  context: string;
  server: string;
}

/**
 * Finds the context a kubeconfig is used with (`context`, or its current-context) and that
 * context's API server, or says in one phrase what is wrong. Never quotes the kubeconfig.
 */
function kubeconfigTarget(text: string, context: string | undefined): KubeconfigTarget | string {
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (e) {
    const line = e instanceof YAML.YAMLError && e.linePos ? ` (YAML error on line ${e.linePos[0].line})` : "";
    return `is not a kubeconfig: it does not parse as YAML${line}`;
  }
  const config = doc as
    | {
        contexts?: { name?: unknown; context?: { cluster?: unknown; user?: unknown } }[];
        clusters?: { name?: unknown; cluster?: { server?: unknown } }[];
        users?: { name?: unknown }[];
        "current-context"?: unknown;
      }
    | null
    | undefined;
  if (!config || typeof config !== "object" || !Array.isArray(config.contexts) || !Array.isArray(config.clusters)) {
    return "is not a kubeconfig: it has no contexts and clusters lists (export one with `kubectl config view --raw --minify`)";
  }
  const names = config.contexts.map((c) => String(c.name));
  const wanted = context ?? (typeof config["current-context"] === "string" ? config["current-context"] : undefined);
  if (!wanted) {
    return `has no current-context: set ${NAMESPACE}:cluster.existing.context to one of ${names.join(", ") || "(none)"}`;
  }
  const entry = config.contexts.find((c) => c.name === wanted);
  if (!entry) {
    return `has no context "${wanted}" (its contexts: ${names.join(", ") || "none"})`;
  }
  const cluster = config.clusters.find((c) => c.name === entry.context?.cluster);
  const server = cluster?.cluster?.server;
  if (typeof server !== "string" || !/^https?:\/\//.test(server)) {
    return `context "${wanted}" names cluster ${JSON.stringify(entry.context?.cluster ?? null)}, which has no https:// server in its clusters list`;
  }
  const users = Array.isArray(config.users) ? config.users : [];
  if (entry.context?.user !== undefined && !users.some((u) => u.name === entry.context?.user)) {
    return `context "${wanted}" names user ${JSON.stringify(entry.context.user)}, which is not in its users list`;
  }
  return { context: wanted, server };
}

function existingSettings(
  e: z.output<typeof existingSchema>,
  kubeconfig: string | undefined,
  problems: string[],
): ExistingSettings {
  const key = `${NAMESPACE}:kubeconfig`;
  const fallback = { context: e.context ?? "", server: "", httpPort: e.httpPort, httpsPort: e.httpsPort };
  if (kubeconfig === undefined || kubeconfig.trim() === "") {
    problems.push(
      `${key} is required when ${NAMESPACE}:cluster.provider is existing: the kubeconfig of that cluster, set with \`pulumi config set --secret ${key} < kubeconfig.yaml\``,
    );
    return { ...fallback, kubeconfig: pulumi.secret("") };
  }
  const target = kubeconfigTarget(kubeconfig, e.context);
  if (typeof target === "string") {
    problems.push(`${key} ${target}`);
    return { ...fallback, kubeconfig: pulumi.secret("") };
  }
  return { ...fallback, ...target, kubeconfig: pulumi.secret(withCurrentContext(kubeconfig, target.context)) };
}

/** The kubeconfig with `current-context` set, so that kubectl and the lifecycle commands agree with the provider. */
function withCurrentContext(text: string, context: string): string {
  const doc = YAML.parseDocument(text);
  if (doc.get("current-context") === context) return text;
  doc.set("current-context", context);
  return doc.toString();
}

/** DigitalOcean's provider key; read here because the cluster's explicit provider gets it as an arg. */
const TOKEN_KEY = "digitalocean:token";

/** Compute Engine machine series whose disks are Hyperdisk only. */
const HYPERDISK_ONLY: ReadonlySet<string> = new Set(["c4", "c4a", "c4d", "n4", "x4"]);

function gkeSettings(g: z.output<typeof gkeSchema>, environment: Environment, problems: string[]): GkeSettings {
  const key = `${NAMESPACE}:cluster.gke`;
  const prod = environment === "prod";
  checkApiAccess(`${key}.apiAllowedCidrs`, g.apiAllowedCidrs, environment, false, problems);
  const ranges = [
    ["nodeCidr", g.nodeCidr],
    ["podCidr", g.podCidr],
    ["serviceCidr", g.serviceCidr],
    ["controlPlaneCidr", g.controlPlaneCidr],
  ] as const;
  ranges.forEach(([a, x], i) => {
    for (const [b, y] of ranges.slice(i + 1)) {
      if (cidrsOverlap(x, y)) problems.push(`${key}.${b} must not overlap ${key}.${a} (${x}) (got "${y}")`);
    }
  });
  const defaults: NodePoolInput[] = [
    { name: "system", machineType: prod ? "e2-standard-4" : "e2-standard-2", minNodes: 1, maxNodes: prod ? 3 : 2 },
  ];
  // The node pools' boot disks are pd-balanced (components/cluster/gke.ts); these machine series
  // take Hyperdisk only (Google Cloud's "Machine series comparison": C4, C4A, C4D, N4 and X4).
  (g.nodePools ?? []).forEach((p, i) => {
    const series = p.machineType.split("-")[0] ?? "";
    if (HYPERDISK_ONLY.has(series)) {
      problems.push(
        `${key}.nodePools[${i}].machineType must be of a series that boots from Persistent Disk (pd-balanced): ${series.toUpperCase()} takes Hyperdisk only (got "${p.machineType}"); use e2, n2, n2d, t2d or c3`,
      );
    }
  });
  return {
    ...g,
    releaseChannel: g.releaseChannel ?? (prod ? "STABLE" : "REGULAR"),
    nodePools: nodePools(`${key}.nodePools`, g.nodePools ?? defaults, environment, problems),
  };
}

/** One line for one zod issue: `platform:<key>.<path> <what is wrong> (got <value>)`. */
function formatIssue(issue: z.core.$ZodIssue): string {
  const [top, ...rest] = issue.path.map(String);
  if (top === undefined) {
    // Unknown top-level keys: name them as full config keys.
    if (issue.code === "unrecognized_keys") return issue.keys.map(unknownConfigKey).join("\n");
    return `${NAMESPACE} config ${issue.message}`;
  }
  const key = rest.reduce((k, seg) => (/^\d+$/.test(seg) ? `${k}[${seg}]` : `${k}.${seg}`), `${NAMESPACE}:${top}`);
  let input = (issue as { input?: unknown }).input;
  // A union that found no matching discriminator reports the whole object; show the field itself.
  const last = issue.path[issue.path.length - 1];
  if ("discriminator" in issue && input !== null && typeof input === "object" && typeof last === "string") {
    input = (input as Record<string, unknown>)[last];
  }
  if (input === undefined && issue.code !== "unrecognized_keys") {
    return `${key} is required: it ${issue.message}`;
  }
  const got = SECRET_KEYS.has(top) || issue.code === "unrecognized_keys" ? "" : ` (got ${show(input)})`;
  return `${key} ${issue.message}${got}`;
}

/** The line for a `platform:*` key the program does not read. */
function unknownConfigKey(key: string): string {
  const near = closest(key, CONFIG_KEYS);
  const hint = near ? `; did you mean ${NAMESPACE}:${near}?` : "";
  return `${NAMESPACE}:${key} is not a known config key${hint} (known: ${CONFIG_KEYS.map((c) => `${NAMESPACE}:${c}`).join(", ")})`;
}

function show(value: unknown): string {
  if (Array.isArray(value)) return "a list";
  if (value === null) return "null";
  if (typeof value === "object") return "an object";
  // Never echo credentials a user put inside a URL.
  return JSON.stringify(typeof value === "string" ? value.replace(/\/\/[^/@\s]*@/, "//***@") : value);
}

/** Structured config arrives as JSON text; anything else is kept so the schema can say what is wrong. */
function parseObject(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function isEmptyObject(v: unknown): boolean {
  return v !== null && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 0;
}
