//! The HTTP API as API Gateway evaluates it, read from `infra/template.yaml`: each route's key and
//! authorisation, the function its integration names, and the Lambda permissions that let API
//! Gateway invoke each function (their `SourceArn` patterns resolved for this local API).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context as _, Result, anyhow, bail, ensure};
use serde_yaml::Value;

use crate::infra::template::{field, load, referenced_resource, resources_of_type};

/// One `AWS::ApiGatewayV2::Route`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteDef {
    pub logical_id: String,
    /// `GET`, `POST`, … or `ANY`.
    pub method: String,
    /// `/o/{token}`, `/files/{path+}`; `$default` for the catch-all route.
    pub path: String,
    /// `AuthorizationType: AWS_IAM`: only a SigV4-signed caller the account allows gets through.
    pub iam: bool,
    /// The logical id of the function the route's integration invokes.
    pub function: String,
}

impl RouteDef {
    /// The route key as API Gateway writes it (`GET /o/{token}`).
    #[must_use]
    pub fn key(&self) -> String {
        if self.path == "$default" {
            self.path.clone()
        } else {
            format!("{} {}", self.method, self.path)
        }
    }
}

/// One `AWS::Lambda::Permission` for `apigateway.amazonaws.com`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PermissionDef {
    pub logical_id: String,
    /// The logical id of the function it lets API Gateway invoke.
    pub function: String,
    /// The `SourceArn` pattern with the stack's values put in (`None`: any source).
    pub source_arn: Option<String>,
}

/// The values a `!Sub` in the API's permissions may name.
#[derive(Clone, Debug)]
pub struct ApiValues {
    pub partition: String,
    pub region: String,
    pub account: String,
    /// The id this local API stands in for `${HttpApi}`.
    pub api_id: String,
}

/// The routes, the functions behind them and the permissions, as the template declares them.
#[derive(Clone, Debug)]
pub struct ApiTable {
    pub values: ApiValues,
    /// The logical id of the `AWS::ApiGatewayV2::Api` every route belongs to.
    pub api: String,
    pub routes: Vec<RouteDef>,
    pub permissions: Vec<PermissionDef>,
    /// Logical id of each function a route reaches → the folder its code is built from
    /// (`CodeUri`'s last part: `submit-wish`, …).
    pub functions: BTreeMap<String, String>,
}

impl ApiTable {
    /// Reads the one HTTP API of `template`.
    ///
    /// # Errors
    /// When the template has no or several HTTP APIs, or a route, integration or permission is
    /// not one this runner can evaluate (an integration other than a Lambda proxy with payload
    /// 2.0, a target that names no integration, a permission for another principal's API).
    pub fn from_template(template: &Path, values: ApiValues) -> Result<Self> {
        let doc = load(template)?;
        Self::from_doc(&doc, values)
            .with_context(|| format!("the HTTP API of {}", template.display()))
    }

    fn from_doc(doc: &Value, values: ApiValues) -> Result<Self> {
        let apis = resources_of_type(doc, "AWS::ApiGatewayV2::Api")?;
        let [(api, api_props)] = apis.as_slice() else {
            bail!("expected one AWS::ApiGatewayV2::Api, found {}", apis.len());
        };
        ensure!(
            field(api_props, "ProtocolType")? == "HTTP",
            "{api} is not an HTTP API"
        );
        let api = (*api).to_owned();
        let functions_code: BTreeMap<&str, String> =
            resources_of_type(doc, "AWS::Serverless::Function")?
                .into_iter()
                .map(|(id, props)| {
                    let code = field(props, "CodeUri")?;
                    let dir = code
                        .trim_end_matches('/')
                        .rsplit('/')
                        .next()
                        .unwrap_or(code)
                        .to_owned();
                    Ok((id, dir))
                })
                .collect::<Result<_>>()?;

        let integrations = integrations(doc, &api, &functions_code)?;
        let (routes, functions) = routes(doc, &api, &integrations, &functions_code)?;
        let permissions = permissions(doc, &api, &values)?;
        Ok(Self {
            values,
            api,
            routes,
            permissions,
            functions,
        })
    }

    /// The route API Gateway picks for `method` and `path`, with the path's parameters: a
    /// route of the method before one of `ANY`, more literal segments before fewer, a
    /// `{name}` before a greedy `{name+}`, and `$default` last.
    #[must_use]
    pub fn route(&self, method: &str, path: &str) -> Option<(&RouteDef, BTreeMap<String, String>)> {
        type Ranked<'r> = (
            (usize, usize, usize),
            &'r RouteDef,
            BTreeMap<String, String>,
        );
        let mut best: Option<Ranked<'_>> = None;
        for route in &self.routes {
            if route.path == "$default" {
                continue;
            }
            if route.method != method && route.method != "ANY" {
                continue;
            }
            let Some((literals, greedy, params)) = match_path(&route.path, path) else {
                continue;
            };
            let rank = (
                literals,
                usize::from(!greedy),
                usize::from(route.method != "ANY"),
            );
            if best.as_ref().is_none_or(|(r, _, _)| rank > *r) {
                best = Some((rank, route, params));
            }
        }
        best.map(|(_, r, p)| (r, p)).or_else(|| {
            self.routes
                .iter()
                .find(|r| r.path == "$default")
                .map(|r| (r, BTreeMap::new()))
        })
    }

    /// The ARN API Gateway invokes a function with for a request on `route` (stage `$default`),
    /// as its permissions' `SourceArn` are matched against.
    #[must_use]
    pub fn source_arn(&self, method: &str, path: &str, route: &RouteDef) -> String {
        let v = &self.values;
        let tail = if route.path == "$default" {
            "$default".to_owned()
        } else {
            format!("{method}{path}")
        };
        format!(
            "arn:{}:execute-api:{}:{}:{}/$default/{tail}",
            v.partition, v.region, v.account, v.api_id
        )
    }

    /// The permission that lets API Gateway invoke `route`'s function for `source_arn`, if any.
    #[must_use]
    pub fn permission(&self, route: &RouteDef, source_arn: &str) -> Option<&PermissionDef> {
        self.permissions.iter().find(|p| {
            p.function == route.function
                && p.source_arn
                    .as_deref()
                    .is_none_or(|pattern| arn_like(pattern, source_arn))
        })
    }
}

/// Integration logical id → the function it invokes.
fn integrations(
    doc: &Value,
    api: &str,
    functions_code: &BTreeMap<&str, String>,
) -> Result<BTreeMap<String, String>> {
    let mut integrations = BTreeMap::new();
    for (id, props) in resources_of_type(doc, "AWS::ApiGatewayV2::Integration")? {
        ensure_api(props, api, id)?;
        ensure!(
            field(props, "IntegrationType")? == "AWS_PROXY",
            "{id}: only AWS_PROXY integrations with a Lambda function are evaluated"
        );
        ensure!(
            field(props, "PayloadFormatVersion")? == "2.0",
            "{id}: the functions read payload format 2.0 (lambda_http's apigw_http)"
        );
        let function = props
            .get("IntegrationUri")
            .and_then(referenced_resource)
            .ok_or_else(|| anyhow!("{id}: IntegrationUri does not name a function"))?;
        ensure!(
            functions_code.contains_key(function),
            "{id}: IntegrationUri names {function}, which is not an AWS::Serverless::Function"
        );
        integrations.insert(id.to_owned(), function.to_owned());
    }
    Ok(integrations)
}

/// The routes, and each routed function's code folder.
fn routes(
    doc: &Value,
    api: &str,
    integrations: &BTreeMap<String, String>,
    functions_code: &BTreeMap<&str, String>,
) -> Result<(Vec<RouteDef>, BTreeMap<String, String>)> {
    let mut routes = Vec::new();
    let mut functions = BTreeMap::new();
    for (id, props) in resources_of_type(doc, "AWS::ApiGatewayV2::Route")? {
        ensure_api(props, api, id)?;
        let key = field(props, "RouteKey")?;
        let (method, path) = if key == "$default" {
            ("ANY", "$default")
        } else {
            key.split_once(' ')
                .ok_or_else(|| anyhow!("{id}: RouteKey {key:?} is not \"METHOD /path\""))?
        };
        ensure!(
            path == "$default" || path.starts_with('/'),
            "{id}: the path of {key:?} does not start with /"
        );
        let target = props
            .get("Target")
            .ok_or_else(|| anyhow!("{id}: no Target (a route without one answers 404)"))?;
        let integration = sub_target(target)
            .ok_or_else(|| anyhow!("{id}: Target is not !Sub \"integrations/${{X}}\""))?;
        let function = integrations.get(integration).ok_or_else(|| {
            anyhow!("{id}: Target names {integration}, not an integration of {api}")
        })?;
        let iam = match props.get("AuthorizationType").map(|v| v.as_str()) {
            None | Some(Some("NONE")) => false,
            Some(Some("AWS_IAM")) => true,
            Some(other) => bail!("{id}: AuthorizationType {other:?} is not evaluated locally"),
        };
        functions.insert(function.clone(), functions_code[function.as_str()].clone());
        routes.push(RouteDef {
            logical_id: id.to_owned(),
            method: method.to_owned(),
            path: path.to_owned(),
            iam,
            function: function.clone(),
        });
    }
    Ok((routes, functions))
}

/// The Lambda permissions for API Gateway, their source ARNs resolved.
fn permissions(doc: &Value, api: &str, values: &ApiValues) -> Result<Vec<PermissionDef>> {
    let mut permissions = Vec::new();
    for (id, props) in resources_of_type(doc, "AWS::Lambda::Permission")? {
        if props.get("Principal").and_then(Value::as_str) != Some("apigateway.amazonaws.com") {
            continue;
        }
        ensure!(
            field(props, "Action")? == "lambda:InvokeFunction",
            "{id}: Action is not lambda:InvokeFunction"
        );
        let function = props
            .get("FunctionName")
            .and_then(referenced_resource)
            .ok_or_else(|| anyhow!("{id}: FunctionName does not name a function"))?;
        let source_arn = match props.get("SourceArn") {
            None => None,
            Some(v) => {
                Some(resolve_sub(v, api, values).with_context(|| format!("{id}: SourceArn"))?)
            }
        };
        permissions.push(PermissionDef {
            logical_id: id.to_owned(),
            function: function.to_owned(),
            source_arn,
        });
    }
    Ok(permissions)
}

fn ensure_api(props: &Value, api: &str, id: &str) -> Result<()> {
    let named = props.get("ApiId").and_then(referenced_resource);
    ensure!(named == Some(api), "{id}: ApiId is not !Ref {api}");
    Ok(())
}

/// `X` of `!Sub "integrations/${X}"`.
fn sub_target(target: &Value) -> Option<&str> {
    let text = match target {
        Value::Tagged(t) if t.tag == "Sub" => t.value.as_str()?,
        Value::Mapping(m) => m.get("Fn::Sub")?.as_str()?,
        _ => return None,
    };
    text.strip_prefix("integrations/${")?.strip_suffix('}')
}

/// A `!Sub` string (or a literal) with the pseudo parameters and the API's id put in (as the
/// roles' values are resolved: [`crate::iam::roles::Names`]); any other name is an error.
pub(super) fn resolve_sub(value: &Value, api: &str, values: &ApiValues) -> Result<String> {
    if let Value::Tagged(t) = value
        && t.tag != "Sub"
    {
        bail!("!{} where a literal or a !Sub string is needed", t.tag);
    }
    let mut names = crate::iam::roles::Names {
        partition: values.partition.clone(),
        region: values.region.clone(),
        account: values.account.clone(),
        ..crate::iam::roles::Names::default()
    };
    names.refs.insert(api.to_owned(), values.api_id.clone());
    names.resolve(value)
}

/// `path` against a route path: the number of literal segments, whether a greedy `{x+}` took
/// the rest, and the parameters; `None` if it does not match.
fn match_path(route: &str, path: &str) -> Option<(usize, bool, BTreeMap<String, String>)> {
    let mut params = BTreeMap::new();
    let route_segments: Vec<&str> = route.trim_start_matches('/').split('/').collect();
    let path_segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let mut literals = 0;
    for (i, segment) in route_segments.iter().enumerate() {
        if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix("+}")) {
            let rest = path_segments.get(i..)?.join("/");
            if rest.is_empty() {
                return None;
            }
            params.insert(name.to_owned(), rest);
            return Some((literals, true, params));
        }
        let actual = path_segments.get(i)?;
        if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            if actual.is_empty() {
                return None;
            }
            params.insert(name.to_owned(), (*actual).to_owned());
        } else if segment == actual {
            literals += 1;
        } else {
            return None;
        }
    }
    (route_segments.len() == path_segments.len()).then_some((literals, false, params))
}

/// IAM's `ArnLike`: `*` matches any run of characters (`/` included), `?` any one.
#[must_use]
pub fn arn_like(pattern: &str, value: &str) -> bool {
    let (p, v): (Vec<char>, Vec<char>) = (pattern.chars().collect(), value.chars().collect());
    // The classic two-pointer glob match with backtracking to the last `*`.
    let (mut i, mut j, mut star, mut mark) = (0, 0, None, 0);
    while j < v.len() {
        if i < p.len() && (p[i] == '?' || p[i] == v[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(s) = star {
            i = s + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    p[i..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> ApiValues {
        ApiValues {
            partition: "aws".into(),
            region: "eu-central-1".into(),
            account: "000000000000".into(),
            api_id: "local".into(),
        }
    }

    fn real() -> ApiTable {
        ApiTable::from_template(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/template.yaml"),
            values(),
        )
        .unwrap()
    }

    #[test]
    fn arn_like_spans_slashes_and_matches_whole_values() {
        assert!(arn_like("arn:a:x/*/*/o/*", "arn:a:x/$default/GET/o/abc"));
        assert!(arn_like(
            "arn:a:x/*/*/o/*",
            "arn:a:x/$default/POST/o/abc/accept"
        ));
        assert!(!arn_like("arn:a:x/*/*/o/*", "arn:a:x/$default/GET/a/abc"));
        assert!(arn_like("arn:a:x/*/*/staff*", "arn:a:x/$default/GET/staff"));
        assert!(arn_like("a?c", "abc"));
        assert!(!arn_like("a?c", "ac"));
        assert!(!arn_like("abc", "abcd"));
    }

    #[test]
    fn routes_prefer_literals_then_single_parameters_then_greedy() {
        let mut table = real();
        table.routes.push(RouteDef {
            logical_id: "Greedy".into(),
            method: "ANY".into(),
            path: "/o/{rest+}".into(),
            iam: false,
            function: "X".into(),
        });
        let (route, params) = table.route("GET", "/o/abc").unwrap();
        assert_eq!(route.key(), "GET /o/{token}");
        assert_eq!(params["token"], "abc");
        let (route, _) = table.route("POST", "/o/abc/accept").unwrap();
        assert_eq!(route.key(), "POST /o/{token}/accept");
        let (route, params) = table.route("GET", "/o/abc/x/y").unwrap();
        assert_eq!(route.logical_id, "Greedy");
        assert_eq!(params["rest"], "abc/x/y");
        let (route, params) = table.route("GET", "/nowhere").unwrap();
        assert_eq!(
            (route.key().as_str(), route.function.as_str()),
            ("$default", "SubmitWishFunction")
        );
        assert!(params.is_empty());
        let (route, _) = table.route("DELETE", "/").unwrap();
        assert_eq!(route.key(), "$default", "no route for the method");
        table.routes.retain(|r| r.path != "$default");
        assert!(table.route("GET", "/nowhere").is_none());
    }

    #[test]
    fn every_route_of_the_real_template_has_a_permission_for_its_function() {
        let table = real();
        assert!(table.routes.len() > 50);
        for route in &table.routes {
            let path = route.path.replace('{', "x").replace('}', "");
            let arn = table.source_arn(&route.method, &path, route);
            assert!(
                table.permission(route, &arn).is_some(),
                "{} ({}) has no permission for {arn}",
                route.key(),
                route.function
            );
        }
    }

    #[test]
    fn a_narrowed_permission_leaves_the_routes_it_no_longer_covers_without_one() {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/template.yaml"),
        )
        .unwrap()
        .replace("${HttpApi}/*/*/a/*\"", "${HttpApi}/*/*/a/none\"");
        let doc: Value = serde_yaml::from_str(&text).unwrap();
        let table = ApiTable::from_doc(&doc, values()).unwrap();
        let (route, _) = table.route("GET", "/a/tok").unwrap();
        let arn = table.source_arn("GET", "/a/tok", route);
        assert_eq!(
            arn,
            "arn:aws:execute-api:eu-central-1:000000000000:local/$default/GET/a/tok"
        );
        assert!(table.permission(route, &arn).is_none());
        let (route, _) = table.route("GET", "/o/tok").unwrap();
        assert!(
            table
                .permission(route, &table.source_arn("GET", "/o/tok", route))
                .is_some()
        );
    }
}
