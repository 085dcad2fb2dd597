//! Property tests of the YubiKey Personalization Tool log reader: any key written as a
//! traditional line (behind a timestamp that may hold commas) or as a Yubico-format row reads
//! back as the same key; a log of many lines keeps their order and numbers; a public id given
//! twice and a short private id are refused at their line; any text is read without a panic.

#![cfg(feature = "yubico")]
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;

use idforge_otp::{
    PersonalizationLogError, PersonalizationLogField, PersonalizationLogLineError, YubicoKey,
    parse_personalization_log,
};
use proptest::prelude::*;

/// A key's fields and how the tool may have written them.
#[derive(Debug, Clone)]
struct Written {
    public: Vec<u8>,
    private: [u8; 6],
    aes: [u8; 16],
    slot: u8,
    serial: Option<u32>,
    timestamp: String,
    /// Byte pairs separated by spaces, as the tool shows them.
    spaced: bool,
    /// Upper-case hex and modhex.
    upper: bool,
    access_code: Option<[u8; 6]>,
}

fn written() -> impl Strategy<Value = Written> {
    (
        prop::collection::vec(any::<u8>(), 0..=YubicoKey::MAX_PUBLIC_ID_LEN),
        any::<[u8; 6]>(),
        any::<[u8; 16]>(),
        1u8..=2,
        any::<Option<u32>>(),
        // A local time in some locale: commas, spaces, letters, and between commas often a
        // bare 1 or 2 that reads as a slot.
        "([A-Za-z0-9 :/.éû-]{0,6},|[12],){0,5}[A-Za-z0-9 :/.éû-]{0,12}",
        any::<bool>(),
        any::<bool>(),
        any::<Option<[u8; 6]>>(),
    )
        .prop_map(
            |(public, private, aes, slot, serial, timestamp, spaced, upper, access_code)| Written {
                public,
                private,
                aes,
                slot,
                serial,
                timestamp,
                spaced,
                upper,
                access_code,
            },
        )
}

impl Written {
    fn text(&self, bytes: &[u8], alphabet: &[u8; 16]) -> String {
        let pairs: Vec<String> = bytes
            .iter()
            .map(|b| {
                let pair = [alphabet[usize::from(b >> 4)], alphabet[usize::from(b & 15)]];
                let pair = String::from_utf8(pair.to_vec()).unwrap();
                if self.upper {
                    pair.to_uppercase()
                } else {
                    pair
                }
            })
            .collect();
        pairs.join(if self.spaced { " " } else { "" })
    }

    fn modhex(&self, bytes: &[u8]) -> String {
        self.text(bytes, b"cbdefghijklnrtuv")
    }

    fn hex(&self, bytes: &[u8]) -> String {
        self.text(bytes, b"0123456789abcdef")
    }

    fn access_code(&self) -> String {
        self.access_code.map(|c| self.hex(&c)).unwrap_or_default()
    }

    /// The line of the traditional format.
    fn traditional(&self) -> String {
        self.traditional_with_private_id(&self.hex(&self.private))
    }

    /// The line of the traditional format with this text as the private id.
    fn traditional_with_private_id(&self, private: &str) -> String {
        format!(
            "Yubico OTP,{},{},{},{private},{},,{},,,,0,0,0,0,0,0,0",
            self.timestamp,
            self.slot,
            self.modhex(&self.public),
            self.hex(&self.aes),
            self.access_code(),
        )
    }

    /// The row of the Yubico format.
    fn yubico_format(&self) -> String {
        let serial = self.serial.map(|s| s.to_string()).unwrap_or_default();
        format!(
            "{serial},{},{},{},{},2026-12-03T14:10:00,",
            self.modhex(&self.public),
            self.hex(&self.private),
            self.hex(&self.aes),
            self.access_code(),
        )
    }

    fn is(&self, key: &YubicoKey) -> bool {
        key.public_id() == self.public
            && key.expose_private_id() == &self.private
            && key.expose_aes_key() == &self.aes
    }
}

/// A line of a generated log.
#[derive(Debug, Clone)]
enum Line {
    Traditional(Written),
    YubicoFormat(Written),
    Oath,
    Static,
    ChallengeResponseRow,
    LoggingStart,
    Comment,
    Blank,
}

fn line() -> impl Strategy<Value = Line> {
    prop_oneof![
        3 => written().prop_map(Line::Traditional),
        3 => written().prop_map(Line::YubicoFormat),
        1 => Just(Line::Oath),
        1 => Just(Line::Static),
        1 => Just(Line::ChallengeResponseRow),
        1 => Just(Line::LoggingStart),
        1 => Just(Line::Comment),
        1 => Just(Line::Blank),
    ]
}

impl Line {
    fn text(&self) -> String {
        match self {
            Self::Traditional(w) => w.traditional(),
            Self::YubicoFormat(w) => w.yubico_format(),
            Self::Oath => "OATH-HOTP,Dec 3, 2026 2:07 PM,2,,,31 32 33 34 35 36 37 38 39 30 31 32 \
                           33 34 35 36 37 38 39 30,,,ub,hd,ubhdubhdubhd,6,0,0,0,0,0,0"
                .to_owned(),
            Self::Static => {
                "Static Password: Short,Dec 3, 2026 2:08 PM,1,,,,,,,,,0,0,0,0,0,0,0".to_owned()
            }
            Self::ChallengeResponseRow => {
                "12,,0,3132333435363738393031323334353637383930,,2026-12-03T14:09:00,".to_owned()
            }
            Self::LoggingStart => "LOGGING START,Dec 3, 2026 2:05 PM".to_owned(),
            Self::Comment => "# programmed for the front desk".to_owned(),
            Self::Blank => String::new(),
        }
    }
}

proptest! {
    #[test]
    fn a_traditional_line_reads_back(w in written(), crlf in any::<bool>()) {
        let end = if crlf { "\r\n" } else { "\n" };
        let text = format!("LOGGING START,{}{end}{}{end}", w.timestamp, w.traditional());
        let log = parse_personalization_log(&text).unwrap();
        prop_assert!(log.skipped.is_empty());
        prop_assert_eq!(log.keys.len(), 1);
        let key = &log.keys[0];
        prop_assert_eq!((key.line, key.serial, key.slot), (2, None, Some(w.slot)));
        prop_assert!(w.is(&key.key), "{:?}", key);
    }

    #[test]
    fn a_yubico_format_row_reads_back(w in written()) {
        let log = parse_personalization_log(&w.yubico_format()).unwrap();
        prop_assert!(log.skipped.is_empty());
        prop_assert_eq!(log.keys.len(), 1);
        let key = &log.keys[0];
        prop_assert_eq!((key.line, key.serial, key.slot), (1, w.serial, None));
        prop_assert!(w.is(&key.key), "{:?}", key);
    }

    #[test]
    fn a_log_of_many_lines_keeps_their_order(
        lines in prop::collection::vec(line(), 0..40),
        crlf in any::<bool>(),
    ) {
        // Distinct public ids (a repeated one is refused, tested below).
        let mut seen = HashSet::new();
        let lines: Vec<Line> = lines
            .into_iter()
            .filter(|l| match l {
                Line::Traditional(w) | Line::YubicoFormat(w) => seen.insert(w.public.clone()),
                _ => true,
            })
            .collect();
        let end = if crlf { "\r\n" } else { "\n" };
        let text: String = lines.iter().map(|l| l.text() + end).collect();
        let log = parse_personalization_log(&text).unwrap();
        let mut keys = log.keys.iter();
        let mut skipped = log.skipped.iter();
        for (index, line) in lines.iter().enumerate() {
            let number = index + 1;
            match line {
                Line::Traditional(w) | Line::YubicoFormat(w) => {
                    let key = keys.next().unwrap();
                    prop_assert_eq!(key.line, number);
                    prop_assert!(w.is(&key.key), "line {}", number);
                    if matches!(line, Line::Traditional(_)) {
                        prop_assert_eq!((key.serial, key.slot), (None, Some(w.slot)));
                    } else {
                        prop_assert_eq!((key.serial, key.slot), (w.serial, None));
                    }
                }
                Line::Oath | Line::Static | Line::ChallengeResponseRow => {
                    prop_assert_eq!(skipped.next().unwrap().line, number);
                }
                Line::LoggingStart | Line::Comment | Line::Blank => {}
            }
        }
        prop_assert!(keys.next().is_none());
        prop_assert!(skipped.next().is_none());
    }

    #[test]
    fn a_public_id_given_twice_is_refused_at_the_second(
        first in written(),
        second in written(),
        between in 0usize..5,
    ) {
        let second = Written { public: first.public.clone(), ..second };
        let mut text = first.traditional() + "\n";
        text += &"\n".repeat(between);
        text += &second.yubico_format();
        prop_assert_eq!(
            parse_personalization_log(&text).unwrap_err(),
            PersonalizationLogError::DuplicatePublicId {
                line: between + 2,
                first_line: 1,
                public_id: YubicoKey::new(&first.public, [0; 6], [0; 16]).unwrap().public_id_modhex(),
            }
        );
    }

    #[test]
    fn a_private_id_one_digit_short_is_refused_at_its_line(w in written(), before in 0usize..5) {
        let private = w.hex(&w.private);
        let line = w.traditional_with_private_id(&private[..private.len() - 1]);
        let text = "LOGGING START,today\n".repeat(before) + &line;
        prop_assert_eq!(
            parse_personalization_log(&text).unwrap_err(),
            PersonalizationLogError::Line {
                line: before + 1,
                reason: PersonalizationLogLineError::Field {
                    field: PersonalizationLogField::PrivateId,
                    expected: "12 hex digits",
                },
            }
        );
    }

    #[test]
    fn any_text_is_read_without_a_panic(text in "(?s).{0,400}") {
        check_invariants(&text);
    }

    #[test]
    fn any_mix_of_log_fragments_is_read_without_a_panic(
        fragments in prop::collection::vec(
            prop_oneof![
                Just("Yubico OTP".to_owned()),
                Just("OATH-HOTP".to_owned()),
                Just("LOGGING START".to_owned()),
                Just("Challenge-Response: HMAC-SHA1".to_owned()),
                Just(",".to_owned()),
                Just(",,".to_owned()),
                Just("\n".to_owned()),
                Just("\r\n".to_owned()),
                Just("\r".to_owned()),
                Just("#".to_owned()),
                Just("\u{feff}".to_owned()),
                Just(" ".to_owned()),
                Just("1".to_owned()),
                Just("2".to_owned()),
                "[0-9]{1,11}",
                "[cbdefghijklnrtuv ]{0,34}",
                "[0-9a-fA-F ]{10,14}",
                "[0-9a-fA-F ]{30,34}",
                "[0-9a-f]{12}",
                "[0-9a-f]{32}",
                ".{0,4}",
            ],
            0..60,
        )
    ) {
        check_invariants(&fragments.concat());
    }
}

/// Whatever the text, the reader returns; a result it accepts is consistent.
fn check_invariants(text: &str) {
    let Ok(log) = parse_personalization_log(text) else {
        return;
    };
    let lines = text.lines().count();
    let mut public_ids = HashSet::new();
    let mut previous = 0;
    for key in &log.keys {
        assert!(key.line > previous && key.line <= lines, "{text:?}");
        previous = key.line;
        assert!(public_ids.insert(key.key.public_id().to_vec()), "{text:?}");
        assert!(key.slot.is_none_or(|s| s == 1 || s == 2));
        assert!(key.serial.is_none() || key.slot.is_none());
    }
    let mut previous = 0;
    for skipped in &log.skipped {
        assert!(skipped.line > previous && skipped.line <= lines, "{text:?}");
        previous = skipped.line;
        assert!(log.keys.iter().all(|k| k.line != skipped.line));
    }
}
