//! Import of Yubico OTP keys from the log that Yubico's YubiKey Personalization Tool writes
//! while it programs YubiKeys (feature `yubico`): [`parse_personalization_log`], whose
//! documentation describes the two formats of the log.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use core::cmp::Reverse;
use core::fmt;

use thiserror::Error;
use zeroize::Zeroizing;

use crate::yubico::is_modhex_char;
use crate::{YubicoError, YubicoKey};

/// The Yubico OTP keys read from a YubiKey Personalization Tool log, in the order of the
/// file, and the configurations that were not imported.
#[derive(Debug, Clone, Default)]
pub struct PersonalizationLog {
    /// The keys, one per `Yubico OTP` line (traditional format) or Yubico OTP row (Yubico
    /// format); no two share a public id.
    pub keys: Vec<ProvisionedKey>,
    /// The configurations that are not Yubico OTP keys (OATH-HOTP, static password,
    /// challenge-response, a slot update or swap), each with the reason.
    pub skipped: Vec<SkippedLine>,
}

impl PersonalizationLog {
    /// The largest log read, in bytes (16 MiB): a log line is under 300 bytes, so this is
    /// room for tens of thousands of keys and bounds the work of one call.
    pub const MAX_BYTES: usize = 16 * 1024 * 1024;
    /// The most lines read, blank and comment lines included.
    pub const MAX_LINES: usize = 100_000;
}

/// A Yubico OTP key programmed into a YubiKey, as its log line gives it.
///
/// `Debug` shows the public id only: [`YubicoKey`] redacts the private id and the AES key.
#[derive(Debug, Clone)]
pub struct ProvisionedKey {
    /// The line of the log it was read from, from 1.
    pub line: usize,
    /// The YubiKey's serial number: given by the Yubico format when the tool could read it,
    /// never by the traditional format.
    pub serial: Option<u32>,
    /// The configuration slot programmed, 1 or 2: given by the traditional format only. A
    /// later `Configuration Swap` of the same YubiKey (listed in
    /// [`PersonalizationLog::skipped`]) moves the key to the other slot.
    pub slot: Option<u8>,
    /// The public id, private id and AES key.
    pub key: YubicoKey,
}

/// A configuration of the log that is not a Yubico OTP key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedLine {
    /// Its line, from 1.
    pub line: usize,
    /// Why it was not imported, e.g. `OATH-HOTP configuration, not Yubico OTP`. It quotes at
    /// most the line's event column, never an id or key column.
    pub reason: String,
}

/// Why a YubiKey Personalization Tool log was refused. Nothing is imported from a refused
/// log: fix the line named and read the whole file again.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PersonalizationLogError {
    /// A line that should hold a key but does not read.
    #[error("line {line}: {reason}")]
    Line {
        /// The line, from 1.
        line: usize,
        /// What is wrong with it.
        reason: PersonalizationLogLineError,
    },
    /// Two keys with the same public id: a server finds a key by its public id, so only one
    /// of them could ever be used. Typically the same YubiKey programmed twice; remove the
    /// line of the configuration that was replaced.
    #[error("line {line}: the public id {public_id:?} was already given by line {first_line}")]
    DuplicatePublicId {
        /// The line of the second key.
        line: usize,
        /// The line of the first.
        first_line: usize,
        /// The public id, in modhex.
        public_id: String,
    },
    /// The log is longer than [`PersonalizationLog::MAX_BYTES`] bytes or has more than
    /// [`PersonalizationLog::MAX_LINES`] lines.
    #[error("the log is too large: more than {max} {unit}")]
    TooLarge {
        /// The limit that was passed.
        max: usize,
        /// `bytes` or `lines`.
        unit: &'static str,
    },
}

/// What is wrong with a line of a YubiKey Personalization Tool log.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PersonalizationLogLineError {
    /// A column of a Yubico OTP line is not what it should be (or is missing).
    #[error("the {field} is not {expected}")]
    Field {
        /// Which column.
        field: PersonalizationLogField,
        /// What it should be, e.g. `12 hex digits`.
        expected: &'static str,
    },
    /// A `Yubico OTP` line of the traditional format with no slot column (`1` or `2`) after
    /// the timestamp.
    #[error("a Yubico OTP line without a slot column (1 or 2) after the timestamp")]
    NoSlot,
    /// A line in neither format: not a known event of the traditional format, nor a row of
    /// the Yubico format.
    #[error("not a line of a YubiKey Personalization Tool log")]
    Unrecognized,
}

/// A column of a Yubico OTP line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PersonalizationLogField {
    /// The serial number (Yubico format).
    Serial,
    /// The public id, modhex.
    PublicId,
    /// The private id, hex.
    PrivateId,
    /// The AES key, hex.
    AesKey,
}

impl fmt::Display for PersonalizationLogField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Serial => "serial number",
            Self::PublicId => "public id",
            Self::PrivateId => "private id",
            Self::AesKey => "AES key",
        })
    }
}

/// Reads the log of Yubico's YubiKey Personalization Tool into the Yubico OTP keys it
/// records, so that a server can import the YubiKeys an administrator programmed.
///
/// The tool appends one CSV line per programmed slot to a log file, in the layout chosen in its
/// settings. These two are read:
///
/// - **Traditional format** (the default). `LOGGING START,<local time>` when logging starts,
///   then for each configuration one line of the columns
///
///   ```text
///   event, local time, slot, public id, private id, secret key, current access code,
///   new access code, OATH fixed modhex 1, OATH fixed modhex 2, OATH fixed modhex,
///   HOTP digits, OATH moving factor seed, strong password 1, strong password 2,
///   send reference, challenge button trigger, HMAC shorter than 64 bytes
///   ```
///
///   The event is `Yubico OTP` for the keys imported here; the others are `OATH-HOTP`,
///   `Static Password` (with `: Short` or `: Scan Code`), `Challenge-Response: …`,
///   `Configuration Update` and `Configuration Swap`. The local time is written in the user's
///   locale and may hold commas (`Dec 3, 2026 2:10 PM`), so the columns after it are not
///   found by position: the key is the first run of four columns, after the event and the
///   start of the time, that reads as a slot (`1` or `2`), a modhex public id (0 to 16 bytes,
///   possibly empty), a private id of 12 hex digits and an AES key of 32. Spaces inside these
///   columns are ignored: the tool shows ids and keys as byte pairs (`vv cc cc cc cc cc`).
/// - **Yubico format**: `serial,public id,private id,secret key,new access code,timestamp,`
///   with the serial in decimal (empty when the tool could not read it) and the timestamp as
///   `2026-12-03T14:10:00`. A row does not name its mode: it is a Yubico OTP key when its
///   private id column holds 12 hex digits and its key column 32 (an OATH-HOTP row has the
///   moving factor seed and a 40-digit key there, a static password row empty columns).
///
/// Hex and modhex are read in either case. Lines end in LF or CRLF; blank lines, lines
/// starting with `#`, `LOGGING START` lines and a UTF-8 byte order mark at the start are
/// ignored. The two formats may be mixed in one file.
///
/// # What is skipped, what is refused
///
/// A configuration that is not a Yubico OTP key (another mode, a slot update or swap) is
/// listed in [`PersonalizationLog::skipped`] with the reason. Anything that would lose a key
/// without a word refuses the whole log with an error that names the line and, where there is
/// one, the column ([`PersonalizationLogError`]):
///
/// - a `Yubico OTP` line, or a Yubico-format row with a 12-digit private id and a 32-digit
///   key, whose other columns do not read (a public id of odd length, a serial that is not a
///   number), or whose slot is missing;
/// - a public id given twice (the same YubiKey programmed twice: keep the later line);
/// - a line in neither format, e.g. an event the tool did not write, a row with a column too
///   many or too few, or a file that is not such a log at all.
///
/// Error messages and `Debug` output never show a private id or an AES key. The log may be
/// at most [`PersonalizationLog::MAX_BYTES`] bytes and [`PersonalizationLog::MAX_LINES`]
/// lines.
///
/// ```
/// use idforge_otp::{YubicoOtp, parse_personalization_log};
///
/// let log = "LOGGING START,Dec 3, 2026 2:05 PM\r\n\
///     Yubico OTP,Dec 3, 2026 2:10 PM,1,dt ef fu je,87 92 eb fe 26 cc,\
///     ec de 18 db e7 6f bd 0c 33 33 0f 1c 35 48 71 db,,,,,,0,0,0,0,0,0,0\r\n\
///     OATH-HOTP,Dec 3, 2026 2:11 PM,2,,,\
///     3132333435363738393031323334353637383930,,,,,,6,0,0,0,0,0,0\r\n";
/// let imported = parse_personalization_log(log)?;
/// assert_eq!(imported.skipped.len(), 1); // the OATH-HOTP line
/// let provisioned = &imported.keys[0];
/// assert_eq!((provisioned.line, provisioned.slot), (2, Some(1)));
/// assert_eq!(provisioned.key.public_id_modhex(), "dteffuje"); // store the key under this
///
/// let otp = YubicoOtp::parse("dteffujehknhfjbrjnlnldnhcujvddbikngjrtgh").unwrap();
/// assert!(provisioned.key.verify(&otp, None).is_ok());
/// # Ok::<(), idforge_otp::PersonalizationLogError>(())
/// ```
pub fn parse_personalization_log(
    text: &str,
) -> Result<PersonalizationLog, PersonalizationLogError> {
    if text.len() > PersonalizationLog::MAX_BYTES {
        return Err(PersonalizationLogError::TooLarge {
            max: PersonalizationLog::MAX_BYTES,
            unit: "bytes",
        });
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut log = PersonalizationLog::default();
    let mut first_lines: HashMap<Vec<u8>, usize> = HashMap::new();
    for (index, content) in text.lines().enumerate() {
        let line = index + 1;
        if line > PersonalizationLog::MAX_LINES {
            return Err(PersonalizationLogError::TooLarge {
                max: PersonalizationLog::MAX_LINES,
                unit: "lines",
            });
        }
        let read =
            read_line(content).map_err(|reason| PersonalizationLogError::Line { line, reason })?;
        match read {
            LineContent::Nothing => {}
            LineContent::Other(reason) => log.skipped.push(SkippedLine { line, reason }),
            LineContent::Key { serial, slot, key } => {
                match first_lines.entry(key.public_id().to_vec()) {
                    Entry::Occupied(first) => {
                        return Err(PersonalizationLogError::DuplicatePublicId {
                            line,
                            first_line: *first.get(),
                            public_id: key.public_id_modhex(),
                        });
                    }
                    Entry::Vacant(vacant) => {
                        vacant.insert(line);
                    }
                }
                log.keys.push(ProvisionedKey {
                    line,
                    serial,
                    slot,
                    key,
                });
            }
        }
    }
    Ok(log)
}

/// What one line of the log holds.
#[allow(
    clippy::large_enum_variant,
    reason = "one value a line, moved once into the result; boxing would cost an allocation a key"
)]
enum LineContent {
    /// A blank line, a comment or `LOGGING START`.
    Nothing,
    /// A configuration other than a Yubico OTP key, and why it is not imported.
    Other(String),
    /// A Yubico OTP key.
    Key {
        serial: Option<u32>,
        slot: Option<u8>,
        key: YubicoKey,
    },
}

fn read_line(content: &str) -> Result<LineContent, PersonalizationLogLineError> {
    let trimmed = content.trim_start();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return Ok(LineContent::Nothing);
    }
    let columns: Vec<&str> = content.split(',').collect();
    let event = columns[0].trim();
    if event == "LOGGING START" {
        return Ok(LineContent::Nothing);
    }
    if event == "Yubico OTP" {
        let (slot, key) = traditional_key(&columns)?;
        return Ok(LineContent::Key {
            serial: None,
            slot: Some(slot),
            key,
        });
    }
    if let Some(reason) = other_event(event) {
        return Ok(LineContent::Other(reason));
    }
    if is_yubico_format_row(&columns) {
        return yubico_format_row(&columns);
    }
    Err(PersonalizationLogLineError::Unrecognized)
}

/// Why a traditional-format event other than `Yubico OTP` is not imported, or `None` for a
/// text that is not such an event.
fn other_event(event: &str) -> Option<String> {
    if event == "OATH-HOTP" || event == "Static Password" || event.starts_with("Static Password:") {
        Some(format!("{event} configuration, not Yubico OTP"))
    } else if event.starts_with("Challenge-Response") {
        Some(format!(
            "challenge-response configuration ({event}), not Yubico OTP"
        ))
    } else if event == "Configuration Update" {
        Some("Configuration Update: settings of a slot changed, no new key".to_owned())
    } else if event == "Configuration Swap" {
        Some("Configuration Swap: the two slots exchanged, no new key".to_owned())
    } else {
        None
    }
}

/// The slot and key of a traditional `Yubico OTP` line: after the event and the timestamp
/// (which may hold commas), the first four columns that read as a slot, a public id, a private
/// id and an AES key.
fn traditional_key(columns: &[&str]) -> Result<(u8, YubicoKey), PersonalizationLogLineError> {
    // Column 0 is the event and column 1 at least starts the timestamp.
    let found = columns.windows(4).skip(2).find(|four| {
        slot_number(four[0]).is_some()
            && is_public_id(four[1])
            && is_hex(four[2], YubicoKey::PRIVATE_ID_LEN)
            && is_hex(four[3], YubicoKey::AES_KEY_LEN)
    });
    if let Some(four) = found {
        let slot = slot_number(four[0]).unwrap_or_default();
        return Ok((slot, key_from_columns(four[1], four[2], four[3])?));
    }
    // Say which column is wrong. The timestamp may hold a bare 1 or 2 between commas, so of
    // the columns that read as a slot, take the one followed by the most columns that read
    // (public id, then private id), the first of those on a tie.
    let score = |index: usize| {
        let good = |offset: usize, check: &dyn Fn(&str) -> bool| {
            columns.get(index + offset).is_some_and(|c| check(c))
        };
        if !good(1, &is_public_id) {
            0
        } else if !good(2, &|c| is_hex(c, YubicoKey::PRIVATE_ID_LEN)) {
            1
        } else {
            2
        }
    };
    let start = (2..columns.len())
        .filter(|&index| slot_number(columns[index]).is_some())
        .max_by_key(|&index| (score(index), Reverse(index)))
        .ok_or(PersonalizationLogLineError::NoSlot)?;
    let column = |offset: usize| columns.get(start + offset).copied();
    Err(
        match key_from_optional_columns(column(1), column(2), column(3)) {
            Err(error) => error,
            // Unreachable: the search above would have found these columns.
            Ok(_) => PersonalizationLogLineError::Unrecognized,
        },
    )
}

/// Whether `columns` has the shape of a Yubico-format row: six columns (seven with the empty
/// one after the trailing comma), the first a decimal serial number or empty.
fn is_yubico_format_row(columns: &[&str]) -> bool {
    let shape = match columns.len() {
        6 => true,
        7 => columns[6].trim().is_empty(),
        _ => false,
    };
    shape && columns[0].trim().bytes().all(|b| b.is_ascii_digit())
}

fn yubico_format_row(columns: &[&str]) -> Result<LineContent, PersonalizationLogLineError> {
    let (public, private, aes) = (columns[1], columns[2], columns[3]);
    if !is_hex(private, YubicoKey::PRIVATE_ID_LEN) {
        return Ok(LineContent::Other(
            "the private id column is not 12 hex digits: not a Yubico OTP configuration".to_owned(),
        ));
    }
    if !is_hex(aes, YubicoKey::AES_KEY_LEN) {
        return Ok(LineContent::Other(
            "the key column is not 32 hex digits: not a Yubico OTP configuration".to_owned(),
        ));
    }
    let serial = columns[0].trim();
    let serial = if serial.is_empty() {
        None
    } else {
        Some(
            serial
                .parse::<u32>()
                .map_err(|_| PersonalizationLogLineError::Field {
                    field: PersonalizationLogField::Serial,
                    expected: "a decimal number up to 4294967295",
                })?,
        )
    };
    Ok(LineContent::Key {
        serial,
        slot: None,
        key: key_from_columns(public, private, aes)?,
    })
}

/// A slot column: `1` or `2`.
fn slot_number(column: &str) -> Option<u8> {
    match column.trim() {
        "1" => Some(1),
        "2" => Some(2),
        _ => None,
    }
}

/// The characters of a column other than the spaces the tool puts between byte pairs.
fn without_spaces(column: &str) -> impl Iterator<Item = char> + '_ {
    column.chars().filter(|c| !matches!(c, ' ' | '\t'))
}

/// Whether a column is modhex of 0 to 16 bytes (spaces aside).
fn is_public_id(column: &str) -> bool {
    let mut count = 0;
    for c in without_spaces(column) {
        count += 1;
        if count > 2 * YubicoKey::MAX_PUBLIC_ID_LEN || !is_modhex_char(c) {
            return false;
        }
    }
    count % 2 == 0
}

/// Whether a column is hex of exactly `bytes` bytes (spaces aside).
fn is_hex(column: &str, bytes: usize) -> bool {
    let mut count = 0;
    for c in without_spaces(column) {
        count += 1;
        if count > 2 * bytes || !c.is_ascii_hexdigit() {
            return false;
        }
    }
    count == 2 * bytes
}

fn key_from_columns(
    public: &str,
    private: &str,
    aes: &str,
) -> Result<YubicoKey, PersonalizationLogLineError> {
    key_from_optional_columns(Some(public), Some(private), Some(aes))
}

/// The key of three columns (`None`: the line ends before it), or which one is wrong.
fn key_from_optional_columns(
    public: Option<&str>,
    private: Option<&str>,
    aes: Option<&str>,
) -> Result<YubicoKey, PersonalizationLogLineError> {
    const PUBLIC: &str = "modhex of up to 16 bytes (an even number of up to 32 characters)";
    const PRIVATE: &str = "12 hex digits";
    const AES: &str = "32 hex digits";
    let field = |field, expected| PersonalizationLogLineError::Field { field, expected };
    let public = public
        .filter(|c| is_public_id(c))
        .ok_or(field(PersonalizationLogField::PublicId, PUBLIC))?;
    let private = private
        .filter(|c| is_hex(c, YubicoKey::PRIVATE_ID_LEN))
        .ok_or(field(PersonalizationLogField::PrivateId, PRIVATE))?;
    let aes = aes
        .filter(|c| is_hex(c, YubicoKey::AES_KEY_LEN))
        .ok_or(field(PersonalizationLogField::AesKey, AES))?;
    YubicoKey::from_ksm_fields(&squeeze(public), &squeeze(private), &squeeze(aes)).map_err(
        |error| match error {
            YubicoError::KeyField {
                field: "private id",
                ..
            } => field(PersonalizationLogField::PrivateId, PRIVATE),
            YubicoError::KeyField {
                field: "AES key", ..
            } => field(PersonalizationLogField::AesKey, AES),
            _ => field(PersonalizationLogField::PublicId, PUBLIC),
        },
    )
}

/// A column without its spaces, zeroized on drop (it may be a private id or a key).
fn squeeze(column: &str) -> Zeroizing<String> {
    let mut text = Zeroizing::new(String::with_capacity(column.len()));
    text.extend(without_spaces(column));
    text
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const KEY: &str = "ec de 18 db e7 6f bd 0c 33 33 0f 1c 35 48 71 db";
    const TRAILER: &str = ",,,,,,0,0,0,0,0,0,0";

    fn otp_line(timestamp: &str, slot: &str, public: &str, private: &str, aes: &str) -> String {
        format!("Yubico OTP,{timestamp},{slot},{public},{private},{aes}{TRAILER}")
    }

    fn line_error(text: &str) -> PersonalizationLogLineError {
        match parse_personalization_log(text) {
            Err(PersonalizationLogError::Line { line: 1, reason }) => reason,
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn a_timestamp_with_commas_and_slot_like_text_is_stepped_over() {
        for timestamp in [
            "",
            "Dec 3, 2026 2:10 PM",
            "mercredi, 3 décembre 2026, 14:10",
            "3,12,2026",
            "x, 1, y",
            // A bare slot, an empty column and 12 hex digits, yet no AES key after them.
            "x,2,,202612031410",
        ] {
            let log = parse_personalization_log(&otp_line(
                timestamp,
                "2",
                "vv cc cc cc cc cc",
                "87 92 eb fe 26 cc",
                KEY,
            ))
            .unwrap();
            assert_eq!(log.keys.len(), 1, "{timestamp}");
            assert_eq!(log.keys[0].slot, Some(2), "{timestamp}");
            assert_eq!(log.keys[0].key.public_id_modhex(), "vvcccccccccc");
        }
    }

    #[test]
    fn the_wrong_column_is_named() {
        let cases = [
            (
                "vvcc",
                "8792ebfe26c",
                KEY,
                PersonalizationLogField::PrivateId,
            ),
            (
                "vvcc",
                "8792ebfe26cc",
                "ec de 18",
                PersonalizationLogField::AesKey,
            ),
            (
                "vvc",
                "8792ebfe26cc",
                KEY,
                PersonalizationLogField::PublicId,
            ),
            (
                "vvxx",
                "8792ebfe26cc",
                KEY,
                PersonalizationLogField::PublicId,
            ),
        ];
        for (public, private, aes, field) in cases {
            let text = otp_line("Dec 3, 2026", "1", public, private, aes);
            assert!(
                matches!(line_error(&text), PersonalizationLogLineError::Field { field: f, .. } if f == field),
                "{text}"
            );
        }
        // A bare 1 in the timestamp is not taken for the slot.
        for timestamp in [",1,a", "x, 1, y", "2,1"] {
            let text = otp_line(timestamp, "1", "", "8792ebfe26c", KEY);
            assert!(
                matches!(
                    line_error(&text),
                    PersonalizationLogLineError::Field {
                        field: PersonalizationLogField::PrivateId,
                        ..
                    }
                ),
                "{text}"
            );
        }
        // The line ends after the slot.
        assert!(matches!(
            line_error("Yubico OTP,Dec 3, 2026,1"),
            PersonalizationLogLineError::Field {
                field: PersonalizationLogField::PublicId,
                ..
            }
        ));
        assert_eq!(
            line_error("Yubico OTP,Dec 3, 2026"),
            PersonalizationLogLineError::NoSlot
        );
    }

    #[test]
    fn known_events_are_skipped_with_a_reason() {
        for (event, reason) in [
            ("OATH-HOTP", "OATH-HOTP configuration, not Yubico OTP"),
            (
                "Static Password: Scan Code",
                "Static Password: Scan Code configuration, not Yubico OTP",
            ),
            (
                "Challenge-Response: HMAC-SHA1",
                "challenge-response configuration (Challenge-Response: HMAC-SHA1), not Yubico OTP",
            ),
            (
                "Configuration Swap",
                "Configuration Swap: the two slots exchanged, no new key",
            ),
        ] {
            let log =
                parse_personalization_log(&format!("{event},Dec 3, 2026,1,,,{TRAILER}")).unwrap();
            assert!(log.keys.is_empty());
            assert_eq!(
                log.skipped,
                [SkippedLine {
                    line: 1,
                    reason: reason.to_owned()
                }]
            );
        }
    }

    #[test]
    fn ignored_lines_count_for_the_line_numbers() {
        let text = format!(
            "\u{feff}# comment\n\n  \r\nLOGGING START,today\n{}\n",
            otp_line("today", "1", "", "000000000000", &"0".repeat(32))
        );
        let log = parse_personalization_log(&text).unwrap();
        assert!(log.skipped.is_empty());
        assert_eq!(log.keys[0].line, 5);
        assert!(log.keys[0].key.public_id().is_empty());
    }

    #[test]
    fn yubico_format_rows() {
        let log = parse_personalization_log(
            "4294967295,vvcccccccccb,8792ebfe26cc,ecde18dbe76fbd0c33330f1c354871db,,2026-12-03T14:10:00,\n\
             ,vvcccccccccd,8792EBFE26CC,ECDE18DBE76FBD0C33330F1C354871DB,,2026-12-03T14:10:00\n\
             7,ubububububub,0,3132333435363738393031323334353637383930,,2026-12-03T14:11:00,\n",
        )
        .unwrap();
        assert_eq!(log.keys[0].serial, Some(u32::MAX));
        assert_eq!(log.keys[0].slot, None);
        assert_eq!(log.keys[1].serial, None);
        assert_eq!(
            log.keys[1].key.expose_private_id(),
            log.keys[0].key.expose_private_id()
        );
        assert_eq!(log.skipped.len(), 1);
        assert_eq!(log.skipped[0].line, 3);
        assert!(matches!(
            line_error(
                "4294967296,vvcc,8792ebfe26cc,ecde18dbe76fbd0c33330f1c354871db,,2026-12-03T14:10:00,"
            ),
            PersonalizationLogLineError::Field {
                field: PersonalizationLogField::Serial,
                ..
            }
        ));
        assert!(matches!(
            line_error("1,vvc,8792ebfe26cc,ecde18dbe76fbd0c33330f1c354871db,,2026-12-03T14:10:00,"),
            PersonalizationLogLineError::Field {
                field: PersonalizationLogField::PublicId,
                ..
            }
        ));
    }

    #[test]
    fn other_text_is_refused() {
        for text in [
            "hello",
            "Yubico-OTP,today,1,vvcc,8792ebfe26cc,ecde18dbe76fbd0c33330f1c354871db",
            "x1,vvcc,8792ebfe26cc,ecde18dbe76fbd0c33330f1c354871db,,2026-12-03T14:10:00,",
            "1,vvcc,8792ebfe26cc,ecde18dbe76fbd0c33330f1c354871db,,2026-12-03T14:10:00,extra",
        ] {
            assert_eq!(
                line_error(text),
                PersonalizationLogLineError::Unrecognized,
                "{text}"
            );
        }
    }

    #[test]
    fn limits() {
        assert_eq!(
            parse_personalization_log(&"\n".repeat(PersonalizationLog::MAX_LINES))
                .unwrap()
                .keys
                .len(),
            0
        );
        assert_eq!(
            parse_personalization_log(&"\n".repeat(PersonalizationLog::MAX_LINES + 1)).unwrap_err(),
            PersonalizationLogError::TooLarge {
                max: PersonalizationLog::MAX_LINES,
                unit: "lines"
            }
        );
        assert_eq!(
            parse_personalization_log(&" ".repeat(PersonalizationLog::MAX_BYTES + 1)).unwrap_err(),
            PersonalizationLogError::TooLarge {
                max: PersonalizationLog::MAX_BYTES,
                unit: "bytes"
            }
        );
    }
}
