//! Scenario (c)'s yardstick: what a disable's two proofs cost in this process with nothing
//! around them. One Argon2id verify of the stored hash, by the `argon2` crate into a block
//! buffer reused from check to check (as the server pools its own), and one TOTP check.
//! No blocking-pool hop, no semaphore, no pool: whatever the server's adapter adds around
//! the hash counts against the server.
//!
//! The wipe of the block buffer, which a server must do before the buffer waits for reuse, is
//! timed on its own: it is part of the hash's cost, but not necessarily of the request's
//! latency (the server wipes after answering).

use std::time::{Duration, Instant};

use argon2::password_hash::phc::PasswordHash as PhcHash;
use argon2::{Algorithm, Argon2, Block, Version};
use slugbase_application::Deps;
use slugbase_domain::{PasswordHash, TotpCode, TotpSecret};
use zeroize::Zeroize as _;

use crate::client::current_code;
use crate::seed::{DrivenUser, PASSWORD};

/// The stored hash to verify and the block buffer to verify it in.
pub(crate) struct Intrinsic {
    phc: String,
    blocks: Vec<Block>,
}

/// One measured check.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Measured {
    /// The Argon2id verify plus the TOTP check.
    pub check: Duration,
    /// The wipe of the block buffer afterwards.
    pub wipe: Duration,
}

impl Intrinsic {
    /// # Errors
    /// If the stored hash is not a readable Argon2 PHC string.
    pub(crate) fn new(stored: &PasswordHash) -> anyhow::Result<Self> {
        let phc = stored.as_str().to_owned();
        let parsed = PhcHash::new(&phc).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
        let params = argon2::Params::try_from(&parsed).map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Self { phc, blocks: vec![Block::default(); params.block_count()] })
    }

    /// Verifies the seeded password against the stored hash and `user`'s current TOTP code,
    /// then wipes the buffer, timing both.
    ///
    /// # Errors
    /// If either proof is not accepted (the yardstick must do the real work).
    pub(crate) fn measure(&mut self, deps: &Deps, user: &DrivenUser) -> anyhow::Result<Measured> {
        let secret = TotpSecret::from_base32(user.totp_base32.clone());
        let code = TotpCode::parse(&current_code(&user.totp_base32))?;
        let t0 = Instant::now();
        // Parsed per check, as the server parses the stored string per verify.
        let parsed = PhcHash::new(&self.phc).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
        let params = argon2::Params::try_from(&parsed).map_err(|e| anyhow::anyhow!("{e}"))?;
        let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
            anyhow::bail!("stored hash has no salt or no output");
        };
        let mut out = vec![0u8; expected.len()];
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into_with_memory(PASSWORD.as_bytes(), salt, &mut out, &mut self.blocks)
            .map_err(|e| anyhow::anyhow!("argon2: {e}"))?;
        let computed = argon2::password_hash::phc::Output::new(&out)
            .map_err(|e| anyhow::anyhow!("argon2 output: {e}"))?;
        let password_ok = computed == *expected;
        let step = deps.totp.verify(&secret, &code, deps.clock.now());
        let check = t0.elapsed();
        let t1 = Instant::now();
        self.blocks.iter_mut().for_each(Block::zeroize);
        let wipe = t1.elapsed();
        anyhow::ensure!(password_ok && step.is_some(), "the intrinsic check refused real proofs");
        Ok(Measured { check, wipe })
    }
}
