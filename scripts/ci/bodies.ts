/**
 * The Markdown CI posts: a stack's `pulumi preview`, its offline desired-state diff, and a drift
 * report. Each starts with the marker that lets the next run edit it instead of adding another.
 */
import { marker, MAX_BODY } from "./github";

/** A code fence longer than any run of backticks in `text`, so output cannot close it early. */
function fenced(text: string, lang = ""): string {
  const longest = Math.max(2, ...(text.match(/`+/g) ?? []).map((m) => m.length));
  const fence = "`".repeat(longest + 1);
  return `${fence}${lang}\n${text.replace(/\n$/, "")}\n${fence}`;
}

/** Cuts `text` to fit a comment beside `room` other characters, saying where the rest is. */
export function fit(text: string, room: number, rest: string): string {
  const max = MAX_BODY - room - 200;
  if (text.length <= max) return text;
  const cut = text.slice(0, max);
  return `${cut.slice(0, cut.lastIndexOf("\n") + 1)}… ${text.length - max} more characters: ${rest}\n`;
}

export function synthDiffBody(args: {
  stack: string;
  base: string;
  diff: string;
  isNew: boolean;
  runUrl: string;
}): string {
  const head = [
    marker("synth", args.stack),
    `### Desired state of \`${args.stack}\` (offline synth)`,
    "",
    "`pulumi preview` cannot run for this stack here (a k3d stack lives on a laptop; a pull request from a fork,",
    "or a repository without CI credentials, has no cloud access), so this is the change to its desired state from",
    "`npm run synth`: what the program registers, with secrets as `[secret]` and values only the cloud assigns as",
    "`(known after apply)`. It cannot show drift or the live state.",
    "",
    "",
  ].join("\n");
  if (args.diff === "") return `${head}No change to the desired state against \`${args.base}\`.\n`;
  const intro = args.isNew ? `A new stack: its whole desired state.\n\n` : `Against \`${args.base}\`:\n\n`;
  const diff = fit(args.diff, head.length + intro.length, `see the run's log, ${args.runUrl}`);
  return `${head}${intro}<details open><summary>synth/${args.stack}.yaml</summary>\n\n${fenced(diff, "diff")}\n\n</details>\n`;
}

export function previewBody(args: { stack: string; ok: boolean; output: string; runUrl: string }): string {
  const head = [
    marker("preview", args.stack),
    `### \`pulumi preview --diff\` of \`${args.stack}\`: ${args.ok ? "succeeded" : "**failed**"}`,
    "",
    args.ok
      ? "With the policy pack (`policy/`). Nothing was changed; `deploy` applies this after merge."
      : "The preview or a mandatory policy failed; nothing was changed. The output says why.",
    "",
  ].join("\n");
  const output = fit(args.output, head.length + 100, `see ${args.runUrl}`);
  return `${head}<details${args.ok ? "" : " open"}><summary>Output</summary>\n\n${fenced(output)}\n\n</details>\n\n[Run](${args.runUrl})\n`;
}

export function driftBody(args: { stack: string; drifted: boolean; output: string; runUrl: string }): string {
  if (!args.drifted) return `No drift on \`${args.stack}\` any more ([check](${args.runUrl})); closing.\n`;
  const head = [
    `The scheduled check (\`pulumi preview --refresh --expect-no-changes\`) found that \`${args.stack}\` no longer matches`,
    "its desired state: something changed outside Pulumi, or the check itself failed. Either bring the change into",
    "the program (and Git), or run `pulumi up` to put the stack back. This issue is updated by each check and",
    "closed by the first one that finds no drift.",
    "",
  ].join("\n");
  const output = fit(args.output, head.length + 100, `see ${args.runUrl}`);
  return `${head}${fenced(output)}\n\n[Check](${args.runUrl})\n`;
}
