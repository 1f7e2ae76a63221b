//! Key files. `gpumkt keygen --outfile` and `gpumkt localnet
//! --faucet-keypair` write secrets to a path the user names, often in a
//! shared or world-writable directory. Another local user who plants a
//! symlink there must not get the key written where the link points (over
//! another file, or into a file they can read), and the key file itself must
//! be readable by its owner only.

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

use gpu_market_client::config::{read_keypair, write_keypair, KeyFileError};
use solana_sdk::signature::{Keypair, Signer};

/// A fresh directory per test, removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("gpumkt-keyfile-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }
    fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }
    /// Entries other than `keep`: what a failed write left behind.
    fn others(&self, keep: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !keep.contains(&n.as_str()))
            .collect();
        v.sort();
        v
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_symlink_planted_at_the_key_path_is_refused_and_its_target_untouched() {
    let dir = Dir::new("planted");
    // The victim file the link points at, readable by the attacker.
    let target = dir.join("attacker-readable.txt");
    std::fs::write(&target, "precious").unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();
    let outfile = dir.join("id.json");
    symlink(&target, &outfile).unwrap();

    let err = write_keypair(&Keypair::new(), &outfile).unwrap_err();
    assert!(
        matches!(&err, KeyFileError::Symlink { path } if *path == outfile),
        "{err:?}"
    );
    assert!(err.to_string().contains("symbolic link"), "{err}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");
    assert_eq!(mode(&target), 0o644);
    assert!(std::fs::symlink_metadata(&outfile)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(
        dir.others(&["attacker-readable.txt", "id.json"]),
        Vec::<String>::new()
    );

    // A dangling link (to where the attacker wants a file created) is
    // refused too, and creates nothing there.
    let wanted = dir.join("created-by-link");
    let dangling = dir.join("faucet.json");
    symlink(&wanted, &dangling).unwrap();
    let err = write_keypair(&Keypair::new(), &dangling).unwrap_err();
    assert!(
        matches!(&err, KeyFileError::Symlink { path } if *path == dangling),
        "{err:?}"
    );
    assert!(!wanted.exists());
}

#[test]
fn a_key_file_is_mode_0600_when_new_and_after_an_overwrite() {
    let dir = Dir::new("mode");
    let outfile = dir.join("nested/id.json");
    let first = Keypair::new();
    write_keypair(&first, &outfile).unwrap();
    assert_eq!(mode(&outfile), 0o600);
    assert_eq!(read_keypair(&outfile).unwrap().pubkey(), first.pubkey());

    // A world-readable file at the path (left by another tool) is replaced
    // whole by a 0600 one, never chmod-ed after the secret is in it.
    std::fs::set_permissions(&outfile, std::fs::Permissions::from_mode(0o644)).unwrap();
    let second = Keypair::new();
    write_keypair(&second, &outfile).unwrap();
    assert_eq!(mode(&outfile), 0o600);
    assert_eq!(read_keypair(&outfile).unwrap().pubkey(), second.pubkey());
    assert_eq!(
        Dir(dir.join("nested")).others(&["id.json"]),
        Vec::<String>::new()
    );
}
