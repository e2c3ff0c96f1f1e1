import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { nodeVersionProblem } from "./node-version";

/**
 * How the Command resources below start scripts/lifecycle.ts: from the project directory (where
 * Pulumi runs its providers), with the same type-stripping loader as the program, so nothing is
 * type-checked or built first.
 */
export const LIFECYCLE_COMMAND = "node --require ./scripts/register.cjs scripts/lifecycle.ts";

interface ClusterAccess {
  /** The cluster's kubeconfig (a secret); the Command keeps it as a secret in its state. */
  kubeconfig: pulumi.Output<string>;
  /** Argo CD's namespace, where the root Application lives. */
  namespace: pulumi.Input<string>;
  /** Name of the root Application. */
  rootApp: pulumi.Input<string>;
}

/**
 * A Command that runs one lifecycle command against the cluster, as a child of `parent`. The
 * kubeconfig stays a secret in its environment; its stdout carries nothing secret.
 */
function lifecycleCommand(
  name: string,
  parent: pulumi.Resource,
  args: ClusterAccess & { timeoutSeconds: number },
  run: { create?: string; delete?: string; triggers?: string[]; extraEnv?: Record<string, string> },
  dependsOn: pulumi.Resource[],
): command.local.Command {
  // Pulumi's own limit leaves the command room to give up by itself and report.
  const limit = `${args.timeoutSeconds + 120}s`;
  return new command.local.Command(
    name,
    {
      ...(run.create ? { create: run.create } : {}),
      ...(run.delete ? { delete: run.delete } : {}),
      ...(run.triggers ? { triggers: run.triggers } : {}),
      environment: {
        PLATFORM_KUBECONFIG: args.kubeconfig,
        PLATFORM_ARGOCD_NAMESPACE: args.namespace,
        PLATFORM_ROOT_APP: args.rootApp,
        PLATFORM_TIMEOUT_SECONDS: String(args.timeoutSeconds),
        ...run.extraEnv,
      },
      logging: "stdoutAndStderr",
      addPreviousOutputInEnv: false,
    },
    {
      parent,
      dependsOn,
      customTimeouts: run.delete ? { delete: limit } : { create: limit, update: limit },
    },
  );
}

export interface GitOpsDrainArgs extends ClusterAccess {
  /** How long the drain waits for the apps, load balancers and volumes to go. */
  timeoutSeconds: number;
  /** A cluster that cannot be reached counts as drained (ephemeral stacks, and k3d). */
  allowUnreachable: boolean;
  /**
   * What must still run while the drain does: Argo CD (its finalizers do the deleting). The drain
   * is created after it, so it is deleted before it.
   */
  argocd: pulumi.Resource;
}

/**
 * Runs the GitOps drain (scripts/lifecycle/drain.ts) when the stack is destroyed: after the root
 * Application is deleted (the root app depends on this, so it goes first), and before Argo CD
 * and the cluster (this depends on them, so it goes before them). Creating it does nothing.
 */
export class GitOpsDrain extends pulumi.ComponentResource {
  constructor(name: string, args: GitOpsDrainArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:lifecycle:GitOpsDrain", name, {}, opts);
    const problem = nodeVersionProblem();
    if (problem) throw new pulumi.RunError(problem);
    lifecycleCommand(
      `${name}-command`,
      this,
      args,
      { delete: `${LIFECYCLE_COMMAND} drain`, extraEnv: { PLATFORM_ALLOW_UNREACHABLE: String(args.allowUnreachable) } },
      [args.argocd],
    );
    this.registerOutputs({});
  }
}

export interface ReadinessGateArgs extends ClusterAccess {
  timeoutSeconds: number;
  /** A digest of what the root app syncs: the gate waits again whenever it changes. */
  desiredStateHash: string;
  /** The root Application: the gate starts once it exists. */
  rootApplication: pulumi.Resource;
}

/**
 * `platform:argocd.waitForHealthy`: `pulumi up` finishes only when the root Application is Synced
 * and every child app is Synced and Healthy, except those the tree marks as waiting on a person
 * (`platform.gitops/waits-for`: Vault's setup by hand in stage and prod), which it names as not
 * waited for (scripts/lifecycle/health.ts). When it gives up, the update fails with the child
 * apps that are not healthy and why; the next `pulumi up` waits again.
 */
export class ReadinessGate extends pulumi.ComponentResource {
  constructor(name: string, args: ReadinessGateArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:lifecycle:ReadinessGate", name, {}, opts);
    // A change to what the root app syncs (the trigger) makes the gate wait again.
    lifecycleCommand(
      `${name}-command`,
      this,
      args,
      { create: `${LIFECYCLE_COMMAND} wait-healthy`, triggers: [args.desiredStateHash] },
      [args.rootApplication],
    );
    this.registerOutputs({});
  }
}
