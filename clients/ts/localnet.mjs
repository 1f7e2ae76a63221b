// gpu-market localnet as @solana/web3.js sees it: connect, subscribe to
// slots and logs, airdrop, send a transfer, and read it back with
// getTransaction, getParsedTransaction, getSignaturesForAddress and
// getBlockTime. web3.js checks every response against its own schema, so a
// shape the node gets wrong fails here.
//
//   node localnet.mjs [RPC_URL] [WS_URL]
//
// (defaults: http://127.0.0.1:8899 and the next port, as `gpumkt localnet`
// serves them). Exits 0 when every check passes, 1 with the reason otherwise.

import assert from "node:assert/strict";
import {
  Connection,
  Keypair,
  LAMPORTS_PER_SOL,
  PublicKey,
  SystemProgram,
  Transaction,
  sendAndConfirmTransaction,
} from "@solana/web3.js";

const rpcUrl = process.argv[2] ?? "http://127.0.0.1:8899";
const wsUrl = process.argv[3] ?? rpcUrl.replace(/^http/, "ws").replace(/:(\d+)$/, (_, p) => `:${Number(p) + 1}`);
const WAIT_MS = 20_000;

/** Resolves with the first value `subscribe` hands its callback that `accept` takes. */
function first(what, subscribe, accept = () => true) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), WAIT_MS);
    subscribe((value) => {
      if (accept(value)) {
        clearTimeout(timer);
        resolve(value);
      }
    });
  });
}

function check(name) {
  console.log(`ok ${name}`);
}

async function main() {
  const connection = new Connection(rpcUrl, { commitment: "confirmed", wsEndpoint: wsUrl });

  const version = await connection.getVersion();
  assert.match(version["solana-core"], /^\d+\./);
  check(`connect (${rpcUrl}, solana-core ${version["solana-core"]})`);

  // Slots: two notifications, each naming its parent.
  const slots = [];
  let slotListener;
  const twoSlots = first("two slot notifications", (cb) => {
    slotListener = connection.onSlotChange((info) => {
      slots.push(info);
      cb(slots.length);
    });
  }, (n) => n >= 2);
  await twoSlots;
  assert.ok(slots[0].parent < slots[0].slot && slots[0].slot < slots[1].slot, JSON.stringify(slots));
  await connection.removeSlotChangeListener(slotListener);
  check(`onSlotChange (slots ${slots[0].slot}, ${slots[1].slot})`);

  const payer = Keypair.generate();
  const to = Keypair.generate().publicKey;

  // Logs that mention the payer, and everything.
  let logsListener;
  let allListener;
  const heard = [];
  const mentioning = first("logs of the transfer", (cb) => {
    logsListener = connection.onLogs(payer.publicKey, (logs, ctx) => {
      heard.push(logs.signature);
      cb({ logs, ctx });
    });
  }, ({ logs }) => logs.logs.some((l) => l.includes("11111111111111111111111111111111 success")) && heard.length >= 2);
  const anything = first("any logs", (cb) => {
    allListener = connection.onLogs("all", (logs) => cb(logs));
  });

  const airdrop = await connection.requestAirdrop(payer.publicKey, 2 * LAMPORTS_PER_SOL);
  const latest = await connection.getLatestBlockhash();
  await connection.confirmTransaction({ signature: airdrop, ...latest });
  assert.equal(await connection.getBalance(payer.publicKey), 2 * LAMPORTS_PER_SOL);
  check("airdrop");

  const tx = new Transaction().add(
    SystemProgram.transfer({ fromPubkey: payer.publicKey, toPubkey: to, lamports: LAMPORTS_PER_SOL / 2 }),
  );
  const signature = await sendAndConfirmTransaction(connection, tx, [payer]);
  assert.equal(await connection.getBalance(to), LAMPORTS_PER_SOL / 2);
  check(`transfer ${signature}`);

  const got = await connection.getTransaction(signature, { maxSupportedTransactionVersion: 0 });
  assert.ok(got, "getTransaction found the transfer");
  assert.equal(got.version, "legacy");
  assert.equal(got.meta.err, null);
  assert.equal(got.meta.fee, 5000);
  assert.deepEqual(got.meta.preBalances.slice(0, 2), [2 * LAMPORTS_PER_SOL, 0]);
  assert.deepEqual(got.meta.postBalances.slice(0, 2), [1.5 * LAMPORTS_PER_SOL - 5000, LAMPORTS_PER_SOL / 2]);
  assert.ok(got.meta.logMessages.includes("Program 11111111111111111111111111111111 success"));
  const keys = got.transaction.message.staticAccountKeys.map((k) => k.toBase58());
  assert.deepEqual(keys.slice(0, 2), [payer.publicKey.toBase58(), to.toBase58()]);
  assert.equal(await connection.getBlockTime(got.slot), got.blockTime);
  check(`getTransaction (slot ${got.slot}, block time ${got.blockTime})`);

  const parsed = await connection.getParsedTransaction(signature, { maxSupportedTransactionVersion: 0 });
  const ix = parsed.transaction.message.instructions[0];
  assert.ok(ix.programId.equals(SystemProgram.programId));
  assert.ok(parsed.transaction.message.accountKeys[0].signer && parsed.transaction.message.accountKeys[0].writable);
  check("getParsedTransaction");

  const history = await connection.getSignaturesForAddress(payer.publicKey);
  assert.deepEqual(history.map((s) => s.signature), [signature, airdrop]);
  const page = await connection.getSignaturesForAddress(payer.publicKey, { before: signature, limit: 1 });
  assert.deepEqual(page.map((s) => s.signature), [airdrop]);
  check("getSignaturesForAddress");

  const fees = await connection.getRecentPrioritizationFees({ lockedWritableAccounts: [payer.publicKey] });
  assert.ok(fees.some((f) => f.slot === got.slot && f.prioritizationFee === 0), JSON.stringify(fees.slice(-3)));
  const rent = await connection.getMinimumBalanceForRentExemption(165);
  assert.ok(rent > 0);
  const [mine, nobody] = await connection.getMultipleAccountsInfo([payer.publicKey, new PublicKey(new Uint8Array(32).fill(7))]);
  assert.equal(mine.lamports, 1.5 * LAMPORTS_PER_SOL - 5000);
  assert.equal(nobody, null);
  check("getRecentPrioritizationFees, getMinimumBalanceForRentExemption, getMultipleAccountsInfo");

  const { logs, ctx } = await mentioning;
  assert.equal(logs.signature, signature);
  assert.equal(logs.err, null);
  assert.ok(ctx.slot > 0);
  assert.deepEqual(heard.slice(0, 2), [airdrop, signature]);
  const any = await anything;
  assert.equal(typeof any.signature, "string");
  await connection.removeOnLogsListener(logsListener);
  await connection.removeOnLogsListener(allListener);
  check("onLogs (mentions and all)");
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(`FAILED: ${e.stack ?? e}`);
    process.exit(1);
  },
);
