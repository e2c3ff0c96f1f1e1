"use strict";
// Mocha's settings. Every spec runs by default; naming spec files runs those only
// (`npx mocha test/promote.spec.ts`, `npm test -- test/promote.spec.ts`). Mocha adds the files
// named on its command line to a `spec` set here instead of replacing it, so the default is given
// only when the command line names none.
const fs = require("node:fs");

/** Mocha's options that take the next argument as their value (a file, for some of them). */
const VALUED = new Set([
  "-r",
  "--require",
  "--file",
  "--config",
  "--package",
  "-R",
  "--reporter",
  "--ignore",
  "--exclude",
]);
const args = process.argv.slice(2);
const named = args.some(
  (arg, i) => !arg.startsWith("-") && !VALUED.has(args[i - 1] ?? "") && /\.[cm]?[jt]s$/.test(arg) && fs.existsSync(arg),
);

module.exports = {
  require: ["./scripts/register.cjs"],
  extension: ["ts"],
  ...(named ? {} : { spec: ["test/**/*.spec.ts"] }),
  reporter: "./test/reporter.cjs",
  timeout: 60000,
};
