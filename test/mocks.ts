/**
 * Pulumi mocks for the specs: every registered resource is recorded with its inputs (secrets
 * kept visible as `Secret` wrappers) and the options that matter (parent, provider, dependencies,
 * protect, replace behaviour, secret outputs). Specs import the code under test after `setup()`.
 */
import * as fs from "node:fs";
import * as path from "node:path";
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
  awsAccount: "123456789012",
  /** What `getAvailabilityZones` answers (the real one answers the provider's region's zones). */
  zones: ["zone-a", "zone-b", "zone-c", "zone-d"],
  /** A real (self-signed) CA certificate, so that kubectl accepts the kubeconfigs built from it. */
  caData: fs.readFileSync(path.join(__dirname, "fixtures", "mock-cluster-ca.pem")).toString("base64"),
  eksEndpoint: "https://0123456789ABCDEF.gr7.mock.eks.amazonaws.com",
  eksIssuer: "https://oidc.eks.mock.amazonaws.com/id/0123456789ABCDEF",
  gkeEndpoint: "34.0.0.10",
  gcpProjectNumber: "987654321098",
  randomHex: "a1b2c3",
  createdAt: "2026-11-22T06:00:00Z",
  /** DOKS versions the fake cloud offers, newest patch last per minor. */
  doksVersions: ["1.33.6-do.0", "1.34.1-do.0", "1.34.3-do.1", "1.35.1-do.0"],
  doksServer: "https://11111111-2222-3333-4444-555555555555.k8s.ondigitalocean.com",
  /** The add-on version `getAddonVersion` calls EKS's default for a Kubernetes version. */
  addonDefault: (addon: string, kubernetesVersion: string) => `v${kubernetesVersion}.0-eksbuild.1-default-${addon}`,
};

/** The fake cloud's changing state: DigitalOcean hands out a new token on every read. */
export const fakeCloud = { doToken: "dop_v1_mocktoken1", zones: FAKE.zones };

/** A kubeconfig like the one DigitalOcean returns: a bearer token inside. */
function doKubeconfig(clusterName: string, token: string): string {
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    `- name: do-${clusterName}`,
    "  cluster:",
    `    server: ${FAKE.doksServer}`,
    `    certificate-authority-data: ${FAKE.caData}`,
    "contexts:",
    `- name: do-${clusterName}`,
    `  context: {cluster: do-${clusterName}, user: do-${clusterName}-admin}`,
    `current-context: do-${clusterName}`,
    "users:",
    `- name: do-${clusterName}-admin`,
    `  user: {token: ${token}}`,
    "",
  ].join("\n");
}

/** Answers of the provider functions the program calls, as the real providers shape them. */
function callResult(token: string, args: Record<string, unknown>): Record<string, unknown> {
  switch (token) {
    case "aws:index/getAvailabilityZones:getAvailabilityZones":
      return { names: fakeCloud.zones, zoneIds: fakeCloud.zones.map((_, i) => `mock-az${i + 1}`), id: "mock" };
    case "digitalocean:index/getKubernetesVersions:getKubernetesVersions": {
      const prefix = typeof args["versionPrefix"] === "string" ? args["versionPrefix"] : "";
      const valid = FAKE.doksVersions.filter((v) => v.startsWith(prefix)).reverse();
      return { versionPrefix: prefix, validVersions: valid, latestVersion: valid[0] ?? "", id: "mock" };
    }
    case "digitalocean:index/getKubernetesCluster:getKubernetesCluster": {
      const name = String(args["name"]);
      const rawConfig = doKubeconfig(name, fakeCloud.doToken);
      return {
        name,
        kubeConfigs: [
          { rawConfig, host: FAKE.doksServer, token: fakeCloud.doToken, clusterCaCertificate: FAKE.caData },
        ],
      };
    }
    case "aws:eks/getAddonVersion:getAddonVersion":
      return { ...args, version: FAKE.addonDefault(String(args["addonName"]), String(args["kubernetesVersion"])) };
    case "gcp:organizations/getProject:getProject":
      return { projectId: args["projectId"], number: FAKE.gcpProjectNumber, name: args["projectId"] };
    default:
      throw new Error(`unexpected provider function call ${token}`);
  }
}

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
    case "aws:iam/role:Role":
      return {
        ...inputs,
        arn: `arn:aws:iam::${FAKE.awsAccount}:role/${String(inputs["namePrefix"])}mock`,
        name: `${String(inputs["namePrefix"])}mock`,
      };
    case "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
      return {
        ...inputs,
        arn: `arn:aws:iam::${FAKE.awsAccount}:oidc-provider/${FAKE.eksIssuer.replace("https://", "")}`,
      };
    case "aws:kms/key:Key":
      return { ...inputs, arn: `arn:aws:kms:mock:${FAKE.awsAccount}:key/mock-key`, keyId: "mock-key" };
    case "aws:ec2/launchTemplate:LaunchTemplate":
      return { ...inputs, latestVersion: 1 };
    case "aws:eks/cluster:Cluster":
      return {
        ...inputs,
        arn: `arn:aws:eks:mock:${FAKE.awsAccount}:cluster/${String(inputs["name"])}`,
        createdAt: FAKE.createdAt,
        endpoint: FAKE.eksEndpoint,
        certificateAuthority: { data: FAKE.caData },
        identities: [{ oidcs: [{ issuer: FAKE.eksIssuer }] }],
      };
    case "aws:eks/accessEntry:AccessEntry":
      return { ...inputs };
    case "gcp:container/cluster:Cluster":
      return {
        ...inputs,
        endpoint: FAKE.gkeEndpoint,
        masterAuth: { ...(inputs["masterAuth"] as object), clusterCaCertificate: FAKE.caData },
      };
    case "gcp:serviceaccount/account:Account":
      return { ...inputs, email: `${String(inputs["accountId"])}@mock-project.iam.gserviceaccount.com` };
    case "random:index/randomId:RandomId":
      return { ...inputs, hex: FAKE.randomHex };
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
  public readonly calls: { token: string; args: Record<string, unknown> }[] = [];

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
  /**
   * In a preview, resources of these types come back the way new ones do: with their id and
   * outputs unknown.
   */
  unknownTypes?: string[];
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
        if (opts.preview && opts.unknownTypes?.includes(args.type)) return { id: undefined, state: {} };
        const state = outputsFor(args.type, args.inputs as Record<string, unknown>);
        for (const key of secretOutputs.get(`${args.type}::${args.name}`) ?? []) {
          if (key in state) state[key] = { [rpc.specialSigKey]: SECRET_SIG, value: state[key] };
        }
        return { id: args.custom ? `${args.name}-id` : "", state };
      },
      call: (args) => {
        recorder.calls.push({ token: args.token, args: args.inputs as Record<string, unknown> });
        return callResult(args.token, args.inputs as Record<string, unknown>);
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
