//! Creating a program account at a PDA whatever lamports already sit at its address.
//!
//! Anchor's `init` creates an address that already holds lamports with the system
//! program's `CreateAccountAllowPrefund` (SIMD-0312), which the Agave 3.1 runtime does not
//! have: there, one transfer of a few lamports to a predictable address (the market's next
//! dispute, a dispute's proof buffer) would make its creation fail for as long as the
//! lamports stay, so a griefer could block every challenge in a market, or a cheating
//! provider the challenger's staging. Accounts anyone could pre-fund before their honest
//! creator are made here instead: created when the address is empty; otherwise topped up to
//! rent exemption, allocated and assigned, the last two signed by the PDA's seeds (a
//! pre-funder owns nothing at the address, and the system program lets only the address
//! itself allocate and assign it).

use anchor_lang::prelude::*;
use anchor_lang::system_program::{self, Allocate, Assign, CreateAccount, Transfer};

use crate::errors::MarketError;

/// Creates `target` (a PDA of this program, its seeds with bump in `seeds`) with `space`
/// bytes, owned by this program, `payer` paying rent. Refuses an address that is already
/// an account with data or another owner.
pub fn create_pda<'info>(
    payer: &AccountInfo<'info>,
    target: &AccountInfo<'info>,
    system: &Program<'info, System>,
    space: usize,
    seeds: &[&[u8]],
) -> Result<()> {
    create_pda_owned(payer, target, system, space, &crate::ID, seeds)
}

/// [`create_pda`] for an account another program will own (`owner`: the token program,
/// for a vault it then initializes).
pub fn create_pda_owned<'info>(
    payer: &AccountInfo<'info>,
    target: &AccountInfo<'info>,
    system: &Program<'info, System>,
    space: usize,
    owner: &Pubkey,
    seeds: &[&[u8]],
) -> Result<()> {
    let rent = Rent::get()?.minimum_balance(space);
    let have = target.lamports();
    let sys = system.key();
    if have == 0 {
        let accounts = CreateAccount {
            from: payer.clone(),
            to: target.clone(),
        };
        return system_program::create_account(
            CpiContext::new(sys, accounts).with_signer(&[seeds]),
            rent,
            space as u64,
            owner,
        );
    }
    // Lamports only: still the system program's, with no data.
    require!(
        target.owner == &system_program::ID && target.data_is_empty(),
        MarketError::AccountAddressInUse
    );
    require_keys_neq!(payer.key(), target.key(), MarketError::AccountAddressInUse);
    let top_up = rent.saturating_sub(have);
    if top_up > 0 {
        let accounts = Transfer {
            from: payer.clone(),
            to: target.clone(),
        };
        system_program::transfer(CpiContext::new(sys, accounts), top_up)?;
    }
    let accounts = Allocate {
        account_to_allocate: target.clone(),
    };
    system_program::allocate(
        CpiContext::new(sys, accounts).with_signer(&[seeds]),
        space as u64,
    )?;
    let accounts = Assign {
        account_to_assign: target.clone(),
    };
    system_program::assign(CpiContext::new(sys, accounts).with_signer(&[seeds]), owner)
}

/// Writes `value` (with its discriminator) into a freshly created account.
pub fn write_new<T: AccountSerialize>(target: &AccountInfo, value: &T) -> Result<()> {
    let mut data = target.try_borrow_mut_data()?;
    let mut out: &mut [u8] = &mut data;
    value.try_serialize(&mut out)
}
