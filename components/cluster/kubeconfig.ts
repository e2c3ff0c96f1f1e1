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
export function execKubeconfig(args: ExecKubeconfigArgs): string {
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
