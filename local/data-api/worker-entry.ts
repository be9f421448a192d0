/**
 * The worker side of `worker.ts`: starts one Data API endpoint from `workerData` and runs `setFault` / `stop` for the
 * main thread, answering each with a `done` message.
 */
import { parentPort, workerData } from "node:worker_threads";
import { startDataApiEndpoint } from "./server.js";
import { EndpointStats } from "./stats.js";
import type { WorkerInit, WorkerReply, WorkerRequest } from "./worker.js";

const init = workerData as WorkerInit;
const port = parentPort;
if (!port) throw new Error("worker-entry.ts runs in a worker thread only");
const reply = (message: WorkerReply) => port.postMessage(message);

try {
  const endpoint = await startDataApiEndpoint({ ...init.options, stats: new EndpointStats(init.stats) });
  port.on("message", async (request: WorkerRequest) => {
    try {
      if (request.op === "setFault") await endpoint.setFault(request.fault);
      else await endpoint.stop();
      reply({ type: "done", id: request.id, ...(endpoint.fault ? { fault: endpoint.fault } : {}) });
    } catch (error) {
      reply({ type: "done", id: request.id, error: error instanceof Error ? error.message : String(error) });
    }
  });
  reply({ type: "started", url: endpoint.url, port: endpoint.port });
} catch (error) {
  const code = (error as NodeJS.ErrnoException).code;
  const message = error instanceof Error ? error.message : String(error);
  reply({ type: "failed", message, ...(typeof code === "string" ? { code } : {}) });
}
