//! Donations to the vaults. Anyone can transfer tokens into any token
//! account, the market's vaults included; if the audit demanded that a vault
//! hold exactly what it owes, one donated token would make `audit
//! invariants` fail forever. A donation must show as surplus; a vault short
//! of what it owes must still fail.

use gpu_market_client::audit::{self, Snapshot, VaultSurplus};
use gpu_market_client::chain::Chain;
use gpu_market_client::token;
use gpu_market_tests::{h100, World};

/// Offset of `amount` in an SPL token account (after mint and owner).
const TOKEN_AMOUNT_OFFSET: usize = 64;

async fn report(world: &World) -> audit::InvariantReport {
    let snap = Snapshot::load(&*world.chain, &world.market.market)
        .await
        .unwrap();
    audit::invariants(&snap)
}

fn failed(r: &audit::InvariantReport) -> Vec<&'static str> {
    r.checks.iter().filter(|c| !c.ok).map(|c| c.name).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_donated_to_each_vault_is_surplus_and_the_audit_still_passes() {
    let world = World::new().await;
    // Something owed in each vault: a provider's stake and a live job.
    let provider = world.register_provider(h100(), 5_000).await;
    let buyer = world.wallet(10_000, 0).await;
    let deadline = world.now().await + 3_600;
    world.post_job(&buyer, 1, 1_000, deadline).await;
    let r = report(&world).await;
    assert!(r.ok, "{:?}", failed(&r));
    assert_eq!(r.surplus, VaultSurplus::default());

    // The attack: one token into each vault, from accounts the attacker owns.
    let attacker = world.wallet(1, 1).await;
    let donate = [
        token::transfer(
            &attacker.payment,
            &world.market.payment_vault,
            &attacker.pubkey(),
            1,
        ),
        token::transfer(
            &attacker.stake,
            &world.market.stake_vault,
            &attacker.pubkey(),
            1,
        ),
    ];
    world.send(&donate, &[&attacker.key]).await.unwrap();

    let r = report(&world).await;
    assert!(r.ok, "a donation failed the audit: {:?}", failed(&r));
    assert_eq!(
        r.surplus,
        VaultSurplus {
            payment_vault: 1,
            stake_vault: 1
        }
    );
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["surplus"]["payment_vault"], 1);
    assert_eq!(json["surplus"]["stake_vault"], 1);
    // Tokens are still conserved: the donation moved them, it minted nothing.
    world.assert_conservation().await;

    // The market keeps working on top of the surplus: the job is claimed and
    // the audit still passes with the same surplus.
    world
        .claim(&provider, &world.post_job(&buyer, 2, 1_000, deadline).await)
        .await
        .unwrap();
    let r = report(&world).await;
    assert!(r.ok, "{:?}", failed(&r));
    assert_eq!(r.surplus.payment_vault, 1);
}

/// The check the relaxation must keep: tokens gone from a vault without the
/// accounts knowing (here written straight into the chain's state) fail the
/// audit, even when the other vault holds a surplus.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vault_below_what_it_owes_still_fails_the_audit() {
    let world = World::new().await;
    world.register_provider(h100(), 5_000).await;
    let buyer = world.wallet(10_000, 0).await;
    let deadline = world.now().await + 3_600;
    world.post_job(&buyer, 1, 1_000, deadline).await;
    let attacker = world.wallet(0, 3).await;
    world
        .send(
            &[token::transfer(
                &attacker.stake,
                &world.market.stake_vault,
                &attacker.pubkey(),
                3,
            )],
            &[&attacker.key],
        )
        .await
        .unwrap();

    let vault = world.market.payment_vault;
    let mut account = world.chain.get_account(&vault).await.unwrap().unwrap();
    let owed = world.market_state().await.totals.escrow_outstanding;
    account.data[TOKEN_AMOUNT_OFFSET..TOKEN_AMOUNT_OFFSET + 8]
        .copy_from_slice(&(owed - 1).to_le_bytes());
    world.chain.set_account(&vault, account).await;
    assert_eq!(world.balance(&vault).await, owed - 1);

    let r = report(&world).await;
    assert!(!r.ok);
    assert_eq!(
        failed(&r),
        ["payment vault balance >= escrow outstanding + unswept fees + challenger bonds outstanding"]
    );
    assert_eq!(
        r.surplus,
        VaultSurplus {
            payment_vault: 0,
            stake_vault: 3
        }
    );
}
