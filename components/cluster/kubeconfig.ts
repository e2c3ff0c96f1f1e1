import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as YAML from "yaml";

export interface ExecKubeconfigArgs {
  /** Name of the cluster, context and user entries. */
  name: string;
  /** API server host or URL; `https://` is added when missing. */
  endpoint: string;
  /** Base64 PEM of the cluster CA, as the clouds return it. */
  certificateAuthorityData: string;
  /** The credential plugin: command, arguments, and where to get it when it is missing. */
  exec: { command: string; args: string[]; installHint: string; provideClusterInfo?: boolean };
}

/**
 * A kubeconfig whose user runs a credential plugin (`aws eks get-token`, `gke-gcloud-auth-plugin`)
 * for a short-lived token on every use: no credential is stored in it, so it never expires and
 * rotating cloud credentials never changes it.
 */
function execKubeconfig(args: ExecKubeconfigArgs): string {
  const server = args.endpoint.startsWith("https://") ? args.endpoint : `https://${args.endpoint}`;
  return YAML.stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: args.name, cluster: { server, "certificate-authority-data": args.certificateAuthorityData } }],
    contexts: [{ name: args.name, context: { cluster: args.name, user: args.name } }],
    "current-context": args.name,
    users: [
      {
        name: args.name,
        user: {
          exec: {
            apiVersion: "client.authentication.k8s.io/v1beta1",
            command: args.exec.command,
            args: args.exec.args,
            interactiveMode: "Never",
            provideClusterInfo: args.exec.provideClusterInfo ?? false,
            installHint: args.exec.installHint,
          },
        },
      },
    ],
  });
}

/** `execKubeconfig` from a cluster's outputs, as a Pulumi secret; `exec` gets the cluster's name. */
export function execKubeconfigOutput(args: {
  name: pulumi.Input<string>;
  endpoint: pulumi.Input<string>;
  certificateAuthorityData: pulumi.Input<string>;
  exec: (clusterName: string) => ExecKubeconfigArgs["exec"];
}): pulumi.Output<string> {
  return pulumi.secret(
    pulumi
      .all([args.name, args.endpoint, args.certificateAuthorityData])
      .apply(([name, endpoint, ca]) =>
        execKubeconfig({ name, endpoint, certificateAuthorityData: ca, exec: args.exec(name) }),
      ),
  );
}

export interface ClusterProviderArgs {
  /** The cluster's kubeconfig, a secret. */
  kubeconfig: pulumi.Output<string>;
  /**
   * What changes when, and only when, the cluster is a new one: pulumi-kubernetes then replaces
   * the provider and everything created through it. Without it, the provider guesses from the
   * kubeconfig, and replaces everything when the kubeconfig is not known yet (in a preview).
   */
  clusterIdentifier: pulumi.Input<string>;
  /**
   * What must be in before anything runs on the cluster: the nodes, so that pods can be scheduled
   * (cluster services such as DNS and storage are `Cluster.readyForPlatform`, not this). It also
   * goes only after everything on the cluster on destroy. An order, not data, so that the
   * kubeconfig stays known in a preview that changes them.
   */
  readyAfter?: pulumi.Resource[];
}

/** The Kubernetes provider of a cluster, `<name>-provider`, a child of the cluster component. */
export function clusterProvider(name: string, parent: pulumi.Resource, args: ClusterProviderArgs): k8s.Provider {
  return new k8s.Provider(
    `${name}-provider`,
    {
      kubeconfig: args.kubeconfig,
      clusterIdentifier: args.clusterIdentifier,
      // No deleteUnreachable here: set in the provider, it makes every `pulumi refresh` while the
      // cluster is down drop all its objects from state. The destroy commands set
      // PULUMI_K8S_DELETE_UNREACHABLE instead (scripts/backend.ts).
    },
    { parent, ...(args.readyAfter ? { dependsOn: args.readyAfter } : {}) },
  );
}
