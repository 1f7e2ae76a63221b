//! The localnet and the SDK pieces it serves, attacked: each test states an
//! attack (issue 10) and asserts that it fails and costs the victim nothing,
//! next to the honest request it must not break. `docs/security.md` lists
//! them.

mod donation;
mod exposure;
mod key_files;
mod signatures;
