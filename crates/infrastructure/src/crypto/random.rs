//! Randomness from the operating system's CSPRNG ([`Random`]), and the fill used by every
//! other adapter (salts, nonces, keys, TOTP secrets).

use slugbase_application::ports::Random;

/// Fills `buf` from the operating system's CSPRNG. Should the OS source fail (it does not on
/// any supported platform), falls back to rand's thread-local CSPRNG, itself seeded from the
/// OS, rather than panicking.
pub(crate) fn fill_random(buf: &mut [u8]) {
    use rand::TryRng as _;
    if rand::rngs::SysRng.try_fill_bytes(buf).is_err() {
        tracing::warn!("OS randomness failed; using the thread-local CSPRNG");
        rand::fill(buf);
    }
}

/// The operating system's CSPRNG.
#[derive(Clone, Copy, Debug, Default)]
pub struct OsRandom;

impl Random for OsRandom {
    fn bytes_32(&self) -> [u8; 32] {
        let mut bytes = [0u8; 32];
        fill_random(&mut bytes);
        bytes
    }

    fn bytes_8(&self) -> [u8; 8] {
        let mut bytes = [0u8; 8];
        fill_random(&mut bytes);
        bytes
    }
}
