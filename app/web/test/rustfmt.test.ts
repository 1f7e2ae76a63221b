// The page's number formatting against Rust's own output: rust_fmt.json was
// written by rust_fmt.rs (the doubles as bit patterns, so nothing is lost in
// JSON), covering exact ties, huge and tiny values and random bit patterns.
import { describe, expect, it } from "vitest";
import { fixed, integer, pct, render, utc } from "../src/rustfmt";
import table from "./fixtures/rust_fmt.json";

function fromBits(hex: string): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, BigInt(`0x${hex}`));
  return view.getFloat64(0);
}

describe("fixed and pct write what Rust's format! writes", () => {
  it(`matches ${table.length} Rust renderings`, () => {
    expect(table.length).toBeGreaterThan(400);
    for (const row of table) {
      const x = fromBits(row.bits);
      expect([row.bits, fixed(x, 2)]).toEqual([row.bits, row.f2]);
      expect([row.bits, fixed(x, 6)]).toEqual([row.bits, row.f6]);
      expect([row.bits, pct(x)]).toEqual([row.bits, row.pct]);
    }
  });

  it("rounds exact ties to even where toFixed rounds up", () => {
    expect(fixed(0.0078125, 6)).toBe("0.007812");
    expect((0.0078125).toFixed(6)).toBe("0.007813");
    expect(fixed(0.125, 2)).toBe("0.12");
    expect(fixed(0.375, 2)).toBe("0.38");
  });

  it("never switches to exponent form", () => {
    expect(fixed(1e21, 0)).toBe("1000000000000000000000");
  });

  it("refuses bad digit counts", () => {
    expect(() => fixed(1, -1)).toThrow(RangeError);
    expect(() => fixed(1, 1.5)).toThrow(RangeError);
  });
});

describe("integer", () => {
  it("writes safe integers in full", () => {
    expect(integer(0)).toBe("0");
    expect(integer(Number.MAX_SAFE_INTEGER)).toBe("9007199254740991");
    expect(integer(-42)).toBe("-42");
  });
  it("refuses values JSON.parse could have rounded, and non-integers", () => {
    expect(() => integer(2 ** 53)).toThrow(RangeError);
    expect(() => integer(1.5)).toThrow(RangeError);
  });
});

describe("render", () => {
  it("dispatches on the figure's format", () => {
    expect(render("int", 12)).toBe("12");
    expect(render("fixed6", 1 / 3)).toBe("0.333333");
    expect(render("pct", 0.5)).toBe("50.00%");
    expect(render("utc", 0)).toBe("1970-01-01 00:00:00");
    expect(utc(1_800_000_000)).toBe("2027-01-15 08:00:00");
    expect(render("text", null)).toBe("—");
    expect(() => render("nope" as never, 1)).toThrow(/unknown figure format/);
  });
});
