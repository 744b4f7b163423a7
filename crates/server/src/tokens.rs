//! API tokens: who may call the HTTP API, with which role and for which office.
//!
//! A token is shown once, when it is created; the data directory keeps only its SHA-256
//! hash, so a copy of the directory does not hand out working tokens. Tokens live in their
//! own table beside the log, keyed by that hash so that checking a request is one lookup.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;
use vasooli_store::SideTable;

/// The table holding token hashes.
pub const TOKENS_TREE: &str = "tokens";
/// What every token starts with, so a leaked one is easy to recognise in a scan.
pub const TOKEN_PREFIX: &str = "vso_";
/// Longest token name.
const NAME_LEN_MAX: usize = 64;

/// What a token may do (docs/API.md, "Roles").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(
    description = "What a token may do: `admin` everything; `finance` imports, commands, the \
                   nightly run and all reads; `hq` all reads, rankings and awards; `officer` \
                   reads and officer actions within its office; `ingest` the data-feed \
                   commands and imports, no reads"
)]
pub enum Role {
    Admin,
    Finance,
    Hq,
    Officer,
    Ingest,
}

impl Role {
    pub const ALL: &'static [Role] = &[
        Role::Admin,
        Role::Finance,
        Role::Hq,
        Role::Officer,
        Role::Ingest,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Finance => "finance",
            Role::Hq => "hq",
            Role::Officer => "officer",
            Role::Ingest => "ingest",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(text: &str) -> Result<Role, String> {
        Role::ALL
            .iter()
            .copied()
            .find(|r| r.as_str() == text.trim())
            .ok_or_else(|| format!("`{text}` is not one of admin, finance, hq, officer, ingest"))
    }
}

/// What is kept about a token: everything but the token itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    pub name: String,
    pub role: Role,
    /// The office an officer token was created for; `None` for the other roles.
    pub office: Option<String>,
    /// RFC 3339, UTC.
    pub created_at: String,
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    out
}

fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The key a token is kept under, in hex: what the cluster's copy of a partition's tokens is
/// keyed by.
pub fn hash_hex(token: &str) -> String {
    hex(&hash(token))
}

/// Why a token could not be created or revoked: the request (exit 2 from the CLI) or the
/// store (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("a token name must be 1 to {NAME_LEN_MAX} printable characters")]
    BadName,
    #[error("an officer token needs --office")]
    OfficeNeeded,
    #[error("a {0} token does not take an office")]
    OfficeNotTaken(Role),
    #[error("a token named `{0}` already exists")]
    NameTaken(String),
    #[error("no token is named `{0}`")]
    NoSuchToken(String),
    #[error("a stored token does not decode: {0}")]
    Undecodable(String),
    #[error("the token does not encode: {0}")]
    Encode(String),
    #[error("{doing} the token: {source}")]
    Store {
        doing: &'static str,
        source: vasooli_store::StoreError,
    },
}

impl TokenError {
    /// A fault of the request, not of the store.
    pub fn is_request(&self) -> bool {
        !matches!(
            self,
            TokenError::Store { .. } | TokenError::Undecodable(_) | TokenError::Encode(_)
        )
    }
}

fn store_fault(doing: &'static str) -> impl Fn(vasooli_store::StoreError) -> TokenError {
    move |source| TokenError::Store { doing, source }
}

fn entries(tree: &SideTable) -> Result<Vec<(Vec<u8>, TokenInfo)>, TokenError> {
    let mut out = Vec::new();
    for (key, value) in tree.entries().map_err(store_fault("reading"))? {
        let info: TokenInfo =
            serde_json::from_slice(&value).map_err(|e| TokenError::Undecodable(e.to_string()))?;
        out.push((key, info));
    }
    Ok(out)
}

/// Creates a token and returns it; only its hash is stored. Officer tokens need an office,
/// the other roles must not name one; names are unique.
pub fn create(
    tree: &SideTable,
    role: Role,
    office: Option<String>,
    name: &str,
) -> Result<String, TokenError> {
    let name = name.trim();
    if name.is_empty() || name.len() > NAME_LEN_MAX || name.chars().any(char::is_control) {
        return Err(TokenError::BadName);
    }
    let office = office
        .map(|o| o.trim().to_string())
        .filter(|o| !o.is_empty());
    match (role, &office) {
        (Role::Officer, None) => return Err(TokenError::OfficeNeeded),
        (Role::Officer, Some(_)) => {}
        (_, Some(_)) => return Err(TokenError::OfficeNotTaken(role)),
        (_, None) => {}
    }
    if entries(tree)?.iter().any(|(_, info)| info.name == name) {
        return Err(TokenError::NameTaken(name.to_string()));
    }
    let mut secret = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
    let token = format!("{TOKEN_PREFIX}{}", hex(&secret));
    let info = TokenInfo {
        name: name.to_string(),
        role,
        office,
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    };
    let value = serde_json::to_vec(&info).map_err(|e| TokenError::Encode(e.to_string()))?;
    tree.insert(&hash(&token), value)
        .map_err(store_fault("storing"))?;
    // A token printed but lost in a crash would be a confusing half-success.
    tree.flush().map_err(store_fault("storing"))?;
    Ok(token)
}

/// Every token, by name.
pub fn list(tree: &SideTable) -> Vec<TokenInfo> {
    let mut out: Vec<TokenInfo> = entries(tree)
        .map(|e| e.into_iter().map(|(_, info)| info).collect())
        .unwrap_or_else(|e| {
            tracing::error!("listing tokens: {e}");
            Vec::new()
        });
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Revokes the token named `name`; it stops working at once.
pub fn revoke(tree: &SideTable, name: &str) -> Result<(), TokenError> {
    let Some((key, _)) = entries(tree)?
        .into_iter()
        .find(|(_, info)| info.name == name.trim())
    else {
        return Err(TokenError::NoSuchToken(name.to_string()));
    };
    tree.remove(&key).map_err(store_fault("revoking"))?;
    tree.flush().map_err(store_fault("revoking"))?;
    Ok(())
}

/// The token's holder, if the token is known.
pub fn authenticate(tree: &SideTable, token: &str) -> Option<TokenInfo> {
    lookup(tree, token).ok().flatten()
}

/// [`authenticate`], telling a table that cannot be read (a storage fault) from an unknown
/// token.
pub fn lookup(
    tree: &SideTable,
    token: &str,
) -> Result<Option<TokenInfo>, vasooli_store::StoreError> {
    if !token.starts_with(TOKEN_PREFIX) {
        return Ok(None);
    }
    let Some(value) = tree.get(&hash(token))? else {
        return Ok(None);
    };
    Ok(serde_json::from_slice(&value).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_created_listed_authenticated_and_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let store = vasooli_store::Store::open(dir.path()).unwrap();
        let db = store.table(TOKENS_TREE).unwrap();
        let token = create(&db, Role::Officer, Some("S1".into()), "sdo-s1").unwrap();
        assert!(token.starts_with(TOKEN_PREFIX));
        assert_eq!(token.len(), TOKEN_PREFIX.len() + 64);
        let info = authenticate(&db, &token).unwrap();
        assert_eq!(info.role, Role::Officer);
        assert_eq!(info.office.as_deref(), Some("S1"));
        assert!(create(&db, Role::Admin, None, "sdo-s1").is_err());
        assert!(create(&db, Role::Officer, None, "x").is_err());
        assert!(create(&db, Role::Hq, Some("Z1".into()), "y").is_err());
        assert_eq!(list(&db).len(), 1);
        // Only the hash is stored: the token's text appears nowhere in the tree.
        for (k, v) in db.entries().unwrap() {
            assert!(!String::from_utf8_lossy(&k).contains(&token[4..]));
            assert!(!String::from_utf8_lossy(&v).contains(&token[4..]));
        }
        revoke(&db, "sdo-s1").unwrap();
        assert!(authenticate(&db, &token).is_none());
        assert!(revoke(&db, "sdo-s1").is_err());
    }
}
