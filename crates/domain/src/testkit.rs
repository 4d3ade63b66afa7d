//! The test kit: a given-when-then helper so that a rule's test is a few lines, plus terse
//! constructors for amounts, periods and ids. Enabled by the `testkit` feature, never in the product.
//!
//! ```text
//! let mut t = Ledger::gansu();
//! t.given(&collected_and_transferred(lanzhou(), p("2024-03"), m("100.00"), "T1"));
//! t.when(transfer(lanzhou(), p("2024-03"), m("0.01"))).then_rejected(Reason::TransferExceedsUntransferred);
//! ```
//!
//! Every helper panics with the rejection or the mismatch it found: a test kit failure is a test
//! failure. Nothing here bypasses `decide`: every event in a [`Ledger`] was decided by the rules.

use rust_decimal::Decimal;

use crate::category::{
    BenefitType, Department, ExpenditureCategory, IncomeCategory, LegacyFundKind, ProvincialIncomeKind, ReversalReason,
};
use crate::command::{BudgetLines, Command, Context};
use crate::decide::decide;
use crate::event::Event;
use crate::ids::{BeneficiaryRef, PaymentId, PlanId, RegionCode, TaxBatchRef};
use crate::money::Money;
use crate::period::Period;
use crate::policy::Policy;
use crate::rejection::{Reason, Rejection};
use crate::standards::Basis;
use crate::state::FundState;

/// The expenditure budget [`Ledger::ready_to_pay`] adopts when the region has none for the year:
/// large enough (100 million yuan) never to be the limit a test is about.
pub const DEFAULT_BUDGET_EXPENDITURE_YUAN: i64 = 100_000_000;

// ---------------------------------------------------------------------------------------------
// Terse constructors. Each panics on malformed text: test input is written by hand.
// ---------------------------------------------------------------------------------------------

/// An amount from plain decimal text: `m("12.34")`.
#[track_caller]
pub fn m(text: &str) -> Money {
    Money::parse(text).unwrap_or_else(|e| panic!("bad test amount {text:?}: {e}"))
}

/// An amount of whole yuan.
pub fn yuan(yuan: i64) -> Money {
    Money::yuan(yuan)
}

/// An amount in fen.
#[track_caller]
pub fn fen(fen: i64) -> Money {
    Money::from_fen(fen).unwrap_or_else(|e| panic!("bad test amount {fen} fen: {e}"))
}

/// A period from "YYYY-MM": `p("2024-03")`.
#[track_caller]
pub fn p(text: &str) -> Period {
    Period::parse(text).unwrap_or_else(|e| panic!("bad test period {text:?}: {e}"))
}

/// A region code from six digits: `region("620100")`.
#[track_caller]
pub fn region(text: &str) -> RegionCode {
    RegionCode::parse(text).unwrap_or_else(|e| panic!("bad test region {text:?}: {e}"))
}

#[track_caller]
pub fn plan_id(text: &str) -> PlanId {
    PlanId::parse(text).unwrap_or_else(|e| panic!("bad test plan id {text:?}: {e}"))
}

#[track_caller]
pub fn payment_id(text: &str) -> PaymentId {
    PaymentId::parse(text).unwrap_or_else(|e| panic!("bad test payment id {text:?}: {e}"))
}

#[track_caller]
pub fn batch(text: &str) -> TaxBatchRef {
    TaxBatchRef::parse(text).unwrap_or_else(|e| panic!("bad test tax batch {text:?}: {e}"))
}

#[track_caller]
pub fn beneficiary(text: &str) -> BeneficiaryRef {
    BeneficiaryRef::parse(text).unwrap_or_else(|e| panic!("bad test beneficiary {text:?}: {e}"))
}

/// An exact decimal from text, e.g. a rate `dec("0.4")`.
#[track_caller]
pub fn dec(text: &str) -> Decimal {
    text.parse().unwrap_or_else(|e| panic!("bad test decimal {text:?}: {e}"))
}

/// 620100 Lanzhou.
pub fn lanzhou() -> RegionCode {
    region("620100")
}

/// 620200 Jiayuguan.
pub fn jiayuguan() -> RegionCode {
    region("620200")
}

/// 620300 Jinchang.
pub fn jinchang() -> RegionCode {
    region("620300")
}

/// 620400 Baiyin.
pub fn baiyin() -> RegionCode {
    region("620400")
}

// ---------------------------------------------------------------------------------------------
// Command builders.
// ---------------------------------------------------------------------------------------------

/// A premium collection in one tax batch.
pub fn collect(region: RegionCode, period: Period, amount: Money, tax_batch: &str) -> Command {
    collect_as(region, period, IncomeCategory::Premium, amount, tax_batch)
}

/// A collection of any income category.
pub fn collect_as(
    region: RegionCode,
    period: Period,
    category: IncomeCategory,
    amount: Money,
    tax_batch: &str,
) -> Command {
    Command::RecordCollection { region, period, category, amount, tax_batch: batch(tax_batch) }
}

pub fn refund(region: RegionCode, period: Period, tax_batch: &str, amount: Money) -> Command {
    Command::RefundCollection { region, period, tax_batch: batch(tax_batch), amount }
}

pub fn transfer(region: RegionCode, period: Period, amount: Money) -> Command {
    Command::RecordTransfer { region, period, amount }
}

pub fn provincial_income(kind: ProvincialIncomeKind, period: Period, amount: Money) -> Command {
    Command::RecordProvincialIncome { kind, period, amount }
}

/// A fiscal advance into the pooled fund: the gap the fund could not cover itself.
pub fn fiscal_advance(period: Period, amount: Money) -> Command {
    provincial_income(ProvincialIncomeKind::FiscalAdvance, period, amount)
}

pub fn consolidate(region: RegionCode, kind: LegacyFundKind, period: Period, amount: Money) -> Command {
    Command::ConsolidateLegacyReserve { region, kind, period, amount }
}

/// Budget lines with one premium income line and one line per given expenditure category.
pub fn budget_lines(income: Money, expenditure: &[(ExpenditureCategory, Money)]) -> BudgetLines {
    BudgetLines { income: vec![(IncomeCategory::Premium, income)], expenditure: expenditure.to_vec() }
}

/// Adopts a budget with premium income `income` and all of `expenditure` on the medical line.
pub fn adopt_budget(region: RegionCode, year: u16, income: Money, expenditure: Money) -> Command {
    Command::AdoptBudget { region, year, lines: budget_lines(income, &[(ExpenditureCategory::Medical, expenditure)]) }
}

/// Replaces a budget's lines, again premium income and one medical expenditure line.
pub fn adjust_budget(region: RegionCode, year: u16, income: Money, expenditure: Money) -> Command {
    Command::AdjustBudget { region, year, lines: budget_lines(income, &[(ExpenditureCategory::Medical, expenditure)]) }
}

pub fn submit(plan: &str, region: RegionCode, period: Period, lines: &[(ExpenditureCategory, Money)]) -> Command {
    Command::SubmitPlan { plan_id: plan_id(plan), region, period, lines: lines.to_vec() }
}

pub fn approve(plan: &str) -> Command {
    Command::ApprovePlan { plan_id: plan_id(plan) }
}

pub fn review(plan: &str) -> Command {
    Command::ReviewPlan { plan_id: plan_id(plan) }
}

pub fn reject_plan(plan: &str, by: Department, reason: &str) -> Command {
    Command::RejectPlan { plan_id: plan_id(plan), by, reason: reason.to_string() }
}

pub fn allocate(plan: &str, amount: Money) -> Command {
    Command::AllocateFunds { plan_id: plan_id(plan), amount }
}

/// A payment of a benefit that takes no calculation basis.
pub fn pay(
    payment: &str,
    region: RegionCode,
    period: Period,
    benefit: BenefitType,
    who: &str,
    amount: Money,
) -> Command {
    pay_with_basis(payment, region, period, benefit, who, amount, None)
}

/// A payment with an optional calculation basis (standard-bound benefits need one).
pub fn pay_with_basis(
    payment: &str,
    region: RegionCode,
    period: Period,
    benefit: BenefitType,
    who: &str,
    amount: Money,
    basis: Option<Basis>,
) -> Command {
    Command::RecordPayment {
        payment_id: payment_id(payment),
        region,
        period,
        benefit,
        beneficiary: beneficiary(who),
        amount,
        basis,
    }
}

/// Reverses (part of) a payment, booked in `period`, funds returned by the bank.
pub fn reverse(payment: &str, period: Period, amount: Money) -> Command {
    Command::ReversePayment { payment_id: payment_id(payment), period, amount, reason: ReversalReason::Returned }
}

pub fn close(region: RegionCode, period: Period) -> Command {
    Command::ClosePeriod { region, period }
}

pub fn adjust_rates(effective: Period, class: u8, benchmark_rate_pct: &str, floats_pct: &[&str]) -> Command {
    Command::AdjustRates {
        effective,
        class,
        benchmark_rate_pct: dec(benchmark_rate_pct),
        allowed_floats_pct: floats_pct.iter().map(|f| dec(f)).collect(),
    }
}

pub fn assess_gap(year: u16) -> Command {
    Command::AssessGapShares { year }
}

// ---------------------------------------------------------------------------------------------
// Setup paths: the command sequences most rule tests start from.
// ---------------------------------------------------------------------------------------------

/// A premium collection of `amount` in `tax_batch`, transferred in full to the pooled fund.
pub fn collected_and_transferred(region: RegionCode, period: Period, amount: Money, tax_batch: &str) -> Vec<Command> {
    vec![collect(region, period, amount, tax_batch), transfer(region, period, amount)]
}

/// A plan submitted, approved by HRSS and reviewed by Finance.
pub fn plan_reviewed(
    plan: &str,
    region: RegionCode,
    period: Period,
    lines: &[(ExpenditureCategory, Money)],
) -> Vec<Command> {
    vec![submit(plan, region, period, lines), approve(plan), review(plan)]
}

/// A reviewed plan allocated in full in one tranche (the pooled fund and a budget must cover it).
pub fn plan_allocated(
    plan: &str,
    region: RegionCode,
    period: Period,
    lines: &[(ExpenditureCategory, Money)],
) -> Vec<Command> {
    let total: Money = lines.iter().map(|(_, a)| *a).sum();
    let mut commands = plan_reviewed(plan, region, period, lines);
    commands.push(allocate(plan, total));
    commands
}

/// Closes all twelve months of `year` for every paying unit of the policy (16 × 12 = 192
/// commands for Gansu). Each unit's income must already be transferred.
pub fn close_year(policy: &Policy, year: u16) -> Vec<Command> {
    policy.units.iter().flat_map(|u| Period::months_of(year).map(move |period| close(u.code, period))).collect()
}

// ---------------------------------------------------------------------------------------------
// The ledger under test.
// ---------------------------------------------------------------------------------------------

/// A fund state, the policy it is decided under, and every event accepted so far.
#[derive(Debug, Clone)]
pub struct Ledger {
    pub state: FundState,
    pub policy: Policy,
    /// Every event accepted so far, in order (replaying them gives `state`).
    pub events: Vec<Event>,
    /// Counter behind the tax batch refs that setup helpers invent ("SETUP-1", ...).
    setup_batches: u32,
}

impl Ledger {
    /// An empty fund under Gansu's shipped policy.
    pub fn gansu() -> Ledger {
        Ledger::with_policy(Policy::gansu())
    }

    /// An empty fund under any policy (e.g. Gansu's with one parameter changed).
    pub fn with_policy(policy: Policy) -> Ledger {
        Ledger { state: FundState::new(), policy, events: Vec::new(), setup_batches: 0 }
    }

    pub fn state(&self) -> &FundState {
        &self.state
    }

    /// Decides a command against the current state without applying anything.
    pub fn decide(&self, command: &Command) -> Result<Vec<Event>, Rejection> {
        decide(&self.state, command, &Context { policy: &self.policy })
    }

    /// Decides a command and, if accepted, applies its events; either way returns the outcome.
    /// A rejection is asserted to leave the state unchanged.
    pub fn try_apply(&mut self, command: &Command) -> Result<Vec<Event>, Rejection> {
        let before = self.state.clone();
        match self.decide(command) {
            Ok(events) => {
                for event in &events {
                    self.state.apply(event);
                }
                if let Err(broken) = self.state.check_identities() {
                    panic!("identity broken after {}: {broken}", command.name());
                }
                self.events.extend(events.iter().cloned());
                Ok(events)
            }
            Err(rejection) => {
                assert!(self.state == before, "rejected {} changed the state", command.name());
                Err(rejection)
            }
        }
    }

    /// Decides and applies each command in order, panicking with the first rejection.
    #[track_caller]
    pub fn given(&mut self, commands: &[Command]) -> &mut Ledger {
        for (i, command) in commands.iter().enumerate() {
            if let Err(rejection) = self.try_apply(command) {
                panic!("given command #{i} ({}) was refused: {rejection}\n{command:?}", command.name());
            }
        }
        self
    }

    /// Decides and applies one command; panics with the rejection if refused. Returns its events.
    #[track_caller]
    pub fn then_ok(&mut self, command: Command) -> Vec<Event> {
        match self.try_apply(&command) {
            Ok(events) => events,
            Err(rejection) => panic!("{} was refused: {rejection}\n{command:?}", command.name()),
        }
    }

    /// Starts a "when" step; finish it with [`When::then_events`], [`When::then_expect`] or
    /// [`When::then_rejected`].
    pub fn when(&mut self, command: Command) -> When<'_> {
        When { ledger: self, command }
    }

    /// A fresh tax batch ref for setup collections.
    fn next_setup_batch(&mut self) -> String {
        self.setup_batches += 1;
        format!("SETUP-{}", self.setup_batches)
    }

    /// Collects `amount` of premium for `region` and `period` and transfers it in full.
    #[track_caller]
    pub fn funded(&mut self, region: RegionCode, period: Period, amount: Money) -> &mut Ledger {
        let tax_batch = self.next_setup_batch();
        self.given(&collected_and_transferred(region, period, amount, &tax_batch))
    }

    /// Brings a region to where it can pay in `period`: its income of the plan's total collected
    /// and transferred, a budget (of [`DEFAULT_BUDGET_EXPENDITURE_YUAN`], no income lines)
    /// adopted if the year has none, and the plan submitted, approved, reviewed and allocated.
    #[track_caller]
    pub fn ready_to_pay(
        &mut self,
        plan: &str,
        region: RegionCode,
        period: Period,
        lines: &[(ExpenditureCategory, Money)],
    ) -> &mut Ledger {
        let total: Money = lines.iter().map(|(_, a)| *a).sum();
        self.funded(region, period, total);
        if self.state.budget(region, period.year()).is_none() {
            self.given(&[Command::AdoptBudget {
                region,
                year: period.year(),
                lines: BudgetLines {
                    income: vec![],
                    expenditure: vec![(ExpenditureCategory::Medical, yuan(DEFAULT_BUDGET_EXPENDITURE_YUAN))],
                },
            }]);
        }
        self.given(&plan_allocated(plan, region, period, lines))
    }
}

/// A command waiting for its expected outcome.
#[must_use = "finish with then_events, then_expect or then_rejected"]
pub struct When<'a> {
    ledger: &'a mut Ledger,
    command: Command,
}

impl When<'_> {
    /// The command must be accepted; its events are applied, handed to `check`, and returned.
    #[track_caller]
    pub fn then_events(self, check: impl FnOnce(&[Event])) -> Vec<Event> {
        let events = self.ledger.then_ok(self.command);
        check(&events);
        events
    }

    /// The command must be accepted with exactly these events (which are applied).
    #[track_caller]
    pub fn then_expect(self, expected: &[Event]) {
        let events = self.ledger.then_ok(self.command);
        assert_eq!(events, expected, "events differ from the expected ones");
    }

    /// The command must be refused for `reason`, leaving the state unchanged. Returns the
    /// rejection's message so a test can check what it names.
    #[track_caller]
    pub fn then_rejected(self, reason: Reason) -> String {
        let before = self.ledger.state.clone();
        let name = self.command.name();
        match self.ledger.try_apply(&self.command) {
            Err(rejection) => {
                assert!(self.ledger.state == before, "a refused {name} changed the state");
                assert_eq!(rejection.reason, reason, "{name} refused for the wrong reason: {rejection}");
                rejection.message
            }
            Ok(events) => panic!("{name} was accepted ({events:?}); expected rejection {}", reason.code()),
        }
    }
}
