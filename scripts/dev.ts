/**
 * `npm run up | preview | down | output | keys [-- <pulumi flags>]`: the dev stack on this machine,
 * or any stack with `--stack <name>`. `keys` (and every `up`) gives the stack a sealed-secrets key
 * pair in its config when it has none.
 *
 * Checks the tools each command needs for the stack's kind of cluster (docker and k3d for k3d,
 * the AWS CLI for EKS, gke-gcloud-auth-plugin for GKE) and stops with one line naming what is
 * missing and how to install it. Without a configured Pulumi backend it keeps state in ./.pulumi-state (a local file
 * backend: no account needed) with a generated passphrase beside it. Extra flags go to pulumi,
 * e.g. `npm run up -- --yes`; `npm run output -- argocdAdminPassword --show-secrets` reads a stack
 * output from that same backend.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as YAML from "yaml";
import type { ClusterProvider } from "../components/config";
import { backendEnv, DELETE_UNREACHABLE, ROOT } from "./backend";
import { CONFIG_KEY, ensureSealedSecretsKey } from "./sealed-secrets-key";

const DEFAULT_STACK = "dev";
/** k3d reads config files of apiVersion k3d.io/v1alpha5 from 5.5.0 on. */
const MIN_K3D = [5, 5, 0] as const;

type Tool = "pulumi" | "docker" | "k3d" | "aws" | "gke-gcloud-auth-plugin";

const COMMANDS = ["up", "preview", "down", "output", "keys"] as const;
type Command = (typeof COMMANDS)[number];

/**
 * The tools a command needs on a kind of cluster. k3d's come in only where a cluster is made or
 * removed; the cloud kubeconfigs call their CLI whenever Kubernetes is reached, previews included.
 */
function needs(command: Command, provider: ClusterProvider): Tool[] {
  if (command === "output" || command === "keys") return ["pulumi"];
  const cluster: Record<ClusterProvider, Tool[]> = {
    k3d: command === "preview" ? [] : ["docker", "k3d"],
    eks: ["aws"],
    doks: [],
    gke: ["gke-gcloud-auth-plugin"],
    // The stack's own kubeconfig reaches it; nothing else is called.
    existing: [],
  };
  return ["pulumi", ...cluster[provider]];
}

/**
 * The stack's `platform:cluster.provider` (k3d when there is no stack file) and
 * `platform:lifecycle.ephemeral`, from Pulumi.<stack>.yaml.
 */
function stackKind(stack: string): { provider: ClusterProvider; ephemeral: boolean } {
  const file = path.join(ROOT, `Pulumi.${stack}.yaml`);
  if (!fs.existsSync(file)) return { provider: "k3d", ephemeral: false };
  const parsed = YAML.parse(fs.readFileSync(file, "utf8")) as {
    config?: Record<string, { provider?: unknown; ephemeral?: unknown } | undefined>;
  } | null;
  const p = parsed?.config?.["platform:cluster"]?.provider;
  const ephemeral = String(parsed?.config?.["platform:lifecycle"]?.ephemeral) === "true";
  const provider = p === "eks" || p === "doks" || p === "gke" || p === "existing" ? p : "k3d";
  return { provider, ephemeral };
}
// The policy pack (policy/) runs with every preview and update, as in CI.
const PULUMI_VERB: Record<Command, string[]> = {
  up: ["up", "--policy-pack", "policy"],
  preview: ["preview", "--policy-pack", "policy"],
  down: ["destroy"],
  output: ["stack", "output"],
  keys: [],
};

const INSTALL: Record<Tool, string> = {
  pulumi:
    "install the Pulumi CLI: https://www.pulumi.com/docs/iac/download-install/ (e.g. curl -fsSL https://get.pulumi.com | sh)",
  docker: "install Docker Desktop or Docker Engine: https://docs.docker.com/get-started/get-docker/",
  k3d: "install k3d 5.5 or later: https://k3d.io/#installation (e.g. curl -s https://raw.githubusercontent.com/k3d-io/k3d/main/install.sh | bash)",
  aws: "the EKS kubeconfig signs in with `aws eks get-token`; install the AWS CLI v2: https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html",
  "gke-gcloud-auth-plugin":
    "the GKE kubeconfig signs in with it; install it with `gcloud components install gke-gcloud-auth-plugin` (https://cloud.google.com/kubernetes-engine/docs/how-to/cluster-access-for-kubectl)",
};

class Stop extends Error {}

function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; inherit?: boolean } = {}) {
  return spawnSync(cmd, args, {
    cwd: ROOT,
    env: opts.env ?? process.env,
    encoding: "utf8",
    stdio: opts.inherit ? "inherit" : "pipe",
  });
}

/** How each tool prints its version: `aws version` and `gke-gcloud-auth-plugin version` are no commands. */
const VERSION_ARGS: Record<Tool, string[]> = {
  pulumi: ["version"],
  docker: ["--version"],
  k3d: ["version"],
  aws: ["--version"],
  "gke-gcloud-auth-plugin": ["--version"],
};

function found(tool: Tool): boolean {
  const r = run(tool, VERSION_ARGS[tool]);
  return !r.error && r.status === 0;
}

/** Stops with one line at the first missing prerequisite. */
function checkPrerequisites(command: Command, provider: ClusterProvider): void {
  for (const tool of needs(command, provider)) {
    if (!found(tool)) throw new Stop(`missing prerequisite: ${tool} is not on PATH; ${INSTALL[tool]}`);
    if (tool === "docker" && run("docker", ["info"]).status !== 0) {
      throw new Stop(
        "missing prerequisite: docker is installed but its engine is not running (docker info failed); start Docker Desktop or the docker service",
      );
    }
    if (tool === "k3d") {
      const out = run("k3d", ["version"]).stdout;
      const m = /k3d version v?(\d+)\.(\d+)\.(\d+)/.exec(out);
      const v = m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
      if (!v || compare(v, MIN_K3D) < 0) {
        throw new Stop(`missing prerequisite: k3d ${v ? v.join(".") : "(unknown version)"} is too old; ${INSTALL.k3d}`);
      }
    }
  }
}

function compare(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) - (b[i] ?? 0);
  return 0;
}

/** Takes `--stack x`, `--stack=x`, `-s x` or `-s=x` out of the flags. */
function splitStack(flags: string[]): { stack: string; rest: string[] } {
  const rest: string[] = [];
  let stack = DEFAULT_STACK;
  for (let i = 0; i < flags.length; i++) {
    const flag = flags[i] ?? "";
    const inline = /^(?:--stack|-s)=(.*)$/.exec(flag);
    if (inline) stack = inline[1] ?? "";
    else if (flag === "--stack" || flag === "-s") stack = flags[++i] ?? "";
    else rest.push(flag);
  }
  if (!stack) throw new Stop("--stack needs a stack name");
  return { stack, rest };
}

function main(argv: string[]): number {
  const [command, ...flags] = argv;
  if (!COMMANDS.includes(command as Command)) {
    throw new Stop(`usage: dev.ts ${COMMANDS.join("|")} [pulumi flags] (got ${JSON.stringify(command ?? "")})`);
  }
  const cmd = command as Command;
  const { stack, rest } = splitStack(flags);
  const { provider, ephemeral } = stackKind(stack);
  checkPrerequisites(cmd, provider);

  const { env, local } = backendEnv();
  const creates = cmd === "up" || cmd === "preview" || cmd === "keys";
  const select = run(
    "pulumi",
    [
      "stack",
      "select",
      stack,
      ...(creates ? ["--create"] : []),
      ...(creates && local ? ["--secrets-provider", "passphrase"] : []),
    ],
    { env, inherit: true },
  );
  if (select.status !== 0) return select.status ?? 1;

  if (cmd === "up" || cmd === "keys") {
    const key = ensureSealedSecretsKey(stack, env, ROOT);
    if (typeof key === "object") throw new Stop(key.error);
    if (key === "generated") {
      console.log(
        `Generated the sealed-secrets key pair of stack ${stack} and stored it encrypted as ${CONFIG_KEY} in Pulumi.${stack}.yaml: commit that file for a shared stack (a laptop's keeps it locally), so that every cluster of this stack decrypts the same SealedSecrets.`,
      );
    } else if (cmd === "keys") {
      console.log(`Stack ${stack} already has ${CONFIG_KEY}; nothing to do.`);
    }
    if (cmd === "keys") return 0;
  }

  // A DOKS kubeconfig in state expires after a week; --run-program reads a fresh one first.
  const fresh = cmd === "down" && provider === "doks" && !rest.includes("--run-program") ? ["--run-program"] : [];
  // A cluster that goes with the stack, or an ephemeral one, may already be gone: drop its objects.
  const destroyEnv = cmd === "down" && (provider !== "existing" || ephemeral) ? DELETE_UNREACHABLE : {};
  const result = run("pulumi", [...PULUMI_VERB[cmd], "--stack", stack, ...fresh, ...rest], {
    env: { ...env, ...destroyEnv },
    inherit: true,
  });
  if (result.status === 0 && cmd === "up") {
    const on = stack === DEFAULT_STACK ? "" : ` --stack ${stack}`;
    console.log(
      [
        "",
        `Argo CD:   npm run output -- argocdUrl${on}`,
        `Password:  npm run output -- argocdAdminPassword --show-secrets${on}   (user admin)`,
        provider === "k3d"
          ? `kubectl:   kubectl --context k3d-$(npm run -s output -- clusterName${on}) get applications -n argocd`
          : `kubectl:   npm run -s output -- kubeconfig --show-secrets${on} > ~/.kube/platform-${stack}.yaml && kubectl --kubeconfig ~/.kube/platform-${stack}.yaml get applications -n argocd`,
      ].join("\n"),
    );
  }
  return result.status ?? 1;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (e) {
  if (!(e instanceof Stop)) throw e;
  console.error(e.message);
  process.exitCode = 1;
}
