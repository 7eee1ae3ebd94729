//! Password hashes and API tokens. Nothing here logs a secret.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

/// argon2id with 7 MiB of memory, 5 iterations, 1 lane: the least memory of OWASP's five
/// equivalent minimums (19 MiB with 2 iterations is another). Each hash's memory is freed
/// after it, but the allocator gives it back to the system only at its next purge: a
/// smaller block keeps the server's resident memory lower after a sign-in
/// (docs/benchmarks.md). Hashes made with other parameters still verify with their own.
pub const ARGON2_MEMORY_KIB: u32 = 7 * 1024;
pub const ARGON2_ITERATIONS: u32 = 5;
pub const ARGON2_LANES: u32 = 1;

fn argon2() -> Argon2<'static> {
    let params = Params::new(ARGON2_MEMORY_KIB, ARGON2_ITERATIONS, ARGON2_LANES, None)
        .expect("constant argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password into a PHC string. CPU- and memory-heavy: call it off the async
/// threads (`spawn_blocking`).
pub fn hash_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).expect("16 bytes make a valid salt");
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .expect("hashing with valid parameters succeeds")
        .to_string()
}

/// Checks a password against a stored hash. A malformed hash never matches.
pub fn verify_password(password: &str, stored_hash: &str) -> bool {
    PasswordHash::new(stored_hash)
        .is_ok_and(|hash| argon2().verify_password(password.as_bytes(), &hash).is_ok())
}

/// A hash of a password nobody has, verified when the username is unknown so that a
/// wrong username takes as long as a wrong password.
pub fn verify_against_dummy(password: &str) {
    static DUMMY: LazyLock<String> =
        LazyLock::new(|| hash_password("no user has this password, it only costs time"));
    let _ = verify_password(password, &DUMMY);
}

/// Secrets drawn from the operating system's generator, URL-safe text.
pub fn random_secret(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// Every API token starts with this, so a leaked one is recognisable in a scan.
pub const TOKEN_PREFIX: &str = "bf_";

/// A new API token: shown once, only its hash is stored.
pub fn new_api_token() -> String {
    format!("{TOKEN_PREFIX}{}", random_secret(32))
}

/// The stored form of an API token. Tokens carry 256 random bits, so a fast hash is
/// enough: nobody can guess one to test against it.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_as_argon2id_with_owasp_parameters() {
        let hash = hash_password("correct horse battery staple");
        assert!(hash.starts_with("$argon2id$v=19$m=7168,t=5,p=1$"), "{hash}");
        assert!(verify_password("correct horse battery staple", &hash));
        assert!(!verify_password("correct horse battery stable", &hash));
        assert!(!verify_password("anything", "not a hash"));
        assert_ne!(hash, hash_password("correct horse battery staple"), "salted");
    }

    #[test]
    fn hashes_made_with_earlier_parameters_still_verify() {
        // Operators added before the parameters changed keep their hashes.
        let earlier = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(19 * 1024, 2, 1, None).unwrap(),
        );
        let salt = SaltString::encode_b64(&[7u8; 16]).unwrap();
        let hash =
            earlier.hash_password(b"correct horse battery staple", &salt).unwrap().to_string();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert!(verify_password("correct horse battery staple", &hash));
        assert!(!verify_password("correct horse battery stable", &hash));
    }

    #[test]
    fn tokens_are_random_prefixed_and_hashed() {
        let (a, b) = (new_api_token(), new_api_token());
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() > 40);
        assert_eq!(token_hash(&a), token_hash(&a));
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), token_hash(&b));
    }
}
