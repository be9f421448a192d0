import { execFile } from "node:child_process";
import { getPriority } from "node:os";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { TOOL_NICE } from "../../reshard/priority.js";

const run = promisify(execFile);
const module = fileURLToPath(new URL("../../reshard/priority.ts", import.meta.url));
/** A fresh process that lowers its own priority as the tool does and prints its nice value before and after. */
const script = `import { getPriority } from "node:os"; import { lowerOwnPriority } from ${JSON.stringify(module)}; const before = getPriority(); const now = lowerOwnPriority(); console.log(JSON.stringify({ before, now, os: getPriority() }));`;

async function niceAfter(prefix: readonly string[]) {
  const [cmd, ...args] = [
    ...prefix,
    process.execPath,
    "--import",
    "tsx",
    "--input-type=module",
    "-e",
    script,
  ];
  const { stdout } = await run(cmd as string, args);
  return JSON.parse(stdout) as { before: number; now: number; os: number };
}

/** What this test runs at (0 unless CI itself runs niced); a child starts at it. */
const base = getPriority();

describe.runIf(process.platform !== "win32")(
  "the reshard tool's process priority (reshard/priority.ts)",
  () => {
    it("drops from the default to TOOL_NICE, so the API's processes get a busy machine's cores first", async () => {
      const now = Math.max(base, TOOL_NICE);
      expect(await niceAfter([])).toEqual({ before: base, now, os: now });
    }, 30_000);

    it("keeps a lower priority the operator gave it (`nice -n 15 npm run reshard`), never raising it", async () => {
      const niced = Math.min(base + 15, 19);
      expect(await niceAfter(["nice", "-n", "15"])).toEqual({ before: niced, now: niced, os: niced });
    }, 30_000);
  },
);
