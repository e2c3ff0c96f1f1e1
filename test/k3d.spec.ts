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
import { parsedConfig } from "./configs";
import { FAKE, plain, Secret, settle, setup, unwrap, type Recorder } from "./mocks";
import { k3dConfigSchema } from "./reference";

const k3dSchema = JSON.parse(fs.readFileSync(k3dConfigSchema(), "utf8"));
const validateK3d = addFormats(new Ajv({ strict: false, allErrors: true })).compile(k3dSchema);

/** The default k3d settings, as the config module fills them, with some changed. */
function settings(patch: Partial<K3dSettings> = {}): K3dSettings {
  const cluster = parsedConfig("dev").cluster;
  assert.equal(cluster.provider, "k3d");
  return { ...(cluster as { k3d: K3dSettings }).k3d, ...patch };
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
          name: "k3d-platform-dev-registry",
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
      cluster = new k3d.K3dCluster("cluster", { name: "platform-dev", k3d: settings() });
      await settle();
    });

    it("creates the cluster from its config file with k3d and deletes it on destroy", () => {
      const cmd = rec.one("command:local:Command");
      const inputs = plain(cmd.inputs) as Record<string, any>;
      assert.match(inputs["create"], /k3d cluster create --config "\$dir\/k3d\.yaml"/);
      assert.match(inputs["delete"], /k3d cluster delete "\$PLATFORM_K3D_CLUSTER"/);
      assert.equal(inputs["environment"]["PLATFORM_K3D_CLUSTER"], "platform-dev");
      assert.deepEqual(
        Object.keys(inputs["environment"]).filter((k) => k.startsWith("K3D_")),
        [],
        "k3d 5.7.5+ reads K3D_* variables as its own settings (K3D_CONFIG as its config file's path)",
      );
      assert.deepEqual(
        YAML.parse(inputs["environment"]["PLATFORM_K3D_CONFIG"]),
        k3d.k3dConfigDocument({ name: "platform-dev", k3d: settings() }),
      );
      assert.equal(inputs["logging"], "stderr", "stdout carries the kubeconfig and must not be logged");
      assert.equal(inputs["addPreviousOutputInEnv"], false, "the kubeconfig would reach the update and delete scripts");
    });

    it("replaces the cluster, deleting the old one first, when anything in its config file changes", () => {
      const cmd = rec.one("command:local:Command");
      const triggers = plain(cmd.inputs["triggers"]) as string[];
      assert.equal(triggers.length, 1);
      // The whole file is the trigger, so every setting in it forces a new cluster.
      assert.deepEqual(YAML.parse(triggers[0]!), {
        apiVersion: "k3d.io/v1alpha5",
        kind: "Simple",
        metadata: { name: "platform-dev" },
        servers: 1,
        agents: 2,
        image: "rancher/k3s:v1.35.5-k3s1",
        kubeAPI: { hostIP: "127.0.0.1", hostPort: "6443" },
        ports: [
          { port: "127.0.0.1:8080:80", nodeFilters: ["loadbalancer"] },
          { port: "127.0.0.1:8443:443", nodeFilters: ["loadbalancer"] },
        ],
        options: {
          k3d: { wait: true, timeout: "300s" },
          // The GitOps tree's Traefik is the only ingress controller.
          k3s: { extraArgs: [{ arg: "--disable=traefik", nodeFilters: ["server:*"] }] },
          kubeconfig: { updateDefaultKubeconfig: true, switchCurrentContext: false },
        },
      });
      assert.ok(
        cmd.replaceOnChanges.includes("triggers"),
        `replaceOnChanges is ${JSON.stringify(cmd.replaceOnChanges)}`,
      );
      assert.equal(cmd.deleteBeforeReplace, true, "the new cluster would clash with the old one's name and ports");
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

    it("lets a destroy finish when the cluster is already gone: what is on it goes with it, nothing holds cloud resources", () => {
      assert.equal(cluster.deletesEverythingOnIt.constructor.name, "Command", "the k3d cluster is its Command");
      assert.equal(cluster.holdsCloudResources, false);
      const provider = rec.one("pulumi:providers:kubernetes");
      assert.equal(
        provider.inputs["deleteUnreachable"],
        undefined,
        "in the provider, every refresh while Docker is down would drop the cluster's objects from state",
      );
    });

    it("ties its Kubernetes provider to this very cluster, so a re-created one (same server) replaces what was on it", () => {
      const provider = rec.one("pulumi:providers:kubernetes");
      const command = rec.one("command:local:Command", "cluster-k3d");
      assert.equal(provider.inputs["clusterIdentifier"], `k3d:platform-dev@${command.name}-id`);
    });

    it("names its children from its own fixed name, so renaming the k3d cluster replaces them in place", () => {
      const component = rec.one("platform:cluster:K3d");
      assert.equal(component.name, "cluster");
      assert.deepEqual(
        [rec.one("command:local:Command"), rec.one("pulumi:providers:kubernetes")].map((c) => {
          assert.equal(c.parent, component.urn, `${c.name} is not a child of the cluster`);
          return c.name;
        }),
        ["cluster-k3d", "cluster-provider"],
      );
    });
  });

  describe("shell scripts, against a fake k3d", () => {
    let rec: Recorder;
    let bin: string;
    let log: string;
    const flag = (name: string) => path.join(bin, name);

    before(async () => {
      rec = await setup({ stack: "dev" });
      new k3d.K3dCluster("cluster", { name: "platform-dev", k3d: settings() });
      await settle();
      bin = fs.mkdtempSync(path.join(os.tmpdir(), "fake-k3d-"));
      log = path.join(bin, "calls.log");
      // Records each call. Flag files steer it: "exists" (platform-dev is listed), "docker-down"
      // (k3d cannot reach Docker), "no-kubeconfig" (reading the kubeconfig fails). As k3d 5.7.5
      // and later do (cmd/util/config: viper AutomaticEnv, prefix K3D), it takes K3D_CONFIG as
      // its config file's path; as every k3d does (cmd/root.go), it logs info lines, and debug
      // lines under LOG_LEVEL=debug, to stdout.
      fs.writeFileSync(
        path.join(bin, "k3d"),
        `#!/bin/sh
echo "$*" >> "${log}"
if [ -n "\${K3D_CONFIG:-}" ] && [ ! -f "\${K3D_CONFIG}" ]; then
  echo "FATA[0000] Failed to stat config file \${K3D_CONFIG}: no such file or directory" >&2; exit 1
fi
[ "\${LOG_LEVEL:-}" = debug ] && echo "DEBU[0000] Runtime Info: docker"
[ -f "${bin}/docker-down" ] && { echo "FATA Failed to list nodes: Cannot connect to the Docker daemon" >&2; exit 1; }
case "$1 $2" in
  "cluster create") cp "$4" "${bin}/seen-config.yaml"; echo "INFO[0000] creating" ;;
  "cluster list") echo "platform-dev-2   1/1   2/2   true"; [ -f "${bin}/exists" ] && echo "platform-dev   1/1   2/2   true" ;;
  "cluster delete") echo "INFO[0000] deleted" ;;
  "kubeconfig write") [ -f "${bin}/no-kubeconfig" ] && exit 1; [ "$4" = --output ] || exit 2
    printf 'apiVersion: v1\\nkind: Config\\n' > "$5"; echo "INFO[0000] wrote $5" ;;
esac
exit 0
`,
        { mode: 0o755 },
      );
    });

    after(() => fs.rmSync(bin, { recursive: true, force: true }));
    beforeEach(() => {
      for (const f of [log, flag("exists"), flag("docker-down"), flag("no-kubeconfig")]) fs.rmSync(f, { force: true });
    });

    function runScript(which: "create" | "update" | "delete", extraEnv: Record<string, string> = {}) {
      const inputs = plain(rec.one("command:local:Command").inputs) as Record<string, any>;
      const r = spawnSync("/bin/sh", ["-c", inputs[which]], {
        encoding: "utf8",
        env: { ...process.env, ...inputs["environment"], ...extraEnv, PATH: `${bin}:${process.env["PATH"]}` },
      });
      const calls = fs.existsSync(log) ? fs.readFileSync(log, "utf8").trim().split("\n") : [];
      return { ...r, calls };
    }

    it("create hands k3d a .yaml file holding the config and prints only the kubeconfig", () => {
      const r = runScript("create");
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, "apiVersion: v1\nkind: Config\n", "stdout must be the kubeconfig alone");
      assert.match(r.stderr, /INFO\[0000\] creating/, "k3d's own output goes to stderr");
      assert.match(r.calls[0]!, /^cluster create --config \S+\/k3d\.yaml$/);
      assert.match(r.calls[1]!, /^kubeconfig write platform-dev --output \S+\/kubeconfig$/);
      assert.deepEqual(
        YAML.parse(fs.readFileSync(path.join(bin, "seen-config.yaml"), "utf8")),
        k3d.k3dConfigDocument({ name: "platform-dev", k3d: settings() }),
      );
      const tmpFile = r.calls[0]!.split(" ")[3]!;
      assert.equal(fs.existsSync(tmpFile), false, "the temporary config file is left behind");
    });

    it("create removes the cluster it made when it cannot read its kubeconfig", () => {
      fs.writeFileSync(flag("no-kubeconfig"), "");
      const r = runScript("create");
      assert.notEqual(r.status, 0);
      assert.match(r.calls[1]!, /^kubeconfig write platform-dev /);
      assert.deepEqual(r.calls.slice(2), ["cluster delete platform-dev"]);
    });

    it("update only re-reads the kubeconfig", () => {
      const r = runScript("update");
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, "apiVersion: v1\nkind: Config\n");
      assert.equal(r.calls.length, 1);
      assert.match(r.calls[0]!, /^kubeconfig write platform-dev --output /);
    });

    it("keeps k3d's own log out of the kubeconfig, also with LOG_LEVEL=debug", () => {
      for (const which of ["create", "update"] as const) {
        const r = runScript(which, { LOG_LEVEL: "debug" });
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stdout, "apiVersion: v1\nkind: Config\n", `${which}: stdout must be the kubeconfig alone`);
        assert.match(r.stderr, /DEBU/, `${which}: k3d's debug lines go to stderr`);
      }
    });

    it("delete removes an existing cluster", () => {
      fs.writeFileSync(flag("exists"), "");
      const r = runScript("delete");
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(r.calls, ["cluster list --no-headers", "cluster delete platform-dev"]);
    });

    it("delete succeeds without touching anything when the cluster is already gone", () => {
      const r = runScript("delete");
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(r.calls, ["cluster list --no-headers"], "a cluster with a longer name is not this one");
    });

    it("delete fails, keeping the cluster in state, when k3d cannot reach Docker", () => {
      fs.writeFileSync(flag("exists"), "");
      fs.writeFileSync(flag("docker-down"), "");
      const r = runScript("delete");
      assert.notEqual(r.status, 0, "a cluster that may still run would drop out of Pulumi's state");
      assert.match(r.stderr, /Cannot connect to the Docker daemon/);
      assert.deepEqual(r.calls, ["cluster list --no-headers"]);
    });
  });
});
