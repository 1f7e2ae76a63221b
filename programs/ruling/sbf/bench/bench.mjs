// Runs the ruling bench program (programs/ruling/sbf) in LiteSVM's SBPF VM and prints
// compute units by k: Merkle path checks by depth and leaf size, the exact i8 dot product
// and the exact f32 dot product by chunk length, the verdicts, and staging writes; then
// the largest k per transaction (searched in the VM) and the transactions a k = 65,536
// ruling takes. Every logged result is checked against a value computed here, in
// JavaScript BigInt arithmetic independent of the Rust crate; any mismatch exits 1.
//
// Usage: node bench.mjs [path/to/libgpu_market_ruling_sbf.so]   (bench.sh builds it)

import { LiteSVM, FailedTransactionMetadata } from "litesvm";
import {
  AccountRole,
  address,
  appendTransactionMessageInstructions,
  createTransactionMessage,
  generateKeyPairSigner,
  getTransactionEncoder,
  lamports,
  pipe,
  setTransactionMessageFeePayerSigner,
  signTransactionMessageWithSigners,
} from "@solana/kit";
import { createHash } from "node:crypto";

const SO = process.argv[2] ?? new URL("../target/bpfel-unknown-none/release/libgpu_market_ruling_sbf.so", import.meta.url).pathname;
const TX_LIMIT_BYTES = 1232;
const CU_LIMIT = 1_400_000;
// compute's Merkle root over the leaves "leaf-0" .. "leaf-4"; the Rust test
// golden_root_shared_with_the_sbf_bench pins the same value.
const GOLDEN_ROOT = "00d21829a5503145348abcf712513eacf2a274211ad83e970202bb5b6d80b286";

const OP = { LOG: 0, MERKLE: 1, I8_ABSORB: 2, I8_FINISH: 3, F32_ABSORB: 4, F32_FINISH: 5, WRITE: 6, I8_INLINE: 7, F32_INLINE: 8 };
const F32_VERDICTS = ["WithinBound", "BeyondBound", "NonFiniteAllowed", "NonFiniteClaimed", "FiniteWithNonFiniteInput"];

let checks = 0;
function check(cond, what) {
  if (!cond) {
    console.error(`CHECK FAILED: ${what}`);
    process.exit(1);
  }
  checks++;
}

// ---- deterministic randomness ----
let seed = 0x9e3779b97f4a7c15n;
function next64() {
  seed = (seed + 0x9e3779b97f4a7c15n) & 0xffffffffffffffffn;
  let z = seed;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & 0xffffffffffffffffn;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & 0xffffffffffffffffn;
  return z ^ (z >> 31n);
}
const rand32 = () => Number(next64() >> 32n);
function randomBytes(n) {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 4) {
    const r = rand32();
    for (let j = 0; j < 4 && i + j < n; j++) out[i + j] = (r >>> (8 * j)) & 0xff;
  }
  return out;
}

// ---- little-endian helpers ----
const u32le = (v) => { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, v >>> 0, true); return b; };
const u64le = (v) => { const b = new Uint8Array(8); new DataView(b.buffer).setBigUint64(0, BigInt(v), true); return b; };
const concat = (...parts) => { const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0)); let o = 0; for (const p of parts) { out.set(p, o); o += p.length; } return out; };
const hex = (b) => Buffer.from(b).toString("hex");
const f32Bits = (x) => { const dv = new DataView(new ArrayBuffer(4)); dv.setFloat32(0, x, true); return dv.getUint32(0, true); };
const bitsF32 = (u) => { const dv = new DataView(new ArrayBuffer(4)); dv.setUint32(0, u >>> 0, true); return dv.getFloat32(0, true); };
const MASK64 = (1n << 64n) - 1n;

// ---- Merkle, the scheme of workers/compute/src/merkle.rs ----
const sha256 = (...parts) => { const h = createHash("sha256"); for (const p of parts) h.update(p); return new Uint8Array(h.digest()); };
const leafHash = (d) => sha256(Uint8Array.of(0), d);
const nodeHash = (l, r) => sha256(Uint8Array.of(1), l, r);
function treeLevels(leaves) {
  const levels = [leaves.map(leafHash)];
  while (levels.at(-1).length > 1) {
    const lv = levels.at(-1), nx = [];
    for (let i = 0; i < lv.length; i += 2) nx.push(i + 1 < lv.length ? nodeHash(lv[i], lv[i + 1]) : lv[i]);
    levels.push(nx);
  }
  return levels;
}
function treeProof(levels, index) {
  const out = [];
  let i = index;
  for (const lv of levels.slice(0, -1)) { if ((i ^ 1) < lv.length) out.push(lv[i ^ 1]); i >>= 1; }
  return out;
}
// The root a path leads to (leaf `index` of `count`).
function foldPath(leaf, count, index, path) {
  let h = leafHash(leaf), i = BigInt(index), n = BigInt(count), p = 0;
  while (n > 1n) {
    if (i % 2n === 1n) h = nodeHash(path[p++], h);
    else if (i + 1n < n) h = nodeHash(h, path[p++]);
    i /= 2n; n = (n + 1n) / 2n;
  }
  return h;
}

// ---- exact f32 arithmetic (BigInt), the rule of programs/ruling/src/dot_f32.rs ----
function decode(bits) {
  const e = (bits >>> 23) & 0xff, f = bits & 0x7fffff, neg = bits >>> 31 === 1;
  if (e === 0xff) return null;
  return e === 0 ? { neg, m: BigInt(f), s: 0n } : { neg, m: BigInt(f | 0x800000), s: BigInt(e - 1) };
}
function exactF32(a, b) {
  let pos = 0n, neg = 0n, nonfinite = false;
  const da = new DataView(a.buffer, a.byteOffset), db = new DataView(b.buffer, b.byteOffset);
  for (let t = 0; t < a.length / 4; t++) {
    const x = decode(da.getUint32(4 * t, true)), y = decode(db.getUint32(4 * t, true));
    if (!x || !y) { nonfinite = true; continue; }
    const p = (x.m * y.m) << (x.s + y.s);
    if (x.neg !== y.neg) neg += p; else pos += p;
  }
  return { pos, neg, nonfinite };
}
function verdictF32({ pos, neg, nonfinite }, k, claimedBits) {
  const c = decode(claimedBits), K = BigInt(k), omk = (1n << 24n) - K, S = pos + neg;
  const eta = (K * omk) << 174n;
  if (nonfinite) return c ? 4 : 2;
  if (!c) return S * (1n << 24n) + eta < (((1n << 25n) - 1n) * omk) << 401n ? 3 : 2;
  const C = c.m << (c.s + 149n);
  let d = (c.neg ? -C : C) - (pos - neg);
  if (d < 0n) d = -d;
  return d * omk > K * S + eta ? 1 : 0;
}
const limbs = (v, n) => Array.from({ length: n }, (_, i) => (v >> (64n * BigInt(i))) & MASK64);
const fold = (ls) => ls.reduce((s, l) => ((((s << 7n) | (s >> 57n)) & MASK64) ^ l), 0n);
// f32 approximations of X and of the bound, for picking honest and wrong claims.
function approx(a, b) {
  const fa = new Float32Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.length));
  const fb = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
  let x = 0, s = 0, seq = 0;
  for (let t = 0; t < fa.length; t++) { const p = fa[t] * fb[t]; x += p; s += Math.abs(p); seq = Math.fround(seq + Math.fround(p)); }
  const k = fa.length, u = 2 ** -24;
  return { x, seq, bound: (k * u) / (1 - k * u) * s + k * 2 ** -124 };
}
function f32Vector(k, wide) {
  const out = new Uint8Array(4 * k), dv = new DataView(out.buffer);
  for (let t = 0; t < k; t++) {
    if (wide) {
      // Random sign and mantissa, biased exponent in [77, 177] (2^-50 .. 2^50): products
      // land in many limbs of the accumulator and carries cross limbs.
      const r = rand32();
      dv.setUint32(4 * t, ((r & 0x80000000) | ((77 + (rand32() % 101)) << 23) | (r & 0x7fffff)) >>> 0, true);
    } else {
      // Uniform in [-1, 1) on a 2^-23 grid, like the market's random jobs.
      dv.setFloat32(4 * t, (rand32() >>> 8) / 2 ** 23 - 1, true);
    }
  }
  return out;
}
function i8Dot(a, b) {
  let s = 0;
  for (let t = 0; t < a.length; t++) s += ((a[t] << 24) >> 24) * ((b[t] << 24) >> 24);
  return s;
}

// ---- the VM ----
const svm = new LiteSVM();
const payer = await generateKeyPairSigner();
svm.airdrop(payer.address, lamports(1_000_000_000_000n));
const PROGRAM = address("Ru1ing1111111111111111111111111111111111111");
svm.addProgramFromFile(PROGRAM, SO);
const BUF = (await generateKeyPairSigner()).address;
const STATE = (await generateKeyPairSigner()).address;
const COMPUTE_BUDGET = address("ComputeBudget111111111111111111111111111111");
const setLimit = { programAddress: COMPUTE_BUDGET, accounts: [], data: concat(Uint8Array.of(2), u32le(CU_LIMIT)) };

function setData(addr, data) {
  svm.setAccount({ address: addr, data, executable: false, lamports: lamports(svm.minimumBalanceForRentExemption(BigInt(data.length))), programAddress: PROGRAM, space: BigInt(data.length) });
}
const accountData = (addr) => { const a = svm.getAccount(addr); return new Uint8Array(a.data); };

// Sends one instruction of the bench program; returns its CU, log values and wire size.
async function send(data, accounts, { budget = true, mayExceed = false } = {}) {
  const ixs = budget ? [setLimit] : [];
  ixs.push({ programAddress: PROGRAM, accounts: accounts.map(([a, w]) => ({ address: a, role: w ? AccountRole.WRITABLE : AccountRole.READONLY })), data });
  const tx = await pipe(
    createTransactionMessage({ version: "legacy" }),
    (t) => setTransactionMessageFeePayerSigner(payer, t),
    (t) => svm.setTransactionMessageLifetimeUsingLatestBlockhash(t),
    (t) => appendTransactionMessageInstructions(ixs, t),
    (t) => signTransactionMessageWithSigners(t),
  );
  const size = getTransactionEncoder().encode(tx).length;
  if (size > TX_LIMIT_BYTES) throw new Error(`transaction of ${size} bytes exceeds ${TX_LIMIT_BYTES}`);
  const r = svm.sendTransaction(tx);
  svm.expireBlockhash();
  if (r instanceof FailedTransactionMetadata) {
    const logs = r.meta().logs();
    if (mayExceed && logs.some((l) => l.includes("Computational budget exceeded") || l.includes("exceeded CUs meter"))) return null;
    throw new Error(`transaction failed: ${r.err()}\n${logs.join("\n")}`);
  }
  const logs = r.logs();
  const consumed = logs.map((l) => l.match(/^Program (\S+) consumed (\d+) of/)).find((m) => m && m[1] === PROGRAM);
  const line = logs.find((l) => l.startsWith("Program log: 0x"));
  const values = line ? line.slice("Program log: ".length).split(", ").map((v) => BigInt(v)) : [];
  return { cu: Number(consumed[2]), total: Number(r.computeUnitsConsumed()), values, size };
}
const both = (cu) => `${String(cu).padStart(9)}`;

// ---- baseline ----
const base = await send(Uint8Array.of(OP.LOG), []);
console.log(`gpu-market ruling math in LiteSVM's SBPF VM (sbpf-linker 0.1.9, SBPF v0); CU of the bench program's instruction`);
console.log(`baseline (entrypoint + one sol_log_64_): ${base.cu} CU; a SetComputeUnitLimit instruction adds ${base.total - base.cu} CU to each transaction\n`);

// ---- Merkle ----
{
  const leaves = [0, 1, 2, 3, 4].map((i) => new TextEncoder().encode(`leaf-${i}`));
  const levels = treeLevels(leaves);
  check(hex(levels.at(-1)[0]) === GOLDEN_ROOT, "JS tree builder reproduces compute's golden root");
  for (let i = 0; i < 5; i++) {
    setData(BUF, leaves[i]);
    const path = treeProof(levels, i);
    const r = await send(concat(Uint8Array.of(OP.MERKLE), u32le(0), u32le(leaves[i].length), u64le(5), u64le(i), levels.at(-1)[0], ...path), [[BUF, false]]);
    check(r.values[1] === 1n, `golden tree path ${i} verifies on SBF`);
  }
}
async function merkleCase(depth, leafLen, tamper) {
  const count = 2n ** BigInt(depth), index = depth === 0 ? 0n : next64() % count;
  const leaf = randomBytes(leafLen), path = Array.from({ length: depth }, () => randomBytes(32));
  const root = foldPath(leaf, count, index, path);
  if (tamper && depth > 0) path[depth - 1][0] ^= 1;
  setData(BUF, leaf);
  const data = concat(Uint8Array.of(OP.MERKLE), u32le(0), u32le(leafLen), u64le(count), u64le(index), root, ...path);
  const r = await send(data, [[BUF, false]]);
  check(r.values[1] === (tamper && depth > 0 ? 0n : 1n), `merkle depth ${depth} leaf ${leafLen} tamper ${tamper}`);
  return r;
}
console.log("Merkle path check (leaf hash + one node hash per level), 32-byte leaf:");
console.log("    depth        CU   tx bytes");
const merkleRows = [];
for (const depth of [0, 1, 2, 4, 8, 12, 16, 20, 21, 24, 28]) {
  const r = await merkleCase(depth, 32, false);
  await merkleCase(depth, 32, true);
  merkleRows.push([depth, r.cu]);
  console.log(`${String(depth).padStart(9)}${both(r.cu)}${String(r.size).padStart(11)}`);
}
const perLevel = (merkleRows.at(-1)[1] - merkleRows[0][1]) / merkleRows.at(-1)[0];
console.log(`  about ${perLevel.toFixed(1)} CU per level\n`);
console.log("Leaf hashing (depth 16 path), by leaf size:");
console.log("    bytes        CU");
const leafRows = [];
for (const len of [1024, 4096, 16384, 65536, 262144, 1048576]) {
  const r = await merkleCase(16, len, false);
  leafRows.push([len, r.cu]);
  console.log(`${String(len).padStart(9)}${both(r.cu)}`);
}
const perByte = (leafRows.at(-1)[1] - leafRows[0][1]) / (leafRows.at(-1)[0] - leafRows[0][0]);
console.log(`  about ${perByte.toFixed(3)} CU per leaf byte\n`);
const merkleCu = (depth, bytes) => Math.ceil(merkleRows[0][1] + perLevel * depth + perByte * bytes);
// sol_sha256 keeps no state between calls, so a leaf is hashed whole in one transaction.
const maxLeaf = Math.floor((CU_LIMIT - 150 - merkleRows[0][1] - perLevel * 21) / perByte);
console.log(`largest leaf whose path (depth 21) one transaction checks: ~${maxLeaf} bytes, i.e. a row of C or an f32 row of A / column of B of at most ~${Math.floor(maxLeaf / 4)} elements\n`);

// ---- i8 ----
async function i8Absorb(k, { mayExceed = false, verify = true } = {}) {
  const a = randomBytes(k), b = randomBytes(k);
  setData(BUF, concat(a, b));
  setData(STATE, new Uint8Array(12));
  const r = await send(concat(Uint8Array.of(OP.I8_ABSORB), u32le(0), u32le(k), u32le(k)), [[BUF, false], [STATE, true]], { mayExceed });
  if (!r) return null;
  const exact = i8Dot(a, b);
  if (verify) {
    check(r.values[1] === BigInt(k) && BigInt.asIntN(64, r.values[2]) === BigInt(exact), `i8 absorb k=${k}: logged sum equals off-chain dot product`);
  }
  return { ...r, exact };
}
console.log("i8 dot product, one chunk of k elements from a staged account (absorb):");
console.log("        k        CU   CU/element");
const i8Rows = [];
for (const k of [0, 256, 1024, 4096, 16384, 65536]) {
  const r = await i8Absorb(k);
  i8Rows.push([k, r.cu]);
  console.log(`${String(k).padStart(9)}${both(r.cu)}${k ? ((r.cu - i8Rows[0][1]) / k).toFixed(2).padStart(13) : ""}`);
}
{
  // Over several transactions, then the verdict: the exact claim is upheld, +1 is wrong.
  const k = 5000, a = randomBytes(k), b = randomBytes(k), exact = i8Dot(a, b);
  setData(BUF, concat(a, b));
  setData(STATE, new Uint8Array(12));
  for (const [s, e] of [[0, 1], [1, 1999], [1999, 5000]]) {
    await send(concat(Uint8Array.of(OP.I8_ABSORB), u32le(s), u32le(k + s), u32le(e - s)), [[BUF, false], [STATE, true]]);
  }
  const state = accountData(STATE);
  check(new DataView(state.buffer).getBigInt64(4, true) === BigInt(exact), "i8 state account after 3 transactions holds the exact dot product");
  const ok = await send(concat(Uint8Array.of(OP.I8_FINISH), u32le(k), u32le(exact)), [[BUF, false], [STATE, false]]);
  const bad = await send(concat(Uint8Array.of(OP.I8_FINISH), u32le(k), u32le(exact + 1)), [[BUF, false], [STATE, false]]);
  check(ok.values[1] === 0n && bad.values[1] === 1n, "i8 finish: exact claim upheld, exact+1 judged wrong");
  console.log(`i8 finish (compare with the claimed i32): ${ok.cu} CU`);
}
async function searchMax(lo, hi, run) {
  // Largest k in [lo, hi] whose transaction fits the CU limit.
  if (!(await run(lo))) throw new Error(`k = ${lo} already exceeds the CU limit`);
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (await run(mid)) lo = mid; else hi = mid - 1;
  }
  return lo;
}
let i8AtMax = null;
const i8Max = await searchMax(65536, 262144, async (k) => {
  const r = await i8Absorb(k, { mayExceed: true });
  if (r && (!i8AtMax || k > i8AtMax.k)) i8AtMax = { k, total: r.total };
  return r !== null;
});
console.log(`largest k of one i8 absorb under ${CU_LIMIT} CU (searched in the VM): ${i8Max} (${i8AtMax.total} CU with the budget instruction)\n`);

// ---- f32 ----
async function f32Absorb(k, wide, { mayExceed = false, verify = true } = {}) {
  const a = f32Vector(k, wide), b = f32Vector(k, wide);
  setData(BUF, concat(a, b));
  setData(STATE, new Uint8Array(149));
  const r = await send(concat(Uint8Array.of(OP.F32_ABSORB), u32le(0), u32le(4 * k), u32le(k)), [[BUF, false], [STATE, true]], { mayExceed });
  if (!r) return null;
  if (verify) {
    const ex = exactF32(a, b);
    const state = accountData(STATE);
    const dv = new DataView(state.buffer);
    const got = Array.from({ length: 18 }, (_, i) => dv.getBigUint64(5 + 8 * i, true));
    const want = [...limbs(ex.pos, 9), ...limbs(ex.neg, 9)];
    check(got.every((v, i) => v === want[i]) && r.values[1] === BigInt(k), `f32 absorb k=${k}: state account holds the exact sums`);
    check(r.values[3] === fold(limbs(ex.pos, 9)) && r.values[4] === fold(limbs(ex.neg, 9)), `f32 absorb k=${k}: logged folds`);
    return { ...r, a, b, ex };
  }
  return r;
}
const f32Rows = { u: [], w: [] };
console.log("f32 exact dot product, one chunk of k elements from a staged account (absorb):");
console.log("        k   uniform [-1,1)  CU/elt   exponents 2^-50..2^50  CU/elt");
for (const k of [0, 64, 256, 1024, 4096, 8192]) {
  const u = await f32Absorb(k, false), w = await f32Absorb(k, true);
  f32Rows.u.push([k, u.cu]);
  f32Rows.w.push([k, w.cu]);
  const per = (r, rows) => (k ? ((r.cu - rows[0][1]) / k).toFixed(1) : "");
  console.log(`${String(k).padStart(9)}${String(u.cu).padStart(17)}${per(u, f32Rows.u).padStart(8)}${String(w.cu).padStart(24)}${per(w, f32Rows.w).padStart(8)}`);
}
{
  // Verdicts on SBF against the BigInt rule: honest orders upheld, beyond the bound wrong,
  // NaN with finite inputs wrong.
  for (const wide of [false, true]) {
    for (const k of [1, 7, 1000, 4096]) {
      const r = await f32Absorb(k, wide);
      const { x, seq, bound } = approx(r.a, r.b);
      const claims = [
        [f32Bits(Math.fround(x)), false, "f64 sum rounded"],
        [f32Bits(seq), false, "sequential f32"],
        [f32Bits(Math.fround(x + 3 * bound)), true, "X + 3 bound"],
        [f32Bits(Math.fround(x - 3 * bound)), true, "X - 3 bound"],
        [0x7fc00000, true, "NaN"],
      ];
      for (const [bits, wrong, what] of claims) {
        const want = verdictF32(r.ex, k, bits);
        const got = await send(concat(Uint8Array.of(OP.F32_FINISH), u32le(k), u32le(bits)), [[BUF, false], [STATE, false]]);
        check(Number(got.values[2]) === want && (want === 1 || want === 3) === wrong && got.values[1] === BigInt(wrong), `f32 finish k=${k} wide=${wide} ${what}: SBF ${F32_VERDICTS[Number(got.values[2])]}, BigInt rule ${F32_VERDICTS[want]}`);
      }
    }
  }
  const r = await f32Absorb(4096, true);
  const f = await send(concat(Uint8Array.of(OP.F32_FINISH), u32le(4096), u32le(f32Bits(Math.fround(approx(r.a, r.b).x)))), [[BUF, false], [STATE, false]]);
  console.log(`f32 finish (the integer bound test): ${f.cu} CU`);
}
// The searches verify every run that fits, so the figure is of a checked run.
const f32Max = {};
for (const [name, wide] of [["uniform", false], ["wide", true]]) {
  f32Max[name] = await searchMax(1024, 65536, async (k) => (await f32Absorb(k, wide, { mayExceed: true })) !== null);
}
const f32Worst = Math.min(f32Max.uniform, f32Max.wide);
console.log(`largest k of one f32 absorb under ${CU_LIMIT} CU (searched in the VM): ${f32Max.uniform} (uniform), ${f32Max.wide} (wide exponents)\n`);

// ---- transaction size: staging and inline data ----
setData(BUF, new Uint8Array(4096));
// Overhead measured with a 200-byte payload: from 128 bytes of instruction data on, its
// compact-u16 length takes 2 bytes.
const probe = await send(concat(Uint8Array.of(OP.WRITE), u32le(0), new Uint8Array(200)), [[BUF, true]], { budget: false });
const payload = TX_LIMIT_BYTES - (probe.size - 200);
const chunk = randomBytes(payload);
const full = await send(concat(Uint8Array.of(OP.WRITE), u32le(100), chunk), [[BUF, true]], { budget: false });
check(full.size === TX_LIMIT_BYTES && hex(accountData(BUF).slice(100, 100 + payload)) === hex(chunk), "a 1,232-byte write transaction stages its payload");
console.log(`staging write (payer, buffer, program; no budget instruction): ${probe.size - 200} bytes besides the payload, so ${payload} payload bytes per 1,232-byte transaction, ${full.cu} CU`);
// Inline chunks (no staging): how many elements fit in the transaction itself.
const inlineOverhead = (await send(concat(Uint8Array.of(OP.I8_INLINE), u32le(0), new Uint8Array(200)), [], { budget: false })).size - 200;
const i8Inline = Math.floor((TX_LIMIT_BYTES - inlineOverhead) / 2), f32Inline = Math.floor((TX_LIMIT_BYTES - inlineOverhead) / 8);
{
  const a = randomBytes(i8Inline), b = randomBytes(i8Inline);
  const r = await send(concat(Uint8Array.of(OP.I8_INLINE), u32le(i8Inline), a, b), [], { budget: false });
  check(r.size <= TX_LIMIT_BYTES && BigInt.asIntN(64, r.values[2]) === BigInt(i8Dot(a, b)), "i8 inline chunk fits and sums exactly");
  const fa = f32Vector(f32Inline, true), fb = f32Vector(f32Inline, true);
  const q = await send(concat(Uint8Array.of(OP.F32_INLINE), u32le(f32Inline), fa, fb), [], { budget: false });
  const ex = exactF32(fa, fb);
  check(q.size <= TX_LIMIT_BYTES && q.values[3] === fold(limbs(ex.pos, 9)) && q.values[4] === fold(limbs(ex.neg, 9)), "f32 inline chunk fits and sums exactly");
  console.log(`inline chunks (data in the instruction, ${inlineOverhead} bytes of overhead): k <= ${i8Inline} for i8 (${r.cu} CU), k <= ${f32Inline} for f32 (${q.cu} CU)\n`);
}

// ---- a k = 65,536 ruling (m = n = k = 65,536: paths of depth 16) ----
const K = 65536, depth = 16;
const i8AtK = i8Rows.find(([k]) => k === K)[1];
const stage = (bytes) => Math.ceil(bytes / payload);
const budgetCu = base.total - base.cu;
console.log(`A k = ${K} ruling (m = n = ${K}, Merkle depth ${depth}), with ${payload}-byte staging writes:`);
{
  const rowTx = stage(K), hashA = merkleCu(depth, K), cRowTx = stage(4 * K), hashC = merkleCu(depth, 4 * K);
  const checkCu = 2 * hashA + i8AtK + budgetCu;
  console.log(`  gemm-i8: stage row of A and column of B: 2 x ${rowTx} tx; row of C (reveal, 4n bytes): ${cRowTx} tx`);
  console.log(`           A and B paths with their ${K}-byte leaves ~${hashA} CU each, C path ~${hashC} CU, absorb of all k ${i8AtK} CU`);
  const oneTx = checkCu + hashC <= CU_LIMIT;
  console.log(`           check + dot product: ${oneTx ? `one transaction (~${checkCu + hashC} CU)` : `A+B paths and the dot product ~${checkCu} CU, C path in another`}; verdict 1 tx`);
  const i8Total = 2 * rowTx + cRowTx + (oneTx ? 1 : 2) + 1;
  console.log(`           total ${i8Total} transactions (${2 * rowTx + cRowTx} of them staging)`);
}
{
  const rowTx = stage(4 * K), hash = merkleCu(depth, 4 * K);
  const absorbTx = Math.ceil(K / f32Worst);
  console.log(`  gemm-f32: stage row of A and column of B: 2 x ${rowTx} tx; row of C: ${rowTx} tx`);
  console.log(`           three paths with ${4 * K}-byte leaves ~${hash} CU each: ${3 * hash + budgetCu <= CU_LIMIT ? "one transaction" : "three transactions"}`);
  console.log(`           absorb: ${absorbTx} tx at <= ${f32Worst} elements (the lower of the two data sets); verdict 1 tx`);
  const f32Total = 3 * rowTx + (3 * hash + budgetCu <= CU_LIMIT ? 1 : 3) + absorbTx + 1;
  console.log(`           total ${f32Total} transactions (${3 * rowTx} of them staging)`);
}
console.log(`\n${checks} passed, 0 failed`);
