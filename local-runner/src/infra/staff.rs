//! The staff user pool, created in moto's Cognito emulation from the template's
//! `AWS::Cognito::UserPool`, its `UserPoolGroup`s and its `UserPoolClient`, with one user per
//! group (`clerk@…`, `supervisor@…`) and a fresh password each.

use std::path::Path;

use anyhow::{Context as _, Result, anyhow, ensure};
use aws_sdk_cognitoidentityprovider::Client;
use aws_sdk_cognitoidentityprovider::types::{
    AdminCreateUserConfigType, AttributeType, ExplicitAuthFlowsType, MessageActionType,
    PasswordPolicyType, UserPoolMfaType, UserPoolPolicyType, UsernameAttributeType,
};
use serde_yaml::Value;

use super::template::{field, list, load, resources_of_type};

/// A member of staff the runner created.
#[derive(Clone, Debug)]
pub struct StaffUser {
    pub username: String,
    pub password: String,
    pub group: String,
}

/// The pool [`create_staff_pool`] made: what the console's `STAFF_*` variables take.
#[derive(Clone, Debug)]
pub struct StaffPool {
    pub pool_id: String,
    pub client_id: String,
    /// Where moto serves the pool's keys.
    pub jwks_url: String,
    pub users: Vec<StaffUser>,
}

impl StaffPool {
    /// The user of `group`.
    #[must_use]
    pub fn user(&self, group: &str) -> Option<&StaffUser> {
        self.users.iter().find(|u| u.group == group)
    }
}

/// Creates the pool `{prefix}staff` as the template defines it (user name attributes, password
/// policy, admin-only sign-up, MFA setting), its groups, its app client (auth flows, no secret)
/// and a user in each group, `<group>@<mail_domain>`, with a random password.
///
/// # Errors
/// When the template has not exactly one pool and one client, or moto refuses a call.
pub async fn create_staff_pool(
    cognito: &Client,
    template: &Path,
    prefix: &str,
    moto_url: &str,
    mail_domain: &str,
) -> Result<StaffPool> {
    let doc = load(template)?;
    let pool_id = create_pool(cognito, &doc, prefix).await?;
    let groups = create_groups(cognito, &doc, &pool_id).await?;
    let client_id = create_client(cognito, &doc, &pool_id).await?;
    let users = create_users(cognito, &pool_id, groups, mail_domain).await?;
    Ok(StaffPool {
        jwks_url: format!(
            "{}/{pool_id}/.well-known/jwks.json",
            moto_url.trim_end_matches('/')
        ),
        pool_id,
        client_id,
        users,
    })
}

/// The pool as the template's `AWS::Cognito::UserPool` defines it; its id.
async fn create_pool(cognito: &Client, doc: &Value, prefix: &str) -> Result<String> {
    let pools = resources_of_type(doc, "AWS::Cognito::UserPool")?;
    ensure!(pools.len() == 1, "the template must define one user pool");
    let (_, pool) = pools[0];
    let mut create = cognito
        .create_user_pool()
        .pool_name(format!("{prefix}staff"));
    for attribute in list(pool, "UsernameAttributes")? {
        let a = attribute
            .as_str()
            .ok_or_else(|| anyhow!("UsernameAttributes holds a non-string"))?;
        create = create.username_attributes(UsernameAttributeType::from(a));
    }
    if let Some(only) = pool
        .get("AdminCreateUserConfig")
        .and_then(|c| c.get("AllowAdminCreateUserOnly"))
        .and_then(Value::as_bool)
    {
        create = create.admin_create_user_config(
            AdminCreateUserConfigType::builder()
                .allow_admin_create_user_only(only)
                .build(),
        );
    }
    if let Some(policy) = pool.get("Policies").and_then(|p| p.get("PasswordPolicy")) {
        let flag = |k: &str| policy.get(k).and_then(Value::as_bool);
        let number = |k: &str| {
            policy
                .get(k)
                .and_then(Value::as_i64)
                .and_then(|n| i32::try_from(n).ok())
        };
        create = create.policies(
            UserPoolPolicyType::builder()
                .password_policy(
                    PasswordPolicyType::builder()
                        .set_minimum_length(number("MinimumLength"))
                        .set_require_lowercase(flag("RequireLowercase"))
                        .set_require_uppercase(flag("RequireUppercase"))
                        .set_require_numbers(flag("RequireNumbers"))
                        .set_require_symbols(flag("RequireSymbols"))
                        .set_temporary_password_validity_days(number(
                            "TemporaryPasswordValidityDays",
                        ))
                        .build(),
                )
                .build(),
        );
    }
    if let Some(mfa) = pool.get("MfaConfiguration").and_then(Value::as_str) {
        create = create.mfa_configuration(UserPoolMfaType::from(mfa));
    }
    let created = create
        .send()
        .await
        .context("creating the staff user pool")?;
    Ok(created
        .user_pool()
        .and_then(|p| p.id())
        .ok_or_else(|| anyhow!("the pool has no id"))?
        .to_owned())
}

/// The template's groups; their names.
async fn create_groups(cognito: &Client, doc: &Value, pool_id: &str) -> Result<Vec<String>> {
    let mut groups = Vec::new();
    for (_, group) in resources_of_type(doc, "AWS::Cognito::UserPoolGroup")? {
        let name = field(group, "GroupName")?.to_owned();
        let precedence = group
            .get("Precedence")
            .and_then(Value::as_i64)
            .and_then(|n| i32::try_from(n).ok());
        cognito
            .create_group()
            .user_pool_id(pool_id)
            .group_name(&name)
            .set_description(
                group
                    .get("Description")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            )
            .set_precedence(precedence)
            .send()
            .await
            .with_context(|| format!("creating the group {name}"))?;
        groups.push(name);
    }
    Ok(groups)
}

/// The template's app client; its id.
async fn create_client(cognito: &Client, doc: &Value, pool_id: &str) -> Result<String> {
    let clients = resources_of_type(doc, "AWS::Cognito::UserPoolClient")?;
    ensure!(
        clients.len() == 1,
        "the template must define one pool client"
    );
    let (_, client) = clients[0];
    let mut create = cognito
        .create_user_pool_client()
        .user_pool_id(pool_id)
        .client_name(field(client, "ClientName")?)
        .generate_secret(
            client
                .get("GenerateSecret")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        );
    for flow in list(client, "ExplicitAuthFlows")? {
        let f = flow
            .as_str()
            .ok_or_else(|| anyhow!("ExplicitAuthFlows holds a non-string"))?;
        create = create.explicit_auth_flows(ExplicitAuthFlowsType::from(f));
    }
    let created = create.send().await.context("creating the pool's client")?;
    Ok(created
        .user_pool_client()
        .and_then(|c| c.client_id())
        .ok_or_else(|| anyhow!("the client has no id"))?
        .to_owned())
}

/// A user in each group, `<group>@<mail_domain>`, with a fresh password.
async fn create_users(
    cognito: &Client,
    pool_id: &str,
    groups: Vec<String>,
    mail_domain: &str,
) -> Result<Vec<StaffUser>> {
    let mut users = Vec::new();
    for group in groups {
        let username = format!("{group}@{mail_domain}");
        let password = format!(
            "Staff-{}-9a",
            &shared::domain::Token::generate().expose()[..16]
        );
        cognito
            .admin_create_user()
            .user_pool_id(pool_id)
            .username(&username)
            .message_action(MessageActionType::Suppress)
            .user_attributes(
                AttributeType::builder()
                    .name("email")
                    .value(&username)
                    .build()?,
            )
            .user_attributes(
                AttributeType::builder()
                    .name("email_verified")
                    .value("true")
                    .build()?,
            )
            .send()
            .await
            .with_context(|| format!("creating the user {username}"))?;
        cognito
            .admin_set_user_password()
            .user_pool_id(pool_id)
            .username(&username)
            .password(&password)
            .permanent(true)
            .send()
            .await
            .with_context(|| format!("setting the password of {username}"))?;
        cognito
            .admin_add_user_to_group()
            .user_pool_id(pool_id)
            .username(&username)
            .group_name(&group)
            .send()
            .await
            .with_context(|| format!("adding {username} to {group}"))?;
        users.push(StaffUser {
            username,
            password,
            group,
        });
    }
    Ok(users)
}
