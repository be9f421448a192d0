/**
 * A local Data API endpoint in a worker thread of its own. The endpoint's work (HTTP parsing, the `pg` driver, result
 * formatting) then runs beside the API's event loop instead of inside it, as the real Data API runs on other
 * machines: what the API process measures is its own work, and one busy shard cannot stall the others' answers.
 *
 * The returned object is a {@link DataApiEndpoint} like the in-process one: counters are read from memory shared
 * with the worker, `setFault` and `stop` are messages the worker acknowledges once done.
 */
import { Worker } from "node:worker_threads";
import type { Fault } from "../faults.js";
import type { DataApiEndpoint, DataApiEndpointOptions } from "./server.js";
import { EndpointStats } from "./stats.js";

/** What the worker is started with (`workerData`): structured-cloneable, so no functions and no class instances. */
export interface WorkerInit {
  readonly options: Omit<DataApiEndpointOptions, "stats">;
  readonly stats: SharedArrayBuffer;
}

export type WorkerRequest =
  | { readonly id: number; readonly op: "setFault"; readonly fault: Fault | undefined }
  | { readonly id: number; readonly op: "stop" };

export type WorkerReply =
  | { readonly type: "started"; readonly url: string; readonly port: number }
  | { readonly type: "failed"; readonly message: string; readonly code?: string }
  | { readonly type: "done"; readonly id: number; readonly fault?: Fault; readonly error?: string };

/**
 * The worker's entry is TypeScript: it registers tsx in the worker first, which works the same under `tsx` (npm
 * start, the benchmarks) and under vitest, where a worker inherits no loader.
 */
function bootstrap(entry: URL): string {
  const href = JSON.stringify(entry.href);
  return `import("tsx/esm/api").then(({ register }) => { register(); return import(${href}); });`;
}

class DataApiWorker implements DataApiEndpoint {
  readonly #worker: Worker;
  readonly #stats: EndpointStats;
  readonly #waiting = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();
  #url = "";
  #port = 0;
  #fault: Fault | undefined;
  #nextId = 1;
  #exited: Error | undefined;
  #stopping: Promise<void> | undefined;

  constructor(worker: Worker, stats: EndpointStats, started: { url: string; port: number }, fault?: Fault) {
    this.#worker = worker;
    this.#stats = stats;
    this.#url = started.url;
    this.#port = started.port;
    this.#fault = fault;
    worker.on("message", (reply: WorkerReply) => {
      if (reply.type !== "done") return;
      const waiter = this.#waiting.get(reply.id);
      this.#waiting.delete(reply.id);
      if (reply.error !== undefined) waiter?.reject(new Error(reply.error));
      else {
        this.#fault = reply.fault;
        waiter?.resolve();
      }
    });
    worker.on("exit", (code) => this.#gone(new Error(`the Data API worker exited with code ${code}`)));
  }

  #gone(error: Error): void {
    this.#exited ??= error;
    for (const waiter of this.#waiting.values()) waiter.reject(error);
    this.#waiting.clear();
  }

  /** Called for an uncaught error in the worker; the worker exits after it. */
  crashed(error: Error): void {
    console.error(`local Data API endpoint ${this.#url} crashed:`, error);
    this.#gone(error);
  }

  get url(): string {
    return this.#url;
  }

  get port(): number {
    return this.#port;
  }

  get fault(): Fault | undefined {
    return this.#fault;
  }

  get requests(): number {
    return this.#stats.requests;
  }

  get pending(): number {
    return this.#stats.pending;
  }

  get openTransactions(): number {
    return this.#stats.openTransactions;
  }

  #ask(request: WorkerRequest): Promise<void> {
    if (this.#exited) return Promise.reject(this.#exited);
    return new Promise((resolve, reject) => {
      this.#waiting.set(request.id, { resolve, reject });
      this.#worker.postMessage(request);
    });
  }

  setFault(fault: Fault | undefined): Promise<void> {
    // As in process: once stopping, a fault change is a no-op.
    if (this.#stopping) return Promise.resolve();
    return this.#ask({ id: this.#nextId++, op: "setFault", fault });
  }

  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      // The worker closes its connections, transactions and pools before it is terminated.
      if (!this.#exited) await this.#ask({ id: this.#nextId++, op: "stop" }).catch(() => undefined);
      await this.#worker.terminate();
    })();
    return this.#stopping;
  }
}

/**
 * Starts a Data API endpoint (see `startDataApiEndpoint`) in a worker thread. Fails as that does, with the same
 * error code (`EADDRINUSE` for a port already taken).
 */
export function startDataApiWorker(options: Omit<DataApiEndpointOptions, "stats">): Promise<DataApiEndpoint> {
  const { host, port, user, password } = options.postgres;
  const buffer = EndpointStats.sharedBuffer();
  const init: WorkerInit = {
    options: { ...options, postgres: { host, port, user, password } },
    stats: buffer,
  };
  const worker = new Worker(bootstrap(new URL("./worker-entry.ts", import.meta.url)), {
    eval: true,
    workerData: init,
  });
  return new Promise((resolve, reject) => {
    let endpoint: DataApiWorker | undefined;
    worker.on("error", (error) => {
      if (endpoint) endpoint.crashed(error);
      else reject(error);
    });
    worker.once("exit", (code) => {
      if (!endpoint) reject(new Error(`the Data API worker exited with code ${code} before it started`));
    });
    worker.once("message", (reply: WorkerReply) => {
      if (reply.type === "started") {
        endpoint = new DataApiWorker(worker, new EndpointStats(buffer), reply, options.fault);
        resolve(endpoint);
        return;
      }
      const error: NodeJS.ErrnoException = new Error(
        reply.type === "failed" ? reply.message : "unexpected first message",
      );
      if (reply.type === "failed" && reply.code !== undefined) error.code = reply.code;
      void worker.terminate();
      reject(error);
    });
  });
}
