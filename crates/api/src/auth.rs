//! Authentication and authorisation of API calls.
//!
//! Clients send `authorization: Bearer <token>`. The principals file maps the SHA-256 of each
//! token to a principal: a name, a role and, for region roles, a region. Only hashes are stored,
//! so the file is not a secret; the token is shown once, when minted.
//!
//! Who may do what:
//! - commands: [`fundledger_domain::authorize`] (role and region), per command; the engine adds
//!   the check that a region role reverses only its own region's payments;
//! - region-scoped queries (region expenditure, two lines, supervision, plans): provincial roles
//!   and auditors see every region; a region role sees its own region only: an empty region
//!   filter is set to its region, another region is PERMISSION_DENIED;
//! - province-wide queries (provincial fund, fund health) and the audit log (read, subscribe,
//!   verify, rebuild): provincial roles and auditors only, because they mix every region;
//! - `GetDigest`: every authenticated principal (it reveals only a position and a hash);
//! - `admin` issues no command and reads no view: it exists for operators (health, digest);
//! - health checking and reflection need no token (probes and tools).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use fundledger_domain::{Actor, RegionCode, Role};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::errors::ApiError;

/// Prefix of every minted token, so a leaked one is recognisable (and greppable) as ours.
pub const TOKEN_PREFIX: &str = "flt_";
/// Random bytes in a minted token.
pub const TOKEN_RANDOM_BYTES: usize = 32;
/// Longest `authorization` header value looked at, in bytes.
const AUTHORIZATION_BYTES_MAX: usize = 256;
/// Longest principal name, in bytes.
pub const PRINCIPAL_NAME_BYTES_MAX: usize = 64;

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: Arc<str>,
    pub role: Role,
    /// The region of a region role; `None` for provincial roles, auditors and admins.
    pub region: Option<RegionCode>,
}

impl Principal {
    pub fn actor(&self) -> Actor {
        Actor { principal: self.name.clone(), role: self.role, region: self.region }
    }

    fn sees_everything(&self) -> bool {
        matches!(self.role, Role::ProvincialHrss | Role::ProvincialFinance | Role::ProvincialAgency | Role::Auditor)
    }

    /// The region a region-scoped query is limited to: the requested one for provincial roles
    /// and auditors (`None` = all), the principal's own for region roles.
    pub fn region_scope(&self, requested: Option<RegionCode>) -> Result<Option<RegionCode>, ApiError> {
        if self.sees_everything() {
            return Ok(requested);
        }
        match (self.role.is_regional(), self.region, requested) {
            (true, Some(own), None) => Ok(Some(own)),
            (true, Some(own), Some(asked)) if asked == own => Ok(Some(own)),
            (true, Some(own), Some(asked)) => {
                Err(ApiError::denied(format!("{} of region {own} may not read region {asked}", self.role.as_str())))
            }
            _ => Err(ApiError::denied(format!("role {} reads no ledger view", self.role.as_str()))),
        }
    }

    /// Province-wide views and the audit log: provincial roles and auditors only.
    pub fn require_province_wide(&self, what: &str) -> Result<(), ApiError> {
        if self.sees_everything() {
            Ok(())
        } else {
            Err(ApiError::denied(format!("role {} may not read {what}: it spans every region", self.role.as_str())))
        }
    }
}

/// Why a principals file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("cannot read principals file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("principals file {path}: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("principals file {path}, line {line}: field `{field}`: {message}")]
    Field { path: PathBuf, line: usize, field: &'static str, message: String },
    #[error("cannot mint a token: {0}")]
    Mint(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileShape {
    #[serde(default)]
    principal: Vec<EntryShape>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryShape {
    name: toml::Spanned<String>,
    role: toml::Spanned<String>,
    #[serde(default)]
    region: Option<toml::Spanned<String>>,
    token_sha256: toml::Spanned<String>,
}

/// The principals the server accepts, by token hash.
#[derive(Debug, Clone, Default)]
pub struct Principals {
    entries: Vec<([u8; 32], Arc<Principal>)>,
}

impl Principals {
    /// Loads a principals file; errors name the line and field.
    pub fn load(path: impl AsRef<Path>) -> Result<Principals, AuthError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| AuthError::Read { path: path.into(), source })?;
        Principals::parse(&text, path)
    }

    /// Parses the text of a principals file (`path` is only for messages).
    pub fn parse(text: &str, path: &Path) -> Result<Principals, AuthError> {
        let shape: FileShape =
            toml::from_str(text).map_err(|e| AuthError::Syntax { path: path.into(), message: e.to_string() })?;
        let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
        let field_error = |span: std::ops::Range<usize>, field: &'static str, message: String| AuthError::Field {
            path: path.into(),
            line: line_of(span.start),
            field,
            message,
        };
        let mut principals = Principals::default();
        let mut seen = HashSet::new();
        for entry in shape.principal {
            let name = entry.name.get_ref();
            if name.is_empty() || name.len() > PRINCIPAL_NAME_BYTES_MAX || name.chars().any(char::is_control) {
                return Err(field_error(
                    entry.name.span(),
                    "name",
                    format!("must be 1-{PRINCIPAL_NAME_BYTES_MAX} bytes without control characters"),
                ));
            }
            let role = Role::parse(entry.role.get_ref()).ok_or_else(|| {
                let names: Vec<_> = Role::ALL.iter().map(|r| r.as_str()).collect();
                field_error(
                    entry.role.span(),
                    "role",
                    format!("{:?} is not one of {}", entry.role.get_ref(), names.join(", ")),
                )
            })?;
            let region = match &entry.region {
                Some(text) => Some(
                    RegionCode::parse(text.get_ref()).map_err(|e| field_error(text.span(), "region", e.to_string()))?,
                ),
                None => None,
            };
            match (role.is_regional(), &entry.region) {
                (true, None) => {
                    return Err(field_error(
                        entry.role.span(),
                        "region",
                        format!("role {} needs a region", role.as_str()),
                    ));
                }
                (false, Some(text)) => {
                    return Err(field_error(text.span(), "region", format!("role {} has no region", role.as_str())));
                }
                _ => {}
            }
            let hash = parse_hash(entry.token_sha256.get_ref()).ok_or_else(|| {
                field_error(entry.token_sha256.span(), "token_sha256", "must be 64 lower-case hex digits".into())
            })?;
            if !seen.insert(hash) {
                return Err(field_error(
                    entry.token_sha256.span(),
                    "token_sha256",
                    "the same token hash appears twice".into(),
                ));
            }
            principals.entries.push((hash, Arc::new(Principal { name: name.as_str().into(), role, region })));
        }
        Ok(principals)
    }

    /// Adds a principal for a token hash (tests and the demo).
    pub fn insert(&mut self, token_sha256: [u8; 32], principal: Principal) {
        self.entries.push((token_sha256, Arc::new(principal)));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The principal a bearer token belongs to. Every entry is compared, in constant time per
    /// entry, so the time taken says nothing about which entry (or how much of one) matched.
    pub fn authenticate(&self, token: &str) -> Option<Arc<Principal>> {
        let hash = token_hash(token);
        let mut found = None;
        for (stored, principal) in &self.entries {
            if constant_time_eq(stored, &hash) {
                found = Some(principal.clone());
            }
        }
        found
    }
}

fn parse_hash(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in text.as_bytes().chunks(2).enumerate() {
        let digit = |b: u8| match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            _ => None,
        };
        out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// SHA-256 of a token's text, as the principals file stores it.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A freshly minted token and the entry that admits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MintedToken {
    /// Give this to the client; it is not stored anywhere.
    pub token: String,
    /// The `[[principal]]` entry to append to the principals file.
    pub principals_line: String,
}

/// Mints a token for a principal: 32 random bytes from the operating system.
pub fn mint_token(name: &str, role: Role, region: Option<RegionCode>) -> Result<MintedToken, AuthError> {
    if name.is_empty()
        || name.len() > PRINCIPAL_NAME_BYTES_MAX
        || name.chars().any(|c| c.is_control() || c == '"' || c == '\\')
    {
        return Err(AuthError::Mint(format!(
            "principal name must be 1-{PRINCIPAL_NAME_BYTES_MAX} bytes without quotes, backslashes or control characters"
        )));
    }
    if role.is_regional() != region.is_some() {
        return Err(AuthError::Mint(if role.is_regional() {
            format!("role {} needs a region", role.as_str())
        } else {
            format!("role {} has no region", role.as_str())
        }));
    }
    let mut random = [0u8; TOKEN_RANDOM_BYTES];
    getrandom::fill(&mut random).map_err(|e| AuthError::Mint(format!("no randomness from the OS: {e}")))?;
    let token = format!("{TOKEN_PREFIX}{}", fundledger_store::chain::hex(&random));
    let hash = fundledger_store::chain::hex(&token_hash(&token));
    let region_line = region.map(|r| format!("region = \"{r}\"\n")).unwrap_or_default();
    let principals_line = format!(
        "[[principal]]\nname = \"{name}\"\nrole = \"{}\"\n{region_line}token_sha256 = \"{hash}\"\n",
        role.as_str()
    );
    Ok(MintedToken { token, principals_line })
}

/// A demo token with the role (and region) it was minted for.
pub type DemoToken = (String, Role, Option<RegionCode>);

/// Regions the demo principals cover with region roles.
pub const DEMO_REGIONS: &[&str] = &["620100", "620200"];

/// Writes `principals.toml` and `tokens.txt` (one `role region token` line each) into `dir`, with
/// one principal per role (per region in [`DEMO_REGIONS`] for region roles), for the demo and
/// `make run`. Returns the principals and the tokens.
pub fn demo_principals(dir: impl AsRef<Path>) -> Result<(Principals, Vec<DemoToken>), AuthError> {
    let dir = dir.as_ref();
    std::fs::create_dir_all(dir).map_err(|source| AuthError::Write { path: dir.into(), source })?;
    let mut file = String::from("# Demo principals: token hashes only. The tokens are in tokens.txt.\n");
    let mut listing = String::from("# role region token\n");
    let mut tokens = Vec::new();
    for role in Role::ALL {
        let regions: Vec<Option<RegionCode>> = if role.is_regional() {
            DEMO_REGIONS.iter().map(|r| RegionCode::parse(r).ok()).collect()
        } else {
            vec![None]
        };
        for region in regions {
            let name = match region {
                Some(r) => format!("demo-{}-{r}", role.as_str()),
                None => format!("demo-{}", role.as_str()),
            };
            let minted = mint_token(&name, *role, region)?;
            file.push_str(&minted.principals_line);
            listing.push_str(&format!(
                "{} {} {}\n",
                role.as_str(),
                region.map(|r| r.to_string()).unwrap_or_else(|| "-".into()),
                minted.token
            ));
            tokens.push((minted.token, *role, region));
        }
    }
    let principals_path = dir.join("principals.toml");
    std::fs::write(&principals_path, &file)
        .map_err(|source| AuthError::Write { path: principals_path.clone(), source })?;
    let tokens_path = dir.join("tokens.txt");
    std::fs::write(&tokens_path, &listing).map_err(|source| AuthError::Write { path: tokens_path, source })?;
    Ok((Principals::load(&principals_path)?, tokens))
}

/// How callers are authenticated.
#[derive(Debug, Clone)]
pub enum Auth {
    /// Bearer tokens checked against the principals.
    Tokens(Principals),
    /// No tokens: plaintext on loopback only (refused otherwise at start-up). The caller's
    /// identity is taken, unverified, from the `x-fundledger-role`, `x-fundledger-region` and
    /// `x-fundledger-principal` headers; without them it is an auditor (reads, changes nothing).
    InsecureNoAuth,
}

/// Header naming the claimed role in `InsecureNoAuth` mode.
pub const INSECURE_ROLE_HEADER: &str = "x-fundledger-role";
/// Header naming the claimed region in `InsecureNoAuth` mode.
pub const INSECURE_REGION_HEADER: &str = "x-fundledger-region";
/// Header naming the claimed principal in `InsecureNoAuth` mode.
pub const INSECURE_PRINCIPAL_HEADER: &str = "x-fundledger-principal";

/// The interceptor that authenticates every ledger call and leaves the [`Principal`] in the
/// request's extensions for the handler.
#[derive(Clone)]
pub struct Authenticator {
    auth: Arc<Auth>,
}

impl Authenticator {
    pub fn new(auth: Auth) -> Authenticator {
        Authenticator { auth: Arc::new(auth) }
    }

    fn principal(&self, metadata: &tonic::metadata::MetadataMap) -> Result<Arc<Principal>, ApiError> {
        match &*self.auth {
            Auth::Tokens(principals) => {
                let value = metadata
                    .get("authorization")
                    .ok_or_else(|| ApiError::unauthenticated("no `authorization: Bearer <token>` header"))?;
                let text = value
                    .to_str()
                    .ok()
                    .filter(|t| t.len() <= AUTHORIZATION_BYTES_MAX)
                    .ok_or_else(|| ApiError::unauthenticated("the authorization header is malformed"))?;
                let token = text
                    .strip_prefix("Bearer ")
                    .or_else(|| text.strip_prefix("bearer "))
                    .ok_or_else(|| ApiError::unauthenticated("the authorization header is not `Bearer <token>`"))?;
                principals.authenticate(token.trim()).ok_or_else(|| ApiError::unauthenticated("unknown token"))
            }
            Auth::InsecureNoAuth => {
                let header = |name: &str| metadata.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
                let role = match header(INSECURE_ROLE_HEADER) {
                    Some(text) => Role::parse(&text).ok_or_else(|| {
                        ApiError::unauthenticated(format!("{INSECURE_ROLE_HEADER}: unknown role {text:?}"))
                    })?,
                    None => Role::Auditor,
                };
                let region = match header(INSECURE_REGION_HEADER) {
                    Some(text) => Some(
                        RegionCode::parse(&text)
                            .map_err(|e| ApiError::unauthenticated(format!("{INSECURE_REGION_HEADER}: {e}")))?,
                    ),
                    None => None,
                };
                let name = header(INSECURE_PRINCIPAL_HEADER)
                    .filter(|n| !n.is_empty() && n.len() <= PRINCIPAL_NAME_BYTES_MAX)
                    .unwrap_or_else(|| format!("insecure-{}", role.as_str()));
                Ok(Arc::new(Principal {
                    name: name.into(),
                    role,
                    region: if role.is_regional() { region } else { None },
                }))
            }
        }
    }
}

impl tonic::service::Interceptor for Authenticator {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        let principal = self.principal(request.metadata())?;
        request.extensions_mut().insert(principal);
        Ok(request)
    }
}

/// The principal the interceptor attached to a request.
pub fn principal_of<T>(request: &tonic::Request<T>) -> Result<Arc<Principal>, ApiError> {
    request
        .extensions()
        .get::<Arc<Principal>>()
        .cloned()
        .ok_or_else(|| ApiError::unauthenticated("the request was not authenticated"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_load_back_and_authenticate() {
        let minted = mint_token("lanzhou-tax", Role::RegionTaxBureau, RegionCode::parse("620100").ok()).unwrap();
        assert!(minted.token.starts_with(TOKEN_PREFIX));
        assert!(!minted.principals_line.contains(&minted.token), "only the hash is stored");
        let principals = Principals::parse(&minted.principals_line, Path::new("p.toml")).unwrap();
        let principal = principals.authenticate(&minted.token).expect("known token");
        assert_eq!(principal.role, Role::RegionTaxBureau);
        assert_eq!(principal.region.map(|r| r.to_string()).as_deref(), Some("620100"));
        assert!(principals.authenticate("flt_wrong").is_none());
    }

    #[test]
    fn file_errors_name_line_and_field() {
        let text = "[[principal]]\nname = \"x\"\nrole = \"mayor\"\ntoken_sha256 = \"00\"\n";
        let error = Principals::parse(text, Path::new("p.toml")).unwrap_err();
        match error {
            AuthError::Field { line, field, .. } => assert_eq!((line, field), (3, "role")),
            other => panic!("unexpected {other}"),
        }
        let text = format!("[[principal]]\nname = \"x\"\nrole = \"auditor\"\ntoken_sha256 = \"{}\"\n", "g".repeat(64));
        let error = Principals::parse(&text, Path::new("p.toml")).unwrap_err();
        assert!(matches!(error, AuthError::Field { line: 4, field: "token_sha256", .. }), "{error}");
        let text =
            format!("[[principal]]\nname = \"x\"\nrole = \"region_agency\"\ntoken_sha256 = \"{}\"\n", "a".repeat(64));
        let error = Principals::parse(&text, Path::new("p.toml")).unwrap_err();
        assert!(matches!(error, AuthError::Field { field: "region", .. }), "{error}");
    }

    #[test]
    fn region_roles_are_scoped_to_their_region() {
        let lanzhou = RegionCode::parse("620100").ok();
        let tianshui = RegionCode::parse("620500").ok();
        let agency = Principal { name: "a".into(), role: Role::RegionAgency, region: lanzhou };
        assert_eq!(agency.region_scope(None).unwrap(), lanzhou);
        assert_eq!(agency.region_scope(lanzhou).unwrap(), lanzhou);
        assert!(agency.region_scope(tianshui).is_err());
        assert!(agency.require_province_wide("x").is_err());
        let auditor = Principal { name: "b".into(), role: Role::Auditor, region: None };
        assert_eq!(auditor.region_scope(None).unwrap(), None);
        let admin = Principal { name: "c".into(), role: Role::Admin, region: None };
        assert!(admin.region_scope(None).is_err());
    }
}
