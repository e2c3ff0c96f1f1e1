/**
 * Upstream data files the specs and the e2e check against (the package of every chart the GitOps
 * tree pins, k3d's config schema). None is committed: they come from the folder named by
 * PLATFORM_REFERENCE_DIR (CI points it at a read-only copy), or, where it is unset, from upstream
 * into ~/.cache/platform-reference (`helm pull` of each pinned chart, by `npm run charts`, which
 * `npm test` runs when the cache lacks one; k3d's schema at a pinned commit, on first use).
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export const REFERENCE_ENV = "PLATFORM_REFERENCE_DIR";

/** The argo-cd chart's Helm repository, and the commit of k3d whose config schema the specs use. */
const UPSTREAM = {
  argocdRepo: "https://argoproj.github.io/argo-helm",
  k3dSchema:
    "https://raw.githubusercontent.com/k3d-io/k3d/46f3480daa747ba71c155d0f619ce6aba7b95db9/pkg/config/v1alpha5/schema.json",
} as const;

function cacheDir(): string {
  return process.env["PLATFORM_REFERENCE_CACHE"] ?? path.join(os.homedir(), ".cache", "platform-reference");
}

/** The reference folder in use, and whether files may be fetched into it. */
function where(): { dir: string; fetch: boolean } {
  const given = process.env[REFERENCE_ENV];
  return given ? { dir: path.resolve(given), fetch: false } : { dir: cacheDir(), fetch: true };
}

function missing(file: string, how: string): Error {
  return new Error(
    `${file} is not there: set ${REFERENCE_ENV} to a folder that holds it (CI points it at its read-only copy), or unset it to ${how} into ${cacheDir()}`,
  );
}

function fetchInto(url: string, target: string): void {
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const tmp = `${target}.${process.pid}.tmp`;
  const script = `fetch(${JSON.stringify(url)}).then(async (r) => { if (!r.ok) throw new Error("HTTP " + r.status);
    require("node:fs").writeFileSync(${JSON.stringify(tmp)}, Buffer.from(await r.arrayBuffer())); })
    .catch((e) => { console.error(String(e.message ?? e)); process.exit(1); });`;
  const r = spawnSync(process.execPath, ["-e", script], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`could not fetch ${url}: ${r.stderr.trim()}`);
  fs.renameSync(tmp, target);
}

/** The folder of chart packages (with an index.yaml, so it can be served as a Helm repository). */
export function chartsDir(): string {
  return path.join(where().dir, "charts");
}

/** A chart at a pinned version: where Argo CD pulls it from, as the tree's Application names it. */
export interface ChartPin {
  repoURL: string;
  chart: string;
  version: string;
}

/** The command that brings every chart the tree pins into the cache (test/fetch-charts.ts). */
export const FETCH_CHARTS = "npm run charts";

/** The file a chart's package has in a Helm repository's folder (`helm pull` names it so). */
export const packageFile = (pin: ChartPin): string => `${pin.chart}-${pin.version}.tgz`;

/**
 * The package of a chart at its pinned version: `<chart>-<version>.tgz` in the reference folder's
 * charts/, or pulled from the chart's repository into the cache where no folder is given.
 */
export function chartPackage(pin: ChartPin, helm: () => string): string {
  const { dir, fetch } = where();
  const file = path.join(dir, "charts", packageFile(pin));
  if (fs.existsSync(file)) return file;
  if (!fetch) {
    throw new Error(
      `chart ${pin.chart} ${pin.version} (${pin.repoURL}) has no package ${file}: add it there, or unset ${REFERENCE_ENV} and run \`${FETCH_CHARTS}\` with network to pull it into ${cacheDir()}`,
    );
  }
  pullChart(pin, helm);
  return file;
}

/** Whether a chart's package is there already (nothing is fetched). */
export function hasChartPackage(pin: ChartPin): boolean {
  return fs.existsSync(path.join(where().dir, "charts", packageFile(pin)));
}

/** `helm pull` of one chart version into the cache, with the repository index beside it. */
export function pullChart(pin: ChartPin, helm: () => string): void {
  const dir = path.join(cacheDir(), "charts");
  fs.mkdirSync(dir, { recursive: true });
  const oci = pin.repoURL.startsWith("oci://");
  const ref = oci ? `${pin.repoURL.replace(/\/$/, "")}/${pin.chart}` : pin.chart;
  const args = ["pull", ref, ...(oci ? [] : ["--repo", pin.repoURL]), "--version", pin.version, "-d", dir];
  const pull = spawnSync(helm(), args, { encoding: "utf8" });
  if (pull.status !== 0 || !fs.existsSync(path.join(dir, packageFile(pin)))) {
    throw new Error(`could not pull ${pin.chart} ${pin.version} from ${pin.repoURL}: ${pull.stderr.trim()}`);
  }
  // Served as a Helm repository by the e2e: an index beside the packages.
  spawnSync(helm(), ["repo", "index", dir], { encoding: "utf8" });
}

/** The argo-cd chart package of a version (`helm pull` brings it where nothing provides it). */
export function argocdChartArchive(version: string, helm: () => string): string {
  return chartPackage({ repoURL: UPSTREAM.argocdRepo, chart: "argo-cd", version }, helm);
}

/** k3d's JSON Schema of its config file (apiVersion k3d.io/v1alpha5). */
export function k3dConfigSchema(): string {
  const { dir, fetch } = where();
  const file = path.join(dir, "k3d", "config-v1alpha5.schema.json");
  if (fs.existsSync(file)) return file;
  if (!fetch) throw missing(file, `fetch it from ${UPSTREAM.k3dSchema}`);
  fetchInto(UPSTREAM.k3dSchema, file);
  return file;
}
