//! Release configuration, and the checked parameters every release carries.

use knooppunt_core::PrivacyUnit;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{PerturbationTable, PrivacyError};

/// The floor PRIVACY.md puts under every `k`.
pub const MIN_K: u32 = 3;

/// The threshold `k` per privacy unit (PRIVACY.md: 10 for persons, 3 for the
/// others; never below 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Thresholds {
    /// Persons (brp).
    pub person: u32,
    /// Addresses (bag, energie, handhaving).
    pub address: u32,
    /// Companies and establishments (kvk).
    pub company: u32,
    /// Reports (meldingen).
    pub report: u32,
    /// Sales (vastgoed).
    pub sale: u32,
    /// Areas (public geography).
    pub area: u32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            person: 10,
            address: 3,
            company: 3,
            report: 3,
            sale: 3,
            area: 3,
        }
    }
}

impl Thresholds {
    /// The `k` of a privacy unit.
    pub fn k(&self, unit: PrivacyUnit) -> u32 {
        match unit {
            PrivacyUnit::Person => self.person,
            PrivacyUnit::Address => self.address,
            PrivacyUnit::Company => self.company,
            PrivacyUnit::Report => self.report,
            PrivacyUnit::Sale => self.sale,
            PrivacyUnit::Area => self.area,
        }
    }

    /// The smallest `k` over all units.
    pub fn min(&self) -> u32 {
        UNITS.iter().map(|u| self.k(*u)).min().unwrap_or(MIN_K)
    }
}

const UNITS: [PrivacyUnit; 6] = [
    PrivacyUnit::Person,
    PrivacyUnit::Address,
    PrivacyUnit::Company,
    PrivacyUnit::Report,
    PrivacyUnit::Sale,
    PrivacyUnit::Area,
];

/// The dominance rule for sums: a sum is suppressed when its `units` largest
/// contributors make up more than `max_share_percent` % of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Dominance {
    /// How many of the largest contributors are added up (1 or 2).
    pub units: u32,
    /// The share (in percent, 1–100) they may not exceed.
    pub max_share_percent: u32,
}

impl Default for Dominance {
    fn default() -> Self {
        Dominance {
            units: 2,
            max_share_percent: 85,
        }
    }
}

/// What a suppressed number looks like in CSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CsvSuppressedMarker {
    /// `-99997`, the code CBS uses for "geheim" (confidential) in its
    /// machine-readable Kerncijfers Wijken en Buurten files.
    #[default]
    Cbs99997,
    /// `.`, the symbol CBS prints in its published tables.
    Dot,
}

impl CsvSuppressedMarker {
    /// The text written in place of the number.
    pub fn text(self) -> &'static str {
        match self {
            CsvSuppressedMarker::Cbs99997 => "-99997",
            CsvSuppressedMarker::Dot => ".",
        }
    }
}

/// Release configuration as read from a config file (serde, every field
/// defaulted from PRIVACY.md). [`ReleaseConfig::validate`] turns it into the
/// checked [`ReleaseParameters`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReleaseConfig {
    /// Version of the release policy, recorded with every release.
    pub policy_version: String,
    /// Threshold `k` per privacy unit.
    pub k: Thresholds,
    /// Dominance rule for sums.
    pub dominance: Dominance,
    /// The published perturbation table.
    pub perturbation: PerturbationTable,
    /// Rates are per this many of the denominator (1,000).
    pub rate_per: u32,
    /// Decimals a rate is rounded to (0–6; default 2).
    pub rate_decimals: u32,
    /// What a suppressed number looks like in CSV.
    pub csv_suppressed: CsvSuppressedMarker,
}

impl Default for ReleaseConfig {
    fn default() -> Self {
        ReleaseConfig {
            policy_version: "release-v1".to_owned(),
            k: Thresholds::default(),
            dominance: Dominance::default(),
            perturbation: PerturbationTable::default(),
            rate_per: 1000,
            rate_decimals: 2,
            csv_suppressed: CsvSuppressedMarker::default(),
        }
    }
}

impl ReleaseConfig {
    /// Checks every parameter: each `k` at least 3, the dominance rule in
    /// range, the perturbation table valid (see
    /// [`PerturbationTable::validate`]).
    pub fn validate(&self) -> Result<ReleaseParameters, PrivacyError> {
        for unit in UNITS {
            let k = self.k.k(unit);
            if k < MIN_K {
                return Err(PrivacyError::KBelowMinimum {
                    unit,
                    k,
                    minimum: MIN_K,
                });
            }
            if k > 1_000_000 {
                return Err(PrivacyError::InvalidConfig {
                    field: "k",
                    rule: "must be at most 1,000,000",
                });
            }
        }
        if self.policy_version.is_empty() {
            return Err(PrivacyError::InvalidConfig {
                field: "policy_version",
                rule: "must not be empty",
            });
        }
        if !(1..=2).contains(&self.dominance.units) {
            return Err(PrivacyError::InvalidConfig {
                field: "dominance.units",
                rule: "must be 1 or 2",
            });
        }
        if !(1..=100).contains(&self.dominance.max_share_percent) {
            return Err(PrivacyError::InvalidConfig {
                field: "dominance.max_share_percent",
                rule: "must be between 1 and 100",
            });
        }
        if self.rate_per == 0 {
            return Err(PrivacyError::InvalidConfig {
                field: "rate_per",
                rule: "must be positive",
            });
        }
        if self.rate_decimals > 6 {
            return Err(PrivacyError::InvalidConfig {
                field: "rate_decimals",
                rule: "must be between 0 and 6",
            });
        }
        self.perturbation.validate()?;
        Ok(ReleaseParameters {
            config: self.clone(),
        })
    }
}

/// The checked parameters a release was made with. Serialises as the
/// configuration it came from, so the audit log can record exactly what
/// was applied; [`ReleaseParameters::fingerprint`] names it in one string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ReleaseParameters {
    config: ReleaseConfig,
}

impl ReleaseParameters {
    /// The validated configuration.
    pub fn config(&self) -> &ReleaseConfig {
        &self.config
    }

    /// The `k` of a privacy unit.
    pub fn k(&self, unit: PrivacyUnit) -> u32 {
        self.config.k.k(unit)
    }

    /// The perturbation table.
    pub fn perturbation(&self) -> &PerturbationTable {
        &self.config.perturbation
    }

    /// `sha256:` and the hex SHA-256 of the parameters' canonical JSON.
    pub fn fingerprint(&self) -> String {
        // Serialising plain structs and enums cannot fail.
        let json = serde_json::to_vec(&self.config).unwrap_or_default();
        format!("sha256:{}", hex::encode(Sha256::digest(&json)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_privacy_md() {
        let p = ReleaseConfig::default().validate().expect("defaults valid");
        assert_eq!(p.k(PrivacyUnit::Person), 10);
        for u in [
            PrivacyUnit::Address,
            PrivacyUnit::Company,
            PrivacyUnit::Report,
            PrivacyUnit::Sale,
        ] {
            assert_eq!(p.k(u), 3);
        }
        assert_eq!(
            p.config().dominance,
            Dominance {
                units: 2,
                max_share_percent: 85
            }
        );
        assert!(p.fingerprint().starts_with("sha256:"));
        assert_eq!(p.fingerprint().len(), 7 + 64);
    }

    #[test]
    fn k_below_three_is_refused_with_a_clear_error() {
        for unit in UNITS {
            let mut c = ReleaseConfig::default();
            match unit {
                PrivacyUnit::Person => c.k.person = 2,
                PrivacyUnit::Address => c.k.address = 1,
                PrivacyUnit::Company => c.k.company = 0,
                PrivacyUnit::Report => c.k.report = 2,
                PrivacyUnit::Sale => c.k.sale = 2,
                PrivacyUnit::Area => c.k.area = 2,
            }
            let err = c.validate().expect_err("k < 3 refused");
            assert!(matches!(err, PrivacyError::KBelowMinimum { unit: u, .. } if u == unit));
            assert!(err.to_string().contains("never allows k below 3"), "{err}");
        }
        let mut c = ReleaseConfig::default();
        c.k.person = 3;
        c.validate().expect("k = 3 is allowed");
    }

    #[test]
    fn config_parses_from_partial_json_with_defaults() {
        let c: ReleaseConfig =
            serde_json::from_str(r#"{"k": {"person": 15}, "policy_version": "gm0363-2025"}"#)
                .expect("parses");
        assert_eq!(c.k.person, 15);
        assert_eq!(c.k.address, 3);
        assert_eq!(c.perturbation, PerturbationTable::default());
        let bad: Result<ReleaseConfig, _> = serde_json::from_str(r#"{"kk": 1}"#);
        assert!(bad.is_err(), "unknown fields are refused");
        let c: ReleaseConfig = serde_json::from_str(r#"{"k": {"sale": 2}}"#).expect("parses");
        assert!(c.validate().is_err());
    }

    #[test]
    fn fingerprint_changes_with_parameters() {
        let a = ReleaseConfig::default().validate().expect("valid");
        let mut c = ReleaseConfig::default();
        c.k.person = 11;
        let b = c.validate().expect("valid");
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_eq!(
            a.fingerprint(),
            ReleaseConfig::default()
                .validate()
                .expect("v")
                .fingerprint()
        );
    }
}
