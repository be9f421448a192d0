/**
 * A process under `stopOnSignals` whose stop never finishes (like a PostgreSQL that will not shut down): it prints
 * `ready` once its handlers are installed and each log line after, so a test can send it signals and see which one
 * ends it.
 */
import { stopOnSignals } from "../../local/lifecycle.js";

const lifecycle = stopOnSignals({ log: (message) => process.stdout.write(`${message}\n`) });
lifecycle.onStop(() => new Promise<void>(() => undefined));
process.stdout.write("ready\n");
setInterval(() => undefined, 60_000);
