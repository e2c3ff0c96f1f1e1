/**
 * What the config checks read from the GitOps tree in this checkout, the repository the root app
 * syncs: which folders exist, the environment a root declares (its environment.yaml), and the
 * argo-cd chart version it pins (its versions.yaml). Only reads files; nothing here needs a cluster.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as YAML from "yaml";

export interface GitOpsTree {
  /** Is `rel` (relative to the repository root) a folder? */
  isFolder(rel: string): boolean;
  /** The environment the root at `rel` declares in environment.yaml (ConfigMap gitops-environment), if it does. */
  environmentOf(rel: string): string | undefined;
  /** The argo-cd chart version the root at `rel` pins in versions.yaml (Application argocd), if it does. */
  argocdChartVersion(rel: string): string | undefined;
  /** The roots under gitops/envs that declare an environment, for messages. */
  roots(): string[];
}

/** The repository URL the stack files ship with, for users to replace with their copy. */
const EXAMPLE_REPO_PREFIX = "https://github.com/your-org/";

/** Is this the stack files' placeholder repository, which Argo CD cannot sync? */
export function isExampleRepoURL(url: string): boolean {
  return url.startsWith(EXAMPLE_REPO_PREFIX);
}

/** Git's scp-like ssh form, `user@host:path`: the host and the path. */
const SCP_GIT_URL = /^[A-Za-z0-9._-]+@([A-Za-z0-9.-]+):([A-Za-z0-9._~/-]+)$/;

/** The host and path of an scp-like ssh Git URL (`git@github.com:acme/platform.git`), if it is one. */
export function scpGitUrl(url: string): { host: string; path: string } | undefined {
  const m = SCP_GIT_URL.exec(url);
  return m ? { host: m[1] ?? "", path: m[2] ?? "" } : undefined;
}

/** Does Argo CD clone this URL over ssh (the scp-like form, or ssh://)? */
export function isSshGitUrl(url: string): boolean {
  return scpGitUrl(url) !== undefined || url.startsWith("ssh://");
}

/** The repository this program runs from: the folder of Pulumi.yaml. */
const REPOSITORY_ROOT = path.resolve(__dirname, "..");

type Doc = { kind?: unknown; metadata?: { name?: unknown }; data?: Record<string, unknown>; spec?: unknown };

function docs(file: string): Doc[] {
  if (!fs.existsSync(file)) return [];
  return YAML.parseAllDocuments(fs.readFileSync(file, "utf8"))
    .map((d) => d.toJS() as unknown)
    .filter((d): d is Doc => d !== null && typeof d === "object");
}

/** The tree of the checkout at `root` (default: this repository). */
export function checkoutTree(root: string = REPOSITORY_ROOT): GitOpsTree {
  const at = (rel: string) => path.join(root, rel);
  const tree: GitOpsTree = {
    isFolder: (rel) => fs.statSync(at(rel), { throwIfNoEntry: false })?.isDirectory() ?? false,
    environmentOf: (rel) => {
      const cm = docs(path.join(at(rel), "environment.yaml")).find(
        (d) => d.kind === "ConfigMap" && d.metadata?.name === "gitops-environment",
      );
      const env = cm?.data?.["environment"];
      return typeof env === "string" ? env : undefined;
    },
    argocdChartVersion: (rel) => {
      const app = docs(path.join(at(rel), "versions.yaml")).find(
        (d) => d.kind === "Application" && d.metadata?.name === "argocd",
      );
      const version = (app?.spec as { source?: { targetRevision?: unknown } } | undefined)?.source?.targetRevision;
      return typeof version === "string" || typeof version === "number" ? String(version) : undefined;
    },
    roots: () => {
      const envs = at(path.join("gitops", "envs"));
      if (!fs.existsSync(envs)) return [];
      return fs
        .readdirSync(envs)
        .map((d) => `gitops/envs/${d}`)
        .filter((rel) => tree.environmentOf(rel) !== undefined)
        .sort();
    },
  };
  return tree;
}
