/**
 * The platform's policy pack. `pulumi preview --policy-pack policy` (and `up`) runs it beside the
 * program; the rules live in rules.ts, where the specs test them.
 */
import { PolicyPack } from "@pulumi/policy";
import { POLICIES } from "./rules";

new PolicyPack("platform-guardrails", { policies: POLICIES });
