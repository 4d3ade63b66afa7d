//! The `LedgerQueries` service: the five views, plans, with filters; read-your-writes through
//! `min_position`; as-of answers from a rebuild.
//!
//! Live answers read the views the writer keeps (a read lock held only while copying out the
//! answer). `min_position` waits on the engine's applied-head watch, bounded by
//! [`limits::min_position_wait_max`]. As-of answers fold the log on a blocking thread, at most
//! [`limits::rebuilds_concurrent_max`] at once.

use std::sync::Arc;

use fundledger_domain::{Period, RegionCode};
use fundledger_engine::Engine;
use fundledger_projections::{AsOf, BudgetAlertKind, RateSignal, Views, WarningLevel};
use fundledger_store::EventLog;
use tokio::sync::Semaphore;
use tonic::{Request, Response, Status};

use crate::auth::{Principal, principal_of};
use crate::convert::{self, money_text};
use crate::errors::ApiError;
use crate::limits;
use crate::pb;
use crate::pb::ledger_queries_server::LedgerQueries;

/// The query service over a running engine.
pub struct Queries<L: EventLog + 'static> {
    engine: Arc<Engine<L>>,
    rebuilds: Arc<Semaphore>,
}

impl<L: EventLog + 'static> Queries<L> {
    pub fn new(engine: Arc<Engine<L>>, rebuilds: Arc<Semaphore>) -> Queries<L> {
        Queries { engine, rebuilds }
    }

    /// Runs `answer` on the views the read options ask for: live (after waiting for
    /// `min_position`) or rebuilt as of a point.
    async fn with_views<T: Send + 'static>(
        &self,
        read: Option<&pb::ReadOptions>,
        answer: impl FnOnce(&Views) -> T + Send + 'static,
    ) -> Result<(T, pb::ViewPosition), ApiError> {
        let read = read.cloned().unwrap_or_default();
        if let Some(as_of) = as_of(read.as_of.as_ref())? {
            let (views, position) = rebuild_views(&self.engine, &self.rebuilds, as_of).await?;
            return Ok((answer(&views), pb::ViewPosition { position, rebuilt: true }));
        }
        let shared = self.engine.shared();
        if read.min_position > 0 {
            wait_applied(shared, read.min_position).await?;
        }
        let position = shared.applied().position;
        Ok((shared.read(answer), pb::ViewPosition { position, rebuilt: false }))
    }
}

/// Waits until the views include `position`, at most [`limits::min_position_wait_max`].
pub async fn wait_applied(shared: &fundledger_engine::Shared, position: u64) -> Result<(), ApiError> {
    let mut applied = shared.subscribe_applied();
    let waited = tokio::time::timeout(
        limits::min_position_wait_max,
        applied.wait_for(|head| head.position >= position || shared.stopped().is_some()),
    )
    .await;
    if let Some(why) = shared.stopped() {
        return Err(ApiError::new(tonic::Code::Unavailable, "STOPPED", why));
    }
    match waited {
        Ok(Ok(_)) => Ok(()),
        _ => Err(ApiError::not_caught_up(position, shared.applied().position)),
    }
}

/// The as-of point a request names, if any.
pub fn as_of(as_of: Option<&pb::read_options::AsOf>) -> Result<Option<AsOf>, ApiError> {
    use pb::read_options::AsOf as A;
    match as_of {
        None => Ok(None),
        Some(A::AsOfPosition(p)) => Ok(Some(AsOf::Position(*p))),
        Some(A::AsOfTime(text)) => Ok(Some(AsOf::Time(time_micros("read.as_of_time", text)?))),
    }
}

/// RFC 3339 text to microseconds since the Unix epoch.
pub fn time_micros(field: &str, text: &str) -> Result<i64, ApiError> {
    if text.len() > limits::time_text_bytes_max {
        return Err(ApiError::invalid(
            field,
            "TEXT_TOO_LONG",
            format!("longer than {} bytes", limits::time_text_bytes_max),
        ));
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_micros())
        .map_err(|e| ApiError::invalid(field, "INVALID_TIME", format!("{text:?} is not an RFC 3339 time: {e}")))
}

/// Rebuilds the views as of a point on a blocking thread, holding one of the rebuild slots.
pub async fn rebuild_views<L: EventLog + 'static>(
    engine: &Arc<Engine<L>>,
    rebuilds: &Arc<Semaphore>,
    as_of: AsOf,
) -> Result<(Views, u64), ApiError> {
    let permit = tokio::time::timeout(limits::rebuild_wait_max, rebuilds.clone().acquire_owned())
        .await
        .map_err(|_| ApiError::overloaded("every rebuild slot stayed busy; retry later"))?
        .map_err(|_| ApiError::new(tonic::Code::Unavailable, "SHUTTING_DOWN", "the server is shutting down"))?;
    let (log, policy) = (engine.log().clone(), engine.policy().clone());
    let task = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        fundledger_engine::rebuild(&*log, policy, as_of, &mut |_, _| {})
    });
    let (views, summary) = tokio::time::timeout(limits::rebuild_duration_max, task)
        .await
        .map_err(|_| {
            ApiError::new(tonic::Code::DeadlineExceeded, "REBUILD_TOO_LONG", "the rebuild ran past its limit")
        })?
        .map_err(|e| ApiError::internal("INTERNAL", format!("the rebuild task failed: {e}")))?
        .map_err(ApiError::from)?;
    Ok((views, summary.through_position))
}

/// A parsed filter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Filter {
    pub region: Option<RegionCode>,
    pub from: Option<Period>,
    pub to: Option<Period>,
}

impl Filter {
    pub fn parse(filter: Option<&pb::Filter>) -> Result<Filter, ApiError> {
        let Some(f) = filter else { return Ok(Filter::default()) };
        let optional = |field: &str, text: &str| -> Result<Option<Period>, ApiError> {
            if text.is_empty() { Ok(None) } else { convert::period(field, text).map(Some) }
        };
        let region = if f.region.is_empty() { None } else { Some(convert::region("filter.region", &f.region)?) };
        let from = optional("filter.period_from", &f.period_from)?;
        let to = optional("filter.period_to", &f.period_to)?;
        if let (Some(a), Some(b)) = (from, to)
            && a > b
        {
            return Err(ApiError::invalid("filter.period_to", "INVALID_RANGE", format!("{b} is before {a}")));
        }
        Ok(Filter { region, from, to })
    }

    /// The filter as a principal may use it: region roles are limited to their region.
    fn scoped(mut self, principal: &Principal) -> Result<Filter, ApiError> {
        self.region = principal.region_scope(self.region)?;
        Ok(self)
    }

    fn region_ok(&self, region: RegionCode) -> bool {
        self.region.is_none_or(|r| r == region)
    }

    fn period_ok(&self, period: Period) -> bool {
        self.from.is_none_or(|f| period >= f) && self.to.is_none_or(|t| period <= t)
    }

    fn year_ok(&self, year: u16) -> bool {
        self.from.is_none_or(|f| year >= f.year()) && self.to.is_none_or(|t| year <= t.year())
    }
}

fn decimal_text(value: Option<rust_decimal::Decimal>) -> String {
    value.map(|d| d.normalize().to_string()).unwrap_or_default()
}

fn opt_money(value: Option<fundledger_domain::Money>) -> String {
    value.map(money_text).unwrap_or_default()
}

fn region_amounts(list: Vec<(RegionCode, fundledger_domain::Money)>, filter: &Filter) -> Vec<pb::RegionAmount> {
    list.into_iter()
        .filter(|(r, _)| filter.region_ok(*r))
        .map(|(r, m)| pb::RegionAmount { region: r.to_string(), amount: money_text(m) })
        .collect()
}

pub fn provincial_reply(
    views: &Views,
    filter: &Filter,
    income_category: Option<fundledger_domain::IncomeCategory>,
) -> pb::ProvincialFundReply {
    use pb::provincial_fund_reply as r;
    let fund = views.provincial();
    pb::ProvincialFundReply {
        view: None,
        pooled_balance: money_text(fund.pooled_balance()),
        periods: fund
            .pooled_by_period()
            .into_iter()
            .filter(|p| filter.period_ok(p.period))
            .map(|p| r::PooledPeriod {
                period: p.period.to_string(),
                transfers_in: money_text(p.transfers_in),
                provincial_income: money_text(p.provincial_income),
                consolidated: money_text(p.consolidated),
                allocated: money_text(p.allocated),
                net_change: money_text(p.net_change),
                closing_balance: money_text(p.closing_balance),
            })
            .collect(),
        income: fund
            .income_by_category()
            .into_iter()
            .filter(|i| income_category.is_none_or(|c| c == i.category))
            .map(|i| r::Income {
                category: convert::income_category_pb(i.category),
                collected: money_text(i.collected),
                refunded: money_text(i.refunded),
                net: money_text(i.net),
            })
            .collect(),
        provincial_income: fund
            .provincial_income_by_kind()
            .into_iter()
            .map(|(k, m)| r::ProvincialIncome { kind: convert::provincial_income_kind_pb(k), amount: money_text(m) })
            .collect(),
        transfers_by_region: region_amounts(fund.transfers_by_region(), filter),
        allocations_by_region: region_amounts(fund.allocations_by_region(), filter),
        legacy_total: money_text(fund.legacy_total()),
        fiscal_advances_total: money_text(fund.fiscal_advances_total()),
    }
}

pub fn region_expenditure_reply(
    views: &Views,
    filter: &Filter,
    category: Option<fundledger_domain::ExpenditureCategory>,
) -> pb::RegionExpenditureReply {
    use pb::region_expenditure_reply as r;
    let view = views.region_expenditure();
    pb::RegionExpenditureReply {
        view: None,
        rows: view
            .rows()
            .into_iter()
            .filter(|row| filter.region_ok(row.region) && filter.period_ok(row.period))
            .map(|row| r::Row {
                region: row.region.to_string(),
                period: row.period.to_string(),
                categories: row
                    .categories
                    .iter()
                    .filter(|c| category.is_none_or(|want| want == c.category))
                    .map(|c| r::Category {
                        category: convert::expenditure_category_pb(c.category),
                        planned: money_text(c.planned),
                        approved: money_text(c.approved),
                        reviewed: money_text(c.reviewed),
                        paid: money_text(c.paid),
                        reversed: money_text(c.reversed),
                        net_paid: money_text(c.net_paid),
                    })
                    .collect(),
                allocated: money_text(row.allocated),
                plan_id: row.current_plan.map(|(id, _)| id.to_string()).unwrap_or_default(),
                plan_status: row.current_plan.map(|(_, s)| s.as_str().to_string()).unwrap_or_default(),
            })
            .collect(),
        execution: view
            .execution()
            .into_iter()
            .filter(|e| filter.region_ok(e.region) && filter.year_ok(e.year))
            .filter(|e| category.is_none() || e.category == category)
            .map(|e| r::Execution {
                region: e.region.to_string(),
                year: u32::from(e.year),
                category: e.category.map(convert::expenditure_category_pb).unwrap_or(0),
                budget: money_text(e.budget),
                net_paid_ytd: money_text(e.net_paid_ytd),
                rate: decimal_text(e.rate),
            })
            .collect(),
    }
}

pub fn two_lines_reply(views: &Views, filter: &Filter, flagged_only: bool, province_wide: bool) -> pb::TwoLinesReply {
    use pb::two_lines_reply as r;
    let view = views.two_lines();
    pb::TwoLinesReply {
        view: None,
        rows: view
            .rows()
            .into_iter()
            .filter(|row| filter.region_ok(row.region) && filter.period_ok(row.period))
            .filter(|row| !flagged_only || row.flags.any())
            .map(|row| r::Row {
                region: row.region.to_string(),
                period: row.period.to_string(),
                income: Some(r::Income {
                    collected: money_text(row.income.collected),
                    refunded: money_text(row.income.refunded),
                    transferred: money_text(row.income.transferred),
                    untransferred: money_text(row.income.untransferred),
                }),
                expenditure: Some(r::Expenditure {
                    allocated: money_text(row.expenditure.allocated),
                    paid: money_text(row.expenditure.paid),
                    reversed: money_text(row.expenditure.reversed),
                    balance: money_text(row.expenditure.balance),
                }),
                closed_at: row.closed_at.unwrap_or(0),
                untransferred_at_close: opt_money(row.flags.untransferred_at_close),
                income_left_at_month_end: opt_money(row.flags.income_left_at_month_end),
                allocated_unpaid_at_close: opt_money(row.flags.allocated_unpaid_at_close),
            })
            .collect(),
        reconciliations: if province_wide {
            view.reconciliations()
                .into_iter()
                .map(|c| r::Reconciliation {
                    name: c.name,
                    lhs: money_text(c.lhs),
                    rhs: money_text(c.rhs),
                    difference: money_text(c.difference),
                    reconciled: c.reconciled,
                })
                .collect()
        } else {
            Vec::new()
        },
    }
}

fn warning_text(level: WarningLevel) -> &'static str {
    match level {
        WarningLevel::Red => "red",
        WarningLevel::Amber => "amber",
        WarningLevel::Green => "green",
    }
}

pub fn health_reply(views: &Views, filter: &Filter) -> pb::FundHealthReply {
    use pb::fund_health_reply as r;
    let health = views.health();
    pb::FundHealthReply {
        view: None,
        series: health
            .series()
            .into_iter()
            .filter(|p| filter.period_ok(p.period))
            .map(|p| {
                let (signal, pct) = match p.rate_signal {
                    None => ("", None),
                    Some(RateSignal::NoCut) => ("no_cut", None),
                    Some(RateSignal::SmallCut { pct }) => ("small_cut", Some(pct)),
                    Some(RateSignal::LargeCut { pct }) => ("large_cut", Some(pct)),
                };
                r::Point {
                    period: p.period.to_string(),
                    fund_balance: money_text(p.fund_balance),
                    average_monthly_expenditure: decimal_text(p.average_monthly_expenditure),
                    payable_months: decimal_text(p.payable_months),
                    warning: p.warning.map(warning_text).unwrap_or_default().to_string(),
                    rate_signal: signal.to_string(),
                    rate_cut_pct: decimal_text(pct),
                }
            })
            .collect(),
        budget_alerts: health
            .budget_alerts()
            .into_iter()
            .filter(|a| filter.region_ok(a.region) && filter.year_ok(a.year))
            .map(|a| r::BudgetAlert {
                region: a.region.to_string(),
                year: u32::from(a.year),
                kind: match a.kind {
                    BudgetAlertKind::OverBudget => "over_budget",
                    BudgetAlertKind::AheadOfSchedule => "ahead_of_schedule",
                }
                .to_string(),
                budget: money_text(a.budget),
                net_paid_ytd: money_text(a.net_paid_ytd),
                execution: decimal_text(a.execution),
            })
            .collect(),
        prevention: health
            .prevention_usage()
            .into_iter()
            .filter(|p| filter.year_ok(p.year))
            .map(|p| r::Prevention {
                year: u32::from(p.year),
                base: money_text(p.base),
                cap: money_text(p.cap),
                net_paid: money_text(p.net_paid),
                over_cap: p.over_cap,
            })
            .collect(),
        gap_shares: health
            .gap_shares()
            .iter()
            .filter(|g| filter.year_ok(g.year))
            .map(|g| r::GapAssessment {
                year: u32::from(g.year),
                gap: money_text(g.gap),
                shares: g
                    .shares
                    .iter()
                    .filter(|s| filter.region_ok(s.region))
                    .map(|s| pb::RegionAmount { region: s.region.to_string(), amount: money_text(s.share) })
                    .collect(),
                province_share: money_text(g.province_share),
                position: g.position,
            })
            .collect(),
    }
}

pub fn supervision_reply(views: &Views, filter: &Filter) -> pb::SupervisionReply {
    use pb::supervision_reply as r;
    let view = views.supervision();
    pb::SupervisionReply {
        view: None,
        reversals: view
            .reversals()
            .iter()
            .filter(|s| filter.region_ok(s.region) && filter.period_ok(s.period))
            .map(|s| r::Reversal {
                payment_id: s.payment_id.to_string(),
                region: s.region.to_string(),
                period: s.period.to_string(),
                paid_period: s.paid_period.to_string(),
                benefit: convert::benefit_type_pb(s.benefit),
                amount: money_text(s.amount),
                reason: convert::reversal_reason_pb(s.reason),
                reversal_position: s.reversal_position,
            })
            .collect(),
        multi_region_beneficiaries: view
            .multi_region_beneficiaries()
            .into_iter()
            .filter(|s| filter.period_ok(s.period) && s.payments.iter().any(|(r, _)| filter.region_ok(*r)))
            .map(|s| r::MultiRegion {
                beneficiary: s.beneficiary.to_string(),
                period: s.period.to_string(),
                regions: s.payments.iter().map(|(r, _)| r.to_string()).collect(),
                positions: s.payments.iter().map(|(_, p)| *p).collect(),
            })
            .collect(),
        outliers: view
            .outliers()
            .iter()
            .filter(|s| filter.region_ok(s.region) && filter.period_ok(s.period))
            .map(|s| r::Outlier {
                payment_id: s.payment_id.to_string(),
                region: s.region.to_string(),
                period: s.period.to_string(),
                benefit: convert::benefit_type_pb(s.benefit),
                amount: money_text(s.amount),
                median_upper: money_text(s.median_upper),
                samples: s.samples,
                position: s.position,
            })
            .collect(),
        late_closes: view
            .late_closes()
            .iter()
            .filter(|s| filter.region_ok(s.region) && filter.period_ok(s.period))
            .map(|s| r::LateClose {
                region: s.region.to_string(),
                period: s.period.to_string(),
                position: s.position,
                days_after_end: s.days_after_end,
            })
            .collect(),
    }
}

fn plan_pb(plan: &fundledger_projections::PlanSummary) -> pb::Plan {
    pb::Plan {
        plan_id: plan.plan_id.to_string(),
        region: plan.region.to_string(),
        period: plan.period.to_string(),
        status: plan.status.as_str().to_string(),
        lines: convert::expenditure_amounts(&plan.lines),
        total: money_text(plan.total),
        allocated: money_text(plan.allocated),
        tranches: plan.tranches,
    }
}

fn category_filter<T>(
    value: i32,
    field: &str,
    parse: impl Fn(&str, i32) -> Result<T, ApiError>,
) -> Result<Option<T>, ApiError> {
    if value == 0 { Ok(None) } else { parse(field, value).map(Some) }
}

const PLAN_STATUSES: &[&str] = &["submitted", "approved", "reviewed", "rejected"];

#[tonic::async_trait]
impl<L: EventLog + 'static> LedgerQueries for Queries<L> {
    async fn get_provincial_fund(
        &self,
        request: Request<pb::GetProvincialFundRequest>,
    ) -> Result<Response<pb::ProvincialFundReply>, Status> {
        let principal = principal_of(&request)?;
        let r = request.get_ref();
        principal.require_province_wide("the provincial fund")?;
        let filter = Filter::parse(r.filter.as_ref())?;
        let category = category_filter(r.income_category, "income_category", convert::income_category)?;
        let (mut reply, view) =
            self.with_views(r.read.as_ref(), move |v| provincial_reply(v, &filter, category)).await?;
        reply.view = Some(view);
        Ok(Response::new(reply))
    }

    async fn get_region_expenditure(
        &self,
        request: Request<pb::GetRegionExpenditureRequest>,
    ) -> Result<Response<pb::RegionExpenditureReply>, Status> {
        let principal = principal_of(&request)?;
        let r = request.get_ref();
        let filter = Filter::parse(r.filter.as_ref())?.scoped(&principal)?;
        let category = category_filter(r.category, "category", convert::expenditure_category)?;
        let (mut reply, view) =
            self.with_views(r.read.as_ref(), move |v| region_expenditure_reply(v, &filter, category)).await?;
        reply.view = Some(view);
        Ok(Response::new(reply))
    }

    async fn get_two_lines(
        &self,
        request: Request<pb::GetTwoLinesRequest>,
    ) -> Result<Response<pb::TwoLinesReply>, Status> {
        let principal = principal_of(&request)?;
        let r = request.get_ref();
        let filter = Filter::parse(r.filter.as_ref())?.scoped(&principal)?;
        let province_wide = principal.require_province_wide("").is_ok();
        let flagged_only = r.flagged_only;
        let (mut reply, view) =
            self.with_views(r.read.as_ref(), move |v| two_lines_reply(v, &filter, flagged_only, province_wide)).await?;
        reply.view = Some(view);
        Ok(Response::new(reply))
    }

    async fn get_fund_health(
        &self,
        request: Request<pb::GetFundHealthRequest>,
    ) -> Result<Response<pb::FundHealthReply>, Status> {
        let principal = principal_of(&request)?;
        let r = request.get_ref();
        principal.require_province_wide("the fund's health")?;
        let filter = Filter::parse(r.filter.as_ref())?;
        let (mut reply, view) = self.with_views(r.read.as_ref(), move |v| health_reply(v, &filter)).await?;
        reply.view = Some(view);
        Ok(Response::new(reply))
    }

    async fn get_supervision_signals(
        &self,
        request: Request<pb::GetSupervisionSignalsRequest>,
    ) -> Result<Response<pb::SupervisionReply>, Status> {
        let principal = principal_of(&request)?;
        let r = request.get_ref();
        let filter = Filter::parse(r.filter.as_ref())?.scoped(&principal)?;
        let (mut reply, view) = self.with_views(r.read.as_ref(), move |v| supervision_reply(v, &filter)).await?;
        reply.view = Some(view);
        Ok(Response::new(reply))
    }

    async fn get_plan(&self, request: Request<pb::GetPlanRequest>) -> Result<Response<pb::PlanReply>, Status> {
        let principal = principal_of(&request)?;
        let r = request.get_ref();
        // Admins read no plan; the region check below needs the plan first.
        principal.region_scope(None)?;
        let plan_id = convert::plan_id("plan_id", &r.plan_id)?;
        let (plan, view) = self
            .with_views(r.read.as_ref(), move |v| {
                v.region_expenditure().plans().into_iter().find(|p| p.plan_id == plan_id)
            })
            .await?;
        let plan = plan.ok_or_else(|| {
            ApiError::not_found("UNKNOWN_PLAN", format!("plan {plan_id} is not known")).with("field", "plan_id")
        })?;
        principal.region_scope(Some(plan.region))?;
        Ok(Response::new(pb::PlanReply { view: Some(view), plan: Some(plan_pb(&plan)) }))
    }

    async fn list_plans(&self, request: Request<pb::ListPlansRequest>) -> Result<Response<pb::ListPlansReply>, Status> {
        let principal = principal_of(&request)?;
        let r = request.get_ref();
        let filter = Filter::parse(r.filter.as_ref())?.scoped(&principal)?;
        let status = r.status.clone();
        if !status.is_empty() && !PLAN_STATUSES.contains(&status.as_str()) {
            return Err(ApiError::invalid(
                "status",
                "INVALID_ENUM",
                format!(
                    "{:?} is not one of {}",
                    status.chars().take(limits::filter_text_bytes_max).collect::<String>(),
                    PLAN_STATUSES.join(", ")
                ),
            )
            .into());
        }
        let (plans, view) = self
            .with_views(r.read.as_ref(), move |v| {
                v.region_expenditure()
                    .plans()
                    .iter()
                    .filter(|p| filter.region_ok(p.region) && filter.period_ok(p.period))
                    .filter(|p| status.is_empty() || p.status.as_str() == status)
                    .map(plan_pb)
                    .collect()
            })
            .await?;
        Ok(Response::new(pb::ListPlansReply { view: Some(view), plans }))
    }
}
