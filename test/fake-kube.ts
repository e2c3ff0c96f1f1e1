/**
 * A stand-in Kubernetes API server for the lifecycle commands: a local HTTP server that answers
 * the list, get and delete calls `@kubernetes/client-node` makes, and removes objects over time
 * the way Argo CD's cascade and the cloud controllers would. Time is counted in "rounds": one
 * round per list of all Applications (the drain's poll) or per get of one (the gate's poll).
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";

export type Collection =
  "applications" | "applicationsets" | "services" | "ingresses" | "persistentvolumes" | "persistentvolumeclaims";

export interface FakeObject {
  metadata: {
    name: string;
    namespace?: string;
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
    ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string }[];
    deletionTimestamp?: string;
  };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
}

interface Entry {
  object: FakeObject;
  /** The round from which the object is gone; undefined: it stays. */
  goneAt?: number;
  /** Rounds from a delete request to the object being gone; undefined: a delete never completes. */
  deleteTakes?: number;
  /** Objects whose removal this one's removal triggers, after so many rounds (a PV after its claim). */
  onGone?: { collection: Collection; name: string; after: number }[];
  /** Status changes at a round: the gate's root app becoming healthy. */
  statusAt?: { round: number; status: Record<string, unknown> }[];
}

const PATHS: Record<Collection, { prefix: string; namespaced: boolean }> = {
  applications: { prefix: "/apis/argoproj.io/v1alpha1", namespaced: true },
  applicationsets: { prefix: "/apis/argoproj.io/v1alpha1", namespaced: true },
  services: { prefix: "/api/v1", namespaced: true },
  ingresses: { prefix: "/apis/networking.k8s.io/v1", namespaced: true },
  persistentvolumes: { prefix: "/api/v1", namespaced: false },
  persistentvolumeclaims: { prefix: "/api/v1", namespaced: true },
};

export class FakeKube {
  public round = 0;
  /** Every request as `METHOD path?query`, in order. */
  public readonly requests: string[] = [];
  private readonly entries = new Map<Collection, Entry[]>();
  private failures: { code: number; message: string; left: number } | undefined;
  /** The server's URL, once started. */
  public url = "";
  private server?: http.Server;

  add(collection: Collection, object: FakeObject, opts: Omit<Entry, "object"> = {}): this {
    const list = this.entries.get(collection) ?? [];
    list.push({ object, ...opts });
    this.entries.set(collection, list);
    return this;
  }

  /** Answers the next `count` requests with `code`, as an API server under load or a CRD just made does. */
  fail(code: number, count: number, message = "storage is (re)initializing"): this {
    this.failures = { code, message, left: count };
    return this;
  }

  /** The names still present in a collection at the current round. */
  names(collection: Collection): string[] {
    return this.live(collection).map((e) => e.object.metadata.name);
  }

  private live(collection: Collection): Entry[] {
    return (this.entries.get(collection) ?? []).filter((e) => e.goneAt === undefined || this.round < e.goneAt);
  }

  private view(e: Entry): FakeObject {
    const status = (e.statusAt ?? []).filter((s) => s.round <= this.round).pop()?.status;
    return status ? { ...e.object, status } : e.object;
  }

  private remove(e: Entry, at: number): void {
    if (e.goneAt !== undefined && e.goneAt <= at) return;
    e.goneAt = at;
    // Going, as a finalizer holds it: the API shows a deletion timestamp until then.
    e.object.metadata.deletionTimestamp ??= new Date(0).toISOString();
    for (const next of e.onGone ?? []) {
      const target = (this.entries.get(next.collection) ?? []).find((x) => x.object.metadata.name === next.name);
      if (target) this.remove(target, at + next.after);
    }
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://fake");
    this.requests.push(`${req.method} ${url.pathname}${url.search}`);
    const send = (code: number, body: unknown) => {
      res.writeHead(code, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (this.failures && this.failures.left > 0) {
      this.failures.left--;
      return send(this.failures.code, {
        kind: "Status",
        apiVersion: "v1",
        status: "Failure",
        message: this.failures.message,
        reason: "TooManyRequests",
        code: this.failures.code,
      });
    }
    const notFound = () =>
      send(404, { kind: "Status", apiVersion: "v1", status: "Failure", reason: "NotFound", code: 404 });

    for (const [collection, { prefix, namespaced }] of Object.entries(PATHS) as [
      Collection,
      (typeof PATHS)[Collection],
    ][]) {
      if (!url.pathname.startsWith(`${prefix}/`)) continue;
      const rest = url.pathname.slice(prefix.length + 1).split("/");
      // /<collection>  |  /namespaces/<ns>/<collection>[/<name>]  |  /<collection>/<name> (cluster-scoped)
      let namespace: string | undefined;
      let name: string | undefined;
      if (rest[0] === collection) name = rest[1];
      else if (namespaced && rest[0] === "namespaces" && rest[2] === collection) [namespace, name] = [rest[1], rest[3]];
      else continue;

      if (collection === "applications" && req.method === "GET" && (name !== undefined || namespace === undefined)) {
        this.round++;
      }
      const matches = this.live(collection).filter(
        (e) =>
          (namespace === undefined || e.object.metadata.namespace === namespace) &&
          (name === undefined || e.object.metadata.name === name),
      );
      if (req.method === "GET" && name === undefined) {
        return send(200, { apiVersion: "v1", kind: "List", metadata: {}, items: matches.map((e) => this.view(e)) });
      }
      const entry = matches[0];
      if (!entry) return notFound();
      if (req.method === "GET") return send(200, this.view(entry));
      if (req.method === "DELETE") {
        entry.object.metadata.deletionTimestamp ??= new Date(0).toISOString();
        if (entry.deleteTakes !== undefined) this.remove(entry, this.round + entry.deleteTakes);
        return send(200, { kind: "Status", apiVersion: "v1", status: "Success" });
      }
    }
    send(405, {
      kind: "Status",
      apiVersion: "v1",
      status: "Failure",
      message: `unhandled ${req.method} ${url.pathname}`,
    });
  }

  /** Starts the server and returns a kubeconfig for it. */
  async start(): Promise<string> {
    this.server = http.createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server?.listen(0, "127.0.0.1", resolve));
    const { port } = this.server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}`;
    return kubeconfigFor(this.url);
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/** A kubeconfig with a token user for a server URL. */
export function kubeconfigFor(server: string): string {
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Config",
    // client-node refuses plain HTTP unless TLS checks are off; a local stand-in has no TLS.
    clusters: [{ name: "fake", cluster: { server, "insecure-skip-tls-verify": true } }],
    users: [{ name: "fake", user: { token: "fake-token" } }],
    contexts: [{ name: "fake", context: { cluster: "fake", user: "fake" } }],
    "current-context": "fake",
  });
}
