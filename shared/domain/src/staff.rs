//! The city's staff as the console sees them: who signed in, with which role, and whether a
//! user pool's token may open a session — the checks on its claims, after its signature has been
//! verified (`shared::identity`). Pure: the time is passed in.

use serde::Deserialize;

/// What a member of staff may do. A supervisor may do everything a clerk may, and read the audit
/// log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Clerk,
    Supervisor,
}

impl Role {
    /// The user pool group of the role.
    #[must_use]
    pub fn group(self) -> &'static str {
        match self {
            Role::Clerk => "clerk",
            Role::Supervisor => "supervisor",
        }
    }

    /// The highest role among a token's groups; `None` when it names neither group.
    #[must_use]
    pub fn from_groups(groups: &[String]) -> Option<Self> {
        [Role::Supervisor, Role::Clerk]
            .into_iter()
            .find(|role| groups.iter().any(|g| g == role.group()))
    }
}

/// A signed-in member of staff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffMember {
    /// How the audit log names them: the pool's email attribute, else its user name.
    pub name: String,
    pub role: Role,
    /// When the session ends (the token's expiry), seconds since the epoch.
    pub expires_at: i64,
}

impl StaffMember {
    /// Whether they may do what needs `role`.
    #[must_use]
    pub fn may(&self, role: Role) -> bool {
        self.role >= role
    }
}

/// What a member of staff did with personal data, as the audit log keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    /// Looked a wish up by its address and saw it (state, offices, place in line).
    Viewed,
    /// Looked an address up and found no wish.
    FoundNothing,
    /// Cancelled the wish on the person's request.
    Cancelled,
    /// Entered a wish for a person without email (by phone or at the counter).
    Entered,
    /// Recorded on the call list: the person accepted the offer.
    Accepted,
    /// Recorded on the call list: the person declined the offer.
    Declined,
    /// Recorded on the call list: the person could not be reached (the offer stays open).
    NotReached,
}

impl AuditAction {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Viewed => "viewed",
            AuditAction::FoundNothing => "found_nothing",
            AuditAction::Cancelled => "cancelled",
            AuditAction::Entered => "entered",
            AuditAction::Accepted => "accepted",
            AuditAction::Declined => "declined",
            AuditAction::NotReached => "not_reached",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Viewed,
            Self::FoundNothing,
            Self::Cancelled,
            Self::Entered,
            Self::Accepted,
            Self::Declined,
            Self::NotReached,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
    }
}

/// One line of the audit log: who did what, when, to which wish (never the address looked up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub at: chrono::DateTime<chrono::Utc>,
    pub actor: String,
    pub action: AuditAction,
    pub wish: Option<super::WishId>,
}

/// The claims of a user pool token that the console reads (ID or access token).
#[derive(Debug, Clone, Deserialize)]
pub struct PoolClaims {
    pub iss: String,
    pub exp: i64,
    pub token_use: String,
    /// ID tokens: the app client.
    #[serde(default)]
    pub aud: Option<String>,
    /// Access tokens: the app client.
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default, rename = "cognito:groups")]
    pub groups: Vec<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default, rename = "cognito:username")]
    pub cognito_username: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    pub sub: String,
}

/// Why a token opens no session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenRefusal {
    #[error("the token is not a well-formed, correctly signed JWT")]
    Invalid,
    #[error("the token was issued by another user pool")]
    WrongIssuer,
    #[error("the token was issued to another app client")]
    WrongClient,
    #[error("the token is neither an ID nor an access token")]
    WrongUse,
    #[error("the token has expired")]
    Expired,
    /// Signed in, but in neither staff group (403, not 401).
    #[error("the user is in neither staff group")]
    NoRole,
}

/// The user pool a session must come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolRef {
    pub issuer: String,
    pub client_id: String,
}

/// Whether verified `claims` open a session at `now` (seconds since the epoch), and as whom.
///
/// # Errors
/// The first check that fails: issuer, client (`aud` of an ID token, `client_id` of an access
/// token), use, expiry, role.
pub fn admit(claims: &PoolClaims, pool: &PoolRef, now: i64) -> Result<StaffMember, TokenRefusal> {
    if claims.iss != pool.issuer {
        return Err(TokenRefusal::WrongIssuer);
    }
    let client = match claims.token_use.as_str() {
        "id" => claims.aud.as_deref(),
        "access" => claims.client_id.as_deref(),
        _ => return Err(TokenRefusal::WrongUse),
    };
    if client != Some(pool.client_id.as_str()) {
        return Err(TokenRefusal::WrongClient);
    }
    if claims.exp <= now {
        return Err(TokenRefusal::Expired);
    }
    let role = Role::from_groups(&claims.groups).ok_or(TokenRefusal::NoRole)?;
    let name = claims
        .email
        .clone()
        .or_else(|| claims.cognito_username.clone())
        .or_else(|| claims.username.clone())
        .unwrap_or_else(|| claims.sub.clone());
    Ok(StaffMember {
        name,
        role,
        expires_at: claims.exp,
    })
}

/// The issuer of a user pool's tokens: its region is the pool id's prefix
/// (`eu-central-1_AbC…` → `https://cognito-idp.eu-central-1.amazonaws.com/eu-central-1_AbC…`).
#[must_use]
pub fn pool_issuer(pool_id: &str) -> Option<String> {
    let (region, rest) = pool_id.split_once('_')?;
    let valid = |s: &str, extra: char| {
        !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == extra)
    };
    (valid(region, '-') && valid(rest, '-'))
        .then(|| format!("https://cognito-idp.{region}.amazonaws.com/{pool_id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> PoolRef {
        PoolRef {
            issuer: "https://cognito-idp.eu-central-1.amazonaws.com/eu-central-1_abc".into(),
            client_id: "client1".into(),
        }
    }

    fn id_claims(groups: &[&str]) -> PoolClaims {
        PoolClaims {
            iss: pool().issuer,
            exp: 2_000,
            token_use: "id".into(),
            aud: Some("client1".into()),
            client_id: None,
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
            email: Some("clerk@example.org".into()),
            cognito_username: Some("u-1".into()),
            username: None,
            sub: "s-1".into(),
        }
    }

    #[test]
    fn an_id_token_of_the_pool_and_client_admits_a_clerk_until_it_expires() {
        let member = admit(&id_claims(&["clerk"]), &pool(), 1_999).unwrap();
        assert_eq!(member.name, "clerk@example.org");
        assert_eq!(member.role, Role::Clerk);
        assert!(member.may(Role::Clerk) && !member.may(Role::Supervisor));
        assert_eq!(
            admit(&id_claims(&["clerk"]), &pool(), 2_000),
            Err(TokenRefusal::Expired)
        );
    }

    #[test]
    fn a_supervisor_may_do_what_a_clerk_may() {
        let member = admit(&id_claims(&["clerk", "supervisor"]), &pool(), 0).unwrap();
        assert_eq!(member.role, Role::Supervisor);
        assert!(member.may(Role::Clerk));
    }

    #[test]
    fn tokens_of_another_pool_client_or_use_or_without_a_staff_group_are_refused() {
        let mut c = id_claims(&["clerk"]);
        c.iss = "https://cognito-idp.eu-central-1.amazonaws.com/eu-central-1_other".into();
        assert_eq!(admit(&c, &pool(), 0), Err(TokenRefusal::WrongIssuer));
        let mut c = id_claims(&["clerk"]);
        c.aud = Some("client2".into());
        assert_eq!(admit(&c, &pool(), 0), Err(TokenRefusal::WrongClient));
        // An access token names its client in `client_id`, not in `aud`.
        let mut c = id_claims(&["clerk"]);
        c.token_use = "access".into();
        assert_eq!(admit(&c, &pool(), 0), Err(TokenRefusal::WrongClient));
        c.client_id = Some("client1".into());
        assert!(admit(&c, &pool(), 0).is_ok());
        c.token_use = "refresh".into();
        assert_eq!(admit(&c, &pool(), 0), Err(TokenRefusal::WrongUse));
        assert_eq!(
            admit(&id_claims(&["admins"]), &pool(), 0),
            Err(TokenRefusal::NoRole)
        );
    }

    #[test]
    fn the_issuer_follows_from_the_pool_id() {
        assert_eq!(
            pool_issuer("eu-central-1_Ab12").as_deref(),
            Some("https://cognito-idp.eu-central-1.amazonaws.com/eu-central-1_Ab12")
        );
        assert_eq!(pool_issuer("nounderscore"), None);
        assert_eq!(pool_issuer("eu/x_1"), None);
    }
}
