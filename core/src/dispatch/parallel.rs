//! Parallel fan-out: a [`PreparedDispatch`] split in [`DispatchChunk`]s any worker delivers.

use std::sync::Arc;

use super::deliver::{deliver_event_frames, RowOwner};
use super::prepare::{Outcome, PreparedDispatch};
use super::report::DispatchReport;
use super::DispatchShared;
use crate::executor::registry::{read, Member};
use crate::frame::FrameBody;

impl PreparedDispatch {
    /// Split the fan-out into chunks of about `chunk_size` subscriptions each.
    ///
    /// The chunks cover the subscribers as of this call; each can be delivered on any
    /// thread, and the sum of their reports is the dispatch's report.
    pub fn into_chunks(self, chunk_size: usize) -> Vec<DispatchChunk> {
        let chunk_size = chunk_size.max(1);
        let empty_chunk = |report| DispatchChunk {
            parts: Vec::new(),
            report,
            owner: self.owner.clone(),
            shared: self.shared.clone(),
        };
        let mut chunks = Vec::new();
        let mut current = empty_chunk(self.base.clone());
        let mut filled = 0;
        for resolved in &self.resolved {
            let (body, terminal) = match &resolved.outcome {
                Outcome::Frame { body, terminal } => (body, *terminal),
                Outcome::Refused(reason) => {
                    // Refused members cost nothing to deliver: the first chunk counts them.
                    let count = read(&resolved.cohort.members).len();
                    let first = match chunks.first_mut() {
                        Some(first) => first,
                        None => &mut current,
                    };
                    first.report.drop_many(*reason, count);
                    continue;
                }
            };
            let members: Arc<[Member]> = read(&resolved.cohort.members).iter().cloned().collect();
            let mut start = 0;
            while start < members.len() {
                let end = members.len().min(start + chunk_size - filled);
                current.parts.push(ChunkPart {
                    members: members.clone(),
                    range: start..end,
                    body: body.clone(),
                    terminal,
                });
                filled += end - start;
                start = end;
                if filled == chunk_size {
                    chunks.push(std::mem::replace(
                        &mut current,
                        empty_chunk(DispatchReport::default()),
                    ));
                    filled = 0;
                }
            }
        }
        if !current.parts.is_empty() || chunks.is_empty() {
            chunks.push(current);
        }
        chunks
    }
}

/// A slice of a dispatch's fan-out; `Send + 'static`, so any worker can deliver it.
#[derive(Debug)]
pub struct DispatchChunk {
    pub(crate) parts: Vec<ChunkPart>,
    /// Counts that belong to the dispatch as a whole, carried by its first chunk.
    pub(crate) report: DispatchReport,
    pub(crate) owner: Option<RowOwner>,
    pub(crate) shared: Arc<DispatchShared>,
}

#[derive(Debug)]
pub(crate) struct ChunkPart {
    pub(crate) members: Arc<[Member]>,
    pub(crate) range: std::ops::Range<usize>,
    pub(crate) body: FrameBody,
    pub(crate) terminal: bool,
}

impl DispatchChunk {
    /// Queue this chunk's frames on the calling thread.
    pub fn deliver(&self) -> DispatchReport {
        let mut report = self.report.clone();
        let now = self.shared.limiter.now();
        let owner = self.owner.as_ref();
        for part in &self.parts {
            let members = &part.members[part.range.clone()];
            deliver_event_frames(members, &part.body, part.terminal, owner, now, &mut report);
        }
        self.shared.metrics.record_dispatch(&report, true);
        report
    }

    /// Subscriptions in this chunk.
    pub fn len(&self) -> usize {
        self.parts.iter().map(|p| p.range.len()).sum()
    }

    /// Whether the chunk addresses no subscription.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
