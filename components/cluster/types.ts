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
  /**
   * Kubernetes provider bound to this cluster; every Kubernetes resource is created through it. It
   * is ready once the nodes can run pods (nodes up with their pod network), and waits for nothing
   * more: Argo CD's install starts then, beside whatever else the cluster still installs.
   */
  readonly provider: k8s.Provider;
  /**
   * What the platform's GitOps root (the root Application) must wait for besides Argo CD: the
   * cluster services this stack installs itself and that the tree's apps use from their first
   * sync (cluster DNS, the default StorageClass and its CSI driver, resource metrics). Empty where
   * the cluster comes with them. The GitOps drain waits for them too, so that on destroy they are
   * still there while it deletes what the tree made (volumes need their CSI driver to go).
   */
  readonly readyForPlatform: readonly pulumi.Resource[];
  /**
   * Ports on which the cluster's ingress is reached from outside: 80/443 on a cloud load balancer,
   * the host ports mapped to k3d's load balancer on a laptop. Used to build URLs.
   */
  readonly ingressPorts: { readonly http: number; readonly https: number };
  /** Cloud region (eu-central-1, fra1, europe-west1), or "local" for k3d. */
  readonly region: string;
  /** The network the nodes run in; absent on k3d. */
  readonly network?: ClusterNetwork;
  /** How pods get cloud identities (IRSA on EKS, Workload Identity on GKE); absent where there is none. */
  readonly workloadIdentity?: WorkloadIdentity;
  /**
   * Tags (labels on GCP, `key:value` tags on DigitalOcean) on every cloud resource of this cluster
   * that takes them, so that a cleanup can find whatever is left of it.
   */
  readonly tags: Readonly<Record<string, string>>;
  /**
   * The resource whose deletion takes the whole cluster with it (the k3d cluster, the cloud
   * cluster); absent for a cluster the stack does not own. What the stack puts on the cluster is
   * `deletedWith` it: a destroy does not uninstall it first, which also lets a destroy finish
   * when the cluster is already gone (pulumi-kubernetes never deletes a Helm release it cannot
   * reach).
   */
  readonly deletesEverythingOnIt?: pulumi.Resource;
  /**
   * Whether objects on the cluster can hold cloud resources (load balancers, volumes) that outlive
   * it: then a destroy must reach it to drain them. False for k3d: nothing leaves the laptop.
   */
  readonly holdsCloudResources: boolean;
}

export interface ClusterNetwork {
  /** The VPC (AWS, DigitalOcean) or VPC network (GCP). */
  readonly id: pulumi.Output<string>;
  /** Subnets the nodes and internal load balancers use (AWS private subnets, the GKE subnetwork). */
  readonly privateSubnetIds: pulumi.Output<string>[];
  /** Subnets for internet-facing load balancers (AWS public subnets); empty elsewhere. */
  readonly publicSubnetIds: pulumi.Output<string>[];
}

export interface WorkloadIdentity {
  /** Issuer URL of the cluster's service account tokens. */
  readonly issuerUrl: pulumi.Output<string>;
  /**
   * What a cloud role trusts: the IAM OIDC provider ARN on EKS (for IRSA roles), the workload
   * pool `<project>.svc.id.goog` on GKE (for IAM bindings of Kubernetes service accounts).
   */
  readonly trust: pulumi.Output<string>;
}
