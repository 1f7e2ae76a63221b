//! The bad-input matrix: for every instruction, a wrong signer, a missing
//! signature, an account with the wrong owner, an account of another
//! job/provider/market, a token account of the wrong mint, a wrong token
//! program, duplicated mutable accounts, and a forged account of the right
//! size (type cosplay), each rejected with the error named here. Each section
//! ends by sending the unmodified instruction, which must succeed: every case
//! differs from a valid instruction in exactly the way it names.

use anchor_lang::Discriminator;
use gpu_market::state::{Job, MarketParams, Provider};
use gpu_market::{JobPostArgs, JobSubmitArgs, ProviderUpdateArgs};
use gpu_market_client::chain::Chain;
use gpu_market_client::{ix, pda, token, Pubkey};
use gpu_market_tests::*;
use solana_sdk::account::Account;
use solana_sdk::instruction::Instruction;

struct Matrix {
    w: World,
    eve: Wallet,
    /// Pays every fee, so that no role's signature comes from paying.
    relayer: Keypair,
    cases: std::sync::Mutex<Vec<(String, String)>>,
}

/// The same instruction with `key` no longer marked as a signer.
fn unsign(mut ix: Instruction, key: Pubkey) -> Instruction {
    for m in &mut ix.accounts {
        if m.pubkey == key {
            m.is_signer = false;
        }
    }
    ix
}

/// An executable program that is not SPL Token.
const FAKE_TOKEN_PROGRAM: Pubkey = anchor_spl::associated_token::ID;

impl Matrix {
    async fn new() -> Self {
        let w = World::new().await;
        let eve = w.wallet(1_000_000, 1_000_000).await;
        let relayer = w.wallet(0, 0).await.key;
        Matrix {
            w,
            eve,
            relayer,
            cases: Default::default(),
        }
    }

    async fn case(
        &self,
        instruction: &str,
        what: &str,
        ix: Instruction,
        signers: &[&Keypair],
        expect: &str,
    ) {
        let r = self.w.sender.send(&[ix], &self.relayer, signers).await;
        match &r {
            Err(e) if e.error_name() == Some(expect) => {}
            other => panic!("{instruction} / {what}: expected {expect}, got {other:?}"),
        }
        self.cases
            .lock()
            .unwrap()
            .push((instruction.to_string(), what.to_string()));
    }

    async fn valid(&self, instruction: &str, ix: Instruction, signers: &[&Keypair]) {
        self.w
            .sender
            .send(&[ix], &self.relayer, signers)
            .await
            .unwrap_or_else(|e| {
                panic!("{instruction}: the unmodified instruction must succeed: {e}")
            });
    }

    /// A copy of `key`'s account at a new address, owned by another program.
    async fn foreign_copy(&self, key: &Pubkey) -> Pubkey {
        let mut a = self.w.chain.get_account(key).await.unwrap().unwrap();
        a.owner = Pubkey::new_unique();
        let at = Pubkey::new_unique();
        self.w.chain.set_account(&at, a).await;
        at
    }

    /// A program-owned account as long as `like`'s, carrying another type's discriminator.
    async fn cosplay(&self, like: &Pubkey, discriminator: &[u8]) -> Pubkey {
        let len = self
            .w
            .chain
            .get_account(like)
            .await
            .unwrap()
            .unwrap()
            .data
            .len();
        let mut data = vec![0u8; len];
        data[..8].copy_from_slice(discriminator);
        let at = Pubkey::new_unique();
        let lamports = self
            .w
            .chain
            .minimum_balance_for_rent_exemption(len)
            .await
            .unwrap();
        self.w
            .chain
            .set_account(
                &at,
                Account {
                    lamports,
                    data,
                    owner: gpu_market::ID,
                    executable: false,
                    rent_epoch: 0,
                },
            )
            .await;
        at
    }
}

#[tokio::test]
async fn bad_input_matrix() {
    let m = Matrix::new().await;
    let base = default_params();
    let eve = m.eve.key.insecure_clone();
    let eve_pk = m.eve.pubkey();
    let (eve_pay, eve_stake) = (m.eve.payment, m.eve.stake);
    let a = m.w.market;
    let m2 = m.w.create_market(2, base).await.unwrap();

    // ---- market_create
    let admin = m.w.wallet(0, 0).await;
    let treasury = (m.w.treasury.payment, m.w.treasury.stake);
    let create = |id| {
        ix::market_create(
            admin.pubkey(),
            id,
            m.w.payment_mint,
            m.w.stake_mint,
            treasury.0,
            treasury.1,
            base,
        )
    };
    let n = "market_create";
    m.case(
        n,
        "wrong signer",
        swap(create(7), admin.pubkey(), eve_pk),
        &[&eve],
        "ConstraintSeeds",
    )
    .await;
    m.case(
        n,
        "missing signature",
        unsign(create(7), admin.pubkey()),
        &[],
        "AccountNotSigner",
    )
    .await;
    let foreign_mint = m.foreign_copy(&m.w.payment_mint).await;
    m.case(
        n,
        "mint owned by another program",
        swap(create(7), m.w.payment_mint, foreign_mint),
        &[&admin.key],
        "AccountOwnedByWrongProgram",
    )
    .await;
    m.case(
        n,
        "market address of another market id",
        swap(
            create(7),
            pda::market(&admin.pubkey(), 7),
            pda::market(&admin.pubkey(), 8),
        ),
        &[&admin.key],
        "ConstraintSeeds",
    )
    .await;
    m.case(
        n,
        "fee account of the stake mint",
        swap(create(7), treasury.0, treasury.1),
        &[&admin.key],
        "WrongMint",
    )
    .await;
    m.case(
        n,
        "wrong token program",
        swap(create(7), token::TOKEN_PROGRAM_ID, FAKE_TOKEN_PROGRAM),
        &[&admin.key],
        "InvalidProgramId",
    )
    .await;
    let market7 = pda::market(&admin.pubkey(), 7);
    m.case(
        n,
        "duplicate vault (stake vault = payment vault)",
        swap(
            create(7),
            pda::stake_vault(&market7),
            pda::payment_vault(&market7),
        ),
        &[&admin.key],
        "ConstraintSeeds",
    )
    .await;
    m.case(
        n,
        "token account posing as a mint",
        swap(create(7), m.w.payment_mint, treasury.0),
        &[&admin.key],
        "InvalidAccountData",
    )
    .await;
    m.valid(n, create(7), &[&admin.key]).await;

    // ---- market_update and market_set_paused (authority only)
    let auth = m.w.authority.pubkey();
    let auth_key = m.w.authority.insecure_clone();
    let other_admin_market = pda::market(&admin.pubkey(), 7);
    let foreign_market = m.foreign_copy(&a.market).await;
    let market_cosplay = m.cosplay(&a.market, Provider::DISCRIMINATOR).await;
    for n in ["market_update", "market_set_paused"] {
        let build = |signer: Pubkey, market: Pubkey| match n {
            "market_update" => ix::market_update(signer, market, base),
            _ => ix::market_set_paused(signer, market, false),
        };
        m.case(
            n,
            "wrong signer",
            build(eve_pk, a.market),
            &[&eve],
            "Unauthorized",
        )
        .await;
        m.case(
            n,
            "missing signature",
            unsign(build(auth, a.market), auth),
            &[],
            "AccountNotSigner",
        )
        .await;
        m.case(
            n,
            "market owned by another program",
            build(auth, foreign_market),
            &[&auth_key],
            "AccountOwnedByWrongProgram",
        )
        .await;
        m.case(
            n,
            "another authority's market",
            build(auth, other_admin_market),
            &[&auth_key],
            "Unauthorized",
        )
        .await;
        m.case(
            n,
            "forged market (provider discriminator)",
            build(auth, market_cosplay),
            &[&auth_key],
            "AccountDiscriminatorMismatch",
        )
        .await;
        m.valid(n, build(auth, a.market), &[&auth_key]).await;
    }

    // ---- market_update bounds, market_apply_update (anyone), market_sweep (authority)
    let n = "market_update";
    m.case(
        n,
        "crank bounty above its bound",
        ix::market_update(
            auth,
            a.market,
            MarketParams {
                crank_bounty: gpu_market::constants::MAX_CRANK_BOUNTY + 1,
                ..base
            },
        ),
        &[&auth_key],
        "CrankBountyTooHigh",
    )
    .await;
    let n = "market_apply_update";
    m.case(
        n,
        "nothing pending",
        ix::market_apply_update(a.market),
        &[],
        "NoPendingUpdate",
    )
    .await;
    m.case(
        n,
        "market owned by another program",
        ix::market_apply_update(foreign_market),
        &[],
        "AccountOwnedByWrongProgram",
    )
    .await;
    m.case(
        n,
        "forged market (provider discriminator)",
        ix::market_apply_update(market_cosplay),
        &[],
        "AccountDiscriminatorMismatch",
    )
    .await;
    let queued = MarketParams {
        min_stake: base.min_stake + 1,
        ..base
    };
    m.w.send(&[ix::market_update(auth, a.market, queued)], &[])
        .await
        .unwrap();
    m.case(
        n,
        "before the delay",
        ix::market_apply_update(a.market),
        &[],
        "UpdateNotDue",
    )
    .await;
    // A queued update is replaced by the next one: put the old parameters back.
    m.w.send(&[ix::market_update(auth, a.market, base)], &[])
        .await
        .unwrap();
    // The valid case: a queued update applied after its delay (on the second market).
    m.w.send(&[ix::market_update(auth, m2.market, queued)], &[])
        .await
        .unwrap();
    let later = m.w.now().await + base.update_delay().unwrap();
    m.w.set_time(later).await;
    m.valid(n, ix::market_apply_update(m2.market), &[]).await;
    let t = m.w.now().await;
    let n = "market_sweep";
    let sweep = || ix::market_sweep(&a, auth, m.w.treasury.payment, m.w.treasury.stake);
    m.case(
        n,
        "wrong signer",
        swap(sweep(), auth, eve_pk),
        &[&eve],
        "Unauthorized",
    )
    .await;
    m.case(
        n,
        "missing signature",
        unsign(sweep(), auth),
        &[],
        "AccountNotSigner",
    )
    .await;
    m.case(
        n,
        "fees into the payment vault",
        swap(sweep(), m.w.treasury.payment, a.payment_vault),
        &[&auth_key],
        "SweepIntoVault",
    )
    .await;
    m.case(
        n,
        "fee destination of the stake mint",
        swap(sweep(), m.w.treasury.payment, eve_stake),
        &[&auth_key],
        "WrongMint",
    )
    .await;
    m.case(
        n,
        "stake vault of another market",
        swap(sweep(), a.stake_vault, m2.stake_vault),
        &[&auth_key],
        "WrongVault",
    )
    .await;
    m.case(
        n,
        "another authority's market",
        swap(sweep(), a.market, other_admin_market),
        &[&auth_key],
        "Unauthorized",
    )
    .await;
    m.case(
        n,
        "wrong token program",
        swap(sweep(), token::TOKEN_PROGRAM_ID, FAKE_TOKEN_PROGRAM),
        &[&auth_key],
        "InvalidProgramId",
    )
    .await;
    m.valid(n, sweep(), &[&auth_key]).await;

    // ---- provider_register
    let owner = m.w.wallet(0, 50_000).await;
    let args = m.w.register_args(owner.pubkey(), h100(), 5_000);
    let reg =
        || ix::provider_register(&a, owner.pubkey(), owner.stake, owner.payment, args.clone());
    let n = "provider_register";
    m.case(
        n,
        "wrong signer",
        swap(reg(), owner.pubkey(), eve_pk),
        &[&eve],
        "ConstraintSeeds",
    )
    .await;
    m.case(
        n,
        "missing signature",
        unsign(reg(), owner.pubkey()),
        &[],
        "AccountNotSigner",
    )
    .await;
    m.case(
        n,
        "stake account of another wallet",
        swap(reg(), owner.stake, eve_stake),
        &[&owner.key],
        "WrongTokenOwner",
    )
    .await;
    m.case(
        n,
        "market owned by another program",
        swap(reg(), a.market, foreign_market),
        &[&owner.key],
        "AccountOwnedByWrongProgram",
    )
    .await;
    m.case(
        n,
        "another market",
        swap(reg(), a.market, m2.market),
        &[&owner.key],
        "ConstraintSeeds",
    )
    .await;
    m.case(
        n,
        "vault of another market",
        swap(reg(), a.stake_vault, m2.stake_vault),
        &[&owner.key],
        "WrongVault",
    )
    .await;
    m.case(
        n,
        "stake account of the payment mint",
        swap(reg(), owner.stake, owner.payment),
        &[&owner.key],
        "WrongMint",
    )
    .await;
    m.case(
        n,
        "wrong token program",
        swap(reg(), token::TOKEN_PROGRAM_ID, FAKE_TOKEN_PROGRAM),
        &[&owner.key],
        "InvalidProgramId",
    )
    .await;
    m.case(
        n,
        "duplicate mutable (stake account = vault)",
        swap(reg(), owner.stake, a.stake_vault),
        &[&owner.key],
        "ConstraintDuplicateMutableAccount",
    )
    .await;
    m.case(
        n,
        "forged market (job discriminator)",
        swap(
            reg(),
            a.market,
            m.cosplay(&a.market, Job::DISCRIMINATOR).await,
        ),
        &[&owner.key],
        "AccountDiscriminatorMismatch",
    )
    .await;
    m.valid(n, reg(), &[&owner.key]).await;
    let p = ProviderHandle {
        key: pda::provider(&a.market, &owner.pubkey()),
        worker: owner.key.insecure_clone(),
        owner,
    };
    let p2 = m.w.register_provider(h100(), 50_000).await;
    let po = &p.owner;
    let foreign_provider = m.foreign_copy(&p.key).await;
    let provider_cosplay = m.cosplay(&p.key, Job::DISCRIMINATOR).await;

    // ---- provider_stake
    let stake = || ix::provider_stake(&a, po.pubkey(), po.stake, 100);
    let n = "provider_stake";
    m.case(
        n,
        "wrong signer",
        swap(stake(), po.pubkey(), eve_pk),
        &[&eve],
        "WrongOwner",
    )
    .await;
    m.case(
        n,
        "missing signature",
        unsign(stake(), po.pubkey()),
        &[],
        "AccountNotSigner",
    )
    .await;
    m.case(
        n,
        "stake account of another wallet",
        swap(stake(), po.stake, eve_stake),
        &[&po.key],
        "WrongTokenOwner",
    )
    .await;
    m.case(
        n,
        "provider owned by another program",
        swap(stake(), p.key, foreign_provider),
        &[&po.key],
        "AccountOwnedByWrongProgram",
    )
    .await;
    m.case(
        n,
        "another provider",
        swap(stake(), p.key, p2.key),
        &[&po.key],
        "WrongOwner",
    )
    .await;
    m.case(
        n,
        "another market",
        swap(stake(), a.market, m2.market),
        &[&po.key],
        "WrongMarket",
    )
    .await;
    m.case(
        n,
        "stake account of the payment mint",
        swap(stake(), po.stake, po.payment),
        &[&po.key],
        "WrongMint",
    )
    .await;
    m.case(
        n,
        "wrong token program",
        swap(stake(), token::TOKEN_PROGRAM_ID, FAKE_TOKEN_PROGRAM),
        &[&po.key],
        "InvalidProgramId",
    )
    .await;
    m.case(
        n,
        "duplicate mutable (stake account = vault)",
        swap(stake(), po.stake, a.stake_vault),
        &[&po.key],
        "ConstraintDuplicateMutableAccount",
    )
    .await;
    m.case(
        n,
        "forged provider (job discriminator)",
        swap(stake(), p.key, provider_cosplay),
        &[&po.key],
        "AccountDiscriminatorMismatch",
    )
    .await;
    m.valid(n, stake(), &[&po.key]).await;

    // ---- provider_unstake
    let unstake = || ix::provider_unstake(a.market, po.pubkey(), 1_000);
    let n = "provider_unstake";
    m.case(
        n,
        "wrong signer",
        swap(unstake(), po.pubkey(), eve_pk),
        &[&eve],
        "WrongOwner",
    )
    .await;
    m.case(
        n,
        "missing signature",
        unsign(unstake(), po.pubkey()),
        &[],
        "AccountNotSigner",
    )
    .await;
    m.case(
        n,
        "provider owned by another program",
        swap(unstake(), p.key, foreign_provider),
        &[&po.key],
        "AccountOwnedByWrongProgram",
    )
    .await;
    m.case(
        n,
        "another provider",
        swap(unstake(), p.key, p2.key),
        &[&po.key],
        "WrongOwner",
    )
    .await;
    m.case(
        n,
        "another market",
        swap(unstake(), a.market, m2.market),
        &[&po.key],
        "WrongMarket",
    )
    .await;
    m.case(
        n,
        "forged market (provider discriminator)",
        swap(unstake(), a.market, market_cosplay),
        &[&po.key],
        "AccountDiscriminatorMismatch",
    )
    .await;
    m.valid(n, unstake(), &[&po.key]).await;

    // ---- provider_withdraw (after the cooldown)
    m.w.advance(base.unstake_cooldown).await;
    let withdraw = || ix::provider_withdraw(&a, po.pubkey(), po.stake);
    let n = "provider_withdraw";
    m.case(
        n,
        "wrong signer",
        swap(withdraw(), po.pubkey(), eve_pk),
        &[&eve],
        "WrongOwner",
    )
    .await;
    m.case(
        n,
        "missing signature",
        unsign(withdraw(), po.pubkey()),
        &[],
        "AccountNotSigner",
    )
    .await;
    m.case(
        n,
        "stake account of another wallet",
        swap(withdraw(), po.stake, eve_stake),
        &[&po.key],
        "WrongTokenOwner",
    )
    .await;
    m.case(
        n,
        "provider owned by another program",
        swap(withdraw(), p.key, foreign_provider),
        &[&po.key],
        "AccountOwnedByWrongProgram",
    )
    .await;
    m.case(
        n,
        "another provider",
        swap(withdraw(), p.key, p2.key),
        &[&po.key],
        "WrongOwner",
    )
    .await;
    m.case(
        n,
        "another market",
        swap(withdraw(), a.market, m2.market),
        &[&po.key],
        "WrongMarket",
    )
    .await;
    m.case(
        n,
        "vault of another market",
        swap(withdraw(), a.stake_vault, m2.stake_vault),
        &[&po.key],
        "WrongVault",
    )
    .await;
    m.case(
        n,
        "stake account of the payment mint",
        swap(withdraw(), po.stake, po.payment),
        &[&po.key],
        "WrongMint",
    )
    .await;
    m.case(
        n,
        "wrong token program",
        swap(withdraw(), token::TOKEN_PROGRAM_ID, FAKE_TOKEN_PROGRAM),
        &[&po.key],
        "InvalidProgramId",
    )
    .await;
    m.case(
        n,
        "duplicate mutable (stake account = vault)",
        swap(withdraw(), po.stake, a.stake_vault),
        &[&po.key],
        "ConstraintDuplicateMutableAccount",
    )
    .await;
    m.case(
        n,
        "forged provider (job discriminator)",
        swap(withdraw(), p.key, provider_cosplay),
        &[&po.key],
        "AccountDiscriminatorMismatch",
    )
    .await;
    m.valid(n, withdraw(), &[&po.key]).await;

    // ---- provider_heartbeat (worker key; here the owner doubles as worker)
    let hb = || ix::provider_heartbeat(p.key, p.worker.pubkey(), None);
    let n = "provider_heartbeat";
    m.case(
        n,
        "wrong signer",
        swap(hb(), p.worker.pubkey(), eve_pk),
        &[&eve],
        "WrongWorker",
    )
    .await;
    m.case(
        n,
        "missing signature",
        unsign(hb(), p.worker.pubkey()),
        &[],
        "AccountNotSigner",
    )
    .await;
    m.case(
        n,
        "provider owned by another program",
        swap(hb(), p.key, foreign_provider),
        &[&p.worker],
        "AccountOwnedByWrongProgram",
    )
    .await;
    m.case(
        n,
        "another provider",
        swap(hb(), p.key, p2.key),
        &[&p.worker],
        "WrongWorker",
    )
    .await;
    m.case(
        n,
        "forged provider (job discriminator)",
        swap(hb(), p.key, provider_cosplay),
        &[&p.worker],
        "AccountDiscriminatorMismatch",
    )
    .await;
    m.valid(n, hb(), &[&p.worker]).await;

    // ---- provider_update
    let upd = |payout: Option<Pubkey>| {
        ix::provider_update(
            a.market,
            po.pubkey(),
            payout,
            ProviderUpdateArgs {
                price_floor: Some(1),
                ..Default::default()
            },
        )
    };
    let n = "provider_update";
    m.case(
        n,
        "wrong signer",
        swap(upd(None), po.pubkey(), eve_pk),
        &[&eve],
        "WrongOwner",
    )
    .await;
    m.case(
        n,
        "missing signature",
        unsign(upd(None), po.pubkey()),
        &[],
        "AccountNotSigner",
    )
    .await;
    m.case(
        n,
        "provider owned by another program",
        swap(upd(None), p.key, foreign_provider),
        &[&po.key],
        "AccountOwnedByWrongProgram",
    )
    .await;
    m.case(
        n,
        "another provider",
        swap(upd(None), p.key, p2.key),
        &[&po.key],
        "WrongOwner",
    )
    .await;
    m.case(
        n,
        "another market",
        swap(upd(None), a.market, m2.market),
        &[&po.key],
        "WrongMarket",
    )
    .await;
    m.case(
        n,
        "payout account of the stake mint",
        upd(Some(po.stake)),
        &[&po.key],
        "WrongMint",
    )
    .await;
    m.case(
        n,
        "payout account = the market's vault",
        upd(Some(a.payment_vault)),
        &[&po.key],
        "WrongPayoutAccount",
    )
    .await;
    m.case(
        n,
        "forged provider (job discriminator)",
        swap(upd(None), p.key, provider_cosplay),
        &[&po.key],
        "AccountDiscriminatorMismatch",
    )
    .await;
    m.valid(n, upd(Some(po.payment)), &[&po.key]).await;

    // ---- job_post
    let buyer = m.w.wallet(1_000_000, 0).await;
    let post = |nonce| {
        ix::job_post(
            &a,
            buyer.pubkey(),
            buyer.payment,
            m.w.post_args(nonce, 1_000, t + 3_600),
        )
        .0
    };
    let n = "job_post";
    m.case(
        n,
        "wrong signer",
        swap(post(1), buyer.pubkey(), eve_pk),
        &[&eve],
        "ConstraintSeeds",
    )
    .await;
    m.case(
        n,
        "missing signature",
        unsign(post(1), buyer.pubkey()),
        &[],
        "AccountNotSigner",
    )
    .await;
    m.case(
        n,
        "payment account of another wallet",
        swap(post(1), buyer.payment, eve_pay),
        &[&buyer.key],
        "WrongTokenOwner",
    )
    .await;
    m.case(
        n,
        "market owned by another program",
        swap(post(1), a.market, foreign_market),
        &[&buyer.key],
        "AccountOwnedByWrongProgram",
    )
    .await;
    m.case(
        n,
        "another market",
        swap(post(1), a.market, m2.market),
        &[&buyer.key],
        "ConstraintSeeds",
    )
    .await;
    m.case(
        n,
        "vault of another market",
        swap(post(1), a.payment_vault, m2.payment_vault),
        &[&buyer.key],
        "WrongVault",
    )
    .await;
    m.case(
        n,
        "payment account of the stake mint",
        swap(post(1), buyer.payment, buyer.stake),
        &[&buyer.key],
        "WrongMint",
    )
    .await;
    m.case(
        n,
        "slash-share account of another wallet",
        swap(post(1), buyer.stake, eve_stake),
        &[&buyer.key],
        "WrongTokenOwner",
    )
    .await;
    m.case(
        n,
        "slash-share account of the payment mint",
        ix::job_post_with(
            &a,
            buyer.pubkey(),
            buyer.payment,
            buyer.payment,
            m.w.post_args(1, 1_000, t + 3_600),
        )
        .0,
        &[&buyer.key],
        "WrongMint",
    )
    .await;
    m.case(
        n,
        "max_escrow one below the escrow",
        ix::job_post(
            &a,
            buyer.pubkey(),
            buyer.payment,
            JobPostArgs {
                max_escrow: 1_000 + base.crank_bounty - 1,
                ..m.w.post_args(1, 1_000, t + 3_600)
            },
        )
        .0,
        &[&buyer.key],
        "EscrowAboveMaximum",
    )
    .await;
    m.case(
        n,
        "wrong token program",
        swap(post(1), token::TOKEN_PROGRAM_ID, FAKE_TOKEN_PROGRAM),
        &[&buyer.key],
        "InvalidProgramId",
    )
    .await;
    m.case(
        n,
        "duplicate mutable (payment account = vault)",
        swap(post(1), buyer.payment, a.payment_vault),
        &[&buyer.key],
        "ConstraintDuplicateMutableAccount",
    )
    .await;
    m.case(
        n,
        "forged market (provider discriminator)",
        swap(post(1), a.market, market_cosplay),
        &[&buyer.key],
        "AccountDiscriminatorMismatch",
    )
    .await;
    m.valid(n, post(1), &[&buyer.key]).await;
    let job = pda::job(&a.market, &buyer.pubkey(), 1);
    let other_buyer = m.w.wallet(1_000_000, 0).await;
    let eve_job = m.w.post_job(&other_buyer, 1, 1_000, t + 3_600).await;
    let (post_m2, job_m2) = ix::job_post(
        &m2,
        buyer.pubkey(),
        buyer.payment,
        m.w.post_args(1, 1_000, t + 3_600),
    );
    m.valid("job_post (second market)", post_m2, &[&buyer.key])
        .await;
    let foreign_job = m.foreign_copy(&job).await;
    let job_cosplay = m.cosplay(&job, Provider::DISCRIMINATOR).await;

    // ---- job_cancel (on a second open job)
    let spare = m.w.post_job(&buyer, 2, 1_000, t + 3_600).await;
    let cancel = || ix::job_cancel(&a, spare, buyer.pubkey(), buyer.payment);
    let n = "job_cancel";
    m.case(
        n,
        "wrong signer",
        swap(cancel(), buyer.pubkey(), eve_pk),
        &[&eve],
        "WrongBuyer",
    )
    .await;
    m.case(
        n,
        "missing signature",
        unsign(cancel(), buyer.pubkey()),
        &[],
        "AccountNotSigner",
    )
    .await;
    m.case(
        n,
        "refund to another wallet's account",
        swap(cancel(), buyer.payment, eve_pay),
        &[&buyer.key],
        "WrongTokenOwner",
    )
    .await;
    m.case(
        n,
        "job owned by another program",
        swap(cancel(), spare, foreign_job),
        &[&buyer.key],
        "AccountOwnedByWrongProgram",
    )
    .await;
    m.case(
        n,
        "another buyer's job",
        swap(cancel(), spare, eve_job),
        &[&buyer.key],
        "WrongBuyer",
    )
    .await;
    m.case(
        n,
        "job of another market",
        swap(cancel(), spare, job_m2),
        &[&buyer.key],
        "WrongMarket",
    )
    .await;
    m.case(
        n,
        "vault of another market",
        swap(cancel(), a.payment_vault, m2.payment_vault),
        &[&buyer.key],
        "WrongVault",
    )
    .await;
    m.case(
        n,
        "refund account of the stake mint",
        swap(cancel(), buyer.payment, buyer.stake),
        &[&buyer.key],
        "WrongMint",
    )
    .await;
    m.case(
        n,
        "wrong token program",
        swap(cancel(), token::TOKEN_PROGRAM_ID, FAKE_TOKEN_PROGRAM),
        &[&buyer.key],
        "InvalidProgramId",
    )
    .await;
    m.case(
        n,
        "duplicate mutable (refund account = vault)",
        swap(cancel(), buyer.payment, a.payment_vault),
        &[&buyer.key],
        "ConstraintDuplicateMutableAccount",
    )
    .await;
    m.case(
        n,
        "forged job (provider discriminator)",
        swap(cancel(), spare, job_cosplay),
        &[&buyer.key],
        "AccountDiscriminatorMismatch",
    )
    .await;
    m.valid(n, cancel(), &[&buyer.key]).await;

    // ---- job_claim
    let w1 = p2.worker.insecure_clone();
    let claim = || ix::job_claim(a.market, p2.key, job, w1.pubkey());
    let n = "job_claim";
    m.case(
        n,
        "wrong signer",
        swap(claim(), w1.pubkey(), eve_pk),
        &[&eve],
        "WrongWorker",
    )
    .await;
    m.case(
        n,
        "missing signature",
        unsign(claim(), w1.pubkey()),
        &[],
        "AccountNotSigner",
    )
    .await;
    m.case(
        n,
        "job owned by another program",
        swap(claim(), job, foreign_job),
        &[&w1],
        "AccountOwnedByWrongProgram",
    )
    .await;
    m.case(
        n,
        "another provider (not this worker's)",
        swap(claim(), p2.key, p.key),
        &[&w1],
        "WrongWorker",
    )
    .await;
    m.case(
        n,
        "job of another market",
        swap(claim(), job, job_m2),
        &[&w1],
        "WrongMarket",
    )
    .await;
    m.case(
        n,
        "another market",
        swap(claim(), a.market, m2.market),
        &[&w1],
        "WrongMarket",
    )
    .await;
    m.case(
        n,
        "forged provider (job discriminator)",
        swap(claim(), p2.key, provider_cosplay),
        &[&w1],
        "AccountDiscriminatorMismatch",
    )
    .await;
    m.case(
        n,
        "duplicate mutable (job passed as provider)",
        swap(claim(), p2.key, job),
        &[&w1],
        "AccountDiscriminatorMismatch",
    )
    .await;
    m.valid(n, claim(), &[&w1]).await;
    // A second job, claimed by the other provider, for cross-job cases.
    let job_b = m.w.post_job(&buyer, 3, 1_000, t + 3_600).await;
    m.w.claim(&p, &job_b).await.unwrap();

    // ---- job_submit
    let submit = || {
        ix::job_submit(
            p2.key,
            job,
            w1.pubkey(),
            JobSubmitArgs {
                result_root: [9; 32],
                result_uri: "r".into(),
                gpu_ms: 1,
            },
        )
    };
    let n = "job_submit";
    m.case(
        n,
        "wrong signer",
        swap(submit(), w1.pubkey(), eve_pk),
        &[&eve],
        "WrongWorker",
    )
    .await;
    m.case(
        n,
        "missing signature",
        unsign(submit(), w1.pubkey()),
        &[],
        "AccountNotSigner",
    )
    .await;
    m.case(
        n,
        "job owned by another program",
        swap(submit(), job, foreign_job),
        &[&w1],
        "AccountOwnedByWrongProgram",
    )
    .await;
    m.case(
        n,
        "another provider's job",
        swap(submit(), job, job_b),
        &[&w1],
        "WrongProvider",
    )
    .await;
    m.case(
        n,
        "another provider",
        swap(submit(), p2.key, p.key),
        &[&w1],
        "WrongWorker",
    )
    .await;
    m.case(
        n,
        "forged job (provider discriminator)",
        swap(submit(), job, job_cosplay),
        &[&w1],
        "AccountDiscriminatorMismatch",
    )
    .await;
    m.case(
        n,
        "duplicate mutable (job passed as provider)",
        swap(submit(), p2.key, job),
        &[&w1],
        "AccountDiscriminatorMismatch",
    )
    .await;
    m.valid(n, submit(), &[&w1]).await;

    // ---- job_finalize
    m.w.advance(base.challenge_window + 1).await;
    let cranker = m.w.wallet(0, 0).await;
    let (jstate, pstate) = (m.w.job(&job).await, m.w.provider(&p2.key).await);
    let fin = || ix::job_finalize(&a, job, &jstate, &pstate, cranker.pubkey(), cranker.payment);
    let n = "job_finalize";
    m.case(
        n,
        "wrong signer",
        swap(fin(), cranker.pubkey(), eve_pk),
        &[&eve],
        "WrongTokenOwner",
    )
    .await;
    m.case(
        n,
        "missing signature",
        unsign(fin(), cranker.pubkey()),
        &[],
        "AccountNotSigner",
    )
    .await;
    m.case(
        n,
        "rent to someone other than the buyer",
        swap(fin(), buyer.pubkey(), eve_pk),
        &[&cranker.key],
        "WrongBuyer",
    )
    .await;
    m.case(
        n,
        "job owned by another program",
        swap(fin(), job, foreign_job),
        &[&cranker.key],
        "AccountOwnedByWrongProgram",
    )
    .await;
    m.case(
        n,
        "another provider",
        swap(fin(), p2.key, p.key),
        &[&cranker.key],
        "WrongProvider",
    )
    .await;
    m.case(
        n,
        "payout to another account",
        swap(fin(), pstate.payout_account, eve_pay),
        &[&cranker.key],
        "WrongPayoutAccount",
    )
    .await;
    m.case(
        n,
        "another market",
        swap(fin(), a.market, m2.market),
        &[&cranker.key],
        "WrongMarket",
    )
    .await;
    m.case(
        n,
        "vault of another market",
        swap(fin(), a.payment_vault, m2.payment_vault),
        &[&cranker.key],
        "WrongVault",
    )
    .await;
    m.case(
        n,
        "bounty account of the stake mint",
        swap(fin(), cranker.payment, cranker.stake),
        &[&cranker.key],
        "WrongMint",
    )
    .await;
    m.case(
        n,
        "wrong token program",
        swap(fin(), token::TOKEN_PROGRAM_ID, FAKE_TOKEN_PROGRAM),
        &[&cranker.key],
        "InvalidProgramId",
    )
    .await;
    m.case(
        n,
        "duplicate mutable (payout = vault)",
        swap(fin(), pstate.payout_account, a.payment_vault),
        &[&cranker.key],
        "WrongPayoutAccount",
    )
    .await;
    m.case(
        n,
        "forged provider (job discriminator)",
        swap(fin(), p2.key, provider_cosplay),
        &[&cranker.key],
        "AccountDiscriminatorMismatch",
    )
    .await;
    m.valid(n, fin(), &[&cranker.key]).await;

    // ---- job_expire (job_b's submit deadline has passed)
    m.w.advance(base.claim_timeout).await;
    let jb = m.w.job(&job_b).await;
    let buyer_stake = token::ata(&buyer.pubkey(), &m.w.stake_mint);
    let exp = || ix::job_expire(&a, job_b, &jb, cranker.pubkey(), cranker.stake);
    let n = "job_expire";
    m.case(
        n,
        "wrong signer",
        swap(exp(), cranker.pubkey(), eve_pk),
        &[&eve],
        "WrongTokenOwner",
    )
    .await;
    m.case(
        n,
        "missing signature",
        unsign(exp(), cranker.pubkey()),
        &[],
        "AccountNotSigner",
    )
    .await;
    m.case(
        n,
        "buyer's share to another wallet",
        swap(exp(), buyer_stake, eve_stake),
        &[&cranker.key],
        "WrongTokenOwner",
    )
    .await;
    m.case(
        n,
        "refund to another wallet",
        swap(exp(), buyer.payment, eve_pay),
        &[&cranker.key],
        "WrongTokenOwner",
    )
    .await;
    m.case(
        n,
        "job owned by another program",
        swap(exp(), job_b, foreign_job),
        &[&cranker.key],
        "AccountOwnedByWrongProgram",
    )
    .await;
    m.case(
        n,
        "another provider",
        swap(exp(), p.key, p2.key),
        &[&cranker.key],
        "WrongProvider",
    )
    .await;
    m.case(
        n,
        "another market",
        swap(exp(), a.market, m2.market),
        &[&cranker.key],
        "WrongMarket",
    )
    .await;
    m.case(
        n,
        "stake vault of another market",
        swap(exp(), a.stake_vault, m2.stake_vault),
        &[&cranker.key],
        "WrongVault",
    )
    .await;
    m.case(
        n,
        "buyer's share account of the payment mint",
        swap(exp(), buyer_stake, buyer.payment),
        &[&cranker.key],
        "WrongTokenOwner",
    )
    .await;
    m.case(
        n,
        "wrong token program",
        swap(exp(), token::TOKEN_PROGRAM_ID, FAKE_TOKEN_PROGRAM),
        &[&cranker.key],
        "InvalidProgramId",
    )
    .await;
    m.case(
        n,
        "duplicate mutable (stake vault as payment vault)",
        swap(exp(), a.payment_vault, a.stake_vault),
        &[&cranker.key],
        "ConstraintDuplicateMutableAccount",
    )
    .await;
    m.case(
        n,
        "forged job (provider discriminator)",
        swap(exp(), job_b, job_cosplay),
        &[&cranker.key],
        "AccountDiscriminatorMismatch",
    )
    .await;
    m.valid(n, exp(), &[&cranker.key]).await;

    // ---- job_expire_unclaimed
    let lapsing = m.w.post_job(&buyer, 4, 1_000, m.w.now().await + 5).await;
    m.w.advance(6).await;
    let lapsing_job = m.w.job(&lapsing).await;
    let lap =
        || ix::job_expire_unclaimed(&a, lapsing, &lapsing_job, cranker.pubkey(), cranker.payment);
    let n = "job_expire_unclaimed";
    m.case(
        n,
        "wrong signer",
        swap(lap(), cranker.pubkey(), eve_pk),
        &[&eve],
        "WrongTokenOwner",
    )
    .await;
    m.case(
        n,
        "missing signature",
        unsign(lap(), cranker.pubkey()),
        &[],
        "AccountNotSigner",
    )
    .await;
    m.case(
        n,
        "refund to another wallet",
        swap(lap(), buyer.payment, eve_pay),
        &[&cranker.key],
        "WrongTokenOwner",
    )
    .await;
    m.case(
        n,
        "rent to someone other than the buyer",
        swap(lap(), buyer.pubkey(), eve_pk),
        &[&cranker.key],
        "WrongBuyer",
    )
    .await;
    m.case(
        n,
        "job owned by another program",
        swap(lap(), lapsing, foreign_job),
        &[&cranker.key],
        "AccountOwnedByWrongProgram",
    )
    .await;
    m.case(
        n,
        "another market",
        swap(lap(), a.market, m2.market),
        &[&cranker.key],
        "WrongMarket",
    )
    .await;
    m.case(
        n,
        "vault of another market",
        swap(lap(), a.payment_vault, m2.payment_vault),
        &[&cranker.key],
        "WrongVault",
    )
    .await;
    m.case(
        n,
        "refund account of the stake mint",
        swap(lap(), buyer.payment, buyer_stake),
        &[&cranker.key],
        "WrongTokenOwner",
    )
    .await;
    m.case(
        n,
        "wrong token program",
        swap(lap(), token::TOKEN_PROGRAM_ID, FAKE_TOKEN_PROGRAM),
        &[&cranker.key],
        "InvalidProgramId",
    )
    .await;
    // The refund account may legitimately alias the cranker's (a buyer cranking its own
    // job), so it is exempt from Anchor's duplicate check; its owner rule still holds.
    m.case(
        n,
        "duplicate mutable (refund account = vault)",
        swap(lap(), buyer.payment, a.payment_vault),
        &[&cranker.key],
        "WrongTokenOwner",
    )
    .await;
    m.case(
        n,
        "forged job (provider discriminator)",
        swap(lap(), lapsing, job_cosplay),
        &[&cranker.key],
        "AccountDiscriminatorMismatch",
    )
    .await;
    m.valid(n, lap(), &[&cranker.key]).await;

    m.w.assert_conservation().await;
    let cases = m.cases.lock().unwrap().clone();
    let instructions: std::collections::BTreeSet<_> =
        cases.iter().map(|(i, _)| i.clone()).collect();
    println!(
        "bad-input matrix: {} cases over {} instructions, all rejected with the expected error",
        cases.len(),
        instructions.len()
    );
    let all = [
        "market_create",
        "market_update",
        "market_set_paused",
        "market_apply_update",
        "market_sweep",
        "provider_register",
        "provider_stake",
        "provider_unstake",
        "provider_withdraw",
        "provider_heartbeat",
        "provider_update",
        "job_post",
        "job_cancel",
        "job_claim",
        "job_submit",
        "job_finalize",
        "job_expire",
        "job_expire_unclaimed",
    ];
    assert_eq!(
        instructions,
        all.iter().map(|s| s.to_string()).collect(),
        "every instruction is in the matrix"
    );
}

/// The matrix for the dispute instructions: each case differs from a valid instruction in
/// one account (a missing signature, another dispute's or job's account, a token account
/// of the wrong mint or owner, a substituted destination, a wrong token program, a forged
/// account of another type), and each section ends with the unmodified instruction.
#[tokio::test]
async fn dispute_bad_input_matrix() {
    use gpu_market::state::{Dispute, ProofBuffer, ProofTree};
    use gpu_market_client::ix::SettleAccounts;
    use gpu_market_tests::dispute::Gemm;

    let m = Matrix::new().await;
    let w = &m.w;
    let eve = m.eve.key.insecure_clone();
    let eve_pk = m.eve.pubkey();
    let a = w.market;
    let m2 = w.create_market(2, default_params()).await.unwrap();

    // A cheater's job, and a second disputed job whose accounts stand in for "another".
    let mut gemm = Gemm::i8(2, 3, 6, 21);
    let v = i32::from_le_bytes(gemm.output(1, 1));
    gemm.set_output(1, 1, (v + 3).to_le_bytes());
    let case = w.submitted_gemm(gemm, 1).await;
    let other = w.submitted_gemm(Gemm::i8(2, 3, 6, 22), 2).await;
    let ch = w.wallet(100_000, 0).await;
    let other_dispute = w.challenge(&other, &ch, 0, 0).await.unwrap();

    // ---- job_challenge
    let n = "job_challenge";
    let next = w.market_state().await.totals.jobs_disputed;
    let job = w.job(&case.job).await;
    let challenge = || {
        ix::job_challenge(
            &a,
            case.job,
            &job,
            next,
            ch.pubkey(),
            ch.payment,
            ch.stake,
            1,
            1,
        )
    };
    m.case(
        n,
        "missing signature",
        unsign(challenge(), ch.pubkey()),
        &[],
        "AccountNotSigner",
    )
    .await;
    m.case(
        n,
        "provider of another job",
        swap(challenge(), case.provider.key, other.provider.key),
        &[&ch.key],
        "WrongProvider",
    )
    .await;
    m.case(
        n,
        "dispute address of another id",
        swap(
            challenge(),
            pda::dispute(&a.market, next),
            pda::dispute(&a.market, next + 1),
        ),
        &[&ch.key],
        "ConstraintSeeds",
    )
    .await;
    m.case(
        n,
        "bond account of the stake mint",
        swap(challenge(), ch.payment, ch.stake),
        &[&ch.key],
        "WrongMint",
    )
    .await;
    m.case(
        n,
        "bond account owned by another wallet",
        swap(challenge(), ch.payment, m.eve.payment),
        &[&ch.key],
        "WrongTokenOwner",
    )
    .await;
    m.case(
        n,
        "reporter account of the payment mint",
        swap(challenge(), ch.stake, ch.payment),
        &[&ch.key],
        "WrongMint",
    )
    .await;
    m.case(
        n,
        "vault of another market",
        swap(challenge(), a.payment_vault, m2.payment_vault),
        &[&ch.key],
        "WrongVault",
    )
    .await;
    m.case(
        n,
        "wrong token program",
        swap(challenge(), token::TOKEN_PROGRAM_ID, FAKE_TOKEN_PROGRAM),
        &[&ch.key],
        "InvalidProgramId",
    )
    .await;
    let foreign_job = m.foreign_copy(&case.job).await;
    m.case(
        n,
        "job owned by another program",
        swap(challenge(), case.job, foreign_job),
        &[&ch.key],
        "AccountOwnedByWrongProgram",
    )
    .await;
    let job_cosplay = m.cosplay(&case.job, Provider::DISCRIMINATOR).await;
    m.case(
        n,
        "forged job (provider discriminator)",
        swap(challenge(), case.job, job_cosplay),
        &[&ch.key],
        "AccountDiscriminatorMismatch",
    )
    .await;
    m.valid(n, challenge(), &[&ch.key]).await;
    let dispute = pda::dispute(&a.market, next);

    // ---- proof_open
    let n = "proof_open";
    let open = |tree| ix::proof_open(ch.pubkey(), case.job, dispute, tree);
    m.case(
        n,
        "missing signature",
        unsign(open(ProofTree::A), ch.pubkey()),
        &[],
        "AccountNotSigner",
    )
    .await;
    m.case(
        n,
        "dispute of another job",
        swap(open(ProofTree::A), dispute, other_dispute),
        &[&ch.key],
        // The job names its own dispute (the buffer's seeds would not match either).
        "WrongDispute",
    )
    .await;
    m.case(
        n,
        "buffer address of another tree",
        swap(
            open(ProofTree::A),
            pda::proof_buffer(&dispute, ProofTree::A),
            pda::proof_buffer(&dispute, ProofTree::B),
        ),
        &[&ch.key],
        "ConstraintSeeds",
    )
    .await;
    let dispute_cosplay = m.cosplay(&other_dispute, Job::DISCRIMINATOR).await;
    m.case(
        n,
        "forged dispute (job discriminator)",
        swap(open(ProofTree::A), dispute, dispute_cosplay),
        &[&ch.key],
        "AccountDiscriminatorMismatch",
    )
    .await;
    m.valid(n, open(ProofTree::A), &[&ch.key]).await;
    m.valid(n, open(ProofTree::B), &[&ch.key]).await;

    // ---- proof_write
    let n = "proof_write";
    let proof = case.gemm.proof(1, 1);
    let write = |tree, bytes: &[u8]| ix::proof_write(ch.pubkey(), dispute, tree, 0, bytes.to_vec());
    m.case(
        n,
        "another wallet writes",
        swap(write(ProofTree::A, &proof.a_row), ch.pubkey(), eve_pk),
        &[&eve],
        "Unauthorized",
    )
    .await;
    m.case(
        n,
        "missing signature",
        unsign(write(ProofTree::A, &proof.a_row), ch.pubkey()),
        &[],
        "AccountNotSigner",
    )
    .await;
    m.case(
        n,
        "dispute of another job",
        swap(write(ProofTree::A, &proof.a_row), dispute, other_dispute),
        &[&ch.key],
        "WrongDispute",
    )
    .await;
    m.valid(n, write(ProofTree::A, &proof.a_row), &[&ch.key])
        .await;
    m.valid(n, write(ProofTree::B, &proof.b_col), &[&ch.key])
        .await;

    // ---- proof_verify
    let n = "proof_verify";
    let verify = |tree, path: &[[u8; 32]]| ix::proof_verify(case.job, dispute, tree, path.to_vec());
    m.case(
        n,
        "dispute of another job",
        swap(verify(ProofTree::A, &proof.a_proof), dispute, other_dispute),
        &[],
        "WrongDispute",
    )
    .await;
    let other_open = ix::proof_open(ch.pubkey(), other.job, other_dispute, ProofTree::A);
    w.send(&[other_open], &[&ch.key]).await.unwrap();
    m.case(
        n,
        "buffer of another dispute",
        swap(
            verify(ProofTree::A, &proof.a_proof),
            pda::proof_buffer(&dispute, ProofTree::A),
            pda::proof_buffer(&other_dispute, ProofTree::A),
        ),
        &[],
        "WrongDispute",
    )
    .await;
    let buffer_cosplay = m
        .cosplay(
            &pda::proof_buffer(&dispute, ProofTree::A),
            Dispute::DISCRIMINATOR,
        )
        .await;
    m.case(
        n,
        "forged buffer (dispute discriminator)",
        swap(
            verify(ProofTree::A, &proof.a_proof),
            pda::proof_buffer(&dispute, ProofTree::A),
            buffer_cosplay,
        ),
        &[],
        "AccountDiscriminatorMismatch",
    )
    .await;
    m.valid(n, verify(ProofTree::A, &proof.a_proof), &[]).await;
    m.valid(n, verify(ProofTree::B, &proof.b_proof), &[]).await;

    // ---- dispute_absorb
    let n = "dispute_absorb";
    let absorb = || ix::dispute_absorb(case.job, dispute, 6);
    let (buf_a, buf_b) = (
        pda::proof_buffer(&dispute, ProofTree::A),
        pda::proof_buffer(&dispute, ProofTree::B),
    );
    m.case(
        n,
        "row buffer in the column's place",
        swap(absorb(), buf_a, buf_b),
        &[],
        "ConstraintSeeds",
    )
    .await;
    m.case(
        n,
        "dispute of another job",
        swap(absorb(), dispute, other_dispute),
        &[],
        "WrongDispute",
    )
    .await;
    m.valid(n, absorb(), &[]).await;
    w.reveal(&case, &dispute, &proof).await.unwrap();

    // ---- dispute_settle (the provider loses: every destination is paid)
    let n = "dispute_settle";
    let settler = w.wallet(0, 0).await;
    let job = w.job(&case.job).await;
    let provider = w.provider(&case.provider.key).await;
    let d = gpu_market_client::accounts::fetch_dispute(&*w.chain, &dispute)
        .await
        .unwrap();
    let accounts = SettleAccounts {
        settler: settler.pubkey(),
        settler_payment_account: settler.payment,
    };
    let settle = || ix::dispute_settle(&a, case.job, &job, &provider, dispute, &d, &accounts);
    let s = [&settler.key];
    m.case(
        n,
        "missing signature",
        unsign(settle(), settler.pubkey()),
        &[],
        "AccountNotSigner",
    )
    .await;
    m.case(
        n,
        "dispute of another job",
        swap(settle(), dispute, other_dispute),
        &s,
        "WrongDispute",
    )
    .await;
    m.case(
        n,
        "challenger substituted",
        swap(settle(), ch.pubkey(), eve_pk),
        &s,
        "WrongChallenger",
    )
    .await;
    m.case(
        n,
        "challenger's bond account substituted",
        swap(settle(), ch.payment, m.eve.payment),
        &s,
        "WrongChallenger",
    )
    .await;
    m.case(
        n,
        "buyer substituted",
        swap(settle(), case.buyer.pubkey(), eve_pk),
        &s,
        "WrongBuyer",
    )
    .await;
    m.case(
        n,
        "refund to another account than the one recorded at posting",
        swap(settle(), case.buyer.payment, m.eve.payment),
        &s,
        "WrongTokenOwner",
    )
    .await;
    m.case(
        n,
        "buyer's slash share to another account than the one recorded at posting",
        swap(settle(), case.buyer.stake, case.buyer.payment),
        &s,
        "WrongTokenOwner",
    )
    .await;
    m.case(
        n,
        "payout account not the provider's",
        swap(settle(), provider.payout_account, m.eve.payment),
        &s,
        "WrongPayoutAccount",
    )
    .await;
    m.case(
        n,
        "vault of another market",
        swap(settle(), a.stake_vault, m2.stake_vault),
        &s,
        "WrongVault",
    )
    .await;
    m.case(
        n,
        "wrong token program",
        swap(settle(), token::TOKEN_PROGRAM_ID, FAKE_TOKEN_PROGRAM),
        &s,
        "InvalidProgramId",
    )
    .await;
    m.valid(n, settle(), &s).await;

    // ---- proof_close
    let n = "proof_close";
    let close = |tree| ix::proof_close(ch.pubkey(), dispute, tree);
    m.case(
        n,
        "dispute not the buffer's",
        swap(close(ProofTree::A), dispute, other_dispute),
        &[],
        "WrongDispute",
    )
    .await;
    m.case(
        n,
        "rent to another wallet",
        swap(close(ProofTree::A), ch.pubkey(), eve_pk),
        &[],
        "Unauthorized",
    )
    .await;
    let close_cosplay = m
        .cosplay(
            &pda::proof_buffer(&dispute, ProofTree::B),
            ProofBuffer::DISCRIMINATOR,
        )
        .await;
    m.case(
        n,
        "forged buffer (an unrelated account of the buffer's type)",
        swap(
            close(ProofTree::A),
            pda::proof_buffer(&dispute, ProofTree::A),
            close_cosplay,
        ),
        &[],
        "WrongDispute",
    )
    .await;
    m.valid(n, close(ProofTree::A), &[]).await;
    m.valid(n, close(ProofTree::B), &[]).await;

    let cases = m.cases.lock().unwrap().clone();
    let instructions: std::collections::BTreeSet<_> =
        cases.iter().map(|(i, _)| i.clone()).collect();
    println!(
        "dispute bad-input matrix: {} cases over {} instructions, all rejected with the expected error",
        cases.len(),
        instructions.len()
    );
    let all = [
        "job_challenge",
        "proof_open",
        "proof_write",
        "proof_verify",
        "dispute_absorb",
        "dispute_settle",
        "proof_close",
    ];
    assert_eq!(
        instructions,
        all.iter().map(|s| s.to_string()).collect(),
        "every dispute instruction is in the matrix"
    );
}

/// The referee instructions, each with its accounts or signatures broken one at a time:
/// missing signatures, another party's keys, another market's pool, accounts of the
/// wrong type (type cosplay) or owner, a forged sysvar, and at settlement referee
/// accounts substituted, reordered, made read-only or left out.
#[tokio::test]
async fn referee_bad_input_matrix() {
    use anchor_lang::Discriminator;
    use gpu_market::state::{Provider, RefereePool};
    use gpu_market_client::dispute as d;
    use gpu_market_client::ix::SettleAccounts;
    use gpu_market_tests::referee::{drawn, TRUE_ROOT};

    let m = Matrix::new().await;
    let w = &m.w;
    let eve = m.eve.key.insecure_clone();
    let a = w.market;
    let m2 = w.create_market(2, default_params()).await.unwrap();
    let seated = w.referee_pool(4).await;
    let pool = pda::referee_pool(&a.market);
    // The second market's pool stands in for "another market's pool".
    let pool2 = pda::referee_pool(&m2.market);

    // ---- referee_pool_create
    let n = "referee_pool_create";
    m.case(
        n,
        "a second pool for the same market (reinitialization)",
        ix::referee_pool_create(eve.pubkey(), a.market),
        &[&eve],
        "AccountAddressInUse",
    )
    .await;
    m.case(
        n,
        "missing signature of the payer",
        unsign(
            ix::referee_pool_create(eve.pubkey(), a.market),
            eve.pubkey(),
        ),
        &[],
        "AccountNotSigner",
    )
    .await;

    // ---- referee_join
    let n = "referee_join";
    let newcomer = w.register_provider(h100(), 10_000).await;
    let join = || ix::referee_join(a.market, newcomer.owner.pubkey(), 1_000);
    m.case(
        n,
        "missing signature of the owner",
        unsign(join(), newcomer.owner.pubkey()),
        &[],
        "AccountNotSigner",
    )
    .await;
    m.case(
        n,
        "signed by another wallet for the provider",
        swap(join(), newcomer.owner.pubkey(), eve.pubkey()),
        &[&eve],
        "Unauthorized",
    )
    .await;
    m.case(
        n,
        "another market's pool",
        swap(join(), pool, pool2),
        &[&newcomer.owner.key],
        "ConstraintSeeds",
    )
    .await;
    let cosplay_pool = m.cosplay(&pool, Provider::DISCRIMINATOR).await;
    m.case(
        n,
        "a provider account cosplaying as the pool",
        swap(join(), pool, cosplay_pool),
        &[&newcomer.owner.key],
        "AccountDiscriminatorMismatch",
    )
    .await;
    let foreign_pool = m.foreign_copy(&pool).await;
    m.case(
        n,
        "a copy of the pool owned by another program",
        swap(join(), pool, foreign_pool),
        &[&newcomer.owner.key],
        "AccountOwnedByWrongProgram",
    )
    .await;
    let cosplay_provider = m.cosplay(&newcomer.key, RefereePool::DISCRIMINATOR).await;
    m.case(
        n,
        "a pool account cosplaying as the provider",
        swap(join(), newcomer.key, cosplay_provider),
        &[&newcomer.owner.key],
        "AccountDiscriminatorMismatch",
    )
    .await;
    m.case(
        n,
        "a zero weight",
        ix::referee_join(a.market, newcomer.owner.pubkey(), 0),
        &[&newcomer.owner.key],
        "AmountZero",
    )
    .await;
    m.valid(n, join(), &[&newcomer.owner.key]).await;

    // ---- referee_leave
    let n = "referee_leave";
    let leave = || ix::referee_leave(a.market, newcomer.owner.pubkey());
    m.case(
        n,
        "missing signature of the owner",
        unsign(leave(), newcomer.owner.pubkey()),
        &[],
        "AccountNotSigner",
    )
    .await;
    m.case(
        n,
        "another market's pool",
        swap(leave(), pool, pool2),
        &[&newcomer.owner.key],
        "ConstraintSeeds",
    )
    .await;
    m.case(
        n,
        "signed by another wallet for the provider",
        swap(leave(), newcomer.owner.pubkey(), eve.pubkey()),
        &[&eve],
        "Unauthorized",
    )
    .await;
    m.valid(n, leave(), &[&newcomer.owner.key]).await;

    // A disputed kernel job, and the draw.
    let case = w.submitted_kernel([0xBA; 32], 7).await;
    let ch = w.wallet(100_000, 0).await;
    let dispute = w.challenge_kernel(&case, &ch).await.unwrap();
    let other = w.submitted_kernel([0xBB; 32], 8).await;
    w.advance(1).await;

    // ---- dispute_draw
    let n = "dispute_draw";
    let state = w.dispute_state(&dispute).await;
    let draw = || ix::dispute_draw(a.market, case.job, dispute, &state);
    m.case(
        n,
        "another job",
        swap(draw(), case.job, other.job),
        &[],
        "WrongDispute",
    )
    .await;
    m.case(
        n,
        "another provider than the disputed one",
        swap(draw(), case.provider.key, other.provider.key),
        &[],
        "WrongProvider",
    )
    .await;
    m.case(
        n,
        "another market's pool",
        swap(draw(), pool, pool2),
        &[],
        "ConstraintSeeds",
    )
    .await;
    let clock_sysvar: Pubkey = "SysvarC1ock11111111111111111111111111111111"
        .parse()
        .unwrap();
    m.case(
        n,
        "the Clock sysvar passed as SlotHashes",
        swap(draw(), ix::SLOT_HASHES_ID, clock_sysvar),
        &[],
        "WrongSysvar",
    )
    .await;
    let forged_hashes = m.foreign_copy(&ix::SLOT_HASHES_ID).await;
    m.case(
        n,
        "a forged SlotHashes account",
        swap(draw(), ix::SLOT_HASHES_ID, forged_hashes),
        &[],
        "WrongSysvar",
    )
    .await;
    m.valid(n, draw(), &[]).await;
    let state = w.dispute_state(&dispute).await;
    let referees = drawn(&seated, &state);

    // ---- referee_commit
    let n = "referee_commit";
    let r0 = referees[0];
    let commit = || ix::referee_commit(r0.worker.pubkey(), r0.key, dispute, [1; 32]);
    m.case(
        n,
        "missing signature of the worker",
        unsign(commit(), r0.worker.pubkey()),
        &[],
        "AccountNotSigner",
    )
    .await;
    m.case(
        n,
        "signed by another key for the referee",
        swap(commit(), r0.worker.pubkey(), eve.pubkey()),
        &[&eve],
        "WrongWorker",
    )
    .await;
    let cosplay_dispute = m.cosplay(&dispute, Provider::DISCRIMINATOR).await;
    m.case(
        n,
        "a provider account cosplaying as the dispute",
        swap(commit(), dispute, cosplay_dispute),
        &[&r0.worker],
        "AccountDiscriminatorMismatch",
    )
    .await;
    let foreign_dispute = m.foreign_copy(&dispute).await;
    m.case(
        n,
        "a copy of the dispute owned by another program",
        swap(commit(), dispute, foreign_dispute),
        &[&r0.worker],
        "AccountOwnedByWrongProgram",
    )
    .await;
    for r in &referees {
        w.commit(r, &dispute, &TRUE_ROOT).await.unwrap();
    }

    // ---- referee_reveal
    let n = "referee_reveal";
    let salt = d::referee_salt(&r0.worker, &dispute);
    let reveal = || ix::referee_reveal(r0.worker.pubkey(), r0.key, dispute, TRUE_ROOT, salt);
    m.case(
        n,
        "missing signature of the worker",
        unsign(reveal(), r0.worker.pubkey()),
        &[],
        "AccountNotSigner",
    )
    .await;
    m.case(
        n,
        "another referee's seat with this referee's salt",
        swap(
            swap(reveal(), r0.key, referees[1].key),
            r0.worker.pubkey(),
            referees[1].worker.pubkey(),
        ),
        &[&referees[1].worker],
        "RefereeRevealMismatch",
    )
    .await;
    m.valid(n, reveal(), &[&r0.worker]).await;
    for r in &referees[1..] {
        w.reveal_root(r, &dispute, &TRUE_ROOT).await.unwrap();
    }

    // ---- dispute_settle (a refereed dispute's remaining accounts)
    let n = "dispute_settle (refereed)";
    let settler = w.wallet(0, 0).await;
    let job = w.job(&case.job).await;
    let provider = w.provider(&job.provider).await;
    let state = w.dispute_state(&dispute).await;
    let settle = || {
        ix::dispute_settle(
            &a,
            case.job,
            &job,
            &provider,
            dispute,
            &state,
            &SettleAccounts {
                settler: settler.pubkey(),
                settler_payment_account: settler.payment,
            },
        )
    };
    let base = settle().accounts.len() - 7; // pool + 3 x (provider, payout)
    let with = |f: &dyn Fn(&mut Instruction)| {
        let mut ix = settle();
        f(&mut ix);
        ix
    };
    m.case(
        n,
        "the pool left out",
        with(&|ix| {
            ix.accounts.remove(base);
        }),
        &[&settler.key],
        "RefereeAccountsMissing",
    )
    .await;
    m.case(
        n,
        "another market's pool",
        with(&|ix| ix.accounts[base].pubkey = pool2),
        &[&settler.key],
        "RefereeAccountsMissing",
    )
    .await;
    m.case(
        n,
        "a provider account cosplaying as the pool",
        with(&|ix| ix.accounts[base].pubkey = cosplay_pool),
        &[&settler.key],
        "AccountDiscriminatorMismatch",
    )
    .await;
    m.case(
        n,
        "a seated provider that was not drawn in a referee's place",
        with(&|ix| {
            let not_drawn = seated
                .iter()
                .find(|p| !state.referee.referees.contains(&p.key))
                .unwrap();
            ix.accounts[base + 1].pubkey = not_drawn.key;
        }),
        &[&settler.key],
        "RefereeAccountsMissing",
    )
    .await;
    m.case(
        n,
        "two referees in each other's place",
        with(&|ix| ix.accounts.swap(base + 1, base + 3)),
        &[&settler.key],
        "RefereeAccountsMissing",
    )
    .await;
    m.case(
        n,
        "the same referee twice (duplicate mutable accounts)",
        with(&|ix| {
            ix.accounts[base + 3] = ix.accounts[base + 1].clone();
            ix.accounts[base + 4] = ix.accounts[base + 2].clone();
        }),
        &[&settler.key],
        "RefereeAccountsMissing",
    )
    .await;
    m.case(
        n,
        "a referee's payout account substituted by the attacker's",
        with(&|ix| ix.accounts[base + 2].pubkey = m.eve.payment),
        &[&settler.key],
        "RefereeAccountsMissing",
    )
    .await;
    m.case(
        n,
        "a referee's provider account read-only (its credit would be lost)",
        with(&|ix| ix.accounts[base + 1].is_writable = false),
        &[&settler.key],
        "RefereeAccountsMissing",
    )
    .await;
    m.valid(n, settle(), &[&settler.key]).await;
    w.assert_conservation().await;

    let cases = m.cases.lock().unwrap().clone();
    let instructions: std::collections::BTreeSet<_> =
        cases.iter().map(|(i, _)| i.clone()).collect();
    println!(
        "referee bad-input matrix: {} cases over {} instructions, all rejected with the expected error",
        cases.len(),
        instructions.len()
    );
    assert_eq!(
        instructions.len(),
        7,
        "every referee instruction is in the matrix"
    );
}
