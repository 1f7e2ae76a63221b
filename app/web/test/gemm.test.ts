// The browser's own check of a result: Freivalds' test accepts the true product
// and catches a single wrong element, in both layouts.
import { describe, expect, it } from "vitest";
import { freivalds, multiply, randomMatrix, shapeBytes, type GemmKind } from "../src/gemm";

function seeded(seed: number) {
  let s = seed >>> 0;
  const next = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
  return {
    bytes: (out: Uint8Array) => {
      for (let i = 0; i < out.length; i++) out[i] = next() & 0xff;
    },
    unit: () => next() / 2 ** 32,
  };
}

describe.each<GemmKind>(["gemm-i8", "gemm-f32"])("%s", (kind) => {
  const [m, n, k] = [7, 5, 9];
  const rng = seeded(kind === "gemm-i8" ? 1 : 2);
  const a = randomMatrix(kind, m, k, rng.bytes);
  const b = randomMatrix(kind, k, n, rng.bytes);
  const c = multiply(kind, m, n, k, a, b);

  it("has the workers' sizes", () => {
    expect([a.length, b.length, c.length]).toEqual(Object.values(shapeBytes(kind, m, n, k)));
  });

  it("accepts the true product", () => {
    expect(freivalds(kind, m, n, k, a, b, c, 8, rng.unit)).toMatchObject({ ok: true });
  });

  it("catches one wrong element (C[3][2] off by one)", () => {
    const wrong = c.slice();
    const view = new DataView(wrong.buffer);
    const at = 4 * (3 * n + 2);
    if (kind === "gemm-i8") view.setInt32(at, view.getInt32(at, true) + 1, true);
    else view.setFloat32(at, view.getFloat32(at, true) + 1, true);
    // Each round misses the error only when r[2] = 0: 20 rounds fail with odds 2^-20.
    const r = freivalds(kind, m, n, k, a, b, wrong, 20, rng.unit);
    expect(r.ok).toBe(false);
    expect(r.detail).toMatch(/row 3 disagrees/);
  });

  it("refuses results and inputs of the wrong size", () => {
    expect(freivalds(kind, m, n, k, a, b, c.subarray(4)).detail).toMatch(/result is/);
    expect(freivalds(kind, m, n, k, a.subarray(1), b, c).detail).toMatch(/inputs are/);
  });
});

it("i8 elements are signed bytes", () => {
  // A = [-1], B = [-128]: C = 128.
  const c = multiply("gemm-i8", 1, 1, 1, new Uint8Array([0xff]), new Uint8Array([0x80]));
  expect(new DataView(c.buffer).getInt32(0, true)).toBe(128);
});
