/**
 * The OpenAPI document (`openapi.yaml`) as a test oracle: load it, resolve its `$ref`s, compile its schemas with Ajv
 * (JSON Schema 2020-12, the dialect of OpenAPI 3.1) in strict mode, and check real responses against it.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import Ajv2020Module, { type AnySchema, type ValidateFunction } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import { parse } from "yaml";

export const OPENAPI_PATH = fileURLToPath(new URL("../../openapi.yaml", import.meta.url));

/** The HTTP methods an OpenAPI path item may hold as operations. */
export const OPERATION_METHODS = [
  "get",
  "put",
  "post",
  "delete",
  "options",
  "head",
  "patch",
  "trace",
] as const;

type Json = Record<string, unknown>;

export interface Operation {
  readonly method: string;
  readonly path: string;
  readonly op: Json;
}

// Both packages are CommonJS with a `default` property; under NodeNext the default import is the module object.
type Ajv2020 = InstanceType<typeof Ajv2020Module.default>;
const Ajv2020Ctor = Ajv2020Module.default;
const addFormats = addFormatsModule.default;

export function loadOpenApi(file = OPENAPI_PATH): Json {
  return parse(readFileSync(file, "utf8")) as Json;
}

const isObject = (value: unknown): value is Json =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** The value at a local `$ref` (`#/components/...`), or `undefined` when the pointer leads nowhere. */
export function resolvePointer(doc: Json, ref: string): unknown {
  if (!ref.startsWith("#/")) return undefined;
  let node: unknown = doc;
  for (const raw of ref.slice(2).split("/")) {
    const key = decodeURIComponent(raw).replaceAll("~1", "/").replaceAll("~0", "~");
    if (!isObject(node) || !Object.hasOwn(node, key)) return undefined;
    node = node[key];
  }
  return node;
}

/** Follows `$ref` chains of OpenAPI objects (responses, headers, parameters) to the object itself. */
export function deref(doc: Json, value: unknown): Json {
  let node = value;
  for (let hops = 0; isObject(node) && typeof node.$ref === "string"; hops++) {
    if (hops > 20) throw new Error(`$ref cycle at ${node.$ref}`);
    const target = resolvePointer(doc, node.$ref);
    if (target === undefined) throw new Error(`unresolved $ref ${node.$ref}`);
    node = target;
  }
  if (!isObject(node)) throw new Error(`expected an object, got ${JSON.stringify(node)}`);
  return node;
}

/** Every `$ref` in the document with where it was found. */
export function collectRefs(value: unknown, at = "#"): { at: string; ref: string }[] {
  if (Array.isArray(value)) return value.flatMap((item, i) => collectRefs(item, `${at}/${i}`));
  if (!isObject(value)) return [];
  return Object.entries(value).flatMap(([key, child]) =>
    key === "$ref" && typeof child === "string" ? [{ at, ref: child }] : collectRefs(child, `${at}/${key}`),
  );
}

export function operations(doc: Json): Operation[] {
  const paths = isObject(doc.paths) ? doc.paths : {};
  return Object.entries(paths).flatMap(([path, item]) =>
    OPERATION_METHODS.flatMap((method) => {
      const op = isObject(item) ? item[method] : undefined;
      return isObject(op) ? [{ method: method.toUpperCase(), path, op }] : [];
    }),
  );
}

/** Every schema of the document: components, parameters, headers and media types, with where it sits. */
export function collectSchemas(doc: Json): { at: string; schema: unknown }[] {
  const found: { at: string; schema: unknown }[] = [];
  const components = isObject(doc.components) ? doc.components : {};
  for (const [name, schema] of Object.entries(isObject(components.schemas) ? components.schemas : {})) {
    found.push({ at: `#/components/schemas/${name}`, schema });
  }
  const walk = (value: unknown, at: string) => {
    if (Array.isArray(value)) {
      value.forEach((item, i) => {
        walk(item, `${at}/${i}`);
      });
    }
    if (!isObject(value)) return;
    for (const [key, child] of Object.entries(value)) {
      // Schemas are compiled whole above or here; their insides are not walked again.
      if (key === "schema") found.push({ at: `${at}/schema`, schema: child });
      else if (key !== "schemas" && key !== "examples" && key !== "example") walk(child, `${at}/${key}`);
    }
  };
  walk(doc.paths, "#/paths");
  walk(components, "#/components");
  return found;
}

const SCHEMA_BASE = "https://contract.test/openapi.json";

/** Points `#/components/schemas/...` at the Ajv schema that holds the components as `$defs`. */
function rebase(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(rebase);
  if (!isObject(value)) return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, child]) => [
      key,
      key === "$ref" && typeof child === "string" && child.startsWith("#/components/schemas/")
        ? `${SCHEMA_BASE}#/$defs/${child.slice("#/components/schemas/".length)}`
        : key === "discriminator" && isObject(child)
          ? // Ajv's discriminator finds the branch by each one's `const` and refuses `mapping`, which is for
            // generators (openapi.yaml maps every value to the schema whose `const` it is; test/infra checks that).
            Object.fromEntries(Object.entries(child).filter(([k]) => k !== "mapping"))
          : rebase(child),
    ]),
  );
}

const INT32 = { min: -(2 ** 31), max: 2 ** 31 - 1 };

/** Strict Ajv for OpenAPI 3.1 schemas: 2020-12, the `discriminator` keyword, and the OpenAPI integer formats. */
export function createAjv(): Ajv2020 {
  const ajv = new Ajv2020Ctor({ strict: true, allErrors: true, discriminator: true });
  addFormats(ajv);
  ajv.addFormat("int32", {
    type: "number",
    validate: (n: number) => Number.isInteger(n) && n >= INT32.min && n <= INT32.max,
  });
  ajv.addFormat("int64", { type: "number", validate: (n: number) => Number.isInteger(n) });
  return ajv;
}

/** Compiles the document's schemas once; `compile` takes any schema of the document, refs and all. */
export class ContractSchemas {
  readonly ajv = createAjv();
  readonly #cache = new Map<unknown, ValidateFunction>();

  constructor(doc: Json) {
    const components = isObject(doc.components) ? doc.components : {};
    this.ajv.addSchema({ $id: SCHEMA_BASE, $defs: rebase(components.schemas ?? {}) } as AnySchema);
  }

  compile(schema: unknown): ValidateFunction {
    let validate = this.#cache.get(schema);
    if (!validate) {
      validate = this.ajv.compile(rebase(schema) as AnySchema);
      this.#cache.set(schema, validate);
    }
    return validate;
  }
}

export const contract = loadOpenApi();
const schemas = new ContractSchemas(contract);

/** Statuses seen by {@link expectMatchesContract}, per `METHOD /path/template`. */
export const observedStatuses = new Map<string, Set<string>>();

/** The documented statuses of an operation. */
export function documentedStatuses(method: string, path: string): string[] {
  const op = operations(contract).find((o) => o.method === method && o.path === path);
  if (!op) throw new Error(`${method} ${path} is not documented`);
  return Object.keys(deref(contract, op.op.responses));
}

/**
 * Where a request lands: a documented operation's response, or one of the document's responses for what has no
 * operation: `RouteNotFound` (unknown path), `Preflight` (`OPTIONS` on a known path), `MethodNotAllowed` (any other
 * method on a known path), and `PayloadTooLarge`, which the document says any route may answer.
 */
function documentedResponse(method: string, path: string, status: number): { key: string; response: Json } {
  const paths = deref(contract, contract.paths);
  const item = paths[path];
  const op = isObject(item) ? item[method.toLowerCase()] : undefined;
  if (isObject(op)) {
    const responses = deref(contract, op.responses);
    const response = responses[String(status)];
    if (response === undefined) {
      throw new Error(`${method} ${path} answered ${status}, which the document does not list`);
    }
    return { key: `${method} ${path}`, response: deref(contract, response) };
  }
  if (status === 413) {
    return {
      key: `PayloadTooLarge ${method}`,
      response: deref(contract, { $ref: "#/components/responses/PayloadTooLarge" }),
    };
  }
  const [expected, name] = !isObject(item)
    ? [404, "RouteNotFound"]
    : method === "OPTIONS"
      ? [204, "Preflight"]
      : [405, "MethodNotAllowed"];
  if (status !== expected) {
    throw new Error(`${method} ${path} is not documented: expected ${expected}, got ${status}`);
  }
  return { key: name, response: deref(contract, { $ref: `#/components/responses/${name}` }) };
}

function check(validate: ValidateFunction, data: unknown, what: string): void {
  if (validate(data)) return;
  const detail = schemas.ajv.errorsText(validate.errors, { dataVar: what, separator: "\n  " });
  throw new Error(
    `${what} does not match the contract:\n  ${detail}\n${what}: ${JSON.stringify(data, null, 2)}\nerrors: ${JSON.stringify(validate.errors, null, 2)}`,
  );
}

/**
 * Checks one real response against the document: its status is listed for the operation (or it is the documented
 * 404/405 of a route or method that does not exist), every documented required header is present and matches its
 * schema, and the body matches the schema of its media type (or is empty when none is documented). Records the
 * status for the completeness check. `body` is the parsed JSON, or `undefined` for an empty body.
 */
export function expectMatchesContract(
  method: string,
  pathTemplate: string,
  response: Response,
  body: unknown,
): void {
  const { key, response: documented } = documentedResponse(method, pathTemplate, response.status);
  const seen = observedStatuses.get(key) ?? new Set<string>();
  seen.add(String(response.status));
  observedStatuses.set(key, seen);
  const where = `${method} ${pathTemplate} ${response.status}`;

  for (const [name, ref] of Object.entries(isObject(documented.headers) ? documented.headers : {})) {
    const header = deref(contract, ref);
    const value = response.headers.get(name);
    if (value === null) {
      if (header.required === true) throw new Error(`${where}: header ${name} is missing`);
      continue;
    }
    check(schemas.compile(header.schema), value, `${where} header ${name}`);
  }

  const content = isObject(documented.content) ? documented.content : undefined;
  if (!content) {
    if (body !== undefined) throw new Error(`${where}: no body is documented, got ${JSON.stringify(body)}`);
    return;
  }
  const type = (response.headers.get("content-type") ?? "").split(";")[0]?.trim() ?? "";
  const media = content[type];
  if (!isObject(media)) {
    throw new Error(`${where}: content-type ${JSON.stringify(type)} is not one of ${Object.keys(content)}`);
  }
  check(schemas.compile(media.schema), body, `${where} body`);
}

/** Validates `data` against a component schema by name (e.g. request bodies): the errors, or `null` when valid. */
export function schemaErrors(name: string, data: unknown): string | null {
  const validate = schemas.compile({ $ref: `#/components/schemas/${name}` });
  return validate(data) ? null : schemas.ajv.errorsText(validate.errors);
}
