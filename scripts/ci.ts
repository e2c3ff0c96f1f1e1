/**
 * `npm run ci -- <command>`: the steps of the GitHub workflows that are more than one line of shell,
 * here so that the specs can run them. Every command prints one line naming the argument on bad
 * input and exits 2.
 *
 *   stacks [--changed-from <ref>] [--environments dev,stage] [--cloud]
 *       JSON list of stacks (stack, environment, provider, region, cloud) for a workflow matrix.
 *   synth-diff --base <ref> --out <dir> [--run-url <url>] <stack>...
 *       writes <dir>/<stack>.md: the change in each stack's desired state from <ref>'s synth/.
 *   preview-body --stack <s> --outcome success|failure --in <file> --out <file> [--run-url <url>]
 *       the PR comment for a `pulumi preview` output.
 *   comment --pr <n> --head-sha <sha> <dir>
 *       posts or edits one comment per <dir>/*.md on pull request <n> (GITHUB_TOKEN, GITHUB_REPOSITORY).
 *   drift --stack <s> --outcome success|failure --in <file> [--run-url <url>] [--label drift]
 *       opens, updates or closes the stack's drift issue.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { driftBody, previewBody, synthDiffBody } from "./ci/bodies";
import { type GitHub, parseMarker, pullRequestHead, syncDriftIssue, upsertComment } from "./ci/github";
import { allStacks, stacksTouched } from "./ci/stacks";
import type * as desiredState from "./synth/desired-state";
import { ROOT, stackNames } from "./synth/stack-config";

export class UsageError extends Error {}

interface Parsed {
  flags: Map<string, string | true>;
  positional: string[];
}

function parse(argv: string[], valued: readonly string[], bools: readonly string[] = []): Parsed {
  const flags = new Map<string, string | true>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    if (!arg.startsWith("--")) positional.push(arg);
    else if (bools.includes(arg)) flags.set(arg, true);
    else if (valued.includes(arg)) {
      const value = argv[++i];
      if (value === undefined || value.startsWith("--")) throw new UsageError(`${arg} needs a value`);
      flags.set(arg, value);
    } else throw new UsageError(`unknown option ${arg} (allowed: ${[...valued, ...bools].join(", ")})`);
  }
  return { flags, positional };
}

function required(p: Parsed, flag: string): string {
  const v = p.flags.get(flag);
  if (typeof v !== "string") throw new UsageError(`${flag} is required`);
  return v;
}

function outcome(p: Parsed): boolean {
  const v = required(p, "--outcome");
  if (v !== "success" && v !== "failure") throw new UsageError(`--outcome must be success or failure (got "${v}")`);
  return v === "success";
}

function knownStacks(names: string[]): string[] {
  const known = stackNames();
  for (const s of names) {
    if (!known.includes(s)) throw new UsageError(`no stack "${s}" (stacks: ${known.join(", ")})`);
  }
  return names;
}

function github(): GitHub {
  const token = process.env["GITHUB_TOKEN"];
  const repo = process.env["GITHUB_REPOSITORY"];
  if (!token) throw new UsageError("GITHUB_TOKEN is not set");
  if (!repo || !/^[\w.-]+\/[\w.-]+$/.test(repo)) throw new UsageError("GITHUB_REPOSITORY must be owner/name");
  return { api: process.env["GITHUB_API_URL"] ?? "https://api.github.com", token, repo };
}

function git(args: string[]): string {
  return execFileSync("git", args, { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** The unified diff of two texts (empty when equal), labelled a/ and b/ like `git diff`. */
export function unifiedDiff(before: string, after: string, label: string): string {
  if (before === after) return "";
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "synth-diff-"));
  try {
    fs.writeFileSync(path.join(dir, "a"), before);
    fs.writeFileSync(path.join(dir, "b"), after);
    try {
      execFileSync("git", ["diff", "--no-index", "--no-color", "a", "b"], { cwd: dir, encoding: "utf8" });
      return "";
    } catch (e) {
      const out = (e as { stdout?: string; status?: number }).stdout ?? "";
      if ((e as { status?: number }).status !== 1) throw e;
      // Drop git's header lines; name the file instead of the temporary copies.
      const body = out.split("\n").slice(out.startsWith("diff --git") ? 4 : 0);
      return [`--- a/${label}`, `+++ b/${label}`, ...body].join("\n");
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function main(argv: string[], out: (line: string) => void = console.log): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "stacks": {
      const p = parse(rest, ["--changed-from", "--environments"], ["--cloud"]);
      let stacks = allStacks();
      const from = p.flags.get("--changed-from");
      if (typeof from === "string") {
        const files = git(["diff", "--name-only", `${from}...HEAD`])
          .split("\n")
          .filter(Boolean);
        const touched = stacksTouched(files, stackNames());
        stacks = stacks.filter((s) => touched.includes(s.stack));
      }
      const envs = p.flags.get("--environments");
      if (typeof envs === "string") stacks = stacks.filter((s) => envs.split(",").includes(s.environment));
      if (p.flags.has("--cloud")) stacks = stacks.filter((s) => s.cloud);
      out(JSON.stringify(stacks));
      return 0;
    }
    case "synth-diff": {
      const p = parse(rest, ["--base", "--out", "--run-url"]);
      const base = required(p, "--base");
      const dir = required(p, "--out");
      const stacks = knownStacks(p.positional);
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- loads the program (and Pulumi's SDK) only here
      const { synthesize } = require("./synth/desired-state") as typeof desiredState;
      fs.mkdirSync(dir, { recursive: true });
      for (const stack of stacks) {
        const file = `synth/${stack}.yaml`;
        let before = "";
        let isNew = false;
        try {
          before = git(["show", `${base}:${file}`]);
        } catch {
          isNew = true;
        }
        const diff = unifiedDiff(before, await synthesize(stack), file);
        const runUrl =
          typeof p.flags.get("--run-url") === "string" ? String(p.flags.get("--run-url")) : "the run's log";
        fs.writeFileSync(path.join(dir, `${stack}.md`), synthDiffBody({ stack, base, diff, isNew, runUrl }));
        out(`${stack}: ${diff === "" ? "no change" : isNew ? "new stack" : "changed"}`);
      }
      return 0;
    }
    case "preview-body": {
      const p = parse(rest, ["--stack", "--outcome", "--in", "--out", "--run-url"]);
      const [stack = ""] = knownStacks([required(p, "--stack")]);
      const ok = outcome(p);
      const target = required(p, "--out");
      const output = fs.readFileSync(required(p, "--in"), "utf8");
      const runUrl = String(p.flags.get("--run-url") ?? "the workflow run");
      fs.writeFileSync(target, previewBody({ stack, ok, output, runUrl }));
      return 0;
    }
    case "comment": {
      const p = parse(rest, ["--pr", "--head-sha"]);
      const pr = Number(required(p, "--pr"));
      if (!Number.isInteger(pr) || pr <= 0)
        throw new UsageError(`--pr must be a pull request number (got "${String(p.flags.get("--pr"))}")`);
      const sha = required(p, "--head-sha");
      if (!/^[0-9a-f]{40}$/.test(sha))
        throw new UsageError(`--head-sha must be a 40-character commit SHA (got "${sha}")`);
      const [dir] = p.positional;
      if (!dir || !fs.existsSync(dir)) throw new UsageError("name the folder of comment bodies (<dir>/*.md)");
      // Every body is checked before anything is posted: one bad file posts nothing.
      const bodies = fs
        .readdirSync(dir)
        .filter((f) => f.endsWith(".md"))
        .sort()
        .map((name) => {
          const body = fs.readFileSync(path.join(dir, name), "utf8");
          const m = parseMarker(body);
          if (!m || `${m.stack}.md` !== name)
            throw new UsageError(`${name} does not start with its CI marker; refusing to post it`);
          return { name, body };
        });
      const gh = github();
      const head = await pullRequestHead(gh, pr);
      if (head !== sha) {
        // The pull request moved on; the run for its new head comments instead.
        out(`pull request #${pr} is now at ${head}, not ${sha}: not commenting (a newer run will)`);
        return 0;
      }
      for (const { name, body } of bodies) out(`${name}: ${await upsertComment(gh, pr, body)}`);
      return 0;
    }
    case "drift": {
      const p = parse(rest, ["--stack", "--outcome", "--in", "--run-url", "--label"]);
      const [stack = ""] = knownStacks([required(p, "--stack")]);
      const drifted = !outcome(p);
      const output = fs.existsSync(required(p, "--in")) ? fs.readFileSync(required(p, "--in"), "utf8") : "";
      const runUrl = String(p.flags.get("--run-url") ?? "the workflow run");
      const label = String(p.flags.get("--label") ?? "drift");
      const result = await syncDriftIssue(github(), {
        stack,
        drifted,
        label,
        body: driftBody({ stack, drifted, output, runUrl }),
      });
      out(`${stack}: drift issue ${result}`);
      return 0;
    }
    default:
      throw new UsageError(
        `unknown command "${command ?? ""}" (commands: stacks, synth-diff, preview-body, comment, drift)`,
      );
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      console.error(`ci: ${e instanceof Error ? e.message : String(e)}`);
      process.exit(e instanceof UsageError ? 2 : 1);
    },
  );
}
