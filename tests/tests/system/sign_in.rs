//! The console's sign-in when the user pool asks for more than a password: a new password for a
//! user an administrator created, and the code of an authenticator app (MFA is optional in the
//! pool). Both against moto's Cognito: it answers `USER_PASSWORD_AUTH` with
//! `NEW_PASSWORD_REQUIRED` for a user with a temporary password (and checks the new one against
//! the pool's password policy), and with `SOFTWARE_TOKEN_MFA` once the user has an associated,
//! verified and preferred software token. (moto checks the code itself only with
//! `MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP` set; the runner's moto does not, so a wrong code is
//! tested for its format here, and the pool's `CodeMismatchException` is mapped in code.)

use crate::helpers::TestEnv;
use crate::staff::{Console, hidden};
use aws_sdk_cognitoidentityprovider::types::{
    AuthFlowType, MessageActionType, SoftwareTokenMfaSettingsType,
};

/// Creates a clerk in the runner's pool; with `temporary`, the password is one to change.
async fn clerk(env: &TestEnv, name: &str, password: &str, temporary: bool) {
    pool_user(env, name, password, temporary, Some("clerk")).await;
}

/// Creates a user in the runner's pool, in `group` (or none); with `temporary`, the password is
/// one to change at the first sign-in.
pub async fn pool_user(
    env: &TestEnv,
    name: &str,
    password: &str,
    temporary: bool,
    group: Option<&str>,
) {
    let cognito = &env.system.clients.cognito;
    let pool = &env.system.staff.pool_id;
    let created = cognito
        .admin_create_user()
        .user_pool_id(pool)
        .username(name)
        .message_action(MessageActionType::Suppress);
    let created = if temporary {
        created.temporary_password(password)
    } else {
        created
    };
    created.send().await.unwrap();
    if !temporary {
        cognito
            .admin_set_user_password()
            .user_pool_id(pool)
            .username(name)
            .password(password)
            .permanent(true)
            .send()
            .await
            .unwrap();
    }
    if let Some(group) = group {
        cognito
            .admin_add_user_to_group()
            .user_pool_id(pool)
            .username(name)
            .group_name(group)
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_clerk_created_by_an_administrator_chooses_a_password_at_the_first_sign_in() {
    let env = TestEnv::spawn().await;
    let name = "new-clerk@buergerservice.example.org";
    clerk(&env, name, "Temporary-Pass-1", true).await;
    let mut console = Console::new(&env);
    let asked = console.sign_in(name, "Temporary-Pass-1").await;
    assert_eq!(asked.status, 200, "{}", asked.html);
    assert!(
        asked.html.contains("Eigenes Passwort festlegen"),
        "{}",
        asked.html
    );
    assert!(asked.html.contains("autocomplete=\"new-password\""));
    assert!(!console.cookies.contains_key("console-session"));
    assert!(
        !asked.html.contains(&console.cookies["console-challenge"]),
        "the pool's session stays in its cookie"
    );
    let csrf = hidden(&asked.html, "csrf");
    let path = "/staff/sign-in/challenge";
    let answer = |p: &'static str, r: &'static str| [("new_password", p), ("repeat", r)];

    let mismatch = console
        .post(
            path,
            &[
                [("csrf", csrf.as_str())].as_slice(),
                &answer("Own-Password-12", "Own-Password-21"),
            ]
            .concat(),
        )
        .await;
    assert_eq!(mismatch.status, 422);
    assert!(mismatch.html.contains("nicht gleich"), "{}", mismatch.html);
    let csrf = hidden(&mismatch.html, "csrf");
    let forged = console
        .post(path, &answer("Own-Password-12", "Own-Password-12"))
        .await;
    assert_eq!(forged.status, 403, "no CSRF value, no answer");
    // The pool's policy: at least 12 characters.
    let weak = console
        .post(
            path,
            &[
                [("csrf", csrf.as_str())].as_slice(),
                &answer("Short-1a", "Short-1a"),
            ]
            .concat(),
        )
        .await;
    assert_eq!(weak.status, 422, "{}", weak.html);
    assert!(
        weak.html.contains("nimmt dieses Passwort nicht an"),
        "{}",
        weak.html
    );
    let csrf = hidden(&weak.html, "csrf");
    let done = console
        .post(
            path,
            &[
                [("csrf", csrf.as_str())].as_slice(),
                &answer("Own-Password-12", "Own-Password-12"),
            ]
            .concat(),
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.html);
    assert_eq!(done.location.as_deref(), Some("/staff/overview?lang=de"));
    assert!(console.cookies.contains_key("console-session"));
    assert!(!console.cookies.contains_key("console-challenge"));
    assert_eq!(console.get("/staff/calls").await.status, 200);

    // From now on the own password signs in at once; the temporary one no more.
    let mut again = Console::new(&env);
    assert_eq!(again.sign_in(name, "Own-Password-12").await.status, 303);
    assert_eq!(again.sign_in(name, "Temporary-Pass-1").await.status, 401);
}

#[tokio::test]
async fn a_clerk_with_an_authenticator_app_enters_its_code_after_the_password() {
    let env = TestEnv::spawn().await;
    let name = "mfa-clerk@buergerservice.example.org";
    let password = "Mfa-Clerk-Pass-1";
    clerk(&env, name, password, false).await;
    // The clerk sets up the app (as the pool's hosted pages or the CLI would).
    let cognito = &env.system.clients.cognito;
    let signed_in = cognito
        .initiate_auth()
        .auth_flow(AuthFlowType::UserPasswordAuth)
        .client_id(&env.system.staff.client_id)
        .auth_parameters("USERNAME", name)
        .auth_parameters("PASSWORD", password)
        .send()
        .await
        .unwrap();
    let access = signed_in
        .authentication_result()
        .and_then(|r| r.access_token())
        .unwrap()
        .to_owned();
    let secret = cognito
        .associate_software_token()
        .access_token(&access)
        .send()
        .await
        .unwrap();
    assert!(secret.secret_code().is_some());
    cognito
        .verify_software_token()
        .access_token(&access)
        .user_code("123456")
        .send()
        .await
        .unwrap();
    cognito
        .admin_set_user_mfa_preference()
        .user_pool_id(&env.system.staff.pool_id)
        .username(name)
        .software_token_mfa_settings(
            SoftwareTokenMfaSettingsType::builder()
                .enabled(true)
                .preferred_mfa(true)
                .build(),
        )
        .send()
        .await
        .unwrap();

    let mut console = Console::new(&env);
    let asked = console.sign_in(name, password).await;
    assert_eq!(asked.status, 200, "{}", asked.html);
    assert!(
        asked.html.contains("Sicherheitscode eingeben"),
        "{}",
        asked.html
    );
    assert!(asked.html.contains("autocomplete=\"one-time-code\""));
    assert!(!console.cookies.contains_key("console-session"));
    let csrf = hidden(&asked.html, "csrf");
    let path = "/staff/sign-in/challenge?lang=en";
    let bad = console
        .post(path, &[("csrf", &csrf), ("code", "12a456")])
        .await;
    assert_eq!(bad.status, 422);
    assert!(
        bad.html
            .contains("Please enter the six digits of the code."),
        "{}",
        bad.html
    );
    let csrf = hidden(&bad.html, "csrf");
    let done = console
        .post(path, &[("csrf", &csrf), ("code", "123 456")])
        .await;
    assert_eq!(done.status, 303, "{}", done.html);
    assert_eq!(done.location.as_deref(), Some("/staff/overview?lang=en"));
    assert_eq!(console.get("/staff/overview").await.status, 200);
}

#[tokio::test]
async fn an_answer_without_its_challenge_starts_the_sign_in_again() {
    let env = TestEnv::spawn().await;
    let mut console = Console::new(&env);
    let page = console.get("/staff/sign-in").await;
    let mut csrf = hidden(&page.html, "csrf");
    // No challenge cookie, then a forged one: the sign-in page, never a 500.
    for forged in [None, Some("zz"), Some("5b22746f7470222c2261222c2262225d")] {
        if let Some(value) = forged {
            console
                .cookies
                .insert("console-challenge".into(), value.into());
        }
        let answer = console
            .post(
                "/staff/sign-in/challenge?lang=en",
                &[("csrf", &csrf), ("code", "123456")],
            )
            .await;
        assert_eq!(answer.status, 401, "{forged:?}: {}", answer.html);
        assert!(
            answer.html.contains("Please sign in again."),
            "{}",
            answer.html
        );
        csrf = hidden(&answer.html, "csrf");
    }
}

/// Failed sign-ins are counted per account and per client address, each in its hour: past
/// either limit the page answers 429 — even to the right password, which the pool is then not
/// asked about — while another account from the same address still signs in until the
/// address's own limit. The counters hold keyed hashes only, and expire.
#[tokio::test]
async fn failed_sign_ins_are_limited_per_account_and_per_client_without_asking_the_pool() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let env = TestEnv::spawn_with(|c| {
        c.limits.failed_sign_ins_per_account_hour = 3;
        c.limits.failed_sign_ins_per_client_hour = 6;
    })
    .await;
    let (anna, bob) = (
        "anna.clerk@buergerservice.example.org",
        "bob.clerk@buergerservice.example.org",
    );
    clerk(&env, anna, "Anna-Pass-2026!", false).await;
    clerk(&env, bob, "Bob-Pass-2026!", false).await;
    let mut console = Console::new(&env);

    for _ in 0..3 {
        let wrong = console.sign_in(anna, "guess-1234").await;
        assert_eq!(wrong.status, 401, "{}", wrong.html);
    }
    // Anna's account is at its limit: her right password is refused too, in the page's language.
    let refused = console.sign_in(anna, "Anna-Pass-2026!").await;
    assert_eq!(refused.status, 429, "{}", refused.html);
    assert!(
        refused
            .html
            .contains("Zu viele fehlgeschlagene Anmeldungen"),
        "{}",
        refused.html
    );
    assert!(!console.cookies.contains_key("console-session"));
    // The user name's case does not make it another account.
    let upper = console.sign_in(&anna.to_uppercase(), "guess-1234").await;
    assert_eq!(upper.status, 429, "{}", upper.html);

    // Bob, from the same address (3 failures so far), signs in.
    let bob_in = console.sign_in(bob, "Bob-Pass-2026!").await;
    assert_eq!(bob_in.status, 303, "{}", bob_in.html);

    // Guessing other accounts from this address stops at the address's limit.
    let mut others = Console::new(&env);
    for i in 0..3 {
        let wrong = others
            .sign_in(&format!("nobody{i}@example.org"), "guess-1234")
            .await;
        assert_eq!(wrong.status, 401, "{}", wrong.html);
    }
    let mut fresh = Console::new(&env);
    let page = fresh.get("/staff/sign-in?lang=en").await;
    let csrf = crate::staff::hidden(&page.html, "csrf");
    let refused = fresh
        .post(
            "/staff/sign-in?lang=en",
            &[
                ("csrf", &csrf),
                ("username", bob),
                ("password", "Bob-Pass-2026!"),
            ],
        )
        .await;
    assert_eq!(refused.status, 429, "{}", refused.html);
    assert!(
        refused.html.contains("Too many failed sign-ins"),
        "{}",
        refused.html
    );

    // The counters: keyed hashes, no name or address in clear, each with its expiry.
    let items = env
        .system
        .clients
        .dynamodb
        .scan()
        .table_name(&env.system.infra.wishes_table)
        .filter_expression("begins_with(pk, :rate)")
        .expression_attribute_values(":rate", AttributeValue::S("RATE#".into()))
        .send()
        .await
        .unwrap();
    let items = items.items();
    // Anna's, each of the three others', the address's (Bob's right sign-in counts nowhere).
    assert_eq!(items.len(), 5, "{items:?}");
    let now = chrono::Utc::now().timestamp();
    for item in items {
        let text = format!("{item:?}");
        for clear in ["anna", "bob", "nobody", "127.0.0.1", "10.0.0.1", "example"] {
            assert!(!text.contains(clear), "{clear} in {text}");
        }
        let expires: i64 = item["expires_at"].as_n().unwrap().parse().unwrap();
        assert!(expires > now && expires <= now + 2 * 3600 + 60, "{text}");
    }
}
