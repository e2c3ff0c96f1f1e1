/**
 * The drain and the readiness gate load @kubernetes/client-node 1.x, an ES module, with require():
 * Node.js 20.19+ (or 22.12+, 23+) does that by default. On an older Node both would fail half-way,
 * the gate an up and the drain a destroy, so the program stops before anything with one line.
 */
export function nodeVersionProblem(version: string = process.versions.node): string | undefined {
  const [major = 0, minor = 0] = version.split(".").map(Number);
  const ok = major >= 23 || (major === 22 && minor >= 12) || (major === 20 && minor >= 19);
  return ok
    ? undefined
    : `Node.js ${version} is too old: the drain and the readiness gate need Node.js 20.19 or later (22.12 or later on 22), which can require() ES modules; install a newer Node.js (the project's engines field says >=20.19)`;
}
