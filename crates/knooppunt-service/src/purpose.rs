//! Purposes (doelbinding): the configured list of processing purposes and
//! the roles that may use each.

use serde::{Deserialize, Serialize};

use crate::Role;

/// One purpose and the roles allowed to state it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Purpose {
    /// The name a request states in `X-Purpose`.
    pub name: String,
    /// Roles that may use it.
    pub roles: Vec<Role>,
}

/// The configured purposes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Purposes(pub Vec<Purpose>);

impl Default for Purposes {
    fn default() -> Self {
        let p = |name: &str, roles: &[Role]| Purpose {
            name: name.to_string(),
            roles: roles.to_vec(),
        };
        Purposes(vec![
            p(
                "gebiedsanalyse",
                &[Role::Dashboard, Role::Analyst, Role::Admin],
            ),
            p("bibob", &[Role::Analyst, Role::Admin]),
            p("handhaving", &[Role::Analyst, Role::Admin]),
            p("toezicht", &[Role::PrivacyOfficer]),
        ])
    }
}

impl Purposes {
    /// Whether `role` may state `purpose`.
    pub fn allows(&self, purpose: &str, role: Role) -> bool {
        self.0
            .iter()
            .any(|p| p.name == purpose && p.roles.contains(&role))
    }

    /// Reads a purpose list (JSON array of `{name, roles}`).
    pub fn from_json(text: &str) -> Result<Purposes, serde_json::Error> {
        serde_json::from_str(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_roles() {
        let p = Purposes::default();
        assert!(p.allows("gebiedsanalyse", Role::Dashboard));
        assert!(!p.allows("bibob", Role::Dashboard));
        assert!(p.allows("bibob", Role::Analyst));
        assert!(p.allows("handhaving", Role::Admin));
        assert!(p.allows("toezicht", Role::PrivacyOfficer));
        assert!(!p.allows("gebiedsanalyse", Role::PrivacyOfficer));
        assert!(!p.allows("", Role::Admin));
    }
}
