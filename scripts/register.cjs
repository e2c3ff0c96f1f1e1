"use strict";
/**
 * Runs the project's TypeScript without type-checking: esbuild strips the types of each .ts
 * file as Node requires it (type checks belong to `npm test` and CI). Transpiled files are cached
 * by content, so an unchanged program does not even start esbuild. Used by main.js (what
 * `pulumi up` runs) and by the tests, so both run the same code the same way.
 */
const crypto = require("node:crypto");
const fs = require("node:fs");
const Module = require("node:module");
const path = require("node:path");

/**
 * The Pulumi SDK loads npm's dependency resolver (@npmcli/arborist, with pacote and sigstore) and
 * the TypeScript compiler as it starts, for one feature: serializing JavaScript functions into
 * cloud functions. This program never does that. They stay registered under their own paths and
 * load on first use, so nothing changes if some day they are used. What it saves, measured with
 * the real CLI (npm run e2e's toolchain, a stack of kind existing, 5 runs each, 2 cores): a
 * `pulumi preview` takes 3.9 s with the deferral and 4.3 s without, about 0.4 s; most of a
 * preview is the CLI, the engine and the providers starting, not the program.
 */
function deferSdkModules(ids) {
  let sdkDir;
  try {
    sdkDir = path.dirname(require.resolve("@pulumi/pulumi/package.json"));
  } catch {
    return; // no SDK installed (yet): nothing to defer
  }
  for (const id of ids) {
    let file;
    try {
      file = require.resolve(id, { paths: [sdkDir] });
    } catch {
      continue; // a later SDK without it: nothing to defer
    }
    if (require.cache[file]) continue;
    let real;
    const load = () => {
      if (!real) {
        // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- Node's module cache is keyed by path
        delete require.cache[file];
        real = require(file);
      }
      return real;
    };
    const placeholder = new Module(file);
    placeholder.filename = file;
    placeholder.loaded = true;
    // `__esModule` answers true so that TypeScript's import helpers keep the proxy as it is.
    placeholder.exports = new Proxy(
      {},
      {
        get: (_, key) => (key === "__esModule" ? true : load()[key]),
        has: (_, key) => key in load(),
        ownKeys: () => Reflect.ownKeys(load()),
        getOwnPropertyDescriptor: (_, key) => Object.getOwnPropertyDescriptor(load(), key),
      },
    );
    require.cache[file] = placeholder;
  }
}
deferSdkModules(["@npmcli/arborist", "typescript"]);

const CACHE_DIR = path.join(__dirname, "..", "node_modules", ".cache", "platform-ts");
// Inline source maps: run with NODE_OPTIONS=--enable-source-maps for exact .ts lines in traces.
const OPTIONS = { loader: "ts", format: "cjs", target: "node20", sourcemap: "inline" };
let esbuild; // loaded on the first cache miss only

function transpile(source, filename) {
  const key = crypto
    .createHash("sha256")
    .update(`${require("esbuild/package.json").version}\0${JSON.stringify(OPTIONS)}\0${filename}\0${source}`)
    .digest("hex");
  const cached = path.join(CACHE_DIR, `${key}.js`);
  try {
    return fs.readFileSync(cached, "utf8");
  } catch {
    // not cached yet
  }
  esbuild ??= require("esbuild");
  const { code } = esbuild.transformSync(source, { ...OPTIONS, sourcefile: filename });
  try {
    fs.mkdirSync(CACHE_DIR, { recursive: true });
    const tmp = `${cached}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, code);
    fs.renameSync(tmp, cached);
  } catch {
    // the cache is an optimisation; a read-only checkout still runs
  }
  return code;
}

Module._extensions[".ts"] = function compileTypeScript(module, filename) {
  module._compile(transpile(fs.readFileSync(filename, "utf8"), filename), filename);
};
