/**
 * The platform: config → cluster → Argo CD → GitOps bridge. This file only wires; the parts live
 * in components/.
 */
import { ArgoCd } from "./components/argocd";
import { GitOpsBootstrap, ROOT_NAME } from "./components/bootstrap";
import { createCluster } from "./components/cluster";
import { loadConfig } from "./components/config";
import { GitOpsDrain, ReadinessGate } from "./components/lifecycle";

const config = loadConfig();

const cluster = createCluster("cluster", config.cluster);

const argocd = new ArgoCd("argocd", {
  environment: config.environment,
  settings: config.argocd,
  ingressPorts: cluster.ingressPorts,
  provider: cluster.provider,
  ...(cluster.deletesEverythingOnIt ? { deletedWith: cluster.deletesEverythingOnIt } : {}),
});

// Destroy order: root app → drain → Argo CD → cluster (each waits for the next on create).
const drain = new GitOpsDrain(
  "gitops-drain",
  {
    kubeconfig: cluster.kubeconfig,
    namespace: argocd.namespace,
    rootApp: ROOT_NAME,
    timeoutSeconds: config.lifecycle.drainTimeoutSeconds,
    // A laptop cluster that is gone holds nothing more; an ephemeral stack's cluster may go any time.
    allowUnreachable: config.lifecycle.ephemeral || !cluster.holdsCloudResources,
    argocd: argocd.release,
  },
  // The cluster's services (the CSI driver that deletes volumes, DNS) outlive the drain on destroy.
  { dependsOn: [...cluster.readyForPlatform] },
);

const bootstrap = new GitOpsBootstrap("gitops", {
  gitops: config.gitops,
  namespace: argocd.namespace,
  argocdRelease: argocd.release,
  argocdValues: argocd.selfManagedValues,
  argocdChartRepoURL: argocd.chartSource.argocdRepoURL,
  provider: cluster.provider,
  readyForPlatform: cluster.readyForPlatform,
  deleteBefore: [drain],
  deleteTimeoutSeconds: config.lifecycle.drainTimeoutSeconds,
  ...(config.sealedSecretsKey ? { sealedSecretsKey: config.sealedSecretsKey } : {}),
});

if (config.argocd.waitForHealthy) {
  new ReadinessGate("gitops-ready", {
    kubeconfig: cluster.kubeconfig,
    namespace: argocd.namespace,
    rootApp: bootstrap.rootAppName,
    timeoutSeconds: config.argocd.healthTimeoutSeconds,
    desiredStateHash: bootstrap.desiredStateHash,
    rootApplication: bootstrap.rootApp,
  });
}

export const clusterName = cluster.name;
export const kubeconfig = cluster.kubeconfig;
export const argocdUrl = argocd.url;
export const argocdAdminPassword = argocd.adminPassword;
export const rootApp = bootstrap.rootAppName;
/**
 * The sealed-secrets key pair of `platform:sealedSecretsKey`, a secret; back it up with the stack.
 * An output only when the stack has one: the CLI warns about an undefined output on every run.
 */
if (config.sealedSecretsKey) (module.exports as Record<string, unknown>)["sealedSecretsKey"] = config.sealedSecretsKey;
