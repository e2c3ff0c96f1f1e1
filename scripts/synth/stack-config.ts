/**
 * Reads a stack's configuration the way the Pulumi CLI hands it to the program: the project's
 * declared defaults from Pulumi.yaml, overlaid with Pulumi.<stack>.yaml. Objects arrive as JSON
 * text; `secure:` values (which only the CLI can decrypt) become placeholders and mark their key
 * as secret.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as YAML from "yaml";

/** The project directory (Pulumi.yaml); PLATFORM_PROJECT_DIR points the commands at another copy (the specs do). */
export const ROOT = path.resolve(process.env["PLATFORM_PROJECT_DIR"] ?? path.join(__dirname, "..", ".."));

export interface StackConfig {
  config: Record<string, string>;
  secretKeys: string[];
}

export function projectFile(): { name: string; config?: Record<string, unknown> } & Record<string, unknown> {
  return YAML.parse(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8")) as ReturnType<typeof projectFile>;
}

/**
 * The project's stacks: the stack files Git tracks (dev, stage, prod and any a team commits). The
 * specs, `npm run synth -- --all` and CI cover these. A personal stack (Pulumi.dev-<you>.yaml,
 * which Git ignores), an ephemeral one (`npm run dev:new`) or any other untracked stack file is
 * left out; name it to synthesize it. Outside a Git checkout, every stack file counts.
 */
export function stackNames(): string[] {
  const isStackFile = (f: string) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1];
  const git = spawnSync("git", ["ls-files", "-z", "--", "Pulumi.*.yaml"], { cwd: ROOT, encoding: "utf8" });
  const files =
    git.status === 0 && !git.error
      ? git.stdout.split("\0").filter((f) => f && !f.includes("/") && fs.existsSync(path.join(ROOT, f)))
      : fs.readdirSync(ROOT);
  return files
    .map(isStackFile)
    .filter((s): s is string => s !== undefined)
    .sort();
}

/** The example stack files a user copies to Pulumi.<stack>.yaml: examples/stacks/<name>.yaml. */
export const EXAMPLES_DIR = path.join(ROOT, "examples", "stacks");

export function exampleNames(): string[] {
  return fs
    .readdirSync(EXAMPLES_DIR)
    .filter((f) => f.endsWith(".yaml"))
    .map((f) => f.replace(/\.yaml$/, ""))
    .sort();
}

/** The file of a stack: Pulumi.<stack>.yaml, or an example when the name is `examples/<name>`. */
export function stackPath(stack: string): string {
  const example = /^examples\/(.+)$/.exec(stack)?.[1];
  return example ? path.join(EXAMPLES_DIR, `${example}.yaml`) : path.join(ROOT, `Pulumi.${stack}.yaml`);
}

/** The `config:` block of a stack file as written, before the CLI merges anything in. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- free-form YAML; callers pick the keys they know
export function stackFile(stack: string): Record<string, any> {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- as above
  const parsed = (YAML.parse(fs.readFileSync(stackPath(stack), "utf8")) ?? {}) as { config?: Record<string, any> };
  return parsed.config ?? {};
}

/**
 * The config the CLI would hand the program for a stack, with `overrides` applied on top of the
 * stack file. Like the CLI, it refuses a stack that lacks a declared key without a default.
 */
export function readStackConfig(stack: string, overrides: Record<string, unknown> = {}): StackConfig {
  const project = projectFile();
  const values: Record<string, unknown> = { ...stackFile(stack), ...overrides };
  const missing: string[] = [];
  for (const [key, decl] of Object.entries(project.config ?? {})) {
    const full = key.includes(":") ? key : `${project.name}:${key}`;
    if (full in values) continue;
    const d = (decl !== null && typeof decl === "object" && !Array.isArray(decl) ? decl : { default: decl }) as {
      default?: unknown;
      value?: unknown;
    };
    if (d.value !== undefined) values[full] = d.value;
    else if (d.default !== undefined) values[full] = d.default;
    else if (full.startsWith(`${project.name}:`)) missing.push(key);
  }
  if (missing.length > 0) throw new Error(missingKeysMessage(stack, missing));

  const config: Record<string, string> = {};
  const secretKeys: string[] = [];
  for (const [key, value] of Object.entries(values)) {
    const secret = { found: false };
    const decoded = replaceSecure(value, () => (secret.found = true));
    if (secret.found) secretKeys.push(key);
    config[key] = typeof decoded === "string" ? decoded : JSON.stringify(decoded);
  }
  // The kubeconfig of an existing cluster is read, not only passed on: a placeholder one, for
  // the context the stack names, stands in for the encrypted text.
  const kubeconfigKey = `${project.name}:kubeconfig`;
  if (secretKeys.includes(kubeconfigKey)) {
    const cluster = values[`${project.name}:cluster`] as { existing?: { context?: unknown } } | undefined;
    const context = cluster?.existing?.context;
    config[kubeconfigKey] = placeholderKubeconfig(typeof context === "string" ? context : "placeholder");
  }
  return { config, secretKeys };
}

/** A kubeconfig whose only context points at a server that does not exist. */
function placeholderKubeconfig(context: string): string {
  return YAML.stringify({
    apiVersion: "v1",
    kind: "Config",
    "current-context": context,
    clusters: [{ name: "placeholder", cluster: { server: "https://kubernetes.invalid" } }],
    contexts: [{ name: context, context: { cluster: "placeholder", user: "placeholder" } }],
    users: [{ name: "placeholder", user: {} }],
  });
}

/** The Pulumi CLI's words for required keys a stack lacks (pkg workspace, mergeConfig). */
function missingKeysMessage(stack: string, keys: string[]): string {
  const quoted = [...keys].sort().map((k) => `'${k}'`);
  const list = quoted.length === 1 ? quoted[0] : `${quoted.slice(0, -1).join(", ")} and ${quoted.at(-1)}`;
  return `Stack '${stack}' is missing configuration value${keys.length > 1 ? "s" : ""} ${list}`;
}

function replaceSecure(v: unknown, onSecret: () => void): unknown {
  if (Array.isArray(v)) return v.map((x) => replaceSecure(x, onSecret));
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    if (Object.keys(o).length === 1 && typeof o["secure"] === "string") {
      onSecret();
      return "[secure value: only the Pulumi CLI can decrypt it]";
    }
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, replaceSecure(x, onSecret)]));
  }
  return v;
}
