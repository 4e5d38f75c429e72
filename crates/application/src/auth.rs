//! Signing in and out, and recognising callers.
//!
//! Kept as the path other crates import them by; the use cases live in
//! [`crate::use_cases`].

pub use crate::collaborators::token_minter::API_TOKEN_PREFIX;
pub use crate::use_cases::authenticate::{AuthError, Authenticate, AuthenticateUseCase};
pub use crate::use_cases::change_password::{
    ChangePassword, ChangePasswordError, ChangePasswordInput, ChangePasswordUseCase,
};
pub use crate::use_cases::login::{Login, LoginError, LoginInput, LoginOutcome, LoginUseCase};
pub use crate::use_cases::logout::{Logout, LogoutUseCase};
pub use crate::use_cases::oidc_login::{
    BeginInput, BeginOutcome, CallbackInput, CallbackOutcome, OidcError, OidcFailure, OidcLogin,
    OidcLoginUseCase, ProviderSummary,
};
pub use crate::use_cases::sessions::{ManageSessions, ManageSessionsUseCase, SessionView};
pub use crate::use_cases::verify_login::{VerifyLogin, VerifyLoginError, VerifyLoginUseCase};
