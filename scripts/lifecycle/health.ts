/**
 * The readiness gate: `pulumi up` waits until the platform is ready: the root Application Synced,
 * and every child app Synced and Healthy except those marked as waiting on a person
 * (WAITS_FOR_ANNOTATION, Vault's one-time setup in stage and prod), which it names once as not
 * waited for. The root's own health is the worst of its children's (components/argocd.ts,
 * APPLICATION_HEALTH_LUA), so it counts only while no marked child holds it down. While it waits
 * it says what for, each time that changes; when it gives up, which apps are not ready and why
 * (their health message, the last sync's message and their conditions).
 */
import { type Kube, type KubeObject, isUnreachable, sleep } from "./kube";

/**
 * The annotation that marks a child Application whose health waits on a person, naming what for
 * (stage and prod: "Vault's one-time setup (gitops/platform/vault/README.md)"). The gate does not
 * wait for such apps; test/tree-checks.ts (markViolations) holds the marks to the tree.
 */
export const WAITS_FOR_ANNOTATION = "platform.gitops/waits-for";

export interface GateOptions {
  namespace: string;
  rootApp: string;
  timeoutMs: number;
  intervalMs: number;
  log: (line: string) => void;
}

export type GateResult = { healthy: true; seconds: number } | { healthy: false; report: string };

/** The fields of an Application's source that say what it syncs. */
interface Source {
  repoURL?: string;
  path?: string;
  targetRevision?: string;
  chart?: string;
}

interface AppStatus {
  sync?: { status?: string; comparedTo?: { source?: Source } };
  health?: { status?: string; message?: string };
  operationState?: { phase?: string; message?: string };
  conditions?: { type?: string; message?: string }[];
}

const statusOf = (a: KubeObject) => (a.status ?? {}) as AppStatus;
const syncOf = (a: KubeObject) => statusOf(a).sync?.status ?? "Unknown";
const healthOf = (a: KubeObject) => statusOf(a).health?.status ?? "Unknown";
const isReady = (a: KubeObject) => syncOf(a) === "Synced" && healthOf(a) === "Healthy";
const byName = (a: KubeObject, b: KubeObject) => a.metadata.name.localeCompare(b.metadata.name);
/** What a marked app waits for, or undefined when it is not marked. */
const waitsFor = (a: KubeObject) => a.metadata.annotations?.[WAITS_FOR_ANNOTATION]?.trim() || undefined;

/** `name: sync, health (every reason Argo CD gives)`. */
function describe(a: KubeObject, reasons = true): string {
  const s = statusOf(a);
  const op = s.operationState;
  const why = reasons
    ? [
        s.health?.message,
        // A sync that succeeded says nothing the sync status does not.
        op?.message && op.phase !== "Succeeded" && `last sync${op.phase ? ` ${op.phase}` : ""}: ${op.message}`,
        ...(s.conditions ?? []).map((c) => `${c.type ?? "Condition"}: ${c.message ?? ""}`),
      ].filter((x): x is string => Boolean(x))
    : [];
  return `${a.metadata.name}: ${syncOf(a)}, ${healthOf(a)}${why.length ? ` (${why.join("; ")})` : ""}`;
}

/**
 * Has Argo CD compared the app with the source its spec names now? After a change to the spec (a
 * new targetRevision, say), the status of the last comparison still reads Synced and Healthy for
 * the old source until the controller compares again; Argo CD records what it compared with in
 * status.sync.comparedTo. An app without a single source in its spec is taken as compared.
 */
export function comparedWithSpec(a: KubeObject): boolean {
  const spec = (a.spec as { source?: Source } | undefined)?.source;
  if (!spec) return true;
  const compared = statusOf(a).sync?.comparedTo?.source;
  if (!compared) return false;
  return (["repoURL", "path", "targetRevision", "chart"] as const).every(
    (k) => (spec[k] ?? "") === (compared[k] ?? ""),
  );
}

/** Where the gate stands: what it still waits for, and the marked apps it does not wait for. */
export interface GateState {
  done: boolean;
  /** One line per thing still awaited: the root app, then each unmarked child not yet ready. */
  awaited: string[];
  /** The marked children, by what they wait for. */
  notAwaited: Map<string, KubeObject[]>;
}

/** The marked apps among these, by what they wait for. */
function markedApps(apps: KubeObject[]): Map<string, KubeObject[]> {
  const out = new Map<string, KubeObject[]>();
  for (const a of [...apps].sort(byName)) {
    const reason = waitsFor(a);
    if (reason) out.set(reason, [...(out.get(reason) ?? []), a]);
  }
  return out;
}

/** The gate's view of the root app and the Applications of its namespace. */
export function gateState(root: KubeObject | undefined, apps: KubeObject[], rootApp: string): GateState {
  if (!root) return { done: false, awaited: [`${rootApp}: does not exist yet`], notAwaited: new Map() };
  const children = apps.filter((a) => a.metadata.name !== rootApp).sort(byName);
  const notAwaited = markedApps(children);
  const marked = [...notAwaited.values()].flat();
  const pending = children.filter((a) => !waitsFor(a) && !isReady(a));
  // The root's health is its children's: a marked child that is not Healthy holds it down.
  const rootHealthCounts = marked.every((a) => healthOf(a) === "Healthy");
  const compared = comparedWithSpec(root);
  const rootDone = compared && syncOf(root) === "Synced" && (!rootHealthCounts || healthOf(root) === "Healthy");
  const rootLine = `${describe(root, false)}${compared ? "" : " (not yet compared with the source its spec names now)"}`;
  const awaited = [...(rootDone ? [] : [rootLine]), ...pending.map((a) => describe(a))];
  return { done: awaited.length === 0, awaited, notAwaited };
}

/** The lines of the give-up report for the apps the gate waits for that are not ready. */
export function unhealthyReport(apps: KubeObject[], rootApp: string): string[] {
  return apps
    .filter((a) => a.metadata.name !== rootApp && !waitsFor(a) && !isReady(a))
    .sort(byName)
    .map((a) => `  ${describe(a)}`);
}

const notAwaitedLine = (reason: string, apps: KubeObject[]) =>
  `Not waiting for ${apps.map((a) => a.metadata.name).join(", ")}: they wait for ${reason}.`;

export async function waitHealthy(kube: Kube, opts: GateOptions): Promise<GateResult> {
  const started = Date.now();
  const deadline = started + opts.timeoutMs;
  let last = "";
  let lastError = "";
  let rootLine = "";
  const named = new Set<string>();
  for (;;) {
    try {
      const root = await kube.application(opts.namespace, opts.rootApp);
      const apps = root ? await kube.applications(opts.namespace) : [];
      const state = gateState(root, apps, opts.rootApp);
      rootLine = root ? describe(root, false) : `${opts.rootApp} does not exist yet`;
      // Each marked app once, with what it waits for, as soon as it is seen.
      for (const [reason, marked] of state.notAwaited) {
        const fresh = marked.filter((a) => !named.has(a.metadata.name));
        if (fresh.length) opts.log(notAwaitedLine(reason, fresh));
        for (const a of fresh) named.add(a.metadata.name);
      }
      if (state.done) {
        const seconds = Math.round((Date.now() - started) / 1000);
        const unfinished = [...state.notAwaited.values()].flat().filter((a) => !isReady(a));
        opts.log(
          unfinished.length
            ? `${opts.rootApp} is Synced and every app the gate waits for is Synced and Healthy after ${seconds}s; not waited for: ${unfinished.map((a) => `${a.metadata.name} (${healthOf(a)})`).join(", ")}.`
            : `${opts.rootApp} is Synced and Healthy after ${seconds}s.`,
        );
        return { healthy: true, seconds };
      }
      const text =
        state.awaited.length === 1
          ? `Waiting for ${state.awaited[0]}.`
          : [`Waiting for ${state.awaited.length} apps:`, ...state.awaited.map((l) => `  ${l}`)].join("\n");
      if (text !== last) opts.log(text);
      last = text;
      lastError = "";
    } catch (e) {
      // A cluster that is still starting does not answer yet; anything else is a real error.
      if (!isUnreachable(e)) throw e;
      lastError = `the API server ${kube.server} did not answer (${(e as Error).message})`;
    }
    if (Date.now() >= deadline) return { healthy: false, report: await giveUpReport(kube, opts, rootLine, lastError) };
    await sleep(Math.min(opts.intervalMs, Math.max(0, deadline - Date.now())));
  }
}

async function giveUpReport(kube: Kube, opts: GateOptions, rootLine: string, lastError: string): Promise<string> {
  const head = `${opts.rootApp} was not Synced and Healthy after ${opts.timeoutMs / 1000}s`;
  if (lastError) return `${head}: ${lastError}.`;
  const apps = await kube.applications(opts.namespace);
  const lines = unhealthyReport(apps, opts.rootApp);
  const marked = markedApps(apps.filter((a) => a.metadata.name !== opts.rootApp));
  return [
    `${head} (${rootLine || "no status"}).`,
    lines.length
      ? "Apps that are not Synced and Healthy:"
      : "Every child app the gate waits for is Synced and Healthy; the root app is still syncing.",
    ...lines,
    ...[...marked].map(([reason, list]) => notAwaitedLine(reason, list)),
    `Look closer with: kubectl -n ${opts.namespace} get applications; the Argo CD UI shows each app's resources and events.`,
    "Run `pulumi up` again to wait again, or set platform:argocd.waitForHealthy to false to skip the wait.",
  ].join("\n");
}
