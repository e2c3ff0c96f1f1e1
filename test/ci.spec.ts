import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { main, unifiedDiff, UsageError } from "../scripts/ci";
import { driftBody, fit, previewBody, synthDiffBody } from "../scripts/ci/bodies";
import {
  type GitHub,
  marker,
  MAX_BODY,
  parseMarker,
  pullRequestHead,
  syncDriftIssue,
  upsertComment,
} from "../scripts/ci/github";
import { allStacks, stackInfo, stacksTouched } from "../scripts/ci/stacks";

interface Call {
  method: string;
  path: string;
  body?: any;
}

/** A local stand-in for GitHub's REST API: comments and issues in memory, every call recorded. */
class FakeGitHub {
  calls: Call[] = [];
  comments: { id: number; body: string; user: { login: string } }[] = [];
  issues: { number: number; title: string; state: string; labels: string[]; body: string; pull_request?: object }[] =
    [];
  headSha = "a".repeat(40);
  private server = http.createServer((req, res) => this.handle(req, res));

  async start(): Promise<GitHub> {
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    const { port } = this.server.address() as AddressInfo;
    return { api: `http://127.0.0.1:${port}`, token: "test-token", repo: "acme/platform" };
  }

  stop(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    let raw = "";
    req.on("data", (d) => (raw += String(d)));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://x");
      const body = raw ? JSON.parse(raw) : undefined;
      this.calls.push({ method: req.method ?? "", path: url.pathname + url.search, ...(body ? { body } : {}) });
      const send = (status: number, value: unknown) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(value));
      };
      if (req.headers.authorization !== "Bearer test-token") return send(401, { message: "Bad credentials" });
      const page = Number(url.searchParams.get("page") ?? "1");
      const per = Number(url.searchParams.get("per_page") ?? "30");
      const paged = <T>(items: T[]) => items.slice((page - 1) * per, page * per);
      const p = url.pathname;
      if (req.method === "GET" && p === "/repos/acme/platform/pulls/7")
        return send(200, { head: { sha: this.headSha } });
      if (req.method === "GET" && p === "/repos/acme/platform/issues/7/comments")
        return send(200, paged(this.comments));
      if (req.method === "POST" && p === "/repos/acme/platform/issues/7/comments") {
        this.comments.push({
          id: 1000 + this.comments.length,
          body: body.body,
          user: { login: "github-actions[bot]" },
        });
        return send(201, {});
      }
      const comment = /^\/repos\/acme\/platform\/issues\/comments\/(\d+)$/.exec(p);
      if (req.method === "PATCH" && comment) {
        const c = this.comments.find((x) => x.id === Number(comment[1]));
        if (!c) return send(404, {});
        c.body = body.body;
        return send(200, {});
      }
      if (req.method === "GET" && p === "/repos/acme/platform/issues") {
        const label = url.searchParams.get("labels") ?? "";
        return send(200, paged(this.issues.filter((i) => i.state === "open" && i.labels.includes(label))));
      }
      if (req.method === "POST" && p === "/repos/acme/platform/issues") {
        this.issues.push({
          number: 50 + this.issues.length,
          title: body.title,
          state: "open",
          labels: body.labels,
          body: body.body,
        });
        return send(201, {});
      }
      const issue = /^\/repos\/acme\/platform\/issues\/(\d+)(\/comments)?$/.exec(p);
      if (issue) {
        const i = this.issues.find((x) => x.number === Number(issue[1]));
        if (!i) return send(404, {});
        if (req.method === "PATCH") Object.assign(i, body);
        return send(200, {});
      }
      send(404, { message: `no route ${req.method ?? ""} ${p}` });
    });
  }
}

describe("CI helpers (npm run ci)", () => {
  describe("which stacks a run works on", () => {
    it("reads each stack's environment, cloud and region from its stack file; k3d is not a cloud stack", () => {
      assert.deepEqual(stackInfo("prod"), {
        stack: "prod",
        environment: "prod",
        provider: "eks",
        region: "eu-central-1",
        cloud: true,
      });
      assert.deepEqual(stackInfo("dev"), {
        stack: "dev",
        environment: "dev",
        provider: "k3d",
        region: "",
        cloud: false,
      });
      assert.deepEqual(
        allStacks().map((s) => s.stack),
        ["dev", "prod", "stage"],
      );
    });

    it("a change to the program touches every stack; a stack file only its own; docs, tests and the tree none", () => {
      const stacks = ["dev", "prod", "stage"];
      for (const f of ["components/argocd.ts", "index.ts", "policy/rules.ts", "package-lock.json", "Pulumi.yaml"]) {
        assert.deepEqual(stacksTouched([f], stacks), stacks, f);
      }
      assert.deepEqual(stacksTouched(["Pulumi.prod.yaml", "README.md"], stacks), ["prod"]);
      assert.deepEqual(
        stacksTouched(["README.md", "test/ci.spec.ts", "gitops/envs/prod/versions.yaml", "synth/prod.yaml"], stacks),
        [],
      );
    });

    it("prints the matrix a workflow reads, filtered by environment and cloud", async () => {
      const lines: string[] = [];
      assert.equal(await main(["stacks", "--cloud", "--environments", "dev,stage"], (l) => lines.push(l)), 0);
      assert.deepEqual(JSON.parse(lines[0]!), [stackInfo("stage")]);
    });
  });

  describe("comment bodies", () => {
    it("start with the marker of their kind and stack, which parseMarker reads back", () => {
      const body = previewBody({ stack: "prod", ok: true, output: "Previewing update (prod)", runUrl: "https://run" });
      assert.ok(body.startsWith(`${marker("preview", "prod")}\n`));
      assert.deepEqual(parseMarker(body), { kind: "preview", stack: "prod" });
      assert.equal(parseMarker(`<!-- platform-ci:preview:../x -->\n`), undefined, "a stack name with a path");
      assert.equal(parseMarker(`hello\n${marker("synth", "dev")}\n`), undefined, "a marker not on the first line");
    });

    it("keep command output inside its code block, whatever backticks it holds", () => {
      const body = previewBody({ stack: "prod", ok: false, output: "before\n```\n````\nafter", runUrl: "u" });
      assert.match(body, /\n`````\nbefore\n```\n````\nafter\n`````\n/);
      assert.match(body, /\*\*failed\*\*/);
    });

    it("fit in a GitHub comment, saying where the rest is", () => {
      const big = Array.from({ length: 20_000 }, (_, i) => `+ line ${i}`).join("\n");
      const body = synthDiffBody({ stack: "prod", base: "main", diff: big, isNew: false, runUrl: "https://run/1" });
      assert.ok(body.length <= MAX_BODY, `${body.length} characters`);
      assert.match(body, /… \d+ more characters: see the run's log, https:\/\/run\/1/);
      assert.equal(fit("short", 0, "x"), "short");
    });

    it("say plainly when a stack's desired state does not change", () => {
      const body = synthDiffBody({ stack: "dev", base: "main", diff: "", isNew: false, runUrl: "u" });
      assert.match(body, /No change to the desired state against `main`/);
      assert.doesNotMatch(body, /```diff/);
    });

    it("a drift report names the stack and says how the issue closes", () => {
      assert.match(
        driftBody({ stack: "prod", drifted: true, output: "~ 1 to update", runUrl: "u" }),
        /`prod` no longer matches/,
      );
      assert.match(
        driftBody({ stack: "prod", drifted: false, output: "", runUrl: "u" }),
        /No drift on `prod` any more/,
      );
    });
  });

  it("diffs two desired states like git, labelled with the snapshot's path", () => {
    const diff = unifiedDiff("a: 1\nb: 2\n", "a: 1\nb: 3\n", "synth/prod.yaml");
    assert.equal(
      diff.split("\n").slice(0, 3).join("\n"),
      "--- a/synth/prod.yaml\n+++ b/synth/prod.yaml\n@@ -1,2 +1,2 @@",
    );
    assert.match(diff, /^-b: 2$/m);
    assert.match(diff, /^\+b: 3$/m);
    assert.equal(unifiedDiff("same\n", "same\n", "x"), "");
  });

  describe("against a fake GitHub API", () => {
    let fake: FakeGitHub;
    let gh: GitHub;
    beforeEach(async () => {
      fake = new FakeGitHub();
      gh = await fake.start();
    });
    afterEach(() => fake.stop());

    it("creates one comment per stack, then edits it in place, even past the first page of comments", async () => {
      fake.comments = Array.from({ length: 130 }, (_, i) => ({
        id: i + 1,
        body: `someone else's comment ${i}`,
        user: { login: "alice" },
      }));
      const first = `${marker("preview", "prod")}\nfirst`;
      assert.equal(await upsertComment(gh, 7, first), "created");
      assert.equal(fake.comments.length, 131);
      assert.equal(await upsertComment(gh, 7, `${marker("preview", "prod")}\nsecond`), "updated");
      assert.equal(await upsertComment(gh, 7, `${marker("preview", "prod")}\nsecond`), "unchanged");
      assert.equal(await upsertComment(gh, 7, `${marker("synth", "prod")}\nother kind`), "created");
      const ours = fake.comments.filter((c) => c.body.startsWith("<!-- platform-ci:"));
      assert.deepEqual(
        ours.map((c) => c.body),
        [`${marker("preview", "prod")}\nsecond`, `${marker("synth", "prod")}\nother kind`],
      );
      assert.ok(
        fake.calls.some((c) => c.path.includes("page=2")),
        "the second page of comments was never read",
      );
    });

    it("never edits a comment someone else wrote, even one that starts with the marker", async () => {
      const body = `${marker("preview", "prod")}\nmallory's fake preview`;
      fake.comments = [{ id: 1, body, user: { login: "mallory" } }];
      assert.equal(await upsertComment(gh, 7, `${marker("preview", "prod")}\nthe real one`), "created");
      assert.deepEqual(fake.comments[0], { id: 1, body, user: { login: "mallory" } });
      assert.equal(fake.calls.filter((c) => c.method === "PATCH").length, 0);
    });

    it("reads the commit a pull request is at", async () => {
      assert.equal(await pullRequestHead(gh, 7), fake.headSha);
      fake.headSha = "c".repeat(40);
      assert.equal(await pullRequestHead(gh, 7), "c".repeat(40));
    });

    it("`ci comment` posts a folder of bodies, and refuses one without its marker before posting anything", async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ci-comments-"));
      const env = { ...process.env };
      Object.assign(process.env, {
        GITHUB_TOKEN: "test-token",
        GITHUB_REPOSITORY: "acme/platform",
        GITHUB_API_URL: gh.api,
      });
      try {
        fs.writeFileSync(path.join(dir, "prod.md"), `${marker("preview", "prod")}\nbody`);
        fs.writeFileSync(path.join(dir, "stage.md"), `${marker("synth", "stage")}\nbody`);
        const lines: string[] = [];
        assert.equal(await main(["comment", "--pr", "7", "--head-sha", fake.headSha, dir], (l) => lines.push(l)), 0);
        assert.deepEqual(lines, ["prod.md: created", "stage.md: created"]);

        // Sorted after the good ones: they must not be posted before it is found.
        fs.writeFileSync(path.join(dir, "prod.md"), `${marker("preview", "prod")}\nchanged`);
        fs.writeFileSync(path.join(dir, "zz.md"), "no marker at all");
        const before = fake.calls.filter((c) => c.method !== "GET").length;
        await assert.rejects(
          main(["comment", "--pr", "7", "--head-sha", fake.headSha, dir], () => undefined),
          (e: unknown) =>
            e instanceof UsageError && e.message === "zz.md does not start with its CI marker; refusing to post it",
        );
        assert.equal(fake.calls.filter((c) => c.method !== "GET").length, before, "something was posted");
        fs.rmSync(path.join(dir, "zz.md"));

        // The pull request moved on: nothing is posted, and the run does not fail.
        const moved: string[] = [];
        assert.equal(await main(["comment", "--pr", "7", "--head-sha", "b".repeat(40), dir], (l) => moved.push(l)), 0);
        assert.deepEqual(moved, [
          `pull request #7 is now at ${fake.headSha}, not ${"b".repeat(40)}: not commenting (a newer run will)`,
        ]);
        assert.equal(fake.calls.filter((c) => c.method !== "GET").length, before, "something was posted");
      } finally {
        process.env = env;
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it("opens a drift issue, updates it on the next drift, and closes it when the drift is gone", async () => {
      const report = (drifted: boolean) =>
        syncDriftIssue(gh, {
          stack: "prod",
          drifted,
          label: "drift",
          body: driftBody({ stack: "prod", drifted, output: "~ update", runUrl: "u" }),
        });
      assert.equal(await report(false), "none");
      assert.equal(await report(true), "opened");
      assert.deepEqual(
        fake.issues.map((i) => [i.title, i.state, i.labels]),
        [["Drift: stack prod", "open", ["drift"]]],
      );
      assert.equal(await report(true), "updated");
      assert.equal(fake.issues.length, 1, "a second issue was opened");
      assert.equal(await report(false), "closed");
      assert.equal(fake.issues[0]!.state, "closed");
      assert.ok(
        fake.calls.some((c) => c.method === "POST" && c.path.endsWith("/issues/50/comments")),
        "no closing comment",
      );
    });

    it("says what GitHub answered when a call fails", async () => {
      await assert.rejects(
        upsertComment({ ...gh, token: "wrong" }, 7, `${marker("synth", "dev")}\nx`),
        /^Error: GitHub GET \/repos\/acme\/platform\/issues\/7\/comments\?per_page=100&page=1 answered 401: .*Bad credentials/,
      );
    });
  });

  describe("bad arguments get one line naming them", () => {
    const cases: [string[], RegExp][] = [
      [["nope"], /^unknown command "nope" \(commands: stacks, synth-diff, preview-body, comment, drift\)$/],
      [["stacks", "--env", "x"], /^unknown option --env \(allowed: --changed-from, --environments, --cloud\)$/],
      [["synth-diff", "--out", "x", "dev"], /^--base is required$/],
      [["synth-diff", "--base", "main", "--out", "x", "qa"], /^no stack "qa" \(stacks: dev, prod, stage\)$/],
      [
        ["preview-body", "--stack", "prod", "--outcome", "ok", "--in", "x", "--out", "y"],
        /^--outcome must be success or failure \(got "ok"\)$/,
      ],
      [
        ["comment", "--pr", "seven", "--head-sha", "a".repeat(40), "."],
        /^--pr must be a pull request number \(got "seven"\)$/,
      ],
      [
        ["comment", "--pr", "7", "--head-sha", "main", "."],
        /^--head-sha must be a 40-character commit SHA \(got "main"\)$/,
      ],
      [["drift", "--stack"], /^--stack needs a value$/],
    ];
    for (const [argv, expected] of cases) {
      it(argv.join(" "), async () => {
        await assert.rejects(
          main(argv, () => undefined),
          (e: Error) => {
            assert.ok(e instanceof UsageError, String(e));
            assert.match(e.message, expected);
            return true;
          },
        );
      });
    }
  });
});
