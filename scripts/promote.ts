/**
 * `npm run promote -- <app> <from> <to>`: moves an app's release from one environment to the
 * next (dev → stage → prod) by copying its pin in the GitOps tree, and nothing else:
 *
 * - a chart from a Helm repository: its version, in gitops/envs/<env>/versions.yaml;
 * - an app from this repository: its image tags, the `images:` of
 *   gitops/<function>/<app>/overlays/<env>/kustomization.yaml.
 *
 * The files are edited in place, comments and layout kept, so `git diff` shows exactly the
 * promoted lines; review them, commit, and open a pull request. Promoting `argocd` also sets
 * `platform:argocd.chartVersion` in the stack files (and example stacks) of the target
 * environment, since the Pulumi release and the tree must pin the same chart.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as YAML from "yaml";
import type { Environment } from "../components/config";

/** The order releases move in. Equal to ENVIRONMENTS in components/config.ts (a test checks it). */
export const PROMOTION_ORDER = ["dev", "stage", "prod"] as const satisfies readonly Environment[];

/** A problem with the command line or the tree, in one line. */
export class PromoteError extends Error {}

/** One file the promotion changed: what, where, from which value to which. */
export interface Change {
  file: string;
  what: string;
  before: string;
  after: string;
}

const FUNCTIONS = ["platform", "security", "observability", "workloads"] as const;
const YAML_OPTIONS = { lineWidth: 0 } as const;

const rel = (root: string, file: string) => path.relative(root, file);

function readDocs(file: string): YAML.Document.Parsed[] {
  return YAML.parseAllDocuments(fs.readFileSync(file, "utf8"));
}

function writeDocs(file: string, docs: YAML.Document.Parsed[]): void {
  fs.writeFileSync(file, docs.map((d) => d.toString(YAML_OPTIONS)).join(""));
}

/** The doc of an Application named `app` in a versions.yaml, if there is one. */
function versionDoc(docs: YAML.Document.Parsed[], app: string): YAML.Document.Parsed | undefined {
  return docs.find((d) => d.getIn(["kind"]) === "Application" && d.getIn(["metadata", "name"]) === app);
}

/** Where an app from this repository keeps its overlays, if it is one. */
function overlayFile(root: string, app: string, env: string): string | undefined {
  for (const fn of FUNCTIONS) {
    const file = path.join(root, "gitops", fn, app, "overlays", env, "kustomization.yaml");
    if (fs.existsSync(file)) return file;
  }
  return undefined;
}

/** The apps a user can promote, for the error message when the name is not one of them. */
function promotableApps(root: string, env: string): string[] {
  const charts = readDocs(path.join(root, "gitops", "envs", env, "versions.yaml"))
    .map((d) => d.getIn(["metadata", "name"]))
    .filter((n): n is string => typeof n === "string");
  const own = FUNCTIONS.flatMap((fn) => {
    const dir = path.join(root, "gitops", fn);
    return fs.existsSync(dir)
      ? fs.readdirSync(dir).filter((d) => {
          const file = overlayFile(root, d, env);
          return file !== undefined && readDocs(file)[0]?.get("images") !== undefined;
        })
      : [];
  });
  return [...new Set([...charts, ...own])].sort();
}

function checkArgs(app: string | undefined, from: string | undefined, to: string | undefined): asserts to is string {
  const usage = "usage: npm run promote -- <app> <from> <to>, e.g. npm run promote -- sample-app dev stage";
  if (!app || !from || !to) throw new PromoteError(usage);
  const envs: readonly string[] = PROMOTION_ORDER;
  for (const [name, value] of [
    ["<from>", from],
    ["<to>", to],
  ] as const) {
    if (!envs.includes(value)) throw new PromoteError(`${name} must be one of ${envs.join(" | ")} (got "${value}")`);
  }
  if (envs.indexOf(to) <= envs.indexOf(from)) {
    throw new PromoteError(
      `<to> must come after <from> in ${envs.join(" → ")} (got ${from} → ${to}); to undo a promotion, revert its commit`,
    );
  }
  // A release reaches prod only through stage: one environment at a time, as the README says.
  const next = envs[envs.indexOf(from) + 1];
  if (to !== next) {
    throw new PromoteError(
      `<to> must be the environment right after <from> (${from} → ${next}); got ${from} → ${to}: promote to ${next} first, then on`,
    );
  }
}

/** Copies a chart version between versions.yaml files (and the stack files, for argocd). */
function promoteChart(root: string, app: string, from: string, to: string): Change[] | undefined {
  const source = versionDoc(readDocs(path.join(root, "gitops", "envs", from, "versions.yaml")), app);
  if (!source) return undefined;
  const version = String(source.getIn(["spec", "source", "targetRevision"]));
  const targetFile = path.join(root, "gitops", "envs", to, "versions.yaml");
  const docs = readDocs(targetFile);
  const target = versionDoc(docs, app);
  if (!target) throw new PromoteError(`${rel(root, targetFile)} has no entry for ${app}; add one like ${from}'s`);
  const before = String(target.getIn(["spec", "source", "targetRevision"]));
  const changes: Change[] = [];
  if (before !== version) {
    target.setIn(["spec", "source", "targetRevision"], version);
    writeDocs(targetFile, docs);
    changes.push({ file: rel(root, targetFile), what: `${app} chart version`, before, after: version });
  }
  if (app === "argocd") changes.push(...pinArgoCdInStacks(root, to, version));
  return changes;
}

/** Sets platform:argocd.chartVersion in every stack file (and example stack) of the environment. */
function pinArgoCdInStacks(root: string, env: string, version: string): Change[] {
  const changes: Change[] = [];
  const examples = path.join(root, "examples", "stacks");
  const files = [
    ...fs.readdirSync(root).filter((f) => /^Pulumi\..+\.yaml$/.test(f)),
    ...(fs.existsSync(examples) ? fs.readdirSync(examples).map((f) => path.join("examples", "stacks", f)) : []),
  ];
  for (const name of files.filter((f) => f.endsWith(".yaml"))) {
    const file = path.join(root, name);
    const doc = YAML.parseDocument(fs.readFileSync(file, "utf8"));
    if (doc.getIn(["config", "platform:environment"]) !== env) continue;
    const key = ["config", "platform:argocd", "chartVersion"];
    const before = doc.getIn(key) as string | undefined;
    if (before === version) continue;
    doc.setIn(key, version);
    fs.writeFileSync(file, doc.toString(YAML_OPTIONS));
    changes.push({
      file: name,
      what: "platform:argocd.chartVersion",
      before: before ?? "(default)",
      after: version,
    });
  }
  return changes;
}

/** Copies the image tags of an app from this repository between its overlays. */
function promoteImages(root: string, app: string, from: string, to: string): Change[] | undefined {
  const sourceFile = overlayFile(root, app, from);
  if (!sourceFile) return undefined;
  const images = readDocs(sourceFile)[0]?.get("images");
  if (!YAML.isSeq(images)) {
    throw new PromoteError(`${rel(root, sourceFile)} pins no images; nothing to promote`);
  }
  const targetFile = overlayFile(root, app, to);
  if (!targetFile) throw new PromoteError(`${app} has no overlay for ${to}: add gitops/.../${app}/overlays/${to}`);
  const docs = readDocs(targetFile);
  const doc = docs[0];
  if (!doc) throw new PromoteError(`${rel(root, targetFile)} is empty`);
  const describe = (seq: unknown) =>
    YAML.isSeq(seq)
      ? seq.items
          .map((i) => (YAML.isMap(i) ? `${String(i.get("name"))}:${String(i.get("newTag") ?? i.get("digest"))}` : ""))
          .join(", ")
      : "(none)";
  const before = describe(doc.get("images"));
  const after = describe(images);
  if (before === after) return [];
  doc.set("images", images.clone());
  writeDocs(targetFile, docs);
  return [{ file: rel(root, targetFile), what: `${app} images`, before, after }];
}

/** Promotes `app` from one environment to the next; returns what changed (empty: nothing to do). */
export function promote(root: string, app?: string, from?: string, to?: string): Change[] {
  checkArgs(app, from, to);
  const a = app as string;
  const f = from as string;
  const changes = promoteChart(root, a, f, to) ?? promoteImages(root, a, f, to);
  if (changes === undefined) {
    throw new PromoteError(`no app named "${a}" in ${f}; apps: ${promotableApps(root, f).join(", ")}`);
  }
  return changes;
}

if (require.main === module) {
  const root = path.resolve(__dirname, "..");
  const [app, from, to] = process.argv.slice(2);
  try {
    const changes = promote(root, app, from, to);
    if (changes.length === 0) {
      console.log(`${app} is already the same in ${to} as in ${from}; nothing changed.`);
    } else {
      for (const c of changes) console.log(`${c.file}: ${c.what} ${c.before} → ${c.after}`);
      console.log("Review with `git diff`, then commit and open a pull request.");
    }
  } catch (e) {
    if (!(e instanceof PromoteError)) throw e;
    console.error(`promote: ${e.message}`);
    process.exit(2);
  }
}
