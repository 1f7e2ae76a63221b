// A stand-in for `gpumkt dashboard`, from docs/design.md ("Dashboard") and the shapes
// app/dashboard/src/api.rs answers with, for developing the pages and the
// browser test without a chain: a small market (three providers, a dozen jobs
// in every state, their events) and a JSON-RPC endpoint at /rpc that takes the
// page's signed job_post, checks its signature and decodes it with the IDL, and
// then plays the job's life (claimed, submitted with the true product of A and
// B, finalized) so that the post page can watch it settle.
//
//   node e2e/mock.mjs [--port 7070] [--dist dist]
//
// Exported: startMock({port, dist}) -> {url, stop(), stats()}.
import { createServer } from "node:http";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync, existsSync } from "node:fs";
import { extname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import anchor from "@coral-xyz/anchor";
import { Keypair, PublicKey, Transaction } from "@solana/web3.js";

const { BorshCoder, BN } = anchor;
const here = fileURLToPath(new URL(".", import.meta.url));
const idl = JSON.parse(readFileSync(join(here, "../../../idl/gpu_market.json"), "utf8"));
const coder = new BorshCoder(idl);
const PROGRAM = new PublicKey(idl.address);
const TOKEN_PROGRAM = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA";
const ATA_PROGRAM = new PublicKey("ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL");
const FEE_BPS = 250;
const STEP_MS = 700;

const sha256 = (b) => createHash("sha256").update(b).digest("hex");
const key = () => Keypair.generate().publicKey.toBase58();
const ata = (owner, mint) =>
  PublicKey.findProgramAddressSync(
    [new PublicKey(owner).toBuffer(), new PublicKey(TOKEN_PROGRAM).toBuffer(), new PublicKey(mint).toBuffer()],
    ATA_PROGRAM,
  )[0].toBase58();

function multiply(kind, m, n, k, a, b) {
  const av = kind === "gemm-i8" ? Int8Array.from(a, (x) => (x << 24) >> 24) : new Float32Array(a.buffer, a.byteOffset, a.length / 4);
  const bv = kind === "gemm-i8" ? Int8Array.from(b, (x) => (x << 24) >> 24) : new Float32Array(b.buffer, b.byteOffset, b.length / 4);
  const out = Buffer.alloc(m * n * 4);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let t = 0; t < k; t++) s += av[i * k + t] * bv[t * n + j];
      if (kind === "gemm-i8") out.writeInt32LE(s, 4 * (i * n + j));
      else out.writeFloatLE(s, 4 * (i * n + j));
    }
  return out;
}

/** The mock market: providers, jobs (JobSummary), events, blobs. */
function market() {
  const now = () => Math.floor(Date.now() / 1000);
  const start = now() - 3600;
  const m = {
    key: key(),
    paymentMint: key(),
    stakeMint: key(),
    vault: key(),
    totals: { jobs_posted: 0, jobs_completed: 0, jobs_expired: 0, jobs_refunded: 0, jobs_cancelled: 0, gpu_ms_sold: 0, volume_paid: 0, fees_collected: 0, slashed: 0 },
    providers: [],
    jobs: new Map(),
    events: [],
    blobs: new Map(),
    verifications: new Map(),
    signatures: new Map(),
    now,
  };
  const models = ["NVIDIA H200", "NVIDIA A100-SXM4-80GB", "CPU (8 threads)"];
  for (let i = 0; i < 3; i++) {
    m.providers.push({
      provider: key(),
      owner: key(),
      gpu_model: models[i],
      gpu_count: i === 0 ? 8 : 1,
      registered_at: start + i * 60,
      last_heartbeat: start,
      completed: 0,
      expired: 0,
      disputes_lost: 0,
      gpu_ms: 0,
      revenue: 0,
      slashed: 0,
      reputation_score: 5_000,
      stake: 50_000_000 * (i + 1),
      active_jobs: 0,
    });
  }
  m.event = (name, data, t = now()) => {
    const e = { id: m.events.length + 1, signature: anchor.utils.bytes.bs58.encode(randomBytes(64)), slot: 1000 + m.events.length * 3, block_time: t, name, data };
    m.events.push(e);
    return e;
  };
  // History: a dozen jobs, most finalized, one expired (slashed), one refunded, a dispute lost, some live.
  const fates = ["finalized", "finalized", "finalized", "finalized", "finalized", "slashed", "finalized", "refunded", "finalized", "submitted", "claimed", "open"];
  fates.forEach((fate, i) => {
    const t = start + 120 + i * 240;
    const p = m.providers[i % 3];
    const j = {
      job: key(), buyer: key(), provider: null, state: "open", workload: i % 2 ? "gemm-f32" : "gemm-i8", price: 1_000_000 + i * 1_000,
      posted_at: t, deadline: t + 600, submitted_at: null, result_root: null, gpu_ms: 0, spec_uri: `mock://blobs/${sha256(String(i))}`,
      result_uri: null, settled: false,
    };
    m.jobs.set(j.job, j);
    m.totals.jobs_posted++;
    m.event("JobPosted", { job: j.job, buyer: j.buyer, price: j.price, deadline: j.deadline }, t);
    if (fate === "open") return;
    if (fate === "refunded") {
      Object.assign(j, { state: "refunded", settled: true });
      m.totals.jobs_refunded++;
      m.event("JobRefunded", { job: j.job, amount: j.price }, t + 400);
      return;
    }
    Object.assign(j, { provider: p.provider, state: "claimed" });
    p.active_jobs++;
    m.event("JobClaimed", { job: j.job, provider: p.provider, bond: 100_000 }, t + 20);
    if (fate === "claimed") return;
    if (fate === "slashed") {
      Object.assign(j, { state: "slashed", settled: true });
      p.active_jobs--;
      p.expired++;
      p.slashed += 100_000;
      m.totals.jobs_expired++;
      m.totals.slashed += 100_000;
      m.event("ProviderSlashed", { job: j.job, provider: p.provider, amount: 100_000 }, t + 601);
      return;
    }
    const gpuMs = 1_000 + i * 137;
    Object.assign(j, { state: "submitted", submitted_at: t + 60, result_root: sha256(`root${i}`), gpu_ms: gpuMs, result_uri: `mock://blobs/${sha256(`r${i}`)}` });
    m.event("JobSubmitted", { job: j.job, provider: p.provider, result_root: j.result_root, gpu_ms: gpuMs }, t + 60);
    if (fate === "submitted") return;
    finalize(m, j, p, t + 90);
  });
  m.providers[2].disputes_lost = 1;
  m.verifications.set([...m.jobs.values()][0].job, { status: "correct", detail: "the output is the committed one and passes Freivalds' test" });
  return m;
}

function finalize(m, j, p, t) {
  const fee = Math.floor((j.price * FEE_BPS) / 10_000);
  Object.assign(j, { state: "finalized", settled: true });
  p.active_jobs--;
  p.completed++;
  p.gpu_ms += j.gpu_ms;
  p.revenue += j.price - fee;
  p.last_heartbeat = t;
  m.totals.jobs_completed++;
  m.totals.gpu_ms_sold += j.gpu_ms;
  m.totals.volume_paid += j.price - fee;
  m.totals.fees_collected += fee;
  m.event("JobFinalized", { job: j.job, provider: p.provider, paid: j.price - fee, fee }, t);
}

/** audit::stats over the mock market, the same formulas (workers/client/src/audit.rs). */
function stats(m) {
  const now = m.now();
  const cap = (p) => Math.max(0, now - p.registered_at) * 1000 * Math.max(1, p.gpu_count);
  const providers = m.providers.map((p) => ({
    provider: p.provider, owner: p.owner, gpu_model: p.gpu_model, gpu_count: p.gpu_count, completed: p.completed, expired: p.expired,
    disputes_lost: p.disputes_lost, gpu_hours: p.gpu_ms / 3_600_000, revenue: p.revenue, slashed: p.slashed,
    utilization: cap(p) === 0 ? 0 : p.gpu_ms / cap(p), reputation_score: p.reputation_score, stake: p.stake, active_jobs: p.active_jobs,
    seconds_since_heartbeat: now - p.last_heartbeat,
  }));
  const t = m.totals;
  const ended = t.jobs_completed + t.jobs_expired;
  const served = m.providers.reduce((s, p) => s + p.gpu_ms, 0);
  const capacity = m.providers.reduce((s, p) => s + cap(p), 0);
  return {
    market: m.key, unix_timestamp: now, providers, jobs_posted: t.jobs_posted, jobs_completed: t.jobs_completed, jobs_expired: t.jobs_expired,
    jobs_refunded: t.jobs_refunded, jobs_cancelled: t.jobs_cancelled, jobs_live: [...m.jobs.values()].filter((j) => !j.settled).length,
    gpu_hours_sold: t.gpu_ms_sold / 3_600_000, volume_paid: t.volume_paid, fees_collected: t.fees_collected, slashed: t.slashed,
    jobs_disputed: 0, jobs_slashed: 0, disputes_open: 0,
    completion_rate: ended ? t.jobs_completed / ended : 0, expiry_rate: ended ? t.jobs_expired / ended : 0,
    utilization: capacity === 0 ? 0 : served / capacity,
    segmented_jobs: [],
  };
}

function series(m, bucket, kind) {
  const now = m.now();
  const first = Math.min(...m.events.map((e) => e.block_time));
  const from = first - (first % bucket);
  const points = [];
  let sold = 0;
  const counts = { JobPosted: "posted", JobClaimed: "claimed", JobSubmitted: "submitted", JobFinalized: "finalized", ProviderSlashed: "expired", JobRefunded: "refunded", JobCancelled: "cancelled", JobChallenged: "disputed" };
  for (let t = from; t <= now; t += bucket) {
    const inBucket = m.events.filter((e) => e.block_time >= t && e.block_time < t + bucket);
    if (kind === "jobs") {
      const p = { t, posted: 0, claimed: 0, submitted: 0, finalized: 0, expired: 0, refunded: 0, cancelled: 0, disputed: 0 };
      for (const e of inBucket) if (counts[e.name]) p[counts[e.name]]++;
      points.push(p);
    } else {
      for (const e of inBucket) if (e.name === "JobSubmitted") sold += e.data.gpu_ms / 1000;
      const capacity = m.providers.reduce((s, p) => s + (t + bucket > p.registered_at ? bucket * p.gpu_count : 0), 0);
      const s = inBucket.filter((e) => e.name === "JobSubmitted").reduce((x, e) => x + e.data.gpu_ms / 1000, 0);
      points.push({ t, gpu_seconds_sold: s, gpu_seconds_capacity: capacity, utilization: capacity ? s / capacity : 0 });
    }
  }
  return points;
}

function earnings(m) {
  return m.providers.map((p) => {
    let total = 0;
    const points = m.events
      .filter((e) => e.name === "JobFinalized" && e.data.provider === p.provider)
      .map((e) => ({ t: e.block_time, cumulative_revenue: (total += e.data.paid) }));
    return { provider: p.provider, points };
  });
}

class HttpError extends Error {
  constructor(status, error, message) {
    super(message);
    this.status = status;
    this.error = error;
  }
}

function base58(v, name) {
  try {
    return new PublicKey(v).toBase58();
  } catch {
    throw new HttpError(400, "bad_param", `${name}: ${JSON.stringify(v)} is not a base58 public key`);
  }
}

function jobPostJson(m, body) {
  const buyer = base58(body.buyer, "buyer");
  const kind = body.workload;
  if (kind !== "gemm-i8" && kind !== "gemm-f32") throw new HttpError(400, "bad_param", `workload: ${kind} is not gemm-i8 or gemm-f32`);
  const e = kind === "gemm-i8" ? 1 : 4;
  const blob = (uri, name, len) => {
    const sha = /([0-9a-f]{64})$/.exec(uri ?? "")?.[1];
    const b = sha && m.blobs.get(sha);
    if (!b) throw new HttpError(400, "bad_param", `${name}: ${uri} is no blob of this store`);
    if (b.length !== len) throw new HttpError(400, "prepare_failed", `the inputs do not fit ${kind}: ${name} is ${b.length} bytes, ${len} expected`);
    return { sha, b };
  };
  const A = blob(body.a, "a", body.m * body.k * e);
  const B = blob(body.b, "b", body.k * body.n * e);
  const spec = Buffer.from(JSON.stringify({ version: 1, workload: { kind, m: body.m, n: body.n, k: body.k }, inputs: [
    { name: "a", uri: body.a, sha256: A.sha, len: A.b.length }, { name: "b", uri: body.b, sha256: B.sha, len: B.b.length }] }));
  const specSha = sha256(spec);
  m.blobs.set(specSha, spec);
  const nonce = body.nonce ?? Date.now() * 1000 + Math.floor(Math.random() * 1000);
  const le = Buffer.alloc(8);
  le.writeBigUInt64LE(BigInt(nonce));
  const job = PublicKey.findProgramAddressSync([Buffer.from("job"), new PublicKey(m.key).toBuffer(), new PublicKey(buyer).toBuffer(), le], PROGRAM)[0];
  const args = {
    nonce, workload: kind === "gemm-i8" ? 0 : 1, spec_hash: [...Buffer.from(specSha, "hex")], spec_uri: `mock://blobs/${specSha}`,
    requirements: { min_vram_mb: 0, min_compute_capability: 0, min_gpu_count: 0 }, price: body.price, deadline: m.now() + body.deadline_secs,
    gemm: { m: body.m, n: body.n, k: body.k, a_root: [...Buffer.from(A.sha, "hex")], b_root: [...Buffer.from(B.sha, "hex")] },
    max_escrow: body.price + 1_000,
  };
  const accounts = {
    buyer, market: m.key, job: job.toBase58(), buyer_payment_account: ata(buyer, m.paymentMint), buyer_stake_account: ata(buyer, m.stakeMint),
    payment_vault: m.vault, token_program: TOKEN_PROGRAM, system_program: "11111111111111111111111111111111",
  };
  const ixDef = idl.instructions.find((i) => i.name === "job_post");
  const data = coder.instruction.encode("job_post", {
    args: { ...args, nonce: new BN(nonce), price: new BN(args.price), deadline: new BN(args.deadline), max_escrow: new BN(args.max_escrow) },
  });
  const own = {
    program_id: ATA_PROGRAM.toBase58(),
    accounts: [buyer, accounts.buyer_stake_account, buyer, m.stakeMint, "11111111111111111111111111111111", TOKEN_PROGRAM].map((k, i) => ({
      pubkey: k, is_signer: i === 0, is_writable: i < 2,
    })),
    data: Buffer.from([1]).toString("base64"),
  };
  const post = {
    program_id: PROGRAM.toBase58(),
    accounts: ixDef.accounts.map((a) => ({ pubkey: accounts[a.name], is_signer: !!a.signer, is_writable: !!a.writable })),
    data: data.toString("base64"),
  };
  return { job: job.toBase58(), spec_uri: args.spec_uri, spec_hash: specSha, args, accounts, instructions: [own, post] };
}

/** The RPC's sendTransaction: verify, decode job_post, then play the job's life. */
function acceptTransaction(m, b64) {
  const tx = Transaction.from(Buffer.from(b64, "base64"));
  if (!tx.verifySignatures()) throw new Error("signature verification failed");
  const ix = tx.instructions.find((i) => i.programId.equals(PROGRAM));
  const decoded = ix && coder.instruction.decode(ix.data);
  if (!decoded || decoded.name !== "job_post") throw new Error("no job_post instruction");
  const a = decoded.data.args;
  const names = idl.instructions.find((i) => i.name === "job_post").accounts.map((x) => x.name);
  const acc = Object.fromEntries(names.map((n, i) => [n, ix.keys[i].pubkey.toBase58()]));
  const specSha = Buffer.from(a.spec_hash).toString("hex");
  const spec = JSON.parse(m.blobs.get(specSha).toString());
  const signature = anchor.utils.bytes.bs58.encode(tx.signature);
  const t = m.now();
  const j = {
    job: acc.job, buyer: acc.buyer, provider: null, state: "open", workload: spec.workload.kind, price: a.price.toNumber(), posted_at: t,
    deadline: a.deadline.toNumber(), submitted_at: null, result_root: null, gpu_ms: 0, spec_uri: a.spec_uri, result_uri: null, settled: false,
  };
  m.jobs.set(j.job, j);
  m.totals.jobs_posted++;
  m.signatures.set(signature, { slot: 5000 + m.events.length, confirmationStatus: "confirmed", err: null, confirmations: 1 });
  const e = m.event("JobPosted", { job: j.job, buyer: j.buyer, price: j.price, deadline: j.deadline });
  e.signature = signature;
  const p = m.providers[0];
  setTimeout(() => {
    Object.assign(j, { provider: p.provider, state: "claimed" });
    p.active_jobs++;
    m.event("JobClaimed", { job: j.job, provider: p.provider, bond: 100_000 });
  }, STEP_MS);
  setTimeout(() => {
    const { m: mm, n, k } = spec.workload;
    const [A, B] = spec.inputs.map((x) => m.blobs.get(x.sha256));
    const c = multiply(spec.workload.kind, mm, n, k, A, B);
    const sha = sha256(c);
    m.blobs.set(sha, c);
    Object.assign(j, { state: "submitted", submitted_at: m.now(), result_root: sha256(Buffer.concat([Buffer.from("root"), c])), gpu_ms: 42, result_uri: `mock://blobs/${sha}`, spec });
    m.event("JobSubmitted", { job: j.job, provider: p.provider, result_root: j.result_root, gpu_ms: 42 });
  }, 2 * STEP_MS);
  setTimeout(() => finalize(m, j, p, m.now()), 3 * STEP_MS);
  return signature;
}

function rpc(m, req) {
  const ok = (result) => ({ jsonrpc: "2.0", id: req.id, result });
  const slot = 5000 + m.events.length;
  switch (req.method) {
    case "getLatestBlockhash":
      return ok({ context: { slot }, value: { blockhash: Keypair.generate().publicKey.toBase58(), lastValidBlockHeight: slot + 150 } });
    case "sendTransaction":
      try {
        return ok(acceptTransaction(m, req.params[0]));
      } catch (e) {
        return { jsonrpc: "2.0", id: req.id, error: { code: -32002, message: `Transaction simulation failed: ${e.message}` } };
      }
    case "getSignatureStatuses":
      return ok({ context: { slot }, value: req.params[0].map((s) => m.signatures.get(s) ?? null) });
    case "getSlot":
      return ok(slot);
    case "getVersion":
      return ok({ "solana-core": "mock", "feature-set": 0 });
    default:
      return { jsonrpc: "2.0", id: req.id, error: { code: -32601, message: `Method not found: ${req.method}` } };
  }
}

function route(m, method, path, q, body, base) {
  const s = stats(m);
  const provider = (pk) => {
    base58(pk, "pubkey");
    const p = s.providers.find((x) => x.provider === pk);
    if (!p) throw new HttpError(404, "unknown_provider", `no provider ${pk} in this market`);
    return p;
  };
  const job = (pk) => {
    base58(pk, "pubkey");
    const j = m.jobs.get(pk);
    if (!j) throw new HttpError(404, "unknown_job", `no job ${pk} in this market's accounts or history`);
    return j;
  };
  const summary = (j) => {
    const { spec: _spec, ...rest } = j;
    return rest;
  };
  const jobs = () => [...m.jobs.values()].sort((a, b) => b.posted_at - a.posted_at).map(summary);
  let r;
  if (method === "GET" && path === "/api/config")
    return { rpc_url: `${base}/rpc`, ws_url: base.replace("http", "ws") + "/rpc", program_id: idl.address, market: m.key, payment_mint: m.paymentMint,
      stake_mint: m.stakeMint, payment_decimals: 6, stake_decimals: 6, cluster: "localnet", blob_store: "mock://blobs", idl_url: "/api/idl" };
  if (method === "GET" && path === "/api/idl") return idl;
  if (method === "GET" && path === "/api/stats") return s;
  if (method === "GET" && path === "/api/providers") return { unix_timestamp: s.unix_timestamp, providers: s.providers };
  if (method === "GET" && (r = /^\/api\/providers\/([^/]+)$/.exec(path))) {
    const p = provider(r[1]);
    const raw = m.providers.find((x) => x.provider === r[1]);
    return { provider: p, account: { owner: raw.owner, stake: raw.stake, registered_at: raw.registered_at, gpu: { model: raw.gpu_model, count: raw.gpu_count },
      reputation: { completed: raw.completed, expired: raw.expired, disputes_lost: raw.disputes_lost, gpu_ms: raw.gpu_ms, earnings: raw.revenue, slashed: raw.slashed, score: raw.reputation_score } },
      jobs: jobs().filter((j) => j.provider === r[1]), events: m.events.filter((e) => e.data.provider === r[1]).reverse() };
  }
  if (method === "GET" && path === "/api/jobs") {
    const st = q.get("state");
    return { jobs: jobs().filter((j) => !st || j.state === st).slice(0, Number(q.get("limit") ?? 100)) };
  }
  if (method === "POST" && path === "/api/jobs/prepare") return jobPostJson(m, JSON.parse(body.toString()));
  if ((r = /^\/api\/jobs\/([^/]+)(\/verify|\/result)?$/.exec(path))) {
    const j = job(r[1]);
    const check = () => {
      if (!j.spec) return m.verifications.get(j.job) ?? { status: "unavailable", detail: `job ${j.job}'s inputs are not in this mock` };
      const [A, B] = j.spec.inputs.map((x) => m.blobs.get(x.sha256));
      const want = multiply(j.workload, j.spec.workload.m, j.spec.workload.n, j.spec.workload.k, A, B);
      const got = m.blobs.get(j.result_uri.slice(-64));
      return want.equals(got) ? { status: "correct", detail: "the output is the committed one and passes Freivalds' test" } : { status: "wrong", detail: "C differs" };
    };
    if (method === "POST" && r[2] === "/verify") {
      const v = j.result_uri ? check() : { status: "unavailable", detail: `job ${j.job} has no submitted result yet` };
      m.verifications.set(j.job, v);
      return v;
    }
    if (method === "GET" && r[2] === "/result") {
      const b = j.result_uri && m.blobs.get(j.result_uri.slice(-64));
      if (!b) throw new HttpError(404, "no_result", `job ${j.job} has no result held by this store`);
      return b;
    }
    if (method === "GET" && !r[2])
      return { job: summary(j), account: j.settled ? null : { state: j.state, price: j.price, buyer: j.buyer }, timeline: m.events.filter((e) => e.data.job === j.job)
        .map((e) => ({ id: e.id, signature: e.signature, slot: e.slot, block_time: e.block_time, event: e.name, data: e.data })),
        verification: m.verifications.get(j.job) ?? { status: "unchecked", detail: "not checked yet: POST /api/jobs/<job>/verify" }, segments: null };
  }
  if (method === "GET" && path === "/api/series/utilization") return { bucket: Number(q.get("bucket") ?? 60), points: series(m, Number(q.get("bucket") ?? 60), "util") };
  if (method === "GET" && path === "/api/series/jobs") return { bucket: Number(q.get("bucket") ?? 60), points: series(m, Number(q.get("bucket") ?? 60), "jobs") };
  if (method === "GET" && path === "/api/series/earnings") return { providers: earnings(m) };
  if (method === "GET" && path === "/api/events") {
    const after = Number(q.get("after") ?? 0);
    const limit = Number(q.get("limit") ?? 100);
    const events = m.events.filter((e) => e.id > after).slice(0, limit);
    return { events, last_id: events.length ? events[events.length - 1].id : after };
  }
  if (method === "GET" && path === "/api/history")
    return { backfilled_until_slot: 1000, last_signature: m.events.at(-1)?.signature ?? null, events_stored: m.events.length, transactions_stored: m.events.length, following: true };
  if (method === "POST" && path === "/api/blobs") {
    const sha = sha256(body);
    m.blobs.set(sha, Buffer.from(body));
    return { uri: `mock://blobs/${sha}`, sha256: sha, len: body.length };
  }
  if (method === "GET" && (r = /^\/api\/blobs\/([0-9a-f]{64})$/.exec(path))) {
    const b = m.blobs.get(r[1]);
    if (!b) throw new HttpError(404, "unknown_blob", `no blob ${r[1]}`);
    return b;
  }
  throw new HttpError(404, "unknown_route", `no route ${method} ${path}`);
}

const TYPES = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".png": "image/png", ".svg": "image/svg+xml" };

export function startMock({ port = 0, dist = join(here, "../dist") } = {}) {
  const m = market();
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const url = new URL(req.url, "http://x");
      const base = `http://${req.headers.host}`;
      res.setHeader("Access-Control-Allow-Origin", "*");
      res.setHeader("Access-Control-Allow-Headers", "content-type, solana-client");
      if (req.method === "OPTIONS") return res.writeHead(204).end();
      try {
        if (url.pathname === "/rpc") {
          const out = rpc(m, JSON.parse(body.toString()));
          return res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(out));
        }
        if (url.pathname.startsWith("/api")) {
          const out = route(m, req.method, url.pathname, url.searchParams, body, base);
          if (Buffer.isBuffer(out)) return res.writeHead(200, { "Content-Type": "application/octet-stream" }).end(out);
          return res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(out));
        }
        const file = resolve(dist, `.${url.pathname === "/" ? "/index.html" : url.pathname}`);
        if (!file.startsWith(resolve(dist)) || !existsSync(file)) return res.writeHead(404).end("not found");
        res.writeHead(200, { "Content-Type": TYPES[extname(file)] ?? "application/octet-stream" }).end(readFileSync(file));
      } catch (e) {
        const status = e instanceof HttpError ? e.status : 500;
        res.writeHead(status, { "Content-Type": "application/json" }).end(JSON.stringify({ error: e.error ?? "internal", message: e.message }));
      }
    });
  });
  return new Promise((ok) =>
    server.listen(port, "127.0.0.1", () => {
      const url = `http://127.0.0.1:${server.address().port}`;
      ok({ url, stats: () => stats(m), stop: () => new Promise((done) => server.close(done)) });
    }),
  );
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const arg = (name, dflt) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : dflt;
  };
  const mock = await startMock({ port: Number(arg("--port", 7070)), dist: resolve(arg("--dist", join(here, "../dist"))) });
  console.log(`mock dashboard at ${mock.url}`);
}
