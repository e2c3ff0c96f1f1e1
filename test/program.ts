/**
 * Runs the whole program (index.ts) under mocks with the specs' fake cloud, as `pulumi up` would
 * for a stack, and hands back what it registered and exported, or the error that stopped it.
 */
import { fakeCloudFor, type SetupOptions } from "./mocks";
import * as run from "../scripts/synth/run";
import type { StackConfig } from "../scripts/synth/stack-config";

export type { ProgramRun } from "../scripts/synth/run";

/** Runs index.ts with the given config, or with the stack file's config when none is given. */
export function runProgram(
  stack: string,
  config?: StackConfig,
  mocks: Pick<SetupOptions, "preview" | "unknownTypes"> = {},
): Promise<run.ProgramRun> {
  return run.runProgram(stack, {
    cloud: fakeCloudFor(mocks),
    preview: mocks.preview ?? false,
    // Kept in `warnings` for the specs that expect one; a passing run prints none.
    echoWarnings: false,
    ...(config ? { config } : {}),
  });
}

// `node -r ./scripts/register.cjs test/program.ts <stack>`: run one stack and report, for measuring.
if (require.main === module) {
  const stack = process.argv[2] ?? "dev";
  const started = process.hrtime.bigint();
  void runProgram(stack).then((r) => {
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    const rss = Math.round(process.memoryUsage().rss / 2 ** 20);
    if (r.error) console.log(`error: ${r.error.message}`);
    console.log(`${stack}: ${r.recorder.resources.length} resources in ${ms.toFixed(0)} ms, rss ${rss} MiB`);
    for (const x of r.recorder.resources) console.log(`  ${x.type}  ${x.name}`);
  });
}
