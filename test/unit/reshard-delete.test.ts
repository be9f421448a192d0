import { ExecuteStatementCommand, RDSDataClient, type SqlParameter } from "@aws-sdk/client-rds-data";
import { mockClient } from "aws-sdk-client-mock";
import { describe, expect, it } from "vitest";
import { deleteRange } from "../../reshard/batches.js";
import { shardAdmin } from "../helpers/fixtures.js";

/**
 * A shard's table as a set of ids behind a mocked Data API that answers the cleanup's batch statement the way
 * PostgreSQL does: the next `batch` ids above `after` up to `hi`, deleted, counted, and the highest of them.
 * `onBatch` runs before each answer (a row written behind the keyset, say).
 */
function shardWithIds(ids: Iterable<number>, onBatch: (call: number, table: Set<number>) => void = () => {}) {
  const table = new Set(ids);
  const sdk = mockClient(RDSDataClient);
  const afters: number[] = [];
  sdk.on(ExecuteStatementCommand).callsFake(async (input: { sql: string; parameters?: SqlParameter[] }) => {
    expect(input.sql).toMatch(/DELETE FROM .* RETURNING id/s);
    const p = (name: string) => Number(input.parameters?.find((q) => q.name === name)?.value?.longValue);
    onBatch(afters.length, table);
    afters.push(p("after"));
    const hit = [...table]
      .filter((id) => id > p("after") && id <= p("hi"))
      .sort((a, b) => a - b)
      .slice(0, p("batch"));
    for (const id of hit) table.delete(id);
    const last = hit.length === 0 ? null : Math.max(...hit);
    return { formattedRecords: JSON.stringify([{ n: hit.length, last }]) };
  });
  const shard = shardAdmin();
  return {
    table,
    afters,
    shard,
    done() {
      shard.close();
      sdk.restore();
    },
  };
}

const range = (lo: number, hi: number) => Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);
const noPause = { batch: 100, pauseMs: 0, nice: 0 };

describe("deleteRange (a move's cleanup, an abort's and an assign's leftovers)", () => {
  it("deletes the range's rows in batches, each starting above the last id the one before deleted", async () => {
    const s = shardWithIds([...range(1, 50), ...range(101, 350), ...range(400, 420)]);
    try {
      expect(await deleteRange(s.shard, [101, 399], noPause)).toBe(250);
      expect([...s.table].sort((a, b) => a - b)).toEqual([...range(1, 50), ...range(400, 420)]);
      // Three batches by keyset, an empty one at the end, then one pass from the start that found nothing.
      expect(s.afters).toEqual([100, 200, 300, 350, 100]);
    } finally {
      s.done();
    }
  });

  it("ends only after a pass from the range's start finds nothing, so a row written behind the keyset goes too", async () => {
    const s = shardWithIds(range(1, 300), (call, table) => {
      if (call === 2) table.add(5);
    });
    try {
      expect(await deleteRange(s.shard, [1, 300], noPause)).toBe(301);
      expect(s.table.size).toBe(0);
      expect(s.afters).toEqual([0, 100, 200, 300, 0, 5, 0]);
    } finally {
      s.done();
    }
  });

  it("asks once and deletes nothing from an empty range", async () => {
    const s = shardWithIds(range(1, 10));
    try {
      expect(await deleteRange(s.shard, [20, 30], noPause)).toBe(0);
      expect(s.afters).toEqual([19]);
      expect(s.table.size).toBe(10);
    } finally {
      s.done();
    }
  });
});
