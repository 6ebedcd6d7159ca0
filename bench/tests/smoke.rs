//! The benchmark's `--quick` run as a test: every phase runs against the real emulators and the
//! figures it reports make sense (the full run is `cargo run --profile perf -p bench -- full`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bench::{Options, report};
use local_runner::emulators::{Emulators, default_log_dir};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quick_benchmark_run_measures_every_phase_and_the_invariants_hold() {
    let emulators = Emulators::start(&default_log_dir())
        .await
        .expect("emulators start (run scripts/bootstrap.sh and source .local/env.sh)");
    let results = Box::pin(bench::run(&Options::quick(), &emulators)).await;
    emulators.stop().await;
    let results = results.unwrap();

    let submit = results.submit.as_ref().unwrap();
    assert_eq!(submit.failed, 0, "every submission answered 202");
    assert!(submit.wishes_per_sec > 0.0 && submit.put_per_sec > 0.0);
    assert!(submit.submit.dynamodb_requests >= 2.0);
    assert!(submit.confirm.wcu > 0.0 && submit.answer.wcu > 0.0);

    let depth = results.depth.as_ref().unwrap();
    assert_eq!(depth.levels.len(), 3);
    for level in &depth.levels {
        assert_eq!(level.samples, 8);
        assert_eq!(
            level.same_head + level.runs,
            level.samples,
            "match_slot offers the head of the line, or a run to a family confirmed before it"
        );
        // The floor is exactly one Query and one TransactWriteItems.
        assert!((level.floor.dynamodb_requests - 2.0).abs() < 1e-9);
        // Ours: the floor — the head of the line and the offer transaction (the mail and the
        // event are deliver-outbox's) — and where families wait in the hour, the free slots
        // after the slot and the heads of the lines of the two party sizes its runs serve.
        assert!(
            (2.0..=5.0).contains(&level.ours.dynamodb_requests),
            "requests per offer: {}",
            level.ours.dynamodb_requests
        );
        assert!(
            level.ours.rcu > 0.0 && level.ours.wcu > 0.0,
            "capacity is reported"
        );
        assert!(level.floor.wcu > 0.0);
    }
    // The wish page near the head and far back in one line (its places were checked against a
    // count of the entries ahead while measuring).
    let page = depth.wish_page.as_ref().unwrap();
    assert!(
        page.near.place >= 10 && page.far.place >= 10_000,
        "{page:?}"
    );
    assert!(page.near.rcu > 0.0 && page.far.rcu > 0.0 && page.far.count_rcu > 0.0);
    // Requests per offer do not grow with the queue.
    let ratios = report::depth_ratios(&depth.levels).unwrap();
    assert!(ratios[0] < 1.1, "requests grew with depth: {ratios:?}");

    let storm = results.storm.as_ref().unwrap();
    assert!(storm.invariants.ok, "{:?}", storm.invariants);
    assert!(storm.offers > 0 && storm.offers_per_sec > 0.0);
    assert_eq!(storm.offers, storm.invariants.open_offers);

    let md = report::markdown(&results);
    for heading in [
        "Cost per offer",
        "Wish page against the place in line",
        "Release storm",
        "Submissions",
        "Functions",
        "The bill",
    ] {
        assert!(md.contains(heading), "no {heading} in the report");
    }
    let svg = std::env::temp_dir().join(format!("bench-smoke-{}.svg", std::process::id()));
    report::svg(&results, &svg).unwrap();
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
    let _ = std::fs::remove_file(svg);
}
