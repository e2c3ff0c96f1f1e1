/**
 * The platform: config → cluster → Argo CD → GitOps bridge. This file only wires; the parts live
 * in components/.
 */
import { ArgoCd } from "./components/argocd";
import { GitOpsBootstrap } from "./components/bootstrap";
import { createCluster } from "./components/cluster";
import { loadConfig } from "./components/config";

const config = loadConfig();

const cluster = createCluster("cluster", config.cluster);

const argocd = new ArgoCd("argocd", {
  environment: config.environment,
  settings: config.argocd,
  ingressPorts: cluster.ingressPorts,
  provider: cluster.provider,
});

const bootstrap = new GitOpsBootstrap("gitops", {
  gitops: config.gitops,
  namespace: argocd.namespace,
  argocdRelease: argocd.release,
  argocdValues: argocd.selfManagedValues,
  provider: cluster.provider,
});

export const clusterName = cluster.name;
export const kubeconfig = cluster.kubeconfig;
export const argocdUrl = argocd.url;
export const argocdAdminPassword = argocd.adminPassword;
export const rootApp = bootstrap.rootAppName;
