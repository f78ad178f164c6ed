//! `POST /update_local_config/`: replaces the running config with the JSON
//! body (see docs/reload.md for the rules, docs/security.md for who may).
//!
//! Backrunner let anyone do this. Here a change needs the admin credential:
//! a riftv1 signature by `proxy.admin-user` keyed by `proxy.admin-token`.
//! `proxy.unsigned-config-update-from-loopback` restores the open behaviour
//! for loopback callers only.

use std::net::IpAddr;

use actix_web::{web, HttpResponse};

use super::error::ApiError;
use super::{blocking, Req};
use crate::auth::parse_authorization;
use crate::http::body::read_body;

/// Largest config body accepted.
pub const MAX_CONFIG_BODY: usize = 1 << 20;

/// Whether the caller connected from loopback directly, not through a
/// reverse proxy on the same host (which would add `X-Forwarded-For` or
/// `Forwarded`).
fn direct_loopback(req: &Req) -> bool {
    let forwarded = ["x-forwarded-for", "forwarded", "x-real-ip"]
        .iter()
        .any(|h| req.http.headers().contains_key(*h));
    let loopback = match req.http.peer_addr().map(|a| a.ip()) {
        Some(IpAddr::V4(ip)) => ip.is_loopback(),
        Some(IpAddr::V6(ip)) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        None => false,
    };
    loopback && !forwarded
}

/// Admits an admin request: a riftv1 signature by `proxy.admin-user` (and
/// a fresh `X-Ell-Signtime` when `proxy.signature-max-age` is set), or an
/// unsigned loopback caller when the config allows it. Else 403 naming the
/// keys to set.
pub fn authorize_admin(req: &Req, what: &str) -> Result<(), ApiError> {
    let p = &req.snap.config.proxy;
    let signed = req.signed();
    let (user, sig) = parse_authorization(signed.authorization);
    if !p.admin_user.is_empty() && user == p.admin_user {
        let sig = sig.unwrap_or_default();
        if !signed.signature_matches(&p.admin_token, &sig)? {
            return Err(ApiError::Forbidden(format!(
                "{what}: signature of admin user {user:?} (proxy.admin-user) does not match"
            )));
        }
        signed.check_signtime(&user, std::time::SystemTime::now())?;
        return Ok(());
    }
    if p.unsigned_config_update_from_loopback && direct_loopback(req) {
        return Ok(());
    }
    let open = if p.unsigned_config_update_from_loopback {
        "proxy.unsigned-config-update-from-loopback is on, but this caller is not a direct loopback client"
    } else {
        "to accept unsigned changes from loopback callers as Backrunner did, set proxy.unsigned-config-update-from-loopback: true"
    };
    Err(ApiError::Forbidden(format!(
        "{what} needs a riftv1 signature by the admin user (set proxy.admin-user and proxy.admin-token); {open}"
    )))
}

/// Handles `/update_local_config/`: 200 with the new config (secrets
/// hidden), 403 without the admin credential, or 400 naming what is wrong;
/// the running config is then unchanged.
pub async fn update_local_config(
    req: &Req,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    // Before the body: an unauthorized caller makes us read nothing.
    authorize_admin(req, "/update_local_config/")?;
    let body = read_body(payload, &req.snap.config.proxy, MAX_CONFIG_BODY).await?;
    if body.is_empty() {
        return Err(ApiError::BadRequest(
            "config body is empty: POST the whole config JSON".into(),
        ));
    }
    let state = req.state.clone();
    let config = blocking(move || state.reload.apply_posted_config(&body))
        .await?
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok(HttpResponse::Ok().json(config.without_secrets()))
}
