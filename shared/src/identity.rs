//! The city's user pool (Amazon Cognito): signing staff in with their password, and verifying
//! the pool's tokens the console's session holds — the signature against the pool's published
//! keys (JWKS, fetched and cached), then the claims (`domain::staff::admit`).
//!
//! Locally the same code talks to moto: the SDK client follows `AWS_ENDPOINT_URL_COGNITO_…`, and
//! the keys come from `STAFF_JWKS_URL` (moto serves them at `/{pool id}/.well-known/jwks.json`).

use crate::config::{ConfigError, Secret};
use crate::domain::jws::{self, KeySet, RsaKey};
use crate::domain::staff::{PoolClaims, PoolRef, StaffMember, TokenRefusal, admit, pool_issuer};
use aws_sdk_cognitoidentityprovider::error::ProvideErrorMetadata;
use aws_sdk_cognitoidentityprovider::operation::initiate_auth::InitiateAuthError;
use aws_sdk_cognitoidentityprovider::types::{AuthFlowType, ChallengeNameType};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::RwLock;

/// How long fetched keys are used before they are fetched again. Cognito rotates keys rarely
/// and publishes a new one before it signs with it; a token with an unknown `kid` fetches at
/// once (at most every [`REFETCH_AFTER`]).
const KEYS_TTL: Duration = Duration::from_hours(6);
/// How long after their fetch the keys are still used while every refetch fails: a failed
/// refetch after [`KEYS_TTL`] must not sign every clerk out (503) while the keys they were
/// signed in with are still the pool's. Keys older than this are not trusted any more.
const KEYS_USABLE: Duration = Duration::from_hours(24);
/// A token naming a key we do not have fetches the keys again, but not more often than this:
/// forged tokens with random key ids must not turn into a flood of requests to the pool. After a
/// failed fetch it is the first wait of the back-off.
const REFETCH_AFTER: Duration = Duration::from_mins(1);
/// The longest wait between two fetches while they fail ([`REFETCH_AFTER`], doubled per failure
/// in a row, up to this).
const BACKOFF_MAX: Duration = Duration::from_mins(15);

/// The pool a console signs in with (`STAFF_USER_POOL_ID`, `STAFF_CLIENT_ID`, optionally
/// `STAFF_JWKS_URL`).
#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub pool_id: String,
    pub pool: PoolRef,
    pub jwks_url: String,
}

impl PoolSettings {
    /// # Errors
    /// A missing variable, or a pool id that is not one.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let missing: Vec<&str> = ["STAFF_USER_POOL_ID", "STAFF_CLIENT_ID"]
            .into_iter()
            .filter(|k| get(k).is_none())
            .collect();
        if !missing.is_empty() {
            return Err(ConfigError::Missing(missing.join(", ")));
        }
        let pool_id = get("STAFF_USER_POOL_ID").unwrap_or_default();
        let issuer = pool_issuer(&pool_id).ok_or_else(|| {
            ConfigError::Invalid("STAFF_USER_POOL_ID", "not a user pool id".into())
        })?;
        let jwks_url =
            get("STAFF_JWKS_URL").unwrap_or_else(|| format!("{issuer}/.well-known/jwks.json"));
        Ok(Self {
            pool_id,
            pool: PoolRef {
                issuer,
                client_id: get("STAFF_CLIENT_ID").unwrap_or_default(),
            },
            jwks_url,
        })
    }
}

/// A successful sign-in: the ID token (it names the person and their groups) and how long it
/// is valid.
pub struct SignedIn {
    pub id_token: Secret,
    pub expires_in: i64,
}

/// Where a sign-in stands after the pool's answer.
pub enum SignInStep {
    Done(SignedIn),
    /// The pool asks for more before it signs the person in: `challenge` with the pool's
    /// `session` for the answer (valid a few minutes) and the user name to answer as.
    Asked(Asked),
}

/// What the pool asks before it signs a person in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Challenge {
    /// A user an administrator created signs in with the temporary password: they choose
    /// their own (`NEW_PASSWORD_REQUIRED`).
    NewPassword,
    /// The code of their authenticator app (`SOFTWARE_TOKEN_MFA`; MFA is optional in the pool).
    Totp,
}

impl Challenge {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Challenge::NewPassword => "new_password",
            Challenge::Totp => "totp",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [Self::NewPassword, Self::Totp]
            .into_iter()
            .find(|c| c.as_str() == s)
    }

    fn name(self) -> ChallengeNameType {
        match self {
            Challenge::NewPassword => ChallengeNameType::NewPasswordRequired,
            Challenge::Totp => ChallengeNameType::SoftwareTokenMfa,
        }
    }
}

/// A challenge to answer: which, the user to answer as, the pool's session.
pub struct Asked {
    pub challenge: Challenge,
    pub username: String,
    pub session: Secret,
}

/// Why a sign-in did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// Wrong password, unknown user, disabled user: the same answer for each.
    #[error("user name or password wrong")]
    Refused,
    /// The pool asks for a step the console does not offer (an SMS code, setting up MFA, a
    /// password reset).
    #[error("the pool asks for {0}")]
    Challenge(String),
    /// The answer to a challenge came too late (the pool's session ended) or was refused.
    #[error("the sign-in must start again")]
    StartAgain,
    /// The authenticator code does not match.
    #[error("wrong code")]
    WrongCode,
    /// The new password does not satisfy the pool's policy (the pool's message).
    #[error("password refused: {0}")]
    WeakPassword(String),
    #[error("too many attempts")]
    TooManyAttempts,
    #[error("user pool unavailable: {0}")]
    Unavailable(String),
}

/// Why a token could not be checked or opens no session.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Refused(#[from] TokenRefusal),
    /// The pool's keys could not be had (never fetched, too old, or the token names a key we
    /// do not have while fetching fails): the session is neither accepted nor refused.
    #[error("keys unavailable: {0}")]
    KeysUnavailable(String),
}

/// The pool's keys as far as we know them, and when to ask the pool again. Every decision is a
/// function of this state and the time passed in (tests move it).
#[derive(Debug, Default)]
struct KeyCache {
    keys: KeySet,
    /// The last fetch that succeeded.
    fetched: Option<Instant>,
    /// The last fetch, whatever came of it.
    tried: Option<Instant>,
    /// Fetches that failed in a row since the last that succeeded.
    failures: u32,
}

/// What a token naming a key gets from the cache.
#[derive(Debug, PartialEq, Eq)]
enum Plan {
    Use(RsaKey),
    /// The keys are current and the token's is not among them.
    Refuse,
    /// The keys cannot be had: not fetched, too old, or the last fetch failed and the token's
    /// key is unknown (it may be a new one); the back-off holds the next fetch.
    Unavailable,
    Fetch,
}

impl KeyCache {
    /// How long after the last fetch the next may go out: [`REFETCH_AFTER`], doubled for each
    /// failure in a row after the first, at most [`BACKOFF_MAX`].
    fn wait(&self) -> Duration {
        let doublings = self.failures.saturating_sub(1).min(10);
        REFETCH_AFTER
            .saturating_mul(1 << doublings)
            .min(BACKOFF_MAX)
    }

    /// What to do at `now` for a token that names key `kid`.
    fn plan(&self, kid: &str, now: Instant) -> Plan {
        let since = |t: Option<Instant>| t.map(|t| now.saturating_duration_since(t));
        let may_try = since(self.tried).is_none_or(|d| d >= self.wait());
        let age = since(self.fetched);
        let fresh = age.is_some_and(|a| a < KEYS_TTL);
        let usable = age.is_some_and(|a| a < KEYS_USABLE);
        match self.keys.find(kid).filter(|_| usable) {
            // Past their lifetime the keys are still used while the back-off holds the refetch.
            Some(key) if fresh || !may_try => Plan::Use(key.clone()),
            Some(_) => Plan::Fetch,
            None if may_try => Plan::Fetch,
            None if self.failures > 0 || !usable => Plan::Unavailable,
            None => Plan::Refuse,
        }
    }

    /// Takes the outcome of a fetch made at `now`: new keys, or one more failure (the keys held
    /// so far stay).
    fn record<E>(&mut self, fetched: Result<KeySet, E>, now: Instant) -> Result<(), E> {
        self.tried = Some(now);
        match fetched {
            Ok(keys) => {
                self.keys = keys;
                self.fetched = Some(now);
                self.failures = 0;
                Ok(())
            }
            Err(e) => {
                self.failures = self.failures.saturating_add(1);
                Err(e)
            }
        }
    }
}

/// The user pool adapter.
#[derive(Clone)]
pub struct Identity {
    cognito: aws_sdk_cognitoidentityprovider::Client,
    /// Built at the first fetch of the keys (every few hours), not at start.
    http: Arc<std::sync::OnceLock<reqwest::Client>>,
    pub settings: PoolSettings,
    keys: Arc<RwLock<KeyCache>>,
}

impl Identity {
    #[must_use]
    pub fn new(cognito: aws_sdk_cognitoidentityprovider::Client, settings: PoolSettings) -> Self {
        Self {
            cognito,
            http: Arc::default(),
            settings,
            keys: Arc::default(),
        }
    }

    /// `InitiateAuth` with `USER_PASSWORD_AUTH` (the app client has no secret).
    ///
    /// # Errors
    /// [`SignInError`]; never says which of user name and password was wrong.
    pub async fn sign_in(&self, username: &str, password: &str) -> Result<SignInStep, SignInError> {
        let out = self
            .cognito
            .initiate_auth()
            .auth_flow(AuthFlowType::UserPasswordAuth)
            .client_id(&self.settings.pool.client_id)
            .auth_parameters("USERNAME", username)
            .auth_parameters("PASSWORD", password)
            .send()
            .await
            .map_err(|e| match e.into_service_error() {
                InitiateAuthError::NotAuthorizedException(_)
                | InitiateAuthError::UserNotFoundException(_)
                | InitiateAuthError::InvalidParameterException(_) => SignInError::Refused,
                InitiateAuthError::TooManyRequestsException(_) => SignInError::TooManyAttempts,
                InitiateAuthError::PasswordResetRequiredException(_) => {
                    SignInError::Challenge("PASSWORD_RESET_REQUIRED".into())
                }
                InitiateAuthError::UserNotConfirmedException(_) => {
                    SignInError::Challenge("USER_NOT_CONFIRMED".into())
                }
                other => {
                    SignInError::Unavailable(other.code().unwrap_or("no error code").to_owned())
                }
            })?;
        step(
            username,
            out.challenge_name(),
            out.challenge_parameters(),
            out.session(),
            out.authentication_result(),
        )
    }

    /// `RespondToAuthChallenge`: the answer to what the pool asked (`answer`: the new password,
    /// or the authenticator's code). The pool may ask again (a new password, then the code).
    ///
    /// # Errors
    /// [`SignInError::WrongCode`], [`SignInError::WeakPassword`] (answer again),
    /// [`SignInError::StartAgain`] (the pool's session is over), or unavailable.
    pub async fn answer(&self, asked: &Asked, answer: &str) -> Result<SignInStep, SignInError> {
        use aws_sdk_cognitoidentityprovider::operation::respond_to_auth_challenge::RespondToAuthChallengeError as E;
        let field = match asked.challenge {
            Challenge::NewPassword => "NEW_PASSWORD",
            Challenge::Totp => "SOFTWARE_TOKEN_MFA_CODE",
        };
        let session = String::from_utf8_lossy(asked.session.expose()).into_owned();
        let out = self
            .cognito
            .respond_to_auth_challenge()
            .client_id(&self.settings.pool.client_id)
            .challenge_name(asked.challenge.name())
            .session(session)
            .challenge_responses("USERNAME", &asked.username)
            .challenge_responses(field, answer)
            .send()
            .await
            .map_err(|e| match e.into_service_error() {
                E::CodeMismatchException(_) => SignInError::WrongCode,
                E::InvalidPasswordException(e) => {
                    SignInError::WeakPassword(e.message().unwrap_or_default().to_owned())
                }
                E::NotAuthorizedException(_)
                | E::ExpiredCodeException(_)
                | E::ResourceNotFoundException(_)
                | E::UserNotFoundException(_) => SignInError::StartAgain,
                E::TooManyRequestsException(_) => SignInError::TooManyAttempts,
                other => {
                    SignInError::Unavailable(other.code().unwrap_or("no error code").to_owned())
                }
            })?;
        step(
            &asked.username,
            out.challenge_name(),
            out.challenge_parameters(),
            out.session(),
            out.authentication_result(),
        )
    }

    /// Verifies a token's signature with the pool's keys, then its claims at `now` (seconds).
    ///
    /// # Errors
    /// [`VerifyError::Refused`] for a token that opens no session, whatever is wrong with it;
    /// [`VerifyError::KeysUnavailable`] when the keys could not be fetched.
    pub async fn verify(&self, token: &str, now: i64) -> Result<StaffMember, VerifyError> {
        // Cognito signs with RS256 only; anything else (`none`, HS256 keyed with the public key)
        // is refused by `parse`, before a key is looked at.
        let unverified = jws::parse(token).map_err(|_| TokenRefusal::Invalid)?;
        let key = self.key(&unverified.kid).await?;
        // Expiry, issuer and client are checked by `admit`, at the console's clock.
        let claims: PoolClaims = unverified.verify(&key).map_err(|_| TokenRefusal::Invalid)?;
        Ok(admit(&claims, &self.settings.pool, now)?)
    }

    /// The key `kid` names, from the cache or freshly fetched.
    async fn key(&self, kid: &str) -> Result<RsaKey, VerifyError> {
        self.key_at(kid, Instant::now(), async || self.fetch_keys().await)
            .await
    }

    /// [`Identity::key`] at `now`, fetching with `fetch` when the cache says so
    /// ([`KeyCache::plan`]).
    async fn key_at(
        &self,
        kid: &str,
        now: Instant,
        fetch: impl AsyncFnOnce() -> Result<KeySet, VerifyError>,
    ) -> Result<RsaKey, VerifyError> {
        let answer = |plan: Plan| match plan {
            Plan::Use(key) => Ok(key),
            Plan::Refuse => Err(TokenRefusal::Invalid.into()),
            Plan::Unavailable | Plan::Fetch => Err(VerifyError::KeysUnavailable(
                "keys not fetched; the next attempt waits".into(),
            )),
        };
        let plan = self.keys.read().await.plan(kid, now);
        if plan != Plan::Fetch {
            return answer(plan);
        }
        let mut cache = self.keys.write().await;
        // Another request may have fetched them (or failed to) while we waited for the lock.
        let plan = cache.plan(kid, now);
        if plan != Plan::Fetch {
            return answer(plan);
        }
        let fetched = cache.record(fetch().await, now);
        match (cache.plan(kid, now), fetched) {
            (Plan::Use(key), Err(e)) => {
                tracing::warn!(error = %e, failures = cache.failures, "user pool keys not refetched; the cached ones serve");
                Ok(key)
            }
            (Plan::Unavailable, Err(e)) => Err(e),
            (plan, _) => answer(plan),
        }
    }

    async fn fetch_keys(&self) -> Result<KeySet, VerifyError> {
        let unavailable = |e: &dyn std::fmt::Display| VerifyError::KeysUnavailable(e.to_string());
        let response = self
            .http
            .get_or_init(keys_client)
            .get(&self.settings.jwks_url)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(|e| unavailable(&e))?
            .error_for_status()
            .map_err(|e| unavailable(&e))?;
        let body = response.bytes().await.map_err(|e| unavailable(&e))?;
        KeySet::from_json(&body).map_err(|e| unavailable(&e))
    }
}

/// The HTTP client that fetches the pool's keys: it trusts only the roots AWS endpoints chain
/// to (`https_client`'s), as the SDK clients do, so no root store is compiled in or parsed at
/// start for one request every few hours.
fn keys_client() -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .no_proxy()
        .tls_built_in_root_certs(false);
    for root in
        reqwest::Certificate::from_pem_bundle(crate::AWS_ROOTS_PEM.as_bytes()).unwrap_or_default()
    {
        builder = builder.add_root_certificate(root);
    }
    builder.build().unwrap_or_default()
}

/// The pool's answer to a sign-in step: the tokens, or the next challenge it asks.
fn step(
    username: &str,
    challenge: Option<&ChallengeNameType>,
    parameters: Option<&std::collections::HashMap<String, String>>,
    session: Option<&str>,
    result: Option<&aws_sdk_cognitoidentityprovider::types::AuthenticationResultType>,
) -> Result<SignInStep, SignInError> {
    if let Some(name) = challenge {
        let challenge = match name {
            ChallengeNameType::NewPasswordRequired => Challenge::NewPassword,
            ChallengeNameType::SoftwareTokenMfa => Challenge::Totp,
            other => return Err(SignInError::Challenge(other.as_str().to_owned())),
        };
        let session = session.ok_or_else(|| SignInError::Unavailable("no session".into()))?;
        // The pool names the user to answer as (its internal name, when people sign in with
        // an alias such as their address); else the name given.
        let username = parameters
            .and_then(|p| p.get("USER_ID_FOR_SRP").or_else(|| p.get("USERNAME")))
            .map_or(username, String::as_str);
        return Ok(SignInStep::Asked(Asked {
            challenge,
            username: username.to_owned(),
            session: Secret::new(session),
        }));
    }
    let result =
        result.ok_or_else(|| SignInError::Unavailable("no authentication result".into()))?;
    let id_token = result
        .id_token()
        .ok_or_else(|| SignInError::Unavailable("no ID token".into()))?;
    Ok(SignInStep::Done(SignedIn {
        id_token: Secret::new(id_token),
        expires_in: i64::from(result.expires_in()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keys(kids: &[&str]) -> KeySet {
        let keys: Vec<_> = kids
            .iter()
            .map(|kid| json!({"kid": kid, "kty": "RSA", "alg": "RS256", "n": "AQAB", "e": "AQAB"}))
            .collect();
        KeySet::from_json(json!({ "keys": keys }).to_string().as_bytes()).unwrap()
    }

    fn pool() -> Identity {
        let conf = aws_sdk_cognitoidentityprovider::Config::builder()
            .behavior_version(aws_sdk_cognitoidentityprovider::config::BehaviorVersion::latest())
            .build();
        let settings = PoolSettings::from_lookup(|k| match k {
            "STAFF_USER_POOL_ID" => Some("eu-central-1_abc".into()),
            "STAFF_CLIENT_ID" => Some("c1".into()),
            _ => None,
        })
        .unwrap();
        Identity::new(
            aws_sdk_cognitoidentityprovider::Client::from_conf(conf),
            settings,
        )
    }

    /// One lookup of `kid` at `now`; the fetch (if the cache asks for one) answers `keys`, or
    /// fails for `None`. Answers the key's id or the error, and whether it fetched.
    async fn look(
        identity: &Identity,
        kid: &str,
        now: Instant,
        keys: Option<KeySet>,
    ) -> (Result<String, String>, bool) {
        let fetched = std::cell::Cell::new(false);
        let answer = identity
            .key_at(kid, now, async || {
                fetched.set(true);
                keys.ok_or_else(|| VerifyError::KeysUnavailable("the pool is down".into()))
            })
            .await
            .map(|k| k.kid)
            .map_err(|e| e.to_string());
        (answer, fetched.get())
    }

    #[tokio::test]
    async fn past_their_lifetime_the_cached_keys_serve_while_refetching_fails_with_back_off() {
        let identity = pool();
        let t0 = Instant::now();
        let at = |d: Duration| t0 + d;
        let ok = |kid: &str| (Ok(kid.to_owned()), false);
        // The first token fetches the keys; within their lifetime they serve without a fetch.
        assert_eq!(
            look(&identity, "k1", t0, Some(keys(&["k1"]))).await,
            (Ok("k1".into()), true)
        );
        assert_eq!(
            look(&identity, "k1", at(KEYS_TTL / 2), None).await,
            ok("k1")
        );

        // Past their lifetime the refetch fails: the cached key still serves, this request and
        // every one during the back-off, which asks the pool nothing.
        let due = at(KEYS_TTL);
        assert_eq!(
            look(&identity, "k1", due, None).await,
            (Ok("k1".into()), true)
        );
        for d in [Duration::from_secs(1), Duration::from_secs(59)] {
            assert_eq!(look(&identity, "k1", due + d, None).await, ok("k1"));
        }
        // The back-off doubles with each failure in a row: 1, 2, 4 minutes …
        let mut tried = due;
        for wait in [1, 2, 4, 8, 15, 15] {
            let wait = Duration::from_mins(wait);
            assert_eq!(
                look(
                    &identity,
                    "k1",
                    tried + wait.saturating_sub(Duration::from_secs(1)),
                    None
                )
                .await,
                ok("k1"),
                "within {wait:?}"
            );
            assert_eq!(
                look(&identity, "k1", tried + wait, None).await,
                (Ok("k1".into()), true),
                "after {wait:?}"
            );
            tried += wait;
        }
        // A token naming a key we do not have cannot be told from a new key while the pool is
        // away: unavailable, not refused, and no fetch before the back-off ends.
        let (unknown, fetched) = look(&identity, "k2", tried + Duration::from_secs(1), None).await;
        assert!(unknown.unwrap_err().contains("keys unavailable"));
        assert!(!fetched);

        // Once the pool answers again, its keys are the cache, the back-off is over.
        let back = tried + BACKOFF_MAX;
        assert_eq!(
            look(&identity, "k1", back, Some(keys(&["k1", "k2"]))).await,
            (Ok("k1".into()), true)
        );
        assert_eq!(
            look(&identity, "k2", back + Duration::from_secs(1), None).await,
            ok("k2")
        );
        // Current keys without the token's: refused, fetched again at most once a minute.
        let (forged, fetched) =
            look(&identity, "forged", back + Duration::from_secs(2), None).await;
        assert!(forged.unwrap_err().contains("correctly signed"), "refused");
        assert!(!fetched);
    }

    #[tokio::test]
    async fn keys_past_their_usable_age_are_not_trusted_while_the_pool_is_away() {
        let identity = pool();
        let t0 = Instant::now();
        assert!(
            look(&identity, "k1", t0, Some(keys(&["k1"])))
                .await
                .0
                .is_ok()
        );
        let old = t0 + KEYS_USABLE;
        let (answer, fetched) = look(&identity, "k1", old, None).await;
        assert!(fetched);
        assert!(answer.unwrap_err().contains("the pool is down"));
        // … and the next attempt waits for the back-off.
        let (answer, fetched) = look(&identity, "k1", old + Duration::from_secs(1), None).await;
        assert!(!fetched);
        assert!(answer.unwrap_err().contains("keys unavailable"));
        // Never fetched, the pool away: unavailable, and a fetch only after the back-off.
        let fresh = pool();
        let (answer, fetched) = look(&fresh, "k1", t0, None).await;
        assert!(fetched && answer.is_err());
        assert!(
            !look(&fresh, "k1", t0 + Duration::from_secs(30), None)
                .await
                .1
        );
        assert!(look(&fresh, "k1", t0 + REFETCH_AFTER, None).await.1);
    }

    #[test]
    fn the_keys_url_defaults_to_the_issuers() {
        let s = PoolSettings::from_lookup(|k| match k {
            "STAFF_USER_POOL_ID" => Some("eu-central-1_abc".into()),
            "STAFF_CLIENT_ID" => Some("c1".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(
            s.jwks_url,
            "https://cognito-idp.eu-central-1.amazonaws.com/eu-central-1_abc/.well-known/jwks.json"
        );
        let missing = PoolSettings::from_lookup(|_| None).unwrap_err();
        assert!(
            missing
                .to_string()
                .contains("STAFF_USER_POOL_ID, STAFF_CLIENT_ID")
        );
    }
}
