//! Each function's execution role as `infra/template.yaml` deploys it: the inline policies of
//! the `AWS::IAM::Role` its `Role` names, with every `!GetAtt`, `!Ref` and `!Sub` resolved to
//! what the local stand-ins are called (tables, bus, queue, the SES identity).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context as _, Result, anyhow, bail, ensure};
use serde_yaml::Value;

use super::policy::{Statement, one_or_many};
use crate::infra::template::{field, load, referenced_resource, resources_of_type};

/// What the template's names stand for locally.
#[derive(Clone, Debug, Default)]
pub struct Names {
    pub partition: String,
    pub region: String,
    pub account: String,
    pub stack: String,
    /// Logical id → `!Ref` value (a table's or bus's name, a queue's URL, a parameter's value).
    pub refs: BTreeMap<String, String>,
    /// `Logical.Attribute` → `!GetAtt` value (`WishesTable.Arn`, `SlotsTable.StreamArn`, …).
    pub attributes: BTreeMap<String, String>,
}

impl Names {
    fn get_att(&self, what: &str) -> String {
        self.attributes.get(what).cloned().unwrap_or_else(|| {
            // A resource with no local stand-in (a log group, the KMS key, a failure queue):
            // an ARN no local request can name.
            format!("arn:{}:local:::{what}", self.partition)
        })
    }

    fn get_ref(&self, id: &str) -> Result<String> {
        match id {
            "AWS::Partition" => Ok(self.partition.clone()),
            "AWS::Region" => Ok(self.region.clone()),
            "AWS::AccountId" => Ok(self.account.clone()),
            "AWS::StackName" => Ok(self.stack.clone()),
            "AWS::URLSuffix" => Ok("amazonaws.com".to_owned()),
            other => self
                .refs
                .get(other)
                .cloned()
                .ok_or_else(|| anyhow!("!Ref {other} has no local value")),
        }
    }

    /// A string-valued template value with its intrinsics resolved.
    ///
    /// # Errors
    /// An intrinsic other than `!Ref`, `!GetAtt`, `!Sub` (without a variable map), or a `!Ref`
    /// with no local value.
    pub fn resolve(&self, value: &Value) -> Result<String> {
        match value {
            Value::String(s) => Ok(s.clone()),
            Value::Tagged(t) if t.tag == "Sub" => {
                let text = t
                    .value
                    .as_str()
                    .ok_or_else(|| anyhow!("!Sub with a variable map is not resolved locally"))?;
                self.sub(text)
            }
            Value::Tagged(t) if t.tag == "GetAtt" => match &t.value {
                Value::String(s) => Ok(self.get_att(s)),
                Value::Sequence(parts) => {
                    let parts: Vec<&str> = parts.iter().filter_map(Value::as_str).collect();
                    Ok(self.get_att(&parts.join(".")))
                }
                other => bail!("!GetAtt {other:?}"),
            },
            Value::Tagged(t) if t.tag == "Ref" => self.get_ref(
                t.value
                    .as_str()
                    .ok_or_else(|| anyhow!("!Ref of a non-string"))?,
            ),
            other => bail!("{other:?} is not resolved locally"),
        }
    }

    fn sub(&self, text: &str) -> Result<String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..]
                .find('}')
                .ok_or_else(|| anyhow!("unclosed ${{ in {text:?}"))?;
            let name = &rest[start + 2..start + end];
            if name.contains('.') {
                out.push_str(&self.get_att(name));
            } else {
                out.push_str(&self.get_ref(name)?);
            }
            rest = &rest[start + end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// One function's role: its statements, each with the template line it starts on.
#[derive(Clone, Debug)]
pub struct Role {
    /// The function's logical id (`SubmitWishFunction`).
    pub function: String,
    /// The folder its code is built from (`submit-wish`).
    pub code: String,
    pub role: String,
    pub statements: Vec<Statement>,
}

/// The roles of every `AWS::Serverless::Function` of `template`.
///
/// # Errors
/// A function without a `!GetAtt X.Arn` role of the template, a role with managed policies
/// (not evaluated here), or a statement this cannot evaluate.
pub fn function_roles(template: &Path, names: &Names) -> Result<Vec<Role>> {
    let doc = load(template)?;
    let roles: BTreeMap<&str, &Value> = resources_of_type(&doc, "AWS::IAM::Role")?
        .into_iter()
        .collect();
    let mut out = Vec::new();
    for (function, props) in resources_of_type(&doc, "AWS::Serverless::Function")? {
        let role_id = props
            .get("Role")
            .and_then(referenced_resource)
            .ok_or_else(|| anyhow!("{function}: Role does not name a role of the template"))?;
        let role = roles
            .get(role_id)
            .ok_or_else(|| anyhow!("{function}: {role_id} is not an AWS::IAM::Role"))?;
        ensure!(
            role.get("ManagedPolicyArns").is_none(),
            "{role_id}: managed policies are not evaluated locally"
        );
        let mut statements = Vec::new();
        for policy in crate::infra::template::list(role, "Policies")? {
            let name = field(policy, "PolicyName")?;
            let list = policy
                .get("PolicyDocument")
                .and_then(|d| d.get("Statement"))
                .and_then(Value::as_sequence)
                .ok_or_else(|| anyhow!("{role_id}/{name}: no Statement list"))?;
            for (i, s) in list.iter().enumerate() {
                statements.push(
                    statement(s, names)
                        .with_context(|| format!("{role_id}/{name}, statement {i}"))?,
                );
            }
        }
        let code = field(props, "CodeUri")?;
        out.push(Role {
            function: function.to_owned(),
            code: code
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or(code)
                .to_owned(),
            role: role_id.to_owned(),
            statements,
        });
    }
    Ok(out)
}

fn strings(value: Option<&Value>, names: &Names) -> Result<Vec<String>> {
    match value {
        None => Ok(Vec::new()),
        Some(v) => one_or_many(v)?
            .into_iter()
            .map(|v| names.resolve(v))
            .collect(),
    }
}

/// A policy statement with its values resolved.
///
/// # Errors
/// What [`Names::resolve`] and [`Statement::new`] refuse; `NotAction`/`NotResource`/`Principal`.
pub fn statement(s: &Value, names: &Names) -> Result<Statement> {
    let allow = match s.get("Effect").and_then(Value::as_str) {
        Some("Allow") => true,
        Some("Deny") => false,
        other => bail!("Effect {other:?}"),
    };
    ensure!(
        s.get("NotAction").is_none() && s.get("NotResource").is_none(),
        "NotAction and NotResource are not evaluated locally"
    );
    let sid = s
        .get("Sid")
        .and_then(Value::as_str)
        .map_or_else(|| "(no Sid)".to_owned(), str::to_owned);
    let mut conditions: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    if let Some(block) = s.get("Condition") {
        let block = block
            .as_mapping()
            .ok_or_else(|| anyhow!("Condition is not a mapping"))?;
        for (op, keys) in block {
            let op = op.as_str().ok_or_else(|| anyhow!("a condition operator"))?;
            let keys = keys
                .as_mapping()
                .ok_or_else(|| anyhow!("{op} is not a mapping"))?;
            for (key, values) in keys {
                let key = key.as_str().ok_or_else(|| anyhow!("a condition key"))?;
                conditions
                    .entry(op.to_owned())
                    .or_default()
                    .insert(key.to_owned(), strings(Some(values), names)?);
            }
        }
    }
    Statement::new(
        sid,
        allow,
        strings(s.get("Action"), names)?,
        strings(s.get("Resource"), names)?,
        &conditions,
    )
}
