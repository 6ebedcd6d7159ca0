use super::*;
use crate::email::Email;
use crate::ids::{OfferId, WishId};
use crate::language::Language;
use crate::matching::{is_candidate, pick};
use crate::slot::SlotStatus;
use crate::wish::Holding;
use proptest::prelude::*;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// Monday 8 January 2024, 08:30 in Berlin.
fn slot(id: &str) -> Slot {
    Slot {
        id: SlotId::parse(id).unwrap(),
        office: OfficeId::parse("bilk").unwrap(),
        service: ServiceId::parse("id-card").unwrap(),
        start: t("2024-01-08T07:30:00Z"),
        minutes: 15,
        status: SlotStatus::Free,
        offer: None,
        wish: None,
        persons: 1,
    }
}

fn pseudonym(n: usize) -> Pseudonym {
    Pseudonym::parse(&format!("{n:032x}")).unwrap()
}

/// A wish that may take [`slot`], `n`-th in line.
fn wish(n: usize) -> Wish {
    let created_at = t("2024-01-01T00:00:00Z");
    Wish {
        id: WishId::parse(&format!("w{n}")).unwrap(),
        contact: Email::parse("a@b.de").unwrap().into(),
        service: ServiceId::parse("id-card").unwrap(),
        offices: vec![OfficeId::parse("bilk").unwrap()],
        windows: [Window::new(Weekday::Mon, 8).unwrap()].into(),
        language: Language::De,
        status: WishStatus::Waiting,
        created_at,
        confirmed_at: Some(created_at + Duration::minutes(i64::try_from(n).unwrap())),
        open_offer: None,
        declined: BTreeSet::new(),
        kept_at: None,
        reminded_at: None,
        unanswered: 0,
        earlier: None,
        persons: 1,
    }
}

/// The chain of `n` records of one line, each passing over one entry that holds an offer.
fn chain(n: usize) -> Vec<AllocationRecord> {
    let mut out: Vec<AllocationRecord> = Vec::new();
    for i in 0..n {
        let s = slot(&format!("s{i}"));
        let skipped = vec![Skipped {
            who: pseudonym(1000 + i),
            ranked_at: t("2024-01-01T00:00:00Z"),
            reason: Skip::HoldsOffer,
        }];
        let chosen = Entry {
            who: pseudonym(i),
            ranked_at: t("2024-01-01T00:01:00Z"),
        };
        let now = t("2024-01-05T10:00:00Z") + Duration::minutes(i64::try_from(i).unwrap());
        let link = out.last().map(AllocationRecord::link);
        out.push(AllocationRecord::append(
            link.as_ref(),
            &s,
            skipped,
            chosen,
            now,
            Duration::days(30),
        ));
    }
    out
}

fn stored(rec: &AllocationRecord) -> StoredRecord {
    StoredRecord {
        line: rec.line.to_string(),
        seq: rec.seq,
        day: rec.day(),
        hash: Some(rec.hash()),
        record: Ok(rec.clone()),
    }
}

fn stretch(records: &[AllocationRecord]) -> ChainStretch {
    ChainStretch {
        line: records[0].line.to_string(),
        before: None,
        records: records.iter().map(stored).collect(),
        head: records.last().map(AllocationRecord::link),
    }
}

fn now() -> DateTime<Utc> {
    t("2024-01-06T00:00:00Z")
}

/// The verdict on `s` is exactly one finding: `problem` at `seq`.
fn only(s: &ChainStretch, seq: u64, problem: Problem) {
    let verdict = verify_stretch(s, now());
    assert_eq!(
        verdict.findings,
        vec![Finding {
            line: s.line.clone(),
            seq,
            problem
        }]
    );
}

#[test]
fn the_canonical_encoding_and_its_hash_are_fixed() {
    let rec = &chain(2)[1];
    let text = String::from_utf8(rec.canonical()).unwrap();
    assert!(text.starts_with("v=25:terminagent/allocation/v1;line=18:bilk#id-card#mon#8;seq=1:2;"));
    assert!(text.contains("reason=11:holds_offer;"));
    // A change of the encoding changes every hash: it needs a new version tag, not an edit.
    assert_eq!(
        rec.hash().to_string(),
        "3ea20328fa971e664091b3365cf25598dea058cd414a96b1e65abf95d097d236"
    );
}

#[test]
fn a_clean_chain_verifies_and_replays() {
    let records = chain(5);
    assert_eq!(records[0].prev, ChainHash::genesis());
    for pair in records.windows(2) {
        assert_eq!(pair[1].prev, pair[0].hash());
        assert_eq!(pair[1].seq, pair[0].seq + 1);
    }
    let verdict = verify_stretch(&stretch(&records), now());
    assert_eq!(verdict, StretchVerdict::default());
}

#[test]
fn an_edited_record_is_found_at_its_position() {
    let records = chain(5);
    let mut s = stretch(&records);
    // The reason changed in the table, the stored hash left as it was.
    if let Ok(rec) = &mut s.records[2].record {
        rec.skipped[0].reason = Skip::DeclinedSlot;
    }
    only(&s, 3, Problem::Edited);
    // Its hash recomputed too: the successor's link gives it away.
    let rehashed = s.records[2].record.as_ref().unwrap().hash();
    s.records[2].hash = Some(rehashed);
    only(&s, 3, Problem::Edited);
}

#[test]
fn a_missing_record_is_found_in_the_middle_and_at_the_end() {
    let records = chain(6);
    let mut s = stretch(&records);
    s.records.remove(2);
    only(&s, 3, Problem::Missing { through: 3 });
    // The last one: only the chain's head knows it was there.
    let mut s = stretch(&records);
    s.records.pop();
    let verdict = verify_stretch(&s, now());
    assert_eq!(verdict.findings[0].seq, 6);
    assert_eq!(verdict.findings[0].problem, Problem::Missing { through: 6 });
}

#[test]
fn records_moved_to_each_other_s_place_are_out_of_order() {
    let records = chain(4);
    let mut s = stretch(&records);
    // Records 2 and 3 exchanged under their keys, each with its own hash.
    let (two, three) = (s.records[1].clone(), s.records[2].clone());
    (s.records[1].record, s.records[1].hash) = (three.record, three.hash);
    (s.records[2].record, s.records[2].hash) = (two.record, two.hash);
    let verdict = verify_stretch(&s, now());
    for seq in [2, 3] {
        assert!(
            verdict
                .findings
                .iter()
                .any(|f| f.seq == seq && matches!(f.problem, Problem::OutOfOrder(_))),
            "{verdict:?}"
        );
    }
}

#[test]
fn an_expired_start_is_not_a_gap_but_an_unexpired_one_is() {
    let records = chain(5);
    let mut s = stretch(&records[2..]);
    // Before the expiry of record 2 the absence of 1 and 2 is a gap …
    let verdict = verify_stretch(&s, now());
    assert_eq!(verdict.findings[0].problem, Problem::Missing { through: 2 });
    // … after it, the chain's start has expired as it should.
    let later = DateTime::from_timestamp(records[1].expires_at, 0).unwrap();
    let verdict = verify_stretch(&s, later);
    assert_eq!(verdict.findings, vec![]);
    assert_eq!(verdict.expired_start, Some(3));
    // The record before the period, when it is still kept, is checked as a link.
    s.before = Some(stored(&records[1]));
    assert_eq!(verify_stretch(&s, now()), StretchVerdict::default());
}

#[test]
fn expiry_never_decreases_along_a_chain() {
    let mut records = chain(1);
    // A slot far ahead, then one near: the second is kept as long as the first.
    let mut far = slot("far");
    far.start = t("2024-03-04T07:30:00Z");
    records[0] = AllocationRecord::append(
        None,
        &far,
        vec![],
        Entry {
            who: pseudonym(1),
            ranked_at: t("2024-01-01T00:00:00Z"),
        },
        t("2024-01-05T10:00:00Z"),
        Duration::days(30),
    );
    let near = AllocationRecord::append(
        Some(&records[0].link()),
        &slot("near"),
        vec![],
        Entry {
            who: pseudonym(2),
            ranked_at: t("2024-01-01T00:00:00Z"),
        },
        t("2024-01-05T09:00:00Z"),
        Duration::days(30),
    );
    assert_eq!(near.expires_at, records[0].expires_at);
    // A clock behind the last record does not put the next one before it.
    assert_eq!(near.at, records[0].at);
}

#[test]
fn an_allocation_the_rule_would_not_make_is_found() {
    let records = chain(3);
    let bad = |edit: &dyn Fn(&mut AllocationRecord)| {
        let mut records = records.clone();
        edit(&mut records[1]);
        // Re-chain honestly after the edit: only the rule can find it now.
        for i in 1..records.len() {
            let link = records[i - 1].link();
            records[i].prev = link.hash;
        }
        verify_stretch(&stretch(&records), now()).findings
    };
    let waiting = bad(&|r| r.skipped[0].reason = Skip::NotWaiting(WishStatus::Waiting));
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].seq, 2);
    assert!(matches!(
        waiting[0].problem,
        Problem::Rule(RuleBreach::Reason { index: 0, .. })
    ));
    let order = bad(&|r| r.skipped[0].ranked_at = t("2024-01-02T00:00:00Z"));
    assert_eq!(
        order[0].problem,
        Problem::Rule(RuleBreach::OutOfQueueOrder { index: 1 })
    );
    let twice = bad(&|r| r.chosen.who = r.skipped[0].who.clone());
    assert_eq!(
        twice[0].problem,
        Problem::Rule(RuleBreach::Twice { index: 1 })
    );
    let unknown = bad(&|r| r.skipped[0].reason = Skip::from_code("felt_like_it"));
    assert!(matches!(
        unknown[0].problem,
        Problem::Rule(RuleBreach::Reason { .. })
    ));
    let earlier = bad(&|r| {
        r.skipped[0].reason = Skip::NotEarlier {
            before: r.slot.start + Duration::hours(1),
        };
    });
    assert!(matches!(
        earlier[0].problem,
        Problem::Rule(RuleBreach::Reason { .. })
    ));
    let line = bad(&|r| r.slot.start += Duration::hours(1));
    assert_eq!(line[0].problem, Problem::Rule(RuleBreach::NotThisLine));
}

#[test]
fn reasons_read_back_exactly_and_unknown_ones_stay_unknown() {
    let all = [
        Skip::HoldsOffer,
        Skip::DeclinedSlot,
        Skip::NotWaiting(WishStatus::Paused),
        Skip::OtherService,
        Skip::OtherOffice,
        Skip::OutsideWindows,
        Skip::NotEarlier {
            before: t("2024-01-08T07:30:00Z"),
        },
        Skip::Gone,
        Skip::DeclinedRun,
        Skip::OtherPartySize,
    ];
    for s in all {
        assert_eq!(Skip::from_code(&s.code()), s);
    }
    assert_eq!(
        Skip::from_code("too_many_persons"),
        Skip::Unknown("too_many_persons".into())
    );
    // Not the exact form: unknown, so that it cannot hash like a known one.
    assert!(matches!(Skip::from_code("holds_offer:"), Skip::Unknown(_)));
    assert!(matches!(
        Skip::from_code("not_waiting:nope"),
        Skip::Unknown(_)
    ));
}

#[test]
fn lines_and_hashes_parse_only_their_own_form() {
    let line = QueueLine::of(&slot("s1"));
    assert_eq!(line.to_string(), "bilk#id-card#mon#8");
    assert_eq!(QueueLine::parse("bilk#id-card#mon#8").unwrap(), line);
    assert!(QueueLine::parse("bilk#id-card#mon#24").is_err());
    assert!(QueueLine::parse("bilk#id-card#mon").is_err());
    assert!(QueueLine::parse("bilk#id-card#mon#8#x").is_err());
    assert!(ChainHash::parse(GENESIS).is_ok());
    assert!(ChainHash::parse("abc").is_err());
    assert!(Pseudonym::parse(&"A".repeat(32)).is_err());
}

// ---- the record and the rule agree -------------------------------------------------------------

prop_compose! {
    /// A wish `n`-th in line that may or may not take [`slot`] — for each of the rule's reasons.
    fn arb_wish(n: usize)(
        status in proptest::sample::select(WishStatus::ALL.to_vec()),
        waiting in proptest::bool::weighted(0.6),
        offer in proptest::bool::weighted(0.2),
        other_service in proptest::bool::weighted(0.1),
        other_office in proptest::bool::weighted(0.1),
        other_window in proptest::bool::weighted(0.1),
        declined in proptest::bool::weighted(0.2),
        held in proptest::option::weighted(0.2, -3i64..3),
    ) -> Wish {
        let s = slot("s1");
        let mut w = wish(n);
        w.status = if waiting { WishStatus::Waiting } else { status };
        if offer { w.open_offer = Some(OfferId::parse("o1").unwrap()); }
        if other_service { w.service = ServiceId::parse("passport").unwrap(); }
        if other_office { w.offices = vec![OfficeId::parse("benrath").unwrap()]; }
        if other_window { w.windows = [Window::new(Weekday::Mon, 9).unwrap()].into(); }
        if declined { w.declined.insert(s.id.clone()); }
        w.earlier = held.map(|h| Holding {
            offer: OfferId::parse("held").unwrap(),
            before: s.start + Duration::hours(h),
            behind: false,
        });
        w
    }
}

fn arb_line() -> impl Strategy<Value = Vec<Option<Wish>>> {
    (1usize..25).prop_flat_map(|n| {
        (0..n)
            .map(|i| proptest::option::weighted(0.9, arb_wish(i)))
            .collect::<Vec<_>>()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn a_reason_is_given_exactly_when_the_rule_refuses(w in arb_wish(0)) {
        let s = slot("s1");
        prop_assert_eq!(why_not(&w, &s).is_none(), is_candidate(&w, &s));
        if let Some(reason) = why_not(&w, &s) {
            let record = AllocationRecord::append(None, &s, vec![Skipped {
                who: pseudonym(0), ranked_at: t("2024-01-01T00:00:00Z"), reason,
            }], Entry { who: pseudonym(1), ranked_at: t("2024-01-01T00:00:00Z") },
            t("2024-01-05T00:00:00Z"), Duration::days(30));
            prop_assert_eq!(record.replay(), Ok(()));
        }
    }

    #[test]
    fn the_record_of_a_pick_names_the_picked_wish_and_replays(line in arb_line()) {
        // `None`: an entry whose wish is gone.
        let s = slot("s1");
        let found: Vec<&Wish> = line.iter().flatten().collect();
        let head: Vec<_> = line.iter().enumerate().map(|(i, w)| (
            pseudonym(i),
            t("2024-01-01T00:00:00Z") + Duration::minutes(i64::try_from(i).unwrap()),
            w.as_ref().map_or(Some(Skip::Gone), |w| why_not(w, &s)),
        )).collect();
        let picked = pick(&s, found).map(|w| w.id.clone());
        let split = split_head(head);
        prop_assert_eq!(picked.is_some(), split.is_some());
        if let Some((skipped, chosen)) = split {
            let index = line.iter().position(|w| w.as_ref().map(|w| &w.id) == picked.as_ref()).unwrap();
            prop_assert_eq!(&chosen.who, &pseudonym(index));
            prop_assert_eq!(skipped.len(), index);
            let record = AllocationRecord::append(None, &s, skipped, chosen,
                t("2024-01-05T00:00:00Z"), Duration::days(30));
            prop_assert_eq!(record.replay(), Ok(()));
        }
    }

    #[test]
    fn dropping_any_record_of_a_chain_is_found(n in 2usize..12, drop in 0usize..12) {
        let records = chain(n);
        let drop = drop % n;
        let mut s = stretch(&records);
        s.records.remove(drop);
        let verdict = verify_stretch(&s, now());
        let seq = records[drop].seq;
        prop_assert!(verdict.findings.iter().any(|f| f.seq == seq && matches!(f.problem, Problem::Missing { .. })),
            "{:?}", verdict);
    }

    #[test]
    fn editing_any_field_of_any_record_is_found(n in 1usize..8, at in 0usize..8, field in 0usize..6) {
        let records = chain(n);
        let at = at % n;
        let mut s = stretch(&records);
        if let Ok(rec) = &mut s.records[at].record {
            match field {
                0 => rec.chosen.who = pseudonym(4242),
                1 => rec.chosen.ranked_at += Duration::milliseconds(1),
                2 => rec.skipped.clear(),
                3 => rec.slot.minutes += 1,
                4 => rec.expires_at += 1,
                _ => rec.slot.id = SlotId::parse("other").unwrap(),
            }
        }
        let verdict = verify_stretch(&s, now());
        prop_assert!(verdict.findings.iter().any(|f| f.seq == records[at].seq && f.problem == Problem::Edited),
            "{:?}", verdict);
    }
}

#[test]
fn a_period_is_a_week_by_default_and_at_most_a_month() {
    let today = NaiveDate::from_ymd_opt(2024, 1, 31).unwrap();
    let p = Period::parse(None, Some(" "), today).unwrap();
    assert_eq!(
        (p.from, p.to),
        (NaiveDate::from_ymd_opt(2024, 1, 25).unwrap(), today)
    );
    assert_eq!(p.days().count(), 7);
    let p = Period::parse(Some("2024-01-01"), Some("2024-01-31"), today).unwrap();
    assert_eq!(p.days().count(), 31);
    let e = Period::parse(Some("2023-12-31"), Some("2024-01-31"), today).unwrap_err();
    assert!(e.contains_key("to"));
    let e = Period::parse(Some("2024-01-05"), Some("2024-01-04"), today).unwrap_err();
    assert!(e.contains_key("to"));
    let e = Period::parse(Some("5.1.2024"), Some("x"), today).unwrap_err();
    assert_eq!(e.len(), 2);
}
