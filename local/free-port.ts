import { createServer } from "node:net";

/**
 * Asks the OS for a free port on `host` by binding port 0 and closing the probe again. Another process may take the
 * port before the caller binds it: callers that can meet that race retry (see `startPostgres`).
 */
export function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.unref();
    probe.once("error", reject);
    probe.listen(0, host, () => {
      const address = probe.address();
      probe.close(() => {
        if (address && typeof address === "object") resolve(address.port);
        else reject(new Error("could not read the port of a probe listener"));
      });
    });
  });
}

/** Rejects (`EADDRINUSE`, as a listen would) unless `port` on `host` can be bound now; the probe is closed again. */
export function assertPortFree(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.unref();
    probe.once("error", reject);
    probe.listen(port, host, () => probe.close(() => resolve()));
  });
}
