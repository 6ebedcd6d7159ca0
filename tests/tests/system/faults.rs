//! Faults on the way out: a mail SES refuses is kept in the outbox and sent once SES accepts it.

use crate::helpers::TestEnv;
use serde_json::json;

#[tokio::test]
async fn a_mail_ses_refuses_is_retried_by_the_rescan_and_delivered_once() {
    let env = TestEnv::spawn().await;
    let email = env.email("retry");
    // A sender SES (moto) does not know yet: every send fails with MessageRejected.
    let sender = format!("absender.{}@stadt.example", std::process::id());
    let mut failing = env.system.deps.clone();
    failing.config.mail_from.clone_from(&sender);
    let request: shared::domain::WishRequest = serde_json::from_value(
        json!({"email": email, "service": "id-card", "offices": ["bilk"], "windows": {"mon": [8]}}),
    )
    .unwrap();
    let wish = shared::app::submit_wish(&failing, &request, None)
        .await
        .unwrap();
    assert_eq!(
        wish.status.as_str(),
        "pending",
        "the wish is stored although the mail failed"
    );
    assert!(env.mails_to(&email).await.is_empty());

    // Within the sender's lease the rescan leaves the mail alone.
    assert_eq!(env.system.rescan().await.unwrap()["mails_retried"], 0);

    // SES recovers; after the lease the rescan sends it — once.
    env.system
        .clients
        .sesv2
        .create_email_identity()
        .email_identity(&sender)
        .send()
        .await
        .unwrap();
    env.system.deps.clock.advance(3);
    assert_eq!(env.system.rescan().await.unwrap()["mails_retried"], 1);
    assert_eq!(env.system.rescan().await.unwrap()["mails_retried"], 0);
    let mails = env.mails_to(&email).await;
    assert_eq!(mails.len(), 1);
    assert!(mails[0].subject.contains("bestätigen"));
}
