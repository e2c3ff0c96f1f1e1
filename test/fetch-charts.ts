/**
 * `npm run charts`: brings the package of every chart version the GitOps tree pins into the
 * reference cache (~/.cache/platform-reference/charts, `helm pull` from each chart's repository),
 * so the specs can render every Helm child as Argo CD would. `npm test` runs it first when the
 * cache lacks a package and PLATFORM_REFERENCE_DIR is unset; with it set (CI), nothing is fetched
 * and a missing package fails the spec that needs it, naming it.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as YAML from "yaml";
import { ENVIRONMENTS } from "../components/config";
import { ROOT } from "../scripts/synth/stack-config";
import { type ChartPin, hasChartPackage, pullChart, REFERENCE_ENV } from "./reference";
import { layerBinary } from "./tools";

type Obj = Record<string, any>;

const docs = (file: string): Obj[] =>
  YAML.parseAllDocuments(fs.readFileSync(file, "utf8"))
    .map((d) => d.toJS() as Obj | null)
    .filter((d): d is Obj => d !== null);

/** Every chart the tree pins, per environment: its repository and chart from the app, its version from versions.yaml. */
export function chartPins(): ChartPin[] {
  const charts = new Map<string, { repoURL: string; chart: string }>();
  for (const fn of fs.readdirSync(path.join(ROOT, "gitops"))) {
    const apps = path.join(ROOT, "gitops", fn, "apps");
    if (!fs.existsSync(apps)) continue;
    for (const f of fs.readdirSync(apps).filter((x) => x.endsWith(".yaml") && x !== "kustomization.yaml"))
      for (const d of docs(path.join(apps, f)))
        if (d["kind"] === "Application" && d["spec"]["source"]["chart"])
          charts.set(d["metadata"]["name"], {
            repoURL: d["spec"]["source"]["repoURL"],
            chart: d["spec"]["source"]["chart"],
          });
  }
  const pins = new Map<string, ChartPin>();
  for (const env of ENVIRONMENTS) {
    for (const d of docs(path.join(ROOT, "gitops", "envs", env, "versions.yaml"))) {
      const chart = charts.get(d["metadata"]["name"]);
      if (!chart)
        throw new Error(
          `gitops/envs/${env}/versions.yaml pins ${d["metadata"]["name"]}, which is no Helm app of the tree`,
        );
      const pin = { ...chart, version: String(d["spec"]["source"]["targetRevision"]) };
      pins.set(`${env}/${pin.chart}/${pin.version}`, pin);
    }
  }
  return [...pins.values()];
}

/** The pins whose package is not there yet (one per chart version). */
export function missingCharts(): ChartPin[] {
  const seen = new Set<string>();
  return chartPins().filter((p) => {
    const key = `${p.chart}-${p.version}`;
    if (seen.has(key) || hasChartPackage(p)) return false;
    seen.add(key);
    return true;
  });
}

if (require.main === module) {
  if (process.env[REFERENCE_ENV]) {
    const missing = missingCharts();
    for (const p of missing) console.error(`missing: ${p.chart} ${p.version} (${p.repoURL})`);
    console.log(`${REFERENCE_ENV} is set: nothing fetched; ${missing.length} package(s) missing there`);
    process.exit(missing.length ? 1 : 0);
  }
  const missing = missingCharts();
  for (const p of missing) {
    process.stdout.write(`helm pull ${p.chart} ${p.version} from ${p.repoURL} ... `);
    pullChart(p, () => layerBinary("helm/helm"));
    console.log("ok");
  }
  console.log(`${missing.length} chart package(s) fetched; every chart the tree pins is in the cache`);
}
