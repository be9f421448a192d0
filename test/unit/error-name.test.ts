import { describe, expect, it } from "vitest";
import { errorName } from "../../functions/core/shard-call.js";

const withCode = (error: Error, code: string) => Object.assign(error, { code });
const named = (name: string, code?: string) => {
  const error = new Error("details that must not reach a client");
  error.name = name;
  return code === undefined ? error : withCode(error, code);
};

describe("errorName", () => {
  it("names an SDK exception by its class name", () => {
    expect(errorName(named("DatabaseResumingException"))).toBe("DatabaseResumingException");
  });

  it("names a plain network error by its system code", () => {
    expect(errorName(withCode(new Error("connect ECONNREFUSED"), "ECONNREFUSED"))).toBe("ECONNREFUSED");
  });

  it("names a socket error the SDK renamed to TimeoutError by its code, so a reset never reads like a timeout", () => {
    expect(errorName(named("TimeoutError", "ECONNRESET"))).toBe("ECONNRESET");
    expect(errorName(named("TimeoutError"))).toBe("TimeoutError");
  });

  it("never passes on a name that is not a plain identifier, nor anything that is not an Error", () => {
    expect(errorName(named("<script>"))).toBe("UnknownError");
    expect(errorName("boom")).toBe("UnknownError");
  });
});
