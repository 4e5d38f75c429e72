//! Notice e-mails from the templates in `crates/infrastructure/templates/mail/`: one file per
//! notice kind (`Subject:`, `Summary:` and `Advice:` lines) inside a plain-text and an HTML
//! layout. Values are escaped for the HTML body; a notice carries no secret to leak.

use chrono::SecondsFormat;
use slugbase_application::ports::Notice;
use slugbase_domain::NoticeKind;

/// The plain-text layout.
const LAYOUT_TXT: &str = include_str!("../../templates/mail/layout.txt");
/// The HTML layout.
const LAYOUT_HTML: &str = include_str!("../../templates/mail/layout.html");

/// The wording of one notice kind.
fn wording(kind: NoticeKind) -> &'static str {
    match kind {
        NoticeKind::MfaEnabled => include_str!("../../templates/mail/mfa_enabled.txt"),
        NoticeKind::MfaDisabled => include_str!("../../templates/mail/mfa_disabled.txt"),
        NoticeKind::MfaResetByAdmin => include_str!("../../templates/mail/mfa_reset_by_admin.txt"),
        NoticeKind::BackupCodesRegenerated => {
            include_str!("../../templates/mail/backup_codes_regenerated.txt")
        }
        NoticeKind::BackupCodeUsed => include_str!("../../templates/mail/backup_code_used.txt"),
        NoticeKind::PasswordChanged => include_str!("../../templates/mail/password_changed.txt"),
        NoticeKind::ApiTokenCreated => include_str!("../../templates/mail/api_token_created.txt"),
        NoticeKind::SecondFactorLockout => {
            include_str!("../../templates/mail/second_factor_lockout.txt")
        }
        NoticeKind::OidcLinked => include_str!("../../templates/mail/oidc_linked.txt"),
        NoticeKind::PasskeyAdded => include_str!("../../templates/mail/passkey_added.txt"),
        NoticeKind::PasskeyRemoved => include_str!("../../templates/mail/passkey_removed.txt"),
    }
}

/// A notice ready to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderedNotice {
    /// `Subject:`.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body.
    pub html: String,
}

/// The value of the `name:` line of a wording file.
fn line<'a>(wording: &'a str, name: &str) -> &'a str {
    wording
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(':')))
        .map_or("", str::trim)
}

/// Replaces every `{{key}}` of `template` with its value, in one pass (a value that looks
/// like a placeholder stays as it is). Unknown keys are left in place.
fn fill(template: &str, values: &[(&str, String)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            rest = &rest[start..];
            break;
        };
        let key = &after[..end];
        match values.iter().find(|(k, _)| *k == key) {
            Some((_, value)) => out.push_str(value),
            None => out.push_str(&rest[start..start + 2 + end + 2]),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// Escapes text for HTML.
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The e-mail for `notice`.
#[must_use]
pub fn render(notice: &Notice) -> RenderedNotice {
    let wording = wording(notice.kind);
    let inner = [
        ("codes_left", notice.codes_left.map_or_else(|| "unknown".to_owned(), |n| n.to_string())),
        ("subject_name", notice.subject.clone().unwrap_or_default()),
    ];
    let subject = fill(line(wording, "Subject"), &inner);
    let summary = fill(line(wording, "Summary"), &inner);
    let advice = fill(line(wording, "Advice"), &inner);
    let unknown = || "unknown".to_owned();
    let values = [
        ("subject", subject.clone()),
        ("summary", summary),
        ("advice", advice),
        ("when", notice.at.to_rfc3339_opts(SecondsFormat::Secs, true)),
        ("address", notice.client_addr.clone().unwrap_or_else(unknown)),
        ("user_agent", notice.user_agent.clone().unwrap_or_else(unknown)),
        ("recipient", notice.recipient.clone()),
    ];
    let escaped: Vec<(&str, String)> = values.iter().map(|(k, v)| (*k, escape_html(v))).collect();
    RenderedNotice { subject, text: fill(LAYOUT_TXT, &values), html: fill(LAYOUT_HTML, &escaped) }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone as _, Utc};
    use slugbase_domain::NoticeId;

    use super::*;

    fn notice(kind: NoticeKind) -> Notice {
        Notice {
            id: NoticeId::generate(),
            kind,
            user_id: None,
            recipient: "ann@example.com".to_owned(),
            at: Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).single().expect("a time"),
            client_addr: Some("203.0.113.9".to_owned()),
            user_agent: Some("Browser <script>".to_owned()),
            codes_left: Some(7),
            subject: Some("ci".to_owned()),
        }
    }

    #[test]
    fn every_kind_has_a_subject_a_summary_and_advice() {
        for kind in NoticeKind::ALL {
            let wording = wording(*kind);
            for name in ["Subject", "Summary", "Advice"] {
                assert!(!line(wording, name).is_empty(), "{kind}: {name}");
            }
            let mail = render(&notice(*kind));
            assert!(!mail.text.contains("{{"), "{kind}: {}", mail.text);
            assert!(!mail.html.contains("{{"), "{kind}: {}", mail.html);
            assert!(mail.text.contains("2026-11-30T12:00:00Z"));
            assert!(mail.text.contains("203.0.113.9"));
            assert!(
                mail.text.contains("If this was not you") || mail.text.contains("If you did not")
            );
        }
    }

    #[test]
    fn values_are_escaped_in_html_and_details_filled_in() {
        let mail = render(&notice(NoticeKind::BackupCodeUsed));
        assert!(mail.html.contains("Browser &lt;script&gt;"));
        assert!(!mail.html.contains("<script>"));
        assert!(mail.text.contains("Backup codes left: 7."));
        let mail = render(&notice(NoticeKind::ApiTokenCreated));
        assert!(mail.text.contains("named \"ci\""));
    }
}
