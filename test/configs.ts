/** Stack config for the specs, in the flat form Pulumi hands the program. */
import { parseConfig, type PlatformConfig } from "../components/config";

export type RawConfig = Record<string, unknown>;

/** Objects become JSON text, as the Pulumi CLI passes structured config. */
export function flat(raw: RawConfig): Record<string, string> {
  return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]));
}

/** The smallest valid block of each cloud provider: what a user must always write. */
export const MINIMAL_CLOUD = {
  eks: { region: "eu-central-1", kubernetesVersion: "1.35", apiAllowedCidrs: ["198.51.100.0/24"] },
  doks: { region: "fra1", versionPrefix: "1.35", apiAllowedCidrs: ["198.51.100.0/24"] },
  gke: { project: "acme-platform", region: "europe-west1", apiAllowedCidrs: ["198.51.100.0/24"] },
} as const;

/** The smallest valid config of each kind: k3d for dev, a cloud cluster for prod. */
export function minimalConfig(environment: "dev" | "prod"): RawConfig {
  const gitops = { repoURL: "https://github.com/acme/platform.git" };
  return environment === "dev"
    ? { "platform:environment": "dev", "platform:cluster": { provider: "k3d" }, "platform:gitops": gitops }
    : {
        "platform:environment": "prod",
        "platform:cluster": { provider: "eks", eks: MINIMAL_CLOUD.eks },
        "platform:argocd": { hostname: "argocd.example.com" },
        "platform:gitops": gitops,
      };
}

/** The program's typed config for that minimal config (defaults filled by the config module). */
export function parsedConfig(environment: "dev" | "prod"): PlatformConfig {
  return parseConfig(flat(minimalConfig(environment)), environment, () => false);
}
