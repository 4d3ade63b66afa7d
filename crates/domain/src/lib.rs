//! The fund's rules, pure and deterministic: money, periods, regions, policy, commands, events,
//! `decide` and `apply`. No IO, no async, no clock, no protobuf: time and ids come in as
//! arguments, so every test runs without a runtime and every replay gives the same state.

pub mod category;
pub mod command;
pub mod compact;
pub mod decide;
pub mod envelope;
pub mod event;
pub mod ids;
pub mod money;
pub mod payments;
pub mod period;
pub mod policy;
pub mod rejection;
pub mod role;
pub mod standards;
pub mod state;

pub use category::{
    BenefitType, Department, ExpenditureCategory, IncomeCategory, LegacyFundKind, NursingLevel, ProvincialIncomeKind,
    ReversalReason,
};
pub use command::{BudgetLines, Command, Context};
pub use decide::decide;
pub use envelope::{Actor, RecordBody, RecordMeta, Recorded};
pub use event::{Event, GapShare, Payment};
pub use ids::{BeneficiaryRef, CommandId, IdError, PaymentId, PlanId, RegionCode, TaxBatchRef};
pub use money::{Money, MoneyError};
pub use payments::{PaymentBook, PaymentRecord};
pub use period::{Period, PeriodError};
pub use policy::Policy;
pub use rejection::{Reason, Rejection};
pub use role::{Denied, Role, authorize, authorize_referenced};
pub use standards::Basis;
pub use state::{FundState, PlanStatus};

#[cfg(feature = "testkit")]
pub mod testkit;
