//! What lowering an adversarial document costs, per KiB of document.
//!
//! Each document of `core/tests/document_attacks` fits the default `DocumentLimits`
//! (64 KiB, 15,000 tokens, depth 32) and attacks one path of lowering: many
//! directives, many spreads of a field with a large list argument, long and fanning
//! fragment chains, wide merges, many aliases, many variables, long names. For each,
//! this prints the outcome, the heap allocated in total and the most held at once
//! (a counting global allocator), per KiB of document, then criterion measures the
//! time of `SubscriptionDocument::parse` with the document's bytes as throughput.
//!
//! Run: `cargo bench --bench document` (`-- --quick` for rough numbers).

#[path = "../core/tests/document_attacks/mod.rs"]
mod document_attacks;

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use subcast::{DocumentLimits, SubscriptionDocument};

struct Counting;

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grow(bytes: usize) {
    ALLOCATED.fetch_add(bytes, Ordering::Relaxed);
    let live = LIVE.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grow(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        grow(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn parse(query: &str) -> Result<SubscriptionDocument, subcast::DocumentError> {
    SubscriptionDocument::parse(query, None, &DocumentLimits::default())
}

fn print_heap() {
    println!(
        "{:40} {:>7} {:>22} {:>14} {:>14}",
        "document", "bytes", "outcome", "alloc/KiB", "peak/KiB"
    );
    for attack in document_attacks::all() {
        let (allocated, live) = (ALLOCATED.load(Ordering::Relaxed), LIVE.load(Ordering::Relaxed));
        PEAK.store(live, Ordering::Relaxed);
        let outcome = match parse(&attack.query) {
            Ok(_) => "ok".to_owned(),
            Err(e) => format!("{:?}", e.kind()),
        };
        let kib = attack.query.len() as f64 / 1024.0;
        let allocated = ALLOCATED.load(Ordering::Relaxed) - allocated;
        let peak = PEAK.load(Ordering::Relaxed).saturating_sub(live);
        println!(
            "{:40} {:>7} {:>22} {:>14.0} {:>14.0}",
            attack.name,
            attack.query.len(),
            outcome,
            allocated as f64 / kib,
            peak as f64 / kib
        );
    }
}

fn lowering(c: &mut Criterion) {
    print_heap();
    let mut group = c.benchmark_group("document");
    group.sample_size(20).measurement_time(Duration::from_secs(2));
    for attack in document_attacks::all() {
        group.throughput(Throughput::Bytes(attack.query.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("parse", attack.name),
            &attack.query,
            |b, query| b.iter(|| black_box(parse(query).is_ok())),
        );
    }
    group.finish();
}

criterion_group!(benches, lowering);
criterion_main!(benches);
