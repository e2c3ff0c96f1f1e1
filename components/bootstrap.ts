import * as crypto from "node:crypto";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
// Types only, erased at run time: they hold the objects below to Argo CD's own API types.
import type { IAppProject } from "@kubernetes-models/argo-cd/argoproj.io/v1alpha1/AppProject" with {
  "resolution-mode": "import",
};
import type { IApplication } from "@kubernetes-models/argo-cd/argoproj.io/v1alpha1/Application" with {
  "resolution-mode": "import",
};
import { ARGOCD_CHART } from "./argocd";
import type { GitCredentials, GitOpsConfig, SealedSecretsKey } from "./config";

/** Deleting an Application with this finalizer first deletes everything it synced. */
export const CASCADE_FINALIZER = "resources-finalizer.argocd.argoproj.io";
/** The cluster Argo CD runs in, as Argo CD names it. */
export const IN_CLUSTER = "https://kubernetes.default.svc";
/** Name of the root Application and of the AppProject it lives in. */
export const ROOT_NAME = "platform-root";

/**
 * Where the GitOps tree runs the sealed-secrets controller (gitops/security/apps/sealed-secrets.yaml),
 * and the label that makes it use a key Secret there.
 */
export const SEALED_SECRETS = {
  namespace: "security",
  keySecret: "sealed-secrets-key-platform",
  keyLabel: "sealedsecrets.bitnami.com/sealed-secrets-key",
} as const;

const LABELS = { "app.kubernetes.io/part-of": "platform", "app.kubernetes.io/managed-by": "pulumi" };

/**
 * The root's AppProject. The root app only creates Argo CD objects in Argo CD's namespace (the
 * child Applications, ApplicationSets and the teams' AppProjects); everything else comes from
 * the children, each under its own project. Nothing cluster-scoped is allowed here.
 */
export function rootProject(gitops: GitOpsConfig, namespace: string): IAppProject {
  return {
    apiVersion: "argoproj.io/v1alpha1",
    kind: "AppProject",
    metadata: { name: ROOT_NAME, namespace, labels: LABELS },
    spec: {
      description: "Root of the platform app-of-apps: creates only Argo CD projects and applications",
      sourceRepos: [gitops.repoURL],
      destinations: [{ server: IN_CLUSTER, namespace }],
      clusterResourceWhitelist: [],
      namespaceResourceWhitelist: [
        { group: "argoproj.io", kind: "AppProject" },
        { group: "argoproj.io", kind: "Application" },
        { group: "argoproj.io", kind: "ApplicationSet" },
      ],
    },
  };
}

/**
 * Label on the tree's Applications and AppProjects whose source is this repository: the root
 * app points them at the stack's repository and revision.
 */
const THIS_REPO_LABEL = "platform.gitops/source=this-repo";
/** Label on the tree's Application for Argo CD itself: the root app gives it the stack's values. */
const ARGOCD_VALUES_LABEL = "platform.gitops/values=argocd";

/**
 * The stack's settings, handed to the GitOps tree as kustomize patches that Argo CD applies
 * when it renders the tree: the repository and revision for every child that reads this
 * repository (and for the projects that allow it), and Argo CD's own values. The tree itself
 * stays free of anything a stack decides.
 */
function bridgePatches(gitops: GitOpsConfig, argocdValues: Record<string, unknown>, argocdChartRepoURL: string) {
  const ops = (...o: { op: "replace" | "add"; path: string; value: unknown }[]) => JSON.stringify(o);
  const mirrored = argocdChartRepoURL !== ARGOCD_CHART.repo;
  return [
    {
      target: { kind: "Application", labelSelector: THIS_REPO_LABEL },
      patch: ops(
        { op: "replace", path: "/spec/source/repoURL", value: gitops.repoURL },
        { op: "replace", path: "/spec/source/targetRevision", value: gitops.targetRevision },
      ),
    },
    {
      target: { kind: "AppProject", labelSelector: THIS_REPO_LABEL },
      patch: ops(
        { op: "replace", path: "/spec/sourceRepos/0", value: gitops.repoURL },
        // A chart mirror (platform:argocd.chartRepository): Argo CD's project may read it too.
        ...(mirrored ? [{ op: "add" as const, path: "/spec/sourceRepos/-", value: argocdChartRepoURL }] : []),
      ),
    },
    {
      target: { kind: "Application", labelSelector: ARGOCD_VALUES_LABEL },
      patch: ops(
        { op: "replace", path: "/spec/source/helm/valuesObject", value: argocdValues },
        ...(mirrored ? [{ op: "replace" as const, path: "/spec/source/repoURL", value: argocdChartRepoURL }] : []),
      ),
    },
  ];
}

/**
 * The root "app of apps": syncs `platform:gitops` into Argo CD's namespace, with the stack's
 * settings as kustomize patches (bridgePatches).
 */
export function rootApplication(
  gitops: GitOpsConfig,
  namespace: string,
  argocdValues: Record<string, unknown>,
  argocdChartRepoURL: string = ARGOCD_CHART.repo,
): IApplication {
  return {
    apiVersion: "argoproj.io/v1alpha1",
    kind: "Application",
    metadata: { name: ROOT_NAME, namespace, labels: LABELS, finalizers: [CASCADE_FINALIZER] },
    spec: {
      project: ROOT_NAME,
      source: {
        repoURL: gitops.repoURL,
        targetRevision: gitops.targetRevision,
        path: gitops.path,
        kustomize: { patches: bridgePatches(gitops, argocdValues, argocdChartRepoURL) },
      },
      destination: { server: IN_CLUSTER, namespace },
      syncPolicy: {
        // prod: nothing reaches the cluster until someone presses Sync.
        ...(gitops.syncPolicy === "automated" ? { automated: { prune: true, selfHeal: true } } : {}),
        // No PruneLast: it adds a last wave for the prunes, and the wave before it (the apps
        // that wait on people, such as a sealed Vault) would then have to turn healthy first.
        syncOptions: [],
        retry: { limit: gitops.retryLimit, backoff: { duration: "5s", factor: 2, maxDuration: "3m" } },
      },
      revisionHistoryLimit: 10,
    },
  };
}

/** Argo CD's repository Secret (declarative setup) for a private Git repository. */
function repositorySecretData(repoURL: string, credentials: GitCredentials): Record<string, string> {
  return { type: "git", url: repoURL, ...credentials };
}

/**
 * A custom resource from an Argo CD object whose fields are known once the namespace is; the
 * type token needs apiVersion and kind up front.
 */
function argoObject(
  name: string,
  kind: "AppProject" | "Application",
  object: pulumi.Output<IAppProject | IApplication>,
  opts: pulumi.CustomResourceOptions,
): k8s.apiextensions.CustomResource {
  return new k8s.apiextensions.CustomResource(
    name,
    {
      apiVersion: "argoproj.io/v1alpha1",
      kind,
      metadata: object.apply((o) => o.metadata as k8s.types.input.meta.v1.ObjectMeta),
      spec: object.apply((o) => o.spec),
    },
    opts,
  );
}

export interface GitOpsBootstrapArgs {
  /** Repository, revision, path and sync policy from `platform:gitops`. */
  gitops: GitOpsConfig;
  /** Namespace Argo CD runs in (an output of the namespace, so objects wait for it). */
  namespace: pulumi.Input<string>;
  /** The Argo CD release: its CRDs must exist before these objects are applied. */
  argocdRelease: pulumi.Resource;
  /** Helm values of Argo CD's own Application in the tree (ArgoCd.selfManagedValues); no secrets. */
  argocdValues: Record<string, unknown>;
  /** Argo CD's repoURL for its own chart (ArgoCd.chartSource.argocdRepoURL); default argo-helm. */
  argocdChartRepoURL?: string;
  /** Kubernetes provider of the target cluster. */
  provider: k8s.Provider;
  /**
   * What the root app must wait for besides Argo CD (Cluster.readyForPlatform): the cluster
   * services the tree uses from its first sync. Only the root app waits; Argo CD does not.
   */
  readyForPlatform?: readonly pulumi.Resource[];
  /**
   * What must be deleted after the root app on destroy (the GitOps drain): the root app waits
   * for it on create, so that Pulumi deletes the root app first.
   */
  deleteBefore?: pulumi.Resource[];
  /** How long `pulumi destroy` waits for the root app's cascade (the drain's timeout). */
  deleteTimeoutSeconds?: number;
  /** The sealed-secrets key pair from `platform:sealedSecretsKey` (a secret), if the stack has one. */
  sealedSecretsKey?: pulumi.Output<SealedSecretsKey>;
}

/**
 * The GitOps bridge: the root AppProject and the root Application, plus the repository Secret
 * when the repository is private. After this Pulumi manages nothing the root app syncs.
 */
export class GitOpsBootstrap extends pulumi.ComponentResource {
  /** Name of the root Application. */
  public readonly rootAppName: pulumi.Output<string>;
  /** The root Application resource. */
  public readonly rootApp: pulumi.Resource;
  /** SHA-256 of what the root app syncs (repository, revision, path, policy, Argo CD's values). */
  public readonly desiredStateHash: string;

  constructor(name: string, args: GitOpsBootstrapArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:gitops:Bootstrap", name, {}, opts);
    const k8sOpts = { parent: this, provider: args.provider };
    // CRDs come with the release; data flow does not show that, so say it.
    const afterArgoCd = { ...k8sOpts, dependsOn: [args.argocdRelease] };
    const ns = pulumi.output(args.namespace);

    const repoSecret = args.gitops.credentials
      ? new k8s.core.v1.Secret(
          `${name}-repository`,
          {
            metadata: {
              name: `${ROOT_NAME}-repository`,
              namespace: ns,
              labels: { ...LABELS, "argocd.argoproj.io/secret-type": "repository" },
            },
            stringData: pulumi.secret(
              args.gitops.credentials.apply((c) => repositorySecretData(args.gitops.repoURL, c)),
            ),
          },
          k8sOpts,
        )
      : undefined;

    const project = argoObject(
      `${name}-project`,
      "AppProject",
      ns.apply((n) => rootProject(args.gitops, n)),
      afterArgoCd,
    );

    const sealedKey = args.sealedSecretsKey ? sealedSecretsKeySecret(name, args.sealedSecretsKey, k8sOpts) : undefined;

    const app = argoObject(
      `${name}-root-app`,
      "Application",
      ns.apply((n) => rootApplication(args.gitops, n, args.argocdValues, args.argocdChartRepoURL)),
      {
        ...afterArgoCd,
        // The project must outlive the app: deleting the app cascades through the project's rules.
        // The key must be there before the controller first starts, or it makes its own. The
        // cluster's services come before the first sync (volume claims bind only with a default
        // StorageClass) and go only after the app's cascade on destroy.
        dependsOn: [
          args.argocdRelease,
          project,
          ...(args.readyForPlatform ?? []),
          ...(repoSecret ? [repoSecret] : []),
          ...(sealedKey ? [sealedKey] : []),
          ...(args.deleteBefore ?? []),
        ],
        // Deleting it waits for Argo CD's cascade through every app; Pulumi's default is shorter.
        ...(args.deleteTimeoutSeconds ? { customTimeouts: { delete: `${args.deleteTimeoutSeconds}s` } } : {}),
      },
    );

    this.rootApp = app;
    this.rootAppName = app.metadata.name;
    const { repoURL, targetRevision, path, syncPolicy, retryLimit } = args.gitops;
    this.desiredStateHash = crypto
      .createHash("sha256")
      .update(
        JSON.stringify({
          gitops: { repoURL, targetRevision, path, syncPolicy, retryLimit },
          values: args.argocdValues,
          // A chart mirror changes what Argo CD's own Application reads.
          ...(args.argocdChartRepoURL && args.argocdChartRepoURL !== ARGOCD_CHART.repo
            ? { chart: args.argocdChartRepoURL }
            : {}),
        }),
      )
      .digest("hex");
    this.registerOutputs({ rootAppName: this.rootAppName });
  }
}

/**
 * The sealed-secrets controller's key as a `kubernetes.io/tls` Secret in its namespace, labelled
 * active, so that the controller uses it instead of generating one: SealedSecrets sealed for this
 * stack decrypt on every cluster it creates. The namespace is the one the tree's `namespaces` app
 * also declares; Argo CD adopts it.
 */
function sealedSecretsKeySecret(
  name: string,
  key: pulumi.Output<SealedSecretsKey>,
  opts: pulumi.CustomResourceOptions,
): k8s.core.v1.Secret {
  const ns = new k8s.core.v1.Namespace(
    `${name}-sealed-secrets-namespace`,
    { metadata: { name: SEALED_SECRETS.namespace, labels: LABELS } },
    opts,
  );
  return new k8s.core.v1.Secret(
    `${name}-sealed-secrets-key`,
    {
      metadata: {
        name: SEALED_SECRETS.keySecret,
        namespace: ns.metadata.name,
        labels: { ...LABELS, [SEALED_SECRETS.keyLabel]: "active" },
      },
      type: "kubernetes.io/tls",
      stringData: pulumi.secret(key.apply((k) => ({ "tls.crt": k.certificate, "tls.key": k.privateKey }))),
    },
    opts,
  );
}
