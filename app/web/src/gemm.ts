// GEMM inputs a buyer uploads and the check it runs on the result it gets back.
// Layouts are the workers' (workers/compute/src/gemm.rs): A is m x k and B is
// k x n, row-major; gemm-i8 elements are single bytes and its C is i32
// little-endian, gemm-f32 elements and C are f32 little-endian.
//
// The check is Freivalds' test, C·r = A·(B·r) for random r, which the auditor
// runs too (`gpumkt audit verify`); here it runs in the browser on the buyer's
// own copy of the inputs, so a buyer need not trust the dashboard's verdict.

export type GemmKind = "gemm-i8" | "gemm-f32";

export function elementBytes(kind: GemmKind): number {
  return kind === "gemm-i8" ? 1 : 4;
}

/** Expected byte lengths of A, B and C. */
export function shapeBytes(kind: GemmKind, m: number, n: number, k: number): { a: number; b: number; c: number } {
  const e = elementBytes(kind);
  return { a: m * k * e, b: k * n * e, c: m * n * 4 };
}

type Random = (out: Uint8Array) => void;
const cryptoRandom: Random = (out) => {
  // getRandomValues fills at most 65536 bytes per call.
  for (let i = 0; i < out.length; i += 65536) crypto.getRandomValues(out.subarray(i, Math.min(out.length, i + 65536)));
};

/** A random matrix of `rows x cols` in the workload's layout. f32 entries are small integers, so products are exact. */
export function randomMatrix(kind: GemmKind, rows: number, cols: number, random: Random = cryptoRandom): Uint8Array {
  const count = rows * cols;
  if (kind === "gemm-i8") {
    const out = new Uint8Array(count);
    random(out);
    return out;
  }
  const raw = new Uint8Array(count);
  random(raw);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = (raw[i] % 17) - 8;
  return new Uint8Array(out.buffer);
}

function elements(kind: GemmKind, bytes: Uint8Array): Float64Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (kind === "gemm-i8") return Float64Array.from(bytes, (b) => (b << 24) >> 24);
  const out = new Float64Array(bytes.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(4 * i, true);
  return out;
}

function resultElements(kind: GemmKind, bytes: Uint8Array): Float64Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float64Array(bytes.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = kind === "gemm-i8" ? view.getInt32(4 * i, true) : view.getFloat32(4 * i, true);
  return out;
}

export interface CheckResult {
  ok: boolean;
  detail: string;
}

/**
 * Freivalds' test with `rounds` random 0/1 vectors. gemm-i8 is exact (every
 * sum stays far below 2^53); gemm-f32 allows a relative error of 1e-4 of the
 * row's magnitude, as float sums in another order differ in the last bits.
 */
export function freivalds(
  kind: GemmKind,
  m: number,
  n: number,
  k: number,
  aBytes: Uint8Array,
  bBytes: Uint8Array,
  cBytes: Uint8Array,
  rounds = 4,
  random: () => number = Math.random,
): CheckResult {
  const want = shapeBytes(kind, m, n, k);
  if (aBytes.length !== want.a || bBytes.length !== want.b) {
    return { ok: false, detail: `inputs are ${aBytes.length} and ${bBytes.length} bytes, ${want.a} and ${want.b} expected` };
  }
  if (cBytes.length !== want.c) return { ok: false, detail: `result is ${cBytes.length} bytes, ${want.c} expected` };
  const a = elements(kind, aBytes);
  const b = elements(kind, bBytes);
  const c = resultElements(kind, cBytes);
  for (let round = 0; round < rounds; round++) {
    const r = Float64Array.from({ length: n }, () => (random() < 0.5 ? 0 : 1));
    const br = new Float64Array(k);
    const brAbs = new Float64Array(k);
    for (let t = 0; t < k; t++) {
      let s = 0;
      let sa = 0;
      for (let j = 0; j < n; j++) {
        s += b[t * n + j] * r[j];
        sa += Math.abs(b[t * n + j]) * r[j];
      }
      br[t] = s;
      brAbs[t] = sa;
    }
    for (let i = 0; i < m; i++) {
      let abr = 0;
      let mag = 0;
      for (let t = 0; t < k; t++) {
        abr += a[i * k + t] * br[t];
        mag += Math.abs(a[i * k + t]) * brAbs[t];
      }
      let cr = 0;
      for (let j = 0; j < n; j++) cr += c[i * n + j] * r[j];
      const tolerance = kind === "gemm-i8" ? 0 : 1e-4 * Math.max(1, mag);
      if (Math.abs(cr - abr) > tolerance) {
        return { ok: false, detail: `row ${i} disagrees in round ${round + 1}: C·r = ${cr}, A·(B·r) = ${abr}` };
      }
    }
  }
  return { ok: true, detail: `Freivalds' test passed ${rounds} rounds (${m}x${n}x${k}, ${kind})` };
}

/** C = A·B the slow way, for tests and tiny shapes. */
export function multiply(kind: GemmKind, m: number, n: number, k: number, aBytes: Uint8Array, bBytes: Uint8Array): Uint8Array {
  const a = elements(kind, aBytes);
  const b = elements(kind, bBytes);
  const out = new Uint8Array(m * n * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let t = 0; t < k; t++) s += a[i * k + t] * b[t * n + j];
      if (kind === "gemm-i8") view.setInt32(4 * (i * n + j), s, true);
      else view.setFloat32(4 * (i * n + j), s, true);
    }
  }
  return out;
}
