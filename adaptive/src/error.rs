//! The one error type of this crate: what is wrong with a configuration, and where.

/// A configuration that cannot be used, naming the section and field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A network list has an empty name.
    #[error("networks #{index}: field `name` is empty")]
    EmptyName {
        /// Position of the list, from 0.
        index: usize,
    },
    /// Two network lists have the same name.
    #[error("networks: list `{name}` is declared more than once")]
    DuplicateName {
        /// The repeated name.
        name: String,
    },
    /// A range is not a CIDR range.
    #[error("networks `{list}`: range #{index} `{value}` is not a CIDR range")]
    InvalidRange {
        /// The list.
        list: String,
        /// Position in `ranges`, from 0.
        index: usize,
        /// The text that did not parse.
        value: String,
    },
    /// A country is not a two-letter code.
    #[error("countries.blocked #{index}: `{value}` is not a two-letter country code")]
    InvalidCountry {
        /// Position in the list, from 0.
        index: usize,
        /// The text.
        value: String,
    },
    /// A time is not `HH:MM` (`24:00` only as an end).
    #[error("time_of_day.windows #{window}: field `{field}` `{value}` is not a time HH:MM")]
    InvalidTime {
        /// Position of the window, from 0.
        window: usize,
        /// `start` or `end`.
        field: &'static str,
        /// The text.
        value: String,
    },
    /// A window is empty: no days, or start equal to end.
    #[error("time_of_day.windows #{window}: {problem}")]
    EmptyWindow {
        /// Position of the window, from 0.
        window: usize,
        /// What makes it empty.
        problem: &'static str,
    },
    /// A numeric setting is out of range or a required list is empty.
    #[error("{section}: field `{field}` {problem}")]
    OutOfRange {
        /// The section, such as `device_limit`.
        section: &'static str,
        /// The field.
        field: &'static str,
        /// What is wrong.
        problem: &'static str,
    },
}
