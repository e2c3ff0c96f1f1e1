/**
 * The e2e's bookkeeping: checks that pass or fail (counted for the closing `N passed, N failed`
 * line), wall times for the closing table, and commands run with their output kept in a log.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { trackCommand } from "./processes";

export interface Result {
  status: number;
  stdout: string;
  stderr: string;
  seconds: number;
}

export class Harness {
  private passed = 0;
  private failed: string[] = [];
  private readonly times: [string, string][] = [];
  private logIndex = 0;

  constructor(public readonly logDir: string) {
    fs.mkdirSync(logDir, { recursive: true });
  }

  /** One check: passes unless `fn` throws; a failure is reported with its reason and counted. */
  async check(name: string, fn: () => void | Promise<void>): Promise<boolean> {
    try {
      await fn();
      this.passed++;
      console.log(`  ok    ${name}`);
      return true;
    } catch (e) {
      const reason = (e instanceof Error ? e.message : String(e)).trim();
      this.failed.push(name);
      console.log(`  FAIL  ${name}\n        ${reason.split("\n").join("\n        ")}`);
      return false;
    }
  }

  time(what: string, seconds: number | string): void {
    this.times.push([what, typeof seconds === "number" ? `${seconds.toFixed(1)} s` : seconds]);
  }

  /** Runs a command to completion; its output goes to a numbered log file and is returned. */
  run(
    label: string,
    command: string,
    args: string[],
    opts: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string; echo?: boolean } = {},
  ): Promise<Result> {
    const log = path.join(
      this.logDir,
      `${String(++this.logIndex).padStart(2, "0")}-${label.replace(/[^\w.-]+/g, "-")}.log`,
    );
    const started = process.hrtime.bigint();
    return new Promise((resolve) => {
      // Its own process group, so that an interrupted run can stop it and what it started.
      const child = spawn(command, args, {
        cwd: opts.cwd,
        env: opts.env ?? process.env,
        stdio: ["pipe", "pipe", "pipe"],
        detached: true,
      });
      trackCommand(child);
      let stdout = "";
      let stderr = "";
      const out = fs.createWriteStream(log);
      out.write(`$ ${command} ${args.join(" ")}\n`);
      child.stdout.on("data", (c: Buffer) => {
        stdout += c.toString();
        out.write(c);
        if (opts.echo) process.stdout.write(c);
      });
      child.stderr.on("data", (c: Buffer) => {
        stderr += c.toString();
        out.write(c);
        if (opts.echo) process.stdout.write(c);
      });
      child.on("error", (e) => (stderr += e.message));
      child.on("close", (code) => {
        out.end();
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        resolve({ status: code ?? 1, stdout, stderr, seconds });
      });
      child.stdin.end(opts.input ?? "");
    });
  }

  get counts(): { passed: number; failed: number } {
    return { passed: this.passed, failed: this.failed.length };
  }

  /** The table of wall times, the failed checks, and the closing line CI reads. */
  summary(): string {
    const width = Math.max(...this.times.map(([w]) => w.length), 10);
    const lines = ["", "Wall times:"];
    for (const [what, t] of this.times) lines.push(`  ${what.padEnd(width)}  ${t}`);
    if (this.failed.length) lines.push("", "Failed:", ...this.failed.map((f) => `  ${f}`));
    lines.push("", `Logs: ${this.logDir}`, "", `${this.passed} passed, ${this.failed.length} failed`);
    return lines.join("\n");
  }
}

/** Throws with `message` (and the command's output) unless the command succeeded. */
export function ok(r: Result, message: string): void {
  if (r.status !== 0) throw new Error(`${message} (exit ${r.status})\n${tail(r.stdout + r.stderr, 25)}`);
}

export function tail(text: string, lines: number): string {
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}
