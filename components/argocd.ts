import * as command from "@pulumi/command";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { DEFAULTS, type ArgoCdConfig, type Environment } from "./config";

/**
 * The argo-cd chart's name, and where it is published; `platform:argocd.chartRepository` can
 * point at a mirror instead. The version is `platform:argocd.chartVersion`.
 */
export const ARGOCD_CHART = { name: "argo-cd", repo: DEFAULTS.argocdChartRepository } as const;

/** Where the chart comes from, as the Helm release and as Argo CD's own Application name it. */
export interface ChartSource {
  /** The release's `chart` (with the registry path for OCI) and `repositoryOpts`. */
  release: { chart: string; repositoryOpts?: { repo: string } };
  /** Argo CD's `repoURL` for the chart: the Helm repository URL, or the OCI registry path without its scheme. */
  argocdRepoURL: string;
  /** An OCI registry: Argo CD reads it only through a repository with `enableOCI`. */
  oci: boolean;
}

/** The release and Argo CD forms of `platform:argocd.chartRepository`. */
export function chartSource(repository: string): ChartSource {
  const repo = repository.replace(/\/+$/, "");
  if (repo.startsWith("oci://")) {
    return {
      release: { chart: `${repo}/${ARGOCD_CHART.name}` },
      argocdRepoURL: repo.slice("oci://".length),
      oci: true,
    };
  }
  return { release: { chart: ARGOCD_CHART.name, repositoryOpts: { repo } }, argocdRepoURL: repo, oci: false };
}

/** The repository Secret (through the chart's configs.repositories) that lets Argo CD pull its chart from OCI. */
const OCI_CHART_REPOSITORY = "argo-cd-chart";
/** Namespace and Helm release name; the GitOps tree's Application for Argo CD uses the same. */
export const ARGOCD_NAMESPACE = "argocd";
export const ARGOCD_RELEASE = "argocd";
/**
 * Inputs of the Helm release that Pulumi sets at install and then leaves to Argo CD: all of them.
 * A change to any input (its timeout, the chart's repository) would otherwise make the provider
 * run `helm upgrade` with the bootstrap chart version and values, and undo what Argo CD upgraded.
 */
export const RELEASE_HANDED_OFF = ["*"] as const;

export interface ArgoCdArgs {
  /** dev | stage | prod: picks replica counts and resource requests. */
  environment: Environment;
  /** Chart version, hostname, HA, ingress and TLS settings from `platform:argocd`. */
  settings: ArgoCdConfig;
  /** Ports the cluster's ingress is reached on from outside, for the UI URL. */
  ingressPorts: { readonly http: number; readonly https: number };
  /** Kubernetes provider of the target cluster. */
  provider: k8s.Provider;
  /**
   * The cluster's own resource, when the stack deletes the cluster (Cluster.deletesEverythingOnIt):
   * the namespace and the release go with it instead of being uninstalled first.
   */
  deletedWith?: pulumi.Resource;
}

/** The URL users open, e.g. http://argocd.dev.127.0.0.1.nip.io:8080. */
export function argocdUrl(settings: ArgoCdConfig, ingressPorts: ArgoCdArgs["ingressPorts"]): string {
  const [scheme, port, standard] = settings.tls.enabled
    ? ["https", ingressPorts.https, 443]
    : ["http", ingressPorts.http, 80];
  return `${scheme}://${settings.hostname}${port === standard ? "" : `:${port}`}`;
}

interface Resources {
  requests: { cpu: string; memory: string };
  limits: { memory: string };
}
const res = (cpu: string, memory: string, limit: string): Resources => ({
  requests: { cpu, memory },
  limits: { memory: limit },
});

// Memory limits only: CPU limits throttle the controller during large syncs.
const SIZES = {
  small: {
    controller: res("100m", "256Mi", "1Gi"),
    server: res("50m", "64Mi", "256Mi"),
    repoServer: res("50m", "128Mi", "512Mi"),
    applicationSet: res("25m", "64Mi", "128Mi"),
    notifications: res("25m", "32Mi", "128Mi"),
    redis: res("25m", "32Mi", "128Mi"),
    job: res("10m", "32Mi", "64Mi"),
  },
  standard: {
    controller: res("500m", "1Gi", "2Gi"),
    server: res("100m", "128Mi", "512Mi"),
    repoServer: res("250m", "256Mi", "1Gi"),
    applicationSet: res("100m", "128Mi", "256Mi"),
    notifications: res("50m", "64Mi", "128Mi"),
    redis: res("100m", "128Mi", "256Mi"),
    job: res("10m", "32Mi", "64Mi"),
  },
} as const;

/** The chart's values; `configs` is typed because the release and the tree each add to it. */
type ArgoCdValues = { configs: Record<string, unknown> } & Record<string, unknown>;

/**
 * The health of a child Application as its parent sees it, so that the root app's sync waves
 * wait for the namespaces before the apps that deploy into them (Argo CD has had no built-in
 * check for Applications since 1.8). A child counts as Healthy only once it has completed a sync
 * (it has a history entry) and reports Healthy: Argo CD 3.4 leaves resources that are still
 * Missing out of an app's health (argo-cd issue 27917), so an app that synced nothing, or only
 * part, can report Healthy. Before its first sync a child is Progressing, or Degraded if it is.
 * Argo CD writes a history entry for each successful sync of a whole app (an automated one, or
 * a person's Sync of everything), not for a self-heal or a partial sync; the tree keeps history
 * on every child (a spec forbids revisionHistoryLimit 0). The gate matters on a new cluster:
 * later, a child that synced once counts as ready for its wave while it rolls out a change.
 */
export const APPLICATION_HEALTH_LUA = `hs = {}
hs.status = "Progressing"
hs.message = "Waiting for the app's first sync"
if obj.status == nil or obj.status.health == nil then
  return hs
end
local health = obj.status.health.status
local synced = obj.status.history ~= nil and #obj.status.history > 0
if synced or health == "Degraded" then
  hs.status = health
  hs.message = obj.status.health.message or ""
end
return hs
`;

/**
 * How long one sync operation may run before the application controller ends it (Argo CD's
 * default, 0, is never): a wave that never turns healthy then fails the operation, which the
 * next sync starts over, instead of holding the app's sync open for ever.
 */
export const SYNC_TIMEOUT_SECONDS = 1800;

/**
 * Helm values for the argo-cd chart, all but the admin password. Every key here is one the
 * chart reads (a test checks them against the chart's values.yaml and renders the chart with
 * them). The Pulumi release and Argo CD's own Application in the GitOps tree both use them.
 */
function argocdValues(environment: Environment, settings: ArgoCdConfig, url: string): ArgoCdValues {
  const size = environment === "dev" ? SIZES.small : SIZES.standard;
  // HA: two of every stateless component, redis-ha (three redis + haproxy) instead of one redis.
  const replicas = settings.ha ? 2 : 1;
  const pdb = settings.ha ? { enabled: true, minAvailable: 1 } : { enabled: false };
  const source = chartSource(settings.chartRepository);
  return {
    global: { domain: settings.hostname },
    configs: {
      ...(source.oci
        ? {
            repositories: {
              [OCI_CHART_REPOSITORY]: {
                name: OCI_CHART_REPOSITORY,
                type: "helm",
                url: source.argocdRepoURL,
                enableOCI: "true",
              },
            },
          }
        : {}),
      cm: {
        url,
        "admin.enabled": true,
        "exec.enabled": false,
        "resource.customizations.health.argoproj.io_Application": APPLICATION_HEALTH_LUA,
      },
      // TLS ends at the ingress controller; behind it the server speaks plain HTTP.
      params: { "server.insecure": true, "controller.sync.timeout.seconds": String(SYNC_TIMEOUT_SECONDS) },
      rbac: { "policy.default": "role:readonly" },
    },
    // Metrics Services for Prometheus (the GitOps tree's ServiceMonitor scrapes them).
    controller: { replicas: 1, resources: size.controller, metrics: { enabled: true } },
    server: {
      replicas,
      resources: size.server,
      pdb,
      metrics: { enabled: true },
      ingress: {
        enabled: true,
        ingressClassName: settings.ingressClassName,
        tls: settings.tls.enabled,
        annotations: settings.tls.enabled ? { "cert-manager.io/cluster-issuer": settings.tls.clusterIssuer } : {},
      },
    },
    repoServer: { replicas, resources: size.repoServer, pdb, metrics: { enabled: true } },
    applicationSet: { replicas, resources: size.applicationSet, pdb, metrics: { enabled: true } },
    notifications: { resources: size.notifications },
    redis: { enabled: !settings.ha, resources: size.redis },
    redisSecretInit: { resources: size.job },
    "redis-ha": settings.ha
      ? {
          enabled: true,
          redis: { resources: size.redis },
          sentinel: { resources: res("25m", "32Mi", "64Mi") },
          haproxy: { resources: res("50m", "64Mi", "128Mi"), init: { resources: size.job } },
          splitBrainDetection: { resources: res("10m", "32Mi", "64Mi") },
          init: { resources: size.job },
        }
      : { enabled: false },
    // No SSO is configured here; Dex would only cost a pod.
    dex: { enabled: false },
    // Uninstalling removes the CRDs too: on a cluster the stack does not own, a destroy leaves
    // nothing of Argo CD behind (the drain has removed every Application first).
    crds: { keep: false },
  };
}

/**
 * The values of Argo CD's own Application in the GitOps tree: the release's, except that the
 * chart leaves argocd-secret (which holds the admin password) to the Pulumi release.
 */
function selfManagedValues(environment: Environment, settings: ArgoCdConfig, url: string): ArgoCdValues {
  const values = argocdValues(environment, settings, url);
  return { ...values, configs: { ...values.configs, secret: { createSecret: false } } };
}

/** Pod Security Admission: every Argo CD pod meets the `restricted` profile (a test renders them). */
const ARGOCD_NAMESPACE_LABELS = {
  "pod-security.kubernetes.io/enforce": "restricted",
  "pod-security.kubernetes.io/audit": "restricted",
  "pod-security.kubernetes.io/warn": "restricted",
} as const;

/**
 * Argo CD installed by Helm into the `argocd` namespace, with a generated admin password, the UI
 * behind the cluster's ingress, read-only default RBAC, and HA in prod.
 */
export class ArgoCd extends pulumi.ComponentResource {
  /** Namespace Argo CD runs in; known once the namespace exists. */
  public readonly namespace: pulumi.Output<string>;
  /** The Helm release; Argo CD's CRDs exist once it is ready. */
  public readonly release: k8s.helm.v3.Release;
  /** URL of the UI and API. */
  public readonly url: pulumi.Output<string>;
  /** Password of the `admin` user. A Pulumi secret. */
  public readonly adminPassword: pulumi.Output<string>;
  /** Values for Argo CD's own Application in the GitOps tree (no secrets: see selfManagedValues). */
  public readonly selfManagedValues: Record<string, unknown>;
  /** Where the chart comes from (`platform:argocd.chartRepository`), for Argo CD's own Application. */
  public readonly chartSource: ChartSource;

  constructor(name: string, args: ArgoCdArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:gitops:ArgoCd", name, {}, opts);
    const k8sOpts = {
      parent: this,
      provider: args.provider,
      ...(args.deletedWith ? { deletedWith: args.deletedWith } : {}),
    };

    const ns = new k8s.core.v1.Namespace(
      `${name}-namespace`,
      { metadata: { name: ARGOCD_NAMESPACE, labels: { ...ARGOCD_NAMESPACE_LABELS } } },
      k8sOpts,
    );

    const password = new random.RandomPassword(
      `${name}-admin-password`,
      { length: 32, special: false },
      { parent: this },
    );
    // When the password was made: stable across runs, new with each new password.
    const passwordSetAt = new command.local.Command(
      `${name}-admin-password-mtime`,
      { create: "date -u +%Y-%m-%dT%H:%M:%SZ", triggers: [password.result], addPreviousOutputInEnv: false },
      { parent: this },
    );

    const url = argocdUrl(args.settings, args.ingressPorts);
    const source = chartSource(args.settings.chartRepository);
    const values = argocdValues(args.environment, args.settings, url);
    this.release = new k8s.helm.v3.Release(
      `${name}-release`,
      {
        name: ARGOCD_RELEASE,
        ...source.release,
        version: args.settings.chartVersion,
        namespace: ns.metadata.name,
        createNamespace: false,
        values: {
          ...values,
          configs: {
            ...values.configs,
            // The chart stamps the password's mtime with "now" unless told; every upgrade would
            // then sign out every admin session.
            secret: {
              argocdServerAdminPassword: pulumi.secret(password.bcryptHash),
              argocdServerAdminPasswordMtime: passwordSetAt.stdout.apply((out) => out.trim()),
            },
          },
        },
        // A failed install or upgrade rolls back and removes what it made, instead of leaving a
        // release stuck in pending-install.
        atomic: true,
        cleanupOnFail: true,
        timeout: args.settings.installTimeoutSeconds,
        waitForJobs: true,
        maxHistory: 10,
      },
      {
        ...k8sOpts,
        // The handoff: once installed, Argo CD's own Application in the GitOps tree owns the chart
        // (version from gitops/envs/<env>/versions.yaml, values from the root app). Pulumi keeps
        // the release to bootstrap a new cluster and to remove Argo CD on destroy, and never
        // upgrades it, so the two never fight. See the README's "Upgrading Argo CD".
        ignoreChanges: [...RELEASE_HANDED_OFF],
      },
    );

    this.namespace = ns.metadata.name;
    this.url = pulumi.output(url);
    this.adminPassword = pulumi.secret(password.result);
    this.selfManagedValues = selfManagedValues(args.environment, args.settings, url);
    this.chartSource = source;

    this.registerOutputs({ namespace: this.namespace, url: this.url, adminPassword: this.adminPassword });
  }
}
