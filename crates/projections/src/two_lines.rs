//! `TwoLines`: the "two lines of income and expenditure" (收支两条线) per region and period, two
//! columns that are never netted, with the flags an inspector needs and the reconciliation
//! identities checked.
//!
//! Income line (the region's income account): collected, refunded, transferred to the pooled
//! fund, and untransferred = collected − refunded − transferred, all for the period.
//! Expenditure line (the region's expenditure account): allocated (by plan period), paid (by
//! payment period), reversed (by the period the reversal is booked in), and the account's
//! balance at the period's close = the running sum of allocated − paid + reversed over the
//! region's periods in period order. Because an allocation is attributed to its plan's period
//! while the account is one pot, a period's closing balance can show negative when a later
//! period's allocation funded an earlier period's payment; the view reports it as it is.
//!
//! Flags (each row):
//! - `untransferred_at_close`: the period was closed while its untransferred income was above
//!   zero (the rules forbid it; the view detects it anyway);
//! - `income_left_at_month_end`: the period's untransferred income is above zero while the
//!   region already has a later period with activity (the income account kept a balance past
//!   month end);
//! - `allocated_unpaid_at_close`: the period is closed and its allocated funds exceed its net
//!   payments (paid − reversed booked in the period): the amount allocated for the month was
//!   not paid out "in full and on time".
//!
//! Reconciliation: the running account balances are kept event by event, independently of the
//! period rows, and compared with the identities over the rows.

use std::collections::BTreeMap;

use fundledger_domain::{Event, Money, Payment, Period, RegionCode};
use serde::{Deserialize, Serialize};

use crate::EventMeta;
use crate::util::{MemoMap, fen, money};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct RowFen {
    collected: i64,
    refunded: i64,
    transferred: i64,
    allocated: i64,
    paid: i64,
    reversed: i64,
    /// Log position of the period's close.
    closed_at: Option<u64>,
    /// Untransferred income at the moment of the close, when above zero.
    untransferred_at_close: Option<i64>,
}

impl RowFen {
    fn untransferred(&self) -> i64 {
        self.collected - self.refunded - self.transferred
    }
}

/// A region's running account balances, kept event by event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct AccountsFen {
    income: i64,
    expenditure: i64,
}

/// The income line of a period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncomeLine {
    pub collected: Money,
    pub refunded: Money,
    pub transferred: Money,
    pub untransferred: Money,
}

/// The expenditure line of a period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpenditureLine {
    pub allocated: Money,
    pub paid: Money,
    pub reversed: Money,
    /// The expenditure account's balance at the period's close (carried forward across periods).
    /// In the provincial totals: the sum of the regions' closing balances.
    pub balance: Money,
}

/// The flags of one region-period (see the module docs); each carries the amount concerned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowFlags {
    pub untransferred_at_close: Option<Money>,
    pub income_left_at_month_end: Option<Money>,
    pub allocated_unpaid_at_close: Option<Money>,
}

impl RowFlags {
    pub fn any(&self) -> bool {
        self.untransferred_at_close.is_some()
            || self.income_left_at_month_end.is_some()
            || self.allocated_unpaid_at_close.is_some()
    }
}

/// One region and period of the two-lines view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TwoLinesRow {
    pub region: RegionCode,
    pub period: Period,
    pub income: IncomeLine,
    pub expenditure: ExpenditureLine,
    /// Log position of the period's close, if the region closed it.
    pub closed_at: Option<u64>,
    pub flags: RowFlags,
}

/// The province's totals of both lines for one period (or, with `period` `None`, for all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvincialTwoLines {
    pub period: Option<Period>,
    pub income: IncomeLine,
    pub expenditure: ExpenditureLine,
}

/// One identity checked: `lhs` is kept event by event, `rhs` is recomputed from the rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reconciliation {
    pub name: String,
    pub lhs: Money,
    pub rhs: Money,
    /// lhs − rhs.
    pub difference: Money,
    pub reconciled: bool,
}

impl Reconciliation {
    fn new(name: String, lhs: i64, rhs: i64) -> Reconciliation {
        Reconciliation { name, lhs: money(lhs), rhs: money(rhs), difference: money(lhs - rhs), reconciled: lhs == rhs }
    }
}

/// The two-lines view.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TwoLines {
    rows: MemoMap<(RegionCode, Period), RowFen>,
    accounts: MemoMap<RegionCode, AccountsFen>,
    /// The pooled fund's running balance.
    pooled: i64,
    provincial_income: i64,
    consolidated: i64,
}

impl TwoLines {
    pub fn new() -> TwoLines {
        TwoLines::default()
    }

    /// Folds one payment (as [`TwoLines::apply`] folds its `BenefitPaid`).
    #[inline]
    pub fn paid(&mut self, p: &Payment<'_>) {
        let a = p.amount_fen();
        self.row(p.region, p.period).paid += a;
        self.account(p.region).expenditure -= a;
    }

    /// Folds one event.
    pub fn apply(&mut self, meta: &EventMeta, event: &Event) {
        match event {
            Event::BenefitPaid { .. } => self.paid(&Payment::of(event).expect("a payment")),
            Event::CollectionRecorded { region, period, amount, .. } => {
                let a = fen(*amount);
                self.row(*region, *period).collected += a;
                self.account(*region).income += a;
            }
            Event::CollectionRefunded { region, period, amount, .. } => {
                let a = fen(*amount);
                self.row(*region, *period).refunded += a;
                self.account(*region).income -= a;
            }
            Event::TransferRecorded { region, period, amount } => {
                let a = fen(*amount);
                self.row(*region, *period).transferred += a;
                self.account(*region).income -= a;
                self.pooled += a;
            }
            Event::FundsAllocated { region, period, amount, .. } => {
                let a = fen(*amount);
                self.row(*region, *period).allocated += a;
                self.account(*region).expenditure += a;
                self.pooled -= a;
            }
            Event::PaymentReversed { region, period, amount, .. } => {
                let a = fen(*amount);
                self.row(*region, *period).reversed += a;
                self.account(*region).expenditure += a;
            }
            Event::ProvincialIncomeRecorded { amount, .. } => {
                let a = fen(*amount);
                self.provincial_income += a;
                self.pooled += a;
            }
            Event::LegacyReserveConsolidated { region, period, amount, .. } => {
                let a = fen(*amount);
                self.consolidated += a;
                self.pooled += a;
                // The consolidation is activity of the region-period, though on neither line.
                self.row(*region, *period);
            }
            Event::PeriodClosed { region, period } => {
                let row = self.row(*region, *period);
                row.closed_at = Some(meta.position);
                let left = row.untransferred();
                if left > 0 {
                    row.untransferred_at_close = Some(left);
                }
            }
            _ => {}
        }
    }

    #[inline]
    fn row(&mut self, region: RegionCode, period: Period) -> &mut RowFen {
        self.rows.entry((region, period)).or_default()
    }

    #[inline]
    fn account(&mut self, region: RegionCode) -> &mut AccountsFen {
        self.accounts.entry(region).or_default()
    }

    fn sorted_rows(&self) -> Vec<(&(RegionCode, Period), &RowFen)> {
        let mut rows: Vec<_> = self.rows.iter().collect();
        rows.sort_unstable_by_key(|(k, _)| **k);
        rows
    }

    /// Every region-period with activity, sorted by region then period, with carried balances
    /// and flags.
    pub fn rows(&self) -> Vec<TwoLinesRow> {
        let sorted = self.sorted_rows();
        let mut latest: BTreeMap<RegionCode, Period> = BTreeMap::new();
        for ((region, period), _) in &sorted {
            latest.insert(*region, *period);
        }
        let mut out = Vec::with_capacity(sorted.len());
        let mut balance = 0i64;
        let mut current: Option<RegionCode> = None;
        for ((region, period), r) in sorted {
            if current != Some(*region) {
                current = Some(*region);
                balance = 0;
            }
            balance += r.allocated - r.paid + r.reversed;
            let untransferred = r.untransferred();
            let net_paid = r.paid - r.reversed;
            let flags = RowFlags {
                untransferred_at_close: r.untransferred_at_close.map(money),
                income_left_at_month_end: (untransferred > 0 && latest[region] > *period).then(|| money(untransferred)),
                allocated_unpaid_at_close: (r.closed_at.is_some() && r.allocated > net_paid)
                    .then(|| money(r.allocated - net_paid)),
            };
            out.push(TwoLinesRow {
                region: *region,
                period: *period,
                income: IncomeLine {
                    collected: money(r.collected),
                    refunded: money(r.refunded),
                    transferred: money(r.transferred),
                    untransferred: money(untransferred),
                },
                expenditure: ExpenditureLine {
                    allocated: money(r.allocated),
                    paid: money(r.paid),
                    reversed: money(r.reversed),
                    balance: money(balance),
                },
                closed_at: r.closed_at,
                flags,
            });
        }
        out
    }

    /// One region-period's row, if it has activity.
    pub fn row_for(&self, region: RegionCode, period: Period) -> Option<TwoLinesRow> {
        self.rows().into_iter().find(|r| r.region == region && r.period == period)
    }

    /// The rows that carry at least one flag.
    pub fn flagged(&self) -> Vec<TwoLinesRow> {
        self.rows().into_iter().filter(|r| r.flags.any()).collect()
    }

    /// Provincial totals per period, in period order. The balance column sums every region's
    /// closing balance at that period (a region without activity in it carries its last one).
    pub fn totals_by_period(&self) -> Vec<ProvincialTwoLines> {
        let mut by_period: BTreeMap<Period, RowFen> = BTreeMap::new();
        for (&(_, period), r) in &self.rows {
            let t = by_period.entry(period).or_default();
            t.collected += r.collected;
            t.refunded += r.refunded;
            t.transferred += r.transferred;
            t.allocated += r.allocated;
            t.paid += r.paid;
            t.reversed += r.reversed;
        }
        // Σ of the regions' carried balances = running sum of the province-wide net flows.
        let mut balance = 0i64;
        by_period
            .into_iter()
            .map(|(period, t)| {
                balance += t.allocated - t.paid + t.reversed;
                provincial(Some(period), &t, balance)
            })
            .collect()
    }

    /// Provincial totals over every period.
    pub fn totals(&self) -> ProvincialTwoLines {
        let mut t = RowFen::default();
        for r in self.rows.values() {
            t.collected += r.collected;
            t.refunded += r.refunded;
            t.transferred += r.transferred;
            t.allocated += r.allocated;
            t.paid += r.paid;
            t.reversed += r.reversed;
        }
        let balance = t.allocated - t.paid + t.reversed;
        provincial(None, &t, balance)
    }

    /// The pooled fund's balance, kept event by event.
    pub fn pooled_balance(&self) -> Money {
        money(self.pooled)
    }

    /// A region's expenditure account balance, kept event by event.
    pub fn expenditure_balance(&self, region: RegionCode) -> Money {
        money(self.accounts.get(&region).map_or(0, |a| a.expenditure))
    }

    /// A region's untransferred income over all periods, kept event by event.
    pub fn untransferred(&self, region: RegionCode) -> Money {
        money(self.accounts.get(&region).map_or(0, |a| a.income))
    }

    /// The identities: (a) pooled balance = Σ transfers + provincial income + consolidations −
    /// allocations; (b) Σ expenditure balances = allocations − payments + reversals; (c) for each
    /// region (in code order), untransferred = collected − refunded − transferred.
    pub fn reconciliations(&self) -> Vec<Reconciliation> {
        let t = self.rows.values().fold(RowFen::default(), |mut t, r| {
            t.transferred += r.transferred;
            t.allocated += r.allocated;
            t.paid += r.paid;
            t.reversed += r.reversed;
            t
        });
        let mut out = vec![
            Reconciliation::new(
                "pooled balance = transfers + provincial income + consolidations - allocations".into(),
                self.pooled,
                t.transferred + self.provincial_income + self.consolidated - t.allocated,
            ),
            Reconciliation::new(
                "sum of expenditure balances = allocations - payments + reversals".into(),
                self.accounts.values().map(|a| a.expenditure).sum(),
                t.allocated - t.paid + t.reversed,
            ),
        ];
        let mut per_region: BTreeMap<RegionCode, i64> = BTreeMap::new();
        for (&(region, _), r) in &self.rows {
            *per_region.entry(region).or_default() += r.untransferred();
        }
        for region in self.accounts.keys() {
            per_region.entry(*region).or_default();
        }
        for (region, rhs) in per_region {
            let lhs = self.accounts.get(&region).map_or(0, |a| a.income);
            out.push(Reconciliation::new(
                format!("{region} untransferred = collected - refunded - transferred"),
                lhs,
                rhs,
            ));
        }
        out
    }
}

fn provincial(period: Option<Period>, t: &RowFen, balance: i64) -> ProvincialTwoLines {
    ProvincialTwoLines {
        period,
        income: IncomeLine {
            collected: money(t.collected),
            refunded: money(t.refunded),
            transferred: money(t.transferred),
            untransferred: money(t.untransferred()),
        },
        expenditure: ExpenditureLine {
            allocated: money(t.allocated),
            paid: money(t.paid),
            reversed: money(t.reversed),
            balance: money(balance),
        },
    }
}
