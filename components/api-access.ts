/**
 * Who may reach a cloud cluster's Kubernetes API from outside its network: the one rule, used by
 * the config check (before any resource exists) and by the policy pack (on every preview and up,
 * against what the program hands the cloud). Changing it here changes both.
 */
import { parseCidr } from "./cidr";

/** The widest block a prod API may admit: a /8. */
const PROD_WIDEST_PREFIX = 8;

/**
 * What is wrong with a list of CIDR blocks that may reach the API, one phrase per problem
 * ("must not hold ..."), or none. `environment` is dev, stage or prod (undefined: not known).
 * `privateWhenEmpty`: whether an empty list leaves the API to a private endpoint (EKS: the public
 * endpoint is turned off) or to nobody at all (GKE and DOKS here: the endpoint the kubeconfig
 * names stays public, and an empty allow-list lets no one reach it, `pulumi up` included).
 */
export function apiAccessProblems(
  cidrs: readonly string[],
  environment: string | undefined,
  privateWhenEmpty: boolean,
): string[] {
  const problems: string[] = [];
  if (cidrs.length === 0 && !privateWhenEmpty) {
    problems.push(
      "must list at least one network: this cluster's API endpoint is public, and an empty list lets nobody reach it, this program included",
    );
  }
  const anywhere = cidrs.filter((c) => parseCidr(c)?.prefix === 0 || c === "::/0");
  if (anywhere.length > 0) {
    problems.push(
      `must not hold ${anywhere.join(", ")}: that opens the Kubernetes API to the whole internet; list the networks your operators and CI run from`,
    );
  }
  if (environment === "prod") {
    const wide = cidrs.find((c) => {
      const prefix = parseCidr(c)?.prefix;
      return prefix !== undefined && prefix > 0 && prefix < PROD_WIDEST_PREFIX;
    });
    if (wide !== undefined) {
      problems.push(
        `must not hold ${wide} in prod (nothing wider than a /${PROD_WIDEST_PREFIX}): list the networks your operators and CI run from`,
      );
    }
  }
  return problems;
}
