/**
 * A stand-in for the Pulumi engine, built on the SDK's own mocks (`pulumi.runtime.setMocks`):
 * the program runs as under `pulumi up` or `pulumi preview`, and every resource it registers is
 * recorded with its inputs (secrets kept visible as `Secret` wrappers) and the options that matter.
 * What a cloud would answer comes from a `Cloud`: the specs' fake one, or synth's placeholders.
 */
import * as pulumi from "@pulumi/pulumi";
import * as rpc from "@pulumi/pulumi/runtime/rpc";
import * as settings from "@pulumi/pulumi/runtime/settings";

/** The project name of Pulumi.yaml; URNs carry it. */
export const PROJECT = "platform";

/** A value that was a Pulumi secret when it reached the engine. */
export class Secret {
  constructor(public readonly value: unknown) {}
}

export interface Recorded {
  type: string;
  name: string;
  urn: string;
  custom: boolean;
  parent: string;
  /** URN of the provider reference (`urn::id`), empty when default. */
  provider: string;
  /** Every resource this one waits for: explicit `dependsOn` and those its inputs come from. */
  dependencies: string[];
  /** Per input, the resources its value comes from. */
  propertyDependencies: Record<string, string[]>;
  protect: boolean;
  deleteBeforeReplace: boolean;
  retainOnDelete: boolean;
  deletedWith: string;
  replaceOnChanges: string[];
  ignoreChanges: string[];
  additionalSecretOutputs: string[];
  aliases: string[];
  customTimeouts: { create?: string; update?: string; delete?: string };
  /** Inputs as sent to the engine; secret values are `Secret` instances. */
  inputs: Record<string, unknown>;
}

/** What a cloud answers: the outputs of a new resource, and provider functions' results. */
export interface Cloud {
  /** Outputs of a resource; no `id` (in a preview) makes its id and missing outputs unknown. */
  newResource(type: string, name: string, inputs: Record<string, unknown>, custom: boolean): NewResourceResult;
  /** The result of a provider function such as `aws:index/getAvailabilityZones:getAvailabilityZones`. */
  call(token: string, args: Record<string, unknown>): Record<string, unknown>;
}

export interface NewResourceResult {
  id?: string;
  state: Record<string, unknown>;
}

export interface EngineOptions {
  stack: string;
  cloud: Cloud;
  /** Flat config as the CLI passes it: `"platform:cluster"` → JSON text. */
  config?: Record<string, string>;
  secretKeys?: string[];
  /** Run as `pulumi preview` (outputs the cloud does not give are unknown) rather than `up`. */
  preview?: boolean;
}

const SECRET_SIG = rpc.specialSecretSig;

/** Turns the RPC form of secrets into `Secret` wrappers, recursively. */
function revealSecrets(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(revealSecrets);
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    if (o[rpc.specialSigKey] === SECRET_SIG) return new Secret(revealSecrets(o["value"]));
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, revealSecrets(x)]));
  }
  return v;
}

/** True when a recorded input is, or holds, a value unknown at preview time. */
export function containsUnknown(v: unknown): boolean {
  if (pulumi.isUnknown(v)) return true;
  if (v instanceof Secret) return containsUnknown(v.value);
  if (Array.isArray(v)) return v.some(containsUnknown);
  if (v && typeof v === "object") return Object.values(v).some(containsUnknown);
  return false;
}

/** Removes `Secret` wrappers, for checks that look at values only. */
export function plain(v: unknown): unknown {
  if (v instanceof Secret) return plain(v.value);
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

export class Recorder {
  public readonly resources: Recorded[] = [];
  /** Provider functions the program called (`getKubernetesVersions`, ...), with their arguments. */
  public readonly calls: { token: string; args: Record<string, unknown>; result: Record<string, unknown> }[] = [];

  /** The one resource of a type (and name, if given); fails loudly if there is not exactly one. */
  one(type: string, name?: string): Recorded {
    const found = this.resources.filter((r) => r.type === type && (name === undefined || r.name === name));
    if (found.length !== 1) {
      throw new Error(`expected one ${type}${name ? ` named ${name}` : ""}, found ${found.length}: ${this.summary()}`);
    }
    return found[0] as Recorded;
  }

  all(type: string): Recorded[] {
    return this.resources.filter((r) => r.type === type);
  }

  byUrn(urn: string): Recorded | undefined {
    return this.resources.find((r) => r.urn === urn);
  }

  /** The resource a provider reference (`urn::id`) points at. */
  providerOf(r: Recorded): Recorded | undefined {
    return r.provider ? this.byUrn(r.provider.split("::").slice(0, -1).join("::")) : undefined;
  }

  summary(): string {
    return this.resources.map((r) => `${r.type}/${r.name}`).join(", ") || "(none)";
  }
}

interface MonitorLike {
  registerResource(req: RegisterRequest, cb: (err: unknown, resp: unknown) => void): Promise<void>;
}
interface RegisterRequest {
  getType(): string;
  getName(): string;
  getParent(): string;
  getCustom(): boolean;
  getProvider(): string;
  getDependenciesList(): string[];
  getPropertydependenciesMap(): { forEach(fn: (deps: { getUrnsList(): string[] }, key: string) => void): void };
  getProtect(): boolean;
  getDeletebeforereplace(): boolean;
  getRetainondelete(): boolean;
  getDeletedwith(): string;
  getReplaceonchangesList(): string[];
  getIgnorechangesList(): string[];
  getAdditionalsecretoutputsList(): string[];
  getAliasesList(): { getUrn(): string; hasSpec(): boolean; getSpec(): { getName(): string } | undefined }[];
  getCustomtimeouts(): { getCreate(): string; getUpdate(): string; getDelete(): string } | undefined;
  getObject(): unknown;
}

/** Installs fresh mocks and config for one program run; returns the recorder. */
export async function setup(opts: EngineOptions): Promise<Recorder> {
  const recorder = new Recorder();
  // Like the engine, return the outputs a resource lists in additionalSecretOutputs as secrets.
  const secretOutputs = new Map<string, string[]>();
  pulumi.runtime.setAllConfig(opts.config ?? {}, opts.secretKeys ?? []);
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        const result = opts.cloud.newResource(args.type, args.name, args.inputs as Record<string, unknown>, args.custom ?? true);
        const state = { ...result.state };
        for (const key of secretOutputs.get(`${args.type}::${args.name}`) ?? []) {
          if (key in state) state[key] = { [rpc.specialSigKey]: SECRET_SIG, value: state[key] };
        }
        return { id: result.id, state };
      },
      call: (args) => {
        const inputs = args.inputs as Record<string, unknown>;
        const result = opts.cloud.call(args.token, inputs);
        recorder.calls.push({ token: args.token, args: inputs, result });
        return result;
      },
    },
    PROJECT,
    opts.stack,
    opts.preview ?? false,
  );
  const monitor = (settings as unknown as { getMonitor(): MonitorLike }).getMonitor();
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = async (req, cb) => {
    const inputs = rpc.deserializeProperties(req.getObject() as never, true) as Record<string, unknown>;
    secretOutputs.set(`${req.getType()}::${req.getName()}`, req.getAdditionalsecretoutputsList());
    const timeouts = req.getCustomtimeouts();
    recorder.resources.push({
      type: req.getType(),
      name: req.getName(),
      urn: `urn:pulumi:${opts.stack}::${PROJECT}::${qualifiedType(req.getParent(), req.getType())}::${req.getName()}`,
      custom: req.getCustom(),
      parent: req.getParent(),
      provider: req.getProvider(),
      dependencies: req.getDependenciesList(),
      propertyDependencies: propertyDependencies(req),
      protect: req.getProtect(),
      deleteBeforeReplace: req.getDeletebeforereplace(),
      retainOnDelete: req.getRetainondelete(),
      deletedWith: req.getDeletedwith(),
      replaceOnChanges: req.getReplaceonchangesList(),
      ignoreChanges: req.getIgnorechangesList(),
      additionalSecretOutputs: req.getAdditionalsecretoutputsList(),
      aliases: req.getAliasesList().map((a) => a.getUrn() || (a.getSpec()?.getName() ?? "")),
      customTimeouts: timeouts
        ? Object.fromEntries(
            Object.entries({ create: timeouts.getCreate(), update: timeouts.getUpdate(), delete: timeouts.getDelete() }).filter(
              ([, v]) => v !== "",
            ),
          )
        : {},
      inputs: revealSecrets(inputs) as Record<string, unknown>,
    });
    return register(req, cb);
  };
  return recorder;
}

function propertyDependencies(req: RegisterRequest): Record<string, string[]> {
  const deps: Record<string, string[]> = {};
  req.getPropertydependenciesMap().forEach((v, k) => (deps[k] = v.getUrnsList()));
  return deps;
}

/** Mirrors how the mock monitor builds URNs, so records can be matched to references. */
function qualifiedType(parent: string, type: string): string {
  if (!parent) return type;
  const parentType = (parent.split("::")[2] ?? "").split("$").pop() ?? "";
  return `${parentType}$${type}`;
}

/** Waits until every registration the program started has reached the mock engine. */
export async function settle(): Promise<void> {
  await (settings as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs();
}
