//! Loading a policy file: TOML text → private raw structs → validated public [`Policy`].
//!
//! Two stages, so that every mistake is reported where the person editing the file can find it:
//! serde reads the text into raw structs whose checked values are `toml::Spanned` (so each keeps
//! its byte range, hence its line), then [`parse`] validates every field and cross-field rule and
//! converts. Every error, including TOML syntax and serde type errors, names the file, the
//! 1-based line and (whenever it is known) the field, as one sentence:
//!
//! `policy file gansu.toml line 12: field risk_classes[8].class: rate class 9 does not exist (classes are 1-8)`
//!
//! Rates, ratios and amounts are quoted strings parsed exactly (`Decimal`, `Money`); TOML numbers
//! are refused for them because a float such as 0.7 cannot be held exactly, and accepting
//! integers but not floats would be a trap. No input may make `parse` panic (see the proptest in
//! `tests/policy.rs`).

use std::collections::BTreeMap;
use std::ops::Range;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;
use serde::Deserialize;
use toml::{Spanned, Value};

use super::{
    BenefitYear, GapSharing, PayingUnit, Policy, PreventionPolicy, Province, RiskClass, UnitKind, WarningBands,
};
use crate::ids::RegionCode;
use crate::money::Money;
use crate::period::{PERIOD_YEAR_MAX, PERIOD_YEAR_MIN};

/// Number of industry risk classes of the national scheme (人社部发〔2015〕71号). A policy must
/// list exactly classes 1..=RISK_CLASSES: a ninth class, or a missing one, is a typo that would
/// silently misprice every employer of that industry.
const RISK_CLASSES: i64 = 8;

/// Longest decimal text accepted for a rate or ratio; longer text is refused before parsing.
const DECIMAL_TEXT_BYTES_MAX: usize = 32;

/// The top-level tables written as `[[name]]` arrays of tables, whose entries errors number.
const TABLE_ARRAYS: [&str; 3] = ["units", "risk_classes", "benefit_years"];

/// Why a policy could not be loaded. Each message is a full sentence naming the file, the line
/// and the field, so an operator can fix the file without reading code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be read at all.
    #[error("policy file {path}: cannot be read: {message}")]
    Io { path: String, message: String },
    /// A field is missing, unknown, of the wrong type, or fails a validation rule.
    #[error("policy file {file} line {line}: field {field}: {message}")]
    Invalid { file: String, line: usize, field: String, message: String },
    /// The text is not valid TOML (no field can be named).
    #[error("policy file {file} line {line}: TOML syntax error: {message}")]
    Syntax { file: String, line: usize, message: String },
}

impl PolicyError {
    /// The 1-based line the error is reported at, when the file was read.
    pub fn line(&self) -> Option<usize> {
        match self {
            PolicyError::Io { .. } => None,
            PolicyError::Invalid { line, .. } | PolicyError::Syntax { line, .. } => Some(*line),
        }
    }

    /// The field path (e.g. `units[3].code`), when known.
    pub fn field(&self) -> Option<&str> {
        match self {
            PolicyError::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Raw shapes: exactly the file's layout. Everything that is validated is `Spanned`.
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    fund_id: Spanned<String>,
    province: Spanned<RawProvince>,
    units: Spanned<Vec<Spanned<RawUnit>>>,
    /// A `Value` so that both `"2024-01-01"` and an unquoted TOML date are accepted.
    reform_date: Spanned<Value>,
    risk_classes: Spanned<Vec<Spanned<RawRiskClass>>>,
    benefit_years: Spanned<Vec<Spanned<RawBenefitYear>>>,
    prevention: Spanned<RawPrevention>,
    warning: Spanned<RawWarning>,
    gap_sharing: Spanned<RawGapSharing>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProvince {
    code: Spanned<String>,
    name_zh: Spanned<String>,
    name_en: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUnit {
    code: Spanned<String>,
    name_zh: Spanned<String>,
    name_en: Spanned<String>,
    kind: Spanned<String>,
    official_code: bool,
}

/// Decimal fields are `Value`s, not `String`s, so that a TOML number gets our own message
/// ("quote it") instead of serde's "invalid type".
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRiskClass {
    class: Spanned<i64>,
    benchmark_rate_pct: Spanned<Value>,
    allowed_floats_pct: Spanned<Vec<Spanned<Value>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBenefitYear {
    year: Spanned<i64>,
    monthly_average_wage: Spanned<Value>,
    national_disposable_income: Spanned<Value>,
    minimum_wage_monthly: Spanned<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrevention {
    cap_ratio: Spanned<Value>,
    baseline_premium_income: Spanned<BTreeMap<String, Spanned<Value>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWarning {
    red_below_months: Spanned<Value>,
    amber_below_months: Spanned<Value>,
    rate_cut_small_from_months: Spanned<Value>,
    rate_cut_small_pct: Spanned<Value>,
    rate_cut_large_from_months: Spanned<Value>,
    rate_cut_large_pct: Spanned<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGapSharing {
    region_share_of_shortfall: Spanned<Value>,
    shortfall_tolerance_ratio: Spanned<Value>,
}

// ---------------------------------------------------------------------------------------------
// Entry point
// ---------------------------------------------------------------------------------------------

/// Parses and validates policy `text`; `source` (a file name or path) is quoted in every error.
pub(super) fn parse(text: &str, source: &str) -> Result<Policy, PolicyError> {
    let cx = Cx { text, file: source };
    let raw: RawPolicy = toml::from_str(text).map_err(|e| cx.toml_error(e))?;
    cx.convert(raw)
}

/// What every error needs: the text (to turn byte offsets into lines) and the file's name.
struct Cx<'a> {
    text: &'a str,
    file: &'a str,
}

type Res<T> = Result<T, PolicyError>;

impl Cx<'_> {
    /// 1-based line of a byte offset. Counts bytes, so it cannot panic on any offset.
    fn line(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        1 + self.text.as_bytes()[..end].iter().filter(|b| **b == b'\n').count()
    }

    fn invalid(&self, span: Range<usize>, field: &str, message: impl Into<String>) -> PolicyError {
        PolicyError::Invalid {
            file: self.file.to_string(),
            line: self.line(span.start),
            field: field.to_string(),
            message: message.into(),
        }
    }

    /// Turns a toml/serde error into ours: the span gives the line; the keys toml reports (e.g.
    /// `units.name_en`), numbered with the entry's index, give the field.
    fn toml_error(&self, mut e: toml::de::Error) -> PolicyError {
        let offset = e.span().map_or(0, |s| s.start);
        // Without the input, toml's Display is just the message plus "in `a.b`" for the keys.
        e.set_input(None);
        let rendered = e.to_string();
        let mut lines = rendered.lines();
        let message = lines.next().unwrap_or("").trim().to_string();
        let keys = lines.find_map(|l| l.strip_prefix("in `").and_then(|k| k.strip_suffix('`'))).unwrap_or("");

        let mut field = self.numbered_path(keys, offset);
        let named = |prefix: &str| {
            message.strip_prefix(prefix).and_then(|rest| {
                let rest = rest.strip_prefix('`')?;
                rest.split_once('`').map(|(name, tail)| (name.to_string(), tail.to_string()))
            })
        };
        let message = if let Some((name, _)) = named("missing field ") {
            push_key(&mut field, &name);
            "this required field is missing".to_string()
        } else if let Some((name, tail)) = named("unknown field ") {
            push_key(&mut field, &name);
            let expected = tail.trim_start_matches(',').trim();
            format!("unknown field (check its spelling; {expected})")
        } else {
            message
        };

        if field.is_empty() {
            let mut message = message;
            if let Some(bad) = e.span().and_then(|s| self.text.get(s))
                && !bad.is_empty()
                && bad.len() <= 40
                && !bad.contains('\n')
            {
                message = format!("{message} (at `{bad}`)");
            }
            PolicyError::Syntax { file: self.file.to_string(), line: self.line(offset), message }
        } else {
            PolicyError::Invalid { file: self.file.to_string(), line: self.line(offset), field, message }
        }
    }

    /// `units.name_en` at an offset inside the third `[[units]]` becomes `units[2].name_en`.
    fn numbered_path(&self, keys: &str, offset: usize) -> String {
        let mut path = String::new();
        for (i, key) in keys.split('.').filter(|k| !k.is_empty()).enumerate() {
            push_key(&mut path, key);
            if i == 0 && TABLE_ARRAYS.contains(&key) {
                let headers = self.headers_before(key, offset);
                if headers > 0 {
                    path.push_str(&format!("[{}]", headers - 1));
                }
            }
        }
        path
    }

    /// How many `[[name]]` header lines there are up to and including the line of `offset`
    /// (toml points a table's errors at its header line).
    fn headers_before(&self, name: &str, offset: usize) -> usize {
        let bytes = self.text.as_bytes();
        let start = offset.min(bytes.len());
        // Cut at the end of the offset's line: a '\n' is always a char boundary.
        let cut = bytes[start..].iter().position(|b| *b == b'\n').map_or(bytes.len(), |n| start + n);
        let upto = self.text.get(..cut).unwrap_or(self.text);
        upto.lines()
            .filter(|l| {
                l.trim()
                    .strip_prefix("[[")
                    .and_then(|r| r.split_once("]]"))
                    .is_some_and(|(inner, _)| inner.trim() == name)
            })
            .count()
    }

    // -- value helpers -------------------------------------------------------------------------

    /// A non-empty (after trimming) name.
    fn name(&self, v: &Spanned<String>, field: &str) -> Res<String> {
        if v.get_ref().trim().is_empty() {
            return Err(self.invalid(v.span(), field, "a name may not be empty"));
        }
        Ok(v.get_ref().clone())
    }

    fn region_code(&self, v: &Spanned<String>, field: &str) -> Res<RegionCode> {
        RegionCode::parse(v.get_ref()).map_err(|_| {
            self.invalid(
                v.span(),
                field,
                format!("{:?} is not a six-digit division code such as \"620100\"", v.get_ref()),
            )
        })
    }

    /// The text of a value that must be a quoted decimal; TOML numbers are refused with advice.
    fn decimal_text<'v>(&self, v: &'v Spanned<Value>, field: &str) -> Res<&'v str> {
        match v.get_ref() {
            Value::String(s) => Ok(s),
            Value::Float(f) => Err(self.invalid(
                v.span(),
                field,
                format!(
                    "{f} is a TOML float; write it as a quoted string, \"{f}\", so it is read \
                     exactly (floating point cannot hold most decimal fractions)"
                ),
            )),
            Value::Integer(i) => Err(self.invalid(
                v.span(),
                field,
                format!(
                    "{i} is a TOML integer; write it as a quoted string, \"{i}\", like every \
                     rate, ratio and amount in a policy file"
                ),
            )),
            other => Err(self.invalid(
                v.span(),
                field,
                format!("expected a quoted decimal number such as \"0.2\", found a {}", other.type_str()),
            )),
        }
    }

    /// An exact decimal from plain text ("0.2", "-1", "18"): no exponent, sign '+', separators.
    fn decimal(&self, v: &Spanned<Value>, field: &str) -> Res<Decimal> {
        let text = self.decimal_text(v, field)?;
        plain_decimal(text)
            .ok_or_else(|| self.invalid(v.span(), field, format!("{text:?} is not a decimal number such as \"0.2\"")))
    }

    fn money(&self, v: &Spanned<Value>, field: &str) -> Res<Money> {
        let text = self.decimal_text(v, field)?;
        Money::parse(text).map_err(|e| self.invalid(v.span(), field, e.to_string()))
    }

    fn positive_money(&self, v: &Spanned<Value>, field: &str) -> Res<Money> {
        let m = self.money(v, field)?;
        if !m.is_positive() {
            return Err(self.invalid(v.span(), field, format!("amount {m} must be greater than 0")));
        }
        Ok(m)
    }

    /// A decimal that must satisfy `ok`; `rule` completes "must be …" in the message.
    fn bounded(&self, v: &Spanned<Value>, field: &str, ok: impl Fn(Decimal) -> bool, rule: &str) -> Res<Decimal> {
        let d = self.decimal(v, field)?;
        if !ok(d) {
            return Err(self.invalid(v.span(), field, format!("{d} must be {rule}")));
        }
        Ok(d)
    }

    // -- conversion ----------------------------------------------------------------------------

    fn convert(&self, raw: RawPolicy) -> Res<Policy> {
        let fund_id = self.fund_id(&raw.fund_id)?;
        let province = self.province(&raw.province)?;
        let units = self.units(&raw.units)?;
        let reform_date = self.reform_date(&raw.reform_date)?;
        let risk_classes = self.risk_classes(&raw.risk_classes)?;
        let benefit_years = self.benefit_years(&raw.benefit_years, reform_date)?;
        let prevention = self.prevention(&raw.prevention, reform_date)?;
        let warning = self.warning(raw.warning.get_ref())?;
        let gap_sharing = self.gap_sharing(raw.gap_sharing.get_ref())?;
        Ok(Policy {
            fund_id,
            province,
            units,
            reform_date,
            risk_classes,
            benefit_years,
            prevention,
            warning,
            gap_sharing,
        })
    }

    /// The fund id seeds the log's genesis hash, so it must be stable, printable ASCII.
    fn fund_id(&self, v: &Spanned<String>) -> Res<String> {
        let id = v.get_ref();
        if id.is_empty() {
            return Err(self.invalid(v.span(), "fund_id", "the fund id may not be empty"));
        }
        if !id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(self.invalid(
                v.span(),
                "fund_id",
                format!("{id:?} must be printable ASCII without spaces, e.g. \"CN-620000-work-injury\""),
            ));
        }
        Ok(id.clone())
    }

    fn province(&self, v: &Spanned<RawProvince>) -> Res<Province> {
        let p = v.get_ref();
        Ok(Province {
            code: self.region_code(&p.code, "province.code")?,
            name_zh: self.name(&p.name_zh, "province.name_zh")?,
            name_en: self.name(&p.name_en, "province.name_en")?,
        })
    }

    fn units(&self, v: &Spanned<Vec<Spanned<RawUnit>>>) -> Res<Vec<PayingUnit>> {
        let mut units: Vec<PayingUnit> = Vec::with_capacity(v.get_ref().len());
        let mut provincial_level: Option<usize> = None;
        for (i, entry) in v.get_ref().iter().enumerate() {
            let u = entry.get_ref();
            let f = |name: &str| format!("units[{i}].{name}");
            let code = self.region_code(&u.code, &f("code"))?;
            if let Some(j) = units.iter().position(|p| p.code == code) {
                return Err(self.invalid(
                    u.code.span(),
                    &f("code"),
                    format!("code {code} is already used by units[{j}]; unit codes must be unique"),
                ));
            }
            let kind = match u.kind.get_ref().as_str() {
                "region" => UnitKind::Region,
                "new_area" => UnitKind::NewArea,
                "provincial_level" => UnitKind::ProvincialLevel,
                other => {
                    return Err(self.invalid(
                        u.kind.span(),
                        &f("kind"),
                        format!("{other:?} is not a unit kind (region, new_area or provincial_level)"),
                    ));
                }
            };
            if kind == UnitKind::ProvincialLevel {
                if let Some(j) = provincial_level {
                    return Err(self.invalid(
                        u.kind.span(),
                        &f("kind"),
                        format!("units[{j}] is already the provincial-level agency; there must be exactly one"),
                    ));
                }
                provincial_level = Some(i);
            }
            units.push(PayingUnit {
                code,
                name_zh: self.name(&u.name_zh, &f("name_zh"))?,
                name_en: self.name(&u.name_en, &f("name_en"))?,
                kind,
                official_code: u.official_code,
            });
        }
        if provincial_level.is_none() {
            return Err(self.invalid(
                v.span(),
                "units",
                "no unit has kind = \"provincial_level\"; exactly one provincial-level agency (省本级) is required",
            ));
        }
        Ok(units)
    }

    /// The reform date starts the first pooled period, so it must be the 1st of a month.
    fn reform_date(&self, v: &Spanned<Value>) -> Res<NaiveDate> {
        let field = "reform_date";
        let text = match v.get_ref() {
            Value::String(s) => s.clone(),
            Value::Datetime(d) => d.to_string(),
            other => {
                return Err(self.invalid(
                    v.span(),
                    field,
                    format!("expected a date such as \"2024-01-01\", found a {}", other.type_str()),
                ));
            }
        };
        let shaped = text.len() == 10
            && text.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
        let date = shaped
            .then(|| NaiveDate::parse_from_str(&text, "%Y-%m-%d").ok())
            .flatten()
            .ok_or_else(|| self.invalid(v.span(), field, format!("{text:?} is not a date (YYYY-MM-DD)")))?;
        let year_ok = u16::try_from(date.year()).is_ok_and(|y| (PERIOD_YEAR_MIN..=PERIOD_YEAR_MAX).contains(&y));
        if !year_ok {
            return Err(self.invalid(
                v.span(),
                field,
                format!("{text:?} is outside the years {PERIOD_YEAR_MIN}-{PERIOD_YEAR_MAX}"),
            ));
        }
        if date.day() != 1 {
            return Err(self.invalid(
                v.span(),
                field,
                format!("{text:?} is not the 1st of a month; pooling starts with a whole month"),
            ));
        }
        Ok(date)
    }

    fn risk_classes(&self, v: &Spanned<Vec<Spanned<RawRiskClass>>>) -> Res<Vec<RiskClass>> {
        let entries = v.get_ref();
        let mut classes = Vec::with_capacity(entries.len());
        for (i, entry) in entries.iter().enumerate() {
            let c = entry.get_ref();
            let f = |name: &str| format!("risk_classes[{i}].{name}");
            let class = *c.class.get_ref();
            if !(1..=RISK_CLASSES).contains(&class) {
                return Err(self.invalid(
                    c.class.span(),
                    &f("class"),
                    format!("rate class {class} does not exist (classes are 1-{RISK_CLASSES})"),
                ));
            }
            if let Some(j) = entries[..i].iter().position(|e| *e.get_ref().class.get_ref() == class) {
                return Err(self.invalid(
                    c.class.span(),
                    &f("class"),
                    format!("rate class {class} is already listed as risk_classes[{j}]"),
                ));
            }
            let expected = i as i64 + 1;
            if class != expected {
                return Err(self.invalid(
                    c.class.span(),
                    &f("class"),
                    format!(
                        "expected rate class {expected} here, found {class} (list classes 1-{RISK_CLASSES} in order, with no gaps)"
                    ),
                ));
            }
            let rate = self.bounded(
                &c.benchmark_rate_pct,
                &f("benchmark_rate_pct"),
                |d| d > Decimal::ZERO && d < Decimal::ONE_HUNDRED,
                "a percentage of payroll greater than 0 and less than 100",
            )?;
            let floats_field = f("allowed_floats_pct");
            if c.allowed_floats_pct.get_ref().is_empty() {
                return Err(self.invalid(
                    c.allowed_floats_pct.span(),
                    &floats_field,
                    "at least one float is required (e.g. [\"100\"] for none)",
                ));
            }
            let mut floats: Vec<Decimal> = Vec::new();
            for (k, fv) in c.allowed_floats_pct.get_ref().iter().enumerate() {
                let ff = format!("{floats_field}[{k}]");
                let d = self.bounded(fv, &ff, |d| d > Decimal::ZERO, "a percentage greater than 0")?;
                if floats.contains(&d) {
                    return Err(self.invalid(fv.span(), &ff, format!("float {d}% is listed twice")));
                }
                floats.push(d);
            }
            classes.push(RiskClass {
                class: class as u8, // within 1..=8, checked above
                benchmark_rate_pct: rate,
                allowed_floats_pct: floats,
            });
        }
        if classes.len() < RISK_CLASSES as usize {
            // Point at the last entry (or the empty list) so the reader sees where to add it.
            let span = entries.last().map_or(v.span(), |e| e.get_ref().class.span());
            return Err(self.invalid(
                span,
                "risk_classes",
                format!("rate class {} is missing (classes are 1-{RISK_CLASSES})", classes.len() + 1),
            ));
        }
        Ok(classes)
    }

    fn benefit_years(
        &self,
        v: &Spanned<Vec<Spanned<RawBenefitYear>>>,
        reform_date: NaiveDate,
    ) -> Res<BTreeMap<u16, BenefitYear>> {
        let entries = v.get_ref();
        if entries.is_empty() {
            return Err(self.invalid(v.span(), "benefit_years", "at least one benefit year is required"));
        }
        let mut years: BTreeMap<u16, BenefitYear> = BTreeMap::new();
        let mut previous: Option<u16> = None;
        for (i, entry) in entries.iter().enumerate() {
            let b = entry.get_ref();
            let f = |name: &str| format!("benefit_years[{i}].{name}");
            let raw_year = *b.year.get_ref();
            let year = u16::try_from(raw_year)
                .ok()
                .filter(|y| (PERIOD_YEAR_MIN..=PERIOD_YEAR_MAX).contains(y))
                .ok_or_else(|| {
                    self.invalid(
                        b.year.span(),
                        &f("year"),
                        format!("year {raw_year} is outside {PERIOD_YEAR_MIN}-{PERIOD_YEAR_MAX}"),
                    )
                })?;
            if years.contains_key(&year) {
                return Err(self.invalid(b.year.span(), &f("year"), format!("year {year} is listed twice")));
            }
            match previous {
                None => {
                    // Awards in year Y use the figures of Y-1, so the reform year's awards need
                    // the year before it.
                    let latest_first = reform_date.year() - 1;
                    if i32::from(year) > latest_first {
                        return Err(self.invalid(
                            b.year.span(),
                            &f("year"),
                            format!(
                                "the first benefit year is {year}, but benefits awarded from the reform \
                                 year {} use the previous year's figures, so the list must start at \
                                 {latest_first} or earlier",
                                reform_date.year()
                            ),
                        ));
                    }
                }
                Some(p) if u32::from(year) != u32::from(p) + 1 => {
                    return Err(self.invalid(
                        b.year.span(),
                        &f("year"),
                        format!(
                            "year {year} follows {p}; benefit years must be consecutive, in ascending order, with no gaps"
                        ),
                    ));
                }
                Some(_) => {}
            }
            previous = Some(year);
            years.insert(
                year,
                BenefitYear {
                    year,
                    monthly_average_wage: self.positive_money(&b.monthly_average_wage, &f("monthly_average_wage"))?,
                    national_disposable_income: self
                        .positive_money(&b.national_disposable_income, &f("national_disposable_income"))?,
                    minimum_wage_monthly: self.positive_money(&b.minimum_wage_monthly, &f("minimum_wage_monthly"))?,
                },
            );
        }
        Ok(years)
    }

    fn prevention(&self, v: &Spanned<RawPrevention>, reform_date: NaiveDate) -> Res<PreventionPolicy> {
        let p = v.get_ref();
        let cap_ratio = self.bounded(
            &p.cap_ratio,
            "prevention.cap_ratio",
            |d| d > Decimal::ZERO && d <= Decimal::ONE,
            "a share greater than 0 and at most 1 (0.03 is 3%)",
        )?;
        let mut baseline = BTreeMap::new();
        for (key, amount) in p.baseline_premium_income.get_ref() {
            let field = format!("prevention.baseline_premium_income.{key}");
            // Map keys carry no span of their own; the value sits on the same line.
            let year = (key.len() == 4 && key.bytes().all(|b| b.is_ascii_digit()))
                .then(|| key.parse::<u16>().ok())
                .flatten()
                .filter(|y| (PERIOD_YEAR_MIN..=PERIOD_YEAR_MAX).contains(y))
                .ok_or_else(|| {
                    self.invalid(
                        amount.span(),
                        &field,
                        format!(
                            "key {key:?} is not a year between {PERIOD_YEAR_MIN} and {PERIOD_YEAR_MAX}, e.g. \"2023\""
                        ),
                    )
                })?;
            baseline.insert(year, self.positive_money(amount, &field)?);
        }
        // The first pooled year's cap is a share of the year before's premium income, which the
        // ledger never saw: without it the cap could not be computed.
        let needed = reform_date.year() - 1;
        if !baseline.keys().any(|y| i32::from(*y) == needed) {
            return Err(self.invalid(
                p.baseline_premium_income.span(),
                "prevention.baseline_premium_income",
                format!(
                    "the premium income of {needed}, the year before the reform, is required to cap \
                     the first year's prevention spending"
                ),
            ));
        }
        Ok(PreventionPolicy { cap_ratio, baseline_premium_income: baseline })
    }

    fn warning(&self, w: &RawWarning) -> Res<WarningBands> {
        let months = |v: &Spanned<Value>, name: &str| {
            self.bounded(v, &format!("warning.{name}"), |d| d > Decimal::ZERO, "a number of months greater than 0")
        };
        let pct = |v: &Spanned<Value>, name: &str| {
            self.bounded(
                v,
                &format!("warning.{name}"),
                |d| d > Decimal::ZERO && d < Decimal::ONE_HUNDRED,
                "a percentage greater than 0 and less than 100",
            )
        };
        let red = months(&w.red_below_months, "red_below_months")?;
        let amber = months(&w.amber_below_months, "amber_below_months")?;
        let small_from = months(&w.rate_cut_small_from_months, "rate_cut_small_from_months")?;
        let small_pct = pct(&w.rate_cut_small_pct, "rate_cut_small_pct")?;
        let large_from = months(&w.rate_cut_large_from_months, "rate_cut_large_from_months")?;
        let large_pct = pct(&w.rate_cut_large_pct, "rate_cut_large_pct")?;
        // The bands must nest: red < amber ≤ small cut < large cut, else a fund could be
        // "in the red" and eligible for a rate cut at once.
        if amber <= red {
            return Err(self.invalid(
                w.amber_below_months.span(),
                "warning.amber_below_months",
                format!("{amber} must be greater than red_below_months ({red})"),
            ));
        }
        if small_from < amber {
            return Err(self.invalid(
                w.rate_cut_small_from_months.span(),
                "warning.rate_cut_small_from_months",
                format!("{small_from} must be at least amber_below_months ({amber})"),
            ));
        }
        if large_from <= small_from {
            return Err(self.invalid(
                w.rate_cut_large_from_months.span(),
                "warning.rate_cut_large_from_months",
                format!("{large_from} must be greater than rate_cut_small_from_months ({small_from})"),
            ));
        }
        if large_pct <= small_pct {
            return Err(self.invalid(
                w.rate_cut_large_pct.span(),
                "warning.rate_cut_large_pct",
                format!("{large_pct} must be greater than rate_cut_small_pct ({small_pct})"),
            ));
        }
        Ok(WarningBands {
            red_below_months: red,
            amber_below_months: amber,
            rate_cut_small_from_months: small_from,
            rate_cut_small_pct: small_pct,
            rate_cut_large_from_months: large_from,
            rate_cut_large_pct: large_pct,
        })
    }

    fn gap_sharing(&self, g: &RawGapSharing) -> Res<GapSharing> {
        Ok(GapSharing {
            region_share_of_shortfall: self.bounded(
                &g.region_share_of_shortfall,
                "gap_sharing.region_share_of_shortfall",
                |d| d >= Decimal::ZERO && d <= Decimal::ONE,
                "a share from 0 to 1",
            )?,
            shortfall_tolerance_ratio: self.bounded(
                &g.shortfall_tolerance_ratio,
                "gap_sharing.shortfall_tolerance_ratio",
                |d| d >= Decimal::ZERO && d < Decimal::ONE,
                "a share from 0 up to (not including) 1",
            )?,
        })
    }
}

/// Appends a key to a dotted field path.
fn push_key(path: &mut String, key: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(key);
}

/// Parses plain decimal text exactly: optional '-', digits, optionally '.' and digits. Refuses
/// exponents, '+', '_', spaces and anything `Decimal` cannot hold.
fn plain_decimal(text: &str) -> Option<Decimal> {
    if text.len() > DECIMAL_TEXT_BYTES_MAX {
        return None;
    }
    if !crate::money::is_plain_decimal(text) {
        return None;
    }
    Decimal::from_str(text).ok()
}
