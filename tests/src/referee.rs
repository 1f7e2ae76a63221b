//! Refereed re-execution on the embedded chain: a market with a referee pool, a
//! cuda-kernel job submitted with a chosen root, its challenge, the draw, and the
//! referees' commits and reveals, plus the named-error provocations of the referee
//! instructions (the named-error suite counts them).

use gpu_market::state::{Dispute, JobRequirements};
use gpu_market::JobSubmitArgs;
use gpu_market_client::dispute as d;
use gpu_market_client::error::Result;
use gpu_market_client::ix::{self, SettleAccounts};
use gpu_market_client::{accounts, pda, Pubkey};

use crate::{ProviderHandle, Signer, Wallet, World};

/// What each referee's seat weighs, and what each provider stakes.
pub const SEAT_WEIGHT: u64 = 5_000;
pub const REFEREE_STAKE: u64 = 10_000;
pub const KERNEL_PRICE: u64 = 1_000;
/// The root an honest execution of the test kernel gives.
pub const TRUE_ROOT: [u8; 32] = [0x7E; 32];

/// A submitted cuda-kernel job.
pub struct KernelCase {
    pub job: Pubkey,
    pub buyer: Wallet,
    pub provider: ProviderHandle,
    pub root: [u8; 32],
}

impl World {
    /// Seats `n` new providers in the market's referee pool (the bootstrap created it
    /// with the market).
    pub async fn referee_pool(&self, n: usize) -> Vec<ProviderHandle> {
        let mut seated = Vec::new();
        for _ in 0..n {
            let p = self.register_provider(crate::h100(), REFEREE_STAKE).await;
            self.seat(&p, SEAT_WEIGHT).await.expect("referee_join");
            seated.push(p);
        }
        seated
    }

    pub async fn seat(&self, p: &ProviderHandle, weight: u64) -> Result<()> {
        d::join_referee_pool(
            &self.sender,
            &self.authority,
            &p.owner.key,
            &self.market.market,
            weight,
        )
        .await
    }

    /// Posts a cuda-kernel job, has a fresh provider claim it and submit `root`.
    pub async fn submitted_kernel(&self, root: [u8; 32], nonce: u64) -> KernelCase {
        let provider = self.register_provider(crate::h100(), REFEREE_STAKE).await;
        let buyer = self.wallet(100_000, 0).await;
        let args = gpu_market::JobPostArgs {
            workload: 3,
            requirements: JobRequirements::default(),
            gemm: None,
            ..self.post_args(nonce, KERNEL_PRICE, self.now().await + 3_600)
        };
        let (post, job) = ix::job_post(&self.market, buyer.pubkey(), buyer.payment, args);
        self.send(&[post], &[&buyer.key]).await.expect("job_post");
        self.claim(&provider, &job).await.expect("job_claim");
        let submit = ix::job_submit(
            provider.key,
            job,
            provider.worker.pubkey(),
            JobSubmitArgs {
                result_root: root,
                result_uri: "blob://kernel-result".into(),
                gpu_ms: 0,
            },
        );
        self.send(&[submit], &[&provider.worker])
            .await
            .expect("job_submit");
        KernelCase {
            job,
            buyer,
            provider,
            root,
        }
    }

    /// `challenger` disputes the kernel job's whole result.
    pub async fn challenge_kernel(&self, case: &KernelCase, challenger: &Wallet) -> Result<Pubkey> {
        d::challenge(
            &self.sender,
            &self.authority,
            &self.market,
            &case.job,
            &challenger.key,
            challenger.payment,
            challenger.stake,
            0,
            0,
        )
        .await
    }

    /// Moves the clock (and so the slot) on, then draws; returns the dispute drawn.
    pub async fn draw(&self, dispute: &Pubkey) -> Result<Dispute> {
        self.advance(1).await;
        d::draw(&self.sender, &self.authority, &self.market.market, dispute).await
    }

    pub async fn dispute_state(&self, dispute: &Pubkey) -> Dispute {
        accounts::fetch_dispute(&*self.chain, dispute)
            .await
            .unwrap()
    }

    pub async fn commit(
        &self,
        p: &ProviderHandle,
        dispute: &Pubkey,
        root: &[u8; 32],
    ) -> Result<()> {
        d::referee_commit(&self.sender, &p.worker, &p.key, dispute, root).await
    }

    pub async fn reveal_root(
        &self,
        p: &ProviderHandle,
        dispute: &Pubkey,
        root: &[u8; 32],
    ) -> Result<()> {
        d::referee_reveal(&self.sender, &p.worker, &p.key, dispute, root).await
    }

    pub async fn settle_kernel(
        &self,
        case: &KernelCase,
        dispute: &Pubkey,
        settler: &Wallet,
    ) -> Result<()> {
        self.settle_job(&case.job, dispute, settler).await
    }
}

/// The seated providers drawn for `dispute`, in draw order.
pub fn drawn<'a>(seated: &'a [ProviderHandle], dispute: &Dispute) -> Vec<&'a ProviderHandle> {
    let r = &dispute.referee;
    r.referees[..r.count as usize]
        .iter()
        .map(|k| {
            seated
                .iter()
                .find(|p| p.key == *k)
                .expect("a drawn referee is a seated provider")
        })
        .collect()
}

/// Provokes every referee error the program names, each by the move that breaks its
/// rule, and returns their names.
pub async fn provoke_referee_errors(w: &World) -> Vec<&'static str> {
    let mut hit: Vec<&'static str> = Vec::new();
    let mut named = |r: Result<()>, name: &'static str| {
        crate::assert_err(r, name);
        hit.push(name);
    };
    // A pool of four; the first seat's provider tries a second seat.
    let seated = w.referee_pool(4).await;
    named(w.seat(&seated[0], 1).await, "RefereeAlreadyInPool");
    let outsider = w.register_provider(crate::h100(), REFEREE_STAKE).await;
    let leave = ix::referee_leave(w.market.market, outsider.owner.pubkey());
    named(
        w.send(&[leave], &[&outsider.owner.key]).await.map(|_| ()),
        "RefereeNotInPool",
    );

    // A GEMM dispute has no referees to draw.
    let gemm = w
        .submitted_gemm(crate::dispute::Gemm::i8(2, 2, 2, 3), 950)
        .await;
    let challenger = w.wallet(100_000, 0).await;
    let gemm_dispute = w.challenge(&gemm, &challenger, 0, 0).await.unwrap();
    named(w.draw(&gemm_dispute).await.map(|_| ()), "NotRefereed");

    let case = w.submitted_kernel([0xBA; 32], 951).await;
    let dispute = w.challenge_kernel(&case, &challenger).await.unwrap();
    // Drawn in the challenge's own slot: its draw slot has no hash yet.
    named(
        d::draw(&w.sender, &w.authority, &w.market.market, &dispute)
            .await
            .map(|_| ()),
        "DrawNotReady",
    );
    // A forged SlotHashes account.
    let state = w.dispute_state(&dispute).await;
    let mut forged = ix::dispute_draw(w.market.market, case.job, dispute, &state);
    forged.accounts[5].pubkey = Pubkey::new_unique();
    named(w.send(&[forged], &[]).await.map(|_| ()), "WrongSysvar");
    let state = w.draw(&dispute).await.unwrap();
    named(w.draw(&dispute).await.map(|_| ()), "RefereesAlreadyDrawn");
    let referees = drawn(&seated, &state);
    let not_drawn = seated
        .iter()
        .find(|p| !state.referee.referees.contains(&p.key))
        .expect("four seats, three drawn");
    named(
        w.commit(not_drawn, &dispute, &TRUE_ROOT).await,
        "NotADrawnReferee",
    );
    named(
        w.reveal_root(referees[0], &dispute, &TRUE_ROOT).await,
        "RefereeNotCommitted",
    );
    w.commit(referees[0], &dispute, &TRUE_ROOT).await.unwrap();
    named(
        w.commit(referees[0], &dispute, &TRUE_ROOT).await,
        "RefereeAlreadyCommitted",
    );
    named(
        w.reveal_root(referees[0], &dispute, &TRUE_ROOT).await,
        "RefereeCommitPhaseOpen",
    );
    let leave = ix::referee_leave(w.market.market, referees[0].owner.pubkey());
    named(
        w.send(&[leave], &[&referees[0].owner.key])
            .await
            .map(|_| ()),
        "RefereeHasDuties",
    );
    w.commit(referees[1], &dispute, &TRUE_ROOT).await.unwrap();
    w.commit(referees[2], &dispute, &TRUE_ROOT).await.unwrap();
    named(
        w.reveal_root(referees[0], &dispute, &[0x11; 32]).await,
        "RefereeRevealMismatch",
    );
    w.reveal_root(referees[0], &dispute, &TRUE_ROOT)
        .await
        .unwrap();
    named(
        w.reveal_root(referees[0], &dispute, &TRUE_ROOT).await,
        "RefereeAlreadyRevealed",
    );
    // Settling without the referees' accounts.
    let settler = w.wallet(0, 0).await;
    let job = w.job(&case.job).await;
    let provider = w.provider(&job.provider).await;
    let state = w.dispute_state(&dispute).await;
    let mut bare = ix::dispute_settle(
        &w.market,
        case.job,
        &job,
        &provider,
        dispute,
        &state,
        &SettleAccounts {
            settler: settler.pubkey(),
            settler_payment_account: settler.payment,
        },
    );
    bare.accounts.truncate(bare.accounts.len() - 2);
    named(
        w.send(&[bare], &[&settler.key]).await.map(|_| ()),
        "RefereeAccountsMissing",
    );
    // Past the reveal deadline a late commit is refused.
    w.advance(2 * w.params.dispute_timeout + 1).await;
    let late = ix::referee_commit(
        referees[1].worker.pubkey(),
        referees[1].key,
        dispute,
        [0; 32],
    );
    named(
        w.send(&[late], &[&referees[1].worker]).await.map(|_| ()),
        "RefereeWindowClosed",
    );
    w.settle_kernel(&case, &dispute, &settler).await.unwrap();

    // A full pool: fill it, then one more.
    let cap = gpu_market::constants::REFEREE_POOL_CAPACITY;
    let pool = accounts::fetch_referee_pool(&*w.chain, &pda::referee_pool(&w.market.market))
        .await
        .unwrap();
    for _ in pool.len as usize..cap {
        let p = w.register_provider(crate::h100(), REFEREE_STAKE).await;
        w.seat(&p, 1).await.unwrap();
    }
    let extra = w.register_provider(crate::h100(), REFEREE_STAKE).await;
    named(w.seat(&extra, 1).await, "RefereePoolFull");

    // The next dispute's address already holds data (no one can put data at a PDA of
    // this program but the program; the test writes it to reach the rule).
    let case = w.submitted_kernel([0xBC; 32], 952).await;
    let next = pda::dispute(
        &w.market.market,
        w.market_state().await.totals.jobs_disputed,
    );
    w.chain
        .set_account(
            &next,
            solana_sdk::account::Account {
                lamports: 10_000_000,
                data: vec![1; 8],
                owner: solana_system_interface::program::ID,
                executable: false,
                rent_epoch: 0,
            },
        )
        .await;
    named(
        w.challenge_kernel(&case, &challenger).await.map(|_| ()),
        "AccountAddressInUse",
    );
    hit
}
