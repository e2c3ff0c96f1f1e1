/**
 * What stands in, in the e2e, for what cannot run here. Each is named as a stand-in wherever the
 * e2e reports on it.
 *
 * - The Argo CD application controller stand-in: Argo CD's pods are kwok's (no container runs),
 *   so nothing acts on Applications. The stand-in does the two things a stack's life needs from
 *   the controller: it reports the root app Synced and Healthy once it exists (it syncs nothing:
 *   the root app's children are never made), and it removes the cascade finalizer of an
 *   Application being deleted (which the controller does once it has deleted what the app synced,
 *   nothing here).
 * - A k3d stand-in (a shell script named k3d on PATH): it "creates" a cluster by handing out the
 *   control plane's kubeconfig and "deletes" it by forgetting it, so that a stack of kind k3d
 *   runs its real k3d Commands against a real API server.
 * - A Helm repository on 127.0.0.1 serving the chart packages of the reference data.
 */
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import * as path from "node:path";

const CASCADE = "resources-finalizer.argocd.argoproj.io";

export interface ApiTarget {
  server: string;
  ca: string;
  token: string;
}

/** One API call with the admin token; resolves with the status code and the parsed body. */
export function api(
  target: ApiTarget,
  method: string,
  p: string,
  body?: unknown,
): Promise<{ status: number; body: any }> {
  return new Promise((resolve) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = https.request(
      `${target.server}${p}`,
      {
        method,
        ca: target.ca,
        timeout: 5000,
        headers: {
          Authorization: `Bearer ${target.token}`,
          Accept: "application/json",
          ...(data
            ? {
                "Content-Type": method === "PATCH" ? "application/merge-patch+json" : "application/json",
                "Content-Length": Buffer.byteLength(data),
              }
            : {}),
        },
      },
      (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString()));
        res.on("end", () => {
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            // not JSON
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      },
    );
    req.on("error", () => resolve({ status: 0, body: undefined }));
    req.on("timeout", () => req.destroy());
    req.end(data);
  });
}

export interface ControllerStandIn {
  /** What it did, in order: "status <app>", "finalizer <app>". */
  readonly actions: string[];
  stop(): void;
}

/** Starts the Argo CD application controller stand-in for Argo CD's namespace. */
export function startControllerStandIn(target: ApiTarget, namespace: string, rootApp: string): ControllerStandIn {
  const actions: string[] = [];
  let stopped = false;
  const base = `/apis/argoproj.io/v1alpha1/namespaces/${namespace}/applications`;
  const tick = async () => {
    const list = await api(target, "GET", base);
    if (list.status !== 200) return; // no CRD yet, or the API server is down
    for (const app of (list.body as { items?: any[] }).items ?? []) {
      const name = String(app.metadata.name);
      if (app.metadata.deletionTimestamp && (app.metadata.finalizers ?? []).includes(CASCADE)) {
        const rest = (app.metadata.finalizers as string[]).filter((f) => f !== CASCADE);
        const r = await api(target, "PATCH", `${base}/${name}`, {
          metadata: { finalizers: rest.length ? rest : null },
        });
        if (r.status === 200) actions.push(`finalizer ${name}`);
      } else if (
        name === rootApp &&
        !app.metadata.deletionTimestamp &&
        (app.status?.health?.status !== "Healthy" ||
          JSON.stringify(app.status?.sync?.comparedTo?.source) !== JSON.stringify(app.spec?.source))
      ) {
        const r = await api(target, "PATCH", `${base}/${name}`, {
          // As the controller records it: what it compared the app with.
          status: {
            sync: { status: "Synced", comparedTo: { source: app.spec?.source, destination: app.spec?.destination } },
            health: { status: "Healthy" },
          },
        });
        if (r.status === 200) actions.push(`status ${name}`);
      }
    }
  };
  const loop = async () => {
    while (!stopped) {
      try {
        await tick();
      } catch (e) {
        actions.push(`error ${(e as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 300));
    }
  };
  void loop();
  return {
    actions,
    stop: () => {
      stopped = true;
    },
  };
}

/**
 * Writes the k3d stand-in into `dir`: `k3d cluster create` records the cluster, `kubeconfig
 * write NAME --output FILE` writes the control plane's kubeconfig, `cluster list` lists what is
 * recorded, `cluster delete` forgets it, and `version` answers like k3d 5.9.0. Each call is
 * logged to calls.log beside it.
 */
export function writeK3dStandIn(dir: string, kubeconfigFile: string): string {
  fs.mkdirSync(dir, { recursive: true });
  const state = path.join(dir, "clusters");
  const script = `#!/bin/sh
# k3d stand-in for the e2e (e2e/stand-ins.ts): no Docker here, so no real k3d cluster.
echo "$*" >> "${path.join(dir, "calls.log")}"
touch "${state}"
case "$1 $2" in
  "version "*|"version") echo "k3d version v5.9.0"; echo "k3s version v1.35.5-k3s1 (default)" ;;
  "cluster create") name="$(sed -n 's/^  name: *//p' "$4" | head -1)"; echo "$name" >> "${state}"; echo "INFO created $name" ;;
  "cluster list") while read -r c; do [ -n "$c" ] && echo "$c   1/1   0/0   true"; done < "${state}" ;;
  "cluster delete") grep -vx "$3" "${state}" > "${state}.new" || true; mv "${state}.new" "${state}"; echo "INFO deleted $3" ;;
  "kubeconfig write") grep -qx "$3" "${state}" || { echo "FATA no cluster $3" >&2; exit 1; }; cp "${kubeconfigFile}" "$5" ;;
  *) echo "k3d stand-in: unhandled: $*" >&2; exit 2 ;;
esac
`;
  const file = path.join(dir, "k3d");
  fs.writeFileSync(file, script, { mode: 0o755 });
  return file;
}

/** Serves a folder of chart packages and its index.yaml on 127.0.0.1; resolves with its URL. */
export async function serveCharts(dir: string): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const name = path.basename(decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname));
    const file = path.join(dir, name);
    if (!/^[\w.-]+\.(tgz|yaml)$/.test(name) || !fs.existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "Content-Type": name.endsWith(".tgz") ? "application/gzip" : "text/yaml" });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise<void>((r) => server.close(() => r())) };
}
