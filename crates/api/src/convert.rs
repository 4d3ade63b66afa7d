//! Shape checks at the edge: every request field is parsed into its domain type here, or the
//! request is refused with INVALID_ARGUMENT naming the field. Nothing malformed reaches the
//! engine, so nothing malformed is ever recorded. Also the domain-to-protobuf direction for
//! replies (views), which cannot fail.

use fundledger_domain::{
    Basis, BeneficiaryRef, BenefitType, BudgetLines, Command, CommandId, Department, ExpenditureCategory, IdError,
    IncomeCategory, LegacyFundKind, Money, NursingLevel, PaymentId, Period, PlanId, ProvincialIncomeKind, RegionCode,
    ReversalReason, TaxBatchRef,
};
use rust_decimal::Decimal;

use crate::errors::ApiError;
use crate::limits;
use crate::pb;

/// A converted command request: the idempotency key, the command and its trace ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Converted {
    pub command_id: CommandId,
    pub command: Command,
    pub correlation_id: String,
    pub causation_id: String,
}

// ---------------------------------------------------------------------------------------------
// Field parsers: each names its field in the error.
// ---------------------------------------------------------------------------------------------

fn id_error(field: &str, reason: &str, error: IdError) -> ApiError {
    ApiError::invalid(field, reason, error)
}

pub fn command_id(text: &str) -> Result<CommandId, ApiError> {
    if text.is_empty() {
        return Err(ApiError::missing("command_id"));
    }
    CommandId::parse(text).map_err(|e| id_error("command_id", "INVALID_COMMAND_ID", e))
}

pub fn region(field: &str, text: &str) -> Result<RegionCode, ApiError> {
    if text.is_empty() {
        return Err(ApiError::missing(field));
    }
    RegionCode::parse(text).map_err(|e| id_error(field, "INVALID_REGION", e))
}

pub fn period(field: &str, text: &str) -> Result<Period, ApiError> {
    if text.is_empty() {
        return Err(ApiError::missing(field));
    }
    Period::parse(text).map_err(|e| ApiError::invalid(field, "INVALID_PERIOD", e))
}

pub fn money(field: &str, text: &str) -> Result<Money, ApiError> {
    if text.is_empty() {
        return Err(ApiError::missing(field));
    }
    Money::parse(text).map_err(|e| ApiError::invalid(field, "INVALID_AMOUNT", e))
}

pub fn plan_id(field: &str, text: &str) -> Result<PlanId, ApiError> {
    if text.is_empty() {
        return Err(ApiError::missing(field));
    }
    PlanId::parse(text).map_err(|e| id_error(field, "INVALID_ID", e))
}

fn payment_id(text: &str) -> Result<PaymentId, ApiError> {
    if text.is_empty() {
        return Err(ApiError::missing("payment_id"));
    }
    PaymentId::parse(text).map_err(|e| id_error("payment_id", "INVALID_ID", e))
}

fn tax_batch(text: &str) -> Result<TaxBatchRef, ApiError> {
    if text.is_empty() {
        return Err(ApiError::missing("tax_batch"));
    }
    TaxBatchRef::parse(text).map_err(|e| id_error("tax_batch", "INVALID_ID", e))
}

fn beneficiary(text: &str) -> Result<BeneficiaryRef, ApiError> {
    if text.is_empty() {
        return Err(ApiError::missing("beneficiary"));
    }
    BeneficiaryRef::parse(text).map_err(|e| id_error("beneficiary", "INVALID_BENEFICIARY", e))
}

/// Years are checked against the range a period may name, so an absurd year is a shape error
/// (refused, unrecorded) rather than a recorded refusal.
pub fn year(field: &str, value: u32) -> Result<u16, ApiError> {
    use fundledger_domain::period::{PERIOD_YEAR_MAX, PERIOD_YEAR_MIN};
    u16::try_from(value).ok().filter(|y| (PERIOD_YEAR_MIN..=PERIOD_YEAR_MAX).contains(y)).ok_or_else(|| {
        ApiError::invalid(field, "INVALID_YEAR", format!("{value} is not a year {PERIOD_YEAR_MIN}-{PERIOD_YEAR_MAX}"))
    })
}

fn small(field: &str, value: u32) -> Result<u8, ApiError> {
    u8::try_from(value).map_err(|_| ApiError::invalid(field, "OUT_OF_RANGE", format!("{value} is above 255")))
}

fn decimal(field: &str, text: &str) -> Result<Decimal, ApiError> {
    if text.is_empty() {
        return Err(ApiError::missing(field));
    }
    if text.len() > limits::decimal_text_bytes_max {
        return Err(ApiError::invalid(
            field,
            "TEXT_TOO_LONG",
            format!("longer than {} bytes", limits::decimal_text_bytes_max),
        ));
    }
    if !fundledger_domain::money::is_plain_decimal(text) {
        return Err(ApiError::invalid(field, "INVALID_DECIMAL", format!("{text:?} is not a plain decimal number")));
    }
    text.parse::<Decimal>()
        .map_err(|e| ApiError::invalid(field, "INVALID_DECIMAL", format!("{text:?} is not a decimal number: {e}")))
}

fn text(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    if value.len() > max {
        return Err(ApiError::invalid(field, "TEXT_TOO_LONG", format!("longer than {max} bytes")));
    }
    Ok(value.to_string())
}

/// Enum fields: the protobuf name without its prefix, lower-cased, is the domain's name; the
/// zero value (`*_UNSPECIFIED`) and unknown numbers are refused.
trait DomainEnum: Copy + 'static {
    const ALL: &'static [Self];
    fn name(self) -> &'static str;
}

macro_rules! domain_enum {
    ($($t:ty),+) => {$(
        impl DomainEnum for $t {
            const ALL: &'static [Self] = <$t>::ALL;
            fn name(self) -> &'static str { self.as_str() }
        }
    )+};
}
domain_enum!(
    IncomeCategory,
    ProvincialIncomeKind,
    ExpenditureCategory,
    BenefitType,
    LegacyFundKind,
    Department,
    ReversalReason,
    NursingLevel
);

fn enum_value<T: DomainEnum>(
    field: &str,
    value: i32,
    prefix: &str,
    pb_name: impl Fn(i32) -> Option<&'static str>,
) -> Result<T, ApiError> {
    if value == 0 {
        return Err(ApiError::invalid(field, "INVALID_ENUM", "is unspecified (0)"));
    }
    let unknown = || ApiError::invalid(field, "INVALID_ENUM", format!("{value} is not a value of the enum"));
    let name = pb_name(value).ok_or_else(unknown)?;
    let bare = name.strip_prefix(prefix).ok_or_else(unknown)?;
    T::ALL.iter().copied().find(|d| d.name().eq_ignore_ascii_case(bare)).ok_or_else(unknown)
}

fn enum_to_pb<T: DomainEnum>(domain: T, prefix: &str, from_name: impl Fn(&str) -> Option<i32>) -> i32 {
    from_name(&format!("{prefix}{}", domain.name().to_ascii_uppercase())).unwrap_or(0)
}

macro_rules! pb_enum_fns {
    ($from:ident, $to:ident, $domain:ty, $pb:ty, $prefix:literal) => {
        pub fn $from(field: &str, value: i32) -> Result<$domain, ApiError> {
            enum_value(field, value, $prefix, |v| <$pb>::try_from(v).ok().map(|e| e.as_str_name()))
        }
        pub fn $to(domain: $domain) -> i32 {
            enum_to_pb(domain, $prefix, |n| <$pb>::from_str_name(n).map(|e| e as i32))
        }
    };
}

pb_enum_fns!(income_category, income_category_pb, IncomeCategory, pb::IncomeCategory, "INCOME_CATEGORY_");
pb_enum_fns!(
    provincial_income_kind,
    provincial_income_kind_pb,
    ProvincialIncomeKind,
    pb::ProvincialIncomeKind,
    "PROVINCIAL_INCOME_KIND_"
);
pb_enum_fns!(
    expenditure_category,
    expenditure_category_pb,
    ExpenditureCategory,
    pb::ExpenditureCategory,
    "EXPENDITURE_CATEGORY_"
);
pb_enum_fns!(benefit_type, benefit_type_pb, BenefitType, pb::BenefitType, "BENEFIT_TYPE_");
pb_enum_fns!(legacy_fund_kind, legacy_fund_kind_pb, LegacyFundKind, pb::LegacyFundKind, "LEGACY_FUND_KIND_");
pb_enum_fns!(department, department_pb, Department, pb::Department, "DEPARTMENT_");
pb_enum_fns!(reversal_reason, reversal_reason_pb, ReversalReason, pb::ReversalReason, "REVERSAL_REASON_");
pb_enum_fns!(nursing_level, nursing_level_pb, NursingLevel, pb::NursingLevel, "NURSING_LEVEL_");

fn trace(trace: Option<&pb::Trace>) -> Result<(String, String), ApiError> {
    let Some(trace) = trace else { return Ok((String::new(), String::new())) };
    Ok((
        text("trace.correlation_id", &trace.correlation_id, limits::trace_id_bytes_max)?,
        text("trace.causation_id", &trace.causation_id, limits::trace_id_bytes_max)?,
    ))
}

fn expenditure_lines(
    field: &str,
    lines: &[pb::ExpenditureAmount],
) -> Result<Vec<(ExpenditureCategory, Money)>, ApiError> {
    if lines.len() > fundledger_domain::command::LINES_MAX {
        return Err(ApiError::invalid(
            field,
            "TOO_MANY_LINES",
            format!("more than {} lines", fundledger_domain::command::LINES_MAX),
        ));
    }
    lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            Ok((
                expenditure_category(&format!("{field}[{i}].category"), line.category)?,
                money(&format!("{field}[{i}].amount"), &line.amount)?,
            ))
        })
        .collect()
}

fn budget_lines(income: &[pb::IncomeAmount], expenditure: &[pb::ExpenditureAmount]) -> Result<BudgetLines, ApiError> {
    if income.len() > fundledger_domain::command::LINES_MAX {
        return Err(ApiError::invalid(
            "income",
            "TOO_MANY_LINES",
            format!("more than {} lines", fundledger_domain::command::LINES_MAX),
        ));
    }
    let income = income
        .iter()
        .enumerate()
        .map(|(i, line)| {
            Ok((
                income_category(&format!("income[{i}].category"), line.category)?,
                money(&format!("income[{i}].amount"), &line.amount)?,
            ))
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(BudgetLines { income, expenditure: expenditure_lines("expenditure", expenditure)? })
}

fn basis(basis: &pb::PaymentBasis) -> Result<Basis, ApiError> {
    use pb::payment_basis::Kind;
    let kind = basis.kind.as_ref().ok_or_else(|| ApiError::missing("basis.kind"))?;
    Ok(match kind {
        Kind::DisabilitySubsidy(d) => Basis::DisabilitySubsidy {
            grade: small("basis.disability_subsidy.grade", d.grade)?,
            own_wage: money("basis.disability_subsidy.own_wage", &d.own_wage)?,
        },
        Kind::DisabilityAllowance(d) => Basis::DisabilityAllowance {
            grade: small("basis.disability_allowance.grade", d.grade)?,
            own_wage: money("basis.disability_allowance.own_wage", &d.own_wage)?,
        },
        Kind::Nursing(level) => Basis::Nursing { level: nursing_level("basis.nursing", *level)? },
        Kind::Funeral(_) => Basis::Funeral,
        Kind::WorkDeath(_) => Basis::WorkDeath,
        Kind::DependantsPension(d) => Basis::DependantsPension {
            deceased_wage: money("basis.dependants_pension.deceased_wage", &d.deceased_wage)?,
            spouse: d.spouse,
            other_dependants: small("basis.dependants_pension.other_dependants", d.other_dependants)?,
            orphans_or_lone_elders: small("basis.dependants_pension.orphans_or_lone_elders", d.orphans_or_lone_elders)?,
        },
    })
}

// ---------------------------------------------------------------------------------------------
// Requests to commands
// ---------------------------------------------------------------------------------------------

/// A command request message: its id and trace, and how to parse the rest.
pub trait CommandRequest {
    fn command_id_text(&self) -> &str;
    fn trace_ref(&self) -> Option<&pb::Trace>;
    fn to_command(&self) -> Result<Command, ApiError>;

    /// Parses the whole request: id first (so errors of a batch entry can name it), then trace,
    /// then the command's own fields.
    fn convert(&self) -> Result<Converted, ApiError> {
        let command_id = command_id(self.command_id_text())?;
        let (correlation_id, causation_id) = trace(self.trace_ref())?;
        Ok(Converted { command_id, command: self.to_command()?, correlation_id, causation_id })
    }
}

macro_rules! command_request {
    ($t:ty, |$r:ident| $body:expr) => {
        impl CommandRequest for $t {
            fn command_id_text(&self) -> &str {
                &self.command_id
            }
            fn trace_ref(&self) -> Option<&pb::Trace> {
                self.trace.as_ref()
            }
            fn to_command(&self) -> Result<Command, ApiError> {
                let $r = self;
                Ok($body)
            }
        }
    };
}

command_request!(pb::RecordCollectionRequest, |r| Command::RecordCollection {
    region: region("region", &r.region)?,
    period: period("period", &r.period)?,
    category: income_category("category", r.category)?,
    amount: money("amount", &r.amount)?,
    tax_batch: tax_batch(&r.tax_batch)?,
});
command_request!(pb::RefundCollectionRequest, |r| Command::RefundCollection {
    region: region("region", &r.region)?,
    period: period("period", &r.period)?,
    tax_batch: tax_batch(&r.tax_batch)?,
    amount: money("amount", &r.amount)?,
});
command_request!(pb::RecordTransferRequest, |r| Command::RecordTransfer {
    region: region("region", &r.region)?,
    period: period("period", &r.period)?,
    amount: money("amount", &r.amount)?,
});
command_request!(pb::RecordProvincialIncomeRequest, |r| Command::RecordProvincialIncome {
    kind: provincial_income_kind("kind", r.kind)?,
    period: period("period", &r.period)?,
    amount: money("amount", &r.amount)?,
});
command_request!(pb::ConsolidateLegacyReserveRequest, |r| Command::ConsolidateLegacyReserve {
    region: region("region", &r.region)?,
    kind: legacy_fund_kind("kind", r.kind)?,
    period: period("period", &r.period)?,
    amount: money("amount", &r.amount)?,
});
command_request!(pb::AdoptBudgetRequest, |r| Command::AdoptBudget {
    region: region("region", &r.region)?,
    year: year("year", r.year)?,
    lines: budget_lines(&r.income, &r.expenditure)?,
});
command_request!(pb::AdjustBudgetRequest, |r| Command::AdjustBudget {
    region: region("region", &r.region)?,
    year: year("year", r.year)?,
    lines: budget_lines(&r.income, &r.expenditure)?,
});
command_request!(pb::SubmitPlanRequest, |r| Command::SubmitPlan {
    plan_id: plan_id("plan_id", &r.plan_id)?,
    region: region("region", &r.region)?,
    period: period("period", &r.period)?,
    lines: expenditure_lines("lines", &r.lines)?,
});
command_request!(pb::ApprovePlanRequest, |r| Command::ApprovePlan { plan_id: plan_id("plan_id", &r.plan_id)? });
command_request!(pb::RejectPlanRequest, |r| Command::RejectPlan {
    plan_id: plan_id("plan_id", &r.plan_id)?,
    by: department("by", r.by)?,
    reason: text("reason", &r.reason, limits::reason_bytes_max)?,
});
command_request!(pb::ReviewPlanRequest, |r| Command::ReviewPlan { plan_id: plan_id("plan_id", &r.plan_id)? });
command_request!(pb::AllocateFundsRequest, |r| Command::AllocateFunds {
    plan_id: plan_id("plan_id", &r.plan_id)?,
    amount: money("amount", &r.amount)?,
});
command_request!(pb::RecordPaymentRequest, |r| payment_command(
    &r.payment_id,
    &r.region,
    &r.period,
    r.benefit,
    &r.beneficiary,
    &r.amount,
    r.basis.as_ref()
)?);

/// A `RecordPaymentRequest`'s fields as a command: one definition for the decoded message and for
/// the batch reader's borrowed entries ([`crate::batch::PaymentEntry`]).
pub fn payment_command(
    payment: &str,
    region_code: &str,
    month: &str,
    benefit: i32,
    beneficiary_ref: &str,
    amount: &str,
    payment_basis: Option<&pb::PaymentBasis>,
) -> Result<Command, ApiError> {
    Ok(Command::RecordPayment {
        payment_id: payment_id(payment)?,
        region: region("region", region_code)?,
        period: period("period", month)?,
        benefit: benefit_type("benefit", benefit)?,
        beneficiary: beneficiary(beneficiary_ref)?,
        amount: money("amount", amount)?,
        basis: payment_basis.map(basis).transpose()?,
    })
}
command_request!(pb::ReversePaymentRequest, |r| Command::ReversePayment {
    payment_id: payment_id(&r.payment_id)?,
    period: period("period", &r.period)?,
    amount: money("amount", &r.amount)?,
    reason: reversal_reason("reason", r.reason)?,
});
command_request!(pb::ClosePeriodRequest, |r| Command::ClosePeriod {
    region: region("region", &r.region)?,
    period: period("period", &r.period)?,
});
command_request!(pb::AdjustRatesRequest, |r| {
    if r.allowed_floats_pct.len() > fundledger_domain::command::RATE_FLOATS_MAX {
        return Err(ApiError::invalid(
            "allowed_floats_pct",
            "TOO_MANY_LINES",
            format!("more than {} floats", fundledger_domain::command::RATE_FLOATS_MAX),
        ));
    }
    Command::AdjustRates {
        effective: period("effective", &r.effective)?,
        class: small("class", r.class)?,
        benchmark_rate_pct: decimal("benchmark_rate_pct", &r.benchmark_rate_pct)?,
        allowed_floats_pct: r
            .allowed_floats_pct
            .iter()
            .enumerate()
            .map(|(i, f)| decimal(&format!("allowed_floats_pct[{i}]"), f))
            .collect::<Result<_, _>>()?,
    }
});
command_request!(pb::AssessGapSharesRequest, |r| Command::AssessGapShares { year: year("year", r.year)? });

/// The request inside a batch entry.
pub fn batch_entry(entry: &pb::BatchCommand) -> Option<&dyn CommandRequest> {
    use pb::batch_command::Command as C;
    Some(match entry.command.as_ref()? {
        C::RecordCollection(r) => r,
        C::RefundCollection(r) => r,
        C::RecordTransfer(r) => r,
        C::RecordProvincialIncome(r) => r,
        C::ConsolidateLegacyReserve(r) => r,
        C::AdoptBudget(r) => r,
        C::AdjustBudget(r) => r,
        C::SubmitPlan(r) => r,
        C::ApprovePlan(r) => r,
        C::RejectPlan(r) => r,
        C::ReviewPlan(r) => r,
        C::AllocateFunds(r) => r,
        C::RecordPayment(r) => r,
        C::ReversePayment(r) => r,
        C::ClosePeriod(r) => r,
        C::AdjustRates(r) => r,
        C::AssessGapShares(r) => r,
    })
}

// ---------------------------------------------------------------------------------------------
// Domain to protobuf (replies)
// ---------------------------------------------------------------------------------------------

pub fn money_text(m: Money) -> String {
    m.to_string()
}

pub fn expenditure_amounts(lines: &[(ExpenditureCategory, Money)]) -> Vec<pb::ExpenditureAmount> {
    lines
        .iter()
        .map(|(c, m)| pb::ExpenditureAmount { category: expenditure_category_pb(*c), amount: money_text(*m) })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_map_both_ways_and_refuse_unspecified() {
        for b in BenefitType::ALL {
            assert_eq!(benefit_type("benefit", benefit_type_pb(*b)).unwrap(), *b);
        }
        for c in IncomeCategory::ALL {
            assert_eq!(income_category("c", income_category_pb(*c)).unwrap(), *c);
        }
        for k in ProvincialIncomeKind::ALL {
            assert_eq!(provincial_income_kind("k", provincial_income_kind_pb(*k)).unwrap(), *k);
        }
        for e in ExpenditureCategory::ALL {
            assert_eq!(expenditure_category("e", expenditure_category_pb(*e)).unwrap(), *e);
        }
        for v in [0, -1, 999] {
            let error = benefit_type("benefit", v).unwrap_err();
            assert_eq!((error.code, error.reason.as_str()), (tonic::Code::InvalidArgument, "INVALID_ENUM"));
        }
    }

    #[test]
    fn a_bad_field_is_named() {
        let request = pb::RecordTransferRequest {
            command_id: "C-1".into(),
            region: "620100".into(),
            period: "2024-13".into(),
            amount: "1.00".into(),
            trace: None,
        };
        let error = request.convert().unwrap_err();
        assert_eq!(error.reason, "INVALID_PERIOD");
        assert_eq!(error.metadata, vec![("field".to_string(), "period".to_string())]);
    }

    mod fuzz {
        use proptest::prelude::*;

        use super::super::*;

        /// Text that is sometimes valid for some field and often not.
        fn text() -> impl Strategy<Value = String> {
            prop_oneof![
                Just(String::new()),
                Just("620100".to_string()),
                Just("2024-03".to_string()),
                Just("1234.56".to_string()),
                Just("PAY-1".to_string()),
                "[0-9.\\-]{0,30}",
                "[A-Za-z0-9:_.-]{0,45}",
                ".{0,60}",
            ]
        }

        fn number() -> impl Strategy<Value = i32> {
            prop_oneof![Just(0), 1..20i32, any::<i32>()]
        }

        /// Either the request converts, or it is INVALID_ARGUMENT naming a field.
        fn check(result: Result<Converted, ApiError>) -> Result<(), TestCaseError> {
            if let Err(error) = result {
                prop_assert_eq!(error.code, tonic::Code::InvalidArgument);
                prop_assert!(error.metadata.iter().any(|(k, v)| k == "field" && !v.is_empty()), "{:?}", error);
            }
            Ok(())
        }

        proptest! {
            #[test]
            fn payments_convert_or_name_a_field(
                id in text(), payment in text(), region in text(), period in text(), benefit in number(),
                beneficiary in text(), amount in text(), grade in any::<u32>(), wage in text(), basis_kind in 0..8u8,
            ) {
                use pb::payment_basis::{Disability, Dependants, Kind};
                let basis = match basis_kind {
                    0 => None,
                    1 => Some(pb::PaymentBasis { kind: None }),
                    2 => Some(pb::PaymentBasis { kind: Some(Kind::DisabilitySubsidy(Disability { grade, own_wage: wage })) }),
                    3 => Some(pb::PaymentBasis { kind: Some(Kind::Nursing(grade as i32)) }),
                    4 => Some(pb::PaymentBasis { kind: Some(Kind::Funeral(Default::default())) }),
                    _ => Some(pb::PaymentBasis { kind: Some(Kind::DependantsPension(Dependants {
                        deceased_wage: wage, spouse: true, other_dependants: grade, orphans_or_lone_elders: grade / 2,
                    })) }),
                };
                let request = pb::RecordPaymentRequest {
                    command_id: id, payment_id: payment, region, period, benefit, beneficiary, amount, basis, trace: None,
                };
                check(request.convert())?;
            }

            #[test]
            fn budgets_and_rates_convert_or_name_a_field(
                id in text(), region in text(), year in any::<u32>(), lines in proptest::collection::vec((number(), text()), 0..20),
                rate in text(), floats in proptest::collection::vec(text(), 0..10), class in any::<u32>(),
            ) {
                let budget = pb::AdoptBudgetRequest {
                    command_id: id.clone(),
                    region,
                    year,
                    income: lines.iter().map(|(c, a)| pb::IncomeAmount { category: *c, amount: a.clone() }).collect(),
                    expenditure: lines.iter().map(|(c, a)| pb::ExpenditureAmount { category: *c, amount: a.clone() }).collect(),
                    trace: Some(pb::Trace { correlation_id: rate.clone(), causation_id: String::new() }),
                };
                check(budget.convert())?;
                let rates = pb::AdjustRatesRequest {
                    command_id: id, effective: rate.clone(), class, benchmark_rate_pct: rate, allowed_floats_pct: floats, trace: None,
                };
                check(rates.convert())?;
            }
        }
    }
}
