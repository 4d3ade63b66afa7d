//! The fund's policy: the province, its paying units, the reform date, rates, dated benefit
//! parameters, the prevention cap, early-warning bands and the gap-sharing rule.
//!
//! Nothing province-specific is hard-coded: a policy is loaded from a TOML file (see
//! `docs/policy.md`), and Gansu's is shipped as the default (`crates/domain/policy/gansu.toml`).
//! National rules that every province shares (the benefit standards of the 2010 Regulation)
//! live in [`crate::standards`].

mod load;

use std::collections::BTreeMap;
use std::path::Path;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::ids::RegionCode;
use crate::money::Money;
use crate::period::Period;

pub use load::PolicyError;

/// The shipped default policy file.
pub const GANSU_POLICY_TOML: &str = include_str!("../../policy/gansu.toml");

/// A whole, validated policy. Construct it only through [`Policy::from_toml_str`],
/// [`Policy::from_path`] or [`Policy::gansu`], which check every field and cross-field rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// The fund's identity, e.g. "CN-620000-work-injury"; the log's genesis hash derives from it.
    pub fund_id: String,
    pub province: Province,
    /// Every unit that collects and pays: the regions, plus units such as a new area or the
    /// provincial-level agency. Codes are unique.
    pub units: Vec<PayingUnit>,
    /// The first day of provincial-level pooling; nothing may happen in the ledger before it.
    pub reform_date: NaiveDate,
    /// Industry risk classes 1..=N in order, with benchmark rates and allowed floats.
    pub risk_classes: Vec<RiskClass>,
    /// Dated benefit parameters, keyed by the year they describe.
    pub benefit_years: BTreeMap<u16, BenefitYear>,
    pub prevention: PreventionPolicy,
    pub warning: WarningBands,
    pub gap_sharing: GapSharing,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Province {
    pub code: RegionCode,
    pub name_zh: String,
    pub name_en: String,
}

/// What kind of agency unit a paying unit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitKind {
    /// A prefecture-level region with a GB/T 2260 code.
    Region,
    /// A state-level new area (e.g. Lanzhou New Area) with an internal code.
    NewArea,
    /// The provincial-level agency (省本级), which pays for provincial employers.
    ProvincialLevel,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PayingUnit {
    pub code: RegionCode,
    pub name_zh: String,
    pub name_en: String,
    pub kind: UnitKind,
    /// False when the code is internal to the ledger (no GB/T 2260 code exists).
    pub official_code: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RiskClass {
    /// 1..=8 for the national scheme.
    pub class: u8,
    /// Benchmark rate, percent of payroll (e.g. 0.2 for 0.2%).
    pub benchmark_rate_pct: Decimal,
    /// Allowed floats, percent of the benchmark (e.g. 50, 80, 120, 150).
    pub allowed_floats_pct: Vec<Decimal>,
}

/// Parameters that benefit standards depend on, for one calendar year.
#[derive(Debug, Clone, PartialEq)]
pub struct BenefitYear {
    pub year: u16,
    /// The province's monthly average wage of employees for that year (全省职工月平均工资).
    pub monthly_average_wage: Money,
    /// The national urban per-capita disposable income for that year (全国城镇居民人均可支配收入).
    pub national_disposable_income: Money,
    /// The monthly minimum wage in force that year (the floor of the disability allowance).
    pub minimum_wage_monthly: Money,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PreventionPolicy {
    /// The cap on a year's prevention spending as a share of the prior year's premium income (0.03).
    pub cap_ratio: Decimal,
    /// Premium income of years before the reform (not in the ledger), for the first year's cap.
    pub baseline_premium_income: BTreeMap<u16, Money>,
}

/// Early-warning bands on payable months, and the national rate-cut triggers.
#[derive(Debug, Clone, PartialEq)]
pub struct WarningBands {
    /// Below this many payable months the fund is in the red band.
    pub red_below_months: Decimal,
    /// Below this many payable months (and not red) the fund is amber.
    pub amber_below_months: Decimal,
    /// From this many months a smaller rate cut is allowed (18 nationally).
    pub rate_cut_small_from_months: Decimal,
    /// The smaller cut, percent of the rate (20).
    pub rate_cut_small_pct: Decimal,
    /// From this many months a larger rate cut is allowed (24 nationally).
    pub rate_cut_large_from_months: Decimal,
    /// The larger cut, percent of the rate (50).
    pub rate_cut_large_pct: Decimal,
}

/// Parameters of the rule that attributes a year's fund gap (see `docs/domain.md`).
#[derive(Debug, Clone, PartialEq)]
pub struct GapSharing {
    /// Share (0..=1) of a region's collection shortfall the region bears at most.
    pub region_share_of_shortfall: Decimal,
    /// Shortfall below this share (0..1) of the region's income budget is tolerated (not counted).
    pub shortfall_tolerance_ratio: Decimal,
}

/// Where a year's prevention cap base came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CapBaseSource {
    /// The prior year's premium income net of refunds, from the ledger.
    Ledger,
    /// The policy's baseline for the prior year.
    PolicyBaseline,
    /// Neither: the cap is zero.
    None,
}

/// The premium income a year's prevention cap is a share of: the prior year's figure from the
/// ledger when the prior year was pooled whole; for years before the reform, and a reform year
/// that began after January, the policy's baseline, falling back to the ledger's part-year
/// figure when the policy gives none. `decide` and the fund-health view both use this.
pub fn prevention_cap_base(
    year: u16,
    reform: Period,
    baselines: &BTreeMap<u16, Money>,
    ledger_premium: Option<Money>,
) -> (Money, CapBaseSource) {
    let prior = year - 1;
    let whole_ledger_year = prior > reform.year() || (prior == reform.year() && reform.month() == 1);
    let ledger = ledger_premium.map(|m| (m, CapBaseSource::Ledger));
    let baseline = baselines.get(&prior).map(|m| (*m, CapBaseSource::PolicyBaseline));
    let chosen = if whole_ledger_year { ledger.or(baseline) } else { baseline.or(ledger) };
    chosen.unwrap_or((Money::ZERO, CapBaseSource::None))
}

impl Policy {
    /// Gansu's policy, shipped with the ledger. Panics only if the shipped file is broken, which
    /// a test rules out.
    pub fn gansu() -> Policy {
        Policy::from_toml_str(GANSU_POLICY_TOML, "gansu.toml").expect("shipped Gansu policy is valid")
    }

    /// Parses and validates a policy; errors name the source, line and field.
    pub fn from_toml_str(text: &str, source: &str) -> Result<Policy, PolicyError> {
        load::parse(text, source)
    }

    /// Reads, parses and validates a policy file.
    pub fn from_path(path: &Path) -> Result<Policy, PolicyError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| PolicyError::Io { path: path.display().to_string(), message: e.to_string() })?;
        load::parse(&text, &path.display().to_string())
    }

    /// The paying unit with this code, if any.
    pub fn unit(&self, code: RegionCode) -> Option<&PayingUnit> {
        self.units.iter().find(|u| u.code == code)
    }

    /// The first period of provincial-level pooling.
    pub fn reform_period(&self) -> Period {
        Period::of_date(self.reform_date).expect("validated reform date")
    }

    /// The benefit parameters describing `year`, if the policy has them.
    pub fn benefit_year(&self, year: u16) -> Option<&BenefitYear> {
        self.benefit_years.get(&year)
    }

    /// The risk class numbered `class`, if it exists.
    pub fn risk_class(&self, class: u8) -> Option<&RiskClass> {
        self.risk_classes.iter().find(|c| c.class == class)
    }

    /// A few lines describing the policy, for `fundledger policy`.
    pub fn summary(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "fund {} — {} {} ({}), pooled from {}",
            self.fund_id, self.province.name_zh, self.province.name_en, self.province.code, self.reform_date
        );
        let _ = writeln!(out, "{} paying units:", self.units.len());
        for u in &self.units {
            let note = if u.official_code { "" } else { " (internal code)" };
            let _ = writeln!(out, "  {} {} {}{}", u.code, u.name_zh, u.name_en, note);
        }
        let _ = writeln!(out, "{} risk classes:", self.risk_classes.len());
        for c in &self.risk_classes {
            let floats: Vec<String> = c.allowed_floats_pct.iter().map(|f| format!("{f}%")).collect();
            let _ = writeln!(out, "  class {}: {}% (floats {})", c.class, c.benchmark_rate_pct, floats.join(", "));
        }
        let years: Vec<String> = self.benefit_years.keys().map(|y| y.to_string()).collect();
        let _ = writeln!(out, "benefit parameters for years {}", years.join(", "));
        let _ = writeln!(
            out,
            "prevention cap {} of prior-year premium income; warning red < {} months, amber < {} months; \
             rate cut {}% from {} months, {}% from {} months",
            self.prevention.cap_ratio,
            self.warning.red_below_months,
            self.warning.amber_below_months,
            self.warning.rate_cut_small_pct,
            self.warning.rate_cut_small_from_months,
            self.warning.rate_cut_large_pct,
            self.warning.rate_cut_large_from_months
        );
        let _ = write!(
            out,
            "gap sharing: a region bears at most {} of its collection shortfall beyond a tolerance of {}",
            self.gap_sharing.region_share_of_shortfall, self.gap_sharing.shortfall_tolerance_ratio
        );
        out
    }
}
