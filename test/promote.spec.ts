import { strict as assert } from "node:assert";
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as YAML from "yaml";
import { ENVIRONMENTS } from "../components/config";
import { promote, PromoteError, PROMOTION_ORDER } from "../scripts/promote";
import { ROOT, stackNames, stackPath } from "../scripts/synth/stack-config";
import { kustomize } from "./tools";

/** A scratch copy of what promote touches: gitops/, the stack files and examples, in a Git repository. */
function scratch(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "promote-"));
  fs.cpSync(path.join(ROOT, "gitops"), path.join(dir, "gitops"), { recursive: true });
  fs.cpSync(path.join(ROOT, "examples"), path.join(dir, "examples"), { recursive: true });
  // The project's stack files: a personal one of the person running the specs stays out.
  for (const stack of stackNames()) fs.copyFileSync(stackPath(stack), path.join(dir, `Pulumi.${stack}.yaml`));
  const git = (...args: string[]) => execFileSync("git", args, { cwd: dir, encoding: "utf8" });
  git("init", "-q");
  git("-c", "user.name=t", "-c", "user.email=t@example.com", "add", ".");
  git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "base");
  return dir;
}

/** `git diff` of the scratch copy: changed lines only, as a reviewer sees them. */
function changedLines(dir: string): string[] {
  return execFileSync("git", ["diff", "-U0", "--no-color"], { cwd: dir, encoding: "utf8" })
    .split("\n")
    .filter((l) => /^[-+][^-+]/.test(l));
}

function setYaml(file: string, docIndex: number, keyPath: (string | number)[], value: unknown): void {
  const docs = YAML.parseAllDocuments(fs.readFileSync(file, "utf8"));
  docs[docIndex]?.setIn(keyPath, value);
  fs.writeFileSync(file, docs.map((d) => d.toString({ lineWidth: 0 })).join(""));
}

const versionsDoc = (dir: string, env: string, app: string) =>
  YAML.parseAllDocuments(fs.readFileSync(path.join(dir, "gitops/envs", env, "versions.yaml"), "utf8")).findIndex(
    (d) => d.getIn(["metadata", "name"]) === app,
  );

describe("npm run promote", () => {
  let dir: string;
  beforeEach(() => {
    dir = scratch();
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("moves along the same environments, in the same order, as the program knows", () => {
    assert.deepEqual([...PROMOTION_ORDER], [...ENVIRONMENTS]);
  });

  it("copies an app's image tag to the next environment, and leaves a one-line diff", () => {
    const dev = path.join(dir, "gitops/workloads/sample-app/overlays/dev/kustomization.yaml");
    setYaml(dev, 0, ["images", 0, "newTag"], "6.14.2");
    execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qam", "dev"], { cwd: dir });
    const changes = promote(dir, "sample-app", "dev", "stage");
    assert.deepEqual(changes, [
      {
        file: "gitops/workloads/sample-app/overlays/stage/kustomization.yaml",
        what: "sample-app images",
        before: "ghcr.io/stefanprodan/podinfo:6.14.1",
        after: "ghcr.io/stefanprodan/podinfo:6.14.2",
      },
    ]);
    assert.deepEqual(changedLines(dir), ["-    newTag: 6.14.1", "+    newTag: 6.14.2"]);
    const stage = kustomize(path.join(dir, "gitops/workloads/sample-app/overlays/stage"));
    const deployment = stage.find((o) => o["kind"] === "Deployment");
    assert.equal(
      deployment?.["spec"]["template"]["spec"]["containers"][0]["image"],
      "ghcr.io/stefanprodan/podinfo:6.14.2",
    );
    assert.ok(
      stage.some((o) => o["kind"] === "HorizontalPodAutoscaler"),
      "stage's own settings were overwritten",
    );
  });

  it("copies a chart version between versions.yaml files, and nothing else", () => {
    const i = versionsDoc(dir, "stage", "cert-manager");
    setYaml(path.join(dir, "gitops/envs/stage/versions.yaml"), i, ["spec", "source", "targetRevision"], "v1.21.2");
    execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qam", "stage"], {
      cwd: dir,
    });
    const changes = promote(dir, "cert-manager", "stage", "prod");
    assert.deepEqual(
      changes.map((c) => [c.file, c.before, c.after]),
      [["gitops/envs/prod/versions.yaml", "v1.21.1", "v1.21.2"]],
    );
    assert.deepEqual(changedLines(dir), ["-    targetRevision: v1.21.1", "+    targetRevision: v1.21.2"]);
  });

  it("promotes Argo CD in the tree and in the stack files and examples together", () => {
    const i = versionsDoc(dir, "dev", "argocd");
    setYaml(path.join(dir, "gitops/envs/dev/versions.yaml"), i, ["spec", "source", "targetRevision"], "10.2.0");
    execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qam", "dev"], { cwd: dir });
    const changes = promote(dir, "argocd", "dev", "stage");
    assert.deepEqual(
      changes.map((c) => c.file),
      ["gitops/envs/stage/versions.yaml", "Pulumi.stage.yaml", "examples/stacks/eks.yaml"],
    );
    assert.deepEqual(changedLines(dir), [
      "-    chartVersion: 10.1.1",
      "+    chartVersion: 10.2.0",
      "-    chartVersion: 10.1.1",
      "+    chartVersion: 10.2.0",
      "-    targetRevision: 10.1.1",
      "+    targetRevision: 10.2.0",
    ]);
  });

  it("changes nothing when the next environment already runs the same", () => {
    assert.deepEqual(promote(dir, "sample-app", "dev", "stage"), []);
    assert.deepEqual(changedLines(dir), []);
  });

  it("refuses bad arguments in one line that says what is allowed", () => {
    const fails = (args: (string | undefined)[], message: RegExp) =>
      assert.throws(
        () => promote(dir, ...(args as [string, string, string])),
        (e: Error) => {
          assert.ok(e instanceof PromoteError);
          assert.match(e.message, message);
          assert.doesNotMatch(e.message, /\n/);
          return true;
        },
      );
    fails([], /^usage: npm run promote -- <app> <from> <to>/);
    fails(["sample-app", "dev", "qa"], /<to> must be one of dev \| stage \| prod \(got "qa"\)/);
    fails(["sample-app", "prod", "stage"], /<to> must come after <from> in dev → stage → prod/);
    // No version skips stage on its way to prod (the README's promotion rule).
    fails(
      ["cert-manager", "dev", "prod"],
      /<to> must be the environment right after <from> \(dev → stage\); got dev → prod/,
    );
    fails(["sample-ap", "dev", "stage"], /no app named "sample-ap" in dev; apps: .*sample-app/);
    assert.deepEqual(changedLines(dir), []);
  });

  it("runs as npm run promote and exits 2 with the message on bad input", () => {
    const run = spawnSync(
      process.execPath,
      ["--require", "./scripts/register.cjs", "scripts/promote.ts", "sample-app", "stage", "dev"],
      { cwd: ROOT, encoding: "utf8" },
    );
    assert.equal(run.status, 2);
    assert.match(run.stderr, /^promote: <to> must come after <from>/);
  });
});
