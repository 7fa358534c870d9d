//! Adversarial subscription documents, each within the default `DocumentLimits`
//! (64 KiB, 15,000 tokens, depth 32), one per way of making lowering expensive.
//!
//! Shared by `core/tests/document.rs` (which asserts that lowering them stays bounded)
//! and `benches/document.rs` (which measures them).

use std::fmt::Write;

/// One adversarial document.
pub struct Attack {
    /// What the document does, as a bench/test label.
    pub name: &'static str,
    /// The document.
    pub query: String,
}

/// `count` comma-separated variable definitions `$v0: Boolean!, ...`.
fn boolean_variables(count: usize) -> String {
    (0..count).fold(String::new(), |mut out, i| {
        let _ = write!(out, "$v{i}:Boolean!,");
        out
    })
}

/// `count` leaf fields `f0 f1 ...`.
fn fields(count: usize) -> String {
    (0..count).fold(String::new(), |mut out, i| {
        let _ = write!(out, "f{i} ");
        out
    })
}

/// The same directive repeated on one inline fragment over many fields (the seed copied
/// every inherited condition into every field: ~114 MB). Refused as a duplicate directive.
pub fn directives_on_one_fragment() -> Attack {
    let directives = "@include(if:$v)".repeat(700);
    let query = format!(
        "subscription($v:Boolean!){{a{{...{directives}{{{}}}}}}}",
        fields(3500)
    );
    Attack {
        name: "directives_on_one_fragment",
        query,
    }
}

/// Inline fragments nested 40 deep, each with its own condition, over 990 fields:
/// every field sits under 40 conditions.
pub fn conditions_on_nested_fragments() -> Attack {
    let depth = 40;
    let mut query = format!("subscription({}){{a{{", boolean_variables(depth));
    for i in 0..depth {
        let directive = if i % 2 == 0 { "include" } else { "skip" };
        let _ = write!(query, "...@{directive}(if:$v{i}){{");
    }
    query.push_str(&fields(990));
    query.push_str(&"}".repeat(depth + 2));
    Attack {
        name: "conditions_on_nested_fragments",
        query,
    }
}

/// A chain of fragments, each spread under a condition on its own variable, ending in
/// many fields: conditions that no nesting limit bounds.
pub fn conditioned_fragment_chain() -> Attack {
    let links = 400;
    let mut query = format!("subscription({}){{a{{...C0}}}}\n", boolean_variables(links));
    for i in 0..links {
        let _ = writeln!(query, "fragment C{i} on T{{...C{} @include(if:$v{i})}}", i + 1);
    }
    let _ = write!(query, "fragment C{links} on T{{{}}}", fields(900));
    Attack {
        name: "conditioned_fragment_chain",
        query,
    }
}

/// A list literal of `len` integers.
fn big_list(len: usize) -> String {
    let items: Vec<String> = (0..len).map(|i| i.to_string()).collect();
    format!("[{}]", items.join(","))
}

/// Many spreads of one fragment whose field has a large list argument (the seed
/// converted the argument again for each spread: ~1.5 s).
pub fn big_argument_spreads() -> Attack {
    let query = format!(
        "subscription{{a{{{}}}}}\nfragment F on T{{x(a:{})}}",
        "...F ".repeat(2400),
        big_list(2800)
    );
    Attack {
        name: "big_argument_spreads",
        query,
    }
}

/// Like `big_argument_spreads`, each spread under its own condition, so that no spread
/// can be skipped as already visited and every copy of the field is compared.
pub fn big_argument_spreads_under_conditions() -> Attack {
    let spreads = 500;
    let spread_list = (0..spreads).fold(String::new(), |mut out, i| {
        let _ = write!(out, "...F@include(if:$v{i})");
        out
    });
    let query = format!(
        "subscription({}){{a{{{spread_list}}}}}\nfragment F on T{{x(a:{})}}",
        boolean_variables(spreads),
        big_list(2000)
    );
    Attack {
        name: "big_argument_spreads_under_conditions",
        query,
    }
}

/// A chain of 1,200 fragments, each spreading the next.
pub fn deep_fragment_chain() -> Attack {
    let links = 1200;
    let mut query = String::from("subscription{a{...F0}}\n");
    for i in 0..links {
        let _ = writeln!(query, "fragment F{i} on T{{...F{}}}", i + 1);
    }
    let _ = write!(query, "fragment F{links} on T{{x}}");
    Attack {
        name: "deep_fragment_chain",
        query,
    }
}

/// Fragments spreading the next one under three different conditions: 3^k paths.
pub fn fanning_fragment_spreads() -> Attack {
    let levels = 30;
    let mut query = String::from("subscription($a:Boolean!,$b:Boolean!,$c:Boolean!){a{...F0}}\n");
    for i in 0..levels {
        let next = i + 1;
        let _ = writeln!(
            query,
            "fragment F{i} on T{{...F{next}@include(if:$a) ...F{next}@include(if:$b) ...F{next}@include(if:$c)}}"
        );
    }
    let _ = write!(query, "fragment F{levels} on T{{x}}");
    Attack {
        name: "fanning_fragment_spreads",
        query,
    }
}

/// One response key selected 2,500 times, each with a sub-selection to merge.
pub fn wide_merge() -> Attack {
    let query = format!("subscription{{a{{{}}}}}", "x{y} ".repeat(2500));
    Attack {
        name: "wide_merge",
        query,
    }
}

/// One response key selected under 700 different conditions: one alternative each.
pub fn wide_merge_under_conditions() -> Attack {
    let count = 700;
    let selections = (0..count).fold(String::new(), |mut out, i| {
        let _ = write!(out, "x@include(if:$v{i}){{y}}");
        out
    });
    let query = format!("subscription({}){{a{{{selections}}}}}", boolean_variables(count));
    Attack {
        name: "wide_merge_under_conditions",
        query,
    }
}

/// 999 aliases of one field: just under the default output field limit.
pub fn many_aliases() -> Attack {
    let aliases = (0..999).fold(String::new(), |mut out, i| {
        let _ = write!(out, "a{i}:x ");
        out
    });
    Attack {
        name: "many_aliases",
        query: format!("subscription{{a{{{aliases}}}}}"),
    }
}

/// 1,300 variables, each defined and used once.
pub fn many_variables() -> Attack {
    let count = 1300;
    let definitions = (0..count).fold(String::new(), |mut out, i| {
        let _ = write!(out, "$v{i}:Int,");
        out
    });
    let uses = (0..count).fold(String::new(), |mut out, i| {
        let _ = write!(out, "x{i}:$v{i},");
        out
    });
    Attack {
        name: "many_variables",
        query: format!("subscription({definitions}){{a({uses}){{id}}}}"),
    }
}

/// A fragment with one 30 KB field name, spread under many aliases: every copy of the
/// field copies the name.
pub fn long_name_copies() -> Attack {
    let name = "n".repeat(30_000);
    let parents = (0..2000).fold(String::new(), |mut out, i| {
        let _ = write!(out, "b{i}:b{{...F}}");
        out
    });
    Attack {
        name: "long_name_copies",
        query: format!("subscription{{a{{{parents}}}}}\nfragment F on T{{{name}}}"),
    }
}

/// Every attack.
pub fn all() -> Vec<Attack> {
    vec![
        directives_on_one_fragment(),
        conditions_on_nested_fragments(),
        conditioned_fragment_chain(),
        big_argument_spreads(),
        big_argument_spreads_under_conditions(),
        deep_fragment_chain(),
        fanning_fragment_spreads(),
        wide_merge(),
        wide_merge_under_conditions(),
        many_aliases(),
        many_variables(),
        long_name_copies(),
    ]
}
