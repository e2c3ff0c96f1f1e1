/**
 * The few GitHub REST calls CI makes: one comment per stack on a pull request, created once and
 * then edited (found by a hidden marker), and one issue per drifted stack, opened, updated and
 * closed again when the drift is gone. Uses Node's fetch and the workflow's GITHUB_TOKEN.
 */

export interface GitHub {
  /** API root, `https://api.github.com` (or GITHUB_API_URL on GitHub Enterprise). */
  api: string;
  token: string;
  /** `owner/name`. */
  repo: string;
}

/** The hidden first line that identifies a comment CI owns: one per kind and stack. */
export function marker(kind: "preview" | "synth", stack: string): string {
  return `<!-- platform-ci:${kind}:${stack} -->`;
}

/** Reads the marker a body starts with; bodies come from another workflow's artifact, so check them. */
export function parseMarker(body: string): { kind: "preview" | "synth"; stack: string } | undefined {
  const m = /^<!-- platform-ci:(preview|synth):([A-Za-z0-9_.-]{1,100}) -->\n/.exec(body);
  return m ? { kind: m[1] as "preview" | "synth", stack: m[2] ?? "" } : undefined;
}

/** GitHub refuses comments and issue bodies over 65536 characters. */
export const MAX_BODY = 65_000;

async function request<T>(gh: GitHub, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${gh.api.replace(/\/$/, "")}${path}`, {
    method,
    headers: {
      accept: "application/vnd.github+json",
      authorization: `Bearer ${gh.token}`,
      "x-github-api-version": "2022-11-28",
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (!res.ok) {
    const text = (await res.text()).slice(0, 300);
    throw new Error(`GitHub ${method} ${path} answered ${res.status}: ${text}`);
  }
  return (res.status === 204 ? undefined : await res.json()) as T;
}

/** Every page of a list endpoint (100 per page). */
async function list<T>(gh: GitHub, path: string): Promise<T[]> {
  const all: T[] = [];
  for (let page = 1; ; page++) {
    const sep = path.includes("?") ? "&" : "?";
    const items = await request<T[]>(gh, "GET", `${path}${sep}per_page=100&page=${page}`);
    all.push(...items);
    if (items.length < 100) return all;
  }
}

/**
 * The commit pull request `pr` is at now. CI comments only when it is the commit that was checked:
 * a number read from an artifact of a fork's run must not steer comments onto another pull request.
 */
export async function pullRequestHead(gh: GitHub, pr: number): Promise<string> {
  const pull = await request<{ head: { sha: string } }>(gh, "GET", `/repos/${gh.repo}/pulls/${pr}`);
  return pull.head.sha;
}

/** The account GITHUB_TOKEN posts as in Actions; only its comments are ever edited. */
export const ACTIONS_BOT = "github-actions[bot]";

/** Creates the comment that carries `body`'s marker, or edits it in place; never a second one. */
export async function upsertComment(
  gh: GitHub,
  issue: number,
  body: string,
  author: string = ACTIONS_BOT,
): Promise<"created" | "updated" | "unchanged"> {
  const firstLine = body.split("\n", 1)[0] ?? "";
  const comments = await list<{ id: number; body?: string; user?: { login?: string } }>(
    gh,
    `/repos/${gh.repo}/issues/${issue}/comments`,
  );
  // Anyone can write a comment that starts with the marker; only the workflow's own are CI's.
  const existing = comments.find((c) => c.user?.login === author && c.body?.split("\n", 1)[0] === firstLine);
  if (!existing) {
    await request(gh, "POST", `/repos/${gh.repo}/issues/${issue}/comments`, { body });
    return "created";
  }
  if (existing.body === body) return "unchanged";
  await request(gh, "PATCH", `/repos/${gh.repo}/issues/comments/${existing.id}`, { body });
  return "updated";
}

/**
 * Keeps one open issue per drifted stack: opens it (labelled), updates its body on later drift,
 * and closes it with a comment once a check finds no drift.
 */
export async function syncDriftIssue(
  gh: GitHub,
  args: { stack: string; drifted: boolean; body: string; label: string },
): Promise<"opened" | "updated" | "closed" | "none"> {
  const title = `Drift: stack ${args.stack}`;
  const open = await list<{ number: number; title: string; pull_request?: unknown }>(
    gh,
    `/repos/${gh.repo}/issues?state=open&labels=${encodeURIComponent(args.label)}`,
  );
  const issue = open.find((i) => !i.pull_request && i.title === title);
  if (args.drifted) {
    if (issue) {
      await request(gh, "PATCH", `/repos/${gh.repo}/issues/${issue.number}`, { body: args.body });
      return "updated";
    }
    await request(gh, "POST", `/repos/${gh.repo}/issues`, { title, body: args.body, labels: [args.label] });
    return "opened";
  }
  if (!issue) return "none";
  await request(gh, "POST", `/repos/${gh.repo}/issues/${issue.number}/comments`, { body: args.body });
  await request(gh, "PATCH", `/repos/${gh.repo}/issues/${issue.number}`, {
    state: "closed",
    state_reason: "completed",
  });
  return "closed";
}
