/**
 * Pulumi mocks for the specs: every registered resource is recorded with its inputs (secrets
 * kept visible as `Secret` wrappers) and the options that matter (parent, provider, dependencies,
 * protect, replace behaviour, secret outputs). Specs import the code under test after `setup()`.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type * as pulumi from "@pulumi/pulumi";
import * as engine from "../scripts/synth/engine";

export { containsUnknown, plain, PROJECT, type Recorded, Recorder, Secret, settle } from "../scripts/synth/engine";

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
export const fakeCloud = {
  doToken: "dop_v1_mocktoken1",
  zones: FAKE.zones,
  /** Who runs `pulumi up`, as STS answers GetCallerIdentity: CI's role, assumed for one session. */
  callerArn: `arn:aws:sts::${FAKE.awsAccount}:assumed-role/platform-ci/ci-session`,
};

/** DOKS clusters that already run in the fake cloud, by name: their version. None by default. */
export const doksLive = new Map<string, string>();

/** A failed invoke as the engine reports it: a gRPC error whose details the SDK turns into the message. */
function notFound(details: string): Error {
  return Object.assign(new Error(details), { details });
}

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
      const running = doksLive.get(name);
      // As the provider's data source answers a name that no cluster has.
      if (!running) throw notFound(`Unable to find cluster with name: ${name}`);
      const rawConfig = doKubeconfig(name, fakeCloud.doToken);
      return {
        name,
        version: running,
        kubeConfigs: [
          { rawConfig, host: FAKE.doksServer, token: fakeCloud.doToken, clusterCaCertificate: FAKE.caData },
        ],
      };
    }
    case "aws:index/getCallerIdentity:getCallerIdentity":
      return { accountId: FAKE.awsAccount, arn: fakeCloud.callerArn, userId: "AROAMOCK:session", id: FAKE.awsAccount };
    case "aws:iam/getSessionContext:getSessionContext": {
      // As the provider's data source does: an assumed-role ARN gives its role's ARN (the role
      // has no path here), any other ARN passes through as it is.
      const arn = String(args["arn"]);
      const m = /^arn:([^:]+):sts::(\d{12}):assumed-role\/([^/]+)\/(.+)$/.exec(arn);
      return m
        ? { arn, issuerArn: `arn:${m[1]}:iam::${m[2]}:role/${m[3]}`, issuerName: m[3], sessionName: m[4], id: arn }
        : { arn, issuerArn: arn, issuerName: "", sessionName: "", id: arn };
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
      const stdout = script.includes("k3d kubeconfig write")
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
    case "aws:cloudwatch/logGroup:LogGroup":
      return { ...inputs, arn: `arn:aws:logs:mock:${FAKE.awsAccount}:log-group:${String(inputs["name"])}` };
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
    case "digitalocean:index/kubernetesCluster:KubernetesCluster":
      return {
        ...inputs,
        endpoint: FAKE.doksServer,
        kubeConfigs: [
          {
            rawConfig: doKubeconfig(String(inputs["name"]), fakeCloud.doToken),
            host: FAKE.doksServer,
            token: fakeCloud.doToken,
            clusterCaCertificate: FAKE.caData,
          },
        ],
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

/** The fake cloud of the specs: known outputs for every resource, except `unknownTypes` in a preview. */
export function fakeCloudFor(opts: Pick<SetupOptions, "preview" | "unknownTypes"> = {}): engine.Cloud {
  return {
    newResource: (type, name, inputs, custom) =>
      opts.preview && opts.unknownTypes?.includes(type)
        ? { state: {} }
        : { id: custom ? `${name}-id` : "", state: outputsFor(type, inputs) },
    call: (token, args) => callResult(token, args),
  };
}

/** Installs fresh mocks with the fake cloud and config for one program run; returns the recorder. */
export function setup(opts: SetupOptions): Promise<engine.Recorder> {
  return engine.setup({ ...opts, cloud: fakeCloudFor(opts) });
}

/** The value and secretness of an Output, the way a stack export would see them. */
export async function unwrap<T>(o: pulumi.Output<T>): Promise<{ value: T; secret: boolean }> {
  const out = o as unknown as { promise(): Promise<T>; isSecret: Promise<boolean> };
  return { value: await out.promise(), secret: await out.isSecret };
}
