import * as command from "@pulumi/command";
import type * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as YAML from "yaml";
import type { K3dSettings } from "../config";
import { clusterProvider } from "./kubeconfig";
import type { Cluster } from "./types";

export interface K3dClusterArgs {
  /** k3d cluster name: a DNS-1123 label of at most 32 characters. */
  name: string;
  /** Servers, agents, k3s image, host ports and registry; see `platform:cluster.k3d`. */
  k3d: K3dSettings;
  /** The cluster's cleanup tags; reported on the interface (a laptop cluster has no cloud resources). */
  tags?: Readonly<Record<string, string>>;
  /** Accepted as every kind takes it; a laptop cluster is destroyable when gone either way. */
  ephemeral?: boolean;
}

/** The k3d config file (k3d.io/v1alpha5, kind Simple) for a cluster. Pure: tests validate it. */
export function k3dConfigDocument(args: K3dClusterArgs): Record<string, unknown> {
  const { name, k3d } = args;
  return {
    apiVersion: "k3d.io/v1alpha5",
    kind: "Simple",
    metadata: { name },
    servers: k3d.servers,
    agents: k3d.agents,
    image: k3d.image,
    // The API and the ingress listen on loopback only: a laptop cluster is not for the LAN.
    kubeAPI: { hostIP: "127.0.0.1", hostPort: String(k3d.apiPort) },
    ports: [
      { port: `127.0.0.1:${k3d.httpPort}:80`, nodeFilters: ["loadbalancer"] },
      { port: `127.0.0.1:${k3d.httpsPort}:443`, nodeFilters: ["loadbalancer"] },
    ],
    ...(k3d.registry.enabled
      ? {
          registries: {
            create: {
              name: `k3d-${name}-registry`,
              host: "127.0.0.1",
              hostPort: String(k3d.registry.port),
              image: k3d.registry.image,
            },
          },
        }
      : {}),
    options: {
      k3d: { wait: true, timeout: `${k3d.waitTimeoutSeconds}s` },
      // The GitOps tree installs the same pinned Traefik on every cluster; k3s's own would be a
      // second controller for the same IngressClass.
      k3s: { extraArgs: [{ arg: "--disable=traefik", nodeFilters: ["server:*"] }] },
      // Add the context to ~/.kube/config for kubectl, but never switch the user's current context.
      kubeconfig: { updateDefaultKubeconfig: true, switchCurrentContext: false },
    },
  };
}

/**
 * The variables the scripts read. Never `K3D_*`: k3d 5.7.5 and later read every `K3D_<KEY>` of
 * the environment as a setting (viper's AutomaticEnv), `K3D_CONFIG` as the path of its config
 * file, and Pulumi hands a Command's environment to its delete and update too.
 */
export const K3D_ENV = { config: "PLATFORM_K3D_CONFIG", cluster: "PLATFORM_K3D_CLUSTER" } as const;

// Every k3d call writes to stderr: k3d logs info and debug lines (LOG_LEVEL=debug) to stdout, and
// stdout carries only the kubeconfig, which Pulumi keeps as a secret and does not log. The
// kubeconfig is written to a file and printed from there for the same reason.
const KUBECONFIG = `k3d kubeconfig write "$${K3D_ENV.cluster}" --output "$dir/kubeconfig" 1>&2 && cat "$dir/kubeconfig"`;

// The config is written to a private temp dir because k3d picks the parser from the extension.
const CREATE = `set -eu
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
printf '%s\\n' "$${K3D_ENV.config}" > "$dir/k3d.yaml"
k3d cluster create --config "$dir/k3d.yaml" 1>&2
if ! { ${KUBECONFIG}; }; then
  echo "could not read the kubeconfig of $${K3D_ENV.cluster}; deleting it so the next run starts clean" >&2
  k3d cluster delete "$${K3D_ENV.cluster}" 1>&2 || true
  exit 1
fi`;

// Runs when only the scripts changed (config changes replace the cluster): re-read the kubeconfig.
const UPDATE = `set -eu
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
${KUBECONFIG}`;

// Idempotent, so that a destroy completes when the cluster was deleted by hand; but when k3d
// cannot list clusters (Docker is down) it fails, so a running cluster never drops out of state.
const DELETE = `set -eu
clusters="$(k3d cluster list --no-headers)"
if printf '%s\\n' "$clusters" | awk '{print $1}' | grep -qx "$${K3D_ENV.cluster}"; then
  k3d cluster delete "$${K3D_ENV.cluster}" 1>&2
fi`;

/** The scripts the cluster's Command runs, for the e2e to run against real k3d binaries. */
export const K3D_SCRIPTS = { create: CREATE, update: UPDATE, delete: DELETE } as const;

/**
 * A k3d cluster on the local Docker engine, created with `k3d cluster create --config` and deleted
 * with `k3d cluster delete`. Any change to its config file replaces the cluster.
 */
export class K3dCluster extends pulumi.ComponentResource implements Cluster {
  public readonly name: pulumi.Output<string>;
  public readonly kubeconfig: pulumi.Output<string>;
  public readonly provider: k8s.Provider;
  /** k3s deploys CoreDNS, the local-path provisioner (the default class) and metrics-server itself. */
  public readonly readyForPlatform: readonly pulumi.Resource[] = [];
  public readonly ingressPorts: { readonly http: number; readonly https: number };
  public readonly region = "local";
  public readonly deletesEverythingOnIt: pulumi.Resource;
  public readonly holdsCloudResources = false;
  public readonly tags: Readonly<Record<string, string>>;

  constructor(name: string, args: K3dClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:cluster:K3d", name, {}, opts);

    const configYaml = YAML.stringify(k3dConfigDocument(args));
    const cluster = new command.local.Command(
      `${name}-k3d`,
      {
        create: CREATE,
        update: UPDATE,
        delete: DELETE,
        environment: { [K3D_ENV.config]: configYaml, [K3D_ENV.cluster]: args.name },
        triggers: [configYaml],
        logging: "stderr",
        // Keep the kubeconfig (stdout) out of the update and delete scripts' environment.
        addPreviousOutputInEnv: false,
      },
      {
        parent: this,
        additionalSecretOutputs: ["stdout"],
        // A new config is a new cluster; the old one must go first because the name is reused.
        replaceOnChanges: ["triggers"],
        deleteBeforeReplace: true,
      },
    );

    this.name = pulumi.output(args.name);
    this.tags = args.tags ?? {};
    this.kubeconfig = pulumi.secret(cluster.stdout);
    this.ingressPorts = { http: args.k3d.httpPort, https: args.k3d.httpsPort };
    this.provider = clusterProvider(name, this, {
      kubeconfig: this.kubeconfig,
      // A re-created k3d cluster keeps its server address; each one this command makes has a new id.
      clusterIdentifier: pulumi.interpolate`k3d:${args.name}@${cluster.id}`,
    });
    this.deletesEverythingOnIt = cluster;

    this.registerOutputs({ name: this.name, kubeconfig: this.kubeconfig, provider: this.provider });
  }
}
