/**
 * Reads a stack's configuration the way the Pulumi CLI hands it to the program: the project's
 * declared defaults from Pulumi.yaml, overlaid with Pulumi.<stack>.yaml. Objects arrive as JSON
 * text; `secure:` values (which only the CLI can decrypt) become placeholders and mark their key
 * as secret.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as YAML from "yaml";

export const ROOT = path.resolve(__dirname, "..");

export interface StackConfig {
  config: Record<string, string>;
  secretKeys: string[];
}

export function projectFile(): { name: string; config?: Record<string, unknown> } & Record<string, unknown> {
  return YAML.parse(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8"));
}

export function stackNames(): string[] {
  return fs
    .readdirSync(ROOT)
    .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
    .filter((s): s is string => s !== undefined)
    .sort();
}

export function readStackConfig(stack: string): StackConfig {
  const project = projectFile();
  const stackFile = YAML.parse(fs.readFileSync(path.join(ROOT, `Pulumi.${stack}.yaml`), "utf8")) ?? {};
  const values: Record<string, unknown> = {};
  for (const [key, decl] of Object.entries(project.config ?? {})) {
    const full = key.includes(":") ? key : `${project.name}:${key}`;
    if (decl !== null && typeof decl === "object" && !Array.isArray(decl)) {
      const d = decl as { default?: unknown; value?: unknown };
      if (d.value !== undefined) values[full] = d.value;
      else if (d.default !== undefined) values[full] = d.default;
    } else {
      values[full] = decl;
    }
  }
  Object.assign(values, stackFile.config ?? {});

  const config: Record<string, string> = {};
  const secretKeys: string[] = [];
  for (const [key, value] of Object.entries(values)) {
    const secret = { found: false };
    const decoded = replaceSecure(value, () => (secret.found = true));
    if (secret.found) secretKeys.push(key);
    config[key] = typeof decoded === "string" ? decoded : JSON.stringify(decoded);
  }
  return { config, secretKeys };
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
