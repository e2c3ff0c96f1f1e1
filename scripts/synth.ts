/**
 * `npm run synth -- <stack>... | --all [--out <dir>] [--check]`: the desired state of stacks,
 * with no Pulumi CLI, cloud or network. One YAML file per stack in `synth/` (examples in
 * `synth/examples/`); `--all` does every Pulumi.<stack>.yaml and every example stack file;
 * `--check` writes nothing and fails when a committed file differs from the program's state.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type * as desiredState from "./synth/desired-state";
import { exampleNames, ROOT, stackNames, stackPath } from "./synth/stack-config";

const USAGE = "usage: npm run synth -- <stack>... | --all [--out <dir>] [--check]";

export interface SynthArgs {
  stacks: string[];
  out: string;
  check: boolean;
}

/** Parses the command line; throws a one-line error naming the argument. */
export function parseArgs(argv: string[]): SynthArgs {
  const stacks: string[] = [];
  let out = path.join(ROOT, "synth");
  let check = false;
  let all = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    if (arg === "--all") all = true;
    else if (arg === "--check") check = true;
    else if (arg === "--out") {
      const dir = argv[++i];
      if (!dir || dir.startsWith("-")) throw new Error(`--out needs a directory; ${USAGE}`);
      out = path.resolve(dir);
    } else if (arg.startsWith("-")) throw new Error(`unknown option ${arg}; ${USAGE}`);
    else stacks.push(arg.replace(/^Pulumi\.(.+)\.yaml$/, "$1"));
  }
  if (all) stacks.push(...stackNames(), ...exampleNames().map((e) => `examples/${e}`));
  if (stacks.length === 0) throw new Error(`name a stack or give --all; ${USAGE}`);
  for (const s of stacks) {
    if (!fs.existsSync(stackPath(s))) {
      const known = [...stackNames(), ...exampleNames().map((e) => `examples/${e}`)].join(", ");
      throw new Error(`no stack file for "${s}" (${path.relative(ROOT, stackPath(s))}); stacks: ${known}`);
    }
  }
  return { stacks: [...new Set(stacks)], out, check };
}

/** Where a stack's desired state is written: `<out>/<stack>.yaml`, `<out>/examples/<name>.yaml`. */
function outputFile(out: string, stack: string): string {
  return path.join(out, `${stack}.yaml`);
}

export async function main(argv: string[]): Promise<number> {
  let args: SynthArgs;
  try {
    args = parseArgs(argv);
  } catch (e) {
    console.error(`synth: ${(e as Error).message}`);
    return 2;
  }
  // The program (and Pulumi's SDK) loads only now, after the arguments are known to be good.
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a deferred load; import() would bypass the TS hook
  const { synthesize, SynthError } = require("./synth/desired-state") as typeof desiredState;
  let stale = 0;
  for (const stack of args.stacks) {
    let text: string;
    try {
      text = await synthesize(stack);
    } catch (e) {
      if (!(e instanceof SynthError)) throw e;
      for (const line of e.message.split("\n")) console.error(`synth: ${line}`);
      return 2;
    }
    const file = outputFile(args.out, stack);
    const rel = path.relative(process.cwd(), file);
    const current = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : undefined;
    if (args.check) {
      if (current !== text) {
        stale++;
        console.error(`${rel}: ${current === undefined ? "missing" : "differs from the program"}`);
      }
    } else if (current === text) {
      console.log(`${rel}: unchanged`);
    } else {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, text);
      console.log(`${rel}: ${current === undefined ? "written" : "updated"}`);
    }
  }
  if (stale > 0)
    console.error(`${stale} desired-state file(s) out of date; run \`npm run synth -- --all\` and commit the result`);
  return stale > 0 ? 1 : 0;
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => process.exit(code));
}
