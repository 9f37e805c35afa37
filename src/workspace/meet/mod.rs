//! Bheem Meet on LiveKit: LiveKit's tokens, server API and webhooks (`livekit`), and the
//! recordings' download links (`recordings`).

pub mod livekit;
pub mod recordings;
