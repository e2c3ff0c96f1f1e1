/**
 * F. The GitOps tree on a real API server: every object each environment's children render (the
 * Helm charts from their pinned packages, as test/argocd-render.ts renders them for the specs)
 * goes through the real kube-apiserver's server-side dry run, after the tree's CRDs and
 * namespaces are created for real. That is the Kubernetes 1.35 schemas, each CRD's schema and
 * CEL rules at its pinned version, and Pod Security admission (a workload whose pods the
 * namespace's level would refuse draws a warning) as the cluster itself applies them. First, the
 * health check through which the root's waves wait on their children runs on gopher-lua.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { ENVIRONMENTS } from "../components/config";
import { APPLICATION_HEALTH_LUA } from "../components/argocd";
import { BUILT_IN_KINDS, renderStackFile } from "../test/argocd-render";
import { CHILD_HEALTH_CASES } from "../test/lua";
import { placed } from "../test/tree-checks";
import type { Harness } from "./harness";

type Obj = Record<string, any>;

export interface TreeCtx {
  h: Harness;
  work: string;
  kubectlBin: string;
  kubeconfigFile: string;
  /** e2e/lua's runner of Argo CD health checks on gopher-lua, Argo CD's interpreter. */
  healthLua: string;
}

/** kubectl with the control plane's kubeconfig: exit code, stdout and stderr. */
function kubectl(ctx: TreeCtx, args: string[], input?: string) {
  const r = spawnSync(ctx.kubectlBin, ["--kubeconfig", ctx.kubeconfigFile, ...args], {
    encoding: "utf8",
    input,
    maxBuffer: 256 * 2 ** 20,
  });
  return { status: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

/** Objects as one JSON List: no YAML round trip can change a value's type on the way. */
const list = (objects: Obj[]) => JSON.stringify({ apiVersion: "v1", kind: "List", items: objects });

/** PSA levels, weakest first: a warning at the namespace's enforce level (or a weaker one) is a refusal. */
const LEVELS = ["privileged", "baseline", "restricted"];

export async function scenarioTree(ctx: TreeCtx): Promise<void> {
  console.log("\nF. Every object of the GitOps tree through a real API server (server-side dry run)");
  await ctx.h.check(
    "the child-Application health check gives each case its health on Argo CD's interpreter (gopher-lua)",
    () => {
      const script = path.join(ctx.work, "application-health.lua");
      fs.writeFileSync(script, APPLICATION_HEALTH_LUA);
      const r = spawnSync(ctx.healthLua, [script], {
        encoding: "utf8",
        input: JSON.stringify(CHILD_HEALTH_CASES.map((c) => c.app)),
      });
      if (r.error) throw new Error(`${ctx.healthLua}: ${r.error.message}`);
      if (r.status !== 0) throw new Error(r.stderr.trim());
      const got = JSON.parse(r.stdout) as ({ status: string; message: string } | undefined)[];
      const wrong = CHILD_HEALTH_CASES.flatMap((c, i) => {
        const h = got[i];
        const right =
          h?.status === c.expect.status && (c.expect.message === undefined || h.message === c.expect.message);
        return right ? [] : [`${c.why}: got ${JSON.stringify(h)}, want ${JSON.stringify(c.expect)}`];
      });
      if (wrong.length) throw new Error(wrong.join("\n"));
    },
  );
  const made: string[] = [];
  await ctx.h.check(
    "the API versions the specs hand helm are the ones a real API server of that version serves",
    () => {
      // Every group/version the server serves (CRDs aside), and the kinds each serves.
      const versions = kubectl(ctx, ["api-versions"]);
      if (versions.status !== 0) throw new Error(versions.stderr.trim());
      // What CRDs add (Argo CD's, when an earlier scenario left them) is not Kubernetes' own.
      const crds = kubectl(ctx, ["get", "crd", "-o", "jsonpath={.items[*].spec.group}"]);
      if (crds.status !== 0) throw new Error(crds.stderr.trim());
      const crdGroups = new Set(crds.stdout.split(/\s+/).filter(Boolean));
      const served = new Set<string>();
      for (const gv of versions.stdout.trim().split("\n")) {
        if (crdGroups.has(gv.split("/")[0] ?? "")) continue;
        const r = kubectl(ctx, ["get", "--raw", gv === "v1" ? "/api/v1" : `/apis/${gv}`]);
        if (r.status !== 0) throw new Error(r.stderr.trim());
        for (const res of (JSON.parse(r.stdout) as { resources: { name: string; kind: string }[] }).resources)
          if (!res.name.includes("/")) served.add(`${gv}/${res.kind}`);
      }
      const listed = new Set(Object.entries(BUILT_IN_KINDS).flatMap(([gv, kinds]) => kinds.map((k) => `${gv}/${k}`)));
      // Create-only review kinds are never manifests.
      const reviews = /Review$|^authentication.k8s.io\/v1\/SelfSubjectReview$/;
      const missing = [...listed].filter((k) => !served.has(k));
      const unlisted = [...served].filter((k) => !listed.has(k) && !reviews.test(k));
      if (missing.length || unlisted.length)
        throw new Error(
          `listed but not served: ${missing.join(", ") || "none"}; served but not listed: ${unlisted.join(", ") || "none"}`,
        );
    },
  );
  try {
    for (const env of ENVIRONMENTS) {
      const started = process.hrtime.bigint();
      const tree = await renderStackFile(env);
      const objects = placed(tree).map(({ object, namespace }) =>
        namespace === undefined ? object : { ...object, metadata: { ...object["metadata"], namespace } },
      );
      const crds = objects.filter((o) => o["kind"] === "CustomResourceDefinition");
      // Created for real: the CRDs (their kinds must be served before a dry run can check them),
      // the namespaces, and argocd, which Pulumi makes.
      const namespaces = [
        {
          apiVersion: "v1",
          kind: "Namespace",
          metadata: { name: "argocd", labels: { "pod-security.kubernetes.io/enforce": "restricted" } },
        },
        ...objects.filter((o) => o["kind"] === "Namespace"),
      ];
      await ctx.h.check(
        `${env}: the tree's ${crds.length} CRDs and ${namespaces.length} namespaces are created`,
        () => {
          const r = kubectl(
            ctx,
            ["apply", "--server-side", "--force-conflicts", "-f", "-"],
            list([...crds, ...namespaces]),
          );
          if (r.status !== 0) throw new Error(r.stderr.trim().split("\n").slice(0, 8).join("\n"));
          made.push(
            ...crds.map((c) => `crd/${c["metadata"]["name"]}`),
            ...namespaces.map((n) => `namespace/${n["metadata"]["name"]}`),
          );
          const wait = kubectl(ctx, [
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            ...crds.map((c) => `crd/${c["metadata"]["name"]}`),
          ]);
          if (wait.status !== 0) throw new Error(wait.stderr.trim());
        },
      );
      const rest = objects.filter((o) => o["kind"] !== "CustomResourceDefinition" && o["kind"] !== "Namespace");
      const enforce = new Map(
        namespaces.map((n) => [
          n["metadata"]["name"],
          n["metadata"]["labels"]?.["pod-security.kubernetes.io/enforce"] ?? "privileged",
        ]),
      );
      await ctx.h.check(
        `${env}: the API server accepts all ${rest.length} other objects, and no pod breaks its namespace's Pod Security level`,
        () => {
          const problems: string[] = [];
          // One namespace at a time, so a Pod Security warning is known to be about that namespace.
          const groups = new Map<string, Obj[]>();
          for (const o of rest) {
            const ns = o["metadata"]["namespace"] ?? "";
            groups.set(ns, [...(groups.get(ns) ?? []), o]);
          }
          for (const [ns, group] of groups) {
            const file = path.join(ctx.work, `tree-${env}-${ns || "cluster"}.json`);
            fs.writeFileSync(file, list(group));
            const r = kubectl(ctx, ["apply", "--server-side", "--force-conflicts", "--dry-run=server", "-f", file]);
            const lines = r.stderr.split("\n");
            problems.push(...lines.filter((l) => /^Error|error when|is invalid|denied/.test(l)));
            // The namespaces warn at restricted by design; only their enforce level refuses.
            const level = LEVELS.indexOf(enforce.get(ns) ?? "privileged");
            for (const l of lines) {
              const m = /would violate PodSecurity "(\w+):/.exec(l);
              if (m && LEVELS.indexOf(m[1] ?? "") <= level) problems.push(`${ns}: ${l}`);
            }
            if (r.status !== 0 && problems.length === 0) problems.push(`${ns}: ${r.stderr.trim().slice(0, 1000)}`);
          }
          if (problems.length) throw new Error(problems.slice(0, 12).join("\n"));
        },
      );
      ctx.h.time(`tree ${env}: render and dry-run`, Number(process.hrtime.bigint() - started) / 1e9);
    }
  } finally {
    // Nothing of the tree stays on the control plane.
    const names = [...new Set(made)];
    if (names.length) kubectl(ctx, ["delete", "--ignore-not-found", "--wait=false", ...names]);
  }
}
