//! Google Authenticator exports: protoc-encoded vectors, a round trip through an encoder
//! written here, and arbitrary input that must never panic.

#![allow(clippy::unwrap_used, clippy::cast_sign_loss)]

use idforge_otp::migration::{parse_migration_payload, parse_migration_uri};
use idforge_otp::{Algorithm, Digits, KeyUri, Secret};
use proptest::prelude::*;

const VECTORS: &str = include_str!("vectors/google-authenticator-migration.txt");

#[test]
fn protoc_encoded_vectors() {
    let mut checked = 0;
    for block in VECTORS.split("\n\n").filter(|b| b.contains("uri: ")) {
        let field = |name: &str| {
            block
                .lines()
                .filter_map(move |l| l.strip_prefix(name).map(str::trim))
                .collect::<Vec<_>>()
        };
        let batch = parse_migration_uri(field("uri: ")[0]).unwrap();
        let info: Vec<i32> = field("batch: ")[0]
            .split(' ')
            .map(|n| n.parse().unwrap())
            .collect();
        assert_eq!(
            info,
            [
                batch.version(),
                batch.batch_size(),
                batch.batch_index(),
                batch.batch_id()
            ]
        );
        let ok: Vec<String> = batch.key_uris().map(KeyUri::to_uri_string).collect();
        assert_eq!(ok, field("ok: "));
        let refused: Vec<String> = batch
            .refused()
            .map(|r| format!("{} {}", r.index(), r.error()))
            .collect();
        assert_eq!(refused, field("refused: "));
        checked += 1;
    }
    assert_eq!(checked, 2);
}

#[test]
fn imported_keys_compute_the_rfc_codes() {
    let block = VECTORS.split("\n\n").nth(2).unwrap();
    let uri = block.lines().find_map(|l| l.strip_prefix("uri: ")).unwrap();
    let batch = parse_migration_uri(uri).unwrap();
    let keys: Vec<&KeyUri> = batch.key_uris().collect();
    // RFC 6238 Appendix B, SHA-1 seed, T = 59: 94287082, of which 6 digits.
    let totp = keys[0].to_totp().unwrap();
    assert_eq!(totp.generate(59).unwrap().to_string(), "287082");
    // The HOTP key is SHA-256 with 8 digits: the same as computed directly.
    let direct = idforge_otp::Hotp::new(
        &Secret::from_bytes(b"12345678901234567890").unwrap(),
        Algorithm::Sha256,
        Digits::EIGHT,
    );
    assert_eq!(keys[1].to_hotp().generate(7), direct.generate(7));
}

/// A protobuf writer for the test's side of the round trip.
#[derive(Default)]
struct Encoder(Vec<u8>);

impl Encoder {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn varint_field(&mut self, field: u64, v: u64) {
        self.varint(field << 3);
        self.varint(v);
    }

    fn bytes_field(&mut self, field: u64, v: &[u8]) {
        self.varint((field << 3) | 2);
        self.varint(v.len() as u64);
        self.0.extend_from_slice(v);
    }
}

#[derive(Debug, Clone)]
struct Account {
    secret: Vec<u8>,
    label_issuer: Option<String>,
    user: String,
    issuer: String,
    algorithm: u64,
    digits: u64,
    hotp: bool,
    counter: u64,
    unknown: Option<Vec<u8>>,
}

fn account() -> impl Strategy<Value = Account> {
    (
        prop::collection::vec(any::<u8>(), 1..=64),
        prop::option::of("[^:]{0,12}"),
        "[^:]{1,20}",
        "[^:]{0,12}",
        0u64..=3,
        0u64..=2,
        any::<bool>(),
        0..=i64::MAX as u64,
        prop::option::of(prop::collection::vec(any::<u8>(), 0..8)),
    )
        .prop_map(
            |(secret, label_issuer, user, issuer, algorithm, digits, hotp, counter, unknown)| {
                Account {
                    secret,
                    label_issuer,
                    user,
                    issuer,
                    algorithm,
                    digits,
                    hotp,
                    counter,
                    unknown,
                }
            },
        )
}

impl Account {
    fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::default();
        if let Some(unknown) = &self.unknown {
            e.bytes_field(15, unknown);
        }
        e.bytes_field(1, &self.secret);
        let name = match &self.label_issuer {
            Some(issuer) => format!("{issuer}:{}", self.user),
            None => self.user.clone(),
        };
        e.bytes_field(2, name.as_bytes());
        if !self.issuer.is_empty() {
            e.bytes_field(3, self.issuer.as_bytes());
        }
        if self.algorithm != 0 {
            e.varint_field(4, self.algorithm);
        }
        if self.digits != 0 {
            e.varint_field(5, self.digits);
        }
        e.varint_field(6, if self.hotp { 1 } else { 2 });
        if self.hotp {
            e.varint_field(7, self.counter);
        }
        if let Some(unknown) = &self.unknown {
            e.varint_field(16, unknown.len() as u64);
        }
        e.0
    }

    fn expected(&self) -> KeyUri {
        let secret = Secret::from_bytes(&self.secret).unwrap();
        let uri = if self.hotp {
            KeyUri::hotp(secret, &self.user, self.counter).unwrap()
        } else {
            KeyUri::totp(secret, &self.user).unwrap()
        };
        let issuer = if self.issuer.trim().is_empty() {
            self.label_issuer.as_deref().unwrap_or("")
        } else {
            &self.issuer
        };
        uri.with_issuer(issuer)
            .with_algorithm(match self.algorithm {
                2 => Algorithm::Sha256,
                3 => Algorithm::Sha512,
                _ => Algorithm::Sha1,
            })
            .with_digits(if self.digits == 2 {
                Digits::EIGHT
            } else {
                Digits::SIX
            })
    }
}

/// Base64 of the payload as the app writes it (padded, percent-encoded), or raw and
/// unpadded as some tools pass it on.
fn to_uri(payload: &[u8], raw: bool) -> String {
    let b64 = data_encoding::BASE64.encode(payload);
    let data: String = if raw {
        b64.trim_end_matches('=').to_owned()
    } else {
        percent_encoding::utf8_percent_encode(&b64, percent_encoding::NON_ALPHANUMERIC).collect()
    };
    format!("otpauth-migration://offline?data={data}")
}

proptest! {
    #[test]
    fn round_trip(
        accounts in prop::collection::vec(account(), 0..6),
        info in any::<[i32; 4]>(),
        raw in any::<bool>(),
    ) {
        for a in &accounts {
            prop_assume!(!a.user.trim().is_empty());
        }
        let mut p = Encoder::default();
        for a in &accounts {
            p.bytes_field(1, &a.encode());
        }
        for (field, value) in (2..).zip(info) {
            // int32: negative values are sign-extended to ten bytes.
            p.varint_field(field, i64::from(value) as u64);
        }
        let batch = parse_migration_uri(&to_uri(&p.0, raw)).unwrap();
        prop_assert_eq!(
            [batch.version(), batch.batch_size(), batch.batch_index(), batch.batch_id()],
            info
        );
        prop_assert_eq!(batch.refused().count(), 0);
        let got: Vec<&KeyUri> = batch.key_uris().collect();
        let expected: Vec<KeyUri> = accounts.iter().map(Account::expected).collect();
        prop_assert_eq!(got.len(), expected.len());
        for (got, expected) in got.iter().zip(&expected) {
            prop_assert_eq!(*got, expected);
            // Each key leaves as an otpauth:// URI that reads back the same.
            prop_assert_eq!(&KeyUri::parse(&got.to_uri_string()).unwrap(), expected);
        }
        // The same bytes without the URI around them.
        prop_assert_eq!(parse_migration_payload(&p.0).unwrap(), batch);
    }

    #[test]
    fn arbitrary_payloads_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(batch) = parse_migration_payload(&bytes) {
            // Every account costs at least two bytes of payload.
            prop_assert!(batch.entries().len() <= bytes.len() / 2);
        }
        let _ = parse_migration_uri(&to_uri(&bytes, false));
    }

    #[test]
    fn damaged_exports_never_panic(
        accounts in prop::collection::vec(account(), 1..4),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut p = Encoder::default();
        for a in &accounts {
            p.bytes_field(1, &a.encode());
        }
        let mut bytes = p.0;
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= value;
        }
        let _ = parse_migration_payload(&bytes);
        let _ = parse_migration_payload(&bytes[..cut.index(bytes.len() + 1)]);
    }

    #[test]
    fn arbitrary_uris_never_panic(text in "(?i:otpauth-migration://offline)[?/#&=%a-zA-Z0-9+ ]{0,80}") {
        let _ = parse_migration_uri(&text);
    }
}
