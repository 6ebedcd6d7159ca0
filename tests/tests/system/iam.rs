//! IAM as AWS enforces it: every function's requests go through the runner's proxy, which
//! evaluates them against that function's role in `infra/template.yaml`.

use crate::helpers::TestEnv;
use local_runner::runner::repo_root;
use serde_json::json;

/// `text` with the first `from` after `anchor` replaced by `to`.
fn replace_after(text: &str, anchor: &str, from: &str, to: &str) -> String {
    let start = text.find(anchor).expect("the anchor is in the template");
    let at = start
        + text[start..]
            .find(from)
            .expect("the text follows the anchor");
    format!("{}{to}{}", &text[..at], &text[at + from.len()..])
}

/// `infra/template.yaml` with `changes` (anchor, from, to) made, written apart.
fn changed_template(name: &str, changes: &[(&str, &str, &str)]) -> std::path::PathBuf {
    let mut text = std::fs::read_to_string(repo_root().join("infra/template.yaml")).unwrap();
    for (anchor, from, to) in changes {
        text = replace_after(&text, anchor, from, to);
    }
    let path =
        std::env::temp_dir().join(format!("template-iam-{}-{name}.yaml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test]
async fn the_whole_story_runs_with_every_function_held_to_its_role() {
    let env = TestEnv::spawn().await;
    let anna = env.email("anna");
    let windows = json!({"mon": [8], "tue": [8], "wed": [8], "thu": [8], "fri": [8]});
    env.confirmed_wish(&anna, windows).await;
    let start = crate::helpers::next_local(chrono::Weekday::Wed, 8, 30, 1);
    env.put_slots(
        &json!([{"id": "iam-1", "office": "bilk", "service": "id-card",
        "start": start, "minutes": 15, "status": "free"}]),
    )
    .await;
    env.settle().await;
    let (_, offer) = env.latest_offer(&anna).await;
    let (status, body) = env.click(&format!("{offer}/accept")).await;
    assert_eq!(status, 200, "{body}");
    env.settle().await;
    assert!(
        env.mails_to(&anna).await.len() >= 3,
        "opt-in, offer and booking mails"
    );
    assert_eq!(
        env.system.iam.denials(),
        [],
        "no function lacks a permission"
    );
}

#[tokio::test]
async fn a_role_without_one_action_fails_its_function_with_access_denied() {
    // submit-wish without dynamodb:PutItem: the submission's transaction (a Put of the wish)
    // is refused as AWS refuses it, and nothing is stored.
    let path = changed_template(
        "put",
        &[(
            "  SubmitWishRole:",
            "                  - dynamodb:PutItem\n",
            "",
        )],
    );
    let env = TestEnv::spawn_from(&path, |_| {}).await;
    let _ = std::fs::remove_file(&path);
    let anna = env.email("anna");
    let r = env
        .http
        .post(env.url("/api/wishes"))
        .json(
            &json!({"email": anna, "service": "id-card", "offices": ["bilk"],
            "windows": {"mon": [8]}}),
        )
        .send()
        .await
        .unwrap();
    assert!(r.status().is_server_error(), "{}", r.status());
    let denials = env.system.iam.denials();
    assert!(!denials.is_empty());
    let d = &denials[0];
    assert_eq!(
        (d.function.as_str(), d.action.as_str()),
        ("submit-wish", "dynamodb:PutItem")
    );
    assert!(
        d.message.contains(
            "is not authorized to perform: dynamodb:PutItem on resource: arn:aws:dynamodb:"
        ),
        "{}",
        d.message
    );
    env.settle().await;
    assert!(
        env.mails_to(&anna).await.is_empty(),
        "nothing was stored, nothing sent"
    );

    // deliver-outbox without SES: the opt-in mail stays owed, refused by IAM, not sent.
    let path = changed_template(
        "ses",
        &[(
            "  DeliverOutboxRole:",
            "- ses:SendEmail\n",
            "- ses:GetAccount\n",
        )],
    );
    let env = TestEnv::spawn_from(&path, |_| {}).await;
    let _ = std::fs::remove_file(&path);
    let ben = env.email("ben");
    let (status, body) = env
        .post_json(
            "/api/wishes",
            &json!({"email": ben, "service": "id-card", "offices": ["bilk"], "windows": {"mon": [8]}}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    env.settle().await;
    assert!(env.mails_to(&ben).await.is_empty(), "SES refused the mail");
    assert!(
        env.system
            .iam
            .denials()
            .iter()
            .any(|d| d.function == "deliver-outbox" && d.action == "ses:SendEmail"),
        "{:?}",
        env.system.iam.denials()
    );
}
