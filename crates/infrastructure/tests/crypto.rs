//! The crypto adapters against known answers and their own contracts: Argon2id
//! parameters, RFC 6238 vectors and the ±1 step window, AES-GCM sealing with key ids and
//! the user id as associated data, keyed backup-code digests, and `Debug` that never shows
//! key material.

#![expect(clippy::unwrap_used, reason = "a test fails loudly where a step does")]

use argon2::password_hash::phc::PasswordHash as PhcHash;
use base64::Engine as _;
use chrono::{DateTime, TimeDelta, Utc};
use slugbase_application::ports::{
    BackupCodeHasher, CipherError, Clock, PasswordHasher, Random, SecretCipher, TokenDigest, Totp,
};
use slugbase_domain::{
    BackupCode, Email, EncryptedSecret, Password, PasswordHash, TotpCode, TotpSecret, TotpStep,
    UserId,
};
use slugbase_infrastructure::crypto::{
    AesGcmSecretCipher, Argon2Params, Argon2PasswordHasher, EncryptionKeys, HmacBackupCodeHasher,
    ManualClock, OsRandom, RfcTotp, Sha256TokenDigest, SystemClock,
};
use slugbase_infrastructure::testing::wiring::CryptoConfig;

fn cheap_hasher() -> Argon2PasswordHasher {
    Argon2PasswordHasher::new(Argon2Params::cheap_for_tests()).unwrap()
}

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap()
}

/// The code totp-rs computes for `secret` at `time`, independently of the adapter.
fn code_at(secret: &TotpSecret, time: i64) -> TotpCode {
    let bytes = totp_rs::Secret::try_from_base32(secret.expose_base32()).unwrap();
    let totp = totp_rs::Builder::new().with_secret(bytes).build().unwrap();
    TotpCode::parse(&totp.generate(u64::try_from(time).unwrap()).to_string()).unwrap()
}

// --- Argon2id -------------------------------------------------------------------------

#[tokio::test]
async fn production_hashes_are_argon2id_with_m19456_t2_p1() {
    let hasher = Argon2PasswordHasher::new(Argon2Params::production()).unwrap();
    let hash = hasher.hash(&Password::new("correct horse battery")).await.unwrap();

    let phc = PhcHash::new(hash.as_str()).unwrap();
    assert_eq!(phc.algorithm.as_str(), "argon2id");
    assert_eq!(phc.version, Some(19));
    assert_eq!(phc.params.get_decimal("m"), Some(19_456));
    assert_eq!(phc.params.get_decimal("t"), Some(2));
    assert_eq!(phc.params.get_decimal("p"), Some(1));
    assert!(phc.salt.is_some_and(|s| s.len() >= 16), "salt of at least 128 bits");

    assert!(hasher.verify(&Password::new("correct horse battery"), Some(&hash)).await.unwrap());
    assert!(!hasher.verify(&Password::new("correct horse battery!"), Some(&hash)).await.unwrap());
}

#[test]
fn production_parameters_leave_a_core_free_for_requests_that_do_not_hash() {
    let params = Argon2Params::production();
    assert_eq!((params.memory_kib, params.iterations, params.parallelism), (19_456, 2, 1));
    let cores = std::thread::available_parallelism().unwrap().get();
    assert_eq!(params.max_concurrent, (cores - 1).max(1));
}

#[tokio::test]
async fn the_right_password_verifies_and_a_wrong_one_does_not() {
    let hasher = cheap_hasher();
    let hash = hasher.hash(&Password::new("hunter2-hunter2")).await.unwrap();
    assert!(hasher.verify(&Password::new("hunter2-hunter2"), Some(&hash)).await.unwrap());
    assert!(!hasher.verify(&Password::new("hunter2-hunter3"), Some(&hash)).await.unwrap());
    assert!(!hasher.verify(&Password::new(""), Some(&hash)).await.unwrap());
}

#[tokio::test]
async fn the_same_password_gets_a_fresh_salt_each_time() {
    let hasher = cheap_hasher();
    let a = hasher.hash(&Password::new("same password")).await.unwrap();
    let b = hasher.hash(&Password::new("same password")).await.unwrap();
    assert_ne!(a, b);
}

#[tokio::test]
async fn without_a_stored_hash_nothing_verifies() {
    let hasher = cheap_hasher();
    for candidate in ["", "password", "hunter2-hunter2"] {
        assert!(!hasher.verify(&Password::new(candidate), None).await.unwrap());
    }
}

#[tokio::test]
async fn verification_takes_the_parameters_from_the_stored_hash() {
    // A hash made under cheap parameters still verifies with a production-cost hasher, and
    // the other way round: the PHC string carries its own parameters.
    let cheap = cheap_hasher();
    let production = Argon2PasswordHasher::new(Argon2Params::production()).unwrap();
    let old = cheap.hash(&Password::new("migrated password")).await.unwrap();
    assert!(production.verify(&Password::new("migrated password"), Some(&old)).await.unwrap());
    let new = production.hash(&Password::new("new password")).await.unwrap();
    assert!(cheap.verify(&Password::new("new password"), Some(&new)).await.unwrap());
}

#[tokio::test]
async fn an_unreadable_stored_hash_is_an_error_not_a_match() {
    let hasher = cheap_hasher();
    for junk in ["", "not a hash", "$argon2id$v=19$m=8,t=1,p=1$bad", "$md5$abc"] {
        let result = hasher.verify(&Password::new("x"), Some(&PasswordHash::from_phc(junk))).await;
        assert!(!matches!(result, Ok(true)), "{junk}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_verifications_all_get_the_right_answer() {
    let hasher = Argon2PasswordHasher::new(Argon2Params {
        max_concurrent: 1,
        ..Argon2Params::cheap_for_tests()
    })
    .unwrap();
    let hash = hasher.hash(&Password::new("right password")).await.unwrap();
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let hasher = hasher.clone();
            let hash = hash.clone();
            tokio::spawn(async move {
                let guess = if i % 2 == 0 { "right password" } else { "wrong password" };
                (i, hasher.verify(&Password::new(guess), Some(&hash)).await.unwrap())
            })
        })
        .collect();
    for task in tasks {
        let (i, ok) = task.await.unwrap();
        assert_eq!(ok, i % 2 == 0);
    }
}

#[test]
fn invalid_argon2_parameters_are_refused() {
    let zero_memory = Argon2Params { memory_kib: 0, ..Argon2Params::cheap_for_tests() };
    assert!(Argon2PasswordHasher::new(zero_memory).is_err());
    let zero_permits = Argon2Params { max_concurrent: 0, ..Argon2Params::cheap_for_tests() };
    assert!(Argon2PasswordHasher::new(zero_permits).is_err());
}

// --- TOTP -----------------------------------------------------------------------------

/// RFC 6238 appendix B, SHA-1 rows, the seed `12345678901234567890` (ASCII); the RFC's codes
/// have 8 digits, a 6-digit code is their last six.
const RFC6238_SHA1: [(i64, &str); 6] = [
    (59, "94287082"),
    (1_111_111_109, "07081804"),
    (1_111_111_111, "14050471"),
    (1_234_567_890, "89005924"),
    (2_000_000_000, "69279037"),
    (20_000_000_000, "65353130"),
];

#[test]
fn rfc_6238_sha1_vectors_verify_with_six_digits() {
    let totp = RfcTotp::new("SlugBase").unwrap();
    let seed = totp_rs::Secret::from(b"12345678901234567890".to_vec()).to_base32();
    assert_eq!(seed, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    let secret = TotpSecret::from_base32(seed);
    for (time, eight) in RFC6238_SHA1 {
        let code = TotpCode::parse(&eight[2..]).unwrap();
        let step = TotpStep::new(u64::try_from(time / 30).unwrap());
        assert_eq!(totp.verify(&secret, &code, at(time)), Some(step), "T = {time}");
        // And the independent computation agrees.
        assert_eq!(code_at(&secret, time).expose(), &eight[2..]);
    }
}

#[test]
fn a_code_is_accepted_one_step_either_side_and_reports_its_own_step() {
    let totp = RfcTotp::new("SlugBase").unwrap();
    let secret = totp.generate_secret();
    let t = 1_800_000_015; // mid-step
    let code = code_at(&secret, t);
    let step = TotpStep::new(u64::try_from(t / 30).unwrap());
    for offset in [-30, 0, 30] {
        assert_eq!(totp.verify(&secret, &code, at(t + offset)), Some(step), "offset {offset}");
    }
    for offset in [-60, 60, -90, 90] {
        assert_eq!(totp.verify(&secret, &code, at(t + offset)), None, "offset {offset}");
    }
}

#[test]
fn a_code_for_another_secret_does_not_verify() {
    let totp = RfcTotp::new("SlugBase").unwrap();
    let mine = TotpSecret::from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    let other = TotpSecret::from_base32("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP");
    let t = 1_800_000_000;
    let code = code_at(&other, t);
    // Fixed secrets and time: the other secret's code is none of mine in the window.
    for d in [-30, 0, 30] {
        assert_ne!(code_at(&mine, t + d).expose(), code.expose());
    }
    assert_eq!(totp.verify(&mine, &code, at(t)), None);
    assert!(totp.verify(&other, &code, at(t)).is_some());
}

#[test]
fn a_corrupt_secret_or_a_time_before_1970_verifies_nothing_and_does_not_panic() {
    let totp = RfcTotp::new("SlugBase").unwrap();
    let code = TotpCode::parse("123456").unwrap();
    assert_eq!(totp.verify(&TotpSecret::from_base32("not base32!"), &code, at(100)), None);
    assert_eq!(totp.verify(&TotpSecret::from_base32("AAAA"), &code, at(100)), None);
    let secret = totp.generate_secret();
    assert_eq!(totp.verify(&secret, &code, at(-100)), None);
}

#[test]
fn new_secrets_are_160_random_bits_in_32_base32_characters() {
    let totp = RfcTotp::new("SlugBase").unwrap();
    let a = totp.generate_secret();
    let b = totp.generate_secret();
    for s in [&a, &b] {
        assert_eq!(s.expose_base32().len(), 32);
        assert!(
            s.expose_base32().bytes().all(|c| c.is_ascii_uppercase() || (b'2'..=b'7').contains(&c))
        );
        assert_eq!(
            totp_rs::Secret::try_from_base32(s.expose_base32()).unwrap().as_bytes().len(),
            20
        );
    }
    assert_ne!(a.expose_base32(), b.expose_base32());
}

#[test]
fn the_otpauth_url_names_issuer_and_account_and_carries_the_secret() {
    let totp = RfcTotp::new("SlugBase").unwrap();
    let secret = totp.generate_secret();
    let email = Email::parse("Alice@Example.com").unwrap();
    let url = totp.otpauth_url(&secret, &email).unwrap();
    // `@` is percent-encoded in the label, which authenticator apps decode.
    assert!(url.starts_with("otpauth://totp/SlugBase:alice%40example.com?"), "{url}");
    let query = url.split_once('?').unwrap().1;
    let params: Vec<&str> = query.split('&').collect();
    assert!(params.contains(&format!("secret={}", secret.expose_base32()).as_str()), "{url}");
    assert!(params.contains(&"issuer=SlugBase"), "{url}");
    // Defaults (SHA1, 6 digits, 30 s) are implied, and a standard parser reads it back.
    let parsed = totp_rs::Totp::from_url(&url).unwrap();
    assert_eq!(parsed.account_name(), "alice@example.com");
    assert_eq!(parsed.issuer(), Some("SlugBase"));
    assert_eq!((parsed.digits(), parsed.step(), parsed.skew()), (6, 30, 1));
}

#[test]
fn an_email_with_a_colon_still_gets_an_otpauth_url_and_qr_code() {
    let totp = RfcTotp::new("SlugBase").unwrap();
    let secret = totp.generate_secret();
    let email = Email::parse("odd:name@example.com").unwrap();
    let url = totp.otpauth_url(&secret, &email).unwrap();
    assert!(url.starts_with("otpauth://totp/SlugBase:odd_name%40example.com?"), "{url}");
    let parsed = totp_rs::Totp::from_url(&url).unwrap();
    assert_eq!(parsed.issuer(), Some("SlugBase"));
    assert!(totp.qr_png_base64(&secret, &email).is_ok());
}

#[test]
fn the_qr_code_is_a_base64_png() {
    let totp = RfcTotp::new("SlugBase").unwrap();
    let secret = totp.generate_secret();
    let email = Email::parse("bob@example.com").unwrap();
    let png = totp.qr_png_base64(&secret, &email).unwrap();
    let bytes = base64::engine::general_purpose::STANDARD.decode(png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
}

#[test]
fn the_qr_code_reads_back_as_the_otpauth_url() {
    let totp = RfcTotp::new("SlugBase").unwrap();
    let secret = totp.generate_secret();
    let email = Email::parse("jose.nunez+mfa@example.com").unwrap();
    let png = totp.qr_png_base64(&secret, &email).unwrap();
    let bytes = base64::engine::general_purpose::STANDARD.decode(png).unwrap();

    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes)).read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut pixels).unwrap();
    assert_eq!(frame.color_type, png::ColorType::Grayscale);
    let (width, height) = (frame.width as usize, frame.height as usize);
    let mut image =
        rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| pixels[y * width + x]);
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the picture");
    let (_, content) = grids[0].decode().unwrap();
    assert_eq!(content, totp.otpauth_url(&secret, &email).unwrap());
}

#[test]
fn an_issuer_with_a_colon_or_nothing_in_it_is_refused() {
    assert!(RfcTotp::new("Slug:Base").is_err());
    assert!(RfcTotp::new("  ").is_err());
}

// --- AES-256-GCM ----------------------------------------------------------------------

fn keys(current: &str, list: &[(&str, u8)]) -> EncryptionKeys {
    EncryptionKeys {
        current_id: current.to_owned(),
        keys: list.iter().map(|(id, fill)| ((*id).to_owned(), [*fill; 32])).collect(),
    }
}

#[test]
fn a_sealed_secret_opens_for_its_user() {
    let cipher = AesGcmSecretCipher::new(keys("k1", &[("k1", 7)])).unwrap();
    let user = UserId::generate();
    let secret = TotpSecret::from_base32("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP");
    let sealed = cipher.encrypt(user, &secret).unwrap();

    let (id, body) = sealed.as_str().split_once(':').unwrap();
    assert_eq!(id, "k1");
    let blob = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(body).unwrap();
    assert_eq!(blob.len(), 12 + 32 + 16, "nonce, ciphertext, tag");
    assert!(!sealed.as_str().contains(secret.expose_base32()));

    let opened = cipher.decrypt(user, &sealed).unwrap();
    assert_eq!(opened.expose_base32(), secret.expose_base32());
}

#[test]
fn each_sealing_uses_a_fresh_nonce() {
    let cipher = AesGcmSecretCipher::new(keys("k1", &[("k1", 7)])).unwrap();
    let user = UserId::generate();
    let secret = TotpSecret::from_base32("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP");
    let a = cipher.encrypt(user, &secret).unwrap();
    let b = cipher.encrypt(user, &secret).unwrap();
    assert_ne!(a, b);
}

#[test]
fn a_secret_copied_to_another_user_does_not_open() {
    let cipher = AesGcmSecretCipher::new(keys("k1", &[("k1", 7)])).unwrap();
    let secret = TotpSecret::from_base32("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP");
    let sealed = cipher.encrypt(UserId::generate(), &secret).unwrap();
    assert!(matches!(cipher.decrypt(UserId::generate(), &sealed), Err(CipherError::Corrupt)));
}

#[test]
fn a_tampered_ciphertext_does_not_open() {
    let cipher = AesGcmSecretCipher::new(keys("k1", &[("k1", 7)])).unwrap();
    let user = UserId::generate();
    let secret = TotpSecret::from_base32("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP");
    let sealed = cipher.encrypt(user, &secret).unwrap();
    let (id, body) = sealed.as_str().split_once(':').unwrap();
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let blob = engine.decode(body).unwrap();
    for i in [0, 12, 20, blob.len() - 1] {
        let mut flipped = blob.clone();
        flipped[i] ^= 0x01;
        let tampered = EncryptedSecret::new(format!("{id}:{}", engine.encode(&flipped)));
        assert!(matches!(cipher.decrypt(user, &tampered), Err(CipherError::Corrupt)), "byte {i}");
    }
}

#[test]
fn a_secret_under_an_unknown_key_id_reports_the_id() {
    let cipher = AesGcmSecretCipher::new(keys("k1", &[("k1", 7)])).unwrap();
    let other = AesGcmSecretCipher::new(keys("k9", &[("k9", 9)])).unwrap();
    let user = UserId::generate();
    let sealed =
        other.encrypt(user, &TotpSecret::from_base32("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")).unwrap();
    match cipher.decrypt(user, &sealed) {
        Err(CipherError::UnknownKey(id)) => assert_eq!(id, "k9"),
        other => panic!("expected UnknownKey, got {other:?}"),
    }
}

#[test]
fn a_key_with_the_right_id_but_other_bytes_does_not_open() {
    let a = AesGcmSecretCipher::new(keys("k1", &[("k1", 1)])).unwrap();
    let b = AesGcmSecretCipher::new(keys("k1", &[("k1", 2)])).unwrap();
    let user = UserId::generate();
    let sealed =
        a.encrypt(user, &TotpSecret::from_base32("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")).unwrap();
    assert!(matches!(b.decrypt(user, &sealed), Err(CipherError::Corrupt)));
}

#[test]
fn malformed_stored_values_are_corrupt_never_a_panic() {
    let cipher = AesGcmSecretCipher::new(keys("k1", &[("k1", 7)])).unwrap();
    let user = UserId::generate();
    for junk in ["", ":", "k1", "k1:", "k1:!!!not base64!!!", "k1:AAAA", "k1:a:b", "k1:\u{1F600}"] {
        let result = cipher.decrypt(user, &EncryptedSecret::new(junk));
        assert!(matches!(result, Err(CipherError::Corrupt)), "{junk:?}: {result:?}");
    }
    assert!(matches!(
        cipher.decrypt(user, &EncryptedSecret::new("nope:AAAA")),
        Err(CipherError::UnknownKey(_))
    ));
}

#[test]
fn after_rotation_old_secrets_still_open_and_new_ones_use_the_new_key() {
    let user = UserId::generate();
    let secret = TotpSecret::from_base32("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP");
    let before = AesGcmSecretCipher::new(keys("2025", &[("2025", 1)])).unwrap();
    let old = before.encrypt(user, &secret).unwrap();

    let after = AesGcmSecretCipher::new(keys("2026", &[("2026", 2), ("2025", 1)])).unwrap();
    assert_eq!(after.decrypt(user, &old).unwrap().expose_base32(), secret.expose_base32());
    assert!(after.needs_reencryption(&old));

    let new = after.encrypt(user, &secret).unwrap();
    assert!(new.as_str().starts_with("2026:"));
    assert!(!after.needs_reencryption(&new));
    assert!(!before.needs_reencryption(&old));
    // The old configuration cannot read what the new key sealed.
    assert!(matches!(before.decrypt(user, &new), Err(CipherError::UnknownKey(_))));
}

#[test]
fn inconsistent_key_configurations_are_refused() {
    assert!(AesGcmSecretCipher::new(keys("k2", &[("k1", 1)])).is_err(), "current not listed");
    assert!(AesGcmSecretCipher::new(keys("k1", &[("k1", 1), ("k1", 2)])).is_err(), "dup");
    assert!(AesGcmSecretCipher::new(keys("a:b", &[("a:b", 1)])).is_err(), "colon");
    assert!(AesGcmSecretCipher::new(keys("", &[("", 1)])).is_err(), "empty id");
    assert!(AesGcmSecretCipher::new(keys("k1", &[])).is_err(), "no keys");
}

// --- Digests --------------------------------------------------------------------------

#[test]
fn backup_code_digests_are_keyed_hmac_sha256_of_the_normalised_code() {
    let code = BackupCode::parse("0123456789abcdef").unwrap();
    let same_typed_sloppily = BackupCode::parse(" 0123 4567 89AB CDEF ").unwrap();
    let a = HmacBackupCodeHasher::new([1; 32]);
    let b = HmacBackupCodeHasher::new([2; 32]);

    let digest = a.digest(&code);
    assert_eq!(digest.as_str().len(), 64);
    assert!(digest.as_str().bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
    assert_eq!(a.digest(&same_typed_sloppily), digest);
    assert_ne!(b.digest(&code), digest, "another key gives another digest");
    // Not a bare SHA-256 of the code.
    assert_ne!(Sha256TokenDigest.digest(code.expose()), digest);
    assert_ne!(a.digest(&BackupCode::parse("0123456789abcdee").unwrap()), digest);
}

#[test]
fn the_backup_code_hmac_matches_rfc_4231_style_computation() {
    // HMAC-SHA-256 with a 32-byte key of 0x0b and message "Hi There" is not an RFC 4231
    // vector (those use a 20-byte key), so check against hmac computed directly instead.
    use hmac::{KeyInit as _, Mac as _};
    let key = [0x0b; 32];
    let code = BackupCode::parse("00112233445566ff").unwrap();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(b"00112233445566ff");
    let expected: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(HmacBackupCodeHasher::new(key).digest(&code).as_str(), expected);
}

#[test]
fn token_digests_are_sha256_hex() {
    assert_eq!(
        Sha256TokenDigest.digest("abc").as_str(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

// --- Clock, randomness, Debug ---------------------------------------------------------

#[test]
fn the_manual_clock_moves_only_when_told() {
    let clock = ManualClock::new(at(1_000));
    assert_eq!(clock.now(), at(1_000));
    clock.advance(TimeDelta::seconds(30));
    assert_eq!(clock.now(), at(1_030));
    clock.set(at(5));
    assert_eq!(clock.now(), at(5));
    let system = SystemClock.now();
    assert!((Utc::now() - system).num_seconds().abs() < 60);
}

#[test]
fn os_randomness_differs_between_calls() {
    assert_ne!(OsRandom.bytes_32(), OsRandom.bytes_32());
    assert_ne!(OsRandom.bytes_8(), OsRandom.bytes_8());
}

#[tokio::test]
async fn no_debug_output_shows_key_bytes_or_secrets() {
    let key = [0xA7_u8; 32];
    let encryption = EncryptionKeys { current_id: "k1".into(), keys: vec![("k1".into(), key)] };
    let config = CryptoConfig {
        argon2: Argon2Params::cheap_for_tests(),
        totp_issuer: "SlugBase".into(),
        encryption: encryption.clone(),
        backup_code_key: [0xB8; 32],
    };
    let cipher = AesGcmSecretCipher::new(encryption.clone()).unwrap();
    let hmac = HmacBackupCodeHasher::new([0xB8; 32]);
    let hasher = cheap_hasher();
    let secret = TotpSecret::from_base32("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP");
    let hash = hasher.hash(&Password::new("hunter2-hunter2")).await.unwrap();

    let shown = [
        format!("{encryption:?}"),
        format!("{config:?}"),
        format!("{cipher:?}"),
        format!("{hmac:?}"),
        format!("{hasher:?}"),
        format!("{secret:?}"),
        format!("{hash:?}"),
        format!("{:?}", RfcTotp::new("SlugBase").unwrap()),
    ];
    for text in &shown {
        for needle in
            ["a7a7", "A7A7", "167", "b8b8", "B8B8", "184", "JBSWY3DP", "hunter2", "$argon2"]
        {
            assert!(!text.contains(needle), "{text:?} shows {needle}");
        }
    }
    assert!(shown[0].contains("k1"), "key ids are fine to show: {}", shown[0]);
}
