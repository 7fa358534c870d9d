//! The processing task: what a [`ServerBus`](super::ServerBus) does with each note, in
//! order: messages, overflows, replays and the end of a connection.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Weak};

use super::channels::Delivery;
use super::counters::ensure_channel;
use super::{BusSession, Fetched, Note, Notes, Received, ReplayError, Replayed, Shared};
use crate::error::{Error, Result};
use crate::event::Event;

/// The processing task: handle notes in order until the bus is dropped.
pub(super) async fn process<S: BusSession>(weak: Weak<Shared<S>>, notes: Arc<Notes>) {
    while let Some(note) = notes.recv().await {
        let Some(shared) = weak.upgrade() else {
            return;
        };
        match note {
            Note::Message(server, payload) => shared.on_message(&server, &payload).await,
            Note::Dropped(counts) => shared.on_dropped(counts),
            Note::Replay(channel) => shared.replay(&channel).await,
            Note::Closed(generation) => {
                if generation == shared.state().generation && !shared.reconnect().await {
                    return;
                }
            }
        }
    }
}

impl<S: BusSession> Shared<S> {
    /// Messages the full mailbox dropped: read them again from the server, or tell the
    /// channels' streams how many they lost.
    fn on_dropped(&self, counts: HashMap<String, u64>) {
        let replays = self.session.replays();
        let mut state = self.state();
        for (server, count) in counts {
            self.counters.add_dropped(count);
            let Some(channel) = state.by_server.get(&server).cloned() else {
                continue;
            };
            match replays {
                true => state.channels.request_replay(&channel),
                false => state.channels.signal_gap(&channel, Some(count)),
            }
        }
    }

    /// Decode one message, reading its event from the server if need be, and deliver it.
    async fn on_message(&self, server: &str, payload: &[u8]) {
        let Some(channel) = self.state().by_server.get(server).cloned() else {
            return;
        };
        let (position, wire) = match self.session.parse(payload) {
            Ok(Received::Event(position, wire)) => (position, Cow::Borrowed(wire)),
            Ok(Received::Position(position)) => match self.fetch(&channel, position).await {
                Some(fetched) => fetched,
                None => return,
            },
            Err(reason) => return self.invalid(&channel, &reason),
        };
        let mut event = match decode(&channel, &wire) {
            Ok(event) => event,
            Err(reason) => return self.invalid_live(&channel, position, &reason),
        };
        event.position = position.as_ref().and_then(|p| self.session.log_position(p));
        let mut state = self.state();
        // Pending: the queued replay reads the server after this message was sent.
        if state
            .channels
            .get_mut(&channel)
            .is_none_or(|local| local.pending_replay)
        {
            return;
        }
        if let Delivery::Delivered(count) = state.channels.deliver_at(&channel, position, Arc::new(event)) {
            self.counters.add_received(count);
        }
    }

    /// The event a message gave only the position of, unless the channel does not need it.
    async fn fetch(
        &self,
        channel: &str,
        position: S::Position,
    ) -> Option<(Option<S::Position>, Cow<'static, [u8]>)> {
        let connection = {
            let mut state = self.state();
            let local = state.channels.get_mut(channel)?;
            // Pending: the queued replay covers it. At or before the cursor: delivered already.
            if local.pending_replay || local.cursor.as_ref().is_some_and(|cursor| position <= *cursor) {
                return None;
            }
            state.connection.clone()?
        };
        let fetch = self.session.fetch(&connection, channel, &position);
        match self.within("fetch", fetch).await {
            Ok(Fetched::Event(wire)) => Some((Some(position), Cow::Owned(wire))),
            // Deleted since: the replay reports the gap.
            Ok(Fetched::Gone) => {
                self.state().channels.request_replay(channel);
                None
            }
            Ok(Fetched::Invalid(reason)) => {
                self.invalid(channel, &reason);
                None
            }
            Err(error) => {
                log::warn!(
                    "subcast: {}: reading the event at {position:?} of {channel:?} failed, replaying: {error}",
                    S::NAME
                );
                self.state().channels.request_replay(channel);
                None
            }
        }
    }

    /// A live message at `position` that is not an event: counted once. A replay pending
    /// for its channel reads it again and counts it then; one at or before the cursor was
    /// counted by a replay already. It does not move the cursor: its position is only what
    /// the message claims (a foreign notification may claim any).
    fn invalid_live(&self, channel: &str, position: Option<S::Position>, reason: &str) {
        if let Some(position) = position {
            let mut state = self.state();
            let Some(local) = state.channels.get_mut(channel) else {
                return;
            };
            if local.pending_replay || local.cursor.as_ref().is_some_and(|cursor| position <= *cursor) {
                return;
            }
        }
        self.invalid(channel, reason);
    }

    pub(super) fn invalid(&self, channel: &str, reason: &str) {
        self.counters.add_invalid();
        log::warn!(
            "subcast: {}: skipped an invalid message on channel {channel:?}: {reason}",
            S::NAME
        );
    }

    /// Deliver the next page of the channel's history after its cursor: at most what its
    /// local streams can take, skipping what was delivered; request the next page until
    /// caught up.
    async fn replay(&self, channel: &str) {
        let (start, connection) = {
            let mut state = self.state();
            let connection = state.connection.clone();
            match state.channels.begin_replay(channel) {
                Some(start) => (start, connection),
                None => return,
            }
        };
        // Without a connection the reconnection replays every channel.
        let Some(connection) = connection else {
            return;
        };
        let read = self
            .session
            .replay(&connection, channel, start.cursor.as_ref(), start.room);
        let page = match self.within("replay", async { Ok(read.await) }).await {
            Ok(Ok(page)) => page,
            // Hold live messages back until the reconnection's replay, or the ones still
            // queued from this connection would skip what was missed.
            Ok(Err(ReplayError::Disconnected)) => {
                if let Some(local) = self.state().channels.get_mut(channel) {
                    local.pending_replay = true;
                }
                return;
            }
            Ok(Err(ReplayError::Failed(reason))) => return self.replay_failed(channel, &reason),
            Err(error) => return self.replay_failed(channel, &error.to_string()),
        };
        let mut state = self.state();
        if !state.channels.contains(channel) {
            return;
        }
        for entry in page.entries {
            let (position, wire) = match entry {
                Replayed::Event(position, wire) => (position, wire),
                Replayed::Invalid(position, reason) => {
                    // Keep the position moving past the bad entry.
                    state.channels.skip_to(channel, position);
                    self.invalid(channel, &reason);
                    continue;
                }
                Replayed::Lost(position) => {
                    log::warn!(
                        "subcast: {}: events of {channel:?} after this node's position are gone",
                        S::NAME
                    );
                    state.channels.signal_gap(channel, None);
                    if let Some(position) = position {
                        state.channels.skip_to(channel, position);
                    }
                    continue;
                }
                Replayed::Rewind(position) => {
                    log::warn!(
                        "subcast: {}: the server is behind this node's position on {channel:?}",
                        S::NAME
                    );
                    if let Some(local) = state.channels.get_mut(channel) {
                        local.cursor = Some(position);
                    }
                    state.channels.signal_gap(channel, None);
                    continue;
                }
            };
            let decoded = decode(channel, &wire).map(|mut event| {
                event.position = self.session.log_position(&position);
                event
            });
            match decoded {
                Ok(event) => match state
                    .channels
                    .deliver_at(channel, Some(position), Arc::new(event))
                {
                    Delivery::Delivered(count) => self.counters.add_received(count),
                    Delivery::Duplicate => {}
                    // Held again: the streams ask for the rest once they have room.
                    Delivery::Behind | Delivery::Unsubscribed => return,
                },
                Err(reason) => {
                    state.channels.skip_to(channel, position);
                    self.invalid(channel, &reason);
                }
            }
        }
        state.channels.end_replay(channel, page.read < start.room);
    }

    fn replay_failed(&self, channel: &str, reason: &str) {
        log::warn!(
            "subcast: {}: replay of {channel:?} failed, signalling a gap: {reason}",
            S::NAME
        );
        let mut state = self.state();
        state.channels.signal_gap(channel, None);
        state.channels.end_replay(channel, true);
    }

    /// The connection ended: reconnect with backoff, resubscribe, then replay or signal gaps.
    ///
    /// Returns `false` when the bus was closed meanwhile.
    async fn reconnect(&self) -> bool {
        {
            let replays = self.session.replays();
            let mut state = self.state();
            state.connection = None;
            for channel in state.channels.names() {
                match replays {
                    // Queued before anything the new connection receives, and held until then.
                    true => state.channels.request_replay(&channel),
                    false => state.channels.signal_gap(&channel, None),
                }
            }
        }
        log::warn!("subcast: {}: connection lost, reconnecting", S::NAME);
        let mut failures = 0;
        loop {
            if self.state().closed {
                return false;
            }
            match self.resubscribe().await {
                Ok(()) => {
                    self.counters.add_reconnect();
                    log::info!("subcast: {}: reconnected", S::NAME);
                    return true;
                }
                Err(error) => {
                    let delay = self.settings.reconnect.delay(failures);
                    log::warn!(
                        "subcast: {}: reconnection failed, retrying in {delay:?}: {error}",
                        S::NAME
                    );
                    self.runtime.sleep(delay).await;
                    failures = failures.saturating_add(1);
                }
            }
        }
    }

    /// Open a connection, subscribe every channel on it, then make it the current one.
    async fn resubscribe(&self) -> Result<()> {
        let connection = self.open().await?;
        let _guard = self.subscription.lock().await;
        let servers: Vec<String> = self.state().by_server.keys().cloned().collect();
        if !servers.is_empty() {
            self.within("subscribe", self.session.subscribe(&connection, &servers))
                .await?;
        }
        let mut state = self.state();
        if state.closed {
            return Err(Error::Closed(S::NAME));
        }
        state.connection = Some(connection);
        drop(state);
        self.connected.notify(usize::MAX);
        Ok(())
    }
}

/// The event in `wire`, if it is valid and names `channel`.
pub(super) fn decode(channel: &str, wire: &[u8]) -> std::result::Result<Event, String> {
    let event = Event::from_wire(wire).map_err(|e| e.to_string())?;
    ensure_channel(channel, event)
}
