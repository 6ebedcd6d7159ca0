//! `cargo run -p local-runner`: the whole system on <http://127.0.0.1:3000> (`PORT` to change),
//! against `DynamoDB` Local and moto, which it starts and stops itself.

use anyhow::Context;
use local_runner::emulators::{Emulators, default_log_dir};
use local_runner::runner::LocalSystem;
use std::time::Duration;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()))
        .init();
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let base = format!("http://127.0.0.1:{port}");
    let admin_key =
        std::env::var("ADMIN_KEY").unwrap_or_else(|_| "local-admin-key-change-me".into());
    let emulators = Emulators::start(&default_log_dir()).await?;
    let system = LocalSystem::setup(&emulators, "local-", &base, &admin_key).await?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("port {port} is taken; set PORT"))?;

    let drivers = system.clone();
    tokio::spawn(async move {
        let mut last_rescan = tokio::time::Instant::now();
        loop {
            if let Err(e) = drivers.pump(1).await {
                tracing::warn!(error = ?e, "driver round failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            if last_rescan.elapsed() >= Duration::from_mins(1) {
                last_rescan = tokio::time::Instant::now();
                if let Err(e) = drivers.rescan().await {
                    tracing::warn!(error = %e, "rescan failed");
                }
            }
        }
    });

    println!("\nTerminagent runs locally:");
    println!("  wish form        {base}/");
    println!("  offices (JSON)   {base}/api/offices");
    println!("  statistics       {base}/statistik   (JSON: {base}/api/statistics)");
    println!("  API (OpenAPI)    {base}/api/openapi.json");
    println!("  sent mail        {base}/_dev/mail/view   (JSON: {base}/_dev/mail)");
    if matches!(system.deps.config.admin, shared::config::AdminAuth::Iam) {
        println!(
            "  admin API        {base}/admin/stats   signed (SigV4, execute-api, eu-central-1) with key {} / secret {}",
            local_runner::runner::LOCAL_IAM_ACCESS_KEY,
            system.iam_secret
        );
    } else {
        println!("  admin API        {base}/admin/stats   with  Authorization: Bearer {admin_key}");
    }
    println!(
        "  clock, rescan    POST {base}/_dev/clock {{\"advance_minutes\": 60}},  POST {base}/_dev/rescan"
    );
    println!(
        "  staff console    {base}/staff   (pool {}):",
        system.staff.pool_id
    );
    for user in &system.staff.users {
        println!(
            "    {:<10}     {}   password {}",
            user.group, user.username, user.password
        );
    }
    // For `cargo lambda watch` / `invoke`: the same emulators and tables, reachable by env vars.
    let env_file = default_log_dir().join("lambda.env");
    let mut lines: Vec<String> = emulators
        .endpoint_env()
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    lines.extend([
        format!("WISHES_TABLE={}", system.infra.wishes_table),
        format!("SLOTS_TABLE={}", system.infra.slots_table),
        format!("EVENT_BUS_NAME={}", system.infra.event_bus),
        format!("MAIL_FROM={}", system.infra.mail_from),
        format!("PUBLIC_BASE_URL={base}"),
        format!("ADMIN_KEY={admin_key}"),
        format!("STAFF_USER_POOL_ID={}", system.staff.pool_id),
        format!("STAFF_CLIENT_ID={}", system.staff.client_id),
        format!("STAFF_JWKS_URL={}", system.staff.jwks_url),
    ]);
    std::fs::write(&env_file, lines.join("\n") + "\n")?;
    println!("  for cargo lambda  --env-file {}", env_file.display());
    println!("Ctrl-C stops the runner and its emulators.\n");
    axum::serve(
        listener,
        system
            .router()
            .into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    emulators.stop().await;
    Ok(())
}
