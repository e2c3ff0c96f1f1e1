/**
 * The platform's guardrails, as Pulumi policies: every `pulumi preview` and `pulumi up` in CI runs
 * them (`--policy-pack policy`), and a mandatory violation stops the update before anything
 * changes. Each rule reads only values a preview already knows (what the program sets itself),
 * so none of them is skipped as "unknown during preview"; the specs check that on every stack.
 *
 * Policies see values with their secretness stripped, so the kubeconfig rule checks what makes a
 * kubeconfig secret at its source (the resource options); the specs check the stack's exports.
 */
import type { ResourceValidation, ResourceValidationArgs, ResourceValidationPolicy } from "@pulumi/policy";
import { apiAccessProblems } from "../components/api-access";

/** A policy of this pack: one validation function per resource. */
type Rule = ResourceValidationPolicy & { validateResource: ResourceValidation };

/** The cloud clusters this program creates, by Pulumi type. */
const CLUSTER_TYPES = {
  eks: "aws:eks/cluster:Cluster",
  gke: "gcp:container/cluster:Cluster",
  doks: "digitalocean:index/kubernetesCluster:KubernetesCluster",
} as const;

/** The tag (label on GCP, `key:value` tag on DigitalOcean) that names a cluster's environment. */
const ENVIRONMENT_TAG = "platform-environment";

const CASCADE_FINALIZERS = new Set([
  "resources-finalizer.argocd.argoproj.io",
  "resources-finalizer.argocd.argoproj.io/background",
  "resources-finalizer.argocd.argoproj.io/foreground",
]);
/** An exact SemVer 2 version, as Helm and Argo CD take it: no range, no wildcard, no `latest`. */
const EXACT_VERSION = /^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/;

type Props = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- provider inputs are untyped here

function isCluster(type: string): boolean {
  return (Object.values(CLUSTER_TYPES) as string[]).includes(type);
}

/**
 * A cluster's environment, from the tags the program puts on every cloud resource: GKE's labels,
 * DigitalOcean's `key:value` tags, or (on AWS, where they are the provider's default tags) the
 * provider's.
 */
function environmentOf(args: Pick<ResourceValidationArgs, "type" | "props" | "provider">): string | undefined {
  const props = args.props as Props;
  switch (args.type) {
    case CLUSTER_TYPES.gke:
      return (props["resourceLabels"] as Record<string, string> | undefined)?.[ENVIRONMENT_TAG];
    case CLUSTER_TYPES.doks:
      return ((props["tags"] as string[] | undefined) ?? [])
        .find((t) => t.startsWith(`${ENVIRONMENT_TAG}:`))
        ?.slice(ENVIRONMENT_TAG.length + 1);
    case CLUSTER_TYPES.eks: {
      const own = (props["tags"] as Record<string, string> | undefined)?.[ENVIRONMENT_TAG];
      // Provider config reaches the engine as text: objects are JSON.
      const raw = (args.provider?.props as Props | undefined)?.["defaultTags"] as unknown;
      const defaults = (typeof raw === "string" ? JSON.parse(raw) : raw) as
        { tags?: Record<string, string> } | undefined;
      return own ?? defaults?.tags?.[ENVIRONMENT_TAG];
    }
    default:
      return undefined;
  }
}

export const prodClustersProtected: Rule = {
  name: "prod-clusters-protected",
  description: "A prod cluster is protected in Pulumi and, where the cloud has it, deletion-protected.",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    if (!isCluster(args.type)) return;
    const environment = environmentOf(args);
    if (environment === undefined) {
      report(`${args.name} carries no ${ENVIRONMENT_TAG} tag, so the guardrails cannot tell whether it is prod`);
      return;
    }
    if (environment !== "prod") return;
    if (!args.opts.protect) report(`prod cluster ${args.name} must be protected (platform:cluster.protect)`);
    if (args.type !== CLUSTER_TYPES.doks && (args.props as Props)["deletionProtection"] !== true) {
      report(`prod cluster ${args.name} must have the cloud's deletion protection on (deletionProtection: true)`);
    }
  },
};

export const clusterApiNotPublic: Rule = {
  name: "cluster-api-not-public",
  description: "A cloud cluster's API is reached privately, or publicly only from listed address ranges.",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    const props = args.props as Props;
    const environment = environmentOf(args);
    // What a public endpoint admits: a list the config check holds to the same rule (api-access.ts).
    // No list leaves a public endpoint open to every address, and so does an empty one on EKS
    // (AWS's default for publicAccessCidrs is 0.0.0.0/0); on GKE and DOKS an empty one admits nobody.
    const limitedBy = (field: string, cidrs: unknown, emptyIsOpen = false) => {
      if (!Array.isArray(cidrs) || (emptyIsOpen && cidrs.length === 0)) {
        report(`${args.name}: a public API endpoint must be limited by ${field}`);
        return;
      }
      for (const problem of apiAccessProblems(cidrs.map(String), environment, false)) {
        report(`${args.name}: ${field} ${problem}`);
      }
    };
    switch (args.type) {
      case CLUSTER_TYPES.eks: {
        const vpc = (props["vpcConfig"] ?? {}) as Props;
        if (vpc["endpointPrivateAccess"] !== true) report(`${args.name}: vpcConfig.endpointPrivateAccess must be true`);
        if (vpc["endpointPublicAccess"] !== false)
          limitedBy("vpcConfig.publicAccessCidrs", vpc["publicAccessCidrs"], true);
        return;
      }
      case CLUSTER_TYPES.gke: {
        const priv = (props["privateClusterConfig"] ?? {}) as Props;
        const networks = (props["masterAuthorizedNetworksConfig"] ?? {}) as Props;
        if (priv["enablePrivateNodes"] !== true)
          report(`${args.name}: privateClusterConfig.enablePrivateNodes must be true`);
        const blocks = ((networks["cidrBlocks"] as Props[] | undefined) ?? []).map((b) => b["cidrBlock"] as unknown);
        if (priv["enablePrivateEndpoint"] !== true) limitedBy("masterAuthorizedNetworksConfig.cidrBlocks", blocks);
        if (networks["gcpPublicCidrsAccessEnabled"] === true) {
          report(
            `${args.name}: masterAuthorizedNetworksConfig.gcpPublicCidrsAccessEnabled opens the API to all of Google Cloud`,
          );
        }
        return;
      }
      case CLUSTER_TYPES.doks: {
        const firewall = (props["controlPlaneFirewall"] ?? {}) as Props;
        if (firewall["enabled"] !== true) report(`${args.name}: controlPlaneFirewall.enabled must be true`);
        else limitedBy("controlPlaneFirewall.allowedAddresses", firewall["allowedAddresses"]);
        return;
      }
      default:
        return;
    }
  },
};

export const clusterSecretsEncrypted: Rule = {
  name: "cluster-secrets-encrypted",
  description: "Kubernetes Secrets are encrypted with a key of the account's own (envelope encryption).",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    const props = args.props as Props;
    switch (args.type) {
      case CLUSTER_TYPES.eks: {
        const configs = (props["encryptionConfig"] ? [props["encryptionConfig"]] : []) as Props[];
        if (!configs.some((c) => ((c["resources"] as string[] | undefined) ?? []).includes("secrets"))) {
          report(`${args.name}: encryptionConfig must encrypt "secrets" with a KMS key`);
        }
        return;
      }
      case CLUSTER_TYPES.gke:
        if ((props["databaseEncryption"] as Props | undefined)?.["state"] !== "ENCRYPTED") {
          report(`${args.name}: databaseEncryption.state must be ENCRYPTED (a Cloud KMS key)`);
        }
        return;
      case CLUSTER_TYPES.doks:
        // DigitalOcean encrypts etcd at rest with keys of its own; DOKS has no setting to check.
        args.notApplicable("DOKS encrypts etcd at rest itself and has no setting for it");
        return;
      default:
        return;
    }
  },
};

/** The chart version of a Helm release, or of each Helm source of an Argo CD Application. */
function chartVersions(type: string, props: Props): { where: string; version: unknown }[] {
  if (type === "kubernetes:helm.sh/v3:Release" || type === "kubernetes:helm.sh/v4:Chart") {
    return [{ where: `chart ${String(props["chart"])}`, version: props["version"] }];
  }
  if (type === "kubernetes:argoproj.io/v1alpha1:Application") {
    const spec = (props["spec"] ?? {}) as Props;
    const sources = [spec["source"], ...((spec["sources"] as Props[] | undefined) ?? [])].filter(
      (s): s is Props => typeof s === "object" && s !== null && typeof (s as Props)["chart"] === "string",
    );
    return sources.map((s) => ({ where: `chart ${String(s["chart"])}`, version: s["targetRevision"] as unknown }));
  }
  return [];
}

export const chartVersionsPinned: Rule = {
  name: "chart-versions-pinned",
  description: "Every Helm chart is installed at an exact version: no range, no wildcard, no empty version.",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    for (const { where, version } of chartVersions(args.type, args.props as Props)) {
      if (typeof version !== "string" || !EXACT_VERSION.test(version)) {
        report(`${args.name}: ${where} must be pinned to an exact version (got ${JSON.stringify(version ?? null)})`);
      }
    }
  },
};

export const applicationsCascade: Rule = {
  name: "applications-cascade-delete",
  description:
    "Every Argo CD Application Pulumi creates (the root app-of-apps) carries the cascade finalizer, so deleting it deletes what it synced.",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    if (args.type !== "kubernetes:argoproj.io/v1alpha1:Application") return;
    const metadata = (args.props as Props)["metadata"] as { finalizers?: string[] } | undefined;
    const finalizers = metadata?.finalizers ?? [];
    if (!finalizers.some((f) => CASCADE_FINALIZERS.has(f))) {
      report(`${args.name}: metadata.finalizers must hold resources-finalizer.argocd.argoproj.io`);
    }
  },
};

export const kubeconfigsSecret: Rule = {
  name: "kubeconfigs-secret",
  description: "A resource that returns a kubeconfig returns it as a secret.",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    const secret = new Set(args.opts.additionalSecretOutputs);
    const props = args.props as Props;
    if (args.type === "command:local:Command") {
      const scripts = [props["create"], props["update"]].filter((s): s is string => typeof s === "string");
      if (
        scripts.some((s) => /kubeconfig (get|write)|get-credentials|update-kubeconfig/.test(s)) &&
        !secret.has("stdout")
      ) {
        report(`${args.name}: prints a kubeconfig, so stdout must be in additionalSecretOutputs`);
      }
    }
    if (args.type === CLUSTER_TYPES.doks && !secret.has("kubeConfigs")) {
      report(`${args.name}: kubeConfigs must be in additionalSecretOutputs`);
    }
  },
};

/** Every rule of the pack, in the order a preview reports them. */
export const POLICIES: Rule[] = [
  prodClustersProtected,
  clusterApiNotPublic,
  clusterSecretsEncrypted,
  chartVersionsPinned,
  applicationsCascade,
  kubeconfigsSecret,
];
