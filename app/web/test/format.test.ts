// Amounts and the API client's errors.
import { describe, expect, it } from "vitest";
import { Api, ApiError, query } from "../src/api";
import { bytesToHex, duration, hexToBytes, parseTokens, short, tokens } from "../src/format";

describe("tokens", () => {
  it("writes base units as whole tokens without float arithmetic", () => {
    expect(tokens(1_234_500, 6)).toBe("1.2345");
    expect(tokens(1_000_000, 6)).toBe("1");
    expect(tokens(5, 6)).toBe("0.000005");
    expect(tokens(0, 9)).toBe("0");
    expect(tokens(9_007_199_254_740_991, 9)).toBe("9007199.254740991");
    expect(tokens(42, 0)).toBe("42");
  });
  it("parses what a buyer types, exactly, or refuses it", () => {
    expect(parseTokens("1.5", 6)).toBe(1_500_000);
    expect(parseTokens(" 2 ", 6)).toBe(2_000_000);
    expect(parseTokens("0.000001", 6)).toBe(1);
    expect(parseTokens("0.0000001", 6)).toBeNull();
    expect(parseTokens("-1", 6)).toBeNull();
    expect(parseTokens("1e3", 6)).toBeNull();
    expect(parseTokens("99999999999", 9)).toBeNull();
  });
});

it("short, duration, hex", () => {
  expect(short("GPUMkt1111111111111111111111111111111111111")).toBe("GPUM…1111");
  expect(short(null)).toBe("—");
  expect(duration(59)).toBe("59 s");
  expect(duration(3_725)).toBe("1 h 2 min");
  expect(bytesToHex(hexToBytes("00ff10"))).toBe("00ff10");
  expect(() => hexToBytes("0g")).toThrow(/not hex/);
  expect(() => hexToBytes("abc")).toThrow(/not hex/);
});

describe("Api", () => {
  const answer = (status: number, body: string) => async () => new Response(body, { status });

  it("turns the server's named error into an ApiError", async () => {
    const api = new Api("", answer(404, JSON.stringify({ error: "unknown_job", message: "no job 3x in this market" })));
    const e = await api.job("3x").catch((x) => x);
    expect(e).toBeInstanceOf(ApiError);
    expect(e).toMatchObject({ status: 404, error: "unknown_job", detail: "no job 3x in this market", path: "/api/jobs/3x" });
  });

  it("says so when the answer is not JSON or the server is down", async () => {
    await expect(new Api("", answer(200, "<html>")).stats()).rejects.toMatchObject({ error: "NotJson" });
    await expect(new Api("", answer(502, "bad gateway")).stats()).rejects.toMatchObject({ error: "Http502", detail: "bad gateway" });
    const down = new Api("", async () => {
      throw new TypeError("fetch failed");
    });
    await expect(down.stats()).rejects.toMatchObject({ error: "Unreachable" });
  });

  it("writes queries from defined parameters only", () => {
    expect(query({ state: "open", limit: 5, buyer: undefined })).toBe("?state=open&limit=5");
    expect(query({})).toBe("");
  });
});
