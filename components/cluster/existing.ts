import type * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { ExistingSettings } from "../config";
import { clusterProvider } from "./kubeconfig";
import type { Cluster } from "./types";

export interface ExistingClusterArgs {
  /** The name the platform knows the cluster by (`platform:cluster.name`); nothing is renamed. */
  name: string;
  /** The kubeconfig (a secret), its context and API server, and the ingress ports. */
  existing: ExistingSettings;
  /** The stack's cleanup tags, reported on the interface (nothing here is a cloud resource). */
  tags?: Readonly<Record<string, string>>;
  /** Accepted as every kind takes it (the drain reads platform:lifecycle.ephemeral itself). */
  ephemeral?: boolean;
}

/**
 * A cluster made elsewhere: kind, minikube, Docker Desktop, another stack or another team. The
 * program installs Argo CD and the root app on it through its kubeconfig, and never creates or
 * deletes the cluster itself: a destroy removes only what the stack made on it.
 */
export class ExistingCluster extends pulumi.ComponentResource implements Cluster {
  public readonly name: pulumi.Output<string>;
  public readonly kubeconfig: pulumi.Output<string>;
  public readonly provider: k8s.Provider;
  /** Whoever made the cluster runs its DNS, storage and metrics; nothing here to wait for. */
  public readonly readyForPlatform: readonly pulumi.Resource[] = [];
  public readonly ingressPorts: { readonly http: number; readonly https: number };
  public readonly region = "existing";
  /** It may be a cloud cluster: a destroy must reach it to drain what Argo CD made. */
  public readonly holdsCloudResources = true;
  public readonly tags: Readonly<Record<string, string>>;

  constructor(name: string, args: ExistingClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:cluster:Existing", name, {}, opts);

    this.name = pulumi.output(args.name);
    this.tags = args.tags ?? {};
    this.kubeconfig = pulumi.secret(args.existing.kubeconfig);
    this.ingressPorts = { http: args.existing.httpPort, https: args.existing.httpsPort };
    this.provider = clusterProvider(name, this, {
      kubeconfig: this.kubeconfig,
      // The API server is the cluster's identity: a new token or CA in the kubeconfig is an
      // update; pointing the stack at another cluster replaces what the stack made.
      clusterIdentifier: `existing:${args.existing.server}`,
    });

    this.registerOutputs({ name: this.name, kubeconfig: this.kubeconfig, provider: this.provider });
  }
}
