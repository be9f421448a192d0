import { describe, expect, it } from "vitest";
import { dataApiHost, endpointUrl, samDataApiPort } from "../../local/sam-endpoints.js";

describe("DATA_API_HOST, where npm start's Data API endpoints listen", () => {
  it("defaults to 127.0.0.1, so nothing but this machine reaches them", () => {
    expect(dataApiHost(undefined)).toBe("127.0.0.1");
    expect(dataApiHost("")).toBe("127.0.0.1");
  });

  it("takes any IP address, such as the Docker bridge's or every address", () => {
    expect(dataApiHost("172.17.0.1")).toBe("172.17.0.1");
    expect(dataApiHost("0.0.0.0")).toBe("0.0.0.0");
    expect(dataApiHost("::")).toBe("::");
  });

  it("fails fast, naming the variable, on anything else", () => {
    expect(() => dataApiHost("host.docker.internal")).toThrow(/^DATA_API_HOST: expected an IP address/);
  });

  it("connects to a wildcard listener through loopback, and to any other address as it is", () => {
    expect(endpointUrl("0.0.0.0", 4101)).toBe("http://127.0.0.1:4101");
    expect(endpointUrl("::", 4102)).toBe("http://[::1]:4102");
    expect(endpointUrl("172.17.0.1", 4103)).toBe("http://172.17.0.1:4103");
  });

  it("puts shard N on port 4100 + N, the ports the env files name", () => {
    expect([1, 2, 3].map(samDataApiPort)).toEqual([4101, 4102, 4103]);
  });
});
