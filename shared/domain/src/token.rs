//! Link tokens: 256 random bits, shown once in an email, stored only as a SHA-256 hash.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::{Rng as _, TryRng as _};
use sha2::{Digest, Sha256};
use std::fmt;

const TOKEN_BYTES: usize = 32;
/// Length of the URL-safe base64 form of 32 bytes without padding.
const TOKEN_CHARS: usize = 43;

/// A secret link token. `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

/// The only form of a token we keep.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenHash(String);

impl Token {
    /// A fresh token from the operating system's CSPRNG.
    #[must_use]
    pub fn generate() -> Self {
        let mut bytes = [0u8; TOKEN_BYTES];
        // The OS generator only fails when the platform has no entropy source at all; the
        // thread-local CSPRNG (seeded from the OS) is the fallback so issuing a link never panics.
        if rand::rngs::SysRng.try_fill_bytes(&mut bytes).is_err() {
            rand::rng().fill_bytes(&mut bytes);
        }
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Accepts only text that could be one of our tokens, so junk never reaches the database.
    #[must_use]
    pub fn parse(value: &str) -> Option<Self> {
        (value.len() == TOKEN_CHARS
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        .then(|| Self(value.to_owned()))
    }

    #[must_use]
    pub fn hash(&self) -> TokenHash {
        TokenHash(hex::encode(Sha256::digest(self.0.as_bytes())))
    }

    /// The token as it goes into a link.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl TokenHash {
    #[must_use]
    pub fn from_stored(hex: String) -> Self {
        Self(hex)
    }
}

impl AsRef<str> for TokenHash {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn generated_tokens_parse_and_differ() {
        let a = Token::generate();
        let b = Token::generate();
        assert_ne!(a, b);
        assert_eq!(Token::parse(a.expose()), Some(a.clone()));
        assert_ne!(a.hash(), b.hash());
        assert_eq!(a.hash().as_ref().len(), 64);
    }

    #[test]
    fn debug_hides_the_secret() {
        let t = Token::generate();
        assert!(!format!("{t:?}").contains(t.expose()));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 10_000, failure_persistence: None, ..ProptestConfig::default() })]
        #[test]
        fn parse_never_panics_and_accepts_only_43_url_safe_chars(s in "\\PC{0,60}") {
            if let Some(t) = Token::parse(&s) {
                prop_assert_eq!(t.expose().len(), 43);
            }
        }
    }
}
