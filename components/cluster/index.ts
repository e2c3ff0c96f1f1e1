import type * as pulumi from "@pulumi/pulumi";
import type { ClusterConfig } from "../config";
import type { Cluster } from "./types";

export type { Cluster, ClusterNetwork, WorkloadIdentity } from "./types";

/*
 * Each kind is loaded only when a stack asks for it: a dev stack never loads a cloud SDK, and
 * a stage stack on DigitalOcean never loads AWS's or Google's.
 */
/* eslint-disable @typescript-eslint/no-require-imports -- lazy loading, typed by `typeof import` */
const kinds = {
  k3d: () => (require("./k3d") as typeof import("./k3d")).K3dCluster,
  eks: () => (require("./eks") as typeof import("./eks")).EksCluster,
  doks: () => (require("./doks") as typeof import("./doks")).DoksCluster,
  gke: () => (require("./gke") as typeof import("./gke")).GkeCluster,
  existing: () => (require("./existing") as typeof import("./existing")).ExistingCluster,
};
/* eslint-enable @typescript-eslint/no-require-imports */

/**
 * The one place that knows cluster kinds: builds the cluster the stack's `platform:cluster`
 * asks for. Everything after it works with the `Cluster` interface only. With
 * `platform:cluster.protect` (default on in prod) every cluster resource gets `protect: true`, and
 * the cloud's deletion protection where it has one.
 */
export function createCluster(name: string, config: ClusterConfig, opts?: pulumi.ComponentResourceOptions): Cluster {
  const options = { ...opts, protect: opts?.protect ?? config.protect };
  const common = { name: config.name, tags: config.tags, ephemeral: config.ephemeral };
  switch (config.provider) {
    case "k3d":
      return new (kinds.k3d())(name, { ...common, k3d: config.k3d }, options);
    case "eks":
      return new (kinds.eks())(name, { ...common, eks: config.eks, deletionProtection: config.protect }, options);
    case "doks":
      return new (kinds.doks())(name, { ...common, doks: config.doks }, options);
    case "gke":
      return new (kinds.gke())(name, { ...common, gke: config.gke, deletionProtection: config.protect }, options);
    case "existing":
      return new (kinds.existing())(name, { ...common, existing: config.existing }, options);
  }
}
