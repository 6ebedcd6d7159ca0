//! Reading the template: resources by type, the resource a reference names, and literal values.

use std::path::Path;

use anyhow::{Context as _, Result, anyhow, bail, ensure};
use serde_yaml::Value;

pub(crate) fn load(template: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(template)
        .with_context(|| format!("reading {}", template.display()))?;
    // CloudFormation short forms (`!Ref X`, `!Sub ..`, `!GetAtt X.Y`) parse as tagged values.
    serde_yaml::from_str(&text).with_context(|| format!("parsing {}", template.display()))
}

/// `(logical id, Properties)` of each resource of `kind`, in template order.
pub(crate) fn resources_of_type<'a>(
    doc: &'a Value,
    kind: &str,
) -> Result<Vec<(&'a str, &'a Value)>> {
    let resources = doc
        .get("Resources")
        .and_then(Value::as_mapping)
        .ok_or_else(|| anyhow!("the template has no Resources mapping"))?;
    let mut found = Vec::new();
    for (id, resource) in resources {
        if resource.get("Type").and_then(Value::as_str) != Some(kind) {
            continue;
        }
        let id = id
            .as_str()
            .ok_or_else(|| anyhow!("a resource id is not a string: {id:?}"))?;
        let props = resource
            .get("Properties")
            .ok_or_else(|| anyhow!("resource {id} has no Properties"))?;
        found.push((id, props));
    }
    Ok(found)
}

/// The resource a value names: `!Ref X`, `!GetAtt X.Name`/`X.Arn`, `!GetAtt [X, Arn]`,
/// `{Ref: X}` or `{Fn::GetAtt: ..}`.
pub(crate) fn referenced_resource(value: &Value) -> Option<&str> {
    fn get_att(v: &Value) -> Option<&str> {
        match v {
            Value::String(s) => s.split('.').next(),
            Value::Sequence(parts) => parts.first().and_then(Value::as_str),
            _ => None,
        }
    }
    match value {
        Value::Tagged(tagged) if tagged.tag == "Ref" => tagged.value.as_str(),
        Value::Tagged(tagged) if tagged.tag == "GetAtt" => get_att(&tagged.value),
        Value::Mapping(map) if map.len() == 1 => {
            if let Some(name) = map.get("Ref") {
                name.as_str()
            } else {
                map.get("Fn::GetAtt").and_then(get_att)
            }
        }
        _ => None,
    }
}

pub(crate) fn ensure_no_intrinsics(value: &Value) -> Result<()> {
    match value {
        Value::Tagged(tagged) => bail!("!{} cannot be resolved locally", tagged.tag),
        Value::Sequence(items) => items.iter().try_for_each(ensure_no_intrinsics),
        Value::Mapping(map) => map.iter().try_for_each(|(k, v)| {
            if let Some(key) = k.as_str().filter(|k| *k == "Ref" || k.starts_with("Fn::")) {
                bail!("{key} cannot be resolved locally");
            }
            ensure_no_intrinsics(v)
        }),
        _ => Ok(()),
    }
}

/// A literal string property (an intrinsic function is an error, not a guess).
pub(crate) fn literal<'a>(value: &'a Value, what: &str) -> Result<&'a str> {
    match value {
        Value::String(s) => Ok(s),
        Value::Tagged(tagged) => bail!(
            "{what} is !{}, which cannot be resolved locally",
            tagged.tag
        ),
        other => bail!("{what} is not a string: {other:?}"),
    }
}

pub(crate) fn field<'a>(value: &'a Value, key: &str) -> Result<&'a str> {
    literal(
        value.get(key).ok_or_else(|| anyhow!("{key} is missing"))?,
        key,
    )
}

pub(crate) fn list<'a>(value: &'a Value, key: &str) -> Result<&'a [Value]> {
    match value.get(key) {
        None => Ok(&[]),
        Some(Value::Sequence(items)) => Ok(items),
        Some(other) => bail!("{key} is not a list: {other:?}"),
    }
}

pub(crate) fn one_of(value: &str, allowed: &[&str], what: &str) -> Result<String> {
    ensure!(
        allowed.contains(&value),
        "{what} {value:?} is not one of {allowed:?}"
    );
    Ok(value.to_owned())
}
