/**
 * The one place stack configuration is read. `loadConfig()` turns every `platform:*` key into
 * typed, validated objects that the components take as args; no other module calls
 * `new pulumi.Config()`. Bad config stops the program before any resource is registered, with one
 * line per problem that names the key as the user writes it, the bad value and what is allowed.
 */
import * as pulumi from "@pulumi/pulumi";
import * as runtimeConfig from "@pulumi/pulumi/runtime/config";
import { z } from "zod";

/** Config namespace of this project (`name:` in Pulumi.yaml). */
export const NAMESPACE = "platform";

export const ENVIRONMENTS = ["dev", "stage", "prod"] as const;
export type Environment = (typeof ENVIRONMENTS)[number];

export const CLUSTER_PROVIDERS = ["k3d", "eks", "doks", "gke"] as const;
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

/**
 * An image reference pinned to an exact version: a digest, or a tag that holds a full x.y.z
 * version. `latest`, `2` or `v1.35` float and are refused.
 */
const PINNED_IMAGE =
  /^[a-z0-9]+([._/-][a-z0-9]+)*(:[0-9]+)?(\/[a-z0-9]+([._-][a-z0-9]+)*)*(:[\w.-]*\d+\.\d+\.\d+[\w.-]*)?(@sha256:[a-f0-9]{64})?$/;
const pinnedImage = z
  .string({ error: "must be an image reference" })
  .refine((s) => PINNED_IMAGE.test(s) && /(:[\w.-]*\d+\.\d+\.\d+[\w.-]*|@sha256:[a-f0-9]{64})$/.test(s), {
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
const GIT_URL_SCP = /^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[A-Za-z0-9._~/-]+$/;
const gitUrl = rule("must be a Git URL", (s) => {
  if (GIT_URL_SCP.test(s)) return undefined;
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

/** Cloud cluster blocks are free-form until their components exist; the factory says "not yet". */
const cloudBlock = z.record(z.string(), z.unknown(), { error: "must be an object" }).optional();

const clusterSchema = z.discriminatedUnion(
  "provider",
  [
    block({ provider: z.literal("k3d"), name: clusterName.optional(), k3d: k3dSchema.prefault({}) }),
    block({ provider: z.literal("eks"), name: clusterName.optional(), eks: cloudBlock }),
    block({ provider: z.literal("doks"), name: clusterName.optional(), doks: cloudBlock }),
    block({ provider: z.literal("gke"), name: clusterName.optional(), gke: cloudBlock }),
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
});

/** The top-level keys, in the order Pulumi.yaml declares them. */
export const CONFIG_KEYS = Object.keys(platformSchema.shape) as (keyof typeof platformSchema.shape)[];

/** Top-level keys whose value is a YAML object in the stack file. */
const OBJECT_KEYS: ReadonlySet<string> = new Set(["cluster", "argocd", "gitops", "gitopsCredentials"]);
/** Keys whose values must never be printed or stored in plain text. */
const SECRET_KEYS: ReadonlySet<string> = new Set(["gitopsCredentials"]);

// ---------------------------------------------------------------------------------------------
// The typed result the components take.
// ---------------------------------------------------------------------------------------------

export type K3dSettings = z.output<typeof k3dSchema>;

export interface K3dClusterConfig {
  provider: "k3d";
  name: string;
  k3d: K3dSettings;
}

export interface CloudClusterConfig {
  provider: "eks" | "doks" | "gke";
  name: string;
  settings: Record<string, unknown>;
}

export type ClusterConfig = K3dClusterConfig | CloudClusterConfig;

export interface ArgoCdConfig {
  chartVersion: string;
  /** Hostname of the Argo CD UI and API. */
  hostname: string;
  /** HA mode: redis-ha and two or more replicas of server, repo-server and applicationset. */
  ha: boolean;
  ingressClassName: string;
  /** TLS on the ingress through cert-manager; off on k3d. */
  tls: { enabled: boolean; clusterIssuer: string };
  installTimeoutSeconds: number;
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

/** The repository URL the stack files ship with, for users to replace. */
const EXAMPLE_REPO_PREFIX = "https://github.com/your-org/";

/** Settings that are valid but almost surely not meant; shown as warnings, not errors. */
export function configWarnings(config: PlatformConfig): string[] {
  const warnings: string[] = [];
  if (config.gitops.repoURL.startsWith(EXAMPLE_REPO_PREFIX)) {
    warnings.push(
      `${NAMESPACE}:gitops.repoURL is still the example ${config.gitops.repoURL}: Argo CD cannot sync it until you set your own repository`,
    );
  }
  return warnings;
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
): PlatformConfig {
  const problems: string[] = [];
  const raw: Record<string, unknown> = {};
  for (const [fullKey, text] of Object.entries(all)) {
    if (!fullKey.startsWith(`${NAMESPACE}:`)) continue;
    const key = fullKey.slice(NAMESPACE.length + 1);
    const value = OBJECT_KEYS.has(key) ? parseObject(text) : text;
    // Pulumi.yaml declares optional object keys with `default: {}`: an empty object is "not set".
    if (isEmptyObject(value)) continue;
    raw[key] = value;
    if (SECRET_KEYS.has(key) && !isSecret(fullKey)) {
      problems.push(
        `${fullKey} must be stored encrypted: set it with \`pulumi config set --secret --path ${fullKey}.<field> <value>\``,
      );
    }
  }

  const parsed = platformSchema.safeParse(raw, { reportInput: true });
  if (!parsed.success) {
    // A value can break two rules at once (0 servers: too few, and even); say it once.
    problems.push(...new Set(parsed.error.issues.map(formatIssue)));
  }
  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems);

  const v = parsed.data;
  const environment = v.environment;
  const name = v.cluster.name ?? `platform-${stack}`;
  const cluster: ClusterConfig =
    v.cluster.provider === "k3d"
      ? { provider: "k3d", name, k3d: v.cluster.k3d }
      : { provider: v.cluster.provider, name, settings: cloudSettings(v.cluster) };

  const isLocal = cluster.provider === "k3d";
  const hostnameValue = v.argocd.hostname ?? (isLocal ? `argocd.${environment}.127.0.0.1.nip.io` : undefined);
  if (!clusterName.safeParse(name).success) {
    problems.push(
      `${NAMESPACE}:cluster.name is not set and the default "platform-${stack}" is not a DNS-1123 label of at most 32 characters; set ${NAMESPACE}:cluster.name`,
    );
  }
  if (hostnameValue === undefined) {
    problems.push(
      `${NAMESPACE}:argocd.hostname is required when ${NAMESPACE}:cluster.provider is ${cluster.provider} (a DNS name you control, like argocd.example.com)`,
    );
  }
  if (cluster.provider === "k3d") {
    const k = cluster.k3d;
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
  if (problems.length > 0 || hostnameValue === undefined) throw new ConfigError(problems);

  return {
    environment,
    stack,
    cluster,
    argocd: {
      chartVersion: v.argocd.chartVersion,
      hostname: hostnameValue,
      ha: v.argocd.ha ?? environment === "prod",
      ingressClassName: v.argocd.ingressClassName,
      tls: { enabled: v.argocd.tls ?? !isLocal, clusterIssuer: v.argocd.clusterIssuer },
      installTimeoutSeconds: v.argocd.installTimeoutSeconds,
    },
    gitops: {
      repoURL: v.gitops.repoURL,
      targetRevision: v.gitops.targetRevision,
      path: (v.gitops.path ?? `gitops/envs/${environment}`).replace(/\/$/, ""),
      syncPolicy: v.gitops.syncPolicy ?? (environment === "prod" ? "manual" : "automated"),
      retryLimit: v.gitops.retryLimit,
      ...(v.gitopsCredentials ? { credentials: pulumi.secret(v.gitopsCredentials) } : {}),
    },
  };
}

function cloudSettings(c: { provider: string } & Record<string, unknown>): Record<string, unknown> {
  const settings = c[c.provider];
  return settings && typeof settings === "object" ? (settings as Record<string, unknown>) : {};
}

/** One line for one zod issue: `platform:<key>.<path> <what is wrong> (got <value>)`. */
function formatIssue(issue: z.core.$ZodIssue): string {
  const [top, ...rest] = issue.path.map(String);
  if (top === undefined) {
    // Unknown top-level keys: name them as full config keys.
    if (issue.code === "unrecognized_keys") {
      return issue.keys
        .map((k) => {
          const near = closest(k, CONFIG_KEYS);
          const hint = near ? `; did you mean ${NAMESPACE}:${near}?` : "";
          return `${NAMESPACE}:${k} is not a known config key${hint} (known: ${CONFIG_KEYS.map((c) => `${NAMESPACE}:${c}`).join(", ")})`;
        })
        .join("\n");
    }
    return `${NAMESPACE} config ${issue.message}`;
  }
  const key = [`${NAMESPACE}:${top}`, ...rest].join(".");
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
