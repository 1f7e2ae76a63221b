//! Errors of every off-chain operation, with program failures resolved to the
//! program's own error names (`JobNotOpen`, `ConstraintSeeds`, ...) so that
//! callers match on names, not on numbers or log text.

use anchor_lang::prelude::Pubkey;
use gpu_market::errors::MarketError;
use solana_sdk::instruction::InstructionError;
use solana_sdk::transaction::TransactionError;

pub type Result<T, E = ClientError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// An instruction failed with a custom error code.
    #[error("{name} (error {code} in instruction {instruction}): {message}")]
    Program {
        code: u32,
        name: String,
        message: String,
        instruction: u8,
        logs: Vec<String>,
    },
    /// The runtime rejected the transaction for a reason that is not a custom
    /// program error (missing signature, insufficient lamports, ...).
    #[error("transaction rejected ({name}): {error}")]
    Transaction {
        /// The runtime's name for it: `InvalidAccountData`, `InsufficientFundsForFee`, ...
        name: String,
        error: TransactionError,
        logs: Vec<String>,
    },
    #[error("the transaction's blockhash expired before it landed (it was not executed)")]
    BlockhashExpired,
    #[error("cannot reach the cluster at {url}: {detail}")]
    Unreachable { url: String, detail: String },
    #[error("RPC error from {url}: {detail}")]
    Rpc { url: String, detail: String },
    #[error("account {0} does not exist")]
    AccountNotFound(Pubkey),
    #[error("account {key} is not a gpu-market {expected} account")]
    WrongAccountType { key: Pubkey, expected: &'static str },
    #[error("timed out waiting for {0}")]
    Timeout(String),
    #[error("{0}")]
    Invalid(String),
    /// A keypair file could not be read or written (`config::read_keypair`,
    /// `config::write_keypair`).
    #[error(transparent)]
    KeyFile(#[from] crate::config::KeyFileError),
    /// A transaction could not be signed (a signer missing or failing).
    #[error("cannot sign: {0}")]
    Sign(#[source] solana_sdk::signer::SignerError),
    /// Solana CLI's config file exists but could not be read.
    #[error("cannot read {}: {source}", path.display())]
    CliConfig {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ClientError {
    /// The program's error name, when the failure came from an instruction.
    pub fn error_name(&self) -> Option<&str> {
        match self {
            ClientError::Program { name, .. } | ClientError::Transaction { name, .. } => Some(name),
            _ => None,
        }
    }

    /// The failure as one of gpu-market's own named errors, if it is one.
    pub fn market_error(&self) -> Option<MarketError> {
        match self {
            ClientError::Program { code, name, .. } => {
                MarketError::from_code(*code).filter(|e| e.name() == *name)
            }
            _ => None,
        }
    }

    /// True for failures worth retrying with a fresh blockhash or after a pause;
    /// a program's verdict is final and is never retried.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ClientError::BlockhashExpired
                | ClientError::Unreachable { .. }
                | ClientError::Timeout(_)
                | ClientError::Transaction {
                    error: TransactionError::BlockhashNotFound,
                    ..
                }
        )
    }

    pub fn logs(&self) -> &[String] {
        match self {
            ClientError::Program { logs, .. } | ClientError::Transaction { logs, .. } => logs,
            _ => &[],
        }
    }
}

/// Turns a failed transaction's error and logs into a `ClientError`, naming
/// the error from (in order) Anchor's log line, gpu-market's error table, or
/// the SPL Token program's error table.
pub fn from_transaction_error(error: TransactionError, logs: Vec<String>) -> ClientError {
    let TransactionError::InstructionError(instruction, InstructionError::Custom(code)) = error
    else {
        if matches!(error, TransactionError::BlockhashNotFound) {
            return ClientError::BlockhashExpired;
        }
        let name = match &error {
            TransactionError::InstructionError(_, e) => variant_name(&format!("{e:?}")),
            e => variant_name(&format!("{e:?}")),
        };
        return ClientError::Transaction { name, error, logs };
    };
    let (name, message) = name_custom_error(code, &logs);
    ClientError::Program {
        code,
        name,
        message,
        instruction,
        logs,
    }
}

/// `Foo(1, 2)` / `Foo { .. }` / `Foo` -> `Foo`.
fn variant_name(debug: &str) -> String {
    debug
        .split(['(', ' ', '{'])
        .next()
        .unwrap_or_default()
        .to_string()
}

fn name_custom_error(code: u32, logs: &[String]) -> (String, String) {
    // Anchor logs "... Error Code: JobNotOpen. Error Number: 6028. Error Message: the job is not open."
    for line in logs.iter().rev() {
        if let Some(rest) = line.split("Error Code: ").nth(1) {
            let name = rest.split('.').next().unwrap_or_default().to_string();
            let message = line
                .split("Error Message: ")
                .nth(1)
                .map(|m| m.trim_end_matches('.').to_string())
                .unwrap_or_default();
            if !name.is_empty() {
                return (name, message);
            }
        }
    }
    if let Some(e) = MarketError::from_code(code) {
        return (e.name(), e.to_string());
    }
    if let Some(name) = crate::anchor_errors::anchor_error_name(code) {
        let token_failed = logs
            .iter()
            .any(|l| l.starts_with(&format!("Program {} failed", anchor_spl::token::ID)));
        if !token_failed {
            return (
                name.to_string(),
                format!("Anchor constraint or account check {name}"),
            );
        }
    }
    let token_failed = logs
        .iter()
        .any(|l| l.starts_with(&format!("Program {} failed", anchor_spl::token::ID)));
    if token_failed {
        if let Some(name) = token_error_name(code) {
            return (format!("Token{name}"), format!("SPL Token: {name}"));
        }
    }
    (
        format!("Custom({code})"),
        format!("custom program error {code}"),
    )
}

fn token_error_name(code: u32) -> Option<&'static str> {
    // spl_token::error::TokenError, in code order.
    const NAMES: &[&str] = &[
        "NotRentExempt",
        "InsufficientFunds",
        "InvalidMint",
        "MintMismatch",
        "OwnerMismatch",
        "FixedSupply",
        "AlreadyInUse",
        "InvalidNumberOfProvidedSigners",
        "InvalidNumberOfRequiredSigners",
        "UninitializedState",
        "NativeNotSupported",
        "NonNativeHasBalance",
        "InvalidInstruction",
        "InvalidState",
        "Overflow",
        "AuthorityTypeNotSupported",
        "MintCannotFreeze",
        "AccountFrozen",
        "MintDecimalsMismatch",
        "NonNativeNotSupported",
    ];
    NAMES.get(code as usize).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_anchor_logs_first() {
        let logs = vec!["Program log: AnchorError caused by account: job. Error Code: AccountDiscriminatorMismatch. Error Number: 3002. Error Message: Account discriminator did not match what was expected.".to_string()];
        let e = from_transaction_error(
            TransactionError::InstructionError(1, InstructionError::Custom(3002)),
            logs,
        );
        assert_eq!(e.error_name(), Some("AccountDiscriminatorMismatch"));
        assert!(e.market_error().is_none());
        assert!(e.to_string().contains("instruction 1"));
    }

    #[test]
    fn names_market_errors_without_logs() {
        let code = u32::from(MarketError::JobNotOpen);
        let e = from_transaction_error(
            TransactionError::InstructionError(0, InstructionError::Custom(code)),
            vec![],
        );
        assert_eq!(e.market_error(), Some(MarketError::JobNotOpen));
        assert_eq!(e.error_name(), Some("JobNotOpen"));
        assert!(!e.is_transient());
    }

    #[test]
    fn names_token_errors_and_expired_blockhashes() {
        let logs = vec![format!(
            "Program {} failed: custom program error: 0x1",
            anchor_spl::token::ID
        )];
        let e = from_transaction_error(
            TransactionError::InstructionError(0, InstructionError::Custom(1)),
            logs,
        );
        assert_eq!(e.error_name(), Some("TokenInsufficientFunds"));
        let e = from_transaction_error(TransactionError::BlockhashNotFound, vec![]);
        assert!(matches!(e, ClientError::BlockhashExpired));
        assert!(e.is_transient());
        let e = from_transaction_error(
            TransactionError::InstructionError(2, InstructionError::InvalidAccountData),
            vec![],
        );
        assert_eq!(e.error_name(), Some("InvalidAccountData"));
        let e = from_transaction_error(TransactionError::InsufficientFundsForFee, vec![]);
        assert_eq!(e.error_name(), Some("InsufficientFundsForFee"));
    }
}
