//! Bheem Meet (`/api/v1/meet`): rooms on LiveKit, join tokens, recordings, and the ERP's copy.

pub mod rooms;
