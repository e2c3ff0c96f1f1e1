/**
 * Ephemeral stacks, through Pulumi's Automation API:
 *
 *   npm run dev:new -- <name> [--ttl 8h] [--from dev] [--no-up] [-- <pulumi up flags>]
 *   npm run dev:rm -- <name>
 *   npm run reap [-- --dry-run] [--provider eks|doks|gke|k3d]
 *
 * `dev:new` creates stack <name> from Pulumi.<from>.yaml (its own cluster name and Argo CD host,
 * free host ports on k3d, never protected, `platform:lifecycle.ephemeral`), copies the source's
 * encrypted values, gives it a sealed-secrets key when it has none, tags it with its expiry, and
 * brings it up with `npm run up`. Run again for an ephemeral stack that exists (a CI runner has no
 * stack file of its own), it rewrites the config and the expiry and brings it up again. `reap`
 * destroys and removes every ephemeral stack past its expiry; `dev:rm` one ephemeral stack now. Same backend as `npm run up` (scripts/backend.ts).
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import type * as automation from "@pulumi/pulumi/automation";
import * as YAML from "yaml";
import { backendEnv, ROOT, DELETE_UNREACHABLE } from "./backend";
import {
  checkStackName,
  configJson,
  ephemeralConfig,
  ephemeralTags,
  parseTtl,
  planReap,
  TAGS,
  usedK3dPorts,
} from "./ephemeral/stacks";
import { ensureSealedSecretsKey } from "./sealed-secrets-key";

class Stop extends Error {}

const DEFAULT_TTL = "8h";

/** The Automation API, loaded when a command runs (it is large). */
function auto(): typeof automation {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use only
  return require("@pulumi/pulumi/automation") as typeof automation;
}

async function workspace(): Promise<{ ws: automation.LocalWorkspace; env: Record<string, string>; local: boolean }> {
  const { env, local } = backendEnv();
  const plainEnv = Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
  const ws = await auto().LocalWorkspace.create({
    workDir: ROOT,
    envVars: plainEnv,
    ...(local ? { secretsProvider: "passphrase" } : {}),
  });
  return { ws, env: plainEnv, local };
}

function stackFile(stack: string): string {
  return path.join(ROOT, `Pulumi.${stack}.yaml`);
}

function readConfig(file: string): Record<string, unknown> {
  const parsed = YAML.parse(fs.readFileSync(file, "utf8")) as { config?: Record<string, unknown> } | null;
  return parsed?.config ?? {};
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** Host ports for a new k3d cluster: free now, and not in any stack file of this project. */
async function k3dPorts(): Promise<{ api: number; http: number; https: number }> {
  const files = fs.readdirSync(ROOT).filter((f) => /^Pulumi\..+\.yaml$/.test(f));
  const used = usedK3dPorts(files.map((f) => readConfig(path.join(ROOT, f))));
  for (let i = 1; i <= 100; i++) {
    const ports = { api: 6443 + i, http: 8080 + i * 10, https: 8443 + i * 10 };
    const all = [ports.api, ports.http, ports.https];
    if (all.some((p) => used.has(p))) continue;
    if ((await Promise.all(all.map(portFree))).every(Boolean)) return ports;
  }
  throw new Stop("no free host ports for a k3d cluster between 6444 and 9443; remove an ephemeral stack first");
}

function currentPorts(config: Record<string, unknown>): { api: number; http: number; https: number } {
  const [api, http, https] = [...usedK3dPorts([config])];
  return { api: api ?? 6443, http: http ?? 8080, https: https ?? 8443 };
}

/** Keeps the stack file of an ephemeral stack out of commits (it is this machine's). */
function excludeFromGit(file: string): void {
  const exclude = path.join(ROOT, ".git", "info", "exclude");
  if (!fs.existsSync(path.dirname(exclude))) return;
  const line = `/${path.basename(file)}`;
  const current = fs.existsSync(exclude) ? fs.readFileSync(exclude, "utf8") : "";
  if (!current.split("\n").includes(line))
    fs.appendFileSync(exclude, `${current.endsWith("\n") || !current ? "" : "\n"}${line}\n`);
}

interface NewArgs {
  name: string;
  ttlMs: number;
  ttl: string;
  from: string;
  up: boolean;
  pulumiFlags: string[];
}

function parseNewArgs(argv: string[]): NewArgs {
  const [name, ...rest] = argv;
  const problem = checkStackName(name?.startsWith("-") ? undefined : name);
  if (problem) throw new Stop(problem);
  let ttl = DEFAULT_TTL;
  let from = "dev";
  let up = true;
  const pulumiFlags: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const flag = rest[i] ?? "";
    if (flag === "--ttl") ttl = rest[++i] ?? "";
    else if (flag.startsWith("--ttl=")) ttl = flag.slice(6);
    else if (flag === "--from") from = rest[++i] ?? "";
    else if (flag.startsWith("--from=")) from = flag.slice(7);
    else if (flag === "--no-up") up = false;
    else pulumiFlags.push(flag);
  }
  const ttlMs = parseTtl(ttl);
  if (typeof ttlMs === "object") throw new Stop(ttlMs.error);
  return { name: name ?? "", ttlMs, ttl, from, up, pulumiFlags };
}

async function createEphemeral(argv: string[]): Promise<number> {
  const args = parseNewArgs(argv);
  const sourceFile = stackFile(args.from);
  if (!fs.existsSync(sourceFile)) {
    throw new Stop(`--from must name a stack with a Pulumi.<stack>.yaml here (got ${JSON.stringify(args.from)})`);
  }
  const source = readConfig(sourceFile);
  if (source["platform:environment"] === "prod") {
    throw new Stop(`--from must not be a prod stack: an ephemeral stack copies dev or stage (got ${args.from})`);
  }
  const kind = (source["platform:cluster"] as { provider?: unknown } | undefined)?.provider;
  const provider = typeof kind === "string" ? kind : "";
  const { ws, env } = await workspace();
  const existing = (await stacksWithTags(ws)).find((s) => s.name === args.name);
  if (existing && existing.tags[TAGS.ephemeral] !== "true") {
    throw new Stop(`stack ${args.name} exists and is not ephemeral (no ${TAGS.ephemeral} tag); pick another name`);
  }
  // An existing stack keeps its host ports (they are in its stack file, when this machine has it).
  const current = fs.existsSync(stackFile(args.name)) ? readConfig(stackFile(args.name)) : undefined;
  const ports = provider === "k3d" ? (current ? currentPorts(current) : await k3dPorts()) : undefined;
  const { config, secureKeys } = ephemeralConfig(source, args.name, ports);

  if (existing) console.log(`Stack ${args.name} exists: refreshing its config from ${args.from} and its expiry.`);
  else await ws.createStack(args.name);
  excludeFromGit(stackFile(args.name));
  await ws.setAllConfigJson(args.name, configJson(config));
  // Encrypted values are re-encrypted for the new stack by the CLI; they never pass through here.
  for (const key of secureKeys) {
    const r = spawnSync("pulumi", ["config", "cp", key, "--stack", args.from, "--dest", args.name], {
      cwd: ROOT,
      env,
      encoding: "utf8",
    });
    if (r.status !== 0) {
      console.warn(
        `Could not copy ${key} from ${args.from} (${(r.stderr || r.stdout).trim().split("\n")[0] ?? ""}); set it on ${args.name} with pulumi config set --secret.`,
      );
    }
  }
  const key = ensureSealedSecretsKey(args.name, env, ROOT);
  if (typeof key === "object") throw new Stop(key.error);
  const tags = ephemeralTags(new Date(), args.ttlMs, args.from, provider);
  for (const [tag, value] of Object.entries(tags)) await ws.setTag(args.name, tag, value);

  console.log(
    `${existing ? "Refreshed" : "Created"} ephemeral stack ${args.name} from ${args.from}; it expires ${tags[TAGS.expiresAt]} (in ${args.ttl}). ` +
      `\`npm run reap\` destroys it after that; \`npm run dev:rm -- ${args.name}\` does now.`,
  );
  if (!args.up) return 0;
  const up = spawnSync(
    process.execPath,
    [
      "--require",
      path.join(ROOT, "scripts/register.cjs"),
      path.join(ROOT, "scripts/dev.ts"),
      "up",
      "--stack",
      args.name,
      ...args.pulumiFlags,
    ],
    { cwd: ROOT, stdio: "inherit", env: process.env },
  );
  return up.status ?? 1;
}

/** Destroys a stack's resources and removes the stack (and its stack file). */
async function destroyAndRemove(ws: automation.LocalWorkspace, name: string): Promise<boolean> {
  console.log(`Destroying ${name} ...`);
  try {
    const stack = await auto().Stack.select(name, ws);
    // An ephemeral stack's destroy completes when its cluster is already gone (for this destroy only).
    Object.assign(ws.envVars, DELETE_UNREACHABLE);
    try {
      await stack.destroy({ onOutput: (out) => process.stdout.write(out), remove: true });
    } finally {
      ws.envVars = Object.fromEntries(Object.entries(ws.envVars).filter(([k]) => !(k in DELETE_UNREACHABLE)));
    }
    console.log(`Destroyed and removed ${name}.`);
    return true;
  } catch (e) {
    const message = (e instanceof Error ? e.message : String(e)).trim().split("\n").slice(-3).join(" ");
    console.error(`Could not destroy ${name}: ${message}. Run \`npm run dev:rm -- ${name}\` to try again.`);
    return false;
  }
}

async function stacksWithTags(ws: automation.LocalWorkspace) {
  const stacks = await ws.listStacks();
  return Promise.all(
    stacks.map(async (s) => ({
      name: s.name,
      updateInProgress: s.updateInProgress ?? false,
      tags: await ws.listTags(s.name),
    })),
  );
}

async function remove(argv: string[]): Promise<number> {
  const [name] = argv;
  if (!name || argv.length !== 1) throw new Stop("usage: npm run dev:rm -- <name>");
  const { ws } = await workspace();
  const found = (await stacksWithTags(ws)).find((s) => s.name === name);
  if (!found) {
    // Idempotent, like rm -f: a pull request closed before its stack was made has nothing to remove.
    console.log(`There is no stack ${name} in this backend: nothing to destroy.`);
    return 0;
  }
  if (found.tags[TAGS.ephemeral] !== "true") {
    throw new Stop(
      `stack ${name} is not ephemeral (no ${TAGS.ephemeral} tag); destroy it with npm run down -- --stack ${name}`,
    );
  }
  return (await destroyAndRemove(ws, name)) ? 0 : 1;
}

const PROVIDERS = ["k3d", "eks", "doks", "gke"];

async function reap(argv: string[]): Promise<number> {
  let dryRun = false;
  let provider: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--dry-run") dryRun = true;
    else if (a === "--provider" && PROVIDERS.includes(argv[i + 1] ?? "")) provider = argv[++i];
    else {
      throw new Stop(
        `usage: npm run reap [-- --dry-run] [--provider ${PROVIDERS.join("|")}] (got ${JSON.stringify(argv.slice(i).join(" "))})`,
      );
    }
  }
  const { ws } = await workspace();
  const plan = planReap(await stacksWithTags(ws), new Date(), provider);
  for (const s of plan.invalid) {
    console.warn(
      `Skipping ${s.name}: its ${TAGS.expiresAt} tag is not a UTC time like 2026-11-22T18:00:00Z (got ${JSON.stringify(s.value)}).`,
    );
  }
  for (const s of plan.kept) console.log(`Keeping ${s.name}: ${s.reason}.`);
  for (const s of plan.expired)
    console.log(`${dryRun ? "Would destroy" : "Expired"}: ${s.name} (expired ${s.expiresAt}).`);
  if (dryRun) return 0;
  let failed = 0;
  for (const s of plan.expired) if (!(await destroyAndRemove(ws, s.name))) failed++;
  console.log(`Reaped ${plan.expired.length - failed}, kept ${plan.kept.length}, failed ${failed}.`);
  return failed ? 1 : 0;
}

const COMMANDS: Record<string, (argv: string[]) => Promise<number>> = { new: createEphemeral, rm: remove, reap };

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const run = command ? COMMANDS[command] : undefined;
  if (!run) throw new Stop(`usage: ephemeral.ts new|rm|reap ... (got ${JSON.stringify(command ?? "")})`);
  return run(rest);
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (e: unknown) => {
    console.error(e instanceof Stop ? e.message : e instanceof Error ? e.message : String(e));
    process.exitCode = 1;
  },
);
