import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ROOT } from "../scripts/synth/stack-config";
import { anchorsOf, brokenLinks, linksOf, markdownUnder, slug, unreachable } from "./markdown-links";

const README = path.join(ROOT, "README.md");
const DOCS = markdownUnder(path.join(ROOT, "docs"));
/** Every page whose links are checked: the README, docs/, the GitOps tree's and the e2e's READMEs. */
const PAGES = [README, ...DOCS, ...markdownUnder(path.join(ROOT, "gitops")), path.join(ROOT, "e2e", "README.md")];

describe("the README and docs/", () => {
  it("have docs pages to check", () => {
    assert.ok(DOCS.length >= 5, `docs/ holds ${DOCS.length} pages`);
  });

  it("link only to files and folders that exist, and to headings that exist", () => {
    assert.deepEqual(brokenLinks(ROOT, PAGES), []);
  });

  it("leave no docs page that the README does not lead to", () => {
    assert.deepEqual(
      unreachable(README, DOCS).map((p) => path.relative(ROOT, p)),
      [],
    );
  });

  it("start every page with a `# ` title", () => {
    for (const page of [README, ...DOCS]) {
      const first = fs.readFileSync(page, "utf8").split("\n")[0] ?? "";
      assert.match(first, /^# \S/, `${path.relative(ROOT, page)} starts with ${JSON.stringify(first)}`);
    }
  });

  it("keep the README's first screen to what a new user needs", () => {
    const readme = fs.readFileSync(README, "utf8");
    for (const text of ["npm ci", "npm run up", "npm run down", "argocdUrl", "argocdAdminPassword --show-secrets"]) {
      assert.ok(readme.includes(text), `README.md does not mention ${text}`);
    }
    // Point the root app at your copy before the command that needs it.
    const firstUp = /```sh\n(?:.*\n)*?npm run up/.exec(readme)?.index ?? -1;
    const repoURL = readme.indexOf("platform:gitops.repoURL");
    assert.ok(repoURL !== -1 && repoURL < firstUp, "README.md names platform:gitops.repoURL after its `npm run up`");
  });
});

describe("the link checker", () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "docs-"));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("makes GitHub's anchors: lowercase, punctuation dropped, spaces to '-', repeats numbered", () => {
    assert.equal(slug("CI: previews in pull requests, deploys, drift"), "ci-previews-in-pull-requests-deploys-drift");
    assert.equal(slug("`platform:sealedSecretsKey` (secret)"), "platformsealedsecretskey-secret");
    assert.equal(slug("The real run (`npm run e2e`)"), "the-real-run-npm-run-e2e");
    assert.equal(slug("snake_case and **bold** [a link](x.md)"), "snake_case-and-bold-a-link");
    assert.deepEqual(
      [...anchorsOf("# Tests\n\n## Tests\n\n```sh\n# not a heading\n```\n### Tests\n")],
      ["tests", "tests-1", "tests-2"],
    );
  });

  it("reads links outside code only, wrapped ones and reference definitions included", () => {
    const text = [
      "[a](a.md) `[b](b.md)`",
      "```",
      "[c](c.md)",
      "```",
      "[d]: d.md",
      '![img](i.png "title") `code that [e](e.md)',
      "wraps` and [a link that",
      "wraps](w.md#x)",
      "",
    ].join("\n");
    assert.deepEqual(
      linksOf(text).map((l) => `${l.line} ${l.target}`),
      ["1 a.md", "5 d.md", "6 i.png", "7 w.md#x"],
    );
  });

  it("reports a link to a missing file and an anchor that names no heading, and passes good ones", () => {
    fs.mkdirSync(path.join(dir, "docs"));
    fs.writeFileSync(
      path.join(dir, "README.md"),
      [
        "# Sample",
        "",
        "See [the guide](docs/guide.md#set-up), [gone](docs/gone.md), [bad anchor](docs/guide.md#setup)",
        "and [here](#sample), [a folder](docs/), [away](https://example.com/x.md#nothing).",
        "",
      ].join("\n"),
    );
    fs.writeFileSync(path.join(dir, "docs", "guide.md"), "# Guide\n\n## Set up\n\n[back](../README.md#nowhere)\n");
    assert.deepEqual(brokenLinks(dir, [path.join(dir, "README.md"), path.join(dir, "docs", "guide.md")]), [
      "README.md:3: docs/gone.md points at nothing (docs/gone.md does not exist)",
      "README.md:3: docs/guide.md#setup: docs/guide.md has no heading #setup",
      "docs/guide.md:5: ../README.md#nowhere: README.md has no heading #nowhere",
    ]);
  });

  it("finds a page no link leads to", () => {
    fs.mkdirSync(path.join(dir, "docs"));
    fs.writeFileSync(path.join(dir, "README.md"), "# Sample\n\n[guide](docs/guide.md)\n");
    fs.writeFileSync(path.join(dir, "docs", "guide.md"), "# Guide\n\n[more](more.md)\n");
    fs.writeFileSync(path.join(dir, "docs", "more.md"), "# More\n");
    fs.writeFileSync(path.join(dir, "docs", "orphan.md"), "# Orphan\n");
    assert.deepEqual(
      unreachable(path.join(dir, "README.md"), markdownUnder(path.join(dir, "docs"))).map((p) => path.basename(p)),
      ["orphan.md"],
    );
  });
});
