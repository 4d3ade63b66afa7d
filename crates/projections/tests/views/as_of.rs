//! As-of rebuilds: by position and by time they equal the fold of the history's prefix; the
//! progress callback reports the count; live, rebuilt and restored views serialise alike.

use fundledger_domain::{Event, Money, Period, Policy, ProvincialIncomeKind};
use fundledger_projections::{AsOf, EventMeta, PROGRESS_EVERY_EVENTS, Views, rebuild};

use crate::support::beijing;
use crate::worked::two_months;

fn fold_prefix(policy: &Policy, records: &[(EventMeta, Event)]) -> Views {
    let mut views = Views::new(policy);
    for (meta, event) in records {
        views.apply(meta, event);
    }
    views
}

#[test]
fn as_of_position_is_the_prefix_up_to_that_position() {
    let log = two_months();
    let n = log.records.len() as u64;
    for cut in [0, 1, 7, n / 2, n - 1, n, n + 10] {
        let views = rebuild(log.policy(), log.records.clone(), AsOf::Position(cut), |_| {});
        let prefix = &log.records[..cut.min(n) as usize];
        assert_eq!(views, fold_prefix(log.policy(), prefix), "as of position {cut}");
        assert_eq!(views.events_applied(), cut.min(n));
    }
}

#[test]
fn as_of_time_includes_everything_recorded_at_or_before_it() {
    let log = two_months();
    // Before February's first event: exactly January's events and its closes.
    let cut = beijing(2024, 2, 4) - 1;
    let expected = log.records.iter().take_while(|(m, _)| m.recorded_at_micros <= cut).count();
    assert!(expected > 0 && expected < log.records.len());
    let views = rebuild(log.policy(), log.records.clone(), AsOf::Time(cut), |_| {});
    assert_eq!(views, fold_prefix(log.policy(), &log.records[..expected]));
    // At the exact time of a record, that record is in.
    let t = log.records[10].0.recorded_at_micros;
    let at = rebuild(log.policy(), log.records.clone(), AsOf::Time(t), |_| {});
    assert_eq!(at.last_position(), Some(11));
    // The views of the prefix differ from the head's: February's flows are missing.
    let head = log.views();
    assert_ne!(views, head);
    assert_eq!(views.provincial().pooled_balance(), fundledger_domain::Money::yuan(86_000));
}

#[test]
fn progress_is_reported_every_n_events_and_at_the_end() {
    let policy = Policy::gansu();
    // One interval and a bit of one-fen interest records: cheap to fold, valid for every view.
    let total = PROGRESS_EVERY_EVENTS + 5;
    let records = (1..=total).map(|i| {
        let meta = EventMeta { position: i, recorded_at_micros: i as i64 };
        let event = Event::ProvincialIncomeRecorded {
            kind: ProvincialIncomeKind::Interest,
            period: Period::new(2024, 1).unwrap(),
            amount: Money::from_fen(1).unwrap(),
        };
        (meta, event)
    });
    let mut calls = Vec::new();
    let views = rebuild(&policy, records, AsOf::Head, |count| calls.push(count));
    assert_eq!(calls, vec![PROGRESS_EVERY_EVENTS, total]);
    assert_eq!(views.provincial().pooled_balance(), Money::from_fen(total as i64).unwrap());
}

#[test]
fn live_rebuilt_and_restored_views_serialise_identically() {
    let log = two_months();
    let mut live = Views::new(log.policy());
    let half = log.records.len() / 2;
    for (meta, event) in &log.records[..half] {
        live.apply(meta, event);
    }
    // A snapshot at the half, restored and continued.
    let snapshot = serde_json::to_string(&live).unwrap();
    let mut restored: Views = serde_json::from_str(&snapshot).unwrap();
    assert_eq!(restored, live);
    for (meta, event) in &log.records[half..] {
        live.apply(meta, event);
        restored.apply(meta, event);
    }
    let rebuilt = log.views();
    assert_eq!(live, rebuilt);
    assert_eq!(restored, rebuilt);
    let text = serde_json::to_string(&rebuilt).unwrap();
    assert_eq!(serde_json::to_string(&live).unwrap(), text);
    assert_eq!(serde_json::to_string(&restored).unwrap(), text);
}
