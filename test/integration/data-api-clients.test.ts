/**
 * Compatibility: real, unmodified Data API clients that nobody here wrote, against the local Data API endpoint —
 * drizzle-orm's `aws-data-api/pg` driver, kysely-data-api, and data-api-client (which signs with aws-sdk v2's own
 * SigV4 signer). Each creates its table through the endpoint with the cluster's secret using only what a database
 * owner may do (CREATE TABLE in its own database's `public` schema), then does typed inserts and selects, NULLs,
 * dates and timestamps, decimals, JSON, arrays where the client supports them, a transaction that commits, one that
 * rolls back, and an error.
 */
import { createRequire } from "node:module";
import { ExecuteStatementCommand, RDSData } from "@aws-sdk/client-rds-data";
import { eq, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/aws-data-api/pg";
import { bigint, date, integer, jsonb, numeric, pgTable, text, timestamp } from "drizzle-orm/pg-core";
import { Kysely, sql as ksql } from "kysely";
import { DataApiDialect } from "kysely-data-api";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { LOCAL_CREDENTIALS } from "../../local/data-api/index.js";
import { dataApiClient, startTestShards, TEST_REGION, type TestShards } from "../helpers/data-api.js";

let shards: TestShards;
let cluster: { resourceArn: string; secretArn: string; database: string };

/** DDL through the endpoint, as a user would run it: the cluster's own secret, nothing a superuser alone may do. */
async function createTable(name: string): Promise<void> {
  await shards.client.send(
    new ExecuteStatementCommand({
      ...cluster,
      sql: `CREATE TABLE ${name} (
              id int PRIMARY KEY,
              name text NOT NULL,
              note text,
              born date,
              seen timestamp,
              price numeric(10, 2),
              doc jsonb,
              tags text[],
              big bigint
            )`,
    }),
  );
}

beforeAll(async () => {
  shards = await startTestShards(inject("postgres"), "compat");
  cluster = shards.clusters[0] as typeof cluster;
  await Promise.all(["drizzle_items", "kysely_items", "dac_items"].map(createTable));
});

afterAll(async () => {
  await shards?.stop();
});

describe("drizzle-orm aws-data-api/pg", () => {
  const items = pgTable("drizzle_items", {
    id: integer("id").primaryKey(),
    name: text("name").notNull(),
    note: text("note"),
    born: date("born", { mode: "string" }),
    seen: timestamp("seen", { mode: "date" }),
    price: numeric("price", { precision: 10, scale: 2 }),
    doc: jsonb("doc").$type<{ tags: string[]; n: number }>(),
    tags: text("tags").array(),
    // drizzle's Data API driver cannot send a JS bigint ("Unknown type"): the number mode it can.
    big: bigint("big", { mode: "number" }),
  });
  const db = () =>
    drizzle(dataApiClient(shards.endpoint.url), {
      database: cluster.database,
      resourceArn: cluster.resourceArn,
      secretArn: cluster.secretArn,
    });

  it("inserts typed values and reads them back: NULLs, a date, a timestamp, a decimal, JSON, a bigint", async () => {
    const seen = new Date("2026-03-04T05:06:07.890Z");
    await db()
      .insert(items)
      .values([
        {
          id: 1,
          name: "one",
          note: null,
          born: "1990-01-02",
          seen,
          price: "12.34",
          doc: { tags: ["a"], n: 1 },
          big: 4_000_000_000,
        },
        { id: 2, name: "two" },
      ]);
    const rows = await db().select().from(items).orderBy(items.id);
    expect(rows).toEqual([
      {
        id: 1,
        name: "one",
        note: null,
        born: "1990-01-02",
        seen,
        price: "12.34",
        doc: { tags: ["a"], n: 1 },
        tags: null,
        big: 4_000_000_000,
      },
      {
        id: 2,
        name: "two",
        note: null,
        born: null,
        seen: null,
        price: null,
        doc: null,
        tags: null,
        big: null,
      },
    ]);
    const [found] = await db().select({ name: items.name }).from(items).where(eq(items.price, "12.34"));
    expect(found).toEqual({ name: "one" });
  });

  it("reads a text[] column as an array (arrays come back in arrayValue)", async () => {
    await db().execute(sql`UPDATE drizzle_items SET tags = ARRAY['x', NULL, 'z'] WHERE id = 1`);
    const [row] = await db().select({ tags: items.tags }).from(items).where(eq(items.id, 1));
    expect(row?.tags).toEqual(["x", null, "z"]);
  });

  it("commits a transaction, and rolls one back", async () => {
    await db().transaction(async (tx) => {
      await tx.insert(items).values({ id: 10, name: "committed" });
    });
    await expect(
      db().transaction(async (tx) => {
        await tx.insert(items).values({ id: 11, name: "rolled back" });
        tx.rollback();
      }),
    ).rejects.toThrow(/Rollback/);
    const names = await db().select({ id: items.id }).from(items).where(sql`${items.id} >= 10`);
    expect(names).toEqual([{ id: 10 }]);
  });

  it("surfaces a database error with AWS's message", async () => {
    const error = await db()
      .insert(items)
      .values({ id: 1, name: "again" })
      .catch((e: unknown) => e);
    expect(String((error as { cause?: unknown }).cause ?? error)).toMatch(
      /duplicate key value violates unique constraint.*SQLState: 23505/,
    );
  });
});

interface KyselyDb {
  kysely_items: {
    id: number;
    name: string;
    note: string | null;
    born: Date | null;
    seen: Date | null;
    price: string | null;
    doc: unknown;
    tags: string[] | null;
    big: number | bigint | null;
  };
}

describe("kysely-data-api", () => {
  const db = () =>
    new Kysely<KyselyDb>({
      dialect: new DataApiDialect({
        mode: "postgres",
        driver: {
          client: new RDSData({
            endpoint: shards.endpoint.url,
            region: TEST_REGION,
            credentials: LOCAL_CREDENTIALS,
            maxAttempts: 1,
          }),
          database: cluster.database,
          resourceArn: cluster.resourceArn,
          secretArn: cluster.secretArn,
        },
      }),
    });

  it("inserts typed values with :0, :1 ... parameters and reads them back, NULLs, dates, decimals and JSON", async () => {
    await db()
      .insertInto("kysely_items")
      .values({
        id: 1,
        name: "one",
        note: null,
        // A Date is sent as a TIMESTAMP-hinted string; a date column takes a DATE-hinted value.
        born: { value: { stringValue: "1990-01-02" }, typeHint: "DATE" } as never,
        seen: new Date("2026-03-04T05:06:07.890Z"),
        price: { value: { stringValue: "12.34" }, typeHint: "DECIMAL" } as never,
        doc: { value: { stringValue: '{"n": 1}' }, typeHint: "JSON" } as never,
        big: 9007199254740993n,
      })
      .execute();
    await db().insertInto("kysely_items").values({ id: 2, name: "two" }).execute();
    const rows = await db().selectFrom("kysely_items").selectAll().orderBy("id").execute();
    expect(rows).toEqual([
      {
        id: 1,
        name: "one",
        note: null,
        // kysely-data-api reads columnMetadata's typeName: dates and timestamps as Dates (UTC), jsonb parsed.
        born: new Date("1990-01-02T00:00:00.000Z"),
        seen: new Date("2026-03-04T05:06:07.890Z"),
        price: "12.34",
        doc: { n: 1 },
        tags: null,
        // kysely-data-api sends a bigint as a doubleValue (its choice): 2^53 + 1 arrives as 2^53.
        big: 9007199254740992,
      },
      {
        id: 2,
        name: "two",
        note: null,
        born: null,
        seen: null,
        price: null,
        doc: null,
        tags: null,
        big: null,
      },
    ]);
  });

  it("reads an array column", async () => {
    await ksql`UPDATE kysely_items SET tags = ARRAY['x', 'y'] WHERE id = ${1}`.execute(db());
    const row = await db().selectFrom("kysely_items").select("tags").where("id", "=", 1).executeTakeFirst();
    expect(row?.tags).toEqual(["x", "y"]);
  });

  it("commits a transaction, and rolls one back", async () => {
    await db()
      .transaction()
      .execute(async (trx) => {
        await trx.insertInto("kysely_items").values({ id: 10, name: "committed" }).execute();
      });
    await expect(
      db()
        .transaction()
        .execute(async (trx) => {
          await trx.insertInto("kysely_items").values({ id: 11, name: "rolled back" }).execute();
          throw new Error("changed my mind");
        }),
    ).rejects.toThrow("changed my mind");
    const ids = await db().selectFrom("kysely_items").select("id").where("id", ">=", 10).execute();
    expect(ids).toEqual([{ id: 10 }]);
  });

  it("surfaces a database error", async () => {
    await expect(db().insertInto("kysely_items").values({ id: 1, name: "again" }).execute()).rejects.toThrow(
      /duplicate key value violates unique constraint.*SQLState: 23505/,
    );
  });
});

describe("data-api-client (aws-sdk v2)", () => {
  // data-api-client 1.x requires aws-sdk v2 at load; v2's maintenance-mode notice is noise here.
  process.env.AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE = "1";
  const load = createRequire(import.meta.url)("data-api-client") as (config: object) => DataApiClient;
  const client = () =>
    load({
      ...cluster,
      options: {
        endpoint: shards.endpoint.url,
        region: TEST_REGION,
        credentials: LOCAL_CREDENTIALS,
        maxRetries: 0,
      },
    });

  it("inserts named, typed parameters and reads rows back as objects: NULLs, dates, decimals, JSON", async () => {
    await client().query(
      `INSERT INTO dac_items (id, name, note, born, seen, price, doc, big)
       VALUES (:id, :name, :note, :born::date, :seen, :price::numeric, :doc::jsonb, :big)`,
      {
        id: 1,
        name: "one",
        note: null,
        born: "1990-01-02",
        seen: new Date("2026-03-04T05:06:07.890Z"),
        price: "12.34",
        doc: '{"n": 1}',
        big: 4_000_000_000,
      },
    );
    const { records } = await client().query("SELECT * FROM dac_items WHERE id = :id", { id: 1 });
    expect(records).toEqual([
      {
        id: 1,
        name: "one",
        note: null,
        // deserializeDate (the default): date and timestamp columns come back as Dates, read as UTC.
        born: new Date("1990-01-02T00:00:00.000Z"),
        seen: new Date("2026-03-04T05:06:07.890Z"),
        price: "12.34",
        doc: '{"n": 1}',
        tags: null,
        big: 4_000_000_000,
      },
    ]);
  });

  it("leaves a date column's typeHint to the caller: a plain string into a date column fails, as on AWS", async () => {
    // A known limitation of the client, not of the endpoint: it hints only Date objects (as TIMESTAMP), so a
    // string bound for a `date` column goes as VARCHAR and PostgreSQL refuses it without a cast.
    await expect(
      client().query("INSERT INTO dac_items (id, name, born) VALUES (:id, :name, :born)", {
        id: 3,
        name: "three",
        born: "1990-01-02",
      }),
    ).rejects.toThrow(/column "born" is of type date but expression is of type character varying/);
  });

  it("commits a transaction, and rolls one back", async () => {
    await client()
      .transaction()
      .query("INSERT INTO dac_items (id, name) VALUES (:id, :name)", { id: 10, name: "committed" })
      .commit();
    const rolledBack = await client()
      .transaction()
      .query("INSERT INTO dac_items (id, name) VALUES (:id, :name)", { id: 11, name: "rolled back" })
      .query("INSERT INTO dac_items (id, name) VALUES (:id, :name)", { id: 10, name: "duplicate" })
      .rollback(() => undefined)
      .commit()
      .catch((e: unknown) => e);
    expect(String(rolledBack)).toMatch(/duplicate key value/);
    const { records } = await client().query("SELECT id FROM dac_items WHERE id >= 10 ORDER BY id");
    expect(records).toEqual([{ id: 10 }]);
  });

  it("surfaces a database error", async () => {
    await expect(client().query("SELECT * FROM no_such_table")).rejects.toThrow(
      /relation "no_such_table" does not exist/,
    );
  });
});

interface DataApiClient {
  query(sql: string, params?: Record<string, unknown>): Promise<{ records?: Record<string, unknown>[] }>;
  transaction(): DataApiTransaction;
}

interface DataApiTransaction {
  query(sql: string, params?: Record<string, unknown>): DataApiTransaction;
  rollback(fn: (error: unknown, status: unknown) => void): DataApiTransaction;
  commit(): Promise<unknown[]>;
}
