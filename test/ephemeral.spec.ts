import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as YAML from "yaml";
import { parseConfig } from "../components/config";
import {
  checkStackName,
  configJson,
  ephemeralConfig,
  ephemeralTags,
  parseTtl,
  planReap,
  TAGS,
  usedK3dPorts,
} from "../scripts/ephemeral/stacks";
import { ROOT, stackFile } from "../scripts/synth/stack-config";
import { flat } from "./configs";

const NOW = new Date("2026-11-22T12:00:00Z");
const eph = (name: string, expiresAt: string, extra: Record<string, string> = {}) => ({
  name,
  tags: { [TAGS.ephemeral]: "true", [TAGS.expiresAt]: expiresAt, ...extra },
});

describe("ephemeral stacks: TTL bookkeeping and the reaper's choice", () => {
  it("reads a TTL in minutes, hours or days, from 10m to 30d, and says what is allowed otherwise", () => {
    assert.equal(parseTtl("8h"), 8 * 3_600_000);
    assert.equal(parseTtl("90m"), 90 * 60_000);
    assert.equal(parseTtl("30d"), 30 * 86_400_000);
    for (const bad of ["9m", "31d", "8", "8 hours", "-1h", "1.5h", ""]) {
      assert.deepEqual(parseTtl(bad), {
        error: `--ttl must be a duration like 90m, 8h or 2d, from 10m to 30d (got ${JSON.stringify(bad)})`,
      });
    }
  });

  it("tags a new stack with its expiry, now plus the TTL, in UTC", () => {
    assert.deepEqual(ephemeralTags(NOW, 8 * 3_600_000, "dev", "k3d"), {
      "platform:ephemeral": "true",
      "platform:expires-at": "2026-11-22T20:00:00.000Z",
      "platform:source": "dev",
      "platform:provider": "k3d",
    });
    for (const name of Object.keys(TAGS)) {
      const tag = TAGS[name as keyof typeof TAGS];
      assert.match(tag, /^[A-Za-z0-9_.:-]{1,40}$/, `${tag} is not a valid Pulumi Cloud tag name`);
    }
  });

  it("destroys only ephemeral stacks past their expiry and not being updated; never anything untagged", () => {
    const plan = planReap(
      [
        eph("pr-12", "2026-11-22T11:59:59Z"),
        eph("alice", "2026-11-22T12:00:01.000Z"),
        eph("pr-9", "2026-11-21T08:00:00.000Z"),
        { ...eph("busy", "2026-11-20T00:00:00Z"), updateInProgress: true },
        eph("typo", "tomorrow"),
        { name: "prod", tags: { [TAGS.expiresAt]: "2020-01-01T00:00:00Z" } },
        { name: "dev", tags: {} },
        { name: "exactly-now", tags: { [TAGS.ephemeral]: "true", [TAGS.expiresAt]: "2026-11-22T12:00:00Z" } },
        { name: "not-true", tags: { [TAGS.ephemeral]: "yes", [TAGS.expiresAt]: "2020-01-01T00:00:00Z" } },
      ],
      NOW,
    );
    assert.deepEqual(plan.expired, [
      { name: "exactly-now", expiresAt: "2026-11-22T12:00:00Z" },
      { name: "pr-12", expiresAt: "2026-11-22T11:59:59Z" },
      { name: "pr-9", expiresAt: "2026-11-21T08:00:00.000Z" },
    ]);
    assert.deepEqual(plan.kept, [
      { name: "alice", reason: "expires 2026-11-22T12:00:01.000Z" },
      { name: "busy", reason: "an update is running on it" },
    ]);
    assert.deepEqual(plan.invalid, [{ name: "typo", value: "tomorrow" }]);
  });

  it("with a provider, reaps only the stacks of that kind of cluster (those a CI job has credentials for)", () => {
    const stacks = [
      eph("pr-1", "2026-01-01T00:00:00Z", { [TAGS.provider]: "eks" }),
      eph("pr-2", "2026-01-01T00:00:00Z", { [TAGS.provider]: "gke" }),
      eph("laptop", "2026-01-01T00:00:00Z", { [TAGS.provider]: "k3d" }),
    ];
    assert.deepEqual(
      planReap(stacks, NOW, "eks").expired.map((s) => s.name),
      ["pr-1"],
    );
    assert.deepEqual(
      planReap(stacks, NOW).expired.map((s) => s.name),
      ["laptop", "pr-1", "pr-2"],
    );
  });

  it("names stacks so that their cluster name fits, and keeps dev, stage and prod", () => {
    assert.equal(checkStackName("pr-123"), undefined);
    assert.equal(checkStackName("a".repeat(23)), undefined);
    assert.match(checkStackName("a".repeat(24)) ?? "", /^<name> must be 1-23 lowercase letters/);
    assert.match(checkStackName("Feature_X") ?? "", /\(got "Feature_X"\)$/);
    assert.equal(checkStackName("prod"), "<name> must not be prod: dev, stage and prod are the long-lived stacks");
    assert.match(checkStackName(undefined) ?? "", /^usage: npm run dev:new -- <name>/);
  });

  it("derives a valid, unprotected, ephemeral config from the dev and stage stack files", () => {
    for (const source of ["dev", "stage"]) {
      const { config, secureKeys } = ephemeralConfig(stackFile(source), "pr-7", { api: 6444, http: 8090, https: 8453 });
      assert.deepEqual(secureKeys, []);
      // What the program will make of it: the config module is the judge.
      const parsed = parseConfig(flat(config), "pr-7", () => false);
      assert.equal(parsed.cluster.name, "platform-pr-7");
      assert.deepEqual(
        [parsed.cluster.protect, parsed.cluster.ephemeral, parsed.lifecycle.ephemeral],
        [false, true, true],
      );
      assert.equal(parsed.environment, stackFile(source)["platform:environment"]);
      if (parsed.cluster.provider === "k3d") {
        const k = parsed.cluster.k3d;
        assert.deepEqual([k.apiPort, k.httpPort, k.httpsPort], [6444, 8090, 8453]);
        assert.equal(parsed.argocd.hostname, "argocd.pr-7.127.0.0.1.nip.io");
      } else {
        assert.equal(
          parsed.argocd.hostname,
          `${stackFile(source)["platform:argocd"].hostname.split(".")[0]}-pr-7.${stackFile(source)["platform:argocd"].hostname.split(".").slice(1).join(".")}`,
        );
      }
    }
    // A protected source and encrypted values: protect dropped, secure keys left to the CLI.
    const { config, secureKeys } = ephemeralConfig(
      {
        ...stackFile("dev"),
        "platform:cluster": { ...stackFile("dev")["platform:cluster"], protect: true },
        "platform:gitopsCredentials": { username: "bot", password: { secure: "v1:abc" } },
        "digitalocean:token": { secure: "v1:def" },
      },
      "x",
    );
    assert.equal((config["platform:cluster"] as Record<string, unknown>)["protect"], undefined);
    assert.deepEqual(secureKeys, ["platform:gitopsCredentials", "digitalocean:token"]);
    assert.ok(!JSON.stringify(config).includes("v1:"), "an encrypted value was copied as text");
  });

  it("writes config in the form `pulumi config set-all --json` reads, and knows which k3d ports are taken", () => {
    const json = JSON.parse(
      configJson({ "platform:environment": "dev", "platform:lifecycle": { ephemeral: true } }),
    ) as object;
    assert.deepEqual(json, {
      "platform:environment": { value: "dev", secret: false },
      "platform:lifecycle": { value: '{"ephemeral":true}', objectValue: { ephemeral: true }, secret: false },
    });
    assert.deepEqual([...usedK3dPorts([stackFile("dev"), {}])].sort(), [6443, 8080, 8443]);
  });
});

/**
 * The commands run against a stand-in `pulumi` (a Node script) that keeps its stacks and tags
 * in a JSON file and logs every call, the way the Automation API drives the real CLI.
 */
describe("npm run dev:new | dev:rm | reap, through the Automation API", () => {
  let dir: string;
  let stateFile: string;
  let logFile: string;

  const FAKE = `
const fs = require("fs");
const [state, log] = [process.env.FAKE_STATE, process.env.FAKE_LOG];
const args = process.argv.slice(2);
const s = JSON.parse(fs.readFileSync(state, "utf8"));
const save = () => fs.writeFileSync(state, JSON.stringify(s));
const flag = (f) => { const i = args.indexOf(f); return i >= 0 ? args[i + 1] : undefined; };
const stack = flag("--stack");
let input = "";
try { if (args[0] === "config" && args[1] === "set") input = fs.readFileSync(0, "utf8"); } catch {}
fs.appendFileSync(log, JSON.stringify({ args, input: input ? "<stdin " + input.length + " bytes>" : "", unreachable: process.env.PULUMI_K8S_DELETE_UNREACHABLE || "" }) + "\\n");
const cmd = args.filter((a) => !a.startsWith("-")).slice(0, 3).join(" ");
if (args[0] === "version") { console.log("v3.248.0"); process.exit(0); }
if (cmd.startsWith("stack ls")) { console.log(JSON.stringify(s.stacks.map((x) => ({ name: x.name, current: false, updateInProgress: !!x.busy })))); process.exit(0); }
if (cmd.startsWith("stack tag ls")) { console.log(JSON.stringify((s.stacks.find((x) => x.name === stack) || {}).tags || {})); process.exit(0); }
if (cmd.startsWith("stack tag set")) { const t = args.filter((a) => !a.startsWith("-")); s.stacks.find((x) => x.name === stack).tags[t[3]] = t[4]; save(); process.exit(0); }
if (cmd.startsWith("stack init")) { s.stacks.push({ name: args[2], tags: {} }); save(); process.exit(0); }
if (cmd.startsWith("stack history")) { console.log("[]"); process.exit(0); }
if (cmd.startsWith("stack rm")) { const n = args.filter((a) => !a.startsWith("-"))[2]; s.stacks = s.stacks.filter((x) => x.name !== n); save(); process.exit(0); }
if (args[0] === "destroy") { if ((s.failDestroy || []).includes(stack)) { console.error("error: the cloud said no"); process.exit(255); } console.log("Destroying (" + stack + ")"); process.exit(0); }
if (args[0] === "config" && args[1] === "get") process.exit(s.hasKey ? 0 : 1);
process.exit(0);
`;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "ephemeral-"));
    fs.mkdirSync(path.join(dir, "bin"));
    fs.writeFileSync(path.join(dir, "bin", "pulumi"), `#!${process.execPath}\n${FAKE}`, { mode: 0o755 });
    stateFile = path.join(dir, "state.json");
    logFile = path.join(dir, "calls.log");
    fs.writeFileSync(logFile, "");
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const setState = (state: object) => fs.writeFileSync(stateFile, JSON.stringify(state));
  const state = () =>
    JSON.parse(fs.readFileSync(stateFile, "utf8")) as { stacks: { name: string; tags: Record<string, string> }[] };
  const calls = () =>
    fs
      .readFileSync(logFile, "utf8")
      .trim()
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { args: string[]; input: string; unreachable: string });
  const run = (args: string[]) => {
    const r = spawnSync(
      process.execPath,
      ["--require", path.join(ROOT, "scripts/register.cjs"), path.join(ROOT, "scripts/ephemeral.ts"), ...args],
      {
        encoding: "utf8",
        env: {
          PATH: `${path.join(dir, "bin")}:${process.env["PATH"] ?? ""}`,
          HOME: dir,
          PULUMI_BACKEND_URL: `file://${dir}`,
          PULUMI_CONFIG_PASSPHRASE: "not-a-real-one",
          FAKE_STATE: stateFile,
          FAKE_LOG: logFile,
        },
        timeout: 60_000,
      },
    );
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const past = "2026-01-01T00:00:00Z";
  const future = "2099-01-01T00:00:00Z";

  it("reap destroys and removes each expired ephemeral stack, reports the rest, and fails if one could not go", () => {
    setState({
      stacks: [
        eph("pr-1", past),
        eph("pr-2", past),
        eph("alice", future),
        { name: "dev", tags: {} },
        { name: "stage", tags: { [TAGS.expiresAt]: past } },
      ],
      failDestroy: ["pr-2"],
    });
    const r = run(["reap"]);
    assert.equal(r.status, 1, r.stderr);
    const destroyed = calls().filter((c) => c.args[0] === "destroy");
    assert.deepEqual(
      destroyed.map((c) => c.args[c.args.indexOf("--stack") + 1]),
      ["pr-1", "pr-2"],
    );
    for (const c of destroyed) assert.ok(c.args.includes("--yes"), "a destroy waited for a prompt");
    for (const c of destroyed) {
      assert.equal(
        c.unreachable,
        "true",
        "an ephemeral stack's destroy must drop the objects of a cluster that is gone",
      );
    }
    // The Automation API's destroy reads the update's summary (stack history) and removes the stack.
    const partOfDestroy = (c: { args: string[] }) =>
      c.args[0] === "destroy" || ["rm", "history"].includes(c.args[1] ?? "");
    const others = calls().filter((c) => !partOfDestroy(c) && c.unreachable !== "");
    assert.deepEqual(
      others.map((c) => c.args.join(" ")),
      [],
      "only the destroy may drop unreachable objects: a refresh would drop those of a cluster that is only down",
    );
    assert.deepEqual(
      state().stacks.map((s) => s.name),
      ["pr-2", "alice", "dev", "stage"],
      "only the destroyed stack is removed",
    );
    assert.match(r.stdout, /Keeping alice: expires 2099-01-01T00:00:00Z\./);
    assert.match(r.stderr, /Could not destroy pr-2: .*the cloud said no.*npm run dev:rm -- pr-2/);
    assert.match(r.stdout, /Reaped 1, kept 1, failed 1\.\n$/);
  });

  it("reap --dry-run only says what it would destroy", () => {
    setState({ stacks: [eph("pr-1", past), eph("typo", "soon")] });
    const r = run(["reap", "--dry-run"]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(
      run(["reap", "--provider", "aws"]).stderr.trim(),
      'usage: npm run reap [-- --dry-run] [--provider k3d|eks|doks|gke] (got "--provider aws")',
    );
    assert.match(r.stdout, /Would destroy: pr-1 \(expired 2026-01-01T00:00:00Z\)\./);
    assert.match(r.stderr, /Skipping typo: its platform:expires-at tag is not a UTC time/);
    assert.equal(calls().filter((c) => c.args[0] === "destroy" || c.args[1] === "rm").length, 0);
  });

  it("dev:rm destroys one ephemeral stack now, and refuses any other", () => {
    setState({ stacks: [eph("pr-1", future), { name: "stage", tags: {} }] });
    const refused = run(["rm", "stage"]);
    assert.equal(refused.status, 1);
    assert.equal(
      refused.stderr.trim(),
      "stack stage is not ephemeral (no platform:ephemeral tag); destroy it with npm run down -- --stack stage",
    );
    const missing = run(["rm", "nope"]);
    assert.deepEqual(
      [missing.status, missing.stdout.trim()],
      [0, "There is no stack nope in this backend: nothing to destroy."],
    );
    const r = run(["rm", "pr-1"]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(
      state().stacks.map((s) => s.name),
      ["stage"],
    );
  });

  it("dev:new creates the stack from dev, sets its config, key and expiry tags, and leaves up to npm run up", () => {
    setState({ stacks: [] });
    const name = `spec-${process.pid}`;
    const exclude = path.join(ROOT, ".git", "info", "exclude");
    const before = fs.existsSync(exclude) ? fs.readFileSync(exclude, "utf8") : undefined;
    try {
      const started = Date.now();
      const r = run(["new", name, "--ttl", "2h", "--no-up"]);
      assert.equal(r.status, 0, r.stderr);
      const all = calls();
      const init = all.find((c) => c.args[0] === "stack" && c.args[1] === "init");
      assert.ok(init?.args.includes(name), JSON.stringify(all));
      // The config the stack gets is one the program accepts.
      const setAll = all.find((c) => c.args[1] === "set-all")!;
      const json = JSON.parse(setAll.args[setAll.args.indexOf("--json") + 1]!) as Record<string, { value: string }>;
      const cfg = parseConfig(
        Object.fromEntries(Object.entries(json).map(([k, v]) => [k, v.value])),
        name,
        () => false,
      );
      assert.deepEqual(
        [cfg.cluster.name, cfg.lifecycle.ephemeral, cfg.cluster.protect],
        [`platform-${name}`, true, false],
      );
      // A key pair generated for it, through stdin only.
      const sets = all.filter((c) => c.args[0] === "config" && c.args[1] === "set");
      assert.deepEqual(
        sets.map((c) => c.args[4]),
        ["platform:sealedSecretsKey.certificate", "platform:sealedSecretsKey.privateKey"],
      );
      assert.ok(sets.every((c) => /^<stdin \d+ bytes>$/.test(c.input) && !c.args.join(" ").includes("BEGIN")));
      const tags = state().stacks.find((s) => s.name === name)!.tags;
      assert.equal(tags[TAGS.ephemeral], "true");
      assert.equal(tags[TAGS.source], "dev");
      const expires = Date.parse(tags[TAGS.expiresAt] ?? "");
      assert.ok(Math.abs(expires - started - 2 * 3_600_000) < 60_000, `expires ${tags[TAGS.expiresAt]}`);
      assert.match(r.stdout, new RegExp(`Created ephemeral stack ${name} from dev; it expires .* \\(in 2h\\)`));
      if (before !== undefined) assert.ok(fs.readFileSync(exclude, "utf8").includes(`/Pulumi.${name}.yaml`));
    } finally {
      if (before !== undefined) fs.writeFileSync(exclude, before);
    }
  });

  it("dev:new on an existing ephemeral stack refreshes its config and expiry instead of creating it; never on another stack", () => {
    setState({ stacks: [eph("pr-3", past), { name: "qa", tags: {} }], hasKey: true });
    const r = run(["new", "pr-3", "--from", "stage", "--ttl", "1d", "--no-up"]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^Stack pr-3 exists: refreshing its config from stage and its expiry\./);
    assert.match(r.stdout, /\nRefreshed ephemeral stack pr-3 from stage; it expires .* \(in 1d\)\./);
    const all = calls();
    assert.equal(all.filter((c) => c.args[1] === "init").length, 0);
    assert.equal(all.filter((c) => c.args[1] === "set-all").length, 1);
    const tags = state().stacks.find((s) => s.name === "pr-3")!.tags;
    assert.ok(Date.parse(tags[TAGS.expiresAt] ?? "") > Date.now() + 23 * 3_600_000, "the expiry was not extended");
    assert.equal(tags[TAGS.provider], String(stackFile("stage")["platform:cluster"].provider));

    const refused = run(["new", "qa", "--no-up"]);
    assert.equal(refused.status, 1);
    assert.equal(
      refused.stderr.trim(),
      "stack qa exists and is not ephemeral (no platform:ephemeral tag); pick another name",
    );
  });

  it("dev:new refuses bad input in one line before it creates anything", () => {
    setState({ stacks: [] });
    assert.equal(
      run(["new", "pr-1", "--ttl", "forever"]).stderr.trim(),
      '--ttl must be a duration like 90m, 8h or 2d, from 10m to 30d (got "forever")',
    );
    assert.equal(
      run(["new", "pr-1", "--from", "prod"]).stderr.trim(),
      "--from must not be a prod stack: an ephemeral stack copies dev or stage (got prod)",
    );
    assert.equal(
      run(["new", "pr-1", "--from", "qa"]).stderr.trim(),
      '--from must name a stack with a Pulumi.<stack>.yaml here (got "qa")',
    );
    assert.equal(
      run(["new", "dev"]).stderr.trim(),
      "<name> must not be dev: dev, stage and prod are the long-lived stacks",
    );
    assert.deepEqual(calls(), [], "something ran before the input was checked");
    assert.deepEqual(YAML.parse(fs.readFileSync(stateFile, "utf8")), { stacks: [] });
  });
});
