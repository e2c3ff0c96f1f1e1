/**
 * Runs an Argo CD health check written in Lua, as Argo CD's controller does (it embeds a Lua 5.1
 * interpreter, gopher-lua; here fengari, a Lua 5.3 in JavaScript, runs the same plain subset,
 * with only the base, package and table libraries open, as there): the resource as the global
 * `obj`, the script's returned table as the health. npm run e2e runs the same cases on gopher-lua.
 */
const fengari = require("fengari") as {
  lua: Record<string, any>;
  lauxlib: Record<string, any>;
  lualib: Record<string, any>;
  to_luastring: (s: string) => Uint8Array;
  to_jsstring: (s: Uint8Array) => string;
};

/** A JSON value as a Lua literal (arrays as sequences, objects as tables). */
function literal(v: unknown): string {
  if (v === null || v === undefined) return "nil";
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (Array.isArray(v)) return `{${v.map(literal).join(", ")}}`;
  return `{${Object.entries(v as Record<string, unknown>)
    .map(([k, x]) => `[${JSON.stringify(k)}] = ${literal(x)}`)
    .join(", ")}}`;
}

/** The `status` and `message` a health script returns for this object. */
export function runHealthLua(script: string, obj: unknown): { status: string; message: string } {
  const { lua, lauxlib, lualib, to_luastring, to_jsstring } = fengari;
  const L = lauxlib.luaL_newstate();
  // Only the libraries Argo CD opens for a health check (no string, math or io).
  for (const [name, open] of [
    ["_G", lualib.luaopen_base],
    ["package", lualib.luaopen_package],
    ["table", lualib.luaopen_table],
  ] as const) {
    lauxlib.luaL_requiref(L, to_luastring(name), open, 1);
    lua.lua_pop(L, 1);
  }
  const code = `obj = ${literal(obj)}\nlocal function check()\n${script}\nend\nlocal hs = check()\nreturn hs.status, hs.message`;
  if (lauxlib.luaL_dostring(L, to_luastring(code)) !== lua.LUA_OK) {
    throw new Error(`Lua: ${to_jsstring(lua.lua_tostring(L, -1))}`);
  }
  const str = (i: number) => (lua.lua_isstring(L, i) ? to_jsstring(lua.lua_tostring(L, i)) : "");
  return { status: str(-2), message: str(-1) };
}

const synced = { history: [{ id: 0, revision: "abc" }], sync: { status: "Synced" } };

/**
 * Child Applications, and the health their parent's sync waves must see for each (checked with
 * the Lua of components/argocd.ts: in the specs on fengari, in the e2e on gopher-lua).
 */
export const CHILD_HEALTH_CASES: { why: string; app: unknown; expect: { status: string; message?: string } }[] = [
  { why: "a child never reconciled", app: {}, expect: { status: "Progressing" } },
  {
    // Argo CD 3.4 leaves Missing resources out of an app's health (argo-cd issue 27917): an app
    // that has synced nothing yet can say Healthy. The wave must not move on for it.
    why: "a child that says Healthy but has never completed a sync",
    app: { status: { health: { status: "Healthy" }, sync: { status: "OutOfSync" } } },
    expect: { status: "Progressing", message: "Waiting for the app's first sync" },
  },
  {
    why: "a child whose resources are all Missing",
    app: { status: { health: { status: "Missing" } } },
    expect: { status: "Progressing" },
  },
  {
    why: "a child that has synced and is Healthy",
    app: { status: { ...synced, health: { status: "Healthy" } } },
    expect: { status: "Healthy" },
  },
  {
    why: "a child that has synced and is still rolling out",
    app: { status: { ...synced, health: { status: "Progressing", message: "rolling" } } },
    expect: { status: "Progressing", message: "rolling" },
  },
  {
    why: "a child Degraded before its first sync",
    app: { status: { health: { status: "Degraded", message: "crash" } } },
    expect: { status: "Degraded", message: "crash" },
  },
  {
    why: "a child Degraded after a sync",
    app: { status: { ...synced, health: { status: "Degraded", message: "crash" } } },
    expect: { status: "Degraded", message: "crash" },
  },
];
