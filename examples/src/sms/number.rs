//! Phone numbers: what an operator or a user types, brought to E.164 (`+` and 8 to 15
//! digits), and the masked form pages show ("a code was sent to +49 ••• ••67").

use super::SmsError;

/// Fewest digits of a number we send to, country code included.
pub const MIN_DIGITS: usize = 8;
/// Most digits of an E.164 number, country code included.
pub const MAX_DIGITS: usize = 15;

/// Brings `input` to E.164: a leading `+`, then the digits with every space, dash, dot and
/// parenthesis left out (`"+49 (30) 123-4567"` -> `"+49301234567"`).
///
/// Refused: no leading `+`, any other character, fewer than [`MIN_DIGITS`] or more than
/// [`MAX_DIGITS`] digits, and a country code starting with 0 (none does).
pub fn normalize_phone(input: &str) -> Result<String, SmsError> {
    let invalid = |reason: &'static str| Err(SmsError::InvalidNumber { reason });
    let Some(rest) = input.trim_matches(' ').strip_prefix('+') else {
        return invalid("must start with + and the country code");
    };
    let mut out = String::with_capacity(MAX_DIGITS + 1);
    out.push('+');
    for c in rest.chars() {
        match c {
            '0'..='9' => out.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return invalid("may hold only digits, spaces, dashes, dots and parentheses"),
        }
    }
    let digits = out.len() - 1;
    if digits < MIN_DIGITS {
        return invalid("has fewer than 8 digits");
    }
    if digits > MAX_DIGITS {
        return invalid("has more than 15 digits");
    }
    if out.as_bytes()[1] == b'0' {
        return invalid("no country code starts with 0");
    }
    Ok(out)
}

/// How many digits the country code of an E.164 number has (ITU-T E.164 assignments: 1 and 7
/// stand alone, a fixed list of two-digit codes, every other code has three digits).
fn country_code_len(digits: &str) -> usize {
    const TWO_DIGIT: &[&str] = &[
        "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46",
        "47", "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63",
        "64", "65", "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98",
    ];
    if digits.starts_with(['1', '7']) {
        1
    } else if digits.get(..2).is_some_and(|cc| TWO_DIGIT.contains(&cc)) {
        2
    } else {
        3
    }
}

/// A number as pages may show it: the country code and the last two digits, the rest hidden
/// behind a fixed mask that does not tell the length (`+49 ••• ••67`). Anything that is not a
/// number [`normalize_phone`] accepts shows as `•••`.
pub fn mask_phone(number: &str) -> String {
    let Ok(e164) = normalize_phone(number) else {
        return "•••".to_owned();
    };
    let digits = &e164[1..];
    let cc = &digits[..country_code_len(digits)];
    let last = &digits[digits.len() - 2..];
    format!("+{cc} ••• ••{last}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn separators_are_dropped() {
        for (input, want) in [
            ("+49 30 1234567", "+49301234567"),
            ("+1 (415) 555-0100", "+14155550100"),
            ("+44.20.7946.0958", "+442079460958"),
            ("  +33 6 12 34 56 78 ", "+33612345678"),
            ("+49 301 234 567 890 1", "+493012345678901"),
        ] {
            assert_eq!(normalize_phone(input).unwrap(), want, "{input}");
        }
    }

    #[test]
    fn anything_else_is_refused() {
        for input in [
            "",
            "+",
            "0049 30 1234567",
            "49301234567",
            "+49 30 123",
            "+1234567",
            "+1234567890123456",
            "+49 30 1234567 ext 2",
            "+49/30/1234567",
            "++49301234567",
            "+49301234567\n",
            "+49\r\n301234567",
            "+04 30 1234567",
            "+４９301234567",
            "tel:+49301234567",
        ] {
            let e = normalize_phone(input);
            assert!(
                matches!(e, Err(SmsError::InvalidNumber { .. })),
                "{input:?}: {e:?}"
            );
        }
    }

    #[test]
    fn boundaries_of_the_length() {
        assert!(normalize_phone("+12345678").is_ok());
        assert!(normalize_phone("+123456789012345").is_ok());
    }

    #[test]
    fn masks_keep_the_country_code_and_two_digits() {
        assert_eq!(mask_phone("+49 30 1234567"), "+49 ••• ••67");
        assert_eq!(mask_phone("+1 415 555 0100"), "+1 ••• ••00");
        assert_eq!(mask_phone("+7 912 345 6789"), "+7 ••• ••89");
        assert_eq!(mask_phone("+353 1 234 5678"), "+353 ••• ••78");
        assert_eq!(mask_phone("+44 20 7946 0958"), "+44 ••• ••58");
        assert_eq!(mask_phone("not a number 123456789"), "•••");
        assert_eq!(mask_phone("0049301234567"), "•••");
    }

    proptest! {
        #[test]
        fn a_mask_shows_the_country_code_and_the_last_two_digits_only(
            digits in "[1-9][0-9]{7,14}",
            separators in proptest::collection::vec(prop::sample::select(vec!["", " ", "-", ".", "(", ")"]), 16),
        ) {
            let mut input = String::from("+");
            for (d, s) in digits.chars().zip(separators.iter()) {
                input.push(d);
                input.push_str(s);
            }
            let masked = mask_phone(&input);
            let shown: String = masked.chars().filter(char::is_ascii_digit).collect();
            let cc_len = country_code_len(&digits);
            prop_assert!(cc_len <= 3);
            let mut expected = digits[..cc_len].to_owned();
            expected.push_str(&digits[digits.len() - 2..]);
            prop_assert_eq!(&shown, &expected, "{} -> {}", input, masked);
            // The same shape whatever the length: the mask tells nothing more.
            prop_assert_eq!(masked.chars().count(), 1 + cc_len + 7 + 2);
        }

        #[test]
        fn a_mask_of_anything_shows_at_most_five_digits(input in ".{0,40}") {
            let masked = mask_phone(&input);
            prop_assert!(masked.chars().filter(char::is_ascii_digit).count() <= 5);
        }

        #[test]
        fn normalised_numbers_are_e164(input in "\\+[0-9 .()-]{0,24}") {
            if let Ok(n) = normalize_phone(&input) {
                prop_assert!(n.starts_with('+'));
                let digits = &n[1..];
                prop_assert!(digits.bytes().all(|b| b.is_ascii_digit()));
                prop_assert!((MIN_DIGITS..=MAX_DIGITS).contains(&digits.len()));
                prop_assert_eq!(normalize_phone(&n).unwrap(), n.clone());
            }
        }
    }
}
