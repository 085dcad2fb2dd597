//! Local passwords: argon2id PHC strings, parameters from the configuration, re-hashed at
//! login when the configuration changes.

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};

use crate::config::PasswordSettings;

/// Why a password could not be hashed or a stored hash could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordError {
    /// The configured parameters are out of argon2's range.
    #[error("argon2 parameters refused: {0}")]
    Params(String),
    /// The stored hash is not an argon2 PHC string.
    #[error("the stored password hash is not readable")]
    StoredHash,
    /// The system random generator failed.
    #[error("the system random generator failed")]
    Random,
    /// Too short for the policy.
    #[error("a password must have at least {min} characters")]
    TooShort {
        /// The configured minimum.
        min: usize,
    },
}

/// The result of checking a password against a stored hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    /// Wrong password.
    No,
    /// Right password, hash up to date.
    Yes,
    /// Right password; store this new hash (the parameters changed).
    YesRehash(String),
}

/// Hashes and verifies passwords with the configured argon2id parameters.
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    settings: PasswordSettings,
    params: Params,
}

impl PasswordHasher {
    /// A hasher for these settings.
    pub fn new(settings: PasswordSettings) -> Result<Self, PasswordError> {
        let params = Params::new(
            settings.memory_kib,
            settings.iterations,
            settings.parallelism,
            None,
        )
        .map_err(|e| PasswordError::Params(e.to_string()))?;
        Ok(PasswordHasher { settings, params })
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// Checks the length rule, then hashes with a random 16-byte salt.
    pub fn hash_new(&self, password: &str) -> Result<String, PasswordError> {
        if password.chars().count() < self.settings.min_length {
            return Err(PasswordError::TooShort {
                min: self.settings.min_length,
            });
        }
        self.hash(password)
    }

    /// Hashes with a random 16-byte salt, without the length rule (for imports and re-hashes).
    pub fn hash(&self, password: &str) -> Result<String, PasswordError> {
        let mut salt = [0u8; 16];
        SystemRandom::new()
            .fill(&mut salt)
            .map_err(|_| PasswordError::Random)?;
        self.argon2()
            .hash_password_with_salt(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| PasswordError::Params(e.to_string()))
    }

    /// Verifies `password` against a stored PHC string (with the parameters stored in it) and
    /// says whether to store a new hash.
    pub fn verify(&self, password: &str, stored: &str) -> Result<Verified, PasswordError> {
        let parsed = PasswordHash::new(stored).map_err(|_| PasswordError::StoredHash)?;
        if !parsed.algorithm.as_str().starts_with("argon2") {
            return Err(PasswordError::StoredHash);
        }
        if Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_err()
        {
            return Ok(Verified::No);
        }
        let current = Params::try_from(&parsed).ok();
        let up_to_date = parsed.algorithm.as_str() == "argon2id"
            && current.is_some_and(|p| {
                p.m_cost() == self.params.m_cost()
                    && p.t_cost() == self.params.t_cost()
                    && p.p_cost() == self.params.p_cost()
            });
        if up_to_date {
            Ok(Verified::Yes)
        } else {
            Ok(Verified::YesRehash(self.hash(password)?))
        }
    }

    /// Spends the same time as a verification, for unknown users (no user enumeration by
    /// timing).
    pub fn verify_dummy(&self, password: &str) {
        let mut out = [0u8; 32];
        let _ =
            self.argon2()
                .hash_password_into(password.as_bytes(), b"idforge-dummy-salt", &mut out);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn cheap() -> PasswordSettings {
        PasswordSettings {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
            min_length: 8,
        }
    }

    #[test]
    fn hash_verify_and_rehash_on_new_parameters() {
        let h = PasswordHasher::new(cheap()).unwrap();
        let stored = h.hash_new("correct horse").unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=64,t=1,p=1$"),
            "{stored}"
        );
        assert!(!stored.contains("correct horse"));
        assert_eq!(h.verify("correct horse", &stored).unwrap(), Verified::Yes);
        assert_eq!(h.verify("wrong horse", &stored).unwrap(), Verified::No);
        let stronger = PasswordHasher::new(PasswordSettings {
            iterations: 2,
            ..cheap()
        })
        .unwrap();
        let Verified::YesRehash(new) = stronger.verify("correct horse", &stored).unwrap() else {
            panic!("expected a rehash")
        };
        assert!(new.contains("t=2"));
        assert_eq!(
            stronger.verify("correct horse", &new).unwrap(),
            Verified::Yes
        );
    }

    #[test]
    fn short_passwords_and_garbage_hashes_are_refused() {
        let h = PasswordHasher::new(cheap()).unwrap();
        assert!(matches!(
            h.hash_new("short"),
            Err(PasswordError::TooShort { min: 8 })
        ));
        assert!(matches!(
            h.verify("x", "not a hash"),
            Err(PasswordError::StoredHash)
        ));
    }
}
