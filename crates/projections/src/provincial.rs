//! `ProvincialFund`: the provincial fiscal special account (the pooled fund) period by period,
//! where its money came from and where it went.
//!
//! Period attribution: a transfer counts in its own period, provincial income and consolidations
//! in theirs, an allocation in its plan's period. The closing balance of a period is the running
//! sum of those net flows in period order, so the last closing balance is the pooled balance.

use std::collections::BTreeMap;

use fundledger_domain::{Event, IncomeCategory, LegacyFundKind, Money, Period, ProvincialIncomeKind, RegionCode};
use serde::{Deserialize, Serialize};

use crate::EventMeta;
use crate::util::{fen, money};

/// Number of regional income categories ([`IncomeCategory::ALL`]).
const INCOME_CATEGORY_COUNT: usize = 3;
/// Number of provincial income kinds ([`ProvincialIncomeKind::ALL`]).
const PROVINCIAL_KIND_COUNT: usize = 4;
const _: () = assert!(IncomeCategory::ALL.len() == INCOME_CATEGORY_COUNT);
const _: () = assert!(ProvincialIncomeKind::ALL.len() == PROVINCIAL_KIND_COUNT);

/// Flows of the pooled fund in one period, in fen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct PooledFlows {
    transfers_in: i64,
    provincial_income: i64,
    consolidated: i64,
    allocated: i64,
}

/// One pre-reform reserve or adjustment fund moved into the pooled fund.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegacyConsolidation {
    pub region: RegionCode,
    pub kind: LegacyFundKind,
    pub period: Period,
    pub amount: Money,
    /// Log position of the consolidation event.
    pub position: u64,
}

/// The pooled fund in one period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PooledPeriod {
    pub period: Period,
    pub transfers_in: Money,
    pub provincial_income: Money,
    pub consolidated: Money,
    pub allocated: Money,
    /// transfers in + provincial income + consolidated − allocated.
    pub net_change: Money,
    /// The balance after every flow of this and all earlier periods.
    pub closing_balance: Money,
}

/// Income that reached the regions' income lines, by category (transfers themselves carry no
/// category: a region's month of income is remitted as one sum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncomeByCategory {
    pub category: IncomeCategory,
    pub collected: Money,
    pub refunded: Money,
    pub net: Money,
}

/// The provincial fund view.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvincialFund {
    by_period: BTreeMap<Period, PooledFlows>,
    collected_by_category: [i64; INCOME_CATEGORY_COUNT],
    refunded_by_category: [i64; INCOME_CATEGORY_COUNT],
    provincial_income_by_kind: [i64; PROVINCIAL_KIND_COUNT],
    transfers_by_region: BTreeMap<RegionCode, i64>,
    allocations_by_region: BTreeMap<RegionCode, i64>,
    legacy: Vec<LegacyConsolidation>,
    fiscal_advances_by_period: BTreeMap<Period, i64>,
}

impl ProvincialFund {
    pub fn new() -> ProvincialFund {
        ProvincialFund::default()
    }

    /// Folds one event.
    pub fn apply(&mut self, meta: &EventMeta, event: &Event) {
        match event {
            Event::CollectionRecorded { category, amount, .. } => {
                self.collected_by_category[*category as usize] += fen(*amount);
            }
            Event::CollectionRefunded { category, amount, .. } => {
                self.refunded_by_category[*category as usize] += fen(*amount);
            }
            Event::TransferRecorded { region, period, amount } => {
                let a = fen(*amount);
                self.by_period.entry(*period).or_default().transfers_in += a;
                *self.transfers_by_region.entry(*region).or_default() += a;
            }
            Event::ProvincialIncomeRecorded { kind, period, amount } => {
                let a = fen(*amount);
                self.by_period.entry(*period).or_default().provincial_income += a;
                self.provincial_income_by_kind[*kind as usize] += a;
                if *kind == ProvincialIncomeKind::FiscalAdvance {
                    *self.fiscal_advances_by_period.entry(*period).or_default() += a;
                }
            }
            Event::LegacyReserveConsolidated { region, kind, period, amount } => {
                self.by_period.entry(*period).or_default().consolidated += fen(*amount);
                self.legacy.push(LegacyConsolidation {
                    region: *region,
                    kind: *kind,
                    period: *period,
                    amount: *amount,
                    position: meta.position,
                });
            }
            Event::FundsAllocated { region, period, amount, .. } => {
                let a = fen(*amount);
                self.by_period.entry(*period).or_default().allocated += a;
                *self.allocations_by_region.entry(*region).or_default() += a;
            }
            _ => {}
        }
    }

    /// The pooled fund period by period, in period order, with closing balances.
    pub fn pooled_by_period(&self) -> Vec<PooledPeriod> {
        let mut balance = 0i64;
        self.by_period
            .iter()
            .map(|(period, f)| {
                let net = f.transfers_in + f.provincial_income + f.consolidated - f.allocated;
                balance += net;
                PooledPeriod {
                    period: *period,
                    transfers_in: money(f.transfers_in),
                    provincial_income: money(f.provincial_income),
                    consolidated: money(f.consolidated),
                    allocated: money(f.allocated),
                    net_change: money(net),
                    closing_balance: money(balance),
                }
            })
            .collect()
    }

    /// The pooled fund's balance after every event folded so far.
    pub fn pooled_balance(&self) -> Money {
        money(
            self.by_period.values().map(|f| f.transfers_in + f.provincial_income + f.consolidated - f.allocated).sum(),
        )
    }

    /// Regional income by category, collected and refunded.
    pub fn income_by_category(&self) -> Vec<IncomeByCategory> {
        IncomeCategory::ALL
            .iter()
            .map(|c| {
                let (collected, refunded) =
                    (self.collected_by_category[*c as usize], self.refunded_by_category[*c as usize]);
                IncomeByCategory {
                    category: *c,
                    collected: money(collected),
                    refunded: money(refunded),
                    net: money(collected - refunded),
                }
            })
            .collect()
    }

    /// Income received directly by the fiscal special account, by kind (all kinds listed).
    pub fn provincial_income_by_kind(&self) -> Vec<(ProvincialIncomeKind, Money)> {
        ProvincialIncomeKind::ALL.iter().map(|k| (*k, money(self.provincial_income_by_kind[*k as usize]))).collect()
    }

    /// Transfers into the pooled fund by region of origin, in region code order.
    pub fn transfers_by_region(&self) -> Vec<(RegionCode, Money)> {
        self.transfers_by_region.iter().map(|(r, a)| (*r, money(*a))).collect()
    }

    /// Allocations out of the pooled fund by receiving region, in region code order.
    pub fn allocations_by_region(&self) -> Vec<(RegionCode, Money)> {
        self.allocations_by_region.iter().map(|(r, a)| (*r, money(*a))).collect()
    }

    /// Every legacy consolidation, in log order.
    pub fn legacy_consolidations(&self) -> &[LegacyConsolidation] {
        &self.legacy
    }

    /// The consolidated legacy balances in total.
    pub fn legacy_total(&self) -> Money {
        self.legacy.iter().map(|l| l.amount).sum()
    }

    /// Fiscal advances by period, in period order.
    pub fn fiscal_advances_by_period(&self) -> Vec<(Period, Money)> {
        self.fiscal_advances_by_period.iter().map(|(p, a)| (*p, money(*a))).collect()
    }

    /// All fiscal advances so far.
    pub fn fiscal_advances_total(&self) -> Money {
        money(self.fiscal_advances_by_period.values().sum())
    }
}
