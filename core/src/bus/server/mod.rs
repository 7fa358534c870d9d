//! What every bus over a server shares.

pub mod channels;
