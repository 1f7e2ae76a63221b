//! The program's IDL, `idl/gpu_market.json`, is what clients without Rust script the
//! market from, so it must describe the program as it is now. This suite rebuilds the
//! IDL from the program's source the way `anchor idl build` does (anchor-lang-idl's
//! `IdlBuilder` runs the program's `__anchor_private_print_idl` tests with the
//! `idl-build` feature and assembles their pieces), compares it with the checked-in
//! file, and checks the IDL against the source it came from: every instruction of the
//! `#[program]` module, every `MarketError` in code order, every account type. Last,
//! `@coral-xyz/anchor` reads the file (`clients/ts/idl.mjs`) and must encode `job_post`
//! to the bytes the program's own types give.
//!
//! Regenerate the file after changing the program's interface:
//!
//! ```text
//! GPU_MARKET_WRITE_IDL=1 cargo test -p gpu-market-tests --locked --test idl
//! ```

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use anchor_lang::{Discriminator, InstructionData};
use anchor_lang_idl::build::IdlBuilder;
use anchor_lang_idl::types::Idl;
use gpu_market::errors::MarketError;
use gpu_market::state::{
    Dispute, Job, JobRequirements, Market, ProofBuffer, Provider, RefereePool,
};
use gpu_market::JobPostArgs;

const REGENERATE: &str =
    "GPU_MARKET_WRITE_IDL=1 cargo test -p gpu-market-tests --locked --test idl";

/// Anchor's first custom error code: `MarketError::ALL[i]` is `6000 + i`.
const ERROR_CODE_OFFSET: u32 = 6000;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace root")
        .to_path_buf()
}

fn program_dir() -> PathBuf {
    repo_root().join("programs/gpu-market")
}

fn idl_path() -> PathBuf {
    repo_root().join("idl/gpu_market.json")
}

/// The file's bytes for an IDL: anchor's pretty JSON (its field order) and a final
/// newline, as `anchor idl build > idl/gpu_market.json` writes it.
fn render(idl: &Idl) -> String {
    let mut json = serde_json::to_string_pretty(idl).expect("an IDL serializes");
    json.push('\n');
    json
}

/// Builds the IDL once per test binary (a nested `cargo test` of the program).
fn built() -> &'static Idl {
    static IDL: OnceLock<Idl> = OnceLock::new();
    IDL.get_or_init(|| {
        prepare_nested_cargo_env();
        // `--lib`: the print tests are the library's; doctests and other targets add
        // minutes and print nothing. `--locked`: CI's rule, the lock file is not rewritten.
        IdlBuilder::new()
            .program_path(program_dir())
            .cargo_args(vec!["--lib".into(), "--locked".into()])
            .build()
            .unwrap_or_else(|e| panic!("building the IDL failed: {e:#}"))
    })
}

/// IdlBuilder sets `RUSTFLAGS=-A warnings` for its nested cargo; flags other than the
/// outer build's give every dependency a new hash, a second copy of the whole graph in
/// the shared target directory. `CARGO_ENCODED_RUSTFLAGS` outranks `RUSTFLAGS`, so the
/// outer flags are handed down through it and the dependencies built for the other
/// tests are reused. `RUSTUP_TOOLCHAIN`, which rustup sets for the processes it starts,
/// would make IdlBuilder run `cargo +{toolchain}` with that text unformatted; without
/// it the nested cargo picks the same toolchain from the same directory.
fn prepare_nested_cargo_env() {
    if std::env::var_os("CARGO_ENCODED_RUSTFLAGS").is_none() {
        let outer = std::env::var("RUSTFLAGS").unwrap_or_default();
        let encoded = outer.split_whitespace().collect::<Vec<_>>().join("\x1f");
        std::env::set_var("CARGO_ENCODED_RUSTFLAGS", encoded);
    }
    std::env::remove_var("RUSTUP_TOOLCHAIN");
}

/// The first line where two renderings differ, to point at the change in a failure.
fn first_difference(expected: &str, actual: &str) -> String {
    let mut expected_lines = expected.lines();
    let mut actual_lines = actual.lines();
    for line in 1.. {
        match (expected_lines.next(), actual_lines.next()) {
            (None, None) => break,
            (e, a) if e == a => continue,
            (e, a) => {
                return format!(
                    "line {line}: checked in {:?}, built {:?}",
                    e.unwrap_or("<end>"),
                    a.unwrap_or("<end>")
                )
            }
        }
    }
    "no line differs (only the final newline)".into()
}

#[test]
fn checked_in_idl_is_current() {
    let rendered = render(built());
    let path = idl_path();
    if std::env::var_os("GPU_MARKET_WRITE_IDL").is_some() {
        std::fs::create_dir_all(path.parent().expect("idl/ has a parent")).expect("create idl/");
        std::fs::write(&path, &rendered).expect("write idl/gpu_market.json");
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{} is unreadable ({e}); regenerate it: {REGENERATE}",
            path.display()
        )
    });
    assert!(
        checked_in == rendered,
        "idl/gpu_market.json is stale ({}); regenerate it: {REGENERATE}",
        first_difference(&checked_in, &rendered)
    );
}

/// The file parses back into the IDL it was written from: a client reading it with
/// anchor's own types sees every field.
#[test]
fn checked_in_idl_parses_as_anchor_idl() {
    if std::env::var_os("GPU_MARKET_WRITE_IDL").is_some() {
        return;
    }
    let checked_in = std::fs::read_to_string(idl_path()).expect("idl/gpu_market.json exists");
    let parsed: Idl = serde_json::from_str(&checked_in).expect("the file is an anchor IDL");
    // No assert_eq!: its message would print both IDLs whole.
    assert!(
        parsed == *built(),
        "idl/gpu_market.json parses to another IDL; regenerate it: {REGENERATE}"
    );
    assert_eq!(parsed.address, gpu_market::ID.to_string());
    assert_eq!(parsed.metadata.name, "gpu_market");
}

/// The `pub fn` names of lib.rs's `#[program]` module, read from the source text so
/// the IDL is checked against the program, not against itself.
fn program_instructions_in_lib_rs() -> BTreeSet<String> {
    let source = std::fs::read_to_string(program_dir().join("src/lib.rs")).expect("read lib.rs");
    let (_, module) = source
        .split_once("#[program]")
        .expect("lib.rs has a #[program] module");
    // The module ends at the first closing brace in column 0.
    module
        .lines()
        .take_while(|line| *line != "}")
        .filter_map(|line| line.trim_start().strip_prefix("pub fn "))
        .map(|rest| {
            rest.split(['(', '<'])
                .next()
                .expect("split yields a first piece")
                .trim()
                .to_string()
        })
        .collect()
}

#[test]
fn every_program_instruction_is_in_the_idl() {
    let in_source = program_instructions_in_lib_rs();
    for name in ["market_create", "job_post", "referee_reveal", "proof_close"] {
        assert!(
            in_source.contains(name),
            "lib.rs parse missed {name}: {in_source:?}"
        );
    }
    let idl = built();
    let in_idl: BTreeSet<String> = idl.instructions.iter().map(|i| i.name.clone()).collect();
    assert_eq!(in_idl, in_source, "the IDL's instructions are lib.rs's");
    assert_eq!(idl.instructions.len(), in_idl.len(), "no instruction twice");

    let job_post = idl
        .instructions
        .iter()
        .find(|i| i.name == "job_post")
        .expect("job_post is in the IDL");
    assert_eq!(
        job_post.discriminator,
        gpu_market::instruction::JobPost::DISCRIMINATOR,
        "the IDL's job_post discriminator is the one the program dispatches on"
    );
}

#[test]
fn idl_errors_are_market_error_in_code_order() {
    let idl = built();
    assert_eq!(idl.errors.len(), MarketError::ALL.len());
    for (i, (listed, error)) in idl.errors.iter().zip(MarketError::ALL).enumerate() {
        let code = ERROR_CODE_OFFSET + u32::try_from(i).expect("fewer than 2^32 errors");
        assert_eq!(listed.code, code, "{listed:?}");
        assert_eq!(listed.code, u32::from(*error), "{listed:?}");
        assert_eq!(listed.name, format!("{error:?}"), "code {code}");
        assert_eq!(
            listed.msg.as_deref(),
            Some(error.to_string().as_str()),
            "code {code}"
        );
    }
}

#[test]
fn idl_accounts_are_the_program_account_types() {
    let idl = built();
    let expected: [(&str, &[u8]); 6] = [
        ("Market", Market::DISCRIMINATOR),
        ("Provider", Provider::DISCRIMINATOR),
        ("Job", Job::DISCRIMINATOR),
        ("Dispute", Dispute::DISCRIMINATOR),
        ("ProofBuffer", ProofBuffer::DISCRIMINATOR),
        ("RefereePool", RefereePool::DISCRIMINATOR),
    ];
    for (name, discriminator) in expected {
        let account = idl
            .accounts
            .iter()
            .find(|a| a.name == name)
            .unwrap_or_else(|| panic!("account {name} is missing from the IDL"));
        assert_eq!(
            account.discriminator, discriminator,
            "{name}'s discriminator"
        );
        assert!(
            idl.types.iter().any(|t| t.name == name),
            "account {name} has its layout in the IDL's types"
        );
    }
}

/// A client scripting the market from JavaScript sees the same instruction bytes as the
/// program: `clients/ts/idl.mjs` encodes `job_post` with `@coral-xyz/anchor`'s
/// BorshCoder from the checked-in file, and the program's `JobPost` encodes the same
/// arguments here. Needs `node` and `npm ci --prefix clients/ts`, like the localnet's
/// web3.js test; it fails without them, it does not skip.
#[test]
fn anchor_ts_encodes_job_post_as_the_program_does() {
    let dir = repo_root().join("clients/ts");
    assert!(
        dir.join("node_modules/@coral-xyz/anchor").is_dir(),
        "{} has no @coral-xyz/anchor: run `npm ci --prefix clients/ts` from the repository root",
        dir.display()
    );
    let out = Command::new("node")
        .arg("idl.mjs")
        .current_dir(&dir)
        .output()
        .expect("`node` runs: install Node.js 20 or later");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "node idl.mjs failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let js_hex = stdout
        .lines()
        .find_map(|l| l.strip_prefix("job_post data "))
        .unwrap_or_else(|| panic!("no `job_post data` line:\n{stdout}"));

    // The arguments idl.mjs encodes.
    let args = JobPostArgs {
        nonce: 7,
        workload: 1,
        spec_hash: std::array::from_fn(|i| u8::try_from(i).expect("i < 32")),
        spec_uri: "blob://spec".into(),
        requirements: JobRequirements {
            min_vram_mb: 8192,
            min_compute_capability: 80,
            min_gpu_count: 1,
        },
        price: 1_000_000,
        deadline: 1_800_000_000,
        gemm: None,
        max_escrow: 2_000_000,
    };
    let rust = gpu_market::instruction::JobPost { args }.data();
    let rust_hex: String = rust.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        js_hex, rust_hex,
        "job_post bytes: @coral-xyz/anchor vs the program"
    );
}
