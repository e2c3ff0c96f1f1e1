/**
 * The readiness gate: `pulumi up` waits until the root Application is Synced and Healthy. When it
 * gives up, it says which child apps are not, and why (their health message, the last sync's
 * message and their conditions).
 */
import { type Kube, type KubeObject, isUnreachable, sleep } from "./kube";

export interface GateOptions {
  namespace: string;
  rootApp: string;
  timeoutMs: number;
  intervalMs: number;
  log: (line: string) => void;
}

export type GateResult = { healthy: true; seconds: number } | { healthy: false; report: string };

interface AppStatus {
  sync?: { status?: string };
  health?: { status?: string; message?: string };
  operationState?: { phase?: string; message?: string };
  conditions?: { type?: string; message?: string }[];
}

const statusOf = (a: KubeObject) => (a.status ?? {}) as AppStatus;
const syncOf = (a: KubeObject) => statusOf(a).sync?.status ?? "Unknown";
const healthOf = (a: KubeObject) => statusOf(a).health?.status ?? "Unknown";
const isReady = (a: KubeObject) => syncOf(a) === "Synced" && healthOf(a) === "Healthy";

/** One line per app that is not Synced and Healthy, with every reason Argo CD gives. */
export function unhealthyReport(apps: KubeObject[], rootApp: string): string[] {
  return apps
    .filter((a) => a.metadata.name !== rootApp && !isReady(a))
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))
    .map((a) => {
      const s = statusOf(a);
      const why = [
        s.health?.message,
        s.operationState?.message && `last sync ${s.operationState.phase ?? ""}: ${s.operationState.message}`.trim(),
        ...(s.conditions ?? []).map((c) => `${c.type ?? "Condition"}: ${c.message ?? ""}`),
      ].filter((x): x is string => Boolean(x));
      return `  ${a.metadata.name}: ${syncOf(a)}, ${healthOf(a)}${why.length ? ` (${why.join("; ")})` : ""}`;
    });
}

export async function waitHealthy(kube: Kube, opts: GateOptions): Promise<GateResult> {
  const started = Date.now();
  const deadline = started + opts.timeoutMs;
  let last = "";
  let lastError = "";
  for (;;) {
    try {
      const root = await kube.application(opts.namespace, opts.rootApp);
      if (root && isReady(root)) {
        const seconds = Math.round((Date.now() - started) / 1000);
        opts.log(`${opts.rootApp} is Synced and Healthy after ${seconds}s.`);
        return { healthy: true, seconds };
      }
      // Which children hold it up, so that a person can act while it waits (Vault's setup, say).
      const pending = root
        ? (await kube.applications(opts.namespace))
            .filter((a) => a.metadata.name !== opts.rootApp && !isReady(a))
            .map((a) => a.metadata.name)
            .sort()
        : [];
      const state = root ? `${opts.rootApp}: ${syncOf(root)}, ${healthOf(root)}` : `${opts.rootApp} does not exist yet`;
      const line = pending.length ? `${state}; not yet Synced and Healthy: ${pending.join(", ")}` : state;
      if (line !== last) opts.log(`Waiting: ${line}.`);
      last = line;
      lastError = "";
    } catch (e) {
      // A cluster that is still starting does not answer yet; anything else is a real error.
      if (!isUnreachable(e)) throw e;
      lastError = `the API server ${kube.server} did not answer (${(e as Error).message})`;
    }
    if (Date.now() >= deadline) return { healthy: false, report: await giveUpReport(kube, opts, last, lastError) };
    await sleep(Math.min(opts.intervalMs, Math.max(0, deadline - Date.now())));
  }
}

async function giveUpReport(kube: Kube, opts: GateOptions, last: string, lastError: string): Promise<string> {
  const head = `${opts.rootApp} was not Synced and Healthy after ${opts.timeoutMs / 1000}s`;
  if (lastError) return `${head}: ${lastError}.`;
  const apps = await kube.applications(opts.namespace);
  const lines = unhealthyReport(apps, opts.rootApp);
  return [
    `${head} (${last.split(";")[0] || "no status"}).`,
    lines.length
      ? "Apps that are not Synced and Healthy:"
      : "Every child app is Synced and Healthy; the root app is still syncing.",
    ...lines,
    `Look closer with: kubectl -n ${opts.namespace} get applications; the Argo CD UI shows each app's resources and events.`,
    "Run `pulumi up` again to wait again, or set platform:argocd.waitForHealthy to false to skip the wait.",
  ].join("\n");
}
