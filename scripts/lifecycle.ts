/**
 * `node --require ./scripts/register.cjs scripts/lifecycle.ts drain | wait-healthy`: what the
 * stack's Command resources run (components/lifecycle.ts), the drain when the stack is destroyed
 * and the readiness gate on `pulumi up`. Settings come from the environment the Command gives:
 *
 * - PLATFORM_KUBECONFIG: the cluster's kubeconfig (a secret in the stack's state)
 * - PLATFORM_ARGOCD_NAMESPACE, PLATFORM_ROOT_APP, PLATFORM_TIMEOUT_SECONDS
 * - PLATFORM_ALLOW_UNREACHABLE=true (ephemeral stacks): a cluster that is gone counts as drained
 * - PLATFORM_SKIP_DRAIN=1, set by hand for one `pulumi destroy`: skips the drain
 * - PLATFORM_KUBECONFIG_FILE, set by hand: a kubeconfig file to use instead of the one in state
 *   (which may hold an expired token, as DOKS's do after a week)
 */
import * as fs from "node:fs";
import { drain } from "./lifecycle/drain";
import { waitHealthy } from "./lifecycle/health";
import { connect, isUnreachable } from "./lifecycle/kube";
import { nodeVersionProblem } from "../components/node-version";

class Stop extends Error {}

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Stop(`${name} is not set: this command is run by the stack's lifecycle resources`);
  return value;
}

function seconds(name: string): number {
  const text = env(name);
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1)
    throw new Stop(`${name} must be a whole number of seconds (got ${JSON.stringify(text)})`);
  return n;
}

const log = (line: string) => console.log(line);

async function main(command: string | undefined): Promise<number> {
  if (command !== "drain" && command !== "wait-healthy") {
    throw new Stop(`usage: lifecycle.ts drain|wait-healthy (got ${JSON.stringify(command ?? "")})`);
  }
  const tooOld = nodeVersionProblem();
  if (tooOld) throw new Stop(tooOld);
  const namespace = env("PLATFORM_ARGOCD_NAMESPACE");
  const rootApp = env("PLATFORM_ROOT_APP");
  const timeoutSeconds = seconds("PLATFORM_TIMEOUT_SECONDS");
  const intervalMs = Number(process.env["PLATFORM_POLL_MS"] ?? 5000);

  if (command === "drain" && process.env["PLATFORM_SKIP_DRAIN"] === "1") {
    log("PLATFORM_SKIP_DRAIN=1: not draining. Check the cloud account for load balancers and disks left behind.");
    return 0;
  }
  const override = process.env["PLATFORM_KUBECONFIG_FILE"];
  const kube = connect(override ? fs.readFileSync(override, "utf8") : env("PLATFORM_KUBECONFIG"), {
    pauseMs: Math.min(500, intervalMs),
  });

  if (command === "wait-healthy") {
    const result = await waitHealthy(kube, { namespace, rootApp, timeoutMs: timeoutSeconds * 1000, intervalMs, log });
    if (result.healthy) return 0;
    console.error(result.report);
    return 1;
  }

  try {
    const result = await drain(kube, { namespace, rootApp, timeoutMs: timeoutSeconds * 1000, intervalMs, log });
    if (result.drained) return 0;
    console.error(result.report);
    return 1;
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (code === 401 || code === 403) {
      throw new Stop(
        `the cluster's API server ${kube.server} refused the stack's kubeconfig (${String(code)}): its token may have expired. Run \`pulumi up\` to refresh it, or point PLATFORM_KUBECONFIG_FILE at a working kubeconfig, then run the destroy again.`,
      );
    }
    if (!isUnreachable(e)) throw e;
    if (process.env["PLATFORM_ALLOW_UNREACHABLE"] === "true") {
      log(`The cluster's API server ${kube.server} does not answer: it is gone, so there is nothing to drain.`);
      return 0;
    }
    throw new Stop(
      `cannot reach the cluster's API server ${kube.server} to drain it (${(e as Error).message}). If the cluster is already gone, run the destroy again with PLATFORM_SKIP_DRAIN=1 and look in the cloud account for load balancers and disks named after it.`,
    );
  }
}

// Exits explicitly: the client's keep-alive connections would hold the process open.
main(process.argv[2]).then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e instanceof Stop ? e.message : e instanceof Error ? `${e.name}: ${e.message}` : String(e));
    process.exit(1);
  },
);
