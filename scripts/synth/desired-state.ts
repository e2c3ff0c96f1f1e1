/**
 * A stack's desired state without the Pulumi CLI or a cloud: the program runs as in a preview of a
 * new stack (the SDK's mocks stand in for the engine) and everything it registers is written out
 * as YAML, sorted, with secrets as `[secret]` and what only the cloud knows as `(known after apply)`.
 */
import * as pulumi from "@pulumi/pulumi";
import * as YAML from "yaml";
import { ConfigError } from "../../components/config";
import { type Cloud, plain, PROJECT, type Recorded, Secret } from "./engine";
import { runProgram } from "./run";
import { readStackConfig, type StackConfig } from "./stack-config";

export const SECRET = "[secret]";
export const UNKNOWN = "(known after apply)";

/**
 * Answers a preview would get from the cloud, for the provider functions the program calls. They
 * stand in for the cloud's own and are listed under `lookups:` in the output, so a reader sees what
 * was assumed. A function not listed here stops synth with a message naming it.
 */
const LOOKUPS: Record<string, (args: Record<string, unknown>) => Record<string, unknown>> = {
  "aws:index/getAvailabilityZones:getAvailabilityZones": () => ({
    names: [1, 2, 3, 4, 5, 6].map((i) => `(available zone ${i})`),
    zoneIds: [1, 2, 3, 4, 5, 6].map((i) => `(available zone id ${i})`),
  }),
  "aws:index/getCallerIdentity:getCallerIdentity": () => ({
    accountId: "(account id)",
    arn: "(the deploying identity)",
    userId: "(user id)",
  }),
  "aws:iam/getSessionContext:getSessionContext": (args) => ({
    ...args,
    issuerArn: "(the deploying identity's role or user ARN)",
  }),
  "aws:eks/getAddonVersion:getAddonVersion": (args) => ({
    ...args,
    version: `(EKS default ${String(args["addonName"])} for ${String(args["kubernetesVersion"])})`,
  }),
  "digitalocean:index/getKubernetesVersions:getKubernetesVersions": (args) => {
    const prefix = typeof args["versionPrefix"] === "string" ? args["versionPrefix"] : "";
    const latest = `${prefix}(latest patch)`;
    return { versionPrefix: args["versionPrefix"], latestVersion: latest, validVersions: [latest] };
  },
  // A new stack: no cluster of that name runs yet, as the provider's data source answers it.
  "digitalocean:index/getKubernetesCluster:getKubernetesCluster": (args) => {
    const details = `Unable to find cluster with name: ${String(args["name"])}`;
    // The SDK makes an invoke's error from the gRPC details, as the engine sends them.
    throw Object.assign(new Error(details), { details });
  },
  "gcp:organizations/getProject:getProject": (args) => ({ ...args, number: "(project number)" }),
};

/** The cloud of a preview of a new stack: outputs are the inputs, ids and the rest unknown. */
export const PREVIEW_CLOUD: Cloud = {
  newResource: (_type, _name, inputs) => ({ state: inputs }),
  call: (token, args) => {
    const answer = LOOKUPS[token];
    if (!answer) throw new Error(`synth has no stand-in answer for ${token}; add one to LOOKUPS in ${__filename}`);
    return answer(args);
  },
};

/** Raised when the program itself fails for a stack (bad config, a failed check). */
export class SynthError extends Error {}

/**
 * The lines to show for a program that stopped: every problem of bad config (one line each, as
 * `pulumi up` prints them), or the first line of any other error (the rest is its stack).
 */
function problemLines(stack: string, error: Error): string[] {
  const lines = error instanceof ConfigError ? error.problems : [error.message.split("\n")[0] ?? ""];
  return lines.map((line) => `${stack}: ${line}`);
}

/** The desired state of a stack (`prod`) or example (`examples/eks`) as YAML text. */
export async function synthesize(stack: string, config?: StackConfig): Promise<string> {
  let stackConfig: StackConfig;
  try {
    stackConfig = config ?? readStackConfig(stack);
  } catch (e) {
    throw new SynthError(`${stack}: ${(e as Error).message}`);
  }
  const run = await runProgram(stack, { cloud: PREVIEW_CLOUD, preview: true, config: stackConfig, echoWarnings: false });
  if (run.error) throw new SynthError(problemLines(stack, run.error).join("\n"));
  const resources = [...run.recorder.resources].sort((a, b) => compare(a.urn, b.urn)).map(describe);
  const outputs: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(run.outputs ?? {}).sort(([a], [b]) => compare(a, b))) {
    // An export the stack does not set (undefined) is not a stack output, as in `pulumi stack output`.
    if (value !== undefined) outputs[key] = await exported(value);
  }
  const lookups = run.recorder.calls
    .map((c) => ({ function: c.token, args: view(c.args), answer: view(c.result) }))
    .sort((a, b) => compare(JSON.stringify(a), JSON.stringify(b)));
  const doc = {
    stack: stack.replace(/^examples\//, ""),
    project: PROJECT,
    config: stackConfigView(stackConfig),
    warnings: run.warnings,
    lookups,
    resources,
    outputs,
  };
  const header = [
    `# Desired state of ${stack.startsWith("examples/") ? `the example stack file ${stack}` : `stack ${stack}`}, as a preview of a new stack would register it.`,
    "# Written by `npm run synth`; do not edit. Secrets show as [secret]; what only the cloud knows,",
    "# as (known after apply); `lookups` are stand-ins for the cloud's answers; `warnings` are the program's.",
  ].join("\n");
  return `${header}\n${YAML.stringify(doc, { lineWidth: 0, aliasDuplicateObjects: false })}`;
}

/** The name a reference reads as: `type::name`, from a URN (or a provider reference `urn::id`). */
function refName(urn: string): string {
  const parts = urn.split("::");
  return `${(parts[2] ?? "").split("$").pop() ?? ""}::${parts[3] ?? ""}`;
}

function describe(r: Recorded): Record<string, unknown> {
  const fromInputs = new Set(Object.values(r.propertyDependencies).flat());
  const explicit = r.dependencies.filter((u) => !fromInputs.has(u) && u !== r.parent);
  const sorted = (urns: string[]) => [...new Set(urns.map(refName))].sort(compare);
  const d: Record<string, unknown> = { resource: `${r.type}::${r.name}` };
  if (r.parent && !r.parent.endsWith("::pulumi:pulumi:Stack")) d["parent"] = refName(r.parent);
  if (r.provider) d["provider"] = refName(r.provider);
  if (r.protect) d["protect"] = true;
  if (explicit.length > 0) d["dependsOn"] = sorted(explicit);
  if (r.ignoreChanges.length > 0) d["ignoreChanges"] = [...r.ignoreChanges].sort(compare);
  if (r.replaceOnChanges.length > 0) d["replaceOnChanges"] = [...r.replaceOnChanges].sort(compare);
  if (r.deleteBeforeReplace) d["deleteBeforeReplace"] = true;
  if (r.retainOnDelete) d["retainOnDelete"] = true;
  if (r.deletedWith) d["deletedWith"] = refName(r.deletedWith);
  if (r.additionalSecretOutputs.length > 0) d["secretOutputs"] = [...r.additionalSecretOutputs].sort(compare);
  if (Object.keys(r.customTimeouts).length > 0) d["customTimeouts"] = r.customTimeouts;
  if (r.aliases.length > 0) d["aliases"] = [...r.aliases].sort(compare);
  const inputs = view(r.inputs) as Record<string, unknown>;
  if (Object.keys(inputs).length > 0) d["inputs"] = inputs;
  return d;
}

/** A recorded value as it reads in the output: secrets and unknowns replaced, keys sorted. */
function view(v: unknown): unknown {
  if (v instanceof Secret) return SECRET;
  if (pulumi.isUnknown(v)) return UNKNOWN;
  if (Array.isArray(v)) return v.map(view);
  if (v && typeof v === "object") {
    if (pulumi.asset.Asset.isInstance(v) || pulumi.asset.Archive.isInstance(v)) return `(asset ${JSON.stringify(plain(v))})`;
    return Object.fromEntries(
      Object.entries(v)
        .filter(([, x]) => x !== undefined)
        .sort(([a], [b]) => compare(a, b))
        .map(([k, x]) => [k, view(x)]),
    );
  }
  return v;
}

/** A stack export as `pulumi stack output` would show it after a preview. */
async function exported(o: pulumi.Output<unknown>): Promise<unknown> {
  const out = o as unknown as { promise(): Promise<unknown>; isKnown: Promise<boolean>; isSecret: Promise<boolean> };
  if (await out.isSecret) return SECRET;
  if (!(await out.isKnown)) return UNKNOWN;
  return view(await out.promise());
}

/** The stack's config: JSON values read back as objects, secret keys as `[secret]`. */
function stackConfigView(config: StackConfig): Record<string, unknown> {
  const secret = new Set(config.secretKeys);
  return Object.fromEntries(
    Object.entries(config.config)
      .sort(([a], [b]) => compare(a, b))
      .map(([k, v]) => [k, secret.has(k) ? SECRET : view(parseJson(v))]),
  );
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** Code-point order, the same on every machine and locale. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
