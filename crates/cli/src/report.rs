//! `fundledger report`: the fund's state for people. Tables as aligned text (or markdown) on the
//! output, and charts (SVG and PNG) into a folder.
//!
//! The report reads a plain [`ReportData`], not the views themselves, so it can be built from a
//! local rebuild ([`ReportData::from_views`]) or, later, from the API's answers (`report
//! --server`) without this module knowing where the figures came from.
//!
//! Default output, chosen to stay readable for a fund of sixteen units and years of months:
//! - the header (fund, position, latest period);
//! - the two lines, provincial totals for each of the latest 12 months;
//! - the two lines per region summed over those months (one row per region, and the province);
//!   with [`ReportOptions::region`], that region's months instead;
//! - fund health: the latest indicators and the window's series;
//! - budget execution per region, year to date, for the latest year;
//! - supervision signals: counts, and the top N of each kind with the log positions behind them.
//!
//! Money is printed exactly, from the views' decimal amounts; percentages and payable months are
//! rounded for display only (the exact figures are in `rebuild`'s output).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use fundledger_domain::{Money, Period, Policy, RegionCode};
use fundledger_projections::{
    AsOf, BudgetAlert, Execution, HealthPoint, LateCloseSignal, MultiRegionSignal, OutlierSignal, PooledPeriod,
    ProvincialTwoLines, ReversalSignal, TwoLinesRow, Views, WarningLevel,
};
use rust_decimal::Decimal;

use crate::data::DataDir;
use crate::error::CliError;
use crate::rebuild::{rate_signal_text, rebuild_views};
use crate::tables::{Align, Table};

/// Months the default tables cover, ending with the latest period.
pub const REPORT_WINDOW_MONTHS: u32 = 12;
/// Signals of each kind listed by default.
pub const REPORT_TOP_DEFAULT: usize = 10;

/// A paying unit as the report names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitName {
    pub code: RegionCode,
    /// The English name: charts use it (their embedded font has Latin glyphs only).
    pub name_en: String,
    pub name_zh: String,
}

/// Everything the report shows, as plain rows. Built from local views or from the API.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportData {
    pub fund_id: String,
    pub province_name_en: String,
    /// The paying units in the policy's order (the order of every per-region table and chart).
    pub units: Vec<UnitName>,
    /// The policy's warning bands, in payable months.
    pub red_below_months: Decimal,
    pub amber_below_months: Decimal,
    /// The last log position the figures include; `None` for an empty history.
    pub through_position: Option<u64>,
    pub events: u64,
    /// Every region-period of the two lines, sorted by region then period.
    pub two_lines: Vec<TwoLinesRow>,
    /// Provincial two-lines totals per period, in period order.
    pub provincial_by_period: Vec<ProvincialTwoLines>,
    /// The pooled fund per period, in period order.
    pub pooled_by_period: Vec<PooledPeriod>,
    /// Fund health per period, in period order.
    pub health: Vec<HealthPoint>,
    /// Budget execution, every region, year and category (`None` = the region's total).
    pub execution: Vec<Execution>,
    pub budget_alerts: Vec<BudgetAlert>,
    pub reversals: Vec<ReversalSignal>,
    pub multi_region: Vec<MultiRegionSignal>,
    pub outliers: Vec<OutlierSignal>,
    pub late_closes: Vec<LateCloseSignal>,
}

impl ReportData {
    /// The report's figures from folded views and the policy they were folded under.
    pub fn from_views(views: &Views, policy: &Policy) -> ReportData {
        let supervision = views.supervision();
        ReportData {
            fund_id: policy.fund_id.clone(),
            province_name_en: policy.province.name_en.clone(),
            units: policy
                .units
                .iter()
                .map(|u| UnitName { code: u.code, name_en: u.name_en.clone(), name_zh: u.name_zh.clone() })
                .collect(),
            red_below_months: policy.warning.red_below_months,
            amber_below_months: policy.warning.amber_below_months,
            through_position: views.last_position(),
            events: views.events_applied(),
            two_lines: views.two_lines().rows(),
            provincial_by_period: views.two_lines().totals_by_period(),
            pooled_by_period: views.provincial().pooled_by_period(),
            health: views.health().series(),
            execution: views.region_expenditure().execution(),
            budget_alerts: views.health().budget_alerts(),
            reversals: supervision.reversals().to_vec(),
            multi_region: supervision.multi_region_beneficiaries(),
            outliers: supervision.outliers().to_vec(),
            late_closes: supervision.late_closes().to_vec(),
        }
    }

    /// Rebuilds `data` at its head (progress on stderr when asked) and takes the report's figures.
    pub fn from_data_dir(data: &DataDir, policy: Arc<Policy>, show_progress: bool) -> Result<ReportData, CliError> {
        let rebuilt = rebuild_views(data, policy.clone(), AsOf::Head, show_progress)?;
        Ok(ReportData::from_views(&rebuilt.views, &policy))
    }

    /// The latest period with any activity.
    pub fn latest_period(&self) -> Option<Period> {
        let two_lines = self.provincial_by_period.iter().filter_map(|p| p.period).next_back();
        let health = self.health.last().map(|h| h.period);
        two_lines.max(health)
    }

    /// "620100 Lanzhou" (or the code alone for a unit the policy does not name).
    pub fn unit_label(&self, code: RegionCode) -> String {
        match self.units.iter().find(|u| u.code == code) {
            Some(u) => format!("{code} {}", u.name_en),
            None => code.to_string(),
        }
    }

    /// The unit's English name, or its code.
    pub fn unit_name(&self, code: RegionCode) -> String {
        self.units.iter().find(|u| u.code == code).map_or_else(|| code.to_string(), |u| u.name_en.clone())
    }

    /// The latest year with budget execution figures.
    pub fn latest_execution_year(&self) -> Option<u16> {
        self.execution.iter().map(|e| e.year).max()
    }
}

/// What the report shows beyond the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportOptions {
    /// Show this region's months in the two-lines section instead of the per-region summary.
    pub region: Option<RegionCode>,
    /// The periods the two-lines and health tables cover (inclusive); default: the latest
    /// [`REPORT_WINDOW_MONTHS`] months.
    pub periods: Option<(Period, Period)>,
    /// GitHub markdown tables instead of aligned text.
    pub markdown: bool,
    /// Signals of each kind to list.
    pub top: usize,
}

impl Default for ReportOptions {
    fn default() -> ReportOptions {
        ReportOptions { region: None, periods: None, markdown: false, top: REPORT_TOP_DEFAULT }
    }
}

/// Writes the default report of `data` to `out`, and its charts into `charts_dir` when given.
/// Returns the chart files written.
pub fn run(data: ReportData, charts_dir: Option<&Path>, out: &mut dyn Write) -> Result<Vec<PathBuf>, CliError> {
    run_with(&data, &ReportOptions::default(), charts_dir, out)
}

/// [`run`] with options.
pub fn run_with(
    data: &ReportData,
    options: &ReportOptions,
    charts_dir: Option<&Path>,
    out: &mut dyn Write,
) -> Result<Vec<PathBuf>, CliError> {
    let io = |source| CliError::Io { what: "writing the report to", path: "<output>".into(), source };
    for block in blocks(data, options) {
        match block {
            Block::Line(text) => writeln!(out, "{text}").map_err(io)?,
            Block::Table(table) if options.markdown => table.write_markdown(out).map_err(io)?,
            Block::Table(table) => table.write_text(out).map_err(io)?,
        }
    }
    out.flush().map_err(io)?;
    match charts_dir {
        Some(dir) => crate::charts::write_all(data, dir),
        None => Ok(Vec::new()),
    }
}

/// One piece of the report.
enum Block {
    Line(String),
    Table(Table),
}

/// Percent of an exact ratio, one decimal ("87.3%"); rounding is for display only.
fn percent(ratio: Decimal) -> String {
    format!("{:.1}%", ratio * Decimal::ONE_HUNDRED)
}

fn warning_text(level: Option<WarningLevel>) -> &'static str {
    match level {
        Some(WarningLevel::Red) => "RED",
        Some(WarningLevel::Amber) => "amber",
        Some(WarningLevel::Green) => "green",
        None => "-",
    }
}

/// The periods the windowed tables cover.
fn window(data: &ReportData, options: &ReportOptions) -> Option<(Period, Period)> {
    if let Some(range) = options.periods {
        return Some(range);
    }
    let last = data.latest_period()?;
    let first = Period::from_index(last.index().saturating_sub(REPORT_WINDOW_MONTHS - 1)).unwrap_or(last);
    Some((first, last))
}

fn blocks(data: &ReportData, options: &ReportOptions) -> Vec<Block> {
    let mut out = Vec::new();
    let latest = data.latest_period();
    out.push(Block::Line(format!(
        "fundledger report: {} ({}), through log position {} ({} events), latest period {}\n",
        data.province_name_en,
        data.fund_id,
        data.through_position.unwrap_or(0),
        data.events,
        latest.map_or_else(|| "none".to_string(), |p| p.to_string()),
    )));
    let Some((first, last)) = window(data, options) else {
        out.push(Block::Line("The ledger holds no activity yet.".into()));
        return out;
    };
    let in_window = |p: Period| p >= first && p <= last;
    let span = format!("{first} to {last}");

    // Two lines: provincial totals by month.
    let mut t = Table::new(
        format!("Two lines, provincial totals by month, {span} (balance: expenditure accounts at close)"),
        &TWO_LINES_COLUMNS_PERIOD,
    );
    for p in data.provincial_by_period.iter().filter(|p| p.period.is_some_and(in_window)) {
        let (i, e) = (p.income, p.expenditure);
        t.push(vec![
            p.period.map(|p| p.to_string()).unwrap_or_default(),
            i.collected.to_string(),
            i.refunded.to_string(),
            i.transferred.to_string(),
            i.untransferred.to_string(),
            e.allocated.to_string(),
            e.paid.to_string(),
            e.reversed.to_string(),
            e.balance.to_string(),
        ]);
    }
    out.push(Block::Table(t));

    // Two lines per region: summed over the window, or one region's months.
    match options.region {
        Some(region) => out.push(Block::Table(region_months(data, region, in_window, &span))),
        None => out.push(Block::Table(region_summary(data, in_window, &span))),
    }

    // Fund health.
    if let Some(h) = data.health.iter().rev().find(|h| h.period <= last) {
        out.push(Block::Line(format!(
            "Fund health at {}: fund balance {}, average monthly expenditure {}, payable months {} ({}; red below {}, amber below {}), rate signal {}\n",
            h.period,
            h.fund_balance,
            h.average_monthly_expenditure.map_or_else(|| "-".into(), |a| format!("{:.2}", a)),
            h.payable_months_rounded.map_or_else(|| "-".into(), |m| m.to_string()),
            warning_text(h.warning),
            data.red_below_months,
            data.amber_below_months,
            h.rate_signal.map_or_else(|| "-".into(), rate_signal_text),
        )));
    }
    let pooled: BTreeMap<Period, Money> = data.pooled_by_period.iter().map(|p| (p.period, p.closing_balance)).collect();
    let mut t = Table::new(
        format!("Fund health by month, {span}"),
        &[
            ("period", Align::Left),
            ("fund balance", Align::Right),
            ("pooled fund", Align::Right),
            ("avg monthly exp.", Align::Right),
            ("payable months", Align::Right),
            ("warning", Align::Left),
            ("rate signal", Align::Left),
        ],
    );
    for h in data.health.iter().filter(|h| in_window(h.period)) {
        t.push(vec![
            h.period.to_string(),
            h.fund_balance.to_string(),
            pooled.range(..=h.period).next_back().map(|(_, m)| m.to_string()).unwrap_or_default(),
            h.average_monthly_expenditure.map_or_else(|| "-".into(), |a| format!("{:.2}", a)),
            h.payable_months_rounded.map_or_else(|| "-".into(), |m| m.to_string()),
            warning_text(h.warning).to_string(),
            h.rate_signal.map_or_else(|| "-".into(), rate_signal_text),
        ]);
    }
    out.push(Block::Table(t));

    // Budget execution, latest year.
    if let Some(year) = data.latest_execution_year() {
        out.push(Block::Table(execution_table(data, year)));
    }

    // Supervision.
    out.extend(supervision_blocks(data, options.top));
    out
}

const TWO_LINES_COLUMNS_PERIOD: [(&str, Align); 9] = [
    ("period", Align::Left),
    ("collected", Align::Right),
    ("refunded", Align::Right),
    ("transferred", Align::Right),
    ("untransferred", Align::Right),
    ("allocated", Align::Right),
    ("paid", Align::Right),
    ("reversed", Align::Right),
    ("balance", Align::Right),
];

/// Sums of one region's (or the province's) rows over the window, in fen.
#[derive(Default)]
struct Sums {
    collected: Money,
    refunded: Money,
    transferred: Money,
    untransferred: Money,
    allocated: Money,
    paid: Money,
    reversed: Money,
    /// The expenditure account's balance at the close of the region's last period in the window.
    balance: Money,
    flagged: usize,
}

impl Sums {
    fn add(&mut self, r: &TwoLinesRow) {
        self.collected = self.collected.add(r.income.collected);
        self.refunded = self.refunded.add(r.income.refunded);
        self.transferred = self.transferred.add(r.income.transferred);
        self.untransferred = self.untransferred.add(r.income.untransferred);
        self.allocated = self.allocated.add(r.expenditure.allocated);
        self.paid = self.paid.add(r.expenditure.paid);
        self.reversed = self.reversed.add(r.expenditure.reversed);
        self.flagged += usize::from(r.flags.any());
    }

    fn cells(&self, label: String) -> Vec<String> {
        vec![
            label,
            self.collected.to_string(),
            self.refunded.to_string(),
            self.transferred.to_string(),
            self.untransferred.to_string(),
            self.allocated.to_string(),
            self.paid.to_string(),
            self.reversed.to_string(),
            self.balance.to_string(),
            self.flagged.to_string(),
        ]
    }
}

fn region_summary(data: &ReportData, in_window: impl Fn(Period) -> bool, span: &str) -> Table {
    let mut columns = vec![("region", Align::Left)];
    columns.extend_from_slice(&TWO_LINES_COLUMNS_PERIOD[1..]);
    columns.push(("flagged months", Align::Right));
    let mut t = Table::new(
        format!("Two lines per region, summed over {span} (balance: expenditure account at the last close)"),
        &columns,
    );
    let mut by_region: BTreeMap<RegionCode, Sums> = BTreeMap::new();
    for r in data.two_lines.iter().filter(|r| in_window(r.period)) {
        let sums = by_region.entry(r.region).or_default();
        sums.add(r);
        // Rows come in period order within a region: the last one carries the closing balance.
        sums.balance = r.expenditure.balance;
    }
    let mut province = Sums::default();
    // Policy order first, then any region the policy does not list (an older policy file).
    let mut order: Vec<RegionCode> = data.units.iter().map(|u| u.code).collect();
    order.extend(by_region.keys().filter(|c| !data.units.iter().any(|u| u.code == **c)));
    for code in order {
        let Some(s) = by_region.get(&code) else { continue };
        t.push(s.cells(data.unit_label(code)));
        province.collected = province.collected.add(s.collected);
        province.refunded = province.refunded.add(s.refunded);
        province.transferred = province.transferred.add(s.transferred);
        province.untransferred = province.untransferred.add(s.untransferred);
        province.allocated = province.allocated.add(s.allocated);
        province.paid = province.paid.add(s.paid);
        province.reversed = province.reversed.add(s.reversed);
        province.balance = province.balance.add(s.balance);
        province.flagged += s.flagged;
    }
    t.push(province.cells("province".into()));
    t
}

fn region_months(data: &ReportData, region: RegionCode, in_window: impl Fn(Period) -> bool, span: &str) -> Table {
    let mut columns = TWO_LINES_COLUMNS_PERIOD.to_vec();
    columns.push(("flags", Align::Left));
    let mut t = Table::new(format!("Two lines of {}, {span}", data.unit_label(region)), &columns);
    for r in data.two_lines.iter().filter(|r| r.region == region && in_window(r.period)) {
        let (i, e, f) = (r.income, r.expenditure, r.flags);
        let mut flags = Vec::new();
        if let Some(m) = f.untransferred_at_close {
            flags.push(format!("untransferred at close {m}"));
        }
        if let Some(m) = f.income_left_at_month_end {
            flags.push(format!("income left at month end {m}"));
        }
        if let Some(m) = f.allocated_unpaid_at_close {
            flags.push(format!("allocated unpaid at close {m}"));
        }
        t.push(vec![
            r.period.to_string(),
            i.collected.to_string(),
            i.refunded.to_string(),
            i.transferred.to_string(),
            i.untransferred.to_string(),
            e.allocated.to_string(),
            e.paid.to_string(),
            e.reversed.to_string(),
            e.balance.to_string(),
            flags.join("; "),
        ]);
    }
    t
}

fn execution_table(data: &ReportData, year: u16) -> Table {
    let mut t = Table::new(
        format!("Budget execution {year}, year to date"),
        &[
            ("region", Align::Left),
            ("budget", Align::Right),
            ("net paid", Align::Right),
            ("execution", Align::Right),
            ("alerts", Align::Left),
        ],
    );
    let mut totals: Vec<&Execution> =
        data.execution.iter().filter(|e| e.year == year && e.category.is_none()).collect();
    // The policy's order, as in every per-region table; units the policy does not list last.
    let rank = |code: RegionCode| data.units.iter().position(|u| u.code == code).unwrap_or(usize::MAX);
    totals.sort_by_key(|e| (rank(e.region), e.region));
    for e in totals {
        let alerts: Vec<&str> = data
            .budget_alerts
            .iter()
            .filter(|a| a.region == e.region && a.year == year)
            .map(|a| match a.kind {
                fundledger_projections::BudgetAlertKind::OverBudget => "over budget",
                fundledger_projections::BudgetAlertKind::AheadOfSchedule => "ahead of schedule",
            })
            .collect();
        t.push(vec![
            data.unit_label(e.region),
            e.budget.to_string(),
            e.net_paid_ytd.to_string(),
            e.rate.map_or_else(|| "-".into(), percent),
            alerts.join(", "),
        ]);
    }
    t
}

fn supervision_blocks(data: &ReportData, top: usize) -> Vec<Block> {
    let mut out = Vec::new();
    let mut t = Table::new("Supervision signals", &[("signal", Align::Left), ("count", Align::Right)]);
    for (name, count) in [
        ("payment reversals", data.reversals.len()),
        ("beneficiaries paid by several regions in one period", data.multi_region.len()),
        ("outlier payments (above 3x the running median)", data.outliers.len()),
        ("late period closes", data.late_closes.len()),
    ] {
        t.push(vec![name.into(), count.to_string()]);
    }
    out.push(Block::Table(t));

    let mut outliers: Vec<&OutlierSignal> = data.outliers.iter().collect();
    outliers.sort_by(|a, b| b.amount.cmp(&a.amount).then(a.position.cmp(&b.position)));
    let mut t = Table::new(
        format!("Largest outlier payments (top {top})"),
        &[
            ("position", Align::Right),
            ("payment", Align::Left),
            ("region", Align::Left),
            ("period", Align::Left),
            ("benefit", Align::Left),
            ("amount", Align::Right),
            ("median below", Align::Right),
        ],
    );
    for o in outliers.into_iter().take(top) {
        t.push(vec![
            o.position.to_string(),
            o.payment_id.to_string(),
            data.unit_label(o.region),
            o.period.to_string(),
            o.benefit.to_string(),
            o.amount.to_string(),
            o.median_upper.to_string(),
        ]);
    }
    out.push(Block::Table(t));

    let mut reversals: Vec<&ReversalSignal> = data.reversals.iter().collect();
    reversals.sort_by(|a, b| b.amount.cmp(&a.amount).then(a.reversal_position.cmp(&b.reversal_position)));
    let mut t = Table::new(
        format!("Largest payment reversals (top {top})"),
        &[
            ("position", Align::Right),
            ("payment at", Align::Right),
            ("payment", Align::Left),
            ("region", Align::Left),
            ("paid period", Align::Left),
            ("amount", Align::Right),
            ("reason", Align::Left),
        ],
    );
    for r in reversals.into_iter().take(top) {
        t.push(vec![
            r.reversal_position.to_string(),
            r.payment_position.map_or_else(|| "-".into(), |p| p.to_string()),
            r.payment_id.to_string(),
            data.unit_label(r.region),
            r.paid_period.to_string(),
            r.amount.to_string(),
            r.reason.to_string(),
        ]);
    }
    out.push(Block::Table(t));

    let mut late: Vec<&LateCloseSignal> = data.late_closes.iter().collect();
    late.sort_by(|a, b| b.days_after_end.cmp(&a.days_after_end).then(a.position.cmp(&b.position)));
    let mut t = Table::new(
        format!("Latest period closes (top {top})"),
        &[
            ("position", Align::Right),
            ("region", Align::Left),
            ("period", Align::Left),
            ("days after end", Align::Right),
        ],
    );
    for l in late.into_iter().take(top) {
        t.push(vec![
            l.position.to_string(),
            data.unit_label(l.region),
            l.period.to_string(),
            l.days_after_end.to_string(),
        ]);
    }
    out.push(Block::Table(t));

    let mut t = Table::new(
        format!("Beneficiaries paid by several regions (first {top})"),
        &[("beneficiary", Align::Left), ("period", Align::Left), ("payments (region@position)", Align::Left)],
    );
    for m in data.multi_region.iter().take(top) {
        let payments: Vec<String> = m.payments.iter().map(|(r, p)| format!("{r}@{p}")).collect();
        t.push(vec![m.beneficiary.to_string(), m.period.to_string(), payments.join(", ")]);
    }
    out.push(Block::Table(t));
    out
}
