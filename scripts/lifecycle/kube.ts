/**
 * The few Kubernetes calls the drain and the readiness gate make, over `@kubernetes/client-node`
 * with the stack's kubeconfig (exec plugins such as `aws eks get-token` included). Loaded only by
 * the lifecycle commands, never by the Pulumi program.
 */
import type * as k8s from "@kubernetes/client-node" with { "resolution-mode": "import" };

/** An object as the API returns it; only the fields the lifecycle commands read are typed. */
export interface KubeObject {
  metadata: {
    name: string;
    namespace?: string;
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
    ownerReferences?: { kind: string; name: string }[];
    finalizers?: string[];
    deletionTimestamp?: string;
  };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
}

/** What the drain and the gate need from a cluster. */
export interface Kube {
  /** Server URL, for messages. */
  readonly server: string;
  applications(namespace?: string): Promise<KubeObject[]>;
  applicationSets(): Promise<KubeObject[]>;
  application(namespace: string, name: string): Promise<KubeObject | undefined>;
  /** Deletes an Application in the foreground; false when it was not there. */
  deleteApplication(namespace: string, name: string): Promise<boolean>;
  services(): Promise<KubeObject[]>;
  ingresses(): Promise<KubeObject[]>;
  persistentVolumes(): Promise<KubeObject[]>;
  deleteService(namespace: string, name: string): Promise<void>;
  deleteIngress(namespace: string, name: string): Promise<void>;
  deletePersistentVolumeClaim(namespace: string, name: string): Promise<void>;
}

const ARGO = { group: "argoproj.io", version: "v1alpha1", plural: "applications" } as const;
const APPSETS = { ...ARGO, plural: "applicationsets" } as const;

/** Errors that mean "no such object": the drain's deletes are idempotent. */
function isNotFound(e: unknown): boolean {
  return (e as { code?: number }).code === 404;
}

async function ignoreNotFound(p: Promise<unknown>): Promise<boolean> {
  try {
    await p;
    return true;
  } catch (e) {
    if (isNotFound(e)) return false;
    throw e;
  }
}

/**
 * Answers that say "try again shortly": 429 (API priority and fairness, or a CRD's storage still
 * initialising right after it was made) and 500/502/503/504 (an API server restarting or behind a
 * load balancer that is). The e2e met a 429 "storage is (re)initializing" on the first list of
 * Applications after the CRDs were re-created.
 */
function isTransient(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return code === 429 || code === 500 || code === 502 || code === 503 || code === 504;
}

/**
 * Calls `fn`, again after a transient answer (for up to `transientMs`, backing off from 0.5 s to
 * 5 s) or after a refused connection (twice: an API server restarting), then gives up with the
 * last error.
 */
async function withRetries<T>(fn: () => Promise<T>, transientMs = 60_000, pauseMs = 500): Promise<T> {
  const until = Date.now() + transientMs;
  let refused = 0;
  for (let pause = pauseMs; ; pause = Math.min(pause * 2, 10 * pauseMs)) {
    try {
      return await fn();
    } catch (e) {
      const again = (isTransient(e) && Date.now() + pause < until) || (isUnreachable(e) && ++refused <= 2);
      if (!again) throw e;
      await sleep(pause);
    }
  }
}

/**
 * A `Kube` over the real client library, for one kubeconfig (its current context), whose calls
 * ride out transient answers (`withRetries`).
 */
export function connect(kubeconfig: string, retry: { transientMs?: number; pauseMs?: number } = {}): Kube {
  return retrying(connectOnce(kubeconfig), retry.transientMs, retry.pauseMs);
}

/** Every call of a `Kube` through `withRetries`. */
function retrying(kube: Kube, transientMs?: number, pauseMs?: number): Kube {
  const out = { server: kube.server } as Record<string, unknown>;
  for (const [name, value] of Object.entries(kube)) {
    if (typeof value === "function") {
      out[name] = (...args: unknown[]) =>
        withRetries(() => (value as (...a: unknown[]) => Promise<unknown>).apply(kube, args), transientMs, pauseMs);
    }
  }
  return out as unknown as Kube;
}

function connectOnce(kubeconfig: string): Kube {
  // Deferred: the library is large, and only these commands need it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use only
  const lib = require("@kubernetes/client-node") as typeof k8s;
  const kc = new lib.KubeConfig();
  kc.loadFromString(kubeconfig);
  const custom = kc.makeApiClient(lib.CustomObjectsApi);
  const core = kc.makeApiClient(lib.CoreV1Api);
  const net = kc.makeApiClient(lib.NetworkingV1Api);
  const items = (list: unknown) => (list as { items?: KubeObject[] }).items ?? [];
  const asObjects = (list: { items: unknown[] }) => list.items as KubeObject[];

  return {
    server: kc.getCurrentCluster()?.server ?? "(no server in the kubeconfig)",
    applications: async (namespace) =>
      items(
        namespace
          ? await custom.listNamespacedCustomObject({ ...ARGO, namespace })
          : await custom.listClusterCustomObject({ ...ARGO }),
      ),
    applicationSets: async () => items(await custom.listClusterCustomObject({ ...APPSETS })),
    application: async (namespace, name) => {
      try {
        return (await custom.getNamespacedCustomObject({ ...ARGO, namespace, name })) as KubeObject;
      } catch (e) {
        if (isNotFound(e)) return undefined;
        throw e;
      }
    },
    deleteApplication: (namespace, name) =>
      ignoreNotFound(
        custom.deleteNamespacedCustomObject({ ...ARGO, namespace, name, propagationPolicy: "Foreground" }),
      ),
    services: async () => asObjects(await core.listServiceForAllNamespaces()),
    ingresses: async () => asObjects(await net.listIngressForAllNamespaces()),
    persistentVolumes: async () => asObjects(await core.listPersistentVolume()),
    deleteService: async (namespace, name) => {
      await ignoreNotFound(core.deleteNamespacedService({ namespace, name }));
    },
    deleteIngress: async (namespace, name) => {
      await ignoreNotFound(net.deleteNamespacedIngress({ namespace, name }));
    },
    deletePersistentVolumeClaim: async (namespace, name) => {
      await ignoreNotFound(core.deleteNamespacedPersistentVolumeClaim({ namespace, name }));
    },
  };
}

/** True for errors that say the API server cannot be reached at all (as opposed to refusing). */
export function isUnreachable(e: unknown): boolean {
  const codes = ["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "ECONNRESET"];
  for (let cur: unknown = e, depth = 0; cur && depth < 5; depth++) {
    const { code, message, cause } = cur as { code?: unknown; message?: unknown; cause?: unknown };
    if (typeof code === "string" && codes.includes(code)) return true;
    if (typeof message === "string" && codes.some((c) => message.includes(c))) return true;
    cur = cause;
  }
  return false;
}

/** `namespace/name`, or `name` for cluster-scoped objects. */
export function ref(o: KubeObject): string {
  return o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
