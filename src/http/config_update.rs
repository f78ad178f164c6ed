//! `POST /update_local_config/`: replaces the running config with the JSON
//! body, as Backrunner does (see docs/reload.md for the rules).

use actix_web::{web, HttpResponse};

use super::error::ApiError;
use super::{blocking, read_body, Req};
use crate::reload::apply_posted_config;

/// Largest config body accepted.
pub const MAX_CONFIG_BODY: usize = 1 << 20;

/// Handles `/update_local_config/`: 200 with the new config (secrets
/// hidden), or 400 naming what is wrong; the running config is then unchanged.
pub async fn update_local_config(
    req: &Req,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(payload, MAX_CONFIG_BODY).await?;
    if body.is_empty() {
        return Err(ApiError::BadRequest(
            "config body is empty: POST the whole config JSON".into(),
        ));
    }
    let state = req.state.clone();
    let config = blocking(move || apply_posted_config(&state, &body))
        .await?
        .map_err(ApiError::BadRequest)?;
    Ok(HttpResponse::Ok().json(config.without_secrets()))
}
