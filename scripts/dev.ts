/**
 * `npm run up | preview | down | output | keys [-- <pulumi flags>]`: your own dev stack on this
 * machine (`dev-<user>`), or any stack with `--stack <name>`. `keys` (and every `up`) gives the
 * stack a sealed-secrets key pair in its config when it has none.
 *
 * Your dev stack's file, Pulumi.dev-<user>.yaml, is made on first use from the team's Pulumi.dev.yaml,
 * with the GitOps repository set to this clone's `origin`; Git ignores it, so the lines Pulumi
 * adds for one person (encryptionsalt, the encrypted sealed-secrets key) never reach a tracked
 * file. Before anything is created, the stack's config is checked, and every problem is listed.
 *
 * Checks the tools each command needs for the stack's kind of cluster (docker and k3d for k3d,
 * the AWS CLI for EKS, doctl for DOKS, gke-gcloud-auth-plugin for GKE) and stops with one line naming what is
 * missing and how to install it. Without a configured Pulumi backend it keeps state in ./.pulumi-state (a local file
 * backend: no account needed) with a generated passphrase beside it. Extra flags go to pulumi,
 * e.g. `npm run up -- --yes`; `npm run output -- argocdAdminPassword --show-secrets` reads a stack
 * output from that same backend.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as YAML from "yaml";
import type * as configModule from "../components/config";
import type { ClusterProvider } from "../components/config";
import { isExampleRepoURL, scpGitUrl } from "../components/gitops-tree";
import { backendEnv, DELETE_UNREACHABLE, ROOT } from "./backend";
import { CONFIG_KEY, ensureSealedSecretsKey } from "./sealed-secrets-key";
import { readStackConfig } from "./synth/stack-config";

/** The stack file personal dev stacks are made from: the team's dev settings. */
const TEAM_DEV_STACK = "dev";
/** Personal dev stacks: `dev-<user>`, whose files Git ignores (.gitignore: Pulumi.dev-*.yaml). */
const PERSONAL = /^dev-[a-z0-9][a-z0-9-]*$/;
/** k3d reads config files of apiVersion k3d.io/v1alpha5 from 5.5.0 on. */
const MIN_K3D = [5, 5, 0] as const;

type Tool = "pulumi" | "docker" | "k3d" | "aws" | "doctl" | "gke-gcloud-auth-plugin";

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
    doks: ["doctl"],
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
  doctl:
    "the DOKS kubeconfig signs in with `doctl kubernetes cluster kubeconfig exec-credential`; install doctl and sign in (`doctl auth init`, or DIGITALOCEAN_ACCESS_TOKEN): https://docs.digitalocean.com/reference/doctl/how-to/install/",
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
  doctl: ["version"],
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
  let stack = personalStack();
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

/** This person's dev stack: `dev-` and the login name, as a stack name allows it. */
export function personalStack(env: NodeJS.ProcessEnv = process.env): string {
  const login = env["USER"] || env["USERNAME"] || os.userInfo().username;
  const who = login
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 20)
    .replace(/-+$/, "");
  return `dev-${who || "me"}`;
}

/** Hosts whose repositories Argo CD can clone over https without a key, when they are public. */
const HTTPS_HOSTS: ReadonlySet<string> = new Set(["github.com", "gitlab.com", "bitbucket.org", "codeberg.org"]);

/**
 * This clone's `origin`, as a URL Argo CD can clone: an ssh URL of a public host becomes its https
 * form (Argo CD clones ssh only with a key, platform:gitopsCredentials.sshPrivateKey); a URL with
 * credentials in it is not used.
 */
function originUrl(): string | undefined {
  const r = run("git", ["remote", "get-url", "origin"]);
  const url = r.status === 0 ? r.stdout.trim() : "";
  const scp = scpGitUrl(url);
  let host: string;
  let repoPath: string;
  if (scp) {
    [host, repoPath] = [scp.host, scp.path];
  } else {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return undefined;
    }
    if (u.password || (u.protocol === "https:" && u.username)) return undefined;
    if (u.protocol === "https:") return url;
    if (u.protocol !== "ssh:") return undefined;
    [host, repoPath] = [u.hostname, u.pathname.replace(/^\//, "")];
  }
  return HTTPS_HOSTS.has(host) ? `https://${host}/${repoPath.replace(/\.git$/, "")}.git` : url;
}

/**
 * Makes a personal dev stack's file from the team's Pulumi.dev.yaml (its settings and comments,
 * none of its per-person lines), pointing the root app at this clone's origin. Says what it did.
 */
function createPersonalStack(stack: string): void {
  const team = path.join(ROOT, `Pulumi.${TEAM_DEV_STACK}.yaml`);
  if (!fs.existsSync(team)) throw new Stop(`no Pulumi.${TEAM_DEV_STACK}.yaml to make ${stack} from`);
  const doc = YAML.parseDocument(fs.readFileSync(team, "utf8"));
  for (const key of ["encryptionsalt", "encryptedkey", "secretsprovider"]) doc.delete(key);
  doc.deleteIn(["config", CONFIG_KEY]);
  const repoKey = ["config", "platform:gitops", "repoURL"];
  const origin = originUrl();
  const teamRepo = doc.getIn(repoKey);
  if (origin && (typeof teamRepo !== "string" || isExampleRepoURL(teamRepo))) doc.setIn(repoKey, origin);
  doc.commentBefore = [
    ` Your own dev stack (${stack}), made by \`npm run up\` from Pulumi.${TEAM_DEV_STACK}.yaml. Git ignores this`,
    " file: edit it freely. Pulumi keeps this stack's per-person lines here (encryptionsalt, the",
    " encrypted sealed-secrets key); keep the file, or those secrets cannot be read again.",
    "",
    ...(doc.commentBefore ?? "").split("\n"),
  ].join("\n");
  fs.writeFileSync(path.join(ROOT, `Pulumi.${stack}.yaml`), doc.toString());
  const repo = doc.getIn(repoKey) as string;
  console.log(
    `Made your dev stack ${stack}: Pulumi.${stack}.yaml, from Pulumi.${TEAM_DEV_STACK}.yaml (Git ignores it). Argo CD syncs ${repo}${repo === origin ? " (this clone's origin)" : ""}; change platform:gitops.repoURL there to sync another copy.`,
  );
}

/**
 * Checks the stack's config as the program will, before a stack, a key or a cluster is made:
 * every problem, one line each. Encrypted values are not read here (the program checks them).
 */
function checkConfig(stack: string): void {
  let problems: string[];
  try {
    const { config, secretKeys } = readStackConfig(stack);
    // The program, loaded only for the commands that create something.
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- a deferred load, as in synth.ts
    const { parseConfig, ConfigError } = require("../components/config") as typeof configModule;
    // Encrypted objects arrive as placeholders; only the CLI can decrypt them, and the program checks them.
    const readable = Object.fromEntries(
      Object.entries(config).filter(([k]) => !secretKeys.includes(k) || k === "platform:kubeconfig"),
    );
    try {
      parseConfig(readable, stack, (k) => secretKeys.includes(k));
      return;
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      problems = e.problems;
    }
  } catch (e) {
    problems = [(e as Error).message];
  }
  throw new Stop(
    [
      ...problems,
      `Nothing was created: fix Pulumi.${stack}.yaml (${problems.length} problem${problems.length > 1 ? "s" : ""} above) and run again.`,
    ].join("\n"),
  );
}

function main(argv: string[]): number {
  const [command, ...flags] = argv;
  if (!COMMANDS.includes(command as Command)) {
    throw new Stop(`usage: dev.ts ${COMMANDS.join("|")} [pulumi flags] (got ${JSON.stringify(command ?? "")})`);
  }
  const cmd = command as Command;
  const { stack, rest } = splitStack(flags);
  const file = path.join(ROOT, `Pulumi.${stack}.yaml`);
  const creates = cmd === "up" || cmd === "preview" || cmd === "keys";
  if (creates && PERSONAL.test(stack) && !fs.existsSync(file)) createPersonalStack(stack);
  const { provider, ephemeral } = stackKind(stack);
  checkPrerequisites(cmd, provider);
  if ((cmd === "up" || cmd === "preview") && fs.existsSync(file)) checkConfig(stack);

  const { env, local } = backendEnv();
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
        PERSONAL.test(stack)
          ? `Generated the sealed-secrets key pair of stack ${stack} and stored it encrypted as ${CONFIG_KEY} in Pulumi.${stack}.yaml, which stays on this machine.`
          : `Generated the sealed-secrets key pair of stack ${stack} and stored it encrypted as ${CONFIG_KEY} in Pulumi.${stack}.yaml: commit that file for a shared stack, so that every cluster of this stack decrypts the same SealedSecrets.`,
      );
    } else if (cmd === "keys") {
      console.log(`Stack ${stack} already has ${CONFIG_KEY}; nothing to do.`);
    }
    if (cmd === "keys") return 0;
  }

  // A cluster that goes with the stack, or an ephemeral one, may already be gone: drop its objects.
  const destroyEnv = cmd === "down" && (provider !== "existing" || ephemeral) ? DELETE_UNREACHABLE : {};
  const result = run("pulumi", [...PULUMI_VERB[cmd], "--stack", stack, ...rest], {
    env: { ...env, ...destroyEnv },
    inherit: true,
  });
  if (result.status === 0 && cmd === "up") {
    const on = stack === personalStack() ? "" : ` --stack ${stack}`;
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
