/**
 * The real `RDSDataClient` with a request handler that answers every call from memory with a canned Data API
 * response: `client.send` then costs exactly what the SDK spends on our side (serialize, sign, deserialize), with no
 * network and no server in the measurement.
 */
import { ExecuteStatementCommand, RDSDataClient } from "@aws-sdk/client-rds-data";
import { clusterArn, EXAMPLE_ARN_SCOPE, secretArn } from "../../local/arns.js";

/** The ExecuteStatement response body for `rows` rows `(id, name)` in the Field-union `records` format. */
export function recordsBody(rows: number): Buffer {
  const records = Array.from({ length: rows }, (_, i) => [
    { longValue: i + 1 },
    { stringValue: `Test ${i + 1}` },
  ]);
  return Buffer.from(JSON.stringify({ numberOfRecordsUpdated: 0, records }));
}

/** The same result with `formatRecordsAs: "JSON"`: one string holding the rows as JSON objects. */
export function formattedBody(rows: number): Buffer {
  const objects = Array.from({ length: rows }, (_, i) => ({ id: i + 1, name: `Test ${i + 1}` }));
  return Buffer.from(
    JSON.stringify({ numberOfRecordsUpdated: 0, formattedRecords: JSON.stringify(objects) }),
  );
}

export function cannedClient(body: Buffer): RDSDataClient {
  return new RDSDataClient({
    region: "us-east-1",
    credentials: { accessKeyId: "x", secretAccessKey: "x" },
    maxAttempts: 1,
    requestHandler: {
      handle: async () => ({
        response: {
          statusCode: 200,
          reason: "OK",
          headers: { "content-type": "application/json", "x-amzn-requestid": "bench" },
          body: new Uint8Array(body),
        },
      }),
    },
  });
}

export function selectCommand(formatJson: boolean): ExecuteStatementCommand {
  return new ExecuteStatementCommand({
    resourceArn: clusterArn("bench", EXAMPLE_ARN_SCOPE),
    secretArn: secretArn("bench", EXAMPLE_ARN_SCOPE),
    database: "bench",
    sql: "SELECT id, name FROM data_1 WHERE (id BETWEEN :lo0 AND :hi0) ORDER BY id LIMIT :limit",
    parameters: [
      { name: "lo0", value: { longValue: 1 } },
      { name: "hi0", value: { longValue: 10_000 } },
      { name: "limit", value: { longValue: 500 } },
    ],
    ...(formatJson ? { formatRecordsAs: "JSON" as const } : {}),
  });
}
