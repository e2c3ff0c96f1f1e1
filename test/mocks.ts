/**
 * Pulumi mocks for the specs: every registered resource is recorded with its inputs (secrets
 * kept visible as `Secret` wrappers) and the options that matter (parent, provider, dependencies,
 * protect, replace behaviour, secret outputs). Specs import the code under test after `setup()`.
 */
import * as pulumi from "@pulumi/pulumi";
import * as rpc from "@pulumi/pulumi/runtime/rpc";
import * as settings from "@pulumi/pulumi/runtime/settings";

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
  dependencies: string[];
  protect: boolean;
  deleteBeforeReplace: boolean;
  replaceOnChanges: string[];
  ignoreChanges: string[];
  additionalSecretOutputs: string[];
  /** Inputs as sent to the engine; secret values are `Secret` instances. */
  inputs: Record<string, unknown>;
}

/** Outputs a fake cloud would return, per resource type. */
export const FAKE = {
  kubeconfig: "apiVersion: v1\nkind: Config\nclusters: []\n# mock kubeconfig\n",
  passwordSetAt: "2026-11-22T06:00:00Z",
  adminPassword: "mock-admin-password",
  adminPasswordBcrypt: "$2a$10$mockmockmockmockmockmu0000000000000000000000000000000000",
};

function outputsFor(type: string, inputs: Record<string, unknown>): Record<string, unknown> {
  switch (type) {
    case "command:local:Command": {
      const script = String(inputs["create"]);
      const stdout = script.includes("k3d kubeconfig get")
        ? FAKE.kubeconfig
        : script.startsWith("date -u")
          ? `${FAKE.passwordSetAt}\n`
          : "";
      return { ...inputs, stdout, stderr: "" };
    }
    case "random:index/randomPassword:RandomPassword":
      return { ...inputs, result: FAKE.adminPassword, bcryptHash: FAKE.adminPasswordBcrypt };
    case "kubernetes:helm.sh/v3:Release":
      return { ...inputs, status: { name: inputs["name"], namespace: inputs["namespace"], status: "deployed" } };
    default:
      return inputs;
  }
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

/** Removes `Secret` wrappers, for checks that look at values only. */
export function plain(v: unknown): unknown {
  if (v instanceof Secret) return plain(v.value);
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

export class Recorder {
  public readonly resources: Recorded[] = [];

  /** The one resource of a type (and name, if given); fails loudly if there is not exactly one. */
  one(type: string, name?: string): Recorded {
    const found = this.resources.filter((r) => r.type === type && (name === undefined || r.name === name));
    if (found.length !== 1) {
      throw new Error(`expected one ${type}${name ? ` named ${name}` : ""}, found ${found.length}: ${this.summary()}`);
    }
    return found[0]!;
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
  getProtect(): boolean;
  getDeletebeforereplace(): boolean;
  getReplaceonchangesList(): string[];
  getIgnorechangesList(): string[];
  getAdditionalsecretoutputsList(): string[];
  getObject(): unknown;
}

export interface SetupOptions {
  stack: string;
  /** Flat config as the CLI passes it: `"platform:cluster"` → JSON text. */
  config?: Record<string, string>;
  secretKeys?: string[];
  preview?: boolean;
}

/** Installs fresh mocks and config for one program run; returns the recorder. */
export async function setup(opts: SetupOptions): Promise<Recorder> {
  const recorder = new Recorder();
  // Like the engine, return the outputs a resource lists in additionalSecretOutputs as secrets.
  const secretOutputs = new Map<string, string[]>();
  pulumi.runtime.setAllConfig(opts.config ?? {}, opts.secretKeys ?? []);
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        const state = outputsFor(args.type, args.inputs as Record<string, unknown>);
        for (const key of secretOutputs.get(`${args.type}::${args.name}`) ?? []) {
          if (key in state) state[key] = { [rpc.specialSigKey]: SECRET_SIG, value: state[key] };
        }
        return { id: args.custom ? `${args.name}-id` : "", state };
      },
      call: (args) => {
        throw new Error(`unexpected provider function call ${args.token}`);
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
    recorder.resources.push({
      type: req.getType(),
      name: req.getName(),
      urn: `urn:pulumi:${opts.stack}::${PROJECT}::${qualifiedType(req.getParent(), req.getType())}::${req.getName()}`,
      custom: req.getCustom(),
      parent: req.getParent(),
      provider: req.getProvider(),
      dependencies: req.getDependenciesList(),
      protect: req.getProtect(),
      deleteBeforeReplace: req.getDeletebeforereplace(),
      replaceOnChanges: req.getReplaceonchangesList(),
      ignoreChanges: req.getIgnorechangesList(),
      additionalSecretOutputs: req.getAdditionalsecretoutputsList(),
      inputs: revealSecrets(inputs) as Record<string, unknown>,
    });
    return register(req, cb);
  };
  return recorder;
}

/** Mirrors how the mock monitor builds URNs, so records can be matched to references. */
function qualifiedType(parent: string, type: string): string {
  if (!parent) return type;
  const parentType = parent.split("::")[2]!.split("$").pop()!;
  return `${parentType}$${type}`;
}

/** Waits until every registration the program started has reached the mock engine. */
export async function settle(): Promise<void> {
  await (settings as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs();
}

/** The value and secretness of an Output, the way a stack export would see them. */
export async function unwrap<T>(o: pulumi.Output<T>): Promise<{ value: T; secret: boolean }> {
  const out = o as unknown as { promise(): Promise<T>; isSecret: Promise<boolean> };
  return { value: await out.promise(), secret: await out.isSecret };
}
