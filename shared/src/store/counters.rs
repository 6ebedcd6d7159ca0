//! Counters outside the transactions: queue lengths, offer outcomes, releases per line.

use super::prelude::*;

impl Store {
    /// Queue-length counters for the clerks' statistics. Updated outside the transactions on
    /// purpose: a shared counter inside every transaction would make concurrent offers conflict.
    /// A crash between the two loses one count; the statistics are approximate by design.
    pub(super) async fn bump_waiting(&self, wish: &Wish, delta: i64) {
        for office in &wish.offices {
            let key = key(STATS.into(), &keys::queue_counter_sk(office, &wish.service));
            let v = Values::new()
                .with(":delta", n(delta))
                .with(":office", s(office.as_ref()))
                .with(":service", s(wish.service.as_ref()));
            let update = writes::update(&self.wishes, key, Write::QueueCounted, &v);
            self.count(update, "queue length").await;
        }
    }

    /// Counts one slot entering a line, for the wish page's rough expected wait
    /// ([`crate::domain::wait`]). Like the queue counters it stays outside every transaction and
    /// off the offer path: one `UpdateItem` per released slot, made by slot-release; a failure is
    /// only logged. A stream record delivered twice counts twice; the figure is an estimate.
    ///
    /// The line's item keeps one counter per day. The write returns the item, and when it still
    /// holds days that have left the window (the first release of a day, at most) a second
    /// `UpdateItem` removes them, so the item never holds more than the window's days; a line
    /// without releases for longer than the window expires through TTL.
    pub async fn count_release(
        &self,
        office: &OfficeId,
        service: &ServiceId,
        window: Window,
        now: DateTime<Utc>,
    ) {
        let sk = released_sk(office, service, window);
        let expires = now + Duration::days(i64::from(wait::RELEASE_WINDOW_DAYS) + 1);
        let v = Values::new()
            .name("#day", &wait::release_bucket(now))
            .with(":expires", n(epoch(expires)));
        let counted = self
            .apply(
                Write::ReleaseCounted,
                key(STATS.into(), &sk),
                &v,
                "count_release",
            )
            .await;
        let item = match counted {
            Ok(after) => after.unwrap_or_default(),
            Err(e) => {
                tracing::warn!(error = %e, "release not counted");
                return;
            }
        };
        let stale = wait::stale_buckets(item.keys().map(String::as_str), now);
        if stale.is_empty() {
            return;
        }
        let mut v = Values::new();
        let mut placeholders = Vec::new();
        for (i, bucket) in stale.iter().enumerate() {
            placeholders.push(format!("#old{i}"));
            v = v.name(&format!("#old{i}"), bucket);
        }
        let expression = format!("REMOVE {}", placeholders.join(", "));
        let update =
            writes::expression_update(&self.wishes, key(STATS.into(), &sk), &expression, None, &v);
        self.count(update, "old release counters").await;
    }

    /// For each of `lines` (of one service), how many slots entered it in the window at `now`
    /// ([`Store::count_release`]); 0 for a line without any. One `BatchGetItem` for up to 100
    /// lines.
    pub async fn releases_in_lines(
        &self,
        service: &ServiceId,
        lines: &[(OfficeId, Window)],
        now: DateTime<Utc>,
    ) -> Result<Vec<u64>, StoreError> {
        let mut counts: HashMap<String, u64> = HashMap::new();
        let mut wanted: Vec<String> = Vec::new();
        for (office, window) in lines {
            let sk = released_sk(office, service, *window);
            if !wanted.contains(&sk) {
                wanted.push(sk);
            }
        }
        for chunk in wanted.chunks(100) {
            let keys = chunk.iter().map(|sk| key(STATS.into(), sk)).collect();
            for item in self.batch_get(keys, false).await? {
                let Some(sk) = item.get("sk").and_then(|v| v.as_s().ok()) else {
                    continue;
                };
                let buckets = item.iter().filter_map(|(name, v)| {
                    let n = v.as_n().ok()?.parse::<u64>().ok()?;
                    Some((name.as_str(), n))
                });
                counts.insert(sk.clone(), wait::releases_in_window(buckets, now));
            }
        }
        Ok(lines
            .iter()
            .map(|(office, window)| {
                counts
                    .get(&released_sk(office, service, *window))
                    .copied()
                    .unwrap_or(0)
            })
            .collect())
    }

    pub(super) async fn bump_offer_counter(&self, field: &str) {
        let v = Values::new().name("#field", field);
        let key = key(STATS.into(), OFFER_COUNTERS_SK);
        let update = writes::update(&self.wishes, key, Write::OfferCounted, &v);
        self.count(update, "offer answer").await;
    }

    /// One more address suppressed after SES reported it.
    pub async fn count_suppressed(&self) {
        self.bump_offer_counter(keys::SUPPRESSED_COUNTER).await;
    }

    pub async fn stats(&self) -> Result<Stats, StoreError> {
        // `OFFERS` and `QUEUE#…` sort before `RELEASED#…`: the release counters (one item per
        // line, many) are not read here.
        let values = Values::default()
            .with(":pk", s(STATS))
            .with(":released", s(RELEASED_PREFIX));
        let lookup = Lookup::new("pk = :pk AND sk < :released", values);
        let out = self.query(Table::Wishes, lookup, "stats").await?;
        let mut queues = Vec::new();
        let mut counts: HashMap<String, u64> = HashMap::new();
        for item in out.items.unwrap_or_default() {
            let num = |k: &str| {
                item.get(k)
                    .and_then(|v| v.as_n().ok())
                    .and_then(|v| v.parse::<i64>().ok())
                    .unwrap_or(0)
            };
            let text = |k: &str| {
                item.get(k)
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default()
            };
            let sk = text("sk");
            if sk == "OFFERS" {
                for f in [
                    "accepted",
                    "declined",
                    "expired",
                    keys::MAILS_FAILED_COUNTER,
                    keys::SUPPRESSED_COUNTER,
                ] {
                    counts.insert(f.into(), u64::try_from(num(f)).unwrap_or(0));
                }
            } else if sk.starts_with("QUEUE#") {
                queues.push(QueueStat {
                    office: text("office"),
                    service: text("service"),
                    waiting: num("waiting").max(0),
                });
            }
        }
        let lookup = Lookup {
            index: Some(keys::GSI),
            count: true,
            ..Lookup::new(
                "gsi1pk = :pk",
                Values::default().with(":pk", s(OPEN_OFFERS)),
            )
        };
        let open = self.query(Table::Wishes, lookup, "stats").await?;
        let get = |k: &str| counts.get(k).copied().unwrap_or(0);
        let answered = get("accepted") + get("declined") + get("expired");
        #[allow(clippy::cast_precision_loss)]
        let rate = (answered > 0).then(|| get("accepted") as f64 / answered as f64);
        Ok(Stats {
            queues,
            offers_open: u64::try_from(open.count).unwrap_or(0),
            offers_accepted: get("accepted"),
            offers_declined: get("declined"),
            offers_expired: get("expired"),
            acceptance_rate: rate,
            mails_failed: get(keys::MAILS_FAILED_COUNTER),
            addresses_suppressed: get(keys::SUPPRESSED_COUNTER),
        })
    }
}
