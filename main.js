// The file Pulumi runs (Pulumi.yaml `main`): the program in index.ts, with its types stripped on
// the fly and never checked, so `pulumi up` and `pulumi preview` start fast.
require("./scripts/register.cjs");
module.exports = require("./index.ts");
