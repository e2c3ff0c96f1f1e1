/**
 * Ephemeral stacks: what `npm run dev:new` writes and tags, and which stacks `npm run reap`
 * destroys. Pure functions; the commands around them are in scripts/ephemeral.ts.
 */

/** Stack tags of an ephemeral stack. Tag names: at most 40 characters, letters, digits, `-_.:`. */
export const TAGS = {
  ephemeral: "platform:ephemeral",
  expiresAt: "platform:expires-at",
  source: "platform:source",
  /** `platform:cluster.provider`: lets a CI job reap only the stacks its credentials reach. */
  provider: "platform:provider",
} as const;

const UNITS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
export const TTL_LIMITS = { min: 10 * UNITS.m, max: 30 * UNITS.d };

/** `8h`, `90m`, `2d` in milliseconds, or a one-line reason it is not one. */
export function parseTtl(text: string): number | { error: string } {
  const m = /^(\d{1,5})([mhd])$/.exec(text.trim());
  const why = `--ttl must be a duration like 90m, 8h or 2d, from 10m to 30d (got ${JSON.stringify(text)})`;
  if (!m) return { error: why };
  const ms = Number(m[1]) * UNITS[m[2] as keyof typeof UNITS];
  return ms < TTL_LIMITS.min || ms > TTL_LIMITS.max ? { error: why } : ms;
}

/** The tags `dev:new` sets on a stack that lives `ttlMs` from `now`. */
export function ephemeralTags(now: Date, ttlMs: number, source: string, provider: string): Record<string, string> {
  return {
    [TAGS.ephemeral]: "true",
    [TAGS.expiresAt]: new Date(now.getTime() + ttlMs).toISOString(),
    [TAGS.source]: source,
    [TAGS.provider]: provider,
  };
}

/** Names a stack and its cluster (`platform-<name>`, at most 32 characters) can both take. */
const STACK_NAME = /^[a-z]([a-z0-9-]{0,21}[a-z0-9])?$/;
const RESERVED = ["dev", "stage", "prod"];

export function checkStackName(name: string | undefined): string | undefined {
  if (!name) return "usage: npm run dev:new -- <name> [--ttl 8h] [--from dev] [--no-up]: a stack name is required";
  if (RESERVED.includes(name)) return `<name> must not be ${name}: dev, stage and prod are the long-lived stacks`;
  if (!STACK_NAME.test(name)) {
    return `<name> must be 1-23 lowercase letters, digits and '-', starting with a letter and not ending with '-' (its cluster is platform-<name>) (got ${JSON.stringify(name)})`;
  }
  return undefined;
}

export interface StackTags {
  name: string;
  tags: Record<string, string>;
  updateInProgress?: boolean;
}

export interface ReapPlan {
  /** Past their expiry: destroyed and removed. */
  expired: { name: string; expiresAt: string }[];
  /** Ephemeral but kept, and why. */
  kept: { name: string; reason: string }[];
  /** Marked ephemeral with an expiry that is not a time: never destroyed, reported. */
  invalid: { name: string; value: string }[];
}

/**
 * Which stacks the reaper destroys: only those tagged ephemeral whose expiry has passed and
 * that no update is running on (and, with `provider`, whose cluster is of that kind). A stack
 * without the ephemeral tag is never touched, whatever its other tags say.
 */
export function planReap(stacks: StackTags[], now: Date, provider?: string): ReapPlan {
  const plan: ReapPlan = { expired: [], kept: [], invalid: [] };
  for (const s of [...stacks].sort((a, b) => a.name.localeCompare(b.name))) {
    if (s.tags[TAGS.ephemeral] !== "true") continue;
    if (provider !== undefined && s.tags[TAGS.provider] !== provider) continue;
    const value = s.tags[TAGS.expiresAt] ?? "";
    const at = /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?Z$/.test(value) ? Date.parse(value) : NaN;
    if (Number.isNaN(at)) plan.invalid.push({ name: s.name, value });
    else if (at > now.getTime()) plan.kept.push({ name: s.name, reason: `expires ${value}` });
    else if (s.updateInProgress) plan.kept.push({ name: s.name, reason: "an update is running on it" });
    else plan.expired.push({ name: s.name, expiresAt: value });
  }
  return plan;
}

type Config = Record<string, unknown>;
const isObject = (v: unknown): v is Config => v !== null && typeof v === "object" && !Array.isArray(v);

/**
 * The config of a new ephemeral stack from its source stack's file: its own cluster name, never
 * protected, ephemeral, its own Argo CD host (and free host ports on k3d). Encrypted values
 * (`secure:`) are left out here and copied by the CLI, which can decrypt them; `secureKeys` names them.
 */
export function ephemeralConfig(
  source: Config,
  name: string,
  ports?: { api: number; http: number; https: number },
): { config: Config; secureKeys: string[] } {
  const config: Config = {};
  const secureKeys: string[] = [];
  for (const [key, value] of Object.entries(source)) {
    if (isObject(value) && "secure" in value) secureKeys.push(key);
    else if (containsSecure(value)) secureKeys.push(key);
    else config[key] = structuredClone(value);
  }
  const next: Config = { ...(config["platform:cluster"] as Config | undefined), name: `platform-${name}` };
  delete next["protect"];
  if (next["provider"] === "k3d" && ports) {
    next["k3d"] = {
      ...(next["k3d"] as Config | undefined),
      apiPort: ports.api,
      httpPort: ports.http,
      httpsPort: ports.https,
    };
  }
  config["platform:cluster"] = next;
  const argocd = { ...(config["platform:argocd"] as Config | undefined) };
  const host = argocd["hostname"];
  if (next["provider"] === "k3d") argocd["hostname"] = `argocd.${name}.127.0.0.1.nip.io`;
  else if (typeof host === "string") argocd["hostname"] = host.replace(/^([^.]+)/, `$1-${name}`);
  config["platform:argocd"] = argocd;
  config["platform:lifecycle"] = { ...(config["platform:lifecycle"] as Config | undefined), ephemeral: true };
  return { config, secureKeys };
}

function containsSecure(v: unknown): boolean {
  if (Array.isArray(v)) return v.some(containsSecure);
  if (isObject(v)) return "secure" in v || Object.values(v).some(containsSecure);
  return false;
}

/** `{key: {value, objectValue, secret}}`, the form `pulumi config set-all --json` takes. */
export function configJson(config: Config): string {
  const out: Record<string, { value: string; secret: false; objectValue?: unknown }> = {};
  for (const [key, value] of Object.entries(config)) {
    out[key] =
      typeof value === "string"
        ? { value, secret: false }
        : { value: JSON.stringify(value), objectValue: value, secret: false };
  }
  return JSON.stringify(out);
}

/** The k3d host ports each stack file uses, so a new stack never takes another's. */
export function usedK3dPorts(stackConfigs: Config[]): Set<number> {
  const used = new Set<number>();
  for (const c of stackConfigs) {
    const k3d = (c["platform:cluster"] as Config | undefined)?.["k3d"] as Config | undefined;
    for (const [key, fallback] of [
      ["apiPort", 6443],
      ["httpPort", 8080],
      ["httpsPort", 8443],
    ] as const) {
      used.add(Number(k3d?.[key] ?? fallback));
    }
  }
  return used;
}
