//! The use cases as the web adapter sees them: one trait object per use case, so handlers
//! run over the application's structs in production (built by the server's composition
//! root) and over mockall mocks in the handler tests.

use std::fmt;
use std::sync::Arc;

use slugbase_application::use_cases::admin::AdminUseCase;
use slugbase_application::use_cases::api_tokens::ApiTokensUseCase;
use slugbase_application::use_cases::authenticate::AuthenticateUseCase;
use slugbase_application::use_cases::change_password::ChangePasswordUseCase;
use slugbase_application::use_cases::disable_mfa::DisableMfaUseCase;
use slugbase_application::use_cases::enroll::{
    EnrollBeginUseCase, EnrollCancelUseCase, EnrollConfirmUseCase,
};
use slugbase_application::use_cases::health::HealthUseCase;
use slugbase_application::use_cases::login::LoginUseCase;
use slugbase_application::use_cases::logout::LogoutUseCase;
use slugbase_application::use_cases::mfa_status::MfaStatusUseCase;
use slugbase_application::use_cases::oidc_login::OidcLoginUseCase;
use slugbase_application::use_cases::passkeys::PasskeysUseCase;
use slugbase_application::use_cases::regenerate_backup_codes::RegenerateBackupCodesUseCase;
use slugbase_application::use_cases::sessions::ManageSessionsUseCase;
use slugbase_application::use_cases::setup::SetupUseCase;
use slugbase_application::use_cases::verify_login::VerifyLoginUseCase;

/// Every use case a handler calls, each behind the trait it is called through.
#[derive(Clone)]
pub struct WebUseCases {
    /// `POST /api/auth/mfa/disable`.
    pub disable_mfa: Arc<dyn DisableMfaUseCase>,
    /// `GET /api/auth/mfa/status`, and the policy flag of every user shown.
    pub mfa_status: Arc<dyn MfaStatusUseCase>,
    /// `POST /api/auth/mfa/enroll/begin`.
    pub enroll_begin: Arc<dyn EnrollBeginUseCase>,
    /// `POST /api/auth/mfa/enroll/confirm`.
    pub enroll_confirm: Arc<dyn EnrollConfirmUseCase>,
    /// `POST /api/auth/mfa/enroll/cancel`.
    pub enroll_cancel: Arc<dyn EnrollCancelUseCase>,
    /// `POST /api/auth/mfa/backup/regenerate`.
    pub regenerate_backup_codes: Arc<dyn RegenerateBackupCodesUseCase>,
    /// `POST /api/auth/login`.
    pub login: Arc<dyn LoginUseCase>,
    /// `POST /api/auth/mfa/verify`.
    pub verify_login: Arc<dyn VerifyLoginUseCase>,
    /// `POST /api/auth/logout`.
    pub logout: Arc<dyn LogoutUseCase>,
    /// Cookie and Bearer authentication.
    pub authenticate: Arc<dyn AuthenticateUseCase>,
    /// `/api/tokens`.
    pub api_tokens: Arc<dyn ApiTokensUseCase>,
    /// `/api/auth/setup`.
    pub setup: Arc<dyn SetupUseCase>,
    /// `/api/admin/*`.
    pub admin: Arc<dyn AdminUseCase>,
    /// `/api/health`.
    pub health: Arc<dyn HealthUseCase>,
    /// `/api/auth/providers`, `/api/auth/{provider}[/callback]`.
    pub oidc_login: Arc<dyn OidcLoginUseCase>,
    /// `POST /api/auth/password`.
    pub change_password: Arc<dyn ChangePasswordUseCase>,
    /// `/api/auth/sessions`.
    pub sessions: Arc<dyn ManageSessionsUseCase>,
    /// `/api/auth/passkeys`.
    pub passkeys: Arc<dyn PasskeysUseCase>,
}

impl fmt::Debug for WebUseCases {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebUseCases").finish_non_exhaustive()
    }
}
