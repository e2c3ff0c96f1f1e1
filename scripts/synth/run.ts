/**
 * Runs the whole program (index.ts) under the mock engine, as `pulumi up` or `pulumi preview`
 * would for a stack, and hands back what it registered and exported, or the error that stopped it.
 */
import * as path from "node:path";
import type * as pulumi from "@pulumi/pulumi";
import { type Cloud, type Recorder, settle, setup } from "./engine";
import { readStackConfig, ROOT, type StackConfig } from "./stack-config";

export interface ProgramRun {
  recorder: Recorder;
  /** What the program logged with `pulumi.log.warn`, in order. */
  warnings: string[];
  /** The module's exports; one the stack leaves unset is undefined. */
  outputs?: Record<string, pulumi.Output<unknown> | undefined>;
  error?: Error;
}

export interface RunOptions {
  cloud: Cloud;
  /** The stack's config; the stack file's when absent. */
  config?: StackConfig;
  preview?: boolean;
  /** Also print the program's warnings (they are always kept in `warnings`); default true. */
  echoWarnings?: boolean;
}

const ENTRY = path.join(ROOT, "index.ts");

/** Runs index.ts for a stack (`prod`), or for an example stack file (`examples/eks`). */
export async function runProgram(stack: string, opts: RunOptions): Promise<ProgramRun> {
  // An example file (`examples/eks`) runs as a stack named after it (`eks`).
  const stackName = stack.replace(/^examples\//, "");
  const base = { stack: stackName, cloud: opts.cloud, preview: opts.preview ?? false };
  let stackConfig: StackConfig;
  try {
    stackConfig = opts.config ?? readStackConfig(stack);
  } catch (e) {
    // The CLI itself refuses the stack: the program never starts.
    return { recorder: await setup(base), warnings: [], error: e as Error };
  }
  const recorder = await setup({ ...base, config: stackConfig.config, secretKeys: stackConfig.secretKeys });
  // A fresh evaluation of the entry point per run; the components stay cached.
  // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- Node's module cache is keyed by path
  delete require.cache[require.resolve(ENTRY)];
  // An error inside an apply (a check that needs a cloud answer) fails `pulumi up` as an
  // unhandled rejection; here it ends the run with that error instead of waiting on resources
  // that will never register.
  // Without an engine the SDK logs to the console: keep what the program warns about.
  const warnings: string[] = [];
  const consoleWarn = console.warn;
  console.warn = (...args: unknown[]) => {
    warnings.push(args.map(String).join(" ").replace(/^warning: \[runtime\] /, ""));
    if (opts.echoWarnings ?? true) consoleWarn(...args);
  };
  let failed: (e: Error) => void = () => undefined;
  const failure = new Promise<Error>((resolve) => (failed = resolve));
  const onRejection = (reason: unknown) => failed(reason instanceof Error ? reason : new Error(String(reason)));
  process.on("unhandledRejection", onRejection);
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- a fresh CommonJS evaluation, as the CLI does
    const outputs = require(ENTRY) as Record<string, pulumi.Output<unknown>>;
    const error = await Promise.race([settle().then(() => undefined), failure]);
    return error ? { recorder, warnings, error } : { recorder, warnings, outputs };
  } catch (e) {
    await Promise.race([settle(), failure]);
    return { recorder, warnings, error: e as Error };
  } finally {
    process.off("unhandledRejection", onRejection);
    console.warn = consoleWarn;
  }
}
