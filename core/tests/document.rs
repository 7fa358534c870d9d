//! Lowering a document costs heap linear in its size, whatever the document does.
//!
//! A counting global allocator measures the bytes and allocations each parse makes on
//! its own thread; every adversarial document of `document_attacks` must stay within a
//! fixed multiple of its own length. Allocation counts stand in for work: the seed's
//! superlinear paths (conditions copied per field, arguments converted per spread,
//! fragments re-walked) all allocated per repetition. No clock is read.

mod document_attacks;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use subcast_core::{DocumentErrorKind, DocumentLimits, SubscriptionDocument};

struct ThreadCounting;

thread_local! {
    static BYTES: Cell<usize> = const { Cell::new(0) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn grow(bytes: usize) {
    let _ = BYTES.try_with(|b| b.set(b.get() + bytes));
    let _ = ALLOCATIONS.try_with(|a| a.set(a.get() + 1));
    let _ = LIVE.try_with(|l| {
        l.set(l.get() + bytes as isize);
        let _ = PEAK.try_with(|p| p.set(p.get().max(l.get())));
    });
}

fn shrink(bytes: usize) {
    let _ = LIVE.try_with(|l| l.set(l.get() - bytes as isize));
}

unsafe impl GlobalAlloc for ThreadCounting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grow(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        shrink(layout.size());
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        shrink(layout.size());
        grow(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: ThreadCounting = ThreadCounting;

/// Bytes a parse may allocate in total (freed or not) per byte of document. The seed
/// allocated ~114 MB (1,800 per byte) for `directives_on_one_fragment`.
const MAX_BYTES_PER_DOCUMENT_BYTE: usize = 1024;
/// Allocations a parse may make per byte of document (each is a unit of work).
const MAX_ALLOCATIONS_PER_DOCUMENT_BYTE: usize = 16;
/// Bytes live at once during a parse per byte of document.
const MAX_PEAK_PER_DOCUMENT_BYTE: usize = 64;
/// What the work budget lets any document spend whatever its size (8 units per allowed
/// output field): a small document may reach it, so the bounds above add it.
const FLOOR_BYTES: usize = 4 << 20;
const FLOOR_PEAK: usize = 1 << 20;
const FLOOR_ALLOCATIONS: usize = 40_000;

struct Cost {
    bytes: usize,
    /// Most bytes live at once during the parse, above what was live before it.
    peak: usize,
    allocations: usize,
    outcome: Result<(), DocumentErrorKind>,
}

fn parse_cost(query: &str) -> Cost {
    let (bytes, allocations) = (BYTES.with(Cell::get), ALLOCATIONS.with(Cell::get));
    let live = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(live));
    let parsed = SubscriptionDocument::parse(query, None, &DocumentLimits::default());
    let outcome = parsed.as_ref().map(|_| ()).map_err(|e| e.kind());
    drop(parsed);
    Cost {
        bytes: BYTES.with(Cell::get) - bytes,
        peak: (PEAK.with(Cell::get) - live).max(0) as usize,
        allocations: ALLOCATIONS.with(Cell::get) - allocations,
        outcome,
    }
}

#[test]
fn every_attack_fits_the_default_limits() {
    for attack in document_attacks::all() {
        let outcome = parse_cost(&attack.query).outcome;
        assert!(
            attack.query.len() <= DocumentLimits::default().max_bytes,
            "{}",
            attack.name
        );
        assert!(
            !matches!(
                outcome,
                Err(DocumentErrorKind::TooLarge | DocumentErrorKind::TooDeep | DocumentErrorKind::Syntax)
            ) || attack.name == "directives_on_one_fragment",
            "{} is refused before lowering: {outcome:?}",
            attack.name
        );
    }
}

#[test]
fn lowering_allocates_at_most_a_fixed_multiple_of_the_document_length() {
    for attack in document_attacks::all() {
        let cost = parse_cost(&attack.query);
        let len = attack.query.len();
        assert!(
            cost.bytes <= MAX_BYTES_PER_DOCUMENT_BYTE * len + FLOOR_BYTES,
            "{}: {} bytes allocated for {len} bytes of document",
            attack.name,
            cost.bytes
        );
    }
}

#[test]
fn lowering_work_counted_in_allocations_is_linear_in_the_document_length() {
    for attack in document_attacks::all() {
        let cost = parse_cost(&attack.query);
        let len = attack.query.len();
        assert!(
            cost.allocations <= MAX_ALLOCATIONS_PER_DOCUMENT_BYTE * len + FLOOR_ALLOCATIONS,
            "{}: {} allocations for {len} bytes of document",
            attack.name,
            cost.allocations
        );
    }
}

#[test]
fn lowering_holds_at_most_a_fixed_multiple_of_the_document_length_at_once() {
    for attack in document_attacks::all() {
        let cost = parse_cost(&attack.query);
        let len = attack.query.len();
        assert!(
            cost.peak <= MAX_PEAK_PER_DOCUMENT_BYTE * len + FLOOR_PEAK,
            "{}: {} bytes live at once for {len} bytes of document",
            attack.name,
            cost.peak
        );
    }
}
