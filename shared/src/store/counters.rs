//! Counters outside the transactions: queue lengths, offer outcomes, releases per line.

use super::prelude::*;

impl Store {
    /// Queue-length counters for the clerks' statistics. Updated outside the transactions on
    /// purpose: a shared counter inside every transaction would make concurrent offers conflict.
    /// A crash between the two loses one count; the statistics are approximate by design.
    ///
    /// The same `UpdateItem` (one per office, as before) counts the wish in each of its lines at
    /// that office (`lines`: their partition keys), an attribute per weekday and hour
    /// (`h_mon_8`): the console's demand heat map reads these, never the lines themselves.
    pub(super) async fn bump_waiting(&self, wish: &Wish, delta: i64, lines: &[String]) {
        for office in &wish.offices {
            let key = key(STATS.into(), &keys::queue_counter_sk(office, &wish.service));
            let mut v = Values::new()
                .with(":delta", n(delta))
                .with(":office", s(office.as_ref()))
                .with(":service", s(wish.service.as_ref()));
            let mut adds = vec!["waiting :delta".to_owned()];
            for (i, attr) in lines
                .iter()
                .filter_map(|pk| keys::heat_attribute_of_line(pk, office, &wish.service))
                .enumerate()
            {
                v = v.name(&format!("#h{i}"), &attr);
                adds.push(format!("#h{i} :delta"));
            }
            let expression = format!(
                "ADD {} SET office = :office, service = :service",
                adds.join(", ")
            );
            let update = writes::expression_update(&self.wishes, key, &expression, None, &v);
            self.count(update, "queue length").await;
        }
    }

    /// Counts an offer's outcome (accepted, declined, expired) for its office and service, one
    /// number per UTC day, for the console's last 28 days. Like every counter here: outside the
    /// answer's transaction, after it, never on the offer path (`match_slot`).
    pub(super) async fn count_outcome(
        &self,
        offer: &Offer,
        outcome: OfferStatus,
        now: DateTime<Utc>,
    ) {
        let sk = keys::answers_sk(&offer.office, &offer.service, outcome.as_str());
        self.count_in_window(&sk, now, "outcome").await;
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
        self.count_in_window(&sk, now, "release").await;
    }

    /// One more in today's counter of the day-bucketed item `STATS`/`sk`, its TTL a day past
    /// the window; the days that left the window are removed (see [`Store::count_release`]).
    /// Failures are only logged.
    async fn count_in_window(&self, sk: &str, now: DateTime<Utc>, what: &'static str) {
        let expires = now + Duration::days(i64::from(wait::RELEASE_WINDOW_DAYS) + 1);
        let v = Values::new()
            .name("#day", &wait::release_bucket(now))
            .with(":expires", n(epoch(expires)));
        let counted = self
            .apply(
                Write::ReleaseCounted,
                key(STATS.into(), sk),
                &v,
                "count_release",
            )
            .await;
        let item = match counted {
            Ok(after) => after.unwrap_or_default(),
            Err(e) => {
                tracing::warn!(error = %e, what, "not counted");
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
            writes::expression_update(&self.wishes, key(STATS.into(), sk), &expression, None, &v);
        self.count(update, "old day counters").await;
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

impl Store {
    /// The console's overview at `now`: the queue counters (with their hours), the offers'
    /// outcome counters (`TALLY#…`) and the open offers. Two queries of the `STATS` partition and
    /// one of the open offers' index: the cost grows with offices × services and open offers,
    /// never with the wishes waiting.
    pub async fn overview(&self, now: DateTime<Utc>) -> Result<Overview, StoreError> {
        let mut overview = Overview::default();
        for item in self.stats_items(keys::QUEUE_COUNTER_PREFIX).await? {
            let (Some(office), Some(service)) = (text(&item, "office"), text(&item, "service"))
            else {
                continue;
            };
            overview.group(&office, &service).waiting = number(&item, "waiting").max(0);
            let heat = overview.heat.entry(office).or_default();
            for (name, value) in &item {
                let Some((day, hour)) = name
                    .strip_prefix(keys::HEAT_PREFIX)
                    .and_then(|rest| rest.split_once('_'))
                else {
                    continue;
                };
                let (Some(day), Ok(hour)) = (crate::domain::Weekday::parse(day), hour.parse())
                else {
                    continue;
                };
                let count = value.as_n().ok().and_then(|v| v.parse::<i64>().ok());
                *heat.entry((day, hour)).or_default() += count.unwrap_or(0).max(0);
            }
        }
        for item in self.stats_items(keys::ANSWERS_PREFIX).await? {
            let Some(sk) = text(&item, "sk") else {
                continue;
            };
            let mut parts = sk.trim_start_matches(keys::ANSWERS_PREFIX).split('#');
            let (Some(office), Some(service), Some(outcome)) =
                (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let buckets = item
                .iter()
                .filter_map(|(name, v)| Some((name.as_str(), v.as_n().ok()?.parse::<u64>().ok()?)));
            let count = wait::releases_in_window(buckets, now);
            let group = overview.group(office, service);
            match outcome {
                "accepted" => group.accepted_28d = count,
                "declined" => group.declined_28d = count,
                "expired" => group.expired_28d = count,
                _ => {}
            }
        }
        let mut start = None;
        loop {
            let lookup = Lookup {
                index: Some(keys::GSI),
                start,
                ..Lookup::new(
                    "gsi1pk = :pk",
                    Values::default().with(":pk", s(OPEN_OFFERS)),
                )
            };
            let out = self.query(Table::Wishes, lookup, "overview").await?;
            for item in out.items.unwrap_or_default() {
                if let (Some(office), Some(service)) =
                    (text(&item, "office"), text(&item, "service"))
                {
                    overview.group(&office, &service).offers_open += 1;
                }
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        overview
            .groups
            .sort_by(|a, b| (&a.office, &a.service).cmp(&(&b.office, &b.service)));
        Ok(overview)
    }

    /// Every item of the `STATS` partition whose sort key begins with `prefix`.
    async fn stats_items(&self, prefix: &str) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let values = Values::default()
                .with(":pk", s(STATS))
                .with(":prefix", s(prefix));
            let lookup = Lookup {
                start,
                ..Lookup::new("pk = :pk AND begins_with(sk, :prefix)", values)
            };
            let out = self.query(Table::Wishes, lookup, "overview").await?;
            items.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }
}

fn text(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

fn number(item: &Item, name: &str) -> i64 {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
