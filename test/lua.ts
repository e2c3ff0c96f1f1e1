/**
 * Runs an Argo CD health check written in Lua, as Argo CD's controller does (it embeds a Lua 5.1
 * interpreter, gopher-lua; here fengari, a Lua 5.3 in JavaScript, runs the same plain subset):
 * the resource as the global `obj`, the script's returned table as the health.
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
  lualib.luaL_openlibs(L);
  const code = `obj = ${literal(obj)}\nlocal function check()\n${script}\nend\nlocal hs = check()\nreturn hs.status, hs.message`;
  if (lauxlib.luaL_dostring(L, to_luastring(code)) !== lua.LUA_OK) {
    throw new Error(`Lua: ${to_jsstring(lua.lua_tostring(L, -1))}`);
  }
  const str = (i: number) => (lua.lua_isstring(L, i) ? to_jsstring(lua.lua_tostring(L, i)) : "");
  return { status: str(-2), message: str(-1) };
}
