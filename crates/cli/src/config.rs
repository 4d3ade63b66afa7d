//! Server configuration with one precedence rule: command-line flags, then environment variables,
//! then the configuration file (`fundledger.toml`), then built-in defaults.
//!
//! Flags and environment variables arrive together from clap (a flag wins over its variable); this
//! module layers the file and the defaults under them, and says where each value came from so
//! `fundledger serve` can log its effective configuration.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::CliError;

/// The default configuration file, looked for in the working directory.
pub const CONFIG_FILE_DEFAULT: &str = "fundledger.toml";
/// Where the server listens unless told otherwise: loopback only.
pub const LISTEN_DEFAULT: &str = "127.0.0.1:50051";
/// Snapshot after this many new records unless told otherwise.
pub const SNAPSHOT_EVERY_RECORDS_DEFAULT: u64 = 1_000_000;

/// What flags and environment variables said (None = not given).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    pub data_dir: Option<PathBuf>,
    pub listen: Option<String>,
    pub policy: Option<PathBuf>,
    pub principals: Option<PathBuf>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub tls_client_ca: Option<PathBuf>,
    pub snapshot_every_records: Option<u64>,
    pub store: Option<String>,
}

/// The configuration file's shape. Every field is optional; unknown fields are refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    pub listen: Option<String>,
    pub policy: Option<PathBuf>,
    pub principals: Option<PathBuf>,
    pub snapshot_every_records: Option<u64>,
    pub store: Option<String>,
    pub tls: Option<TlsFile>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFile {
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub client_ca: Option<PathBuf>,
}

/// Where a setting's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    FlagOrEnv,
    File,
    Default,
}

/// The effective server settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub data_dir: (PathBuf, Source),
    pub listen: (SocketAddr, Source),
    pub policy: Option<(PathBuf, Source)>,
    pub principals: Option<(PathBuf, Source)>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub tls_client_ca: Option<PathBuf>,
    pub snapshot_every_records: (u64, Source),
    /// `None` for the embedded file store; an `esdb://` URL for EventStoreDB.
    pub store: Option<String>,
}

/// Reads the configuration file: the one named explicitly (which must exist), or
/// `fundledger.toml` in the working directory if present.
pub fn read_file(explicit: Option<&Path>) -> Result<FileConfig, CliError> {
    let (path, required) = match explicit {
        Some(p) => (p.to_path_buf(), true),
        None => (PathBuf::from(CONFIG_FILE_DEFAULT), false),
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => return Ok(FileConfig::default()),
        Err(source) => return Err(CliError::Io { what: "reading configuration file", path, source }),
    };
    parse_file(&text, &path)
}

/// Parses configuration text; errors name the file and line.
pub fn parse_file(text: &str, path: &Path) -> Result<FileConfig, CliError> {
    toml::from_str(text).map_err(|e| {
        let line =
            e.span().map(|s| text.as_bytes()[..s.start.min(text.len())].iter().filter(|b| **b == b'\n').count() + 1);
        let at = line.map(|l| format!(" line {l}")).unwrap_or_default();
        CliError::Config(format!("configuration file {}{at}: {}", path.display(), e.message()))
    })
}

/// Layers flags/env over the file over the defaults.
pub fn resolve(over: Overrides, file: FileConfig) -> Result<Settings, CliError> {
    fn pick<T>(over: Option<T>, file: Option<T>, default: T) -> (T, Source) {
        match (over, file) {
            (Some(v), _) => (v, Source::FlagOrEnv),
            (None, Some(v)) => (v, Source::File),
            (None, None) => (default, Source::Default),
        }
    }
    fn pick_opt<T>(over: Option<T>, file: Option<T>) -> Option<(T, Source)> {
        over.map(|v| (v, Source::FlagOrEnv)).or(file.map(|v| (v, Source::File)))
    }
    let (listen_text, listen_source) = pick(over.listen, file.listen, LISTEN_DEFAULT.to_string());
    let listen: SocketAddr = listen_text.parse().map_err(|_| {
        CliError::Config(format!(
            "listen address {listen_text:?} is not an IP address and port such as 127.0.0.1:50051"
        ))
    })?;
    let tls = file.tls.unwrap_or_default();
    let settings = Settings {
        data_dir: pick(over.data_dir, file.data_dir, PathBuf::from("./data")),
        listen: (listen, listen_source),
        policy: pick_opt(over.policy, file.policy),
        principals: pick_opt(over.principals, file.principals),
        tls_cert: over.tls_cert.or(tls.cert),
        tls_key: over.tls_key.or(tls.key),
        tls_client_ca: over.tls_client_ca.or(tls.client_ca),
        snapshot_every_records: pick(
            over.snapshot_every_records,
            file.snapshot_every_records,
            SNAPSHOT_EVERY_RECORDS_DEFAULT,
        ),
        store: over.store.or(file.store),
    };
    if settings.tls_cert.is_some() != settings.tls_key.is_some() {
        return Err(CliError::Config("TLS needs both a certificate and a key (tls_cert and tls_key)".into()));
    }
    if settings.tls_client_ca.is_some() && settings.tls_cert.is_none() {
        return Err(CliError::Config("client-certificate verification (tls_client_ca) needs TLS to be on".into()));
    }
    if settings.snapshot_every_records.0 == 0 {
        return Err(CliError::Config("snapshot_every_records must be at least 1".into()));
    }
    Ok(settings)
}

/// The effective settings, one per line with where each came from (`serve --check-config`).
pub fn describe(s: &Settings) -> String {
    fn from(source: Source) -> &'static str {
        match source {
            Source::FlagOrEnv => "flag or environment",
            Source::File => "configuration file",
            Source::Default => "default",
        }
    }
    let path = |p: &Option<(PathBuf, Source)>, none: &str| match p {
        Some((p, source)) => format!("{} ({})", p.display(), from(*source)),
        None => none.to_string(),
    };
    let opt = |p: &Option<PathBuf>| p.as_ref().map_or("none".to_string(), |p| p.display().to_string());
    format!(
        "data_dir = {} ({})\nlisten = {} ({})\npolicy = {}\nprincipals = {}\ntls_cert = {}\ntls_key = {}\n\
         tls_client_ca = {}\nsnapshot_every_records = {} ({})\nstore = {}\n",
        s.data_dir.0.display(),
        from(s.data_dir.1),
        s.listen.0,
        from(s.listen.1),
        path(&s.policy, "the shipped Gansu policy (default)"),
        path(&s.principals, "none"),
        opt(&s.tls_cert),
        opt(&s.tls_key),
        opt(&s.tls_client_ca),
        s.snapshot_every_records.0,
        from(s.snapshot_every_records.1),
        s.store.as_deref().unwrap_or("the embedded file store (default)"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_the_file_which_beats_the_defaults() {
        let file = parse_file(
            "data_dir = \"/from/file\"\nlisten = \"127.0.0.1:6000\"\nsnapshot_every_records = 5\n",
            Path::new("f.toml"),
        )
        .unwrap();
        let over = Overrides { listen: Some("127.0.0.1:7000".into()), ..Overrides::default() };
        let s = resolve(over, file).unwrap();
        assert_eq!(s.listen, ("127.0.0.1:7000".parse().unwrap(), Source::FlagOrEnv));
        assert_eq!(s.data_dir, (PathBuf::from("/from/file"), Source::File));
        assert_eq!(s.snapshot_every_records, (5, Source::File));
        let s = resolve(Overrides::default(), FileConfig::default()).unwrap();
        assert_eq!(s.listen, (LISTEN_DEFAULT.parse().unwrap(), Source::Default));
        assert_eq!(s.snapshot_every_records, (SNAPSHOT_EVERY_RECORDS_DEFAULT, Source::Default));
    }

    #[test]
    fn bad_files_and_values_are_sentences() {
        let err = parse_file("listen = \"x\"\nbogus = 1\n", Path::new("f.toml")).unwrap_err().to_string();
        assert!(err.contains("f.toml line 2"), "{err}");
        let err = resolve(Overrides { listen: Some("nowhere".into()), ..Overrides::default() }, FileConfig::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("not an IP address"), "{err}");
        let over = Overrides { tls_cert: Some("c.pem".into()), ..Overrides::default() };
        assert!(resolve(over, FileConfig::default()).unwrap_err().to_string().contains("both a certificate and a key"));
    }
}
