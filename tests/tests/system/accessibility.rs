//! The accessibility statement: reachable in both languages, linked from every page's footer,
//! naming the contact for barriers and the ombudsman procedure.

use crate::helpers::TestEnv;

async fn get(env: &TestEnv, path: &str, accept_language: &str) -> (u16, String) {
    let r = env
        .http
        .get(env.url(path))
        .header("accept-language", accept_language)
        .send()
        .await
        .unwrap();
    // The templates escape `/` in values.
    let status = r.status().as_u16();
    (status, r.text().await.unwrap().replace("&#x2f;", "/"))
}

#[tokio::test]
async fn the_accessibility_statement_is_linked_from_every_page_in_both_languages() {
    let env = TestEnv::spawn().await;
    let contact = "terminagent@buergerservice.example.org"; // MAIL_FROM: no ACCESSIBILITY_CONTACT set

    let (status, de) = get(&env, "/barrierefreiheit", "de-DE").await;
    assert_eq!(status, 200);
    assert!(de.contains("<html lang=\"de\">"), "{de}");
    assert!(
        de.contains("<h1>Erklärung zur Barrierefreiheit</h1>"),
        "{de}"
    );
    assert!(de.contains(&format!("href=\"mailto:{contact}\"")), "{de}");
    assert!(de.contains("axe-core") && de.contains("Tastatur"), "{de}");
    assert!(de.contains("am 1. Dezember 2026 erstellt"), "{de}");
    assert!(
        de.contains("Ombudsstelle für barrierefreie Informationstechnik"),
        "{de}"
    );
    assert!(de.contains("href=\"/accessibility?lang=en\""), "{de}");

    let (status, en) = get(&env, "/accessibility", "de-DE").await;
    assert_eq!(status, 200);
    assert!(en.contains("<html lang=\"en\">"), "{en}");
    assert!(en.contains("<h1>Accessibility statement</h1>"), "{en}");
    assert!(en.contains(&format!("href=\"mailto:{contact}\"")), "{en}");
    assert!(en.contains("made on 1 December 2026"), "{en}");
    let (_, en_by_query) = get(&env, "/barrierefreiheit?lang=en", "de-DE").await;
    assert!(en_by_query.contains("<h1>Accessibility statement</h1>"));
    let (_, de_by_query) = get(&env, "/accessibility?lang=de", "en").await;
    assert!(de_by_query.contains("<h1>Erklärung zur Barrierefreiheit</h1>"));

    // The footer of the other pages links to it, in their language; unknown paths too.
    for (path, lang, link) in [
        ("/", "de-DE", "/barrierefreiheit?lang=de"),
        ("/?lang=en", "de-DE", "/accessibility?lang=en"),
        ("/w/not-a-token", "en", "/accessibility?lang=en"),
        ("/nowhere", "de", "/barrierefreiheit?lang=de"),
    ] {
        let (_, page) = get(&env, path, lang).await;
        let footer = page.split("<footer>").nth(1).unwrap_or_default();
        assert!(
            footer.contains(&format!("href=\"{link}\"")),
            "{path}: {page}"
        );
    }
}
