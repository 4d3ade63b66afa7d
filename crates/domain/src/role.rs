//! Roles and who may issue which command ("who does what", domain guide). The API authenticates
//! and calls [`authorize`]; the rule itself belongs to the domain so every front end applies it.

use serde::{Deserialize, Serialize};

use crate::command::Command;
use crate::ids::RegionCode;

/// The roles that act on the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A region's tax bureau: records collections and refunds for its own region.
    RegionTaxBureau,
    /// A region's finance department: records its region's monthly transfer.
    RegionFinance,
    /// A region's social insurance agency: plans, payments, reversals, closes (own region).
    RegionAgency,
    /// Provincial HRSS: approves or rejects plans, adopts and adjusts budgets, adjusts rates.
    ProvincialHrss,
    /// Provincial Finance: reviews or rejects plans, records provincial income.
    ProvincialFinance,
    /// Provincial social insurance agency: allocates, consolidates legacy reserves, assesses gaps.
    ProvincialAgency,
    /// Auditors and inspectors: read everything, change nothing.
    Auditor,
    /// Operators: administration only (no ledger command).
    Admin,
}

impl Role {
    pub const ALL: &'static [Role] = &[
        Role::RegionTaxBureau,
        Role::RegionFinance,
        Role::RegionAgency,
        Role::ProvincialHrss,
        Role::ProvincialFinance,
        Role::ProvincialAgency,
        Role::Auditor,
        Role::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::RegionTaxBureau => "region_tax_bureau",
            Role::RegionFinance => "region_finance",
            Role::RegionAgency => "region_agency",
            Role::ProvincialHrss => "provincial_hrss",
            Role::ProvincialFinance => "provincial_finance",
            Role::ProvincialAgency => "provincial_agency",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.iter().copied().find(|r| r.as_str() == text)
    }

    /// Region roles act for one region only and see only that region.
    pub fn is_regional(self) -> bool {
        matches!(self, Role::RegionTaxBureau | Role::RegionFinance | Role::RegionAgency)
    }
}

/// Why an actor may not issue a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("role {role} may not {command}")]
    Role { role: &'static str, command: &'static str },
    #[error("role {role} of region {own} may not act for region {target}")]
    OtherRegion { role: &'static str, own: RegionCode, target: RegionCode },
    #[error("role {role} needs a region")]
    NoRegion { role: &'static str },
}

/// Checks that `role` (of `own_region`, for region roles) may issue `command`.
///
/// Commands that name a plan or a payment by id rather than a region (approve, review, reject,
/// allocate, reverse) are checked for the region by the caller once the plan or payment is known:
/// see [`command_region`], which returns `None` for those.
pub fn authorize(role: Role, own_region: Option<RegionCode>, command: &Command) -> Result<(), Denied> {
    use Command::*;
    let allowed = match command {
        RecordCollection { .. } | RefundCollection { .. } => role == Role::RegionTaxBureau,
        RecordTransfer { .. } => role == Role::RegionFinance,
        SubmitPlan { .. } | RecordPayment { .. } | ReversePayment { .. } | ClosePeriod { .. } => {
            role == Role::RegionAgency
        }
        ApprovePlan { .. } | AdoptBudget { .. } | AdjustBudget { .. } | AdjustRates { .. } => {
            role == Role::ProvincialHrss
        }
        ReviewPlan { .. } | RecordProvincialIncome { .. } => role == Role::ProvincialFinance,
        RejectPlan { by, .. } => match by {
            crate::category::Department::Hrss => role == Role::ProvincialHrss,
            crate::category::Department::Finance => role == Role::ProvincialFinance,
        },
        AllocateFunds { .. } | ConsolidateLegacyReserve { .. } | AssessGapShares { .. } => {
            role == Role::ProvincialAgency
        }
    };
    if !allowed {
        return Err(Denied::Role { role: role.as_str(), command: command.name() });
    }
    if role.is_regional() {
        let Some(own) = own_region else {
            return Err(Denied::NoRegion { role: role.as_str() });
        };
        if let Some(target) = command_region(command)
            && target != own
        {
            return Err(Denied::OtherRegion { role: role.as_str(), own, target });
        }
    }
    Ok(())
}

/// The region a command names directly, if it names one.
pub fn command_region(command: &Command) -> Option<RegionCode> {
    use Command::*;
    match command {
        RecordCollection { region, .. }
        | RefundCollection { region, .. }
        | RecordTransfer { region, .. }
        | ConsolidateLegacyReserve { region, .. }
        | AdoptBudget { region, .. }
        | AdjustBudget { region, .. }
        | SubmitPlan { region, .. }
        | RecordPayment { region, .. }
        | ClosePeriod { region, .. } => Some(*region),
        RecordProvincialIncome { .. }
        | ApprovePlan { .. }
        | RejectPlan { .. }
        | ReviewPlan { .. }
        | AllocateFunds { .. }
        | ReversePayment { .. }
        | AdjustRates { .. }
        | AssessGapShares { .. } => None,
    }
}

/// The part of authorisation that needs the state: a region role may act on a payment only if
/// the payment is its own region's. [`authorize`] has already checked the role and any region the
/// command names; the engine calls this in order with the decision, against the same state.
pub fn authorize_referenced(
    role: Role,
    own_region: Option<RegionCode>,
    command: &Command,
    state: &crate::state::FundState,
) -> Result<(), Denied> {
    if !role.is_regional() {
        return Ok(());
    }
    let target = match command {
        Command::ReversePayment { payment_id, .. } => state.payment(*payment_id).map(|p| p.region),
        _ => None,
    };
    match (target, own_region) {
        (Some(target), Some(own)) if target != own => Err(Denied::OtherRegion { role: role.as_str(), own, target }),
        _ => Ok(()),
    }
}
