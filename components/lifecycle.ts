import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";

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

function environment(args: ClusterAccess, timeoutSeconds: number, extra: Record<string, string> = {}) {
  return {
    PLATFORM_KUBECONFIG: args.kubeconfig,
    PLATFORM_ARGOCD_NAMESPACE: args.namespace,
    PLATFORM_ROOT_APP: args.rootApp,
    PLATFORM_TIMEOUT_SECONDS: String(timeoutSeconds),
    ...extra,
  };
}

export interface GitOpsDrainArgs extends ClusterAccess {
  /** How long the drain waits for the apps, load balancers and volumes to go. */
  timeoutSeconds: number;
  /** Ephemeral stacks: a cluster that cannot be reached counts as drained. */
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
    new command.local.Command(
      `${name}-command`,
      {
        delete: `${LIFECYCLE_COMMAND} drain`,
        environment: environment(args, args.timeoutSeconds, {
          PLATFORM_ALLOW_UNREACHABLE: String(args.allowUnreachable),
        }),
        logging: "stdoutAndStderr",
        addPreviousOutputInEnv: false,
      },
      {
        parent: this,
        dependsOn: [args.argocd],
        // The drain gives up by itself at its timeout; this leaves it room to report.
        customTimeouts: { delete: `${args.timeoutSeconds + 120}s` },
      },
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
 * and Healthy (scripts/lifecycle/health.ts). When it gives up, the update fails with the child
 * apps that are not healthy and why; the next `pulumi up` waits again.
 */
export class ReadinessGate extends pulumi.ComponentResource {
  constructor(name: string, args: ReadinessGateArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:lifecycle:ReadinessGate", name, {}, opts);
    new command.local.Command(
      `${name}-command`,
      {
        create: `${LIFECYCLE_COMMAND} wait-healthy`,
        environment: environment(args, args.timeoutSeconds),
        // A change to what the root app syncs makes the gate wait again.
        triggers: [args.desiredStateHash],
        logging: "stdoutAndStderr",
        addPreviousOutputInEnv: false,
      },
      {
        parent: this,
        dependsOn: [args.rootApplication],
        customTimeouts: { create: `${args.timeoutSeconds + 120}s`, update: `${args.timeoutSeconds + 120}s` },
      },
    );
    this.registerOutputs({});
  }
}
