// gpu-market scripted from JavaScript through its IDL alone: idl/gpu_market.json
// loaded into @coral-xyz/anchor's BorshCoder encodes a `job_post` instruction
// and decodes a Market account read from a node, the way a third party's
// client would, without the Rust SDK.
//
//   node idl.mjs [RPC_URL MARKET AUTHORITY]
//
// Without arguments only the offline checks run (the instruction's bytes, which
// tests/tests/idl.rs compares with the program's own encoding).
// With them the Market account at MARKET is fetched from RPC_URL (e.g. a
// `gpumkt localnet` after `gpumkt market create`), decoded, checked to name
// AUTHORITY as its authority, and re-encoded to the account's own bytes.
// Exits 0 when every check passes, 1 with the reason otherwise.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import anchor from "@coral-xyz/anchor";
import { Connection, PublicKey } from "@solana/web3.js";

const { BorshCoder, BN } = anchor;

const idl = JSON.parse(readFileSync(new URL("../../idl/gpu_market.json", import.meta.url), "utf8"));
const coder = new BorshCoder(idl);

function jobPost() {
  const specUri = "blob://spec";
  const args = {
    nonce: new BN(7),
    workload: 1,
    spec_hash: Array.from({ length: 32 }, (_, i) => i),
    spec_uri: specUri,
    requirements: { min_vram_mb: 8192, min_compute_capability: 80, min_gpu_count: 1 },
    price: new BN(1_000_000),
    deadline: new BN(1_800_000_000),
    gemm: null,
    max_escrow: new BN(2_000_000),
  };
  const data = coder.instruction.encode("job_post", { args });
  const ix = idl.instructions.find((i) => i.name === "job_post");
  assert.deepEqual([...data.subarray(0, 8)], ix.discriminator, "job_post starts with its IDL discriminator");
  // Borsh: discriminator, nonce u64, workload u8, spec_hash [u8; 32], spec_uri (u32 length
  // + bytes), requirements (u32 + u16 + u16), price u64, deadline i64, gemm None (one
  // byte), max_escrow u64.
  assert.equal(data.length, 8 + 8 + 1 + 32 + 4 + specUri.length + 8 + 8 + 8 + 1 + 8, "job_post's length");
  const decoded = coder.instruction.decode(data);
  assert.equal(decoded.name, "job_post");
  assert.equal(decoded.data.args.spec_uri, specUri);
  assert.equal(decoded.data.args.price.toString(), "1000000");
  assert.equal(decoded.data.args.requirements.min_vram_mb, 8192);
  console.log(`ok job_post encodes (${data.length} bytes) and decodes`);
  // tests/tests/idl.rs encodes the same arguments with the program's own types and
  // compares with this line.
  console.log(`job_post data ${data.toString("hex")}`);
}

async function market(rpcUrl, address, authority) {
  const connection = new Connection(rpcUrl, "confirmed");
  const account = await connection.getAccountInfo(new PublicKey(address));
  assert.ok(account, `no account at ${address}`);
  assert.equal(account.owner.toBase58(), idl.address, "the market is the program's account");
  const decoded = coder.accounts.decode("Market", account.data);
  assert.equal(decoded.authority.toBase58(), authority, "the decoded authority");
  assert.equal(decoded.paused, false);
  // Re-encoding gives back the account's bytes: every field was read where it lies.
  const encoded = await coder.accounts.encode("Market", decoded);
  assert.ok(encoded.length <= account.data.length, "the layout fits the account");
  assert.ok(encoded.equals(account.data.subarray(0, encoded.length)), "re-encoded Market matches the account");
  console.log(
    `ok Market decodes: authority ${decoded.authority.toBase58()}, fee ${decoded.params.fee_bps} bps, ` +
      `payment mint ${decoded.payment_mint.toBase58()}`,
  );
}

try {
  jobPost();
  const [rpcUrl, address, authority] = process.argv.slice(2);
  if (rpcUrl !== undefined) {
    assert.ok(address && authority, "usage: node idl.mjs [RPC_URL MARKET AUTHORITY]");
    await market(rpcUrl, address, authority);
  }
} catch (e) {
  console.error(`FAILED: ${e.stack ?? e}`);
  process.exit(1);
}
