import { strict as assert } from "node:assert";
import { execFileSync, spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as YAML from "yaml";
import { ROOT } from "../scripts/synth/stack-config";

/**
 * `npm run up | preview | down` run scripts/dev.ts; here it runs against fake pulumi, docker and
 * k3d binaries that record how they were called.
 */
describe("npm run up | preview | down | output", () => {
  let dir: string;
  let bin: string;
  let log: string;
  /** A copy of the project's stack files, in a Git repository whose origin is alice's fork. */
  let project: string;
  const ORIGIN = "https://github.com/alice/platform.git";

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "dev-commands-"));
    bin = path.join(dir, "bin");
    log = path.join(dir, "calls.log");
    project = path.join(dir, "project");
    fs.mkdirSync(bin);
    fs.mkdirSync(project);
    for (const f of ["Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.stage.yaml", "Pulumi.prod.yaml"]) {
      fs.copyFileSync(path.join(ROOT, f), path.join(project, f));
    }
    execFileSync("git", ["init", "-q"], { cwd: project });
    execFileSync("git", ["remote", "add", "origin", ORIGIN], { cwd: project });
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  function fake(tool: string, body: string): void {
    fs.writeFileSync(path.join(bin, tool), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  }

  function fakePulumi(whoamiStatus: number): void {
    fake(
      "pulumi",
      `case "$1" in
  version) echo v3.200.0 ;;
  whoami) exit ${whoamiStatus} ;;
  *) echo "pulumi $* | backend=$PULUMI_BACKEND_URL | passfile=$PULUMI_CONFIG_PASSPHRASE_FILE" >> "${log}" ;;
esac`,
    );
  }
  const fakeDocker = (infoStatus = 0) =>
    fake("docker", `[ "$1" = info ] && exit ${infoStatus}; echo "Docker version 28.2.2"`);
  const fakeK3d = (version = "v5.8.3") =>
    fake("k3d", `echo "k3d version ${version}"; echo "k3s version v1.35.5-k3s1 (default)"`);
  // `doctl version` prints "doctl version 1.x.y-release" and exits 0.
  const fakeDoctl = () => fake("doctl", '[ "$1" = version ] || exit 1; echo "doctl version 1.146.0-release"');

  function run(args: string[], env: NodeJS.ProcessEnv = {}) {
    const r = spawnSync(
      process.execPath,
      ["--require", path.join(ROOT, "scripts/register.cjs"), path.join(ROOT, "scripts/dev.ts"), ...args],
      {
        encoding: "utf8",
        env: {
          PATH: bin,
          HOME: dir,
          USER: "alice",
          PLATFORM_PROJECT_DIR: project,
          PLATFORM_LOCAL_STATE_DIR: path.join(dir, "state"),
          ...env,
        },
      },
    );
    const calls = fs.existsSync(log) ? fs.readFileSync(log, "utf8").trim().split("\n") : [];
    return { status: r.status, stdout: r.stdout, stderr: r.stderr, calls };
  }

  const oneLine = (s: string) => {
    const lines = s.trim().split("\n");
    assert.equal(lines.length, 1, `expected one line, got: ${s}`);
    return lines[0]!;
  };

  it("stops with one line when pulumi is missing", () => {
    const r = run(["up"]);
    assert.equal(r.status, 1);
    assert.match(
      oneLine(r.stderr),
      /^missing prerequisite: pulumi is not on PATH; install the Pulumi CLI: https:\/\/www\.pulumi\.com\//,
    );
    assert.deepEqual(r.calls, []);
  });

  it("stops with one line when docker is missing", () => {
    fakePulumi(0);
    const r = run(["up"]);
    assert.equal(r.status, 1);
    assert.match(
      oneLine(r.stderr),
      /^missing prerequisite: docker is not on PATH; install Docker Desktop or Docker Engine/,
    );
    assert.deepEqual(r.calls, []);
  });

  it("stops with one line when docker's engine is not running", () => {
    fakePulumi(0);
    fakeDocker(1);
    fakeK3d();
    const r = run(["up"]);
    assert.equal(r.status, 1);
    assert.match(oneLine(r.stderr), /docker is installed but its engine is not running/);
  });

  it("stops with one line when k3d is missing or too old for the v1alpha5 config", () => {
    fakePulumi(0);
    fakeDocker();
    let r = run(["down"]);
    assert.equal(r.status, 1);
    assert.match(
      oneLine(r.stderr),
      /^missing prerequisite: k3d is not on PATH; install k3d 5\.5 or later: https:\/\/k3d\.io/,
    );
    fakeK3d("v5.4.9");
    r = run(["up"]);
    assert.equal(r.status, 1);
    assert.match(oneLine(r.stderr), /^missing prerequisite: k3d 5\.4\.9 is too old; install k3d 5\.5 or later/);
  });

  it("brings dev up on a local file backend with a generated passphrase when no backend is configured", () => {
    fakePulumi(1);
    fakeDocker();
    fakeK3d();
    const r = run(["up", "--yes"]);
    assert.equal(r.status, 0, r.stderr);
    const state = path.join(dir, "state");
    const passfile = path.join(state, "passphrase");
    assert.deepEqual(r.calls, [
      `pulumi stack select dev-alice --create --secrets-provider passphrase | backend=file://${state} | passfile=${passfile}`,
      `pulumi config get --path platform:sealedSecretsKey.privateKey --stack dev-alice | backend=file://${state} | passfile=${passfile}`,
      `pulumi up --policy-pack policy --stack dev-alice --yes | backend=file://${state} | passfile=${passfile}`,
    ]);
    assert.equal(fs.statSync(passfile).mode & 0o777, 0o600, "the passphrase is readable by others");
    assert.match(fs.readFileSync(passfile, "utf8"), /^[0-9a-f]{64}$/);
    assert.match(r.stdout, /argocdAdminPassword --show-secrets/);

    // The next run finds the same backend and passphrase, even if the user has logged in since.
    fakePulumi(0);
    const again = run(["down"]);
    assert.equal(again.status, 0, again.stderr);
    assert.equal(
      again.calls.at(-1),
      `pulumi destroy --stack dev-alice | backend=file://${state} | passfile=${passfile}`,
    );
  });

  it("uses the backend the user is logged in to, and never touches their passphrase", () => {
    fakePulumi(0);
    fakeDocker();
    fakeK3d();
    const r = run(["up", "--stack", "dev-alice"]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.calls, [
      "pulumi stack select dev-alice --create | backend= | passfile=",
      "pulumi config get --path platform:sealedSecretsKey.privateKey --stack dev-alice | backend= | passfile=",
      "pulumi up --policy-pack policy --stack dev-alice | backend= | passfile=",
    ]);
    assert.equal(fs.existsSync(path.join(dir, "state")), false);
  });

  it("previews with pulumi alone, and destroys without creating a stack", () => {
    fakePulumi(0);
    let r = run(["preview", "--diff"]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.calls, [
      "pulumi stack select dev-alice --create | backend= | passfile=",
      "pulumi preview --policy-pack policy --stack dev-alice --diff | backend= | passfile=",
    ]);
    fs.rmSync(log);
    fakeDocker();
    fakeK3d();
    r = run(["down"]);
    assert.deepEqual(r.calls, [
      "pulumi stack select dev-alice | backend= | passfile=",
      "pulumi destroy --stack dev-alice | backend= | passfile=",
    ]);
  });

  it("takes the stack from --stack=x and -s x alike, and passes every other flag on", () => {
    fakePulumi(0);
    let r = run(["preview", "--stack=dev-alice", "--diff"]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.calls, [
      "pulumi stack select dev-alice --create | backend= | passfile=",
      "pulumi preview --policy-pack policy --stack dev-alice --diff | backend= | passfile=",
    ]);
    fs.rmSync(log);
    r = run(["output", "-s", "dev-bob", "argocdAdminPassword", "--show-secrets"]);
    assert.deepEqual(r.calls, [
      "pulumi stack select dev-bob | backend= | passfile=",
      "pulumi stack output --stack dev-bob argocdAdminPassword --show-secrets | backend= | passfile=",
    ]);
    r = run(["up", "--stack="]);
    assert.equal(r.status, 1);
  });

  it("reads outputs from the same local backend that up used", () => {
    fakePulumi(1);
    fakeDocker();
    fakeK3d();
    assert.equal(run(["up"]).status, 0);
    fs.rmSync(log);
    const r = run(["output", "argocdAdminPassword", "--show-secrets"]);
    assert.equal(r.status, 0, r.stderr);
    const state = path.join(dir, "state");
    assert.equal(
      r.calls.at(-1),
      `pulumi stack output --stack dev-alice argocdAdminPassword --show-secrets | backend=file://${state} | passfile=${path.join(state, "passphrase")}`,
    );
  });

  it("asks a cloud stack for its cloud's CLI instead of docker and k3d", () => {
    fakePulumi(0);
    let r = run(["up", "--stack", "prod"]);
    assert.equal(r.status, 1);
    assert.match(
      oneLine(r.stderr),
      /^missing prerequisite: aws is not on PATH; the EKS kubeconfig signs in with `aws eks get-token`/,
    );
    assert.deepEqual(r.calls, [], "pulumi ran without the AWS CLI");
    r = run(["preview", "--stack", "examples-gke-missing"]);
    assert.equal(r.status, 0, "a stack without a file is treated as k3d, whose preview needs pulumi alone");
    fake("aws", 'echo "aws-cli/2.31.0"');
    fs.rmSync(log);
    r = run(["up", "--stack", "prod", "--yes"]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.calls.at(-1), "pulumi up --policy-pack policy --stack prod --yes | backend= | passfile=");
    assert.match(r.stdout, /kubectl --kubeconfig ~\/\.kube\/platform-prod\.yaml get applications/);
  });

  it("needs doctl, not docker or k3d, for DOKS, and destroys it from state alone", () => {
    fakePulumi(0);
    let r = run(["down", "--stack", "stage", "--yes"]);
    assert.equal(r.status, 1);
    assert.match(
      oneLine(r.stderr),
      /^missing prerequisite: doctl is not on PATH; the DOKS kubeconfig signs in with `doctl kubernetes cluster kubeconfig exec-credential`/,
    );
    assert.deepEqual(r.calls, [], "pulumi ran without doctl");
    fakeDoctl();
    r = run(["down", "--stack", "stage", "--yes"]);
    assert.equal(r.status, 0, r.stderr);
    // The kubeconfig in state asks doctl for a token, so it never expires: no --run-program.
    assert.deepEqual(r.calls, [
      "pulumi stack select stage | backend= | passfile=",
      "pulumi destroy --stack stage --yes | backend= | passfile=",
    ]);
  });

  it("lets down drop a gone cluster's objects from state only where the cluster goes with the stack, or the stack is ephemeral", () => {
    fake(
      "pulumi",
      `case "$1" in
  version) echo v3.248.0 ;;
  whoami) exit 0 ;;
  *) echo "pulumi $1 unreachable=\${PULUMI_K8S_DELETE_UNREACHABLE:-unset}" >> "${log}" ;;
esac`,
    );
    fakeDocker();
    fakeK3d();
    fakeDoctl();
    const destroyLine = (args: string[]) =>
      run(args)
        .calls.filter((c) => c.startsWith("pulumi destroy"))
        .pop();
    assert.equal(
      destroyLine(["down", "--yes"]),
      "pulumi destroy unreachable=true",
      "k3d: the cluster goes with the stack",
    );
    assert.equal(destroyLine(["down", "--stack", "stage", "--yes"]), "pulumi destroy unreachable=true");
    const existing = (ephemeral: boolean) => {
      const stack = `spec-existing-${process.pid}`;
      const file = path.join(project, `Pulumi.${stack}.yaml`);
      fs.writeFileSync(
        file,
        `config:\n  platform:cluster: { provider: existing }\n${ephemeral ? "  platform:lifecycle: { ephemeral: true }\n" : ""}`,
      );
      try {
        return destroyLine(["down", "--stack", stack, "--yes"]);
      } finally {
        fs.rmSync(file);
      }
    };
    assert.equal(
      existing(false),
      "pulumi destroy unreachable=unset",
      "a cluster the stack does not own, not ephemeral",
    );
    assert.equal(existing(true), "pulumi destroy unreachable=true");
    assert.ok(
      run(["up", "--yes"]).calls.every((c) => !c.startsWith("pulumi up") || c.endsWith("unreachable=unset")),
      "never for an up: a refresh would drop the objects of a cluster that is only down",
    );
  });

  it("makes your own dev stack from the team's Pulumi.dev.yaml on first use, synced from this clone's origin", () => {
    fakePulumi(0);
    fakeDocker();
    fakeK3d();
    // git, for the clone's origin: the only real tool these runs get.
    fs.symlinkSync(execFileSync("sh", ["-c", "command -v git"], { encoding: "utf8" }).trim(), path.join(bin, "git"));
    const team = fs.readFileSync(path.join(project, "Pulumi.dev.yaml"), "utf8");
    const r = run(["up", "--yes"]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^Made your dev stack dev-alice: Pulumi\.dev-alice\.yaml, from Pulumi\.dev\.yaml/m);
    const mine = fs.readFileSync(path.join(project, "Pulumi.dev-alice.yaml"), "utf8");
    const config = (YAML.parse(mine) as { config: Record<string, Record<string, unknown>> }).config;
    const teamConfig = (YAML.parse(team) as { config: Record<string, Record<string, unknown>> }).config;
    assert.equal(config["platform:gitops"]?.["repoURL"], ORIGIN);
    assert.deepEqual(
      { ...config, "platform:gitops": teamConfig["platform:gitops"] },
      teamConfig,
      "the team's settings",
    );
    assert.match(
      mine,
      /^# Your own dev stack \(dev-alice\), made by `npm run up` from Pulumi\.dev\.yaml\. Git ignores this/,
    );
    assert.equal(fs.readFileSync(path.join(project, "Pulumi.dev.yaml"), "utf8"), team, "the tracked file changed");
    assert.ok(r.calls.some((c) => c.startsWith("pulumi up --policy-pack policy --stack dev-alice --yes")));

    // A second run keeps the file, edits included.
    fs.writeFileSync(path.join(project, "Pulumi.dev-alice.yaml"), mine.replace("httpPort: 8080", "httpPort: 8081"));
    assert.equal(run(["up", "--yes"]).status, 0);
    assert.match(fs.readFileSync(path.join(project, "Pulumi.dev-alice.yaml"), "utf8"), /httpPort: 8081/);
  });

  it("takes an ssh origin of a public host as its https URL, which Argo CD clones without a key", () => {
    fakePulumi(0);
    fs.symlinkSync(execFileSync("sh", ["-c", "command -v git"], { encoding: "utf8" }).trim(), path.join(bin, "git"));
    const repoOf = (origin: string) => {
      execFileSync("git", ["remote", "set-url", "origin", origin], { cwd: project });
      fs.rmSync(path.join(project, "Pulumi.dev-alice.yaml"), { force: true });
      assert.equal(run(["preview"]).status, 0);
      const file = fs.readFileSync(path.join(project, "Pulumi.dev-alice.yaml"), "utf8");
      return (YAML.parse(file) as { config: Record<string, Record<string, unknown>> }).config["platform:gitops"]?.[
        "repoURL"
      ];
    };
    assert.equal(repoOf("git@github.com:alice/platform.git"), ORIGIN);
    assert.equal(repoOf("ssh://git@gitlab.com/alice/platform"), "https://gitlab.com/alice/platform.git");
    assert.equal(repoOf("git@git.example.com:alice/platform.git"), "git@git.example.com:alice/platform.git");
    assert.equal(
      repoOf("https://alice:token@github.com/alice/platform.git"),
      "https://github.com/your-org/platform.git",
      "a URL with a credential in it is never copied",
    );
  });

  it("keeps personal stack files out of Git, and the project's own in it", () => {
    const ignored = (f: string) => spawnSync("git", ["check-ignore", "-q", f], { cwd: ROOT }).status === 0;
    assert.ok(ignored("Pulumi.dev-alice.yaml"), ".gitignore must ignore Pulumi.dev-*.yaml");
    for (const f of ["Pulumi.dev.yaml", "Pulumi.stage.yaml", "Pulumi.prod.yaml"]) assert.ok(!ignored(f), f);
  });

  it("checks the stack's config before it creates anything, and lists every problem", () => {
    fakePulumi(0);
    fakeDocker();
    fakeK3d();
    const file = path.join(project, "Pulumi.dev-alice.yaml");
    fs.writeFileSync(
      file,
      fs
        .readFileSync(path.join(project, "Pulumi.dev.yaml"), "utf8")
        .replace("agents: 2", "agents: 20")
        .replace("chartVersion: 10.1.1", "chartVersion: 10.2.0"),
    );
    const r = run(["up", "--yes"]);
    assert.equal(r.status, 1);
    const lines = r.stderr.trim().split("\n");
    assert.equal(lines.length, 3, r.stderr);
    assert.match(lines[0]!, /^platform:cluster\.k3d\.agents must be a whole number from 0 to 10 \(got 20\)$/);
    assert.match(
      lines[1]!,
      /^platform:argocd\.chartVersion must be 10\.1\.1, the argo-cd version gitops\/envs\/dev\/versions\.yaml pins/,
    );
    assert.equal(lines[2], "Nothing was created: fix Pulumi.dev-alice.yaml (2 problems above) and run again.");
    assert.deepEqual(r.calls, [], "pulumi ran: a stack or a key would have been made");
  });

  it("rejects an unknown command", () => {
    const r = run(["deploy"]);
    assert.equal(r.status, 1);
    assert.equal(oneLine(r.stderr), 'usage: dev.ts up|preview|down|output|keys [pulumi flags] (got "deploy")');
  });

  it("keys: generates the stack's sealed-secrets key pair once, and hands it to pulumi on stdin only", () => {
    // `config get` fails while the stack has no key; every `config set` keeps what it was given.
    fake(
      "pulumi",
      `case "$1" in
  version) echo v3.248.0 ;;
  whoami) exit 0 ;;
  config)
    echo "pulumi $*" >> "${log}"
    if [ "$2" = get ]; then [ -f "${dir}/set-privateKey" ]; exit $?; fi
    field="\${5##*.}"; while IFS= read -r line; do printf '%s\\n' "$line"; done > "${dir}/set-$field" ;;
  *) echo "pulumi $*" >> "${log}" ;;
esac`,
    );
    const first = run(["keys", "--stack", "stage"]);
    assert.equal(first.status, 0, first.stderr);
    assert.deepEqual(first.calls, [
      "pulumi stack select stage --create",
      "pulumi config get --path platform:sealedSecretsKey.privateKey --stack stage",
      "pulumi config set --secret --path platform:sealedSecretsKey.certificate --stack stage",
      "pulumi config set --secret --path platform:sealedSecretsKey.privateKey --stack stage",
    ]);
    assert.match(
      first.stdout,
      /^Generated the sealed-secrets key pair of stack stage and stored it encrypted as platform:sealedSecretsKey in Pulumi\.stage\.yaml: commit that file/,
    );
    const cert = new crypto.X509Certificate(fs.readFileSync(path.join(dir, "set-certificate"), "utf8"));
    const key = crypto.createPrivateKey(fs.readFileSync(path.join(dir, "set-privateKey"), "utf8"));
    assert.ok(cert.checkPrivateKey(key), "the certificate is not for the stored key");
    assert.equal(key.asymmetricKeyDetails?.modulusLength, 4096);
    assert.equal(cert.subject, "CN=sealed-secret\nO=sealed-secret");
    assert.ok(!first.calls.some((c) => c.includes("BEGIN")), "a key went on a command line");

    fs.rmSync(log);
    const second = run(["keys", "--stack", "stage"]);
    assert.equal(second.status, 0, second.stderr);
    assert.equal(
      second.calls.filter((c) => c.startsWith("pulumi config set")).length,
      0,
      "a second key replaced the first",
    );
    assert.match(second.stdout, /already has platform:sealedSecretsKey; nothing to do/);
  });
});
