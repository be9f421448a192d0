import {
  BeginTransactionCommand,
  CommitTransactionCommand,
  ExecuteStatementCommand,
  RDSDataClient,
} from "@aws-sdk/client-rds-data";
import { mockClient } from "aws-sdk-client-mock";
import { describe, expect, it } from "vitest";
import { countRows, NO_PARALLEL_WORKERS, pauseAfter } from "../../reshard/batches.js";
import { joinArrays, takeSnapshot } from "../../reshard/copy.js";
import { shardAdmin } from "../helpers/fixtures.js";

describe("joinArrays (a move's copy joins the source's JSON chunks without parsing them)", () => {
  it("joins PostgreSQL's json_agg arrays into one array that parses to every element in order", () => {
    const chunks = ['[{"id":1,"name":"a"}, \n {"id":2,"name":"b, ]"}]', '[{"id":3,"name":null}]'];
    expect(JSON.parse(joinArrays(chunks))).toEqual([
      { id: 1, name: "a" },
      { id: 2, name: "b, ]" },
      { id: 3, name: null },
    ]);
  });

  it("keeps a single chunk as it is", () => {
    expect(JSON.parse(joinArrays(['[{"id":7,"name":"x"}]']))).toEqual([{ id: 7, name: "x" }]);
  });
});

describe("pacing", () => {
  it("pauses after a batch at least pause-ms, and nice times as long as the batch took", () => {
    expect(pauseAfter({ batch: 1000, pauseMs: 20, nice: 1 }, 50)).toBe(50);
    expect(pauseAfter({ batch: 1000, pauseMs: 20, nice: 1 }, 5)).toBe(20);
    expect(pauseAfter({ batch: 1000, pauseMs: 0, nice: 2.5 }, 40)).toBe(100);
    expect(pauseAfter({ batch: 1000, pauseMs: 0, nice: 0 }, 40)).toBe(0);
    // A plan stored by a tool before --nice: its fixed pause, as it ran then.
    expect(pauseAfter({ batch: 5000, pauseMs: 20 }, 300)).toBe(20);
  });
});

/** A Data API answering the tool's calls from memory: transactions tx1, tx2, …; the snapshot's and a count's row. */
function fakeDataApi() {
  const sdk = mockClient(RDSDataClient);
  let begun = 0;
  sdk.on(BeginTransactionCommand).callsFake(async () => ({ transactionId: `tx${++begun}` }));
  sdk.on(ExecuteStatementCommand).callsFake(async (input: { sql: string }) => {
    if (input.sql.includes("pg_current_wal_insert_lsn"))
      return { formattedRecords: JSON.stringify([{ lsn: "0/1A2B", isolation: "repeatable read" }]) };
    if (input.sql.includes("count(*)")) return { formattedRecords: JSON.stringify([{ n: 1234 }]) };
    return { formattedRecords: "[]" };
  });
  sdk.on(CommitTransactionCommand).resolves({});
  const statementsIn = (tx: string) =>
    sdk
      .commandCalls(ExecuteStatementCommand)
      .map((c) => c.args[0].input)
      .filter((i) => i.transactionId === tx)
      .map((i) => i.sql);
  return { sdk, statementsIn };
}

describe("a move's count of its range (the copy's and the cleanup's progress)", () => {
  it("runs in a transaction that allows no parallel workers and ends itself when left idle, both set before the count", async () => {
    const { sdk, statementsIn } = fakeDataApi();
    const shard = shardAdmin();
    try {
      expect(await countRows(shard, [1, 5000])).toBe(1234);
      const inTx = statementsIn("tx1");
      expect(inTx[0]).toBe(NO_PARALLEL_WORKERS);
      expect(inTx[1]).toBe("SET LOCAL idle_in_transaction_session_timeout = '10s'");
      expect(inTx[2]).toContain("count(*)");
      expect(sdk.commandCalls(CommitTransactionCommand)).toHaveLength(1);
    } finally {
      shard.close();
      sdk.restore();
    }
  });
});

describe("the copy's snapshot transaction (what the source runs the copy's reads in)", () => {
  it("is REPEATABLE READ and allows no parallel workers, both set before its snapshot is taken", async () => {
    const { sdk, statementsIn } = fakeDataApi();
    const source = shardAdmin();
    try {
      const snap = await takeSnapshot(source);
      expect(snap).toMatchObject({ transactionId: "tx1", lsn: "0/1A2B" });
      const inSnapshot = statementsIn("tx1");
      // PostgreSQL takes the snapshot at the transaction's first query: the one that reads the WAL's place.
      const first = inSnapshot.findIndex((sql) => !sql?.startsWith("SET "));
      expect(inSnapshot[first]).toContain("pg_current_wal_insert_lsn");
      expect(inSnapshot[0]).toBe("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ");
      expect(inSnapshot.slice(0, first)).toContain(NO_PARALLEL_WORKERS);
    } finally {
      source.close();
      sdk.restore();
    }
  });
});
