/**
 * The GitOps tree of a stack rendered as Argo CD renders it: the root with the kustomize patches
 * platform-root carries (from a run of the whole program for the stack), then every child
 * Application, each as Argo CD's repo server would build it: `kustomize build` for a path of this
 * repository, `helm template` of the real chart package at its pinned version for a Helm chart,
 * with the release name, the destination namespace, the cluster's Kubernetes version and the API
 * versions it serves (Kubernetes' own and every CRD the tree installs).
 */
import { strict as assert } from "node:assert";
import * as path from "node:path";
import type { Environment } from "../components/config";
import { plain } from "./mocks";
import { runProgram } from "./program";
import { type ChartPin } from "./reference";
import { readStackConfig, ROOT, stackFile } from "../scripts/synth/stack-config";
import { chartPackageOf, helmTemplateAsync, kustomizeAsync, kustomizeWithPatches } from "./tools";

export type Obj = Record<string, any>;

export interface Tree {
  environment: Environment;
  /** The root Application as the program registers it for the stack. */
  root: Obj;
  /** What the root app renders: AppProjects and Applications. */
  objects: Obj[];
  projects: Map<string, Obj>;
  apps: Map<string, Obj>;
  /** What each child Application renders, by its name: Helm charts and paths of this repository. */
  children: Map<string, Obj[]>;
  /** Helm values of the Pulumi release of Argo CD. */
  releaseValues: Obj;
  /** Every CustomResourceDefinition the tree's children install. */
  crds: Obj[];
}

/**
 * The kinds a Kubernetes 1.35 API server serves by itself, by group/version (the subresources and
 * the review kinds left out). Argo CD hands helm each as `group/version` and `group/version/Kind`;
 * charts pick an API by either (Traefik's PodDisruptionBudget by `policy/v1/PodDisruptionBudget`).
 * The e2e checks this list against a real API server of that version (`kubectl api-resources`).
 */
export const BUILT_IN_KINDS: Record<string, string[]> = {
  v1: [
    "Binding",
    "ComponentStatus",
    "ConfigMap",
    "Endpoints",
    "Event",
    "LimitRange",
    "Namespace",
    "Node",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Pod",
    "PodTemplate",
    "ReplicationController",
    "ResourceQuota",
    "Secret",
    "Service",
    "ServiceAccount",
  ],
  "admissionregistration.k8s.io/v1": [
    "MutatingWebhookConfiguration",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "ValidatingWebhookConfiguration",
  ],
  "apiextensions.k8s.io/v1": ["CustomResourceDefinition"],
  "apiregistration.k8s.io/v1": ["APIService"],
  "apps/v1": ["ControllerRevision", "DaemonSet", "Deployment", "ReplicaSet", "StatefulSet"],
  "autoscaling/v1": ["HorizontalPodAutoscaler"],
  "autoscaling/v2": ["HorizontalPodAutoscaler"],
  "batch/v1": ["CronJob", "Job"],
  "certificates.k8s.io/v1": ["CertificateSigningRequest"],
  "coordination.k8s.io/v1": ["Lease"],
  "discovery.k8s.io/v1": ["EndpointSlice"],
  "events.k8s.io/v1": ["Event"],
  "flowcontrol.apiserver.k8s.io/v1": ["FlowSchema", "PriorityLevelConfiguration"],
  "networking.k8s.io/v1": ["IPAddress", "Ingress", "IngressClass", "NetworkPolicy", "ServiceCIDR"],
  "node.k8s.io/v1": ["RuntimeClass"],
  "policy/v1": ["PodDisruptionBudget"],
  "rbac.authorization.k8s.io/v1": ["ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"],
  "resource.k8s.io/v1": ["DeviceClass", "ResourceClaim", "ResourceClaimTemplate", "ResourceSlice"],
  "scheduling.k8s.io/v1": ["PriorityClass"],
  "storage.k8s.io/v1": [
    "CSIDriver",
    "CSINode",
    "CSIStorageCapacity",
    "StorageClass",
    "VolumeAttachment",
    "VolumeAttributesClass",
  ],
};

/** Is this apiVersion and kind one that Kubernetes 1.35 serves by itself? */
export const servedBuiltIn = (apiVersion: string, kind: string): boolean =>
  (BUILT_IN_KINDS[apiVersion] ?? []).includes(kind);

export const isGitSource = (app: Obj): boolean => app["spec"]["source"]["path"] !== undefined;

/** The chart and version a Helm Application pins. */
export function pinOf(app: Obj): ChartPin {
  const source = app["spec"]["source"];
  return { repoURL: source["repoURL"], chart: source["chart"], version: String(source["targetRevision"]) };
}

/** The API versions a cluster with these CRDs serves: `group/version` and `group/version/Kind`. */
export function apiVersionsWith(crds: Obj[]): string[] {
  const out = Object.entries(BUILT_IN_KINDS).flatMap(([gv, kinds]) => [gv, ...kinds.map((k) => `${gv}/${k}`)]);
  for (const crd of crds) {
    const { group, names, versions } = crd["spec"];
    for (const v of versions ?? []) {
      if (v["served"] === false) continue;
      out.push(`${group}/${v["name"]}`, `${group}/${v["name"]}/${names["kind"]}`);
    }
  }
  return [...new Set(out)];
}

/** `helm template` of a Helm Application's chart as Argo CD renders it. */
export function renderHelmApp(app: Obj, apiVersions: string[]): Promise<Obj[]> {
  const source = app["spec"]["source"];
  return helmTemplateAsync(
    chartPackageOf(pinOf(app)),
    source["helm"]?.["releaseName"] ?? app["metadata"]["name"],
    app["spec"]["destination"]["namespace"],
    source["helm"]?.["valuesObject"] ?? {},
    apiVersions,
  );
}

const crdsIn = (objects: Obj[]) => objects.filter((o) => o["kind"] === "CustomResourceDefinition");

const rendered = new Map<string, Promise<Tree>>();

/**
 * renderStack for a stack file as committed, once per test run. With `charts: false` the Helm
 * children are left out (they render nothing then), unless the whole tree is rendered already.
 */
export function renderStackFile(stack: string, options: { charts: boolean } = { charts: true }): Promise<Tree> {
  const key = (charts: boolean) => `${stack}${charts ? "" : " (no charts)"}`;
  const cached = rendered.get(key(true)) ?? rendered.get(key(options.charts)) ?? renderStack(stack, undefined, options);
  rendered.set(key(options.charts), cached);
  return cached;
}

/** Runs the program for a stack, then renders its environment the way platform-root does. */
export async function renderStack(
  stack: string,
  config?: ReturnType<typeof readStackConfig>,
  options: { charts: boolean } = { charts: true },
): Promise<Tree> {
  const run = await runProgram(stack, config);
  assert.ifError(run.error);
  const rootRes = run.recorder.resources.find(
    (r) => r.type === "kubernetes:argoproj.io/v1alpha1:Application" && r.name.endsWith("root-app"),
  );
  assert.ok(rootRes, `${stack} registers no root Application`);
  const root = plain({ metadata: rootRes.inputs["metadata"], spec: rootRes.inputs["spec"] }) as Obj;
  const release = run.recorder.resources.find((r) => r.type === "kubernetes:helm.sh/v3:Release");
  assert.ok(release, `${stack} registers no Argo CD release`);
  const releaseValues = plain(release.inputs["values"]) as Obj;
  const environment = stackFile(stack)["platform:environment"] as Environment;
  const objects = kustomizeWithPatches(root["spec"]["source"]["path"], root["spec"]["source"]["kustomize"]["patches"]);
  const byKind = (kind: string) =>
    new Map(objects.filter((o) => o["kind"] === kind).map((o) => [o["metadata"]["name"] as string, o]));
  const apps = byKind("Application");
  const children = new Map<string, Obj[]>();
  const helmApps = options.charts ? [...apps.values()].filter((a) => !isGitSource(a)) : [];
  const own = [...apps.values()].filter(isGitSource);
  const ownRendered = await Promise.all(own.map((a) => kustomizeAsync(path.join(ROOT, a["spec"]["source"]["path"]))));
  own.forEach((a, i) => children.set(a["metadata"]["name"], ownRendered[i] ?? []));
  // Charts can render differently once the CRDs of other charts are served (a ServiceMonitor only
  // where monitoring.coreos.com/v1 exists): the first pass finds every CRD, the second renders
  // each chart on the cluster the tree makes.
  const first = await Promise.all(helmApps.map((a) => renderHelmApp(a, apiVersionsWith([]))));
  const crds = crdsIn([...first.flat(), ...[...children.values()].flat()]);
  const apiVersions = apiVersionsWith(crds);
  const second = await Promise.all(helmApps.map((a) => renderHelmApp(a, apiVersions)));
  helmApps.forEach((a, i) => children.set(a["metadata"]["name"], second[i] ?? []));
  return { environment, root, objects, projects: byKind("AppProject"), apps, children, releaseValues, crds };
}
