/**
 * Runs the whole program (index.ts) under mocks, as `pulumi up` would for a stack, and hands
 * back what it registered and exported, or the error that stopped it.
 */
import * as path from "node:path";
import type * as pulumi from "@pulumi/pulumi";
import { type Recorder, settle, setup, type SetupOptions } from "./mocks";
import { readStackConfig, ROOT } from "./stack-files";

export interface ProgramRun {
  recorder: Recorder;
  outputs?: Record<string, pulumi.Output<unknown>>;
  error?: Error;
}

const ENTRY = path.join(ROOT, "index.ts");

/** Runs index.ts with the given config, or with the stack file's config when none is given. */
export async function runProgram(
  stack: string,
  config?: { config: Record<string, string>; secretKeys: string[] },
  mocks: Pick<SetupOptions, "preview" | "unknownTypes"> = {},
): Promise<ProgramRun> {
  // An example file (`examples/eks`) runs as a stack named after it (`eks`).
  const stackName = stack.replace(/^examples\//, "");
  let stackConfig: { config: Record<string, string>; secretKeys: string[] };
  try {
    stackConfig = config ?? readStackConfig(stack);
  } catch (e) {
    // The CLI itself refuses the stack: the program never starts.
    return { recorder: await setup({ stack: stackName }), error: e as Error };
  }
  const { config: values, secretKeys } = stackConfig;
  const recorder = await setup({ stack: stackName, config: values, secretKeys, ...mocks });
  // A fresh evaluation of the entry point per run; the components stay cached.
  // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- Node's module cache is keyed by path
  delete require.cache[require.resolve(ENTRY)];
  // An error inside an apply (a check that needs a cloud answer) fails `pulumi up` as an
  // unhandled rejection; here it ends the run with that error instead of waiting on resources
  // that will never register.
  let failed: (e: Error) => void = () => undefined;
  const failure = new Promise<Error>((resolve) => (failed = resolve));
  const onRejection = (reason: unknown) => failed(reason instanceof Error ? reason : new Error(String(reason)));
  process.on("unhandledRejection", onRejection);
  try {
    const outputs = require(ENTRY) as Record<string, pulumi.Output<unknown>>;
    const error = await Promise.race([settle().then(() => undefined), failure]);
    return error ? { recorder, error } : { recorder, outputs };
  } catch (e) {
    await Promise.race([settle(), failure]);
    return { recorder, error: e as Error };
  } finally {
    process.off("unhandledRejection", onRejection);
  }
}

// `node --import tsx test/program.ts <stack>`: run one stack and report, for measuring.
if (require.main === module) {
  const stack = process.argv[2] ?? "dev";
  const started = process.hrtime.bigint();
  void runProgram(stack).then((run) => {
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    const rss = Math.round(process.memoryUsage().rss / 2 ** 20);
    if (run.error) console.log(`error: ${run.error.message}`);
    console.log(`${stack}: ${run.recorder.resources.length} resources in ${ms.toFixed(0)} ms, rss ${rss} MiB`);
    for (const r of run.recorder.resources) console.log(`  ${r.type}  ${r.name}`);
  });
}
