//! Tests of the policy loader: the shipped Gansu file, one refusal per validation rule (each
//! asserting the exact line and field the message names), TOML syntax and type errors, and a
//! fuzz test that no input makes the loader panic.
//!
//! Malformed variants are made by editing the shipped text, so each test exercises one rule on an
//! otherwise valid file; the expected line is computed from the edited text, not hard-coded, so
//! the tests keep working (and keep failing when they should) as the file's comments change.

use std::path::Path;
use std::str::FromStr;

use fundledger_domain::ids::RegionCode;
use fundledger_domain::money::Money;
use fundledger_domain::policy::{GANSU_POLICY_TOML, Policy, PolicyError, UnitKind};
use proptest::prelude::*;
use rust_decimal::Decimal;

const FILE: &str = "t.toml";

/// The shipped text with `from` (which must occur exactly once) replaced by `to`.
#[track_caller]
fn edited(from: &str, to: &str) -> String {
    assert_eq!(GANSU_POLICY_TOML.matches(from).count(), 1, "anchor {from:?} must occur exactly once");
    GANSU_POLICY_TOML.replacen(from, to, 1)
}

/// 1-based line of the first occurrence of `needle`.
#[track_caller]
fn line_of(text: &str, needle: &str) -> usize {
    let at = text.find(needle).unwrap_or_else(|| panic!("{needle:?} not in text"));
    text[..at].matches('\n').count() + 1
}

/// 1-based line of the last occurrence of `needle`.
#[track_caller]
fn line_of_last(text: &str, needle: &str) -> usize {
    let at = text.rfind(needle).unwrap_or_else(|| panic!("{needle:?} not in text"));
    text[..at].matches('\n').count() + 1
}

#[track_caller]
fn refuse(text: &str) -> PolicyError {
    match Policy::from_toml_str(text, FILE) {
        Ok(_) => panic!("the edited policy should be refused"),
        Err(e) => e,
    }
}

/// Asserts that `text` is refused at `line` for `field`, with a message containing `says`.
#[track_caller]
fn assert_refused_at(text: &str, line: usize, field: &str, says: &str) {
    let err = refuse(text);
    let msg = err.to_string();
    let head = format!("policy file {FILE} line {line}: field {field}: ");
    assert!(msg.starts_with(&head), "expected {head:?}..., got {msg:?}");
    assert!(msg.contains(says), "expected {says:?} in {msg:?}");
    assert_eq!(err.line(), Some(line));
    assert_eq!(err.field(), Some(field));
}

/// Edits `from` into `to`, and expects a refusal at the line of the first `at` in the edited text.
#[track_caller]
fn assert_refused(from: &str, to: &str, at: &str, field: &str, says: &str) {
    let text = edited(from, to);
    assert_refused_at(&text, line_of(&text, at), field, says);
}

/// Asserts that an edit still loads (boundary values that are allowed).
#[track_caller]
fn assert_accepted(from: &str, to: &str) -> Policy {
    Policy::from_toml_str(&edited(from, to), FILE).unwrap_or_else(|e| panic!("should load: {e}"))
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

// --- the shipped file ----------------------------------------------------------------------------

#[test]
fn shipped_gansu_policy_loads() {
    let p = Policy::gansu();
    assert_eq!(p.fund_id, "CN-620000-work-injury");
    assert_eq!(p.province.code, RegionCode::parse("620000").unwrap());
    assert_eq!((p.province.name_zh.as_str(), p.province.name_en.as_str()), ("甘肃省", "Gansu"));
    assert_eq!(p.units.len(), 16);
    assert_eq!(p.units.iter().filter(|u| u.official_code).count(), 14);
    assert!(p.units.iter().filter(|u| u.official_code).all(|u| u.kind == UnitKind::Region));
    assert_eq!(p.reform_date.to_string(), "2024-01-01");
    assert_eq!(p.reform_period().to_string(), "2024-01");

    let lanzhou = p.unit(RegionCode::parse("620100").unwrap()).unwrap();
    assert_eq!((lanzhou.name_zh.as_str(), lanzhou.name_en.as_str()), ("兰州市", "Lanzhou"));
    let gannan = p.unit(RegionCode::parse("623000").unwrap()).unwrap();
    assert_eq!(gannan.name_zh, "甘南藏族自治州");
    let new_area = p.unit(RegionCode::parse("629901").unwrap()).unwrap();
    assert_eq!((new_area.kind, new_area.official_code), (UnitKind::NewArea, false));
    assert_eq!(new_area.name_zh, "兰州新区");
    let provincial = p.unit(RegionCode::parse("620001").unwrap()).unwrap();
    assert_eq!((provincial.kind, provincial.official_code), (UnitKind::ProvincialLevel, false));
    assert_eq!(provincial.name_en, "Provincial-level agency");
}

#[test]
fn shipped_rates_and_parameters_are_exact() {
    let p = Policy::gansu();
    assert_eq!(p.risk_classes.len(), 8);
    let rates: Vec<Decimal> = p.risk_classes.iter().map(|c| c.benchmark_rate_pct).collect();
    let expected: Vec<Decimal> =
        ["0.2", "0.4", "0.7", "0.9", "1.1", "1.3", "1.6", "1.9"].iter().map(|s| dec(s)).collect();
    assert_eq!(rates, expected);
    assert_eq!(p.risk_class(1).unwrap().allowed_floats_pct, vec![dec("120"), dec("150")]);
    for class in 2..=8 {
        let floats = &p.risk_class(class).unwrap().allowed_floats_pct;
        assert_eq!(floats, &vec![dec("50"), dec("80"), dec("120"), dec("150")], "class {class}");
    }
    assert_eq!(p.benefit_years.keys().copied().collect::<Vec<_>>(), vec![2022, 2023, 2024, 2025, 2026]);
    // The 2025 one-time work-death subsidy is 20 x the 2024 national disposable income.
    let ndi_2024 = p.benefit_year(2024).unwrap().national_disposable_income;
    assert_eq!(ndi_2024.checked_mul_ratio(dec("20")), Some(Money::yuan(1_083_760)));
    assert_eq!(p.prevention.cap_ratio, dec("0.03"));
    assert!(p.prevention.baseline_premium_income.contains_key(&2023));
    assert_eq!((p.warning.red_below_months, p.warning.amber_below_months), (dec("3"), dec("6")));
    assert_eq!((p.warning.rate_cut_small_from_months, p.warning.rate_cut_small_pct), (dec("18"), dec("20")));
    assert_eq!((p.warning.rate_cut_large_from_months, p.warning.rate_cut_large_pct), (dec("24"), dec("50")));
    assert_eq!(p.gap_sharing.region_share_of_shortfall, dec("1.00"));
    assert_eq!(p.gap_sharing.shortfall_tolerance_ratio, dec("0.00"));
}

#[test]
fn summary_mentions_units_and_internal_codes() {
    let s = Policy::gansu().summary();
    assert!(s.contains("Lanzhou"), "{s}");
    assert!(s.contains("620100 兰州市 Lanzhou"), "{s}");
    assert!(s.contains("629901 兰州新区 Lanzhou New Area (internal code)"), "{s}");
    assert!(s.contains("16 paying units"), "{s}");
}

#[test]
fn from_path_reads_the_shipped_file_and_reports_io_errors() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("policy");
    assert_eq!(Policy::from_path(&dir.join("gansu.toml")).unwrap(), Policy::gansu());
    let missing = dir.join("no-such-province.toml");
    let err = Policy::from_path(&missing).unwrap_err();
    assert!(matches!(err, PolicyError::Io { .. }), "{err:?}");
    assert!(err.to_string().starts_with(&format!("policy file {}: cannot be read: ", missing.display())));
    assert_eq!(err.line(), None);
}

// --- fund id and province ------------------------------------------------------------------------

#[test]
fn fund_id_must_be_non_empty() {
    assert_refused(
        "fund_id = \"CN-620000-work-injury\"",
        "fund_id = \"\"",
        "fund_id = \"\"",
        "fund_id",
        "may not be empty",
    );
}

#[test]
fn fund_id_must_be_ascii() {
    assert_refused(
        "fund_id = \"CN-620000-work-injury\"",
        "fund_id = \"CN-620000-工伤\"",
        "fund_id =",
        "fund_id",
        "printable ASCII",
    );
}

#[test]
fn province_code_must_be_six_digits() {
    assert_refused(
        "code = \"620000\"",
        "code = \"62000\"",
        "code = \"62000\"",
        "province.code",
        "\"62000\" is not a six-digit division code",
    );
}

#[test]
fn province_name_must_not_be_empty() {
    assert_refused("name_en = \"Gansu\"", "name_en = \"  \"", "name_en = \"  \"", "province.name_en", "empty");
}

// --- units ---------------------------------------------------------------------------------------

#[test]
fn unit_code_must_be_six_digits() {
    assert_refused(
        "code = \"620300\"",
        "code = \"62030A\"",
        "62030A",
        "units[2].code",
        "not a six-digit division code",
    );
}

#[test]
fn unit_codes_must_be_unique() {
    let text = edited("code = \"620500\"", "code = \"620100\"");
    assert_refused_at(
        &text,
        line_of_last(&text, "code = \"620100\""),
        "units[4].code",
        "code 620100 is already used by units[0]",
    );
}

#[test]
fn unit_names_must_not_be_empty() {
    assert_refused("name_zh = \"武威市\"", "name_zh = \"\"", "name_zh = \"\"", "units[5].name_zh", "empty");
}

#[test]
fn unit_kind_must_be_known() {
    assert_refused(
        "kind = \"new_area\"",
        "kind = \"district\"",
        "kind = \"district\"",
        "units[14].kind",
        "\"district\" is not a unit kind (region, new_area or provincial_level)",
    );
}

#[test]
fn exactly_one_provincial_level_unit_not_two() {
    let text = edited("kind = \"new_area\"", "kind = \"provincial_level\"");
    assert_refused_at(
        &text,
        line_of_last(&text, "kind = \"provincial_level\""),
        "units[15].kind",
        "units[14] is already the provincial-level agency",
    );
}

#[test]
fn exactly_one_provincial_level_unit_not_none() {
    let text = edited("kind = \"provincial_level\"", "kind = \"new_area\"");
    assert_refused_at(&text, line_of(&text, "[[units]]"), "units", "exactly one provincial-level agency");
}

#[test]
fn official_code_flag_is_required() {
    // Removing the flag of the new area: toml reports the missing field at the table's header.
    let text = edited("kind = \"new_area\"\nofficial_code = false\n", "kind = \"new_area\"\n");
    let header = text[..text.find("name_zh = \"兰州新区\"").unwrap()].rfind("[[units]]").unwrap();
    let line = text[..header].matches('\n').count() + 1;
    assert_refused_at(&text, line, "units[14].official_code", "required field is missing");
}

// --- reform date ---------------------------------------------------------------------------------

#[test]
fn reform_date_must_be_a_date() {
    assert_refused(
        "reform_date = \"2024-01-01\"",
        "reform_date = \"2024-13-01\"",
        "reform_date =",
        "reform_date",
        "\"2024-13-01\" is not a date (YYYY-MM-DD)",
    );
    assert_refused(
        "reform_date = \"2024-01-01\"",
        "reform_date = \"2024-1-1\"",
        "reform_date =",
        "reform_date",
        "is not a date (YYYY-MM-DD)",
    );
    assert_refused(
        "reform_date = \"2024-01-01\"",
        "reform_date = 20240101",
        "reform_date =",
        "reform_date",
        "expected a date such as \"2024-01-01\", found a integer",
    );
}

#[test]
fn reform_date_must_be_the_first_of_a_month() {
    assert_refused(
        "reform_date = \"2024-01-01\"",
        "reform_date = \"2024-01-15\"",
        "reform_date =",
        "reform_date",
        "not the 1st of a month",
    );
}

#[test]
fn reform_date_may_be_an_unquoted_toml_date() {
    let p = assert_accepted("reform_date = \"2024-01-01\"", "reform_date = 2024-01-01");
    assert_eq!(p, Policy::gansu());
}

// --- risk classes --------------------------------------------------------------------------------

#[test]
fn risk_class_nine_does_not_exist() {
    assert_refused(
        "class = 8\n",
        "class = 9\n",
        "class = 9",
        "risk_classes[7].class",
        "rate class 9 does not exist (classes are 1-8)",
    );
}

#[test]
fn risk_classes_may_not_repeat() {
    let text = edited("class = 3\n", "class = 2\n");
    assert_refused_at(
        &text,
        line_of_last(&text, "class = 2\n"),
        "risk_classes[2].class",
        "rate class 2 is already listed as risk_classes[1]",
    );
}

#[test]
fn risk_classes_may_not_have_gaps() {
    assert_refused(
        "class = 3\n",
        "class = 4\n",
        "class = 4",
        "risk_classes[2].class",
        "expected rate class 3 here, found 4",
    );
}

#[test]
fn all_eight_risk_classes_are_required() {
    let text = edited(
        "[[risk_classes]]\nclass = 8\nbenchmark_rate_pct = \"1.9\"\nallowed_floats_pct = [\"50\", \"80\", \"120\", \"150\"]\n",
        "",
    );
    assert_refused_at(&text, line_of(&text, "class = 7"), "risk_classes", "rate class 8 is missing");
}

#[test]
fn benchmark_rate_must_be_between_0_and_100() {
    for bad in ["0", "100", "-0.4"] {
        assert_refused(
            "benchmark_rate_pct = \"0.4\"",
            &format!("benchmark_rate_pct = \"{bad}\""),
            &format!("benchmark_rate_pct = \"{bad}\""),
            "risk_classes[1].benchmark_rate_pct",
            "greater than 0 and less than 100",
        );
    }
}

#[test]
fn floats_must_be_positive() {
    assert_refused(
        "allowed_floats_pct = [\"120\", \"150\"]",
        "allowed_floats_pct = [\"0\", \"150\"]",
        "allowed_floats_pct = [\"0\"",
        "risk_classes[0].allowed_floats_pct[0]",
        "0 must be a percentage greater than 0",
    );
}

#[test]
fn floats_must_be_unique() {
    assert_refused(
        "allowed_floats_pct = [\"120\", \"150\"]",
        "allowed_floats_pct = [\"120\", \"120.0\"]",
        "\"120.0\"",
        "risk_classes[0].allowed_floats_pct[1]",
        "float 120.0% is listed twice",
    );
}

#[test]
fn floats_may_not_be_empty() {
    assert_refused(
        "allowed_floats_pct = [\"120\", \"150\"]",
        "allowed_floats_pct = []",
        "allowed_floats_pct = []",
        "risk_classes[0].allowed_floats_pct",
        "at least one float",
    );
}

// --- benefit years -------------------------------------------------------------------------------

#[test]
fn benefit_years_must_be_unique() {
    let text = edited("year = 2026", "year = 2025");
    assert_refused_at(&text, line_of_last(&text, "year = 2025"), "benefit_years[4].year", "year 2025 is listed twice");
}

#[test]
fn benefit_years_must_be_contiguous() {
    assert_refused(
        "year = 2026",
        "year = 2027",
        "year = 2027",
        "benefit_years[4].year",
        "year 2027 follows 2025; benefit years must be consecutive",
    );
}

#[test]
fn first_benefit_year_must_precede_the_reform_year() {
    // With the reform in 2022, awards from 2022 need 2021's figures, which the file lacks.
    assert_refused(
        "reform_date = \"2024-01-01\"",
        "reform_date = \"2022-01-01\"",
        "year = 2022",
        "benefit_years[0].year",
        "the list must start at 2021 or earlier",
    );
}

#[test]
fn benefit_amounts_must_be_positive() {
    assert_refused(
        "minimum_wage_monthly = \"1820.00\"",
        "minimum_wage_monthly = \"0.00\"",
        "minimum_wage_monthly = \"0.00\"",
        "benefit_years[0].minimum_wage_monthly",
        "amount 0.00 must be greater than 0",
    );
    assert_refused(
        "national_disposable_income = \"51821.00\"",
        "national_disposable_income = \"-51821.00\"",
        "-51821.00",
        "benefit_years[1].national_disposable_income",
        "must be greater than 0",
    );
}

#[test]
fn benefit_amounts_must_be_exact_fen() {
    assert_refused(
        "monthly_average_wage = \"7530.00\"",
        "monthly_average_wage = \"7530.001\"",
        "7530.001",
        "benefit_years[2].monthly_average_wage",
        "more than two decimal places",
    );
}

// --- prevention ----------------------------------------------------------------------------------

#[test]
fn prevention_cap_ratio_must_be_in_0_1() {
    for bad in ["0", "1.01", "-0.03"] {
        assert_refused(
            "cap_ratio = \"0.03\"",
            &format!("cap_ratio = \"{bad}\""),
            "cap_ratio =",
            "prevention.cap_ratio",
            "greater than 0 and at most 1",
        );
    }
    assert_eq!(assert_accepted("cap_ratio = \"0.03\"", "cap_ratio = \"1\"").prevention.cap_ratio, dec("1"));
}

#[test]
fn baseline_premium_income_must_be_positive() {
    assert_refused(
        "\"2023\" = \"1450000000.00\"",
        "\"2023\" = \"0\"",
        "\"2023\" = \"0\"",
        "prevention.baseline_premium_income.2023",
        "must be greater than 0",
    );
}

#[test]
fn baseline_premium_income_keys_are_years() {
    assert_refused(
        "\"2023\" = \"1450000000.00\"",
        "\"2023\" = \"1450000000.00\"\n\"last year\" = \"1.00\"",
        "\"last year\"",
        "prevention.baseline_premium_income.last year",
        "is not a year",
    );
}

#[test]
fn baseline_premium_income_covers_the_year_before_the_reform() {
    let text = edited("\"2023\" = \"1450000000.00\"", "\"2022\" = \"1450000000.00\"");
    assert_refused_at(
        &text,
        line_of(&text, "[prevention.baseline_premium_income]"),
        "prevention.baseline_premium_income",
        "the premium income of 2023",
    );
}

// --- warning bands -------------------------------------------------------------------------------

#[test]
fn warning_red_must_be_positive_and_below_amber() {
    assert_refused(
        "red_below_months = \"3\"",
        "red_below_months = \"0\"",
        "red_below_months",
        "warning.red_below_months",
        "greater than 0",
    );
    assert_refused(
        "red_below_months = \"3\"",
        "red_below_months = \"6\"",
        "amber_below_months",
        "warning.amber_below_months",
        "6 must be greater than red_below_months (6)",
    );
}

#[test]
fn warning_amber_must_not_pass_the_small_cut() {
    assert_refused(
        "amber_below_months = \"6\"",
        "amber_below_months = \"19\"",
        "rate_cut_small_from_months",
        "warning.rate_cut_small_from_months",
        "18 must be at least amber_below_months (19)",
    );
    // Equal is allowed: amber <= small cut.
    assert_accepted("amber_below_months = \"6\"", "amber_below_months = \"18\"");
}

#[test]
fn warning_large_cut_threshold_must_exceed_the_small_one() {
    assert_refused(
        "rate_cut_large_from_months = \"24\"",
        "rate_cut_large_from_months = \"18\"",
        "rate_cut_large_from_months",
        "warning.rate_cut_large_from_months",
        "18 must be greater than rate_cut_small_from_months (18)",
    );
}

#[test]
fn warning_cut_percents_must_be_in_0_100_and_ordered() {
    assert_refused(
        "rate_cut_large_pct = \"50\"",
        "rate_cut_large_pct = \"100\"",
        "rate_cut_large_pct",
        "warning.rate_cut_large_pct",
        "greater than 0 and less than 100",
    );
    assert_refused(
        "rate_cut_small_pct = \"20\"",
        "rate_cut_small_pct = \"0\"",
        "rate_cut_small_pct",
        "warning.rate_cut_small_pct",
        "greater than 0 and less than 100",
    );
    assert_refused(
        "rate_cut_small_pct = \"20\"",
        "rate_cut_small_pct = \"50\"",
        "rate_cut_large_pct",
        "warning.rate_cut_large_pct",
        "50 must be greater than rate_cut_small_pct (50)",
    );
}

// --- gap sharing ---------------------------------------------------------------------------------

#[test]
fn gap_share_must_be_in_0_1() {
    assert_refused(
        "region_share_of_shortfall = \"1.00\"",
        "region_share_of_shortfall = \"1.5\"",
        "region_share_of_shortfall",
        "gap_sharing.region_share_of_shortfall",
        "1.5 must be a share from 0 to 1",
    );
    assert_accepted("region_share_of_shortfall = \"1.00\"", "region_share_of_shortfall = \"0\"");
}

#[test]
fn gap_tolerance_must_be_below_1() {
    assert_refused(
        "shortfall_tolerance_ratio = \"0.00\"",
        "shortfall_tolerance_ratio = \"1\"",
        "shortfall_tolerance_ratio",
        "gap_sharing.shortfall_tolerance_ratio",
        "from 0 up to (not including) 1",
    );
    assert_accepted("shortfall_tolerance_ratio = \"0.00\"", "shortfall_tolerance_ratio = \"0.99\"");
}

// --- syntax and type errors ----------------------------------------------------------------------

#[test]
fn toml_syntax_error_names_its_line() {
    let text = edited("cap_ratio = \"0.03\"", "cap_ratio = ");
    let err = refuse(&text);
    let line = line_of(&text, "cap_ratio = ");
    assert!(matches!(err, PolicyError::Syntax { .. }), "{err:?}");
    assert!(err.to_string().starts_with(&format!("policy file {FILE} line {line}: TOML syntax error: ")), "{err}");

    let text = edited("[gap_sharing]", "[gap_sharing");
    let err = refuse(&text);
    assert_eq!(err.line(), Some(line_of(&text, "[gap_sharing")), "{err}");
}

#[test]
fn unknown_fields_are_refused() {
    assert_refused(
        "name_en = \"Jinchang\"",
        "name_en = \"Jinchang\"\nname_fr = \"Jinchang\"",
        "name_fr",
        "units[2].name_fr",
        "unknown field",
    );
    assert_refused(
        "fund_id = \"CN-620000-work-injury\"",
        "fund_id = \"CN-620000-work-injury\"\nfund_name = \"x\"",
        "fund_name",
        "fund_name",
        "unknown field",
    );
}

#[test]
fn missing_sections_are_named() {
    let text = edited("[gap_sharing]", "[gap_sharing_typo]");
    // The unknown table is reported first, at its header.
    assert_refused_at(&text, line_of(&text, "[gap_sharing_typo]"), "gap_sharing_typo", "unknown field");
    let without = GANSU_POLICY_TOML.split("[gap_sharing]").next().unwrap();
    let err = refuse(without);
    assert_eq!(err.field(), Some("gap_sharing"), "{err}");
    assert!(err.to_string().contains("required field is missing"), "{err}");
}

#[test]
fn floats_instead_of_strings_are_refused() {
    assert_refused(
        "benchmark_rate_pct = \"0.7\"",
        "benchmark_rate_pct = 0.7",
        "benchmark_rate_pct = 0.7",
        "risk_classes[2].benchmark_rate_pct",
        "0.7 is a TOML float; write it as a quoted string, \"0.7\"",
    );
    assert_refused(
        "cap_ratio = \"0.03\"",
        "cap_ratio = 0.03",
        "cap_ratio = 0.03",
        "prevention.cap_ratio",
        "is a TOML float; write it as a quoted string",
    );
    assert_refused(
        "allowed_floats_pct = [\"120\", \"150\"]",
        "allowed_floats_pct = [\"120\", 150.0]",
        "150.0",
        "risk_classes[0].allowed_floats_pct[1]",
        "is a TOML float",
    );
}

#[test]
fn integers_instead_of_strings_are_refused() {
    assert_refused(
        "red_below_months = \"3\"",
        "red_below_months = 3",
        "red_below_months",
        "warning.red_below_months",
        "3 is a TOML integer; write it as a quoted string, \"3\"",
    );
    assert_refused(
        "monthly_average_wage = \"7216.00\"",
        "monthly_average_wage = 7216",
        "monthly_average_wage = 7216",
        "benefit_years[1].monthly_average_wage",
        "is a TOML integer",
    );
}

#[test]
fn decimals_must_be_plain_text() {
    for bad in ["1e-2", "+0.03", "0,03", " 0.03", "NaN", "3%"] {
        assert_refused(
            "cap_ratio = \"0.03\"",
            &format!("cap_ratio = \"{bad}\""),
            "cap_ratio =",
            "prevention.cap_ratio",
            "is not a decimal number",
        );
    }
}

#[test]
fn wrong_types_name_the_field() {
    assert_refused(
        "kind = \"new_area\"\nofficial_code = false\n",
        "kind = \"new_area\"\nofficial_code = \"no\"\n",
        "official_code = \"no\"",
        "units[14].official_code",
        "invalid type",
    );
    assert_refused("class = 5\n", "class = \"5\"\n", "class = \"5\"", "risk_classes[4].class", "invalid type");
}

// --- no panics -----------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = Policy::from_toml_str(&text, FILE);
    }

    #[test]
    fn random_edits_of_the_gansu_file_never_panic(
        at in 0..GANSU_POLICY_TOML.len(),
        delete in 0usize..12,
        insert in "[\\[\\]={}\",.0-9a-z_ \n#-]{0,10}",
    ) {
        let text = GANSU_POLICY_TOML;
        let floor = |mut i: usize| { while !text.is_char_boundary(i) { i -= 1; } i };
        let start = floor(at);
        let end = floor((start + delete).min(text.len()));
        let mutated = format!("{}{}{}", &text[..start], insert, &text[end..]);
        if let Err(e) = Policy::from_toml_str(&mutated, FILE) {
            // Every error names the file and a line inside the text.
            let line = e.line().unwrap();
            prop_assert!(line >= 1 && line <= mutated.lines().count() + 1, "{}", e);
            let prefix = format!("policy file {FILE} line ");
            prop_assert!(e.to_string().starts_with(&prefix), "{}", e);
        }
    }
}
