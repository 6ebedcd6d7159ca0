//! Model-based test: random sequences of operations run against the real system and against a
//! small in-memory reference model of DESIGN.md's rules — submitting, confirming, releasing,
//! answering, cancelling, deadlines passing, a booked appointment given back or kept while
//! looking for an earlier one, and families (wishes for two or three persons, offered a slot for
//! enough persons or a run of back-to-back slots). After every step the wishes' and slots'
//! states and the number of mails each citizen got must agree.

use crate::helpers::{TestEnv, next_local, page_link};
use chrono::Weekday;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::json;
use shared::domain::{SlotId, SlotStatus, WishId, WishStatus};

const SEQUENCES: u64 = 6;
const STEPS: usize = 30;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Win {
    Mon,
    Tue,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum MStatus {
    Pending,
    Waiting,
    /// Holding an open offer of these slots (one, or a family's run, the first first).
    Offered(Vec<usize>),
    Paused,
    Fulfilled,
    Cancelled,
    Gone,
}

struct MWish {
    email: String,
    windows: Vec<Win>,
    status: MStatus,
    order: usize,
    declined: Vec<usize>,
    unanswered: u8,
    mails: usize,
    created_hours: i64,
    id: Option<WishId>,
    /// The slots of its booked appointment (fulfilled, or looking for an earlier one).
    booked: Option<Vec<usize>>,
    persons: u8,
    /// Looking for an appointment earlier than `booked`.
    looking: bool,
    /// Cancelled before it was confirmed: its data goes with the pending wish's retention.
    cancelled_pending: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum SStatus {
    Free,
    Offered(usize),
    Booked(usize),
}

struct MSlot {
    win: Win,
    start_key: String,
    /// When the next slot must start to be back to back with this one.
    end_key: String,
    persons: u8,
    status: SStatus,
}

#[derive(Default)]
struct Model {
    wishes: Vec<MWish>,
    slots: Vec<MSlot>,
    hours: i64,
    next_order: usize,
    /// Offers of a family's run (two slots or more) made so far.
    runs: usize,
}

impl Model {
    /// The run for `persons` from the free slot `s`: `s` alone when it serves them, else `s` and
    /// the free slots back to back after it until their persons reach the party.
    fn run_from(&self, s: usize, persons: u8) -> Option<Vec<usize>> {
        let mut run = vec![s];
        let mut served = self.slots[s].persons;
        while served < persons {
            let end = &self.slots[*run.last()?].end_key;
            let next = (0..self.slots.len()).find(|t| {
                self.slots[*t].status == SStatus::Free
                    && self.slots[*t].start_key == *end
                    && !run.contains(t)
            })?;
            served += self.slots[next].persons;
            run.push(next);
        }
        Some(run)
    }

    /// Offers slot `s` (alone, or as the start of a family's run) to the first waiting wish in
    /// confirmation order that fits, if it is free.
    fn match_slot(&mut self, s: usize) {
        if self.slots[s].status != SStatus::Free {
            return;
        }
        let win = self.slots[s].win;
        let candidate = self
            .wishes
            .iter()
            .enumerate()
            .filter(|(_, w)| {
                w.status == MStatus::Waiting
                    && w.windows.contains(&win)
                    && (!w.looking
                        || w.booked
                            .as_ref()
                            .is_some_and(|b| self.slots[s].start_key < self.slots[b[0]].start_key))
            })
            .filter_map(|(i, w)| {
                let run = self.run_from(s, w.persons)?;
                (!run.iter().any(|r| w.declined.contains(r))).then_some((i, w.order, run))
            })
            .min_by_key(|(_, order, _)| *order);
        if let Some((i, _, run)) = candidate {
            self.runs += usize::from(run.len() > 1);
            for r in &run {
                self.slots[*r].status = SStatus::Offered(i);
            }
            self.wishes[i].status = MStatus::Offered(run);
            self.wishes[i].mails += 1;
        }
    }

    /// The slots of a run are free again and go on, each as a released slot, in run order.
    fn free(&mut self, run: &[usize]) {
        for r in run {
            self.slots[*r].status = SStatus::Free;
        }
        for r in run {
            self.match_slot(*r);
        }
    }

    /// The rescan: free slots in start order.
    fn match_free_slots(&mut self) {
        let mut free: Vec<usize> = (0..self.slots.len())
            .filter(|s| self.slots[*s].status == SStatus::Free)
            .collect();
        free.sort_by(|a, b| self.slots[*a].start_key.cmp(&self.slots[*b].start_key));
        for s in free {
            self.match_slot(s);
        }
    }
}

fn windows_json(windows: &[Win]) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for w in windows {
        m.insert(
            if *w == Win::Mon { "mon" } else { "tue" }.into(),
            json!([8]),
        );
    }
    serde_json::Value::Object(m)
}

async fn wish_link(env: &TestEnv, email: &str) -> String {
    page_link(&env.mails_to(email).await[0], "/w/")
}

/// The page of the appointment the wish holds now: the newest mail's that links one.
async fn appointment_link(env: &TestEnv, email: &str) -> String {
    let mails = env.mails_to(email).await;
    mails
        .iter()
        .rev()
        .find_map(|m| {
            m.links
                .iter()
                .any(|l| l.contains("/a/"))
                .then(|| page_link(m, "/a/"))
        })
        .unwrap()
}

async fn offer_link(env: &TestEnv, email: &str) -> String {
    let mails = env.mails_to(email).await;
    let offer = mails
        .iter()
        .rev()
        .find(|m| m.subject.starts_with("Terminangebot"))
        .unwrap();
    page_link(offer, "/o/")
}

/// Runs one random sequence; returns how many runs were offered to families in it.
#[allow(clippy::too_many_lines)]
async fn run_sequence(seed: u64) -> usize {
    let env = TestEnv::spawn().await;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut m = Model::default();
    let mut trace = Vec::new();
    for step in 0..STEPS {
        // Start with a queue: several wishes submitted and confirmed, so that slots have several
        // candidates and the order matters.
        let op = match step {
            0..=3 => 0,
            4..=7 => 15,
            _ => rng.random_range(0..100),
        };
        match op {
            0..=14 => {
                let windows = [vec![Win::Mon], vec![Win::Tue], vec![Win::Mon, Win::Tue]]
                    [rng.random_range(0..3)]
                .clone();
                let email = env.email(&format!("s{seed}w{}", m.wishes.len()));
                let persons = [1, 1, 2, 3][rng.random_range(0..4)];
                trace.push(format!(
                    "submit {} {windows:?} for {persons}",
                    m.wishes.len()
                ));
                let request: shared::http::WishRequest = serde_json::from_value(json!({"email": email, "service": "id-card", "offices": ["bilk"], "windows": windows_json(&windows), "persons": persons})).unwrap();
                let wish = shared::app::submit_wish(&env.system.deps, &request.draft(), None, None)
                    .await
                    .unwrap()
                    .wish;
                m.wishes.push(MWish {
                    email,
                    windows,
                    status: MStatus::Pending,
                    order: usize::MAX,
                    declined: vec![],
                    unanswered: 0,
                    mails: 1,
                    created_hours: m.hours,
                    id: Some(wish.id),
                    booked: None,
                    persons,
                    looking: false,
                    cancelled_pending: false,
                });
            }
            15..=29 if !m.wishes.is_empty() => {
                let i = if step < 8 {
                    step - 4
                } else {
                    rng.random_range(0..m.wishes.len())
                };
                trace.push(format!("confirm {i}"));
                let link = wish_link(&env, &m.wishes[i].email).await;
                let status = env.click(&format!("{link}/confirm")).await.0;
                let w = &mut m.wishes[i];
                match w.status {
                    MStatus::Pending if m.hours - w.created_hours < 24 => {
                        w.status = MStatus::Waiting;
                        w.order = m.next_order;
                        m.next_order += 1;
                        w.mails += 1;
                    }
                    MStatus::Pending | MStatus::Gone => {
                        w.status = MStatus::Gone;
                        assert_eq!(status, 404, "seed {seed}: {trace:?}");
                    }
                    MStatus::Paused => {
                        w.status = MStatus::Waiting;
                        w.unanswered = 0;
                        w.mails += 1;
                    }
                    _ => {}
                }
            }
            30..=49 => {
                let win = if rng.random_bool(0.5) {
                    Win::Mon
                } else {
                    Win::Tue
                };
                let day = if win == Win::Mon {
                    Weekday::Mon
                } else {
                    Weekday::Tue
                };
                // Some weeks ahead, in any order: a later release may be an earlier slot (what
                // a wish looking for an earlier appointment waits for). Half of the releases
                // are two back-to-back slots (for one or two persons each): runs for families.
                // The later one is released first, then the one before it, whose run it ends.
                let weeks = 20 + 7 * rng.random_range(0..4);
                let minute = u32::try_from(m.slots.len() % 60).unwrap();
                let pair = rng.random_bool(0.5);
                let mut starts = vec![next_local(day, 8, minute, weeks)];
                if pair {
                    let second =
                        crate::helpers::parse_time(&starts[0]) + chrono::Duration::minutes(15);
                    starts.insert(0, second.to_rfc3339());
                }
                for start in starts {
                    let s = m.slots.len();
                    let persons: u8 = if rng.random_bool(0.25) { 2 } else { 1 };
                    trace.push(format!("release slot {s} {win:?} for {persons}"));
                    let slot = json!([{"id": format!("m{s}"), "office": "bilk", "service": "id-card", "start": start, "minutes": 15, "status": "free", "persons": persons}]);
                    assert_eq!(
                        env.put_slots(&slot).await,
                        ["created"],
                        "seed {seed}: {trace:?}"
                    );
                    env.settle().await;
                    let at = crate::helpers::parse_time(&start);
                    m.slots.push(MSlot {
                        win,
                        start_key: shared::domain::time::rfc3339(at),
                        end_key: shared::domain::time::rfc3339(at + chrono::Duration::minutes(15)),
                        persons,
                        status: SStatus::Free,
                    });
                    m.match_slot(s);
                }
            }
            50..=72 => {
                let offered: Vec<usize> = (0..m.wishes.len())
                    .filter(|i| matches!(m.wishes[*i].status, MStatus::Offered(_)))
                    .collect();
                if offered.is_empty() {
                    continue;
                }
                let i = offered[rng.random_range(0..offered.len())];
                let MStatus::Offered(run) = m.wishes[i].status.clone() else {
                    unreachable!()
                };
                let action = ["accept", "accept", "decline", "cancel"][rng.random_range(0..4)];
                trace.push(format!("{action} {i} (slots {run:?})"));
                let link = offer_link(&env, &m.wishes[i].email).await;
                assert_eq!(env.click(&format!("{link}/{action}")).await.0, 200);
                let w = &mut m.wishes[i];
                w.mails += 1;
                match action {
                    "accept" => {
                        w.status = MStatus::Fulfilled;
                        for r in &run {
                            m.slots[*r].status = SStatus::Booked(i);
                        }
                        // A wish looking for an earlier one swaps: its old slots go on.
                        let old = w.booked.replace(run).filter(|_| w.looking);
                        w.looking = false;
                        if let Some(old) = old {
                            m.free(&old);
                        }
                    }
                    // Cancelling while looking for an earlier one only stops the search.
                    "cancel" if w.looking => {
                        w.status = MStatus::Fulfilled;
                        w.looking = false;
                        m.free(&run);
                    }
                    "decline" => {
                        w.status = MStatus::Waiting;
                        w.declined.extend(&run);
                        w.unanswered = 0;
                        m.free(&run);
                    }
                    _ => {
                        w.status = MStatus::Cancelled;
                        m.free(&run);
                    }
                }
            }
            73..=84 => {
                // A booked appointment: given back, or kept while looking for an earlier one.
                let booked: Vec<usize> = (0..m.wishes.len())
                    .filter(|i| m.wishes[*i].booked.is_some())
                    .collect();
                if booked.is_empty() {
                    continue;
                }
                let i = booked[rng.random_range(0..booked.len())];
                let held = m.wishes[i].booked.clone().unwrap();
                let give_back = rng.random_bool(0.3);
                trace.push(format!(
                    "{} {i} (slots {held:?})",
                    if give_back { "give back" } else { "earlier" }
                ));
                let link = appointment_link(&env, &m.wishes[i].email).await;
                let action = if give_back { "return" } else { "earlier" };
                assert_eq!(env.click(&format!("{link}/{action}")).await.0, 200);
                let w = &mut m.wishes[i];
                if give_back {
                    // The search for an earlier one ends with it (an open offer withdrawn).
                    w.mails += 1;
                    w.booked = None;
                    let offered = match &w.status {
                        MStatus::Offered(open) => Some(open.clone()),
                        _ => None,
                    };
                    if w.looking {
                        w.status = MStatus::Fulfilled;
                        w.looking = false;
                    }
                    m.free(&held);
                    if let Some(open) = offered {
                        m.free(&open);
                    }
                } else if !w.looking {
                    w.mails += 1;
                    w.looking = true;
                    w.status = MStatus::Waiting;
                    w.unanswered = 0;
                }
            }
            85..=89 if !m.wishes.is_empty() => {
                let i = rng.random_range(0..m.wishes.len());
                trace.push(format!("cancel wish {i}"));
                let link = wish_link(&env, &m.wishes[i].email).await;
                env.click(&format!("{link}/cancel")).await;
                let w = &mut m.wishes[i];
                if w.looking {
                    // Only the search stops; the appointment stays.
                    if matches!(
                        w.status,
                        MStatus::Waiting | MStatus::Offered(_) | MStatus::Paused
                    ) {
                        w.mails += 1;
                        if let MStatus::Offered(run) = w.status.clone() {
                            w.status = MStatus::Fulfilled;
                            w.looking = false;
                            m.free(&run);
                        } else {
                            w.status = MStatus::Fulfilled;
                            w.looking = false;
                        }
                    }
                    env.settle().await;
                    compare(&env, &m, seed, step, &trace).await;
                    continue;
                }
                match w.status.clone() {
                    MStatus::Pending if m.hours - w.created_hours < 24 => {
                        w.status = MStatus::Cancelled;
                        w.cancelled_pending = true;
                        w.mails += 1;
                    }
                    MStatus::Waiting | MStatus::Paused => {
                        w.status = MStatus::Cancelled;
                        w.mails += 1;
                    }
                    MStatus::Offered(run) => {
                        w.status = MStatus::Cancelled;
                        w.mails += 1;
                        m.free(&run);
                    }
                    MStatus::Pending => w.status = MStatus::Gone,
                    _ => {}
                }
            }
            _ => {
                // Two days pass without answers (an offer's 24 hours count waking time only,
                // 42 real hours at most with the default quiet hours); the schedule runs.
                trace.push("two days pass, rescan".into());
                env.system.deps.clock.advance(48 * 60);
                m.hours += 48;
                env.system.rescan().await.unwrap();
                for i in 0..m.wishes.len() {
                    if let MStatus::Offered(run) = m.wishes[i].status.clone() {
                        let w = &mut m.wishes[i];
                        w.declined.extend(&run);
                        w.unanswered += 1;
                        w.mails += 1;
                        w.status = if w.unanswered >= 3 {
                            MStatus::Paused
                        } else {
                            MStatus::Waiting
                        };
                        for r in run {
                            m.slots[r].status = SStatus::Free;
                        }
                    }
                    let w = &m.wishes[i];
                    if (w.status == MStatus::Pending
                        || w.status == MStatus::Cancelled && w.cancelled_pending)
                        && m.hours - w.created_hours >= 24
                    {
                        m.wishes[i].status = MStatus::Gone;
                    }
                }
                m.match_free_slots();
            }
        }
        env.settle().await;
        // A wish that became waiting is matched only by the next rescan, as in AWS.
        compare(&env, &m, seed, step, &trace).await;
    }
    m.runs
}

/// The model's slot `s` as the store has it.
async fn real_slot(env: &TestEnv, s: usize) -> shared::domain::Slot {
    env.system
        .deps
        .store
        .get_slot(&SlotId::parse(&format!("m{s}")).unwrap())
        .await
        .unwrap()
        .unwrap()
}

async fn compare(env: &TestEnv, m: &Model, seed: u64, step: usize, trace: &[String]) {
    let now = env.system.deps.clock.now();
    for (i, w) in m.wishes.iter().enumerate() {
        let real = env
            .system
            .deps
            .store
            .get_wish(w.id.as_ref().unwrap(), now)
            .await
            .unwrap();
        let expected = match &w.status {
            MStatus::Pending => Some(WishStatus::Pending),
            MStatus::Waiting => Some(WishStatus::Waiting),
            MStatus::Offered(_) => Some(WishStatus::Offered),
            MStatus::Paused => Some(WishStatus::Paused),
            MStatus::Fulfilled => Some(WishStatus::Fulfilled),
            MStatus::Cancelled => Some(WishStatus::Cancelled),
            MStatus::Gone => None,
        };
        assert_eq!(
            real.as_ref().map(|r| r.status),
            expected,
            "seed {seed} step {step} wish {i}: {trace:#?}"
        );
        assert_eq!(
            env.mails_to(&w.email).await.len(),
            w.mails,
            "seed {seed} step {step} mails of wish {i}: {trace:#?}"
        );
        if let (MStatus::Offered(run), Some(real)) = (&w.status, &real) {
            for s in run {
                let slot = real_slot(env, *s).await;
                assert_eq!(
                    slot.offer, real.open_offer,
                    "seed {seed} step {step}: wish {i} holds slot {s}: {trace:#?}"
                );
            }
        }
    }
    for (s, slot) in m.slots.iter().enumerate() {
        let real = real_slot(env, s).await;
        let expected = match slot.status {
            SStatus::Free => SlotStatus::Free,
            SStatus::Offered(_) => SlotStatus::Offered,
            SStatus::Booked(_) => SlotStatus::Booked,
        };
        assert_eq!(
            real.status, expected,
            "seed {seed} step {step} slot {s}: {trace:#?}"
        );
        if let SStatus::Booked(i) = slot.status {
            assert_eq!(
                real.wish.as_ref(),
                m.wishes[i].id.as_ref(),
                "seed {seed} step {step} slot {s} booked by wish {i}"
            );
        }
    }
    // Whatever the steps (confirm, offers and answers, cancels, repeats), every line's counts
    // hold exactly its entries: the wish page's places are right.
    crate::helpers::assert_line_counts_match_entries(env).await;
}

#[tokio::test]
async fn random_operation_sequences_agree_with_the_reference_model() {
    let mut runs = 0;
    for seed in 0..SEQUENCES {
        runs += Box::pin(run_sequence(seed)).await;
    }
    assert!(runs > 0, "the sequences offered families runs of slots");
    println!("{SEQUENCES} sequences × {STEPS} steps agreed with the model ({runs} runs offered)");
}
