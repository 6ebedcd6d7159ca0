//! API Gateway's IAM authorisation of a route (`AuthorizationType: AWS_IAM`), for the runner's
//! IAM mode: the request's Signature Version 4 (service `execute-api`) checked against the
//! secret of its access key, then the caller's identity policy — a managed policy of the
//! template, as deployed — asked whether it allows `execute-api:Invoke` on the route's ARN.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context as _, Result, anyhow};
use axum::http::request::Parts;
use hmac::{Hmac, KeyInit as _, Mac as _};
use serde_yaml::Value;
use sha2::{Digest as _, Sha256};

use super::payload::IamIdentity;
use super::table::{ApiValues, arn_like};
use crate::infra::template::{load, resources_of_type};

/// One statement of an identity policy, its `Resource` patterns resolved.
#[derive(Clone, Debug)]
struct Statement {
    allow: bool,
    actions: Vec<String>,
    resources: Vec<String>,
}

/// A caller the runner knows: its secret and what its policy allows.
#[derive(Clone, Debug)]
struct Caller {
    secret: String,
    identity: IamIdentity,
    policy: Vec<Statement>,
}

/// The callers IAM-authorised routes accept, by access key.
#[derive(Clone, Debug, Default)]
pub struct IamCallers {
    callers: BTreeMap<String, Caller>,
    region: String,
}

impl IamCallers {
    #[must_use]
    pub fn new(region: &str) -> Self {
        Self {
            callers: BTreeMap::new(),
            region: region.to_owned(),
        }
    }

    /// Adds a caller `name` with `access_key`/`secret` whose identity policy is the template's
    /// `AWS::IAM::ManagedPolicy` `policy` (e.g. `AdminApiInvokePolicy`).
    ///
    /// # Errors
    /// When the template has no such managed policy or one this cannot evaluate.
    pub fn add(
        &mut self,
        template: &Path,
        values: &ApiValues,
        policy: &str,
        name: &str,
        access_key: &str,
        secret: &str,
    ) -> Result<()> {
        let doc = load(template)?;
        let props = resources_of_type(&doc, "AWS::IAM::ManagedPolicy")?
            .into_iter()
            .find(|(id, _)| *id == policy)
            .map(|(_, p)| p)
            .ok_or_else(|| {
                anyhow!(
                    "{} has no AWS::IAM::ManagedPolicy {policy}",
                    template.display()
                )
            })?;
        let statements = props
            .get("PolicyDocument")
            .and_then(|d| d.get("Statement"))
            .and_then(Value::as_sequence)
            .ok_or_else(|| anyhow!("{policy}: no PolicyDocument.Statement list"))?;
        let api = api_id(&doc)?;
        let policy_statements = statements
            .iter()
            .map(|s| statement(s, &api, values))
            .collect::<Result<Vec<_>>>()
            .with_context(|| format!("{policy}'s statements"))?;
        self.callers.insert(
            access_key.to_owned(),
            Caller {
                secret: secret.to_owned(),
                identity: IamIdentity {
                    access_key: access_key.to_owned(),
                    account: values.account.clone(),
                    user_arn: format!(
                        "arn:{}:iam::{}:user/{name}",
                        values.partition, values.account
                    ),
                    user_id: format!("AIDA{}", access_key.trim_start_matches("AKIA")),
                },
                policy: policy_statements,
            },
        );
        Ok(())
    }

    /// The identity of a request to `route_arn` signed by a known caller whose policy allows
    /// `execute-api:Invoke` on it; else why not.
    ///
    /// # Errors
    /// No or a malformed signature, an unknown key, a signature that does not verify, a date
    /// more than 15 minutes off, or a policy that does not allow the call.
    pub fn verify(
        &self,
        parts: &Parts,
        body: &[u8],
        route_arn: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<IamIdentity, String> {
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let auth = header("authorization").ok_or("no Authorization header")?;
        let rest = auth
            .strip_prefix("AWS4-HMAC-SHA256 ")
            .ok_or("not an AWS4-HMAC-SHA256 signature")?;
        let mut fields = BTreeMap::new();
        for part in rest.split(',') {
            if let Some((k, v)) = part.trim().split_once('=') {
                fields.insert(k, v);
            }
        }
        let (credential, signed, signature) = match (
            fields.get("Credential"),
            fields.get("SignedHeaders"),
            fields.get("Signature"),
        ) {
            (Some(c), Some(h), Some(s)) => (*c, *h, *s),
            _ => return Err("the signature lacks Credential, SignedHeaders or Signature".into()),
        };
        let scope: Vec<&str> = credential.split('/').collect();
        let [key, date, region, service, "aws4_request"] = scope.as_slice() else {
            return Err("a malformed credential scope".into());
        };
        let caller = self.callers.get(*key).ok_or("an unknown access key")?;
        if *service != "execute-api" || *region != self.region {
            return Err(format!("signed for {service} in {region}"));
        }
        let amz_date = header("x-amz-date").ok_or("no X-Amz-Date")?;
        let at = chrono::NaiveDateTime::parse_from_str(&amz_date, "%Y%m%dT%H%M%SZ")
            .map_err(|_| "X-Amz-Date is not yyyymmddThhmmssZ")?
            .and_utc();
        if (now - at).num_minutes().abs() > 15 || !amz_date.starts_with(date) {
            return Err("the signature's date is more than 15 minutes off".into());
        }
        let mut canonical_headers = String::new();
        for name in signed.split(';') {
            let values: Vec<String> = parts
                .headers
                .get_all(name)
                .iter()
                .map(|v| {
                    String::from_utf8_lossy(v.as_bytes())
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect();
            if values.is_empty() {
                return Err(format!("the signed header {name} is missing"));
            }
            let _ = writeln!(canonical_headers, "{name}:{}", values.join(","));
        }
        let payload_hash =
            header("x-amz-content-sha256").unwrap_or_else(|| hex::encode(Sha256::digest(body)));
        let canonical = format!(
            "{}\n{}\n{}\n{canonical_headers}\n{signed}\n{payload_hash}",
            parts.method,
            canonical_path(parts.uri.path()),
            canonical_query(parts.uri.query().unwrap_or("")),
        );
        let scope = format!("{date}/{region}/{service}/aws4_request");
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        let mut signing_key = format!("AWS4{}", caller.secret).into_bytes();
        for part in [*date, *region, *service, "aws4_request"] {
            signing_key = mac(&signing_key, part.as_bytes());
        }
        if hex::encode(mac(&signing_key, to_sign.as_bytes())) != signature {
            return Err("the signature does not match".into());
        }
        if !allows(&caller.policy, "execute-api:Invoke", route_arn) {
            return Err(format!(
                "{} is not authorized to perform execute-api:Invoke on {route_arn}",
                caller.identity.user_arn
            ));
        }
        Ok(caller.identity.clone())
    }
}

fn mac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes a key of any length.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return Vec::new();
    };
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// `SigV4`'s encoding: everything but `A-Z a-z 0-9 - _ . ~` as `%XX`.
fn encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The path as the SDK signs it for services other than S3: each segment of the (already
/// encoded) path encoded once more.
fn canonical_path(path: &str) -> String {
    path.split('/').map(encode).collect::<Vec<_>>().join("/")
}

fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (encode(&k), encode(&v)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// An identity policy's answer: allowed by a statement and denied by none.
fn allows(policy: &[Statement], action: &str, resource: &str) -> bool {
    let matches = |s: &&Statement| {
        s.actions
            .iter()
            .any(|a| arn_like(&a.to_ascii_lowercase(), &action.to_ascii_lowercase()))
            && s.resources.iter().any(|r| arn_like(r, resource))
    };
    policy.iter().filter(|s| s.allow).any(|s| matches(&s))
        && !policy.iter().filter(|s| !s.allow).any(|s| matches(&s))
}

fn api_id(doc: &Value) -> Result<String> {
    let apis = resources_of_type(doc, "AWS::ApiGatewayV2::Api")?;
    apis.first()
        .map(|(id, _)| (*id).to_owned())
        .ok_or_else(|| anyhow!("the template has no HTTP API"))
}

fn strings(value: Option<&Value>, api: &str, values: &ApiValues) -> Result<Vec<String>> {
    match value {
        None => Ok(Vec::new()),
        Some(Value::Sequence(items)) => items
            .iter()
            .map(|v| super::table::resolve_sub(v, api, values))
            .collect(),
        Some(v) => Ok(vec![super::table::resolve_sub(v, api, values)?]),
    }
}

fn statement(s: &Value, api: &str, values: &ApiValues) -> Result<Statement> {
    let allow = match s.get("Effect").and_then(Value::as_str) {
        Some("Allow") => true,
        Some("Deny") => false,
        other => return Err(anyhow!("Effect {other:?}")),
    };
    anyhow::ensure!(
        s.get("Condition").is_none()
            && s.get("NotAction").is_none()
            && s.get("NotResource").is_none(),
        "Condition, NotAction and NotResource are not evaluated here"
    );
    Ok(Statement {
        allow,
        actions: strings(s.get("Action"), api, values)?,
        resources: strings(s.get("Resource"), api, values)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_and_query_follow_sigv4() {
        assert_eq!(encode("a b/ü~"), "a%20b%2F%C3%BC~");
        assert_eq!(canonical_path("/admin/slots/a%20b"), "/admin/slots/a%2520b");
        assert_eq!(canonical_query("b=2&a=x y&a=1"), "a=1&a=x%20y&b=2");
    }

    #[test]
    fn a_deny_wins_over_an_allow() {
        let allow = Statement {
            allow: true,
            actions: vec!["execute-api:*".into()],
            resources: vec!["arn:x/*".into()],
        };
        let deny = Statement {
            allow: false,
            actions: vec!["execute-api:Invoke".into()],
            resources: vec!["arn:x/*/DELETE/*".into()],
        };
        let policy = [allow, deny];
        assert!(allows(
            &policy,
            "execute-api:Invoke",
            "arn:x/$default/GET/admin/stats"
        ));
        assert!(!allows(
            &policy,
            "execute-api:Invoke",
            "arn:x/$default/DELETE/admin/slots/1"
        ));
        assert!(!allows(&policy, "execute-api:ManageConnections", "arn:y/1"));
    }
}
