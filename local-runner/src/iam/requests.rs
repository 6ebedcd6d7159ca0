//! What a request to an AWS service asks of IAM: its actions, the resources each acts on, and
//! the condition keys the service sets (for `DynamoDB`: the leading keys, the projected
//! attributes, the select), read from the request the SDK sends — as the services authorise it.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use serde_json::Value;

use super::policy::Access;

/// Where the requests' resources live and what the tables' partition keys are called.
#[derive(Clone, Debug, Default)]
pub struct Layout {
    pub partition: String,
    pub region: String,
    pub account: String,
    /// `(table, index)` → the attribute its partition key is (`index` empty for the table).
    pub partition_keys: BTreeMap<(String, String), String>,
    /// Shard iterators handed out → the stream they read (`GetRecords` names only the
    /// iterator; `DynamoDB` authorises it against the stream).
    pub iterators: BTreeMap<String, String>,
}

impl Layout {
    fn arn(&self, service: &str, rest: &str) -> String {
        format!(
            "arn:{}:{service}:{}:{}:{rest}",
            self.partition, self.region, self.account
        )
    }

    fn table_arn(&self, table: &str) -> String {
        self.arn("dynamodb", &format!("table/{table}"))
    }
}

/// The user pool operations a public client calls without IAM (the SDK sends them unsigned).
pub const COGNITO_PUBLIC: [&str; 8] = [
    "InitiateAuth",
    "RespondToAuthChallenge",
    "AssociateSoftwareToken",
    "VerifySoftwareToken",
    "SetUserMFAPreference",
    "GetUser",
    "GlobalSignOut",
    "ChangePassword",
];

/// A request the proxy cannot read: refused as AWS would refuse a malformed one.
#[derive(Debug)]
pub struct Unreadable(pub String);

fn string_of(attribute: &Value) -> Option<String> {
    let obj = attribute.as_object()?;
    obj.get("S")
        .or_else(|| obj.get("N"))
        .or_else(|| obj.get("B"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// The attribute names of a projection expression (`#a, b, #c.d`), placeholders resolved.
fn projected(expression: Option<&str>, names: Option<&Value>) -> Vec<String> {
    let Some(expression) = expression else {
        return Vec::new();
    };
    let mut out = BTreeSet::new();
    for part in expression.split(',') {
        let top = part.trim().split(['.', '[']).next().unwrap_or("").trim();
        let name = if top.starts_with('#') {
            names
                .and_then(|n| n.get(top))
                .and_then(Value::as_str)
                .unwrap_or(top)
                .to_owned()
        } else {
            top.to_owned()
        };
        if !name.is_empty() {
            out.insert(name);
        }
    }
    out.into_iter().collect()
}

impl Layout {
    fn leading_key(&self, table: &str, index: &str, key: Option<&Value>) -> Option<String> {
        let attr = self
            .partition_keys
            .get(&(table.to_owned(), index.to_owned()))?;
        key?.get(attr).and_then(string_of)
    }

    /// One table-level access with the keys `DynamoDB` sets for it.
    fn item_access(&self, action: &str, table: &str, body: &Value, item_field: &str) -> Access {
        let key = self.leading_key(table, "", body.get(item_field));
        let mut access = Access::new(action, &self.table_arn(table))
            .with("dynamodb:LeadingKeys", key.into_iter().collect());
        if action == "dynamodb:GetItem" {
            access = read_keys(access, body);
        }
        access
    }

    /// The value a `Query`'s key condition binds the partition key to, if it reads `k = :v`.
    fn query_key(&self, table: &str, index: &str, body: &Value) -> Option<String> {
        let attr = self
            .partition_keys
            .get(&(table.to_owned(), index.to_owned()))?;
        let condition = body.get("KeyConditionExpression")?.as_str()?;
        let names = body.get("ExpressionAttributeNames");
        for clause in condition.split(" AND ").chain(condition.split(" and ")) {
            let Some((left, right)) = clause.split_once('=') else {
                continue;
            };
            let left = left.trim().trim_start_matches('(');
            let left = if left.starts_with('#') {
                names?.get(left)?.as_str()?
            } else {
                left
            };
            if left == attr {
                let value = right.trim().trim_end_matches(')');
                return body
                    .get("ExpressionAttributeValues")?
                    .get(value)
                    .and_then(string_of);
            }
        }
        None
    }

    /// The accesses of a `DynamoDB` (or `DynamoDB` Streams) JSON request `operation`.
    ///
    /// # Errors
    /// A body that is not the operation's JSON.
    pub fn dynamodb(&self, operation: &str, body: &[u8]) -> Result<Vec<Access>, Unreadable> {
        let body: Value = serde_json::from_slice(body)
            .map_err(|e| Unreadable(format!("the {operation} body is not JSON: {e}")))?;
        let table = |b: &Value| {
            b.get("TableName")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| Unreadable(format!("{operation} names no TableName")))
        };
        let action = format!("dynamodb:{operation}");
        Ok(match operation {
            "GetItem" | "DeleteItem" | "UpdateItem" => {
                vec![self.item_access(&action, &table(&body)?, &body, "Key")]
            }
            "PutItem" => vec![self.item_access(&action, &table(&body)?, &body, "Item")],
            "Query" | "Scan" => {
                let t = table(&body)?;
                let index = body.get("IndexName").and_then(Value::as_str).unwrap_or("");
                let resource = if index.is_empty() {
                    self.table_arn(&t)
                } else {
                    format!("{}/index/{index}", self.table_arn(&t))
                };
                let key = if operation == "Query" {
                    self.query_key(&t, index, &body)
                } else {
                    None
                };
                vec![read_keys(
                    Access::new(&action, &resource)
                        .with("dynamodb:LeadingKeys", key.into_iter().collect()),
                    &body,
                )]
            }
            "BatchGetItem" | "BatchWriteItem" => {
                let items = body
                    .get("RequestItems")
                    .and_then(Value::as_object)
                    .ok_or_else(|| Unreadable(format!("{operation} has no RequestItems")))?;
                let mut out = Vec::new();
                for (t, request) in items {
                    let keys: Vec<String> = if operation == "BatchGetItem" {
                        request
                            .get("Keys")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                            .filter_map(|k| self.leading_key(t, "", Some(k)))
                            .collect()
                    } else {
                        request
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|r| {
                                let put = r.get("PutRequest").and_then(|p| p.get("Item"));
                                let delete = r.get("DeleteRequest").and_then(|d| d.get("Key"));
                                self.leading_key(t, "", put.or(delete))
                            })
                            .collect()
                    };
                    let access =
                        Access::new(&action, &self.table_arn(t)).with("dynamodb:LeadingKeys", keys);
                    out.push(if operation == "BatchGetItem" {
                        read_keys(access, request)
                    } else {
                        access
                    });
                }
                out
            }
            "TransactWriteItems" | "TransactGetItems" => {
                let items = body
                    .get("TransactItems")
                    .and_then(Value::as_array)
                    .ok_or_else(|| Unreadable(format!("{operation} has no TransactItems")))?;
                let mut out = Vec::new();
                for item in items {
                    let Some((kind, part)) = item.as_object().and_then(|o| o.iter().next()) else {
                        return Err(Unreadable("an empty transaction item".into()));
                    };
                    let (action, field) = match kind.as_str() {
                        "Put" => ("dynamodb:PutItem", "Item"),
                        "Update" => ("dynamodb:UpdateItem", "Key"),
                        "Delete" => ("dynamodb:DeleteItem", "Key"),
                        "ConditionCheck" => ("dynamodb:ConditionCheckItem", "Key"),
                        "Get" => ("dynamodb:GetItem", "Key"),
                        other => return Err(Unreadable(format!("a transaction item {other}"))),
                    };
                    out.push(self.item_access(action, &table(part)?, part, field));
                }
                out
            }
            "ListStreams" => {
                let resource = body.get("TableName").and_then(Value::as_str).map_or_else(
                    || "*".to_owned(),
                    |t| format!("{}/stream/*", self.table_arn(t)),
                );
                vec![Access::new(&action, &resource)]
            }
            "DescribeStream" | "GetShardIterator" => {
                let stream = body
                    .get("StreamArn")
                    .and_then(Value::as_str)
                    .ok_or_else(|| Unreadable(format!("{operation} names no StreamArn")))?;
                vec![Access::new(&action, stream)]
            }
            "GetRecords" => {
                let iterator = body
                    .get("ShardIterator")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let stream = self
                    .iterators
                    .get(iterator)
                    .cloned()
                    .unwrap_or_else(|| "*".to_owned());
                vec![Access::new(&action, &stream)]
            }
            _ => vec![Access::new(&action, &self.table_arn(&table(&body)?))],
        })
    }

    /// The accesses of an SQS JSON request (`sqs:*` on the queue its URL names).
    ///
    /// # Errors
    /// A body that is not JSON.
    pub fn sqs(&self, operation: &str, body: &[u8]) -> Result<Vec<Access>, Unreadable> {
        let body: Value = serde_json::from_slice(body)
            .map_err(|e| Unreadable(format!("the {operation} body is not JSON: {e}")))?;
        let action = match operation {
            "SendMessageBatch" => "SendMessage",
            "DeleteMessageBatch" => "DeleteMessage",
            "ChangeMessageVisibilityBatch" => "ChangeMessageVisibility",
            other => other,
        };
        let queue = body
            .get("QueueUrl")
            .and_then(Value::as_str)
            .and_then(|u| u.rsplit('/').next())
            .or_else(|| body.get("QueueName").and_then(Value::as_str))
            .unwrap_or("*");
        Ok(vec![Access::new(
            &format!("sqs:{action}"),
            &self.arn("sqs", queue),
        )])
    }

    /// The accesses of an `EventBridge` request: `PutEvents` on each entry's bus.
    ///
    /// # Errors
    /// A body that is not JSON.
    pub fn events(&self, operation: &str, body: &[u8]) -> Result<Vec<Access>, Unreadable> {
        let body: Value = serde_json::from_slice(body)
            .map_err(|e| Unreadable(format!("the {operation} body is not JSON: {e}")))?;
        let action = format!("events:{operation}");
        if operation != "PutEvents" {
            return Ok(vec![Access::new(&action, "*")]);
        }
        let buses: BTreeSet<String> = body
            .get("Entries")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|e| {
                let bus = e
                    .get("EventBusName")
                    .and_then(Value::as_str)
                    .unwrap_or("default");
                if bus.starts_with("arn:") {
                    bus.to_owned()
                } else {
                    self.arn("events", &format!("event-bus/{bus}"))
                }
            })
            .collect();
        Ok(buses.iter().map(|b| Access::new(&action, b)).collect())
    }

    /// The accesses of a Cognito user pool request: none for the operations a public client
    /// calls unsigned (sign-in and its challenges), `cognito-idp:*` on the pool otherwise.
    ///
    /// # Errors
    /// A body that is not JSON.
    pub fn cognito(&self, operation: &str, body: &[u8]) -> Result<Vec<Access>, Unreadable> {
        if COGNITO_PUBLIC.contains(&operation) {
            return Ok(Vec::new());
        }
        let body: Value = serde_json::from_slice(body)
            .map_err(|e| Unreadable(format!("the {operation} body is not JSON: {e}")))?;
        let pool = body
            .get("UserPoolId")
            .and_then(Value::as_str)
            .unwrap_or("*");
        Ok(vec![Access::new(
            &format!("cognito-idp:{operation}"),
            &self.arn("cognito-idp", &format!("userpool/{pool}")),
        )])
    }

    /// The accesses of an SES v2 request: `SendEmail` on the sending identity (the raw
    /// message's `From` address) and on the configuration set it names.
    ///
    /// # Errors
    /// A send whose body or raw message cannot be read.
    pub fn sesv2(&self, method: &str, path: &str, body: &[u8]) -> Result<Vec<Access>, Unreadable> {
        if !(method == "POST" && path == "/v2/email/outbound-emails") {
            return Ok(vec![Access::new(&format!("ses:{method} {path}"), "*")]);
        }
        let body: Value = serde_json::from_slice(body)
            .map_err(|e| Unreadable(format!("the SendEmail body is not JSON: {e}")))?;
        let from = if let Some(f) = body.get("FromEmailAddress").and_then(Value::as_str) {
            f.to_owned()
        } else {
            let raw = body
                .pointer("/Content/Raw/Data")
                .and_then(Value::as_str)
                .and_then(|d| base64::engine::general_purpose::STANDARD.decode(d).ok())
                .ok_or_else(|| Unreadable("SendEmail without a sender or raw data".into()))?;
            raw_from(&String::from_utf8_lossy(&raw))
                .ok_or_else(|| Unreadable("the raw message has no From".into()))?
        };
        let mut out = vec![Access::new(
            "ses:SendEmail",
            &self.arn("ses", &format!("identity/{from}")),
        )];
        if let Some(set) = body.get("ConfigurationSetName").and_then(Value::as_str) {
            out.push(Access::new(
                "ses:SendEmail",
                &self.arn("ses", &format!("configuration-set/{set}")),
            ));
        }
        Ok(out)
    }
}

/// The keys a read sets: the projected attributes and the select.
fn read_keys(access: Access, body: &Value) -> Access {
    let projection = body.get("ProjectionExpression").and_then(Value::as_str);
    let attributes = projected(projection, body.get("ExpressionAttributeNames"));
    let default = if projection.is_some() {
        "SPECIFIC_ATTRIBUTES"
    } else {
        "ALL_ATTRIBUTES"
    };
    let select = body
        .get("Select")
        .and_then(Value::as_str)
        .unwrap_or(default)
        .to_owned();
    access
        .with("dynamodb:Attributes", attributes)
        .with("dynamodb:Select", vec![select])
}

/// The address of a raw message's `From:` header (unfolded: a long display name continues on
/// the next lines).
fn raw_from(raw: &str) -> Option<String> {
    let mut headers: Vec<String> = Vec::new();
    for line in raw.lines().take_while(|l| !l.is_empty()) {
        match (line.starts_with([' ', '\t']), headers.last_mut()) {
            (true, Some(last)) => last.push_str(line),
            _ => headers.push(line.to_owned()),
        }
    }
    let header = headers
        .iter()
        .find(|h| h.to_ascii_lowercase().starts_with("from:"))?;
    let value = header[5..].trim();
    let address = match (value.rfind('<'), value.rfind('>')) {
        (Some(a), Some(b)) if a < b => &value[a + 1..b],
        _ => value,
    };
    Some(address.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        Layout {
            partition: "aws".into(),
            region: "eu-central-1".into(),
            account: "000000000000".into(),
            partition_keys: BTreeMap::from([
                (("w".into(), String::new()), "pk".into()),
                (("w".into(), "gsi1".into()), "gsi1pk".into()),
            ]),
            iterators: BTreeMap::new(),
        }
    }

    #[test]
    fn a_transaction_asks_for_each_items_action_with_its_leading_key() {
        let body = br#"{"TransactItems":[
            {"Put":{"TableName":"w","Item":{"pk":{"S":"WISH#1"},"sk":{"S":"A"}}}},
            {"Update":{"TableName":"w","Key":{"pk":{"S":"MAIL#2"},"sk":{"S":"B"}}}},
            {"ConditionCheck":{"TableName":"w","Key":{"pk":{"S":"SLOT#3"},"sk":{"S":"C"}}}}]}"#;
        let accesses = layout().dynamodb("TransactWriteItems", body).unwrap();
        let summary: Vec<(&str, &str)> = accesses
            .iter()
            .map(|a| {
                (
                    a.action.as_str(),
                    a.context["dynamodb:leadingkeys"][0].as_str(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("dynamodb:PutItem", "WISH#1"),
                ("dynamodb:UpdateItem", "MAIL#2"),
                ("dynamodb:ConditionCheckItem", "SLOT#3")
            ]
        );
        assert_eq!(
            accesses[0].resource,
            "arn:aws:dynamodb:eu-central-1:000000000000:table/w"
        );
    }

    #[test]
    fn a_query_on_an_index_names_the_index_and_its_key_and_projection() {
        let body = br##"{"TableName":"w","IndexName":"gsi1","KeyConditionExpression":"#k = :v AND gsi1sk > :s",
            "ExpressionAttributeNames":{"#k":"gsi1pk","#o":"office"},"ExpressionAttributeValues":{":v":{"S":"LINE#x"},":s":{"S":"0"}},
            "ProjectionExpression":"#o, pk"}"##;
        let a = &layout().dynamodb("Query", body).unwrap()[0];
        assert_eq!(
            a.resource,
            "arn:aws:dynamodb:eu-central-1:000000000000:table/w/index/gsi1"
        );
        assert_eq!(a.context["dynamodb:leadingkeys"], ["LINE#x"]);
        assert_eq!(a.context["dynamodb:attributes"], ["office", "pk"]);
        assert_eq!(a.context["dynamodb:select"], ["SPECIFIC_ATTRIBUTES"]);
    }

    #[test]
    fn a_raw_mail_is_sent_as_its_from_address() {
        let raw = base64::engine::general_purpose::STANDARD.encode(
            "From: \"=?utf-8?Q?Stadt?=\"\r\n <a@b.example>\r\nTo: x@y\r\n\r\nFrom: not this",
        );
        let body =
            format!(r#"{{"Content":{{"Raw":{{"Data":"{raw}"}}}},"ConfigurationSetName":"cs"}}"#);
        let accesses = layout()
            .sesv2("POST", "/v2/email/outbound-emails", body.as_bytes())
            .unwrap();
        let resources: Vec<&str> = accesses.iter().map(|a| a.resource.as_str()).collect();
        assert_eq!(
            resources,
            [
                "arn:aws:ses:eu-central-1:000000000000:identity/a@b.example",
                "arn:aws:ses:eu-central-1:000000000000:configuration-set/cs"
            ]
        );
    }
}
