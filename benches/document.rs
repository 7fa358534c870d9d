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
//! Then the schema path ([`Schema`], issue #14): the one-time cost of parsing a generated
//! 2,000-line SDL; the registration cost of a 30-line document without and with
//! validation against it (structural parse, then parse + schema validation + variable
//! coercion); and adversarial documents for schema validation (the same field repeated,
//! the same fragment spread many times, aliases of one field, deep nesting), each at two
//! sizes, so that time per KiB shows whether validation stays linear in the document.
//!
//! Run: `cargo bench --bench document` (`-- --quick` for rough numbers; `-- schema` for the
//! schema path only).

#[path = "../core/tests/document_attacks/mod.rs"]
mod document_attacks;

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use serde_json::{json, Value};
use subcast::{DocumentLimits, Schema, SubscriptionDocument};

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

/// Types in the generated SDL; each takes 10 lines.
const SDL_TYPES: usize = 200;

/// A 2,000-line SDL: `SDL_TYPES` object types of 8 fields each, linked in a chain
/// (`next`, `items`), an enum, an input type and a subscription root of 10 fields.
fn generated_sdl() -> String {
    let mut sdl =
        String::from("type Query { ok: Boolean }\nenum Kind { A B C }\ninput Range { min: Int! max: Int }\n");
    for i in 0..SDL_TYPES {
        let next = (i + 1) % SDL_TYPES;
        sdl.push_str(&format!(
            "type T{i} {{\n  id: ID!\n  name: String\n  count: Int\n  score: Float\n  \
             kind: Kind\n  tags: [String!]\n  next: T{next}\n  items(first: Int = 10): [T{next}!]!\n}}\n"
        ));
    }
    sdl.push_str("type Subscription {\n");
    for i in 0..10 {
        sdl.push_str(&format!("  feed{i}(kind: Kind, range: Range): T{i}!\n"));
    }
    sdl.push_str("}\n");
    sdl
}

/// A 30-line subscription over the generated schema: arguments, variables, nesting,
/// a fragment.
const DOCUMENT_30_LINES: &str = "subscription Feed($kind: Kind, $min: Int!, $first: Int) {
  feed0(kind: $kind, range: { min: $min }) {
    id
    name
    count
    score
    kind
    tags
    next {
      id
      name
      ...Summary
      items(first: $first) {
        id
        score
        next {
          id
          kind
        }
      }
    }
    items {
      ...Summary
    }
  }
}
fragment Summary on T1 {
  name
  count
  tags
}";

/// Documents valid against the generated schema that stress its validation, at `n`.
fn schema_attacks(n: usize) -> Vec<(String, String)> {
    let repeated = format!("subscription {{ feed0 {{ {} }} }}", "name ".repeat(n));
    let spreads = format!(
        "subscription {{ feed0 {{ next {{ {} }} }} }} fragment F on T1 {{ id name next {{ id }} }}",
        "...F ".repeat(n)
    );
    // Aliases of one leaf: a quarter of `n`, so that both sizes stay within the 1,000
    // output fields of the default limits.
    let aliases: String = (0..n / 4).map(|i| format!("a{i}: name ")).collect();
    let aliases = format!("subscription {{ feed0 {{ {aliases} }} }}");
    // Nesting is bounded by depth 32: 28 levels of `next`, `n / 100` times side by side.
    let nested = format!("{} id {}", "next { ".repeat(28), "} ".repeat(28));
    let deep: String = (0..n / 100)
        .map(|i| format!("d{i}: next {{ {nested} }} "))
        .collect();
    let deep = format!("subscription {{ feed0 {{ {deep} }} }}");
    vec![
        (format!("repeated_field_{n}"), repeated),
        (format!("repeated_spread_{n}"), spreads),
        (format!("aliases_{}", n / 4), aliases),
        (format!("deep_28_x{}", n / 100), deep),
    ]
}

fn schema_path(c: &mut Criterion) {
    let limits = DocumentLimits::default();
    let sdl = generated_sdl();
    let schema = Schema::parse(&sdl).expect("the generated SDL is valid");
    let variables: Value = json!({"kind": "A", "min": 3});
    println!(
        "generated SDL: {} lines, {} bytes; document: {} lines",
        sdl.lines().count(),
        sdl.len(),
        DOCUMENT_30_LINES.lines().count()
    );
    let checked = SubscriptionDocument::parse(DOCUMENT_30_LINES, None, &limits)
        .map_err(|e| e.to_string())
        .and_then(|d| schema.validate(&d, &variables).map_err(|e| e.to_string()));
    assert!(checked.is_ok(), "{checked:?}");

    let mut group = c.benchmark_group("schema");
    group.sample_size(20).measurement_time(Duration::from_secs(2));
    group.bench_function("parse_sdl_2000_lines", |b| {
        b.iter(|| black_box(Schema::parse(&sdl).is_ok()))
    });
    group.bench_function("register_30_lines/without_schema", |b| {
        b.iter(|| {
            let document = SubscriptionDocument::parse(DOCUMENT_30_LINES, None, &limits).unwrap();
            black_box(document.effective_variables(&variables).is_ok())
        })
    });
    group.bench_function("register_30_lines/with_schema", |b| {
        b.iter(|| {
            let document = SubscriptionDocument::parse(DOCUMENT_30_LINES, None, &limits).unwrap();
            black_box(schema.validate(&document, &variables).is_ok())
        })
    });
    println!("{:40} {:>7} {:>10}", "schema attack", "bytes", "outcome");
    for n in [500, 2_000] {
        for (name, query) in schema_attacks(n) {
            let outcome = match SubscriptionDocument::parse(&query, None, &limits) {
                Err(e) => format!("{:?}", e.kind()),
                Ok(document) => match schema.validate(&document, &Value::Null) {
                    Ok(_) => "ok".to_owned(),
                    Err(e) => format!("{:?}", e.kind()),
                },
            };
            println!("{name:40} {:>7} {outcome:>10}", query.len());
            group.throughput(Throughput::Bytes(query.len() as u64));
            group.bench_with_input(BenchmarkId::new("validate", &name), &query, |b, query| {
                b.iter(|| {
                    let document = SubscriptionDocument::parse(query, None, &limits);
                    black_box(document.map(|d| schema.validate(&d, &Value::Null).is_ok()))
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, lowering, schema_path);
criterion_main!(benches);
