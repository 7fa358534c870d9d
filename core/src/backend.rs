//! What only a bus implementer needs: the mechanisms a networked bus shares, the bounded
//! mailboxes between a bus and its readers, and a dispatch prepared once and split for
//! several workers.
//!
//! - [`ChannelStreams`] and friends: per-node channels, local streams, replay positions.
//! - [`BusCounters`]: the counters behind [`BusStats`](crate::BusStats).
//! - [`BoundedMailbox`], [`Losses`], [`StreamLosses`]: bounded buffers that announce losses.
//! - [`Mailbox`]: an unbounded queue with the check–listen–check wait.
//! - [`within`]: a future bounded in time on a [`Runtime`](crate::Runtime).
//! - [`PreparedDispatch`] / [`DispatchChunk`]: a dispatch resolved once, its fan-out split.

pub use crate::bus::{BoundedMailbox, Losses, Pushed, Refused, StreamLosses};
pub use crate::bus_channels::{
    ensure_channel, BusCounters, ChannelStream, ChannelStreams, Delivery, Inserted, Overflow, ReplayRequest,
    ReplayStart, StreamMailbox, StreamReceiver, SubscribedChannel, MAX_REPLAY_PAGE,
};
pub use crate::dispatch::{DispatchChunk, PreparedDispatch};
pub use crate::queue::{Mailbox, PopError};
pub use crate::runtime::within;
