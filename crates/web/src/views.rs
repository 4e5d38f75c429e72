//! JSON bodies the API sends (shared by several routes; the rest sit beside their
//! handler). Request bodies are in [`crate::requests`].

use chrono::{DateTime, Utc};
use serde::Serialize;
use slugbase_application::ports::{DamagedRow, Listed};
use slugbase_domain::{MfaStanding, User};
use utoipa::ToSchema;
use uuid::Uuid;

/// An account as the API shows it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct UserView {
    /// User id.
    pub id: Uuid,
    /// E-mail (lower-cased).
    pub email: String,
    /// Display name.
    pub name: String,
    /// Administrator.
    pub is_admin: bool,
    /// MFA is on.
    pub mfa_enabled: bool,
    /// The account has a local password (false: OIDC-only).
    pub has_password: bool,
    /// OIDC provider the account is linked to.
    pub oidc_provider: Option<String>,
    /// How the account signs in: `password`, `oidc` (OIDC-only) or `password+oidc`.
    pub login_method: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// A configured policy (`security.require_mfa`) requires this user to enroll in MFA and
    /// they have not yet: the user is out of policy (`mfa_policy_status` says how far).
    pub mfa_enrollment_required: bool,
    /// Where the user stands with the MFA policy.
    pub mfa_policy_status: MfaPolicyStatus,
    /// When the user's grace period started (their first sign-in under the policy); null
    /// when it has not.
    pub mfa_grace_started_at: Option<DateTime<Utc>>,
    /// When the grace period ends (`in_grace`) or ended (`overdue`: out of policy since
    /// then, and signed in only to enrol); null otherwise.
    pub mfa_grace_ends_at: Option<DateTime<Utc>>,
}

/// Where a user stands with the MFA policy (`security.require_mfa`, `security.grace_days`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MfaPolicyStatus {
    /// No policy requires MFA of this user.
    NotRequired,
    /// Required, and MFA is on.
    Enrolled,
    /// Required, MFA off, and no sign-in since the policy came to cover the user: the grace
    /// period starts with the next.
    GraceNotStarted,
    /// Required, MFA off, inside the grace period: everything works as before.
    InGrace,
    /// Required, MFA off, the grace period is over: sessions and API tokens reach only
    /// enrolment (403 `MFA_ENROLLMENT_REQUIRED` elsewhere).
    Overdue,
}

impl From<&MfaStanding> for MfaPolicyStatus {
    fn from(standing: &MfaStanding) -> Self {
        match standing {
            MfaStanding::NotRequired => Self::NotRequired,
            MfaStanding::Enrolled => Self::Enrolled,
            MfaStanding::GraceNotStarted => Self::GraceNotStarted,
            MfaStanding::InGrace { .. } => Self::InGrace,
            MfaStanding::Overdue { .. } => Self::Overdue,
        }
    }
}

impl UserView {
    /// The view of `user`, who stands as `standing` with the MFA policy.
    #[must_use]
    pub fn new(user: &User, standing: &MfaStanding) -> Self {
        Self {
            id: *user.id.as_uuid(),
            email: user.email.as_str().to_owned(),
            name: user.name.as_str().to_owned(),
            is_admin: user.is_admin,
            mfa_enabled: user.mfa.is_enabled(),
            has_password: user.login.has_password(),
            oidc_provider: user.oidc_provider.clone(),
            login_method: user.login_method().to_owned(),
            created_at: user.created_at,
            mfa_enrollment_required: standing.out_of_policy(),
            mfa_policy_status: standing.into(),
            mfa_grace_started_at: standing.grace_started_at(),
            mfa_grace_ends_at: standing.grace_ends_at(),
        }
    }
}

/// A stored record that no longer decodes, shown in its list in place of the record (the
/// server logs it with its id): one bad row never makes a whole list fail.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct DamagedView {
    /// The record's key as stored (normally the id; it may itself be what is damaged).
    pub id: String,
    /// Always `true`: this entry is not the record but a notice that it is damaged.
    pub damaged: bool,
    /// What does not decode, e.g. `corrupt stored data: email` (never the stored value).
    pub problem: String,
}

impl DamagedView {
    /// The notice for `row`.
    #[must_use]
    pub fn new(row: &DamagedRow) -> Self {
        Self { id: row.id.clone(), damaged: true, problem: row.problem.clone() }
    }
}

/// A listing's JSON entries: each decoded row through `entry`, each one that does not decode
/// as its [`DamagedView`] through `damaged` (the list's own entry enum names both).
pub(crate) fn list_entries<T, E>(
    rows: Vec<Listed<T>>,
    entry: impl Fn(T) -> E,
    damaged: impl Fn(DamagedView) -> E,
) -> Vec<E> {
    rows.into_iter()
        .map(|listed| match listed {
            Listed::Ok(row) => entry(row),
            Listed::Damaged(row) => damaged(DamagedView::new(&row)),
        })
        .collect()
}

/// An entry of `GET /api/admin/users`: the user, or, for a stored row that does not decode,
/// a [`DamagedView`] (`"damaged": true`; a user entry has no `damaged` field).
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum UserListEntry {
    /// The user.
    User(UserView),
    /// A damaged row.
    Damaged(DamagedView),
}

/// `{"ok": true}`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct OkView {
    /// Always true.
    pub ok: bool,
}

impl OkView {
    /// The success body.
    pub const OK: Self = Self { ok: true };
}

/// `{"message": "…"}`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MessageView {
    /// What happened.
    pub message: String,
}
