import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import Ajv from "ajv";
import addFormats from "ajv-formats";
import * as YAML from "yaml";
import * as k3d from "../components/cluster/k3d";
import type { K3dSettings } from "../components/config";
import { FAKE, plain, Secret, settle, setup, unwrap, type Recorder } from "./mocks";
import { FIXTURES } from "./tools";

const k3dSchema = JSON.parse(
  fs.readFileSync(path.join(FIXTURES, "schemas", "k3d-config-v1alpha5.schema.json"), "utf8"),
);
const validateK3d = addFormats(new Ajv({ strict: false, allErrors: true })).compile(k3dSchema);

function settings(patch: Partial<K3dSettings> = {}): K3dSettings {
  return {
    servers: 1,
    agents: 2,
    image: "rancher/k3s:v1.35.5-k3s1",
    apiPort: 6443,
    httpPort: 8080,
    httpsPort: 8443,
    registry: { enabled: false, port: 5000, image: "docker.io/library/registry:2.8.3" },
    waitTimeoutSeconds: 300,
    ...patch,
  };
}

function assertValidK3d(doc: unknown): void {
  const ok = validateK3d(doc);
  assert.ok(ok, `k3d config does not match k3d's schema: ${JSON.stringify(validateK3d.errors)}`);
}

describe("k3d cluster", () => {
  describe("config file", () => {
    it("is a k3d.io/v1alpha5 Simple config that k3d's schema accepts", () => {
      assertValidK3d(k3d.k3dConfigDocument({ name: "platform-dev", k3d: settings() }));
      assertValidK3d(
        k3d.k3dConfigDocument({
          name: "platform-dev",
          k3d: settings({ registry: { enabled: true, port: 5001, image: "docker.io/library/registry:2.8.3" } }),
        }),
      );
    });

    it("is checked by a schema that does reject a broken file", () => {
      const doc = k3d.k3dConfigDocument({ name: "platform-dev", k3d: settings() });
      assert.equal(validateK3d({ ...doc, agents: "two" }), false);
      assert.equal(validateK3d({ ...doc, kubeAPI: { hostPort: 6443 } }), false, "ports are strings in k3d's schema");
      assert.equal(validateK3d({ ...doc, nodes: 3 }), false, "unknown keys are refused");
    });

    it("makes 1 server and 2 agents, API on 6443, 8080→80 and 8443→443 through the load balancer, on loopback", () => {
      const doc = k3d.k3dConfigDocument({ name: "platform-dev", k3d: settings() }) as Record<string, any>;
      assert.equal(doc["apiVersion"], "k3d.io/v1alpha5");
      assert.equal(doc["kind"], "Simple");
      assert.deepEqual(doc["metadata"], { name: "platform-dev" });
      assert.equal(doc["servers"], 1);
      assert.equal(doc["agents"], 2);
      assert.equal(doc["image"], "rancher/k3s:v1.35.5-k3s1");
      assert.deepEqual(doc["kubeAPI"], { hostIP: "127.0.0.1", hostPort: "6443" });
      assert.deepEqual(doc["ports"], [
        { port: "127.0.0.1:8080:80", nodeFilters: ["loadbalancer"] },
        { port: "127.0.0.1:8443:443", nodeFilters: ["loadbalancer"] },
      ]);
      assert.equal(doc["registries"], undefined, "no registry unless asked for");
      assert.deepEqual(doc["options"]["kubeconfig"], { updateDefaultKubeconfig: true, switchCurrentContext: false });
    });

    it("adds a local registry with a pinned image on the configured port", () => {
      const doc = k3d.k3dConfigDocument({
        name: "platform-dev",
        k3d: settings({ registry: { enabled: true, port: 5000, image: "docker.io/library/registry:2.8.3" } }),
      }) as Record<string, any>;
      assert.deepEqual(doc["registries"], {
        create: {
          name: "platform-dev-registry",
          host: "127.0.0.1",
          hostPort: "5000",
          image: "docker.io/library/registry:2.8.3",
        },
      });
    });
  });

  describe("component", () => {
    let rec: Recorder;
    let cluster: InstanceType<typeof k3d.K3dCluster>;

    before(async () => {
      rec = await setup({ stack: "dev" });
      cluster = new k3d.K3dCluster("platform-dev", { name: "platform-dev", k3d: settings() });
      await settle();
    });

    it("creates the cluster from its config file with k3d and deletes it on destroy", () => {
      const cmd = rec.one("command:local:Command");
      const inputs = plain(cmd.inputs) as Record<string, any>;
      assert.match(inputs["create"], /k3d cluster create --config "\$dir\/k3d\.yaml"/);
      assert.match(inputs["delete"], /k3d cluster delete "\$K3D_CLUSTER"/);
      assert.equal(inputs["environment"]["K3D_CLUSTER"], "platform-dev");
      assert.deepEqual(
        YAML.parse(inputs["environment"]["K3D_CONFIG"]),
        k3d.k3dConfigDocument({ name: "platform-dev", k3d: settings() }),
      );
      assert.equal(inputs["logging"], "stderr", "stdout carries the kubeconfig and must not be logged");
    });

    it("replaces the cluster, deleting the old one first, when its config changes", () => {
      const cmd = rec.one("command:local:Command");
      assert.deepEqual(plain(cmd.inputs["triggers"]), [cluster.configYaml]);
      assert.ok(
        cmd.replaceOnChanges.includes("triggers"),
        `replaceOnChanges is ${JSON.stringify(cmd.replaceOnChanges)}`,
      );
      assert.equal(cmd.deleteBeforeReplace, true);
      const other = YAML.stringify(k3d.k3dConfigDocument({ name: "platform-dev", k3d: settings({ agents: 3 }) }));
      assert.notEqual(other, cluster.configYaml, "a different config must give a different trigger");
    });

    it("keeps the kubeconfig secret from the command's output to the provider", async () => {
      const cmd = rec.one("command:local:Command");
      assert.deepEqual(cmd.additionalSecretOutputs, ["stdout"]);
      const kubeconfig = await unwrap(cluster.kubeconfig);
      assert.deepEqual(kubeconfig, { value: FAKE.kubeconfig, secret: true });
      const provider = rec.one("pulumi:providers:kubernetes");
      assert.ok(provider.inputs["kubeconfig"] instanceof Secret, "the provider's kubeconfig input is not a secret");
      assert.deepEqual(await unwrap(cluster.name), { value: "platform-dev", secret: false });
      assert.deepEqual(cluster.ingressPorts, { http: 8080, https: 8443 });
    });

    it("parents its children to itself", () => {
      const component = rec.one("platform:cluster:K3d");
      for (const child of [rec.one("command:local:Command"), rec.one("pulumi:providers:kubernetes")]) {
        assert.equal(child.parent, component.urn, `${child.name} is not a child of the cluster`);
        assert.ok(child.name.startsWith("platform-dev-"), `${child.name} is not named from the component`);
      }
    });
  });

  describe("shell scripts, against a fake k3d", () => {
    let rec: Recorder;
    let bin: string;
    let log: string;

    before(async () => {
      rec = await setup({ stack: "dev" });
      new k3d.K3dCluster("platform-dev", { name: "platform-dev", k3d: settings() });
      await settle();
      bin = fs.mkdtempSync(path.join(os.tmpdir(), "fake-k3d-"));
      log = path.join(bin, "calls.log");
      // Records each call; `cluster create` copies the config it was given; `get` fails unless
      // the cluster "exists"; `kubeconfig get` prints a kubeconfig.
      fs.writeFileSync(
        path.join(bin, "k3d"),
        `#!/bin/sh
echo "$*" >> "${log}"
case "$1 $2" in
  "cluster create") cp "$4" "${bin}/seen-config.yaml"; echo "INFO creating" ;;
  "cluster get") [ -f "${bin}/exists" ] ;;
  "cluster delete") echo "INFO deleted" ;;
  "kubeconfig get") printf 'apiVersion: v1\\nkind: Config\\n' ;;
esac
`,
        { mode: 0o755 },
      );
    });

    after(() => fs.rmSync(bin, { recursive: true, force: true }));
    beforeEach(() => fs.rmSync(log, { force: true }));

    function runScript(which: "create" | "update" | "delete") {
      const inputs = plain(rec.one("command:local:Command").inputs) as Record<string, any>;
      return spawnSync("/bin/sh", ["-c", inputs[which]], {
        encoding: "utf8",
        env: { ...process.env, ...inputs["environment"], PATH: `${bin}:${process.env["PATH"]}` },
      });
    }

    it("create hands k3d a .yaml file holding the config and prints only the kubeconfig", () => {
      const r = runScript("create");
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, "apiVersion: v1\nkind: Config\n", "stdout must be the kubeconfig alone");
      assert.match(r.stderr, /INFO creating/, "k3d's own output goes to stderr");
      const calls = fs.readFileSync(log, "utf8").trim().split("\n");
      assert.match(calls[0]!, /^cluster create --config \S+\/k3d\.yaml$/);
      assert.equal(calls[1], "kubeconfig get platform-dev");
      assert.deepEqual(
        YAML.parse(fs.readFileSync(path.join(bin, "seen-config.yaml"), "utf8")),
        k3d.k3dConfigDocument({ name: "platform-dev", k3d: settings() }),
      );
      const tmpFile = calls[0]!.split(" ")[3]!;
      assert.equal(fs.existsSync(tmpFile), false, "the temporary config file is left behind");
    });

    it("update only re-reads the kubeconfig", () => {
      const r = runScript("update");
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(fs.readFileSync(log, "utf8").trim().split("\n"), ["kubeconfig get platform-dev"]);
    });

    it("delete removes an existing cluster", () => {
      fs.writeFileSync(path.join(bin, "exists"), "");
      const r = runScript("delete");
      fs.rmSync(path.join(bin, "exists"));
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(fs.readFileSync(log, "utf8").trim().split("\n"), [
        "cluster get platform-dev",
        "cluster delete platform-dev",
      ]);
    });

    it("delete succeeds without touching anything when the cluster is already gone", () => {
      const r = runScript("delete");
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(fs.readFileSync(log, "utf8").trim().split("\n"), ["cluster get platform-dev"]);
    });
  });
});
