//! Accounts: first-admin setup, administration, health.
//!
//! Kept as the path other crates import them by; the use cases live in
//! [`crate::use_cases`].

pub use crate::collaborators::new_account::NewAccountInput;
pub use crate::use_cases::admin::{Admin, AdminError, AdminUseCase, SELF_RESET_REASON};
pub use crate::use_cases::deliver_notices::{DeliverNotices, Delivery, DeliveryPolicy};
pub use crate::use_cases::health::{Health, HealthReport, HealthUseCase};
pub use crate::use_cases::setup::{Setup, SetupError, SetupUseCase};
