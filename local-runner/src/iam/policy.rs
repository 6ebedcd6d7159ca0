//! Identity policies as IAM evaluates them, for the requests the functions send: an explicit
//! `Deny` wins, else an `Allow` whose action, resource and conditions all match, else the
//! implicit deny. Conditions with the operators the template uses (and their `IfExists` and
//! `ForAllValues:`/`ForAnyValue:` forms); any other operator is refused when the policy is read,
//! never silently passed.

use std::collections::BTreeMap;

use anyhow::{Result, anyhow, bail};

use crate::gateway::arn_like;

/// One request of one action on one resource, with the condition keys the service sets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Access {
    pub action: String,
    pub resource: String,
    /// Condition key (lower case, e.g. `dynamodb:leadingkeys`) → its values.
    pub context: BTreeMap<String, Vec<String>>,
}

impl Access {
    #[must_use]
    pub fn new(action: &str, resource: &str) -> Self {
        Self {
            action: action.to_owned(),
            resource: resource.to_owned(),
            context: BTreeMap::new(),
        }
    }

    #[must_use]
    pub fn with(mut self, key: &str, values: Vec<String>) -> Self {
        self.context.insert(key.to_ascii_lowercase(), values);
        self
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Test {
    StringEquals,
    StringLike,
    ArnLike,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sets {
    Single,
    ForAllValues,
    ForAnyValue,
}

#[derive(Clone, Debug)]
struct Condition {
    test: Test,
    sets: Sets,
    if_exists: bool,
    key: String,
    values: Vec<String>,
}

impl Condition {
    fn holds(&self, access: &Access) -> bool {
        let matches = |v: &str| {
            self.values.iter().any(|p| match self.test {
                Test::StringEquals => p == v,
                Test::StringLike | Test::ArnLike => arn_like(p, v),
            })
        };
        let present = access.context.get(&self.key).filter(|v| !v.is_empty());
        match (self.sets, present) {
            (Sets::ForAllValues, None) => true,
            (Sets::ForAllValues, Some(values)) => values.iter().all(|v| matches(v)),
            (Sets::ForAnyValue, None) => false,
            (Sets::ForAnyValue, Some(values)) => values.iter().any(|v| matches(v)),
            (Sets::Single, None) => self.if_exists,
            (Sets::Single, Some(values)) => values.iter().any(|v| matches(v)),
        }
    }
}

/// One statement of a policy, its resources resolved.
#[derive(Clone, Debug)]
pub struct Statement {
    /// The statement's `Sid`, or its position.
    pub sid: String,
    pub allow: bool,
    pub actions: Vec<String>,
    pub resources: Vec<String>,
    conditions: Vec<Condition>,
}

impl Statement {
    /// Whether the statement speaks of `access`: action, resource and every condition match.
    #[must_use]
    pub fn applies(&self, access: &Access) -> bool {
        self.actions
            .iter()
            .any(|a| arn_like(&a.to_ascii_lowercase(), &access.action.to_ascii_lowercase()))
            && self.resources.iter().any(|r| arn_like(r, &access.resource))
            && self.conditions.iter().all(|c| c.holds(access))
    }

    /// A statement from its parts; `conditions` as the policy's `Condition` block, its values
    /// resolved: operator → key → values.
    ///
    /// # Errors
    /// An operator this does not evaluate.
    pub fn new(
        sid: String,
        allow: bool,
        actions: Vec<String>,
        resources: Vec<String>,
        conditions: &BTreeMap<String, BTreeMap<String, Vec<String>>>,
    ) -> Result<Self> {
        let mut parsed = Vec::new();
        for (operator, keys) in conditions {
            let (sets, rest) = if let Some(r) = operator.strip_prefix("ForAllValues:") {
                (Sets::ForAllValues, r)
            } else if let Some(r) = operator.strip_prefix("ForAnyValue:") {
                (Sets::ForAnyValue, r)
            } else {
                (Sets::Single, operator.as_str())
            };
            let (rest, if_exists) = rest
                .strip_suffix("IfExists")
                .map_or((rest, false), |r| (r, true));
            let test = match rest {
                "StringEquals" | "ArnEquals" => Test::StringEquals,
                "StringLike" => Test::StringLike,
                "ArnLike" => Test::ArnLike,
                other => bail!("{sid}: the condition operator {other} is not evaluated locally"),
            };
            for (key, values) in keys {
                parsed.push(Condition {
                    test,
                    sets,
                    if_exists,
                    key: key.to_ascii_lowercase(),
                    values: values.clone(),
                });
            }
        }
        Ok(Self {
            sid,
            allow,
            actions,
            resources,
            conditions: parsed,
        })
    }
}

/// IAM's answer for one access.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Allowed by the statement with this `Sid`.
    Allowed(String),
    /// Denied explicitly by the statement with this `Sid`.
    Denied(String),
    /// No statement allows it.
    NotAllowed,
}

/// The decision of `policy` for `access`.
#[must_use]
pub fn evaluate(policy: &[Statement], access: &Access) -> Decision {
    if let Some(deny) = policy.iter().find(|s| !s.allow && s.applies(access)) {
        return Decision::Denied(deny.sid.clone());
    }
    policy
        .iter()
        .find(|s| s.allow && s.applies(access))
        .map_or(Decision::NotAllowed, |s| Decision::Allowed(s.sid.clone()))
}

/// A list-or-one field of a statement (`Action`, `Resource`, a condition's values).
pub(crate) fn one_or_many(value: &serde_yaml::Value) -> Result<Vec<&serde_yaml::Value>> {
    match value {
        serde_yaml::Value::Sequence(items) => Ok(items.iter().collect()),
        serde_yaml::Value::Null => Err(anyhow!("an empty field")),
        other => Ok(vec![other]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement(conditions: &[(&str, &str, &[&str])]) -> Statement {
        let mut map: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
        for (op, key, values) in conditions {
            map.entry((*op).to_owned()).or_default().insert(
                (*key).to_owned(),
                values.iter().map(|v| (*v).to_owned()).collect(),
            );
        }
        Statement::new(
            "S".into(),
            true,
            vec!["dynamodb:UpdateItem".into()],
            vec!["arn:t/wishes".into()],
            &map,
        )
        .unwrap()
    }

    #[test]
    fn leading_keys_bind_every_key_and_a_missing_key_passes_for_all_values() {
        let s = statement(&[(
            "ForAllValues:StringLike",
            "dynamodb:LeadingKeys",
            &["MAIL#*", "EVENT#*"],
        )]);
        let access = |keys: &[&str]| {
            Access::new("dynamodb:UpdateItem", "arn:t/wishes").with(
                "dynamodb:LeadingKeys",
                keys.iter().map(|k| (*k).to_owned()).collect(),
            )
        };
        assert!(s.applies(&access(&["MAIL#1"])));
        assert!(s.applies(&access(&["MAIL#1", "EVENT#2"])));
        assert!(!s.applies(&access(&["MAIL#1", "WISH#2"])));
        assert!(
            s.applies(&Access::new("dynamodb:UpdateItem", "arn:t/wishes")),
            "IAM's rule"
        );
        assert!(!s.applies(&access(&["MAIL#1"]).clone_with_action("dynamodb:PutItem")));
    }

    #[test]
    fn if_exists_passes_a_missing_key_and_plain_operators_do_not() {
        let s = statement(&[(
            "StringEqualsIfExists",
            "dynamodb:Select",
            &["SPECIFIC_ATTRIBUTES"],
        )]);
        let base = Access::new("dynamodb:UpdateItem", "arn:t/wishes");
        assert!(s.applies(&base));
        assert!(
            !s.applies(
                &base
                    .clone()
                    .with("dynamodb:Select", vec!["ALL_ATTRIBUTES".into()])
            )
        );
        let s = statement(&[("StringEquals", "kms:ViaService", &["dynamodb.x"])]);
        assert!(!s.applies(&base));
    }

    #[test]
    fn an_unknown_operator_is_refused_and_a_deny_wins() {
        let mut map = BTreeMap::new();
        map.insert("NumericLessThan".to_owned(), BTreeMap::new());
        assert!(Statement::new("S".into(), true, vec![], vec![], &map).is_err());
        let allow = statement(&[]);
        let mut deny = statement(&[]);
        deny.allow = false;
        deny.sid = "D".into();
        let access = Access::new("dynamodb:UpdateItem", "arn:t/wishes");
        assert_eq!(
            evaluate(std::slice::from_ref(&allow), &access),
            Decision::Allowed("S".into())
        );
        assert_eq!(
            evaluate(&[allow, deny], &access),
            Decision::Denied("D".into())
        );
        assert_eq!(evaluate(&[], &access), Decision::NotAllowed);
    }

    impl Access {
        fn clone_with_action(&self, action: &str) -> Self {
            let mut a = self.clone();
            a.action = action.to_owned();
            a
        }
    }
}
