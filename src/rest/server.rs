//! The REST API's listeners (`proxy.address`, `proxy.https-address`),
//! counted against the connection cap, every request going to
//! [`super::router::dispatch`].

use actix_web::web;

use super::router::dispatch;
use crate::http::listen::Budget;
use crate::http::{Listener, Listeners};
use crate::state::AppState;

/// Binds the REST listeners. Call it inside the actix system.
pub fn bind(state: &web::Data<AppState>) -> std::io::Result<Listeners> {
    let snap = state.snapshot();
    let proxy = &snap.config.proxy;
    let listener = Listener {
        address: &proxy.address,
        https_address: &proxy.https_address,
        log_prefix: "",
        tls_name: "tls",
        budget: Budget::HealthReserve,
    };
    let mut listeners = Listeners::new();
    if let Some((server, tls)) = listener.bind(state, dispatch)? {
        listeners.add(server, tls);
    }
    Ok(listeners)
}
