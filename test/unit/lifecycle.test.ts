/**
 * What docs/local-runtime.md promises about stopping `npm start` when its stop hangs: a second Ctrl+C within two
 * seconds of the first is the same Ctrl+C arriving twice (from the terminal and forwarded by npm) and changes
 * nothing; one after that exits at once, with the shell's code for death by SIGINT.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { sleep } from "../helpers/wait.js";

const CHILD = fileURLToPath(new URL("../helpers/lifecycle-child.ts", import.meta.url));

let child: ChildProcess | undefined;

afterEach(() => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
});

/** Starts the child and resolves once it has installed its signal handlers. */
async function startChild(): Promise<{ child: ChildProcess; output: () => string }> {
  const started = spawn(process.execPath, ["--import", "tsx", CHILD], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  child = started;
  let text = "";
  started.stdout?.on("data", (chunk: Buffer) => {
    text += chunk.toString("utf8");
  });
  while (!text.includes("ready\n")) {
    if (started.exitCode !== null) throw new Error(`child exited early: ${text}`);
    await sleep(20);
  }
  return { child: started, output: () => text };
}

describe("stopOnSignals with a stop that hangs", () => {
  it("ignores a second SIGINT within 2 s of the first and exits at once (130) on one after", async () => {
    const { child: started, output } = await startChild();
    const exited = once(started, "exit");
    started.kill("SIGINT");
    await sleep(300);
    started.kill("SIGINT"); // the echo: still stopping
    await sleep(300);
    expect(started.exitCode).toBeNull();
    expect(output()).toContain("SIGINT: stopping");
    await sleep(2000);
    expect(started.exitCode).toBeNull();
    const sent = performance.now();
    started.kill("SIGINT");
    const [code] = await exited;
    expect(code).toBe(130);
    expect(performance.now() - sent).toBeLessThan(1000);
  }, 15_000);
});
