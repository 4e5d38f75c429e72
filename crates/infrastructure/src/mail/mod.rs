//! E-mail: the notice templates ([`templates`]), the transports that deliver them
//! ([`transport`]: SMTP through lettre, or one log line), and the embedded list of common
//! passwords ([`common_passwords`]).

pub mod common_passwords;
pub mod templates;
pub mod transport;

pub use common_passwords::EmbeddedCommonPasswords;
pub use templates::{RenderedNotice, render};
pub use transport::{LogMailer, SmtpMailer, SmtpSettings, SmtpTls};
