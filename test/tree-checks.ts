/**
 * Checks of what a rendered GitOps tree (test/argocd-render.ts) would do on a cluster, each as a
 * list of what is wrong (empty when nothing is): the kinds and namespaces its AppProjects admit,
 * the schemas of its objects, Pod Security, quotas and limit ranges, the traffic its
 * NetworkPolicies let through, and the Services one child names in another.
 */
import Ajv, { type ValidateFunction } from "ajv";
import addFormats from "ajv-formats";
import { type Obj, servedBuiltIn, type Tree } from "./argocd-render";
import { podSpecOf, restrictedViolations, validateBuiltIn } from "./schemas";
import { WAITS_FOR_ANNOTATION } from "../scripts/lifecycle/health";

export { WAITS_FOR_ANNOTATION };

/** Kubernetes' own kinds that are not namespaced (CRDs say their own scope). */
const BUILT_IN_CLUSTER_KINDS = new Set([
  "Namespace",
  "Node",
  "PersistentVolume",
  "ClusterRole",
  "ClusterRoleBinding",
  "CustomResourceDefinition",
  "APIService",
  "IngressClass",
  "StorageClass",
  "CSIDriver",
  "PriorityClass",
  "RuntimeClass",
  "ValidatingWebhookConfiguration",
  "MutatingWebhookConfiguration",
  "ValidatingAdmissionPolicy",
  "ValidatingAdmissionPolicyBinding",
]);

export const groupOf = (o: Obj): string => {
  const apiVersion = String(o["apiVersion"]);
  return apiVersion.includes("/") ? apiVersion.slice(0, apiVersion.indexOf("/")) : "";
};
const nameOf = (o: Obj) => `${o["kind"]} ${o["metadata"]?.["name"]}`;

/** Is this object a Helm hook Argo CD never applies (`helm test` pods)? */
export function neverApplied(o: Obj): boolean {
  const hook = o["metadata"]?.["annotations"]?.["helm.sh/hook"];
  return typeof hook === "string" && hook.split(",").some((h) => h.trim().startsWith("test"));
}

/** Every object of the tree's children that Argo CD applies, with its Application and namespace. */
export interface Placed {
  child: string;
  app: Obj;
  object: Obj;
  /** Undefined for cluster-scoped objects. */
  namespace: string | undefined;
}

export function placed(tree: Tree): Placed[] {
  const scopes = clusterScoped(tree);
  const out: Placed[] = [];
  for (const [child, objects] of tree.children) {
    const app = tree.apps.get(child) as Obj;
    for (const object of objects) {
      if (neverApplied(object)) continue;
      const cluster = scopes(object);
      const namespace = cluster
        ? undefined
        : (object["metadata"]["namespace"] ?? app["spec"]["destination"]["namespace"]);
      out.push({ child, app, object, namespace });
    }
  }
  return out;
}

/** Whether an object is cluster-scoped: Kubernetes' own kinds, and the CRDs the tree installs. */
export function clusterScoped(tree: Tree): (o: Obj) => boolean {
  const crdScope = new Map(
    tree.crds.map((c) => [`${c["spec"]["group"]}/${c["spec"]["names"]["kind"]}`, c["spec"]["scope"] as string]),
  );
  return (o) => {
    const scope = crdScope.get(`${groupOf(o)}/${o["kind"]}`);
    return scope ? scope === "Cluster" : BUILT_IN_CLUSTER_KINDS.has(o["kind"]);
  };
}

/** Argo CD's glob match of project patterns (`*` anywhere). */
const glob = (pattern: string, value: string) =>
  new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")}$`).test(value);
const kindIn = (list: Obj[] | undefined, o: Obj) =>
  (list ?? []).some((k) => glob(k["group"], groupOf(o)) && glob(k["kind"], o["kind"]));

/**
 * What an Application's AppProject refuses: a cluster-scoped kind not in its cluster whitelist,
 * a namespaced kind its lists forbid, a namespace outside its destinations. Argo CD refuses the
 * whole sync of an app for one such object.
 */
export function projectViolations(tree: Tree): string[] {
  const out: string[] = [];
  for (const { child, app, object, namespace } of placed(tree)) {
    const project = tree.projects.get(app["spec"]["project"]);
    if (!project) {
      out.push(`${child}: project ${app["spec"]["project"]} does not exist`);
      continue;
    }
    const spec = project["spec"];
    const where = `${child}: ${nameOf(object)} (${groupOf(object) || "core"})`;
    if (namespace === undefined) {
      if (!kindIn(spec["clusterResourceWhitelist"], object))
        out.push(`${where}: cluster-scoped kind not permitted in project ${project["metadata"]["name"]}`);
      continue;
    }
    const white = spec["namespaceResourceWhitelist"];
    if ((white !== undefined && !kindIn(white, object)) || kindIn(spec["namespaceResourceBlacklist"], object))
      out.push(`${where}: kind not permitted in project ${project["metadata"]["name"]}`);
    const server = app["spec"]["destination"]["server"];
    if (!(spec["destinations"] ?? []).some((d: Obj) => glob(d["server"], server) && glob(d["namespace"], namespace)))
      out.push(`${where}: namespace ${namespace} is not a destination of project ${project["metadata"]["name"]}`);
  }
  return out;
}

// CRD patterns are Go regular expressions: their `(?i)` becomes JavaScript's `i` flag.
const goRegExp = (pattern: string, flags?: string) =>
  pattern.includes("(?i)") ? new RegExp(pattern.replaceAll("(?i)", ""), `${flags ?? ""}i`) : new RegExp(pattern, flags);
const ajv = new Ajv({
  strict: false,
  allErrors: false,
  code: { regExp: Object.assign(goRegExp, { code: "new RegExp" }) },
});
addFormats(ajv);
/** Compiled once per distinct schema (the trees of all environments share their CRDs' versions). */
const compiledSchemas = new Map<string, ValidateFunction>();
function compiled(schema: Obj): ValidateFunction {
  const key = JSON.stringify(schema);
  const found = compiledSchemas.get(key) ?? ajv.compile(schema);
  compiledSchemas.set(key, found);
  return found;
}

/**
 * Objects that do not match their schema: a custom resource against the CRD the tree installs at
 * its pinned version (the version it is written in must be served), Kubernetes' own kinds
 * against Kubernetes' schemas. A custom kind whose CRD the tree does not install is an error too.
 */
export async function schemaViolations(tree: Tree): Promise<string[]> {
  const validators = new Map<string, ValidateFunction | null>();
  const crdFor = (group: string, version: string, kind: string) => {
    const key = `${group}/${version}/${kind}`;
    if (!validators.has(key)) {
      const crd = tree.crds.find((c) => c["spec"]["group"] === group && c["spec"]["names"]["kind"] === kind);
      const v = crd?.["spec"]["versions"].find((x: Obj) => x["name"] === version && x["served"] !== false);
      validators.set(key, v ? compiled(v["schema"]["openAPIV3Schema"]) : null);
    }
    return validators.get(key);
  };
  const out: string[] = [];
  for (const { child, object } of placed(tree)) {
    const group = groupOf(object);
    if (isCustom(object) && group.includes(".")) {
      const version = String(object["apiVersion"]).split("/")[1] ?? "";
      const validate = crdFor(group, version, object["kind"]);
      if (!validate) {
        out.push(`${child}: ${nameOf(object)}: no CRD in the tree serves ${object["apiVersion"]} ${object["kind"]}`);
      } else if (!validate(object)) {
        const e = validate.errors?.[0];
        out.push(`${child}: ${nameOf(object)}: ${e?.instancePath || "/"} ${e?.message} ${JSON.stringify(e?.params)}`);
      }
      continue;
    }
    if (isCustom(object)) {
      out.push(`${child}: ${nameOf(object)}: Kubernetes 1.35 serves no ${object["apiVersion"]} ${object["kind"]}`);
      continue;
    }
    const error = await validateBuiltIn(object);
    if (error) out.push(`${child}: ${error}`);
  }
  return out;
}

/** A pod the tree runs: its workload, namespace, labels, spec, and how many run at most. */
export interface Pod {
  child: string;
  workload: Obj;
  namespace: string;
  labels: Record<string, string>;
  spec: Obj;
  count: number;
}

/** The pods of a tree; a DaemonSet runs one per node, `nodes` at most. */
export function pods(tree: Tree, nodes: number): Pod[] {
  const out: Pod[] = [];
  const all = placed(tree);
  for (const { child, object, namespace } of all) {
    const made = operatorPod(object);
    if (made && namespace) {
      const workload = {
        ...object,
        spec: { ...object["spec"], volumeClaimTemplates: made.claim ? [made.claim] : [] },
      };
      out.push({ child, workload, namespace, labels: made.labels, spec: made.spec, count: made.replicas });
      continue;
    }
    const spec = podSpecOf(object);
    if (!spec || namespace === undefined) continue;
    const labels =
      (object["kind"] === "Pod" ? object["metadata"]["labels"] : object["spec"]["template"]["metadata"]?.["labels"]) ??
      {};
    const scaler = all.find(
      (h) =>
        h.object["kind"] === "HorizontalPodAutoscaler" &&
        h.namespace === namespace &&
        h.object["spec"]["scaleTargetRef"]["kind"] === object["kind"] &&
        h.object["spec"]["scaleTargetRef"]["name"] === object["metadata"]["name"],
    );
    const count =
      object["kind"] === "DaemonSet"
        ? nodes
        : object["kind"] === "Job" || object["kind"] === "Pod"
          ? 1
          : // An autoscaled workload may grow to its autoscaler's maximum.
            (scaler?.object["spec"]["maxReplicas"] ?? object["spec"]["replicas"] ?? 1);
    out.push({ child, workload: object, namespace, labels, spec, count });
  }
  return out;
}

/**
 * The pod the Prometheus operator runs for a Prometheus or Alertmanager resource: the labels it
 * gives it, the main container with the resource's requests, its replicas and volume claim.
 */
function operatorPod(o: Obj): { labels: Record<string, string>; spec: Obj; replicas: number; claim?: Obj } | undefined {
  if (groupOf(o) !== "monitoring.coreos.com" || !["Prometheus", "Alertmanager"].includes(o["kind"])) return undefined;
  const kind = String(o["kind"]).toLowerCase();
  const name = o["metadata"]["name"];
  const spec = o["spec"] ?? {};
  return {
    labels: {
      "app.kubernetes.io/name": kind,
      "app.kubernetes.io/instance": name,
      "app.kubernetes.io/managed-by": "prometheus-operator",
      "operator.prometheus.io/name": name,
      [kind]: name,
      ...spec["podMetadata"]?.["labels"],
    },
    spec: {
      containers: [
        {
          name: kind,
          resources: spec["resources"] ?? {},
          ports: [{ name: "web", containerPort: kind === "prometheus" ? 9090 : 9093 }],
        },
        { name: "config-reloader", ports: [{ name: "reloader-web", containerPort: 8080 }] },
      ],
      securityContext: spec["securityContext"],
    },
    replicas: spec["replicas"] ?? 1,
    claim: spec["storage"]?.["volumeClaimTemplate"],
  };
}

/** Baseline Pod Security: what `baseline` forbids (restricted forbids more). */
export function baselineViolations(spec: Obj): string[] {
  const out: string[] = [];
  const allowedCaps = new Set([
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
  ]);
  if (spec["hostNetwork"] || spec["hostPID"] || spec["hostIPC"]) out.push("host namespaces");
  for (const v of spec["volumes"] ?? []) if (v["hostPath"]) out.push(`hostPath volume ${v["name"]}`);
  for (const c of [...(spec["initContainers"] ?? []), ...(spec["containers"] ?? [])]) {
    const sc = c["securityContext"] ?? {};
    if (sc["privileged"]) out.push(`${c["name"]}: privileged`);
    for (const cap of sc["capabilities"]?.["add"] ?? [])
      if (!allowedCaps.has(cap)) out.push(`${c["name"]}: adds ${cap}`);
    for (const p of c["ports"] ?? []) if (p["hostPort"]) out.push(`${c["name"]}: hostPort`);
  }
  return out;
}

/** Pods that the Pod Security level of their namespace would refuse. */
export function podSecurityViolations(tree: Tree, levels: Map<string, string>): string[] {
  const out: string[] = [];
  for (const p of pods(tree, 1)) {
    const level = levels.get(p.namespace);
    const found =
      level === "restricted" ? restrictedViolations(p.spec) : level === "baseline" ? baselineViolations(p.spec) : [];
    if (level === undefined)
      out.push(`${p.child}: ${nameOf(p.workload)} runs in ${p.namespace}, which has no Pod Security level`);
    for (const v of found) out.push(`${p.child}: ${nameOf(p.workload)} in ${p.namespace} (${level}): ${v}`);
  }
  return out;
}

/** A Kubernetes quantity as a number (cores, bytes). */
export function quantity(q: string | number | undefined): number {
  if (q === undefined) return 0;
  const m = /^([0-9.]+)([a-zA-Z]*)$/.exec(String(q));
  if (!m) throw new Error(`quantity ${q}`);
  const units: Record<string, number> = {
    "": 1,
    m: 1e-3,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
    Ti: 2 ** 40,
  };
  const unit = units[m[2] ?? ""];
  if (unit === undefined) throw new Error(`quantity ${q}`);
  return Number(m[1]) * unit;
}

/** A container's requests and limits once the namespace's LimitRange has filled in its defaults. */
function effective(c: Obj, range: Obj | undefined): { requests: Obj; limits: Obj } {
  const limits = { ...(range?.["default"] ?? {}), ...(c["resources"]?.["limits"] ?? {}) };
  const requests = { ...(range?.["defaultRequest"] ?? {}), ...(c["resources"]?.["requests"] ?? {}) };
  // Kubernetes' defaulting, before the LimitRange: a limit with no request makes the request
  // equal to the limit.
  for (const k of Object.keys(c["resources"]?.["limits"] ?? {}))
    if (c["resources"]?.["requests"]?.[k] === undefined) requests[k] = limits[k];
  return { requests, limits };
}

/**
 * What a namespace's ResourceQuota or LimitRange would refuse once everything the tree puts in
 * it runs: the pods (Deployments with one surge pod each for a rolling update, a DaemonSet's pod
 * on every node), their requests and limits, volumes and storage, load balancers and node ports.
 */
export function quotaViolations(tree: Tree, nodes: number): string[] {
  const out: string[] = [];
  const all = placed(tree);
  const inNs = (kind: string, ns: string) => all.filter((p) => p.object["kind"] === kind && p.namespace === ns);
  const namespaces = new Set(all.filter((p) => p.namespace).map((p) => p.namespace as string));
  const everyPod = pods(tree, nodes);
  for (const ns of namespaces) {
    const quota = inNs("ResourceQuota", ns)[0]?.object["spec"]["hard"];
    const range = (inNs("LimitRange", ns)[0]?.object["spec"]["limits"] ?? []).find(
      (l: Obj) => l["type"] === "Container",
    );
    const used: Record<string, number> = {};
    const add = (k: string, v: number) => (used[k] = (used[k] ?? 0) + v);
    for (const p of everyPod.filter((x) => x.namespace === ns)) {
      const surge = p.workload["kind"] === "Deployment" ? 1 : 0;
      const n = p.count + surge;
      add("pods", n);
      const sums: Record<string, number> = {};
      const containers = [...(p.spec["containers"] ?? [])];
      for (const c of containers) {
        const e = effective(c, range);
        for (const k of ["cpu", "memory"]) {
          sums[`requests.${k}`] = (sums[`requests.${k}`] ?? 0) + quantity(e.requests[k]);
          sums[`limits.${k}`] = (sums[`limits.${k}`] ?? 0) + quantity(e.limits[k]);
        }
        if (quota?.["limits.memory"] && e.limits["memory"] === undefined)
          out.push(
            `${p.child}: ${nameOf(p.workload)}/${c["name"]} in ${ns} has no memory limit, which the quota requires`,
          );
        if (range?.["max"]) {
          for (const [k, max] of Object.entries(range["max"] as Obj))
            if (quantity(e.limits[k]) > quantity(max as string))
              out.push(
                `${p.child}: ${nameOf(p.workload)}/${c["name"]} limits ${k} ${e.limits[k]} over the LimitRange max ${max}`,
              );
        }
      }
      // An init container runs alone: the pod needs the larger of it and the sum of the others.
      for (const c of p.spec["initContainers"] ?? []) {
        const e = effective(c, range);
        for (const k of ["cpu", "memory"]) {
          sums[`requests.${k}`] = Math.max(sums[`requests.${k}`] ?? 0, quantity(e.requests[k]));
          sums[`limits.${k}`] = Math.max(sums[`limits.${k}`] ?? 0, quantity(e.limits[k]));
        }
      }
      for (const [k, v] of Object.entries(sums)) add(k, v * n);
      for (const t of p.workload["spec"]?.["volumeClaimTemplates"] ?? []) {
        add("persistentvolumeclaims", p.count);
        add("requests.storage", p.count * quantity(t["spec"]["resources"]["requests"]["storage"]));
      }
    }
    for (const { object } of inNs("PersistentVolumeClaim", ns)) {
      add("persistentvolumeclaims", 1);
      add("requests.storage", quantity(object["spec"]["resources"]["requests"]["storage"]));
    }
    for (const { object } of inNs("Service", ns)) {
      const type = object["spec"]?.["type"];
      if (type === "LoadBalancer") add("services.loadbalancers", 1);
      if ((type === "LoadBalancer" && object["spec"]["allocateLoadBalancerNodePorts"] !== false) || type === "NodePort")
        add("services.nodeports", (object["spec"]["ports"] ?? []).length);
    }
    if (!quota) continue;
    for (const [k, hard] of Object.entries(quota as Obj)) {
      const have = used[k] ?? 0;
      if (have > quantity(hard as string) + 1e-9)
        out.push(`${ns}: quota ${k} is ${hard}, what the tree runs there needs ${format(k, have)}`);
    }
  }
  return out;
}

const format = (k: string, v: number) =>
  k.endsWith("memory") || k.endsWith("storage")
    ? `${(v / 2 ** 30).toFixed(2)}Gi`
    : k.endsWith("cpu")
      ? v.toFixed(2)
      : String(v);

/** Does a label selector (matchLabels and matchExpressions) select these labels? */
export function selects(selector: Obj | undefined, labels: Record<string, string>): boolean {
  if (!selector) return true;
  const byLabels = Object.entries(selector["matchLabels"] ?? {}).every(([k, v]) => labels[k] === v);
  const byExpressions = (selector["matchExpressions"] ?? []).every((e: Obj) => {
    const v = labels[e["key"]];
    switch (e["operator"]) {
      case "In":
        return v !== undefined && e["values"].includes(v);
      case "NotIn":
        return v === undefined || !e["values"].includes(v);
      case "Exists":
        return v !== undefined;
      case "DoesNotExist":
        return v === undefined;
      default:
        throw new Error(`selector operator ${e["operator"]}`);
    }
  });
  return byLabels && byExpressions;
}

/** One end of a connection: a pod (its namespace and labels), or something outside the pod network. */
export type Peer = { namespace: string; labels: Record<string, string> } | { outside: string };

/** The port a connection reaches on its destination: the container port, with its name if it has one. */
export interface Port {
  port: number;
  name?: string;
  protocol?: string;
}

/** NetworkPolicies of a tree and the labels of its namespaces: who may talk to whom. */
export class Network {
  private readonly policies: Placed[];
  private readonly nsLabels: Map<string, Record<string, string>>;
  constructor(tree: Tree) {
    const all = placed(tree);
    this.policies = all.filter((p) => p.object["kind"] === "NetworkPolicy");
    this.nsLabels = new Map(
      all
        .filter((p) => p.object["kind"] === "Namespace")
        .map((p) => [
          p.object["metadata"]["name"] as string,
          { ...p.object["metadata"]["labels"], "kubernetes.io/metadata.name": p.object["metadata"]["name"] },
        ]),
    );
  }

  private labelsOfNs(ns: string): Record<string, string> {
    return this.nsLabels.get(ns) ?? { "kubernetes.io/metadata.name": ns };
  }

  private isolating(pod: Peer, type: "Ingress" | "Egress"): Obj[] {
    if ("outside" in pod) return [];
    return this.policies
      .filter((p) => p.namespace === pod.namespace && selects(p.object["spec"]["podSelector"], pod.labels))
      .map((p) => p.object)
      .filter((p) => {
        const types = p["spec"]["policyTypes"] ?? (p["spec"]["egress"] ? ["Ingress", "Egress"] : ["Ingress"]);
        return types.includes(type);
      });
  }

  private peerMatches(peers: Obj[] | undefined, policyNs: string, other: Peer): boolean {
    if (!peers || peers.length === 0) return true;
    return peers.some((peer) => {
      if (peer["ipBlock"]) return "outside" in other;
      if ("outside" in other) return false;
      const nsOk = peer["namespaceSelector"]
        ? selects(peer["namespaceSelector"], this.labelsOfNs(other.namespace))
        : other.namespace === policyNs;
      return nsOk && selects(peer["podSelector"], other.labels);
    });
  }

  private portMatches(ports: Obj[] | undefined, port: Port): boolean {
    if (!ports || ports.length === 0) return true;
    return ports.some((p) => {
      if ((p["protocol"] ?? "TCP") !== (port.protocol ?? "TCP")) return false;
      if (p["port"] === undefined) return true;
      if (typeof p["port"] === "string") return p["port"] === port.name;
      return p["endPort"] ? port.port >= p["port"] && port.port <= p["endPort"] : p["port"] === port.port;
    });
  }

  /** Whether the policies on both ends let `from` open a connection to `to` on this port. */
  allows(from: Peer, to: Peer, port: Port): boolean {
    const egress = this.isolating(from, "Egress");
    const egressOk =
      egress.length === 0 ||
      egress.some((p) =>
        (p["spec"]["egress"] ?? []).some(
          (r: Obj) => this.peerMatches(r["to"], p["metadata"]["namespace"], to) && this.portMatches(r["ports"], port),
        ),
      );
    const ingress = this.isolating(to, "Ingress");
    const ingressOk =
      ingress.length === 0 ||
      ingress.some((p) =>
        (p["spec"]["ingress"] ?? []).some(
          (r: Obj) =>
            this.peerMatches(r["from"], p["metadata"]["namespace"], from) && this.portMatches(r["ports"], port),
        ),
      );
    return egressOk && ingressOk;
  }
}

/** The pods a Service sends to, and the container port behind one of its ports. */
export function backends(
  tree: Tree,
  namespace: string,
  service: string,
  port: number | string,
): { error?: string; pods: Pod[]; target?: Port } {
  const all = placed(tree);
  const svc = all.find(
    (p) => p.object["kind"] === "Service" && p.namespace === namespace && p.object["metadata"]["name"] === service,
  )?.object;
  if (!svc) return { error: `Service ${namespace}/${service} does not exist`, pods: [] };
  const sp = (svc["spec"]["ports"] ?? []).find((p: Obj) => p["port"] === port || p["name"] === port);
  if (!sp) return { error: `Service ${namespace}/${service} has no port ${port}`, pods: [] };
  const selector = svc["spec"]["selector"];
  const behind = selector
    ? pods(tree, 1).filter(
        (p) => p.namespace === namespace && Object.entries(selector).every(([k, v]) => p.labels[k] === v),
      )
    : [];
  if (behind.length === 0) return { error: `Service ${namespace}/${service} selects no pod`, pods: [] };
  const targetPort = sp["targetPort"] ?? sp["port"];
  const first = behind[0] as Pod;
  const containerPort = (first.spec["containers"] as Obj[])
    .flatMap((c) => c["ports"] ?? [])
    .find((p: Obj) => (typeof targetPort === "string" ? p["name"] === targetPort : p["containerPort"] === targetPort));
  const target: Port = containerPort
    ? { port: containerPort["containerPort"], name: containerPort["name"], protocol: containerPort["protocol"] }
    : typeof targetPort === "number"
      ? { port: targetPort, protocol: sp["protocol"] }
      : { port: -1, name: targetPort };
  return { pods: behind, target };
}

/** `http://name.namespace.svc:port/...`, `name.namespace:port`, `name:port` (the caller's namespace). */
export function serviceAddress(
  url: string,
  callerNs: string,
): { service: string; namespace: string; port: number } | undefined {
  const m = /^(?:[a-z]+:\/\/)?([a-z0-9-]+)(?:\.([a-z0-9-]+))?(?:\.svc(?:\.cluster\.local)?)?\.?:(\d+)(?:\/.*)?$/.exec(
    url,
  );
  if (!m) return undefined;
  return { service: m[1] as string, namespace: m[2] ?? callerNs, port: Number(m[3]) };
}

const API_SERVER: Peer = { outside: "the Kubernetes API server" };
const DNS: Peer = { namespace: "kube-system", labels: { "k8s-app": "kube-dns" } };
const peerOf = (p: Pod): Peer => ({ namespace: p.namespace, labels: p.labels });
const podName = (p: Pod) => `${p.child}: ${nameOf(p.workload)} (${p.namespace})`;

/** Service accounts bound by a RoleBinding or ClusterRoleBinding: their pods call the API server. */
function boundAccounts(tree: Tree): Set<string> {
  const out = new Set<string>();
  for (const { object, namespace } of placed(tree)) {
    if (!["RoleBinding", "ClusterRoleBinding"].includes(object["kind"])) continue;
    for (const s of object["subjects"] ?? [])
      if (s["kind"] === "ServiceAccount") out.add(`${s["namespace"] ?? namespace}/${s["name"]}`);
  }
  return out;
}

/** What a connection to a Service needs, as one line, or undefined when the policies allow it. */
export function reach(
  tree: Tree,
  net: Network,
  from: Peer,
  fromName: string,
  ns: string,
  svc: string,
  port: number | string,
): string | undefined {
  const b = backends(tree, ns, svc, port);
  if (b.error || !b.target) return `${fromName} → ${ns}/${svc}:${port}: ${b.error}`;
  const blocked = b.pods.filter((p) => !net.allows(from, peerOf(p), b.target as Port));
  return blocked.length
    ? `${fromName} → ${ns}/${svc}:${port}: NetworkPolicies block it (to ${blocked.map(podName).join(", ")}, port ${b.target.name ?? b.target.port})`
    : undefined;
}

/** The Prometheus pods of a tree (made by the operator from its Prometheus resources). */
export function prometheusPods(tree: Tree): Pod[] {
  return pods(tree, 1).filter((p) => p.workload["kind"] === "Prometheus");
}

/**
 * The traffic every pod needs, checked against the NetworkPolicies on both ends: names (DNS),
 * the API server for pods whose service account has RBAC, the API server calling every webhook,
 * Prometheus scraping what each ServiceMonitor and PodMonitor selects, Traefik reaching every
 * Ingress backend. Also: a monitor or Ingress that names a Service, port or label that the tree
 * does not render.
 */
export function trafficViolations(tree: Tree): string[] {
  const out: string[] = [];
  const net = new Network(tree);
  const all = placed(tree);
  const everyPod = pods(tree, 1);
  const bound = boundAccounts(tree);
  for (const p of everyPod) {
    if (p.workload["kind"] === "Prometheus" || p.workload["kind"] === "Alertmanager") continue;
    if (!net.allows(peerOf(p), DNS, { port: 53, protocol: "UDP" }))
      out.push(`${podName(p)} cannot resolve names (DNS)`);
    const account = `${p.namespace}/${p.spec["serviceAccountName"] ?? "default"}`;
    if (
      bound.has(account) &&
      !net.allows(peerOf(p), API_SERVER, { port: 443 }) &&
      !net.allows(peerOf(p), API_SERVER, { port: 6443 })
    )
      out.push(`${podName(p)} has RBAC but cannot reach the API server`);
  }
  for (const { child, object } of all) {
    if (!["ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"].includes(object["kind"])) continue;
    for (const w of object["webhooks"] ?? []) {
      const s = w["clientConfig"]?.["service"];
      if (!s) continue;
      const problem = reach(
        tree,
        net,
        API_SERVER,
        `${child}: the API server (webhook ${w["name"]})`,
        s["namespace"],
        s["name"],
        s["port"] ?? 443,
      );
      if (problem) out.push(problem);
    }
  }
  const prometheus = prometheusPods(tree);
  if (prometheus.length === 0) out.push("no Prometheus in the tree");
  for (const scraper of prometheus) {
    const from = peerOf(scraper);
    for (const target of monitorTargets(tree)) {
      if (target.error) {
        out.push(target.error);
        continue;
      }
      const blocked = target.pods.filter((p) => !net.allows(from, peerOf(p), target.port as Port));
      if (blocked.length)
        out.push(
          `${target.monitor}: Prometheus cannot scrape ${blocked.map(podName).join(", ")} on ${target.port?.name ?? target.port?.port}`,
        );
    }
  }
  for (const p of prometheus)
    for (const am of p.workload["spec"]["alerting"]?.["alertmanagers"] ?? []) {
      const problem = reach(
        tree,
        net,
        peerOf(p),
        `${p.child}: Prometheus (alerting)`,
        am["namespace"] ?? p.namespace,
        am["name"],
        am["port"],
      );
      if (problem) out.push(problem);
    }
  const traefik = everyPod.filter((p) => p.labels["app.kubernetes.io/name"] === "traefik");
  for (const { child, object, namespace } of all) {
    if (object["kind"] !== "Ingress" || !namespace) continue;
    for (const rule of object["spec"]["rules"] ?? [])
      for (const path of rule["http"]?.["paths"] ?? []) {
        const svc = path["backend"]["service"];
        for (const t of traefik) {
          const problem = reach(
            tree,
            net,
            peerOf(t),
            `${child}: Traefik (Ingress ${object["metadata"]["name"]})`,
            namespace,
            svc["name"],
            svc["port"]["number"] ?? svc["port"]["name"],
          );
          if (problem) out.push(problem);
        }
      }
  }
  return out;
}

/** What one ServiceMonitor or PodMonitor endpoint scrapes: the pods and their port. */
export interface MonitorTarget {
  monitor: string;
  pods: Pod[];
  port?: Port;
  error?: string;
}

/** Every ServiceMonitor and PodMonitor endpoint of the tree, resolved to the pods it scrapes. */
export function monitorTargets(tree: Tree): MonitorTarget[] {
  const out: MonitorTarget[] = [];
  const all = placed(tree);
  const everyPod = pods(tree, 1);
  // Where the tree puts objects (argocd included, which Pulumi makes).
  const treeNamespaces = new Set(all.map((p) => p.namespace).filter((n): n is string => n !== undefined));
  const nsOf = (m: Placed): ((ns: string) => boolean) => {
    const sel = m.object["spec"]["namespaceSelector"];
    if (sel?.["any"]) return () => true;
    if (sel?.["matchNames"]) return (ns) => sel["matchNames"].includes(ns);
    return (ns) => ns === m.namespace;
  };
  for (const m of all) {
    const kind = m.object["kind"];
    if (groupOf(m.object) !== "monitoring.coreos.com" || !["ServiceMonitor", "PodMonitor"].includes(kind)) continue;
    const name = `${m.child}: ${kind} ${m.object["metadata"]["name"]}`;
    const inNs = nsOf(m);
    // The API server's and the kubelets' endpoints live outside the tree's namespaces.
    if (![...treeNamespaces].some(inNs)) continue;
    const selector = m.object["spec"]["selector"];
    if (kind === "PodMonitor") {
      const chosen = everyPod.filter((p) => inNs(p.namespace) && selects(selector, p.labels));
      if (chosen.length === 0) out.push({ monitor: name, pods: [], error: `${name} selects no pod` });
      for (const e of m.object["spec"]["podMetricsEndpoints"] ?? []) {
        for (const p of chosen) {
          const cp = (p.spec["containers"] as Obj[])
            .flatMap((c) => c["ports"] ?? [])
            .find((x: Obj) => x["name"] === e["port"]);
          if (!cp) out.push({ monitor: name, pods: [], error: `${name}: ${podName(p)} has no port ${e["port"]}` });
          else out.push({ monitor: name, pods: [p], port: { port: cp["containerPort"], name: cp["name"] } });
        }
      }
      continue;
    }
    const services = all.filter(
      (s) =>
        s.object["kind"] === "Service" &&
        s.namespace &&
        inNs(s.namespace) &&
        selects(selector, s.object["metadata"]["labels"] ?? {}),
    );
    // Services with no selector (the kubelet's, the API server's) are endpoints the operator or
    // Kubernetes maintains outside any pod of the tree.
    const selecting = services.filter((s) => s.object["spec"]?.["selector"]);
    if (services.length === 0) out.push({ monitor: name, pods: [], error: `${name} selects no Service` });
    for (const e of m.object["spec"]["endpoints"] ?? []) {
      const port = e["port"] ?? e["targetPort"];
      // The operator skips a selected Service that lacks the port; one must have it.
      const found = selecting.map((s) => backends(tree, s.namespace as string, s.object["metadata"]["name"], port));
      const good = found.filter((b) => !b.error);
      if (selecting.length > 0 && good.length === 0)
        out.push({ monitor: name, pods: [], error: `${name}: ${found.map((b) => b.error).join("; ")}` });
      for (const b of good) out.push({ monitor: name, pods: b.pods, port: b.target });
    }
  }
  return out;
}

const waveOf = (o: Obj): number => Number(o["metadata"]["annotations"]?.["argocd.argoproj.io/sync-wave"] ?? 0);

/** The ExternalSecrets of a tree by the Secret each makes (`namespace/name`): it exists once Vault is set up. */
function vaultSecrets(tree: Tree): Map<string, Placed> {
  const out = new Map<string, Placed>();
  for (const p of placed(tree))
    if (p.object["kind"] === "ExternalSecret")
      out.set(`${p.namespace}/${p.object["spec"]["target"]?.["name"] ?? p.object["metadata"]["name"]}`, p);
  return out;
}

/** The Secrets a pod (or a Prometheus operator resource) needs before it can start. */
function secretsNeeded(o: Obj): string[] {
  if (groupOf(o) === "monitoring.coreos.com") return [...(o["spec"]?.["secrets"] ?? [])];
  const spec = podSpecOf(o);
  if (!spec) return [];
  const out: string[] = [];
  for (const v of spec["volumes"] ?? [])
    if (v["secret"] && !v["secret"]["optional"]) out.push(v["secret"]["secretName"]);
  for (const c of [...(spec["initContainers"] ?? []), ...(spec["containers"] ?? [])]) {
    for (const e of c["env"] ?? []) {
      const ref = e["valueFrom"]?.["secretKeyRef"];
      if (ref && !ref["optional"]) out.push(ref["name"]);
    }
    for (const e of c["envFrom"] ?? [])
      if (e["secretRef"] && !e["secretRef"]["optional"]) out.push(e["secretRef"]["name"]);
  }
  return out;
}

/** The annotation by which a workload says it sets Vault up by itself (dev's vault-dev-setup). */
export const SETS_UP_ANNOTATION = "platform.gitops/sets-up";

/**
 * A workload of the tree that does Vault's one-time setup by itself, and what it says it does:
 * the `setup.json` of the ConfigMap its pod mounts (the Vault address, the KV engine, the
 * Kubernetes auth role, the policies, the secrets it seeds).
 */
export interface VaultSetup {
  child: string;
  workload: Obj;
  namespace: string;
  config: Obj;
}

export function vaultSetups(tree: Tree): VaultSetup[] {
  const all = placed(tree);
  const out: VaultSetup[] = [];
  for (const { child, object, namespace } of all) {
    const spec = podSpecOf(object);
    if (!spec || !namespace || object["metadata"]["annotations"]?.[SETS_UP_ANNOTATION] !== "vault") continue;
    const mounted = new Set((spec["volumes"] ?? []).map((v: Obj) => v["configMap"]?.["name"]).filter(Boolean));
    const cm = all.find(
      (p) =>
        p.object["kind"] === "ConfigMap" &&
        p.namespace === namespace &&
        mounted.has(p.object["metadata"]["name"]) &&
        p.object["data"]?.["setup.json"] !== undefined,
    );
    if (cm) out.push({ child, workload: object, namespace, config: JSON.parse(cm.object["data"]["setup.json"]) });
  }
  return out;
}

/** Why a setup does not open the way into Vault that this store takes, or undefined when it does. */
function storeGap(setup: VaultSetup, store: Obj): string | undefined {
  const vault = store["spec"]?.["provider"]?.["vault"];
  if (!vault) return "it is not a Vault store";
  const c = setup.config;
  const auth = c["kubernetesAuth"] ?? {};
  const k8s = vault["auth"]?.["kubernetes"] ?? {};
  const sa = k8s["serviceAccountRef"] ?? {};
  const at = (url: string, ns: string) => {
    const a = serviceAddress(url, ns);
    return a && `${a.namespace}/${a.service}:${a.port}`;
  };
  const policy = (auth["policies"] ?? []).map((n: string) => String(c["policies"]?.[n] ?? "")).join("\n");
  const gaps = [
    at(vault["server"], "") !== at(c["vault"], setup.namespace) && `it reads ${vault["server"]}, not ${c["vault"]}`,
    (vault["path"] !== c["kv"]?.["path"] || vault["version"] !== `v${c["kv"]?.["version"]}`) &&
      `it reads ${vault["path"]} (${vault["version"]}), the setup mounts ${c["kv"]?.["path"]} (v${c["kv"]?.["version"]})`,
    (k8s["mountPath"] ?? "kubernetes") !== auth["path"] &&
      `it logs in at auth/${k8s["mountPath"]}, not auth/${auth["path"]}`,
    k8s["role"] !== auth["role"] && `it logs in as role ${k8s["role"]}, the setup makes ${auth["role"]}`,
    (sa["name"] !== auth["serviceAccount"]?.["name"] || sa["namespace"] !== auth["serviceAccount"]?.["namespace"]) &&
      `its service account ${sa["namespace"]}/${sa["name"]} is not the one the role binds`,
    !(sa["audiences"] ?? []).includes(auth["audience"]) && `its token is not for audience ${auth["audience"]}`,
    !new RegExp(`path\\s+"${vault["path"]}/data/\\*"\\s*\\{[^}]*"read"`).test(policy) &&
      `the role's policies do not let it read ${vault["path"]}/data/*`,
  ].filter((g): g is string => typeof g === "string");
  return gaps.length ? gaps.join("; ") : undefined;
}

/** What the person-or-machine question needs to know about a tree, worked out once. */
interface WaitContext {
  secrets: Map<string, Placed>;
  setup: VaultSetup | undefined;
  /** The Vault pods the setup reaches at its address. */
  unsealed: Set<string>;
  stores: Map<string, Obj>;
}

function waitContext(tree: Tree): WaitContext {
  const [setup] = vaultSetups(tree);
  const unsealed = new Set<string>();
  const address = setup && serviceAddress(setup.config["vault"], setup.namespace);
  if (address)
    for (const p of backends(tree, address.namespace, address.service, address.port).pods)
      unsealed.add(`${p.child}/${p.namespace}/${p.workload["kind"]}/${p.workload["metadata"]["name"]}`);
  const stores = new Map(
    placed(tree)
      .filter((p) => p.object["kind"] === "ClusterSecretStore")
      .map((p) => [p.object["metadata"]["name"] as string, p.object]),
  );
  return { secrets: vaultSecrets(tree), setup, unsealed, stores };
}

/** Why the setup does not make this ExternalSecret's Secret, or undefined when it does. */
function externalSecretGap(ctx: WaitContext, es: Obj): string | undefined {
  if (!ctx.setup) return "nothing in the tree sets Vault up";
  const ref = es["spec"]["secretStoreRef"] ?? {};
  const store = ref["kind"] === "ClusterSecretStore" ? ctx.stores.get(ref["name"]) : undefined;
  if (!store) return `its store ${ref["kind"]} ${ref["name"]} is not one the checks can follow`;
  const gap = storeGap(ctx.setup, store);
  if (gap) return `store ${ref["name"]}: ${gap}`;
  if (es["spec"]["dataFrom"]) return "it reads dataFrom, which the checks do not follow";
  const seeded = ctx.setup.config["secrets"] ?? {};
  const unseeded = (es["spec"]["data"] ?? [])
    .map((d: Obj) => d["remoteRef"])
    .filter((r: Obj) => seeded[r["key"]]?.[r["property"]] === undefined)
    .map((r: Obj) => `${store["spec"]["provider"]["vault"]["path"]}/${r["key"]} ${r["property"]}`);
  return unseeded.length ? `${ctx.setup.child} does not seed ${unseeded.join(", ")}` : undefined;
}

/**
 * Why an object's health waits outside its app's sync, or undefined: Vault is sealed until it is
 * unsealed, what reads Vault waits for its setup, an autoscaler has no metrics at first.
 * `person`: only a person can end the wait (Vault's setup by hand). Where a workload of the tree
 * sets Vault up (annotation platform.gitops/sets-up: vault), what it covers waits on that
 * workload instead: on a machine.
 */
function healthWait(p: Placed, ctx: WaitContext): { reason: string; person: boolean } | undefined {
  const o = p.object;
  const key = `${p.child}/${p.namespace}/${o["kind"]}/${o["metadata"]["name"]}`;
  if (p.child === "vault" && (o["kind"] === "StatefulSet" || o["kind"] === "Deployment"))
    return ctx.unsealed.has(key)
      ? { reason: `Vault is sealed until ${ctx.setup?.child} unseals it`, person: false }
      : { reason: "Vault is sealed until someone unseals it", person: true };
  if (groupOf(o) === "external-secrets.io") {
    const gap =
      o["kind"] === "ExternalSecret"
        ? externalSecretGap(ctx, o)
        : o["kind"] === "ClusterSecretStore" && ctx.setup
          ? storeGap(ctx.setup, o)
          : "nothing in the tree sets Vault up for it";
    return gap
      ? { reason: `${o["kind"]} ${o["metadata"]["name"]} is Degraded until Vault is set up (${gap})`, person: true }
      : {
          reason: `${o["kind"]} ${o["metadata"]["name"]} is Degraded until ${ctx.setup?.child} has set Vault up`,
          person: false,
        };
  }
  // The setup is ready once Vault is set up: in a wave before Vault's, it would wait for ever.
  if (podSpecOf(o) && o["metadata"]["annotations"]?.[SETS_UP_ANNOTATION])
    return {
      reason: `${nameOf(o)} is not ready until it has set ${o["metadata"]["annotations"][SETS_UP_ANNOTATION]} up`,
      person: false,
    };
  if (o["kind"] === "HorizontalPodAutoscaler")
    return { reason: `HPA ${o["metadata"]["name"]} has no metrics at first`, person: false };
  const missing = [...new Set(secretsNeeded(o))].filter((s) => ctx.secrets.has(`${p.namespace}/${s}`));
  if (missing.length)
    return {
      reason: `${nameOf(o)} waits for Secret ${missing.join(", ")} from Vault`,
      person: missing.some((s) => externalSecretGap(ctx, ctx.secrets.get(`${p.namespace}/${s}`)!.object) !== undefined),
    };
  return undefined;
}

/**
 * Why an object's health waits on a person rather than a machine, or undefined: Vault sealed
 * until someone unseals it, what reads Vault until someone sets it up. Not where the tree sets
 * Vault up by itself (dev), and not an autoscaler waiting for its first metrics.
 */
export function waitsOnPeople(tree: Tree): (p: Placed) => string | undefined {
  const ctx = waitContext(tree);
  return (p) => {
    const w = healthWait(p, ctx);
    return w?.person ? w.reason : undefined;
  };
}

/**
 * Apps whose mark (platform.gitops/waits-for) does not match what they hold: an app with an
 * object whose health waits on a person and no mark (the gate would wait for ever), or a mark on
 * an app where nothing does (the gate would not wait for what a machine finishes).
 */
export function markViolations(tree: Tree): string[] {
  const people = waitsOnPeople(tree);
  const all = placed(tree);
  const out: string[] = [];
  for (const [name, app] of tree.apps) {
    const reasons = all
      .filter((p) => p.child === name)
      .map(people)
      .filter((r): r is string => r !== undefined);
    const mark = app["metadata"]["annotations"]?.[WAITS_FOR_ANNOTATION];
    if (reasons.length && !mark)
      out.push(
        `${name} is not marked ${WAITS_FOR_ANNOTATION}, but ${reasons.join("; ")}: the readiness gate would wait on a person`,
      );
    if (!reasons.length && mark !== undefined)
      out.push(`${name} is marked ${WAITS_FOR_ANNOTATION} ("${mark}"), but nothing in it waits on a person`);
  }
  return out;
}

/** An object's step in its app's sync: phase (PreSync 0, Sync 1, PostSync 2), then wave. */
function stepOf(o: Obj): [number, number] {
  const a = o["metadata"]?.["annotations"] ?? {};
  const hook = String(a["argocd.argoproj.io/hook"] ?? a["helm.sh/hook"] ?? "");
  const phase = /post/i.test(hook) ? 2 : /pre/i.test(hook) ? 0 : 1;
  return [phase, waveOf(o)];
}
const laterStep = (a: [number, number], b: [number, number]) => a[0] - b[0] || a[1] - b[1];

/** Does this app (or one of its objects) prune last? That adds a last step after every wave. */
function prunesLast(app: Obj, objects: Obj[]): boolean {
  const options: string[] = app["spec"]["syncPolicy"]?.["syncOptions"] ?? [];
  const annotated = (o: Obj) => String(o["metadata"]?.["annotations"]?.["argocd.argoproj.io/sync-options"] ?? "");
  return options.includes("PruneLast=true") || objects.some((o) => annotated(o).includes("PruneLast=true"));
}

/** Custom resources: kinds that Kubernetes does not serve by itself. */
export const isCustom = (o: Obj): boolean => !servedBuiltIn(String(o["apiVersion"]), o["kind"]);

/**
 * What would stop a sync from finishing, in the root app or in a child: a wave before the last
 * (which Argo CD health-waits) holding an app that waits on people, or one that needs a CRD from
 * a later wave; a child where something that waits on people is not in the last step of its
 * sync (hooks or waves after it), or that prunes last; a child that keeps no history; no sync
 * timeout; PruneLast on the root (it adds a health-waited last wave).
 */
export function waveViolations(tree: Tree): string[] {
  const out: string[] = [];
  const ctx = waitContext(tree);
  const all = placed(tree);
  const waves = [...tree.apps.values()].map(waveOf);
  const last = Math.max(...waves);
  const crdApp = new Map<string, string>();
  for (const p of all)
    if (p.object["kind"] === "CustomResourceDefinition")
      crdApp.set(`${p.object["spec"]["group"]}/${p.object["spec"]["names"]["kind"]}`, p.child);
  for (const [name, app] of tree.apps) {
    const wave = waveOf(app);
    const mine = all.filter((p) => p.child === name);
    const people = mine.map((p) => healthWait(p, ctx)?.reason).filter((r): r is string => r !== undefined);
    if (wave < last) {
      for (const r of people)
        out.push(`${name} (wave ${wave}, before the last wave ${last}): ${r}, so the root's sync would wait on it`);
      for (const p of mine) {
        if (!isCustom(p.object)) continue;
        const group = groupOf(p.object);
        const provider = crdApp.get(`${group}/${p.object["kind"]}`);
        const providerApp = provider ? tree.apps.get(provider) : undefined;
        if (provider !== name && (!providerApp || waveOf(providerApp) >= wave))
          out.push(
            `${name} (wave ${wave}) applies ${p.object["kind"]}, whose CRD comes from ${provider ?? "nowhere"} (wave ${providerApp ? waveOf(providerApp) : "-"}): its sync cannot finish before that wave`,
          );
      }
    }
    // Argo CD waits on health between the steps of a sync, and not after the last: what waits on
    // a person must be in the last step, and nothing may prune last after it.
    const objects = mine.map((p) => p.object);
    const steps = objects
      .filter((o) => !neverApplied(o))
      .map(stepOf)
      .sort(laterStep);
    const lastStep = steps.at(-1);
    const pruning = prunesLast(app, objects);
    for (const p of mine) {
      const r = healthWait(p, ctx)?.reason;
      if (!r) continue;
      if (pruning) out.push(`${name}: it prunes last, so its sync waits on health after applying, and ${r}`);
      else if (lastStep && laterStep(stepOf(p.object), lastStep) < 0)
        out.push(`${name}: its sync has hooks or waves after ${nameOf(p.object)}, so it waits on its health, and ${r}`);
    }
    // Argo CD keeps this many entries of an app's history; the child-health check reads it.
    if (app["spec"]["revisionHistoryLimit"] === 0)
      out.push(`${name}: revisionHistoryLimit 0 leaves no history, so its parent would never see it Healthy`);
  }
  if ((tree.root["spec"]["syncPolicy"]["syncOptions"] ?? []).includes("PruneLast=true"))
    out.push(
      "platform-root prunes last: that adds a last wave, and the apps that wait on people would have to turn healthy first",
    );
  const timeout = Number(tree.releaseValues["configs"]?.["params"]?.["controller.sync.timeout.seconds"] ?? 0);
  if (!(timeout > 0))
    out.push(
      "Argo CD has no sync timeout (controller.sync.timeout.seconds): a wave that never turns healthy holds its sync for ever",
    );
  return out;
}

/**
 * A call one child makes to a Service of another by its address (a datasource, a log push URL,
 * a secret store): the Service and port exist, select pods, and the policies on both ends let the
 * callers through.
 */
export function callViolations(tree: Tree, callers: (p: Pod) => boolean, caller: string, url: string): string[] {
  const net = new Network(tree);
  const from = pods(tree, 1).filter(callers);
  if (from.length === 0) return [`${caller}: no such pods in the tree`];
  const out: string[] = [];
  for (const p of from) {
    const address = serviceAddress(url, p.namespace);
    if (!address) return [`${caller}: ${url} is not a Service address`];
    const problem = reach(tree, net, peerOf(p), `${caller} (${url})`, address.namespace, address.service, address.port);
    if (problem) out.push(problem);
  }
  return [...new Set(out)];
}
