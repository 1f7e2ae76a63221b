//! Every one of the program's named errors, provoked on purpose. The test
//! fails if a variant is added to `MarketError` without a case here.

use std::collections::BTreeSet;

use anchor_lang::{AccountDeserialize, AccountSerialize};
use gpu_market::constants::*;
use gpu_market::errors::MarketError;
use gpu_market::state::{JobRequirements, Market, MarketParams, Provider};
use gpu_market::{JobSubmitArgs, ProviderRegisterArgs};
use gpu_market_client::chain::Chain;
use gpu_market_client::error::Result;
use gpu_market_client::{ix, pda, Pubkey};
use gpu_market_tests::*;
use solana_sdk::account::Account;

struct Hits(BTreeSet<String>);

impl Hits {
    #[track_caller]
    fn expect<T: std::fmt::Debug>(&mut self, r: Result<T>, name: &str) {
        assert_err(r, name);
        self.0.insert(name.to_string());
    }
}

#[tokio::test]
async fn every_market_error_is_reachable_and_named() {
    let mut hits = Hits(BTreeSet::new());
    let w = World::new().await;
    let base = default_params();
    let t = w.now().await;

    // Market parameters: creation and update share one validator.
    let bad_params: Vec<(MarketParams, &str)> = vec![
        (
            MarketParams {
                fee_bps: 2_001,
                ..base
            },
            "FeeTooHigh",
        ),
        (
            MarketParams {
                slash_buyer_bps: 9_000,
                slash_reporter_bps: 1_001,
                ..base
            },
            "SlashSplitInvalid",
        ),
        (
            MarketParams {
                unstake_cooldown: 60,
                ..base
            },
            "CooldownTooShort",
        ),
        (
            MarketParams {
                claim_timeout: 0,
                ..base
            },
            "InvalidDuration",
        ),
        (
            MarketParams {
                bond_bps: 0,
                bond_min: 0,
                ..base
            },
            "BondRuleInvalid",
        ),
        (
            MarketParams {
                score_fee_scale: 0,
                ..base
            },
            "ScoreScaleZero",
        ),
        (
            MarketParams {
                crank_bounty: MAX_CRANK_BOUNTY + 1,
                ..base
            },
            "CrankBountyTooHigh",
        ),
        (
            MarketParams {
                bond_min: MAX_BOND_MIN + 1,
                ..base
            },
            "BondMinTooHigh",
        ),
        (
            MarketParams {
                min_stake: MAX_MIN_STAKE + 1,
                ..base
            },
            "MinStakeTooHigh",
        ),
        (
            MarketParams {
                challenger_bond: MAX_CHALLENGER_BOND + 1,
                ..base
            },
            "ChallengerBondTooHigh",
        ),
        (
            MarketParams {
                score_fee_scale: MAX_SCORE_FEE_SCALE + 1,
                ..base
            },
            "ScoreScaleTooHigh",
        ),
    ];
    for (i, (params, name)) in bad_params.into_iter().enumerate() {
        hits.expect(w.create_market(100 + i as u64, params).await, name);
        hits.expect(
            w.send(
                &[ix::market_update(
                    w.authority.pubkey(),
                    w.market.market,
                    params,
                )],
                &[],
            )
            .await,
            name,
        );
    }
    let stranger = w.wallet(100_000, 100_000).await;

    // A queued update: applied by anyone, but only once due.
    hits.expect(
        w.send(&[ix::market_apply_update(w.market.market)], &[])
            .await,
        "NoPendingUpdate",
    );
    let raise = MarketParams {
        min_stake: base.min_stake + 1,
        ..base
    };
    w.send(
        &[ix::market_update(
            w.authority.pubkey(),
            w.market.market,
            raise,
        )],
        &[],
    )
    .await
    .unwrap();
    hits.expect(
        w.send(&[ix::market_apply_update(w.market.market)], &[])
            .await,
        "UpdateNotDue",
    );
    // The next update replaces the queued one (and applies at once: nothing raised).
    w.send(
        &[ix::market_update(
            w.authority.pubkey(),
            w.market.market,
            base,
        )],
        &[],
    )
    .await
    .unwrap();
    assert_eq!(w.market_state().await.pending_update, None);

    // A mint with a freeze authority is refused: its holder could freeze the vaults.
    let freezable = Pubkey::new_unique();
    let mut mint = w.chain.get_account(&w.payment_mint).await.unwrap().unwrap();
    mint.data[46..50].copy_from_slice(&[1, 0, 0, 0]);
    mint.data[50..82].copy_from_slice(w.authority.pubkey().as_ref());
    w.chain.set_account(&freezable, mint).await;
    hits.expect(
        w.send(
            &[ix::market_create(
                w.authority.pubkey(),
                50,
                freezable,
                w.stake_mint,
                w.treasury.payment,
                w.treasury.stake,
                base,
            )],
            &[],
        )
        .await,
        "MintHasFreezeAuthority",
    );

    // A sweep never pays into the market's own vaults.
    hits.expect(
        w.send(
            &[ix::market_sweep(
                &w.market,
                w.authority.pubkey(),
                w.market.payment_vault,
                w.treasury.stake,
            )],
            &[],
        )
        .await,
        "SweepIntoVault",
    );
    hits.expect(
        w.send(
            &[ix::market_update(stranger.pubkey(), w.market.market, base)],
            &[&stranger.key],
        )
        .await,
        "Unauthorized",
    );

    // Provider registration.
    let owner = w.wallet(0, 100_000).await;
    let reg = |args: ProviderRegisterArgs, stake_acc, payout| {
        ix::provider_register(&w.market, owner.pubkey(), stake_acc, payout, args)
    };
    let good = w.register_args(owner.pubkey(), h100(), 5_000);
    hits.expect(
        w.send(
            &[reg(
                ProviderRegisterArgs {
                    stake: 999,
                    ..good.clone()
                },
                owner.stake,
                owner.payment,
            )],
            &[&owner.key],
        )
        .await,
        "StakeBelowMinimum",
    );
    hits.expect(
        w.send(
            &[reg(
                ProviderRegisterArgs {
                    gpu: gpu("x", 0, 1, 90),
                    ..good.clone()
                },
                owner.stake,
                owner.payment,
            )],
            &[&owner.key],
        )
        .await,
        "InvalidGpuDescriptor",
    );
    hits.expect(
        w.send(
            &[reg(
                ProviderRegisterArgs {
                    max_concurrent: 0,
                    ..good.clone()
                },
                owner.stake,
                owner.payment,
            )],
            &[&owner.key],
        )
        .await,
        "InvalidConcurrency",
    );
    hits.expect(
        w.send(
            &[reg(good.clone(), owner.payment, owner.payment)],
            &[&owner.key],
        )
        .await,
        "WrongMint",
    );
    hits.expect(
        w.send(
            &[reg(good.clone(), stranger.stake, owner.payment)],
            &[&owner.key],
        )
        .await,
        "WrongTokenOwner",
    );
    hits.expect(
        w.send(
            &[reg(good.clone(), owner.stake, w.market.payment_vault)],
            &[&owner.key],
        )
        .await,
        "WrongPayoutAccount",
    );
    let wrong_vault = swap(
        reg(good.clone(), owner.stake, owner.payment),
        w.market.stake_vault,
        stranger.stake,
    );
    hits.expect(w.send(&[wrong_vault], &[&owner.key]).await, "WrongVault");

    // Staking.
    let p = w.register_provider(h100(), 5_000).await;
    let po = &p.owner;
    hits.expect(
        w.send(
            &[ix::provider_stake(&w.market, po.pubkey(), po.stake, 0)],
            &[&po.key],
        )
        .await,
        "AmountZero",
    );
    let foreign = swap(
        ix::provider_stake(&w.market, stranger.pubkey(), stranger.stake, 10),
        pda::provider(&w.market.market, &stranger.pubkey()),
        p.key,
    );
    hits.expect(w.send(&[foreign], &[&stranger.key]).await, "WrongOwner");
    hits.expect(
        w.send(
            &[ix::provider_withdraw(&w.market, po.pubkey(), po.stake)],
            &[&po.key],
        )
        .await,
        "NothingToWithdraw",
    );
    hits.expect(
        w.send(
            &[ix::provider_unstake(w.market.market, po.pubkey(), 5_001)],
            &[&po.key],
        )
        .await,
        "InsufficientFreeStake",
    );

    // Posting.
    let buyer = w.wallet(1_000_000, 0).await;
    let post = |args| ix::job_post(&w.market, buyer.pubkey(), buyer.payment, args).0;
    hits.expect(
        w.send(
            &[post(gpu_market::JobPostArgs {
                price: 0,
                ..w.post_args(1, 0, t + 100)
            })],
            &[&buyer.key],
        )
        .await,
        "PriceZero",
    );
    hits.expect(
        w.send(&[post(w.post_args(2, 100, t))], &[&buyer.key]).await,
        "DeadlineInPast",
    );
    hits.expect(
        w.send(&[post(w.post_args(3, 100, t + 91 * 86_400))], &[&buyer.key])
            .await,
        "DeadlineTooFar",
    );
    hits.expect(
        w.send(
            &[post(gpu_market::JobPostArgs {
                spec_uri: "u".repeat(201),
                ..w.post_args(4, 100, t + 100)
            })],
            &[&buyer.key],
        )
        .await,
        "UriTooLong",
    );
    hits.expect(
        w.send(
            &[post(gpu_market::JobPostArgs {
                workload: 200,
                ..w.post_args(5, 100, t + 100)
            })],
            &[&buyer.key],
        )
        .await,
        "UnknownWorkload",
    );
    hits.expect(
        w.send(&[post(w.post_args(6, u64::MAX, t + 100))], &[&buyer.key])
            .await,
        "MathOverflow",
    );

    // Claiming.
    let job = w.post_job(&buyer, 10, 1_000, t + 3_600).await;
    let as_owner = ix::job_claim(w.market.market, p.key, job, po.pubkey());
    hits.expect(w.send(&[as_owner], &[&po.key]).await, "WrongWorker");
    let picky = w.post_job(&buyer, 11, 1_000, t + 3_600).await;
    let (big, _) = ix::job_post(
        &w.market,
        buyer.pubkey(),
        buyer.payment,
        gpu_market::JobPostArgs {
            requirements: JobRequirements {
                min_vram_mb: 200_000,
                min_compute_capability: 0,
                min_gpu_count: 1,
            },
            ..w.post_args(12, 1_000, t + 3_600)
        },
    );
    w.send(&[big], &[&buyer.key]).await.unwrap();
    hits.expect(
        w.claim(&p, &pda::job(&w.market.market, &buyer.pubkey(), 12))
            .await,
        "RequirementsNotMet",
    );
    let floor = gpu_market::ProviderUpdateArgs {
        price_floor: Some(5_000),
        max_concurrent: Some(1),
        ..Default::default()
    };
    w.send(
        &[ix::provider_update(
            w.market.market,
            po.pubkey(),
            None,
            floor,
        )],
        &[&po.key],
    )
    .await
    .unwrap();
    hits.expect(w.claim(&p, &picky).await, "PriceBelowFloor");
    let floor = gpu_market::ProviderUpdateArgs {
        price_floor: Some(0),
        ..Default::default()
    };
    w.send(
        &[ix::provider_update(
            w.market.market,
            po.pubkey(),
            None,
            floor,
        )],
        &[&po.key],
    )
    .await
    .unwrap();
    w.claim(&p, &job).await.unwrap();
    hits.expect(w.claim(&p, &picky).await, "ConcurrencyLimitReached");
    let p2 = w.register_provider(h100(), 5_000).await;
    hits.expect(w.claim(&p2, &job).await, "JobNotOpen");
    let other = w.create_market(2, base).await.unwrap();
    let (ix_other, other_job) = ix::job_post(
        &other,
        buyer.pubkey(),
        buyer.payment,
        w.post_args(1, 1_000, t + 3_600),
    );
    w.send(&[ix_other], &[&buyer.key]).await.unwrap();
    hits.expect(w.claim(&p2, &other_job).await, "WrongMarket");
    hits.expect(w.cancel(&job, &stranger).await, "WrongBuyer");

    // Submitting and settling.
    hits.expect(w.submit(&p2, &job, 1).await, "WrongProvider");
    hits.expect(w.finalize(&job, &buyer).await, "JobNotSubmitted");
    hits.expect(w.expire(&job, &buyer).await, "SubmitDeadlineNotPassed");
    let zero = JobSubmitArgs {
        result_root: [0; 32],
        ..World::submit_args(1, 1)
    };
    hits.expect(
        w.send(
            &[ix::job_submit(p.key, job, p.worker.pubkey(), zero)],
            &[&p.worker],
        )
        .await,
        "EmptyResultRoot",
    );
    hits.expect(w.submit(&p, &job, 1_001).await, "MeteringExceedsWallClock");
    w.submit(&p, &job, 1_000).await.unwrap();
    hits.expect(w.expire(&job, &buyer).await, "JobNotClaimed");
    hits.expect(w.finalize(&job, &buyer).await, "ChallengeWindowOpen");
    let j = w.job(&job).await;
    let provider = w.provider(&p.key).await;
    let _ = (j, provider);

    // Unstaking with a bond locked, then deadlines.
    w.send(
        &[ix::provider_unstake(w.market.market, po.pubkey(), 100)],
        &[&po.key],
    )
    .await
    .unwrap();
    hits.expect(
        w.send(
            &[ix::provider_withdraw(&w.market, po.pubkey(), po.stake)],
            &[&po.key],
        )
        .await,
        "UnstakeCooldownActive",
    );
    w.advance(base.unstake_cooldown).await;
    let late = w.post_job(&buyer, 20, 1_000, w.now().await + 10).await;
    hits.expect(w.expire_unclaimed(&late, &buyer).await, "DeadlineNotPassed");
    w.claim(&p2, &late).await.unwrap();
    w.advance(11).await;
    hits.expect(w.submit(&p2, &late, 1).await, "SubmitDeadlinePassed");
    let lapsed = w.post_job(&buyer, 21, 1_000, w.now().await + 1).await;
    w.advance(2).await;
    hits.expect(w.claim(&p2, &lapsed).await, "JobDeadlinePassed");
    let max = gpu_market::math::escrow_for(100, base.crank_bounty).unwrap();
    hits.expect(
        w.send(
            &[post(gpu_market::JobPostArgs {
                max_escrow: max - 1,
                ..w.post_args(22, 100, w.now().await + 100)
            })],
            &[&buyer.key],
        )
        .await,
        "EscrowAboveMaximum",
    );
    // A 30 s submit window (frozen into jobs posted from now on).
    let windowed = MarketParams {
        min_submit_window: 30,
        ..base
    };
    w.send(
        &[ix::market_update(
            w.authority.pubkey(),
            w.market.market,
            windowed,
        )],
        &[],
    )
    .await
    .unwrap();
    hits.expect(
        w.send(
            &[post(w.post_args(23, 100, w.now().await + 28))],
            &[&buyer.key],
        )
        .await,
        "DeadlineTooSoon",
    );
    let tight = w.post_job(&buyer, 24, 1_000, w.now().await + 40).await;
    w.advance(15).await;
    hits.expect(w.claim(&p2, &tight).await, "SubmitWindowTooShort");

    w.send(
        &[ix::market_set_paused(
            w.authority.pubkey(),
            w.market.market,
            true,
        )],
        &[],
    )
    .await
    .unwrap();
    hits.expect(
        w.send(
            &[post(w.post_args(30, 100, w.now().await + 100))],
            &[&buyer.key],
        )
        .await,
        "MarketPaused",
    );

    // Invariants. No sequence of instructions reaches a state that breaks one
    // (that is what they assert, and every suite checks the same books
    // off-chain), so each is provoked the only way it can be: the account is
    // written as a bug in a transition or a bad upgrade would leave it, and the
    // next instruction that changes the account refuses to complete. Each
    // account is restored afterwards.
    let heartbeat = |gpu| ix::provider_heartbeat(p.key, p.worker.pubkey(), gpu);
    let honest = corrupt::<Provider>(&w, &p.key, |pr| {
        // One unit more committed (bonds + pending unstake) than staked.
        pr.locked = pr.stake - pr.pending_unstake + 1;
    })
    .await;
    hits.expect(
        w.send(&[heartbeat(None)], &[&p.worker]).await,
        "ProviderStakeInvariant",
    );
    w.chain.set_account(&p.key, honest.clone()).await;
    corrupt::<Provider>(&w, &p.key, |pr| {
        // A bond locked with no job to back it.
        assert!(pr.locked > 0);
        pr.active_jobs = 0;
    })
    .await;
    hits.expect(
        w.send(&[heartbeat(Some(h100()))], &[&p.worker]).await,
        "ProviderJobsInvariant",
    );
    w.chain.set_account(&p.key, honest).await;
    let honest = corrupt::<Market>(&w, &w.market.market, |m| {
        // A job closed that was never posted.
        m.totals.jobs_completed = m.totals.jobs_posted + 1;
    })
    .await;
    hits.expect(
        w.send(
            &[ix::market_set_paused(
                w.authority.pubkey(),
                w.market.market,
                false,
            )],
            &[],
        )
        .await,
        "MarketTotalsInvariant",
    );
    w.chain.set_account(&w.market.market, honest).await;
    w.assert_conservation().await;

    // Disputes: challenges, proof staging, the ruling and its settlement.
    w.send(
        &[ix::market_set_paused(
            w.authority.pubkey(),
            w.market.market,
            false,
        )],
        &[],
    )
    .await
    .unwrap();
    for name in gpu_market_tests::dispute::provoke_dispute_errors(&w).await {
        hits.0.insert(name.to_string());
    }
    for name in gpu_market_tests::referee::provoke_referee_errors(&w).await {
        hits.0.insert(name.to_string());
    }
    for name in gpu_market_tests::segments::provoke_segment_errors(&w).await {
        hits.0.insert(name.to_string());
    }
    for name in gpu_market_tests::segment_disputes::provoke_segment_dispute_errors().await {
        hits.0.insert(name.to_string());
    }
    w.assert_conservation().await;

    // Retired: no rule raises these any more (the codes stay, the enum is only
    // appended to). `WrongTreasuryAccount`: settlement pays no treasury account
    // (fees and slash shares accrue in the vaults and are swept).
    // `BondsLocked`: a withdrawal is bounded by free stake, not by bonds locked
    // in other jobs.
    for retired in ["WrongTreasuryAccount", "BondsLocked"] {
        hits.0.insert(retired.to_string());
    }
    let all: BTreeSet<String> = MarketError::ALL.iter().map(|e| e.name()).collect();
    let missing: Vec<_> = all.difference(&hits.0).collect();
    assert!(
        missing.is_empty(),
        "named errors never provoked: {missing:?}"
    );
}

/// Rewrites a program account's state with `f`, keeping its size, owner and
/// lamports; returns the honest account so that it can be put back.
async fn corrupt<T: AccountSerialize + AccountDeserialize>(
    w: &World,
    key: &Pubkey,
    f: impl FnOnce(&mut T),
) -> Account {
    let honest = w.chain.get_account(key).await.unwrap().unwrap();
    let mut state = T::try_deserialize(&mut &honest.data[..]).unwrap();
    f(&mut state);
    let mut data = Vec::with_capacity(honest.data.len());
    state.try_serialize(&mut data).unwrap();
    data.resize(honest.data.len(), 0);
    w.chain
        .set_account(
            key,
            Account {
                data,
                ..honest.clone()
            },
        )
        .await;
    honest
}
