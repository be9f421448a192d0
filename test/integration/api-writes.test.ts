/**
 * Writes through the whole local stack: create, replace and delete routed to the owning shard, names that try to break
 * SQL or encodings stored byte for byte, conflicts under concurrency, and every malformed write refused with its 4xx
 * without touching the table.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type LocalRuntime, startLocalRuntime } from "../../local/runtime.js";
import { allRows, del, expectError, get, post, put, request, storedName } from "../helpers/api-client.js";
import { ownerOfSeed, SEED_ROWS } from "../helpers/fixtures.js";

let runtime: LocalRuntime;
let url: string;

beforeAll(async () => {
  runtime = await startLocalRuntime({ postgres: inject("postgres"), prefix: "api_writes" });
  url = runtime.url;
});

afterAll(async () => {
  await runtime?.stop();
});

describe("CRUD round trips", () => {
  it.each([
    { id: 3, shard: 1 },
    { id: 34, shard: 1 },
    { id: 44, shard: 2 },
    { id: 58, shard: 3 },
  ])("creates, reads, replaces and deletes id $id on its owner, shard $shard", async ({ id, shard }) => {
    // Every id of the map is seeded: free one first.
    expect((await del(url, id)).status).toBe(204);
    expectError(await get(url, `/data/${id}`), 404, "not_found", /does not exist/);

    const created = await post(url, { id, name: `Created ${id}` });
    expect(created.status).toBe(201);
    expect(created.headers.get("location")).toBe(`/data/${id}`);
    expect(created.headers.get("access-control-allow-origin")).toBe("*");
    expect(created.body).toEqual({ item: { id, name: `Created ${id}` }, shard });
    expect((await get(url, `/data/${id}`)).body).toEqual({ item: { id, name: `Created ${id}` }, shard });

    const replaced = await put(url, id, { name: `Replaced ${id}` });
    expect(replaced.status).toBe(200);
    expect(replaced.body).toEqual({ item: { id, name: `Replaced ${id}` }, shard });
    expect((await get(url, `/data/${id}`)).body).toEqual({ item: { id, name: `Replaced ${id}` }, shard });

    // The whole row may be sent back, as long as its id is the path's.
    expect((await put(url, id, { id, name: `Again ${id}` })).status).toBe(200);
    expect((await get(url, `/data/${id}`)).body.item.name).toBe(`Again ${id}`);

    const deleted = await del(url, id);
    expect(deleted.status).toBe(204);
    expect(deleted.raw).toBe("");
    expect(deleted.headers.get("access-control-allow-origin")).toBe("*");
    expectError(await get(url, `/data/${id}`), 404, "not_found");
    expectError(await del(url, id), 404, "not_found", new RegExp(`^id ${id} does not exist$`));
    expectError(
      await put(url, id, { name: "Ghost" }),
      404,
      "not_found",
      new RegExp(`^id ${id} does not exist$`),
    );

    expect((await post(url, { id, name: `Test ${id}` })).status).toBe(201);
    expect(await allRows(url)).toEqual(SEED_ROWS);
  });

  it("accepts application/json with a charset parameter", async () => {
    const answer = await put(
      url,
      12,
      { name: "Twelve" },
      { "content-type": "application/json; charset=utf-8" },
    );
    expect(answer.status).toBe(200);
    expect((await get(url, "/data/12")).body.item.name).toBe("Twelve");
    expect((await put(url, 12, { name: "Test 12" })).status).toBe(200);
  });
});

describe("hostile names", () => {
  const HOSTILE: readonly [string, string][] = [
    ["quotes", `It's a "quoted" 'name'`],
    ["SQL injection", "'; DROP TABLE data_1; --"],
    ["SQL injection with a closing parenthesis", "Robert'); DROP TABLE data_1;--"],
    ["named placeholders", ":id :name ::text"],
    ["positional placeholders and dollar quotes", "$1 $2 $$ $tag$ x $tag$"],
    ["backslashes", "C:\\Users\\x\\' \\\" \\\\ \\n \\0"],
    ["control characters", "line 1\nline 2\ttab\r\nend\u0007\u001b[0m"],
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the literal text ${name} is the point of this case
    ["format strings", "%s %d %% {{name}} ${name} `cmd`"],
    ["emoji with joiners and flags", "😀 👩‍👩‍👧‍👦 🏳️‍🌈 🇯🇵"],
    ["CJK", "漢字・かな・한국어・中文"],
    ["right-to-left text", "שלום עולם مرحبا بالعالم \u200F!"],
    ["decomposed and precomposed accents, not normalized", "e\u0301 é \u212B Å"],
    ["invisible characters", "\uFEFFzero\u200Bwidth\u00A0nbsp"],
    ["leading and trailing spaces", "  padded  "],
    ["the JSON word null", "null"],
    ["a JSON document", '{"id": 1, "name": "nested"}'],
    ["255 emoji, the maximum", "😀".repeat(255)],
    ["255 CJK characters", "漢".repeat(255)],
    ["the highest code point", "\u{10FFFF}\u{1F600}\uFFFD"],
  ];

  it.each(HOSTILE)(
    "stores a name with %s byte for byte and reads it back unchanged",
    async (_label, name) => {
      const id = 9 + 10 * (HOSTILE.findIndex(([, n]) => n === name) % 3);
      const shard = ownerOfSeed(id);
      expect((await del(url, id)).status).toBe(204);
      const created = await post(url, { id, name });
      expect(created.status, created.raw).toBe(201);
      expect(created.body.item.name).toBe(name);

      const read = await get(url, `/data/${id}`);
      expect(read.body).toEqual({ item: { id, name }, shard });
      const listed = await get(url, `/data?from=${id}&to=${id}`);
      expect(listed.body.items).toEqual([{ id, name }]);
      // What PostgreSQL holds is exactly the UTF-8 of the name: no escaping, no normalization, no double encoding.
      expect(await storedName(runtime, shard, id)).toEqual(Buffer.from(name, "utf8"));

      // Replacing with the same hostile name round-trips too.
      expect((await put(url, id, { name })).body.item.name).toBe(name);
      expect((await put(url, id, { name: `Test ${id}` })).status).toBe(200);
      expect(await allRows(url)).toEqual(SEED_ROWS);
    },
  );

  it.each([
    ["256 emoji", "😀".repeat(256), /^name: must be at most 255 characters$/],
    ["256 ASCII characters", "a".repeat(256), /^name: must be at most 255 characters$/],
    ["a NUL character", "before\u0000after", /^name: must be valid text without NUL characters$/],
    ["an unpaired surrogate", "broken \uD800 pair", /^name: must be valid text without NUL characters$/],
    ["nothing", "", /^name: must not be empty$/],
    ["only spaces", "   ", /^name: must not be empty$/],
  ])("refuses a name of %s with a 400 and stores nothing", async (_label, name, message) => {
    const before = await allRows(url);
    expectError(await put(url, 8, { name }), 400, "invalid_body", message);
    expectError(await post(url, { id: 61, name }), 400, "invalid_body", message);
    expect(await allRows(url)).toEqual(before);
  });
});

describe("conflicts and concurrency", () => {
  it("answers a duplicate POST with 409 and keeps the existing row", async () => {
    const answer = await post(url, { id: 7, name: "Not 7" });
    expectError(answer, 409, "duplicate_id", /^id 7 already exists$/);
    expect((await get(url, "/data/7")).body.item).toEqual({ id: 7, name: "Test 7" });
  });

  it("lets exactly one of 20 concurrent POSTs of the same new id win; the others get 409", async () => {
    expect((await del(url, 47)).status).toBe(204);
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, k) => post(url, { id: 47, name: `Racer ${k}` })),
    );
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses).toEqual([201, ...Array<number>(19).fill(409)]);
    const winner = answers.find((a) => a.status === 201);
    const rows = (await allRows(url)).filter((r) => r.id === 47);
    expect(rows).toEqual([{ id: 47, name: winner?.body.item.name }]);
    expect(await storedName(runtime, 2, 47)).toEqual(Buffer.from(winner?.body.item.name, "utf8"));
    expect((await put(url, 47, { name: "Test 47" })).status).toBe(200);
  });

  it("applies concurrent writes to all 60 different ids, across the three shards", async () => {
    const renamed = await Promise.all(SEED_ROWS.map(({ id }) => put(url, id, { name: `Renamed ${id}` })));
    expect(renamed.map((a) => a.status)).toEqual(SEED_ROWS.map(() => 200));
    expect(await allRows(url)).toEqual(SEED_ROWS.map(({ id }) => ({ id, name: `Renamed ${id}` })));

    const cycled = await Promise.all([
      ...[1, 15, 29].map((id) => del(url, id)),
      ...SEED_ROWS.filter(({ id }) => ![1, 15, 29].includes(id)).map(({ id, name }) =>
        put(url, id, { name }),
      ),
    ]);
    expect(cycled.map((a) => a.status).sort()).toEqual([...Array<number>(57).fill(200), 204, 204, 204]);
    const recreated = await Promise.all([1, 15, 29].map((id) => post(url, { id, name: `Test ${id}` })));
    expect(recreated.map((a) => a.status)).toEqual([201, 201, 201]);
    expect(await allRows(url)).toEqual(SEED_ROWS);
  });
});

describe("rejected writes", () => {
  // A free id, so that a POST that slipped through validation would create it and show up in the table.
  const FREE = 6;
  const expected = SEED_ROWS.filter((r) => r.id !== FREE);
  const JSON_TYPE = { "content-type": "application/json" };

  beforeAll(async () => {
    expect((await del(url, FREE)).status).toBe(204);
  });

  afterAll(async () => {
    expect((await post(url, { id: FREE, name: `Test ${FREE}` })).status).toBe(201);
    expect(await allRows(url)).toEqual(SEED_ROWS);
  });

  interface Rejected {
    readonly label: string;
    readonly method: "POST" | "PUT" | "DELETE";
    readonly path: string;
    readonly body?: unknown;
    readonly headers?: Record<string, string>;
    readonly status: number;
    readonly code: string;
    readonly message: RegExp;
  }

  const post6 = (label: string, body: unknown, status: number, code: string, message: RegExp): Rejected => ({
    label,
    method: "POST",
    path: "/data",
    body,
    headers: JSON_TYPE,
    status,
    code,
    message,
  });

  const CASES: readonly Rejected[] = [
    post6("malformed JSON", '{"id": 6, "name": "Six"', 400, "invalid_json", /^body: not valid JSON$/),
    post6(
      "an array body",
      '[{"id": 6, "name": "Six"}]',
      400,
      "invalid_body",
      /^body: must be a JSON object$/,
    ),
    post6("a JSON null body", "null", 400, "invalid_body", /^body: must be a JSON object$/),
    post6("a JSON string body", '"Six"', 400, "invalid_body", /^body: must be a JSON object$/),
    post6("an empty body", "", 400, "invalid_body", /^body: required$/),
    post6(
      "an unknown field",
      { id: 6, name: "Six", extra: 1 },
      400,
      "invalid_body",
      /^unknown field: extra$/,
    ),
    post6("a missing name", { id: 6 }, 400, "invalid_body", /^name: required$/),
    post6("a missing id", { name: "Six" }, 400, "invalid_body", /^id: required$/),
    post6("an id as a string", { id: "6", name: "Six" }, 400, "invalid_body", /^id: must be an integer$/),
    post6("a fractional id", { id: 6.5, name: "Six" }, 400, "invalid_body", /^id: must be an integer$/),
    post6("id 2^31", { id: 2 ** 31, name: "Six" }, 400, "invalid_body", /^id: must be between/),
    post6("id -2^31 - 1", { id: -(2 ** 31) - 1, name: "Six" }, 400, "invalid_body", /^id: must be between/),
    post6("a numeric name", { id: 6, name: 6 }, 400, "invalid_body", /^name: must be a string$/),
    post6("a null name", { id: 6, name: null }, 400, "invalid_body", /^name: must be a string$/),
    post6(
      "an id outside the shard map",
      { id: 61, name: "Sixty-one" },
      422,
      "id_out_of_range",
      /^id 61 is outside/,
    ),
    post6("a duplicate id", { id: 7, name: "Seven" }, 409, "duplicate_id", /^id 7 already exists$/),
    {
      label: "a text/plain content-type",
      method: "POST",
      path: "/data",
      body: '{"id": 6, "name": "Six"}',
      headers: { "content-type": "text/plain" },
      status: 415,
      code: "unsupported_media_type",
      message: /^content-type: must be application\/json$/,
    },
    {
      label: "a JSON look-alike content-type",
      method: "POST",
      path: "/data",
      body: '{"id": 6, "name": "Six"}',
      headers: { "content-type": "application/json-patch+json" },
      status: 415,
      code: "unsupported_media_type",
      message: /^content-type:/,
    },
    {
      label: "no content-type at all",
      method: "POST",
      path: "/data",
      body: new TextEncoder().encode('{"id": 6, "name": "Six"}'),
      status: 415,
      code: "unsupported_media_type",
      message: /^content-type:/,
    },
    post6(
      "a body over 16 KiB",
      { id: 6, name: "x".repeat(16 * 1024) },
      413,
      "body_too_large",
      /^body: must be at most 16384 bytes$/,
    ),
    {
      label: "a body id that is not the path id",
      method: "PUT",
      path: "/data/5",
      body: { id: 6, name: "Six" },
      status: 400,
      code: "invalid_body",
      message: /^id: 6 does not match the path id 5$/,
    },
    {
      label: "an empty object",
      method: "PUT",
      path: "/data/5",
      body: {},
      status: 400,
      code: "invalid_body",
      message: /^name: required$/,
    },
    {
      label: "an unknown field",
      method: "PUT",
      path: "/data/5",
      body: { name: "Five", id2: 5 },
      status: 400,
      code: "invalid_body",
      message: /^unknown field: id2$/,
    },
    {
      label: "a non-integer path id",
      method: "PUT",
      path: "/data/5.0",
      body: { name: "Five" },
      status: 400,
      code: "invalid_id",
      message: /^id:/,
    },
    {
      label: "an id outside the shard map",
      method: "PUT",
      path: "/data/61",
      body: { name: "Sixty-one" },
      status: 422,
      code: "id_out_of_range",
      message: /^id 61 is outside/,
    },
    {
      label: "an absent id",
      method: "PUT",
      path: `/data/${FREE}`,
      body: { name: "Six" },
      status: 404,
      code: "not_found",
      message: /^id 6 does not exist$/,
    },
    {
      label: "a non-integer path id",
      method: "DELETE",
      path: "/data/five",
      status: 400,
      code: "invalid_id",
      message: /^id:/,
    },
    {
      label: "an id outside the shard map",
      method: "DELETE",
      path: "/data/0",
      status: 422,
      code: "id_out_of_range",
      message: /^id 0 is outside/,
    },
    {
      label: "an absent id",
      method: "DELETE",
      path: `/data/${FREE}`,
      status: 404,
      code: "not_found",
      message: /^id 6 does not exist$/,
    },
  ];

  it.each(CASES)("answers $method $path with $label as $status and leaves the table unchanged", async (c) => {
    const before = await allRows(url);
    expect(before).toEqual(expected);
    const answer = await request(url, c.path, {
      method: c.method,
      ...(c.body === undefined ? {} : { body: c.body }),
      ...(c.headers ? { headers: c.headers } : {}),
    });
    expectError(answer, c.status, c.code, c.message);
    expect(answer.headers.get("access-control-allow-origin")).toBe("*");
    expect(await allRows(url)).toEqual(before);
  });
});
