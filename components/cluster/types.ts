import type * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";

/**
 * What every cluster kind gives the rest of the program. Code after the cluster factory uses only
 * this interface and never asks which kind of cluster it has.
 */
export interface Cluster {
  /** The cluster's name as its provider knows it (the k3d cluster, the EKS cluster, ...). */
  readonly name: pulumi.Output<string>;
  /** An admin kubeconfig for the cluster. Always a Pulumi secret. */
  readonly kubeconfig: pulumi.Output<string>;
  /** Kubernetes provider bound to this cluster; every Kubernetes resource is created through it. */
  readonly provider: k8s.Provider;
  /**
   * Ports on which the cluster's ingress is reached from outside: 80/443 on a cloud load balancer,
   * the host ports mapped to k3d's load balancer on a laptop. Used to build URLs.
   */
  readonly ingressPorts: { readonly http: number; readonly https: number };
}
