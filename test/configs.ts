/** Stack config for the specs, in the flat form Pulumi hands the program. */
import { parseConfig, type PlatformConfig } from "../components/config";

export type RawConfig = Record<string, unknown>;

/** Objects become JSON text, as the Pulumi CLI passes structured config. */
export function flat(raw: RawConfig): Record<string, string> {
  return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]));
}

/** The smallest valid config of each kind: k3d for dev, a cloud cluster for prod. */
export function minimalConfig(environment: "dev" | "prod"): RawConfig {
  const gitops = { repoURL: "https://github.com/acme/platform.git" };
  return environment === "dev"
    ? { "platform:environment": "dev", "platform:cluster": { provider: "k3d" }, "platform:gitops": gitops }
    : {
        "platform:environment": "prod",
        "platform:cluster": { provider: "eks" },
        "platform:argocd": { hostname: "argocd.example.com" },
        "platform:gitops": gitops,
      };
}

/** The program's typed config for that minimal config (defaults filled by the config module). */
export function parsedConfig(environment: "dev" | "prod"): PlatformConfig {
  return parseConfig(flat(minimalConfig(environment)), environment, () => false);
}
