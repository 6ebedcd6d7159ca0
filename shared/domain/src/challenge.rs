//! The proof of work a wish submission carries, so that a bot pays for every wish it leaves:
//! ALTCHA challenges (version 1: find the number whose SHA-256 with the salt is the challenge),
//! signed with our key, short-lived and spent once. The crate `altcha-lib-rs` does the
//! cryptography; this module decides what a submission's proof means.

use altcha_lib_rs::algorithm::AltchaAlgorithm;
use altcha_lib_rs::{Challenge, ChallengeOptions, Payload};
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};

/// How the proof is asked for (`CHALLENGE_MODE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeMode {
    /// Not asked for, not checked (the local runner's default).
    Off,
    /// The form solves it and the server checks and logs the outcome, but never refuses a wish
    /// for it (to see what enforcing would refuse before doing so).
    Monitor,
    /// A submission without a valid, unspent proof is refused.
    Enforce,
}

impl ChallengeMode {
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "off" => Some(Self::Off),
            "monitor" => Some(Self::Monitor),
            "enforce" => Some(Self::Enforce),
            _ => None,
        }
    }

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Monitor => "monitor",
            Self::Enforce => "enforce",
        }
    }
}

/// How long a challenge may be solved and used: long enough to fill in the form after the
/// widget solved it on the first focus.
#[must_use]
pub fn challenge_lifetime() -> Duration {
    Duration::minutes(30)
}

/// A new challenge, signed with `key`, valid for [`challenge_lifetime`]; its secret number is
/// drawn from `0..=max_number` (the work: on average half of it in SHA-256 hashes).
///
/// # Errors
/// When the crate cannot draw the number (it never can for `max_number` ≥ 1).
pub fn issue_challenge(
    key: &str,
    max_number: u64,
    now: DateTime<Utc>,
) -> Result<Challenge, altcha_lib_rs::error::Error> {
    altcha_lib_rs::create_challenge(ChallengeOptions {
        algorithm: Some(AltchaAlgorithm::Sha256),
        max_number: Some(max_number),
        hmac_key: key,
        expires: Some(now + challenge_lifetime()),
        ..ChallengeOptions::default()
    })
}

/// A valid proof: the challenge it solves (unique per challenge, the key its spending is
/// recorded under) and when that challenge expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    pub challenge: String,
    pub expires: DateTime<Utc>,
}

/// Why a proof is not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofRefusal {
    /// No proof came (a browser without JavaScript, a client that did not ask for a challenge).
    Missing,
    /// Not a solution of a challenge we signed.
    Invalid,
    /// The challenge's time ran out.
    Expired,
    /// The challenge was solved and used before.
    Replayed,
}

impl ProofRefusal {
    /// The stable code (the form's texts are keyed by it).
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Invalid => "invalid",
            Self::Expired => "expired",
            Self::Replayed => "replayed",
        }
    }

    /// What an API client is told.
    #[must_use]
    pub fn message(self) -> &'static str {
        match self {
            Self::Missing => {
                "a proof of work is required: solve a challenge from GET /api/challenge and send \
                 its payload as `altcha`"
            }
            Self::Invalid => "the proof of work does not solve a challenge of ours",
            Self::Expired => "the challenge has expired: solve a new one from GET /api/challenge",
            Self::Replayed => {
                "this challenge was already used: solve a new one from GET /api/challenge"
            }
        }
    }
}

/// What a solution carries; anything else in it is ignored (the widget adds `took`, the
/// milliseconds it took, as a fraction, which the crate's own type would refuse).
#[derive(serde::Deserialize)]
struct Sent {
    algorithm: AltchaAlgorithm,
    challenge: String,
    number: u64,
    salt: String,
    signature: String,
}

/// Checks `payload` (the widget's base64 JSON) against `key` at `now`: a solution of one of our
/// challenges that has not expired. Whether it was used before is the store's to say.
///
/// # Errors
/// Why the proof is not accepted.
pub fn check_proof(
    payload: Option<&str>,
    key: &str,
    now: DateTime<Utc>,
) -> Result<Proof, ProofRefusal> {
    let payload = payload
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .ok_or(ProofRefusal::Missing)?;
    let json = base64::engine::general_purpose::STANDARD
        .decode(payload)
        .map_err(|_| ProofRefusal::Invalid)?;
    let sent: Sent = serde_json::from_slice(&json).map_err(|_| ProofRefusal::Invalid)?;
    let payload = Payload {
        algorithm: sent.algorithm,
        challenge: sent.challenge,
        number: sent.number,
        salt: sent.salt,
        signature: sent.signature,
        took: None,
    };
    if !matches!(payload.algorithm, AltchaAlgorithm::Sha256) {
        return Err(ProofRefusal::Invalid);
    }
    // The salt carries the expiry (`…?expires=<epoch>&`); the signature covers the salt, so it
    // cannot be changed. It is checked against our clock, not the machine's, like every deadline.
    let expires = payload
        .salt
        .split_once('?')
        .and_then(|(_, query)| {
            query
                .split('&')
                .find_map(|pair| pair.strip_prefix("expires="))
        })
        .and_then(|epoch| epoch.parse::<i64>().ok())
        .and_then(|epoch| DateTime::from_timestamp(epoch, 0))
        .ok_or(ProofRefusal::Invalid)?;
    altcha_lib_rs::verify_solution(&payload, key, false).map_err(|_| ProofRefusal::Invalid)?;
    if expires <= now {
        return Err(ProofRefusal::Expired);
    }
    Ok(Proof {
        challenge: payload.challenge,
        expires,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-02T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    /// What the widget sends for `challenge`: the number found by brute force, as base64 JSON
    /// (with the time it took as the widget gives it, a fraction of milliseconds).
    fn solve(challenge: &Challenge) -> String {
        let number = altcha_lib_rs::solve_challenge(
            &challenge.challenge,
            &challenge.salt,
            Some(challenge.algorithm),
            Some(challenge.maxnumber),
            0,
        )
        .unwrap();
        let payload = serde_json::json!({
            "algorithm": "SHA-256", "challenge": challenge.challenge, "number": number,
            "salt": challenge.salt, "signature": challenge.signature, "took": 812.4,
        });
        base64::engine::general_purpose::STANDARD.encode(payload.to_string())
    }

    fn tampered(payload: &str, change: impl FnOnce(&mut serde_json::Value)) -> String {
        let engine = base64::engine::general_purpose::STANDARD;
        let mut json: serde_json::Value =
            serde_json::from_slice(&engine.decode(payload).unwrap()).unwrap();
        change(&mut json);
        engine.encode(json.to_string())
    }

    #[test]
    fn a_solved_challenge_is_a_proof_until_it_expires() {
        let challenge = issue_challenge(KEY, 2_000, now()).unwrap();
        assert!(challenge.salt.contains("expires="));
        let payload = solve(&challenge);
        let proof = check_proof(Some(&payload), KEY, now()).unwrap();
        assert_eq!(proof.challenge, challenge.challenge);
        assert_eq!(proof.expires, now() + challenge_lifetime());
        let later = now() + challenge_lifetime();
        assert_eq!(
            check_proof(Some(&payload), KEY, later),
            Err(ProofRefusal::Expired)
        );
    }

    #[test]
    fn anything_but_a_solution_of_our_challenge_is_refused() {
        let challenge = issue_challenge(KEY, 2_000, now()).unwrap();
        let payload = solve(&challenge);
        let check = |p: &str| check_proof(Some(p), KEY, now());
        assert_eq!(
            check_proof(None, KEY, now()),
            Err(ProofRefusal::Missing),
            "no proof"
        );
        assert_eq!(check("  "), Err(ProofRefusal::Missing));
        assert_eq!(check("not base64!"), Err(ProofRefusal::Invalid));
        assert_eq!(
            check("bm90IGpzb24="),
            Err(ProofRefusal::Invalid),
            "not JSON"
        );
        let another_key = check_proof(Some(&payload), &KEY.replace('0', "1"), now());
        assert_eq!(
            another_key,
            Err(ProofRefusal::Invalid),
            "signed by another key"
        );
        let wrong = tampered(&payload, |j| {
            j["number"] = serde_json::json!(j["number"].as_u64().unwrap() + 1);
        });
        assert_eq!(check(&wrong), Err(ProofRefusal::Invalid), "a wrong number");
        // A later expiry written into the salt breaks the signature.
        let extended = tampered(&payload, |j| {
            let salt = j["salt"].as_str().unwrap().to_owned();
            let (base, _) = salt.split_once('?').unwrap();
            j["salt"] = serde_json::json!(format!("{base}?expires=4102444800&"));
        });
        assert_eq!(
            check(&extended),
            Err(ProofRefusal::Invalid),
            "a later expiry"
        );
        let weaker = tampered(&payload, |j| j["algorithm"] = serde_json::json!("SHA-512"));
        assert_eq!(
            check(&weaker),
            Err(ProofRefusal::Invalid),
            "another algorithm"
        );
    }

    #[test]
    fn a_challenge_without_an_expiry_is_not_ours() {
        let challenge = altcha_lib_rs::create_challenge(ChallengeOptions {
            max_number: Some(500),
            hmac_key: KEY,
            ..ChallengeOptions::default()
        })
        .unwrap();
        assert_eq!(
            check_proof(Some(&solve(&challenge)), KEY, now()),
            Err(ProofRefusal::Invalid)
        );
    }

    #[test]
    fn modes_parse_from_their_names() {
        for mode in [
            ChallengeMode::Off,
            ChallengeMode::Monitor,
            ChallengeMode::Enforce,
        ] {
            assert_eq!(ChallengeMode::parse(mode.as_str()), Some(mode));
        }
        assert_eq!(ChallengeMode::parse("on"), None);
    }
}
