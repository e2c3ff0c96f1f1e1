/**
 * Where `npm run` commands keep Pulumi state: the user's backend when one is configured, otherwise
 * a local file backend in the project (no account needed) with a generated passphrase.
 */
import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { ROOT } from "./synth/stack-config";

/**
 * For a destroy: pulumi-kubernetes then drops the objects of a cluster it cannot reach from state
 * instead of failing on them. Only for destroys (never set in the provider, where it would make
 * every `pulumi refresh` during an outage drop them too), and only where the cluster goes with
 * the stack or the stack is ephemeral: the GitOps drain still stops a destroy that would leave
 * cloud resources behind.
 */
export const DELETE_UNREACHABLE = { PULUMI_K8S_DELETE_UNREACHABLE: "true" } as const;

/** The project directory (Pulumi.yaml). */
export { ROOT };

/**
 * The environment pulumi runs with: the user's backend if one is configured, otherwise a local
 * file backend in the project with a generated passphrase (never the user's global login).
 */
export function backendEnv(): { env: NodeJS.ProcessEnv; local: boolean } {
  const env = { ...process.env };
  const stateDir = path.resolve(process.env["PLATFORM_LOCAL_STATE_DIR"] ?? path.join(ROOT, ".pulumi-state"));
  if (env["PULUMI_BACKEND_URL"]) return { env, local: false };
  const useLocal =
    fs.existsSync(stateDir) ||
    spawnSync("pulumi", ["whoami", "--non-interactive"], { cwd: ROOT, encoding: "utf8" }).status !== 0;
  if (!useLocal) return { env, local: false };

  if (!fs.existsSync(stateDir)) {
    fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    console.log(`No Pulumi backend is configured: keeping this stack's state in ${stateDir} (local file backend).`);
  }
  env["PULUMI_BACKEND_URL"] = `file://${stateDir}`;
  if (!env["PULUMI_CONFIG_PASSPHRASE"] && !env["PULUMI_CONFIG_PASSPHRASE_FILE"]) {
    const file = path.join(stateDir, "passphrase");
    if (!fs.existsSync(file)) {
      fs.writeFileSync(file, crypto.randomBytes(32).toString("hex"), { mode: 0o600 });
      console.log(`Generated the passphrase that encrypts this stack's secrets: ${file} (keep it; it is not in Git).`);
    }
    env["PULUMI_CONFIG_PASSPHRASE_FILE"] = file;
  }
  return { env, local: true };
}
