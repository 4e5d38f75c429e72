//! Identifiers.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Declares a UUID id newtype: wraps and exposes its UUID, generates fresh time-ordered (v7)
/// ones, prints and parses as the UUID, and serialises transparently.
macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// Wraps an existing UUID (read back from storage or a path parameter).
            #[must_use]
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            /// A fresh, time-ordered id.
            #[must_use]
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }

            /// The underlying UUID.
            #[must_use]
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

uuid_id!(
    /// The id of a user account (a UUID; v7 when the service creates it, so ids sort by
    /// creation).
    UserId
);

uuid_id!(
    /// The public id of a personal API token (never the token itself).
    ApiTokenId
);

uuid_id!(
    /// The id of an outbox notice: the stable part of its e-mail's `Message-ID`, so a resend
    /// after a lost acknowledgement is recognisable as the same message.
    NoticeId
);

uuid_id!(
    /// The public id of a registered passkey (never its credential id).
    PasskeyId
);
