// The dashboard in headless Chromium (Debian's /usr/bin/chromium driven by
// playwright-core; no browser is downloaded): every page is opened, every
// figure on it (each element with data-field) is compared with the CLI's
// `gpumkt audit stats --output json` taken at the same chain time, a job is
// posted through the page with a keypair-backed test wallet registered through
// the Wallet Standard, watched until it settles, its result downloaded and
// checked, and a screenshot of each page is saved. A second job is posted the
// same way through a second test wallet that offers only
// solana:signAndSendTransaction (it signs and sends itself, the page gets only
// the signature), so both of the page's wallet paths run against the chain.
//
//   node e2e/e2e.mjs --url http://127.0.0.1:7070 --cli '["gpumkt","-u","http://..","-m","<market>"]' \
//        --keypair buyer.json --out target/e2e-screenshots [--readme-shot docs/img/dashboard.png]
//   node e2e/e2e.mjs --url ... --stats stats.json --keypair buyer.json ...   (a chain whose clock stands still)
//   node e2e/e2e.mjs --mock --out /tmp/shots       (against e2e/mock.mjs, no chain)
//
// --cli is the gpumkt command line (JSON array) without the subcommand; the
// script appends `audit stats --output json` and runs it for each page, until
// the page and the CLI are at one chain time. --stats is that JSON taken once,
// for a chain whose clock does not move while the pages are read (the Rust
// test's manual-clock localnet). --post-price-units is the price in base units. --keypair is a Solana JSON key
// file for the test wallet (it must hold SOL and payment tokens; the Rust test
// funds it); without it a fresh key is used, which only the mock accepts.
// Exits 0 when every check passes, 1 with the reason otherwise.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { Connection, Keypair, VersionedTransaction } from "@solana/web3.js";
import anchor from "@coral-xyz/anchor";
import { render } from "../src/rustfmt.js";

const here = fileURLToPath(new URL(".", import.meta.url));
const WALLET_NAME = "gpu-market test wallet";
/** The second test wallet: the same key, only solana:signAndSendTransaction. */
const SENDING_WALLET_NAME = "gpu-market test wallet (sends itself)";
/** Figures that move with the chain's clock: compared with the CLI only at equal chain time. */
const TIME_DEPENDENT = new Set(["unix_timestamp", "utilization", "seconds_since_heartbeat"]);

function args(argv) {
  const out = { out: join(here, "out"), chromium: "/usr/bin/chromium", postSize: 16, postTimeout: 240, attempts: 15, maxJobs: 40 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === "--url") out.url = next();
    else if (a === "--cli") out.cli = JSON.parse(next());
    else if (a === "--stats") out.stats = next();
    else if (a === "--keypair") out.keypair = next();
    else if (a === "--out") out.out = next();
    else if (a === "--readme-shot") out.readmeShot = next();
    else if (a === "--chromium") out.chromium = next();
    else if (a === "--post-size") out.postSize = Number(next());
    else if (a === "--post-price-units") out.postPriceUnits = BigInt(next());
    else if (a === "--post-timeout") out.postTimeout = Number(next());
    else if (a === "--max-jobs") out.maxJobs = Number(next());
    else if (a === "--mock") out.mock = true;
    else if (a === "--no-post") out.noPost = true;
    else throw new Error(`unknown argument ${a}`);
  }
  if (!out.mock && !(out.url && (out.cli || out.stats))) throw new Error("give --url and --cli or --stats, or --mock");
  return out;
}

class Checks {
  count = 0;
  failures = [];
  ok(cond, what) {
    this.count++;
    if (!cond) this.failures.push(what);
    return cond;
  }
}

/** "3xQk…9fPa" for file names. */
const short = (k) => `${k.slice(0, 4)}${k.slice(-4)}`;

/** Every figure on the page: where it says it came from and the text it shows. */
function figures(page) {
  return page.$$eval("[data-field]", (els) =>
    els.map((e) => ({ source: e.dataset.source, field: e.dataset.field, format: e.dataset.format, text: e.textContent })),
  );
}

/**
 * The value a figure must show. Audit figures come from the CLI's JSON
 * (`cli`), except time-dependent ones on pages that show no chain time, which
 * come from the API answer the page itself received (`api`); job figures come
 * from the API's job summaries. Returns undefined for a source nobody knows,
 * which fails the check: a figure cannot escape comparison.
 */
function expected(fig, cli, api, pageTime) {
  const [kind, key] = fig.source.includes(":") ? [fig.source.slice(0, fig.source.indexOf(":")), fig.source.slice(fig.source.indexOf(":") + 1)] : [fig.source, undefined];
  const timed = TIME_DEPENDENT.has(fig.field);
  const useCli = !timed || (pageTime !== undefined && pageTime === cli.unix_timestamp);
  const statsOf = (s) => s;
  const providerOf = (s, pk) => s?.providers?.find((p) => p.provider === pk);
  switch (kind) {
    case "stats":
      return useCli ? { from: "cli", obj: statsOf(cli) } : { from: "api /api/stats", obj: api.stats };
    case "providers":
      return useCli ? { from: "cli", obj: cli } : { from: "api /api/providers", obj: api.providers };
    case "stats.providers":
      return useCli ? { from: "cli", obj: providerOf(cli, key) } : { from: "api /api/stats", obj: providerOf(api.stats, key) };
    case "providers.row": // a row of the providers list: audit ProviderStats from /api/providers
      return useCli
        ? { from: "cli", obj: providerOf(cli, key) }
        : { from: "api /api/providers", obj: api.providers?.providers?.find((p) => p.provider === key) };
    case "provider":
      return useCli && !timed ? { from: "cli", obj: providerOf(cli, key) } : { from: `api /api/providers/${key}`, obj: api.provider?.(key) };
    case "job":
      return { from: "api job summary", obj: api.job?.(key) };
    case "segment": {
      // "segment:<job>:<index>": that segment in audit stats' segmented_jobs while the
      // job lives; once settled (its accounts closed) audit stats no longer lists it,
      // and the page's rows are the API's, rebuilt from the job's history.
      const [job, index] = key.split(":");
      const live = cli.segmented_jobs?.find((j) => j.job === job);
      if (live) return { from: "cli segmented_jobs", obj: live.segments?.[Number(index)] };
      return { from: "api job segments (from history)", obj: api.segments?.(job)?.segments?.[Number(index)] };
    }
    default:
      return undefined;
  }
}

function compare(figs, cli, api, pageTime) {
  const bad = [];
  for (const f of figs) {
    // The providers list's rows say "providers:<pk>" and are audit ProviderStats too, as
    // /api/providers (the answer the page drew them from) gives them.
    const fig = f.source.startsWith("providers:") ? { ...f, source: `providers.row:${f.source.slice(10)}` } : f;
    const where = expected(fig, cli, api, pageTime);
    if (!where || !where.obj) {
      bad.push(`${f.source}.${f.field}: no ${where ? where.from : "known source"} value to compare with`);
      continue;
    }
    if (!(f.field in where.obj)) {
      bad.push(`${f.source}.${f.field}: ${where.from} has no field ${f.field}`);
      continue;
    }
    let want;
    try {
      want = render(f.format, where.obj[f.field]);
    } catch (e) {
      bad.push(`${f.source}.${f.field}: ${e.message}`);
      continue;
    }
    if (want !== f.text) bad.push(`${f.source}.${f.field}: page shows ${JSON.stringify(f.text)}, ${where.from} says ${JSON.stringify(want)}`);
  }
  return bad;
}

/** The chain time the page shows (its stats or providers unix_timestamp figure), as unix seconds. */
function pageTimeOf(figs) {
  const f = figs.find((x) => x.field === "unix_timestamp" && (x.source === "stats" || x.source === "providers"));
  if (!f) return undefined;
  return Math.floor(Date.parse(`${f.text.replace(" ", "T")}Z`) / 1000);
}

async function main() {
  const o = args(process.argv.slice(2));
  const checks = new Checks();
  let mock;
  let cliStats;
  if (o.mock) {
    const { startMock } = await import("./mock.mjs");
    mock = await startMock({});
    o.url = mock.url;
    cliStats = () => mock.stats();
  } else if (o.cli) {
    cliStats = () => JSON.parse(execFileSync(o.cli[0], [...o.cli.slice(1), "audit", "stats", "--output", "json"], { encoding: "utf8" }));
  } else {
    // Taken by the caller on a chain whose clock stands still until the post.
    const fixed = JSON.parse(readFileSync(o.stats, "utf8"));
    cliStats = () => fixed;
  }
  // After the post the fixed stats are stale: the count is checked on the API's.
  const statsAfterPost = async () => (o.stats ? (await fetch(`${o.url}/api/stats`)).json() : cliStats());
  const keypair = o.keypair ? Keypair.fromSecretKey(Uint8Array.from(JSON.parse(readFileSync(o.keypair, "utf8")))) : Keypair.generate();
  mkdirSync(o.out, { recursive: true });
  console.log(`dashboard ${o.url}, test wallet ${keypair.publicKey.toBase58()}, screenshots in ${resolve(o.out)}`);

  // A fresh profile each run (playwright passes it as --user-data-dir).
  const profile = mkdtempSync(join(tmpdir(), "gpumkt-e2e-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: o.chromium,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
    viewport: { width: 1400, height: 1000 },
    acceptDownloads: true,
  });
  let signed = 0;
  let sentByWallet = 0;
  await context.exposeFunction("__gpumktTestWalletSign", (bytes) => {
    // What a wallet does on "approve": sign the message it was shown, as the buyer.
    const tx = VersionedTransaction.deserialize(Uint8Array.from(bytes));
    tx.sign([keypair]);
    signed++;
    return Array.from(tx.serialize());
  });
  await context.exposeFunction("__gpumktTestWalletSignAndSend", async (bytes) => {
    // A wallet that sends itself: sign, send through its own connection to the
    // dashboard's cluster, hand back only the signature.
    const tx = VersionedTransaction.deserialize(Uint8Array.from(bytes));
    tx.sign([keypair]);
    const { rpc_url } = await (await fetch(`${o.url}/api/config`)).json();
    const sig = await new Connection(rpc_url, "confirmed").sendRawTransaction(tx.serialize(), { preflightCommitment: "confirmed" });
    sentByWallet++;
    return Array.from(anchor.utils.bytes.bs58.decode(sig));
  });
  const walletSrc = readFileSync(join(here, "wallet.js"), "utf8").trim().replace(/;$/, "");
  const walletArgs = { address: keypair.publicKey.toBase58(), publicKey: [...keypair.publicKey.toBytes()] };
  await context.addInitScript({
    content: [
      `${walletSrc}(${JSON.stringify({ ...walletArgs, name: WALLET_NAME })});`,
      `${walletSrc}(${JSON.stringify({ ...walletArgs, name: SENDING_WALLET_NAME, sendsItself: true })});`,
    ].join("\n"),
  });

  // Every API answer the pages receive, newest last, to compare figures with what the page was given.
  const answers = [];
  context.on("response", async (r) => {
    const u = new URL(r.url());
    if (!u.pathname.startsWith("/api/") || !(r.headers()["content-type"] ?? "").includes("json")) return;
    try {
      answers.push({ path: u.pathname, query: u.search, body: await r.json() });
    } catch {
      /* an aborted response (the page navigated away) */
    }
  });
  const latest = (pred) => [...answers].reverse().find(pred)?.body;
  const api = {
    get stats() {
      return latest((a) => a.path === "/api/stats");
    },
    get providers() {
      return latest((a) => a.path === "/api/providers");
    },
    provider: (pk) => latest((a) => a.path === `/api/providers/${pk}`)?.provider,
    segments: (pk) => latest((a) => a.path === `/api/jobs/${pk}`)?.segments,
    job: (pk) => {
      for (const a of [...answers].reverse()) {
        if (a.path === `/api/jobs/${pk}`) return a.body.job;
        const list = a.path === "/api/jobs" ? a.body.jobs : a.path.startsWith("/api/providers/") ? a.body.jobs : undefined;
        const j = list?.find((x) => x.job === pk);
        if (j) return j;
      }
      return undefined;
    },
  };

  const page = context.pages()[0] ?? (await context.newPage());
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  page.on("console", (m) => {
    if (m.type() === "error") console.log(`  console error: ${m.text()}`);
  });

  let shot = 0;
  const screenshot = async (name) => {
    const file = join(o.out, `${String(++shot).padStart(2, "0")}-${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    return file;
  };

  /**
   * Opens `hash`, waits for `ready`, and compares its figures until the page
   * and the CLI agree at one chain time (a reload and a fresh CLI run per try).
   */
  const visit = async (hash, name, ready, minFigures) => {
    let bad = [];
    let figs = [];
    let cli;
    let coincided = false;
    for (let attempt = 0; attempt < o.attempts; attempt++) {
      await page.goto(`${o.url}/#${hash}`);
      await page.waitForSelector(ready, { timeout: 30_000 });
      await page.waitForTimeout(300); // charts draw, late answers land in `answers`
      figs = await figures(page);
      cli = cliStats();
      const t = pageTimeOf(figs);
      coincided = t === undefined || t === cli.unix_timestamp;
      bad = compare(figs, cli, api, t);
      if (bad.length === 0 && coincided) break;
    }
    checks.ok(figs.length >= minFigures, `${name}: ${figs.length} figures, at least ${minFigures} expected`);
    checks.ok(bad.length === 0, `${name}: ${bad.length} figures differ:\n    ${bad.slice(0, 20).join("\n    ")}`);
    for (let i = 0; i < figs.length; i++) checks.count++;
    const file = await screenshot(name);
    console.log(
      `ok page ${name}: ${figs.length} figures ${bad.length === 0 ? "equal" : "DIFFER from"} audit stats / the API` +
        `${coincided ? "" : " (page and CLI never at one chain time: time-dependent figures checked against the API)"} -> ${file}`,
    );
    return { figs, cli };
  };

  // Overview: headline figures, charts, providers table, feed.
  const overview = await visit("/", "overview", '[data-testid="stats.jobs_posted"]', 14);
  const cli0 = overview.cli;
  const lostTotal = await page.textContent('[data-testid="stats.disputes_lost_total"]');
  checks.ok(
    lostTotal === String(cli0.providers.reduce((n, p) => n + p.disputes_lost, 0)),
    `overview: disputes lost ${lostTotal} is not the providers' sum`,
  );
  await page.goto(`${o.url}/#/`);
  await page.waitForSelector('[data-testid="feed"] tbody tr', { timeout: 30_000 });
  const feedRows = await page.$$eval('[data-testid="feed"] tbody tr', (r) => r.length);
  checks.ok(feedRows > 0, "overview: the live feed shows no event");
  for (const c of ["chart-utilization", "chart-jobs", "chart-earnings"]) {
    const drawn = await page.$eval(`[data-testid="${c}"] canvas`, (cv) => cv.width > 0 && cv.height > 0).catch(() => false);
    checks.ok(drawn, `overview: ${c} has no canvas`);
  }
  console.log(`ok overview: live feed ${feedRows} events, 3 charts drawn`);
  if (o.readmeShot) {
    mkdirSync(dirname(o.readmeShot), { recursive: true });
    await page.setViewportSize({ width: 1400, height: 1000 });
    await page.screenshot({ path: o.readmeShot, fullPage: false });
    console.log(`ok README screenshot -> ${o.readmeShot}`);
  }

  await visit("/providers", "providers", '[data-testid="providers-table"] tbody tr', cli0.providers.length * 12);
  for (const p of cli0.providers) {
    await visit(`/providers/${p.provider}`, `provider-${short(p.provider)}`, '[data-testid="provider:' + p.provider + '.stake"]', 14);
  }
  await visit("/jobs", "jobs", '[data-testid="jobs-table"] tbody tr', 1);
  const jobs = latest((a) => a.path === "/api/jobs")?.jobs ?? [];
  checks.ok(jobs.length > 0, "jobs: /api/jobs listed no job");
  for (const j of jobs.slice(0, o.maxJobs)) {
    await visit(`/jobs/${j.job}`, `job-${short(j.job)}`, `[data-testid="job:${j.job}.state"]`, 13);
    const sigs = await page.$$eval('[data-testid="timeline"] [data-testid="signature"]', (e) => e.map((x) => x.textContent));
    checks.ok(sigs.length > 0 && sigs.every((s) => /^[1-9A-HJ-NP-Za-km-z]{64,90}$/.test(s)), `job ${j.job}: timeline without signatures (${sigs.join(",")})`);
    // A live segmented job in audit stats has its segments on its page, a row each
    // (their figures were compared above, source "segment:<job>:<index>").
    const segs = cliStats().segmented_jobs?.find((s) => s.job === j.job) ?? api.segments(j.job);
    if (segs) {
      const rows = await page.$$eval('[data-testid="segments-table"] tbody tr', (r) => r.length).catch(() => 0);
      checks.ok(rows === segs.segments.length, `job ${j.job}: ${rows} segment rows, audit stats has ${segs.segments.length}`);
      console.log(`ok segments of job ${j.job}: ${rows} rows`);
    }
  }
  console.log(`ok ${Math.min(jobs.length, o.maxJobs)} job pages, each with a timeline of signatures`);

  /**
   * Posts a job through the page with wallet `walletName`, watches it settle,
   * re-runs its check and compares its page; returns the job's address.
   */
  const postThrough = async (walletName, label) => {
    await page.goto(`${o.url}/#/post`);
    await page.click(`[data-testid="wallet-choice"][data-wallet="${walletName}"]`, { timeout: 30_000 });
    await page.waitForSelector('[data-testid="wallet-account"]');
    checks.ok((await page.textContent('[data-testid="wallet-account"]')) === keypair.publicKey.toBase58(), `${label}: the connected account is not the test wallet's`);
    for (const d of ["m", "n", "k"]) await page.fill(`[data-testid="post-${d}"]`, String(o.postSize));
    if (o.postPriceUnits !== undefined) {
      // The page takes whole tokens: base units written with the payment mint's decimals.
      const { payment_decimals: d } = await (await fetch(`${o.url}/api/config`)).json();
      const units = o.postPriceUnits.toString().padStart(d + 1, "0");
      await page.fill('[data-testid="post-price"]', d ? `${units.slice(0, -d)}.${units.slice(-d)}` : units);
    }
    await page.click('[data-testid="post-submit"]');
    await page.waitForFunction(
      () => document.querySelector('[data-testid="post-outcome"]') || document.querySelector('[data-testid^="step-"][data-status="failed"]'),
      undefined,
      { timeout: o.postTimeout * 1000, polling: 500 },
    );
    const steps = await page.$$eval('[data-testid^="step-"]', (e) => e.map((x) => `${x.dataset.testid}: ${x.dataset.status} ${x.textContent}`));
    for (const st of steps) console.log(`  ${st}`);
    const outcome = await page.textContent('[data-testid="post-outcome"]').catch(() => null);
    await screenshot(label);
    checks.ok(outcome === "result checked: correct", `${label}: outcome ${JSON.stringify(outcome)}`);
    const job = await page.textContent('[data-testid="post-job-link"]').catch(() => null);
    if (!checks.ok(!!job, `${label}: no job link`)) return undefined;
    console.log(`ok posted job ${job} through the page (${walletName}); result checked`);
    await page.click('[data-testid="post-job-link"]');
    await page.waitForSelector(`[data-testid="job:${job}.settled"]`);
    await page.click('[data-testid="verify-button"]');
    await page
      .waitForFunction(() => document.querySelector('[data-testid="verification-status"]')?.textContent === "correct", undefined, {
        timeout: 60_000,
      })
      .catch(() => {});
    const status = await page.textContent('[data-testid="verification-status"]');
    checks.ok(status === "correct", `${label} job: re-run check says ${status}`);
    const bad = compare(await figures(page), await statsAfterPost(), api, undefined);
    checks.ok(bad.length === 0, `${label} job page: ${bad.join("; ")}`);
    const sigs = await page.$$eval('[data-testid="timeline"] [data-testid="signature"]', (e) => e.length);
    checks.ok(sigs >= 2, `${label} job: timeline has ${sigs} transactions`);
    await screenshot(`job-${label}-${short(job)}`);
    console.log(`ok ${label} job settled and re-checked (${status})`);
    return job;
  };

  if (!o.noPost) {
    const first = await postThrough(WALLET_NAME, "post");
    checks.ok(signed === 1 && sentByWallet === 0, `post: the wallet signed ${signed} and sent ${sentByWallet} transactions, 1 and 0 expected`);
    const second = await postThrough(SENDING_WALLET_NAME, "post-sign-and-send");
    checks.ok(signed === 1 && sentByWallet === 1, `post-sign-and-send: the wallets signed ${signed} and sent ${sentByWallet}, 1 and 1 expected`);
    checks.ok(!first || !second || first !== second, "the two posts made one job");
    if (second) console.log(`ok posted job ${second} through a wallet offering only solana:signAndSendTransaction`);
    const after = await statsAfterPost();
    checks.ok(after.jobs_posted === cli0.jobs_posted + 2, `audit stats: jobs_posted ${cli0.jobs_posted} -> ${after.jobs_posted}, +2 expected`);
    console.log(`ok audit stats counts both posted jobs (jobs posted ${after.jobs_posted})`);
  }

  checks.ok(pageErrors.length === 0, `uncaught errors in the pages: ${pageErrors.join("; ")}`);
  await context.close();
  rmSync(profile, { recursive: true, force: true });
  if (mock) await mock.stop();
  writeFileSync(join(o.out, "e2e-summary.json"), JSON.stringify({ checks: checks.count, failures: checks.failures }, null, 1));
  if (checks.failures.length) {
    console.error(`FAILED: ${checks.failures.length} of ${checks.count} checks:\n  ${checks.failures.join("\n  ")}`);
    process.exit(1);
  }
  console.log(`e2e: all ${checks.count} checks hold (${shot} screenshots)`);
}

main().catch((e) => {
  console.error(`FAILED: ${e.stack ?? e}`);
  process.exit(1);
});
