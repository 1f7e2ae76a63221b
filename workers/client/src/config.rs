//! Settings the way Solana's own tools take them: `--url` with the monikers
//! `localnet`, `devnet`, `testnet`, `mainnet-beta` (and their one-letter
//! forms), `--keypair` files in Solana's JSON format, and defaults read from
//! `~/.config/solana/cli/config.yml`. The extra moniker `embedded` selects the
//! in-process chain.

use std::path::{Path, PathBuf};

use solana_sdk::signature::Keypair;

use crate::error::{ClientError, Result};

/// Why a keypair file could not be read or written: each names the path, and every
/// failure that came from below (the filesystem, the JSON parser, the key check)
/// carries it as its source.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// A symbolic link is at the outfile: the key would land wherever it points.
    #[error("refusing to write a keypair to {}: it is a symbolic link, and the key would land wherever it points; remove it or pick another path", path.display())]
    Symlink { path: PathBuf },
    /// Something other than a regular file (a directory, a socket, a fifo) is there.
    #[error("refusing to write a keypair to {}: it exists and is not a regular file", path.display())]
    Exists { path: PathBuf },
    /// A filesystem call failed: `action` is what was being done to `path`
    /// ("create", "inspect", "write").
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read keypair file {}: {source} (create one with `solana-keygen new` or pass --keypair)", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a Solana keypair file (a JSON array of 64 bytes): {source}", path.display())]
    NotJson {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{} does not hold a valid keypair: {source}", path.display())]
    NotAKeypair {
        path: PathBuf,
        #[source]
        source: KeypairBytesError,
    },
}

/// What Solana's `Keypair::try_from(&[u8])` fails with (an ed25519 signature error).
pub type KeypairBytesError = <Keypair as TryFrom<&'static [u8]>>::Error;

pub const LOCALNET_URL: &str = "http://127.0.0.1:8899";
pub const DEVNET_URL: &str = "https://api.devnet.solana.com";
pub const TESTNET_URL: &str = "https://api.testnet.solana.com";
pub const MAINNET_URL: &str = "https://api.mainnet-beta.solana.com";
/// The in-process chain: fresh at every start, gone at exit.
pub const EMBEDDED: &str = "embedded";

/// Expands a moniker to its URL; anything else is taken as a URL. Unknown
/// schemes are refused with a clear message rather than guessed at.
pub fn resolve_url(url_or_moniker: &str) -> Result<String> {
    let u = url_or_moniker.trim();
    Ok(match u {
        "l" | "localnet" | "localhost" => LOCALNET_URL.into(),
        "d" | "devnet" => DEVNET_URL.into(),
        "t" | "testnet" => TESTNET_URL.into(),
        "m" | "mainnet-beta" | "mainnet" => MAINNET_URL.into(),
        EMBEDDED => EMBEDDED.into(),
        _ if u.starts_with("http://") || u.starts_with("https://") => u.into(),
        _ => {
            return Err(ClientError::Invalid(format!(
                "--url {u:?} is neither a URL (http:// or https://) nor a moniker (localnet, devnet, testnet, mainnet-beta, embedded)"
            )))
        }
    })
}

/// The subset of Solana CLI's config.yml we honour.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SolanaCliConfig {
    pub json_rpc_url: Option<String>,
    pub websocket_url: Option<String>,
    pub keypair_path: Option<String>,
    pub commitment: Option<String>,
}

pub fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME").map(PathBuf::from)
}

/// `~/.config/solana/cli/config.yml`.
pub fn default_cli_config_path() -> Option<PathBuf> {
    home_dir().map(|h| h.join(".config/solana/cli/config.yml"))
}

/// `~/.config/solana/id.json`.
pub fn default_keypair_path() -> Option<PathBuf> {
    home_dir().map(|h| h.join(".config/solana/id.json"))
}

impl SolanaCliConfig {
    /// Reads the file if it exists; a missing file is an empty config.
    pub fn load(path: &Path) -> Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(Self::parse(&text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(ClientError::CliConfig {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// The file is flat `key: value` YAML; values may be quoted.
    pub fn parse(text: &str) -> Self {
        let mut c = Self::default();
        for line in text.lines() {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            let v = v
                .trim()
                .trim_matches(|ch| ch == '"' || ch == '\'')
                .to_string();
            if v.is_empty() {
                continue;
            }
            match k.trim() {
                "json_rpc_url" => c.json_rpc_url = Some(v),
                "websocket_url" => c.websocket_url = Some(v),
                "keypair_path" => c.keypair_path = Some(v),
                "commitment" => c.commitment = Some(v),
                _ => {}
            }
        }
        c
    }
}

/// Reads a keypair in Solana's JSON format (an array of 64 bytes).
pub fn read_keypair(path: &Path) -> Result<Keypair, KeyFileError> {
    let path_buf = || path.to_path_buf();
    let text = std::fs::read_to_string(path).map_err(|source| KeyFileError::Read {
        path: path_buf(),
        source,
    })?;
    let bytes: Vec<u8> = serde_json::from_str(&text).map_err(|source| KeyFileError::NotJson {
        path: path_buf(),
        source,
    })?;
    Keypair::try_from(bytes.as_slice()).map_err(|source| KeyFileError::NotAKeypair {
        path: path_buf(),
        source,
    })
}

/// Writes a keypair in Solana's JSON format, readable only by the owner.
///
/// The secret never passes through a file another user could read, and never
/// through a path an attacker prepared: it goes into a fresh file created
/// exclusively (`O_CREAT | O_EXCL`, which does not follow a symlink) with
/// mode 0600 from its first byte, is synced, and is then renamed over `path`.
/// A symlink at `path` is refused rather than followed, so a link planted at
/// the outfile (to `~/.bashrc`, to another key) leaves its target untouched;
/// and since `rename` replaces a directory entry, not what it points at, even a
/// link planted after that check only loses its link. An existing regular
/// file is replaced whole (callers decide whether overwriting is allowed).
pub fn write_keypair(keypair: &Keypair, path: &Path) -> Result<(), KeyFileError> {
    use std::io::Write;

    let failed = |action: &'static str, path: &Path, source: std::io::Error| KeyFileError::Io {
        action,
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| failed("create", dir, e))?;
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            return Err(KeyFileError::Symlink {
                path: path.to_path_buf(),
            })
        }
        Ok(m) if !m.is_file() => {
            return Err(KeyFileError::Exists {
                path: path.to_path_buf(),
            })
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(failed("inspect", path, e)),
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "keypair".into());
    let json = serde_json::to_string(&keypair.to_bytes().to_vec()).expect("bytes serialize");
    // A random suffix: the temporary name cannot be predicted and pre-planted
    // (and `create_new` refuses it if it were).
    let suffix: String = solana_sdk::signature::Signer::pubkey(&Keypair::new()).to_bytes()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let tmp = dir.join(format!(".{name}.{suffix}.tmp"));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options.open(&tmp).and_then(|mut f| {
        // The umask can only remove bits; set exactly 0600 in case it was odd.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        f.write_all(json.as_bytes())?;
        f.sync_all()
    });
    let renamed = written.and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = renamed {
        let _ = std::fs::remove_file(&tmp);
        return Err(failed("write", path, e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use solana_sdk::signature::Signer;

    #[test]
    fn monikers() {
        assert_eq!(resolve_url("localnet").unwrap(), LOCALNET_URL);
        assert_eq!(resolve_url("d").unwrap(), DEVNET_URL);
        assert_eq!(resolve_url("mainnet-beta").unwrap(), MAINNET_URL);
        assert_eq!(
            resolve_url("http://10.0.0.1:8899").unwrap(),
            "http://10.0.0.1:8899"
        );
        assert_eq!(resolve_url("embedded").unwrap(), EMBEDDED);
        assert!(resolve_url("ftp://x").is_err());
        assert!(resolve_url("devnett").is_err());
    }

    #[test]
    fn parses_solana_cli_config() {
        let c = SolanaCliConfig::parse(
            "---\njson_rpc_url: \"http://localhost:8899\"\nwebsocket_url: ''\nkeypair_path: /home/u/.config/solana/id.json\naddress_labels:\n  \"11111111111111111111111111111111\": System Program\ncommitment: confirmed\n",
        );
        assert_eq!(c.json_rpc_url.as_deref(), Some("http://localhost:8899"));
        assert_eq!(c.websocket_url, None);
        assert_eq!(
            c.keypair_path.as_deref(),
            Some("/home/u/.config/solana/id.json")
        );
        assert_eq!(c.commitment.as_deref(), Some("confirmed"));
    }

    #[test]
    fn keypair_files_round_trip_and_bad_files_are_named() {
        let dir = std::env::temp_dir().join(format!("gpumkt-kp-{}", std::process::id()));
        let path = dir.join("id.json");
        let k = Keypair::new();
        write_keypair(&k, &path).unwrap();
        assert_eq!(read_keypair(&path).unwrap().pubkey(), k.pubkey());
        std::fs::write(&path, "[1,2,3]").unwrap();
        let e = read_keypair(&path).unwrap_err();
        assert!(e.to_string().contains("valid keypair"), "{e}");
        assert!(matches!(&e, KeyFileError::NotAKeypair { path: p, .. } if *p == path));
        std::fs::write(&path, "hello").unwrap();
        let e = read_keypair(&path).unwrap_err();
        assert!(e.to_string().contains("JSON array"), "{e}");
        assert!(matches!(e, KeyFileError::NotJson { .. }));
        let e = read_keypair(&dir.join("missing.json")).unwrap_err();
        assert!(e.to_string().contains("cannot read"), "{e}");
        let KeyFileError::Read { source, .. } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        // The cause stays reachable for programs that walk the chain.
        assert!(std::error::Error::source(&e).is_some());
        // Something that is not a file at the outfile: refused, named, left alone.
        let e = write_keypair(&k, &dir).unwrap_err();
        assert!(
            matches!(&e, KeyFileError::Exists { path: p } if *p == dir),
            "{e}"
        );
        assert!(e.to_string().contains("not a regular file"), "{e}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
