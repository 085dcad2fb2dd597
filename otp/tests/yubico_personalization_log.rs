//! Import of the YubiKey Personalization Tool's log: the two formats read from data files
//! under `tests/vectors/`, every decoded field compared with the values written below, the
//! imported keys checked against published OTPs and against keys rebuilt from the same
//! fields; then the errors, which must name the line and the column.

#![cfg(feature = "yubico")]
#![allow(clippy::unwrap_used, clippy::panic)]

use idforge_otp::{
    PersonalizationLog, PersonalizationLogError, PersonalizationLogField,
    PersonalizationLogLineError, YubicoCounters, YubicoKey, YubicoOtp, YubicoToken,
    parse_personalization_log,
};
use idforge_test_support::{hex, to_hex};

const TRADITIONAL: &str = include_str!("vectors/yubikey-personalization-traditional.csv");
const YUBICO_FORMAT: &str = include_str!("vectors/yubikey-personalization-yubico.csv");

/// A key as the tests expect it: line, serial, slot, public id (modhex), private id and AES
/// key (hex).
type Expected = (
    usize,
    Option<u32>,
    Option<u8>,
    &'static str,
    &'static str,
    &'static str,
);

const TRADITIONAL_KEYS: [Expected; 4] = [
    (
        2,
        None,
        Some(1),
        "dteffuje",
        "8792ebfe26cc",
        "ecde18dbe76fbd0c33330f1c354871db",
    ),
    (
        3,
        None,
        Some(1),
        "vvcccccccccb",
        "28866f9925cf",
        "2906cbbfe555b1ff48b1ff455ca45708",
    ),
    (
        8,
        None,
        Some(2),
        "idkfefrdhtru",
        "609963eae7b5",
        "c68c9df8cbfe7d2f994cb904046c7218",
    ),
    (
        10,
        None,
        Some(1),
        "cclngiuv",
        "0123456789ab",
        "30313233343536373839616263646566",
    ),
];

const YUBICO_FORMAT_KEYS: [Expected; 4] = [
    (
        1,
        Some(3_141_592),
        None,
        "dteffuje",
        "8792ebfe26cc",
        "ecde18dbe76fbd0c33330f1c354871db",
    ),
    (
        2,
        Some(3_141_593),
        None,
        "vvcccccccccb",
        "28866f9925cf",
        "2906cbbfe555b1ff48b1ff455ca45708",
    ),
    (
        6,
        None,
        None,
        "vvcccccccccd",
        "7b993f255d59",
        "2181dc3103dce4dbefb5d5e0fe90488e",
    ),
    (
        7,
        Some(4096),
        None,
        "idkfefrdhtru",
        "609963eae7b5",
        "c68c9df8cbfe7d2f994cb904046c7218",
    ),
];

/// OTPs published with three of the keys (see `vectors/yubico-otp.txt`): yubico-c,
/// yubikey-ksm's self test and the YubiOTP doctest.
const PUBLISHED_OTPS: [(&str, &str, YubicoCounters); 3] = [
    (
        "dteffuje",
        "dteffujehknhfjbrjnlnldnhcujvddbikngjrtgh",
        YubicoCounters {
            usage: 19,
            session: 17,
        },
    ),
    (
        "idkfefrdhtru",
        "idkfefrdhtrutjduvtcjbfeuvhehdvjjlbchtlenfgku",
        YubicoCounters {
            usage: 1,
            session: 0,
        },
    ),
    (
        "cclngiuv",
        "cclngiuvttkhthcilurtkerbjnnkljfkjccklkhl",
        YubicoCounters {
            usage: 5,
            session: 0,
        },
    ),
];

fn assert_keys(log: &PersonalizationLog, expected: &[Expected]) {
    assert_eq!(log.keys.len(), expected.len());
    for (key, &(line, serial, slot, public, private, aes)) in log.keys.iter().zip(expected) {
        assert_eq!(key.line, line, "{public}");
        assert_eq!(key.serial, serial, "{public}");
        assert_eq!(key.slot, slot, "{public}");
        assert_eq!(key.key.public_id_modhex(), public, "line {line}");
        assert_eq!(to_hex(key.key.expose_private_id()), private, "line {line}");
        assert_eq!(to_hex(key.key.expose_aes_key()), aes, "line {line}");
    }
}

fn skipped(log: &PersonalizationLog) -> Vec<(usize, &str)> {
    log.skipped
        .iter()
        .map(|s| (s.line, s.reason.as_str()))
        .collect()
}

#[test]
fn the_traditional_vector_is_what_it_claims_to_be() {
    // CRLF line ends (kept by .gitattributes), a timestamp with a comma, byte pairs with
    // spaces, compact upper-case hex, an access code after a key, and lines to skip.
    assert_eq!(TRADITIONAL.matches("\r\n").count(), 10);
    assert_eq!(TRADITIONAL.matches('\n').count(), 10);
    assert!(TRADITIONAL.contains("Yubico OTP,Dec 3, 2026 2:06:02 PM,1,dt ef fu je,"));
    assert!(TRADITIONAL.contains(",C68C9DF8CBFE7D2F994CB904046C7218,"));
    assert!(TRADITIONAL.contains(",,a1 b2 c3 d4 e5 f6,"));
    for event in [
        "LOGGING START,",
        "OATH-HOTP,",
        "Static Password: Scan Code,",
    ] {
        assert!(TRADITIONAL.contains(event), "{event}");
    }
}

#[test]
fn traditional_log_imports_its_yubico_otp_keys() {
    let log = parse_personalization_log(TRADITIONAL).unwrap();
    assert_keys(&log, &TRADITIONAL_KEYS);
    assert_eq!(log.keys[0].key.public_id(), [0x2d, 0x34, 0x4e, 0x83]);
    assert_eq!(
        skipped(&log),
        [
            (4, "OATH-HOTP configuration, not Yubico OTP"),
            (
                5,
                "Static Password: Scan Code configuration, not Yubico OTP"
            ),
            (6, "Configuration Swap: the two slots exchanged, no new key"),
            (
                9,
                "challenge-response configuration (Challenge-Response: HMAC-SHA1), not Yubico OTP"
            ),
        ]
    );
}

#[test]
fn yubico_format_log_imports_its_yubico_otp_rows() {
    let log = parse_personalization_log(YUBICO_FORMAT).unwrap();
    assert_keys(&log, &YUBICO_FORMAT_KEYS);
    let private = "the private id column is not 12 hex digits: not a Yubico OTP configuration";
    // OATH-HOTP (public id, moving factor seed), challenge-response, static password.
    assert_eq!(skipped(&log), [(3, private), (4, private), (5, private)]);
}

#[test]
fn the_same_logs_with_lf_ends_and_a_byte_order_mark_read_the_same() {
    let lf = TRADITIONAL.replace("\r\n", "\n");
    assert_keys(
        &parse_personalization_log(&format!("\u{feff}{lf}")).unwrap(),
        &TRADITIONAL_KEYS,
    );
    let crlf = YUBICO_FORMAT.replace('\n', "\r\n");
    assert_keys(
        &parse_personalization_log(&format!("\u{feff}{crlf}")).unwrap(),
        &YUBICO_FORMAT_KEYS,
    );
}

#[test]
fn imported_keys_verify_the_published_otps() {
    let mut checked = 0;
    for text in [TRADITIONAL, YUBICO_FORMAT] {
        let log = parse_personalization_log(text).unwrap();
        for (public, otp, counters) in PUBLISHED_OTPS {
            let Some(imported) = log.keys.iter().find(|k| k.key.public_id_modhex() == public)
            else {
                continue;
            };
            let otp = YubicoOtp::parse(otp).unwrap();
            let token = imported.key.verify(&otp, None).unwrap();
            assert_eq!(token.counters, counters, "{public}");
            checked += 1;
        }
    }
    assert_eq!(checked, 5);
}

#[test]
fn otps_of_imported_keys_verify_with_keys_rebuilt_from_the_same_fields() {
    let logs = [
        (TRADITIONAL, &TRADITIONAL_KEYS),
        (YUBICO_FORMAT, &YUBICO_FORMAT_KEYS),
    ];
    for (text, expected) in logs {
        let log = parse_personalization_log(text).unwrap();
        assert_eq!(log.keys.len(), expected.len());
        for (imported, &(line, _, _, public, private, aes)) in log.keys.iter().zip(expected) {
            let rebuilt = YubicoKey::new(
                &modhex_decode(public),
                hex(private).try_into().unwrap(),
                hex(aes).try_into().unwrap(),
            )
            .unwrap();
            let token = YubicoToken {
                counters: YubicoCounters {
                    usage: line as u16,
                    session: 3,
                },
                caps_lock: false,
                timestamp: 0x00ab_cdef,
                random: 0x1234,
            };
            let otp = imported.key.generate(&token).unwrap();
            assert!(otp.to_string().starts_with(public), "line {line}");
            assert_eq!(rebuilt.verify(&otp, None).unwrap(), token, "line {line}");
            let otp = rebuilt.generate(&token).unwrap();
            assert_eq!(
                imported.key.verify(&otp, None).unwrap(),
                token,
                "line {line}"
            );
        }
    }
}

/// The traditional vector with `from` replaced by `to` on line `line` (1-based).
fn traditional_with(line: usize, from: &str, to: &str) -> String {
    let mut lines: Vec<String> = TRADITIONAL.split("\r\n").map(str::to_owned).collect();
    assert!(lines[line - 1].contains(from), "{from}");
    lines[line - 1] = lines[line - 1].replacen(from, to, 1);
    lines.join("\r\n")
}

fn refused_field(text: &str) -> (usize, PersonalizationLogField) {
    match parse_personalization_log(text) {
        Err(PersonalizationLogError::Line {
            line,
            reason: PersonalizationLogLineError::Field { field, .. },
        }) => (line, field),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_eleven_digit_private_id_names_the_line_and_the_column() {
    let text = traditional_with(3, "28 86 6f 99 25 cf", "28 86 6f 99 25 c");
    assert_eq!(
        refused_field(&text),
        (3, PersonalizationLogField::PrivateId)
    );
    let error = parse_personalization_log(&text).unwrap_err();
    assert_eq!(
        error.to_string(),
        "line 3: the private id is not 12 hex digits"
    );
    // Compact hex, on the line with upper-case digits.
    let text = traditional_with(8, "609963EAE7B5", "609963EAE7B");
    assert_eq!(
        refused_field(&text),
        (8, PersonalizationLogField::PrivateId)
    );
}

#[test]
fn a_key_that_is_not_hex_names_the_line_and_the_column() {
    let text = traditional_with(10, "30 31 32", "30 3g 32");
    assert_eq!(refused_field(&text), (10, PersonalizationLogField::AesKey));
    let error = parse_personalization_log(&text).unwrap_err().to_string();
    assert_eq!(error, "line 10: the AES key is not 32 hex digits");
    // A key one byte short.
    let text = traditional_with(2, " 71 db,", " 71,");
    assert_eq!(refused_field(&text), (2, PersonalizationLogField::AesKey));
}

#[test]
fn a_public_id_that_is_not_modhex_names_the_line_and_the_column() {
    let text = traditional_with(3, "vv cc cc cc cc cb", "vv cc cc cc cc ca");
    assert_eq!(refused_field(&text), (3, PersonalizationLogField::PublicId));
    let text = traditional_with(3, "vv cc cc cc cc cb", "vv cc cc cc cc c");
    assert_eq!(refused_field(&text), (3, PersonalizationLogField::PublicId));
}

#[test]
fn a_yubico_format_row_with_a_key_but_a_bad_serial_or_public_id_is_refused() {
    let text = YUBICO_FORMAT.replacen("3141593,vvcccccccccb", "3141593,vvccccccccc", 1);
    assert_eq!(refused_field(&text), (2, PersonalizationLogField::PublicId));
    let text = YUBICO_FORMAT.replacen("4096,", "99999999999,", 1);
    assert_eq!(refused_field(&text), (7, PersonalizationLogField::Serial));
}

#[test]
fn a_public_id_given_twice_is_refused() {
    // The same YubiKeys in both logs: dteffuje is on line 2 of the first, 10 lines long, and
    // on line 1 of the second.
    let both = format!("{TRADITIONAL}{YUBICO_FORMAT}");
    assert_eq!(
        parse_personalization_log(&both).unwrap_err(),
        PersonalizationLogError::DuplicatePublicId {
            line: 11,
            first_line: 2,
            public_id: "dteffuje".to_owned(),
        }
    );
    // Also when written in another case and with spaces.
    let again = format!(
        "{TRADITIONAL}Yubico OTP,2026-12-05 10:00:00,2,CC LN GI UV,00 00 00 00 00 01,{},,,,,,0,0,0,0,0,0,0\r\n",
        "00".repeat(16)
    );
    assert_eq!(
        parse_personalization_log(&again).unwrap_err().to_string(),
        "line 11: the public id \"cclngiuv\" was already given by line 10"
    );
}

#[test]
fn lines_in_neither_format_are_refused_and_known_modes_skipped() {
    // Refused: an unknown event, a half-copied line, a row with a column too many, text.
    for (garbage, line) in [
        (
            "Yubico OTP (new),Dec 3, 2026,1,vvcc,000000000000,00000000000000000000000000000000",
            11,
        ),
        ("Yubico OTP,Dec 3, 2026 2:06:02 PM", 11),
        (
            "5,vvcc,000000000000,00000000000000000000000000000000,,2026-12-03T14:06:02,,",
            11,
        ),
        ("serial,public id,private id,aes key", 11),
    ] {
        let text = format!("{TRADITIONAL}{garbage}\r\n");
        assert!(
            matches!(
                parse_personalization_log(&text),
                Err(PersonalizationLogError::Line { line: l, .. }) if l == line
            ),
            "{garbage}"
        );
    }
    // Skipped: a configuration update, a static password, an HMAC challenge-response row.
    let text = format!(
        "{TRADITIONAL}Configuration Update,Dec 5, 2026,1,,,,,,,,,0,0,0,0,0,0,0\r\n\
         Static Password,Dec 5, 2026,2,,,,,,,,,0,0,0,0,0,0,0\r\n\
         77,,0,{},,2026-12-05T10:00:00,\r\n",
        "ab".repeat(20)
    );
    let log = parse_personalization_log(&text).unwrap();
    assert_eq!(log.keys.len(), TRADITIONAL_KEYS.len());
    assert_eq!(
        skipped(&log)[4..],
        [
            (
                11,
                "Configuration Update: settings of a slot changed, no new key"
            ),
            (12, "Static Password configuration, not Yubico OTP"),
            (
                13,
                "the private id column is not 12 hex digits: not a Yubico OTP configuration"
            ),
        ]
    );
    // A row with a 12-digit private id but a 40-digit key is not Yubico OTP either.
    let log = parse_personalization_log(&format!(
        "78,vvcc,000000000000,{},,2026-12-05T10:00:00,",
        "ab".repeat(20)
    ))
    .unwrap();
    assert_eq!(
        skipped(&log),
        [(
            1,
            "the key column is not 32 hex digits: not a Yubico OTP configuration"
        )]
    );
}

#[test]
fn secrets_never_show_in_debug_or_errors() {
    let shown = format!(
        "{:?}{:?}",
        parse_personalization_log(TRADITIONAL).unwrap(),
        parse_personalization_log(YUBICO_FORMAT).unwrap()
    );
    assert!(shown.contains("vvcccccccccb"));
    assert!(shown.contains("**redacted**"));
    for (_, _, _, _, private, aes) in TRADITIONAL_KEYS.iter().chain(&YUBICO_FORMAT_KEYS) {
        assert!(!shown.contains(private), "{private}");
        assert!(!shown.contains(aes), "{aes}");
        // Nor any run of the key's bytes as Debug would print an array.
        let bytes = hex(aes);
        assert!(!shown.contains(&format!("{}, {}, {}", bytes[0], bytes[1], bytes[2])));
    }
    let text = traditional_with(3, "28 86 6f 99 25 cf", "28 86 6f 99 25 c");
    let error = parse_personalization_log(&text).unwrap_err();
    for shown in [error.to_string(), format!("{error:?}")] {
        assert!(!shown.contains("28 86"), "{shown}");
        assert!(!shown.contains("29 06 cb"), "{shown}");
    }
}

#[test]
fn size_limits_are_enforced() {
    let too_many = "\n".repeat(PersonalizationLog::MAX_LINES) + TRADITIONAL;
    assert!(matches!(
        parse_personalization_log(&too_many),
        Err(PersonalizationLogError::TooLarge { unit: "lines", .. })
    ));
    let mut too_big = TRADITIONAL.to_owned();
    while too_big.len() <= PersonalizationLog::MAX_BYTES {
        too_big.push_str(&" ".repeat(1 << 20));
    }
    assert!(matches!(
        parse_personalization_log(&too_big),
        Err(PersonalizationLogError::TooLarge { unit: "bytes", .. })
    ));
}

fn modhex_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &str = "cbdefghijklnrtuv";
    let value = |c: u8| ALPHABET.bytes().position(|m| m == c).unwrap() as u8;
    text.as_bytes()
        .chunks(2)
        .map(|pair| (value(pair[0]) << 4) | value(pair[1]))
        .collect()
}
