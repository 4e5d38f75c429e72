//! `GET /api/auth/providers`, `GET /api/auth/{provider}` and
//! `GET /api/auth/{provider}/callback`: sign-in through an OpenID provider.
//!
//! The flow is kept server-side (single use, ten minutes) under the digest of an id only the
//! browser's HttpOnly cookie holds; the callback takes it before anything else, so a
//! tampered or replayed callback uses it up and the flow's real code is worthless after.
//! Accounts are matched by (provider, `sub`) first; an e-mail links an existing account
//! only when the provider says it is verified; MFA-enabled users still take the TOTP step,
//! unless the ID token's `amr` names a method the provider's configuration trusts.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::TimeDelta;
use subtle::ConstantTimeEq as _;

use slugbase_domain::{
    AuditEventKind, DisplayName, Email, LoginMethod, NoticeKind, ReturnTo, User, UserId,
};

use crate::caller::ClientInfo;
use crate::collaborators::audit_trail::{AuditEntry, AuditTrail};
use crate::collaborators::mfa_policy::MfaPolicyCheck;
use crate::collaborators::sessions::SessionIssuer;
use crate::collaborators::token_minter::TokenMinter;
use crate::ports::{
    AuthorizationOptions, Clock, ConfiguredProvider, IdentityProviderError, IdentityProviders,
    LinkOutcome, NewUser, Notice, OidcFlowRecord, OidcRepository, ProviderIdentity, SessionIdpAuth,
    SessionKind, StoreError, TokenDigest, UserRepository,
};

mod types;

pub use self::types::{
    BeginInput, BeginOutcome, CallbackInput, CallbackOutcome, FLOW_LIFETIME_SECS, OidcError,
    OidcFailure, ProviderSummary,
};

/// The OIDC login use case.
#[derive(Clone)]
pub struct OidcLogin {
    providers: IdentityProviders,
    oidc: Arc<dyn OidcRepository>,
    users: Arc<dyn UserRepository>,
    minter: TokenMinter,
    token_digest: Arc<dyn TokenDigest>,
    issuer: SessionIssuer,
    audit: AuditTrail,
    clock: Arc<dyn Clock>,
    policy: MfaPolicyCheck,
}

impl fmt::Debug for OidcLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcLogin").field("providers", &self.providers).finish_non_exhaustive()
    }
}

impl OidcLogin {
    /// The use case: `providers` to sign in at, `oidc` keeps the flows and links, `users`
    /// finds accounts by e-mail, `minter` makes flow ids stored under `token_digest`,
    /// `issuer` starts sessions, `audit` records, `clock` tells time; `policy` starts an
    /// account's MFA grace period at its first sign-in under a policy that requires MFA of
    /// it (the same rule as a password login).
    #[must_use]
    #[expect(clippy::too_many_arguments, reason = "a use case names every port it holds")]
    pub fn new(
        providers: IdentityProviders,
        oidc: Arc<dyn OidcRepository>,
        users: Arc<dyn UserRepository>,
        minter: TokenMinter,
        token_digest: Arc<dyn TokenDigest>,
        issuer: SessionIssuer,
        audit: AuditTrail,
        clock: Arc<dyn Clock>,
        policy: MfaPolicyCheck,
    ) -> Self {
        Self { providers, oidc, users, minter, token_digest, issuer, audit, clock, policy }
    }

    fn provider(&self, key: &str) -> Result<&ConfiguredProvider, OidcError> {
        self.providers.0.get(key).ok_or(OidcError::UnknownProvider)
    }

    /// The callback's steps; a failure carries the user it concerns and a detail for the
    /// audit log.
    async fn run_callback(
        &self,
        key: &str,
        provider: &ConfiguredProvider,
        input: CallbackInput,
        client: &ClientInfo,
    ) -> Result<CallbackOutcome, (OidcError, Option<UserId>, &'static str)> {
        let fail = |f: OidcFailure, detail: &'static str| (OidcError::Failed(f), None, detail);
        let unexpected = |e: OidcError| (e, None, "");
        let Some(flow_id) = input.flow.as_deref() else {
            return Err(fail(OidcFailure::StateInvalid, "no_flow_cookie"));
        };
        // Taken first: whatever follows, this flow cannot be used again.
        let flow = self
            .oidc
            .take_flow(&self.token_digest.digest(flow_id))
            .await
            .map_err(|e| unexpected(e.into()))?;
        let Some(flow) = flow else { return Err(fail(OidcFailure::StateInvalid, "no_flow")) };
        let state_matches = input
            .state
            .as_deref()
            .is_some_and(|s| bool::from(s.as_bytes().ct_eq(flow.state.as_bytes())));
        if flow.provider != key || flow.expires_at <= self.clock.now() || !state_matches {
            return Err(fail(OidcFailure::StateInvalid, "state_mismatch_or_expired"));
        }
        if input.error.is_some() {
            return Err(fail(OidcFailure::AuthFailed, "provider_error"));
        }
        let Some(code) = input.code.as_deref() else {
            return Err(fail(OidcFailure::AuthFailed, "no_code"));
        };
        let identity = match provider.provider.finish(code, &flow.pkce_verifier, &flow.nonce).await
        {
            Ok(identity) => identity,
            Err(IdentityProviderError::Unavailable) => {
                return Err(fail(OidcFailure::ProviderUnavailable, "token_endpoint_unreachable"));
            }
            Err(IdentityProviderError::Rejected(why)) => {
                tracing::warn!(provider = key, reason = %why, "ID token or code refused");
                return Err(fail(OidcFailure::AuthFailed, "token_rejected"));
            }
        };
        let user = self.match_account(key, provider, &identity, client).await?;
        let return_to = flow.return_to.unwrap_or_else(|| "/".to_owned());
        self.sign_in(key, provider, &identity, user, return_to, client).await.map_err(unexpected)
    }

    /// The account `identity` signs in as: by link, by verified e-mail, or a new one.
    async fn match_account(
        &self,
        key: &str,
        provider: &ConfiguredProvider,
        identity: &ProviderIdentity,
        client: &ClientInfo,
    ) -> Result<User, (OidcError, Option<UserId>, &'static str)> {
        let unexpected = |e: StoreError| (OidcError::from(e), None, "");
        if let Some(user) =
            self.oidc.find_linked_user(key, &identity.subject).await.map_err(unexpected)?
        {
            return Ok(user);
        }
        // The provider's address goes through the same rules as every other (length checked
        // lower-cased): one the service would not accept typed is not stored either.
        let email = match identity.email.as_deref().map(Email::parse) {
            Some(Ok(email)) => email,
            Some(Err(_)) => {
                let failure = OidcError::Failed(OidcFailure::EmailUnusable);
                return Err((failure, None, "email_unusable"));
            }
            None => {
                let failure = OidcError::Failed(OidcFailure::EmailRequired);
                return Err((failure, None, "no_usable_email"));
            }
        };
        let policy = &provider.policy;
        if let Some(existing) = self.users.find_by_email(&email).await.map_err(unexpected)? {
            let refuse =
                |detail| (OidcError::Failed(OidcFailure::AuthFailed), Some(existing.id), detail);
            if !identity.email_verified {
                return Err(refuse("email_not_verified"));
            }
            if !policy.link_verified_email {
                return Err(refuse("linking_disabled"));
            }
            let event = self.audit.event(
                AuditEntry::new(AuditEventKind::OidcLinked, Some(existing.id), client)
                    .with_detail(format!("provider={key}")),
            );
            AuditTrail::log_line(&event);
            let notice = Notice::about(NoticeKind::OidcLinked, &existing, client, self.clock.now())
                .with_subject(provider.policy.display_name.clone());
            let linked = self.oidc.link(key, &identity.subject, existing.id, event, Some(&notice));
            return match linked.await {
                Ok(LinkOutcome::Linked) => Ok(existing),
                Ok(LinkOutcome::Refused) => Err(refuse("already_linked")),
                Err(e) => Err(unexpected(e)),
            };
        }
        if !policy.auto_create_users {
            return Err((OidcError::Failed(OidcFailure::AutoCreateDisabled), None, "no_account"));
        }
        let name = identity
            .name
            .as_deref()
            .and_then(|n| DisplayName::parse(n).ok())
            .or_else(|| DisplayName::parse(email.as_str().split('@').next().unwrap_or("")).ok())
            .or_else(|| DisplayName::parse("User").ok())
            .ok_or_else(|| unexpected(StoreError::Other(anyhow::anyhow!("no display name"))))?;
        let new_user = NewUser {
            id: UserId::generate(),
            email,
            name,
            login: LoginMethod::OidcOnly,
            oidc_provider: Some(key.to_owned()),
            is_admin: policy.default_admin,
            created_at: self.clock.now(),
        };
        let event = self.audit.event(
            AuditEntry::new(AuditEventKind::OidcUserCreated, Some(new_user.id), client)
                .with_detail(format!("provider={key}")),
        );
        AuditTrail::log_line(&event);
        match self.oidc.create_linked_user(new_user, &identity.subject, event).await {
            Ok(user) => Ok(user),
            // A concurrent first login of the same person created it: not this one.
            Err(StoreError::Conflict(_)) => {
                Err((OidcError::Failed(OidcFailure::AuthFailed), None, "concurrent_create"))
            }
            Err(e) => Err(unexpected(e)),
        }
    }

    /// Starts the session, or the pending-MFA state when the user has MFA and the
    /// provider's `amr` is not trusted.
    async fn sign_in(
        &self,
        key: &str,
        provider: &ConfiguredProvider,
        identity: &ProviderIdentity,
        mut user: User,
        return_to: String,
        client: &ClientInfo,
    ) -> Result<CallbackOutcome, OidcError> {
        let trusted: Vec<&str> = identity
            .amr
            .iter()
            .filter(|amr| provider.policy.trust_idp_mfa_amr.iter().any(|t| t == *amr))
            .map(String::as_str)
            .collect();
        let step_up = user.mfa.is_enabled() && trusted.is_empty();
        let kind = if step_up { SessionKind::PendingMfa } else { SessionKind::Full };
        if !step_up {
            // As a password login: the grace period starts before the session exists.
            self.policy.at_sign_in(&mut user).await?;
        }
        let token = self.issuer.start(user.id, kind, client).await?;
        if let Some(auth_time) = identity.auth_time {
            let auth = SessionIdpAuth { provider: key.to_owned(), auth_time };
            self.oidc.record_session_auth(&self.token_digest.digest(token.expose()), auth).await?;
        }
        if step_up {
            return Ok(CallbackOutcome::MfaRequired { pending: token, return_to });
        }
        let mut detail = format!("provider={key}");
        if user.mfa.is_enabled() {
            detail.push_str(&format!(" idp_mfa_amr={}", trusted.join(",")));
        }
        self.audit
            .record(
                AuditEntry::new(AuditEventKind::OidcLoginSuccess, Some(user.id), client)
                    .with_detail(detail),
            )
            .await;
        Ok(CallbackOutcome::SignedIn { user: Box::new(user), session: token, return_to })
    }
}

/// What the web adapter calls for the OIDC endpoints; [`OidcLogin`] implements it.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait OidcLoginUseCase: Send + Sync {
    /// See [`OidcLogin::providers`].
    fn providers(&self) -> Vec<ProviderSummary>;

    /// See [`OidcLogin::begin`].
    ///
    /// # Errors
    /// [`OidcError`].
    async fn begin(&self, key: &str, input: BeginInput) -> Result<BeginOutcome, OidcError>;

    /// See [`OidcLogin::callback`].
    ///
    /// # Errors
    /// [`OidcError`].
    async fn callback(
        &self,
        key: &str,
        input: CallbackInput,
        client: &ClientInfo,
    ) -> Result<CallbackOutcome, OidcError>;
}

#[async_trait]
impl OidcLoginUseCase for OidcLogin {
    /// The configured providers.
    fn providers(&self) -> Vec<ProviderSummary> {
        self.providers
            .0
            .iter()
            .map(|(key, p)| ProviderSummary {
                key: key.clone(),
                display_name: p.policy.display_name.clone(),
                issuer_url: p.policy.issuer_url.clone(),
            })
            .collect()
    }

    /// Starts a login at provider `key`.
    ///
    /// # Errors
    /// [`OidcError`].
    #[tracing::instrument(name = "oidc_begin", skip_all, fields(provider = key))]
    async fn begin(&self, key: &str, input: BeginInput) -> Result<BeginOutcome, OidcError> {
        let provider = self.provider(key)?;
        let max_age_secs = input
            .max_age
            .as_deref()
            .map(|raw| {
                raw.trim().parse::<u32>().map_err(|_| OidcError::InvalidParameter("max_age"))
            })
            .transpose()?;
        let options = AuthorizationOptions { prompt_login: input.prompt_login, max_age_secs };
        let start = provider.provider.start(options).map_err(|e| match e {
            IdentityProviderError::Unavailable => {
                OidcError::Failed(OidcFailure::ProviderUnavailable)
            }
            IdentityProviderError::Rejected(_) => OidcError::Failed(OidcFailure::AuthFailed),
        })?;
        let flow = self.minter.mint("");
        let now = self.clock.now();
        // Abandoned logins are cleared here, one indexed delete, rather than by a timer.
        self.oidc.delete_expired_flows(now).await?;
        self.oidc
            .create_flow(OidcFlowRecord {
                id_hash: self.token_digest.digest(flow.expose()),
                provider: key.to_owned(),
                state: start.state,
                nonce: start.nonce,
                pkce_verifier: start.pkce_verifier,
                return_to: input.return_to.map(ReturnTo::into_string),
                created_at: now,
                expires_at: now + TimeDelta::seconds(FLOW_LIFETIME_SECS),
            })
            .await?;
        Ok(BeginOutcome { redirect_url: start.url, flow })
    }

    /// Finishes a login at provider `key`.
    ///
    /// # Errors
    /// [`OidcError`]; every failure after the provider lookup is audited.
    #[tracing::instrument(name = "oidc_callback", skip_all, fields(provider = key))]
    async fn callback(
        &self,
        key: &str,
        input: CallbackInput,
        client: &ClientInfo,
    ) -> Result<CallbackOutcome, OidcError> {
        let provider = self.provider(key)?;
        match self.run_callback(key, provider, input, client).await {
            Ok(outcome) => Ok(outcome),
            Err((OidcError::Failed(failure), user, detail)) => {
                let mut entry = AuditEntry::new(AuditEventKind::OidcLoginFail, user, client)
                    .failure(failure.as_str());
                entry = entry.with_detail(format!("provider={key} {detail}"));
                self.audit.record(entry).await;
                Err(OidcError::Failed(failure))
            }
            Err((error, _, _)) => Err(error),
        }
    }
}
