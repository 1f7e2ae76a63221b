// job_post built from the IDL as the page builds it, against a hand-written
// Borsh layout, and the checks that keep the page from signing what a lying
// dashboard proposes (another buyer, another job address, another price, an
// extra instruction, a wallet that swaps the transaction).
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { Keypair, PublicKey, SystemProgram, Transaction } from "@solana/web3.js";
import type { Idl } from "@coral-xyz/anchor";
import type { Prepared, PrepareRequest } from "../src/api";
import { ATA_PROGRAM, buildJobPost, checkSigned, confirm, fromJson, JobPostError, unsignedTransaction } from "../src/jobpost";

const idl = JSON.parse(readFileSync(new URL("../../../idl/gpu_market.json", import.meta.url), "utf8")) as Idl;
const programId = new PublicKey(idl.address);
const market = Keypair.generate().publicKey;
const buyer = Keypair.generate();
const pay = Keypair.generate().publicKey;
const stakeAta = Keypair.generate().publicKey;
const vault = Keypair.generate().publicKey;
const nonce = 1_733_000_000_123n;

function jobPda(m = market, b = buyer.publicKey, n = nonce): PublicKey {
  const le = Buffer.alloc(8);
  le.writeBigUInt64LE(n);
  return PublicKey.findProgramAddressSync([Buffer.from("job"), m.toBuffer(), b.toBuffer(), le], programId)[0];
}

const request: PrepareRequest = {
  workload: "gemm-i8",
  m: 16,
  n: 8,
  k: 4,
  a: "file:///store/aa",
  b: "file:///store/bb",
  price: 1_000_000,
  deadline_secs: 300,
  buyer: buyer.publicKey.toBase58(),
};

/** What the dashboard's prepare answers (app/dashboard/src/api.rs), numbers and byte arrays as JSON. */
function prepared(over: Partial<Record<string, unknown>> = {}, accounts: Record<string, string> = {}): Prepared {
  return {
    spec_uri: "file:///store/spec",
    spec_hash: "00".repeat(32),
    args: {
      nonce: Number(nonce),
      workload: 0,
      spec_hash: Array.from({ length: 32 }, (_, i) => i),
      spec_uri: "file:///store/spec",
      requirements: { min_vram_mb: 0, min_compute_capability: 0, min_gpu_count: 0 },
      price: 1_000_000,
      deadline: 1_800_000_000,
      gemm: { m: 16, n: 8, k: 4, a_root: Array(32).fill(0xaa), b_root: "bb".repeat(32) },
      max_escrow: 1_001_000,
      ...over,
    },
    accounts: {
      buyer: buyer.publicKey.toBase58(),
      market: market.toBase58(),
      job: jobPda().toBase58(),
      buyer_payment_account: pay.toBase58(),
      buyer_stake_account: stakeAta.toBase58(),
      payment_vault: vault.toBase58(),
      token_program: "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA",
      system_program: "11111111111111111111111111111111",
      ...accounts,
    },
  };
}

const expect_ = { buyer: buyer.publicKey.toBase58(), market: market.toBase58(), programId: idl.address, request };

function le(n: bigint | number, bytes: number): number[] {
  const out: number[] = [];
  let v = BigInt(n);
  for (let i = 0; i < bytes; i++) {
    out.push(Number(v & 0xffn));
    v >>= 8n;
  }
  return out;
}

describe("buildJobPost", () => {
  it("encodes job_post as the program's Borsh layout", () => {
    const built = buildJobPost(idl, prepared(), expect_);
    const uri = Buffer.from("file:///store/spec");
    const want = [
      ...((idl.instructions.find((i) => i.name === "job_post") as { discriminator: number[] }).discriminator),
      ...le(nonce, 8),
      0,
      ...Array.from({ length: 32 }, (_, i) => i),
      ...le(uri.length, 4),
      ...uri,
      ...le(0, 4),
      ...le(0, 2),
      ...le(0, 2),
      ...le(1_000_000, 8),
      ...le(1_800_000_000, 8),
      1, // Some(gemm)
      ...le(16, 4),
      ...le(8, 4),
      ...le(4, 4),
      ...Array(32).fill(0xaa),
      ...Array(32).fill(0xbb),
      ...le(1_001_000, 8),
    ];
    expect([...built.instruction.data]).toEqual(want);
    expect(built.instruction.programId.equals(programId)).toBe(true);
    expect(built.job.equals(jobPda())).toBe(true);
    expect(built.args).toMatchObject({ price: "1000000", max_escrow: "1001000", nonce: nonce.toString() });
    // Accounts in the IDL's order with its flags: the buyer signs and pays.
    const keys = built.instruction.keys;
    expect(keys.map((k) => k.pubkey.toBase58())).toEqual(Object.values(prepared().accounts));
    expect(keys[0]).toMatchObject({ isSigner: true, isWritable: true });
    expect(keys.filter((k) => k.isSigner)).toHaveLength(1);
    expect(built.instructions).toEqual([built.instruction]);
  });

  it("accepts the nested form {args: {...}} too", () => {
    const p = prepared();
    const nested = { ...p, args: { args: p.args } };
    expect([...buildJobPost(idl, nested, expect_).instruction.data]).toEqual([...buildJobPost(idl, p, expect_).instruction.data]);
  });

  it("refuses a job address that is not the PDA of (market, buyer, nonce)", () => {
    const other = jobPda(market, buyer.publicKey, nonce + 1n).toBase58();
    expect(() => buildJobPost(idl, prepared({}, { job: other }), expect_)).toThrow(/not the PDA/);
  });

  it("refuses another buyer, another market, another price or shape", () => {
    const mallory = Keypair.generate().publicKey.toBase58();
    expect(() => buildJobPost(idl, prepared({}, { buyer: mallory }), expect_)).toThrow(/not the connected wallet/);
    expect(() => buildJobPost(idl, prepared({}, { market: mallory }), expect_)).toThrow(/not the dashboard's market/);
    expect(() => buildJobPost(idl, prepared({ price: 9_000_000 }), expect_)).toThrow(/price 9000000 is not the 1000000/);
    expect(() =>
      buildJobPost(idl, prepared({ gemm: { m: 16, n: 8, k: 5, a_root: "aa".repeat(32), b_root: "bb".repeat(32) } }), expect_),
    ).toThrow(/shape 16x8x5/);
    expect(() => buildJobPost(idl, prepared(), { ...expect_, programId: mallory })).toThrow(/IDL is for program/);
  });

  it("refuses a fixed-address account the server changed", () => {
    const evil = Keypair.generate().publicKey.toBase58();
    expect(() => buildJobPost(idl, prepared({}, { token_program: evil }), expect_)).toThrow(/token_program must be/);
  });

  it("names the field of a malformed argument", () => {
    expect(() => buildJobPost(idl, prepared({ spec_hash: [1, 2, 3] }), expect_)).toThrow(/args.spec_hash: expected 32 bytes, got 3/);
    expect(() => buildJobPost(idl, prepared({ price: 1.5 }), expect_)).toThrow(/args.price: expected an integer/);
    expect(() => buildJobPost(idl, prepared({ requirements: undefined }), expect_)).toThrow(/args.requirements/);
    expect(() => buildJobPost(idl, prepared({}, { payment_vault: "not base58!" }), expect_)).toThrow(JobPostError);
  });

  it("converts u64 beyond 2^53 from strings exactly", () => {
    const v = fromJson(idl, "u64", "18446744073709551615", "x") as { toString(): string };
    expect(v.toString()).toBe("18446744073709551615");
    expect(() => fromJson(idl, "u64", 2 ** 60 + 0.5, "x")).toThrow(JobPostError);
  });
});

describe("prepare's other instructions", () => {
  const base = prepared();
  const built = buildJobPost(idl, base, expect_);
  const asJson = (ix: { programId: PublicKey; keys: { pubkey: PublicKey; isSigner: boolean; isWritable: boolean }[]; data: Buffer }) => ({
    program_id: ix.programId.toBase58(),
    accounts: ix.keys.map((k) => ({ pubkey: k.pubkey.toBase58(), is_signer: k.isSigner, is_writable: k.isWritable })),
    data: Buffer.from(ix.data).toString("base64"),
  });
  const ata = {
    program_id: ATA_PROGRAM,
    accounts: [buyer.publicKey, stakeAta, buyer.publicKey, Keypair.generate().publicKey].map((k, i) => ({
      pubkey: k.toBase58(),
      is_signer: i === 0,
      is_writable: i < 2,
    })),
    data: Buffer.from([1]).toString("base64"),
  };

  it("keeps the buyer's own token account creation before job_post", () => {
    const b = buildJobPost(idl, { ...base, instructions: [ata, asJson(built.instruction)] }, expect_);
    expect(b.instructions.map((i) => i.programId.toBase58())).toEqual([ATA_PROGRAM, idl.address]);
  });

  it("refuses any other instruction, e.g. a transfer of the buyer's SOL", () => {
    const transfer = SystemProgram.transfer({ fromPubkey: buyer.publicKey, toPubkey: market, lamports: 10 ** 9 });
    expect(() => buildJobPost(idl, { ...base, instructions: [asJson(transfer), asJson(built.instruction)] }, expect_)).toThrow(
      /not one the page signs/,
    );
    const forOther = { ...ata, accounts: ata.accounts.map((a, i) => (i === 2 ? { ...a, pubkey: market.toBase58() } : a)) };
    expect(() => buildJobPost(idl, { ...base, instructions: [forOther, asJson(built.instruction)] }, expect_)).toThrow(
      /not one the page signs/,
    );
  });

  it("refuses a server job_post that differs from the page's", () => {
    const changed = asJson(built.instruction);
    const data = Buffer.from(changed.data, "base64");
    data[data.length - 1] ^= 1;
    expect(() =>
      buildJobPost(idl, { ...base, instructions: [{ ...changed, data: data.toString("base64") }] }, expect_),
    ).toThrow(/differs/);
    expect(() => buildJobPost(idl, { ...base, instructions: [ata] }, expect_)).toThrow(/no job_post/);
  });
});

describe("checkSigned", () => {
  const built = buildJobPost(idl, prepared(), expect_);
  const blockhash = Keypair.generate().publicKey.toBase58();
  const sign = (ixs = built.instructions, signer = buyer) => {
    const tx = Transaction.from(unsignedTransaction(ixs, buyer.publicKey, blockhash));
    tx.partialSign(signer);
    return tx.serialize({ requireAllSignatures: false });
  };

  it("accepts the buyer's signature over the job_post it was given", () => {
    expect(() => checkSigned(sign(), built.instruction, buyer.publicKey)).not.toThrow();
  });

  it("refuses a wallet that swapped the instruction or did not sign", () => {
    const other = buildJobPost(idl, prepared({ max_escrow: 5 }), expect_).instruction;
    expect(() => checkSigned(sign([other]), built.instruction, buyer.publicKey)).toThrow(/no longer carries/);
    const unsigned = unsignedTransaction(built.instructions, buyer.publicKey, blockhash);
    expect(() => checkSigned(unsigned, built.instruction, buyer.publicKey)).toThrow(/did not sign/);
    expect(() => checkSigned(new Uint8Array([1, 2, 3]), built.instruction, buyer.publicKey)).toThrow(/does not decode/);
  });

  it("refuses a signature that does not verify", () => {
    const bytes = sign();
    bytes[1] ^= 0xff; // inside the first signature
    expect(() => checkSigned(bytes, built.instruction, buyer.publicKey)).toThrow(/does not verify/);
  });
});

describe("confirm", () => {
  it("returns once confirmed, after polling", async () => {
    const answers = [null, { err: null, confirmationStatus: "processed" }, { err: null, confirmationStatus: "confirmed" }];
    let calls = 0;
    await confirm(async () => answers[Math.min(calls++, 2)], "sig", 5_000, 1);
    expect(calls).toBe(3);
  });
  it("throws the transaction's error", async () => {
    await expect(confirm(async () => ({ err: { InstructionError: [0, { Custom: 6001 }] } }), "sig", 5_000, 1)).rejects.toThrow(
      /Custom":6001/,
    );
  });
  it("gives up after its timeout", async () => {
    await expect(confirm(async () => null, "sig", 5, 1)).rejects.toThrow(/not confirmed/);
  });
});
