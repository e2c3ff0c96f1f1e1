/** Schema and Pod Security checks shared by the specs that render Kubernetes objects. */
import { strict as assert } from "node:assert";

type Obj = Record<string, any>;

/** The Pod Security Admission `restricted` rules, checked on a pod spec. */
export function restrictedViolations(podSpec: Obj): string[] {
  const out: string[] = [];
  const podSc = podSpec["securityContext"] ?? {};
  if (podSpec["hostNetwork"] || podSpec["hostPID"] || podSpec["hostIPC"]) out.push("host namespaces");
  for (const v of podSpec["volumes"] ?? []) if (v["hostPath"]) out.push(`hostPath volume ${v["name"]}`);
  for (const c of [...(podSpec["initContainers"] ?? []), ...(podSpec["containers"] ?? [])]) {
    const sc = c["securityContext"] ?? {};
    const name = c["name"];
    if (sc["privileged"]) out.push(`${name}: privileged`);
    if (sc["allowPrivilegeEscalation"] !== false) out.push(`${name}: allowPrivilegeEscalation not false`);
    if (!(sc["capabilities"]?.["drop"] ?? []).includes("ALL")) out.push(`${name}: capabilities not dropped`);
    const added = (sc["capabilities"]?.["add"] ?? []).filter((cap: string) => cap !== "NET_BIND_SERVICE");
    if (added.length) out.push(`${name}: adds ${added.join(",")}`);
    if (!(sc["runAsNonRoot"] ?? podSc["runAsNonRoot"])) out.push(`${name}: runAsNonRoot not set`);
    if ((sc["runAsUser"] ?? podSc["runAsUser"]) === 0) out.push(`${name}: runs as root`);
    const seccomp = (sc["seccompProfile"] ?? podSc["seccompProfile"])?.["type"];
    if (seccomp !== "RuntimeDefault" && seccomp !== "Localhost") out.push(`${name}: seccompProfile ${seccomp}`);
    for (const p of c["ports"] ?? []) if (p["hostPort"]) out.push(`${name}: hostPort`);
  }
  return out;
}

/** Containers (init ones too) with no memory request; `helm test` pods are never installed. */
export function containersWithoutRequests(o: Obj): string[] {
  const spec = podSpecOf(o);
  if (!spec || o["metadata"]["annotations"]?.["helm.sh/hook"]?.includes("test")) return [];
  return [...(spec["initContainers"] ?? []), ...spec["containers"]]
    .filter((c: Obj) => !c["resources"]?.["requests"]?.["memory"])
    .map((c: Obj) => `${o["metadata"]["name"]}/${c["name"]}`);
}

export function podSpecOf(o: Obj): Obj | undefined {
  if (["Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"].includes(o["kind"]))
    return o["spec"]["template"]["spec"];
  if (o["kind"] === "Pod") return o["spec"];
  return undefined;
}

/**
 * The npm package holding the schema of each API group beyond Kubernetes' own (kubernetes-models):
 * Argo CD's CRDs, for the objects the program makes. What the GitOps tree's children render is
 * checked against the CRDs the tree itself installs, at their pinned versions (tree-checks.ts).
 */
const MODEL_PACKAGES: Record<string, string> = {
  "argoproj.io": "@kubernetes-models/argo-cd/argoproj.io",
};

/**
 * Validates an object against the schema of its kind: Kubernetes' own for built-in kinds, Argo
 * CD's CRDs for its kinds. A kind with no schema in these packages fails.
 */
export async function validateObject(o: Obj): Promise<void> {
  const apiVersion = String(o["apiVersion"]);
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  const base = group ? MODEL_PACKAGES[group] : undefined;
  if (!base) {
    const problem = await validateBuiltIn(o);
    return problem ? assert.fail(problem) : undefined;
  }
  let mod: Record<string, new (data: unknown) => { validate(): void }>;
  try {
    mod = (await import(`${base}/${version}/${o["kind"]}`)) as typeof mod;
  } catch {
    return assert.fail(`no schema for ${apiVersion} ${o["kind"]} (${o["metadata"]?.["name"]})`);
  }
  const Model = mod[o["kind"]];
  assert.ok(Model, `no schema for ${apiVersion} ${o["kind"]}`);
  try {
    new Model(o).validate();
  } catch (e) {
    assert.fail(`${o["kind"]} ${o["metadata"]?.["name"]} does not match its schema: ${(e as Error).message}`);
  }
}

/**
 * Kubernetes' own kinds checked against Kubernetes' schemas (kubernetes-models 4.5.0, a
 * release that declares the Node 20 this project supports, with Kubernetes 1.33's fields): the
 * problem as one line, or undefined when the object matches. The e2e's server-side dry-run against
 * a real Kubernetes 1.35 API server is the check of record for what 1.34 and 1.35 changed.
 */
export async function validateBuiltIn(o: Obj): Promise<string | undefined> {
  const apiVersion = String(o["apiVersion"]);
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  let mod: Record<string, new (data: unknown) => { validate(): void }>;
  try {
    mod = (await import(`kubernetes-models${group ? `/${group}` : ""}/${version}/${o["kind"]}`)) as typeof mod;
  } catch {
    return `${o["kind"]} ${o["metadata"]?.["name"]}: Kubernetes serves no ${apiVersion} ${o["kind"]}`;
  }
  const Model = mod[o["kind"]];
  if (!Model) return `${o["kind"]} ${o["metadata"]?.["name"]}: Kubernetes serves no ${apiVersion} ${o["kind"]}`;
  try {
    new Model(o).validate();
    return undefined;
  } catch (e) {
    return `${o["kind"]} ${o["metadata"]?.["name"]} does not match its schema: ${(e as Error).message.split("\n")[0]}`;
  }
}
