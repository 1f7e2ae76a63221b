//! The Solana attack classes the bad-input matrix (`bad_inputs.rs`) does not already
//! perform, each written as the attack: type cosplay with live accounts, reinitialization,
//! close and revive, arbitrary CPI targets, duplicate mutable accounts that the program
//! accepts on purpose, sysvar spoofing, PDA collisions, arithmetic at the types' edges and
//! Token-2022 mints and accounts. Each test states the attack, asserts the error it meets
//! (or the exact amounts where the program accepts the input) and that no token moved,
//! next to the honest request still working. docs/security.md's "Solana attack classes"
//! table names these tests and the matrix's cases for the other classes.

use anchor_spl::token_2022::spl_token_2022;
use gpu_market::constants::*;
use gpu_market::state::{MarketParams, ProofTree, WorkloadKind};
use gpu_market_client::chain::Chain;
use gpu_market_client::ix::{self, MarketKeys};
use gpu_market_client::{pda, token, Pubkey};
use gpu_market_tests::dispute::{Case, Gemm};
use gpu_market_tests::*;
use solana_sdk::account::Account;
use solana_sdk::instruction::{AccountMeta, Instruction};
use solana_system_interface::instruction as system;

const BOND: u64 = 500; // max(bond_min 100, 50% of PRICE 1,000)

/// Token balances of `accounts`, in order: compared before and after an attack.
async fn tokens(w: &World, accounts: &[Pubkey]) -> Vec<u64> {
    let mut v = Vec::new();
    for a in accounts {
        v.push(w.balance(a).await);
    }
    v
}

/// The raw bytes of `key`'s account (`None` when it does not exist).
async fn raw(w: &World, key: &Pubkey) -> Option<Vec<u8>> {
    w.chain.get_account(key).await.unwrap().map(|a| a.data)
}

/// A submitted, honest 2 x 2 x 4 gemm-i8 job (a dispute's fixture) and a funded challenger.
async fn submitted(w: &World, nonce: u64) -> (Case, Wallet) {
    let case = w.submitted_gemm(Gemm::i8(2, 2, 4, nonce), nonce).await;
    let challenger = w.wallet(10_000, 0).await;
    (case, challenger)
}

/// The payer sends `lamports` to `to` (a system transfer: anyone can fund any address).
fn fund(payer: &Pubkey, to: &Pubkey, lamports: u64) -> Instruction {
    system::transfer(payer, to, lamports)
}

/// Type cosplay: the attacker passes live accounts of this program, of the right owner
/// and with real contents, but of another type where a job or a provider is expected:
/// another provider's `Provider`, another market's `Market` and a live `Dispute` as the
/// job to claim, cancel or finalize; a `Market` as the claiming provider; a `Job` as the
/// dispute a proof buffer is opened for. Anchor's discriminator check refuses every one
/// (`AccountDiscriminatorMismatch`); no token moves; the honest claim then lands.
#[tokio::test]
async fn live_accounts_of_another_type_are_not_read_as_a_job_a_provider_or_a_dispute() {
    let w = World::new().await;
    let buyer = w.wallet(100_000, 0).await;
    let p = w.register_provider(h100(), 10_000).await;
    let q = w.register_provider(h100(), 10_000).await;
    let other_market = w.create_market(2, default_params()).await.unwrap().market;
    let t = w.now().await;
    let job = w.post_job(&buyer, 1, 1_000, t + 3_600).await;
    let (case, challenger) = submitted(&w, 2).await;
    let dispute = w.challenge(&case, &challenger, 0, 0).await.unwrap();
    let watched = [
        w.market.payment_vault,
        w.market.stake_vault,
        buyer.payment,
        challenger.payment,
    ];
    let before = tokens(&w, &watched).await;
    let claim = |job: Pubkey, provider: Pubkey| {
        ix::job_claim(w.market.market, provider, job, p.worker.pubkey())
    };
    for (what, fake) in [
        ("another provider", q.key),
        ("another market", other_market),
        ("a live dispute", dispute),
    ] {
        let r = w.send(&[claim(fake, p.key)], &[&p.worker]).await;
        assert_eq!(
            r.as_ref().err().and_then(|e| e.error_name()),
            Some("AccountDiscriminatorMismatch"),
            "{what} claimed as a job: {r:?}"
        );
    }
    assert_err(
        w.send(&[claim(job, other_market)], &[&p.worker]).await,
        "AccountDiscriminatorMismatch",
    );
    let cancel = ix::job_cancel(&w.market, dispute, buyer.pubkey(), buyer.payment);
    assert_err(
        w.send(&[cancel], &[&buyer.key]).await,
        "AccountDiscriminatorMismatch",
    );
    let case_job = w.job(&case.job).await;
    let provider = w.provider(&case.provider.key).await;
    let finalize = ix::job_finalize(
        &w.market,
        case.job,
        &case_job,
        &provider,
        challenger.pubkey(),
        challenger.payment,
    );
    assert_err(
        w.send(&[swap(finalize, case.job, dispute)], &[&challenger.key])
            .await,
        "AccountDiscriminatorMismatch",
    );
    // A job as the dispute: its address is a PDA of this program too.
    let open = ix::proof_open(challenger.pubkey(), case.job, case.job, ProofTree::A);
    assert_err(
        w.send(&[open], &[&challenger.key]).await,
        "AccountDiscriminatorMismatch",
    );

    assert_eq!(tokens(&w, &watched).await, before, "no token moved");
    assert_eq!(w.provider(&p.key).await.locked, 0);
    w.claim(&p, &job).await.expect("the honest claim lands");
    assert_eq!(w.provider(&p.key).await.locked, BOND);
    w.assert_conservation().await;
}

/// Reinitialization: each creating instruction sent again at an address that holds a
/// live account, by the party it belongs to, hoping to start it over on its own terms:
/// the authority re-creates its market (fee 20%, its own treasury accounts, zeroed
/// totals that would forget the escrow owed), a provider re-registers (zero locked bonds
/// while a claim holds one, stake down to the minimum), a buyer re-posts a claimed job's nonce (price 1,
/// to cut what the claim pays). The program refuses each by name (`AccountAddressInUse`:
/// each is made by `create::create_pda`, which a transfer to its address cannot block
/// either); the accounts keep every byte and no token moves.
#[tokio::test]
async fn creating_again_at_a_live_address_is_refused() {
    let w = World::new().await;
    let buyer = w.wallet(100_000, 0).await;
    let p = w.register_provider(h100(), 10_000).await;
    let t = w.now().await;
    let job = w.post_job(&buyer, 1, 1_000, t + 3_600).await;
    w.claim(&p, &job).await.unwrap();
    let live = [w.market.market, p.key, job];
    let mut bytes = Vec::new();
    for k in &live {
        bytes.push(raw(&w, k).await);
    }
    let watched = [
        w.market.payment_vault,
        w.market.stake_vault,
        buyer.payment,
        p.owner.stake,
    ];
    let before = tokens(&w, &watched).await;

    let mut cheap = default_params();
    cheap.fee_bps = MAX_FEE_BPS;
    let attacker_fees = w.wallet(0, 0).await;
    let recreate = ix::market_create(
        w.authority.pubkey(),
        1,
        w.payment_mint,
        w.stake_mint,
        attacker_fees.payment,
        attacker_fees.stake,
        cheap,
    );
    assert_err(w.send(&[recreate], &[]).await, "AccountAddressInUse");
    let reregister = ix::provider_register(
        &w.market,
        p.owner.pubkey(),
        p.owner.stake,
        p.owner.payment,
        w.register_args(Keypair::new().pubkey(), h100(), w.params.min_stake),
    );
    assert_err(
        w.send(&[reregister], &[&p.owner.key]).await,
        "AccountAddressInUse",
    );
    let (repost, at) = ix::job_post(
        &w.market,
        buyer.pubkey(),
        buyer.payment,
        w.post_args(1, 1, t + 3_600),
    );
    assert_eq!(at, job);
    assert_err(
        w.send(&[repost], &[&buyer.key]).await,
        "AccountAddressInUse",
    );

    for (k, b) in live.iter().zip(&bytes) {
        assert_eq!(&raw(&w, k).await, b, "{k} kept every byte");
    }
    assert_eq!(tokens(&w, &watched).await, before, "no token moved");

    w.assert_conservation().await;
}

/// Close and revive: a finalized (closed) job's address is sent lamports, in the same
/// transaction as the finalize and later, and the job is finalized or claimed again, to
/// be paid twice or to claim a settled job. The revived address is a system account with
/// no data: `AccountOwnedByWrongProgram` each time, the whole first transaction undone,
/// nothing paid twice.
#[tokio::test]
async fn a_closed_job_sent_lamports_is_not_live_again() {
    let w = World::new().await;
    let buyer = w.wallet(100_000, 0).await;
    let p = w.register_provider(h100(), 10_000).await;
    let cranker = w.wallet(0, 0).await;
    let t = w.now().await;
    let job = w.post_job(&buyer, 1, 1_000, t + 3_600).await;
    w.claim(&p, &job).await.unwrap();
    w.advance(5).await;
    w.submit(&p, &job, 1_000).await.unwrap();
    w.advance(w.params.challenge_window + 1).await;
    let state = w.job(&job).await;
    let provider = w.provider(&p.key).await;
    let finalize = ix::job_finalize(
        &w.market,
        job,
        &state,
        &provider,
        cranker.pubkey(),
        cranker.payment,
    );
    let rent = w.chain.minimum_balance_for_rent_exemption(0).await.unwrap();
    let watched = [w.market.payment_vault, p.owner.payment, cranker.payment];
    let before = tokens(&w, &watched).await;

    // In one transaction: finalize, revive the address, finalize again.
    let revive = fund(&cranker.pubkey(), &job, rent);
    let r = w
        .send(
            &[finalize.clone(), revive.clone(), finalize.clone()],
            &[&cranker.key],
        )
        .await;
    assert_err(r, "AccountOwnedByWrongProgram");
    assert_eq!(
        tokens(&w, &watched).await,
        before,
        "the whole transaction undone"
    );
    assert_eq!(
        w.job(&job).await.state,
        gpu_market::state::JobState::Submitted
    );

    // The honest finalize, then a revival in a later transaction.
    w.send(std::slice::from_ref(&finalize), &[&cranker.key])
        .await
        .unwrap();
    let paid = tokens(&w, &watched).await;
    let payout = gpu_market::math::payout_for(1_000, w.params.fee_bps).unwrap();
    assert_eq!(paid[1], before[1] + payout);
    assert_eq!(paid[2], before[2] + w.params.crank_bounty);
    w.send(&[revive], &[&cranker.key]).await.unwrap();
    let revived = w.chain.get_account(&job).await.unwrap().unwrap();
    assert_eq!(revived.owner, solana_system_interface::program::ID);
    assert!(revived.data.is_empty());
    assert_err(
        w.send(&[finalize], &[&cranker.key]).await,
        "AccountOwnedByWrongProgram",
    );
    assert_err(w.claim(&p, &job).await, "AccountOwnedByWrongProgram");
    assert_eq!(tokens(&w, &watched).await, paid, "nothing paid twice");
    w.assert_conservation().await;
}

/// Close and revive, disputes: once a dispute is settled (its account closed), a griefer
/// sends lamports to the dispute's address so that it looks open again, to lock the
/// rent of every proof buffer staged for it (closing a buffer asks whether its dispute is
/// still open). And a closed buffer's address, revived the same way, is passed to stage
/// or close it again. The revived dispute is a system account with no data, not an open
/// dispute: each buffer is closed with its rent back to its payer; the revived buffer is
/// `AccountOwnedByWrongProgram`. Before the fix `proof_close` refused with
/// `ProofBufferInUse` for as long as the griefer's lamports stayed there.
#[tokio::test]
async fn a_settled_dispute_sent_lamports_does_not_lock_its_buffers() {
    let w = World::new().await;
    let (case, challenger) = submitted(&w, 1).await;
    let settler = w.wallet(0, 0).await;
    let dispute = w.challenge(&case, &challenger, 0, 0).await.unwrap();
    let proof = case.gemm.proof(0, 0);
    w.stage_inputs(&case, &dispute, &challenger, &proof).await;
    w.reveal(&case, &dispute, &proof).await.unwrap();
    w.settle(&case, &dispute, &settler).await.unwrap();
    assert!(w.chain.get_account(&dispute).await.unwrap().is_none());

    let griefer = Keypair::new();
    w.chain
        .request_airdrop(&griefer.pubkey(), 1_000_000_000)
        .await
        .unwrap();
    let rent = w.chain.minimum_balance_for_rent_exemption(0).await.unwrap();
    w.send(&[fund(&griefer.pubkey(), &dispute, rent)], &[&griefer])
        .await
        .unwrap();
    let watched = [
        w.market.payment_vault,
        w.market.stake_vault,
        challenger.payment,
    ];
    let before = tokens(&w, &watched).await;

    for (tree, payer) in [
        (ProofTree::A, &challenger.key),
        (ProofTree::B, &challenger.key),
        (ProofTree::C, &case.provider.worker),
    ] {
        let buffer = pda::proof_buffer(&dispute, tree);
        let held = w.chain.get_balance(&buffer).await.unwrap();
        assert!(held > 0);
        let payer_before = w.chain.get_balance(&payer.pubkey()).await.unwrap();
        w.send(&[ix::proof_close(payer.pubkey(), dispute, tree)], &[])
            .await
            .unwrap_or_else(|e| panic!("buffer {tree:?} closes after the revival: {e}"));
        assert_eq!(
            w.chain.get_balance(&payer.pubkey()).await.unwrap(),
            payer_before + held,
            "the buffer's rent went back to its payer"
        );
    }

    // A closed buffer revived, passed again.
    let buffer = pda::proof_buffer(&dispute, ProofTree::A);
    w.send(&[fund(&griefer.pubkey(), &buffer, rent)], &[&griefer])
        .await
        .unwrap();
    assert_err(
        w.send(
            &[ix::proof_close(challenger.pubkey(), dispute, ProofTree::A)],
            &[],
        )
        .await,
        "AccountOwnedByWrongProgram",
    );
    assert_eq!(tokens(&w, &watched).await, before, "no token moved");
    w.assert_conservation().await;
}

/// Arbitrary CPI: the attacker names its own program where the market calls out, so that
/// the call runs its code with the market's signature or the payer's: another executable
/// (SPL Token) as the system program of `job_post`, `market_create` and `proof_write` (the
/// only instructions that move lamports by CPI), and Token-2022 (a real token program,
/// which would honour a transfer of its own accounts) as the token program of a post.
/// Every program slot is a `Program<_>` with a fixed id: `InvalidProgramId`, nothing
/// moved. No instruction takes the associated-token program (clients create token
/// accounts themselves). The honest calls then land.
#[tokio::test]
async fn a_program_of_the_attackers_choosing_is_never_called() {
    let w = World::new().await;
    let buyer = w.wallet(100_000, 0).await;
    let t = w.now().await;
    let fake_system = token::TOKEN_PROGRAM_ID;
    let (post, job) = ix::job_post(
        &w.market,
        buyer.pubkey(),
        buyer.payment,
        w.post_args(1, 1_000, t + 3_600),
    );
    let watched = [w.market.payment_vault, buyer.payment];
    let before = tokens(&w, &watched).await;
    assert_err(
        w.send(
            &[swap(
                post.clone(),
                solana_system_interface::program::ID,
                fake_system,
            )],
            &[&buyer.key],
        )
        .await,
        "InvalidProgramId",
    );
    assert_err(
        w.send(
            &[swap(
                post.clone(),
                token::TOKEN_PROGRAM_ID,
                anchor_spl::token_2022::ID,
            )],
            &[&buyer.key],
        )
        .await,
        "InvalidProgramId",
    );
    let fees = w.wallet(0, 0).await;
    let create = ix::market_create(
        w.authority.pubkey(),
        9,
        w.payment_mint,
        w.stake_mint,
        fees.payment,
        fees.stake,
        default_params(),
    );
    assert_err(
        w.send(
            &[swap(
                create.clone(),
                solana_system_interface::program::ID,
                fake_system,
            )],
            &[],
        )
        .await,
        "InvalidProgramId",
    );
    assert_eq!(tokens(&w, &watched).await, before, "no token moved");
    w.send(&[post], &[&buyer.key]).await.unwrap();
    assert!(w.job_exists(&job).await);
    w.send(&[create], &[]).await.unwrap();

    // proof_write tops up the buffer's rent from its payer through the system program.
    let (case, challenger) = submitted(&w, 2).await;
    let dispute = w.challenge(&case, &challenger, 0, 0).await.unwrap();
    w.send(
        &[ix::proof_open(
            challenger.pubkey(),
            case.job,
            dispute,
            ProofTree::A,
        )],
        &[&challenger.key],
    )
    .await
    .unwrap();
    let row = case.gemm.proof(0, 0).a_row;
    let write = ix::proof_write(challenger.pubkey(), dispute, ProofTree::A, 0, row);
    let lamports = w.chain.get_balance(&challenger.pubkey()).await.unwrap();
    assert_err(
        w.send(
            &[swap(
                write.clone(),
                solana_system_interface::program::ID,
                fake_system,
            )],
            &[&challenger.key],
        )
        .await,
        "InvalidProgramId",
    );
    assert_eq!(
        w.chain.get_balance(&challenger.pubkey()).await.unwrap(),
        lamports
    );
    w.send(&[write], &[&challenger.key]).await.unwrap();
    w.assert_conservation().await;
}

/// Duplicate mutable accounts the program accepts (`dup`), each a party passing one of
/// its own accounts in two writable slots to be paid twice, or to pay itself out of a
/// share meant for someone else: the provider's owner finalizes its own job with its
/// payout account as the crank's account; a buyer expires its own job with its recorded
/// stake account as the reporter's; a provider challenges its own honest result from its
/// owner wallet, so that the challenger's bond account is its payout account. Each
/// amount lands exactly once, by the rule: payout + bounty; the buyer's share only (the
/// reporter share to the treasury: a buyer never earns for reporting its own job); the
/// bond lost, less the provider's shares of it (-200 of a 500 bond).
#[tokio::test]
async fn one_account_in_two_writable_slots_is_paid_exactly_once_per_share() {
    let w = World::new().await;
    let buyer = w.wallet(100_000, 0).await;
    let p = w.register_provider(h100(), 10_000).await;
    let t = w.now().await;
    let params = w.params;

    // Finalize: cranker = provider owner, its payout account in both slots.
    let job = w.post_job(&buyer, 1, 1_000, t + 3_600).await;
    w.claim(&p, &job).await.unwrap();
    w.submit(&p, &job, 1_000).await.unwrap();
    w.advance(params.challenge_window + 1).await;
    let payout_before = w.balance(&p.owner.payment).await;
    w.finalize(&job, &p.owner).await.unwrap();
    let payout = gpu_market::math::payout_for(1_000, params.fee_bps).unwrap();
    assert_eq!(
        w.balance(&p.owner.payment).await,
        payout_before + payout + params.crank_bounty
    );

    // Expire: the buyer reports its own job, its slash-share account as the reporter's.
    let job = w.post_job(&buyer, 2, 1_000, t + 3_600).await;
    w.claim(&p, &job).await.unwrap();
    w.advance(params.claim_timeout + 1).await;
    let stake_before = w.balance(&buyer.stake).await;
    let unswept = w.market_state().await.totals.slash_unswept;
    let ixn = ix::job_expire(
        &w.market,
        job,
        &w.job(&job).await,
        buyer.pubkey(),
        buyer.stake,
    );
    w.send(&[ixn], &[&buyer.key]).await.unwrap();
    let split =
        gpu_market::math::slash_split(BOND, params.slash_buyer_bps, params.slash_reporter_bps)
            .unwrap();
    assert_eq!(w.balance(&buyer.stake).await, stake_before + split.buyer);
    assert_eq!(
        w.market_state().await.totals.slash_unswept,
        unswept + split.treasury + split.reporter
    );

    // Dispute: the provider's owner challenges its own honest result.
    let case = w.submitted_gemm(Gemm::i8(2, 2, 4, 3), 3).await;
    let owner = &case.provider.owner;
    let shared = owner.payment;
    assert_eq!(w.provider(&case.provider.key).await.payout_account, shared);
    w.track(w.payment_mint, shared);
    let funder = w.wallet(10_000, 0).await;
    let give = anchor_spl::token::spl_token::instruction::transfer(
        &token::TOKEN_PROGRAM_ID,
        &funder.payment,
        &shared,
        &funder.pubkey(),
        &[],
        10_000,
    )
    .unwrap();
    w.send(&[give], &[&funder.key]).await.unwrap();
    let before = w.balance(&shared).await;
    let self_challenger = Wallet {
        key: owner.key.insecure_clone(),
        payment: shared,
        stake: owner.stake,
    };
    let dispute = w.challenge(&case, &self_challenger, 0, 0).await.unwrap();
    let proof = case.gemm.proof(0, 0);
    w.stage_inputs(&case, &dispute, &self_challenger, &proof)
        .await;
    w.reveal(&case, &dispute, &proof).await.unwrap();
    let settler = w.wallet(0, 0).await;
    w.settle(&case, &dispute, &settler).await.unwrap();
    let cb = params.challenger_bond;
    let bond_split =
        gpu_market::math::slash_split(cb, params.slash_buyer_bps, params.slash_reporter_bps)
            .unwrap();
    assert_eq!(
        w.balance(&shared).await,
        before - cb + bond_split.buyer + bond_split.reporter,
        "the bond lost, its provider shares back, once"
    );
    assert_eq!(before - w.balance(&shared).await, 200);
    w.assert_conservation().await;
}

/// Sysvar spoofing: the attacker appends an account laid out as the Clock sysvar, owned
/// by the sysvar program, whose time is past the challenge window, to finalize a job
/// early. The program reads no sysvar from an account (the clock and rent come from the
/// `Clock::get` / `Rent::get` syscalls; the source holds no `Sysvar<` account nor a sysvar
/// id), so the forged account is ignored: `ChallengeWindowOpen`, nothing paid; after the
/// real window the finalize lands.
#[tokio::test]
async fn a_forged_clock_account_does_not_move_the_programs_clock() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../programs/gpu-market/src");
    let mut files = vec![src];
    let mut read = 0;
    while let Some(path) = files.pop() {
        if path.is_dir() {
            for e in std::fs::read_dir(&path).unwrap() {
                files.push(e.unwrap().path());
            }
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        read += 1;
        for banned in [
            "Sysvar<",
            "sysvar::clock",
            "sysvar::rent",
            "sysvar::instructions",
            "from_account_info",
        ] {
            assert!(
                !text.contains(banned),
                "{} reads a sysvar from an account ({banned})",
                path.display()
            );
        }
    }
    assert!(read > 20, "read the program's sources ({read} files)");

    let w = World::new().await;
    let buyer = w.wallet(100_000, 0).await;
    let p = w.register_provider(h100(), 10_000).await;
    let cranker = w.wallet(0, 0).await;
    let t = w.now().await;
    let job = w.post_job(&buyer, 1, 1_000, t + 3_600).await;
    w.claim(&p, &job).await.unwrap();
    w.submit(&p, &job, 0).await.unwrap();
    let forged = Pubkey::new_unique();
    let future = t + 1_000_000;
    let mut clock = Vec::new();
    for field in [0u64, future as u64, 0, 0, future as u64] {
        // slot, epoch_start_timestamp, epoch, leader_schedule_epoch, unix_timestamp
        clock.extend_from_slice(&field.to_le_bytes());
    }
    let lamports = w
        .chain
        .minimum_balance_for_rent_exemption(clock.len())
        .await
        .unwrap();
    w.chain
        .set_account(
            &forged,
            Account {
                lamports,
                data: clock,
                owner: solana_sdk::sysvar::ID,
                executable: false,
                rent_epoch: 0,
            },
        )
        .await;
    let state = w.job(&job).await;
    let provider = w.provider(&p.key).await;
    let mut finalize = ix::job_finalize(
        &w.market,
        job,
        &state,
        &provider,
        cranker.pubkey(),
        cranker.payment,
    );
    finalize
        .accounts
        .push(AccountMeta::new_readonly(forged, false));
    let watched = [w.market.payment_vault, p.owner.payment, cranker.payment];
    let before = tokens(&w, &watched).await;
    assert_err(
        w.send(&[finalize.clone()], &[&cranker.key]).await,
        "ChallengeWindowOpen",
    );
    assert_eq!(tokens(&w, &watched).await, before, "nothing paid");
    w.advance(w.params.challenge_window + 1).await;
    w.send(&[finalize], &[&cranker.key]).await.unwrap();
    assert!(!w.job_exists(&job).await);
    w.assert_conservation().await;
}

/// The bytes each PDA kind hashes (its seeds, concatenated), for fixed-length fields.
fn seed_layouts() -> Vec<(&'static str, &'static [u8], usize)> {
    vec![
        // (kind, prefix, bytes hashed before the bump)
        ("market", MARKET_SEED, MARKET_SEED.len() + 32 + 8),
        ("provider", PROVIDER_SEED, PROVIDER_SEED.len() + 32 + 32),
        ("job", JOB_SEED, JOB_SEED.len() + 32 + 32 + 8),
        (
            "payment vault",
            PAYMENT_VAULT_SEED,
            PAYMENT_VAULT_SEED.len() + 32,
        ),
        ("stake vault", STAKE_VAULT_SEED, STAKE_VAULT_SEED.len() + 32),
        ("dispute", DISPUTE_SEED, DISPUTE_SEED.len() + 32 + 8),
        ("proof buffer", PROOF_SEED, PROOF_SEED.len() + 32 + 1),
    ]
}

/// PDA collision, by construction: a PDA is SHA-256 of the seeds concatenated (then the
/// bump, the program id and a marker), so two kinds could share an address only if one
/// kind's seed bytes could equal another's. Every field after a prefix has a fixed length,
/// and each kind hashes a different number of bytes (38 to 75), so no job nonce, dispute
/// id, market id or key can produce another kind's address; the prefixes are distinct and
/// none starts another. The client's derivations are checked against these layouts.
#[test]
fn pda_seed_schemes_cannot_produce_one_another() {
    let layouts = seed_layouts();
    for (i, (a, pa, la)) in layouts.iter().enumerate() {
        for (b, pb, lb) in &layouts[i + 1..] {
            assert_ne!(la, lb, "{a} and {b} hash as many seed bytes");
            assert!(
                !pa.starts_with(pb) && !pb.starts_with(pa),
                "{a} and {b}: one prefix starts the other"
            );
        }
    }
    let (m, k) = (Pubkey::new_unique(), Pubkey::new_unique());
    let find = |seeds: &[&[u8]]| Pubkey::find_program_address(seeds, &gpu_market::ID).0;
    assert_eq!(
        pda::market(&k, 3),
        find(&[MARKET_SEED, k.as_ref(), &3u64.to_le_bytes()])
    );
    assert_eq!(
        pda::provider(&m, &k),
        find(&[PROVIDER_SEED, m.as_ref(), k.as_ref()])
    );
    assert_eq!(
        pda::job(&m, &k, 5),
        find(&[JOB_SEED, m.as_ref(), k.as_ref(), &5u64.to_le_bytes()])
    );
    assert_eq!(
        pda::payment_vault(&m),
        find(&[PAYMENT_VAULT_SEED, m.as_ref()])
    );
    assert_eq!(pda::stake_vault(&m), find(&[STAKE_VAULT_SEED, m.as_ref()]));
    assert_eq!(
        pda::dispute(&m, 5),
        find(&[DISPUTE_SEED, m.as_ref(), &5u64.to_le_bytes()])
    );
    assert_eq!(
        pda::proof_buffer(&m, ProofTree::C),
        find(&[PROOF_SEED, m.as_ref(), &[ProofTree::C.seed()]])
    );
}

/// PDA substitution: a challenger names the job's own address (a PDA of this program) or
/// the market's payment vault as the new dispute's address, hoping the dispute is written
/// over an account that already holds value. The dispute's address must be its own seeds'
/// (`ConstraintSeeds`); no bond taken; the challenge at the right address lands.
#[tokio::test]
async fn another_kinds_pda_is_not_accepted_as_a_dispute() {
    let w = World::new().await;
    let (case, challenger) = submitted(&w, 1).await;
    let job = w.job(&case.job).await;
    let id = w.market_state().await.totals.jobs_disputed;
    let challenge = ix::job_challenge(
        &w.market,
        case.job,
        &job,
        id,
        challenger.pubkey(),
        challenger.payment,
        challenger.stake,
        0,
        0,
    );
    let right = pda::dispute(&w.market.market, id);
    let watched = [w.market.payment_vault, challenger.payment];
    let before = tokens(&w, &watched).await;
    let mut job_as_dispute = challenge.clone();
    for m in &mut job_as_dispute.accounts {
        if m.pubkey == right {
            m.pubkey = case.job;
        }
    }
    assert_err(
        w.send(&[job_as_dispute], &[&challenger.key]).await,
        "ConstraintSeeds",
    );
    assert_err(
        w.send(
            &[swap(challenge.clone(), right, w.market.payment_vault)],
            &[&challenger.key],
        )
        .await,
        "ConstraintSeeds",
    );
    assert_eq!(tokens(&w, &watched).await, before, "no bond taken");
    w.send(&[challenge], &[&challenger.key]).await.unwrap();
    assert!(w.chain.get_account(&right).await.unwrap().is_some());
    w.assert_conservation().await;
}

/// `market_update` with `f` applied to the defaults.
fn update_with(w: &World, f: impl FnOnce(&mut MarketParams)) -> Instruction {
    let mut p = default_params();
    f(&mut p);
    ix::market_update(w.authority.pubkey(), w.market.market, p)
}

/// Arithmetic edges: every amount, rate and time an attacker controls set to its type's
/// largest (or smallest) value, where a wrapped result would pay or lock the wrong
/// amount: deadlines at i64::MAX and i64::MIN, a price whose escrow overflows, metered
/// time u64::MAX, an unstake or stake of u64::MAX (the stake counter would overflow before the transfer is tried), a challenged element at u32::MAX, a
/// proof write at offset u32::MAX, an absorb of u32::MAX elements (it takes the k there
/// are), each market parameter at its type's maximum, and a
/// claim whose bond (100x a price above u64::MAX / 100) does not fit a u64, so a wrapped
/// bond would lock almost nothing. Each is refused with its named error (no panic, no
/// wrap) and no token moves; the honest calls still land.
#[tokio::test]
async fn values_at_the_types_edges_meet_named_errors_not_wraps() {
    let w = World::new().await;
    let buyer = w.wallet(100_000, 0).await;
    let p = w.register_provider(h100(), 10_000).await;
    let t = w.now().await;
    let post = |nonce, price, deadline| {
        ix::job_post(
            &w.market,
            buyer.pubkey(),
            buyer.payment,
            w.post_args(nonce, price, deadline),
        )
        .0
    };
    let watched = [
        w.market.payment_vault,
        w.market.stake_vault,
        buyer.payment,
        p.owner.stake,
    ];
    let before = tokens(&w, &watched).await;
    for (what, ixn, expect) in [
        (
            "deadline i64::MAX",
            post(1, 1_000, i64::MAX),
            "DeadlineTooFar",
        ),
        (
            "deadline i64::MIN",
            post(1, 1_000, i64::MIN),
            "DeadlineInPast",
        ),
        (
            "price u64::MAX",
            post(1, u64::MAX, t + 3_600),
            "MathOverflow",
        ),
    ] {
        let r = w.send(&[ixn], &[&buyer.key]).await;
        assert_eq!(
            r.as_ref().err().and_then(|e| e.error_name()),
            Some(expect),
            "{what}: {r:?}"
        );
    }
    let unstake = ix::provider_unstake(w.market.market, p.owner.pubkey(), u64::MAX);
    assert_err(
        w.send(&[unstake], &[&p.owner.key]).await,
        "InsufficientFreeStake",
    );
    let stake = ix::provider_stake(&w.market, p.owner.pubkey(), p.owner.stake, u64::MAX);
    assert_err(w.send(&[stake], &[&p.owner.key]).await, "MathOverflow");
    type Edit = fn(&mut MarketParams);
    let edits: [(&str, Edit, &str); 13] = [
        ("fee_bps", |p| p.fee_bps = u16::MAX, "FeeTooHigh"),
        (
            "slash_buyer_bps",
            |p| p.slash_buyer_bps = u16::MAX,
            "SlashSplitInvalid",
        ),
        (
            "slash_reporter_bps",
            |p| p.slash_reporter_bps = u16::MAX,
            "SlashSplitInvalid",
        ),
        ("bond_bps", |p| p.bond_bps = u32::MAX, "BondRuleInvalid"),
        (
            "claim_timeout",
            |p| p.claim_timeout = i64::MAX,
            "InvalidDuration",
        ),
        (
            "dispute_timeout",
            |p| p.dispute_timeout = i64::MIN,
            "InvalidDuration",
        ),
        (
            "unstake_cooldown",
            |p| p.unstake_cooldown = i64::MAX,
            "InvalidDuration",
        ),
        (
            "crank_bounty",
            |p| p.crank_bounty = u64::MAX,
            "CrankBountyTooHigh",
        ),
        ("bond_min", |p| p.bond_min = u64::MAX, "BondMinTooHigh"),
        ("min_stake", |p| p.min_stake = u64::MAX, "MinStakeTooHigh"),
        (
            "challenger_bond",
            |p| p.challenger_bond = u64::MAX,
            "ChallengerBondTooHigh",
        ),
        (
            "score_fee_scale",
            |p| p.score_fee_scale = u64::MAX,
            "ScoreScaleTooHigh",
        ),
        (
            "min_submit_window",
            |p| p.min_submit_window = i64::MAX,
            "InvalidDuration",
        ),
    ];
    for (what, edit, expect) in edits {
        let r = w.send(&[update_with(&w, edit)], &[]).await;
        assert_eq!(
            r.as_ref().err().and_then(|e| e.error_name()),
            Some(expect),
            "{what} at its type's edge: {r:?}"
        );
    }
    let job = w.post_job(&buyer, 2, 1_000, t + 3_600).await;
    w.claim(&p, &job).await.unwrap();
    let submit = ix::job_submit(
        p.key,
        job,
        p.worker.pubkey(),
        World::submit_args(7, u64::MAX),
    );
    assert_err(
        w.send(&[submit], &[&p.worker]).await,
        "MeteringExceedsWallClock",
    );
    let after = tokens(&w, &watched).await;
    let escrow = 1_000 + w.params.crank_bounty;
    assert_eq!(
        (after[0], after[1], after[2], after[3]),
        (before[0] + escrow, before[1], before[2] - escrow, before[3]),
        "only the honest post's escrow moved"
    );

    // A challenged element and a proof write at u32::MAX.
    let (case, challenger) = submitted(&w, 3).await;
    let state = w.job(&case.job).await;
    let id = w.market_state().await.totals.jobs_disputed;
    for (row, col) in [(u32::MAX, 0), (0, u32::MAX)] {
        let ixn = ix::job_challenge(
            &w.market,
            case.job,
            &state,
            id,
            challenger.pubkey(),
            challenger.payment,
            challenger.stake,
            row,
            col,
        );
        assert_err(w.send(&[ixn], &[&challenger.key]).await, "GemmShapeInvalid");
    }
    let dispute = w.challenge(&case, &challenger, 0, 0).await.unwrap();
    w.send(
        &[ix::proof_open(
            challenger.pubkey(),
            case.job,
            dispute,
            ProofTree::A,
        )],
        &[&challenger.key],
    )
    .await
    .unwrap();
    let write = ix::proof_write(
        challenger.pubkey(),
        dispute,
        ProofTree::A,
        u32::MAX,
        vec![1],
    );
    assert_err(
        w.send(&[write], &[&challenger.key]).await,
        "ProofWriteOutOfBounds",
    );
    // Absorbing u32::MAX elements takes exactly the k = 4 there are.
    let proof = case.gemm.proof(0, 0);
    w.stage(
        &case,
        &dispute,
        &challenger.key,
        ProofTree::A,
        &proof.a_row,
        &proof.a_proof,
    )
    .await
    .unwrap();
    w.stage(
        &case,
        &dispute,
        &challenger.key,
        ProofTree::B,
        &proof.b_col,
        &proof.b_proof,
    )
    .await
    .unwrap();
    w.send(&[ix::dispute_absorb(case.job, dispute, u32::MAX)], &[])
        .await
        .unwrap();
    let staged = gpu_market_client::accounts::fetch_dispute(&*w.chain, &dispute)
        .await
        .unwrap();
    assert_eq!(staged.absorbed(WorkloadKind::GemmI8), 4);
    assert_err(
        w.send(&[ix::dispute_absorb(case.job, dispute, u32::MAX)], &[])
            .await,
        "NothingToAbsorb",
    );

    // A bond of 100x a price above u64::MAX / 100.
    let mut heavy = default_params();
    heavy.bond_bps = MAX_BOND_BPS;
    let m2: MarketKeys = w.create_market(2, heavy).await.unwrap();
    let price = u64::MAX / 100 + 1;
    let rich = w.wallet(price + heavy.crank_bounty, 0).await;
    let (post2, job2) = ix::job_post(
        &m2,
        rich.pubkey(),
        rich.payment,
        w.post_args(1, price, t + 3_600),
    );
    w.send(&[post2], &[&rich.key]).await.unwrap();
    let owner = w.wallet(0, 10_000).await;
    let worker = Keypair::new();
    w.chain
        .request_airdrop(&worker.pubkey(), 1_000_000_000)
        .await
        .unwrap();
    let register = ix::provider_register(
        &m2,
        owner.pubkey(),
        owner.stake,
        owner.payment,
        w.register_args(worker.pubkey(), h100(), 10_000),
    );
    w.send(&[register], &[&owner.key]).await.unwrap();
    let p2 = pda::provider(&m2.market, &owner.pubkey());
    let stake_vault = w.balance(&m2.stake_vault).await;
    assert_err(
        w.send(
            &[ix::job_claim(m2.market, p2, job2, worker.pubkey())],
            &[&worker],
        )
        .await,
        "MathOverflow",
    );
    assert_eq!(
        w.provider(&p2).await.locked,
        0,
        "no bond locked, none wrapped"
    );
    assert_eq!(w.balance(&m2.stake_vault).await, stake_vault);
    assert!(gpu_market::math::bond_for(price, MAX_BOND_BPS, heavy.bond_min).is_err());
    w.assert_conservation().await;
}

/// Arithmetic edges in time: `now` a few seconds before i64::MAX, where a claim's submit
/// deadline (now + claim timeout) and an unstake's release time (now + cooldown) do not
/// fit an i64. A wrapped deadline would lie in the distant past, so the claim could be
/// expired (and its bond slashed) at once, and a withdrawal made at once. The embedded
/// chain cannot run its clock there (it maps seconds to slots), so the test calls the
/// transitions `job_claim` and `provider_unstake` run (`Job::claim`,
/// `Provider::request_unstake`) on the accounts read from the chain: `MathOverflow`, the
/// accounts unchanged; one claim timeout earlier the claim is taken, due at exactly
/// i64::MAX - 10.
#[tokio::test]
async fn times_near_the_end_of_i64_overflow_into_named_errors() {
    let w = World::new().await;
    let buyer = w.wallet(100_000, 0).await;
    let p = w.register_provider(h100(), 10_000).await;
    let t = w.now().await;
    let key = w.post_job(&buyer, 1, 1_000, t + 3_600).await;
    let end = i64::MAX - 10;
    let overflow = |e: &anchor_lang::error::Error| e.to_string().contains("MathOverflow");
    let mut job = w.job(&key).await;
    job.deadline = end + 5;
    let untouched = job.clone();
    let e = job.claim(p.key, BOND, end).unwrap_err();
    assert!(overflow(&e), "{e}");
    assert_eq!(job.state, untouched.state);
    assert_eq!(job.submit_deadline, untouched.submit_deadline);
    let earlier = end - w.params.claim_timeout;
    job.claim(p.key, BOND, earlier).unwrap();
    assert_eq!(job.submit_deadline, end, "now + claim timeout, exactly");

    let mut provider = w.provider(&p.key).await;
    let cooldown = w.params.unstake_cooldown;
    let e = provider.request_unstake(1, end, cooldown).unwrap_err();
    assert!(overflow(&e), "{e}");
    // (The failed transaction would revert; a fresh read is the chain's view.)
    let mut provider = w.provider(&p.key).await;
    provider.request_unstake(1, t, cooldown).unwrap();
    assert_eq!(provider.unstake_release_at, t + cooldown);
}

/// A Token-2022 mint with one extension (or none), created by the Token-2022 program.
async fn token_2022_mint(
    w: &World,
    extension: Option<spl_token_2022::extension::ExtensionType>,
) -> Pubkey {
    use spl_token_2022::extension::{transfer_fee, transfer_hook, ExtensionType};
    use spl_token_2022::{instruction as t22, state};
    let program = anchor_spl::token_2022::ID;
    let mint = Keypair::new();
    let m = mint.pubkey();
    let auth = w.authority.pubkey();
    let exts: Vec<ExtensionType> = extension.into_iter().collect();
    let len = ExtensionType::try_calculate_account_len::<state::Mint>(&exts).unwrap();
    let lamports = w
        .chain
        .minimum_balance_for_rent_exemption(len)
        .await
        .unwrap();
    let mut ixs = vec![system::create_account(
        &auth, &m, lamports, len as u64, &program,
    )];
    let mut freeze = None;
    match extension {
        None => {}
        Some(ExtensionType::TransferFeeConfig) => ixs.push(
            transfer_fee::instruction::initialize_transfer_fee_config(
                &program,
                &m,
                Some(&auth),
                Some(&auth),
                500,
                u64::MAX,
            )
            .unwrap(),
        ),
        Some(ExtensionType::PermanentDelegate) => {
            ixs.push(t22::initialize_permanent_delegate(&program, &m, &auth).unwrap())
        }
        Some(ExtensionType::TransferHook) => ixs.push(
            transfer_hook::instruction::initialize(
                &program,
                &m,
                Some(auth),
                Some(Pubkey::new_unique()),
            )
            .unwrap(),
        ),
        Some(ExtensionType::NonTransferable) => {
            ixs.push(t22::initialize_non_transferable_mint(&program, &m).unwrap())
        }
        Some(ExtensionType::MintCloseAuthority) => {
            ixs.push(t22::initialize_mint_close_authority(&program, &m, Some(&auth)).unwrap())
        }
        Some(ExtensionType::DefaultAccountState) => {
            freeze = Some(auth);
            ixs.push(
                spl_token_2022::extension::default_account_state::instruction::initialize_default_account_state(
                    &program,
                    &m,
                    &state::AccountState::Frozen,
                )
                .unwrap(),
            )
        }
        Some(other) => panic!("no fixture for {other:?}"),
    }
    ixs.push(t22::initialize_mint2(&program, &m, &auth, freeze.as_ref(), 6).unwrap());
    w.send(&ixs, &[&mint])
        .await
        .expect("Token-2022 mint created");
    let account = w.chain.get_account(&m).await.unwrap().unwrap();
    assert_eq!(account.owner, program);
    m
}

/// Token-2022 extensions: the authority (or anyone creating a market) names a Token-2022
/// mint whose extensions would let its issuer take or stop the market's funds: a transfer
/// fee (vaults receive less than the escrow they record), a permanent delegate (the issuer
/// moves tokens out of any vault), a transfer hook (the issuer's program runs on every
/// payout and can fail it), non-transferable tokens, a close authority, frozen-by-default
/// accounts; and a buyer passes a Token-2022 token account as its payment account. The
/// market takes SPL Token mints, accounts and program only: each Token-2022 mint is
/// `AccountOwnedByWrongProgram` at `market_create` (so no market can hold one, and no
/// extension applies), the Token-2022 account too at `job_post`; an SPL Token mint with
/// a freeze authority is `MintHasFreezeAuthority`; the honest market is created.
#[tokio::test]
async fn token_2022_mints_and_accounts_are_refused() {
    use spl_token_2022::extension::ExtensionType as E;
    let w = World::new().await;
    let fees = w.wallet(0, 0).await;
    let create = |id: u64, payment: Pubkey, stake: Pubkey| {
        ix::market_create(
            w.authority.pubkey(),
            id,
            payment,
            stake,
            fees.payment,
            fees.stake,
            default_params(),
        )
    };
    let mut id = 10;
    for ext in [
        None,
        Some(E::TransferFeeConfig),
        Some(E::PermanentDelegate),
        Some(E::TransferHook),
        Some(E::NonTransferable),
        Some(E::MintCloseAuthority),
        Some(E::DefaultAccountState),
    ] {
        let mint = token_2022_mint(&w, ext).await;
        for (payment, stake) in [(mint, w.stake_mint), (w.payment_mint, mint)] {
            id += 1;
            let r = w.send(&[create(id, payment, stake)], &[]).await;
            assert_eq!(
                r.as_ref().err().and_then(|e| e.error_name()),
                Some("AccountOwnedByWrongProgram"),
                "Token-2022 mint with {ext:?}: {r:?}"
            );
            assert!(w
                .chain
                .get_account(&pda::market(&w.authority.pubkey(), id))
                .await
                .unwrap()
                .is_none());
        }
    }

    // An SPL Token mint with a freeze authority.
    let frozen = Keypair::new();
    let rent = w
        .chain
        .minimum_balance_for_rent_exemption(token::MINT_LEN)
        .await
        .unwrap();
    let auth = w.authority.pubkey();
    let ixs = [
        system::create_account(
            &auth,
            &frozen.pubkey(),
            rent,
            token::MINT_LEN as u64,
            &token::TOKEN_PROGRAM_ID,
        ),
        anchor_spl::token::spl_token::instruction::initialize_mint2(
            &token::TOKEN_PROGRAM_ID,
            &frozen.pubkey(),
            &auth,
            Some(&auth),
            6,
        )
        .unwrap(),
    ];
    w.send(&ixs, &[&frozen]).await.unwrap();
    assert_err(
        w.send(&[create(99, frozen.pubkey(), w.stake_mint)], &[])
            .await,
        "MintHasFreezeAuthority",
    );

    // A Token-2022 token account (of a Token-2022 mint) as a buyer's payment account.
    let mint = token_2022_mint(&w, None).await;
    let buyer = w.wallet(100_000, 0).await;
    let account = Keypair::new();
    let len = spl_token_2022::extension::ExtensionType::try_calculate_account_len::<
        spl_token_2022::state::Account,
    >(&[])
    .unwrap();
    let rent = w
        .chain
        .minimum_balance_for_rent_exemption(len)
        .await
        .unwrap();
    let ixs = [
        system::create_account(
            &auth,
            &account.pubkey(),
            rent,
            len as u64,
            &anchor_spl::token_2022::ID,
        ),
        spl_token_2022::instruction::initialize_account3(
            &anchor_spl::token_2022::ID,
            &account.pubkey(),
            &mint,
            &buyer.pubkey(),
        )
        .unwrap(),
    ];
    w.send(&ixs, &[&account]).await.unwrap();
    let t = w.now().await;
    let (post, job) = ix::job_post(
        &w.market,
        buyer.pubkey(),
        account.pubkey(),
        w.post_args(1, 1_000, t + 3_600),
    );
    let before = tokens(&w, &[w.market.payment_vault, buyer.payment]).await;
    assert_err(
        w.send(&[post], &[&buyer.key]).await,
        "AccountOwnedByWrongProgram",
    );
    assert!(!w.job_exists(&job).await);
    assert_eq!(
        tokens(&w, &[w.market.payment_vault, buyer.payment]).await,
        before
    );
    w.send(&[create(100, w.payment_mint, w.stake_mint)], &[])
        .await
        .expect("the SPL Token market is created");
    w.assert_conservation().await;
}
