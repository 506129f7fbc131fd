//! The CBS area hierarchy: buurt ⊂ wijk ⊂ gemeente.

use serde::{Deserialize, Serialize};

/// A level of the CBS area hierarchy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// A buurt (`BU` + 8 digits), or `onbekend`.
    Buurt,
    /// A wijk (`WK` + 6 digits), or `onbekend`.
    Wijk,
    /// A gemeente (`GM` + 4 digits), or `onbekend`.
    Gemeente,
}

impl Level {
    /// Every level, finest first.
    pub const ALL: [Level; 3] = [Level::Buurt, Level::Wijk, Level::Gemeente];

    /// Lower-case name (`buurt`, `wijk`, `gemeente`).
    pub fn name(self) -> &'static str {
        match self {
            Level::Buurt => "buurt",
            Level::Wijk => "wijk",
            Level::Gemeente => "gemeente",
        }
    }

    /// Parses a name as returned by [`Level::name`].
    pub fn from_name(name: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.name() == name)
    }
}
