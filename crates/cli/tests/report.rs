//! `report`: tables and charts from a real ledger (the first months of the seed-1 demo history,
//! written through the engine core and rebuilt from disk), and from an empty history.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use chrono::Days;
use fundledger_cli::DataDir;
use fundledger_cli::charts::CHART_STEMS;
use fundledger_cli::report::{self, ReportData, ReportOptions};
use fundledger_demo::DemoConfig;
use fundledger_domain::{Policy, RegionCode};
use fundledger_engine::{Outcome, Submission};
use fundledger_projections::Views;

/// Days of demo history: the first month and its closes, short enough for a debug build.
const HISTORY_DAYS: u64 = 45;
const BATCH_COMMANDS: usize = 4_096;

struct Fixture {
    policy: Arc<Policy>,
    data: ReportData,
}

/// The report's figures, rebuilt from a ledger on disk (the ledger is gone afterwards).
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let policy = Arc::new(Policy::gansu());
        let data_dir = DataDir::new(dir.path());
        let mut core = data_dir.open_core_for_import(policy.clone(), b"report-test").unwrap();
        let end =
            (policy.reform_date + Days::new(HISTORY_DAYS)).and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp_micros();
        let config = DemoConfig { seed: 1, years: 1, scale: 1 };
        let mut batch = Vec::with_capacity(BATCH_COMMANDS);
        let flush = |core: &mut fundledger_engine::Core<_>, batch: &mut Vec<Submission>| {
            for outcome in core.execute(batch) {
                assert!(matches!(outcome.unwrap(), Outcome::Accepted { .. }));
            }
            batch.clear();
        };
        for generated in fundledger_demo::generate(&policy, &config).unwrap().take_while(|g| g.recorded_at_micros < end)
        {
            let mut submission = Submission::new(generated.command_id, generated.actor, generated.command);
            submission.recorded_at_micros = Some(generated.recorded_at_micros);
            batch.push(submission);
            if batch.len() == BATCH_COMMANDS {
                flush(&mut core, &mut batch);
            }
        }
        flush(&mut core, &mut batch);
        drop(core);
        let data = ReportData::from_data_dir(&data_dir, policy.clone(), false).unwrap();
        Fixture { policy, data }
    })
}

fn text_of(data: &ReportData, options: &ReportOptions) -> String {
    let mut out = Vec::new();
    let charts = report::run_with(data, options, None, &mut out).unwrap();
    assert!(charts.is_empty(), "no charts without a charts directory");
    String::from_utf8(out).unwrap()
}

#[test]
fn the_report_shows_the_latest_months_every_region_and_the_signals() {
    let f = fixture();
    let text = text_of(&f.data, &ReportOptions::default());
    let latest = f.data.latest_period().unwrap();
    let title = format!("fundledger report: {} ({})", f.policy.province.name_en, f.policy.fund_id);
    assert!(text.starts_with(&title), "{text}");
    for section in [
        "Two lines, provincial totals by month",
        "Two lines per region, summed over",
        &format!("Fund health at {latest}"),
        "Fund health by month",
        &format!("Budget execution {}, year to date", latest.year()),
        "Supervision signals",
        "Largest outlier payments (top 10)",
        "Largest payment reversals (top 10)",
    ] {
        assert!(text.contains(section), "the report has a section {section:?}\n{text}");
    }
    // Every unit with activity has its row, named; and the province sums them.
    for unit in &f.data.units {
        if f.data.two_lines.iter().any(|r| r.region == unit.code) {
            assert!(text.contains(&format!("{} {}", unit.code, unit.name_en)), "{} listed", unit.name_en);
        }
    }
    assert!(text.lines().any(|l| l.starts_with("province ")));
    // The latest month's provincial totals, exactly as the view has them.
    let totals = f.data.provincial_by_period.last().unwrap();
    let row = text.lines().find(|l| l.starts_with(&latest.to_string())).unwrap();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[1], totals.income.collected.to_string());
    assert_eq!(cells[6], totals.expenditure.paid.to_string());
    assert_eq!(cells[8], totals.expenditure.balance.to_string());
    // Signal counts match the data.
    let reversals = text.lines().find(|l| l.starts_with("payment reversals")).unwrap();
    assert!(reversals.ends_with(&format!(" {}", f.data.reversals.len())), "{reversals}");
}

#[test]
fn one_region_in_markdown() {
    let f = fixture();
    let lanzhou = RegionCode::new(620100).unwrap();
    let options = ReportOptions { region: Some(lanzhou), markdown: true, top: 3, ..ReportOptions::default() };
    let text = text_of(&f.data, &options);
    assert!(text.contains("### Two lines of 620100 Lanzhou"), "{text}");
    assert!(text.contains("| period | collected | refunded |"));
    assert!(text.contains("| :--- | ---: |"));
    assert!(text.contains("Largest outlier payments (top 3)"));
    let months = f.data.two_lines.iter().filter(|r| r.region == lanzhou).count();
    let first = f.data.two_lines.iter().find(|r| r.region == lanzhou).unwrap();
    assert!(months > 0);
    assert!(text.contains(&format!("| {} | {} |", first.period, first.income.collected)));
}

fn svg_texts(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{} is not XML: {e}", path.display()));
    assert_eq!(doc.root_element().tag_name().name(), "svg", "{}", path.display());
    doc.descendants().filter(|n| n.is_text()).filter_map(|n| n.text()).map(|t| t.trim().to_string()).collect()
}

/// Width, height, and the number of distinct colours of a PNG.
fn png_facts(path: &Path) -> (u32, u32, usize) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{} has the PNG signature", path.display());
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let pixel = info.color_type.samples() * (info.bit_depth as usize).div_ceil(8);
    let mut colours = std::collections::BTreeSet::new();
    for p in buf[..info.buffer_size()].chunks_exact(pixel) {
        colours.insert(p.to_vec());
        if colours.len() > 64 {
            break;
        }
    }
    (info.width, info.height, colours.len())
}

#[test]
fn charts_are_written_as_svg_and_png_with_their_series() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let charts = dir.path().join("charts");
    let mut out = Vec::new();
    let files = report::run(f.data.clone(), Some(&charts), &mut out).unwrap();
    assert!(!out.is_empty(), "the tables are printed too");
    let expected: Vec<_> =
        CHART_STEMS.iter().flat_map(|s| [charts.join(format!("{s}.svg")), charts.join(format!("{s}.png"))]).collect();
    assert_eq!(files, expected);

    let red = format!("red band: below {} months", f.policy.warning.red_below_months);
    let amber = format!("amber band: below {} months", f.policy.warning.amber_below_months);
    let year = f.data.latest_period().unwrap().year();
    let expectations: [(&str, Vec<String>); 3] = [
        (
            "fund_health",
            vec![
                "Fund balance and payable months".into(),
                red,
                amber,
                "payable months".into(),
                f.data.latest_period().unwrap().to_string(),
            ],
        ),
        (
            "income_expenditure",
            vec![
                format!("Income and expenditure per region, {year}"),
                "income (collected - refunded)".into(),
                "expenditure (paid - reversed)".into(),
                "Lanzhou".into(),
                "Gannan".into(),
            ],
        ),
        (
            "budget_execution",
            vec![format!("Budget execution per region, {year} year to date"), "budget (100%)".into(), "Lanzhou".into()],
        ),
    ];
    for (stem, wanted) in expectations {
        let texts = svg_texts(&charts.join(format!("{stem}.svg")));
        for w in wanted {
            assert!(texts.iter().any(|t| t.contains(&w)), "{stem}.svg shows {w:?}; it has {texts:?}");
        }
        let (width, height, colours) = png_facts(&charts.join(format!("{stem}.png")));
        assert!(width >= 1000 && height >= 300, "{stem}.png is {width}x{height}");
        assert!(colours > 8, "{stem}.png has {colours} colours: a drawn chart, not a blank canvas");
    }
}

#[test]
fn charts_of_an_empty_history_say_so() {
    let policy = Policy::gansu();
    let data = ReportData::from_views(&Views::new(&policy), &policy);
    let dir = tempfile::tempdir().unwrap();
    let mut out = Vec::new();
    let files = report::run(data, Some(dir.path()), &mut out).unwrap();
    assert_eq!(files.len(), 2 * CHART_STEMS.len());
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("The ledger holds no activity yet."), "{text}");
    let texts = svg_texts(&dir.path().join("fund_health.svg"));
    assert!(texts.iter().any(|t| t == "No figures in the ledger yet."), "{texts:?}");
    let (_, _, colours) = png_facts(&dir.path().join("fund_health.png"));
    assert!(colours > 1, "the note is drawn on the PNG too");
}
