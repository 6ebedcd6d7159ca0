//! The wish page's place in line, from the lines' counts (`docs/data-model.md`, "Places in
//! line"): the same as counting the entries ahead, through confirmations at once, hours and days
//! apart, cancellations; the counts hold exactly what the entries say.

use crate::helpers::{TestEnv, assert_line_counts_match_entries};
use serde_json::json;
use shared::domain::WishId;

/// The wish `id` as the store has it.
async fn stored_wish(env: &TestEnv, id: &str) -> shared::domain::Wish {
    let deps = &env.system.deps;
    deps.store
        .get_wish(&WishId::parse(id).unwrap(), deps.clock.now())
        .await
        .unwrap()
        .unwrap()
}

/// Each wish's places in its lines, from the counts; asserted equal to counting the entries ahead.
async fn places(env: &TestEnv, id: &str) -> Vec<usize> {
    let deps = &env.system.deps;
    let catalog = deps.catalog().await.unwrap();
    let wish = stored_wish(env, id).await;
    let lines = wish.lines(&catalog);
    let counted = places_from_counts(env, id).await;
    let key = shared::store::keys::queue_key(wish.confirmed_at.unwrap(), &wish.id);
    let mut by_entries = Vec::new();
    for (office, window) in &lines {
        by_entries.push(
            deps.store
                .ahead_in_line(office, &wish.service, *window, &key)
                .await
                .unwrap(),
        );
    }
    assert_eq!(counted, by_entries, "wish {id}: counts against entries");
    counted
}

#[tokio::test]
async fn the_place_from_the_lines_counts_is_the_number_of_wishes_ahead() {
    let env = TestEnv::spawn().await;
    let clock = &env.system.deps.clock;
    let monday = json!({"mon": [8]});
    let both = json!({"mon": [8], "tue": [8]});
    let (anna_link, anna) = env
        .confirmed_wish_with_id(&env.email("a"), monday.clone())
        .await;
    let (ben_link, ben) = env
        .confirmed_wish_with_id(&env.email("b"), both.clone())
        .await;
    clock.advance(70);
    let (cem_link, cem) = env
        .confirmed_wish_with_id(&env.email("c"), monday.clone())
        .await;
    clock.advance(24 * 60);
    let (_, dora) = env
        .confirmed_wish_with_id(&env.email("d"), both.clone())
        .await;
    // Three at once into the same lines: their counts change in concurrent transactions.
    let (e_mail, f_mail, g_mail) = (env.email("e"), env.email("f"), env.email("g"));
    let (eva, finn, greta) = tokio::join!(
        env.confirmed_wish_with_id(&e_mail, both.clone()),
        env.confirmed_wish_with_id(&f_mail, monday.clone()),
        env.confirmed_wish_with_id(&g_mail, both.clone()),
    );
    assert_line_counts_match_entries(&env).await;
    assert_eq!(places(&env, &anna).await, [0]);
    assert_eq!(places(&env, &ben).await, [1, 0]);
    assert_eq!(places(&env, &cem).await, [2]);
    assert_eq!(places(&env, &dora).await, [3, 1]);
    let mut last: Vec<usize> = Vec::new();
    for (_, id) in [&eva, &finn, &greta] {
        last.extend(places(&env, id).await);
    }
    last.sort_unstable();
    assert_eq!(
        last,
        [2, 3, 4, 5, 6],
        "the three at once: behind Dora, in some order"
    );

    // Ben cancels: everyone behind him moves up, in both lines.
    let (status, _) = env.click(&format!("{ben_link}/cancel")).await;
    assert_eq!(status, 200);
    assert_eq!(places(&env, &cem).await, [1]);
    assert_eq!(places(&env, &dora).await, [2, 0]);
    assert_line_counts_match_entries(&env).await;

    // A second click changes nothing; then the whole first day leaves the line: its counts go.
    let (status, _) = env.click(&format!("{ben_link}/cancel")).await;
    assert_eq!(status, 200);
    for link in [&anna_link, &cem_link] {
        let (status, _) = env.click(&format!("{link}/cancel")).await;
        assert_eq!(status, 200);
    }
    assert_eq!(places(&env, &dora).await, [0, 0]);
    assert_line_counts_match_entries(&env).await;
}

/// The wish's places in its lines from the counts, without the check against the entries
/// (which is what a recount must bring back).
async fn places_from_counts(env: &TestEnv, id: &str) -> Vec<usize> {
    let deps = &env.system.deps;
    let catalog = deps.catalog().await.unwrap();
    let wish = stored_wish(env, id).await;
    deps.store
        .places_ahead(&wish, &wish.lines(&catalog))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_recount_sets_wrong_or_missing_counts_right_from_the_entries() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let env = TestEnv::spawn().await;
    let monday = json!({"mon": [8]});
    for name in ["ra", "rb"] {
        env.confirmed_wish(&env.email(name), monday.clone()).await;
    }
    let (_, third) = env
        .confirmed_wish_with_id(&env.email("rc"), monday.clone())
        .await;
    env.confirmed_family(&env.email("rf"), monday.clone(), 2)
        .await;
    assert_eq!(places(&env, &third).await, [2]);

    // Counts as a bug or a crash could leave them: five wishes of a day long ago that are not
    // there, the families' count off.
    let db = &env.system.clients.dynamodb;
    let table = &env.system.infra.wishes_table;
    let line = "Q#bilk#id-card#mon#8";
    let s = |v: &str| AttributeValue::S(v.to_owned());
    db.update_item()
        .table_name(table)
        .key("pk", s(&shared::store::keys::line_counts_pk(line)))
        .key("sk", s(shared::store::keys::LINE_DAYS_SK))
        .update_expression("SET d20200101 = :n")
        .expression_attribute_values(":n", AttributeValue::N("5".into()))
        .send()
        .await
        .unwrap();
    db.update_item()
        .table_name(table)
        .key("pk", s(line))
        .key("sk", s(shared::store::keys::PARTIES_SK))
        .update_expression("SET p2 = :n")
        .expression_attribute_values(":n", AttributeValue::N("4".into()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        places_from_counts(&env, &third).await,
        [7],
        "the counts are off"
    );

    // The operator's recount, page by page as the clerk CLI does it.
    let mut after: Option<String> = None;
    let mut corrected = 0;
    loop {
        // This test's lines only (the whole catalogue's take a minute here).
        let path = match &after {
            Some(a) => format!(
                "/admin/lines/recount?office=bilk&service=id-card&after={}",
                a.replace('#', "%23")
            ),
            None => "/admin/lines/recount?office=bilk&service=id-card".to_owned(),
        };
        let (status, page) = env.admin(reqwest::Method::POST, &path, None).await;
        assert_eq!(status, 200, "{page}");
        corrected += page["corrected"].as_u64().unwrap();
        after = page["next"].as_str().map(str::to_owned);
        if after.is_none() {
            break;
        }
    }
    assert_eq!(corrected, 2, "the days item and the families' count");
    assert_eq!(places(&env, &third).await, [2]);
    assert_line_counts_match_entries(&env).await;

    // Nothing left to set right.
    let (_, again) = env
        .admin(
            reqwest::Method::POST,
            "/admin/lines/recount?office=bilk&service=id-card",
            None,
        )
        .await;
    assert_eq!(again["corrected"], 0, "{again}");
}
