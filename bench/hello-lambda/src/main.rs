//! Hello world on `lambda_http`, as cargo-lambda's template makes it: the yardstick for the
//! functions' start-up, size and memory (see `bench/src/functions.rs`).

use lambda_http::{Body, Error, Request, Response, run, service_fn};
use tracing_subscriber::filter::LevelFilter;

async fn hello(_event: Request) -> Result<Response<Body>, Error> {
    Ok(Response::builder()
        .status(200)
        .header("content-type", "text/plain")
        .body("Hello world".into())?)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    // The template's `init_default_subscriber`, with a level instead of its env filter, as the
    // functions do it.
    tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_ansi(false)
        .with_max_level(LevelFilter::INFO)
        .json()
        .init();
    run(service_fn(hello)).await
}
