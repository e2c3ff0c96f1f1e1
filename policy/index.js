// What the Pulumi CLI loads for `--policy-pack policy`: the pack in index.ts, with its types
// stripped as Node loads it and never checked (like main.js for the program). The CLI registers
// ts-node before this file runs; the project's own loader replaces it for .ts files.
require("../scripts/register.cjs");
module.exports = require("./index.ts");
