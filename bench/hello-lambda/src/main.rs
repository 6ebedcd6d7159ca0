//! Hello world on `lambda_http`, as cargo-lambda's template makes it: the yardstick for the
//! functions' start-up, size and memory (see `bench/src/functions.rs`).

use lambda_http::{Body, Error, Request, Response, run, service_fn, tracing};

async fn hello(_event: Request) -> Result<Response<Body>, Error> {
    Ok(Response::builder()
        .status(200)
        .header("content-type", "text/plain")
        .body("Hello world".into())?)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    run(service_fn(hello)).await
}
