import * as pulumi from "@pulumi/pulumi";
import type { ClusterConfig } from "../config";
import { K3dCluster } from "./k3d";
import type { Cluster } from "./types";

export type { Cluster } from "./types";

/**
 * The one place that knows cluster kinds: builds the cluster the stack's `platform:cluster`
 * asks for. Everything after it works with the `Cluster` interface only.
 */
export function createCluster(name: string, config: ClusterConfig, opts?: pulumi.ComponentResourceOptions): Cluster {
  switch (config.provider) {
    case "k3d":
      return new K3dCluster(name, { name: config.name, k3d: config.k3d }, opts);
    case "eks":
    case "doks":
    case "gke":
      throw new pulumi.RunError(
        `platform:cluster.provider "${config.provider}" is not available yet: the EKS, DOKS and GKE clusters arrive with the cloud clusters work; use "k3d" until then`,
      );
  }
}
