/**
 * Every long-running process the e2e starts, each in its own process group, so that one call
 * stops them all: at the end, on a failure, and on Ctrl-C or SIGTERM.
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";

export interface Service {
  readonly name: string;
  readonly child: ChildProcess;
  /** Where its stdout and stderr go. */
  readonly log: string;
  /** Stops it (SIGTERM, then SIGKILL after `graceMs`) and resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
}

const running = new Set<Service>();
/** Commands run to completion (harness.ts), in their own process groups; killed if the run ends first. */
const commands = new Set<ChildProcess>();
/** What must happen however the run ends (stack files removed, orphaned plugins stopped). */
const cleanups: (() => void)[] = [];

export function trackCommand(child: ChildProcess): void {
  commands.add(child);
  child.once("exit", () => commands.delete(child));
}

export function onExit(cleanup: () => void): void {
  cleanups.push(cleanup);
}

function runCleanups(): void {
  for (const c of commands) signalGroup(c, "SIGKILL");
  for (const fn of cleanups.splice(0)) {
    try {
      fn();
    } catch {
      // best effort: the next one still runs
    }
  }
}

/** Starts a service whose output goes to `log`; it is stopped by `stopAll`. */
export function startService(
  name: string,
  command: string,
  args: string[],
  opts: { log: string; env?: NodeJS.ProcessEnv; cwd?: string },
): Service {
  const out = fs.openSync(opts.log, "a");
  const child = spawn(command, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ["ignore", out, out],
    detached: true,
  });
  fs.closeSync(out);
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    child.once("exit", () => resolve());
    child.once("error", () => resolve());
  });
  const service: Service = {
    name,
    child,
    log: opts.log,
    async stop(graceMs = 5000) {
      running.delete(service);
      signalGroup(child, "SIGTERM");
      const timer = setTimeout(() => signalGroup(child, "SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
      signalGroup(child, "SIGKILL"); // whatever it left behind in its group
    },
  };
  running.add(service);
  return service;
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

/** Stops every service still running, newest first, then runs the cleanups. */
export async function stopAll(): Promise<void> {
  for (const s of [...running].reverse()) await s.stop();
  runCleanups();
}

/** Stops everything on Ctrl-C, SIGTERM or an uncaught error, before the process ends. */
export function stopAllOnExit(): void {
  const stopNow = (code: number) => {
    for (const s of running) signalGroup(s.child, "SIGKILL");
    runCleanups();
    process.exit(code);
  };
  process.once("SIGINT", () => stopNow(130));
  process.once("SIGTERM", () => stopNow(143));
  process.once("exit", () => {
    for (const s of running) signalGroup(s.child, "SIGKILL");
    runCleanups();
  });
}
