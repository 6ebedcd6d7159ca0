//! A user pool token's signature: the JWS compact form (`header.payload.signature`, each
//! base64url), signed RS256 — the only algorithm Cognito signs with — checked against the pool's
//! published keys (its JWKS). Pure: the keys are fetched by `identity`, the claims judged by
//! `staff::admit`.
//!
//! Written on *ring*, which the HTTPS client already links, instead of a JWT crate that brings
//! every algorithm's arithmetic (Ed25519, P-384, a second RSA implementation): about 250 KB of the
//! staff console's binary (`docs/performance.md`).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// Why a token is refused here. Deliberately one reason: the console tells no one more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a token signed by one of the pool's keys")]
pub struct Invalid;

/// One of the pool's public keys, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsaKey {
    pub kid: String,
    /// The modulus, big-endian, without leading zeros.
    n: Vec<u8>,
    /// The public exponent, big-endian, without leading zeros.
    e: Vec<u8>,
}

/// The pool's keys, as its JWKS document lists them. Keys that are not RSA signing keys, or
/// that do not decode, are left out (a token naming one is refused).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeySet {
    keys: Vec<RsaKey>,
}

#[derive(Deserialize)]
struct JwksDoc {
    keys: Vec<JwkDoc>,
}

#[derive(Deserialize)]
struct JwkDoc {
    kid: Option<String>,
    kty: String,
    #[serde(rename = "use")]
    usage: Option<String>,
    alg: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

impl KeySet {
    /// Reads a JWKS document.
    ///
    /// # Errors
    /// When it is not one (not JSON, no `keys` list).
    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        let doc: JwksDoc = serde_json::from_slice(bytes)?;
        let keys = doc
            .keys
            .into_iter()
            .filter(|k| k.kty == "RSA")
            .filter(|k| k.usage.as_deref().is_none_or(|u| u == "sig"))
            .filter(|k| k.alg.as_deref().is_none_or(|a| a == "RS256"))
            .filter_map(|k| {
                Some(RsaKey {
                    kid: k.kid?,
                    n: unsigned(&k.n?)?,
                    e: unsigned(&k.e?)?,
                })
            })
            .collect();
        Ok(Self { keys })
    }

    #[must_use]
    pub fn find(&self, kid: &str) -> Option<&RsaKey> {
        self.keys.iter().find(|k| k.kid == kid)
    }
}

/// A base64url big-endian integer, leading zeros dropped (as *ring* takes it).
fn unsigned(b64: &str) -> Option<Vec<u8>> {
    let bytes = URL_SAFE_NO_PAD.decode(b64).ok()?;
    let first = bytes.iter().position(|&b| b != 0)?;
    Some(bytes[first..].to_vec())
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
}

/// A token's parts, not yet verified.
#[derive(Debug)]
pub struct Unverified<'a> {
    /// The key the token says it was signed with.
    pub kid: String,
    signed: &'a str,
    payload: Vec<u8>,
    signature: Vec<u8>,
}

/// Splits a token and reads its header. Anything but RS256 with a key id (`none`, HS256 keyed
/// with the public key, …) is refused here, before a key is looked at.
///
/// # Errors
/// [`Invalid`] for anything that is not an RS256 JWS in compact form.
pub fn parse(token: &str) -> Result<Unverified<'_>, Invalid> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Invalid);
    };
    let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(|_| Invalid);
    let head: Header = serde_json::from_slice(&decode(header)?).map_err(|_| Invalid)?;
    if head.alg != "RS256" {
        return Err(Invalid);
    }
    Ok(Unverified {
        kid: head.kid.ok_or(Invalid)?,
        signed: &token[..header.len() + 1 + payload.len()],
        payload: decode(payload)?,
        signature: decode(signature)?,
    })
}

impl Unverified<'_> {
    /// The claims, once the signature checks out with `key` (RSASSA-PKCS1-v1_5 with SHA-256,
    /// keys of 2 048 to 8 192 bits).
    ///
    /// # Errors
    /// [`Invalid`] for a wrong signature or claims that do not read as `C`.
    pub fn verify<C: DeserializeOwned>(&self, key: &RsaKey) -> Result<C, Invalid> {
        ring::signature::RsaPublicKeyComponents {
            n: &key.n,
            e: &key.e,
        }
        .verify(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            self.signed.as_bytes(),
            &self.signature,
        )
        .map_err(|_| Invalid)?;
        serde_json::from_slice(&self.payload).map_err(|_| Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
    use serde_json::{Value, json};

    /// A key made for these tests only (`openssl genpkey -algorithm RSA -outform DER`: PKCS #1, 2 048 bits).
    const TEST_KEY: &[u8] = include_bytes!("../testdata/jws-test-key.der");

    fn pair() -> RsaKeyPair {
        RsaKeyPair::from_der(TEST_KEY).unwrap()
    }

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn jwks(kid: &str) -> Value {
        let public: ring::rsa::PublicKeyComponents<Vec<u8>> = pair().public().into();
        let (n, e) = (public.n, public.e);
        json!({"keys": [
            {"kid": "other", "kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"},
            {"kid": kid, "kty": "RSA", "alg": "RS256", "use": "sig", "n": b64(&n), "e": b64(&e)},
        ]})
    }

    fn keys(kid: &str) -> KeySet {
        KeySet::from_json(jwks(kid).to_string().as_bytes()).unwrap()
    }

    fn sign(header: &Value, claims: &Value) -> String {
        let signed = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let mut signature = vec![0; pair().public().modulus_len()];
        pair()
            .sign(
                &RSA_PKCS1_SHA256,
                &ring::rand::SystemRandom::new(),
                signed.as_bytes(),
                &mut signature,
            )
            .unwrap();
        format!("{signed}.{}", b64(&signature))
    }

    fn claims() -> Value {
        json!({"sub": "s-1", "token_use": "id", "exp": 1_900_000_000_i64})
    }

    fn verified(token: &str, keys: &KeySet) -> Result<Value, Invalid> {
        let t = parse(token)?;
        t.verify(keys.find(&t.kid).ok_or(Invalid)?)
    }

    #[test]
    fn a_token_signed_with_the_pools_key_gives_its_claims() {
        let token = sign(&json!({"alg": "RS256", "kid": "k1"}), &claims());
        assert_eq!(verified(&token, &keys("k1")), Ok(claims()));
    }

    #[test]
    fn a_changed_payload_or_signature_is_refused() {
        let token = sign(&json!({"alg": "RS256", "kid": "k1"}), &claims());
        let parts: Vec<&str> = token.split('.').collect();
        let forged = json!({"sub": "s-1", "token_use": "id", "exp": 1_900_000_000_i64, "cognito:groups": ["supervisors"]});
        let changed = format!(
            "{}.{}.{}",
            parts[0],
            b64(forged.to_string().as_bytes()),
            parts[2]
        );
        assert_eq!(verified(&changed, &keys("k1")), Err(Invalid));
        let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        signature[10] ^= 1;
        let flipped = format!("{}.{}.{}", parts[0], parts[1], b64(&signature));
        assert_eq!(verified(&flipped, &keys("k1")), Err(Invalid));
    }

    #[test]
    fn other_algorithms_unknown_keys_and_malformed_tokens_are_refused() {
        let signed = sign(&json!({"alg": "RS256", "kid": "k1"}), &claims());
        let payload = signed.split('.').nth(1).unwrap();
        // `none`, and HS256 "signed" with the public key as the secret, never reach a key.
        let none = format!("{}.{payload}.", b64(br#"{"alg":"none","kid":"k1"}"#));
        assert_eq!(parse(&none).map(|_| ()), Err(Invalid));
        let hs = format!("{}.{payload}.AAAA", b64(br#"{"alg":"HS256","kid":"k1"}"#));
        assert_eq!(parse(&hs).map(|_| ()), Err(Invalid));
        let no_kid = sign(&json!({"alg": "RS256"}), &claims());
        assert_eq!(parse(&no_kid).map(|_| ()), Err(Invalid));
        // A key the pool does not have, and one it has for another kid.
        assert!(keys("k1").find("k2").is_none());
        let other = sign(&json!({"alg": "RS256", "kid": "k2"}), &claims());
        assert_eq!(verified(&other, &keys("k1")), Err(Invalid));
        for bad in ["", "a.b", "a.b.c.d", "!!.??.##", &format!("{signed}.")] {
            assert_eq!(verified(bad, &keys("k1")), Err(Invalid), "{bad:?}");
        }
    }

    #[test]
    fn only_rsa_signing_keys_are_kept() {
        let mut doc = jwks("k1");
        doc["keys"][1]["use"] = "enc".into();
        let set = KeySet::from_json(doc.to_string().as_bytes()).unwrap();
        assert!(set.find("k1").is_none() && set.find("other").is_none());
        assert!(KeySet::from_json(b"{\"nokeys\":1}").is_err());
        assert!(KeySet::from_json(b"<html>").is_err());
    }
}
