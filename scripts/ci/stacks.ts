/**
 * Which stacks a CI run works on: every stack file with its environment, cloud and region, and
 * which of them a change touches. A k3d stack lives on a developer's laptop, so CI never previews
 * or deploys it; its pull requests get the offline desired-state diff instead.
 */
import { stackFile, stackNames } from "../synth/stack-config";

export interface StackInfo {
  stack: string;
  environment: string;
  /** `platform:cluster.provider`: k3d, eks, doks or gke. */
  provider: string;
  /** The cloud region the stack's cluster lives in; empty for k3d. */
  region: string;
  /** True when CI can reach the stack's cluster and cloud (not a laptop's k3d). */
  cloud: boolean;
}

/** Files that change what every stack's program does. */
const PROGRAM_FILES: readonly RegExp[] = [
  /^index\.ts$/,
  /^main\.js$/,
  /^components\//,
  /^policy\//,
  /^scripts\/register\.cjs$/,
  /^Pulumi\.yaml$/,
  /^package(-lock)?\.json$/,
  /^\.npmrc$/,
];

export function stackInfo(stack: string): StackInfo {
  const file = stackFile(stack);
  const cluster = (file["platform:cluster"] ?? {}) as Record<string, unknown>;
  const provider = typeof cluster["provider"] === "string" ? cluster["provider"] : "";
  const block = (cluster[provider] ?? {}) as Record<string, unknown>;
  return {
    stack,
    environment: String(file["platform:environment"] ?? ""),
    provider,
    region: typeof block["region"] === "string" ? block["region"] : "",
    cloud: provider !== "" && provider !== "k3d",
  };
}

export function allStacks(): StackInfo[] {
  return stackNames().map(stackInfo);
}

/** The stacks whose desired state a change to `files` (paths from the repository root) can alter. */
export function stacksTouched(files: readonly string[], stacks: readonly string[]): string[] {
  if (files.some((f) => PROGRAM_FILES.some((re) => re.test(f)))) return [...stacks];
  return stacks.filter((s) => files.includes(`Pulumi.${s}.yaml`));
}
