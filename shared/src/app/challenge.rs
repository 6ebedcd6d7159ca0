//! The proof of work on wish submissions: issuing challenges and spending their solutions.

use super::{AppError, Deps};
use crate::domain::ChallengeMode;
use crate::domain::ProofRefusal;
use crate::domain::challenge::{check_proof, issue_challenge};

/// `GET /api/challenge`: a new challenge for the widget (or an API client) to solve.
///
/// # Errors
/// Unavailable without the key challenges are signed with.
pub fn new_challenge(deps: &Deps) -> Result<altcha_lib_rs::Challenge, AppError> {
    let key = deps.store.challenge_key()?;
    issue_challenge(&key, deps.config.challenge.max_number, deps.clock.now())
        .map_err(|_| AppError::NotConfigured("challenge"))
}

/// Checks a submission's proof as the configured mode asks: nothing when `off`; when
/// `monitor`, the outcome is logged and the submission goes on whatever it is; when `enforce`,
/// a missing, wrong, expired or already used proof refuses it. A valid proof is spent (recorded
/// until its challenge expires) in both modes, so a replay shows in the log before it is refused.
///
/// # Errors
/// [`AppError::Challenge`] when enforced and the proof does not hold; the store's errors.
pub(super) async fn spend_proof(deps: &Deps, payload: Option<&str>) -> Result<(), AppError> {
    let mode = deps.config.challenge.mode;
    if mode == ChallengeMode::Off {
        return Ok(());
    }
    let key = deps.store.challenge_key()?;
    let outcome = match check_proof(payload, &key, deps.clock.now()) {
        Ok(proof) if deps.store.spend_challenge(&proof).await? => Ok(()),
        Ok(_) => Err(ProofRefusal::Replayed),
        Err(refusal) => Err(refusal),
    };
    let said = outcome.err().map_or("valid", ProofRefusal::code);
    tracing::info!(mode = mode.as_str(), outcome = said, "challenge checked");
    match outcome {
        Err(refusal) if mode == ChallengeMode::Enforce => Err(AppError::Challenge(refusal)),
        _ => Ok(()),
    }
}
