//! Test helpers: a log that records what the domain's rules accepted, with positions and
//! recorded times, and terse raw-event builders for the cases the rules make impossible.

use fundledger_domain::testkit::{Ledger, batch, beneficiary, payment_id, plan_id};
use fundledger_domain::{
    BenefitType, Command, Event, ExpenditureCategory, IncomeCategory, Money, Period, Policy, RegionCode, ReversalReason,
};
use fundledger_projections::supervision::period_end_micros;
use fundledger_projections::{AsOf, EventMeta, Views, rebuild};

pub const MICROS_PER_SECOND: i64 = 1_000_000;
pub const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;

/// Day `day` of `year`-`month`, 00:00 Beijing time, in microseconds since the epoch.
pub fn beijing(year: u16, month: u8, day: i64) -> i64 {
    period_end_micros(Period::new(year, month).expect("valid month").prev()) + (day - 1) * MICROS_PER_DAY
}

/// Commands decided by the real rules; the accepted events recorded with positions from 1 and
/// a clock that advances one second per event.
pub struct Log {
    pub ledger: Ledger,
    pub records: Vec<(EventMeta, Event)>,
    clock: i64,
}

impl Log {
    pub fn gansu() -> Log {
        Log { ledger: Ledger::gansu(), records: Vec::new(), clock: beijing(2024, 1, 2) }
    }

    pub fn policy(&self) -> &Policy {
        &self.ledger.policy
    }

    /// Moves the clock forward to `micros` (never back: recorded times do not decrease).
    pub fn at(&mut self, micros: i64) -> &mut Log {
        assert!(micros >= self.clock, "the clock never goes back");
        self.clock = micros;
        self
    }

    /// Decides and applies each command, panicking on a rejection, and records its events.
    #[track_caller]
    pub fn run(&mut self, commands: &[Command]) -> &mut Log {
        for command in commands {
            for event in self.ledger.then_ok(command.clone()) {
                let position = self.records.len() as u64 + 1;
                self.records.push((EventMeta { position, recorded_at_micros: self.clock }, event));
                self.clock += MICROS_PER_SECOND;
            }
        }
        self
    }

    /// The position of the first recorded event matching `pred`.
    #[track_caller]
    pub fn position_of(&self, pred: impl Fn(&Event) -> bool) -> u64 {
        self.records.iter().find(|(_, e)| pred(e)).expect("event recorded").0.position
    }

    /// Views rebuilt from the whole log.
    pub fn views(&self) -> Views {
        rebuild(self.policy(), self.records.clone(), AsOf::Head, |_| {})
    }
}

/// Folds raw events (positions from 1, times from `start`, one second apart) into fresh views.
pub fn fold_raw(events: &[Event], start: i64) -> Views {
    let mut views = Views::new(&Policy::gansu());
    for (i, event) in events.iter().enumerate() {
        let meta = EventMeta { position: i as u64 + 1, recorded_at_micros: start + i as i64 * MICROS_PER_SECOND };
        views.apply(&meta, event);
    }
    views
}

pub fn collected(region: RegionCode, period: Period, amount: Money, tax_batch: &str) -> Event {
    Event::CollectionRecorded { region, period, category: IncomeCategory::Premium, amount, tax_batch: batch(tax_batch) }
}

pub fn refunded(region: RegionCode, period: Period, amount: Money, tax_batch: &str) -> Event {
    Event::CollectionRefunded { region, period, category: IncomeCategory::Premium, tax_batch: batch(tax_batch), amount }
}

pub fn transferred(region: RegionCode, period: Period, amount: Money) -> Event {
    Event::TransferRecorded { region, period, amount }
}

pub fn allocated(plan: &str, region: RegionCode, period: Period, tranche: u32, amount: Money) -> Event {
    Event::FundsAllocated { plan_id: plan_id(plan), region, period, tranche, amount }
}

pub fn paid(id: &str, region: RegionCode, period: Period, benefit: BenefitType, who: &str, amount: Money) -> Event {
    Event::BenefitPaid {
        payment_id: payment_id(id),
        region,
        period,
        benefit,
        category: benefit.category().expect("fund-paid benefit"),
        beneficiary: beneficiary(who),
        amount,
        basis: None,
    }
}

pub fn reversed(
    id: &str,
    region: RegionCode,
    period: Period,
    paid_period: Period,
    benefit: BenefitType,
    amount: Money,
) -> Event {
    Event::PaymentReversed {
        payment_id: payment_id(id),
        region,
        period,
        paid_period,
        benefit,
        category: benefit.category().expect("fund-paid benefit"),
        amount,
        reason: ReversalReason::Returned,
    }
}

pub fn closed(region: RegionCode, period: Period) -> Event {
    Event::PeriodClosed { region, period }
}

pub fn budget(region: RegionCode, year: u16, expenditure: Money) -> Event {
    Event::BudgetAdopted {
        region,
        year,
        lines: fundledger_domain::BudgetLines {
            income: vec![],
            expenditure: vec![(ExpenditureCategory::Medical, expenditure)],
        },
    }
}
