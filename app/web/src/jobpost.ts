// The buyer's job_post transaction, built in the page from the program's IDL
// (/api/idl) and what POST /api/jobs/prepare answered: arguments converted from
// JSON to the types the IDL names (u64 as BN, [u8; 32] from hex, pubkeys), the
// instruction encoded by @coral-xyz/anchor's BorshCoder, accounts ordered and
// flagged as the IDL lists them. The page does not take the API's word for what
// it signs: the buyer, market and program must be the page's own, the job
// address must be the PDA of (market, buyer, nonce), and the price and shape
// must be what the buyer asked for.
import { BN, BorshCoder, type Idl } from "@coral-xyz/anchor";
import { Buffer } from "buffer";
import { PublicKey, Transaction, TransactionInstruction } from "@solana/web3.js";
import type { InstructionJson, Prepared, PrepareRequest } from "./api";
import { hexToBytes } from "./format";

export class JobPostError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "JobPostError";
  }
}

type IdlType = unknown;
interface IdlField {
  name: string;
  type: IdlType;
}
interface IdlTypeDef {
  name: string;
  type: { kind: "struct"; fields?: IdlField[] } | { kind: "enum"; variants: { name: string; fields?: unknown[] }[] };
}
interface IdlAccountItem {
  name: string;
  writable?: boolean;
  signer?: boolean;
  address?: string;
  optional?: boolean;
}
interface IdlInstruction {
  name: string;
  discriminator: number[];
  accounts: IdlAccountItem[];
  args: IdlField[];
}

function bytesFrom(value: unknown, where: string): number[] {
  if (typeof value === "string") {
    try {
      return Array.from(hexToBytes(value));
    } catch {
      throw new JobPostError(`${where}: expected hex bytes, got ${JSON.stringify(value).slice(0, 80)}`);
    }
  }
  if (Array.isArray(value) && value.every((b) => Number.isInteger(b) && b >= 0 && b <= 255)) return value as number[];
  throw new JobPostError(`${where}: expected bytes (hex or an array of 0..255), got ${JSON.stringify(value).slice(0, 80)}`);
}

function intFrom(value: unknown, where: string): string {
  if (typeof value === "number" && Number.isSafeInteger(value)) return String(value);
  if (typeof value === "string" && /^-?\d+$/.test(value)) return value;
  throw new JobPostError(`${where}: expected an integer, got ${JSON.stringify(value)}`);
}

/** JSON `value` as the JS value BorshCoder expects for IDL type `ty`. */
export function fromJson(idl: Idl, ty: IdlType, value: unknown, where: string): unknown {
  if (typeof ty === "string") {
    switch (ty) {
      case "u8":
      case "i8":
      case "u16":
      case "i16":
      case "u32":
      case "i32":
        return Number(intFrom(value, where));
      case "u64":
      case "i64":
      case "u128":
      case "i128":
        return new BN(intFrom(value, where));
      case "bool":
        if (typeof value !== "boolean") throw new JobPostError(`${where}: expected a boolean`);
        return value;
      case "string":
        if (typeof value !== "string") throw new JobPostError(`${where}: expected a string`);
        return value;
      case "pubkey":
        try {
          return new PublicKey(value as string);
        } catch {
          throw new JobPostError(`${where}: not a base58 public key: ${JSON.stringify(value)}`);
        }
      case "bytes":
        return Buffer.from(bytesFrom(value, where));
      default:
        throw new JobPostError(`${where}: IDL type ${ty} is not supported here`);
    }
  }
  const t = ty as Record<string, unknown>;
  if ("option" in t) return value === null || value === undefined ? null : fromJson(idl, t.option, value, where);
  if ("array" in t || "vec" in t) {
    const inner = "array" in t ? (t.array as [IdlType, number])[0] : t.vec;
    if (inner === "u8") {
      const bytes = bytesFrom(value, where);
      if ("array" in t && bytes.length !== (t.array as [IdlType, number])[1]) {
        throw new JobPostError(`${where}: expected ${(t.array as [IdlType, number])[1]} bytes, got ${bytes.length}`);
      }
      return bytes;
    }
    if (!Array.isArray(value)) throw new JobPostError(`${where}: expected an array`);
    return value.map((v, i) => fromJson(idl, inner, v, `${where}[${i}]`));
  }
  if ("defined" in t) {
    const name = (t.defined as { name: string }).name;
    const def = (idl.types as IdlTypeDef[] | undefined)?.find((d) => d.name === name);
    if (!def) throw new JobPostError(`${where}: the IDL defines no type ${name}`);
    if (def.type.kind === "struct") {
      if (typeof value !== "object" || value === null) throw new JobPostError(`${where}: expected a ${name} object`);
      const obj = value as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      for (const f of def.type.fields ?? []) {
        if (!(f.name in obj) && !(typeof f.type === "object" && f.type !== null && "option" in f.type)) {
          throw new JobPostError(`${where}.${f.name}: missing`);
        }
        out[f.name] = fromJson(idl, f.type, obj[f.name], `${where}.${f.name}`);
      }
      return out;
    }
    // Unit-variant enums: "Name" or {"Name": {}}.
    const variant = typeof value === "string" ? value : Object.keys((value as object) ?? {})[0];
    if (!def.type.variants.some((v) => v.name === variant)) {
      throw new JobPostError(`${where}: ${JSON.stringify(value)} is no variant of ${name}`);
    }
    return { [variant as string]: {} };
  }
  throw new JobPostError(`${where}: IDL type ${JSON.stringify(ty)} is not supported here`);
}

function idlInstruction(idl: Idl, name: string): IdlInstruction {
  const ix = (idl.instructions as unknown as IdlInstruction[]).find((i) => i.name === name);
  if (!ix) throw new JobPostError(`the IDL has no instruction ${name}`);
  return ix;
}

/** prepare's `args`, whether it names the instruction's arguments ({args: {...}}) or the one struct's fields. */
function instructionArgs(ix: IdlInstruction, args: Record<string, unknown>): Record<string, unknown> {
  if (ix.args.every((a) => a.name in args)) return args;
  if (ix.args.length === 1) return { [ix.args[0].name]: args };
  throw new JobPostError(`prepare's args name none of ${ix.name}'s arguments (${ix.args.map((a) => a.name).join(", ")})`);
}

/** The associated token account program; its instruction 1 is CreateIdempotent. */
export const ATA_PROGRAM = "ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL";

export interface BuiltPost {
  /** The transaction's instructions in order: job_post, after any the page accepted from prepare. */
  instructions: TransactionInstruction[];
  instruction: TransactionInstruction;
  job: PublicKey;
  /** The decoded job_post arguments, for showing the buyer what it signs. */
  args: { nonce: string; price: string; max_escrow: string; deadline: string; spec_uri: string };
}

/** job_post from the IDL and prepare's answer, checked against the buyer's request. */
export function buildJobPost(
  idl: Idl,
  prepared: Prepared,
  expect: { buyer: string; market: string; programId: string; request: PrepareRequest },
): BuiltPost {
  if (idl.address !== expect.programId) {
    throw new JobPostError(`the IDL is for program ${idl.address}, the dashboard serves ${expect.programId}`);
  }
  const ix = idlInstruction(idl, "job_post");
  const raw = instructionArgs(ix, prepared.args);
  const converted: Record<string, unknown> = {};
  for (const a of ix.args) converted[a.name] = fromJson(idl, a.type, raw[a.name], a.name);
  const data = new BorshCoder(idl).instruction.encode("job_post", converted);
  if (!ix.discriminator.every((b, i) => data[i] === b)) {
    throw new JobPostError("the encoded instruction does not start with job_post's discriminator");
  }
  const keys = ix.accounts.map((acc) => {
    const given = acc.address ?? prepared.accounts[acc.name];
    if (!given) throw new JobPostError(`prepare named no account ${acc.name}`);
    if (acc.address && prepared.accounts[acc.name] && prepared.accounts[acc.name] !== acc.address) {
      throw new JobPostError(`${acc.name} must be ${acc.address}, prepare said ${prepared.accounts[acc.name]}`);
    }
    let pubkey: PublicKey;
    try {
      pubkey = new PublicKey(given);
    } catch {
      throw new JobPostError(`${acc.name}: not a base58 public key: ${given}`);
    }
    return { pubkey, isSigner: !!acc.signer, isWritable: !!acc.writable };
  });
  const programId = new PublicKey(expect.programId);
  const account = (name: string) => keys[ix.accounts.findIndex((a) => a.name === name)]?.pubkey;
  const buyer = account("buyer");
  const market = account("market");
  const job = account("job");
  if (!buyer || buyer.toBase58() !== expect.buyer) {
    throw new JobPostError(`prepare's buyer ${buyer?.toBase58()} is not the connected wallet ${expect.buyer}`);
  }
  if (!market || market.toBase58() !== expect.market) {
    throw new JobPostError(`prepare's market ${market?.toBase58()} is not the dashboard's market ${expect.market}`);
  }
  const args = converted[ix.args[0].name] as {
    nonce: InstanceType<typeof BN>;
    price: InstanceType<typeof BN>;
    max_escrow: InstanceType<typeof BN>;
    deadline: InstanceType<typeof BN>;
    spec_uri: string;
    gemm: { m: number; n: number; k: number } | null;
  };
  const [pda] = PublicKey.findProgramAddressSync(
    [Buffer.from("job"), market.toBuffer(), buyer.toBuffer(), args.nonce.toArrayLike(Buffer, "le", 8)],
    programId,
  );
  if (!job || !job.equals(pda)) {
    throw new JobPostError(`prepare's job ${job?.toBase58()} is not the PDA of (market, buyer, nonce): ${pda.toBase58()}`);
  }
  const r = expect.request;
  if (args.price.toString() !== String(r.price)) {
    throw new JobPostError(`prepare's price ${args.price.toString()} is not the ${r.price} asked`);
  }
  if (args.gemm && (args.gemm.m !== r.m || args.gemm.n !== r.n || args.gemm.k !== r.k)) {
    throw new JobPostError(
      `prepare's shape ${args.gemm.m}x${args.gemm.n}x${args.gemm.k} is not the ${r.m}x${r.n}x${r.k} asked`,
    );
  }
  if (args.spec_uri !== prepared.spec_uri) {
    throw new JobPostError(`the args' spec_uri ${args.spec_uri} is not prepare's ${prepared.spec_uri}`);
  }
  const instruction = new TransactionInstruction({ programId, keys, data: Buffer.from(data) });
  return {
    instructions: withServerInstructions(prepared.instructions, instruction, buyer),
    instruction,
    job,
    args: {
      nonce: args.nonce.toString(),
      price: args.price.toString(),
      max_escrow: args.max_escrow.toString(),
      deadline: args.deadline.toString(),
      spec_uri: args.spec_uri,
    },
  };
}

function fromInstructionJson(j: InstructionJson, at: number): TransactionInstruction {
  try {
    return new TransactionInstruction({
      programId: new PublicKey(j.program_id),
      keys: j.accounts.map((a) => ({ pubkey: new PublicKey(a.pubkey), isSigner: a.is_signer, isWritable: a.is_writable })),
      data: Buffer.from(j.data, "base64"),
    });
  } catch (e) {
    throw new JobPostError(`prepare's instruction ${at} does not decode: ${String(e)}`);
  }
}

/**
 * The transaction prepare proposes, with its job_post replaced by the page's own
 * and checked to be byte-for-byte the same; of the others only the creation of
 * the buyer's own token account (CreateIdempotent, paid by the buyer) is
 * accepted, since anything else would be signed on the server's word.
 */
export function withServerInstructions(
  server: InstructionJson[] | undefined,
  own: TransactionInstruction,
  buyer: PublicKey,
): TransactionInstruction[] {
  if (!server || server.length === 0) return [own];
  const out: TransactionInstruction[] = [];
  let seen = false;
  server.forEach((j, at) => {
    const ix = fromInstructionJson(j, at);
    if (ix.programId.equals(own.programId)) {
      const same =
        ix.data.equals(own.data) &&
        ix.keys.length === own.keys.length &&
        ix.keys.every(
          (k, i) => k.pubkey.equals(own.keys[i].pubkey) && k.isSigner === own.keys[i].isSigner && k.isWritable === own.keys[i].isWritable,
        );
      if (!same || seen) throw new JobPostError("prepare's job_post differs from the one built here from the IDL");
      seen = true;
      out.push(own);
      return;
    }
    const createsOwnAccount =
      ix.programId.toBase58() === ATA_PROGRAM &&
      ix.data.length === 1 &&
      ix.data[0] === 1 &&
      ix.keys.length >= 3 &&
      ix.keys[0].pubkey.equals(buyer) &&
      ix.keys[2].pubkey.equals(buyer);
    if (!createsOwnAccount) {
      throw new JobPostError(`prepare's instruction ${at} (program ${ix.programId.toBase58()}) is not one the page signs`);
    }
    out.push(ix);
  });
  if (!seen) throw new JobPostError("prepare's instructions carry no job_post");
  return out;
}

/** An unsigned legacy transaction paying from `feePayer`, serialized for the wallet. */
export function unsignedTransaction(ixs: TransactionInstruction[], feePayer: PublicKey, blockhash: string): Uint8Array {
  const tx = new Transaction({ feePayer, recentBlockhash: blockhash }).add(...ixs);
  return tx.serialize({ requireAllSignatures: false, verifySignatures: false });
}

/**
 * The wallet may hand back a changed transaction (the standard allows it); the
 * page sends it only if it still carries this job_post, unchanged, signed by the
 * buyer over the message it carries.
 */
export function checkSigned(signed: Uint8Array, ix: TransactionInstruction, buyer: PublicKey): void {
  let tx: Transaction;
  try {
    tx = Transaction.from(signed);
  } catch (e) {
    throw new JobPostError(`the wallet's signed transaction does not decode: ${String(e)}`);
  }
  const same = tx.instructions.some(
    (i) =>
      i.programId.equals(ix.programId) &&
      Buffer.from(i.data).equals(Buffer.from(ix.data)) &&
      i.keys.length === ix.keys.length &&
      i.keys.every((k, n) => k.pubkey.equals(ix.keys[n].pubkey)),
  );
  if (!same) throw new JobPostError("the wallet's signed transaction no longer carries the job_post it was given");
  const sig = tx.signatures.find((s) => s.publicKey.equals(buyer));
  if (!sig?.signature) throw new JobPostError("the wallet did not sign as the buyer");
  if (!tx.verifySignatures(false)) throw new JobPostError("the wallet's signature does not verify");
}

/**
 * Waits until `signature` is confirmed, polling getSignatureStatuses (plain
 * HTTP: works against any RPC, websockets or not). Throws with the program's
 * error when the transaction failed.
 */
export async function confirm(
  getStatus: (sig: string) => Promise<{ err: unknown; confirmationStatus?: string | null } | null>,
  signature: string,
  timeoutMs = 60_000,
  everyMs = 500,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const st = await getStatus(signature);
    if (st?.err) throw new JobPostError(`transaction ${signature} failed: ${JSON.stringify(st.err)}`);
    if (st && (st.confirmationStatus === "confirmed" || st.confirmationStatus === "finalized")) return;
    if (Date.now() > until) throw new JobPostError(`transaction ${signature} not confirmed in ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
