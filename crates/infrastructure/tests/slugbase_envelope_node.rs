//! SlugBase's TOTP envelope sealed by Node's own crypto, as SlugBase's
//! `backend/src/utils/encryption.ts` does it (FACTS.md §3), and opened by ours — for the
//! three kinds of `ENCRYPTION_KEY` an operator may have: 64 hex characters (the master key
//! itself, the fixture's kind), a passphrase (the master key is its scrypt with the salt
//! `slugbase-salt`), and 64 characters that are not all hex (Node's hex decoder stops at
//! the first bad pair: a shorter master key, which SlugBase used as it was).
//!
//! Node is the machine's (the OIDC tests need it too); without it the test prints one skip
//! line, and fails under `CI=true`.
#![expect(clippy::unwrap_used, reason = "a test fails loudly where a step does")]

use std::io::Write as _;
use std::process::{Command, Stdio};

use slugbase_infrastructure::crypto::{EnvelopeError, SlugbaseEnvelope};

/// encryption.ts's `encrypt`, the same computation: the key from the environment, the text
/// on standard input, the envelope on standard output.
const SEAL: &str = r"
const crypto = require('crypto');
const key = process.env.KEY;
const master = key.length === 64 ? Buffer.from(key, 'hex') : crypto.scryptSync(key, 'slugbase-salt', 32);
const text = require('fs').readFileSync(0, 'utf8');
const salt = crypto.randomBytes(64);
const iv = crypto.randomBytes(16);
const dataKey = crypto.scryptSync(master, salt, 32);
const cipher = crypto.createCipheriv('aes-256-gcm', dataKey, iv);
const encrypted = Buffer.concat([cipher.update(text, 'utf8'), cipher.final()]);
const tag = cipher.getAuthTag();
process.stdout.write([salt, iv, tag, encrypted].map((b) => b.toString('hex')).join(':'));
";

/// `text` sealed by Node under `key`, or `None` without Node.
fn node_seal(key: &str, text: &str) -> Option<String> {
    let spawned = Command::new("node")
        .args(["-e", SEAL])
        .env("KEY", key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(error) => {
            assert!(
                !std::env::var("CI").is_ok_and(|v| v == "true"),
                "the SlugBase envelope tests cannot run under CI=true: node: {error}"
            );
            let _ =
                writeln!(std::io::stderr(), "skipping the SlugBase envelope tests: node: {error}");
            return None;
        }
    };
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "node failed");
    Some(String::from_utf8(output.stdout).unwrap())
}

/// A TOTP secret as SlugBase stores it before sealing: base32 text.
const SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

#[test]
fn envelopes_node_sealed_under_every_kind_of_key_open_here_and_only_under_their_key() {
    let keys = [
        // 64 hex characters: the master key itself.
        "6b0f7e1f0c9a4d2e8b3c5a7d9e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b",
        // A passphrase (any length but 64): its scrypt is the master key.
        "correct horse battery staple, but for SlugBase's ENCRYPTION_KEY",
        // 64 characters, not all hex: Node decodes up to the first bad pair ("ab12").
        "ab12zz0000000000000000000000000000000000000000000000000000000000",
    ];
    for key in keys {
        let Some(sealed) = node_seal(key, SECRET) else { return };
        assert_eq!(sealed.len(), 259, "FACTS.md: 259 characters for a 32-character secret");
        let envelope = SlugbaseEnvelope::from_encryption_key(key).unwrap();
        assert_eq!(envelope.open(&sealed).unwrap().as_str(), SECRET, "key {key:?}");
        for other in keys.iter().filter(|other| **other != key) {
            let wrong = SlugbaseEnvelope::from_encryption_key(other).unwrap();
            assert!(
                matches!(wrong.open(&sealed), Err(EnvelopeError::WrongKeyOrDamaged)),
                "{key:?}'s envelope opened under {other:?}"
            );
        }
    }
}
