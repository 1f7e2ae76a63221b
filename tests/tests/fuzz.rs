//! Invariant fuzzing: random sequences of every instruction a buyer, a provider (honest
//! or not), a challenger, a crank or the authority sends, with the clock moved at random,
//! on the embedded chain. Every failure must be one of the named errors declared for its
//! operation; after every step the books must balance (token conservation per mint and
//! the audit's invariants), jobs move only along the lifecycle's edges and settle at most
//! once, a slash comes only out of locked stake, no withdrawal beats its cooldown, and an
//! honest provider (correct results, on time) never loses stake. Disputes are played out
//! to rulings (both sides staging, the dot product absorbed) as well as left to defaults;
//! each settled dispute is counted by its outcome, and a ruling must agree with the model.
//!
//! A run is reproduced by its seed: `GPU_MARKET_FUZZ_SEED=<seed>` replays that one run
//! (with `GPU_MARKET_FUZZ_STEPS` steps per run, default 400). Otherwise runs with seeds
//! `GPU_MARKET_FUZZ_BASE` (default 0x5EED), +1, ... go on until `GPU_MARKET_FUZZ_TX`
//! transactions (default 100,000) were sent. `GPU_MARKET_FUZZ_AUDIT_EVERY=N` runs the
//! full audit every N steps (default 8).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use gpu_market::state::{Dispute, DisputeOutcome, Job, JobState, MarketParams, ProofTree};
use gpu_market::{JobPostArgs, JobSubmitArgs};
use gpu_market_client::chain::counting::CountingChain;
use gpu_market_client::chain::{Chain, SharedChain};
use gpu_market_client::error::Result;
use gpu_market_client::ix::{self, SettleAccounts};
use gpu_market_client::send::Sender;
use gpu_market_client::{accounts, pda, Pubkey};
use gpu_market_tests::dispute::Gemm;
use gpu_market_tests::{default_params, h100, Keypair, ProviderHandle, Signer, Wallet, World};
use solana_sdk::instruction::Instruction;

/// splitmix64: a seed is a whole run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
    fn chance(&mut self, pct: u64) -> bool {
        self.next() % 100 < pct
    }
}

/// What the model last saw of a job; `Gone` is a closed account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Seen {
    Open,
    Claimed,
    Submitted,
    Disputed,
    Finalized,
    Cancelled,
    Refunded,
    Slashed,
    /// A segmented job (the fuzzer posts none; its own suite is tests/tests/segments.rs).
    Segmented,
    Gone,
}

impl From<JobState> for Seen {
    fn from(s: JobState) -> Self {
        match s {
            JobState::Open => Seen::Open,
            JobState::Claimed => Seen::Claimed,
            JobState::Submitted => Seen::Submitted,
            JobState::Disputed => Seen::Disputed,
            JobState::Finalized => Seen::Finalized,
            JobState::Cancelled => Seen::Cancelled,
            JobState::Refunded => Seen::Refunded,
            JobState::Slashed => Seen::Slashed,
            JobState::Segmented => Seen::Segmented,
        }
    }
}

impl Seen {
    fn terminal(self) -> bool {
        matches!(
            self,
            Seen::Finalized | Seen::Cancelled | Seen::Refunded | Seen::Slashed | Seen::Gone
        )
    }
}

/// The lifecycle's edges (a step may take at most one).
fn allowed(from: Seen, to: Seen) -> bool {
    use Seen::*;
    from == to
        || matches!(
            (from, to),
            (Open, Claimed)
                | (Open, Gone) // cancel, expire_unclaimed (closed to the buyer)
                | (Claimed, Submitted)
                | (Claimed, Open) // expired claim, time left: reopened
                | (Claimed, Refunded)
                | (Claimed, Gone) // expired claim past the deadline: refunded and closed
                | (Submitted, Disputed)
                | (Submitted, Gone) // finalize (closed)
                | (Disputed, Submitted) // the provider won the dispute
                | (Disputed, Slashed)
                | (Disputed, Gone) // the provider lost: slashed and closed
        )
}

struct JobM {
    key: Pubkey,
    buyer: usize,
    /// Honest inputs and output.
    gemm: Gemm,
    /// The output the provider submitted (tampered when dishonest) and the element changed.
    submitted: Option<(Gemm, Option<(u32, u32)>)>,
    provider: Option<usize>,
    seen: Seen,
    settlements: u32,
    /// A cuda-kernel job (disputed by referees); its "output" is the GEMM stand-in's, so
    /// a tampered submission is a wrong root and the honest root is known.
    kernel: bool,
}

struct DisputeM {
    key: Pubkey,
    job: usize,
    challenger: usize,
    row: u32,
    col: u32,
    settled: bool,
    /// Buffers opened and who paid (the payer closes them): (tree, challenger?)
    buffers: Vec<(ProofTree, bool)>,
}

struct ProvM {
    h: ProviderHandle,
    honest: bool,
}

#[derive(Clone, Copy, Debug)]
struct ProvSnap {
    stake: u64,
    locked: u64,
    pending: u64,
    release_at: i64,
    /// Seat weight in the referee pool.
    referee: u64,
}

/// How settled disputes ended (`Dispute::outcome_at`, the program's own rule): by a
/// ruling on the staged data (the provider's element wrong, or upheld), or by default once
/// the response window closed with one side's part unfinished.
#[derive(Clone, Copy, Debug, Default)]
struct DisputeTally {
    ruled_wrong: u64,
    ruled_right: u64,
    provider_silent: u64,
    challenger_incomplete: u64,
    /// Kernel disputes: the referees overturned the result, upheld it, or reached no
    /// quorum.
    referees_overturned: u64,
    referees_upheld: u64,
    no_ruling: u64,
}

impl DisputeTally {
    fn add(&mut self, outcome: DisputeOutcome, refereed: bool) {
        match outcome {
            DisputeOutcome::ProviderWrong if refereed => self.referees_overturned += 1,
            DisputeOutcome::ChallengerWrong if refereed => self.referees_upheld += 1,
            DisputeOutcome::NoRuling => self.no_ruling += 1,
            DisputeOutcome::ProviderWrong => self.ruled_wrong += 1,
            DisputeOutcome::ChallengerWrong => self.ruled_right += 1,
            DisputeOutcome::ProviderSilent => self.provider_silent += 1,
            DisputeOutcome::ChallengerIncomplete => self.challenger_incomplete += 1,
        }
    }

    fn merge(&mut self, o: &DisputeTally) {
        self.ruled_wrong += o.ruled_wrong;
        self.ruled_right += o.ruled_right;
        self.provider_silent += o.provider_silent;
        self.challenger_incomplete += o.challenger_incomplete;
        self.referees_overturned += o.referees_overturned;
        self.referees_upheld += o.referees_upheld;
        self.no_ruling += o.no_ruling;
    }

    fn by_default(&self) -> u64 {
        self.provider_silent + self.challenger_incomplete
    }
}

impl std::fmt::Display for DisputeTally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ruled wrong {}, ruled right {}, default {} (provider silent {}, challenger incomplete {}); refereed: overturned {}, upheld {}, no ruling {}",
            self.ruled_wrong,
            self.ruled_right,
            self.by_default(),
            self.provider_silent,
            self.challenger_incomplete,
            self.referees_overturned,
            self.referees_upheld,
            self.no_ruling
        )
    }
}

struct Fuzz {
    w: World,
    counting: Arc<CountingChain>,
    rng: Rng,
    seed: u64,
    payers: Vec<Keypair>,
    uses: HashMap<Vec<u8>, usize>,
    buyers: Vec<Wallet>,
    providers: Vec<ProvM>,
    challengers: Vec<Wallet>,
    cranks: Vec<Wallet>,
    jobs: Vec<JobM>,
    disputes: Vec<DisputeM>,
    nonce: u64,
    log: Vec<String>,
    step: usize,
    audit_every: usize,
    snaps: Vec<ProvSnap>,
    /// Successful operations by kind (for the report).
    ok: HashMap<&'static str, u64>,
    errs: HashMap<String, u64>,
    t_send: f64,
    t_audit: f64,
    t_model: f64,
    /// Jobs this step's operation sent a transaction about.
    touched: Vec<usize>,
    /// Settled disputes by outcome.
    disputes_settled: DisputeTally,
    /// A dispute opened last step that its challenger plays out this step.
    follow_up: Option<usize>,
}

/// Fails the run with the seed and the last operations.
macro_rules! fail {
    ($f:expr, $($arg:tt)*) => {{
        let tail: Vec<&String> = $f.log.iter().rev().take(40).collect();
        panic!(
            "FUZZ FAILURE seed={:#x} step={}: {}\nlast operations (newest first):\n{:#?}",
            $f.seed, $f.step, format!($($arg)*), tail
        )
    }};
}

fn fingerprint(ixs: &[Instruction]) -> Vec<u8> {
    let mut v = Vec::new();
    for ix in ixs {
        v.extend_from_slice(ix.program_id.as_ref());
        for a in &ix.accounts {
            v.extend_from_slice(a.pubkey.as_ref());
            v.push(a.is_signer as u8 | (a.is_writable as u8) << 1);
        }
        v.extend_from_slice(&ix.data);
    }
    v
}

impl Fuzz {
    async fn new(seed: u64, audit_every: usize) -> Self {
        let mut w = World::new().await;
        let shared: SharedChain = w.chain.clone();
        let counting = Arc::new(CountingChain::new(shared));
        w.sender = Sender::new(counting.clone());
        let mut rng = Rng(seed);
        let mut payers = Vec::new();
        for _ in 0..24 {
            let k = Keypair::new();
            w.chain
                .request_airdrop(&k.pubkey(), 1_000_000_000_000)
                .await
                .unwrap();
            payers.push(k);
        }
        let mut buyers = Vec::new();
        for _ in 0..3 {
            buyers.push(w.wallet(rng.range(20_000, 200_000), 0).await);
        }
        let mut providers = Vec::new();
        let n_prov = 2 + rng.below(3);
        for i in 0..n_prov {
            let stake = rng.range(1_000, 20_000);
            let h = w.register_provider(h100(), stake).await;
            providers.push(ProvM {
                h,
                honest: i % 2 == 0,
            });
        }
        // Four more dishonest providers, seated in the referee pool from the start, so
        // that kernel disputes draw referees (the others seat and leave at random).
        for _ in 0..4 {
            let stake = rng.range(2_000, 20_000);
            let h = w.register_provider(h100(), stake).await;
            w.seat(&h, rng.range(1, stake / 2)).await.unwrap();
            providers.push(ProvM { h, honest: false });
        }
        let mut challengers = Vec::new();
        for _ in 0..2 {
            challengers.push(w.wallet(50_000, 0).await);
        }
        let mut cranks = Vec::new();
        for _ in 0..2 {
            cranks.push(w.wallet(0, 0).await);
        }
        let mut f = Fuzz {
            w,
            counting,
            rng,
            seed,
            payers,
            uses: HashMap::new(),
            buyers,
            providers,
            challengers,
            cranks,
            jobs: Vec::new(),
            disputes: Vec::new(),
            nonce: 0,
            log: Vec::new(),
            step: 0,
            audit_every,
            snaps: Vec::new(),
            ok: HashMap::new(),
            errs: HashMap::new(),
            t_send: 0.0,
            t_audit: 0.0,
            t_model: 0.0,
            touched: Vec::new(),
            disputes_settled: DisputeTally::default(),
            follow_up: None,
        };
        f.snaps = f.prov_snaps().await;
        f.w.assert_conservation().await;
        f
    }

    /// Sends with a fee payer from the pool chosen so that no message repeats (the
    /// manual clock keeps one blockhash, and the sender would wait for a fresh one).
    async fn send(&mut self, ixs: &[Instruction], signers: &[&Keypair]) -> Result<()> {
        let fp = fingerprint(ixs);
        let n = self.uses.entry(fp).or_insert(0);
        let payer = &self.payers[*n % self.payers.len()];
        *n += 1;
        if *n > self.payers.len() {
            // Out of distinct payers for this message: a new slot, a new blockhash.
            self.uses.clear();
            self.w.advance(1).await;
        }
        // Only the keys the instructions ask to sign (a spare signature is refused).
        let signers: Vec<&Keypair> = signers
            .iter()
            .copied()
            .filter(|k| {
                ixs.iter().any(|ix| {
                    ix.accounts
                        .iter()
                        .any(|a| a.is_signer && a.pubkey == k.pubkey())
                })
            })
            .collect();
        let t = Instant::now();
        let r = self.w.sender.send(ixs, payer, &signers).await.map(|_| ());
        self.t_send += t.elapsed().as_secs_f64();
        r
    }

    /// Checks an operation's outcome against its declared errors.
    fn expect(&mut self, op: &'static str, r: Result<()>, allowed: &[&str]) -> bool {
        match r {
            Ok(()) => {
                *self.ok.entry(op).or_insert(0) += 1;
                self.log.push("  -> ok".to_string());
                true
            }
            Err(e) => {
                let name = e.error_name().map(str::to_owned);
                match name {
                    Some(n) if allowed.contains(&n.as_str()) => {
                        self.log.push(format!("  -> {n}"));
                        *self.errs.entry(format!("{op}: {n}")).or_insert(0) += 1;
                        false
                    }
                    _ => fail!(
                        self,
                        "{op} failed with an undeclared error: {e} ({:?}); logs {:?}",
                        name,
                        e.logs().iter().rev().take(4).collect::<Vec<_>>()
                    ),
                }
            }
        }
    }

    async fn now(&self) -> i64 {
        self.w.now().await
    }

    fn live_jobs(&self, pred: impl Fn(&JobM) -> bool) -> Vec<usize> {
        (0..self.jobs.len())
            .filter(|&i| self.jobs[i].seen != Seen::Gone && pred(&self.jobs[i]))
            .collect()
    }

    fn pick(&mut self, v: &[usize]) -> Option<usize> {
        if v.is_empty() {
            None
        } else {
            Some(v[self.rng.below(v.len())])
        }
    }

    /// Picks a job among `v` and marks it for this step's check.
    fn pick_job(&mut self, v: &[usize]) -> Option<usize> {
        let j = self.pick(v)?;
        self.touched.push(j);
        Some(j)
    }

    async fn prov_snaps(&self) -> Vec<ProvSnap> {
        let mut v = Vec::new();
        for p in &self.providers {
            let s = self.w.provider(&p.h.key).await;
            v.push(ProvSnap {
                stake: s.stake,
                locked: s.locked,
                pending: s.pending_unstake,
                release_at: s.unstake_release_at,
                referee: s.referee_stake,
            });
        }
        v
    }

    // ---- operations ----

    async fn post(&mut self) {
        let b = self.rng.below(self.buyers.len());
        self.nonce += 1;
        let nonce = self.nonce;
        let price = self.rng.range(1, 5_000);
        let now = self.now().await;
        let deadline = now + self.rng.range(0, 900) as i64 - 5;
        let gemm = Gemm::i8(2, 2, 4, self.seed ^ nonce.wrapping_mul(0x1234_5678_9ABC));
        let bounty = if self.rng.chance(80) {
            self.w.market_state().await.params.crank_bounty
        } else {
            self.w.params.crank_bounty
        };
        // A share of cuda-kernel jobs, whose disputes go to referees.
        let kernel = self.rng.chance(25);
        let args = JobPostArgs {
            workload: if kernel { 3 } else { gemm.workload.kind_code() },
            gemm: (!kernel).then(|| gemm.commitment()),
            max_escrow: gpu_market::math::escrow_for(price, bounty).unwrap_or(u64::MAX),
            ..self.w.post_args(nonce, price, deadline)
        };
        self.log.push(format!(
            "post buyer={b} nonce={nonce} price={price} deadline=now{:+}",
            deadline - now
        ));
        let buyer = &self.buyers[b];
        let (ixn, key) = ix::job_post(&self.w.market, buyer.pubkey(), buyer.payment, args);
        let bk = buyer.key.insecure_clone();
        let r = self.send(&[ixn], &[&bk]).await;
        if self.expect(
            "post",
            r,
            &[
                "DeadlineInPast",
                "DeadlineTooSoon",
                "EscrowAboveMaximum",
                "TokenInsufficientFunds",
            ],
        ) {
            self.jobs.push(JobM {
                key,
                buyer: b,
                gemm,
                submitted: None,
                provider: None,
                seen: Seen::Open,
                settlements: 0,
                kernel,
            });
        }
    }

    async fn cancel(&mut self) {
        let Some(j) = self.pick_job(&self.live_jobs(|_| true)) else {
            return;
        };
        let job = &self.jobs[j];
        let buyer = &self.buyers[job.buyer];
        self.log.push(format!("cancel job={j}"));
        let ixn = ix::job_cancel(&self.w.market, job.key, buyer.pubkey(), buyer.payment);
        let bk = buyer.key.insecure_clone();
        let r = self.send(&[ixn], &[&bk]).await;
        self.expect("cancel", r, &["JobNotOpen"]);
    }

    async fn submit_as(&mut self, p: usize, j: usize, tamper: bool) -> Result<()> {
        let mut out = self.jobs[j].gemm.clone();
        let mut changed = None;
        if tamper {
            let (r, c) = (self.rng.below(2) as u32, self.rng.below(2) as u32);
            let v = i32::from_le_bytes(out.output(r, c)).wrapping_add(1 + self.rng.below(9) as i32);
            out.set_output(r, c, v.to_le_bytes());
            changed = Some((r, c));
        }
        let prov = &self.providers[p].h;
        let ixn = ix::job_submit(
            prov.key,
            self.jobs[j].key,
            prov.worker.pubkey(),
            JobSubmitArgs {
                result_root: out.result_root(),
                result_uri: "blob://result".into(),
                gpu_ms: 0,
            },
        );
        let wk = prov.worker.insecure_clone();
        let r = self.send(&[ixn], &[&wk]).await;
        if r.is_ok() {
            self.jobs[j].submitted = Some((out, changed));
        }
        r
    }

    async fn claim(&mut self) {
        let Some(j) = self.pick_job(&self.live_jobs(|_| true)) else {
            return;
        };
        let p = self.rng.below(self.providers.len());
        let honest = self.providers[p].honest;
        self.log
            .push(format!("claim provider={p} honest={honest} job={j}"));
        let prov = &self.providers[p].h;
        let ixn = ix::job_claim(
            self.w.market.market,
            prov.key,
            self.jobs[j].key,
            prov.worker.pubkey(),
        );
        let wk = prov.worker.insecure_clone();
        let r = self.send(&[ixn], &[&wk]).await;
        let claimed = self.expect(
            "claim",
            r,
            &[
                "JobNotOpen",
                "JobDeadlinePassed",
                "StakeBelowMinimum",
                "InsufficientFreeStake",
                "ConcurrencyLimitReached",
                "DeadlineTooSoon",
                "SubmitWindowTooShort",
            ],
        );
        if claimed {
            self.jobs[j].provider = Some(p);
            self.observe(j, true).await;
            if honest {
                // The honest worker computes and submits at once (on time, correct).
                self.log.push(format!("  honest submit job={j}"));
                let r = self.submit_as(p, j, false).await;
                self.expect("honest submit", r, &[]);
            } else if self.rng.chance(50) {
                // A dishonest one sometimes submits at once too, mostly a wrong result.
                let tamper = self.rng.chance(75);
                self.log
                    .push(format!("  dishonest submit at once job={j} wrong={tamper}"));
                let r = self.submit_as(p, j, tamper).await;
                self.expect("dishonest submit", r, &[]);
            }
        }
    }

    /// A dishonest provider submits: a wrong result, or the right one (maybe late).
    async fn dishonest_submit(&mut self) {
        let cands: Vec<usize> = (0..self.providers.len())
            .filter(|&p| !self.providers[p].honest)
            .collect();
        let Some(p) = self.pick(&cands) else { return };
        let mine = self.live_jobs(|j| j.provider == Some(p));
        let j = match self.pick_job(&mine) {
            Some(j) if self.rng.chance(85) => j,
            _ => match self.pick_job(&self.live_jobs(|_| true)) {
                Some(j) => j,
                None => return,
            },
        };
        let tamper = self.rng.chance(75);
        self.log.push(format!(
            "dishonest submit provider={p} job={j} wrong={tamper}"
        ));
        let r = self.submit_as(p, j, tamper).await;
        self.expect(
            "dishonest submit",
            r,
            &["JobNotClaimed", "SubmitDeadlinePassed", "WrongProvider"],
        );
    }

    async fn finalize(&mut self) {
        let Some(j) = self.pick_job(&self.live_jobs(|j| j.provider.is_some())) else {
            return;
        };
        let c = self.rng.below(self.cranks.len());
        self.log.push(format!("finalize job={j} crank={c}"));
        let key = self.jobs[j].key;
        let job = self.w.job(&key).await;
        let provider = self.w.provider(&job.provider).await;
        let cr = &self.cranks[c];
        let ixn = ix::job_finalize(
            &self.w.market,
            key,
            &job,
            &provider,
            cr.pubkey(),
            cr.payment,
        );
        let ck = cr.key.insecure_clone();
        let r = self.send(&[ixn], &[&ck]).await;
        self.expect("finalize", r, &["JobNotSubmitted", "ChallengeWindowOpen"]);
    }

    async fn expire(&mut self) {
        // Its builder names the claiming provider's account: only claimed jobs qualify.
        let Some(j) = self.pick_job(&self.live_jobs(|j| j.provider.is_some())) else {
            return;
        };
        let c = self.rng.below(self.cranks.len());
        self.log.push(format!("expire job={j} crank={c}"));
        let key = self.jobs[j].key;
        let job = self.w.job(&key).await;
        let cr = &self.cranks[c];
        let ixn = ix::job_expire(&self.w.market, key, &job, cr.pubkey(), cr.stake);
        let ck = cr.key.insecure_clone();
        let r = self.send(&[ixn], &[&ck]).await;
        self.expect("expire", r, &["JobNotClaimed", "SubmitDeadlineNotPassed"]);
    }

    async fn expire_unclaimed(&mut self) {
        let Some(j) = self.pick_job(&self.live_jobs(|_| true)) else {
            return;
        };
        let c = self.rng.below(self.cranks.len());
        self.log.push(format!("expire_unclaimed job={j} crank={c}"));
        let key = self.jobs[j].key;
        let job = self.w.job(&key).await;
        let cr = &self.cranks[c];
        let ixn = ix::job_expire_unclaimed(&self.w.market, key, &job, cr.pubkey(), cr.payment);
        let ck = cr.key.insecure_clone();
        let r = self.send(&[ixn], &[&ck]).await;
        self.expect("expire_unclaimed", r, &["JobNotOpen", "DeadlineNotPassed"]);
    }

    async fn challenge(&mut self) {
        // An auditor that checked the result challenges a wrong one, mostly.
        let wrong = self.live_jobs(|j| j.submitted.as_ref().is_some_and(|s| s.1.is_some()));
        let any = self.live_jobs(|j| j.submitted.is_some());
        let from = if !wrong.is_empty() && self.rng.chance(75) {
            wrong
        } else {
            any
        };
        let Some(j) = self.pick_job(&from) else {
            return;
        };
        let c = self.rng.below(self.challengers.len());
        // Aim at the tampered element when there is one, mostly.
        let (row, col) = match self.jobs[j].submitted.as_ref().and_then(|s| s.1) {
            // A kernel dispute names no element.
            _ if self.jobs[j].kernel => (0, 0),
            Some(rc) if self.rng.chance(80) => rc,
            _ => (self.rng.below(2) as u32, self.rng.below(2) as u32),
        };
        self.log
            .push(format!("challenge job={j} challenger={c} at=({row},{col})"));
        let key = self.jobs[j].key;
        let job = self.w.job(&key).await;
        let m = self.w.market_state().await;
        let id = m.totals.jobs_disputed;
        let dispute = pda::dispute(&self.w.market.market, id);
        let ch = &self.challengers[c];
        let ixn = ix::job_challenge(
            &self.w.market,
            key,
            &job,
            id,
            ch.pubkey(),
            ch.payment,
            ch.stake,
            row,
            col,
        );
        let ck = ch.key.insecure_clone();
        let r = self.send(&[ixn], &[&ck]).await;
        if self.expect(
            "challenge",
            r,
            &[
                "JobNotSubmitted",
                "ChallengeWindowClosed",
                "DisputeAlreadyOpen",
            ],
        ) {
            self.disputes.push(DisputeM {
                key: dispute,
                job: j,
                challenger: c,
                row,
                col,
                settled: false,
                buffers: Vec::new(),
            });
            let d = self.disputes.len() - 1;
            let p = self.jobs[j]
                .provider
                .expect("a submitted job has a provider");
            if self.jobs[j].kernel && self.rng.chance(70) {
                // A seated worker draws on its next tick, once the draw slot has passed.
                self.w.advance(1).await;
                self.uses.clear();
                self.draw_at(d).await;
            }
            if self.providers[p].honest && !self.jobs[j].kernel {
                // The honest provider's worker answers with its row of C at once.
                self.log.push(format!("  honest reveal dispute={d}"));
                let r = self.stage(d, ProofTree::C).await;
                self.expect("honest reveal", r, &[]);
            }
            // A challenger that stays online plays its dispute out on the next step (not
            // this one: a step's checks compare stake to what was locked before it).
            if self.rng.chance(40) {
                self.follow_up = Some(d);
            }
        }
    }

    /// Stages one leaf of dispute `d` (A and B by the challenger, C by the provider).
    async fn stage(&mut self, d: usize, tree: ProofTree) -> Result<()> {
        let dm = &self.disputes[d];
        let job = &self.jobs[dm.job];
        let (out, _) = job.submitted.clone().expect("submitted");
        let proof = out.proof(dm.row, dm.col);
        let (leaf, path) = match tree {
            ProofTree::A => (proof.a_row, proof.a_proof),
            ProofTree::B => (proof.b_col, proof.b_proof),
            _ => (proof.c_row, proof.c_proof),
        };
        let by_challenger = tree != ProofTree::C;
        let payer = if by_challenger {
            self.challengers[dm.challenger].key.insecure_clone()
        } else {
            let p = job.provider.expect("provider");
            self.providers[p].h.worker.insecure_clone()
        };
        let (job_key, dkey) = (job.key, dm.key);
        let buffer = pda::proof_buffer(&dkey, tree);
        if self.w.chain.get_account(&buffer).await?.is_none() {
            let open = ix::proof_open(payer.pubkey(), job_key, dkey, tree);
            self.send(&[open], &[&payer]).await?;
            self.disputes[d].buffers.push((tree, by_challenger));
        }
        let write = ix::proof_write(payer.pubkey(), dkey, tree, 0, leaf);
        self.send(&[write], &[&payer]).await?;
        let verify = ix::proof_verify(job_key, dkey, tree, path);
        self.send(&[verify], &[&payer]).await
    }

    fn open_dispute(&mut self) -> Option<usize> {
        let v: Vec<usize> = (0..self.disputes.len())
            .filter(|&d| !self.disputes[d].settled)
            .collect();
        self.pick(&v)
    }

    async fn stage_inputs(&mut self) {
        let Some(d) = self.open_dispute() else { return };
        self.log.push(format!("stage inputs dispute={d}"));
        const STAGE: &[&str] = &[
            "DisputeWindowClosed",
            "ProofAlreadyVerified",
            // A kernel dispute has no leaves: referees decide it.
            "DisputeUnsupportedWorkload",
        ];
        let r = self.stage(d, ProofTree::A).await;
        if !self.expect("stage A", r, STAGE) {
            return;
        }
        let r = self.stage(d, ProofTree::B).await;
        if !self.expect("stage B", r, STAGE) {
            return;
        }
        let (job_key, dkey) = (self.jobs[self.disputes[d].job].key, self.disputes[d].key);
        let r = self
            .send(&[ix::dispute_absorb(job_key, dkey, 4)], &[])
            .await;
        self.expect("absorb", r, &["DisputeWindowClosed", "NothingToAbsorb"]);
    }

    async fn dishonest_reveal(&mut self) {
        let Some(d) = self.open_dispute() else { return };
        self.log.push(format!("reveal dispute={d}"));
        let r = self.stage(d, ProofTree::C).await;
        self.expect(
            "reveal",
            r,
            &[
                "DisputeWindowClosed",
                "ProofAlreadyVerified",
                "DisputeUnsupportedWorkload",
            ],
        );
    }

    async fn settle(&mut self) {
        let Some(d) = self.open_dispute() else { return };
        self.settle_dispute(d).await;
    }

    /// A crank settles dispute `d`; a settlement is tallied by its outcome and checked
    /// against the model.
    async fn settle_dispute(&mut self, d: usize) {
        let s = self.rng.below(self.cranks.len());
        self.log.push(format!("settle dispute={d} settler={s}"));
        self.touched.push(self.disputes[d].job);
        let (job_key, dkey) = (self.jobs[self.disputes[d].job].key, self.disputes[d].key);
        let job = self.w.job(&job_key).await;
        let provider = self.w.provider(&job.provider).await;
        let dispute = accounts::fetch_dispute(&*self.w.chain, &dkey)
            .await
            .unwrap();
        let st = &self.cranks[s];
        let ixn = ix::dispute_settle(
            &self.w.market,
            job_key,
            &job,
            &provider,
            dkey,
            &dispute,
            &SettleAccounts {
                settler: st.pubkey(),
                settler_payment_account: st.payment,
            },
        );
        let sk = st.key.insecure_clone();
        let r = self.send(&[ixn], &[&sk]).await;
        if self.expect("settle", r, &["DisputeNotReady"]) {
            self.disputes[d].settled = true;
            // The clock the settlement ran at (a send may have moved it one second).
            let at = self.now().await;
            self.tally_settlement(d, &dispute, &job, at);
        }
    }

    /// Counts a settled dispute by the program's own rule on the accounts it settled,
    /// and checks a ruling against the model: the provider's element is ruled wrong
    /// exactly when the output it committed to differs from the honest product there.
    fn tally_settlement(&mut self, d: usize, dispute: &Dispute, job: &Job, at: i64) {
        let outcome = match dispute.outcome_at(job, at) {
            Ok(o) => o,
            Err(e) => fail!(
                self,
                "dispute {d} settled at {at} without an outcome: {e:?}"
            ),
        };
        let dm = &self.disputes[d];
        let jm = &self.jobs[dm.job];
        let Some((out, _)) = jm.submitted.as_ref() else {
            fail!(
                self,
                "dispute {d} settled on a job the model saw no submission of"
            )
        };
        let agrees = if jm.kernel {
            // Referees never agree on a root of their own, so they can overturn only a
            // wrong root; copying the provider's root can uphold a wrong one.
            let wrong = out.result_root() != jm.gemm.result_root();
            outcome != DisputeOutcome::ProviderWrong || wrong
        } else {
            let wrong = out.output(dm.row, dm.col) != jm.gemm.output(dm.row, dm.col);
            match outcome {
                DisputeOutcome::ProviderWrong => wrong,
                DisputeOutcome::ChallengerWrong => !wrong,
                _ => true,
            }
        };
        let wrong = out.result_root() != jm.gemm.result_root();
        if !agrees {
            fail!(
                self,
                "dispute {d} ruled {outcome:?} but the committed result is {}",
                if wrong { "wrong" } else { "right" }
            );
        }
        self.log.push(format!("  outcome {outcome:?}"));
        let kernel = jm.kernel;
        self.disputes_settled.add(outcome, kernel);
    }

    /// Both sides play an open dispute out, so that disputes reach rulings and not only
    /// defaults.
    async fn play_dispute(&mut self) {
        let Some(d) = self.open_dispute() else { return };
        self.play(d).await;
    }

    /// Plays dispute `d` on from where it stands: the challenger (mostly) stages what it
    /// has not verified yet, its row of A and column of B, and absorbs the dot product; a
    /// dishonest provider (mostly) reveals its committed row of C (an honest one did at
    /// the challenge); then a crank (mostly) settles. Staging after the response deadline
    /// fails with `DisputeWindowClosed` and the settlement is a default.
    async fn play(&mut self, d: usize) {
        if self.jobs[self.disputes[d].job].kernel {
            // A kernel dispute is played by its referees: drawn (they act at once), or
            // the drawn ones commit and reveal what they have not; then settled.
            let state = accounts::fetch_dispute(&*self.w.chain, &self.disputes[d].key)
                .await
                .unwrap();
            if !state.referee.drawn {
                self.draw_at(d).await;
            } else {
                let drawn: Vec<usize> = (0..self.providers.len())
                    .filter(|&p| state.referee.index_of(&self.providers[p].h.key).is_ok())
                    .collect();
                for &p in &drawn {
                    let i = state.referee.index_of(&self.providers[p].h.key).unwrap();
                    if !state.referee.has_committed(i) && self.rng.chance(60) {
                        self.commit_as(d, p).await;
                    }
                }
                for &p in &drawn {
                    let i = state.referee.index_of(&self.providers[p].h.key).unwrap();
                    if !state.referee.has_revealed(i) && self.rng.chance(75) {
                        self.reveal_as(d, p).await;
                    }
                }
            }
            if self.rng.chance(85) {
                self.settle_dispute(d).await;
            }
            return;
        }
        let Ok(state) = accounts::fetch_dispute(&*self.w.chain, &self.disputes[d].key).await else {
            fail!(self, "open dispute {d} has no account")
        };
        self.log
            .push(format!("play dispute={d} proven={:#05b}", state.proven));
        const STAGE: &[&str] = &["DisputeWindowClosed"];
        let mut on_time = true;
        if self.rng.chance(90) {
            for tree in [ProofTree::A, ProofTree::B] {
                if on_time && !state.is_proven(tree) {
                    let r = self.stage(d, tree).await;
                    on_time = self.expect("play stage", r, STAGE);
                }
            }
            if on_time {
                let (job_key, dkey) = (self.jobs[self.disputes[d].job].key, self.disputes[d].key);
                let r = self
                    .send(&[ix::dispute_absorb(job_key, dkey, 4)], &[])
                    .await;
                on_time = self.expect(
                    "play absorb",
                    r,
                    &["DisputeWindowClosed", "NothingToAbsorb"],
                );
            }
        }
        let p = self.jobs[self.disputes[d].job]
            .provider
            .expect("a disputed job has a provider");
        if on_time
            && !self.providers[p].honest
            && !state.is_proven(ProofTree::C)
            && self.rng.chance(70)
        {
            let r = self.stage(d, ProofTree::C).await;
            self.expect("play reveal", r, STAGE);
        }
        if self.rng.chance(85) {
            self.settle_dispute(d).await;
        }
    }

    async fn close_buffers(&mut self) {
        let v: Vec<usize> = (0..self.disputes.len())
            .filter(|&d| !self.disputes[d].buffers.is_empty())
            .collect();
        let Some(d) = self.pick(&v) else { return };
        self.log.push(format!(
            "close buffers dispute={d} settled={}",
            self.disputes[d].settled
        ));
        let dm = &self.disputes[d];
        let (tree, by_challenger) = dm.buffers[self.rng.below(dm.buffers.len())];
        let payer = if by_challenger {
            self.challengers[dm.challenger].key.insecure_clone()
        } else {
            let p = self.jobs[dm.job].provider.expect("provider");
            self.providers[p].h.worker.insecure_clone()
        };
        let dkey = dm.key;
        let r = self
            .send(&[ix::proof_close(payer.pubkey(), dkey, tree)], &[&payer])
            .await;
        if self.expect("close buffer", r, &["ProofBufferInUse"]) {
            self.disputes[d].buffers.retain(|b| b.0 != tree);
        }
    }

    async fn stake(&mut self) {
        let p = self.rng.below(self.providers.len());
        let owner = &self.providers[p].h.owner;
        let have = self.w.balance(&owner.stake).await;
        let amount = if have == 0 || self.rng.chance(5) {
            0
        } else {
            self.rng.range(1, have)
        };
        self.log.push(format!("stake provider={p} amount={amount}"));
        let ixn = ix::provider_stake(&self.w.market, owner.pubkey(), owner.stake, amount);
        let ok = owner.key.insecure_clone();
        let r = self.send(&[ixn], &[&ok]).await;
        self.expect("stake", r, &["AmountZero"]);
    }

    async fn unstake(&mut self) {
        let p = self.rng.below(self.providers.len());
        let s = self.w.provider(&self.providers[p].h.key).await;
        let free = s.free_stake();
        let amount = match self.rng.below(4) {
            0 => 0,
            1 => free + 1,
            _ => self.rng.range(1, free.max(1)),
        };
        self.log
            .push(format!("unstake provider={p} amount={amount}"));
        let owner = &self.providers[p].h.owner;
        let ixn = ix::provider_unstake(self.w.market.market, owner.pubkey(), amount);
        let ok = owner.key.insecure_clone();
        let r = self.send(&[ixn], &[&ok]).await;
        self.expect("unstake", r, &["AmountZero", "InsufficientFreeStake"]);
    }

    /// Returns the provider that withdrew, if one did.
    async fn withdraw(&mut self) -> Option<usize> {
        let p = self.rng.below(self.providers.len());
        self.log.push(format!("withdraw provider={p}"));
        let owner = &self.providers[p].h.owner;
        let ixn = ix::provider_withdraw(&self.w.market, owner.pubkey(), owner.stake);
        let ok = owner.key.insecure_clone();
        let r = self.send(&[ixn], &[&ok]).await;
        self.expect(
            "withdraw",
            r,
            &["NothingToWithdraw", "UnstakeCooldownActive", "BondsLocked"],
        )
        .then_some(p)
    }

    fn random_params(&mut self) -> MarketParams {
        let base = default_params();
        let r = &mut self.rng;
        let (challenge_window, dispute_timeout) = (r.range(10, 90) as i64, r.range(10, 90) as i64);
        MarketParams {
            fee_bps: r.range(0, 1_000) as u16,
            min_stake: r.range(500, 4_000),
            bond_bps: r.range(1_000, 10_000) as u32,
            bond_min: r.range(1, 500),
            claim_timeout: r.range(20, 200) as i64,
            challenge_window,
            dispute_timeout,
            // Stake outlives every result still disputable.
            unstake_cooldown: challenge_window + dispute_timeout + r.range(1, 200) as i64,
            challenger_bond: r.range(1, 2_000),
            slash_buyer_bps: r.range(0, 6_000) as u16,
            slash_reporter_bps: r.range(0, 4_000) as u16,
            crank_bounty: r.range(0, 50),
            ..base
        }
    }

    async fn market_update(&mut self) {
        let params = self.random_params();
        self.log.push(format!("market_update {params:?}"));
        let ixn = ix::market_update(self.w.authority.pubkey(), self.w.market.market, params);
        let ak = self.w.authority.insecure_clone();
        let r = self.send(&[ixn], &[&ak]).await;
        self.expect("market_update", r, &[]);
    }

    async fn apply_update(&mut self) {
        self.log.push("apply_update".into());
        let r = self
            .send(&[ix::market_apply_update(self.w.market.market)], &[])
            .await;
        self.expect("apply_update", r, &["NoPendingUpdate", "UpdateNotDue"]);
    }

    async fn sweep(&mut self) {
        self.log.push("sweep".into());
        let (fee, slash) = (self.w.treasury.payment, self.w.treasury.stake);
        let ixn = ix::market_sweep(&self.w.market, self.w.authority.pubkey(), fee, slash);
        let ak = self.w.authority.insecure_clone();
        let r = self.send(&[ixn], &[&ak]).await;
        self.expect("sweep", r, &[]);
    }

    async fn advance(&mut self) {
        let s = if self.rng.chance(3) {
            // Far enough for a queued parameter update to come due.
            self.w.market_state().await.params.update_delay().unwrap()
        } else {
            self.rng.range(1, 100) as i64
        };
        self.log.push(format!("advance {s}s"));
        self.w.advance(s).await;
        self.uses.clear();
    }

    async fn one_step(&mut self) -> Option<usize> {
        let mut withdrew = None;
        if let Some(d) = self.follow_up.take() {
            self.play(d).await;
            return withdrew;
        }
        match self.rng.below(100) {
            0..=11 => self.post().await,
            12..=14 => self.cancel().await,
            15..=27 => self.claim().await,
            28..=35 => self.dishonest_submit().await,
            36..=42 => self.finalize().await,
            43..=47 => self.expire().await,
            48..=51 => self.expire_unclaimed().await,
            52..=58 => self.challenge().await,
            59..=62 => self.stage_inputs().await,
            63..=64 => self.dishonest_reveal().await,
            65..=68 => self.settle().await,
            69..=71 => self.play_dispute().await,
            72..=73 => self.close_buffers().await,
            74..=76 => self.stake().await,
            77..=79 => self.unstake().await,
            80..=82 => withdrew = self.withdraw().await,
            83 => self.market_update().await,
            84..=85 => self.apply_update().await,
            86..=87 => self.sweep().await,
            88..=92 => self.referee_step().await,
            _ => self.advance().await,
        }
        withdrew
    }

    // ---- referees ----
    //
    // The referees are the dishonest providers: they seat and leave at random, and when
    // drawn they commit to the honest root, to the provider's submitted root (copying it
    // unexamined) or to a root of their own, and reveal or stay silent. Honest providers
    // are only ever parties, so the honesty invariant shows that referees who do not agree
    // on one wrong root can never take an honest provider's stake.

    async fn referee_step(&mut self) {
        match self.rng.below(6) {
            0 => self.seat().await,
            1 => self.unseat().await,
            2 => self.draw().await,
            3 | 4 => self.referee_commit().await,
            _ => self.referee_reveal().await,
        }
    }

    fn dishonest_provider(&mut self) -> Option<usize> {
        let v: Vec<usize> = (0..self.providers.len())
            .filter(|&p| !self.providers[p].honest)
            .collect();
        self.pick(&v)
    }

    async fn seat(&mut self) {
        let Some(p) = self.dishonest_provider() else {
            return;
        };
        let s = self.w.provider(&self.providers[p].h.key).await;
        let weight = self.rng.range(1, s.free_stake().max(1) + 1);
        self.log
            .push(format!("referee seat provider={p} weight={weight}"));
        let owner = self.providers[p].h.owner.key.insecure_clone();
        let r = self
            .send(
                &[ix::referee_join(
                    self.w.market.market,
                    owner.pubkey(),
                    weight,
                )],
                &[&owner],
            )
            .await;
        self.expect(
            "referee seat",
            r,
            &[
                "InsufficientFreeStake",
                "RefereeAlreadyInPool",
                "RefereePoolFull",
                "StakeBelowMinimum",
            ],
        );
    }

    async fn unseat(&mut self) {
        let Some(p) = self.dishonest_provider() else {
            return;
        };
        self.log.push(format!("referee leave provider={p}"));
        let owner = self.providers[p].h.owner.key.insecure_clone();
        let r = self
            .send(
                &[ix::referee_leave(self.w.market.market, owner.pubkey())],
                &[&owner],
            )
            .await;
        self.expect(
            "referee leave",
            r,
            &["RefereeHasDuties", "RefereeNotInPool"],
        );
    }

    fn open_kernel_dispute(&mut self) -> Option<usize> {
        let v: Vec<usize> = (0..self.disputes.len())
            .filter(|&d| !self.disputes[d].settled && self.jobs[self.disputes[d].job].kernel)
            .collect();
        self.pick(&v)
    }

    async fn draw(&mut self) {
        let Some(d) = self.open_kernel_dispute() else {
            return;
        };
        self.draw_at(d).await;
    }

    async fn draw_at(&mut self, d: usize) {
        self.log.push(format!("draw dispute={d}"));
        let dkey = self.disputes[d].key;
        let state = accounts::fetch_dispute(&*self.w.chain, &dkey)
            .await
            .unwrap();
        let ixn = ix::dispute_draw(self.w.market.market, state.job, dkey, &state);
        let r = self.send(&[ixn], &[]).await;
        if !self.expect("draw", r, &["DrawNotReady", "RefereesAlreadyDrawn"]) {
            return;
        }
        // Drawn referees mostly act at once (a worker's next tick): commit, then reveal
        // once the commit phase is over; some stay silent at either step.
        let state = accounts::fetch_dispute(&*self.w.chain, &dkey)
            .await
            .unwrap();
        let drawn: Vec<usize> = (0..self.providers.len())
            .filter(|&p| state.referee.index_of(&self.providers[p].h.key).is_ok())
            .collect();
        for &p in &drawn {
            if self.rng.chance(80) {
                self.commit_as(d, p).await;
            }
        }
        for &p in &drawn {
            if self.rng.chance(75) {
                self.reveal_as(d, p).await;
            }
        }
    }

    /// A drawn (or, now and then, an undrawn) dishonest provider of a kernel dispute.
    async fn referee_of(
        &mut self,
        d: usize,
    ) -> Option<(usize, Pubkey, gpu_market::state::Dispute)> {
        let dkey = self.disputes[d].key;
        let state = accounts::fetch_dispute(&*self.w.chain, &dkey)
            .await
            .unwrap();
        let drawn: Vec<usize> = (0..self.providers.len())
            .filter(|&p| state.referee.index_of(&self.providers[p].h.key).is_ok())
            .collect();
        let p = match self.pick(&drawn) {
            Some(p) if self.rng.chance(90) => p,
            _ => self.dishonest_provider()?,
        };
        Some((p, dkey, state))
    }

    /// The root referee `p` stands by in dispute `d`: the honest one, the provider's, or
    /// its own (unique to it, so no two such referees ever agree).
    fn referee_root(&self, d: usize, p: usize) -> [u8; 32] {
        let job = &self.jobs[self.disputes[d].job];
        let honest = job.gemm.result_root();
        let submitted = job
            .submitted
            .as_ref()
            .map(|s| s.0.result_root())
            .unwrap_or(honest);
        let mut own = [0xEE; 32];
        own[..8].copy_from_slice(&(p as u64).to_le_bytes());
        own[8..16].copy_from_slice(&(d as u64).to_le_bytes());
        // Fixed per (dispute, referee), so its reveal opens its commitment.
        // Mostly the honest root, by a fixed draw per (dispute, referee).
        let mut mode = Rng(self.seed ^ ((d as u64) << 32) ^ p as u64);
        match mode.below(10) {
            0..=7 => honest,
            8 => submitted,
            _ => own,
        }
    }

    async fn referee_commit(&mut self) {
        let Some(d) = self.open_kernel_dispute() else {
            return;
        };
        let Some((p, _, _)) = self.referee_of(d).await else {
            return;
        };
        self.commit_as(d, p).await;
    }

    async fn commit_as(&mut self, d: usize, p: usize) {
        let dkey = self.disputes[d].key;
        let root = self.referee_root(d, p);
        self.log
            .push(format!("referee commit dispute={d} provider={p}"));
        let h = &self.providers[p].h;
        let salt = gpu_market_client::dispute::referee_salt(&h.worker, &dkey);
        let commitment = gpu_market::state::referee_commitment(&root, &salt, &h.key);
        let ixn = ix::referee_commit(h.worker.pubkey(), h.key, dkey, commitment);
        let wk = h.worker.insecure_clone();
        let r = self.send(&[ixn], &[&wk]).await;
        self.expect(
            "referee commit",
            r,
            &[
                "NotADrawnReferee",
                "RefereeWindowClosed",
                "RefereeAlreadyCommitted",
            ],
        );
    }

    async fn referee_reveal(&mut self) {
        let Some(d) = self.open_kernel_dispute() else {
            return;
        };
        let Some((p, _, _)) = self.referee_of(d).await else {
            return;
        };
        self.reveal_as(d, p).await;
    }

    async fn reveal_as(&mut self, d: usize, p: usize) {
        let dkey = self.disputes[d].key;
        let root = self.referee_root(d, p);
        self.log
            .push(format!("referee reveal dispute={d} provider={p}"));
        let h = &self.providers[p].h;
        let salt = gpu_market_client::dispute::referee_salt(&h.worker, &dkey);
        let ixn = ix::referee_reveal(h.worker.pubkey(), h.key, dkey, root, salt);
        let wk = h.worker.insecure_clone();
        let r = self.send(&[ixn], &[&wk]).await;
        self.expect(
            "referee reveal",
            r,
            &[
                "NotADrawnReferee",
                "RefereeNotCommitted",
                "RefereeAlreadyRevealed",
                "RefereeCommitPhaseOpen",
                "RefereeWindowClosed",
            ],
        );
    }

    // ---- invariants ----

    async fn check(&mut self, withdrew: Option<usize>) {
        let t = Instant::now();
        let full = self.step.is_multiple_of(self.audit_every);
        if full {
            self.w.assert_conservation().await;
        }
        self.t_audit += t.elapsed().as_secs_f64();
        let t = Instant::now();
        // Jobs: only along the lifecycle's edges, settled at most once. The jobs this
        // step's transactions named are read now; every job (terminal ones too) on each
        // full check, where a job no transaction named must not have moved at all.
        for j in std::mem::take(&mut self.touched) {
            self.observe(j, true).await;
        }
        if full {
            for j in 0..self.jobs.len() {
                if self.jobs[j].seen != Seen::Gone {
                    self.observe(j, false).await;
                }
            }
        }
        // Providers: slashes come out of locked stake only, withdrawals wait out their
        // cooldown, and an honest provider never loses stake.
        let clock = self.now().await;
        let after = self.prov_snaps().await;
        for (p, (b, a)) in self.snaps.iter().zip(&after).enumerate() {
            if a.locked + a.pending + a.referee > a.stake {
                fail!(
                    self,
                    "provider {p}: locked + pending + referee seat exceed stake: {a:?}"
                );
            }
            let mut lost = b.stake.saturating_sub(a.stake);
            if withdrew == Some(p) {
                if clock < b.release_at {
                    fail!(
                        self,
                        "provider {p} withdrew at {clock} before {}",
                        b.release_at
                    );
                }
                if lost != b.pending {
                    fail!(
                        self,
                        "provider {p} withdrew {lost}, pending was {}",
                        b.pending
                    );
                }
                lost = 0;
            }
            // A referee that committed and did not reveal loses at most its penalty, out
            // of its seat; everything else comes out of locked bonds.
            let penalty = b.referee.saturating_sub(a.referee);
            let max_penalty = gpu_market::state::no_reveal_penalty(b.referee).unwrap();
            if penalty > max_penalty && a.referee != 0 {
                fail!(
                    self,
                    "provider {p}'s seat lost {penalty}, more than the penalty {max_penalty} ({b:?} -> {a:?})"
                );
            }
            let from_seat = if a.referee == 0 && b.referee > 0 && lost < b.referee {
                // It left the pool: its seat went back to free stake, not out.
                0
            } else {
                penalty
            };
            if lost > b.locked + from_seat {
                fail!(
                    self,
                    "provider {p} lost {lost} of stake but only {} was locked and {from_seat} its referee penalty ({b:?} -> {a:?})",
                    b.locked
                );
            }
            if lost > 0 && self.providers[p].honest {
                fail!(
                    self,
                    "honest provider {p} lost {lost} of stake ({b:?} -> {a:?})"
                );
            }
        }
        self.snaps = after;
        self.t_model += t.elapsed().as_secs_f64();
    }

    /// Reads job `j` and checks its move from what the model last saw.
    async fn observe(&mut self, j: usize, named: bool) {
        let before = self.jobs[j].seen;
        let key = self.jobs[j].key;
        let now = match self.w.chain.get_account(&key).await.unwrap() {
            None => Seen::Gone,
            Some(_) => Seen::from(self.w.job(&key).await.state),
        };
        if !allowed(before, now) {
            fail!(self, "job {j} moved {before:?} -> {now:?}");
        }
        if !named && now != before {
            fail!(
                self,
                "job {j} moved {before:?} -> {now:?} with no transaction naming it"
            );
        }
        if now != before && now.terminal() {
            self.jobs[j].settlements += 1;
            if self.jobs[j].settlements > 1 {
                fail!(self, "job {j} settled twice ({now:?})");
            }
        }
        if now == Seen::Open {
            self.jobs[j].provider = None;
            self.jobs[j].submitted = None;
        }
        self.jobs[j].seen = now;
    }

    async fn run(&mut self, steps: usize) {
        for s in 0..steps {
            self.step = s;
            self.log.push(format!("#{s}"));
            let withdrew = self.one_step().await;
            self.check(withdrew).await;
        }
        self.w.assert_conservation().await;
        for j in 0..self.jobs.len() {
            if self.jobs[j].seen == Seen::Gone {
                let back = self.w.chain.get_account(&self.jobs[j].key).await.unwrap();
                if back.is_some() {
                    fail!(self, "closed job {j} exists again");
                }
            }
        }
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| {
        let v = v.trim();
        match v.strip_prefix("0x") {
            Some(h) => u64::from_str_radix(h, 16),
            None => v.parse(),
        }
        .unwrap_or_else(|_| panic!("{name}={v} is not a number"))
    })
}

/// What one run did, for the totals.
struct RunReport {
    sent: u64,
    disputes: DisputeTally,
    ok: HashMap<&'static str, u64>,
    errs: HashMap<String, u64>,
}

async fn one_run(seed: u64, steps: usize, audit_every: usize) -> RunReport {
    let mut f = Fuzz::new(seed, audit_every).await;
    f.run(steps).await;
    eprintln!(
        "fuzz run seed={seed:#x}: {steps} steps, {} transactions (send {:.1}s, audit {:.1}s, model checks {:.1}s); disputes settled: {}",
        f.counting.sent(),
        f.t_send,
        f.t_audit,
        f.t_model,
        f.disputes_settled
    );
    RunReport {
        sent: f.counting.sent(),
        disputes: f.disputes_settled,
        ok: f.ok,
        errs: f.errs,
    }
}

/// Runs worlds side by side (one per core), in waves, until enough transactions were sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_sequences_keep_the_invariants() {
    let steps = env_u64("GPU_MARKET_FUZZ_STEPS").unwrap_or(400) as usize;
    let audit_every = env_u64("GPU_MARKET_FUZZ_AUDIT_EVERY").unwrap_or(8).max(1) as usize;
    let target = env_u64("GPU_MARKET_FUZZ_TX").unwrap_or(100_000);
    let replay = env_u64("GPU_MARKET_FUZZ_SEED");
    let base = env_u64("GPU_MARKET_FUZZ_BASE").unwrap_or(0x5EED);
    let parallel = env_u64("GPU_MARKET_FUZZ_PARALLEL").unwrap_or(2).max(1);
    let started = Instant::now();
    let (mut total, mut runs) = (0u64, 0u64);
    let mut ok: HashMap<&'static str, u64> = HashMap::new();
    let mut errs: HashMap<String, u64> = HashMap::new();
    let mut disputes = DisputeTally::default();
    let mut next = base;
    loop {
        let wave: Vec<u64> = match replay {
            Some(seed) => vec![seed],
            None => (0..parallel).map(|i| next + i).collect(),
        };
        next += wave.len() as u64;
        let tasks: Vec<_> = wave
            .iter()
            .map(|&seed| tokio::spawn(one_run(seed, steps, audit_every)))
            .collect();
        for t in tasks {
            let r = match t.await {
                Ok(r) => r,
                Err(e) => std::panic::resume_unwind(e.into_panic()),
            };
            total += r.sent;
            runs += 1;
            disputes.merge(&r.disputes);
            for (k, v) in r.ok {
                *ok.entry(k).or_insert(0) += v;
            }
            for (k, v) in r.errs {
                *errs.entry(k).or_insert(0) += v;
            }
        }
        if replay.is_some() || total >= target {
            break;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let mut ok: Vec<_> = ok.into_iter().collect();
    ok.sort();
    let mut errs: Vec<_> = errs.into_iter().collect();
    errs.sort();
    eprintln!("succeeded: {ok:?}");
    eprintln!("expected errors: {errs:?}");
    eprintln!(
        "fuzz: {runs} runs of {steps} steps, {total} transactions sent in {secs:.1}s ({:.0} tx/s)",
        total as f64 / secs
    );
    eprintln!("disputes settled: {disputes}");
    if replay.is_none() {
        assert!(total >= target, "only {total} transactions sent");
        // Every way a dispute ends was played, not only the defaults.
        assert!(
            disputes.ruled_wrong > 0
                && disputes.ruled_right > 0
                && disputes.by_default() > 0
                && disputes.referees_overturned > 0
                && disputes.referees_upheld > 0
                && disputes.no_ruling > 0,
            "a dispute outcome never happened: {disputes}"
        );
    }
}
