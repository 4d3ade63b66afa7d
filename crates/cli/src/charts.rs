//! The report's charts, drawn with `plotters` into SVG and PNG files: the fund balance and
//! payable months with the policy's warning bands, income against expenditure per region, and
//! budget execution per region against 100%.
//!
//! Fonts: plotters' usual text path asks the system for fonts (font-kit, fontconfig), which a
//! fresh server may not have. Here plotters uses its `ab_glyph` rasteriser with DejaVu Sans
//! compiled into the binary (the `dejavu` crate), registered as "sans-serif" before the first
//! chart, so nothing is looked up or downloaded at run time. DejaVu has Latin glyphs only, so
//! charts name units by their English names. SVG files name the same family; viewers draw them
//! with whatever sans-serif font they have.
//!
//! Floating point: amounts become `f64` (in million yuan) only as chart coordinates, where a
//! rounding in the last bit is invisible; every number printed as text on a chart comes from the
//! exact decimals.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use fundledger_domain::{Money, Period};
use fundledger_projections::WarningLevel;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use crate::error::CliError;
use crate::report::ReportData;

/// The file stems of the charts, in the order written (each as `.svg` and `.png`).
pub const CHART_STEMS: [&str; 3] = ["fund_health", "income_expenditure", "budget_execution"];

/// The font family every chart uses; registered from the embedded DejaVu Sans.
const FONT: &str = "sans-serif";

const RED_BAND: RGBColor = RGBColor(220, 50, 47);
const AMBER_BAND: RGBColor = RGBColor(255, 176, 0);
const GREEN_POINT: RGBColor = RGBColor(40, 150, 70);
const INCOME: RGBColor = RGBColor(38, 110, 180);
const EXPENDITURE: RGBColor = RGBColor(230, 120, 30);
const BAR: RGBColor = RGBColor(70, 130, 180);
const POOLED: RGBColor = RGBColor(120, 80, 160);
const LIGHT_LINE: RGBColor = RGBColor(242, 242, 242);

/// Registers the embedded fonts once; `false` if the font bytes were refused (never expected:
/// they are a fixed, valid TrueType file).
fn fonts_registered() -> bool {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    *REGISTERED.get_or_init(|| {
        register_font(FONT, FontStyle::Normal, dejavu::sans::regular()).is_ok()
            && register_font(FONT, FontStyle::Bold, dejavu::sans::bold()).is_ok()
    })
}

/// An amount in million yuan, for chart coordinates only.
fn million(m: Money) -> f64 {
    (m.as_decimal() / Decimal::from(1_000_000)).to_f64().unwrap_or(0.0)
}

fn to_f64(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(0.0)
}

/// One chart, drawable on any plotters backend.
trait Chart {
    fn stem(&self) -> &'static str;
    fn size(&self) -> (u32, u32);
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>>;
}

/// Draws every chart of `data` into `dir` (created if missing) as SVG and PNG; returns the
/// files written, SVG then PNG for each chart in [`CHART_STEMS`] order.
pub fn write_all(data: &ReportData, dir: &Path) -> Result<Vec<PathBuf>, CliError> {
    std::fs::create_dir_all(dir).map_err(|source| CliError::Io {
        what: "creating the charts directory",
        path: dir.to_path_buf(),
        source,
    })?;
    if !fonts_registered() {
        return Err(CliError::Config("the embedded chart font could not be loaded".into()));
    }
    let mut files = Vec::new();
    files.extend(render(&HealthChart::new(data), dir)?);
    files.extend(render(&IncomeExpenditureChart::new(data), dir)?);
    files.extend(render(&ExecutionChart::new(data), dir)?);
    Ok(files)
}

fn render<C: Chart>(chart: &C, dir: &Path) -> Result<[PathBuf; 2], CliError> {
    let failed = |path: &Path, e: String| CliError::Io {
        what: "drawing the chart",
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    };
    let svg = dir.join(format!("{}.svg", chart.stem()));
    {
        let root = SVGBackend::new(&svg, chart.size()).into_drawing_area();
        chart.draw(&root).map_err(|e| failed(&svg, e.to_string()))?;
        root.present().map_err(|e| failed(&svg, e.to_string()))?;
    }
    let png = dir.join(format!("{}.png", chart.stem()));
    {
        let root = BitMapBackend::new(&png, chart.size()).into_drawing_area();
        chart.draw(&root).map_err(|e| failed(&png, e.to_string()))?;
        root.present().map_err(|e| failed(&png, e.to_string()))?;
    }
    Ok([svg, png])
}

/// The caption and a "nothing to draw" note, for a chart without figures.
fn draw_empty<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    caption: &str,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let (w, h) = root.dim_in_pixel();
    root.draw(&Text::new(caption.to_string(), (20, 20), (FONT, 24).into_font()))?;
    root.draw(&Text::new(
        "No figures in the ledger yet.".to_string(),
        (w as i32 / 3, h as i32 / 2),
        (FONT, 20).into_font(),
    ))?;
    Ok(())
}

/// Hundredths of a slot (a period on a time axis, a unit on a bar chart's axis). The category
/// axes are integer coordinates in these steps, because plotters formats custom tick labels
/// only for integer axes, and bars need positions inside a slot.
const STEPS: i64 = 100;

/// Up to `max` evenly spaced key points over `first..=last` (period indices, in [`STEPS`]),
/// always with `last`.
fn period_ticks(first: u32, last: u32, max: u32) -> Vec<i64> {
    // The smallest step that needs at most `max` ticks, counted back from the latest period.
    let step = (last - first).div_ceil(max.saturating_sub(1).max(1)).max(1);
    let mut ticks: Vec<i64> = (first..=last).rev().step_by(step as usize).map(|i| i64::from(i) * STEPS).collect();
    ticks.reverse();
    ticks
}

fn period_label(x: i64) -> String {
    u32::try_from(x.div_euclid(STEPS)).ok().and_then(Period::from_index).map_or_else(String::new, |p| p.to_string())
}

fn px(index: u32) -> i64 {
    i64::from(index) * STEPS
}

// ---------------------------------------------------------------------------------------------
// (a) Fund balance and payable months, with the warning bands.

struct HealthChart {
    /// (period index, fund balance, pooled fund balance) in million yuan.
    balances: Vec<(u32, f64, f64)>,
    /// (period index, payable months, warning level).
    months: Vec<(u32, f64, Option<WarningLevel>)>,
    red: Decimal,
    amber: Decimal,
}

impl HealthChart {
    fn new(data: &ReportData) -> HealthChart {
        let pooled: BTreeMap<Period, Money> =
            data.pooled_by_period.iter().map(|p| (p.period, p.closing_balance)).collect();
        HealthChart {
            balances: data
                .health
                .iter()
                .map(|h| {
                    let pooled = pooled.range(..=h.period).next_back().map_or(0.0, |(_, m)| million(*m));
                    (h.period.index(), million(h.fund_balance), pooled)
                })
                .collect(),
            months: data
                .health
                .iter()
                .filter_map(|h| h.payable_months.map(|m| (h.period.index(), to_f64(m), h.warning)))
                .collect(),
            red: data.red_below_months,
            amber: data.amber_below_months,
        }
    }
}

impl Chart for HealthChart {
    fn stem(&self) -> &'static str {
        "fund_health"
    }

    fn size(&self) -> (u32, u32) {
        (1200, 860)
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let caption = "Fund balance and payable months";
        let (Some(first), Some(last)) = (self.balances.first(), self.balances.last()) else {
            return draw_empty(root, caption);
        };
        root.fill(&WHITE)?;
        let (first, last) = (first.0, last.0);
        let x_range = px(first) - STEPS / 2..px(last) + STEPS / 2;
        let ticks = period_ticks(first, last, 12);
        let (upper, lower) = root.split_vertically(430);

        let low = self.balances.iter().map(|b| b.1.min(b.2)).fold(0.0f64, f64::min);
        let high = self.balances.iter().map(|b| b.1.max(b.2)).fold(1.0f64, f64::max);
        let mut chart = ChartBuilder::on(&upper)
            .caption(caption, (FONT, 26))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(90)
            .build_cartesian_2d(x_range.clone().with_key_points(ticks.clone()), low * 1.1..high * 1.1)?;
        chart
            .configure_mesh()
            .x_label_formatter(&|x| period_label(*x))
            .y_desc("million yuan")
            .label_style((FONT, 14))
            .light_line_style(LIGHT_LINE)
            .draw()?;
        chart
            .draw_series(LineSeries::new(self.balances.iter().map(|b| (px(b.0), b.1)), INCOME.stroke_width(3)))?
            .label("fund balance (pooled fund + expenditure accounts)")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], INCOME.stroke_width(3)));
        chart
            .draw_series(LineSeries::new(self.balances.iter().map(|b| (px(b.0), b.2)), POOLED.stroke_width(2)))?
            .label("pooled fund (provincial fiscal special account)")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], POOLED.stroke_width(2)));
        chart
            .configure_series_labels()
            .label_font((FONT, 15))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()?;

        let red = to_f64(self.red);
        let amber = to_f64(self.amber);
        let top = self.months.iter().map(|m| m.1).fold(amber * 1.5, f64::max) * 1.1;
        let bottom = self.months.iter().map(|m| m.1).fold(0.0f64, f64::min);
        let mut chart = ChartBuilder::on(&lower)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(90)
            .build_cartesian_2d(x_range.clone().with_key_points(ticks), bottom..top)?;
        chart
            .configure_mesh()
            .x_label_formatter(&|x| period_label(*x))
            .y_desc("payable months")
            .label_style((FONT, 14))
            .light_line_style(LIGHT_LINE)
            .draw()?;
        let (x0, x1) = (x_range.start, x_range.end);
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(x0, bottom.min(0.0)), (x1, red)],
                RED_BAND.mix(0.2).filled(),
            )))?
            .label(format!("red band: below {} months", self.red))
            .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 24, y + 6)], RED_BAND.mix(0.4).filled()));
        chart
            .draw_series(std::iter::once(Rectangle::new([(x0, red), (x1, amber)], AMBER_BAND.mix(0.25).filled())))?
            .label(format!("amber band: below {} months", self.amber))
            .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 24, y + 6)], AMBER_BAND.mix(0.5).filled()));
        chart
            .draw_series(LineSeries::new(self.months.iter().map(|m| (px(m.0), m.1)), BLACK.stroke_width(2)))?
            .label("payable months = fund balance / average monthly expenditure (12 months)")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], BLACK.stroke_width(2)));
        chart.draw_series(self.months.iter().map(|m| {
            let color = match m.2 {
                Some(WarningLevel::Red) => RED_BAND,
                Some(WarningLevel::Amber) => AMBER_BAND,
                _ => GREEN_POINT,
            };
            Circle::new((px(m.0), m.1), 4, color.filled())
        }))?;
        chart
            .configure_series_labels()
            .label_font((FONT, 15))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// (b) Income versus expenditure per region.

struct IncomeExpenditureChart {
    year: Option<u16>,
    /// (unit name, net income, net expenditure) in million yuan, in policy order, with the
    /// exact amounts for the bar labels.
    rows: Vec<(String, f64, f64, Money, Money)>,
}

impl IncomeExpenditureChart {
    fn new(data: &ReportData) -> IncomeExpenditureChart {
        let year = data.latest_period().map(|p| p.year());
        let mut sums: BTreeMap<_, (Money, Money)> = BTreeMap::new();
        for r in data.two_lines.iter().filter(|r| Some(r.period.year()) == year) {
            let s = sums.entry(r.region).or_insert((Money::ZERO, Money::ZERO));
            s.0 = s.0.add(r.income.collected).sub(r.income.refunded);
            s.1 = s.1.add(r.expenditure.paid).sub(r.expenditure.reversed);
        }
        let rows = data
            .units
            .iter()
            .filter_map(|u| sums.get(&u.code).map(|(i, e)| (u.name_en.clone(), million(*i), million(*e), *i, *e)))
            .collect();
        IncomeExpenditureChart { year, rows }
    }
}

/// Key points at the middle of each unit's slot (in [`STEPS`]), the first unit at the top.
fn slot_ticks(n: usize) -> Vec<i64> {
    (0..n as i64).map(|i| i * STEPS + STEPS / 2).collect()
}

fn slot_label(names: &[String], y: i64) -> String {
    let n = names.len() as i64;
    let slot = y.div_euclid(STEPS);
    if !(0..n).contains(&slot) {
        return String::new();
    }
    names[(n - 1 - slot) as usize].clone()
}

/// The bottom of unit `i`'s slot when `n` units are drawn with the first on top.
fn slot(n: usize, i: usize) -> i64 {
    (n - 1 - i) as i64 * STEPS
}

impl Chart for IncomeExpenditureChart {
    fn stem(&self) -> &'static str {
        "income_expenditure"
    }

    fn size(&self) -> (u32, u32) {
        (1200, 200 + 44 * self.rows.len().max(4) as u32)
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let caption = match self.year {
            Some(year) => format!("Income and expenditure per region, {year}"),
            None => "Income and expenditure per region".to_string(),
        };
        if self.rows.is_empty() {
            return draw_empty(root, &caption);
        }
        root.fill(&WHITE)?;
        let n = self.rows.len();
        let names: Vec<String> = self.rows.iter().map(|r| r.0.clone()).collect();
        let high = self.rows.iter().map(|r| r.1.max(r.2)).fold(1.0f64, f64::max) * 1.18;
        let low = self.rows.iter().map(|r| r.1.min(r.2)).fold(0.0f64, f64::min);
        let mut chart = ChartBuilder::on(root)
            .caption(caption, (FONT, 26))
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(190)
            .build_cartesian_2d(low..high, (0..n as i64 * STEPS).with_key_points(slot_ticks(n)))?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_label_formatter(&|y| slot_label(&names, *y))
            .x_desc("million yuan")
            .label_style((FONT, 15))
            .light_line_style(LIGHT_LINE)
            .draw()?;
        let slot = |i: usize| slot(n, i);
        chart
            .draw_series(
                self.rows
                    .iter()
                    .enumerate()
                    .map(|(i, r)| Rectangle::new([(0.0, slot(i) + 52), (r.1, slot(i) + 90)], INCOME.filled())),
            )?
            .label("income (collected - refunded)")
            .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 24, y + 6)], INCOME.filled()));
        chart
            .draw_series(
                self.rows
                    .iter()
                    .enumerate()
                    .map(|(i, r)| Rectangle::new([(0.0, slot(i) + 10), (r.2, slot(i) + 48)], EXPENDITURE.filled())),
            )?
            .label("expenditure (paid - reversed)")
            .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 24, y + 6)], EXPENDITURE.filled()));
        // Exact figures beside the bars, in million yuan to two decimals (rounded for display).
        let label = |m: Money| format!("{:.2}", m.as_decimal() / Decimal::from(1_000_000));
        chart.draw_series(self.rows.iter().enumerate().flat_map(|(i, r)| {
            [
                Text::new(label(r.3), (r.1.max(0.0) + high * 0.005, slot(i) + 80), (FONT, 12).into_font()),
                Text::new(label(r.4), (r.2.max(0.0) + high * 0.005, slot(i) + 38), (FONT, 12).into_font()),
            ]
        }))?;
        chart
            .configure_series_labels()
            .label_font((FONT, 15))
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .position(SeriesLabelPosition::LowerRight)
            .draw()?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// (c) Budget execution per region against 100%.

struct ExecutionChart {
    year: Option<u16>,
    /// (unit name, execution in percent if the unit has a budget, the exact percent text).
    rows: Vec<(String, Option<f64>, String)>,
    /// The share of the year elapsed, in percent: the latest month with activity in the year.
    elapsed_pct: Option<(f64, u8)>,
}

impl ExecutionChart {
    fn new(data: &ReportData) -> ExecutionChart {
        let year = data.latest_execution_year();
        let mut rows = Vec::new();
        for u in &data.units {
            let Some(e) =
                data.execution.iter().find(|e| Some(e.year) == year && e.region == u.code && e.category.is_none())
            else {
                continue;
            };
            let pct = e.rate.map(|r| r * Decimal::ONE_HUNDRED);
            rows.push((
                u.name_en.clone(),
                pct.map(to_f64),
                pct.map_or_else(|| "no budget".to_string(), |p| format!("{p:.1}%")),
            ));
        }
        let month = data.two_lines.iter().filter(|r| Some(r.period.year()) == year).map(|r| r.period.month()).max();
        let elapsed_pct = month.map(|m| (f64::from(m) * 100.0 / 12.0, m));
        ExecutionChart { year, rows, elapsed_pct }
    }
}

impl Chart for ExecutionChart {
    fn stem(&self) -> &'static str {
        "budget_execution"
    }

    fn size(&self) -> (u32, u32) {
        (1200, 200 + 36 * self.rows.len().max(4) as u32)
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let caption = match self.year {
            Some(year) => format!("Budget execution per region, {year} year to date"),
            None => "Budget execution per region".to_string(),
        };
        if self.rows.is_empty() {
            return draw_empty(root, &caption);
        }
        root.fill(&WHITE)?;
        let n = self.rows.len();
        let names: Vec<String> = self.rows.iter().map(|r| r.0.clone()).collect();
        // Room right of the 100% line for the legend.
        let high = self.rows.iter().filter_map(|r| r.1).fold(100.0f64, f64::max) * 1.4;
        let mut chart = ChartBuilder::on(root)
            .caption(caption, (FONT, 26))
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(190)
            .build_cartesian_2d(0.0..high, (0..n as i64 * STEPS).with_key_points(slot_ticks(n)))?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_label_formatter(&|y| slot_label(&names, *y))
            .x_label_formatter(&|x| format!("{x:.0}%"))
            .x_desc("net paid / annual expenditure budget")
            .label_style((FONT, 15))
            .light_line_style(LIGHT_LINE)
            .draw()?;
        let slot = |i: usize| slot(n, i);
        let ahead_limit = self.elapsed_pct.map_or(f64::INFINITY, |(pct, _)| pct + 20.0);
        chart.draw_series(self.rows.iter().enumerate().filter_map(|(i, r)| {
            let pct = r.1?;
            let color = if pct > 100.0 {
                RED_BAND
            } else if pct > ahead_limit {
                AMBER_BAND
            } else {
                BAR
            };
            Some(Rectangle::new([(0.0, slot(i) + 20), (pct.max(0.0), slot(i) + 80)], color.filled()))
        }))?;
        chart.draw_series(self.rows.iter().enumerate().map(|(i, r)| {
            Text::new(r.2.clone(), (r.1.unwrap_or(0.0).max(0.0) + high * 0.006, slot(i) + 62), (FONT, 13).into_font())
        }))?;
        // Drawn first: at month 12 it coincides with the budget line, which stays visible.
        if let Some((pct, month)) = self.elapsed_pct {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(pct, 0), (pct, n as i64 * STEPS)],
                    BLACK.stroke_width(2),
                )))?
                .label(format!("elapsed share of the year ({month}/12)"))
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], BLACK.stroke_width(2)));
        }
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(100.0, 0), (100.0, n as i64 * STEPS)],
                RED_BAND.stroke_width(3),
            )))?
            .label("budget (100%)")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], RED_BAND.stroke_width(3)));
        chart
            .configure_series_labels()
            .label_font((FONT, 15))
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_ticks_end_at_the_last_period_and_stay_few() {
        let first = Period::new(2024, 1).unwrap().index();
        let last = Period::new(2026, 12).unwrap().index();
        let ticks = period_ticks(first, last, 12);
        // 35 months in steps of 4 (3 would need 13 ticks).
        assert_eq!(ticks.len(), 9, "{ticks:?}");
        assert!(ticks[0] < px(first) + 4 * STEPS, "the ticks span the history: {ticks:?}");
        assert_eq!(ticks.last().copied(), Some(px(last)));
        assert_eq!(period_label(ticks[ticks.len() - 1]), "2026-12");
        assert_eq!(period_label(px(last) - STEPS / 2), "2026-11");
        assert_eq!(period_ticks(first, first, 12), vec![px(first)]);
    }

    #[test]
    fn slot_labels_put_the_first_unit_on_top() {
        let names = vec!["Lanzhou".to_string(), "Jiayuguan".to_string(), "Jinchang".to_string()];
        assert_eq!(slot_label(&names, 250), "Lanzhou");
        assert_eq!(slot_label(&names, 50), "Jinchang");
        assert_eq!(slot_label(&names, 350), "");
        assert_eq!(slot(3, 0), 200);
    }
}
