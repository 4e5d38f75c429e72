//! The state every handler shares.

use crate::WebConfig;
use crate::csrf::Csrf;
use slugbase_application::UseCases;

/// What every handler shares: the use cases and the web settings.
#[derive(Debug)]
pub struct AppState {
    /// The use cases, each behind its trait.
    pub use_cases: UseCases,
    /// Web settings.
    pub config: WebConfig,
    pub(crate) csrf: Csrf,
    pub(super) secure_cookies: bool,
}

impl AppState {
    /// Builds the state from the use cases the composition root built, or from a
    /// [`UseCases`] assembled by hand (mocks in the handler tests).
    #[must_use]
    pub fn new(use_cases: impl Into<UseCases>, config: WebConfig) -> Self {
        let use_cases = use_cases.into();
        let secure_cookies = config.public_base_url.starts_with("https://");
        let csrf = Csrf::new(config.csrf_key);
        Self { use_cases, config, csrf, secure_cookies }
    }
}
