import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import type { z } from "zod";
import { CONFIG_KEYS, DEFAULTS, platformSchema } from "../components/config";
import { exampleNames, projectFile, ROOT, stackFile, stackNames } from "../scripts/synth/stack-config";
import { chartArchive, kustomize } from "./tools";

/** Every field name a zod schema accepts, nested ones included. */
function fieldNames(schema: z.ZodType): Set<string> {
  const names = new Set<string>();
  const walk = (s: unknown): void => {
    const def = (s as { _zod: { def: Record<string, any> } })._zod.def;
    switch (def["type"]) {
      case "object":
        for (const [k, v] of Object.entries(def["shape"] as Record<string, unknown>)) {
          names.add(k);
          walk(v);
        }
        break;
      case "union":
        for (const o of def["options"]) walk(o);
        break;
      case "default":
      case "prefault":
      case "optional":
      case "nullable":
        walk(def["innerType"]);
        break;
      case "pipe":
        walk(def["in"]);
        walk(def["out"]);
        break;
    }
  };
  walk(schema);
  return names;
}

describe("Pulumi.yaml", () => {
  const project = projectFile();
  const declared = (project.config ?? {}) as Record<string, { type?: string; description?: string; secret?: boolean }>;

  it("runs main.js with Node and no ts-node, so no run type-checks", () => {
    assert.equal(project.name, "platform");
    assert.deepEqual(project["runtime"], { name: "nodejs", options: { typescript: false, packagemanager: "npm" } });
    assert.equal(project["main"], "main.js");
    const main = fs.readFileSync(path.join(ROOT, "main.js"), "utf8");
    assert.match(main, /require\("\.\/scripts\/register\.cjs"\)/);
    assert.match(main, /module\.exports = require\("\.\/index\.ts"\)/);
  });

  it("declares exactly the config keys the program reads, each with a description", () => {
    assert.deepEqual(Object.keys(declared).sort(), CONFIG_KEYS.map((k) => `platform:${k}`).sort());
    for (const [key, decl] of Object.entries(declared)) {
      assert.ok((decl.description ?? "").length > 40, `${key} has no real description`);
    }
    assert.equal(declared["platform:environment"]?.type, "string");
    assert.equal(declared["platform:gitopsCredentials"]?.secret, true);
  });

  it("leaves environment, cluster and gitops required, and defaults the optional objects to {}", () => {
    const required = Object.entries(declared)
      .filter(([, d]) => !("default" in d))
      .map(([k]) => k)
      .sort();
    assert.deepEqual(required, ["platform:cluster", "platform:environment", "platform:gitops"]);
    for (const key of ["platform:argocd", "platform:gitopsCredentials"]) {
      assert.deepEqual((declared[key] as { default?: unknown }).default, {}, `${key} must default to an empty object`);
    }
  });

  it("documents every field of every object key", () => {
    for (const key of CONFIG_KEYS) {
      const description = declared[`platform:${key}`]?.description ?? "";
      for (const field of fieldNames(platformSchema.shape[key])) {
        assert.match(description, new RegExp(`\\b${field}\\b`), `platform:${key} does not document ${field}`);
      }
    }
  });

  it("documents the same pinned versions the program defaults to", () => {
    assert.match(
      declared["platform:argocd"]?.description ?? "",
      new RegExp(`default ${DEFAULTS.argocdChartVersion.replace(/\./g, "\\.")}\\b`),
    );
    assert.ok(declared["platform:cluster"]?.description?.includes(`default ${DEFAULTS.k3sImage}`));
    assert.ok(declared["platform:cluster"]?.description?.includes(`default ${DEFAULTS.registryImage}`));
  });
});

describe("stack files and the example stacks", () => {
  for (const stack of [...stackNames(), ...exampleNames().map((n) => `examples/${n}`)]) {
    const file = stackFile(stack);

    it(`${stack} pins an argo-cd chart the tests can render and check`, () => {
      const version = file["platform:argocd"]?.chartVersion ?? DEFAULTS.argocdChartVersion;
      assert.ok(fs.existsSync(chartArchive(version)), `no chart fixture for ${version}`);
    });

    it(`${stack} syncs a path of this repository that kustomize renders into Argo CD objects only`, () => {
      const gitopsPath = file["platform:gitops"]?.path ?? `gitops/envs/${file["platform:environment"]}`;
      assert.ok(
        fs.existsSync(path.join(ROOT, gitopsPath, "kustomization.yaml")),
        `${gitopsPath} has no kustomization.yaml`,
      );
      for (const o of kustomize(path.join(ROOT, gitopsPath))) {
        assert.ok(
          o["apiVersion"] === "argoproj.io/v1alpha1" &&
            ["AppProject", "Application", "ApplicationSet"].includes(o["kind"]),
          `${gitopsPath} renders a ${o["apiVersion"]} ${o["kind"]}, which the root project does not allow`,
        );
      }
    });

    it(`${stack} holds no credentials at all`, () => {
      assert.doesNotMatch(
        JSON.stringify(file),
        /"secure"|gitopsCredentials|password|token|PRIVATE KEY|AKIA[0-9A-Z]{16}|dop_v1_|secret/i,
      );
    });
  }
});
