/**
 * The GitOps drain, run by `pulumi destroy` before Argo CD and the cluster go: what Argo CD's
 * apps made in the cloud (load balancers, disks) is not in Pulumi's state, and left behind it
 * keeps billing and blocks the deletion of the cluster's network.
 *
 * 1. Delete the root Application (its cascade finalizer makes Argo CD delete every child app and
 *    what they synced) and wait until no Application is left.
 * 2. Delete what the apps left behind that holds a cloud resource: Services of type LoadBalancer,
 *    Ingresses with an address, and the claims of dynamically provisioned volumes whose reclaim
 *    policy is Delete (StatefulSets leave their claims behind).
 * 3. Wait until those and their PersistentVolumes are gone: their finalizers clear only after the
 *    cloud side is deleted.
 * Bounded by a timeout; when it gives up it names what is still there and how to remove it.
 */
import { type Kube, type KubeObject, ref, sleep } from "./kube";

export interface DrainOptions {
  /** Namespace of Argo CD and of the root Application. */
  namespace: string;
  rootApp: string;
  timeoutMs: number;
  /** Pause between two looks at the cluster. */
  intervalMs: number;
  log: (line: string) => void;
}

/** What still holds cloud resources, by kind. */
export interface Leftovers {
  applications: KubeObject[];
  loadBalancers: KubeObject[];
  ingresses: KubeObject[];
  volumes: KubeObject[];
}

export type DrainResult = { drained: true; seconds: number } | { drained: false; leftovers: Leftovers; report: string };

const isLoadBalancer = (s: KubeObject) => s.spec?.["type"] === "LoadBalancer";

const hasAddress = (i: KubeObject) => {
  const lb = (i.status?.["loadBalancer"] ?? {}) as { ingress?: unknown[] };
  return (lb.ingress?.length ?? 0) > 0;
};

/** A volume a provisioner made for a claim, that the cloud deletes with it. */
const isDynamicDeleteVolume = (pv: KubeObject) =>
  pv.spec?.["persistentVolumeReclaimPolicy"] === "Delete" &&
  pv.metadata.annotations?.["pv.kubernetes.io/provisioned-by"] !== undefined;

/** What holds cloud resources right now. */
export async function leftovers(kube: Kube): Promise<Leftovers> {
  const [applications, services, ingresses, volumes] = await Promise.all([
    kube.applications(),
    kube.services(),
    kube.ingresses(),
    kube.persistentVolumes(),
  ]);
  return {
    applications,
    loadBalancers: services.filter(isLoadBalancer),
    ingresses: ingresses.filter(hasAddress),
    volumes: volumes.filter(isDynamicDeleteVolume),
  };
}

const count = (l: Leftovers) => l.applications.length + l.loadBalancers.length + l.ingresses.length + l.volumes.length;

function summary(l: Leftovers): string {
  const parts = [
    [l.applications.length, "Application"],
    [l.loadBalancers.length, "LoadBalancer Service"],
    [l.ingresses.length, "Ingress with an address"],
    [l.volumes.length, "PersistentVolume"],
  ] as const;
  return (
    parts
      .filter(([n]) => n > 0)
      .map(([n, what]) => `${n} ${what}${n === 1 ? "" : "s"}`)
      .join(", ") || "nothing"
  );
}

/** What is still there and, for each, the command that removes it. */
export function leftoverReport(l: Leftovers, namespace: string, timeoutSeconds: number): string {
  const lines = [`The drain gave up after ${timeoutSeconds}s; still there: ${summary(l)}.`];
  for (const a of l.applications) {
    const stuck = a.metadata.deletionTimestamp ? " (being deleted: its finalizer waits for what it synced)" : "";
    lines.push(`  Application ${ref(a)}${stuck}`);
  }
  for (const s of l.loadBalancers) lines.push(`  Service ${ref(s)} (type LoadBalancer)`);
  for (const i of l.ingresses) lines.push(`  Ingress ${ref(i)} (has a load balancer address)`);
  for (const v of l.volumes) {
    const claim = v.spec?.["claimRef"] as { namespace?: string; name?: string } | undefined;
    lines.push(
      `  PersistentVolume ${v.metadata.name}${claim?.name ? ` (claim ${claim.namespace}/${claim.name})` : ""}`,
    );
  }
  lines.push("To remove them, with the stack's kubeconfig (npm run output -- kubeconfig --show-secrets):");
  if (l.applications.length > 0) {
    lines.push(
      `  kubectl -n ${namespace} get applications   # see why each one is stuck (argocd-application-controller logs)`,
      `  kubectl -n ${namespace} patch application <name> --type merge -p '{"metadata":{"finalizers":null}}'   # last resort: leaves what it synced`,
    );
  }
  if (l.loadBalancers.length > 0) lines.push("  kubectl delete service -n <namespace> <name>");
  if (l.ingresses.length > 0) lines.push("  kubectl delete ingress -n <namespace> <name>");
  if (l.volumes.length > 0) lines.push("  kubectl delete pvc -n <namespace> <claim>   # then the volume goes with it");
  lines.push(
    "If one stays, its cloud side is stuck: delete the load balancer or disk in the cloud console (they carry the cluster's name), then run the destroy again.",
  );
  return lines.join("\n");
}

export async function drain(kube: Kube, opts: DrainOptions): Promise<DrainResult> {
  const started = Date.now();
  const deadline = started + opts.timeoutMs;
  const deleted = await kube.deleteApplication(opts.namespace, opts.rootApp);
  opts.log(
    deleted
      ? `Deleted the root Application ${opts.namespace}/${opts.rootApp}; Argo CD now deletes every app and what it synced.`
      : `The root Application ${opts.namespace}/${opts.rootApp} is already gone.`,
  );

  let last = "";
  let cleanedUp = false;
  for (;;) {
    const now = await leftovers(kube);
    if (count(now) === 0) {
      const seconds = Math.round((Date.now() - started) / 1000);
      opts.log(`Drained in ${seconds}s: no Application, load balancer or dynamically provisioned volume is left.`);
      return { drained: true, seconds };
    }
    const line = `Waiting for ${summary(now)} to go.`;
    if (line !== last) opts.log(line);
    last = line;

    // Once Argo CD is done, whatever is left holding a cloud resource is removed directly.
    if (now.applications.length === 0 && !cleanedUp) {
      cleanedUp = true;
      await removeLeftovers(kube, now, opts.log);
    }
    if (Date.now() >= deadline) {
      return { drained: false, leftovers: now, report: leftoverReport(now, opts.namespace, opts.timeoutMs / 1000) };
    }
    await sleep(Math.min(opts.intervalMs, Math.max(0, deadline - Date.now())));
  }
}

/** Objects already being deleted are left to finish; only the ones nobody deletes are removed. */
const idle = (o: KubeObject) => o.metadata.deletionTimestamp === undefined;

async function removeLeftovers(kube: Kube, l: Leftovers, log: (line: string) => void): Promise<void> {
  for (const s of l.loadBalancers.filter(idle)) {
    log(`Deleting Service ${ref(s)} (type LoadBalancer), which no app owns any more.`);
    await kube.deleteService(s.metadata.namespace ?? "default", s.metadata.name);
  }
  for (const i of l.ingresses.filter(idle)) {
    log(`Deleting Ingress ${ref(i)}, which no app owns any more.`);
    await kube.deleteIngress(i.metadata.namespace ?? "default", i.metadata.name);
  }
  for (const v of l.volumes.filter(idle)) {
    const claim = v.spec?.["claimRef"] as { namespace?: string; name?: string } | undefined;
    if (!claim?.namespace || !claim.name) continue;
    log(`Deleting PersistentVolumeClaim ${claim.namespace}/${claim.name}, so that its volume ${v.metadata.name} goes.`);
    await kube.deletePersistentVolumeClaim(claim.namespace, claim.name);
  }
}
