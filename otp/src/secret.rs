//! Shared secrets: parsing, generation, redaction.

use core::fmt;

use rand_core::CryptoRng;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::Error;

/// A shared HOTP/TOTP secret.
///
/// The bytes are zeroized when the value is dropped, and neither `Debug` nor `Display` shows
/// them. Use [`Secret::to_base32`] or [`Secret::expose_bytes`] where the secret must leave the
/// program (enrolment, storage).
///
/// ```
/// use idforge_otp::Secret;
///
/// // As authenticator apps show it: lower case, grouped, unpadded.
/// let secret = Secret::from_base32("jbsw y3dp ehpk 3pxp")?;
/// assert_eq!(secret.to_base32(), "JBSWY3DPEHPK3PXP");
/// assert_eq!(format!("{secret:?}"), "Secret(**redacted**)");
/// # Ok::<(), idforge_otp::Error>(())
/// ```
#[derive(Clone)]
pub struct Secret {
    bytes: Zeroizing<Vec<u8>>,
}

impl Secret {
    /// The length RFC 4226 §4 recommends, and the default for [`Secret::generate`]: 160 bits.
    pub const DEFAULT_LEN: usize = 20;
    /// The longest secret accepted, in bytes.
    pub const MAX_LEN: usize = 1024;

    /// Takes raw secret bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.is_empty() {
            return Err(Error::EmptySecret);
        }
        if bytes.len() > Self::MAX_LEN {
            return Err(Error::SecretTooLong {
                len: bytes.len(),
                max: Self::MAX_LEN,
            });
        }
        Ok(Self {
            bytes: Zeroizing::new(bytes.to_vec()),
        })
    }

    /// Reads base32 (RFC 4648 §6) as authenticator apps and admin consoles show it: upper or
    /// lower case, spaces anywhere, padding optional. Anything else is refused with an error
    /// that says where.
    ///
    /// The spare bits of the last symbol (those past the last whole byte) are ignored, as
    /// pyotp, oathtool and the authenticator apps ignore them: `…XV` and its canonical form
    /// `…XU` are the same secret. [`Secret::to_base32`] always writes the canonical form.
    ///
    /// ```
    /// use idforge_otp::Secret;
    ///
    /// // pyotp's test secret: its last symbol 'V' sets a spare bit that 'U' leaves clear.
    /// let secret = Secret::from_base32("S46SQCPPTCNPROMHWYBDCTBZXV")?;
    /// assert_eq!(secret, Secret::from_base32("S46SQCPPTCNPROMHWYBDCTBZXU")?);
    /// assert_eq!(secret.to_base32(), "S46SQCPPTCNPROMHWYBDCTBZXU");
    /// # Ok::<(), idforge_otp::Error>(())
    /// ```
    pub fn from_base32(text: &str) -> Result<Self, Error> {
        let mut symbols = Zeroizing::new(Vec::with_capacity(text.len()));
        let mut padding: Option<(usize, usize)> = None; // (first position, count)
        for (position, character) in text.char_indices() {
            match character {
                ' ' => {}
                '=' => match &mut padding {
                    Some((_, count)) => *count += 1,
                    None => padding = Some((position, 1)),
                },
                'A'..='Z' | 'a'..='z' | '2'..='7' => {
                    if let Some((first, _)) = padding {
                        return Err(Error::Base32Padding { position: first });
                    }
                    symbols.push(character.to_ascii_uppercase() as u8);
                }
                _ => {
                    return Err(Error::Base32Character {
                        character,
                        position,
                    });
                }
            }
        }
        let n = symbols.len();
        if n == 0 {
            return Err(Error::EmptySecret);
        }
        if !matches!(n % 8, 0 | 2 | 4 | 5 | 7) {
            return Err(Error::Base32Length { symbols: n });
        }
        if let Some((first, count)) = padding
            && ((n + count) % 8 != 0 || count >= 8)
        {
            return Err(Error::Base32Padding { position: first });
        }
        // The bits of the last symbol past the last whole byte: 0, 1, 3, 4 or 2 of them for
        // 0, 5, 7, 4 or 2 symbols in the last group. Clearing them makes the text canonical.
        let spare = (n * 5) % 8;
        if let Some(last) = symbols.last_mut() {
            *last = base32_symbol(base32_value(*last) & !((1u8 << spare) - 1));
        }
        let decoded = data_encoding::BASE32_NOPAD
            .decode(&symbols)
            .map_err(|_| Error::Base32Length { symbols: n })?;
        let decoded = Zeroizing::new(decoded);
        Self::from_bytes(&decoded)
    }

    /// Draws a new secret of `len` bytes from a cryptographic RNG.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R, len: usize) -> Result<Self, Error> {
        if len == 0 {
            return Err(Error::EmptySecret);
        }
        if len > Self::MAX_LEN {
            return Err(Error::SecretTooLong {
                len,
                max: Self::MAX_LEN,
            });
        }
        let mut bytes = Zeroizing::new(vec![0u8; len]);
        rng.fill_bytes(&mut bytes);
        Ok(Self { bytes })
    }

    /// Draws a new 160-bit secret ([`Secret::DEFAULT_LEN`]) from a cryptographic RNG.
    pub fn generate_default<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut bytes = Zeroizing::new(vec![0u8; Self::DEFAULT_LEN]);
        rng.fill_bytes(&mut bytes);
        Self { bytes }
    }

    /// The secret as unpadded upper-case base32, as `otpauth://` URIs carry it.
    pub fn to_base32(&self) -> String {
        data_encoding::BASE32_NOPAD.encode(&self.bytes)
    }

    /// The raw secret bytes, for storage.
    pub fn expose_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Always false: a secret is never empty. Present for API symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// The value (0..32) of an upper-case base32 symbol already checked to be in the alphabet.
fn base32_value(symbol: u8) -> u8 {
    match symbol {
        b'A'..=b'Z' => symbol - b'A',
        b'2'..=b'7' => symbol - b'2' + 26,
        _ => 0,
    }
}

/// The upper-case base32 symbol of a value in 0..32.
fn base32_symbol(value: u8) -> u8 {
    match value & 31 {
        v @ 0..=25 => b'A' + v,
        v => b'2' + (v - 26),
    }
}

/// Constant-time in the contents (the length is not secret).
impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        bool::from(self.bytes.as_slice().ct_eq(other.bytes.as_slice()))
    }
}

impl Eq for Secret {}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(**redacted**)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("**redacted**")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_accepts_what_apps_show() {
        let canonical = Secret::from_base32("JBSWY3DPEHPK3PXP").unwrap();
        for text in [
            "jbswy3dpehpk3pxp",
            "JBSW Y3DP EHPK 3PXP",
            " jbsw y3dp ehpk 3pxp ",
        ] {
            assert_eq!(Secret::from_base32(text).unwrap(), canonical, "{text}");
        }
        assert_eq!(canonical.expose_bytes(), b"Hello!\xde\xad\xbe\xef");
        // RFC 4648 §10 with and without padding.
        for (text, bytes) in [
            ("MY======", &b"f"[..]),
            ("MY", b"f"),
            ("MZXQ====", b"fo"),
            ("MZXW6===", b"foo"),
            ("MZXW6YQ=", b"foob"),
            ("MZXW6YTB", b"fooba"),
            ("MZXW6YTBOI======", b"foobar"),
            ("mzxw6ytboi", b"foobar"),
        ] {
            assert_eq!(Secret::from_base32(text).unwrap().expose_bytes(), bytes);
        }
    }

    #[test]
    fn base32_errors_say_where() {
        assert_eq!(
            Secret::from_base32("JBSW1Y3DP"),
            Err(Error::Base32Character {
                character: '1',
                position: 4
            })
        );
        assert_eq!(
            Secret::from_base32("JBSW-Y3DP"),
            Err(Error::Base32Character {
                character: '-',
                position: 4
            })
        );
        assert_eq!(
            Secret::from_base32("MY==MY"),
            Err(Error::Base32Padding { position: 2 })
        );
        assert_eq!(
            Secret::from_base32("MY==="),
            Err(Error::Base32Padding { position: 2 })
        );
        assert_eq!(
            Secret::from_base32("MZX"),
            Err(Error::Base32Length { symbols: 3 })
        );
        assert_eq!(Secret::from_base32(""), Err(Error::EmptySecret));
        assert_eq!(Secret::from_base32("   "), Err(Error::EmptySecret));
        assert_eq!(
            Secret::from_base32("é"),
            Err(Error::Base32Character {
                character: 'é',
                position: 0
            })
        );
    }

    #[test]
    fn spare_bits_of_the_last_symbol_are_ignored() {
        // pyotp's test secret: 26 symbols hold 130 bits, 2 of them spare, and 'V' (10101)
        // sets the last one where the canonical 'U' (10100) does not.
        let canonical = Secret::from_base32("S46SQCPPTCNPROMHWYBDCTBZXU").unwrap();
        let loose = Secret::from_base32("S46SQCPPTCNPROMHWYBDCTBZXV").unwrap();
        assert_eq!(loose, canonical);
        assert_eq!(
            loose.expose_bytes(),
            b"\x97\x3d\x28\x09\xef\x98\x9a\xf8\xb9\x87\xb6\x02\x31\x4c\x39\xbd"
        );
        assert_eq!(loose.to_base32(), "S46SQCPPTCNPROMHWYBDCTBZXU");
        assert_eq!(
            Secret::from_base32("s46s qcpp tcnp romh wybd ctbz xv======").unwrap(),
            canonical
        );
        // The data bits of the last symbol still count: 'Q' (10000) is another secret.
        assert_ne!(
            Secret::from_base32("S46SQCPPTCNPROMHWYBDCTBZXQ").unwrap(),
            canonical
        );
        // "MZ" sets two spare bits after the byte "f"; every group length has its own count.
        for (loose, bytes) in [
            ("MZ", &b"f"[..]),
            ("MZXR", b"fo"),
            ("MZXW7", b"foo"),
            ("MZXW6YR", b"foob"),
            ("MZXW6YTB", b"fooba"),
            ("77", b"\xff"),
            ("7777", b"\xff\xff"),
            ("77777", b"\xff\xff\xff"),
            ("7777777", b"\xff\xff\xff\xff"),
        ] {
            let secret = Secret::from_base32(loose).unwrap();
            assert_eq!(secret.expose_bytes(), bytes, "{loose}");
            assert_eq!(
                Secret::from_base32(&secret.to_base32()).unwrap(),
                secret,
                "{loose}"
            );
        }
        for value in 0..32 {
            assert_eq!(base32_value(base32_symbol(value)), value);
        }
    }

    #[test]
    fn secret_never_printed() {
        let s = Secret::from_bytes(b"12345678901234567890").unwrap();
        let shown = format!("{s:?} {s} {s:#?}");
        assert!(!shown.contains("1234"));
        assert!(!shown.contains(&s.to_base32()));
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn equality() {
        let a = Secret::from_bytes(b"abc").unwrap();
        assert_eq!(a, Secret::from_bytes(b"abc").unwrap());
        assert_ne!(a, Secret::from_bytes(b"abd").unwrap());
        assert_ne!(a, Secret::from_bytes(b"abcd").unwrap());
    }

    #[test]
    fn length_limits() {
        assert_eq!(Secret::from_bytes(&[]), Err(Error::EmptySecret));
        assert!(matches!(
            Secret::from_bytes(&[0; Secret::MAX_LEN + 1]),
            Err(Error::SecretTooLong { .. })
        ));
        assert!(Secret::from_bytes(&[0; Secret::MAX_LEN]).is_ok());
    }
}
