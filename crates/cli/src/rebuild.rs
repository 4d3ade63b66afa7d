//! `fundledger rebuild`: the inspector's tool. Folds the log as of a position or a recorded time
//! ("what did the books say on 2025-06-30?") and writes every view to a directory, as JSON (one
//! document per view) or CSV (one file per table), with a `manifest.json` naming the point the
//! files describe and the chain hash there, so the files can be tied back to the verified log.
//!
//! What is written is the views' public rows (the figures the API serves), never their internal
//! fold state: amounts are decimal strings ("1234.50"), ratios exact decimal strings, and every
//! document's keys come in a fixed order, so two rebuilds of the same point are byte-identical.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use fundledger_domain::{Money, Policy};
use fundledger_engine::RebuildSummary;
use fundledger_projections::{AsOf, RateSignal, Views};
use fundledger_store::chain::hex;
use fundledger_store::{EventLog, RecordBatch, block_on};
use serde::Serialize;
use serde_json::{Value, json};

use crate::data::DataDir;
use crate::error::CliError;
use crate::progress;
use crate::tables::{Align, Table};

/// The name of the file that says what a rebuild directory holds.
pub const MANIFEST_FILE: &str = "manifest.json";

/// How the views are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// One pretty-printed JSON document per view.
    Json,
    /// One CSV file per table (a view may have several).
    Csv,
}

impl OutputFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            OutputFormat::Json => "json",
            OutputFormat::Csv => "csv",
        }
    }
}

impl FromStr for OutputFormat {
    type Err = CliError;
    fn from_str(text: &str) -> Result<OutputFormat, CliError> {
        match text {
            "json" => Ok(OutputFormat::Json),
            "csv" => Ok(OutputFormat::Csv),
            other => Err(CliError::Config(format!("output format {other:?} is not one of \"json\" or \"csv\""))),
        }
    }
}

/// Parses an RFC 3339 time ("2025-06-30T23:59:59+08:00", "2025-06-30T15:59:59Z") into
/// microseconds since the Unix epoch, UTC: the unit of recorded times in the log.
pub fn parse_as_of_time(text: &str) -> Result<i64, CliError> {
    let parsed = chrono::DateTime::parse_from_rfc3339(text.trim()).map_err(|e| {
        CliError::Config(format!(
            "as-of time {text:?} is not an RFC 3339 time such as \"2025-06-30T23:59:59+08:00\" ({e})"
        ))
    })?;
    Ok(parsed.timestamp_micros())
}

/// Parses an as-of point as the command line gives it: `head`, a log position (digits), or an
/// RFC 3339 time (see [`parse_as_of_time`]).
pub fn parse_as_of(text: &str) -> Result<AsOf, CliError> {
    let text = text.trim();
    if text == "head" {
        return Ok(AsOf::Head);
    }
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse()
            .map(AsOf::Position)
            .map_err(|_| CliError::Config(format!("as-of position {text} does not fit 64 bits")));
    }
    parse_as_of_time(text).map(AsOf::Time)
}

/// Formats microseconds since the epoch as RFC 3339 UTC with microseconds
/// ("2025-06-30T15:59:59.000000Z"); out-of-range values (never produced by the engine) print
/// as their number.
pub fn format_micros(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map_or_else(|| micros.to_string(), |t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
}

/// Views folded from a data directory, with where the fold stopped.
#[derive(Debug, Clone)]
pub struct Rebuilt {
    pub views: Views,
    pub summary: RebuildSummary,
    /// The stored chain hash of the record at `summary.through_position` (the genesis value
    /// when nothing was folded).
    pub through_hash: [u8; 32],
    /// The log's head when the rebuild ran.
    pub log_head: u64,
}

/// Folds the log of `data` as of `as_of`, with a progress bar on stderr when asked.
pub fn rebuild_views(
    data: &DataDir,
    policy: Arc<Policy>,
    as_of: AsOf,
    show_progress: bool,
) -> Result<Rebuilt, CliError> {
    if data.is_empty_ledger() {
        return Err(CliError::Config(format!("{} holds no ledger to rebuild", data.root().display())));
    }
    let log = data.open_log(&policy)?;
    let log_head = block_on(log.head()).map_err(|e| CliError::from_store(data.root(), e))?.position;
    let total = match as_of {
        AsOf::Position(p) => p.min(log_head),
        _ => log_head,
    };
    let bar = show_progress.then(|| progress::bar(total, "rebuilding views"));
    let (views, summary) = fundledger_engine::rebuild(&*log, policy, as_of, &mut |done, _| {
        if let Some(bar) = &bar {
            bar.set_position(done.min(total));
        }
    })?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let through_hash = if summary.through_position == 0 {
        log.genesis()
    } else {
        let batch = block_on(log.read(summary.through_position, RecordBatch::new()))
            .map_err(|e| CliError::from_store(data.root(), e))?;
        assert!(!batch.is_empty(), "a folded position reads back");
        *batch.get(0).hash()
    };
    Ok(Rebuilt { views, summary, through_hash, log_head })
}

/// What [`run`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebuildOutput {
    pub as_of: AsOf,
    pub summary: RebuildSummary,
    /// Hex of the chain hash at `summary.through_position`.
    pub through_hash_hex: String,
    /// Every file written, the manifest last.
    pub files: Vec<PathBuf>,
}

/// `manifest.json`: what a rebuild directory describes.
#[derive(Debug, Serialize)]
struct Manifest<'a> {
    fund_id: &'a str,
    /// `{"head": true}`, `{"position": N}` or `{"time": "<RFC 3339>", "time_micros": N}`.
    as_of: Value,
    /// The last log position folded (0 if none).
    through_position: u64,
    /// The stored chain hash at `through_position`, hex; `verify` checks the chain up to it.
    through_hash: String,
    /// Records read (events and refused-command audit records).
    records: u64,
    /// Events folded into the views.
    events: u64,
    /// The log's head when the rebuild ran.
    log_head_position: u64,
    format: &'static str,
    /// The files beside the manifest, in the order written.
    files: Vec<String>,
}

/// Rebuilds every view of `data` as of `as_of` and writes it into the directory `out` (created
/// if missing; files of the same names are replaced) in `format`, then `manifest.json`.
pub fn run(
    data: &DataDir,
    policy: Arc<Policy>,
    as_of: AsOf,
    format: OutputFormat,
    out: &Path,
    show_progress: bool,
) -> Result<RebuildOutput, CliError> {
    let fund_id = policy.fund_id.clone();
    let rebuilt = rebuild_views(data, policy, as_of, show_progress)?;
    std::fs::create_dir_all(out).map_err(|source| CliError::Io {
        what: "creating output directory",
        path: out.to_path_buf(),
        source,
    })?;
    let mut files = Vec::new();
    match format {
        OutputFormat::Json => {
            for (name, document) in views_json(&rebuilt.views) {
                let path = out.join(format!("{name}.json"));
                write_file(&path, |w| {
                    serde_json::to_writer_pretty(&mut *w, &document).map_err(std::io::Error::other)?;
                    writeln!(w)
                })?;
                files.push(path);
            }
        }
        OutputFormat::Csv => {
            for (name, table) in views_csv(&rebuilt.views) {
                let path = out.join(format!("{name}.csv"));
                write_file(&path, |w| table.write_csv(w))?;
                files.push(path);
            }
        }
    }
    let through_hash_hex = hex(&rebuilt.through_hash);
    let manifest = Manifest {
        fund_id: &fund_id,
        as_of: as_of_json(as_of),
        through_position: rebuilt.summary.through_position,
        through_hash: through_hash_hex.clone(),
        records: rebuilt.summary.records,
        events: rebuilt.summary.events,
        log_head_position: rebuilt.log_head,
        format: format.as_str(),
        files: files.iter().filter_map(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned()).collect(),
    };
    let manifest_path = out.join(MANIFEST_FILE);
    write_file(&manifest_path, |w| {
        serde_json::to_writer_pretty(&mut *w, &manifest).map_err(std::io::Error::other)?;
        writeln!(w)
    })?;
    files.push(manifest_path);
    Ok(RebuildOutput { as_of, summary: rebuilt.summary, through_hash_hex, files })
}

fn as_of_json(as_of: AsOf) -> Value {
    match as_of {
        AsOf::Head => json!({ "head": true }),
        AsOf::Position(p) => json!({ "position": p }),
        AsOf::Time(t) => json!({ "time": format_micros(t), "time_micros": t }),
    }
}

/// Creates `path`, lets `write` fill it through a buffer, and flushes, naming the path on failure.
pub(crate) fn write_file(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), CliError> {
    let io = |source| CliError::Io { what: "writing", path: path.to_path_buf(), source };
    let file = File::create(path).map_err(io)?;
    let mut w = BufWriter::new(file);
    write(&mut w).map_err(io)?;
    w.flush().map_err(io)
}

fn to_json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("view rows serialise to JSON")
}

/// Every view as one JSON document, named by its file stem, in a fixed order. Documents hold the
/// views' public rows (see the module docs); amounts are decimal strings.
pub fn views_json(views: &Views) -> Vec<(&'static str, Value)> {
    let provincial = views.provincial();
    let region = views.region_expenditure();
    let two_lines = views.two_lines();
    let health = views.health();
    let supervision = views.supervision();
    let kinds: Vec<Value> = provincial
        .provincial_income_by_kind()
        .into_iter()
        .map(|(kind, amount)| json!({ "kind": kind, "amount": amount }))
        .collect();
    let by_region = |pairs: Vec<(fundledger_domain::RegionCode, Money)>| -> Vec<Value> {
        pairs.into_iter().map(|(region, amount)| json!({ "region": region, "amount": amount })).collect()
    };
    let advances: Vec<Value> = provincial
        .fiscal_advances_by_period()
        .into_iter()
        .map(|(period, amount)| json!({ "period": period, "amount": amount }))
        .collect();
    vec![
        (
            "provincial",
            json!({
                "pooled_balance": provincial.pooled_balance(),
                "pooled_by_period": to_json(&provincial.pooled_by_period()),
                "income_by_category": to_json(&provincial.income_by_category()),
                "provincial_income_by_kind": kinds,
                "transfers_by_region": by_region(provincial.transfers_by_region()),
                "allocations_by_region": by_region(provincial.allocations_by_region()),
                "legacy_consolidations": to_json(&provincial.legacy_consolidations()),
                "legacy_total": provincial.legacy_total(),
                "fiscal_advances_by_period": advances,
                "fiscal_advances_total": provincial.fiscal_advances_total(),
            }),
        ),
        (
            "region_expenditure",
            json!({
                "rows": to_json(&region.rows()),
                "plans": to_json(&region.plans()),
                "execution": to_json(&region.execution()),
            }),
        ),
        (
            "two_lines",
            json!({
                "rows": to_json(&two_lines.rows()),
                "totals_by_period": to_json(&two_lines.totals_by_period()),
                "totals": to_json(&two_lines.totals()),
                "pooled_balance": two_lines.pooled_balance(),
                "reconciliations": to_json(&two_lines.reconciliations()),
            }),
        ),
        (
            "fund_health",
            json!({
                "latest": to_json(&health.latest()),
                "series": to_json(&health.series()),
                "budget_alerts": to_json(&health.budget_alerts()),
                "prevention_usage": to_json(&health.prevention_usage()),
                "gap_shares": to_json(&health.gap_shares()),
            }),
        ),
        (
            "supervision",
            json!({
                "reversals": to_json(&supervision.reversals()),
                "multi_region_beneficiaries": to_json(&supervision.multi_region_beneficiaries()),
                "outliers": to_json(&supervision.outliers()),
                "late_closes": to_json(&supervision.late_closes()),
            }),
        ),
    ]
}

fn opt<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or_else(String::new, |v| v.to_string())
}

/// The stable text of a unit-like serde enum (`"red"`, `"over_budget"`, `"ledger"`).
fn serde_name<T: Serialize>(value: &T) -> String {
    match to_json(value) {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

/// `no_cut`, `small_cut:20`, `large_cut:50` (the percentage cut the payable months allow).
pub fn rate_signal_text(signal: RateSignal) -> String {
    match signal {
        RateSignal::NoCut => "no_cut".into(),
        RateSignal::SmallCut { pct } => format!("small_cut:{pct}"),
        RateSignal::LargeCut { pct } => format!("large_cut:{pct}"),
    }
}

const fn col(name: &'static str) -> (&'static str, Align) {
    (name, Align::Left)
}

const fn num(name: &'static str) -> (&'static str, Align) {
    (name, Align::Right)
}

/// Every view as CSV tables, named by file stem, in a fixed order. Columns are documented by
/// their headers; amounts are decimal strings, positions integers, times RFC 3339 UTC, and an
/// empty cell means "none".
pub fn views_csv(views: &Views) -> Vec<(&'static str, Table)> {
    let two_lines = views.two_lines();
    let region = views.region_expenditure();
    let provincial = views.provincial();
    let health = views.health();
    let supervision = views.supervision();
    let mut out = Vec::new();

    let line_columns = [
        num("collected"),
        num("refunded"),
        num("transferred"),
        num("untransferred"),
        num("allocated"),
        num("paid"),
        num("reversed"),
        num("balance"),
    ];
    let mut columns = vec![col("region"), col("period")];
    columns.extend(line_columns);
    columns.extend([num("closed_at"), col("flags")]);
    let mut t = Table::new("two lines per region and period", &columns);
    for r in two_lines.rows() {
        let (i, e) = (r.income, r.expenditure);
        let mut flags = Vec::new();
        let f = r.flags;
        for (name, amount) in [
            ("untransferred_at_close", f.untransferred_at_close),
            ("income_left_at_month_end", f.income_left_at_month_end),
            ("allocated_unpaid_at_close", f.allocated_unpaid_at_close),
        ] {
            if let Some(amount) = amount {
                flags.push(format!("{name}={amount}"));
            }
        }
        t.push(vec![
            r.region.to_string(),
            r.period.to_string(),
            i.collected.to_string(),
            i.refunded.to_string(),
            i.transferred.to_string(),
            i.untransferred.to_string(),
            e.allocated.to_string(),
            e.paid.to_string(),
            e.reversed.to_string(),
            e.balance.to_string(),
            opt(r.closed_at),
            flags.join(";"),
        ]);
    }
    out.push(("two_lines", t));

    let mut columns = vec![col("period")];
    columns.extend(line_columns);
    let mut t = Table::new("two lines, provincial totals per period", &columns);
    for p in two_lines.totals_by_period() {
        let (i, e) = (p.income, p.expenditure);
        t.push(vec![
            opt(p.period),
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
    out.push(("two_lines_totals", t));

    let mut t = Table::new(
        "region expenditure per period and category",
        &[
            col("region"),
            col("period"),
            col("category"),
            num("planned"),
            num("approved"),
            num("reviewed"),
            num("paid"),
            num("reversed"),
            num("net_paid"),
        ],
    );
    for r in region.rows() {
        for c in &r.categories {
            t.push(vec![
                r.region.to_string(),
                r.period.to_string(),
                c.category.to_string(),
                c.planned.to_string(),
                c.approved.to_string(),
                c.reviewed.to_string(),
                c.paid.to_string(),
                c.reversed.to_string(),
                c.net_paid.to_string(),
            ]);
        }
    }
    out.push(("region_expenditure", t));

    let mut t = Table::new(
        "budget execution year to date",
        &[col("region"), col("year"), col("category"), num("budget"), num("net_paid_ytd"), num("rate")],
    );
    for e in region.execution() {
        t.push(vec![
            e.region.to_string(),
            e.year.to_string(),
            e.category.map_or_else(|| "total".to_string(), |c| c.to_string()),
            e.budget.to_string(),
            e.net_paid_ytd.to_string(),
            opt(e.rate),
        ]);
    }
    out.push(("budget_execution", t));

    let mut t = Table::new(
        "spending plans",
        &[
            col("plan_id"),
            col("region"),
            col("period"),
            col("status"),
            num("total"),
            num("allocated"),
            num("tranches"),
            col("lines"),
        ],
    );
    for p in region.plans() {
        let lines: Vec<String> = p.lines.iter().map(|(c, m)| format!("{c}={m}")).collect();
        t.push(vec![
            p.plan_id.to_string(),
            p.region.to_string(),
            p.period.to_string(),
            p.status.as_str().to_string(),
            p.total.to_string(),
            p.allocated.to_string(),
            p.tranches.to_string(),
            lines.join(";"),
        ]);
    }
    out.push(("plans", t));

    let mut t = Table::new(
        "pooled fund per period",
        &[
            col("period"),
            num("transfers_in"),
            num("provincial_income"),
            num("consolidated"),
            num("allocated"),
            num("net_change"),
            num("closing_balance"),
        ],
    );
    for p in provincial.pooled_by_period() {
        t.push(vec![
            p.period.to_string(),
            p.transfers_in.to_string(),
            p.provincial_income.to_string(),
            p.consolidated.to_string(),
            p.allocated.to_string(),
            p.net_change.to_string(),
            p.closing_balance.to_string(),
        ]);
    }
    out.push(("provincial_pooled", t));

    let mut t = Table::new(
        "legacy reserves consolidated",
        &[col("region"), col("kind"), col("period"), num("amount"), num("position")],
    );
    for l in provincial.legacy_consolidations() {
        t.push(vec![
            l.region.to_string(),
            l.kind.to_string(),
            l.period.to_string(),
            l.amount.to_string(),
            l.position.to_string(),
        ]);
    }
    out.push(("provincial_legacy", t));

    let mut t = Table::new(
        "fund health per period",
        &[
            col("period"),
            num("fund_balance"),
            num("average_monthly_expenditure"),
            num("payable_months"),
            num("payable_months_rounded"),
            col("warning"),
            col("rate_signal"),
        ],
    );
    for h in health.series() {
        t.push(vec![
            h.period.to_string(),
            h.fund_balance.to_string(),
            opt(h.average_monthly_expenditure),
            opt(h.payable_months),
            opt(h.payable_months_rounded),
            h.warning.map(|w| serde_name(&w)).unwrap_or_default(),
            h.rate_signal.map(rate_signal_text).unwrap_or_default(),
        ]);
    }
    out.push(("fund_health", t));

    let mut t = Table::new(
        "budget alerts",
        &[
            col("region"),
            col("year"),
            col("kind"),
            num("budget"),
            num("net_paid_ytd"),
            num("execution"),
            num("elapsed_share"),
        ],
    );
    for a in health.budget_alerts() {
        t.push(vec![
            a.region.to_string(),
            a.year.to_string(),
            serde_name(&a.kind),
            a.budget.to_string(),
            a.net_paid_ytd.to_string(),
            opt(a.execution),
            a.elapsed_share.to_string(),
        ]);
    }
    out.push(("budget_alerts", t));

    let mut t = Table::new(
        "prevention spending against its cap",
        &[col("year"), num("base"), col("base_source"), num("cap"), num("net_paid"), num("usage"), col("over_cap")],
    );
    for p in health.prevention_usage() {
        t.push(vec![
            p.year.to_string(),
            p.base.to_string(),
            serde_name(&p.base_source),
            p.cap.to_string(),
            p.net_paid.to_string(),
            opt(p.usage),
            p.over_cap.to_string(),
        ]);
    }
    out.push(("prevention_usage", t));

    let mut t = Table::new(
        "gap shares assessed",
        &[col("year"), num("gap"), num("province_share"), col("region_shares"), num("position")],
    );
    for g in health.gap_shares() {
        let shares: Vec<String> =
            g.shares.iter().map(|s| format!("{}={} (shortfall {})", s.region, s.share, s.shortfall)).collect();
        t.push(vec![
            g.year.to_string(),
            g.gap.to_string(),
            g.province_share.to_string(),
            shares.join(";"),
            g.position.to_string(),
        ]);
    }
    out.push(("gap_shares", t));

    let mut t = Table::new(
        "payment reversals",
        &[
            col("payment_id"),
            col("region"),
            col("period"),
            col("paid_period"),
            col("benefit"),
            num("amount"),
            col("reason"),
            num("payment_position"),
            num("reversal_position"),
        ],
    );
    for r in supervision.reversals() {
        t.push(vec![
            r.payment_id.to_string(),
            r.region.to_string(),
            r.period.to_string(),
            r.paid_period.to_string(),
            r.benefit.to_string(),
            r.amount.to_string(),
            r.reason.to_string(),
            opt(r.payment_position),
            r.reversal_position.to_string(),
        ]);
    }
    out.push(("supervision_reversals", t));

    let mut t = Table::new(
        "beneficiaries paid by several regions in one period",
        &[col("beneficiary"), col("period"), col("payments")],
    );
    for m in supervision.multi_region_beneficiaries() {
        let payments: Vec<String> = m.payments.iter().map(|(r, p)| format!("{r}@{p}")).collect();
        t.push(vec![m.beneficiary.to_string(), m.period.to_string(), payments.join(";")]);
    }
    out.push(("supervision_multi_region", t));

    let mut t = Table::new(
        "outlier payments",
        &[
            col("payment_id"),
            col("region"),
            col("period"),
            col("benefit"),
            num("amount"),
            num("median_upper"),
            num("samples"),
            num("position"),
        ],
    );
    for o in supervision.outliers() {
        t.push(vec![
            o.payment_id.to_string(),
            o.region.to_string(),
            o.period.to_string(),
            o.benefit.to_string(),
            o.amount.to_string(),
            o.median_upper.to_string(),
            o.samples.to_string(),
            o.position.to_string(),
        ]);
    }
    out.push(("supervision_outliers", t));

    let mut t = Table::new(
        "late period closes",
        &[col("region"), col("period"), num("position"), col("recorded_at"), num("days_after_end")],
    );
    for l in supervision.late_closes() {
        t.push(vec![
            l.region.to_string(),
            l.period.to_string(),
            l.position.to_string(),
            format_micros(l.recorded_at_micros),
            l.days_after_end.to_string(),
        ]);
    }
    out.push(("supervision_late_closes", t));

    let mut t =
        Table::new("reconciliations", &[col("name"), num("lhs"), num("rhs"), num("difference"), col("reconciled")]);
    for r in two_lines.reconciliations() {
        t.push(vec![
            r.name.clone(),
            r.lhs.to_string(),
            r.rhs.to_string(),
            r.difference.to_string(),
            r.reconciled.to_string(),
        ]);
    }
    out.push(("reconciliations", t));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_of_parses_head_positions_and_times() {
        assert_eq!(parse_as_of("head").unwrap(), AsOf::Head);
        assert_eq!(parse_as_of("1234").unwrap(), AsOf::Position(1234));
        // 2025-06-30T16:00:00Z = 1751299200 s.
        assert_eq!(parse_as_of("2025-07-01T00:00:00+08:00").unwrap(), AsOf::Time(1_751_299_200_000_000));
        assert_eq!(parse_as_of_time("2025-06-30T16:00:00.000001Z").unwrap(), 1_751_299_200_000_001);
        let err = parse_as_of("2025-06-30").unwrap_err().to_string();
        assert!(err.contains("not an RFC 3339 time"), "{err}");
        assert_eq!(format_micros(1_751_299_200_000_001), "2025-06-30T16:00:00.000001Z");
    }

    #[test]
    fn output_formats_parse() {
        assert_eq!("csv".parse::<OutputFormat>().unwrap(), OutputFormat::Csv);
        assert!("xml".parse::<OutputFormat>().unwrap_err().to_string().contains("\"xml\""));
    }
}
