//! Anchor's framework error codes (anchor-lang 1.2.2) by number, so failures
//! are named even where the program's logs are not available (native builds
//! print Anchor's error log line to stdout instead of the transaction's logs).

/// `(code, name)` of every `anchor_lang::error::ErrorCode`; a test checks it
/// against the enum.
pub const ANCHOR_ERRORS: &[(u32, &str)] = &[
    (100, "InstructionMissing"),
    (101, "InstructionFallbackNotFound"),
    (102, "InstructionDidNotDeserialize"),
    (103, "InstructionDidNotSerialize"),
    (1000, "IdlInstructionStub"),
    (1001, "IdlInstructionInvalidProgram"),
    (1002, "IdlAccountNotEmpty"),
    (1500, "EventInstructionStub"),
    (2000, "ConstraintMut"),
    (2001, "ConstraintHasOne"),
    (2002, "ConstraintSigner"),
    (2003, "ConstraintRaw"),
    (2004, "ConstraintOwner"),
    (2005, "ConstraintRentExempt"),
    (2006, "ConstraintSeeds"),
    (2007, "ConstraintExecutable"),
    (2008, "ConstraintState"),
    (2009, "ConstraintAssociated"),
    (2010, "ConstraintAssociatedInit"),
    (2011, "ConstraintClose"),
    (2012, "ConstraintAddress"),
    (2013, "ConstraintZero"),
    (2014, "ConstraintTokenMint"),
    (2015, "ConstraintTokenOwner"),
    (2016, "ConstraintMintMintAuthority"),
    (2017, "ConstraintMintFreezeAuthority"),
    (2018, "ConstraintMintDecimals"),
    (2019, "ConstraintSpace"),
    (2020, "ConstraintAccountIsNone"),
    (2021, "ConstraintTokenTokenProgram"),
    (2022, "ConstraintMintTokenProgram"),
    (2023, "ConstraintAssociatedTokenTokenProgram"),
    (2024, "ConstraintMintGroupPointerExtension"),
    (2025, "ConstraintMintGroupPointerExtensionAuthority"),
    (2026, "ConstraintMintGroupPointerExtensionGroupAddress"),
    (2027, "ConstraintMintGroupMemberPointerExtension"),
    (2028, "ConstraintMintGroupMemberPointerExtensionAuthority"),
    (
        2029,
        "ConstraintMintGroupMemberPointerExtensionMemberAddress",
    ),
    (2030, "ConstraintMintMetadataPointerExtension"),
    (2031, "ConstraintMintMetadataPointerExtensionAuthority"),
    (
        2032,
        "ConstraintMintMetadataPointerExtensionMetadataAddress",
    ),
    (2033, "ConstraintMintCloseAuthorityExtension"),
    (2034, "ConstraintMintCloseAuthorityExtensionAuthority"),
    (2035, "ConstraintMintPermanentDelegateExtension"),
    (2036, "ConstraintMintPermanentDelegateExtensionDelegate"),
    (2037, "ConstraintMintTransferHookExtension"),
    (2038, "ConstraintMintTransferHookExtensionAuthority"),
    (2039, "ConstraintMintTransferHookExtensionProgramId"),
    (2040, "ConstraintDuplicateMutableAccount"),
    (2041, "AccountAlreadyMigrated"),
    (2042, "AccountNotMigrated"),
    (2043, "ConstraintMintPausableExtension"),
    (2044, "ConstraintMintPausableAuthority"),
    (2500, "RequireViolated"),
    (2501, "RequireEqViolated"),
    (2502, "RequireKeysEqViolated"),
    (2503, "RequireNeqViolated"),
    (2504, "RequireKeysNeqViolated"),
    (2505, "RequireGtViolated"),
    (2506, "RequireGteViolated"),
    (3000, "AccountDiscriminatorAlreadySet"),
    (3001, "AccountDiscriminatorNotFound"),
    (3002, "AccountDiscriminatorMismatch"),
    (3003, "AccountDidNotDeserialize"),
    (3004, "AccountDidNotSerialize"),
    (3005, "AccountNotEnoughKeys"),
    (3006, "AccountNotMutable"),
    (3007, "AccountOwnedByWrongProgram"),
    (3008, "InvalidProgramId"),
    (3009, "InvalidProgramExecutable"),
    (3010, "AccountNotSigner"),
    (3011, "AccountNotSystemOwned"),
    (3012, "AccountNotInitialized"),
    (3013, "AccountNotProgramData"),
    (3014, "AccountNotAssociatedTokenAccount"),
    (3015, "AccountSysvarMismatch"),
    (3016, "AccountReallocExceedsLimit"),
    (3017, "AccountDuplicateReallocs"),
    (4100, "DeclaredProgramIdMismatch"),
    (4101, "TryingToInitPayerAsProgramAccount"),
    (4102, "InvalidNumericConversion"),
    (5000, "Deprecated"),
];

pub fn anchor_error_name(code: u32) -> Option<&'static str> {
    ANCHOR_ERRORS
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, n)| *n)
}

#[cfg(test)]
mod tests {
    use anchor_lang::error::ErrorCode;

    #[test]
    fn table_matches_anchor() {
        assert_eq!(u32::from(ErrorCode::InstructionMissing), 100);
        assert_eq!(u32::from(ErrorCode::InstructionFallbackNotFound), 101);
        assert_eq!(u32::from(ErrorCode::InstructionDidNotDeserialize), 102);
        assert_eq!(u32::from(ErrorCode::InstructionDidNotSerialize), 103);
        assert_eq!(u32::from(ErrorCode::IdlInstructionStub), 1000);
        assert_eq!(u32::from(ErrorCode::IdlInstructionInvalidProgram), 1001);
        assert_eq!(u32::from(ErrorCode::IdlAccountNotEmpty), 1002);
        assert_eq!(u32::from(ErrorCode::EventInstructionStub), 1500);
        assert_eq!(u32::from(ErrorCode::ConstraintMut), 2000);
        assert_eq!(u32::from(ErrorCode::ConstraintHasOne), 2001);
        assert_eq!(u32::from(ErrorCode::ConstraintSigner), 2002);
        assert_eq!(u32::from(ErrorCode::ConstraintRaw), 2003);
        assert_eq!(u32::from(ErrorCode::ConstraintOwner), 2004);
        assert_eq!(u32::from(ErrorCode::ConstraintRentExempt), 2005);
        assert_eq!(u32::from(ErrorCode::ConstraintSeeds), 2006);
        assert_eq!(u32::from(ErrorCode::ConstraintExecutable), 2007);
        assert_eq!(u32::from(ErrorCode::ConstraintState), 2008);
        assert_eq!(u32::from(ErrorCode::ConstraintAssociated), 2009);
        assert_eq!(u32::from(ErrorCode::ConstraintAssociatedInit), 2010);
        assert_eq!(u32::from(ErrorCode::ConstraintClose), 2011);
        assert_eq!(u32::from(ErrorCode::ConstraintAddress), 2012);
        assert_eq!(u32::from(ErrorCode::ConstraintZero), 2013);
        assert_eq!(u32::from(ErrorCode::ConstraintTokenMint), 2014);
        assert_eq!(u32::from(ErrorCode::ConstraintTokenOwner), 2015);
        assert_eq!(u32::from(ErrorCode::ConstraintMintMintAuthority), 2016);
        assert_eq!(u32::from(ErrorCode::ConstraintMintFreezeAuthority), 2017);
        assert_eq!(u32::from(ErrorCode::ConstraintMintDecimals), 2018);
        assert_eq!(u32::from(ErrorCode::ConstraintSpace), 2019);
        assert_eq!(u32::from(ErrorCode::ConstraintAccountIsNone), 2020);
        assert_eq!(u32::from(ErrorCode::ConstraintTokenTokenProgram), 2021);
        assert_eq!(u32::from(ErrorCode::ConstraintMintTokenProgram), 2022);
        assert_eq!(
            u32::from(ErrorCode::ConstraintAssociatedTokenTokenProgram),
            2023
        );
        assert_eq!(
            u32::from(ErrorCode::ConstraintMintGroupPointerExtension),
            2024
        );
        assert_eq!(
            u32::from(ErrorCode::ConstraintMintGroupPointerExtensionAuthority),
            2025
        );
        assert_eq!(
            u32::from(ErrorCode::ConstraintMintGroupPointerExtensionGroupAddress),
            2026
        );
        assert_eq!(
            u32::from(ErrorCode::ConstraintMintGroupMemberPointerExtension),
            2027
        );
        assert_eq!(
            u32::from(ErrorCode::ConstraintMintGroupMemberPointerExtensionAuthority),
            2028
        );
        assert_eq!(
            u32::from(ErrorCode::ConstraintMintGroupMemberPointerExtensionMemberAddress),
            2029
        );
        assert_eq!(
            u32::from(ErrorCode::ConstraintMintMetadataPointerExtension),
            2030
        );
        assert_eq!(
            u32::from(ErrorCode::ConstraintMintMetadataPointerExtensionAuthority),
            2031
        );
        assert_eq!(
            u32::from(ErrorCode::ConstraintMintMetadataPointerExtensionMetadataAddress),
            2032
        );
        assert_eq!(
            u32::from(ErrorCode::ConstraintMintCloseAuthorityExtension),
            2033
        );
        assert_eq!(
            u32::from(ErrorCode::ConstraintMintCloseAuthorityExtensionAuthority),
            2034
        );
        assert_eq!(
            u32::from(ErrorCode::ConstraintMintPermanentDelegateExtension),
            2035
        );
        assert_eq!(
            u32::from(ErrorCode::ConstraintMintPermanentDelegateExtensionDelegate),
            2036
        );
        assert_eq!(
            u32::from(ErrorCode::ConstraintMintTransferHookExtension),
            2037
        );
        assert_eq!(
            u32::from(ErrorCode::ConstraintMintTransferHookExtensionAuthority),
            2038
        );
        assert_eq!(
            u32::from(ErrorCode::ConstraintMintTransferHookExtensionProgramId),
            2039
        );
        assert_eq!(
            u32::from(ErrorCode::ConstraintDuplicateMutableAccount),
            2040
        );
        assert_eq!(u32::from(ErrorCode::AccountAlreadyMigrated), 2041);
        assert_eq!(u32::from(ErrorCode::AccountNotMigrated), 2042);
        assert_eq!(u32::from(ErrorCode::ConstraintMintPausableExtension), 2043);
        assert_eq!(u32::from(ErrorCode::ConstraintMintPausableAuthority), 2044);
        assert_eq!(u32::from(ErrorCode::RequireViolated), 2500);
        assert_eq!(u32::from(ErrorCode::RequireEqViolated), 2501);
        assert_eq!(u32::from(ErrorCode::RequireKeysEqViolated), 2502);
        assert_eq!(u32::from(ErrorCode::RequireNeqViolated), 2503);
        assert_eq!(u32::from(ErrorCode::RequireKeysNeqViolated), 2504);
        assert_eq!(u32::from(ErrorCode::RequireGtViolated), 2505);
        assert_eq!(u32::from(ErrorCode::RequireGteViolated), 2506);
        assert_eq!(u32::from(ErrorCode::AccountDiscriminatorAlreadySet), 3000);
        assert_eq!(u32::from(ErrorCode::AccountDiscriminatorNotFound), 3001);
        assert_eq!(u32::from(ErrorCode::AccountDiscriminatorMismatch), 3002);
        assert_eq!(u32::from(ErrorCode::AccountDidNotDeserialize), 3003);
        assert_eq!(u32::from(ErrorCode::AccountDidNotSerialize), 3004);
        assert_eq!(u32::from(ErrorCode::AccountNotEnoughKeys), 3005);
        assert_eq!(u32::from(ErrorCode::AccountNotMutable), 3006);
        assert_eq!(u32::from(ErrorCode::AccountOwnedByWrongProgram), 3007);
        assert_eq!(u32::from(ErrorCode::InvalidProgramId), 3008);
        assert_eq!(u32::from(ErrorCode::InvalidProgramExecutable), 3009);
        assert_eq!(u32::from(ErrorCode::AccountNotSigner), 3010);
        assert_eq!(u32::from(ErrorCode::AccountNotSystemOwned), 3011);
        assert_eq!(u32::from(ErrorCode::AccountNotInitialized), 3012);
        assert_eq!(u32::from(ErrorCode::AccountNotProgramData), 3013);
        assert_eq!(u32::from(ErrorCode::AccountNotAssociatedTokenAccount), 3014);
        assert_eq!(u32::from(ErrorCode::AccountSysvarMismatch), 3015);
        assert_eq!(u32::from(ErrorCode::AccountReallocExceedsLimit), 3016);
        assert_eq!(u32::from(ErrorCode::AccountDuplicateReallocs), 3017);
        assert_eq!(u32::from(ErrorCode::DeclaredProgramIdMismatch), 4100);
        assert_eq!(
            u32::from(ErrorCode::TryingToInitPayerAsProgramAccount),
            4101
        );
        assert_eq!(u32::from(ErrorCode::InvalidNumericConversion), 4102);
        assert_eq!(u32::from(ErrorCode::Deprecated), 5000);
    }
}
