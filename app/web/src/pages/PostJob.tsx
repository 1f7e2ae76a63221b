// A buyer posts a GEMM job from the browser: pick a Wallet Standard wallet and
// connect, choose the workload and shape, generate or choose the inputs (A, B),
// upload them (POST /api/blobs), have the dashboard write the spec
// (POST /api/jobs/prepare), build job_post from the IDL, have the wallet sign,
// send it through the cluster's RPC, then watch the job until it settles,
// download the result and check it twice: Freivalds' test here on the buyer's
// own inputs, and the auditor's check through the API.
import { useRef, useState } from "react";
import { Link } from "react-router-dom";
import type { Wallet, WalletAccount } from "@wallet-standard/base";
import type { Idl } from "@coral-xyz/anchor";
import { Connection, PublicKey } from "@solana/web3.js";
import { utils } from "@coral-xyz/anchor";
import { api, type PrepareRequest } from "../api";
import { useConfig } from "../App";
import { bytesToHex, parseTokens, short, tokens } from "../format";
import { freivalds, randomMatrix, shapeBytes, type GemmKind } from "../gemm";
import { buildJobPost, checkSigned, confirm, unsignedTransaction } from "../jobpost";
import { chainFor, connect, signAndSend, usable, useWallets } from "../wallet";
import { ErrorBox } from "./common";

const STEPS = ["inputs", "upload", "prepare", "build", "sign", "confirm", "settle", "result", "verify"] as const;
type StepName = (typeof STEPS)[number];
type StepState = { status: "pending" | "running" | "done" | "failed"; text: string };
const SETTLE_TIMEOUT_MS = 300_000;
const MAX_DIM = 2048;

export function PostJob() {
  const cfg = useConfig();
  const wallets = useWallets();
  const [wallet, setWallet] = useState<{ wallet: Wallet; account: WalletAccount } | undefined>();
  const [connectError, setConnectError] = useState<Error | undefined>();
  const [workload, setWorkload] = useState<GemmKind>("gemm-i8");
  const [dims, setDims] = useState({ m: "32", n: "32", k: "32" });
  const [source, setSource] = useState<"generate" | "files">("generate");
  const [price, setPrice] = useState("1");
  const [deadline, setDeadline] = useState("300");
  const [steps, setSteps] = useState<Record<StepName, StepState>>(freshSteps());
  const [running, setRunning] = useState(false);
  const [job, setJob] = useState<string | undefined>();
  const [outcome, setOutcome] = useState<string | undefined>();
  const [error, setError] = useState<Error | undefined>();
  const fileA = useRef<HTMLInputElement>(null);
  const fileB = useRef<HTMLInputElement>(null);

  const step = (name: StepName, status: StepState["status"], text: string) =>
    setSteps((s) => ({ ...s, [name]: { status, text } }));

  const pick = async (w: Wallet) => {
    setConnectError(undefined);
    try {
      setWallet({ wallet: w, account: await connect(w) });
    } catch (e) {
      setConnectError(e instanceof Error ? e : new Error(String(e)));
    }
  };

  const post = async () => {
    if (!cfg || !wallet) return;
    setRunning(true);
    setError(undefined);
    setOutcome(undefined);
    setJob(undefined);
    setSteps(freshSteps());
    let current: StepName = "inputs";
    const begin = (name: StepName, text: string) => {
      current = name;
      step(name, "running", text);
    };
    try {
      const m = dim(dims.m, "m");
      const n = dim(dims.n, "n");
      const k = dim(dims.k, "k");
      const priceUnits = parseTokens(price, cfg.payment_decimals);
      if (priceUnits === null || priceUnits === 0) {
        throw new Error(`price ${JSON.stringify(price)} is not a positive amount with at most ${cfg.payment_decimals} decimals`);
      }
      const deadlineSecs = Number(deadline);
      if (!Number.isSafeInteger(deadlineSecs) || deadlineSecs <= 0) throw new Error(`deadline ${deadline} is not a positive number of seconds`);

      begin("inputs", "");
      const want = shapeBytes(workload, m, n, k);
      let a: Uint8Array;
      let b: Uint8Array;
      if (source === "generate") {
        a = randomMatrix(workload, m, k);
        b = randomMatrix(workload, k, n);
      } else {
        const fa = fileA.current?.files?.[0];
        const fb = fileB.current?.files?.[0];
        if (!fa || !fb) throw new Error("choose a file for A and one for B");
        a = new Uint8Array(await fa.arrayBuffer());
        b = new Uint8Array(await fb.arrayBuffer());
        if (a.length !== want.a || b.length !== want.b) {
          throw new Error(`A is ${a.length} bytes and B ${b.length}; ${workload} ${m}x${n}x${k} needs ${want.a} and ${want.b}`);
        }
      }
      step("inputs", "done", `A ${a.length} bytes, B ${b.length} bytes (${source === "generate" ? "generated here" : "your files"})`);

      begin("upload", "uploading A and B");
      const blobA = await api.putBlob(a);
      const blobB = await api.putBlob(b);
      step("upload", "done", `A ${blobA.uri}, B ${blobB.uri}`);

      begin("prepare", "");
      const buyer = wallet.account.address;
      const request: PrepareRequest = {
        workload,
        m,
        n,
        k,
        a: blobA.uri,
        b: blobB.uri,
        price: priceUnits,
        deadline_secs: deadlineSecs,
        buyer,
        nonce: freshNonce(),
      };
      const prepared = await api.prepare(request);
      step("prepare", "done", `spec ${prepared.spec_uri} (sha256 ${prepared.spec_hash.slice(0, 16)}…)`);

      begin("build", "");
      const idl = (await api.idl()) as unknown as Idl;
      const built = buildJobPost(idl, prepared, { buyer, market: cfg.market, programId: cfg.program_id, request });
      const connection = new Connection(cfg.rpc_url, "confirmed");
      const { blockhash } = await connection.getLatestBlockhash("confirmed");
      const buyerKey = new PublicKey(buyer);
      const unsigned = unsignedTransaction(built.instructions, buyerKey, blockhash);
      step(
        "build",
        "done",
        `job ${built.job.toBase58()}, price ${built.args.price}, escrow at most ${built.args.max_escrow} (${tokens(
          Number(built.args.max_escrow),
          cfg.payment_decimals,
        )} tokens)`,
      );
      setJob(built.job.toBase58());

      begin("sign", `waiting for ${wallet.wallet.name}`);
      const { signature } = await signAndSend(
        wallet.wallet,
        wallet.account,
        unsigned,
        chainFor(cfg.cluster),
        async (signed) => {
          checkSigned(signed, built.instruction, buyerKey);
          return connection.sendRawTransaction(signed, { preflightCommitment: "confirmed" });
        },
        (bytes) => utils.bytes.bs58.encode(bytes),
      );
      step("sign", "done", `signed by ${short(buyer)}, sent: ${signature}`);

      begin("confirm", signature);
      await confirm(async (sig) => (await connection.getSignatureStatuses([sig])).value[0], signature);
      step("confirm", "done", `confirmed: ${signature}`);

      begin("settle", "waiting for a provider to claim, compute and submit, and for the job to settle");
      const until = Date.now() + SETTLE_TIMEOUT_MS;
      let last = "";
      for (;;) {
        try {
          const d = await api.job(built.job.toBase58());
          if (d.job.state !== last) {
            last = d.job.state;
            step("settle", "running", `state: ${last}${d.job.provider ? ` (provider ${short(d.job.provider)})` : ""}`);
          }
          if (d.job.settled) {
            step("settle", "done", `settled: ${d.job.state}${d.job.result_root ? `, result root ${d.job.result_root}` : ""}`);
            break;
          }
        } catch (e) {
          // The dashboard may not have indexed the job in the first instant.
          if (!(e instanceof Error && "status" in e && (e as { status: number }).status === 404)) throw e;
        }
        if (Date.now() > until) throw new Error(`not settled in ${SETTLE_TIMEOUT_MS / 1000} s (last state ${last || "unknown"})`);
        await new Promise((r) => setTimeout(r, 1_000));
      }

      begin("result", "downloading");
      const c = await api.result(built.job.toBase58());
      const check = freivalds(workload, m, n, k, a, b, c);
      const digest = bytesToHex(new Uint8Array(await crypto.subtle.digest("SHA-256", c as BufferSource)));
      step("result", check.ok ? "done" : "failed", `${c.length} bytes, sha256 ${digest.slice(0, 16)}…; ${check.detail}`);

      begin("verify", "the auditor's check");
      const v = await api.verify(built.job.toBase58());
      step("verify", v.status === "correct" ? "done" : "failed", `${v.status}${v.detail ? `: ${v.detail}` : ""}`);
      setOutcome(check.ok && v.status === "correct" ? "correct" : `local ${check.ok ? "correct" : "WRONG"}, auditor ${v.status}`);
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      step(current, "failed", err.message);
      setError(err);
    } finally {
      setRunning(false);
    }
  };

  const choices = wallets.filter(usable);
  return (
    <div data-testid="page-post">
      <h1>Post a job</h1>
      <section>
        <h2>Wallet</h2>
        {wallet ? (
          <p>
            {wallet.wallet.name}: <span className="mono" data-testid="wallet-account">{wallet.account.address}</span>
          </p>
        ) : choices.length === 0 ? (
          <p className="muted" data-testid="no-wallet">
            No Wallet Standard wallet found (Phantom, Solflare and Backpack register when installed).
          </p>
        ) : (
          <div className="wallets">
            {choices.map((w) => (
              <button type="button" key={w.name} onClick={() => pick(w)} data-testid="wallet-choice" data-wallet={w.name}>
                {w.icon ? <img src={w.icon} alt="" width={18} height={18} /> : null} {w.name}
              </button>
            ))}
          </div>
        )}
        {connectError ? <ErrorBox error={connectError} /> : null}
      </section>

      <section>
        <h2>Job</h2>
        <form
          className="post-form"
          onSubmit={(e) => {
            e.preventDefault();
            void post();
          }}
        >
          <label>
            workload{" "}
            <select data-testid="post-workload" value={workload} onChange={(e) => setWorkload(e.target.value as GemmKind)}>
              <option value="gemm-i8">gemm-i8 (int8 in, int32 out)</option>
              <option value="gemm-f32">gemm-f32</option>
            </select>
          </label>
          {(["m", "n", "k"] as const).map((d) => (
            <label key={d}>
              {d}{" "}
              <input
                data-testid={`post-${d}`}
                type="number"
                min={1}
                max={MAX_DIM}
                value={dims[d]}
                onChange={(e) => setDims({ ...dims, [d]: e.target.value })}
              />
            </label>
          ))}
          <fieldset>
            <legend>inputs</legend>
            <label>
              <input type="radio" checked={source === "generate"} onChange={() => setSource("generate")} /> generate random A and B
            </label>
            <label>
              <input type="radio" checked={source === "files"} onChange={() => setSource("files")} data-testid="post-files" /> choose
              files (row-major, {workload === "gemm-i8" ? "1 byte" : "4 bytes little-endian"} per element)
            </label>
            {source === "files" ? (
              <>
                <label>
                  A (m×k) <input type="file" ref={fileA} data-testid="post-file-a" />
                </label>
                <label>
                  B (k×n) <input type="file" ref={fileB} data-testid="post-file-b" />
                </label>
              </>
            ) : null}
          </fieldset>
          <label>
            price (tokens){" "}
            <input data-testid="post-price" value={price} onChange={(e) => setPrice(e.target.value)} size={10} />
          </label>
          <label>
            deadline (seconds from now){" "}
            <input data-testid="post-deadline" value={deadline} onChange={(e) => setDeadline(e.target.value)} size={6} />
          </label>
          <button type="submit" disabled={!wallet || !cfg || running} data-testid="post-submit">
            {running ? "posting…" : "sign and post"}
          </button>
        </form>
      </section>

      <section>
        <h2>Progress</h2>
        <ol className="steps" data-testid="post-steps">
          {STEPS.map((s) => (
            <li key={s} data-testid={`step-${s}`} data-status={steps[s].status} className={`step step-${steps[s].status}`}>
              <strong>{s}</strong> <span className="mono small">{steps[s].text}</span>
            </li>
          ))}
        </ol>
        {job ? (
          <p>
            job page:{" "}
            <Link to={`/jobs/${job}`} data-testid="post-job-link" className="mono">
              {job}
            </Link>
          </p>
        ) : null}
        {outcome ? (
          <p data-testid="post-outcome" className={outcome === "correct" ? "ok" : "error"}>
            {outcome === "correct" ? "result checked: correct" : outcome}
          </p>
        ) : null}
        {error ? <ErrorBox error={error} /> : null}
      </section>
    </div>
  );
}

/**
 * The job's nonce (its PDA seed), chosen here: a random 48-bit integer, so that it
 * survives JSON as a number exactly (a server's default could exceed 2^53).
 */
function freshNonce(): number {
  const b = new Uint8Array(6);
  crypto.getRandomValues(b);
  return b.reduce((n, x) => n * 256 + x, 0);
}

function freshSteps(): Record<StepName, StepState> {
  return Object.fromEntries(STEPS.map((s) => [s, { status: "pending", text: "" }])) as Record<StepName, StepState>;
}

function dim(text: string, name: string): number {
  const v = Number(text);
  if (!Number.isInteger(v) || v < 1 || v > MAX_DIM) throw new Error(`${name} must be an integer in 1..=${MAX_DIM}, got ${text}`);
  return v;
}
