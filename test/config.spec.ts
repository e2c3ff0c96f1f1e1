import { strict as assert } from "node:assert";
import * as pulumi from "@pulumi/pulumi";
import { ConfigError, configWarnings, loadConfig, parseConfig, type PlatformConfig } from "../components/config";
import { flat, MINIMAL_CLOUD } from "./configs";
import { unwrap } from "./mocks";

type Raw = Record<string, unknown>;

/** A valid dev stack; each test breaks one thing. */
function devConfig(): Raw {
  return {
    "platform:environment": "dev",
    "platform:cluster": { provider: "k3d", name: "platform-dev" },
    "platform:gitops": { repoURL: "https://github.com/acme/platform.git" },
  };
}

function parse(raw: Raw, opts: { stack?: string; secret?: string[] } = {}): PlatformConfig {
  return parseConfig(flat(raw), opts.stack ?? "dev", (k) => (opts.secret ?? []).includes(k));
}

/** The problems a config produces, one line each. */
function problems(raw: Raw, opts?: { stack?: string; secret?: string[] }): string[] {
  try {
    parse(raw, opts);
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    assert.ok(e instanceof pulumi.RunError, "config errors must be RunErrors so Pulumi prints no stack trace");
    return e.message.split("\n");
  }
  assert.fail("expected the config to be rejected");
}

function withCluster(patch: Raw): Raw {
  const c = devConfig();
  c["platform:cluster"] = { ...(c["platform:cluster"] as Raw), ...patch };
  return c;
}

function withK3d(k3d: Raw): Raw {
  return withCluster({ k3d });
}

function withGitops(patch: Raw): Raw {
  const c = devConfig();
  c["platform:gitops"] = { ...(c["platform:gitops"] as Raw), ...patch };
  return c;
}

function withArgocd(argocd: Raw, base: Raw = devConfig()): Raw {
  return { ...base, "platform:argocd": argocd };
}

const KEY = "platform:sealedSecretsKey";
const PEM_CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const PEM_KEY = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n";
const withKey = (raw: Raw, key: Raw = { certificate: PEM_CERT, privateKey: PEM_KEY }): Raw => ({ ...raw, [KEY]: key });

describe("config", () => {
  describe("defaults", () => {
    it("fills a minimal dev stack with the documented k3d, Argo CD and GitOps defaults", () => {
      const cfg = parse(devConfig());
      assert.deepEqual(cfg, {
        environment: "dev",
        stack: "dev",
        cluster: {
          provider: "k3d",
          name: "platform-dev",
          protect: false,
          ephemeral: false,
          tags: {
            "platform-cluster": "platform-dev",
            "platform-stack": "dev",
            "platform-environment": "dev",
            "managed-by": "pulumi",
          },
          k3d: {
            servers: 1,
            agents: 2,
            image: "rancher/k3s:v1.35.5-k3s1",
            apiPort: 6443,
            httpPort: 8080,
            httpsPort: 8443,
            registry: { enabled: false, port: 5000, image: "docker.io/library/registry:2.8.3" },
            waitTimeoutSeconds: 300,
          },
        },
        argocd: {
          chartVersion: "10.1.1",
          chartRepository: "https://argoproj.github.io/argo-helm",
          hostname: "argocd.dev.127.0.0.1.nip.io",
          ha: false,
          ingressClassName: "traefik",
          tls: { enabled: false, clusterIssuer: "letsencrypt" },
          installTimeoutSeconds: 900,
          waitForHealthy: true,
          healthTimeoutSeconds: 900,
        },
        gitops: {
          repoURL: "https://github.com/acme/platform.git",
          targetRevision: "main",
          path: "gitops/envs/dev",
          syncPolicy: "automated",
          retryLimit: 5,
        },
        lifecycle: { ephemeral: false, drainTimeoutSeconds: 1200 },
      });
    });

    it("makes prod HA, manually synced, TLS-fronted, with its own GitOps path", () => {
      const cfg = parse(
        {
          "platform:environment": "prod",
          "platform:cluster": { provider: "eks", eks: MINIMAL_CLOUD.eks },
          "platform:argocd": { hostname: "argocd.example.com" },
          "platform:gitops": { repoURL: "git@github.com:acme/platform.git" },
        },
        { stack: "prod" },
      );
      assert.equal(cfg.argocd.ha, true);
      assert.equal(cfg.gitops.syncPolicy, "manual");
      assert.deepEqual(cfg.argocd.tls, { enabled: true, clusterIssuer: "letsencrypt" });
      assert.equal(cfg.gitops.path, "gitops/envs/prod");
      assert.equal(cfg.cluster.name, "platform-prod", "the cluster name defaults to platform-<stack>");
      assert.equal(cfg.cluster.protect, true, "prod clusters are protected");
    });

    it("keeps stage automated and single-replica", () => {
      const cfg = parse({ ...devConfig(), "platform:environment": "stage" }, { stack: "stage" });
      assert.equal(cfg.argocd.ha, false);
      assert.equal(cfg.gitops.syncPolicy, "automated");
      assert.equal(cfg.gitops.path, "gitops/envs/stage");
      assert.equal(cfg.argocd.hostname, "argocd.stage.127.0.0.1.nip.io");
    });

    it("takes numbers and booleans written as strings, as `pulumi config set --path` stores them", () => {
      const cfg = parse(withK3d({ agents: "3", registry: { enabled: "true" } }));
      assert.equal(cfg.cluster.provider === "k3d" && cfg.cluster.k3d.agents, 3);
      assert.equal(cfg.cluster.provider === "k3d" && cfg.cluster.k3d.registry.enabled, true);
    });

    it("lets explicit settings win over environment defaults", () => {
      const cfg = parse(
        withArgocd(
          { ha: true, tls: true, clusterIssuer: "selfsigned" },
          withGitops({ syncPolicy: "manual", path: "gitops/envs/dev/" }),
        ),
      );
      assert.equal(cfg.argocd.ha, true);
      assert.deepEqual(cfg.argocd.tls, { enabled: true, clusterIssuer: "selfsigned" });
      assert.equal(cfg.gitops.syncPolicy, "manual");
      assert.equal(cfg.gitops.path, "gitops/envs/dev", "a trailing slash is dropped");
    });
  });

  describe("bad config: one line naming the key, the value and what is allowed", () => {
    const cases: [string, Raw, string][] = [
      [
        "a misspelt top-level key",
        { ...devConfig(), "platform:clustr": { provider: "k3d" } },
        "platform:clustr is not a known config key; did you mean platform:cluster? (known: platform:environment, platform:cluster, platform:argocd, platform:gitops, platform:gitopsCredentials, platform:lifecycle, platform:sealedSecretsKey, platform:kubeconfig)",
      ],
      [
        "a misspelt nested key",
        withK3d({ agnets: 3 }),
        'platform:cluster.k3d has unknown key "agnets" (did you mean "agents"?); allowed: servers, agents, image, apiPort, httpPort, httpsPort, registry, waitTimeoutSeconds',
      ],
      [
        "a wrong type",
        withK3d({ agents: "two" }),
        'platform:cluster.k3d.agents must be a whole number from 0 to 10 (got "two")',
      ],
      [
        "a negative count",
        withK3d({ agents: -1 }),
        "platform:cluster.k3d.agents must be a whole number from 0 to 10 (got -1)",
      ],
      [
        "a fraction",
        withK3d({ agents: 1.5 }),
        "platform:cluster.k3d.agents must be a whole number from 0 to 10 (got 1.5)",
      ],
      [
        "an even number of servers",
        withK3d({ servers: 2 }),
        "platform:cluster.k3d.servers must be a whole number from 1 to 7, and odd (etcd needs a majority) (got 2)",
      ],
      [
        "a port out of range",
        withK3d({ httpPort: 70000 }),
        "platform:cluster.k3d.httpPort must be a whole number from 1 to 65535 (got 70000)",
      ],
      [
        "two host ports that collide",
        withK3d({ httpsPort: 6443 }),
        "platform:cluster.k3d.httpsPort must differ from platform:cluster.k3d.apiPort (both are 6443)",
      ],
      [
        "a floating k3s image",
        withK3d({ image: "rancher/k3s:latest" }),
        'platform:cluster.k3d.image must be an image pinned to an exact version, like rancher/k3s:v1.35.5-k3s1 or name@sha256:<digest> (got "rancher/k3s:latest")',
      ],
      [
        "an untagged image",
        withK3d({ registry: { image: "registry" } }),
        'platform:cluster.k3d.registry.image must be an image pinned to an exact version, like rancher/k3s:v1.35.5-k3s1 or name@sha256:<digest> (got "registry")',
      ],
      [
        "a cluster name that is not a DNS label",
        withCluster({ name: "Platform_Dev" }),
        "platform:cluster.name must be a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit (got \"Platform_Dev\")",
      ],
      [
        "a cluster name that is too long",
        withCluster({ name: "a".repeat(33) }),
        `platform:cluster.name must be at most 32 characters (k3d and the cloud providers build longer names from it) (got "${"a".repeat(33)}")`,
      ],
      [
        "an unknown provider",
        withCluster({ provider: "aks" }),
        'platform:cluster.provider must be one of k3d | eks | doks | gke | existing (got "aks")',
      ],
      [
        "a k3d block under another provider",
        withCluster({ provider: "doks", doks: MINIMAL_CLOUD.doks, k3d: {} }),
        'platform:cluster has unknown key "k3d"; allowed: provider, name, protect, doks',
      ],
      [
        "an unknown environment",
        { ...devConfig(), "platform:environment": "qa" },
        'platform:environment must be one of dev | stage | prod (got "qa")',
      ],
      [
        "a chart version range",
        withArgocd({ chartVersion: "^10.1.0" }),
        `platform:argocd.chartVersion must be an exact chart version like 10.1.1 (no ranges, wildcards or 'latest') (got "^10.1.0")`,
      ],
      [
        "a 'latest' chart version",
        withArgocd({ chartVersion: "latest" }),
        `platform:argocd.chartVersion must be an exact chart version like 10.1.1 (no ranges, wildcards or 'latest') (got "latest")`,
      ],
      [
        "a partial chart version",
        withArgocd({ chartVersion: "10.1" }),
        `platform:argocd.chartVersion must be an exact chart version like 10.1.1 (no ranges, wildcards or 'latest') (got "10.1")`,
      ],
      [
        "a hostname with a scheme",
        withArgocd({ hostname: "https://argocd.example.com" }),
        'platform:argocd.hostname must be a fully qualified DNS hostname in lowercase, like argocd.example.com (got "https://argocd.example.com")',
      ],
      ["a non-boolean", withArgocd({ ha: "yes" }), 'platform:argocd.ha must be true or false (got "yes")'],
      [
        "a repo that is not a URL",
        withGitops({ repoURL: "github.com/acme/platform" }),
        'platform:gitops.repoURL must be an https:// or ssh Git URL, like https://github.com/acme/platform.git (got "github.com/acme/platform")',
      ],
      [
        "a plain-http repo",
        withGitops({ repoURL: "http://git.example.com/acme/platform.git" }),
        'platform:gitops.repoURL must be an https:// or ssh Git URL, like https://github.com/acme/platform.git (got "http://git.example.com/acme/platform.git")',
      ],
      [
        "credentials inside the repo URL",
        withGitops({ repoURL: "https://bot:ghp_token@github.com/acme/platform.git" }),
        'platform:gitops.repoURL must not hold credentials; set them in platform:gitopsCredentials with --secret (got "https://***@github.com/acme/platform.git")',
      ],
      [
        "an absolute path",
        withGitops({ path: "/gitops/envs/dev" }),
        'platform:gitops.path must be relative to the repository root, like gitops/envs/dev (got "/gitops/envs/dev")',
      ],
      [
        "a path that climbs out",
        withGitops({ path: "gitops/../../etc" }),
        "platform:gitops.path must stay inside the repository (no '..') (got \"gitops/../../etc\")",
      ],
      [
        "a revision that climbs out",
        withGitops({ targetRevision: "../../main" }),
        `platform:gitops.targetRevision must be a branch, tag or commit: letters, digits, '.', '_', '/' and '-', no '..', not starting or ending with '/' or '.' (got "../../main")`,
      ],
      [
        "an unknown sync policy",
        withGitops({ syncPolicy: "auto" }),
        'platform:gitops.syncPolicy must be one of automated | manual (got "auto")',
      ],
      [
        "a missing repository",
        { ...devConfig(), "platform:gitops": { targetRevision: "main" } },
        "platform:gitops.repoURL is required: it must be a Git URL",
      ],
      [
        "a missing environment",
        {
          "platform:cluster": { provider: "k3d" },
          "platform:gitops": { repoURL: "https://github.com/acme/platform.git" },
        },
        "platform:environment is required: it must be one of dev | stage | prod",
      ],
      [
        "a cloud cluster without an Argo CD hostname",
        { ...devConfig(), "platform:cluster": { provider: "gke", gke: MINIMAL_CLOUD.gke } },
        "platform:argocd.hostname is required when platform:cluster.provider is gke (a DNS name you control, like argocd.example.com)",
      ],
      [
        "a cluster given as a string",
        { ...devConfig(), "platform:cluster": "k3d" },
        'platform:cluster must be an object with a provider (k3d | eks | doks | gke | existing) and its block (got "k3d")',
      ],
    ];

    for (const [what, raw, expected] of cases) {
      it(`rejects ${what}`, () => {
        assert.deepEqual(problems(raw), [expected]);
      });
    }

    it("rejects a stack name that cannot make a default cluster name", () => {
      const raw = devConfig();
      raw["platform:cluster"] = { provider: "k3d" };
      assert.deepEqual(problems(raw, { stack: "Dev_Alice" }), [
        'platform:cluster.name is not set and the default "platform-Dev_Alice" is not a DNS-1123 label of at most 32 characters; set platform:cluster.name',
      ]);
    });

    it("reports every problem at once, one line each", () => {
      const raw = { ...withK3d({ agents: -1, servers: 0 }), "platform:environment": "qa", "platform:typo": "x" };
      const lines = problems(raw);
      assert.equal(lines.length, 4, lines.join("\n"));
      for (const key of [
        "platform:environment",
        "platform:cluster.k3d.agents",
        "platform:cluster.k3d.servers",
        "platform:typo",
      ]) {
        assert.ok(
          lines.some((l) => l.startsWith(key)),
          `no line for ${key}: ${lines.join(" | ")}`,
        );
      }
    });
  });

  describe("what the stack must agree with: the GitOps tree and the cluster's size", () => {
    it("refuses a gitops.path that is no folder of this repository, naming the roots there are", () => {
      assert.deepEqual(problems(withGitops({ path: "gitops/envs/qa" })), [
        "platform:gitops.path gitops/envs/qa is not a folder of this repository, so Argo CD would find nothing to sync (the environments' roots: gitops/envs/dev, gitops/envs/prod, gitops/envs/stage)",
      ]);
    });

    it("refuses the root of another environment: a dev stack never syncs prod's tree", () => {
      assert.deepEqual(problems(withGitops({ path: "gitops/envs/prod" })), [
        "platform:gitops.path gitops/envs/prod is the root of the prod environment (its environment.yaml), not of dev: a dev stack must sync its own environment's tree, like gitops/envs/dev",
      ]);
      // A folder of the tree that declares no environment (a component's overlay) is the user's call.
      assert.equal(
        parse(withGitops({ path: "gitops/platform/overlays/dev" })).gitops.path,
        "gitops/platform/overlays/dev",
      );
    });

    it("reads the environment and the pin from the tree, not from the folder's name", () => {
      const tree = {
        isFolder: () => true,
        environmentOf: (rel: string) => (rel === "trees/blue" ? "stage" : undefined),
        argocdChartVersion: (rel: string) => (rel === "trees/blue" ? "10.0.9" : undefined),
        roots: () => ["trees/blue"],
      };
      let message = "";
      try {
        parseConfig(flat(withGitops({ path: "trees/blue" })), "dev", () => false, tree);
      } catch (e) {
        message = (e as Error).message;
      }
      assert.deepEqual(message.split("\n"), [
        "platform:gitops.path trees/blue is the root of the stage environment (its environment.yaml), not of dev: a dev stack must sync its own environment's tree",
        'platform:argocd.chartVersion must be 10.0.9, the argo-cd version trees/blue/versions.yaml pins: Argo CD manages its own chart after bootstrap, and two versions would fight on every sync (got "10.1.1"); change both together, as `npm run promote` does',
      ]);
    });

    it("refuses an argo-cd chart version other than the one the stack's tree pins", () => {
      assert.deepEqual(problems(withArgocd({ chartVersion: "10.2.0" })), [
        'platform:argocd.chartVersion must be 10.1.1, the argo-cd version gitops/envs/dev/versions.yaml pins: Argo CD manages its own chart after bootstrap, and two versions would fight on every sync (got "10.2.0"); change both together, as `npm run promote` does',
      ]);
    });

    it("refuses Argo CD's HA mode on fewer than three nodes, counting k3d's servers and agents", () => {
      assert.deepEqual(problems(withArgocd({ ha: true }, withK3d({ agents: 1 }))), [
        "platform:argocd.ha needs at least 3 nodes (redis-ha runs 3 replicas, each on a node of its own), and the cluster has 2 at the least (platform:cluster.k3d servers + agents): add nodes or set platform:argocd.ha to false",
      ]);
      assert.equal(parse(withArgocd({ ha: true }, withK3d({ agents: 2 }))).argocd.ha, true, "1 server + 2 agents");
    });

    it("reports every mistake at once, one line each, across keys", () => {
      const raw = withArgocd({ chartVersion: "latest", ha: true }, withK3d({ servers: 2, agents: 0, apiPort: 8080 }));
      raw["platform:gitops"] = { repoURL: "http://example.com/platform.git", path: "gitops/envs/prod" };
      raw["platform:lifecycle"] = { drainTimeoutSeconds: 5 };
      assert.deepEqual(problems(raw), [
        "platform:cluster.k3d.servers must be a whole number from 1 to 7, and odd (etcd needs a majority) (got 2)",
        "platform:argocd.chartVersion must be an exact chart version like 10.1.1 (no ranges, wildcards or 'latest') (got \"latest\")",
        'platform:gitops.repoURL must be an https:// or ssh Git URL, like https://github.com/acme/platform.git (got "http://example.com/platform.git")',
        "platform:lifecycle.drainTimeoutSeconds must be a whole number from 60 to 7200 (got 5)",
      ]);
      // With the values themselves valid, the checks across keys all speak together.
      const valid = withArgocd({ chartVersion: "10.2.0", ha: true }, withK3d({ agents: 0, apiPort: 8080 }));
      valid["platform:gitops"] = { repoURL: "https://github.com/acme/platform.git", path: "gitops/envs/prod" };
      assert.deepEqual(problems(valid), [
        "platform:cluster.k3d.httpPort must differ from platform:cluster.k3d.apiPort (both are 8080)",
        "platform:gitops.path gitops/envs/prod is the root of the prod environment (its environment.yaml), not of dev: a dev stack must sync its own environment's tree, like gitops/envs/dev",
        'platform:argocd.chartVersion must be 10.1.1, the argo-cd version gitops/envs/prod/versions.yaml pins: Argo CD manages its own chart after bootstrap, and two versions would fight on every sync (got "10.2.0"); change both together, as `npm run promote` does',
        "platform:argocd.ha needs at least 3 nodes (redis-ha runs 3 replicas, each on a node of its own), and the cluster has 1 at the least (platform:cluster.k3d servers + agents): add nodes or set platform:argocd.ha to false",
      ]);
    });
  });

  describe("what the errors never print", () => {
    it("masks credentials a user put inside a URL, wherever it lands", () => {
      const lines = problems(withGitops({ repoURL: "ftp://alice:ghp_SECRET@example.com/x.git" }));
      assert.deepEqual(lines, [
        'platform:gitops.repoURL must be an https:// or ssh Git URL, like https://github.com/acme/platform.git (got "ftp://***@example.com/x.git")',
      ]);
      assert.ok(!lines.join("").includes("ghp_SECRET"));
    });
  });

  describe("warnings", () => {
    const noKey =
      "platform:sealedSecretsKey is not set: the sealed-secrets controller makes its own key, and what is sealed for it will not decrypt once the stack is re-created; `npm run keys -- --stack dev` stores one in the stack's config";

    it("warns while the GitOps repository is still the example one", () => {
      assert.deepEqual(configWarnings(parse(withGitops({ repoURL: "https://github.com/your-org/platform.git" }))), [
        "platform:gitops.repoURL is still the example https://github.com/your-org/platform.git: Argo CD cannot sync it until you set your own repository, and `pulumi up` does not wait for it",
        noKey,
      ]);
      assert.deepEqual(configWarnings(parse(devConfig())), [noKey]);
    });

    it("warns about an ssh repository without a key to clone it with", () => {
      const ssh = withGitops({ repoURL: "git@github.com:acme/platform.git" });
      assert.deepEqual(configWarnings(parse(ssh)), [
        "platform:gitops.repoURL git@github.com:acme/platform.git is an ssh URL, and platform:gitopsCredentials holds no sshPrivateKey: Argo CD clones over ssh only with a key; set one, or use the repository's https URL",
        noKey,
      ]);
      const keyed = {
        ...ssh,
        "platform:gitopsCredentials": { sshPrivateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n" },
      };
      assert.deepEqual(configWarnings(parse(keyed, { secret: ["platform:gitopsCredentials"] })), [noKey]);
    });

    it("warns while the stack has no sealed-secrets key, and not once it has one", () => {
      assert.deepEqual(configWarnings(parse(withKey(devConfig()), { secret: [KEY] })), []);
    });
  });

  describe("repository credentials", () => {
    it("treats the declared default {} as no credentials, even though it is not encrypted", () => {
      assert.equal(
        parse({ ...devConfig(), "platform:gitopsCredentials": {}, "platform:argocd": {} }).gitops.credentials,
        undefined,
      );
    });

    it("names an empty credential field", () => {
      assert.deepEqual(
        problems(
          { ...devConfig(), "platform:gitopsCredentials": { username: "bot", password: "" } },
          { secret: ["platform:gitopsCredentials"] },
        ),
        ["platform:gitopsCredentials.password must not be empty"],
      );
    });

    const secretValue = "ghp_DO_NOT_PRINT_ME";
    const creds = { username: "bot", password: secretValue };

    it("refuses credentials stored in plain text in the stack file", () => {
      assert.deepEqual(problems({ ...devConfig(), "platform:gitopsCredentials": creds }), [
        "platform:gitopsCredentials must be stored encrypted: set it with `pulumi config set --secret --path platform:gitopsCredentials.<field> <value>`",
      ]);
    });

    it("never prints a credential while reporting a bad one", () => {
      const lines = problems(
        { ...devConfig(), "platform:gitopsCredentials": { username: "bot", passwrd: secretValue } },
        { secret: ["platform:gitopsCredentials"] },
      );
      assert.deepEqual(lines, [
        "platform:gitopsCredentials must hold either username and password (HTTPS token), or sshPrivateKey",
      ]);
      assert.ok(!lines.join("").includes(secretValue));
    });

    it("hands encrypted credentials on as a Pulumi secret", async () => {
      const cfg = parse(
        { ...devConfig(), "platform:gitopsCredentials": creds },
        { secret: ["platform:gitopsCredentials"] },
      );
      assert.ok(cfg.gitops.credentials, "credentials missing");
      const { value, secret } = await unwrap(cfg.gitops.credentials);
      assert.equal(secret, true);
      assert.deepEqual(value, creds);
    });
  });

  describe("loadConfig", () => {
    // loadConfig warns through the SDK, which prints to the console without an engine: keep them.
    let warned: string[];
    const consoleWarn = console.warn;
    beforeEach(() => {
      warned = [];
      console.warn = (...args: unknown[]) => void warned.push(args.map(String).join(" "));
    });
    afterEach(() => {
      console.warn = consoleWarn;
      pulumi.runtime.setAllConfig({}, []);
    });

    it("reads the stack's config and its secret markers from the Pulumi runtime", () => {
      pulumi.runtime.setAllConfig(
        flat({
          ...devConfig(),
          "platform:gitopsCredentials": { sshPrivateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n" },
        }),
        ["platform:gitopsCredentials"],
      );
      const cfg = loadConfig();
      assert.equal(cfg.cluster.name, "platform-dev");
      assert.ok(cfg.gitops.credentials);
      assert.deepEqual(
        warned.map((w) => w.replace(/^warning: \[runtime\] /, "")),
        configWarnings(cfg),
        "loadConfig warns with configWarnings, each once",
      );
    });

    it("notices credentials the runtime does not mark as secret", () => {
      pulumi.runtime.setAllConfig(
        flat({ ...devConfig(), "platform:gitopsCredentials": { username: "u", password: "p" } }),
        [],
      );
      assert.throws(() => loadConfig(), /platform:gitopsCredentials must be stored encrypted/);
    });

    it("ignores other namespaces, such as provider settings", () => {
      pulumi.runtime.setAllConfig({ ...flat(devConfig()), "kubernetes:context": "x", "aws:region": "eu-west-1" }, []);
      assert.equal(loadConfig().environment, "dev");
      assert.equal(warned.length, 1, "the missing sealed-secrets key, once");
    });
  });

  describe("lifecycle and the readiness gate", () => {
    it("waits for a healthy platform by default in dev only, for 900 s", () => {
      assert.equal(parse(devConfig()).argocd.waitForHealthy, true);
      const stage = parse({ ...devConfig(), "platform:environment": "stage" });
      assert.deepEqual([stage.argocd.waitForHealthy, stage.argocd.healthTimeoutSeconds], [false, 900]);
      const off = parse(withArgocd({ waitForHealthy: "false", healthTimeoutSeconds: "120" }));
      assert.deepEqual([off.argocd.waitForHealthy, off.argocd.healthTimeoutSeconds], [false, 120]);
      assert.deepEqual(problems(withArgocd({ healthTimeoutSeconds: 30 })), [
        "platform:argocd.healthTimeoutSeconds must be a whole number from 60 to 7200 (got 30)",
      ]);
    });

    it("never protects an ephemeral stack, and refuses one in prod or with protect on", () => {
      const eph = parse({ ...devConfig(), "platform:lifecycle": { ephemeral: true, drainTimeoutSeconds: 600 } });
      assert.deepEqual(eph.lifecycle, { ephemeral: true, drainTimeoutSeconds: 600 });
      assert.deepEqual([eph.cluster.protect, eph.cluster.ephemeral], [false, true]);
      assert.deepEqual(
        problems({
          ...withCluster({ protect: true }),
          "platform:lifecycle": { ephemeral: true },
        }),
        [
          "platform:cluster.protect must be false when platform:lifecycle.ephemeral is true: an ephemeral stack is destroyed by the reaper (got true)",
        ],
      );
      assert.deepEqual(
        problems({
          "platform:environment": "prod",
          "platform:cluster": { provider: "eks", eks: MINIMAL_CLOUD.eks },
          "platform:argocd": { hostname: "argocd.example.com" },
          "platform:gitops": { repoURL: "https://github.com/acme/platform.git" },
          "platform:lifecycle": { ephemeral: true },
        }),
        ["platform:lifecycle.ephemeral must be false in prod: a prod stack is never short-lived (got true)"],
      );
      assert.deepEqual(problems({ ...devConfig(), "platform:lifecycle": { drainTimeoutSecond: 60 } }), [
        'platform:lifecycle has unknown key "drainTimeoutSecond" (did you mean "drainTimeoutSeconds"?); allowed: ephemeral, drainTimeoutSeconds',
      ]);
    });

    it("takes the sealed-secrets key pair only encrypted, as a secret, and only as PEM", async () => {
      const cfg = parse(withKey(devConfig()), { secret: [KEY] });
      assert.deepEqual(await unwrap(cfg.sealedSecretsKey!), {
        value: { certificate: PEM_CERT, privateKey: PEM_KEY },
        secret: true,
      });
      assert.equal(parse(devConfig()).sealedSecretsKey, undefined);
      assert.equal(
        parse({ ...devConfig(), [KEY]: {} }).sealedSecretsKey,
        undefined,
        "the declared default {} is no key",
      );
      assert.deepEqual(problems(withKey(devConfig())), [
        "platform:sealedSecretsKey must be stored encrypted: set it with `pulumi config set --secret --path platform:sealedSecretsKey.<field> <value>`",
      ]);
      assert.deepEqual(
        problems(withKey(devConfig(), { certificate: PEM_KEY, privateKey: "hunter2" }), { secret: [KEY] }),
        [
          "platform:sealedSecretsKey.certificate must be a PEM X.509 certificate (-----BEGIN CERTIFICATE-----)",
          "platform:sealedSecretsKey.privateKey must be a PEM RSA private key (-----BEGIN PRIVATE KEY-----)",
        ],
      );
    });
  });
  describe("a cluster made elsewhere (provider existing)", () => {
    const KUBECONFIG = "platform:kubeconfig";
    const kubeconfig = (current = "kind-platform") =>
      [
        "apiVersion: v1",
        "kind: Config",
        `current-context: ${current}`,
        "clusters:",
        "  - name: kind-platform",
        "    cluster: { server: 'https://127.0.0.1:39211', certificate-authority-data: Q0EK }",
        "  - name: staging",
        "    cluster: { server: 'https://k8s.staging.example.com' }",
        "contexts:",
        "  - name: kind-platform",
        "    context: { cluster: kind-platform, user: kind-platform }",
        "  - name: staging",
        "    context: { cluster: staging, user: ops }",
        "users:",
        "  - name: kind-platform",
        "    user: { token: s3cr3t-token }",
        "  - name: ops",
        "    user: { token: other-token }",
        "",
      ].join("\n");
    /** An existing-cluster dev stack; `null` leaves platform:kubeconfig out. */
    const existing = (block: Raw = {}, text: string | null = kubeconfig()): Raw => ({
      ...devConfig(),
      "platform:cluster": { provider: "existing", ...(Object.keys(block).length ? { existing: block } : {}) },
      "platform:argocd": { hostname: "argocd.dev.example.com" },
      ...(text === null ? {} : { [KUBECONFIG]: text }),
    });
    const secret = { secret: [KUBECONFIG] };

    it("uses the kubeconfig's current context, its API server as the cluster's identity, and ports 80/443", async () => {
      const cfg = parse(existing(), secret);
      assert.ok(cfg.cluster.provider === "existing", "not an existing cluster");
      assert.equal(cfg.cluster.existing.context, "kind-platform");
      assert.equal(cfg.cluster.existing.server, "https://127.0.0.1:39211");
      assert.deepEqual([cfg.cluster.existing.httpPort, cfg.cluster.existing.httpsPort], [80, 443]);
      const out = await unwrap(cfg.cluster.existing.kubeconfig);
      assert.equal(out.secret, true, "the kubeconfig must stay a Pulumi secret");
      assert.equal(out.value, kubeconfig(), "an unchanged current-context leaves the text as given");
      assert.equal(cfg.argocd.tls.enabled, true, "TLS defaults on, as on the clouds");
    });

    it("switches to the named context, so kubectl and the lifecycle commands use the same one", async () => {
      const cfg = parse(existing({ context: "staging", httpPort: 8080 }), secret);
      assert.ok(cfg.cluster.provider === "existing", "not an existing cluster");
      assert.equal(cfg.cluster.existing.server, "https://k8s.staging.example.com");
      assert.equal(cfg.cluster.existing.httpPort, 8080);
      const text = (await unwrap(cfg.cluster.existing.kubeconfig)).value;
      assert.match(text, /^current-context: staging$/m);
      assert.match(text, /s3cr3t-token/, "the rest of the kubeconfig is kept");
    });

    it("refuses a missing, plain-text, unparsable or incomplete kubeconfig with one line each, never quoting it", () => {
      assert.deepEqual(problems(existing({}, null)), [
        "platform:kubeconfig is required when platform:cluster.provider is existing: the kubeconfig of that cluster, set with `pulumi config set --secret platform:kubeconfig < kubeconfig.yaml`",
      ]);
      assert.deepEqual(problems(existing({}, "")), [
        "platform:kubeconfig is required when platform:cluster.provider is existing: the kubeconfig of that cluster, set with `pulumi config set --secret platform:kubeconfig < kubeconfig.yaml`",
      ]);
      assert.deepEqual(problems(existing()), [
        "platform:kubeconfig must be stored encrypted: set it with `pulumi config set --secret platform:kubeconfig < <file>`",
      ]);
      const cases: [string, string][] = [
        [
          "clusters: [oops\n  token: s3cr3t-token",
          "platform:kubeconfig is not a kubeconfig: it does not parse as YAML",
        ],
        [
          "token: s3cr3t-token\n",
          "platform:kubeconfig is not a kubeconfig: it has no contexts and clusters lists (export one with `kubectl config view --raw --minify`)",
        ],
        [kubeconfig("gone"), 'platform:kubeconfig has no context "gone" (its contexts: kind-platform, staging)'],
        [
          kubeconfig().replace("current-context: kind-platform\n", ""),
          "platform:kubeconfig has no current-context: set platform:cluster.existing.context to one of kind-platform, staging",
        ],
        [
          kubeconfig().replace("user: kind-platform }", "user: nobody }"),
          'platform:kubeconfig context "kind-platform" names user "nobody", which is not in its users list',
        ],
        [
          kubeconfig().replace("server: 'https://127.0.0.1:39211', ", ""),
          'platform:kubeconfig context "kind-platform" names cluster "kind-platform", which has no https:// server in its clusters list',
        ],
      ];
      for (const [text, line] of cases) {
        const got = problems(existing({}, text), secret);
        assert.equal(got.length, 1, `one line for ${line}: ${got.join(" | ")}`);
        assert.ok(got[0]?.startsWith(line), `expected "${line}", got "${got[0]}"`);
        assert.doesNotMatch(got[0] ?? "", /s3cr3t/, "the kubeconfig's content must never be printed");
      }
      assert.deepEqual(problems(existing({ context: "staging", contxt: "x" }), secret), [
        'platform:cluster.existing has unknown key "contxt" (did you mean "context"?); allowed: context, httpPort, httpsPort',
      ]);
    });

    it("refuses a kubeconfig on a stack whose cluster the program makes itself", () => {
      assert.deepEqual(problems({ ...devConfig(), "platform:kubeconfig": kubeconfig() }, secret), [
        "platform:kubeconfig is read only when platform:cluster.provider is existing (got provider k3d); remove it with `pulumi config rm platform:kubeconfig`",
      ]);
    });

    it("needs a hostname for Argo CD, as the clouds do", () => {
      const raw = existing();
      delete raw["platform:argocd"];
      assert.deepEqual(problems(raw, secret), [
        "platform:argocd.hostname is required when platform:cluster.provider is existing (a DNS name you control, like argocd.example.com)",
      ]);
    });
  });

  describe("the argo-cd chart's repository", () => {
    const repo = (chartRepository: unknown) => withArgocd({ chartRepository });

    it("takes an https mirror or an oci:// registry, without a trailing slash", () => {
      assert.equal(
        parse(repo("https://charts.example.com/argo/")).argocd.chartRepository,
        "https://charts.example.com/argo",
      );
      assert.equal(
        parse(repo("oci://ghcr.io/argoproj/argo-helm")).argocd.chartRepository,
        "oci://ghcr.io/argoproj/argo-helm",
      );
      assert.equal(parse(repo("http://127.0.0.1:8879")).argocd.chartRepository, "http://127.0.0.1:8879");
    });

    it("refuses plain http off this machine, credentials in the URL, and what is no URL", () => {
      assert.deepEqual(problems(repo("http://charts.example.com")), [
        'platform:argocd.chartRepository must use https:// (plain http:// only for a repository on 127.0.0.1 or localhost) (got "http://charts.example.com")',
      ]);
      assert.deepEqual(problems(repo("https://bob:hunter2@charts.example.com")), [
        'platform:argocd.chartRepository must not hold credentials (got "https://***@charts.example.com")',
      ]);
      for (const bad of ["argo-helm", "git@github.com:argoproj/argo-helm.git", "s3://charts"]) {
        assert.deepEqual(problems(repo(bad)), [
          `platform:argocd.chartRepository must be an https:// Helm repository or an oci:// registry, like https://argoproj.github.io/argo-helm or oci://ghcr.io/argoproj/argo-helm (got ${JSON.stringify(bad)})`,
        ]);
      }
    });
  });
});
