/**
 * The local Data API endpoint through the real `RDSDataClient`: parameters in, records out, as AWS maps them.
 */
import {
  BadRequestException,
  DatabaseErrorException,
  ExecuteStatementCommand,
  type ExecuteStatementCommandInput,
  type Field,
  type SqlParameter,
  UnsupportedResultException,
} from "@aws-sdk/client-rds-data";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type BoundParameter, bindParameters, toPositional } from "../../local/data-api/index.js";
import { startTestShards, type TestShards } from "../helpers/data-api.js";

let shards: TestShards;

/** Runs a statement on shard 1's cluster (its database unless `database` says otherwise). */
function execute(sql: string, input: Partial<ExecuteStatementCommandInput> = {}) {
  const cluster = shards.clusters[0];
  if (!cluster) throw new Error("no cluster");
  return shards.client.send(
    new ExecuteStatementCommand({
      resourceArn: cluster.resourceArn,
      secretArn: cluster.secretArn,
      sql,
      ...input,
    }),
  );
}

const COLUMNS = "i, b, r, d, n, bo, t, v, bl, da, ts, tz, u, j, jb, ia, ta, ti";

/** Records with blobs as plain byte arrays, so they compare whatever Uint8Array flavour the SDK decodes to. */
function plain(records: Field[][] | undefined) {
  return records?.map((row) =>
    row.map((field) => (field.blobValue ? { blobValue: [...field.blobValue] } : field)),
  );
}

beforeAll(async () => {
  shards = await startTestShards(inject("postgres"), "dapi_types");
  await execute(
    `CREATE TABLE kinds (
       id serial PRIMARY KEY, i int, b bigint, r real, d double precision, n numeric(10, 2), bo boolean, t text,
       v varchar(20), bl bytea, da date, ts timestamp, tz timestamptz, u uuid, j json, jb jsonb, ia int[],
       ta text[], ti time)`,
  );
});

afterAll(async () => {
  await shards?.stop();
});

describe("records", () => {
  it("returns the seeded rows of data_1 as longValue and stringValue fields", async () => {
    const out = await execute("SELECT id, name FROM data_1 ORDER BY id LIMIT 3");
    expect(out.records).toEqual([
      [{ longValue: 1 }, { stringValue: "Test 1" }],
      [{ longValue: 2 }, { stringValue: "Test 2" }],
      [{ longValue: 3 }, { stringValue: "Test 3" }],
    ]);
    expect(out.numberOfRecordsUpdated).toBe(0);
    expect(out.columnMetadata).toBeUndefined();
  });

  it("maps each PostgreSQL type to the Field member and text format AWS uses", async () => {
    const { records } = await execute(
      `INSERT INTO kinds (${COLUMNS}) VALUES (42, 9000000000, 1.5, 2.25, 12.3, true, 'text', 'varchar',
         '\\x48656c6c6f', '2024-02-29', '2024-02-29 13:14:15.123456', '2024-02-29 13:14:15+02',
         'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": 1}', '{"b": [1, 2]}', '{1,2,NULL}', '{"a","b c"}', '13:14:15.5')
       RETURNING ${COLUMNS}`,
    );
    expect(plain(records)).toEqual([
      [
        { longValue: 42 },
        { longValue: 9000000000 },
        { doubleValue: 1.5 },
        { doubleValue: 2.25 },
        { stringValue: "12.30" },
        { booleanValue: true },
        { stringValue: "text" },
        { stringValue: "varchar" },
        { blobValue: [...Buffer.from("Hello")] },
        { stringValue: "2024-02-29" },
        { stringValue: "2024-02-29 13:14:15.123" },
        { stringValue: "2024-02-29 11:14:15" },
        { stringValue: "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11" },
        { stringValue: '{"a": 1}' },
        { stringValue: '{"b": [1, 2]}' },
        { arrayValue: { longValues: [1, 2, null] } },
        { arrayValue: { stringValues: ["a", "b c"] } },
        { stringValue: "13:14:15.5" },
      ],
    ]);
  });

  it("returns SQL NULL as isNull whatever the column type", async () => {
    const { records } = await execute(`INSERT INTO kinds DEFAULT VALUES RETURNING ${COLUMNS}`);
    expect(records?.[0]).toHaveLength(18);
    expect(records?.[0]).toEqual(Array.from({ length: 18 }, () => ({ isNull: true })));
  });

  it("answers numberOfRecordsUpdated for DML, 0 for queries, and always an empty generatedFields", async () => {
    const update = await execute("UPDATE data_1 SET name = name WHERE id <= 3");
    expect(update.numberOfRecordsUpdated).toBe(3);
    expect(update.records).toBeUndefined();
    expect(update.generatedFields).toEqual([]);
    const select = await execute("SELECT 1 AS one");
    expect(select.numberOfRecordsUpdated).toBe(0);
    expect(select.generatedFields).toEqual([]);
  });

  it("formats records as a JSON string when formatRecordsAs is JSON", async () => {
    const out = await execute(
      "SELECT id, name, 1.5::numeric AS n, true AS t, NULL AS z FROM data_1 ORDER BY id LIMIT 2",
      {
        formatRecordsAs: "JSON",
      },
    );
    expect(out.records).toBeUndefined();
    expect(JSON.parse(out.formattedRecords ?? "")).toEqual([
      { id: 1, name: "Test 1", n: "1.5", t: true, z: null },
      { id: 2, name: "Test 2", n: "1.5", t: true, z: null },
    ]);
  });

  it("returns decimals and longs as resultSetOptions ask", async () => {
    const { records } = await execute(
      "SELECT 12.50::numeric(10, 2) AS d, 7::numeric(5, 0) AS l, 9000000000::int8 AS big",
      {
        resultSetOptions: { decimalReturnType: "DOUBLE_OR_LONG", longReturnType: "STRING" },
      },
    );
    expect(records).toEqual([[{ doubleValue: 12.5 }, { longValue: 7 }, { stringValue: "9000000000" }]]);
  });

  it("fails with UnsupportedResultException for a type the Data API cannot return", async () => {
    const error = await execute("SELECT interval '1 day' AS i").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnsupportedResultException);
    expect((error as Error).message).toBe("The result contains the unsupported data type interval.");
  });
});

describe("columnMetadata", () => {
  it("describes columns as PgJDBC's ResultSetMetaData does when includeResultMetadata is set", async () => {
    const { columnMetadata } = await execute("SELECT id, n, v, tz, 1 + 1 AS two FROM kinds LIMIT 1", {
      includeResultMetadata: true,
    });
    const common = { arrayBaseColumnType: 0, isCurrency: false, schemaName: "" };
    expect(columnMetadata).toEqual([
      {
        ...common,
        name: "id",
        label: "id",
        typeName: "serial",
        type: 4,
        isAutoIncrement: true,
        isCaseSensitive: false,
        isSigned: true,
        nullable: 0,
        precision: 10,
        scale: 0,
        tableName: "kinds",
      },
      {
        ...common,
        name: "n",
        label: "n",
        typeName: "numeric",
        type: 2,
        isAutoIncrement: false,
        isCaseSensitive: false,
        isSigned: true,
        nullable: 1,
        precision: 10,
        scale: 2,
        tableName: "kinds",
      },
      {
        ...common,
        name: "v",
        label: "v",
        typeName: "varchar",
        type: 12,
        isAutoIncrement: false,
        isCaseSensitive: true,
        isSigned: false,
        nullable: 1,
        precision: 20,
        scale: 0,
        tableName: "kinds",
      },
      {
        ...common,
        name: "tz",
        label: "tz",
        typeName: "timestamptz",
        type: 93,
        isAutoIncrement: false,
        isCaseSensitive: false,
        isSigned: false,
        nullable: 1,
        precision: 35,
        scale: 6,
        tableName: "kinds",
      },
      {
        ...common,
        name: "two",
        label: "two",
        typeName: "int4",
        type: 4,
        isAutoIncrement: false,
        isCaseSensitive: false,
        isSigned: true,
        nullable: 2,
        precision: 10,
        scale: 0,
        tableName: "",
      },
    ]);
  });
});

describe("parameters", () => {
  it("binds every Field type and typeHint so the values round-trip", async () => {
    const parameters: SqlParameter[] = [
      { name: "i", value: { longValue: 7 } },
      { name: "b", value: { longValue: 9_000_000_001 } },
      { name: "r", value: { doubleValue: 0.25 } },
      { name: "d", value: { doubleValue: -1.125 } },
      { name: "n", value: { stringValue: "123.45" }, typeHint: "DECIMAL" },
      { name: "bo", value: { booleanValue: false } },
      { name: "t", value: { stringValue: "it's :t" } },
      { name: "v", value: { isNull: true } },
      { name: "bl", value: { blobValue: new Uint8Array([0, 1, 254, 255]) } },
      { name: "da", value: { stringValue: "2024-01-02" }, typeHint: "DATE" },
      { name: "ts", value: { stringValue: "2024-01-02 03:04:05.678" }, typeHint: "TIMESTAMP" },
      { name: "tz", value: { stringValue: "2024-01-02 03:04:05" }, typeHint: "TIMESTAMP" },
      { name: "u", value: { stringValue: "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12" }, typeHint: "UUID" },
      { name: "j", value: { stringValue: '{"k": [1, 2]}' }, typeHint: "JSON" },
      { name: "jb", value: { stringValue: '{"k": true}' }, typeHint: "JSON" },
      // AWS takes no array parameters: an array travels as its text form and a cast.
      { name: "ia", value: { stringValue: "{4,5}" } },
      { name: "ta", value: { stringValue: '{"x","y z"}' } },
      { name: "ti", value: { stringValue: "23:59:58" }, typeHint: "TIME" },
    ];
    const inserted = await execute(
      `INSERT INTO kinds (${COLUMNS}) VALUES (:i, :b, :r, :d, :n, :bo, :t, :v, :bl, :da, :ts, :tz, :u, :j, :jb,
         :ia::int[], :ta::text[], :ti) RETURNING id`,
      { parameters },
    );
    const id = inserted.records?.[0]?.[0]?.longValue;
    expect(id).toBeTypeOf("number");
    const { records } = await execute(`SELECT ${COLUMNS} FROM kinds WHERE id = :id`, {
      parameters: [{ name: "id", value: { longValue: Number(id) } }],
    });
    expect(plain(records)).toEqual([
      [
        { longValue: 7 },
        { longValue: 9_000_000_001 },
        { doubleValue: 0.25 },
        { doubleValue: -1.125 },
        { stringValue: "123.45" },
        { booleanValue: false },
        { stringValue: "it's :t" },
        { isNull: true },
        { blobValue: [0, 1, 254, 255] },
        { stringValue: "2024-01-02" },
        { stringValue: "2024-01-02 03:04:05.678" },
        { stringValue: "2024-01-02 03:04:05" },
        { stringValue: "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12" },
        { stringValue: '{"k": [1, 2]}' },
        { stringValue: '{"k": true}' },
        { arrayValue: { longValues: [4, 5] } },
        { arrayValue: { stringValues: ["x", "y z"] } },
        { stringValue: "23:59:58" },
      ],
    ]);
  });

  it("binds an unhinted stringValue as VARCHAR, so comparing it with a UUID needs typeHint UUID as on AWS", async () => {
    const value = { stringValue: "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11" };
    const error = await execute("SELECT id FROM kinds WHERE u = :u", {
      parameters: [{ name: "u", value }],
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DatabaseErrorException);
    expect((error as Error).message).toMatch(
      /^ERROR: operator does not exist: uuid = character varying; Hint: .+; SQLState: 42883$/,
    );
    const hinted = await execute("SELECT count(*) AS n FROM kinds WHERE u = :u", {
      parameters: [{ name: "u", value, typeHint: "UUID" }],
    });
    expect(hinted.records).toEqual([[{ longValue: 1 }]]);
  });

  it("refuses array parameters with AWS's BadRequestException", async () => {
    const error = await execute("SELECT :a AS a", {
      parameters: [{ name: "a", value: { arrayValue: { longValues: [1, 2] } } }],
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BadRequestException);
    expect((error as Error).message).toBe("Array parameters are not supported.");
  });

  it("refuses a hinted TIMESTAMP that is not in AWS's YYYY-MM-DD HH:MM:SS[.FFF] format", async () => {
    const error = await execute("SELECT :ts AS ts", {
      parameters: [{ name: "ts", value: { stringValue: "2024-01-02T03:04:05Z" }, typeHint: "TIMESTAMP" }],
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BadRequestException);
    expect((error as Error).message).toContain("YYYY-MM-DD HH:MM:SS[.FFF]");
  });

  it("replaces :name placeholders but not look-alikes in literals, quoted identifiers, comments or casts", async () => {
    const { records, columnMetadata } = await execute(
      `SELECT :a AS "x:a", ':a' AS lit, $$:a$$ AS dollar, E'it''s :a \\' :a' AS esc, :a::text || :a AS twice
       /* :a /* nested :a */ :a */ -- :a`,
      { parameters: [{ name: "a", value: { stringValue: "v" } }], includeResultMetadata: true },
    );
    expect(records).toEqual([
      [
        { stringValue: "v" },
        { stringValue: ":a" },
        { stringValue: ":a" },
        { stringValue: "it's :a ' :a" },
        { stringValue: "vv" },
      ],
    ]);
    expect(columnMetadata?.[0]?.label).toBe("x:a");
  });

  it("maps a name used twice to one positional parameter and leaves unused parameters unbound", () => {
    const parameters = bindParameters([
      { name: "a", value: { stringValue: "x" } },
      { name: "b", value: { longValue: 2 } },
      { name: "unused", value: { booleanValue: true } },
    ]);
    const { text, values } = toPositional("SELECT :a, :b, :a, a[1:2], x::int, :missing", parameters);
    expect(text).toBe("SELECT ($1::varchar), ($2::int8), ($1::varchar), a[1:2], x::int, :missing");
    expect(values).toEqual(["x", "2"]);
  });

  it("binds NULL untyped so it fits any column, unless a typeHint says otherwise", () => {
    const parameters: Map<string, BoundParameter> = bindParameters([
      { name: "n", value: { isNull: true } },
      { name: "u", value: { isNull: true }, typeHint: "UUID" },
    ]);
    expect(toPositional("SELECT :n, :u", parameters).text).toBe("SELECT $1, ($2::uuid)");
  });
});

describe("databases", () => {
  it("uses the database parameter instead of the cluster's default database", async () => {
    const shard2 = shards.clusters[1]?.database;
    const { records } = await execute("SELECT min(id) AS lo, max(id) AS hi FROM data_1", {
      database: shard2,
    });
    expect(records).toEqual([[{ longValue: 11 }, { longValue: 50 }]]);
  });

  it("serves each of several clusters from its own database on one endpoint", async () => {
    const lows = await Promise.all(
      shards.clusters.map(async (cluster) => {
        const out = await shards.client.send(
          new ExecuteStatementCommand({
            resourceArn: cluster.resourceArn,
            secretArn: cluster.secretArn,
            sql: "SELECT min(id) FROM data_1",
          }),
        );
        return out.records?.[0]?.[0]?.longValue;
      }),
    );
    expect(lows).toEqual([1, 11, 21]);
  });
});
