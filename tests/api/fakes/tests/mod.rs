//! The fakes driven over HTTP exactly as the vendors document the real services being called, so
//! that they are known to answer as those services do.

mod faults;
mod files_setup;
mod livekit;
mod mailcow;
mod nextcloud_dav;
mod nextcloud_ocs;
mod nextcloud_shares;
mod nextcloud_user_oidc;

/// A plain client: no proxy from the environment between the test and 127.0.0.1.
fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}
