//! Signature verification for every transaction that reaches the chain from
//! outside. The embedded chain executes through `BanksClient`'s
//! `process_transaction_with_metadata`, which (like the bank behind a
//! validator's sigverify stage) checks the message and precompiles but not
//! the ed25519 signatures: a validator verifies them before the bank sees a
//! transaction, so this node must too, whether or not the client asked for a
//! preflight. Without it anyone could move the faucet's lamports, or any
//! account's, with a transaction that names it as signer and carries
//! garbage for its signature.

use solana_rpc_client_api::custom_error::RpcCustomError;
use solana_sdk::transaction::Transaction;

use crate::error::{self, RpcResult};

/// One valid signature per required signer, over this exact message, by the
/// key in that signer's position; otherwise Solana's -32003 ("Transaction
/// signature verification failure").
pub(crate) fn verify(tx: &Transaction) -> RpcResult<()> {
    let required = usize::from(tx.message.header.num_required_signatures);
    // `Transaction::verify` checks the signatures present against their keys;
    // a transaction with fewer (or more) signatures than signers, or none at
    // all, must not pass by having less to check.
    let counted = required > 0 && tx.signatures.len() == required;
    if counted && tx.verify().is_ok() {
        Ok(())
    } else {
        Err(error::custom(
            RpcCustomError::TransactionSignatureVerificationFailure,
        ))
    }
}

#[cfg(test)]
mod tests {
    use solana_sdk::hash::Hash;
    use solana_sdk::signature::{Keypair, Signature, Signer};

    use super::*;

    fn transfer(from: &Keypair) -> Transaction {
        let ix = solana_system_interface::instruction::transfer(
            &from.pubkey(),
            &Keypair::new().pubkey(),
            1,
        );
        Transaction::new_signed_with_payer(&[ix], Some(&from.pubkey()), &[from], Hash::new_unique())
    }

    #[test]
    fn only_a_transaction_signed_by_every_signer_passes() {
        let payer = Keypair::new();
        let tx = transfer(&payer);
        assert!(verify(&tx).is_ok());

        let mut forged = tx.clone();
        forged.signatures[0] = Signature::default();
        assert_eq!(verify(&forged).unwrap_err().code(), -32003);

        let mut by_another = tx.clone();
        by_another.signatures[0] = Keypair::new().sign_message(&tx.message_data());
        assert_eq!(verify(&by_another).unwrap_err().code(), -32003);

        let mut none = tx.clone();
        none.signatures.clear();
        assert_eq!(verify(&none).unwrap_err().code(), -32003);

        let mut tampered = tx;
        tampered.message.recent_blockhash = Hash::new_unique();
        assert_eq!(verify(&tampered).unwrap_err().code(), -32003);
    }
}
