//! End-to-end checks of generated histories: every command is accepted by an independent replay
//! and issued by an actor `authorize` allows; the history looks like the real fund; and the same
//! configuration always gives the same history.
//!
//! One realistic year (seed 1, scale 1) is generated once and replayed once, then shared by the
//! tests, so the suite stays fast in debug builds.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::OnceLock;

use fundledger_demo::{DemoConfig, DemoError, GeneratedCommand, estimate_commands, generate};
use fundledger_domain::role::command_region;
use fundledger_domain::standards::standard_amount;
use fundledger_domain::{
    BenefitType, Command, Context, Event, FundState, Money, Period, Policy, ProvincialIncomeKind, RegionCode, Role,
    authorize, decide,
};

/// Microseconds in a day.
const DAY_MICROS: i64 = 86_400 * 1_000_000;
/// Beijing is UTC+8.
const UTC_OFFSET_MICROS: i64 = 8 * 3_600 * 1_000_000;

fn one_year() -> DemoConfig {
    DemoConfig { seed: 1, years: 1, scale: 1 }
}

/// The shared realistic year.
fn year() -> &'static [GeneratedCommand] {
    static YEAR: OnceLock<Vec<GeneratedCommand>> = OnceLock::new();
    YEAR.get_or_init(|| generate(&Policy::gansu(), &one_year()).expect("valid").collect())
}

/// The shared year's events, from an independent replay.
fn year_events() -> &'static [Event] {
    static EVENTS: OnceLock<Vec<Event>> = OnceLock::new();
    EVENTS.get_or_init(|| {
        let mut events = Vec::new();
        let rejected = replay(&Policy::gansu(), year().iter().cloned(), |e| events.push(e.clone()));
        assert_eq!(rejected, 0);
        events
    })
}

/// Replays commands through `decide` and `apply` on a fresh state, asserting that each is
/// authorised for its actor (including the region of plans and payments named only by id).
/// Returns the number of rejections; calls `on_event` for every accepted event.
fn replay(policy: &Policy, commands: impl Iterator<Item = GeneratedCommand>, mut on_event: impl FnMut(&Event)) -> u64 {
    let ctx = Context { policy };
    let mut state = FundState::new();
    let mut rejected = 0;
    for g in commands {
        authorize(g.actor.role, g.actor.region, &g.command)
            .unwrap_or_else(|denied| panic!("{} {:?}: {denied}", g.command_id, g.command));
        if g.actor.role.is_regional() && command_region(&g.command).is_none() {
            let Command::ReversePayment { payment_id, .. } = &g.command else {
                panic!("unexpected regional command without a region: {:?}", g.command)
            };
            assert_eq!(state.payment(*payment_id).map(|p| p.region), g.actor.region, "{}", g.command_id);
        }
        match decide(&state, &g.command, &ctx) {
            Ok(events) => {
                for event in &events {
                    state.apply(event);
                    on_event(event);
                }
            }
            Err(rejection) => {
                eprintln!("{} {:?} rejected: {rejection}", g.command_id, g.command);
                rejected += 1;
            }
        }
    }
    assert_eq!(state.check_identities(), Ok(()));
    rejected
}

fn digest<'a>(commands: impl Iterator<Item = &'a GeneratedCommand>) -> u64 {
    let mut h = DefaultHasher::new();
    for g in commands {
        format!("{g:?}").hash(&mut h);
    }
    h.finish()
}

fn region(code: u32) -> RegionCode {
    RegionCode::new(code).expect("six digits")
}

/// The whole three-year realistic history. The generator decides and applies every command
/// against its own state (and panics on a rejection in debug builds), so this checks its count of
/// refusals rather than replaying a second time; the shared year below is replayed independently.
#[test]
fn every_command_of_three_years_is_accepted_and_authorised() {
    let policy = Policy::gansu();
    let config = DemoConfig { seed: 3, years: 3, scale: 1 };
    let mut generator = generate(&policy, &config).expect("valid");
    let mut count = 0u64;
    for g in generator.by_ref() {
        authorize(g.actor.role, g.actor.region, &g.command)
            .unwrap_or_else(|denied| panic!("{} {:?}: {denied}", g.command_id, g.command));
        count += 1;
    }
    assert_eq!(generator.rejected(), 0);
    assert_eq!(generator.state().check_identities(), Ok(()));
    assert!((500_000..=1_500_000).contains(&count), "{count} commands for 3 years at scale 1");
    for y in 2024..=2026 {
        assert!(generator.state().gap_assessed(y), "{y} closed and assessed");
    }
}

#[test]
fn the_shared_year_replays_without_rejection() {
    assert!(!year_events().is_empty());
}

#[test]
fn same_configuration_same_history_other_seed_other_history() {
    let policy = Policy::gansu();
    let first = 20_000;
    let again = generate(&policy, &one_year()).expect("valid");
    assert_eq!(digest(year().iter()), digest(again.collect::<Vec<_>>().iter()), "whole year");
    let other = generate(&policy, &DemoConfig { seed: 2, ..one_year() }).expect("valid");
    let other: Vec<_> = other.take(first).collect();
    assert_ne!(digest(year()[..first].iter()), digest(other.iter()));
}

#[test]
fn lanzhou_makes_about_a_third_of_payments() {
    let lanzhou = region(620100);
    let (mut all, mut ours) = (0u64, 0u64);
    for g in year() {
        if let Command::RecordPayment { region, .. } = &g.command {
            all += 1;
            ours += u64::from(*region == lanzhou);
        }
    }
    let share = ours as f64 / all as f64;
    assert!((0.25..=0.40).contains(&share), "Lanzhou share {share}");
}

#[test]
fn every_unit_collects_monthly_and_transfers_everything_before_closing() {
    let policy = Policy::gansu();
    // (region, period) -> (batches, collected - refunded - transferred, transfers), in fen.
    let mut books: HashMap<(RegionCode, Period), (u32, i64, u32)> = HashMap::new();
    let mut closed = 0;
    for g in year() {
        match &g.command {
            Command::RecordCollection { region, period, amount, .. } => {
                let b = books.entry((*region, *period)).or_default();
                b.0 += 1;
                b.1 += amount.to_fen();
            }
            Command::RefundCollection { region, period, amount, .. } => {
                books.get_mut(&(*region, *period)).expect("refund of a collected period").1 -= amount.to_fen();
            }
            Command::RecordTransfer { region, period, amount } => {
                let b = books.get_mut(&(*region, *period)).expect("transfer of a collected period");
                b.1 -= amount.to_fen();
                b.2 += 1;
            }
            Command::ClosePeriod { region, period } => {
                let (batches, left, transfers) = books[&(*region, *period)];
                assert!(batches >= 1 && transfers >= 1, "{region} {period}");
                assert_eq!(left, 0, "{region} closes {period} with income untransferred");
                closed += 1;
            }
            _ => {}
        }
    }
    assert_eq!(closed, policy.units.len() * 12, "every unit closes every month");
    for unit in &policy.units {
        for period in Period::months_of(2024) {
            assert!(books.contains_key(&(unit.code, period)), "{} collects in {period}", unit.code);
        }
    }
}

#[test]
fn standard_bound_payments_carry_their_basis_and_the_exact_standard() {
    let policy = Policy::gansu();
    let mut checked = 0;
    for g in year() {
        if let Command::RecordPayment { benefit, period, amount, basis, .. } = &g.command {
            assert_eq!(basis.is_some(), benefit.is_standard_bound(), "{:?}", g.command);
            if let Some(basis) = basis {
                assert_eq!(standard_amount(*benefit, basis, *period, &policy), Ok(*amount));
                checked += 1;
            }
        }
    }
    assert!(checked > 100_000, "{checked}");
}

#[test]
fn every_fund_paid_benefit_is_paid_in_a_year() {
    let mut counts: BTreeMap<BenefitType, u64> = BTreeMap::new();
    for g in year() {
        if let Command::RecordPayment { benefit, .. } = &g.command {
            *counts.entry(*benefit).or_default() += 1;
        }
    }
    for benefit in BenefitType::ALL.iter().filter(|b| b.category().is_some()) {
        assert!(counts.get(benefit).copied().unwrap_or(0) > 0, "no {benefit} in a year: {counts:?}");
    }
    assert!(counts.keys().all(|b| b.category().is_some()), "employer-paid benefits are never generated");
}

#[test]
fn times_move_forward_ids_are_unique_and_some_closes_are_late() {
    let mut last = i64::MIN;
    let mut command_ids = HashSet::new();
    let mut payment_ids = HashSet::new();
    let mut batches = HashSet::new();
    let mut late = 0;
    for g in year() {
        assert!(g.recorded_at_micros >= last, "{} goes back in time", g.command_id);
        last = g.recorded_at_micros;
        assert!(command_ids.insert(g.command_id), "{}", g.command_id);
        match &g.command {
            Command::RecordPayment { payment_id, period, .. } => {
                assert!(payment_ids.insert(*payment_id), "{payment_id}");
                // Paid within its month (local time).
                let local = g.recorded_at_micros + UTC_OFFSET_MICROS;
                assert!(local >= month_start_micros(*period) && local < month_start_micros(period.next()));
            }
            Command::RecordCollection { tax_batch, .. } => assert!(batches.insert(*tax_batch), "{tax_batch}"),
            Command::ClosePeriod { period, .. } => {
                let after_end = g.recorded_at_micros + UTC_OFFSET_MICROS - month_start_micros(period.next());
                assert!(after_end > 0, "a month closes after it ends");
                late += u32::from(after_end > 15 * DAY_MICROS);
            }
            _ => {}
        }
    }
    assert!((1..=40).contains(&late), "{late} late closes in a year");
}

/// Local midnight starting a period, as microseconds (of local time) since the epoch.
fn month_start_micros(period: Period) -> i64 {
    // Days from 1970-01-01 via the period's first day (chrono is what the domain uses).
    let days = period_first_day_days(period);
    days * DAY_MICROS
}

fn period_first_day_days(period: Period) -> i64 {
    let (y, m) = (i64::from(period.year()), i64::from(period.month()));
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[test]
fn beneficiaries_are_pseudonymous_and_realistic_in_number() {
    let mut people = BTreeSet::new();
    for g in year() {
        if let Command::RecordPayment { beneficiary, .. } = &g.command {
            let text = beneficiary.as_str();
            assert!(text.starts_with("B-") || text.starts_with("ORG-"), "{text}");
            if text.starts_with("B-") {
                people.insert(*beneficiary);
            }
        }
    }
    assert!((20_000..=40_000).contains(&people.len()), "{} beneficiaries in a year", people.len());
}

#[test]
fn the_short_year_shows_rejections_an_advance_and_gap_shares() {
    let rejections = year().iter().filter(|g| matches!(g.command, Command::RejectPlan { .. })).count();
    assert!(rejections >= 1, "some plans are rejected and resubmitted");
    let advances = year()
        .iter()
        .filter(|g| {
            matches!(g.command, Command::RecordProvincialIncome { kind: ProvincialIncomeKind::FiscalAdvance, .. })
        })
        .count();
    assert_eq!(advances, 1);
    let gaps: Vec<_> = year_events().iter().filter(|e| matches!(e, Event::GapSharesAssessed { .. })).collect();
    assert_eq!(gaps.len(), 1);
    let Event::GapSharesAssessed { gap, shares, province_share, .. } = gaps[0] else { unreachable!() };
    let bearing: Vec<_> = shares.iter().filter(|s| s.share.is_positive()).map(|s| s.region).collect();
    assert!(gap.is_positive() && province_share.is_positive(), "{gap} {province_share}");
    assert_eq!(bearing, vec![region(622900), region(623000)], "the two smallest regions ran short");
}

#[test]
fn money_is_realistic_and_income_slightly_above_spending() {
    let (mut collected, mut paid, mut reserves) = (0i64, 0i64, 0i64);
    for g in year() {
        match &g.command {
            Command::RecordCollection { amount, .. } => collected += amount.to_fen(),
            Command::RecordPayment { amount, .. } => paid += amount.to_fen(),
            Command::ConsolidateLegacyReserve { amount, .. } => reserves += amount.to_fen(),
            _ => {}
        }
    }
    let billion = Money::yuan(1_000_000_000).to_fen();
    assert!((billion..=2 * billion).contains(&paid), "paid {paid} fen");
    assert!(collected > paid && collected < paid + paid / 5, "collected {collected} vs paid {paid}");
    assert!(reserves > paid / 3, "a healthy start: reserves {reserves}");
}

#[test]
fn the_estimate_is_close() {
    let estimate = estimate_commands(&Policy::gansu(), &one_year()) as f64;
    let actual = year().len() as f64;
    assert!((estimate / actual - 1.0).abs() < 0.05, "estimate {estimate} vs {actual}");
}

#[test]
fn impossible_configurations_are_refused() {
    let policy = Policy::gansu();
    let err = |config| generate(&policy, &config).err().expect("refused");
    assert_eq!(err(DemoConfig { years: 0, ..one_year() }), DemoError::NoYears);
    assert_eq!(err(DemoConfig { scale: 0, ..one_year() }), DemoError::NoScale);
    let too_long = err(DemoConfig { years: 5, ..one_year() });
    assert_eq!(too_long.to_string(), "the policy has benefit parameters through 2026; --years 5 would need 2028");
    assert!(matches!(err(DemoConfig { years: 1, scale: 401, seed: 1 }), DemoError::TooLarge { .. }));
    assert!(generate(&policy, &DemoConfig { years: 3, ..one_year() }).is_ok());
}

#[test]
fn actors_are_the_right_roles() {
    for g in year().iter().take(50_000) {
        let expected = match &g.command {
            Command::RecordCollection { .. } | Command::RefundCollection { .. } => Role::RegionTaxBureau,
            Command::RecordTransfer { .. } => Role::RegionFinance,
            Command::SubmitPlan { .. }
            | Command::RecordPayment { .. }
            | Command::ReversePayment { .. }
            | Command::ClosePeriod { .. } => Role::RegionAgency,
            _ => continue,
        };
        assert_eq!(g.actor.role, expected);
        assert_eq!(g.actor.region, command_region(&g.command).or(g.actor.region));
    }
}

/// A province that pools from mid-year (as Sichuan did in May 2023) gets a partial first year:
/// still every command accepted, and no gap assessment for a year whose early months precede
/// the reform (they can never be closed).
#[test]
fn a_mid_year_reform_gives_a_partial_first_year() {
    let mut policy = Policy::gansu();
    policy.reform_date = "2024-09-01".parse().expect("date");
    let mut generator = generate(&policy, &DemoConfig { seed: 5, years: 2, scale: 1 }).expect("valid");
    let first = generator.by_ref().next().expect("some history");
    assert!(matches!(first.command, Command::AdoptBudget { year: 2024, .. }), "{:?}", first.command);
    let september = Period::parse("2024-09").expect("period");
    let local = first.recorded_at_micros + UTC_OFFSET_MICROS;
    assert!(local >= month_start_micros(september) && local < month_start_micros(september.next()));
    let rest = generator.by_ref().count();
    assert!(rest > 100_000, "{rest}");
    assert_eq!(generator.rejected(), 0);
    assert!(!generator.state().gap_assessed(2024));
    assert!(generator.state().gap_assessed(2025));
}
