"use strict";
// `npm test`: the type check, lint + format check, and the specs, run side by side (they are
// independent, and together they would take half again as long one after the other). The specs
// stream as they run; the checks' output follows, and the last line is always the plain
// `N passed, N failed` that CI reads, with each of the three checks counted as one test.
const { spawn } = require("node:child_process");
const path = require("node:path");

const root = path.resolve(__dirname, "..");
const bin = (name) => path.join(root, "node_modules", ".bin", name);
const SUMMARY = /^(\d+) passed, (\d+) failed(?:, (\d+) skipped)?$/m;

/** Runs commands one after another, keeping their output; resolves with the first failure's code. */
function run(label, commands, stream) {
  return new Promise((resolve) => {
    let output = "";
    const next = (i) => {
      if (i === commands.length) return resolve({ label, code: 0, output });
      const [cmd, ...args] = commands[i];
      const child = spawn(cmd, args, { cwd: root, env: { ...process.env, FORCE_COLOR: "0", NO_COLOR: "1" } });
      const take = (chunk) => {
        output += chunk;
        if (stream) process.stdout.write(chunk);
      };
      child.stdout.on("data", take);
      child.stderr.on("data", take);
      child.on("error", (e) => take(`${cmd}: ${e.message}\n`));
      child.on("close", (code) => (code === 0 ? next(i + 1) : resolve({ label, code: code ?? 1, output })));
    };
    next(0);
  });
}

/**
 * With no reference folder given (a user's machine with network), the chart packages the specs
 * render come from the cache: fetch the missing ones first (`npm run charts`), once.
 */
function fetchCharts() {
  if (process.env.PLATFORM_REFERENCE_DIR) return Promise.resolve();
  return run(
    "chart packages (npm run charts)",
    [[process.execPath, "--require", "./scripts/register.cjs", "test/fetch-charts.ts"]],
    true,
  );
}

async function main() {
  const only = process.argv.slice(2);
  const fetched = await fetchCharts();
  if (fetched && fetched.code !== 0) process.stdout.write("FAILED: could not fetch the chart packages (see above)\n");
  const checks = [
    run("type check (tsc)", [[bin("tsc"), "-p", "."]], false),
    run(
      "lint and format (eslint, prettier)",
      [
        [bin("eslint"), "."],
        [bin("prettier"), "--check", "."],
      ],
      false,
    ),
  ];
  const specs = run("specs (mocha)", [[bin("mocha"), ...only]], true);
  const results = await Promise.all(checks);
  const mocha = await specs;

  let passed = 0;
  let failed = 0;
  for (const r of results) {
    process.stdout.write(`\n${r.code === 0 ? "ok" : "FAILED"}: ${r.label}\n`);
    if (r.code !== 0) process.stdout.write(r.output);
    if (r.code === 0) passed++;
    else failed++;
  }
  const totals = SUMMARY.exec(mocha.output);
  if (totals) {
    passed += Number(totals[1]);
    failed += Number(totals[2]);
  } else {
    process.stdout.write(`FAILED: ${mocha.label} stopped before its summary (exit ${mocha.code})\n`);
    failed++;
  }
  if (mocha.code !== 0 && totals && Number(totals[2]) === 0) failed++;
  const skipped = totals?.[3] ? `, ${totals[3]} skipped` : "";
  process.stdout.write(`\n${passed} passed, ${failed} failed${skipped}\n`);
  process.exit(failed > 0 ? 1 : 0);
}

void main();
